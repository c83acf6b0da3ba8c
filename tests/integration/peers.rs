//! The servers the differential tests compare: Knot DNS (`knotd`), NSD
//! (`nsd`) and stripedns itself, each started as a foreground child process
//! serving the same bundle directory, and a small client to query them.
//!
//! Every server gets a loopback address of its own (`127.a.b.c`, derived
//! from the test process id, with a port the kernel reported free on it), so
//! tests running in parallel, in this process or another, do not collide.
//! A server is ready once it answers the SOA query of every zone with
//! NOERROR and AA over UDP and accepts a TCP connection; starting is bounded
//! in time and retried on a fresh port. Dropping a [`Server`] sends SIGTERM,
//! waits a little, then SIGKILL, and removes its scratch directory.
//!
//! Peer configuration is chosen so the two peers answer alike where the
//! RFCs leave a choice: no identity, version or NSID answers (CHAOS queries
//! are REFUSED by both), no response rate limiting, no answer rotation, and
//! NSD's `minimal-responses: yes`, which makes NSD leave the zone's NS RRset
//! out of the authority section of positive answers as Knot DNS does.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::dnsmsg::{EdnsSpec, Proto, QuerySpec, qtype};
use crate::support;

/// How long a server may take to start answering.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// How many times a server start is tried, each on a new port.
const START_ATTEMPTS: usize = 3;

/// Which program a [`Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Knot DNS.
    Knot,
    /// NSD.
    Nsd,
    /// The stripedns binary under test.
    Stripedns,
    /// The stripedns binary with `--engine hickory`.
    StripednsHickory,
}

impl Kind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Knot => "knot",
            Kind::Nsd => "nsd",
            Kind::Stripedns => "stripedns",
            Kind::StripednsHickory => "stripedns-hickory",
        }
    }
}

/// One zone of a bundle, as found from its file name.
#[derive(Debug, Clone)]
pub struct ZoneEntry {
    /// The origin with its trailing dot, e.g. `example.com.`.
    pub origin: String,
    /// The zone file, absolute.
    pub path: PathBuf,
}

/// The `<origin>.zone` files of the bundle directory `dir`, sorted.
pub fn bundle_zones(dir: &Path) -> Vec<ZoneEntry> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut zones: Vec<ZoneEntry> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let file = path.file_name()?.to_str()?.to_string();
            let stem = file.strip_suffix(".zone")?;
            Some(ZoneEntry {
                origin: format!("{stem}."),
                path,
            })
        })
        .collect();
    zones.sort_by(|a, b| a.origin.cmp(&b.origin));
    assert!(!zones.is_empty(), "{}: no zone files", dir.display());
    zones
}

/// A running server process and where it listens.
#[derive(Debug)]
pub struct Server {
    /// What it is.
    pub kind: Kind,
    /// UDP and TCP address it answers on.
    pub addr: SocketAddr,
    /// The process; killed on drop.
    child: Child,
    /// Scratch directory (config, logs, state); removed on drop.
    dir: PathBuf,
}

impl Server {
    /// Start Knot DNS serving the bundle `bundle`.
    pub fn knot(bundle: &Path) -> Server {
        Self::start(Kind::Knot, bundle)
    }

    /// Start NSD serving the bundle `bundle`.
    pub fn nsd(bundle: &Path) -> Server {
        Self::start(Kind::Nsd, bundle)
    }

    /// Start `stripedns serve` on the bundle `bundle`.
    pub fn stripedns(bundle: &Path) -> Server {
        Self::start(Kind::Stripedns, bundle)
    }

    /// Start `stripedns serve --engine hickory` on the bundle `bundle`.
    pub fn stripedns_hickory(bundle: &Path) -> Server {
        Self::start(Kind::StripednsHickory, bundle)
    }

