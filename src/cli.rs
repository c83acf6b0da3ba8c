//! The `stripedns` command line: argument parsing and the subcommands.
//!
//! `main.rs` only parses the arguments with [`Cli`] and calls [`run`]; every
//! subcommand lives here so tests and other binaries can drive it. Errors
//! come back as a [`CliError`], which `main` prints as `stripedns: <error>`
//! before exiting with status 1.
//!
//! - `stripedns serve --bundle DIR --listen ADDR:PORT [...]` opens a bundle,
//!   builds the engine and answers on UDP and TCP of every listen address
//!   until SIGTERM or SIGINT; with `--state DIR` instead of `--bundle` it
//!   serves the live bundle of a state directory and follows `dns/current`.
//! - `stripedns check DIR` tastes a bundle in-process and prints the
//!   verdict.
//! - `stripedns push DIR [--state DIR]` places a bundle in `landing/`.
//! - `stripedns pipeline [--state DIR]` tastes landed bundles, then poisons
//!   or promotes them.
//! - `stripedns status [--state DIR]` shows what is live, waiting, poisoned.
//!
//! Exit statuses: 0 success, 1 an error (or `check` refusing the bundle),
//! and for `push`: 3 the bundle is already live, 4 it is already waiting
//! or being tasted, 5 it is poisoned.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use thiserror::Error;
use tracing::info;

use crate::bundle::{Bundle, BundleError, BundleId};
use crate::engine::{EngineKind, Identity};
use crate::pipeline::{Limits, PipelineConfig, PipelineError, locate_taster};
use crate::server::{Server, ServerConfig, ServerError, shutdown_signal};
use crate::state::{DEFAULT_STATE_DIR, Place, PushOutcome, StateDir, StateError, format_utc};
use crate::taster::{TasteConfig, taste};

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
    /// poisoned ones and the last verdicts.
    Status(StatusArgs),
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
    /// NSID. Defaults to the host name, as Knot DNS and NSD do; an empty
    /// text refuses those queries and sends no NSID.
    #[arg(long, value_name = "TEXT")]
    pub identity: Option<String>,
    /// Seconds a TCP connection may wait for its next whole query.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tcp_idle_timeout: u64,
    /// TCP connections open at once, over all listen addresses.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tcp_max_connections: u32,
    /// UDP sockets and threads per listen address [default: number of cores].
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub udp_workers: Option<u32>,
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
    }
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

/// `stripedns serve`.
fn serve(args: ServeArgs) -> Result<(), CliError> {
    init_logging();
    let follow_poll = Duration::from_secs(1);
    let state = args.state.as_ref().map(StateDir::open).transpose()?;
    let bundle = match (&state, &args.bundle) {
        (Some(state), _) => Bundle::open(crate::follow::wait_for_live(state, follow_poll).path)?,
        (None, Some(dir)) => Bundle::open(dir)?,
        (None, None) => return Err(CliError::Usage("give --bundle DIR or --state DIR".into())),
    };
    let zones: Vec<&str> = bundle.zones().iter().map(|z| z.origin.as_str()).collect();
    info!(
        bundle = %bundle.id(),
        path = %bundle.root().display(),
        zones = ?zones,
        "bundle opened"
    );
    let identity = Identity {
        id: args
            .identity
            .clone()
            .or_else(host_name)
            .filter(|id| !id.is_empty()),
    };
    let engine = args
        .engine
        .open(&bundle, identity)
        .map_err(|source| CliError::Engine {
            engine: args.engine,
            source,
        })?;
    info!(engine = %args.engine, "engine loaded");
    if let Some(state) = state {
        crate::follow::spawn(
            state,
            std::sync::Arc::clone(&engine),
            bundle.id(),
            follow_poll,
        )
        .map_err(|source| CliError::Io {
            what: "cannot start following dns/current",
            source,
        })?;
    }

    let mut config = ServerConfig::new(args.listen);
    config.tcp_idle_timeout = Duration::from_secs(args.tcp_idle_timeout);
    config.tcp_max_connections = args.tcp_max_connections as usize;
    if let Some(n) = args.udp_workers {
        config.udp_workers = n as usize;
    }

    let io_err = |what| move |source| CliError::Io { what, source };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("stripedns-tcp")
        .build()
        .map_err(io_err("cannot start the runtime"))?;
    runtime.block_on(async {
        // Handlers first, so a signal that arrives while binding still
        // stops the server cleanly.
        let shutdown = shutdown_signal().map_err(io_err("cannot install signal handlers"))?;
        let server = Server::bind(config, engine)?;
        server
            .run(shutdown)
            .await
            .map_err(io_err("cannot start serving"))
    })?;
    // Connection tasks still waiting on a socket are dropped here.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
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

/// `stripedns status`: what is live, waiting, tasting, poisoned.
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
    out.write_all(text.as_bytes())
        .map_err(|source| CliError::Io {
            what: "cannot write the status",
            source,
        })
}

/// This machine's host name, as the kernel knows it.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
