//! The `stripedns` command line: argument parsing and the subcommands.
//!
//! `main.rs` only parses the arguments with [`Cli`] and calls [`run`]; every
//! subcommand lives here so tests and other binaries can drive it. Errors
//! come back as a [`CliError`], which `main` prints as `stripedns: <error>`
//! before exiting with status 1.
//!
//! - `stripedns serve --bundle DIR --listen ADDR:PORT [...]` is a king: it
//!   binds UDP and TCP on every listen address and runs worker processes
//!   that load the bundle and answer, until SIGTERM or SIGINT; with
//!   `--state DIR` instead of `--bundle` the workers serve the live bundle
//!   of a state directory and follow `dns/current`.
//! - `stripedns check DIR` tastes a bundle in-process and prints the
//!   verdict.
//! - `stripedns push DIR [--state DIR]` places a bundle in `landing/`.
//! - `stripedns pipeline [--state DIR]` tastes landed bundles, then poisons
//!   or promotes them.
//! - `stripedns status [--state DIR]` shows what is live, waiting, poisoned, and
//!   the blacklist of the state directory.
//! - `stripedns blacklist [--file F]` lists the query-of-death blacklist;
//!   `stripedns unblock FINGERPRINT` removes an entry.
//! - `stripedns up [--config FILE] [--state DIR]` runs the pipeline and a
//!   king per POP of a topology (the embedded default without
//!   `--config`) on one state directory, until SIGTERM or SIGINT.
//! - `stripedns worker ...` (hidden) is what a king starts for each worker.
//! - `stripedns health --state DIR` (hidden) is the health checker `up`
//!   runs: it probes the live bundle's health-checked fleet addresses and
//!   writes `DIR/health.json`, which the workers of `serve --state DIR`
//!   (or `serve --health FILE`) follow.
//!
//! Exit statuses: 0 success, 1 an error (or `check` refusing the bundle),
//! and for `push`: 3 the bundle is already live, 4 it is already waiting
//! or being tasted, 5 it is poisoned.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use thiserror::Error;
use tracing::info;

use crate::blacklist::{self, BlacklistError};
use crate::bundle::{Bundle, BundleError, BundleId};
use crate::engine::EngineKind;
use crate::fingerprint::Fingerprint;
use crate::king::{self, Backoff, BundleSource, KingConfig, KingError};
use crate::pipeline::{Limits, PipelineConfig, PipelineError, locate_taster};
use crate::server::{ServerError, UdpSteering, default_udp_workers};
use crate::state::{DEFAULT_STATE_DIR, Place, PushOutcome, StateDir, StateError, format_utc};
use crate::sys;
use crate::taster::{TasteConfig, taste};
use crate::topology::Topology;
use crate::up::{UpConfig, UpError};
use crate::worker::{self, InheritedSocket, WorkerConfig, WorkerError};

/// An authoritative DNS server for web fleets, built so that one bad input
/// cannot take the DNS down.
#[derive(Debug, Parser)]
#[command(name = "stripedns", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Answer queries for a bundle on UDP and TCP until SIGTERM/SIGINT.
    Serve(ServeArgs),
    /// Taste a bundle now, in this process, and print the verdict.
    Check(CheckArgs),
    /// Place a bundle directory into the state's landing/, atomically.
    Push(PushArgs),
    /// Watch landing/, taste each bundle in a foodtaster process, then
    /// poison or promote it.
    Pipeline(PipelineArgs),
    /// Show the live bundle, the bundles waiting and being tasted, the
    /// poisoned ones, the last verdicts, the health of fleet addresses and
    /// the blacklist.
    Status(StatusArgs),
    /// List the query-of-death blacklist.
    Blacklist(BlacklistArgs),
    /// Remove a query from the blacklist.
    Unblock(UnblockArgs),
    /// Run the whole local topology: the pipeline and one king per POP,
    /// on one state directory, until SIGTERM/SIGINT.
    Up(UpArgs),
    /// One worker of a king (started by `serve`, not by hand).
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Probe the health-checked fleet addresses of the live bundle and
    /// publish DIR/health.json (started by `up`).
    #[command(hide = true)]
    Health(HealthArgs),
}