    /// Start `kind` on `bundle`, retrying on a new port when it does not
    /// come up; panics with the server's log when every attempt fails.
    fn start(kind: Kind, bundle: &Path) -> Server {
        let zones = bundle_zones(bundle);
        let mut failures = String::new();
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start(kind, bundle, &zones) {
                Ok(server) => return server,
                Err(why) => {
                    let _ = writeln!(failures, "attempt {attempt}: {why}");
                }
            }
        }
        panic!("{} did not start:\n{failures}", kind.name());
    }

    /// One start attempt.
    fn try_start(kind: Kind, bundle: &Path, zones: &[ZoneEntry]) -> Result<Server, String> {
        let ip = unique_loopback();
        let port = support::free_port(ip.into());
        let addr = SocketAddr::from((ip, port));
        let dir = scratch_dir(kind.name());
        let log = dir.join("server.log");
        let mut cmd = match kind {
            Kind::Knot => {
                let conf = dir.join("knot.conf");
                write_file(&conf, &knot_conf(&dir, addr, zones));
                let mut cmd = Command::new(find_program("knotd"));
                cmd.arg("-c").arg(&conf);
                cmd
            }
            Kind::Nsd => {
                let conf = dir.join("nsd.conf");
                write_file(&conf, &nsd_conf(&dir, addr, bundle, zones));
                let mut cmd = Command::new(find_program("nsd"));
                cmd.arg("-d").arg("-c").arg(&conf);
                cmd
            }
            Kind::Stripedns | Kind::StripednsHickory => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripedns"));
                cmd.arg("serve")
                    .arg("--bundle")
                    .arg(bundle)
                    .arg("--listen")
                    .arg(addr.to_string());
                if kind == Kind::StripednsHickory {
                    cmd.arg("--engine").arg("hickory");
                }
                cmd
            }
        };
        let logfile = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let errfile = logfile.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(logfile)
            .stderr(errfile)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", kind.name()))?;
        let mut server = Server {
            kind,
            addr,
            child,
            dir,
        };
        match server.wait_ready(zones) {
            Ok(()) => Ok(server),
            Err(why) => {
                let text = fs::read_to_string(&log).unwrap_or_default();
                Err(format!("{why} on {addr}; log:\n{text}"))
            }
        }
    }

    /// Wait until every zone's SOA is answered with NOERROR and AA over UDP,
    /// and a TCP connection is accepted, or the deadline passes.
    fn wait_ready(&mut self, zones: &[ZoneEntry]) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        let client = Client::new().map_err(|e| e.to_string())?;
        let mut pending: Vec<&ZoneEntry> = zones.iter().collect();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited early ({status})"));
            }
            if Instant::now() > deadline {
                let left: Vec<&str> = pending.iter().map(|z| z.origin.as_str()).collect();
                return Err(format!(
                    "not ready after {START_DEADLINE:?} (waiting for {left:?})"
                ));
            }
            pending.retain(|z| !zone_ready(&client, self.addr, &z.origin));
            if pending.is_empty()
                && TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory effects; `pid` is our own child,
        // not yet reaped, so the id cannot have been reused.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Whether `addr` answers the SOA query for `origin` with NOERROR and AA.
fn zone_ready(client: &Client, addr: SocketAddr, origin: &str) -> bool {
    let Ok(name) = hickory_proto::rr::Name::from_ascii(origin) else {
        return false;
    };
    let q = QuerySpec::new(name, qtype::SOA);
    match client.exchange_once(addr, &q.encode(0x5eed), Duration::from_millis(300)) {
        Some(resp) if resp.len() >= 12 => {
            resp[0..2] == [0x5e, 0xed] && resp[2] & 0x04 != 0 && resp[3] & 0x0f == 0
        }
        _ => false,
    }
}

/// A loopback address unique to this process: 127.x.y.z from the pid.
/// Linux routes all of 127.0.0.0/8 to the loopback interface.
pub fn unique_loopback() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        64 + ((pid >> 16) & 0x3f) as u8,
        (pid >> 8) as u8,
        pid as u8,
    )
}

/// A fresh scratch directory under Cargo's target tmpdir, unique to this
/// process and call; `label` says what it is for.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{label}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Write `text` to `path` or panic naming the file.
fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `name` from PATH or the sbin directories (which a non-root PATH lacks).
fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        ["/usr/sbin", "/sbin", "/usr/local/sbin"]
            .iter()
            .map(PathBuf::from),
    );
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} not found in PATH or /usr/sbin; run tests/run.sh, which installs it");
}

