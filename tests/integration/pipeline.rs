//! The food-taster pipeline end to end: `stripedns push`, `stripedns
//! pipeline` (which runs the `foodtaster` binary), and a king (`stripedns
//! serve --state`) following `dns/current`, all real processes on
//! loopback, each test with a state directory of its own.
//!
//! The bundles that crash, hang or balloon the taster need the engines'
//! load faults: those tests are ignored unless built with `--features
//! fault-injection` (as `tests/run.sh` builds), and the `foodtaster`
//! binary beside `stripedns` must be built the same way
//! (`cargo build --workspace --features fault-injection`).

use std::collections::BTreeSet;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::dnsmsg::{Normalised, normalise};
use crate::support::*;

/// How long a test waits for a verdict.
const VERDICT_WAIT: Duration = Duration::from_secs(30);

/// A zone for `example.com.` whose `www` has the address `www`; `extra`
/// lines are appended.
fn zone(www: &str, extra: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 60\n\
         @    IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n\
         @    IN NS  ns1\n\
         ns1  IN A   192.0.2.1\n\
         www  IN A   {www}\n{extra}"
    )
}

/// The `foodtaster` binary the pipeline runs (beside `stripedns`).
fn foodtaster() -> PathBuf {
    let path = Path::new(STRIPEDNS).with_file_name("foodtaster");
    assert!(
        path.exists(),
        "{} is missing: build the workspace with --features fault-injection (tests/run.sh does)",
        path.display()
    );
    path
}

/// A running `stripedns pipeline`, killed when dropped.
struct Pipeline {
    /// The process.
    child: Child,
    /// Its stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Pipeline {
    /// Start `stripedns pipeline --state state` with a short poll, 512 MiB
    /// for the taster unless `extra` says otherwise, and `extra` flags.
    fn start(state: &Path, extra: &[&str]) -> Pipeline {
        let memory: &[&str] = if extra.contains(&"--taster-memory") {
            &[]
        } else {
            &["--taster-memory", "512"]
        };
        let mut child = Command::new(STRIPEDNS)
            .arg("pipeline")
            .arg("--state")
            .arg(state)
            .args(["--poll-ms", "200"])
            .args(memory)
            .args(extra)
            .env("STRIPEDNS_FOODTASTER", foodtaster())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stripedns pipeline");
        let stderr = collect(child.stderr.take());
        Pipeline { child, stderr }
    }

    /// Its log so far.
    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kill it with SIGKILL and reap it.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `stripedns push dir --state state`.
fn push(state: &Path, dir: &Path) -> Finished {
    run_stripedns(
        &[
            "push",
            dir.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    )
}

/// Push `dir`, expect it landed, and return its id.
fn push_ok(state: &Path, dir: &Path) -> String {
    let out = push(state, dir);
    assert!(
        out.status.success(),
        "push failed: {}{}",
        out.stdout,
        out.stderr
    );
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "{}", out.stdout);
    id
}

/// The id `dns/current` names, if any.
fn live_id(state: &Path) -> Option<String> {
    let target = fs::read_link(state.join("dns/current")).ok()?;
    Some(target.file_name()?.to_str()?.to_string())
}

/// Wait until `cond` holds, up to `timeout`; whether it did.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// The A addresses in `msg`'s answer to a query with ID `id`, or why the
/// answer is not a good one.
fn addresses(msg: &[u8], id: u16) -> Result<BTreeSet<String>, String> {
    match normalise(msg, id) {
        Normalised::Message(m) if m.rcode == 0 => Ok(m
            .answer
            .iter()
            .filter_map(|r| r.strip_prefix("www.example.com. 60 IN A "))
            .map(str::to_string)
            .collect()),
        other => Err(other.shape()),
    }
}

/// The addresses the king at `addr` answers for `www.example.com. A`.
fn www(addr: SocketAddr) -> Option<BTreeSet<String>> {
    let reply = udp_query(
        addr,
        &query(7, "www.example.com.", TYPE_A),
        Duration::from_millis(500),
    )?;
    addresses(&reply, 7).ok()
}

/// What a [`Querier`] saw.
#[derive(Debug, Default)]
struct Tally {
    /// Queries sent.
    sent: u64,
    /// Queries answered with one of the allowed addresses.
    answered: u64,
    /// Queries not answered within the timeout.
    lost: u64,
    /// Answers that were not right, in words.
    wrong: Vec<String>,
}

/// A steady stream of `www.example.com. A` queries over UDP to a king,
/// one at a time, each answer checked against a list of allowed addresses
/// in the order the bundles holding them go live: an answer from an older
/// bundle than one already seen is wrong too.
struct Querier {
    /// Raised to stop.
    stop: Arc<AtomicBool>,
    /// The stream's thread, returning the tally.
    thread: thread::JoinHandle<Tally>,
}

impl Querier {
    /// Start querying `addr`; an answer must hold exactly one address, one
    /// of `allowed`, and none earlier in `allowed` than one seen before.
    fn start(addr: SocketAddr, allowed: Vec<String>, pause: Duration) -> Querier {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut tally = Tally::default();
            let mut id: u16 = 0;
            let mut newest = 0;
            while !flag.load(Ordering::Relaxed) {
                id = id.wrapping_add(1);
                tally.sent += 1;
                let q = query(id, "www.example.com.", TYPE_A);
                match udp_query(addr, &q, Duration::from_secs(2)) {
                    None => tally.lost += 1,
                    Some(reply) => match addresses(&reply, id) {
                        Ok(a) => {
                            let at = a
                                .first()
                                .and_then(|x| allowed.iter().position(|y| y == x))
                                .filter(|_| a.len() == 1);
                            match at {
                                Some(i) if i >= newest => {
                                    newest = i;
                                    tally.answered += 1;
                                }
                                Some(i) => tally.wrong.push(format!(
                                    "{} after {}: older data after newer",
                                    allowed[i], allowed[newest]
                                )),
                                None => tally.wrong.push(format!("addresses {a:?}")),
                            }
                        }
                        Err(e) => tally.wrong.push(e),
                    },
                }
                thread::sleep(pause);
            }
            tally
        });
        Querier { stop, thread }
    }

    /// Stop and return what was seen.
    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("querier thread")
    }
}

