//! A worker: the child process of a king that answers queries.
//!
//! The king starts `stripedns worker ...` (a hidden subcommand) with the
//! descriptors of its sockets and of the worker's [`Slot`] left open across
//! `exec` and named on the command line (`--udp ADDR=FD`, `--tcp ADDR=FD`,
//! `--slot FD`). The worker:
//!
//! 1. asks to die with its king (`PR_SET_PDEATHSIG`), so a killed king
//!    leaves no worker behind;
//! 2. takes over the named descriptors;
//! 3. opens the bundle and loads it into its engine: the king loads no zone
//!    data. If that fails it writes the error into its slot and exits with
//!    [`EXIT_LOAD_FAILED`], which the king reports as its own error;
//! 4. reads the blacklist and follows it ([`crate::blacklist::Watcher`]),
//!    and the health file when it has one ([`HealthWatcher`]);
//! 5. marks its slot serving and runs the ordinary [`Server`] loops on the
//!    inherited sockets, with a [`QueryGuard`]: blacklisted queries are
//!    dropped, every other query is recorded in the slot while the engine
//!    works on it;
//! 6. stops cleanly on SIGTERM/SIGINT, as `serve` always did.
//!
//! TCP runs on a current-thread runtime, so one thread (one slot entry)
//! calls the engine for all of this worker's TCP connections.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing::{debug, info};

use crate::blacklist::Watcher;
use crate::bundle::Bundle;
use crate::engine::{EngineKind, Identity};
use crate::health::watch::HealthWatcher;
use crate::king::BundleSource;
use crate::server::{QueryGuard, Server, ServerConfig, Sockets, shutdown_signal};
use crate::slot::{Slot, State};
use crate::state::StateDir;
use crate::sys;

/// The exit status of a worker that could not load its bundle; its slot
/// holds the error.
pub const EXIT_LOAD_FAILED: i32 = 3;

/// A socket inherited from the king: the address it is bound to and its
/// descriptor number, written `ADDR=FD` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InheritedSocket {
    /// The bound address (for logs and errors).
    pub addr: SocketAddr,
    /// The descriptor number in the worker.
    pub fd: RawFd,
}

impl FromStr for InheritedSocket {
    type Err = String;
    fn from_str(s: &str) -> Result<InheritedSocket, String> {
        let (addr, fd) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("`{s}` is not ADDR=FD"))?;
        Ok(InheritedSocket {
            addr: addr.parse().map_err(|e| format!("`{addr}`: {e}"))?,
            fd: fd.parse().map_err(|e| format!("`{fd}`: {e}"))?,
        })
    }
}

impl std::fmt::Display for InheritedSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.addr, self.fd)
    }
}

/// Everything a worker is told by its king.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's number under its king (for logs).
    pub index: usize,
    /// The king's process id; the worker exits if it is not its parent.
    pub king: u32,
    /// The zone data to load (and, from a state directory, to follow).
    pub bundle: BundleSource,
    /// The engine to load it with.
    pub engine: EngineKind,
    /// The NSID / CHAOS identity text, `None` for none.
    pub identity: Option<String>,
    /// UDP sockets, one per listen address.
    pub udp: Vec<InheritedSocket>,
    /// TCP listeners (none when this worker takes no TCP connections).
    pub tcp: Vec<InheritedSocket>,
    /// The slot's descriptor.
    pub slot: RawFd,
    /// The blacklist file to follow.
    pub blacklist: PathBuf,
    /// The health file to follow, if any.
    pub health: Option<PathBuf>,
    /// TCP idle timeout.
    pub tcp_idle_timeout: Duration,
    /// TCP connections this worker may hold at once.
    pub tcp_max_connections: usize,
}

/// Why a worker stopped with an error; `main` prints it.
#[derive(Debug, thiserror::Error)]
#[error("worker {index}: {message}")]
pub struct WorkerError {
    /// The worker's number.
    pub index: usize,
    /// What went wrong.
    pub message: String,
}

