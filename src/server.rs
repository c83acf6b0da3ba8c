//! Sockets: UDP and TCP listeners that hand raw queries to an engine.
//!
//! This is the shared layer both stripes run, so it only moves bytes: every
//! query goes to [`Engine::answer`] unchanged and whatever the engine wrote
//! goes back. It holds no DNS knowledge beyond the two-octet TCP framing.
//!
//! # Design
//!
//! - **UDP**: for every listen address, one `SO_REUSEPORT` socket per worker
//!   thread. Each thread runs `udp_loop` over batches: take every datagram
//!   queued (up to [`UDP_BATCH`]) with one `recvmmsg`, load the blacklist
//!   once, answer each datagram into its own buffer, send the answers with
//!   one `sendmmsg` (`crate::sys::UdpBatch`; elsewhere than on Linux, one
//!   datagram at a time with `recv_from`/`send_to`). All buffers are
//!   allocated when the loop starts, so a query costs no allocation
//!   (`tests/no_alloc.rs` checks it). A short read timeout lets the thread
//!   see shutdown. Which socket a datagram goes to is the address's
//!   [`UdpSteering`]: by default socket `i` is tied to CPU `i` modulo the
//!   cores (`SO_INCOMING_CPU`), so the datagrams a CPU's network stack
//!   receives wake one worker and batch up in one queue; on loopback
//!   under dnsperf this took about a quarter off the CPU time per query
//!   (2.72 to 1.95 µs, medians of alternating runs), with two to three
//!   times as many queries per context switch, against the plain
//!   `SO_REUSEPORT` hash.
//! - **TCP** (RFC 7766, RFC 1035 4.2.2): one tokio task per listener accepts
//!   connections while a [`Semaphore`] permit is available, and one task per
//!   connection reads length-prefixed queries and answers them in order
//!   (pipelined queries included). The engine is synchronous and fast, so it
//!   is called inline. A whole message must arrive within the idle timeout,
//!   which closes idle and slow-loris connections alike; a write that cannot
//!   finish within the write timeout closes the connection too.
//! - **Query guard** (in workers): with a [`QueryGuard`], every query is
//!   recorded in the worker's [`Slot`] entry for the calling thread (UDP
//!   socket `i` uses entry `i`, TCP the entry after the last socket) before
//!   the engine sees it, and cleared when the engine returns. While the
//!   blacklist is not empty, each query is fingerprinted first and a
//!   blacklisted one is dropped; with an empty blacklist nothing is
//!   fingerprinted (the king fingerprints the recorded octets itself when a
//!   worker dies or hangs). The blacklist is loaded once per UDP batch and
//!   once per TCP query.
//!   Then the query is counted in that entry's counters
//!   ([`crate::metrics::counters`]).
//! - **Shutdown**: [`Server::run`] takes a future that resolves on
//!   SIGTERM/SIGINT (see [`shutdown_signal`]). It then raises a flag the UDP
//!   threads poll and a `watch` channel every TCP task selects on, and waits
//!   for the listeners and threads to finish.
//!
//! All sockets are bound by [`Sockets::bind`] before anything is served, so
//! an address that cannot be bound fails the whole server with an error
//! naming it. A king binds them and hands them to its workers, which build
//! their [`Server`] from them with [`Server::new`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::blacklist::FingerprintSet;
use crate::engine::{Engine, Outcome, Transport};
use crate::fingerprint::Fingerprint;
use crate::slot::Slot;

/// The largest UDP datagram we accept (the IPv4/IPv6 payload limit).
pub const UDP_RECV_BUFFER: usize = 65_535;

/// Datagrams a UDP thread takes from its socket with one system call (and
/// answers with one). Buffers for that many queries and answers are
/// allocated once per thread; their pages are only touched as datagrams
/// fill them.
pub const UDP_BATCH: usize = 32;

/// How often a UDP worker that receives nothing looks at the shutdown flag.
const UDP_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The listen backlog of TCP listeners.
const TCP_BACKLOG: i32 = 1024;

/// The smallest DNS message: a bare 12-octet header.
const DNS_HEADER_LEN: usize = 12;

/// How the server listens and what it bounds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses answered on, each with UDP and TCP.
    pub listen: Vec<SocketAddr>,
    /// UDP sockets (and threads) per listen address; spreads load over cores.
    pub udp_workers: usize,
    /// How the kernel picks one of an address's UDP sockets for a datagram.
    pub udp_steering: UdpSteering,
    /// How long a TCP connection may wait for its next whole query before it
    /// is closed (RFC 7766 6.2.3); also ends slow-loris clients.
    pub tcp_idle_timeout: Duration,
    /// How long writing one TCP answer may take before the connection is
    /// closed, so a client that never reads cannot hold a connection.
    pub tcp_write_timeout: Duration,
    /// Open TCP connections allowed at once, over all listen addresses, so
    /// many clients cannot exhaust file descriptors or memory.
    pub tcp_max_connections: usize,
}

impl ServerConfig {
    /// A configuration for `listen` with the default limits: one UDP worker
    /// per core, 10 s idle timeout, 10 s write timeout, 1024 connections.
    pub fn new(listen: Vec<SocketAddr>) -> ServerConfig {
        ServerConfig {
            listen,
            udp_workers: default_udp_workers(),
            udp_steering: UdpSteering::default(),
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_write_timeout: Duration::from_secs(10),
            tcp_max_connections: 1024,
        }
    }
}