/// Arguments of `stripedns serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The bundle directory to serve (zone files named `<origin>.zone`),
    /// fixed for the life of the process.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "state",
        conflicts_with = "state"
    )]
    pub bundle: Option<PathBuf>,
    /// A state directory: serve the bundle `dns/current` points at and
    /// swap in each newly promoted one.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// An address to answer on, UDP and TCP; repeat for more
    /// (`127.0.0.1:5353`, `[::1]:5353`).
    #[arg(long, value_name = "ADDR:PORT", required = true)]
    pub listen: Vec<SocketAddr>,
    /// The answer engine.
    #[arg(long, value_name = "ENGINE", default_value = "native")]
    pub engine: EngineKind,
    /// Text answered to CHAOS `id.server`/`hostname.bind` and sent as
    /// NSID, instead of `<pop> stripe <n> engine <engine>`; an empty text
    /// refuses those queries and sends no NSID.
    #[arg(long, value_name = "TEXT")]
    pub identity: Option<String>,
    /// The name of this POP, in the identity [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub pop: Option<String>,
    /// The stripe this POP belongs to, in the identity.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub stripe: u32,
    /// Seconds a TCP connection may wait for its next whole query.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tcp_idle_timeout: u64,
    /// TCP connections open at once, over all listen addresses and
    /// workers (shared out among the workers).
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tcp_max_connections: u32,
    /// Worker processes, each with its own UDP socket per listen address
    /// [default: number of cores].
    #[arg(long, value_name = "N", alias = "udp-workers",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// How the kernel spreads UDP queries over the workers: `cpu` gives
    /// each worker the queries received on its CPU (`SO_INCOMING_CPU`,
    /// falling back to the hash), `hash` spreads them by a hash of the
    /// client's address and port. Use `hash` on a host that receives all
    /// packets on one CPU.
    #[arg(long, value_name = "cpu|hash", default_value_t = UdpSteering::Cpu)]
    pub udp_steering: UdpSteering,
    /// The query-of-death blacklist file [default: blacklist in
    /// $TMPDIR/stripedns, or /tmp/stripedns].
    #[arg(long, value_name = "FILE")]
    pub blacklist: Option<PathBuf>,
    /// Milliseconds one query may keep a worker busy before the king kills
    /// the worker and blacklists the query.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub watchdog_ms: u64,
    /// Milliseconds of the longest wait before the second restart of a
    /// worker that keeps dying; doubles with every death in a row.
    #[arg(long, value_name = "MS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub backoff_base_ms: u64,
    /// The largest restart wait, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub backoff_max_ms: u64,
    /// Milliseconds a worker must serve for its death to count as the
    /// first in a row again.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub stable_after_ms: u64,
    /// The process id of the `stripedns up` that started this king; it
    /// dies with that process.
    #[arg(long, value_name = "PID", hide = true)]
    pub supervisor: Option<u32>,
    /// Serve the king's metrics in the Prometheus text format on
    /// `http://ADDR:PORT/metrics`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// A health file to follow (as `stripedns health` writes it): down
    /// fleet addresses are left out of answers [default: health.json of
    /// --state; none with --bundle].
    #[arg(long, value_name = "FILE")]
    pub health: Option<PathBuf>,
}

/// Arguments of the hidden `stripedns health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The state directory: the live bundle's checks are run, and
    /// `health.json` is written in it.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state: PathBuf,
    /// The process id of the `stripedns up` that started this checker;
    /// it dies with that process.
    #[arg(long, value_name = "PID", hide = true)]
    pub supervisor: Option<u32>,
}

