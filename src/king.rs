//! The king: the serving process of a POP. It owns the listening sockets,
//! answers nothing itself, and supervises the workers that do.
//!
//! # Design
//!
//! - **Sockets.** The king binds every socket before any worker starts, so
//!   a taken port fails `serve` with an error naming the address. For each
//!   listen address it opens one `SO_REUSEPORT` UDP socket per worker and
//!   one TCP listener; worker `i` inherits UDP socket `i` of every address
//!   and the TCP listeners. The king keeps all of them open, so a datagram
//!   queued on a dead worker's socket is answered by its replacement, which
//!   inherits the very same socket. TCP connections a dead worker had
//!   accepted are lost with it; those still in the listen backlog are
//!   accepted by the other workers or the replacement. The TCP connection
//!   limit is shared out among the workers, so the total holds.
//! - **Workers** are `stripedns worker` processes (see [`crate::worker`]).
//!   The king hands down the bundle path and the engine name, never zone
//!   data. The first time round, the king waits until every worker
//!   serves; a worker that cannot load the bundle exits with
//!   [`EXIT_LOAD_FAILED`] after writing the error into its slot, and the
//!   king stops the others and fails with that error (naming the file).
//! - **Deaths.** A worker killed by a signal (an abort, a segfault, the
//!   OOM killer) with queries in flight in its [`Slot`] gets those queries
//!   blacklisted (every one in flight: the king cannot tell which of two
//!   concurrent queries did it). A query whose slot entry shows no progress
//!   for the watchdog deadline is a hang: the king kills the worker with
//!   SIGKILL and blacklists just that query.
//! - **Supervision loop.** The king looks at every worker's process and
//!   slot every 5 ms, and at once when a signal arrives (SIGCHLD on a
//!   worker's death; a self-pipe wakes the loop).
//! - **Restarts.** A dead worker is replaced at once. When it keeps dying
//!   ([`Backoff`]), the n-th death in a row waits a random time between 0
//!   and `base * 2^(n-2)` (capped at `max`): exponential backoff with full
//!   jitter. A worker that served for the stability period before dying
//!   starts the count again.
//! - **Shutdown.** SIGTERM or SIGINT sets a flag the supervision loop checks;
//!   the king sends SIGTERM to every worker, waits for them (SIGKILL after a
//!   grace period), and returns. Workers run in their own process group, so
//!   a Ctrl-C in a terminal reaches only the king, which stops them in
//!   order; and they ask the kernel to kill them should the king die.
//! - **Metrics.** The workers count queries in their slots; the king
//!   counts restarts and notices bundle swaps, and serves both on
//!   `--metrics` and, with a state directory, publishes them for `up`
//!   ([`crate::metrics`]).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{error, info, warn};

use crate::blacklist;
use crate::engine::EngineKind;
use crate::fingerprint;
use crate::metrics::http::Endpoint;
use crate::metrics::{self, PopLabels, PopMetrics, RestartCause};
use crate::server::{ServerError, Sockets, UdpSteering};
use crate::slot::{InFlight, Slot, State};
use crate::sys::{self, Signal};
use crate::worker::EXIT_LOAD_FAILED;

/// How often the king looks at its workers when no signal wakes it
/// (SIGCHLD, SIGTERM and SIGINT wake it at once).
const POLL: Duration = Duration::from_millis(5);
/// How long workers may take to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Exponential backoff with full jitter for restarting a worker that keeps
/// dying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the second restart in a row; doubles after each.
    pub base: Duration,
    /// The largest ceiling.
    pub max: Duration,
    /// How long a worker must have served for its death to start the count
    /// again.
    pub stable_after: Duration,
}

impl Default for Backoff {
    /// 50 ms doubling up to 5 s; reset after 10 s of service.
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(5),
            stable_after: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The longest wait before the restart that follows the `deaths`-th
    /// death in a row (from 1): none for the first, then `base`, `2 base`,
    /// `4 base`... up to `max`.
    pub fn ceiling(&self, deaths: u32) -> Duration {
        if deaths <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(deaths - 2).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A wait drawn uniformly from zero to [`Backoff::ceiling`] (full
    /// jitter), so workers dying together do not restart together.
    pub fn delay(&self, deaths: u32) -> Duration {
        let ceiling = self.ceiling(deaths);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ms))
    }
}