/// Quote `s` for a YAML (Knot) or nsd.conf double-quoted string.
fn quoted(s: &Path) -> String {
    format!(
        "\"{}\"",
        s.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

/// The Knot DNS configuration: one listener, scratch rundir and storage,
/// the bundle's zones loaded whole from their files with semantic checks,
/// nothing written back, no journal, no identity/version/NSID.
fn knot_conf(dir: &Path, addr: SocketAddr, zones: &[ZoneEntry]) -> String {
    let rundir = dir.join("run");
    let storage = dir.join("storage");
    fs::create_dir_all(&rundir).unwrap();
    fs::create_dir_all(&storage).unwrap();
    let mut conf = format!(
        "server:\n    rundir: {}\n    listen: {}@{}\n    identity: \"\"\n    version: \"\"\n    \
         udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {}\n\
         log:\n  - target: stderr\n    any: notice\n\
         template:\n  - id: default\n    storage: {}\n    semantic-checks: on\n    \
         zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
         zone:\n",
        quoted(&rundir),
        addr.ip(),
        addr.port(),
        quoted(&storage),
        quoted(&storage),
    );
    for z in zones {
        let _ = writeln!(
            conf,
            "  - domain: \"{}\"\n    file: {}",
            z.origin,
            quoted(&z.path)
        );
    }
    conf
}

/// The NSD configuration: one address, one server process, no database,
/// privileges kept, every state file in the scratch directory, no control
/// channel, identity and version hidden, rate limiting off, minimal
/// responses.
fn nsd_conf(dir: &Path, addr: SocketAddr, bundle: &Path, zones: &[ZoneEntry]) -> String {
    let bundle = fs::canonicalize(bundle).unwrap();
    let mut conf = format!(
        "server:\n    ip-address: {}@{}\n    do-ip6: no\n    server-count: 1\n    verbosity: 0\n    \
         username: \"\"\n    chroot: \"\"\n    database: \"\"\n    zonesdir: {}\n    \
         pidfile: {}\n    xfrdfile: {}\n    xfrdir: {}\n    zonelistfile: {}\n    \
         hide-identity: yes\n    hide-version: yes\n    minimal-responses: yes\n    \
         round-robin: no\n    refuse-any: no\n    reuseport: no\n    \
         rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n\
         remote-control:\n    control-enable: no\n",
        addr.ip(),
        addr.port(),
        quoted(&bundle),
        quoted(&dir.join("nsd.pid")),
        quoted(&dir.join("xfrd.state")),
        quoted(dir),
        quoted(&dir.join("zone.list")),
    );
    for z in zones {
        let _ = write!(
            conf,
            "zone:\n    name: \"{}\"\n    zonefile: {}\n",
            z.origin,
            quoted(&z.path)
        );
    }
    conf
}

/// A blocking DNS client over UDP and TCP.
#[derive(Debug)]
pub struct Client {
    /// The UDP socket every datagram query goes out on.
    udp: UdpSocket,
}

impl Client {
    /// A client with its own UDP socket on 127.0.0.1.
    pub fn new() -> io::Result<Client> {
        Ok(Client {
            udp: UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?,
        })
    }

    /// Send `spec` to `addr` with id `id` over its transport; the response
    /// bytes, or `None` after two UDP tries or one TCP try time out.
    pub fn query(&self, addr: SocketAddr, spec: &QuerySpec, id: u16) -> Option<Vec<u8>> {
        let wire = spec.encode(id);
        match spec.proto {
            Proto::Udp => {
                (0..2).find_map(|_| self.exchange_once(addr, &wire, Duration::from_millis(1000)))
            }
            Proto::Tcp => support::tcp_exchange(addr, &[wire], Duration::from_secs(3))
                .ok()
                .and_then(|mut answers| answers.pop()),
        }
    }

    /// One UDP exchange: send, then wait for a datagram from `addr` with
    /// the same id, ignoring stale ones.
    pub fn exchange_once(&self, addr: SocketAddr, wire: &[u8], wait: Duration) -> Option<Vec<u8>> {
        self.udp.send_to(wire, addr).ok()?;
        let deadline = Instant::now() + wait;
        let mut buf = vec![0u8; 65535];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.udp
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .ok()?;
            match self.udp.recv_from(&mut buf) {
                Ok((n, from)) if from == addr && n >= 2 && buf[..2] == wire[..2] => {
                    return Some(buf[..n].to_vec());
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// EDNS with `bufsize` octets and the DO bit as given, version 0.
pub fn edns(bufsize: u16, do_bit: bool) -> Option<EdnsSpec> {
    Some(EdnsSpec {
        bufsize,
        do_bit,
        version: 0,
    })
}
