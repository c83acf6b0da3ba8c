//! `stripedns up` end to end: a topology of four POPs in two stripes on
//! loopback (native and hickory), started from a test config, serving the embedded default
//! bundle through the pipeline; a push reaching every POP; a king killed
//! and restarted, and so is the health checker; SIGTERM stopping
//! everything. And the refusals: a busy port, with and without
//! `--config`, and a bad config.
//!
//! Every test gives `up` its own state directory and, when it starts the
//! topology, addresses of its own (ports the kernel found free on
//! `127.0.54.x` and the like), so the tests are safe in parallel; none starts the
//! embedded default, whose fixed ports other processes may hold (it is
//! checked by parsing, in `src/topology.rs`, and by the busy-port refusal
//! below, which binds nothing).

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::dnsmsg::{Normalised, normalise};
use crate::kings::{chaos_id, nsid};
use crate::support::*;

/// How long the topology may take to serve the default bundle (a debug
/// build on a busy machine: the taster, then four kings loading it).
const READY: Duration = Duration::from_secs(60);

/// How long a push may take to reach every POP.
const PUSHED: Duration = Duration::from_secs(30);

/// How long `up` may take to stop after SIGTERM.
const STOP: Duration = Duration::from_secs(20);

/// A running `stripedns up`, killed (SIGKILL) when dropped.
struct Up {
    /// The process.
    child: Child,
    /// Its stdout so far.
    stdout: Arc<Mutex<String>>,
    /// Its stderr so far (its own log and its children's, prefixed).
    stderr: Arc<Mutex<String>>,
}

impl Up {
    /// Start `stripedns up args...`.
    fn start(args: &[&str]) -> Up {
        let foodtaster = Path::new(STRIPEDNS).with_file_name("foodtaster");
        assert!(
            foodtaster.exists(),
            "{} is missing: build the workspace (tests/run.sh does)",
            foodtaster.display()
        );
        let mut child = Command::new(STRIPEDNS)
            .arg("up")
            .args(args)
            .env("RUST_LOG", "info")
            .env("STRIPEDNS_FOODTASTER", foodtaster)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stripedns up");
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Up {
            child,
            stdout,
            stderr,
        }
    }

    /// Its stdout so far.
    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Its stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Both, for failure messages.
    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        )
    }

    /// The process id `up` logged for its child `name` (`pipeline` or a
    /// POP), the latest one.
    fn child_pid(&self, name: &str) -> Option<u32> {
        let needle = format!("started child={name} pid=");
        self.stderr().lines().rev().find_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// Wait up to `timeout` for `up` to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `signal` (`TERM`, `KILL`) to process `pid`.
fn kill(signal: &str, pid: u32) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}

/// A POP of the test topology.
struct TestPop {
    /// Its name.
    name: &'static str,
    /// Its stripe.
    stripe: u32,
    /// Its engine: `native` in stripe 1, `hickory` in stripe 2.
    engine: &'static str,
    /// Where it listens.
    addr: SocketAddr,
}

/// Four POPs in two stripes (native, then hickory), each on its own
/// loopback address
/// (`127.0.NET.x`; each test its own NET) and a port free there.
fn test_pops(net: u8) -> Vec<TestPop> {
    [
        ("t-ams", 1, "native"),
        ("t-fra", 1, "native"),
        ("t-iad", 2, "hickory"),
        ("t-sin", 2, "hickory"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, stripe, engine))| {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, net, 1 + i as u8));
        TestPop {
            name,
            stripe,
            engine,
            addr: SocketAddr::new(ip, free_port(ip)),
        }
    })
    .collect()
}

/// The topology file for `pops`: one worker per king, a quick pipeline.
fn config_text(pops: &[TestPop]) -> String {
    let mut text = String::from("[pipeline]\npoll_ms = 200\ntaster_memory_mib = 512\n");
    for p in pops {
        text.push_str(&format!(
            "\n[[pop]]\nname = \"{}\"\nstripe = {}\nengine = \"{}\"\nlisten = [\"{}\"]\nworkers = 1\n",
            p.name, p.stripe, p.engine, p.addr
        ));
    }
    text
}