/// Where a worker's zone data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// One bundle directory, served as it is (`serve --bundle`).
    Fixed(PathBuf),
    /// The live bundle of a state directory, followed as `dns/current`
    /// moves (`serve --state`); a replacement worker loads whatever is live
    /// when it starts.
    State(PathBuf),
}

impl BundleSource {
    /// The worker arguments that name this source.
    fn args(&self) -> [&std::ffi::OsStr; 2] {
        match self {
            BundleSource::Fixed(dir) => ["--bundle".as_ref(), dir.as_os_str()],
            BundleSource::State(dir) => ["--state".as_ref(), dir.as_os_str()],
        }
    }

    /// The directory, for logs.
    pub fn path(&self) -> &Path {
        match self {
            BundleSource::Fixed(dir) | BundleSource::State(dir) => dir,
        }
    }
}

/// How a king serves.
#[derive(Debug, Clone)]
pub struct KingConfig {
    /// The zone data the workers load.
    pub bundle: BundleSource,
    /// The engine the workers run.
    pub engine: EngineKind,
    /// The NSID / CHAOS identity text, `None` for none.
    pub identity: Option<String>,
    /// The addresses answered on, each with UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// Worker processes (and UDP sockets per address).
    pub workers: usize,
    /// How datagrams are spread over the workers' UDP sockets.
    pub udp_steering: UdpSteering,
    /// How long a TCP connection may wait for its next query.
    pub tcp_idle_timeout: Duration,
    /// TCP connections open at once over all workers; shared out among
    /// them, so workers beyond this number take no TCP connections.
    pub tcp_max_connections: usize,
    /// The blacklist file.
    pub blacklist: PathBuf,
    /// The health file the workers follow (`None`: every address healthy).
    pub health: Option<PathBuf>,
    /// How long one query may keep a worker busy before the king kills it.
    pub watchdog: Duration,
    /// Restart pacing.
    pub backoff: Backoff,
    /// The `stripedns` executable to start workers from.
    pub exe: PathBuf,
    /// The POP's name, for the labels of its metrics.
    pub pop: String,
    /// The POP's stripe, for the labels of its metrics.
    pub stripe: u32,
    /// Where to serve `GET /metrics`, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// Why a king stopped with an error.
#[derive(Debug, Error)]
pub enum KingError {
    /// The sockets could not be bound (the error names the address).
    #[error(transparent)]
    Bind(#[from] ServerError),
    /// A worker could not load the bundle (the error names the file).
    #[error("{0}")]
    Load(String),
    /// Starting or watching workers failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The TCP connections worker `index` of `count` may hold, so that the
/// shares add up to `total` exactly; 0 when there are more workers than
/// connections (that worker takes no TCP).
fn tcp_share(total: usize, count: usize, index: usize) -> usize {
    total / count.max(1) + usize::from(index < total % count.max(1))
}

/// What the king knows of one worker position.
#[derive(Debug)]
struct Worker {
    /// The position, from 0.
    index: usize,
    /// Its UDP sockets, one per listen address, held open across deaths.
    udp: Vec<(SocketAddr, UdpSocket)>,
    /// How many TCP connections it may hold (0: it gets no listeners).
    tcp_share: usize,
    /// Its slot, reused by every replacement (and read by the metrics).
    slot: Arc<Slot>,
    /// The running process, if any.
    child: Option<Child>,
    /// When the running process was started.
    started: Instant,
    /// True once the running process said it serves.
    serving: bool,
    /// When the running process started serving.
    serving_since: Option<Instant>,
    /// Deaths in a row (reset after a stable period).
    deaths: u32,
    /// When the last death was seen and the pid that died, for the restart
    /// time.
    last_death: Option<(Instant, u32)>,
    /// When to start a replacement, if one is due.
    restart_at: Option<Instant>,
    /// Per slot entry: the progress counter last seen and since when.
    progress: Vec<(u64, Instant)>,
    /// Set when the watchdog killed the running process: the hung queries.
    hung: Option<Vec<InFlight>>,
}

/// Wakes the supervision loop as soon as a signal arrives: a worker died
/// (SIGCHLD) or the king must stop (SIGTERM, SIGINT). The signal handlers
/// write to a socket pair (the self-pipe trick) the loop waits on.
/// `stripedns up` supervises its children with the same wake-up.
#[derive(Debug)]
pub(crate) struct Wakeup {
    /// The end the loop reads, with a timeout.
    reader: UnixStream,
}

impl Wakeup {
    /// Install the handlers.
    pub(crate) fn install() -> std::io::Result<Wakeup> {
        use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
        let (reader, writer) = UnixStream::pair()?;
        for sig in [SIGCHLD, SIGTERM, SIGINT] {
            signal_hook::low_level::pipe::register(sig, writer.try_clone()?)?;
        }
        Ok(Wakeup { reader })
    }

    /// Wait until a signal arrives or `timeout` passes.
    pub(crate) fn wait(&mut self, timeout: Duration) {
        let mut buf = [0u8; 64];
        if self.reader.set_read_timeout(Some(timeout)).is_ok() {
            let _ = self.reader.read(&mut buf);
        } else {
            std::thread::sleep(timeout);
        }
    }
}

/// Serve with workers until SIGTERM/SIGINT.
pub fn run(config: KingConfig) -> Result<(), KingError> {
    let stop = Arc::new(AtomicBool::new(false));
    let signals = |source| KingError::Io {
        what: "cannot install signal handlers".into(),
        source,
    };
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(signals)?;
    }
    let wakeup = Wakeup::install().map_err(signals)?;
    let workers = config.workers.max(1);
    // The workers watch the blacklist's directory for a new blacklist, so
    // it must exist before the first death writes the file; should it not
    // be creatable, the workers poll and the first death reports the error.
    if let Some(dir) = config
        .blacklist
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        let _ = std::fs::create_dir_all(dir);
    }
    let sockets = Sockets::bind(&config.listen, workers, config.udp_steering)?;
    // Tests and scripts read the bound port from this line when they
    // listen on port 0; keep its wording.
    for (addr, _) in &sockets.tcp {
        info!(engine = %config.engine, "listening on {addr} (UDP and TCP)");
    }
    let endpoint = match config.metrics {
        Some(addr) => {
            let endpoint = Endpoint::bind(addr).map_err(|source| KingError::Io {
                what: format!("cannot serve metrics on {addr}"),
                source,
            })?;
            // Read by tests that ask for port 0; keep its wording.
            info!("metrics on http://{}/metrics", endpoint.local_addr());
            Some(endpoint)
        }
        None => None,
    };
    let mut king = King::new(config, sockets, workers)?;
    king.start_metrics(endpoint)?;
    let result = king.supervise(&stop, wakeup);
    king.stop_all();
    info!("stopped");
    result
}

/// The running king.
#[derive(Debug)]
struct King {
    /// The configuration.
    config: KingConfig,
    /// The TCP listeners, shared by the workers that take TCP.
    tcp: Vec<(SocketAddr, TcpListener)>,
    /// The worker positions.
    workers: Vec<Worker>,
    /// What the metrics endpoint and snapshot read.
    metrics: Arc<PopMetrics>,
}

impl King {
    /// Share the sockets out to `count` worker positions.
    fn new(config: KingConfig, sockets: Sockets, count: usize) -> Result<King, KingError> {
        let Sockets { udp, tcp } = sockets;
        let mut per_worker: Vec<Vec<(SocketAddr, UdpSocket)>> =
            (0..count).map(|_| Vec::new()).collect();
        // `udp` holds `count` sockets per address, address by address.
        for (i, socket) in udp.into_iter().enumerate() {
            per_worker[i % count].push(socket);
        }
        let total = config.tcp_max_connections.max(1);
        let mut workers = Vec::with_capacity(count);
        for (index, udp) in per_worker.into_iter().enumerate() {
            let tcp_share = tcp_share(total, count, index);
            let slot =
                Slot::create(udp.len() + 1, config.engine).map_err(|source| KingError::Io {
                    what: format!("cannot create the slot of worker {index}"),
                    source,
                })?;
            let slot = Arc::new(slot);
            workers.push(Worker {
                index,
                udp,
                tcp_share,
                slot,
                child: None,
                started: Instant::now(),
                serving: false,
                serving_since: None,
                deaths: 0,
                last_death: None,
                restart_at: None,
                progress: Vec::new(),
                hung: None,
            });
        }
        let labels = PopLabels {
            pop: config.pop.clone(),
            stripe: config.stripe,
            engine: config.engine,
        };
        let slots = workers.iter().map(|w| Arc::clone(&w.slot)).collect();
        let mut metrics = PopMetrics::new(labels, slots);
        if let BundleSource::State(dir) = &config.bundle
            && let Some(earlier) = metrics::PopSnapshot::read(dir, &config.pop)
        {
            // A king restarted by `up` counts on where its predecessor
            // stopped publishing.
            metrics.continue_from(earlier);
        }
        Ok(King {
            config,
            tcp,
            workers,
            metrics: Arc::new(metrics),
        })
    }

