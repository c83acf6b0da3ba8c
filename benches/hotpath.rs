//! Criterion benchmarks of the server's own part of the hot path: what a
//! worker does around each engine call, and receiving and sending
//! datagrams. The engines' part is `benches/engines.rs`.
//!
//! - `guard/record`: recording a query in the worker's slot and clearing
//!   it (`Slot::begin` + `Slot::end`), which is all a worker does around
//!   the engine while its blacklist is empty.
//! - `guard/fingerprint_lookup`: fingerprinting a query and looking it up
//!   in a one-entry blacklist, which a worker adds only while its
//!   blacklist is not empty (and which every query cost before).
//! - `udp/batched_32`: 32 datagrams sent to a socket on loopback, taken
//!   with `recvmmsg` and answered with `sendmmsg` (`sys::UdpBatch`), the
//!   32 answers read back; `udp/one_by_one_32` does the same with
//!   `recv_from` and `send_to` per datagram. Both include the client's
//!   sends and receives, so the difference is what batching saves.
//!
//! Run one case with `cargo bench --bench hotpath -- guard/record`.

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use stripedns::blacklist::{Entry, FingerprintSet};
use stripedns::engine::EngineKind;
use stripedns::fingerprint::Fingerprint;
use stripedns::slot::Slot;

/// A query for `www.example.com. A` with an OPT record (1232 octets).
fn query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    q
}

fn guard(c: &mut Criterion) {
    let q = query();
    let slot = Slot::create(2, EngineKind::Native).unwrap();
    c.bench_function("guard/record", |b| {
        b.iter(|| {
            slot.begin(0, black_box(&q), None);
            slot.end(0);
        })
    });
    let entry = Entry {
        fingerprint: Fingerprint::from_raw(1).unwrap(),
        engine: EngineKind::Native,
        count: 1,
        first_seen: 0,
        last_seen: 0,
        question: String::new(),
    };
    let set = FingerprintSet::for_engine(&[entry], EngineKind::Native);
    c.bench_function("guard/fingerprint_lookup", |b| {
        b.iter(|| {
            let fp = Fingerprint::of(black_box(&q), EngineKind::Native).unwrap();
            black_box(set.contains(fp))
        })
    });
}

/// Datagrams per round of the `udp/*` cases.
const ROUND: usize = 32;

fn udp(c: &mut Criterion) {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let to = server.local_addr().unwrap();
    let q = query();
    let mut reply = [0u8; 512];

    let mut batch = stripedns::sys::UdpBatch::new(ROUND, 65_535);
    c.bench_function("udp/batched_32", |b| {
        b.iter(|| {
            for _ in 0..ROUND {
                client.send_to(&q, to).unwrap();
            }
            let mut answered = 0;
            while answered < ROUND {
                let n = batch.recv(&server).unwrap();
                for i in 0..n {
                    let (query, answer) = batch.query_and_answer(i);
                    answer.clear();
                    answer.extend_from_slice(query);
                    batch.reply(i);
                }
                batch.send(&server, |_, e| panic!("{e}"));
                answered += n;
            }
            for _ in 0..ROUND {
                client.recv_from(&mut reply).unwrap();
            }
        })
    });

    let mut buf = vec![0u8; 65_535];
    let mut answer = Vec::with_capacity(65_535);
    c.bench_function("udp/one_by_one_32", |b| {
        b.iter(|| {
            for _ in 0..ROUND {
                client.send_to(&q, to).unwrap();
            }
            for _ in 0..ROUND {
                let (len, peer) = server.recv_from(&mut buf).unwrap();
                answer.clear();
                answer.extend_from_slice(&buf[..len]);
                server.send_to(&answer, peer).unwrap();
            }
            for _ in 0..ROUND {
                client.recv_from(&mut reply).unwrap();
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = guard, udp
}
criterion_main!(benches);