/// The number of cores, at least 1: the default count of UDP workers.
pub fn default_udp_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How the kernel chooses which of an address's `SO_REUSEPORT` UDP sockets
/// receives a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpSteering {
    /// Socket `i` of an address is tied to CPU `i` modulo the number of
    /// cores (`SO_INCOMING_CPU`, Linux): a datagram goes to the socket of
    /// the CPU whose network stack received it, and to the hash's choice
    /// when no socket has that CPU. With a receive queue per CPU (RSS or
    /// RPS) every worker gets its CPU's share. Where the kernel lacks the
    /// option this is [`UdpSteering::Hash`].
    #[default]
    Cpu,
    /// A hash of each datagram's addresses and ports picks the socket
    /// (plain `SO_REUSEPORT`). For a host whose datagrams are all received
    /// on one CPU (one receive queue, no RPS), where `Cpu` would give all
    /// of them to one worker.
    Hash,
}

impl std::str::FromStr for UdpSteering {
    type Err = String;

    fn from_str(s: &str) -> Result<UdpSteering, String> {
        match s {
            "cpu" => Ok(UdpSteering::Cpu),
            "hash" => Ok(UdpSteering::Hash),
            _ => Err(format!("unknown UDP steering {s:?} (cpu or hash)")),
        }
    }
}

impl std::fmt::Display for UdpSteering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UdpSteering::Cpu => "cpu",
            UdpSteering::Hash => "hash",
        })
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A socket could not be created, configured or bound.
    #[error("cannot listen on {proto} {addr}: {source}")]
    Bind {
        /// `UDP` or `TCP`.
        proto: &'static str,
        /// The address that failed.
        addr: SocketAddr,
        /// The operating system's error (address in use, not available...).
        source: io::Error,
    },
    /// The configuration lists no listen address.
    #[error("no listen address given")]
    NoListen,
}

/// The listening sockets of a server, bound and not served yet.
#[derive(Debug)]
pub struct Sockets {
    /// For every listen address, `udp_per_address` `SO_REUSEPORT` sockets,
    /// address by address.
    pub udp: Vec<(SocketAddr, UdpSocket)>,
    /// One listener per listen address, in the order given.
    pub tcp: Vec<(SocketAddr, StdTcpListener)>,
}

impl Sockets {
    /// Bind a TCP listener and `udp_per_address` UDP sockets (at least one)
    /// on every address of `listen`, steered by `steering`. An address that
    /// cannot be bound gives an error naming it.
    pub fn bind(
        listen: &[SocketAddr],
        udp_per_address: usize,
        steering: UdpSteering,
    ) -> Result<Sockets, ServerError> {
        if listen.is_empty() {
            return Err(ServerError::NoListen);
        }
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for &addr in listen {
            // TCP first: with port 0 it picks the port the UDP sockets share.
            let listener = bind_tcp(addr).map_err(|source| ServerError::Bind {
                proto: "TCP",
                addr,
                source,
            })?;
            let local = listener.local_addr().map_err(|source| ServerError::Bind {
                proto: "TCP",
                addr,
                source,
            })?;
            let cores = default_udp_workers();
            for i in 0..udp_per_address.max(1) {
                let cpu = (steering == UdpSteering::Cpu).then_some(i % cores);
                let socket = bind_udp(local, cpu).map_err(|source| ServerError::Bind {
                    proto: "UDP",
                    addr: local,
                    source,
                })?;
                udp.push((local, socket));
            }
            tcp.push((local, listener));
        }
        Ok(Sockets { udp, tcp })
    }
}

/// What a worker checks and records around every engine call: the
/// blacklist it drops, and the slot where its king sees the query in
/// flight.
#[derive(Debug)]
pub struct QueryGuard {
    /// The fingerprints to drop, swapped whole when the blacklist changes.
    pub blacklist: Arc<ArcSwap<FingerprintSet>>,
    /// The worker's slot, shared with the king.
    pub slot: Slot,
}

/// All sockets of a server, bound and ready to serve.
#[derive(Debug)]
pub struct Server {
    /// The engine every query goes to.
    engine: Arc<dyn Engine>,
    /// Limits and timeouts.
    config: ServerConfig,
    /// The sockets: each UDP socket is served by one thread.
    sockets: Sockets,
    /// The blacklist and slot of a worker; `None` answers every query.
    guard: Option<Arc<QueryGuard>>,
}

impl Server {
    /// Bind every socket of `config` (`udp_workers` UDP sockets per
    /// address). Nothing is served yet; an address that cannot be bound
    /// gives an error naming it.
    pub fn bind(config: ServerConfig, engine: Arc<dyn Engine>) -> Result<Server, ServerError> {
        let sockets = Sockets::bind(&config.listen, config.udp_workers, config.udp_steering)?;
        Ok(Server::new(config, engine, sockets))
    }

    /// A server for sockets bound already (a worker's, inherited from its
    /// king). `config.listen` and `config.udp_workers` are not used.
    pub fn new(config: ServerConfig, engine: Arc<dyn Engine>, sockets: Sockets) -> Server {
        Server {
            engine,
            config,
            sockets,
            guard: None,
        }
    }

