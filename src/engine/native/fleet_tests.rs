//! Web-fleet answers of the native engine end to end: a zone with a
//! `bundle.toml` policy, queries through [`answer::answer`], and the answer
//! sections decoded, as a resolver sees them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::engine::{Identity, Transport};
use crate::fleet::{FleetPolicy, HealthState};

use super::answer::tests::{name as wire_name, rec};
use super::answer::{self, ZoneSet};
use super::name::Name;
use super::record::{ParsedZone, Record, class, rtype};
use super::wire::Message;
use super::zone::Zone;

const POLICY: &str = r#"
[[fleet]]
name = "rnd.example."
rotation = "random"

[[fleet]]
name = "big.example."
max_answers = 8

[[fleet]]
name = "off.example."
rotation = "off"

[[fleet]]
name = "*.wild.example."
max_answers = 2

[[fleet]]
name = "v6.example."
rotation = "random"
max_answers = 1
"#;

fn addrs(owner: &str, n: u8, records: &mut Vec<Record>) {
    for i in 1..=n {
        records.push(rec(owner, rtype::A, vec![192, 0, 2, i]));
    }
}

/// The test zone: `www` (8 A, cyclic by default), `rnd` (8 A, random),
/// `big` (16 A, at most 8), `off` (4 A, zone order), `*.wild` (4 A, at
/// most 2), `alias` CNAME `v6` (4 AAAA, random, at most 1), and RRSIGs
/// beside `www`'s addresses.
fn zones() -> ZoneSet {
    let mut soa = wire_name("ns1.example.");
    soa.extend(wire_name("hostmaster.example."));
    for v in [1u32, 3600, 600, 86400, 60] {
        soa.extend(v.to_be_bytes());
    }
    let mut records = vec![
        rec("example.", rtype::SOA, soa),
        rec("example.", rtype::NS, wire_name("ns1.example.")),
        rec("ns1.example.", rtype::A, vec![192, 0, 2, 53]),
        rec("alias.example.", rtype::CNAME, wire_name("v6.example.")),
    ];
    for owner in ["www.example.", "rnd.example."] {
        addrs(owner, 8, &mut records);
    }
    addrs("big.example.", 16, &mut records);
    addrs("off.example.", 4, &mut records);
    addrs("*.wild.example.", 4, &mut records);
    for i in 1..=4u8 {
        let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8];
        v6.extend([0; 11]);
        v6.push(i);
        records.push(rec("v6.example.", rtype::AAAA, v6));
    }
    for i in 1..=3u8 {
        let mut sig = vec![0, 1, 8, 3, 0, 0, 1, 44];
        sig.extend([0, 0, 0, i, 0, 0, 0, 0, 0, 1]);
        sig.extend(wire_name("example."));
        sig.extend([i; 16]);
        records.push(rec("www.example.", rtype::RRSIG, sig));
    }
    let parsed = ParsedZone {
        origin: Some(Name::parse(b"example.", None).unwrap()),
        files: vec!["example.zone".into()],
        records,
    };
    let policy = FleetPolicy::parse(POLICY.as_bytes(), Path::new("bundle.toml")).unwrap();
    let zone = Zone::build(parsed, &policy).unwrap();
    let mut set = ZoneSet::default();
    set.zones.insert(zone.origin.key(), zone);
    set
}