/// The A addresses a POP at `addr` answers for `www.example.com.`, if it
/// answers NOERROR.
fn www(addr: SocketAddr) -> Option<BTreeSet<String>> {
    let id = 0x5757;
    let reply = udp_query(
        addr,
        &query(id, "www.example.com.", TYPE_A),
        Duration::from_millis(500),
    )?;
    match normalise(&reply, id) {
        Normalised::Message(m) if m.rcode == 0 => Some(
            m.answer
                .iter()
                .filter(|r| r.starts_with("www.example.com. ") && r.contains(" IN A "))
                .filter_map(|r| r.rsplit(' ').next())
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// Wait until `cond` holds, up to `timeout`; whether it did.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The processes whose command line mentions `needle`, as `pid: cmdline`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let me = std::process::id().to_string();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// The addresses of `www` in the default bundle (`zones/example.com.zone`).
fn default_www() -> BTreeSet<String> {
    let zone =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone"))
            .unwrap();
    let mut in_www = false;
    let mut addrs = BTreeSet::new();
    for line in zone.lines() {
        if !line.starts_with([' ', '\t']) {
            in_www = line.starts_with("www ");
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if in_www && let Some(i) = fields.iter().position(|f| *f == "A") {
            addrs.insert(fields[i + 1].to_string());
        }
    }
    assert!(addrs.len() >= 4, "{addrs:?}");
    addrs
}

#[test]
fn up_serves_four_pops_in_two_stripes_follows_a_push_restarts_a_king_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("up.toml");
    let pops = test_pops(54);
    fs::write(&config, config_text(&pops)).unwrap();
    let started = Instant::now();
    let mut up = Up::start(&[
        "--config",
        config.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);

    // Every POP serves the default bundle, pushed and tasted by `up`.
    let expected = default_www();
    for p in &pops {
        assert!(
            wait_until(READY, || www(p.addr).as_ref() == Some(&expected)),
            "POP {} at {} does not serve the default bundle: {:?}\n{}",
            p.name,
            p.addr,
            www(p.addr),
            up.output()
        );
    }
    eprintln!(
        "all four POPs served the default bundle after {:?}",
        started.elapsed()
    );

    // Each names itself, its stripe and its engine.
    for p in &pops {
        let identity = format!("{} stripe {} engine {}", p.name, p.stripe, p.engine);
        assert_eq!(chaos_id(p.addr).as_deref(), Some(identity.as_str()));
        assert_eq!(nsid(p.addr).as_deref(), Some(identity.as_bytes()));
    }

    // What `up` printed: every POP, its address and a dig line for it.
    assert!(
        wait_until(Duration::from_secs(5), || up
            .stdout()
            .contains("ready: all 4 POPs serving")),
        "{}",
        up.output()
    );
    let out = up.stdout();
    assert!(out.contains("4 POPs in 2 stripes"), "{out}");
    assert!(out.contains("pushed the default bundle"), "{out}");
    for p in &pops {
        assert!(out.contains(&format!("POP {}", p.name)), "{out}");
        assert!(out.contains(&format!("engine {}", p.engine)), "{out}");
        assert!(out.contains(&format!("listens on {}", p.addr)), "{out}");
        let dig = format!(
            "dig @{} -p {} www.example.com A",
            p.addr.ip(),
            p.addr.port()
        );
        assert!(out.contains(&dig), "{dig} missing:\n{out}");
    }
    // Children's logs come through, prefixed with their names.
    let log = up.stderr();
    for name in ["pipeline", "t-ams", "t-sin"] {
        assert!(
            log.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} | "))),
            "no log line of {name}:\n{log}"
        );
    }

    // A push through `stripedns push --state` reaches all four.
    let bundle = write_bundle(&[(
        "example.com.zone",
        &minimal_zone("example.com.").replace("192.0.2.10", "192.0.2.77"),
    )]);
    let pushed_at = Instant::now();
    let out = run_stripedns(
        &[
            "push",
            bundle.path().to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "push: {}{}", out.stdout, out.stderr);
    let id = out.stdout.trim().to_string();
    let new: BTreeSet<String> = ["192.0.2.77".to_string()].into();
    for p in &pops {
        assert!(
            wait_until(PUSHED, || www(p.addr).as_ref() == Some(&new)),
            "the push did not reach POP {}: {:?}\n{}",
            p.name,
            www(p.addr),
            up.output()
        );
    }
    eprintln!(
        "the push reached all four POPs in {:?}",
        pushed_at.elapsed()
    );

    // `status` names the live bundle and lists the (empty) blacklist.
    let status = run_stripedns(
        &["status", "--state", state.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("live: {id}")),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("blacklist") && status.stdout.contains("empty"),
        "{}",
        status.stdout
    );

    // A king killed outright is started again and serves the live bundle.
    let victim = &pops[2];
    let old = up
        .child_pid(victim.name)
        .expect("the king's pid in up's log");
    kill("KILL", old);
    assert!(
        wait_until(READY, || up
            .child_pid(victim.name)
            .is_some_and(|p| p != old)
            && www(victim.addr).as_ref() == Some(&new)),
        "POP {} was not restarted:\n{}",
        victim.name,
        up.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || up
            .stdout()
            .contains(&format!("POP {} serving again", victim.name))),
        "{}",
        up.output()
    );

    // The health checker is supervised like the pipeline: killed, it is
    // started again.
    let old = up
        .child_pid("health")
        .expect("the health checker's pid in up's log");
    kill("KILL", old);
    assert!(
        wait_until(READY, || up.child_pid("health").is_some_and(|p| p != old)),
        "the health checker was not restarted:\n{}",
        up.output()
    );

    // SIGTERM stops `up` and every process of the topology; exit 0.
    let state_text = state.to_str().unwrap().to_string();
    assert!(!processes_mentioning(&state_text).is_empty());
    kill("TERM", up.child.id());
    let status = up
        .wait_exit(STOP)
        .unwrap_or_else(|| panic!("up did not stop within {STOP:?}:\n{}", up.output()));
    assert!(
        status.success(),
        "up exited with {status}:\n{}",
        up.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || processes_mentioning(&state_text)
            .is_empty()),
        "left running: {:?}",
        processes_mentioning(&state_text)
    );
    assert!(up.stdout().contains("stopped"), "{}", up.output());
    for p in &pops {
        assert!(www(p.addr).is_none(), "POP {} still answers", p.name);
    }
}

#[test]
fn nothing_outlives_an_up_killed_outright() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("up.toml");
    let pops: Vec<TestPop> = test_pops(55).into_iter().take(2).collect();
    fs::write(&config, config_text(&pops)).unwrap();
    let mut up = Up::start(&[
        "--config",
        config.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        wait_until(READY, || up.stdout().contains("ready: all 2 POPs serving")),
        "{}",
        up.output()
    );
    let state_text = state.to_str().unwrap().to_string();
    // The pipeline, two kings and their workers.
    assert!(processes_mentioning(&state_text).len() >= 5);
    kill("KILL", up.child.id());
    assert!(up.wait_exit(STOP).is_some());
    assert!(
        wait_until(Duration::from_secs(10), || processes_mentioning(
            &state_text
        )
        .is_empty()),
        "left running after up was killed: {:?}",
        processes_mentioning(&state_text)
    );
}

#[test]
fn up_without_config_refuses_a_busy_default_port() {
    // The embedded default's first POP listens on 127.0.0.1:5301. Hold
    // it, unless another process holds it already: either way `up` must
    // refuse before starting anything, naming the address.
    let addr: SocketAddr = "127.0.0.1:5301".parse().unwrap();
    let _udp = UdpSocket::bind(addr).ok();
    let _tcp = TcpListener::bind(addr).ok();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = run_stripedns(
        &["up", "--state", state.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("POP ams of the embedded default topology")
            && out.stderr.contains("cannot listen on 127.0.0.1:5301"),
        "{}",
        out.stderr
    );
    assert!(!state.exists(), "up created its state before refusing");
}

#[test]
fn up_refuses_a_busy_port_of_its_config() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 56, 1));
    let held = TcpListener::bind((ip, 0)).unwrap();
    let addr = held.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("busy.toml");
    fs::write(
        &config,
        format!("[[pop]]\nname = \"p1\"\nstripe = 1\nengine = \"native\"\nlisten = [\"{addr}\"]\n"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = run_stripedns(
        &[
            "up",
            "--config",
            config.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("busy.toml"), "{}", out.stderr);
    assert!(!state.exists());
}

#[test]
fn up_names_the_file_and_line_of_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = dir.path().join("bad.toml");
    fs::write(
        &config,
        "[[pop]]\nname = \"p1\"\nstripe = 1\nengine = \"nonesuch\"\nlisten = [\"127.0.0.1:5301\"]\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = run_stripedns(
        &[
            "up",
            "--config",
            config.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    let expected = format!("{}:4:", config.display());
    assert!(
        out.stderr.contains(&expected) && out.stderr.contains("unknown engine `nonesuch`"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_lists_the_blacklist_of_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(
        state.join("blacklist"),
        "# stripedns blacklist v1: fingerprint engine count first-seen last-seen question\n\
         0123456789abcdef native 2 1764070000 1764070138 crash-native.example.com. IN A\n",
    )
    .unwrap();
    let out = run_stripedns(
        &["status", "--state", state.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", out.stderr);
    for text in [
        "live: none",
        "FINGERPRINT",
        "0123456789abcdef",
        "crash-native.example.com. IN A",
    ] {
        assert!(
            out.stdout.contains(text),
            "{text} missing from:\n{}",
            out.stdout
        );
    }
}