/// Arguments of `stripedns up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The topology (TOML: `[[pop]]` tables with name, stripe, engine,
    /// listen) [default: the embedded one, two stripes of two POPs on
    /// 127.0.0.1:5301 to 5304].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The state directory every POP and the pipeline share.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state: PathBuf,
}

/// Arguments of `stripedns blacklist`.
#[derive(Debug, Args)]
pub struct BlacklistArgs {
    /// The blacklist file [default: as `serve`].
    #[arg(long, value_name = "FILE", conflicts_with = "state")]
    pub file: Option<PathBuf>,
    /// A state directory: its `blacklist` file.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

/// Arguments of `stripedns unblock`.
#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// The fingerprint to remove, as `stripedns blacklist` prints it.
    #[arg(value_name = "FINGERPRINT")]
    pub fingerprint: Fingerprint,
    /// The blacklist file [default: as `serve`].
    #[arg(long, value_name = "FILE", conflicts_with = "state")]
    pub file: Option<PathBuf>,
    /// A state directory: its `blacklist` file.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

/// Arguments of the hidden `stripedns worker`, written by the king.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The worker's number under its king.
    #[arg(long)]
    pub index: usize,
    /// The king's process id.
    #[arg(long)]
    pub king: u32,
    /// The bundle to load.
    #[arg(long, conflicts_with = "state", required_unless_present = "state")]
    pub bundle: Option<PathBuf>,
    /// The state directory whose live bundle to load and follow.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The engine.
    #[arg(long)]
    pub engine: EngineKind,
    /// The identity text.
    #[arg(long)]
    pub identity: Option<String>,
    /// An inherited UDP socket, `ADDR=FD`.
    #[arg(long)]
    pub udp: Vec<InheritedSocket>,
    /// An inherited TCP listener, `ADDR=FD`.
    #[arg(long)]
    pub tcp: Vec<InheritedSocket>,
    /// The inherited slot descriptor.
    #[arg(long)]
    pub slot: i32,
    /// The blacklist file.
    #[arg(long)]
    pub blacklist: PathBuf,
    /// TCP idle timeout, milliseconds.
    #[arg(long)]
    pub tcp_idle_timeout_ms: u64,
    /// TCP connections this worker may hold.
    #[arg(long)]
    pub tcp_max_connections: usize,
    /// The health file to follow.
    #[arg(long)]
    pub health: Option<PathBuf>,
}

/// Arguments of `stripedns check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The bundle directory to check.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Milliseconds one answer of the tasting suite may take.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub answer_deadline_ms: u64,
}

/// Arguments of `stripedns push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The bundle directory to push.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The state directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state: PathBuf,
}

/// Arguments of `stripedns status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The state directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state: PathBuf,
}

