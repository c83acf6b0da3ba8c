//! `stripedns up`: the whole local topology in one command. A supervisor
//! that runs the food-taster pipeline and one king per POP of a
//! [`Topology`], all on one state directory, until Ctrl-C.
//!
//! It exists so that one command (`cargo run --release -- up`) brings up
//! what the design describes: two stripes of POPs, each POP a king
//! following `dns/current`, one pipeline tasting every push, one
//! blacklist shared by every POP, with the example zones served from a
//! fresh clone.
//!
//! # Design
//!
//! - **Check first.** The topology is parsed and checked, then every
//!   listen address is bound once (UDP and TCP) and released, so a busy
//!   port stops `up` before anything starts, with a message naming the
//!   POP and the address. `up` holds [`LOCK_FILE`] in the state directory
//!   locked while it runs, so a second `up` on it refuses to start.
//! - **Children.** `stripedns pipeline --state DIR`, the health checker
//!   `stripedns health --state DIR` (see [`crate::health`]) and, per POP,
//!   `stripedns serve --state DIR --listen ... --engine E --pop NAME
//!   --stripe N` ([`Pop::serve_args`]). Each gets the hidden
//!   `--supervisor PID`, with which it asks the kernel to kill it should
//!   `up` die ([`crate::sys::die_with_parent`], as workers do with their
//!   king; kings pass it on to their workers, the pipeline to its taster).
//!   Children are started from the main thread only, since that death
//!   signal follows the thread that started the child, and in process
//!   groups of their own, so a Ctrl-C in a terminal reaches `up` alone,
//!   which then stops them in order.
//! - **The default bundle.** When nothing is live, waiting or being
//!   tasted, `up` pushes [`DEFAULT_BUNDLE`] (the repository's `zones/`,
//!   embedded in the binary) into `landing/`, like `stripedns push`: the
//!   pipeline tastes it and promotes it, and only then do the kings serve
//!   it. Nothing bypasses the taster.
//! - **Logs.** A thread per pipe reads each child's stdout and stderr and
//!   writes every line to `up`'s stderr, prefixed with the child's name.
//!   What `up` itself has to say (where each POP listens, how to query it,
//!   when all POPs serve) goes to stdout.
//! - **Restarts.** A child that exits while `up` is not stopping is
//!   started again, at once the first time and then with exponential
//!   backoff and full jitter ([`Backoff`], the king's), reset after ten
//!   seconds of life.
//! - **Metrics.** With a `[metrics]` table, `up` binds its address before
//!   starting anything and serves every POP's published counts, the
//!   verdicts and the health state there ([`crate::metrics::serve_up`]).
//! - **Shutdown.** SIGTERM or SIGINT: SIGTERM to every child, a bounded
//!   wait ([`STOP_GRACE`], longer than a king's own wait for its
//!   workers), SIGKILL for any left, and `up` returns success.

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{error, info, warn};

use crate::king::{Backoff, Wakeup};
use crate::metrics::http::Endpoint;
use crate::state::{Place, PushOutcome, StateDir, StateError};
use crate::sys::{self, Signal};
use crate::topology::{Pop, Topology, TopologyError};

/// The default bundle, the files of the repository's `zones/` directory
/// as (file name, contents), embedded so that `up` serves the example
/// zones with no files beside the binary. A unit test keeps this list
/// equal to the directory.
pub const DEFAULT_BUNDLE: &[(&str, &[u8])] = &[
    (
        "2.0.192.in-addr.arpa.zone",
        include_bytes!("../zones/2.0.192.in-addr.arpa.zone"),
    ),
    (
        "example.com.zone",
        include_bytes!("../zones/example.com.zone"),
    ),
];

/// How often the supervisor looks at its children when no signal wakes
/// it (SIGCHLD, SIGTERM and SIGINT wake it at once).
const POLL: Duration = Duration::from_millis(50);

/// How long children may take to stop after SIGTERM before SIGKILL: more
/// than a king's own grace for its workers (5 s).
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long the log forwarders may take to drain after the children
/// stopped.
const DRAIN: Duration = Duration::from_secs(2);

