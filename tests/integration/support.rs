//! Helpers shared by the integration tests: bundles in temporary
//! directories, a `stripedns serve` process on a free loopback port, and
//! plain DNS over UDP and TCP.
//!
//! The API is deliberately small and has no DNS library behind it, so the
//! same helpers can drive other servers (Knot DNS, NSD) in differential
//! tests:
//!
//! - [`write_bundle`] / [`minimal_zone`]: a bundle directory to serve;
//! - [`ServeProcess::start`]: `stripedns serve` on a port its kernel picks
//!   (port 0) on a loopback address, waited for until it answers, killed on
//!   drop; its log can be searched and waited on;
//! - [`run_stripedns`]: any `stripedns` command, bounded in time;
//! - [`query`], [`udp_query`], [`tcp_exchange`], [`read_frame`]: build a
//!   query, send it, read answers;
//! - [`free_port`], [`ipv6_loopback`]: addresses that are safe to use while
//!   tests run in parallel.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The `stripedns` binary under test.
pub const STRIPEDNS: &str = env!("CARGO_BIN_EXE_stripedns");

/// How long a server may take to start answering.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The query type A.
pub const TYPE_A: u16 = 1;
/// The query type SOA.
pub const TYPE_SOA: u16 = 6;

/// A minimal valid zone for `origin` (`example.com.`): SOA, NS and A.
pub fn minimal_zone(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n\
         $TTL 3600\n\
         @    IN SOA ns1 hostmaster 1 7200 3600 1209600 3600\n\
         @    IN NS  ns1\n\
         ns1  IN A   192.0.2.1\n\
         www  IN A   192.0.2.10\n"
    )
}

/// A temporary bundle directory holding `files` as (file name, content).
/// The directory is removed when the returned value is dropped.
pub fn write_bundle(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("stripedns-bundle-")
        .tempdir()
        .expect("create a temporary directory");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write a zone file");
    }
    dir
}

/// A bundle serving `example.com.` with [`minimal_zone`].
pub fn example_bundle() -> TempDir {
    write_bundle(&[("example.com.zone", &minimal_zone("example.com."))])
}

/// True when `::1` can be bound on this machine.
pub fn ipv6_loopback() -> bool {
    UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A port free for both UDP and TCP on `ip` at the time of the call, chosen
/// by the kernel (bind to port 0). Another process may take it before it is
/// used, so prefer letting the server bind port 0 itself where it can.
pub fn free_port(ip: IpAddr) -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind((ip, 0)).expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

/// Output of a finished `stripedns` command.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Run `stripedns args...` to completion; kill it and panic if it takes
/// longer than `timeout`.
pub fn run_stripedns(args: &[&str], timeout: Duration) -> Finished {
    let mut child = Command::new(STRIPEDNS)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stripedns");
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = wait_timeout(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("stripedns {args:?} did not finish within {timeout:?}");
    });
    // The pipes close when the process exits; give the readers a moment.
    let text = |buf: &Arc<Mutex<String>>| {
        let deadline = Instant::now() + Duration::from_millis(500);
        while Arc::strong_count(buf) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        buf.lock().unwrap().clone()
    };
    Finished {
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

/// Read a pipe to its end on a thread, into a shared string.
pub fn collect(pipe: Option<impl Read + Send + 'static>) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    if let Some(mut pipe) = pipe {
        let shared = Arc::clone(&buf);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => shared
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n])),
                }
            }
        });
    }
    buf
}