/// Arguments of `stripedns pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// The state directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    pub state: PathBuf,
    /// Seconds of wall-clock time a tasting may take; the taster is killed
    /// then and the bundle poisoned as hung.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub taster_timeout: f64,
    /// Address-space limit of the taster, in MiB (RLIMIT_AS).
    #[arg(long, value_name = "MIB", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub taster_memory: u64,
    /// CPU-time limit of the taster, in seconds (RLIMIT_CPU).
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub taster_cpu: u64,
    /// Milliseconds one answer of the tasting suite may take.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub answer_deadline_ms: u64,
    /// Milliseconds between looks at landing/ when no event arrives.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub poll_ms: u64,
    /// The process id of the `stripedns up` that started this pipeline;
    /// it dies with that process.
    #[arg(long, value_name = "PID", hide = true)]
    pub supervisor: Option<u32>,
}
/// Why a subcommand failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The bundle cannot be opened (the error names the file).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// An engine could not load the bundle.
    #[error("engine {engine}: {source}")]
    Engine {
        /// The engine that failed.
        engine: EngineKind,
        /// Its error, naming the file and line.
        source: BundleError,
    },
    /// The sockets could not be bound (the error names the address).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The king failed: sockets, workers, or a bundle its workers cannot
    /// load.
    #[error(transparent)]
    King(#[from] KingError),
    /// A worker failed before serving.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// The blacklist file cannot be read or written.
    #[error(transparent)]
    Blacklist(#[from] BlacklistError),
    /// `unblock` was given a fingerprint that is not blacklisted.
    #[error("{fingerprint} is not in the blacklist {}", path.display())]
    NotBlacklisted {
        /// The fingerprint asked for.
        fingerprint: Fingerprint,
        /// The blacklist file.
        path: PathBuf,
    },
    /// `check` refused the bundle: an engine cannot load it or a check
    /// of the tasting suite failed.
    #[error("bundle {id}: rejected: {failures}")]
    CheckFailed {
        /// The bundle checked.
        id: BundleId,
        /// Each failing engine and its error, joined with `; `.
        failures: String,
    },
    /// The state directory could not be read or changed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The pipeline stopped.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// `up` could not start its topology.
    #[error(transparent)]
    Up(#[from] UpError),
    /// `push` of a bundle that is already live.
    #[error("bundle {0} is already live")]
    AlreadyLive(BundleId),
    /// `push` of a bundle that is waiting in landing/ or being tasted.
    #[error("bundle {0} is already {1}")]
    InPipeline(BundleId, &'static str),
    /// `push` of a poisoned bundle.
    #[error("bundle {id} is poisoned: {reason}")]
    Poisoned {
        /// The bundle.
        id: BundleId,
        /// The recorded reason.
        reason: String,
    },
    /// A command-line value is out of range.
    #[error("{0}")]
    Usage(String),
    /// The runtime, a signal handler or the terminal failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
}

impl CliError {
    /// The exit status for this error: 3, 4 and 5 for the refusals of
    /// `push` (already live; waiting or tasting; poisoned), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::AlreadyLive(_) => 3,
            CliError::InPipeline(..) => 4,
            CliError::Poisoned { .. } => 5,
            _ => 1,
        }
    }
}

/// Run the subcommand `cli` names.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(&args, &mut io::stdout().lock()),
        Command::Push(args) => push(&args, &mut io::stdout().lock()),
        Command::Pipeline(args) => pipeline(&args),
        Command::Status(args) => status(&args, &mut io::stdout().lock()),
        Command::Up(args) => up(args),
        Command::Health(args) => health(&args),
        Command::Blacklist(args) => {
            let path = blacklist_path(args.file, args.state.as_deref());
            list_blacklist(&path, &mut io::stdout().lock())
        }
        Command::Unblock(args) => {
            let path = blacklist_path(args.file, args.state.as_deref());
            unblock(&path, args.fingerprint, &mut io::stdout().lock())
        }
        Command::Worker(args) => {
            init_logging();
            let bundle = match (args.bundle, args.state) {
                (_, Some(state)) => BundleSource::State(state),
                (Some(dir), None) => BundleSource::Fixed(dir),
                (None, None) => return Err(CliError::Usage("give --bundle or --state".into())),
            };
            let code = worker::run(WorkerConfig {
                index: args.index,
                king: args.king,
                bundle,
                engine: args.engine,
                identity: args.identity,
                udp: args.udp,
                tcp: args.tcp,
                slot: args.slot,
                blacklist: args.blacklist,
                health: args.health,
                tcp_idle_timeout: Duration::from_millis(args.tcp_idle_timeout_ms),
                tcp_max_connections: args.tcp_max_connections,
            })?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
    }
}

/// The blacklist file named by `--file`, or in `--state DIR`, or the
/// default.
fn blacklist_path(file: Option<PathBuf>, state: Option<&Path>) -> PathBuf {
    file.or_else(|| state.map(|d| d.join(blacklist::FILE_NAME)))
        .unwrap_or_else(blacklist::default_path)
}

