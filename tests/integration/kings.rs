//! Kings, workers and the query-of-death blacklist, end to end: a `serve`
//! king on loopback, queries of death sent to it (with the
//! `fault-injection` feature), and what must follow: one worker dies once,
//! the king survives, the query is blacklisted and dropped in every form a
//! resolver may send it, normal queries are answered throughout, a hung
//! worker is killed by the watchdog, restarts back off under a crash loop
//! and `unblock` lets a query through again. Without the feature only the
//! identity, the blacklist commands and the king's own hygiene are tested.
//!
//! Every test uses its own blacklist file in a temporary directory, so the
//! tests are safe in parallel.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

/// Generous bound for one answer on loopback.
const T: Duration = Duration::from_secs(3);

/// Query type TXT and class CH.
const TYPE_TXT: u16 = 16;

/// `serve` arguments for `workers` workers and the blacklist `file`.
fn king_args(workers: &str, file: &Path) -> Vec<String> {
    vec![
        "--workers".into(),
        workers.into(),
        "--blacklist".into(),
        file.to_str().unwrap().into(),
    ]
}

/// Start a king on `bundle` with `args`.
fn start_king(bundle: &Path, args: &[String]) -> ServeProcess {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServeProcess::start(bundle, &args)
}

/// `stripedns blacklist --file FILE` output.
fn list(file: &Path) -> String {
    let out = run_stripedns(&["blacklist", "--file", file.to_str().unwrap()], T);
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout
}

/// The identity text in the answer to a CHAOS TXT `id.server` query.
pub(crate) fn chaos_id(addr: SocketAddr) -> Option<String> {
    let mut q = query(0x1D, "id.server.", TYPE_TXT);
    let n = q.len();
    q[n - 1] = 3; // class CH
    let a = udp_query(addr, &q, T)?;
    let msg = hickory_proto::op::Message::from_vec(&a).ok()?;
    let rdata = msg.answers.first()?.data.to_string();
    Some(rdata.trim_matches('"').to_string())
}

/// The NSID option of the answer to a query that asks for it.
pub(crate) fn nsid(addr: SocketAddr) -> Option<Vec<u8>> {
    let mut q = query(0x2E, "example.com.", TYPE_SOA);
    q[11] = 1; // ARCOUNT
    // OPT: root, type 41, size 1232, no flags, one empty NSID option (3).
    q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0]);
    let a = udp_query(addr, &q, T)?;
    // Find the NSID option in the OPT record: the last option of the
    // answer, since the answer carries no other.
    let pos = a.windows(2).rposition(|w| w == [0, 3])?;
    let len = usize::from(u16::from_be_bytes([*a.get(pos + 2)?, *a.get(pos + 3)?]));
    Some(a.get(pos + 4..pos + 4 + len)?.to_vec())
}

#[test]
fn identity_names_the_pop_the_stripe_and_the_engine() {
    let bundle = example_bundle();
    let dir = tempfile::tempdir().unwrap();
    let mut args = king_args("1", &dir.path().join("blacklist"));
    args.extend(["--pop", "ams-1", "--stripe", "2"].map(String::from));
    let server = start_king(bundle.path(), &args);
    let expected = "ams-1 stripe 2 engine native";
    assert_eq!(chaos_id(server.addr()).as_deref(), Some(expected));
    assert_eq!(nsid(server.addr()).as_deref(), Some(expected.as_bytes()));

    let mut args = king_args("1", &dir.path().join("blacklist"));
    args.extend(["--identity", "custom text"].map(String::from));
    let server = start_king(bundle.path(), &args);
    assert_eq!(chaos_id(server.addr()).as_deref(), Some("custom text"));
}

#[test]
fn blacklist_and_unblock_commands() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("blacklist");
    assert!(list(&file).contains("empty"), "{}", list(&file));
    std::fs::write(
        &file,
        "# stripedns blacklist v1: fingerprint engine count first-seen last-seen question\n\
         0123456789abcdef native 3 1764070000 1764070138 crash-native.example.com. IN A\n\
         00000000000000ff native 1 1764070000 1764070000 other.example.com. IN AAAA\n",
    )
    .unwrap();
    let listed = list(&file);
    for text in [
        "0123456789abcdef",
        "native",
        "2025-11-25T11:28:58Z",
        "crash-native.example.com. IN A",
        "other.example.com. IN AAAA",
    ] {
        assert!(listed.contains(text), "{text} missing from:\n{listed}");
    }
    // `unblock FINGERPRINT --state DIR`, the form of the command-line contract.
    let state_arg = state.path().to_str().unwrap();
    let out = run_stripedns(&["unblock", "0123456789abcdef", "--state", state_arg], T);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("crash-native.example.com."),
        "{}",
        out.stdout
    );
    let listed = list(&file);
    assert!(!listed.contains("0123456789abcdef"), "{listed}");
    assert!(listed.contains("00000000000000ff"), "{listed}");
    // Unknown and malformed fingerprints fail, saying so.
    let out = run_stripedns(&["unblock", "0123456789abcdef", "--state", state_arg], T);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("not in the blacklist"),
        "{}",
        out.stderr
    );
    let out = run_stripedns(&["unblock", "xyz", "--state", state_arg], T);
    assert!(!out.status.success());
}

