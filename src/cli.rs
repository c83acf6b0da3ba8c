//! The `stripedns` command line: argument parsing and the subcommands.
//!
//! `main.rs` only parses the arguments with [`Cli`] and calls [`run`]; every
//! subcommand lives here so tests and other binaries can drive it. Errors
//! come back as a [`CliError`], which `main` prints as `stripedns: <error>`
//! before exiting with status 1.
//!
//! - `stripedns serve --bundle DIR --listen ADDR:PORT [...]` opens a bundle,
//!   builds the engine and answers on UDP and TCP of every listen address
//!   until SIGTERM or SIGINT.
//! - `stripedns check DIR` loads a bundle with every engine and prints a
//!   verdict.

use std::io::{self, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use thiserror::Error;
use tracing::info;

use crate::bundle::{Bundle, BundleError, BundleId};
use crate::engine::{EngineKind, Identity};
use crate::server::{Server, ServerConfig, ServerError, shutdown_signal};

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
    /// Load a bundle with every engine and print the verdict.
    Check(CheckArgs),
}

/// Arguments of `stripedns serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The bundle directory to serve (zone files named `<origin>.zone`).
    #[arg(long, value_name = "DIR")]
    pub bundle: PathBuf,
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
    /// `check` found an engine that cannot load the bundle.
    #[error("bundle {id}: rejected: {failures}")]
    CheckFailed {
        /// The bundle checked.
        id: BundleId,
        /// Each failing engine and its error, joined with `; `.
        failures: String,
    },
    /// The runtime, a signal handler or the terminal failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Run the subcommand `cli` names.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(&args, &mut io::stdout().lock()),
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
    let bundle = Bundle::open(&args.bundle)?;
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

/// `stripedns check`: load the bundle with every engine, one line per
/// engine on `out`, then the verdict.
pub fn check(args: &CheckArgs, out: &mut impl Write) -> Result<(), CliError> {
    let bundle = Bundle::open(&args.dir)?;
    let zones = bundle.zones().len();
    let io_err = |source| CliError::Io {
        what: "cannot write the verdict",
        source,
    };
    let mut failures = Vec::new();
    for &kind in EngineKind::ALL {
        match kind.open(&bundle, Identity::default()) {
            Ok(_) => {
                let plural = if zones == 1 { "" } else { "s" };
                writeln!(out, "{kind}: ok ({zones} zone{plural})").map_err(io_err)?;
            }
            Err(e) => {
                writeln!(out, "{kind}: failed: {e}").map_err(io_err)?;
                failures.push(format!("{kind}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        writeln!(out, "bundle {}: ok", bundle.id()).map_err(io_err)?;
        Ok(())
    } else {
        Err(CliError::CheckFailed {
            id: bundle.id(),
            failures: failures.join("; "),
        })
    }
}

/// This machine's host name, as the kernel knows it.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
