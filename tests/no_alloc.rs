//! A query costs the server no heap allocation, over UDP and over TCP.
//!
//! This binary installs a counting allocator (so it is a binary of its
//! own, without the test harness, whose threads would allocate too) and
//! runs a worker's server — the UDP batch loop, a TCP connection, the
//! query guard with its slot and blacklist — in front of an engine that
//! allocates nothing itself. After a warm-up it sends thousands of queries
//! and fails if the count of allocations in the whole process grew by
//! more than a few: one allocation per query, or per batch, shows as
//! thousands or hundreds. The engines' own allocations are theirs to
//! check (`benches/engines.rs` and their tests).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use stripedns::blacklist::{Entry, FingerprintSet};
use stripedns::bundle::{Bundle, BundleError};
use stripedns::engine::{Engine, EngineKind, Outcome, Transport};
use stripedns::fingerprint::Fingerprint;
use stripedns::fleet::HealthState;
use stripedns::server::{QueryGuard, Server, ServerConfig};
use stripedns::slot::Slot;
use stripedns::sys::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

/// Queries sent in each measured stretch.
const QUERIES: usize = 3000;
/// Allocations tolerated in a measured stretch: none are expected; a few
/// leave room for a runtime's rare housekeeping, far below one per query
/// or per batch.
const TOLERATED: u64 = 10;

/// Echoes the query with QR set; allocates nothing while `out` has room.
#[derive(Debug)]
struct Echo;

impl Engine for Echo {
    fn kind(&self) -> EngineKind {
        EngineKind::Native
    }
    fn reload(&self, _bundle: &Bundle) -> Result<(), BundleError> {
        Ok(())
    }
    fn set_health(&self, _health: Arc<HealthState>) {}
    fn answer(&self, query: &[u8], _transport: Transport, out: &mut Vec<u8>) -> Outcome {
        out.clear();
        if query.len() < 12 {
            return Outcome::Drop;
        }
        out.extend_from_slice(query);
        out[2] |= 0x80;
        Outcome::Reply
    }
}

/// A query for `www.example.com. A` with ID `id` and an OPT record.
fn query(id: u16) -> [u8; 44] {
    let mut q = [0u8; 44];
    q[..2].copy_from_slice(&id.to_be_bytes());
    q[2] = 1;
    q[5] = 1;
    q[11] = 1;
    q[12..33].copy_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    q[33..].copy_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    q
}

/// Send `count` queries over UDP in bursts of `burst` (so the server
/// takes several per batch), and check every answer.
fn udp_round(socket: &UdpSocket, server: SocketAddr, count: usize, burst: usize) {
    let mut buf = [0u8; 512];
    let mut id = 0u16;
    let mut done = 0;
    while done < count {
        let n = burst.min(count - done);
        for k in 0..n {
            socket
                .send_to(&query(id.wrapping_add(k as u16)), server)
                .unwrap();
        }
        for _ in 0..n {
            let (len, _) = socket.recv_from(&mut buf).expect("UDP answer");
            assert_eq!(len, 44);
            assert_eq!(buf[2] & 0x80, 0x80);
        }
        id = id.wrapping_add(n as u16);
        done += n;
    }
}

/// Send `count` queries on one TCP connection, pipelined in bursts of
/// `burst`, and check every answer.
fn tcp_round(stream: &mut TcpStream, count: usize, burst: usize) {
    let mut frame = [0u8; 46];
    let mut answer = [0u8; 46];
    let mut done = 0;
    while done < count {
        let n = burst.min(count - done);
        for k in 0..n {
            frame[..2].copy_from_slice(&44u16.to_be_bytes());
            frame[2..].copy_from_slice(&query((done + k) as u16));
            stream.write_all(&frame).unwrap();
        }
        for _ in 0..n {
            stream.read_exact(&mut answer).expect("TCP answer");
            assert_eq!(answer[..2], 44u16.to_be_bytes());
            assert_eq!(answer[4] & 0x80, 0x80);
        }
        done += n;
    }
}

/// Allocations made while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATOR.count();
    f();
    ALLOCATOR.count() - before
}

fn main() {
    // The server as a worker runs it: a guard with a slot and a
    // blacklist, UDP threads, TCP on a current-thread runtime.
    let blacklist = Arc::new(ArcSwap::from_pointee(FingerprintSet::default()));
    let guard = QueryGuard {
        blacklist: Arc::clone(&blacklist),
        slot: Slot::create(2, EngineKind::Native).unwrap(),
    };
    let mut config = ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()]);
    config.udp_workers = 1;
    let server = Server::bind(config, Arc::new(Echo))
        .unwrap()
        .with_guard(guard);
    let addr = server.local_addrs()[0];
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(server.run(async move {
            let _ = stop_rx.await;
        }))
    });

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.set_nodelay(true).unwrap();

    let mut failures = Vec::new();
    for blacklisted in [false, true] {
        if blacklisted {
            // Something blacklisted: every query is fingerprinted and
            // looked up too (a fingerprint no query here has).
            let entry = Entry {
                fingerprint: Fingerprint::from_raw(1).unwrap(),
                engine: EngineKind::Native,
                count: 1,
                first_seen: 0,
                last_seen: 0,
                question: String::new(),
            };
            blacklist.store(Arc::new(FingerprintSet::for_engine(
                &[entry],
                EngineKind::Native,
            )));
        }
        // Warm-up: first use of every buffer, the runtime's first timers.
        udp_round(&udp, addr, 200, 16);
        tcp_round(&mut tcp, 200, 16);
        for (what, n) in [
            (
                "UDP, one query at a time",
                allocations(|| udp_round(&udp, addr, QUERIES, 1)),
            ),
            (
                "UDP, bursts of 16",
                allocations(|| udp_round(&udp, addr, QUERIES, 16)),
            ),
            (
                "TCP, one query at a time",
                allocations(|| tcp_round(&mut tcp, QUERIES, 1)),
            ),
            (
                "TCP, pipelined bursts of 16",
                allocations(|| tcp_round(&mut tcp, QUERIES, 16)),
            ),
        ] {
            let line = format!(
                "{what}, blacklist {}: {n} allocations for {QUERIES} queries",
                if blacklisted { "not empty" } else { "empty" }
            );
            println!("{line}");
            if n > TOLERATED {
                failures.push(line);
            }
        }
    }

    drop(tcp);
    stop_tx.send(()).unwrap();
    thread.join().unwrap().unwrap();
    assert!(
        failures.is_empty(),
        "the server allocates per query:\n{}",
        failures.join("\n")
    );
}