/// `stripedns blacklist`: one line per entry on `out`.
pub fn list_blacklist(path: &Path, out: &mut impl Write) -> Result<(), CliError> {
    let entries = blacklist::load(path)?;
    let io_err = |source| CliError::Io {
        what: "cannot write the blacklist",
        source,
    };
    if entries.is_empty() {
        writeln!(out, "blacklist {}: empty", path.display()).map_err(io_err)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<16}  {:<7}  {:>5}  {:<20}  {:<20}  QUESTION",
        "FINGERPRINT", "ENGINE", "COUNT", "FIRST SEEN", "LAST SEEN"
    )
    .map_err(io_err)?;
    for e in &entries {
        writeln!(
            out,
            "{:<16}  {:<7}  {:>5}  {:<20}  {:<20}  {}",
            e.fingerprint,
            e.engine,
            e.count,
            format_utc(e.first_seen),
            format_utc(e.last_seen),
            e.question
        )
        .map_err(io_err)?;
    }
    Ok(())
}

/// `stripedns unblock`: remove `fingerprint`, saying what was removed.
pub fn unblock(
    path: &Path,
    fingerprint: Fingerprint,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let removed = blacklist::remove(path, fingerprint)?;
    if removed.is_empty() {
        return Err(CliError::NotBlacklisted {
            fingerprint,
            path: path.to_path_buf(),
        });
    }
    for e in removed {
        writeln!(
            out,
            "unblocked {} ({}, {})",
            e.fingerprint, e.question, e.engine
        )
        .map_err(|source| CliError::Io {
            what: "cannot write",
            source,
        })?;
    }
    Ok(())
}

/// Log to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// `stripedns serve`: run a king until SIGTERM/SIGINT. The bundle is
/// opened by the workers, not here; a bundle they cannot load fails `serve`
/// with their error.
fn serve(args: ServeArgs) -> Result<(), CliError> {
    die_with_supervisor(args.supervisor)?;
    init_logging();
    let identity = identity_text(&args);
    let pop = pop_name(&args);
    let exe = std::env::current_exe().map_err(|source| CliError::Io {
        what: "cannot find the stripedns executable",
        source,
    })?;
    let blacklist = blacklist_path(args.blacklist, args.state.as_deref());
    let health = args.health.or_else(|| {
        args.state
            .as_ref()
            .map(|s| s.join(crate::health::FILE_NAME))
    });
    let bundle = match (args.bundle, args.state) {
        (_, Some(state)) => {
            // Create the layout now, so the workers find it to follow.
            StateDir::open(&state)?;
            BundleSource::State(state)
        }
        (Some(dir), None) => BundleSource::Fixed(dir),
        (None, None) => return Err(CliError::Usage("give --bundle DIR or --state DIR".into())),
    };
    let config = KingConfig {
        bundle,
        engine: args.engine,
        identity,
        listen: args.listen,
        workers: args
            .workers
            .map_or_else(default_udp_workers, |n| n as usize),
        udp_steering: args.udp_steering,
        tcp_idle_timeout: Duration::from_secs(args.tcp_idle_timeout),
        tcp_max_connections: args.tcp_max_connections as usize,
        blacklist,
        health,
        watchdog: Duration::from_millis(args.watchdog_ms),
        backoff: Backoff {
            base: Duration::from_millis(args.backoff_base_ms),
            max: Duration::from_millis(args.backoff_max_ms.max(args.backoff_base_ms)),
            stable_after: Duration::from_millis(args.stable_after_ms),
        },
        exe,
        pop,
        stripe: args.stripe,
        metrics: args.metrics,
    };
    info!(
        bundle = %config.bundle.path().display(),
        engine = %config.engine,
        workers = config.workers,
        blacklist = %config.blacklist.display(),
        "starting"
    );
    king::run(config)?;
    Ok(())
}

/// `stripedns health`: the health checker, until SIGTERM/SIGINT.
fn health(args: &HealthArgs) -> Result<(), CliError> {
    die_with_supervisor(args.supervisor)?;
    init_logging();
    let state = StateDir::open(&args.state)?;
    crate::health::run(state).map_err(|source| CliError::Io {
        what: "health checker",
        source,
    })
}

