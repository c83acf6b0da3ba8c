//! Criterion benchmarks of the per-query accounting (`src/metrics/`): what
//! counting one query adds to answering it. Names are `area/case`:
//!
//! - `count/noerror`: [`Counters::answered`] for `www.example.com. A`
//!   answered NOERROR with records, in a real worker slot (shared memory):
//!   reading the question's type, the RCODE and TC, one relaxed atomic add.
//! - `count/badvers_path`: the same for a response with no answer and no
//!   authority records, where the RCODE's upper bits are read from the OPT
//!   record (the slowest path).
//! - `count/blacklist_drop`: counting a dropped query.
//! - `answer/native`: `Engine::answer` alone for the first case, on the
//!   default bundle (`zones/`), for scale;
//! - `answer/native_counted`: the same followed by the counting, as a
//!   worker does it.
//!
//! Run with `cargo bench --bench metrics`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use stripedns::bundle::Bundle;
use stripedns::engine::{EngineKind, Identity, Outcome, Transport};
use stripedns::slot::Slot;

/// `name` `qtype` IN, ID 0x1234, with an EDNS OPT record when `edns`.
fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn benches(c: &mut Criterion) {
    let slot = Slot::create(2, EngineKind::Native).expect("a slot");
    let counters = slot.counters(0);
    let engine = EngineKind::Native
        .open(
            &Bundle::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("zones"))
                .expect("the default bundle"),
            Identity::default(),
        )
        .expect("the native engine");
    let q = query("www.example.com.", 1, true);
    let mut out = Vec::with_capacity(65_535);
    assert_eq!(engine.answer(&q, Transport::Udp, &mut out), Outcome::Reply);
    assert_eq!(out[3] & 0x0F, 0, "NOERROR expected");
    assert!(u16::from_be_bytes([out[6], out[7]]) > 0, "answers expected");
    let response = out.clone();

    c.bench_function("count/noerror", |b| {
        b.iter(|| {
            counters.answered(
                black_box(&q),
                Transport::Udp,
                Outcome::Reply,
                black_box(&response),
            )
        })
    });
    // NODATA without the SOA would not happen; a BADVERS-shaped response
    // (no answer, no authority, an OPT) takes the OPT path.
    let mut badvers = q.clone();
    badvers[2] |= 0x80;
    c.bench_function("count/badvers_path", |b| {
        b.iter(|| {
            counters.answered(
                black_box(&q),
                Transport::Udp,
                Outcome::Reply,
                black_box(&badvers),
            )
        })
    });
    c.bench_function("count/blacklist_drop", |b| {
        b.iter(|| black_box(counters).blacklist_drop())
    });
    c.bench_function("answer/native", |b| {
        b.iter(|| engine.answer(black_box(&q), Transport::Udp, &mut out))
    });
    c.bench_function("answer/native_counted", |b| {
        b.iter(|| {
            let outcome = engine.answer(black_box(&q), Transport::Udp, &mut out);
            counters.answered(&q, Transport::Udp, outcome, &out);
            outcome
        })
    });
}

criterion_group! {
    name = metrics;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(metrics);