    /// Check and record every query with `guard` before the engine sees it.
    /// All TCP connections share one slot entry, so run a guarded server on
    /// a current-thread runtime (as workers do): one thread calls the
    /// engine for TCP.
    pub fn with_guard(mut self, guard: QueryGuard) -> Server {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// The bound addresses, in the order of the configuration (with any
    /// port 0 replaced by the port chosen).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.tcp.iter().map(|(a, _)| *a).collect()
    }

    /// Serve until `shutdown` resolves, then stop accepting, end every loop
    /// and return. Must be called inside a tokio runtime.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let Server {
            engine,
            config,
            sockets,
            guard,
        } = self;
        let udp_sockets = sockets.udp.len();
        let mut loops = Loops::new();
        let started = loops.start(&engine, &config, sockets, guard);
        if started.is_ok() {
            info!(
                engine = %engine.kind(),
                udp_sockets,
                tcp_max_connections = config.tcp_max_connections,
                tcp_idle_timeout = ?config.tcp_idle_timeout,
                "serving"
            );
            shutdown.await;
            info!("shutting down");
        }
        // Also after a failed start: the loops already running must end.
        loops.stop().await;
        info!("stopped");
        started
    }
}

/// The running loops of a server and the means to stop them all.
#[derive(Debug)]
struct Loops {
    /// Raised on shutdown; UDP threads poll it between receives.
    stop: Arc<AtomicBool>,
    /// Set to `true` on shutdown; every TCP task selects on a receiver.
    stop_tx: watch::Sender<bool>,
    /// The UDP threads, joined on shutdown.
    threads: Vec<JoinHandle<()>>,
    /// The TCP accept tasks, awaited on shutdown.
    listeners: JoinSet<()>,
}

impl Loops {
    /// No loops yet.
    fn new() -> Loops {
        Loops {
            stop: Arc::new(AtomicBool::new(false)),
            stop_tx: watch::channel(false).0,
            threads: Vec::new(),
            listeners: JoinSet::new(),
        }
    }

    /// Spawn one thread per UDP socket and one accept task per TCP
    /// listener. On error the loops already started keep running until
    /// [`Loops::stop`].
    fn start(
        &mut self,
        engine: &Arc<dyn Engine>,
        config: &ServerConfig,
        sockets: Sockets,
        guard: Option<Arc<QueryGuard>>,
    ) -> io::Result<()> {
        let Sockets { udp, tcp } = sockets;
        // TCP answers on one thread (the worker's runtime), entry after UDP.
        let tcp_entry = udp.len();
        for (i, (addr, socket)) in udp.into_iter().enumerate() {
            let engine = Arc::clone(engine);
            let stop = Arc::clone(&self.stop);
            let guard = guard.clone();
            let handle = std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || {
                    let guard = guard.as_deref().map(|g| (g, i));
                    // Allocated here, in the thread that uses them.
                    let mut batch = datagrams();
                    udp_loop(&socket, addr, engine.as_ref(), guard, &stop, &mut batch)
                })?;
            self.threads.push(handle);
        }
        let limits = Arc::new(TcpLimits {
            connections: Arc::new(Semaphore::new(config.tcp_max_connections.max(1))),
            idle_timeout: config.tcp_idle_timeout,
            write_timeout: config.tcp_write_timeout,
        });
        for (addr, std_listener) in tcp {
            std_listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std_listener)?;
            self.listeners.spawn(tcp_accept_loop(
                listener,
                addr,
                Arc::clone(engine),
                Arc::clone(&limits),
                guard.clone().map(|g| (g, tcp_entry)),
                self.stop_tx.subscribe(),
            ));
        }
        Ok(())
    }

    /// Tell every loop to end and wait for the UDP threads and the accept
    /// tasks. Connection tasks see the same signal and close on their own.
    async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.stop_tx.send_replace(true);
        while self.listeners.join_next().await.is_some() {}
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Resolves on the first SIGTERM or SIGINT. Installs the handlers when
/// called, so call it before serving and await the result later.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
    })
}

/// A UDP socket with `SO_REUSEADDR` and `SO_REUSEPORT`, so one socket per
/// worker can share the address and the kernel spreads queries over them;
/// tied to `cpu` ([`UdpSteering::Cpu`]) where the kernel can.
fn bind_udp(addr: SocketAddr, cpu: Option<usize>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if let Some(cpu) = cpu {
        steer(&socket, cpu);
    }
    socket.bind(&addr.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(UDP_POLL_INTERVAL))?;
    Ok(socket)
}

/// Tie `socket` to `cpu` with `SO_INCOMING_CPU`. It only steers, so a
/// kernel without it leaves the socket to the hash, which is logged.
#[cfg(target_os = "linux")]
fn steer(socket: &Socket, cpu: usize) {
    if let Err(e) = socket.set_cpu_affinity(cpu) {
        debug!(cpu, error = %e, "SO_INCOMING_CPU not set; the hash steers UDP");
    }
}

/// Only Linux has `SO_INCOMING_CPU`; elsewhere the hash steers.
#[cfg(not(target_os = "linux"))]
fn steer(_socket: &Socket, _cpu: usize) {}

/// A TCP listener with `SO_REUSEADDR` (a restart need not wait out
/// TIME_WAIT) and no `SO_REUSEPORT`, so a second server cannot share it.
fn bind_tcp(addr: SocketAddr) -> io::Result<StdTcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_BACKLOG)?;
    Ok(socket.into())
}