fn query(qname: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend(wire_name(qname));
    q.extend(qtype.to_be_bytes());
    q.extend(class::IN.to_be_bytes());
    q.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

/// The answer section's RDATA of one response, in order.
fn ask(set: &ZoneSet, health: &ArcSwap<HealthState>, qname: &str, qtype: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    assert!(answer::answer(
        set,
        &Identity::default(),
        health,
        &query(qname, qtype),
        Transport::Udp,
        &mut out
    ));
    let m = Message::decode(&out).unwrap();
    assert_eq!(m.header.flags & 0x020F, 0, "NOERROR, not truncated");
    m.sections[0]
        .iter()
        .filter(|r| r.rtype == qtype)
        .map(|r| r.rdata.clone())
        .collect()
}

fn healthy() -> ArcSwap<HealthState> {
    ArcSwap::from_pointee(HealthState::default())
}

fn v4(last: u8) -> Vec<u8> {
    vec![192, 0, 2, last]
}

/// Over 1,000 answers, how often each record came first.
fn firsts(set: &ZoneSet, qname: &str) -> BTreeMap<Vec<u8>, usize> {
    let health = healthy();
    let mut counts = BTreeMap::new();
    for _ in 0..1000 {
        let answer = ask(set, &health, qname, rtype::A);
        assert_eq!(answer.len(), 8, "every record, every time");
        assert_eq!(answer.iter().collect::<BTreeSet<_>>().len(), 8);
        *counts.entry(answer[0].clone()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn cyclic_spreads_the_first_record_evenly() {
    let set = zones();
    let health = healthy();
    // The counter starts at 0: zone order first, then one step per answer.
    assert_eq!(ask(&set, &health, "www.example.", rtype::A)[0], v4(1));
    assert_eq!(
        ask(&set, &health, "WWW.example.", rtype::A)[..2],
        [v4(2), v4(3)]
    );
    let counts = firsts(&zones(), "www.example.");
    assert_eq!(counts.len(), 8);
    assert!(counts.values().all(|&n| n == 125), "{counts:?}");
}

#[test]
fn random_spreads_the_first_record_evenly() {
    let counts = firsts(&zones(), "rnd.example.");
    assert_eq!(counts.len(), 8);
    // 125 expected; the standard deviation is about 10.5.
    assert!(
        counts.values().all(|&n| (65..=185).contains(&n)),
        "{counts:?}"
    );
}

#[test]
fn max_answers_gives_distinct_subsets_covering_the_set() {
    let set = zones();
    let health = healthy();
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        let answer = ask(&set, &health, "big.example.", rtype::A);
        assert_eq!(answer.len(), 8);
        assert_eq!(answer.iter().collect::<BTreeSet<_>>().len(), 8);
        seen.extend(answer);
    }
    assert_eq!(seen.len(), 16, "all 16 records are served");
}

#[test]
fn off_keeps_zone_order_and_rrsigs_are_untouched() {
    let set = zones();
    let health = healthy();
    let sigs = ask(&set, &health, "www.example.", rtype::RRSIG);
    for _ in 0..5 {
        assert_eq!(
            ask(&set, &health, "off.example.", rtype::A),
            [v4(1), v4(2), v4(3), v4(4)]
        );
        assert_eq!(ask(&set, &health, "www.example.", rtype::RRSIG), sigs);
    }
    assert_eq!(sigs.len(), 3);
    assert_eq!(sigs[0][11], 1, "RRSIGs in zone order");
}

#[test]
fn down_addresses_leave_and_all_down_serves_all() {
    let set = zones();
    let ip = |last: u8| IpAddr::from([192, 0, 2, last]);
    let health = ArcSwap::from_pointee(HealthState::from_down([
        ("www.example.", vec![ip(2), ip(5)]),
        ("off.example.", vec![ip(1), ip(2), ip(3), ip(4)]),
        // Another name's down addresses do not touch `big`.
        ("rnd.example.", vec![ip(9)]),
    ]));
    let mut served = BTreeSet::new();
    for _ in 0..20 {
        let answer = ask(&set, &health, "www.example.", rtype::A);
        assert_eq!(answer.len(), 6);
        served.extend(answer);
    }
    let expected: BTreeSet<_> = [1, 3, 4, 6, 7, 8].into_iter().map(v4).collect();
    assert_eq!(served, expected);
    // Every address down: fail open, all of them in zone order.
    assert_eq!(
        ask(&set, &health, "off.example.", rtype::A),
        [v4(1), v4(2), v4(3), v4(4)]
    );
    // Health state swapped in: they come back.
    health.store(Arc::new(HealthState::default()));
    assert_eq!(ask(&set, &health, "www.example.", rtype::A).len(), 8);
}

#[test]
fn wildcard_and_cname_targets_follow_their_owners_policy() {
    let set = zones();
    let ip = |last: u8| IpAddr::from([192, 0, 2, last]);
    let health = ArcSwap::from_pointee(HealthState::from_down([("*.wild.example.", vec![ip(1)])]));
    let mut served = BTreeSet::new();
    for i in 0..12 {
        let answer = ask(&set, &health, &format!("h{i}.wild.example."), rtype::A);
        assert_eq!(answer.len(), 2, "max_answers of *.wild.example.");
        served.extend(answer);
    }
    let expected: BTreeSet<_> = [2, 3, 4].into_iter().map(v4).collect();
    assert_eq!(served, expected, "the wildcard's health applies");
    let mut served = BTreeSet::new();
    for _ in 0..64 {
        let answer = ask(&set, &health, "alias.example.", rtype::AAAA);
        assert_eq!(answer.len(), 1, "max_answers of the CNAME's target");
        served.extend(answer);
    }
    assert_eq!(served.len(), 4, "random order of the target reaches all");
}