    /// Serve the metrics on `endpoint`, and publish them into the state
    /// directory when serving one.
    fn start_metrics(&self, endpoint: Option<Endpoint>) -> Result<(), KingError> {
        let io_err = |what: &str| {
            let what = what.to_string();
            move |source| KingError::Io { what, source }
        };
        if let Some(endpoint) = endpoint {
            let metrics = Arc::clone(&self.metrics);
            endpoint
                .spawn(Arc::new(move || {
                    metrics::render(&[(metrics.snapshot(), true)], None)
                }))
                .map_err(io_err("cannot start the metrics endpoint"))?;
        }
        if let BundleSource::State(dir) = &self.config.bundle {
            metrics::publish_loop(Arc::clone(&self.metrics), dir.clone())
                .map_err(io_err("cannot start publishing metrics"))?;
        }
        Ok(())
    }

    /// Start every worker, wait until all serve (or one cannot load the
    /// bundle), then watch them until `stop` is raised.
    fn supervise(&mut self, stop: &AtomicBool, mut wakeup: Wakeup) -> Result<(), KingError> {
        for i in 0..self.workers.len() {
            self.spawn(i)?;
        }
        let mut all_serving = false;
        while !stop.load(Ordering::Relaxed) {
            for i in 0..self.workers.len() {
                self.check(i, all_serving)?;
            }
            self.metrics.observe_bundle();
            if !all_serving && self.workers.iter().all(|w| w.serving) {
                all_serving = true;
                info!(
                    workers = self.workers.len(),
                    engine = %self.config.engine,
                    "all workers serving"
                );
            }
            wakeup.wait(POLL);
        }
        info!("shutting down");
        Ok(())
    }