/// A worker's guard as one thread uses it for a batch of queries: the
/// blacklist as loaded for the batch, and the thread's slot entry.
#[derive(Debug, Clone, Copy)]
struct Check<'g> {
    /// The fingerprints to drop, loaded once for the batch.
    blacklist: &'g FingerprintSet,
    /// The worker's slot.
    slot: &'g Slot,
    /// The calling thread's entry in `slot`.
    entry: usize,
    /// The query is datagram `i` of the batch held in the entry
    /// ([`Slot::hold`]); `None` records it alone.
    held: Option<usize>,
}

/// The check of a worker, `None` in a server without a guard.
type Guarded<'g> = Option<Check<'g>>;

/// A worker's guard and the slot entry of the calling thread; `None` in a
/// server without a guard.
type GuardEntry<'g> = Option<(&'g QueryGuard, usize)>;

/// The check of `guard` with the blacklist loaded for a batch.
fn checks<'g>(guard: GuardEntry<'g>, blacklist: Option<&'g Arc<FingerprintSet>>) -> Guarded<'g> {
    let ((guard, entry), blacklist) = guard.zip(blacklist)?;
    Some(Check {
        blacklist,
        slot: &guard.slot,
        entry,
        held: None,
    })
}

/// Call the engine, turning a panic (a broken promise of the engine) into a
/// dropped query so that one packet cannot end a loop. With a guard, a
/// blacklisted query is dropped before the engine sees it and any other is
/// recorded in the slot while the engine works on it.
fn answer_guarded(
    engine: &dyn Engine,
    guard: Guarded<'_>,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    let Some(check) = guard else {
        return answer_caught(engine, query, transport, out);
    };
    if !Fingerprint::applies(query) {
        // Too short or a response: no engine answers it, nothing to record.
        return answer_caught(engine, query, transport, out);
    }
    // Fingerprint only when something is blacklisted: otherwise the slot
    // keeps the query's octets and the king fingerprints them if the
    // engine crashes or hangs on it.
    let mut fingerprint = None;
    if !check.blacklist.is_empty() {
        fingerprint = Fingerprint::of(query, engine.kind());
        if let Some(fingerprint) = fingerprint
            && check.blacklist.contains(fingerprint)
        {
            debug!(%fingerprint, ?transport, "blacklisted query dropped");
            check.slot.counters(check.entry).blacklist_drop();
            out.clear();
            return Outcome::Drop;
        }
    }
    match check.held {
        Some(i) => check.slot.begin_held(check.entry, i, query, fingerprint),
        None => check.slot.begin(check.entry, query, fingerprint),
    }
    let outcome = answer_caught(engine, query, transport, out);
    check.slot.end(check.entry);
    check
        .slot
        .counters(check.entry)
        .answered(query, transport, outcome, out);
    outcome
}

/// Call the engine, catching a panic.
fn answer_caught(
    engine: &dyn Engine,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| engine.answer(query, transport, out))) {
        Ok(outcome) => outcome,
        Err(_) => {
            error!(
                engine = %engine.kind(),
                len = query.len(),
                ?transport,
                "engine panicked on a query; dropped it"
            );
            out.clear();
            Outcome::Drop
        }
    }
}

/// The datagrams of one round of a UDP thread: received together,
/// answered one by one, sent together.
trait Datagrams {
    /// Wait for datagrams on `socket` (up to its read timeout) and take
    /// those queued; returns how many.
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize>;
    /// Datagrams taken by the last `recv`.
    fn len(&self) -> usize;
    /// Datagram `i`.
    fn query(&self, i: usize) -> &[u8];
    /// The sender of datagram `i`.
    fn peer(&self, i: usize) -> Option<SocketAddr>;
    /// Datagram `i` and the buffer for its answer.
    fn query_and_answer(&mut self, i: usize) -> (&[u8], &mut Vec<u8>);
    /// Send the answer to datagram `i` with the next `send`.
    fn reply(&mut self, i: usize);
    /// Send the answers marked, reporting each that fails with its peer.
    fn send(&mut self, socket: &UdpSocket, failed: &mut dyn FnMut(Option<SocketAddr>, io::Error));
}

#[cfg(target_os = "linux")]
impl Datagrams for crate::sys::UdpBatch {
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        crate::sys::UdpBatch::recv(self, socket)
    }
    fn len(&self) -> usize {
        crate::sys::UdpBatch::len(self)
    }
    fn query(&self, i: usize) -> &[u8] {
        crate::sys::UdpBatch::query(self, i)
    }
    fn peer(&self, i: usize) -> Option<SocketAddr> {
        crate::sys::UdpBatch::peer(self, i)
    }
    fn query_and_answer(&mut self, i: usize) -> (&[u8], &mut Vec<u8>) {
        crate::sys::UdpBatch::query_and_answer(self, i)
    }
    fn reply(&mut self, i: usize) {
        crate::sys::UdpBatch::reply(self, i);
    }
    fn send(&mut self, socket: &UdpSocket, failed: &mut dyn FnMut(Option<SocketAddr>, io::Error)) {
        crate::sys::UdpBatch::send(self, socket, failed);
    }
}