/// Run a worker until SIGTERM/SIGINT. Returns the process exit status:
/// 0 after a clean stop, [`EXIT_LOAD_FAILED`] when the bundle could not be
/// loaded.
pub fn run(config: WorkerConfig) -> Result<i32, WorkerError> {
    let fail = |message: String| WorkerError {
        index: config.index,
        message,
    };
    sys::die_with_parent(config.king).map_err(|e| fail(format!("cannot follow the king: {e}")))?;
    let slot_fd = sys::adopt(config.slot).map_err(|e| fail(format!("slot: {e}")))?;
    let slot = Slot::open(std::fs::File::from(slot_fd)).map_err(|e| fail(format!("slot: {e}")))?;
    let mut sockets = Sockets {
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    for s in &config.udp {
        let fd = sys::adopt(s.fd).map_err(|e| fail(format!("UDP {}: {e}", s.addr)))?;
        sockets.udp.push((s.addr, UdpSocket::from(fd)));
    }
    for s in &config.tcp {
        let fd = sys::adopt(s.fd).map_err(|e| fail(format!("TCP {}: {e}", s.addr)))?;
        sockets.tcp.push((s.addr, TcpListener::from(fd)));
    }

    let identity = Identity {
        id: config.identity.clone().filter(|id| !id.is_empty()),
    };
    // How often a worker serving a state directory looks at dns/current
    // (besides the file-system events it watches).
    let follow_poll = Duration::from_secs(1);
    let state = match &config.bundle {
        BundleSource::Fixed(_) => None,
        BundleSource::State(dir) => {
            Some(StateDir::open(dir).map_err(|e| fail(format!("state {}: {e}", dir.display())))?)
        }
    };
    let path = match (&state, &config.bundle) {
        (Some(state), _) => crate::follow::wait_for_live(state, follow_poll).path,
        (None, source) => source.path().to_path_buf(),
    };
    let mut loaded = None;
    let engine = match Bundle::open(&path)
        .map_err(|e| e.to_string())
        .and_then(|bundle| {
            loaded = Some(bundle.id());
            let engine = config
                .engine
                .open(&bundle, identity)
                .map_err(|e| format!("engine {}: {e}", config.engine))?;
            info!(
                worker = config.index,
                bundle = %bundle.id(),
                engine = %config.engine,
                "bundle loaded"
            );
            Ok(engine)
        }) {
        Ok(engine) => engine,
        Err(message) => {
            debug!(worker = config.index, "{message}");
            slot.fail_load(&message);
            return Ok(EXIT_LOAD_FAILED);
        }
    };
    if let Some(id) = &loaded {
        slot.set_bundle(id);
    }
    if let (Some(state), Some(id)) = (state, loaded) {
        // The follower tells the king (through the slot) of every swap.
        let swaps = slot
            .file()
            .try_clone()
            .and_then(Slot::open)
            .map_err(|e| fail(format!("slot: {e}")))?;
        let on_swap = move |id: &crate::bundle::BundleId| swaps.set_bundle(id);
        crate::follow::spawn(
            state,
            std::sync::Arc::clone(&engine),
            id,
            follow_poll,
            on_swap,
        )
        .map_err(|e| fail(format!("cannot follow dns/current: {e}")))?;
    }

    let watcher =
        Watcher::start(config.blacklist.clone(), config.engine).map_err(|e| fail(e.to_string()))?;
    let health = match &config.health {
        Some(path) => Some(
            HealthWatcher::start(path.clone(), std::sync::Arc::clone(&engine))
                .map_err(|e| fail(format!("cannot follow {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let mut server_config = ServerConfig::new(Vec::new());
    server_config.tcp_idle_timeout = config.tcp_idle_timeout;
    server_config.tcp_max_connections = config.tcp_max_connections.max(1);
    // Queries that arrive from here on wait in the sockets' queues for the
    // loops, which start at once.
    slot.set_state(State::Serving);
    let server = Server::new(server_config, engine, sockets).with_guard(QueryGuard {
        blacklist: watcher.set(),
        slot,
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        server.run(shutdown).await
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    drop(watcher);
    drop(health);
    result.map_err(|e| fail(format!("cannot serve: {e}")))?;
    Ok(0)
}
