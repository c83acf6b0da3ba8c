//! Web-fleet answers end to end: rotation, `max_answers` and health
//! checks (`src/fleet.rs` holds the answer rules), on real processes and
//! loopback sockets only.
//!
//! - Rotation and answer limits: `serve --bundle` with each engine, a
//!   thousand queries or so, counting which record comes first and which
//!   records are served.
//! - Health: small HTTP and TCP servers started by the test on
//!   127.0.0.2 to 127.0.0.5 (Linux routes all of 127/8 to `lo`) are the
//!   fleet's backends; `stripedns pipeline`, `stripedns health` and kings
//!   (`serve --state`) run on one state directory. Stopping backends takes
//!   their addresses out of the health file and out of every answer within
//!   the checks' thresholds; starting them again brings them back; with all
//!   of them stopped the answer has them all (fail open). The times from a
//!   backend stopping to its address leaving every answer, and from its
//!   return to its address being answered again, are printed and written to
//!   `target/tmp/health-timings.txt`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use stripedns::fleet::{AddressHealth, HealthFile};

use crate::support::*;

/// The engines every answer test runs against.
const ENGINES: [&str; 2] = ["native", "hickory"];

/// How long the pipeline may take to promote a bundle.
const PROMOTE: Duration = Duration::from_secs(60);

/// A zone for `example.com.` with `lines` appended.
fn zone(lines: &str) -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 60\n\
         @    IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n\
         @    IN NS  ns1\n\
         ns1  IN A   192.0.2.250\n{lines}"
    )
}

/// `count` A records for `name`: 192.0.2.1, 192.0.2.2, ...
fn a_records(name: &str, count: u8) -> String {
    (1..=count)
        .map(|i| format!("{name} IN A 192.0.2.{i}\n"))
        .collect()
}

/// The addresses of the A and AAAA records in the answer section of
/// `answer`, in order; `None` when it does not decode or is not NOERROR.
fn addresses(answer: &[u8]) -> Option<Vec<IpAddr>> {
    if answer.len() < 12 || answer[3] & 0x0f != 0 {
        return None;
    }
    let msg = Message::from_vec(answer).ok()?;
    msg.answers
        .iter()
        .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
        .map(|r| r.data.to_string().parse().ok())
        .collect()
}

/// Where the tests' queries come from: a loopback address of their own,
/// so the thousands of sockets they open never take a port that another
/// test picked on 127.0.0.1 and is about to bind.
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 64);

/// Ask `server` for the A records of `name` over UDP, from a new socket
/// (so the kernel spreads the queries over the workers).
fn ask(server: SocketAddr, name: &str, id: u16) -> Vec<IpAddr> {
    let question = query(id, name, TYPE_A);
    for _ in 0..3 {
        let socket = UdpSocket::bind((CLIENT, 0)).expect("bind a query socket on 127.0.0.64");
        socket.connect(server).expect("connect the query socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set a read timeout");
        let mut buf = vec![0u8; 65_535];
        if socket.send(&question).is_ok()
            && let Ok(n) = socket.recv(&mut buf)
        {
            return addresses(&buf[..n])
                .unwrap_or_else(|| panic!("{name}: bad answer from {server}: {:?}", &buf[..n]));
        }
    }
    panic!("{server} did not answer {name} A three times");
}

/// Send `count` queries for `name` to `server` and return the answers.
fn answers(server: SocketAddr, name: &str, count: usize) -> Vec<Vec<IpAddr>> {
    (0..count).map(|i| ask(server, name, i as u16)).collect()
}