/// Restart pacing for children: at once, then up to 250 ms, 500 ms, ...
/// 10 s; a child that lived 10 s starts the count again.
const RESTART: Backoff = Backoff {
    base: Duration::from_millis(250),
    max: Duration::from_secs(10),
    stable_after: Duration::from_secs(10),
};

/// The file in the state directory a running `up` holds locked, so that
/// two of them never run two pipelines on one state.
pub const LOCK_FILE: &str = "up.lock";

/// What a king logs once all its workers serve (see `king.rs`).
const KING_SERVING: &str = "all workers serving";

/// What `up` runs.
#[derive(Debug, Clone)]
pub struct UpConfig {
    /// The POPs and the pipeline settings.
    pub topology: Topology,
    /// The state directory every child shares.
    pub state: PathBuf,
    /// The `stripedns` executable the children run.
    pub exe: PathBuf,
}

/// Why `up` could not start.
#[derive(Debug, Error)]
pub enum UpError {
    /// The topology file cannot be read or is wrong (the error names the
    /// file and line).
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A listen address cannot be bound.
    #[error(
        "POP {pop} of {origin} cannot listen on {addr} ({transport}): {source}{}",
        busy_hint(source)
    )]
    Busy {
        /// The POP.
        pop: String,
        /// Where the topology came from.
        origin: String,
        /// The address.
        addr: SocketAddr,
        /// `UDP` or `TCP`.
        transport: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The state directory cannot be created or read, or the default
    /// bundle cannot be pushed into it.
    #[error(transparent)]
    State(#[from] StateError),
    /// Another `stripedns up` runs on the same state directory.
    #[error(
        "the state directory {} is in use by another `stripedns up` (it holds {}); \
         stop it, or give another --state",
        dir.display(),
        LOCK_FILE
    )]
    StateInUse {
        /// The state directory.
        dir: PathBuf,
    },
    /// A child, a signal handler or a file could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// What to do about a listen address that cannot be bound.
fn busy_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::AddrInUse {
        "; another `stripedns up` or DNS server is using it: stop it, or give \
         a --config with other addresses"
    } else {
        "; give a --config with addresses this machine has"
    }
}

/// Write the [`DEFAULT_BUNDLE`] into the directory `dir` (which exists).
pub fn write_default_bundle(dir: &Path) -> io::Result<()> {
    for (name, contents) in DEFAULT_BUNDLE {
        std::fs::write(dir.join(name), contents)?;
    }
    Ok(())
}

/// Bind every listen address of `topology` once, UDP and TCP, and release
/// it: a busy address is reported before anything starts.
pub fn check_addresses(topology: &Topology) -> Result<(), UpError> {
    for pop in &topology.pops {
        for &addr in &pop.listen {
            let busy = |transport, source| UpError::Busy {
                pop: pop.name.clone(),
                origin: topology.origin.clone(),
                addr,
                transport,
                source,
            };
            drop(UdpSocket::bind(addr).map_err(|e| busy("UDP", e))?);
            drop(TcpListener::bind(addr).map_err(|e| busy("TCP", e))?);
        }
    }
    Ok(())
}

/// Lock the state directory for this `up` (its [`LOCK_FILE`]), until the
/// returned file is closed; fails when another `up` holds it.
pub fn lock_state(state: &StateDir) -> Result<std::fs::File, UpError> {
    let path = state.root().join(LOCK_FILE);
    let io_err = |source| UpError::Io {
        what: format!("cannot lock {}", path.display()),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err)?;
    if !sys::try_lock_exclusive(&file).map_err(io_err)? {
        return Err(UpError::StateInUse {
            dir: state.root().to_path_buf(),
        });
    }
    Ok(file)
}