/// Worker process ids from the king's `worker started` log lines.
fn worker_pids(log: &str) -> Vec<u32> {
    log.lines()
        .filter(|l| l.contains("worker started"))
        .filter_map(|l| {
            l.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// True while `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn workers_do_not_outlive_a_killed_king() {
    let bundle = example_bundle();
    let dir = tempfile::tempdir().unwrap();
    let server = start_king(bundle.path(), &king_args("2", &dir.path().join("bl")));
    let pids = worker_pids(&server.stderr());
    assert_eq!(pids.len(), 2, "{}", server.stderr());
    assert!(pids.iter().all(|&p| alive(p)));
    // Dropping the process handle kills the king with SIGKILL: no chance
    // to stop its workers itself.
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "workers {pids:?} outlived the king"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_the_king_and_its_workers() {
    let bundle = example_bundle();
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_king(bundle.path(), &king_args("2", &dir.path().join("bl")));
    let pids = worker_pids(&server.stderr());
    server.signal("TERM");
    let status = server.wait_exit(T).expect("exited after SIGTERM");
    assert!(status.success(), "{}", server.stderr());
    assert!(pids.iter().all(|&p| !alive(p)), "{pids:?}");
}

#[cfg(feature = "fault-injection")]
mod faults {
    //! The tests that send queries of death.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::thread::{self, JoinHandle};

    use hickory_proto::rr::Name;

    use super::*;
    use crate::dnsmsg::{EdnsSpec, QuerySpec};

    /// Normal queries sent every few milliseconds on a thread until
    /// stopped; counts what was sent and answered.
    struct Steady {
        /// Raised to stop.
        stop: Arc<AtomicBool>,
        /// Queries sent.
        sent: Arc<AtomicUsize>,
        /// Queries answered with their ID.
        answered: Arc<AtomicUsize>,
        /// The sending thread.
        thread: Option<JoinHandle<()>>,
    }

    impl Steady {
        fn start(addr: SocketAddr) -> Steady {
            let stop = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicUsize::new(0));
            let answered = Arc::new(AtomicUsize::new(0));
            let thread = {
                let (stop, sent, answered) = (stop.clone(), sent.clone(), answered.clone());
                thread::spawn(move || {
                    let mut id = 0u16;
                    while !stop.load(Ordering::Relaxed) {
                        id = id.wrapping_add(1);
                        sent.fetch_add(1, Ordering::Relaxed);
                        let q = query(id, "www.example.com.", TYPE_A);
                        if udp_query(addr, &q, T).is_some_and(|a| message_id(&a) == Some(id)) {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        thread::sleep(Duration::from_millis(10));
                    }
                })
            };
            Steady {
                stop,
                sent,
                answered,
                thread: Some(thread),
            }
        }

        /// Stop and return (sent, answered).
        fn finish(mut self) -> (usize, usize) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
            (
                self.sent.load(Ordering::Relaxed),
                self.answered.load(Ordering::Relaxed),
            )
        }
    }

    /// The same question as `name` A, as another resolver sends it: other
    /// ID, other case, EDNS with another buffer size.
    fn variants(name: &str) -> Vec<Vec<u8>> {
        let upper: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let mut edns = QuerySpec::new(Name::from_ascii(&upper).unwrap(), TYPE_A);
        edns.edns = Some(EdnsSpec {
            bufsize: 4096,
            do_bit: true,
            version: 0,
        });
        let mut no_edns = QuerySpec::new(Name::from_ascii(name).unwrap(), TYPE_A);
        no_edns.edns = None;
        no_edns.rd = true;
        vec![
            query(0x4242, name, TYPE_A),
            query(0x0001, &upper, TYPE_A),
            edns.encode(0x7777),
            no_edns.encode(0xABCD),
        ]
    }

    /// The fingerprint of the one entry of `file` that names `question`.
    fn fingerprint_of(file: &Path, question: &str) -> String {
        let listed = list(file);
        let line = listed
            .lines()
            .find(|l| l.contains(question))
            .unwrap_or_else(|| panic!("{question} not blacklisted:\n{listed}"));
        line.split_whitespace().next().unwrap().to_string()
    }

    /// Send a query of death for `name`, then check everything that must
    /// follow; `trigger` is the log line that the king writes when it
    /// notices.
    fn query_of_death(name: &str, extra: &[&str], trigger: &str, deadline: Duration) {
        let bundle = example_bundle();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blacklist");
        let mut args = king_args("2", &file);
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = start_king(bundle.path(), &args);
        let addr = server.addr();
        let steady = Steady::start(addr);
        thread::sleep(Duration::from_millis(100));

        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent_at = Instant::now();
        client.send_to(&query(0x0BAD, name, TYPE_A), addr).unwrap();
        assert!(
            server.wait_for_log(trigger, 1, deadline + T),
            "no `{trigger}` in the log:\n{}",
            server.stderr()
        );
        let noticed = sent_at.elapsed();
        assert!(
            server.wait_for_log("blacklisted", 1, T),
            "{}",
            server.stderr()
        );
        assert!(
            server.wait_for_log("serving again", 1, T),
            "{}",
            server.stderr()
        );
        eprintln!("{name}: king noticed after {noticed:?}");
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 512];
        assert!(client.recv_from(&mut buf).is_err(), "{name} was answered");
        assert!(noticed < deadline + Duration::from_secs(1), "{noticed:?}");
        if trigger.contains("hung") {
            assert!(
                noticed >= deadline,
                "killed before the deadline: {noticed:?}"
            );
        }
        let question = format!("{name} IN A");
        let fingerprint = fingerprint_of(&file, &question);
        // Every worker follows the file within its watch interval.
        thread::sleep(Duration::from_millis(300));
        for (i, v) in variants(name).iter().enumerate() {
            assert!(
                udp_query(addr, v, Duration::from_millis(300)).is_none(),
                "variant {i} of {name} was answered"
            );
        }
        // Over TCP too: the connection stays open and gets no answer.
        let mut stream = tcp_connect(addr, Duration::from_millis(500)).unwrap();
        std::io::Write::write_all(&mut stream, &frame(&variants(name)[2])).unwrap();
        assert!(read_frame(&mut stream).is_err(), "answered over TCP");
        thread::sleep(Duration::from_millis(200));

        let (sent, answered) = steady.finish();
        eprintln!("{name}: normal queries sent {sent}, answered {answered}");
        assert_eq!(sent, answered, "normal queries went unanswered");
        let log = server.stderr();
        assert_eq!(
            server.log_count("worker died"),
            1,
            "not exactly one worker death:\n{log}"
        );
        assert!(server.is_running(), "the king died:\n{log}");
        assert!(list(&file).contains(&fingerprint));
        // Unrelated queries are not caught by the blacklist.
        let a = udp_query(addr, &query(5, "www.example.com.", TYPE_A), T);
        assert!(a.is_some());
    }

    #[test]
    fn crash_query_kills_one_worker_once_and_is_blacklisted() {
        query_of_death(
            "crash-native.example.com.",
            &[],
            "worker died",
            Duration::from_secs(1),
        );
    }

    #[test]
    fn hang_query_is_killed_by_the_watchdog_and_blacklisted() {
        query_of_death(
            "hang-native.example.com.",
            &["--watchdog-ms", "300"],
            "hung on a query",
            Duration::from_millis(300),
        );
    }

    #[test]
    fn queries_of_death_over_tcp_are_caught_too() {
        let bundle = example_bundle();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blacklist");
        let mut args = king_args("1", &file);
        args.extend(["--watchdog-ms", "300"].map(String::from));
        let server = start_king(bundle.path(), &args);
        let addr = server.addr();
        for (k, name) in ["crash-native.example.com.", "hang-native.example.com."]
            .iter()
            .enumerate()
        {
            let mut stream = tcp_connect(addr, T).unwrap();
            std::io::Write::write_all(&mut stream, &frame(&query(1, name, TYPE_A))).unwrap();
            // The worker dies with the connection: it closes unanswered.
            assert!(
                !matches!(read_frame(&mut stream), Ok(Some(_))),
                "{name} answered"
            );
            assert!(
                server.wait_for_log("blacklisted", k + 1, T),
                "{}",
                server.stderr()
            );
            assert!(server.wait_for_log("serving again", k + 1, T));
            fingerprint_of(&file, &format!("{name} IN A"));
            // Dropped now over TCP and UDP alike; the connection stays
            // open for the next query.
            let mut stream = tcp_connect(addr, Duration::from_millis(500)).unwrap();
            std::io::Write::write_all(&mut stream, &frame(&query(2, name, TYPE_A))).unwrap();
            assert!(read_frame(&mut stream).is_err(), "{name} answered again");
            std::io::Write::write_all(&mut stream, &frame(&query(3, "example.com.", TYPE_SOA)))
                .unwrap();
            stream.set_read_timeout(Some(T)).unwrap();
            let a = read_frame(&mut stream).unwrap().expect("an answer");
            assert_eq!(message_id(&a), Some(3));
            assert!(udp_query(addr, &query(4, name, TYPE_A), Duration::from_millis(300)).is_none());
        }
        assert_eq!(server.log_count("worker died"), 2, "{}", server.stderr());
    }

    /// The `key=value` field of a log line.
    fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
        let rest = line.split(&format!(" {key}=")).nth(1)?;
        Some(rest.split_whitespace().next()?.trim_matches('"'))
    }

    /// `(deaths in a row, backoff ceiling ms)` of every restart logged.
    fn restarts(log: &str) -> Vec<(u32, u64)> {
        log.lines()
            .filter(|l| l.contains("restarting worker"))
            .filter_map(|l| {
                Some((
                    field(l, "deaths_in_a_row")?.parse().ok()?,
                    field(l, "backoff_ceiling_ms")?.parse().ok()?,
                ))
            })
            .collect()
    }

    #[test]
    fn restart_is_quick_backoff_grows_in_a_crash_loop_and_resets() {
        let bundle = example_bundle();
        let dir = tempfile::tempdir().unwrap();
        let mut args = king_args("1", &dir.path().join("blacklist"));
        args.extend(
            [
                "--backoff-base-ms",
                "100",
                "--backoff-max-ms",
                "400",
                "--stable-after-ms",
                "1500",
            ]
            .map(String::from),
        );
        let server = start_king(bundle.path(), &args);
        let addr = server.addr();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(T)).unwrap();
        let mut waits = Vec::new();
        // Distinct queries of death, one after the other: each kills the
        // one worker once, so the deaths come in a row.
        for k in 1..=5u16 {
            let name = format!("crash-native.loop{k}.example.com.");
            client.send_to(&query(k, &name, TYPE_A), addr).unwrap();
            // Sent while the worker dies: waits in the socket's queue for
            // the replacement, which inherits the same socket.
            let start = Instant::now();
            let id = 0x1000 + k;
            client
                .send_to(&query(id, "www.example.com.", TYPE_A), addr)
                .unwrap();
            let mut buf = [0u8; 1500];
            let (n, _) = client.recv_from(&mut buf).expect("queued query answered");
            assert_eq!(message_id(&buf[..n]), Some(id));
            waits.push(start.elapsed());
            assert!(server.wait_for_log("serving again", usize::from(k), T));
        }
        let log = server.stderr();
        let restart_ms: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("serving again"))
            .filter_map(|l| field(l, "restart_ms"))
            .collect();
        let start_ms: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("serving again"))
            .filter_map(|l| field(l, "start_ms"))
            .collect();
        eprintln!("restart times (death seen to replacement serving), ms: {restart_ms:?}");
        eprintln!("of which the replacement's start (spawn to serving), ms: {start_ms:?}");
        eprintln!("queued query answered after (ms): {:?}", waits);
        let seen = restarts(&log);
        assert_eq!(
            seen,
            vec![(1, 0), (2, 100), (3, 200), (4, 400), (5, 400)],
            "{log}"
        );
        // The first restart is immediate; the king's own measure of it.
        let first: f64 = restart_ms[0].parse().unwrap();
        assert!(first < 1000.0, "first restart took {first} ms");

        // After a stable period, a death is the first in a row again.
        thread::sleep(Duration::from_millis(1700));
        let name = "crash-native.after.example.com.";
        assert!(udp_query(addr, &query(9, name, TYPE_A), Duration::from_millis(200)).is_none());
        assert!(server.wait_for_log("restarting worker", 6, T));
        assert_eq!(restarts(&server.stderr())[5], (1, 0), "{}", server.stderr());
        assert!(server.wait_for_log("serving again", 6, T));
        assert!(udp_query(addr, &query(10, "www.example.com.", TYPE_A), T).is_some());
    }

    #[test]
    fn unblocked_query_crashes_again() {
        let bundle = example_bundle();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blacklist");
        let server = start_king(bundle.path(), &king_args("1", &file));
        let addr = server.addr();
        let name = "crash-native.example.com.";
        let crash = query(1, name, TYPE_A);
        assert!(udp_query(addr, &crash, Duration::from_millis(200)).is_none());
        assert!(
            server.wait_for_log("blacklisted", 1, T),
            "{}",
            server.stderr()
        );
        assert!(server.wait_for_log("serving again", 1, T));
        let fingerprint = fingerprint_of(&file, "crash-native.example.com. IN A");
        // Dropped now: no second death.
        assert!(udp_query(addr, &crash, Duration::from_millis(300)).is_none());
        assert_eq!(server.log_count("worker died"), 1);

        let changes = server.log_count("blacklist changed");
        let out = run_stripedns(
            &["unblock", &fingerprint, "--file", file.to_str().unwrap()],
            T,
        );
        assert!(out.status.success(), "{}", out.stderr);
        assert!(!list(&file).contains(&fingerprint));
        assert!(server.wait_for_log("blacklist changed", changes + 1, T));
        // Let through again, it kills the worker again and is blacklisted
        // again.
        assert!(udp_query(addr, &crash, Duration::from_millis(200)).is_none());
        assert!(
            server.wait_for_log("worker died", 2, T),
            "{}",
            server.stderr()
        );
        assert!(server.wait_for_log("serving again", 2, T));
        assert_eq!(
            fingerprint_of(&file, "crash-native.example.com. IN A"),
            fingerprint
        );
        assert!(udp_query(addr, &query(2, "www.example.com.", TYPE_A), T).is_some());
    }

    #[test]
    fn hickory_crash_query_kills_one_worker_once_and_is_blacklisted() {
        query_of_death(
            "crash-hickory.example.com.",
            &["--engine", "hickory"],
            "worker died",
            Duration::from_secs(1),
        );
    }

    #[test]
    fn hickory_hang_query_is_killed_by_the_watchdog_and_blacklisted() {
        query_of_death(
            "hang-hickory.example.com.",
            &["--engine", "hickory", "--watchdog-ms", "300"],
            "hung on a query",
            Duration::from_millis(300),
        );
    }

    /// One lookup as a resolver makes it: ask `first`, and when no answer
    /// comes within `patience`, ask `second`. True when either answered.
    fn resolve(first: SocketAddr, second: SocketAddr, id: u16, name: &str) -> bool {
        let patience = Duration::from_millis(500);
        let q = query(id, name, TYPE_A);
        [first, second].into_iter().any(|server| {
            udp_query(server, &q, patience).is_some_and(|a| message_id(&a) == Some(id))
        })
    }

    /// The stripes' promise: queries of death for either engine, sent to
    /// both stripes, cost a resolver a retry, never an answer.
    #[test]
    fn a_resolver_retrying_the_other_stripe_gets_every_answer() {
        let bundle = example_bundle();
        let dir = tempfile::tempdir().unwrap();
        let mut stripes = Vec::new();
        for (n, engine) in ["native", "hickory"].iter().enumerate() {
            let mut args = king_args("2", &dir.path().join(format!("blacklist-{engine}")));
            args.extend(
                [
                    "--engine",
                    engine,
                    "--stripe",
                    &(n + 1).to_string(),
                    "--watchdog-ms",
                    "300",
                ]
                .map(String::from),
            );
            stripes.push(start_king(bundle.path(), &args));
        }
        let (a, b) = (stripes[0].addr(), stripes[1].addr());
        let names = [
            "www.example.com.",
            "crash-native.example.com.",
            "example.com.",
            "hang-native.example.com.",
            "crash-hickory.example.com.",
            "hang-hickory.example.com.",
        ];
        let (mut sent, mut answered) = (0, 0);
        for round in 0..4u16 {
            for (i, name) in names.iter().enumerate() {
                // Resolvers pick a stripe first in no particular order.
                let (first, second) = if (usize::from(round) + i) % 2 == 0 {
                    (a, b)
                } else {
                    (b, a)
                };
                sent += 1;
                if resolve(first, second, round * 16 + i as u16, name) {
                    answered += 1;
                }
            }
        }
        eprintln!("resolver across two stripes: lookups sent {sent}, answered {answered}");
        assert_eq!(sent, answered, "lookups went unanswered");
        for (stripe, engine) in stripes.iter_mut().zip(["native", "hickory"]) {
            assert!(stripe.is_running(), "the {engine} king died");
            assert!(
                stripe.log_count("blacklisted") >= 2,
                "the {engine} stripe blacklisted nothing:\n{}",
                stripe.stderr()
            );
        }
    }
}
