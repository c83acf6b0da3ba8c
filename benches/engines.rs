//! Criterion benchmarks of the answer engines, in process, without sockets.
//!
//! Every engine of this build ([`EngineKind::ALL`]) serves the zones of the
//! differential test (`tests/zones/diff`, which hold one example of every
//! answering rule) and answers one fixed query per case through
//! [`Engine::answer`]: the whole path of decoding the query, the lookup and
//! encoding the response into a reused buffer. Names are `area/engine/case`:
//!
//! - `answer/<engine>/positive`: `www.example.com. A` over UDP with EDNS,
//!   a web-fleet name with four A records (NOERROR, AA).
//! - `answer/<engine>/nxdomain`: `nothing.example.com. A`, a name that does
//!   not exist (NXDOMAIN with the SOA in authority).
//! - `answer/<engine>/referral`: `host.sub.example.com. A`, below a
//!   delegation (NS in authority, glue in additional).
//! - `answer/<engine>/wildcard`: `anything.wild.example.com. A`, synthesised
//!   from `*.wild.example.com.`.
//! - `answer/<engine>/cname_chain`: `c1.example.com. A`, three CNAMEs in the
//!   zone followed to the four A records of `www`.
//! - `answer/<engine>/truncated`: `big.example.com. A` over UDP without
//!   EDNS: 40 A records do not fit 512 octets, so the answer is cut to the
//!   header and question with TC=1.
//! - `load/<engine>/100k`: loading a generated bundle of one zone of 100,000
//!   records (25,000 fleet names of four A records each) into a new engine:
//!   zone-file parsing, zone checks and building the lookup structures.
//!
//! Each case's response is checked once (RCODE, TC, answer count) before it
//! is timed, so a change in behaviour cannot pass as a speed-up. Sample
//! sizes are small so the whole run takes about a minute; run one case with
//! `cargo bench --bench engines -- answer/native/positive`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use stripedns::bundle::Bundle;
use stripedns::engine::{Engine, EngineKind, Identity, Outcome, Transport};

/// RR type A.
const TYPE_A: u16 = 1;
/// RCODE NOERROR.
const NOERROR: u8 = 0;
/// RCODE NXDOMAIN.
const NXDOMAIN: u8 = 3;

/// One answer case: the question, and what the response must look like.
struct Case {
    /// The benchmark's last name part.
    name: &'static str,
    /// The query name, absolute.
    qname: &'static str,
    /// Whether the query carries an EDNS OPT record (1232-octet buffer).
    edns: bool,
    /// The expected RCODE.
    rcode: u8,
    /// The expected TC flag.
    truncated: bool,
    /// The expected number of answer records.
    answers: u16,
}

/// The answer cases, all of type A over UDP.
const CASES: &[Case] = &[
    Case {
        name: "positive",
        qname: "www.example.com.",
        edns: true,
        rcode: NOERROR,
        truncated: false,
        answers: 4,
    },
    Case {
        name: "nxdomain",
        qname: "nothing.example.com.",
        edns: true,
        rcode: NXDOMAIN,
        truncated: false,
        answers: 0,
    },
    Case {
        name: "referral",
        qname: "host.sub.example.com.",
        edns: true,
        rcode: NOERROR,
        truncated: false,
        answers: 0,
    },
    Case {
        name: "wildcard",
        qname: "anything.wild.example.com.",
        edns: true,
        rcode: NOERROR,
        truncated: false,
        answers: 1,
    },
    Case {
        name: "cname_chain",
        qname: "c1.example.com.",
        edns: true,
        rcode: NOERROR,
        truncated: false,
        answers: 7,
    },
    Case {
        name: "truncated",
        qname: "big.example.com.",
        edns: false,
        rcode: NOERROR,
        truncated: true,
        answers: 0,
    },
];

/// A query for `qname`/`qtype` IN with RD clear, with an OPT record
/// (buffer 1232, no options) when `edns` is set.
fn query(qname: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
    for label in qname.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len()).expect("label over 255 octets"));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        // Root owner, type OPT, class = buffer size, TTL 0, no RDATA.
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

/// Every engine of this build, serving the bundle in `dir`.
fn engines(dir: &Path) -> Vec<(EngineKind, Arc<dyn Engine>)> {
    let bundle = Bundle::open(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    EngineKind::ALL
        .iter()
        .map(|&kind| {
            let engine = kind
                .open(&bundle, Identity::default())
                .unwrap_or_else(|e| panic!("{kind} does not load {}: {e}", dir.display()));
            (kind, engine)
        })
        .collect()
}

/// Panics unless `engine`'s response to `case` looks as the case says.
fn check(kind: EngineKind, engine: &dyn Engine, case: &Case, wire: &[u8]) {
    let mut out = Vec::new();
    assert_eq!(
        engine.answer(wire, Transport::Udp, &mut out),
        Outcome::Reply,
        "{kind} {}: no reply",
        case.name
    );
    assert!(out.len() >= 12, "{kind} {}: short reply", case.name);
    let what = format!("{kind} {}", case.name);
    assert_eq!(out[3] & 0x0f, case.rcode, "{what}: RCODE");
    assert_eq!(out[2] & 0x02 != 0, case.truncated, "{what}: TC");
    assert_eq!(
        u16::from_be_bytes([out[6], out[7]]),
        case.answers,
        "{what}: answer count"
    );
}

/// `answer/<engine>/<case>`: one query answered into a reused buffer.
fn answer(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/diff");
    let mut group = c.benchmark_group("answer");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (kind, engine) in engines(&dir) {
        for case in CASES {
            let wire = query(case.qname, TYPE_A, case.edns);
            check(kind, engine.as_ref(), case, &wire);
            let mut out = Vec::with_capacity(1232);
            group.bench_function(format!("{kind}/{}", case.name), |b| {
                b.iter(|| engine.answer(black_box(&wire), Transport::Udp, &mut out));
            });
        }
    }
    group.finish();
}

/// A zone file for `bench.test.` of exactly `records` records: SOA, two NS
/// with glue, then fleet names of four A records each.
fn generated_zone(records: usize) -> String {
    let mut zone = String::from(
        "$ORIGIN bench.test.\n$TTL 3600\n\
         @ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n\
         @ IN NS ns1\n@ IN NS ns2\n\
         ns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n",
    );
    for i in 0..records - 5 {
        let host = i / 4;
        let _ = writeln!(
            zone,
            "f{host} 60 IN A 10.{}.{}.{}",
            (host >> 8) & 0xff,
            host & 0xff,
            i % 4 + 1
        );
    }
    zone
}

/// `load/<engine>/100k`: a new engine loading a 100,000-record zone.
fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("bench.test.zone"), generated_zone(100_000))
        .expect("writing the generated zone");
    let bundle = Bundle::open(dir.path()).expect("the generated bundle opens");
    let mut group = c.benchmark_group("load");
    // One load per iteration, ten samples: a load takes a tenth of a
    // second or more, so flat sampling keeps the run short.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8));
    for &kind in EngineKind::ALL {
        group.bench_function(format!("{kind}/100k"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    kind.open(&bundle, Identity::default())
                        .unwrap_or_else(|e| panic!("{kind}: {e}"))
                },
                // Dropping the engine is not part of loading.
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, answer, load);
criterion_main!(benches);