/// Every address that comes first in 1,000 answers of the 8-record RRset
/// of `www` comes first about equally often (cyclic by default), and a
/// `rotation = "off"` name always answers in zone order.
fn rotation(engine: &str) {
    let bundle = write_bundle(&[
        (
            "example.com.zone",
            &zone(&format!("{}{}", a_records("www", 8), a_records("fixed", 8))),
        ),
        (
            "bundle.toml",
            "[[fleet]]\nname = \"fixed.example.com.\"\nrotation = \"off\"\n",
        ),
    ]);
    let server = ServeProcess::start(bundle.path(), &["--engine", engine, "--workers", "2"]);
    let all: BTreeSet<IpAddr> = (1..=8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    let mut first: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for answer in answers(server.addr(), "www.example.com.", 1000) {
        assert_eq!(answer.len(), 8, "{engine}: {answer:?}");
        assert_eq!(
            answer.iter().copied().collect::<BTreeSet<_>>(),
            all,
            "{engine}"
        );
        *first.entry(answer[0]).or_default() += 1;
    }
    println!("rotation, {engine}: times each record came first in 1000 answers: {first:?}");
    assert_eq!(first.len(), 8, "{engine}: {first:?}");
    for (addr, n) in &first {
        assert!(
            (63..=187).contains(n),
            "{engine}: {addr} came first {n} times in 1000 answers (125 expected): {first:?}"
        );
    }
    let zone_order: Vec<IpAddr> = all.iter().copied().collect();
    for answer in answers(server.addr(), "fixed.example.com.", 50) {
        assert_eq!(answer, zone_order, "{engine}: rotation = \"off\"");
    }
}

#[test]
fn rotation_spreads_the_first_record_evenly_native() {
    rotation(ENGINES[0]);
}

#[test]
fn rotation_spreads_the_first_record_evenly_hickory() {
    rotation(ENGINES[1]);
}

/// With 16 records and `max_answers = 8`, every answer has 8 distinct
/// records of the set, and over 400 answers every record is served,
/// about equally often.
fn max_answers(engine: &str) {
    let bundle = write_bundle(&[
        ("example.com.zone", &zone(&a_records("www", 16))),
        (
            "bundle.toml",
            "[[fleet]]\nname = \"www.example.com.\"\nmax_answers = 8\n",
        ),
    ]);
    let server = ServeProcess::start(bundle.path(), &["--engine", engine, "--workers", "2"]);
    let all: BTreeSet<IpAddr> = (1..=16)
        .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
        .collect();
    let mut served: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for answer in answers(server.addr(), "www.example.com.", 400) {
        let distinct: BTreeSet<IpAddr> = answer.iter().copied().collect();
        assert_eq!(answer.len(), 8, "{engine}: {answer:?}");
        assert_eq!(
            distinct.len(),
            8,
            "{engine}: repeated records in {answer:?}"
        );
        assert!(distinct.is_subset(&all), "{engine}: {answer:?}");
        for a in answer {
            *served.entry(a).or_default() += 1;
        }
    }
    println!(
        "max_answers, {engine}: times each of 16 records was served in 400 answers of 8: {served:?}"
    );
    assert_eq!(
        served.keys().copied().collect::<BTreeSet<_>>(),
        all,
        "{engine}: not every record was served"
    );
    for (addr, n) in &served {
        assert!(
            (100..=300).contains(n),
            "{engine}: {addr} served {n} times in 400 answers of 8 (200 expected): {served:?}"
        );
    }
}

#[test]
fn max_answers_serves_n_distinct_records_and_all_of_them_native() {
    max_answers(ENGINES[0]);
}

#[test]
fn max_answers_serves_n_distinct_records_and_all_of_them_hickory() {
    max_answers(ENGINES[1]);
}

// ---------------------------------------------------------------------
// Health checks.

/// The health checks' interval, in milliseconds.
const INTERVAL_MS: u64 = 200;
/// Their timeout.
const TIMEOUT_MS: u64 = 150;
/// Their healthy and unhealthy thresholds.
const THRESHOLD: u64 = 2;

/// The longest a state change may take to reach the health file: the
/// probe after the change (up to an interval away), `THRESHOLD` probes
/// at up to 1.2 intervals, a timeout; plus 2 s for a loaded machine.
fn within() -> Duration {
    Duration::from_millis(INTERVAL_MS + THRESHOLD * INTERVAL_MS * 6 / 5 + TIMEOUT_MS + 2000)
}

/// The address 127.0.0.`n`.
fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A backend of the fleet: an HTTP server answering `GET /healthz` with
/// 200, or a TCP server that accepts and closes; stopped on drop.
struct Backend {
    /// Where it listens.
    addr: SocketAddr,
    /// HTTP (else plain TCP).
    http: bool,
    /// The accept loop's stop flag.
    stop: Arc<AtomicBool>,
    /// The accept loop; its end closes the listener.
    thread: Option<JoinHandle<()>>,
    /// Connections accepted so far.
    hits: Arc<AtomicUsize>,
    /// The last HTTP request head received.
    last_request: Arc<Mutex<String>>,
}

impl Backend {
    /// Serve on `listener` (already bound).
    fn on(listener: TcpListener, http: bool) -> Backend {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let thread = {
            let (stop, hits, last) = (stop.clone(), hits.clone(), last_request.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            hits.fetch_add(1, Ordering::Relaxed);
                            if http {
                                let _ = s.set_nonblocking(false);
                                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                                let mut head = Vec::new();
                                let mut buf = [0u8; 1024];
                                while !head.windows(4).any(|w| w == b"\r\n\r\n")
                                    && head.len() < 8192
                                {
                                    match s.read(&mut buf) {
                                        Ok(0) | Err(_) => break,
                                        Ok(n) => head.extend_from_slice(&buf[..n]),
                                    }
                                }
                                let text = String::from_utf8_lossy(&head).into_owned();
                                let status = if text.starts_with("GET /healthz HTTP/1.1\r\n") {
                                    "200 OK"
                                } else {
                                    "404 Not Found"
                                };
                                *last.lock().unwrap() = text;
                                let _ = s.write_all(
                                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                        .as_bytes(),
                                );
                            }
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Backend {
            addr,
            http,
            stop,
            thread: Some(thread),
            hits,
            last_request,
        }
    }

    /// Start again on the same address (a backend coming back).
    fn restart(&mut self) {
        self.halt();
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        *self = Backend::on(listener, self.http);
    }

    /// Stop listening (a backend going down): connections are refused
    /// from the moment this returns.
    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Listeners on one port, the same for every address of `ips`.
fn listeners_on_one_port(ips: &[IpAddr]) -> Vec<TcpListener> {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).expect("bind a loopback port");
        let port = first.local_addr().unwrap().port();
        let rest: Result<Vec<_>, _> = ips[1..]
            .iter()
            .map(|ip| TcpListener::bind((*ip, port)))
            .collect();
        if let Ok(rest) = rest {
            let mut all = vec![first];
            all.extend(rest);
            return all;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// A fleet under health checks: backends, a state directory with a
/// pipeline and a health checker.
struct Fleet {
    /// `www` backends (HTTP) on 127.0.0.2 to 127.0.0.5, in that order.
    www: Vec<Backend>,
    /// `db` backends (TCP) on 127.0.0.2 and 127.0.0.3.
    db: Vec<Backend>,
    /// The state directory.
    state: tempfile::TempDir,
    /// `stripedns pipeline`.
    pipeline: Daemon,
    /// `stripedns health`.
    checker: Daemon,
}

impl Fleet {
    /// Start the backends, push the fleet bundle through a pipeline, and
    /// start the checker; returns once the health file lists every
    /// address healthy.
    fn start() -> Fleet {
        let www_ips: Vec<IpAddr> = (2..=5).map(lo).collect();
        let db_ips: Vec<IpAddr> = (2..=3).map(lo).collect();
        let www: Vec<Backend> = listeners_on_one_port(&www_ips)
            .into_iter()
            .map(|l| Backend::on(l, true))
            .collect();
        let db: Vec<Backend> = listeners_on_one_port(&db_ips)
            .into_iter()
            .map(|l| Backend::on(l, false))
            .collect();
        let state = tempfile::Builder::new()
            .prefix("stripedns-fleet-")
            .tempdir_in(runtime_dir())
            .unwrap();
        let state_arg = state.path().to_str().unwrap().to_string();
        let pipeline = Daemon::start(&[
            "pipeline",
            "--state",
            &state_arg,
            "--poll-ms",
            "200",
            "--taster-memory",
            "512",
        ]);
        let fleet_bundle = fleet_bundle(www[0].addr.port(), db[0].addr.port(), &www_ips);
        let id = push(state.path(), fleet_bundle.path());
        wait_live(state.path(), &id, &pipeline);
        let checker = Daemon::start(&["health", "--state", &state_arg]);
        let fleet = Fleet {
            www,
            db,
            state,
            pipeline,
            checker,
        };
        let health = fleet.wait_health("every address listed healthy", |f| {
            f.bundle == id && f.addresses.len() == 6 && f.addresses.iter().all(|a| a.healthy)
        });
        let mut listed: Vec<(String, IpAddr)> = health
            .addresses
            .iter()
            .map(|a| (a.name.clone(), a.address))
            .collect();
        listed.sort();
        let mut expected: Vec<(String, IpAddr)> = db_ips
            .iter()
            .map(|ip| ("db.example.com.".to_string(), *ip))
            .chain(
                www_ips
                    .iter()
                    .map(|ip| ("www.example.com.".to_string(), *ip)),
            )
            .collect();
        expected.sort();
        assert_eq!(listed, expected);
        fleet
    }

    /// The state directory.
    fn state(&self) -> &Path {
        self.state.path()
    }

    /// The health file now, if there is one and it parses.
    fn health(&self) -> Option<HealthFile> {
        HealthFile::parse(&std::fs::read(self.state().join("health.json")).ok()?).ok()
    }

    /// Wait up to 20 s for a health file for which `cond` holds.
    fn wait_health(&self, what: &str, cond: impl Fn(&HealthFile) -> bool) -> HealthFile {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(f) = self.health()
                && cond(&f)
            {
                return f;
            }
            assert!(
                Instant::now() < deadline,
                "health file: not {what} within 20 s: {:?}\n--- checker ---\n{}\n--- pipeline ---\n{}",
                self.health(),
                self.checker.log(),
                self.pipeline.log()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The addresses of `name` the health file lists down.
    fn down(&self, name: &str) -> BTreeSet<IpAddr> {
        self.health()
            .map(|f| {
                f.addresses
                    .iter()
                    .filter(|a| a.name == name && !a.healthy)
                    .map(|a| a.address)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where the state directories of the health tests go: `/dev/shm`
/// (tmpfs) when the machine has it, else the temporary directory. The
/// health file is runtime data; on a disk busy with other builds one
/// create-and-rename of it was seen to take 4 s (the checker logs such
/// writes as slow), which measures the disk, not the failover.
fn runtime_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let usable = tempfile::tempdir_in(shm).is_ok();
    if usable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The fleet bundle: `www` on `www_ips` (HTTP checks on `www_port`) and
/// `db` on 127.0.0.2 and 127.0.0.3 (TCP checks on `db_port`).
fn fleet_bundle(www_port: u16, db_port: u16, www_ips: &[IpAddr]) -> tempfile::TempDir {
    let mut records = String::new();
    for ip in www_ips {
        records.push_str(&format!("www IN A {ip}\n"));
    }
    records.push_str("db IN A 127.0.0.2\ndb IN A 127.0.0.3\n");
    let check = |protocol: &str, port: u16| {
        format!(
            "health = {{ protocol = \"{protocol}\", port = {port}, path = \"/healthz\", \
             status = 200, interval_ms = {INTERVAL_MS}, timeout_ms = {TIMEOUT_MS}, \
             healthy_threshold = {THRESHOLD}, unhealthy_threshold = {THRESHOLD} }}\n"
        )
    };
    let toml = format!(
        "[[fleet]]\nname = \"www.example.com.\"\n{}\n[[fleet]]\nname = \"db.example.com.\"\n{}",
        check("http", www_port),
        check("tcp", db_port)
    );
    write_bundle(&[
        ("example.com.zone", &zone(&records)),
        ("bundle.toml", &toml),
    ])
}

/// `stripedns push dir --state state`: the bundle id.
fn push(state: &Path, dir: &Path) -> String {
    let done = run_stripedns(
        &[
            "push",
            dir.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(done.status.success(), "push: {}", done.stderr);
    done.stdout.trim().to_string()
}

/// Wait until `dns/current` names `id`.
fn wait_live(state: &Path, id: &str, pipeline: &Daemon) {
    let deadline = Instant::now() + PROMOTE;
    loop {
        let live = std::fs::read_link(state.join("dns/current")).ok();
        if live.is_some_and(|p| p.ends_with(id)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "bundle {id} not promoted within {PROMOTE:?}:\n{}",
            pipeline.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The checker alone: down backends are listed down in the health file
/// within the thresholds, with the probe's error, and healthy again when
/// they return; a new bundle keeps the state of the addresses that
/// remain; `stripedns status` shows it all.
#[test]
fn health_checker_publishes_down_and_back_and_keeps_state_across_bundles() {
    let mut fleet = Fleet::start();
    // Every backend is probed; the HTTP probe is a GET of the path for
    // the fleet name.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fleet
        .www
        .iter()
        .chain(&fleet.db)
        .any(|b| b.hits.load(Ordering::Relaxed) == 0)
    {
        assert!(
            Instant::now() < deadline,
            "not every backend was probed within 10 s"
        );
        thread::sleep(Duration::from_millis(10));
    }
    // A king on the state directory: its workers follow health.json.
    let king = ServeProcess::start_state(fleet.state(), &["--workers", "2"]);
    let request = fleet.www[0].last_request.lock().unwrap().clone();
    let port = fleet.www[0].addr.port();
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n")
            && request.contains(&format!("\r\nHost: www.example.com:{port}\r\n"))
            && request.contains("\r\nConnection: close\r\n"),
        "{request:?}"
    );

    let stopped = Instant::now();
    fleet.www[0].halt();
    fleet.www[1].halt();
    fleet.db[0].halt();
    let www_down: BTreeSet<IpAddr> = [lo(2), lo(3)].into();
    let health = fleet.wait_health("www .2 and .3 and db .2 down", |f| {
        f.addresses.iter().all(|a| {
            let should_be_down = (a.name == "www.example.com." && www_down.contains(&a.address))
                || (a.name == "db.example.com." && a.address == lo(2));
            a.healthy != should_be_down
        })
    });
    let detected = stopped.elapsed();
    println!(
        "health checker: stopped backends listed down after {} ms",
        detected.as_millis()
    );
    assert!(
        detected <= within(),
        "{detected:?}\n--- checker ---\n{}",
        fleet.checker.log()
    );
    for a in health.addresses.iter().filter(|a| !a.healthy) {
        let error = a.last_error.as_deref().unwrap_or("");
        assert!(
            error.contains(&format!("connect to {}:", a.address)),
            "{}: {error}",
            a.address
        );
    }
    assert!(
        king.wait_for_log("down=3", 2, Duration::from_secs(10)),
        "the king's workers did not take the new health state:\n{}",
        king.stderr()
    );
    // Probes go on while down; the addresses stay down.
    thread::sleep(Duration::from_millis(3 * INTERVAL_MS));
    assert_eq!(fleet.down("www.example.com."), www_down);

    let status = run_stripedns(
        &["status", "--state", fleet.state().to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status.stdout.contains("health: 3 of 6 addresses healthy"),
        "{}",
        status.stdout
    );
    let line = status
        .stdout
        .lines()
        .find(|l| l.contains("www.example.com.") && l.contains("127.0.0.3 "))
        .unwrap_or_else(|| panic!("no line for www 127.0.0.3:\n{}", status.stdout));
    assert!(
        line.contains(" down ") && line.contains("connect to 127.0.0.3:"),
        "{line}"
    );

    // A new bundle without 127.0.0.5 for www: the addresses that remain
    // keep their state (and since when they are in it).
    let since: BTreeMap<IpAddr, u64> = health
        .addresses
        .iter()
        .filter(|a| a.name == "www.example.com.")
        .map(|a| (a.address, a.since_unix_ms))
        .collect();
    let smaller = fleet_bundle(
        fleet.www[0].addr.port(),
        fleet.db[0].addr.port(),
        &[lo(2), lo(3), lo(4)],
    );
    let id = push(fleet.state(), smaller.path());
    wait_live(fleet.state(), &id, &fleet.pipeline);
    let health = fleet.wait_health("on the new bundle", |f| f.bundle == id);
    let www: Vec<_> = health
        .addresses
        .iter()
        .filter(|a| a.name == "www.example.com.")
        .collect();
    assert_eq!(
        www.iter().map(|a| a.address).collect::<Vec<_>>(),
        [lo(2), lo(3), lo(4)]
    );
    for a in &www {
        assert_eq!(a.healthy, a.address == lo(4), "{a:?}");
        assert_eq!(Some(&a.since_unix_ms), since.get(&a.address), "{a:?}");
    }

    // Back up: healthy again within the thresholds.
    let restarted = Instant::now();
    fleet.www[0].restart();
    fleet.www[1].restart();
    fleet.db[0].restart();
    fleet.wait_health("all healthy again", |f| {
        f.addresses.iter().all(|a| a.healthy)
    });
    let back = restarted.elapsed();
    println!(
        "health checker: restarted backends listed healthy after {} ms",
        back.as_millis()
    );
    assert!(
        back <= within(),
        "{back:?}\n--- checker ---\n{}",
        fleet.checker.log()
    );
}

/// `serve --bundle DIR --health FILE`: every worker reads the file
/// before it serves and follows it; a missing file is all healthy, each
/// new version is applied, and a file that does not parse is named in a
/// warning and changes nothing.
#[test]
fn serve_follows_a_health_file_and_names_a_bad_one() {
    let bundle = fleet_bundle(8080, 8081, &[lo(2), lo(3), lo(4), lo(5)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("health.json");
    let path_arg = path.to_str().unwrap();
    let server = ServeProcess::start(bundle.path(), &["--health", path_arg, "--workers", "2"]);
    let changed = "health state changed";
    let address = |a: IpAddr, healthy| AddressHealth {
        name: "www.example.com.".into(),
        address: a,
        healthy,
        since_unix_ms: 1,
        last_error: None,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let file = HealthFile {
        written_unix_ms: now_ms,
        bundle: "test".into(),
        addresses: vec![address(lo(2), true), address(lo(3), false)],
    };
    stripedns::health::publish(&path, &file).unwrap();
    let wait = Duration::from_secs(10);
    assert!(
        server.wait_for_log(changed, 2, wait),
        "both workers apply the file:\n{}",
        server.stderr()
    );
    assert_eq!(server.log_count("down=1"), 2, "{}", server.stderr());

    std::fs::write(&path, "{ not json").unwrap();
    let kept = "health file not read; keeping the previous health state";
    assert!(server.wait_for_log(kept, 2, wait), "{}", server.stderr());
    for line in server.stderr().lines().filter(|l| l.contains(kept)) {
        assert!(line.contains(path_arg), "{line}");
    }
    assert_eq!(server.log_count(changed), 2, "{}", server.stderr());

    std::fs::remove_file(&path).unwrap();
    assert!(server.wait_for_log(changed, 4, wait), "{}", server.stderr());
    assert_eq!(server.log_count("down=0"), 2, "{}", server.stderr());
}

/// One king per engine on the fleet's state directory.
fn kings(fleet: &Fleet) -> Vec<(&'static str, ServeProcess)> {
    ENGINES
        .iter()
        .map(|e| {
            (
                *e,
                ServeProcess::start_state(fleet.state(), &["--engine", e, "--workers", "2"]),
            )
        })
        .collect()
}

/// Ask every king `name` 8 times; true when `ok` holds for every answer.
fn every_answer(
    kings: &[(&str, ServeProcess)],
    name: &str,
    ok: impl Fn(&[IpAddr]) -> bool,
) -> bool {
    let mut all = true;
    for (_, king) in kings {
        for answer in answers(king.addr(), name, 8) {
            all &= ok(&answer);
        }
    }
    all
}

/// How long after `since` `ok` started holding for every answer of every
/// king, for good: it must then hold for a further second of queries.
/// Panics after 20 s.
fn settle(
    kings: &[(&str, ServeProcess)],
    name: &str,
    since: Instant,
    what: &str,
    ok: impl Fn(&[IpAddr]) -> bool,
) -> Duration {
    let deadline = since + Duration::from_secs(20);
    let mut holding: Option<Instant> = None;
    loop {
        let round = Instant::now();
        if every_answer(kings, name, &ok) {
            let start = *holding.get_or_insert(round);
            if round.duration_since(start) >= Duration::from_secs(1) {
                return start.duration_since(since);
            }
        } else {
            holding = None;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {what}: not within 20 s; last answers: {:?}",
            kings
                .iter()
                .map(|(e, k)| (e, ask(k.addr(), name, 1)))
                .collect::<Vec<_>>()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The same as a set.
fn set(addrs: &[IpAddr]) -> BTreeSet<IpAddr> {
    addrs.iter().copied().collect()
}

/// Health end to end, both engines: stopped backends leave every answer
/// within the thresholds and come back when they return; with every
/// backend stopped the answer has them all (fail open). Prints the times.
#[test]
fn health_down_addresses_leave_every_answer_come_back_and_fail_open() {
    let mut fleet = Fleet::start();
    let kings = kings(&fleet);
    let www_all: BTreeSet<IpAddr> = (2..=5).map(lo).collect();
    let db_all: BTreeSet<IpAddr> = [lo(2), lo(3)].into();
    assert!(every_answer(&kings, "www.example.com.", |a| set(a) == www_all));
    assert!(every_answer(&kings, "db.example.com.", |a| set(a) == db_all));

    // Two www backends and one db backend go down.
    let stopped = Instant::now();
    fleet.www[0].halt();
    fleet.www[1].halt();
    fleet.db[0].halt();
    let www_up: BTreeSet<IpAddr> = [lo(4), lo(5)].into();
    let gone = settle(
        &kings,
        "www.example.com.",
        stopped,
        "down addresses leave",
        |a| set(a) == www_up && a.len() == 2,
    );
    settle(
        &kings,
        "db.example.com.",
        stopped,
        "down address leaves",
        |a| a == [lo(3)],
    );
    assert_eq!(fleet.down("www.example.com."), [lo(2), lo(3)].into());

    // They come back.
    let restarted = Instant::now();
    fleet.www[0].restart();
    fleet.www[1].restart();
    fleet.db[0].restart();
    let returned = settle(
        &kings,
        "www.example.com.",
        restarted,
        "addresses come back",
        |a| set(a) == www_all && a.len() == 4,
    );
    settle(
        &kings,
        "db.example.com.",
        restarted,
        "address comes back",
        |a| set(a) == db_all,
    );

    // Every backend down: the answers carry every address (fail open).
    for b in fleet.www.iter_mut().chain(fleet.db.iter_mut()) {
        b.halt();
    }
    fleet.wait_health("every address down", |f| {
        f.addresses.iter().all(|a| !a.healthy)
    });
    settle(
        &kings,
        "www.example.com.",
        Instant::now(),
        "fail open",
        |a| set(a) == www_all && a.len() == 4,
    );
    settle(
        &kings,
        "db.example.com.",
        Instant::now(),
        "fail open",
        |a| set(a) == db_all,
    );

    let report = format!(
        "health checks every {INTERVAL_MS} ms (timeout {TIMEOUT_MS} ms, thresholds {THRESHOLD}), \
         2 kings (native, hickory) of 2 workers:\n\
         backend down -> its address gone from every answer: {} ms\n\
         backend back -> its address in every answer again: {} ms\n",
        gone.as_millis(),
        returned.as_millis()
    );
    print!("{report}");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("health-timings.txt");
    let _ = std::fs::write(out, &report);
    assert!(
        gone <= within() && returned <= within(),
        "{report}--- checker ---\n{}",
        fleet.checker.log()
    );
}