/// A state directory, a pipeline on it and a king serving the promoted
/// bundle whose `www` is 192.0.2.10.
struct Fixture {
    /// Holds the state directory and the bundles.
    dir: TempDir,
    /// The pipeline.
    pipeline: Pipeline,
    /// The king.
    king: ServeProcess,
    /// The id of the first bundle.
    first: String,
}

impl Fixture {
    /// Set up, with `extra` pipeline flags.
    fn start(extra: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let pipeline = Pipeline::start(&state, extra);
        let first_dir = bundle_dir(
            dir.path(),
            "first",
            &[("example.com.zone", &zone("192.0.2.10", ""))],
        );
        let first = push_ok(&state, &first_dir);
        assert!(
            wait_until(VERDICT_WAIT, || live_id(&state).as_deref()
                == Some(first.as_str())),
            "first bundle not promoted: {}",
            pipeline.log()
        );
        let king = ServeProcess::start_state(&state, &["--udp-workers", "1"]);
        Fixture {
            dir,
            pipeline,
            king,
            first,
        }
    }

    /// The state directory.
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}

/// A bundle directory `name` under `parent` holding `files`.
fn bundle_dir(parent: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// Every promoted bundle hashes to its name, `dns/current` names one of
/// them, and nothing half-written is visible in `dns/`.
fn assert_consistent(state: &Path) {
    let dns = state.join("dns");
    for entry in fs::read_dir(&dns).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "bundles" || name == "current" || name.starts_with(".tmp-"),
            "unexpected entry dns/{name}"
        );
    }
    for entry in fs::read_dir(dns.join("bundles")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let out = run_stripedns(
            &["check", entry.path().to_str().unwrap()],
            Duration::from_secs(60),
        );
        let verdict = out.stdout.lines().last().unwrap_or_default().to_string();
        assert_eq!(
            verdict,
            format!("bundle {name}: ok"),
            "{}{}",
            out.stdout,
            out.stderr
        );
    }
    if let Some(live) = live_id(state) {
        assert!(
            dns.join("bundles").join(&live).is_dir(),
            "dns/current names a missing bundle"
        );
    }
    assert!(
        fs::read_dir(state.join("foodtaster")).unwrap().count() <= 1,
        "more than one bundle in foodtaster/"
    );
}