/// A `stripedns` process running in the background (its foodtaster beside
/// it, `RUST_LOG=info`), killed on drop.
pub struct Daemon {
    /// The process.
    child: Child,
    /// Its stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    /// Start `stripedns args...`.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Daemon {
        let foodtaster = Path::new(STRIPEDNS).with_file_name("foodtaster");
        let mut child = Command::new(STRIPEDNS)
            .args(args)
            .env("RUST_LOG", "info")
            .env("STRIPEDNS_FOODTASTER", foodtaster)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stripedns");
        let stderr = collect(child.stderr.take());
        Daemon { child, stderr }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The addresses in the `listening on ADDR` lines of a server's log.
fn listening_addrs(log: &str) -> Vec<SocketAddr> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("listening on ")? + "listening on ".len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// Wait up to `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running `stripedns serve`, killed when dropped.
#[derive(Debug)]
pub struct ServeProcess {
    /// The server process.
    child: Child,
    /// The bound listen addresses, in command-line order.
    addrs: Vec<SocketAddr>,
    /// Everything the server wrote to stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Start `stripedns serve --bundle bundle --listen 127.0.0.1:0 extra...`
    /// and wait until it answers a query.
    pub fn start(bundle: &Path, extra: &[&str]) -> ServeProcess {
        ServeProcess::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), bundle, extra)
    }

    /// Like [`ServeProcess::start`] on the loopback address `ip`.
    pub fn start_on(ip: IpAddr, bundle: &Path, extra: &[&str]) -> ServeProcess {
        ServeProcess::try_start(SocketAddr::new(ip, 0), bundle, extra)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a server listening on `addr` (plus any `--listen` in `extra`)
    /// and wait until it answers on UDP; the error holds its stderr.
    ///
    /// Port 0 lets the server's kernel pick a free port, which is race-free
    /// under parallel tests: the ports bound are read from the server's
    /// `listening on ADDR` log lines and returned by [`ServeProcess::addrs`].
    pub fn try_start(addr: SocketAddr, bundle: &Path, extra: &[&str]) -> Result<Self, String> {
        ServeProcess::try_start_from(addr, "--bundle", bundle, extra)
    }

    /// Start `stripedns serve --state state --listen 127.0.0.1:0 extra...`
    /// (a king following `dns/current`) and wait until it answers a query.
    pub fn start_state(state: &Path, extra: &[&str]) -> ServeProcess {
        ServeProcess::try_start_from(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            "--state",
            state,
            extra,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a server whose data comes from `source_flag dir` (`--bundle`
    /// or `--state`), as [`ServeProcess::try_start`] describes.
    fn try_start_from(
        addr: SocketAddr,
        source_flag: &str,
        dir: &Path,
        extra: &[&str],
    ) -> Result<Self, String> {
        let mut child = Command::new(STRIPEDNS)
            .arg("serve")
            .arg(source_flag)
            .arg(dir)
            .arg("--listen")
            .arg(addr.to_string())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {STRIPEDNS}: {e}"))?;
        let stderr = collect(child.stderr.take());
        let mut server = ServeProcess {
            child,
            addrs: Vec::new(),
            stderr,
        };
        let listens = 1 + extra.iter().filter(|a| **a == "--listen").count();
        let deadline = Instant::now() + START_TIMEOUT;
        let probe = query(0x5AFE, "example.com.", TYPE_SOA);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "stripedns serve on {addr} exited with {status}: {}",
                    server.stderr()
                ));
            }
            if server.addrs.len() < listens {
                server.addrs = listening_addrs(&server.stderr());
            }
            if server.addrs.len() >= listens
                && udp_query(server.addrs[0], &probe, Duration::from_millis(100)).is_some()
            {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "stripedns serve on {addr} did not answer within {START_TIMEOUT:?}: {}",
                    server.stderr()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every address the server listens on, UDP and TCP, in command-line
    /// order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address the server listens on, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// How many lines of the server's log so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.stderr().lines().filter(|l| l.contains(needle)).count()
    }

    /// Wait up to `timeout` until at least `count` lines of the server's
    /// log contain `needle`; false when they did not come.
    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.log_count(needle) < count {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// True while the server process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send a signal (`"TERM"`, `"INT"`) to the server.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// Wait up to `timeout` for the server to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(&mut self.child, timeout)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query for `name` (presentation form, no escapes) and `qtype`, class
/// IN, with ID `id` and no flags set.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// The ID of a DNS message, if it is long enough to carry one.
pub fn message_id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// Send `bytes` in one datagram to `addr` and wait up to `timeout` for one
/// answer; `None` when nothing came back.
pub fn udp_query(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let local: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (Ipv4Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(local).ok()?;
    socket.connect(addr).ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    socket.send(bytes).ok()?;
    let mut buf = vec![0u8; 65_535];
    let n = socket.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Open a TCP connection to `addr` with `timeout` for connect, reads and
/// writes.
pub fn tcp_connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Prefix `msg` with its two-octet length (RFC 1035 4.2.2).
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(msg.len() + 2);
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

/// Read one length-prefixed message. `Ok(None)` when the peer closed the
/// connection before a new message began.
pub fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read(&mut len[..1])? {
        0 => return Ok(None),
        _ => stream.read_exact(&mut len[1..])?,
    }
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg)?;
    Ok(Some(msg))
}

/// Send every query of `queries` in one write on a new connection to
/// `addr`, then read one answer per query, in the order they arrive.
pub fn tcp_exchange(
    addr: SocketAddr,
    queries: &[Vec<u8>],
    timeout: Duration,
) -> io::Result<Vec<Vec<u8>>> {
    let mut stream = tcp_connect(addr, timeout)?;
    let bytes: Vec<u8> = queries.iter().flat_map(|q| frame(q)).collect();
    stream.write_all(&bytes)?;
    let mut answers = Vec::with_capacity(queries.len());
    for _ in queries {
        match read_frame(&mut stream)? {
            Some(a) => answers.push(a),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {} answers", answers.len()),
                ));
            }
        }
    }
    Ok(answers)
}

/// True when the peer closes `stream` within `timeout` (reads end or the
/// connection is reset); any data read meanwhile is discarded.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(10))));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}