/// When started by `stripedns up` (process `supervisor`), ask the kernel
/// to kill this process when `up` dies, as workers do with their king.
fn die_with_supervisor(supervisor: Option<u32>) -> Result<(), CliError> {
    match supervisor {
        Some(pid) => sys::die_with_parent(pid).map_err(|source| CliError::Io {
            what: "cannot ask to die with stripedns up",
            source,
        }),
        None => Ok(()),
    }
}

/// `stripedns up`: the topology of `--config` (or the embedded default)
/// until SIGTERM/SIGINT.
fn up(args: UpArgs) -> Result<(), CliError> {
    init_logging();
    let topology = match &args.config {
        Some(path) => Topology::load(path).map_err(UpError::from)?,
        None => Topology::embedded_default().map_err(UpError::from)?,
    };
    let exe = std::env::current_exe().map_err(|source| CliError::Io {
        what: "cannot find the stripedns executable",
        source,
    })?;
    let config = UpConfig {
        topology,
        state: args.state,
        exe,
    };
    crate::up::run(config, &mut io::stdout())?;
    Ok(())
}

/// What NSID and CHAOS `id.server` answer: `--identity` when given (empty:
/// nothing), else `<pop> stripe <n> engine <engine>`.
fn identity_text(args: &ServeArgs) -> Option<String> {
    match &args.identity {
        Some(text) => Some(text.clone()).filter(|t| !t.is_empty()),
        None => {
            let pop = pop_name(args);
            Some(format!(
                "{pop} stripe {} engine {}",
                args.stripe, args.engine
            ))
        }
    }
}

/// The POP's name: `--pop`, else the host name.
fn pop_name(args: &ServeArgs) -> String {
    args.pop
        .clone()
        .or_else(host_name)
        .unwrap_or_else(|| "stripedns".to_string())
}

/// `stripedns check`: taste the bundle in this process, one line per
/// engine on `out`, the failed checks, then the verdict.
pub fn check(args: &CheckArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bundle = Bundle::open(&args.dir)?;
    let zones = bundle.zones().len();
    let io_err = |source| CliError::Io {
        what: "cannot write the verdict",
        source,
    };
    let config = TasteConfig {
        deadline: Duration::from_millis(args.answer_deadline_ms),
    };
    let verdict = taste(&bundle, &config);
    for engine in &verdict.engines {
        match &engine.load_error {
            None => {
                let plural = if zones == 1 { "" } else { "s" };
                writeln!(
                    out,
                    "{}: ok ({zones} zone{plural}, loaded in {} ms, {} answers, {} failed)",
                    engine.engine, engine.load_ms, engine.answered, engine.failed
                )
                .map_err(io_err)?;
            }
            Some(e) => writeln!(out, "{}: failed: {e}", engine.engine).map_err(io_err)?,
        }
    }
    for failure in &verdict.failures {
        writeln!(out, "check failed: {failure}").map_err(io_err)?;
    }
    if verdict.failed > verdict.failures.len() {
        writeln!(
            out,
            "check failed: ... and {} more",
            verdict.failed - verdict.failures.len()
        )
        .map_err(io_err)?;
    }
    writeln!(
        out,
        "tasted: {} probes, {} checks, {} failed, in {} ms; {}",
        verdict.probes, verdict.checks, verdict.failed, verdict.elapsed_ms, verdict.note
    )
    .map_err(io_err)?;
    if verdict.promote() {
        writeln!(out, "bundle {}: ok", bundle.id()).map_err(io_err)?;
        Ok(())
    } else {
        Err(CliError::CheckFailed {
            id: bundle.id(),
            failures: verdict.failures.join("; "),
        })
    }
}