    /// Start a process for worker position `i` on its sockets.
    fn spawn(&mut self, i: usize) -> Result<(), KingError> {
        let io_err = |what: String| move |source| KingError::Io { what, source };
        let config = &self.config;
        let w = &mut self.workers[i];
        w.slot.reset();
        // Duplicates without close-on-exec, for this child only; dropped
        // (closed in the king) once it is started.
        let mut handed: Vec<OwnedFd> = Vec::new();
        let mut cmd = Command::new(&config.exe);
        cmd.arg("worker")
            .arg("--index")
            .arg(i.to_string())
            .arg("--king")
            .arg(std::process::id().to_string())
            .args(config.bundle.args())
            .arg("--engine")
            .arg(config.engine.as_str())
            .arg("--blacklist")
            .arg(&config.blacklist)
            .arg("--tcp-idle-timeout-ms")
            .arg(config.tcp_idle_timeout.as_millis().to_string())
            .arg("--tcp-max-connections")
            .arg(w.tcp_share.max(1).to_string());
        if let Some(id) = &config.identity {
            cmd.arg("--identity").arg(id);
        }
        if let Some(health) = &config.health {
            cmd.arg("--health").arg(health);
        }
        let inherit = |fd: &dyn std::os::fd::AsFd, handed: &mut Vec<OwnedFd>| {
            let dup = sys::inheritable(&fd.as_fd())?;
            let raw = dup.as_raw_fd();
            handed.push(dup);
            Ok::<_, std::io::Error>(raw)
        };
        let slot_fd = inherit(w.slot.file(), &mut handed)
            .map_err(io_err(format!("cannot hand the slot to worker {i}")))?;
        cmd.arg("--slot").arg(slot_fd.to_string());
        for (addr, socket) in &w.udp {
            let fd = inherit(socket, &mut handed)
                .map_err(io_err(format!("cannot hand UDP {addr} to worker {i}")))?;
            cmd.arg("--udp").arg(format!("{addr}={fd}"));
        }
        if w.tcp_share > 0 {
            for (addr, listener) in &self.tcp {
                let fd = inherit(listener, &mut handed)
                    .map_err(io_err(format!("cannot hand TCP {addr} to worker {i}")))?;
                cmd.arg("--tcp").arg(format!("{addr}={fd}"));
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(io_err(format!("cannot start worker {i}")))?;
        drop(handed);
        info!(worker = i, pid = child.id(), "worker started");
        w.child = Some(child);
        w.started = Instant::now();
        w.serving = false;
        w.serving_since = None;
        w.restart_at = None;
        w.hung = None;
        w.progress = vec![(0, Instant::now()); w.slot.entries()];
        Ok(())
    }

    /// Look at worker position `i` once: reap a dead process, notice one
    /// that started serving, kill one that hangs, start a due replacement.
    fn check(&mut self, i: usize, started_up: bool) -> Result<(), KingError> {
        let watchdog = self.config.watchdog;
        let w = &mut self.workers[i];
        let Some(child) = w.child.as_mut() else {
            if w.restart_at.is_some_and(|at| Instant::now() >= at) {
                self.spawn(i)?;
            }
            return Ok(());
        };
        let pid = child.id();
        match child.try_wait() {
            Ok(Some(status)) => {
                w.child = None;
                return self.died(i, pid, status, started_up);
            }
            Ok(None) => {}
            Err(e) => warn!(worker = i, pid, error = %e, "cannot wait for worker"),
        }
        if !w.serving && w.slot.state() == State::Serving {
            w.serving = true;
            w.serving_since = Some(Instant::now());
            match w.last_death {
                Some((at, old)) => info!(
                    worker = i,
                    pid,
                    restart_ms = format!("{:.1}", at.elapsed().as_secs_f64() * 1000.0),
                    start_ms = format!("{:.1}", w.started.elapsed().as_secs_f64() * 1000.0),
                    "worker serving again after pid {old} died"
                ),
                None => info!(
                    worker = i,
                    pid,
                    start_ms = format!("{:.1}", w.started.elapsed().as_secs_f64() * 1000.0),
                    "worker serving"
                ),
            }
        }
        if w.serving && w.hung.is_none() {
            let now = Instant::now();
            let mut hung = Vec::new();
            for e in 0..w.slot.entries() {
                let progress = w.slot.progress(e);
                let current = w.slot.current(e);
                let seen = &mut w.progress[e];
                if current.is_none() || progress != seen.0 {
                    *seen = (progress, now);
                } else if now.duration_since(seen.1) >= watchdog {
                    hung.extend(current);
                }
            }
            if !hung.is_empty() {
                for q in &hung {
                    error!(
                        worker = i,
                        pid,
                        fingerprint = %q.fingerprint,
                        question = %fingerprint::describe(&q.query),
                        "worker hung on a query for {watchdog:?}; killing it"
                    );
                }
                if let Err(e) = sys::signal(pid, Signal::Kill) {
                    warn!(worker = i, pid, error = %e, "cannot kill the hung worker");
                }
                w.hung = Some(hung);
            }
        }
        Ok(())
    }

    /// Handle the death of worker position `i` (process `pid`): blacklist
    /// what killed it, fail the start-up on a load error, schedule the
    /// replacement.
    fn died(
        &mut self,
        i: usize,
        pid: u32,
        status: ExitStatus,
        started_up: bool,
    ) -> Result<(), KingError> {
        let now = Instant::now();
        let engine = self.config.engine;
        let blacklist = self.config.blacklist.clone();
        let backoff = self.config.backoff;
        let w = &mut self.workers[i];
        if status.code() == Some(EXIT_LOAD_FAILED) || w.slot.state() == State::LoadFailed {
            let message = w.slot.error();
            if !started_up {
                return Err(KingError::Load(message));
            }
            error!(
                worker = i,
                pid, "worker could not load the bundle: {message}"
            );
        }
        let cause = if w.hung.is_some() {
            RestartCause::Watchdog
        } else if status.signal().is_some() {
            RestartCause::Signal
        } else {
            RestartCause::Exit
        };
        self.metrics.restarted(cause);
        let culprits = match w.hung.take() {
            Some(hung) => hung,
            None if status.signal().is_some() => w.slot.in_flight(),
            None => Vec::new(),
        };
        if culprits.is_empty() {
            error!(worker = i, pid, %status, "worker died");
        }
        for q in &culprits {
            let question = fingerprint::describe(&q.query);
            match blacklist::add(&blacklist, q.fingerprint, engine, &question) {
                Ok(entry) => error!(
                    worker = i,
                    pid,
                    %status,
                    fingerprint = %q.fingerprint,
                    count = entry.count,
                    "worker died answering {question}; blacklisted"
                ),
                Err(e) => error!(
                    worker = i,
                    pid,
                    %status,
                    fingerprint = %q.fingerprint,
                    "worker died answering {question}; cannot blacklist it: {e}"
                ),
            }
        }
        let stable = w
            .serving_since
            .is_some_and(|since| now.duration_since(since) >= backoff.stable_after);
        if stable {
            w.deaths = 0;
        }
        w.deaths = w.deaths.saturating_add(1);
        let delay = backoff.delay(w.deaths);
        info!(
            worker = i,
            deaths_in_a_row = w.deaths,
            backoff_ceiling_ms = backoff.ceiling(w.deaths).as_millis() as u64,
            delay_ms = delay.as_millis() as u64,
            "restarting worker"
        );
        w.last_death = Some((now, pid));
        w.serving = false;
        w.serving_since = None;
        w.restart_at = Some(now + delay);
        if delay.is_zero() {
            self.spawn(i)?;
        }
        Ok(())
    }

    /// Stop every running worker: SIGTERM, then SIGKILL after the grace
    /// period.
    fn stop_all(&mut self) {
        for w in &mut self.workers {
            if let Some(child) = &w.child
                && let Err(e) = sys::signal(child.id(), Signal::Term)
            {
                warn!(worker = w.index, error = %e, "cannot stop worker");
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for w in &mut self.workers {
            let Some(mut child) = w.child.take() else {
                continue;
            };
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        warn!(worker = w.index, "worker did not stop; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(POLL),
                }
            }
        }
    }
}

impl Drop for King {
    /// No worker outlives its king, whatever path ends it.
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(mut child) = w.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_second_death_and_is_capped() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            stable_after: Duration::from_secs(10),
        };
        let ceilings: Vec<u128> = (1..=7).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, vec![0, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        assert_eq!(b.delay(1), Duration::ZERO);
        for n in 2..10 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
    }

    #[test]
    fn tcp_shares_add_up_to_the_limit() {
        for (total, count) in [(1024, 2), (2, 4), (7, 3), (1, 1), (5, 5)] {
            let shares: Vec<usize> = (0..count).map(|i| tcp_share(total, count, i)).collect();
            assert_eq!(shares.iter().sum::<usize>(), total, "{shares:?}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
        assert_eq!(tcp_share(2, 4, 3), 0);
    }

    #[test]
    fn backoff_delays_are_jittered() {
        let b = Backoff::default();
        let delays: std::collections::HashSet<Duration> = (0..50).map(|_| b.delay(8)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