/// The portable round: one datagram with `recv_from`, its answer with
/// `send_to`. Used where `recvmmsg` is missing, and by the tests.
#[cfg_attr(target_os = "linux", allow(dead_code))]
#[derive(Debug)]
struct OneDatagram {
    /// Room for the datagram.
    query: Vec<u8>,
    /// Its length; 0 when none was taken.
    len: usize,
    /// Its sender.
    peer: Option<SocketAddr>,
    /// The answer.
    answer: Vec<u8>,
    /// Whether to send the answer.
    reply: bool,
}

#[cfg_attr(target_os = "linux", allow(dead_code))]
impl OneDatagram {
    /// Buffers for a datagram and its answer, allocated once.
    fn new() -> OneDatagram {
        OneDatagram {
            query: vec![0u8; UDP_RECV_BUFFER],
            len: 0,
            peer: None,
            answer: Vec::with_capacity(UDP_RECV_BUFFER),
            reply: false,
        }
    }
}

impl Datagrams for OneDatagram {
    fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.peer = None;
        self.reply = false;
        let (len, peer) = socket.recv_from(&mut self.query)?;
        self.len = len;
        self.peer = Some(peer);
        Ok(1)
    }
    fn len(&self) -> usize {
        usize::from(self.peer.is_some())
    }
    fn query(&self, _i: usize) -> &[u8] {
        &self.query[..self.len]
    }
    fn peer(&self, _i: usize) -> Option<SocketAddr> {
        self.peer
    }
    fn query_and_answer(&mut self, _i: usize) -> (&[u8], &mut Vec<u8>) {
        (&self.query[..self.len], &mut self.answer)
    }
    fn reply(&mut self, _i: usize) {
        self.reply = true;
    }
    fn send(&mut self, socket: &UdpSocket, failed: &mut dyn FnMut(Option<SocketAddr>, io::Error)) {
        if let (true, Some(peer)) = (self.reply, self.peer)
            && let Err(e) = socket.send_to(&self.answer, peer)
        {
            failed(Some(peer), e);
        }
    }
}

/// The datagram rounds of this platform.
#[cfg(target_os = "linux")]
fn datagrams() -> crate::sys::UdpBatch {
    crate::sys::UdpBatch::new(UDP_BATCH, UDP_RECV_BUFFER)
}

/// The datagram rounds of this platform.
#[cfg(not(target_os = "linux"))]
fn datagrams() -> OneDatagram {
    OneDatagram::new()
}

/// Answer the datagrams a dead predecessor held in this thread's slot
/// entry without sending their answers (all but the one it died on), on
/// the socket it shared with this thread.
fn answer_held(socket: &UdpSocket, addr: SocketAddr, engine: &dyn Engine, guard: GuardEntry<'_>) {
    let Some((g, entry)) = guard else {
        return;
    };
    let held = g.slot.take_held(entry);
    if held.is_empty() {
        return;
    }
    info!(%addr, queries = held.len(), "answering the queries the previous worker held");
    let blacklist = g.blacklist.load();
    let check = checks(guard, Some(&blacklist));
    let mut out = Vec::new();
    for (query, peer) in &held {
        if answer_guarded(engine, check, query, Transport::Udp, &mut out) == Outcome::Reply
            && let Err(e) = socket.send_to(&out, peer)
        {
            debug!(%addr, %peer, error = %e, "UDP send failed");
        }
    }
}

/// One UDP worker: receive a batch, answer each query, send the batch,
/// until `stop` is raised. With a guard, the batch is held in the slot
/// entry until its answers are sent. The buffers of `batch` live as long
/// as the loop, so a query allocates nothing (each answer buffer keeps
/// its capacity between rounds).
fn udp_loop(
    socket: &UdpSocket,
    addr: SocketAddr,
    engine: &dyn Engine,
    guard: GuardEntry<'_>,
    stop: &AtomicBool,
    batch: &mut dyn Datagrams,
) {
    debug!(%addr, "UDP worker started");
    answer_held(socket, addr, engine, guard);
    while !stop.load(Ordering::Relaxed) {
        match batch.recv(socket) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Errors such as ICMP reports for earlier sends are not
                // fatal; the pause keeps a persistent error from spinning.
                debug!(%addr, error = %e, "UDP receive failed");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        // One load of the blacklist for the whole batch.
        let blacklist = guard.map(|(g, _)| g.blacklist.load());
        let check = checks(guard, blacklist.as_deref());
        // Should a query of the batch kill the worker, its replacement
        // answers the others.
        if let Some(check) = check {
            let held = &*batch;
            check.slot.hold(
                check.entry,
                (0..held.len()).map(|i| (held.query(i), held.peer(i))),
            );
        }
        for i in 0..batch.len() {
            let check = check.map(|c| Check { held: Some(i), ..c });
            let (query, out) = batch.query_and_answer(i);
            if answer_guarded(engine, check, query, Transport::Udp, out) == Outcome::Reply {
                batch.reply(i);
            }
        }
        drop(blacklist);
        batch.send(socket, &mut |peer, e| {
            debug!(%addr, ?peer, error = %e, "UDP send failed");
        });
        if let Some((g, entry)) = guard {
            g.slot.release(entry);
        }
    }
    debug!(%addr, "UDP worker stopped");
}

/// What every TCP connection of a server shares.
#[derive(Debug)]
struct TcpLimits {
    /// One permit per open connection; accepting waits for a free permit.
    connections: Arc<Semaphore>,
    /// Time allowed for the next whole query to arrive.
    idle_timeout: Duration,
    /// Time allowed for writing the answers to a batch of queries.
    write_timeout: Duration,
}