/// Processes whose command line mentions `needle` (to find tasters).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn pushed_bundle_goes_live_in_the_king_within_2s() {
    let f = Fixture::start(&[]);
    assert_eq!(
        www(f.king.addr()),
        Some(BTreeSet::from(["192.0.2.10".to_string()]))
    );
    let next = bundle_dir(
        f.dir.path(),
        "next",
        &[("example.com.zone", &zone("192.0.2.20", ""))],
    );
    let started = Instant::now();
    let id = push_ok(&f.state(), &next);
    let want = BTreeSet::from(["192.0.2.20".to_string()]);
    assert!(
        wait_until(Duration::from_secs(2), || www(f.king.addr()).as_ref()
            == Some(&want)),
        "not live within 2 s of the push; pipeline:\n{}\nking:\n{}",
        f.pipeline.log(),
        f.king.stderr()
    );
    println!("push-to-live: {:?}", started.elapsed());
    assert_eq!(live_id(&f.state()), Some(id.clone()));
    // Pushing the live bundle again is refused with its own status.
    let again = push(&f.state(), &next);
    assert_eq!(again.status.code(), Some(3), "{}", again.stderr);
    assert!(again.stderr.contains("already live"), "{}", again.stderr);
    let status = run_stripedns(
        &["status", "--state", f.state().to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(
        status.stdout.contains(&format!("live: {id} since ")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&format!("{} promote", f.first)),
        "{}",
        status.stdout
    );
}

/// Push a bad bundle (`files`) while a querier checks that the king keeps
/// answering the first bundle's data; it must be poisoned with a reason
/// containing `reason`, and pushing it again must be refused at once.
fn assert_poisoned(files: &[(&str, &str)], reason: &str, extra: &[&str]) {
    let f = Fixture::start(extra);
    let state = f.state();
    let querier = Querier::start(
        f.king.addr(),
        vec!["192.0.2.10".to_string()],
        Duration::from_millis(2),
    );
    let bad = bundle_dir(f.dir.path(), "bad", files);
    let id = push_ok(&state, &bad);
    let record = state.join("poisoned").join(&id);
    let poisoned = wait_until(VERDICT_WAIT, || record.exists());
    let tally = querier.finish();
    assert!(poisoned, "not poisoned; pipeline:\n{}", f.pipeline.log());
    let text = fs::read_to_string(&record).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let recorded = json["reason"].as_str().unwrap().to_string();
    assert!(
        recorded.contains(reason),
        "reason `{recorded}` lacks `{reason}`"
    );
    assert!(json["stderr_tail"].is_string());
    println!("poisoned: {recorded}; king: {tally:?}");
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert!(tally.wrong.is_empty(), "{tally:?}");
    assert!(tally.answered > 0);
    assert_eq!(live_id(&state).as_deref(), Some(f.first.as_str()));

    // The record is written before the verdict line; wait for both.
    let log = state.join("verdicts.log");
    assert!(wait_until(VERDICT_WAIT, || fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&id)));
    let verdicts = fs::read_to_string(&log).unwrap();
    let again = push(&state, &bad);
    assert_eq!(
        again.status.code(),
        Some(5),
        "{}{}",
        again.stdout,
        again.stderr
    );
    assert!(
        again.stderr.contains("poisoned") && again.stderr.contains(reason),
        "{}",
        again.stderr
    );
    assert_eq!(fs::read_dir(state.join("landing")).unwrap().count(), 0);
    let status = run_stripedns(
        &["status", "--state", state.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(
        status.stdout.contains(&format!("poisoned: 1\n  {id} at ")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&format!("{id} poisoned: ")),
        "{}",
        status.stdout
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fs::read_to_string(state.join("verdicts.log")).unwrap(),
        verdicts
    );
    assert_consistent(&state);
}

#[test]
fn syntax_error_is_poisoned() {
    assert_poisoned(
        &[(
            "example.com.zone",
            &zone("192.0.2.30", "bad IN A 192.0.2.300\n"),
        )],
        "failed checks",
        &[],
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn crash_on_load_is_poisoned() {
    assert_poisoned(
        &[(
            "example.com.zone",
            &zone("192.0.2.30", "x TXT \"stripedns:crash-on-load\"\n"),
        )],
        "crashed by signal 6 (SIGABRT)",
        &[],
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn hang_on_load_is_poisoned() {
    assert_poisoned(
        &[(
            "example.com.zone",
            &zone("192.0.2.30", "x TXT \"stripedns:hang-on-load\"\n"),
        )],
        "hung past 1.5 s",
        &["--taster-timeout", "1.5"],
    );
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn balloon_on_load_is_poisoned() {
    assert_poisoned(
        &[(
            "example.com.zone",
            &zone("192.0.2.30", "x TXT \"stripedns:balloon-on-load\"\n"),
        )],
        "out of memory",
        &["--taster-memory", "256"],
    );
}

#[test]
fn failing_bundle_toml_expectation_is_poisoned() {
    assert_poisoned(
        &[
            ("example.com.zone", &zone("192.0.2.30", "")),
            (
                "bundle.toml",
                "[[expect]]\nname = \"www.example.com.\"\ntype = \"A\"\nmin_answers = 4\n",
            ),
        ],
        "1 answer records, expected at least 4",
        &[],
    );
}

#[test]
fn swap_under_load_loses_no_query() {
    let f = Fixture::start(&[]);
    let state = f.state();
    let addrs: Vec<String> = (0..10).map(|i| format!("192.0.2.{}", 100 + i)).collect();
    let mut allowed = vec!["192.0.2.10".to_string()];
    allowed.extend(addrs.iter().cloned());
    let querier = Querier::start(f.king.addr(), allowed, Duration::from_micros(200));
    let started = Instant::now();
    for (i, a) in addrs.iter().enumerate() {
        let dir = bundle_dir(
            f.dir.path(),
            &format!("b{i}"),
            &[("example.com.zone", &zone(a, ""))],
        );
        let id = push_ok(&state, &dir);
        assert!(
            wait_until(VERDICT_WAIT, || live_id(&state).as_deref()
                == Some(id.as_str())),
            "bundle {i} not promoted: {}",
            f.pipeline.log()
        );
        // Each promotion is a swap in the king before the next push.
        let now = BTreeSet::from([a.clone()]);
        assert!(
            wait_until(Duration::from_secs(5), || www(f.king.addr()).as_ref()
                == Some(&now)),
            "the king does not serve bundle {i}: {}",
            f.king.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let tally = querier.finish();
    let swaps = f.king.stderr().matches("swapped in the bundle").count();
    println!(
        "swap under load: 10 promotions, {swaps} swaps in the king, in {:?}; \
         sent {}, answered {}, lost {}, wrong {}",
        started.elapsed(),
        tally.sent,
        tally.answered,
        tally.lost,
        tally.wrong.len()
    );
    assert_eq!(swaps, 10, "{}", f.king.stderr());
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert!(tally.wrong.is_empty(), "{tally:?}");
    assert_eq!(tally.answered, tally.sent);
}

#[test]
fn kill_9_of_the_pipeline_then_restart_keeps_the_state_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    for round in 0..3u32 {
        let mut pipeline = Pipeline::start(&state, &[]);
        let b = bundle_dir(
            dir.path(),
            &format!("r{round}"),
            &[(
                "example.com.zone",
                &zone(&format!("192.0.2.{}", 50 + round), ""),
            )],
        );
        let id = push_ok(&state, &b);
        // A random moment within the tasting (about 200-400 ms here).
        let delay = (seed.wrapping_mul(round + 7) >> 7) % 400;
        thread::sleep(Duration::from_millis(u64::from(delay)));
        pipeline.kill9();
        // The taster dies with its pipeline.
        let tasters = || processes_mentioning(&format!("{}/foodtaster/", state.display()));
        assert!(
            wait_until(Duration::from_secs(5), || tasters().is_empty()),
            "a taster outlived the pipeline: {:?}",
            tasters()
        );
        assert_consistent(&state);

        let restarted = Pipeline::start(&state, &[]);
        assert!(
            wait_until(VERDICT_WAIT, || live_id(&state).as_deref()
                == Some(id.as_str())),
            "round {round} (killed after {delay} ms): not live after restart: {}",
            restarted.log()
        );
        drop(restarted);
        assert_consistent(&state);
        assert_eq!(fs::read_dir(state.join("landing")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(state.join("foodtaster")).unwrap().count(), 0);
    }
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn kill_9_of_the_taster_poisons_the_bundle_and_keeps_the_live_one() {
    let f = Fixture::start(&["--taster-timeout", "60"]);
    let state = f.state();
    let querier = Querier::start(
        f.king.addr(),
        vec!["192.0.2.10".to_string()],
        Duration::from_millis(2),
    );
    let stuck = bundle_dir(
        f.dir.path(),
        "stuck",
        &[(
            "example.com.zone",
            &zone("192.0.2.40", "x TXT \"stripedns:hang-on-load\"\n"),
        )],
    );
    let id = push_ok(&state, &stuck);
    let needle = format!("{}/foodtaster/{id}", state.display());
    assert!(
        wait_until(Duration::from_secs(10), || !processes_mentioning(&needle)
            .is_empty()),
        "no taster started"
    );
    for pid in processes_mentioning(&needle) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let record = state.join("poisoned").join(&id);
    assert!(
        wait_until(VERDICT_WAIT, || record.exists()),
        "{}",
        f.pipeline.log()
    );
    let tally = querier.finish();
    let text = fs::read_to_string(&record).unwrap();
    assert!(text.contains("crashed by signal 9 (SIGKILL)"), "{text}");
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert!(tally.wrong.is_empty(), "{tally:?}");
    assert_eq!(live_id(&state).as_deref(), Some(f.first.as_str()));
    assert_consistent(&state);
}

#[test]
fn serve_takes_exactly_one_of_bundle_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let both = run_stripedns(
        &[
            "serve",
            "--bundle",
            d,
            "--state",
            d,
            "--listen",
            "127.0.0.1:0",
        ],
        Duration::from_secs(10),
    );
    assert!(!both.status.success());
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
    let neither = run_stripedns(
        &["serve", "--listen", "127.0.0.1:0"],
        Duration::from_secs(10),
    );
    assert!(!neither.status.success());
    assert!(neither.stderr.contains("--bundle"), "{}", neither.stderr);
}
