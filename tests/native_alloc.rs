//! The native engine answers without allocating (DESIGN.md, "Performance
//! principles"): a counting global allocator, per thread, around queries of
//! every kind the engine answers (prepared answers with rotation, answer
//! limits and health; NXDOMAIN, NODATA, referrals, wildcards, CNAME and
//! DNAME chains, truncation, CHAOS identity, errors), over UDP and TCP,
//! with and without EDNS and NSID. After one warm-up answer (the reused
//! output buffer grows, the thread's generator and `ArcSwap` slots start),
//! answering must not allocate at all.
//!
//! A separate test binary, because a global allocator is global.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use stripedns::bundle::Bundle;
use stripedns::engine::{EngineKind, Identity, Outcome, Transport};
use stripedns::fleet::HealthState;
use stripedns::sys::CountingAllocator;

#[global_allocator]
static COUNTING: CountingAllocator = CountingAllocator::new();

/// Allocations made by this thread so far.
fn allocations() -> u64 {
    COUNTING.this_thread()
}

/// The fleet policy of the test bundle: every rotation, a limit, health.
const POLICY: &str = r#"
[[fleet]]
name = "www.example.com."
max_answers = 3
health = { protocol = "tcp", port = 80 }

[[fleet]]
name = "api.example.com."
rotation = "random"
max_answers = 2

[[fleet]]
name = "cdn.example.com."
rotation = "off"
"#;

/// A query for `qname`/`qtype` IN; `edns`: (buffer size, NSID).
fn query(qname: &str, qtype: u16, qclass: u16, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut q = vec![
        0x12,
        0x34,
        1,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    for label in qname.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    if let Some((size, nsid)) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0x80, 0]);
        if nsid {
            q.extend_from_slice(&[0, 4, 0, 3, 0, 0]);
        } else {
            q.extend_from_slice(&[0, 0]);
        }
    }
    q
}

#[test]
fn answering_does_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/diff");
    for entry in std::fs::read_dir(&zones).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "zone") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("bundle.toml"), POLICY).unwrap();
    let bundle = Bundle::open(dir.path()).unwrap();
    let identity = Identity {
        id: Some("ams stripe 1 engine native".into()),
    };
    let engine = EngineKind::Native.open(&bundle, identity).unwrap();
    let down: IpAddr = "192.0.2.81".parse().unwrap();
    engine.set_health(Arc::new(HealthState::from_down([(
        "www.example.com.",
        vec![down],
    )])));

    let (a, ns, cname, mx, txt, aaaa, any, ds) = (1, 2, 5, 15, 16, 28, 255, 43);
    let cases: &[(&str, u16, u16)] = &[
        ("www.example.com.", a, 1),
        ("WwW.example.com.", a, 1),
        ("api.example.com.", a, 1),
        ("api.example.com.", aaaa, 1),
        ("cdn.example.com.", a, 1),
        ("cdn.example.com.", txt, 1),
        ("example.com.", mx, 1),
        ("example.com.", ns, 1),
        ("example.com.", any, 1),
        ("www.example.com.", mx, 1),
        ("nothing.example.com.", a, 1),
        ("host.sub.example.com.", a, 1),
        ("sub.example.com.", ds, 1),
        ("secure.example.com.", ds, 1),
        ("anything.wild.example.com.", a, 1),
        ("x.cn.example.com.", a, 1),
        ("c1.example.com.", a, 1),
        ("tobig.example.com.", a, 1),
        ("big.example.com.", a, 1),
        ("loop1.example.com.", a, 1),
        ("x.d.alias.example.com.", a, 1),
        ("www.alias.example.com.", cname, 1),
        ("_sip._udp.example.com.", 33, 1),
        ("b.c.example.com.", a, 1),
        ("www.example.org.", a, 1),
        ("id.server.", txt, 3),
        ("example.com.", 252, 1),
        ("example.com.", a, 4),
    ];
    let mut out = Vec::new();
    let mut answered = 0;
    for &(qname, qtype, qclass) in cases {
        for edns in [
            None,
            Some((512, false)),
            Some((1232, true)),
            Some((4096, false)),
        ] {
            let q = query(qname, qtype, qclass, edns);
            for transport in [Transport::Udp, Transport::Tcp] {
                // Warm up: the buffer grows to this answer's size.
                assert_eq!(engine.answer(&q, transport, &mut out), Outcome::Reply);
                let before = allocations();
                for _ in 0..50 {
                    engine.answer(&q, transport, &mut out);
                }
                let made = allocations() - before;
                assert_eq!(
                    made, 0,
                    "{qname} type {qtype} class {qclass} {edns:?} {transport:?}: {made} allocations in 50 answers"
                );
                answered += 50;
            }
        }
    }
    assert!(answered > 10_000);
    // The counter counts: a check that could not fail would prove nothing.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 64]));
    assert_eq!(allocations() - before, 1);
}