/// Accept connections on one listener while permits last, until shutdown.
async fn tcp_accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    engine: Arc<dyn Engine>,
    limits: Arc<TcpLimits>,
    guard: Option<(Arc<QueryGuard>, usize)>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // Wait for a permit before accepting: extra clients wait in the
        // kernel's backlog instead of holding a descriptor here.
        let permit = tokio::select! {
            p = Arc::clone(&limits.connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep going.
                    warn!(%addr, error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Answers are flushed once per batch of queries; send them now.
        let _ = stream.set_nodelay(true);
        let engine = Arc::clone(&engine);
        let limits = Arc::clone(&limits);
        let guard = guard.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let guard = guard.as_ref().map(|(g, e)| (g.as_ref(), *e));
            match tcp_connection(stream, engine.as_ref(), guard, &limits, stop).await {
                Ok(()) => debug!(%peer, "TCP connection closed"),
                Err(e) => debug!(%peer, error = %e, "TCP connection ended"),
            }
        });
    }
}

/// Why a TCP connection ended early.
#[derive(Debug, Error)]
enum ConnectionEnd {
    /// No whole query arrived within the idle timeout.
    #[error("idle timeout")]
    Idle,
    /// Answers could not be written within the write timeout.
    #[error("write timeout")]
    WriteTimeout,
    /// A frame too short to hold a DNS header (zero length included).
    #[error("frame of {0} octets is too short")]
    ShortFrame(usize),
    /// The engine produced more than a TCP frame can carry.
    #[error("answer of {0} octets does not fit a TCP frame")]
    AnswerTooLong(usize),
    /// The server is shutting down.
    #[error("shutdown")]
    Shutdown,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Serve one TCP connection: read length-prefixed queries and answer each
/// in order, until the client closes, the idle timeout passes, a frame is
/// bad, or shutdown.
async fn tcp_connection(
    stream: TcpStream,
    engine: &dyn Engine,
    guard: GuardEntry<'_>,
    limits: &TcpLimits,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnectionEnd> {
    let (rd, wr) = stream.into_split();
    let mut reader = BufReader::with_capacity(16 * 1024, rd);
    let mut writer = BufWriter::with_capacity(16 * 1024, wr);
    // Grows to the largest query seen on this connection, not beyond.
    let mut query = Vec::new();
    let mut out = Vec::with_capacity(4096);
    loop {
        // The whole message (length and body) must arrive within the idle
        // timeout: one deadline, not one per read, so trickling bytes does
        // not keep a connection open.
        let read = async {
            let mut len = [0u8; 2];
            match reader.read_exact(&mut len).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            let len = usize::from(u16::from_be_bytes(len));
            if len < DNS_HEADER_LEN {
                return Ok(Some(Err(len)));
            }
            if query.len() < len {
                query.resize(len, 0);
            }
            reader.read_exact(&mut query[..len]).await?;
            Ok(Some(Ok(len)))
        };
        let len = tokio::select! {
            r = tokio::time::timeout(limits.idle_timeout, read) => match r {
                Err(_) => return Err(ConnectionEnd::Idle),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(Err(short)))) => return Err(ConnectionEnd::ShortFrame(short)),
                Ok(Ok(Some(Ok(len)))) => len,
            },
            _ = stop.changed() => return Err(ConnectionEnd::Shutdown),
        };

        // One load of the blacklist per query: TCP has no batches.
        let blacklist = guard.map(|(g, _)| g.blacklist.load());
        let check = checks(guard, blacklist.as_deref());
        let outcome = answer_guarded(engine, check, &query[..len], Transport::Tcp, &mut out);
        drop(blacklist);
        if outcome == Outcome::Reply {
            let Ok(frame_len) = u16::try_from(out.len()) else {
                return Err(ConnectionEnd::AnswerTooLong(out.len()));
            };
            write_bounded(&mut writer, &frame_len.to_be_bytes(), limits).await?;
            write_bounded(&mut writer, &out, limits).await?;
        }
        // Answers to pipelined queries already received go out together;
        // flush as soon as the next query is not complete yet, or the client
        // could wait for this answer while we wait for its next query.
        if !holds_whole_frame(reader.buffer()) {
            match tokio::time::timeout(limits.write_timeout, writer.flush()).await {
                Err(_) => return Err(ConnectionEnd::WriteTimeout),
                Ok(r) => r?,
            }
        }
    }
}

/// True when `buf` starts with a whole length-prefixed frame.
fn holds_whole_frame(buf: &[u8]) -> bool {
    match buf {
        [hi, lo, rest @ ..] => rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => false,
    }
}