/// `stripedns push`: copy the bundle into landing/ and print its id.
pub fn push(args: &PushArgs, out: &mut impl Write) -> Result<(), CliError> {
    let state = StateDir::open(&args.state)?;
    let outcome = state.push(&args.dir)?;
    let id = match &outcome {
        PushOutcome::Landed(id) | PushOutcome::Refused(id, _) => *id,
    };
    writeln!(out, "{id}").map_err(|source| CliError::Io {
        what: "cannot write the bundle id",
        source,
    })?;
    match outcome {
        PushOutcome::Landed(_) => Ok(()),
        PushOutcome::Refused(id, Place::Live) => Err(CliError::AlreadyLive(id)),
        PushOutcome::Refused(id, Place::Landed) => {
            Err(CliError::InPipeline(id, "waiting in landing/"))
        }
        PushOutcome::Refused(id, Place::Tasting) => {
            Err(CliError::InPipeline(id, "being tasted in foodtaster/"))
        }
        PushOutcome::Refused(id, Place::Poisoned(record)) => Err(CliError::Poisoned {
            id,
            reason: record.reason,
        }),
        PushOutcome::Refused(id, Place::Unknown) => Err(CliError::InPipeline(id, "known")),
    }
}

/// `stripedns pipeline`: recover the state, then taste bundles forever.
fn pipeline(args: &PipelineArgs) -> Result<(), CliError> {
    die_with_supervisor(args.supervisor)?;
    init_logging();
    if !(args.taster_timeout > 0.0 && args.taster_timeout <= 86_400.0) {
        return Err(CliError::Usage(format!(
            "--taster-timeout {} is not between 0 and 86400 seconds",
            args.taster_timeout
        )));
    }
    let state = StateDir::open(&args.state)?;
    let mut config = PipelineConfig::new(locate_taster());
    config.timeout = Duration::from_secs_f64(args.taster_timeout);
    config.limits = Limits {
        memory_bytes: args.taster_memory << 20,
        cpu_secs: args.taster_cpu,
    };
    config.deadline = Duration::from_millis(args.answer_deadline_ms);
    config.poll = Duration::from_millis(args.poll_ms);
    crate::pipeline::run(&state, &config)?;
    Ok(())
}

/// `stripedns status`: what is live, waiting, tasting, poisoned, the
/// health of fleet addresses, and the blacklist of the state directory
/// (as `stripedns blacklist --state`).
pub fn status(args: &StatusArgs, out: &mut impl Write) -> Result<(), CliError> {
    let state = StateDir::open(&args.state)?;
    let now = SystemTime::now();
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut text = format!("state: {}\n", state.root().display());
    match state.live()? {
        Some(live) => {
            let ago = now.duration_since(live.since).map_or(0, |d| d.as_secs());
            text.push_str(&format!(
                "live: {} since {} ({ago} s ago)\n",
                live.id,
                format_utc(secs(live.since))
            ));
        }
        None => text.push_str("live: none (no bundle promoted yet)\n"),
    }
    let list = |ids: Vec<BundleId>| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>().join(" ")
        }
    };
    text.push_str(&format!("landing: {}\n", list(state.landed()?)));
    text.push_str(&format!("tasting: {}\n", list(state.tasting()?)));
    let poisoned = state.poisoned()?;
    text.push_str(&format!("poisoned: {}\n", poisoned.len()));
    for p in &poisoned {
        text.push_str(&format!(
            "  {} at {}: {}\n",
            p.id,
            format_utc(p.time),
            p.reason
        ));
    }
    text.push_str("last verdicts:\n");
    for v in state.verdicts(10)? {
        let reason = if v.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", v.reason)
        };
        text.push_str(&format!(
            "  {} {} {}{reason}\n",
            format_utc(v.time),
            v.id,
            v.verdict
        ));
    }
    text.push_str(&crate::health::status_text(
        &state.root().join(crate::health::FILE_NAME),
        crate::state::unix_ms(),
    ));
    out.write_all(text.as_bytes())
        .map_err(|source| CliError::Io {
            what: "cannot write the status",
            source,
        })?;
    list_blacklist(&state.root().join(blacklist::FILE_NAME), out)
}

/// This machine's host name, as the kernel knows it.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