/// Make sure the POPs will have something to serve: when nothing is live,
/// waiting or being tasted, push the default bundle through the pipeline.
/// Returns a sentence on the bundle, for the start-up message.
pub fn ensure_bundle(state: &StateDir) -> Result<String, UpError> {
    if let Some(live) = state.live()? {
        return Ok(format!("serving the live bundle {}", live.id));
    }
    let waiting = state.landed()?.len() + state.tasting()?.len();
    if waiting > 0 {
        return Ok(format!(
            "no live bundle yet; the POPs answer once the pipeline has tasted \
             and promoted one of the {waiting} bundle(s) in landing/ and foodtaster/"
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("stripedns-default-bundle-")
        .tempdir()
        .map_err(|source| UpError::Io {
            what: "cannot create a directory for the default bundle".into(),
            source,
        })?;
    write_default_bundle(dir.path()).map_err(|source| UpError::Io {
        what: format!(
            "cannot write the default bundle to {}",
            dir.path().display()
        ),
        source,
    })?;
    Ok(match state.push(dir.path())? {
        PushOutcome::Landed(id) => {
            info!(bundle = %id, "pushed the default bundle");
            format!(
                "no live bundle yet: pushed the default bundle {id} (the example \
                 zones); the POPs answer once the pipeline has tasted and promoted it"
            )
        }
        PushOutcome::Refused(id, Place::Poisoned(record)) => {
            warn!(bundle = %id, reason = %record.reason, "the default bundle is poisoned");
            format!(
                "no live bundle: the default bundle {id} is poisoned ({}); push another",
                record.reason
            )
        }
        PushOutcome::Refused(id, place) => {
            let where_ = match place {
                Place::Landed => "waiting in landing/",
                Place::Tasting => "being tasted",
                _ => "known to the pipeline",
            };
            format!("no live bundle yet; the default bundle {id} is already {where_}")
        }
    })
}

/// Run the topology until SIGTERM or SIGINT, writing what is where to
/// `out`; children's logs go to stderr.
pub fn run(config: UpConfig, out: &mut dyn Write) -> Result<(), UpError> {
    let signals = |source| UpError::Io {
        what: "cannot install signal handlers".into(),
        source,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(signals)?;
    }
    let mut wakeup = Wakeup::install().map_err(signals)?;
    check_addresses(&config.topology)?;
    let state_path = std::path::absolute(&config.state).map_err(|source| UpError::Io {
        what: format!("cannot resolve {}", config.state.display()),
        source,
    })?;
    let state = StateDir::open(&state_path)?;
    let _lock = lock_state(&state)?;
    let metrics = match config.topology.metrics {
        Some(addr) => {
            let endpoint = Endpoint::bind(addr).map_err(|source| UpError::Io {
                what: format!(
                    "cannot serve metrics on {addr} ([metrics] listen of {})",
                    config.topology.origin
                ),
                source,
            })?;
            Some(endpoint)
        }
        None => None,
    };
    // The POPs' counters start at zero with each `up` (a king restarted
    // while it runs counts on from its last snapshot).
    crate::metrics::clear_snapshots(&state_path);
    let bundle = ensure_bundle(&state)?;
    let mut up = Supervisor::new(&config, &state_path);
    for i in 0..up.children.len() {
        up.spawn(i).map_err(|source| UpError::Io {
            what: format!("cannot start {}", up.children[i].name),
            source,
        })?;
    }
    if let Some(endpoint) = metrics {
        let pops = config.topology.pops.clone();
        crate::metrics::serve_up(endpoint, state.clone(), pops).map_err(|source| UpError::Io {
            what: "cannot start the metrics endpoint".into(),
            source,
        })?;
    }
    let _ = banner(&config.topology, &state_path, &bundle, out).and_then(|()| out.flush());
    up.supervise(&stop, &mut wakeup, &state, out);
    info!("stopping every POP, the pipeline and the health checker");
    up.stop_all();
    let _ = writeln!(out, "stopped").and_then(|()| out.flush());
    Ok(())
}

/// The start-up message: where each POP listens and how to query it.
fn banner(topology: &Topology, state: &Path, bundle: &str, out: &mut dyn Write) -> io::Result<()> {
    let stripes = topology.stripes();
    writeln!(
        out,
        "stripedns up: {} POPs in {} stripes, from {}",
        topology.pops.len(),
        stripes.len(),
        topology.origin
    )?;
    writeln!(
        out,
        "state directory: {} (one pipeline, one dns/current and one blacklist for every POP)",
        state.display()
    )?;
    for (stripe, pops) in &stripes {
        writeln!(out, "stripe {stripe}:")?;
        for pop in pops {
            for addr in &pop.listen {
                writeln!(
                    out,
                    "  POP {:<8} engine {:<7} listens on {addr} (UDP and TCP)",
                    pop.name, pop.engine
                )?;
                writeln!(out, "    {}", dig_line(*addr))?;
            }
        }
    }
    writeln!(out, "bundle: {bundle}")?;
    writeln!(
        out,
        "which POP answered: add +nsid to dig (NSID names the POP, stripe and engine)"
    )?;
    writeln!(
        out,
        "push a new bundle: stripedns push DIR --state {}",
        state.display()
    )?;
    writeln!(out, "status: stripedns status --state {}", state.display())?;
    if let Some(addr) = topology.metrics {
        writeln!(out, "metrics: curl http://{addr}/metrics")?;
    }
    writeln!(out, "stop: Ctrl-C (or SIGTERM)")?;
    Ok(())
}

/// `dig @ADDR -p PORT www.example.com A` for `addr`.
pub fn dig_line(addr: SocketAddr) -> String {
    format!("dig @{} -p {} www.example.com A", addr.ip(), addr.port())
}

/// One child process of `up` and its restarts.
#[derive(Debug)]
struct ChildSlot {
    /// Its name: `pipeline`, `health` or the POP's name; prefixes its log
    /// lines.
    name: String,
    /// True for a POP's king (whose serving `up` reports).
    is_pop: bool,
    /// The `stripedns` arguments, without `--supervisor`.
    args: Vec<OsString>,
    /// The running process, if any.
    child: Option<Child>,
    /// When the running process was started.
    started: Instant,
    /// Deaths in a row (reset after a stable period).
    deaths: u32,
    /// When to start a replacement, if one is due.
    restart_at: Option<Instant>,
    /// True once the running king said all its workers serve.
    serving: bool,
    /// The threads forwarding its logs (of every process it ran).
    forwarders: Vec<JoinHandle<()>>,
}

/// A log forwarder's news for the supervisor: the child at this index,
/// process id, said that it serves.
type Serving = (usize, u32);

/// The running supervisor.
#[derive(Debug)]
struct Supervisor {
    /// The `stripedns` executable.
    exe: PathBuf,
    /// The pipeline, the health checker, then the POPs in topology order.
    children: Vec<ChildSlot>,
    /// The width of the name column of forwarded logs.
    width: usize,
    /// Where forwarders send [`Serving`] news.
    tx: Sender<Serving>,
    /// Where the supervisor receives it.
    rx: Receiver<Serving>,
    /// True once "all POPs serving" was written.
    all_serving_told: bool,
}

impl Supervisor {
    /// The children of `config`, none started yet.
    fn new(config: &UpConfig, state: &Path) -> Supervisor {
        let slot = |name: &str, is_pop: bool, args: Vec<OsString>| ChildSlot {
            name: name.to_string(),
            is_pop,
            args,
            child: None,
            started: Instant::now(),
            deaths: 0,
            restart_at: None,
            serving: false,
            forwarders: Vec::new(),
        };
        let mut pipeline: Vec<OsString> = vec!["pipeline".into(), "--state".into(), state.into()];
        pipeline.extend(config.topology.pipeline.args().into_iter().map(Into::into));
        let health: Vec<OsString> = vec!["health".into(), "--state".into(), state.into()];
        let mut children = vec![
            slot("pipeline", false, pipeline),
            slot("health", false, health),
        ];
        children.extend(
            config
                .topology
                .pops
                .iter()
                .map(|pop: &Pop| slot(&pop.name, true, pop.serve_args(state))),
        );
        let width = children.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let (tx, rx) = mpsc::channel();
        Supervisor {
            exe: config.exe.clone(),
            children,
            width,
            tx,
            rx,
            all_serving_told: false,
        }
    }

    /// Start child `i`, with its logs forwarded.
    fn spawn(&mut self, i: usize) -> io::Result<()> {
        let c = &mut self.children[i];
        let mut child = Command::new(&self.exe)
            .args(&c.args)
            .arg("--supervisor")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        info!(child = %c.name, pid, "started");
        let prefix = format!("{:>w$} | ", c.name, w = self.width);
        let news = c.is_pop.then(|| (i, pid, self.tx.clone()));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let prefix = prefix.clone();
            let news = news.clone();
            let handle = thread::Builder::new()
                .name(format!("log-{}", c.name))
                .spawn(move || forward(pipe, &prefix, news))?;
            c.forwarders.push(handle);
        }
        // Forget the forwarders of processes long gone.
        c.forwarders.retain(|h| !h.is_finished());
        c.child = Some(child);
        c.started = Instant::now();
        c.serving = false;
        c.restart_at = None;
        Ok(())
    }

    /// Watch the children until `stop` is raised: restart the dead, tell
    /// `out` when every POP serves.
    fn supervise(
        &mut self,
        stop: &AtomicBool,
        wakeup: &mut Wakeup,
        state: &StateDir,
        out: &mut dyn Write,
    ) {
        while !stop.load(Ordering::Relaxed) {
            for i in 0..self.children.len() {
                self.check(i);
            }
            while let Ok((i, pid)) = self.rx.try_recv() {
                self.serving(i, pid, state, out);
            }
            wakeup.wait(POLL);
        }
    }

    /// Note that child `i`'s process `pid` serves.
    fn serving(&mut self, i: usize, pid: u32, state: &StateDir, out: &mut dyn Write) {
        let c = &mut self.children[i];
        if c.child.as_ref().map(Child::id) != Some(pid) || c.serving {
            return;
        }
        c.serving = true;
        let again = c.deaths > 0;
        let name = c.name.clone();
        let live = match state.live() {
            Ok(Some(live)) => format!("live bundle {}", live.id),
            _ => "no live bundle".to_string(),
        };
        if again {
            let _ = writeln!(out, "POP {name} serving again ({live})");
        }
        let pops = self.children.iter().filter(|c| c.is_pop);
        if !self.all_serving_told && pops.clone().all(|c| c.serving) {
            self.all_serving_told = true;
            let _ = writeln!(out, "ready: all {} POPs serving ({live})", pops.count());
        }
        let _ = out.flush();
    }

    /// Look at child `i` once: reap it if it exited, start it if due.
    fn check(&mut self, i: usize) {
        let c = &mut self.children[i];
        let Some(child) = c.child.as_mut() else {
            if c.restart_at.is_some_and(|at| Instant::now() >= at)
                && let Err(e) = self.spawn(i)
            {
                let c = &mut self.children[i];
                error!(child = %c.name, error = %e, "cannot start it again");
                c.deaths = c.deaths.saturating_add(1);
                c.restart_at = Some(Instant::now() + RESTART.delay(c.deaths).max(POLL));
            }
            return;
        };
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => return,
            Err(e) => {
                warn!(child = %c.name, error = %e, "cannot wait for it");
                return;
            }
        };
        let pid = child.id();
        c.child = None;
        self.exited(i, pid, status);
    }

    /// Child `i` (process `pid`) exited while `up` runs: schedule its
    /// restart.
    fn exited(&mut self, i: usize, pid: u32, status: ExitStatus) {
        let c = &mut self.children[i];
        if c.started.elapsed() >= RESTART.stable_after {
            c.deaths = 0;
        }
        c.deaths = c.deaths.saturating_add(1);
        c.serving = false;
        let delay = RESTART.delay(c.deaths);
        error!(
            child = %c.name,
            pid,
            %status,
            deaths_in_a_row = c.deaths,
            delay_ms = delay.as_millis() as u64,
            "exited; starting it again"
        );
        c.restart_at = Some(Instant::now() + delay);
        if delay.is_zero() {
            self.check(i);
        }
    }

    /// Stop every child: SIGTERM, then SIGKILL for those still running
    /// after [`STOP_GRACE`]; then let the log forwarders drain.
    fn stop_all(&mut self) {
        for c in &self.children {
            if let Some(child) = &c.child
                && let Err(e) = sys::signal(child.id(), Signal::Term)
            {
                warn!(child = %c.name, error = %e, "cannot stop it");
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for c in &mut self.children {
            let Some(mut child) = c.child.take() else {
                continue;
            };
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        warn!(child = %c.name, "did not stop; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        let deadline = Instant::now() + DRAIN;
        for c in &mut self.children {
            for h in c.forwarders.drain(..) {
                while !h.is_finished() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                if h.is_finished() {
                    let _ = h.join();
                }
            }
        }
    }
}

impl Drop for Supervisor {
    /// No child outlives `up`, whatever path ends it.
    fn drop(&mut self) {
        for c in &mut self.children {
            if let Some(mut child) = c.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Copy `pipe` to stderr line by line, each line prefixed with `prefix`
/// and written whole; when `news` is given (a king), report the line
/// saying that all its workers serve.
fn forward(pipe: Box<dyn Read + Send>, prefix: &str, news: Option<(usize, u32, Sender<Serving>)>) {
    /// Octets of one line forwarded; the rest of a longer line is dropped.
    const MAX_LINE: usize = 16 * 1024;
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        line.truncate(MAX_LINE);
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        // One write per line, so lines of different children never mix.
        let _ = io::stderr().write_all(format!("{prefix}{text}\n").as_bytes());
        if let Some((i, pid, tx)) = &news
            && text.contains(KING_SERVING)
        {
            let _ = tx.send((*i, *pid));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Bundle;

    /// The repository's `zones/` directory.
    fn zones_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("zones")
    }

    #[test]
    fn the_embedded_bundle_is_the_zones_directory() {
        let mut names: Vec<String> = std::fs::read_dir(zones_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let embedded: Vec<&str> = DEFAULT_BUNDLE.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names, embedded,
            "zones/ and DEFAULT_BUNDLE in src/up.rs list different files"
        );
        for (name, contents) in DEFAULT_BUNDLE {
            assert_eq!(
                &std::fs::read(zones_dir().join(name)).unwrap(),
                contents,
                "{name}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        write_default_bundle(dir.path()).unwrap();
        assert_eq!(
            Bundle::open(dir.path()).unwrap().id(),
            Bundle::open(zones_dir()).unwrap().id()
        );
    }

    #[test]
    fn the_default_bundle_is_pushed_once_and_only_when_nothing_is_live() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let said = ensure_bundle(&state).unwrap();
        assert!(said.contains("pushed the default bundle"), "{said}");
        let landed = state.landed().unwrap();
        assert_eq!(landed.len(), 1);
        assert_eq!(landed[0], Bundle::open(zones_dir()).unwrap().id());
        // Waiting in landing/: not pushed again.
        let said = ensure_bundle(&state).unwrap();
        assert!(said.contains("1 bundle(s) in landing/"), "{said}");
        assert_eq!(state.landed().unwrap().len(), 1);
    }

    #[test]
    fn one_up_per_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let held = lock_state(&state).unwrap();
        let e = lock_state(&state).unwrap_err().to_string();
        assert!(e.contains("in use by another `stripedns up`"), "{e}");
        drop(held);
        lock_state(&state).unwrap();
    }

    #[test]
    fn a_busy_address_is_named() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let text = format!(
            "[[pop]]\nname = \"p\"\nstripe = 1\nengine = \"native\"\nlisten = [\"{addr}\"]\n"
        );
        let topology = Topology::parse(&text, "t.toml").unwrap();
        let e = check_addresses(&topology).unwrap_err().to_string();
        assert!(
            e.contains(&format!("POP p of t.toml cannot listen on {addr} (UDP)")),
            "{e}"
        );
        assert!(e.contains("another `stripedns up`"), "{e}");
    }

    #[test]
    fn dig_lines() {
        assert_eq!(
            dig_line("127.0.0.1:5301".parse().unwrap()),
            "dig @127.0.0.1 -p 5301 www.example.com A"
        );
        assert_eq!(
            dig_line("[::1]:5301".parse().unwrap()),
            "dig @::1 -p 5301 www.example.com A"
        );
    }
}