/// Write `bytes` into the buffered writer within the write timeout.
async fn write_bounded<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    limits: &TcpLimits,
) -> Result<(), ConnectionEnd> {
    match tokio::time::timeout(limits.write_timeout, writer.write_all(bytes)).await {
        Err(_) => Err(ConnectionEnd::WriteTimeout),
        Ok(r) => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frame_detection() {
        assert!(!holds_whole_frame(&[]));
        assert!(!holds_whole_frame(&[0]));
        assert!(holds_whole_frame(&[0, 0]));
        assert!(!holds_whole_frame(&[0, 3, 1, 2]));
        assert!(holds_whole_frame(&[0, 3, 1, 2, 3]));
        assert!(holds_whole_frame(&[0, 1, 1, 0, 9]));
    }

    /// An engine that checks, while it answers, that the query is recorded
    /// in entry 0 of the slot it sees through its own mapping.
    #[derive(Debug)]
    struct SlotPeekEngine {
        /// The worker's slot, mapped a second time.
        slot: Slot,
    }

    impl Engine for SlotPeekEngine {
        fn kind(&self) -> crate::engine::EngineKind {
            crate::engine::EngineKind::Native
        }

        fn reload(
            &self,
            _bundle: &crate::bundle::Bundle,
        ) -> Result<(), crate::bundle::BundleError> {
            Ok(())
        }

        fn set_health(&self, _health: Arc<crate::fleet::HealthState>) {}

        fn answer(&self, query: &[u8], _transport: Transport, out: &mut Vec<u8>) -> Outcome {
            let seen = self
                .slot
                .current(0)
                .expect("query recorded before the engine");
            assert_eq!(Some(seen.fingerprint), Fingerprint::of(query, self.kind()));
            assert_eq!(seen.query, query);
            out.clear();
            out.extend_from_slice(query);
            Outcome::Reply
        }
    }

    #[test]
    fn guard_drops_blacklisted_queries_and_records_the_others() {
        use crate::blacklist::Entry;
        use crate::engine::EngineKind;
        let mut bad = header(1, 0);
        bad[5] = 1;
        bad.extend_from_slice(b"\x0ccrash-native\x07example\x00\x00\x01\x00\x01");
        let mut good = bad.clone();
        good[13] = b'C';
        good[14] = b'a'; // "Caash-native": another question
        let entry = Entry {
            fingerprint: Fingerprint::of(&bad, EngineKind::Native).unwrap(),
            engine: EngineKind::Native,
            count: 1,
            first_seen: 0,
            last_seen: 0,
            question: String::new(),
        };
        let slot = Slot::create(2, EngineKind::Native).unwrap();
        let engine = SlotPeekEngine {
            slot: Slot::open(slot.file().try_clone().unwrap()).unwrap(),
        };
        let guard = QueryGuard {
            blacklist: Arc::new(ArcSwap::from_pointee(FingerprintSet::for_engine(
                &[entry],
                EngineKind::Native,
            ))),
            slot,
        };
        let mut out = Vec::new();
        let mut other_id = bad.clone();
        other_id[0] = 0x77;
        let blacklist = guard.blacklist.load_full();
        let check = checks(Some((&guard, 0)), Some(&blacklist));
        for q in [&bad, &other_id] {
            let outcome = answer_guarded(&engine, check, q, Transport::Udp, &mut out);
            assert_eq!(outcome, Outcome::Drop);
            assert!(out.is_empty());
        }
        let outcome = answer_guarded(&engine, check, &good, Transport::Udp, &mut out);
        assert_eq!(outcome, Outcome::Reply);
        assert_eq!(out, good);
        assert!(
            guard.slot.in_flight().is_empty(),
            "not cleared after the answer"
        );

        // With nothing blacklisted, nothing is dropped, and the query is
        // still recorded (the engine checks it) for the king to
        // fingerprint.
        let empty = Arc::new(FingerprintSet::default());
        let check = checks(Some((&guard, 0)), Some(&empty));
        let outcome = answer_guarded(&engine, check, &bad, Transport::Udp, &mut out);
        assert_eq!(outcome, Outcome::Reply);
        assert_eq!(out, bad);
        assert!(guard.slot.in_flight().is_empty());
    }

    /// A stand-in engine: echoes the query with QR set, panics on a query
    /// whose third octet is 0xEE, and pads answers to `answer_len` octets.
    #[derive(Debug)]
    struct EchoEngine {
        /// Length of every answer, at least the query's.
        answer_len: usize,
    }

    impl Engine for EchoEngine {
        fn kind(&self) -> crate::engine::EngineKind {
            crate::engine::EngineKind::Native
        }

        fn reload(
            &self,
            _bundle: &crate::bundle::Bundle,
        ) -> Result<(), crate::bundle::BundleError> {
            Ok(())
        }

        fn set_health(&self, _health: Arc<crate::fleet::HealthState>) {}

        fn answer(&self, query: &[u8], _transport: Transport, out: &mut Vec<u8>) -> Outcome {
            out.clear();
            if query.len() < DNS_HEADER_LEN || query[2] & 0x80 != 0 {
                return Outcome::Drop;
            }
            assert_ne!(query[2], 0xEE, "query of death");
            out.extend_from_slice(query);
            out[2] |= 0x80;
            out.resize(out.len().max(self.answer_len), 0);
            Outcome::Reply
        }
    }

    /// A query header with ID `id` and third octet `flags`.
    fn header(id: u16, flags: u8) -> Vec<u8> {
        let mut q = vec![0u8; DNS_HEADER_LEN];
        q[..2].copy_from_slice(&id.to_be_bytes());
        q[2] = flags;
        q
    }

    /// Run a server with `config` (on 127.0.0.1:0) and `engine` on its own
    /// runtime thread; returns its address, a shutdown trigger and the
    /// thread, which ends when `run` returns.
    fn spawn_server(
        mut config: ServerConfig,
        engine: EchoEngine,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<io::Result<()>>,
    ) {
        config.listen = vec!["127.0.0.1:0".parse().unwrap()];
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let server = Server::bind(config, Arc::new(engine)).unwrap();
                addr_tx.send(server.local_addrs()[0]).unwrap();
                server
                    .run(async move {
                        let _ = rx.await;
                    })
                    .await
            })
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        (addr, tx, thread)
    }

    fn udp_ask(addr: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        s.send_to(q, addr).unwrap();
        let mut buf = vec![0u8; UDP_RECV_BUFFER];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    fn tcp_ask(stream: &mut std::net::TcpStream, q: &[u8]) -> io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(q);
        stream.write_all(&framed)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut a = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut a)?;
        Ok(a)
    }

    /// `SO_INCOMING_CPU` as the kernel reports it (-1 when not set).
    #[cfg(target_os = "linux")]
    fn incoming_cpu(socket: &UdpSocket) -> i64 {
        let cpu = Socket::from(socket.try_clone().unwrap())
            .cpu_affinity()
            .unwrap();
        // The option is a C int: its bits come back as a usize.
        i64::from(cpu as u32 as i32)
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_steering_ties_socket_i_to_cpu_i_and_hash_ties_none() {
        let cores = default_udp_workers();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sockets = Sockets::bind(&[addr], cores + 1, UdpSteering::Cpu).unwrap();
        let cpus: Vec<i64> = sockets.udp.iter().map(|(_, s)| incoming_cpu(s)).collect();
        let wanted: Vec<i64> = (0..=cores).map(|i| (i % cores) as i64).collect();
        assert_eq!(cpus, wanted);
        let sockets = Sockets::bind(&[addr], 2, UdpSteering::Hash).unwrap();
        for (_, s) in &sockets.udp {
            assert_eq!(incoming_cpu(s), -1);
        }
        assert_eq!("hash".parse::<UdpSteering>(), Ok(UdpSteering::Hash));
        assert_eq!(UdpSteering::Cpu.to_string().parse(), Ok(UdpSteering::Cpu));
        assert!("rss".parse::<UdpSteering>().is_err());
    }

    #[test]
    fn the_portable_udp_loop_answers_one_datagram_at_a_time() {
        let socket = bind_udp("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let engine = EchoEngine { answer_len: 0 };
                let mut one = OneDatagram::new();
                udp_loop(&socket, addr, &engine, None, &stop, &mut one);
            })
        };
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        // A burst, a response (dropped by the engine), then one more.
        for id in [1u16, 2, 3] {
            client.send_to(&header(id, 0), addr).unwrap();
        }
        client.send_to(&header(4, 0x80), addr).unwrap();
        client.send_to(&header(5, 0), addr).unwrap();
        let mut ids = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..4 {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(n, DNS_HEADER_LEN);
            assert_eq!(buf[2] & 0x80, 0x80);
            ids.push(u16::from_be_bytes([buf[0], buf[1]]));
        }
        assert_eq!(ids, [1, 2, 3, 5]);
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }

    #[test]
    fn engine_panic_does_not_end_the_loops_and_shutdown_is_prompt() {
        let mut config = ServerConfig::new(Vec::new());
        config.udp_workers = 1;
        let (addr, stop, thread) = spawn_server(config, EchoEngine { answer_len: 0 });

        assert!(udp_ask(addr, &header(1, 0xEE)).is_none());
        assert_eq!(udp_ask(addr, &header(2, 0)).unwrap()[..2], [0, 2]);

        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(tcp_ask(&mut conn, &header(3, 0)).unwrap()[..2], [0, 3]);
        // A dropped query gets no answer; the next one on the connection does.
        let mut both = vec![0, 12];
        both.extend_from_slice(&header(4, 0xEE));
        both.extend_from_slice(&[0, 12]);
        both.extend_from_slice(&header(5, 0));
        std::io::Write::write_all(&mut conn, &both).unwrap();
        let mut a = [0u8; 14];
        std::io::Read::read_exact(&mut conn, &mut a).unwrap();
        assert_eq!(a[2..4], [0, 5]);

        let start = std::time::Instant::now();
        stop.send(()).unwrap();
        thread.join().unwrap().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn client_that_never_reads_is_closed_at_the_write_timeout() {
        use std::io::Write;
        let mut config = ServerConfig::new(Vec::new());
        config.udp_workers = 1;
        config.tcp_max_connections = 1;
        config.tcp_write_timeout = Duration::from_millis(300);
        let (addr, stop, thread) = spawn_server(config, EchoEngine { answer_len: 60_000 });

        // Ask for far more than the socket buffers hold and never read.
        let mut greedy = std::net::TcpStream::connect(addr).unwrap();
        greedy
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut framed = vec![0, 12];
        framed.extend_from_slice(&header(6, 0));
        for _ in 0..1000 {
            if greedy.write_all(&framed).is_err() {
                break;
            }
        }
        // With one connection allowed, a second client is served only once
        // the greedy one has been closed.
        let mut next = std::net::TcpStream::connect(addr).unwrap();
        next.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let answer = tcp_ask(&mut next, &header(7, 0)).unwrap();
        assert_eq!(answer[..2], [0, 7]);
        drop(greedy);

        stop.send(()).unwrap();
        thread.join().unwrap().unwrap();
    }
}
