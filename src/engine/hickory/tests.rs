//! Engine-level tests of the hickory engine: zones loaded from real bundle
//! directories, bad bundles and their messages, and answers checked rule
//! by rule (responses are read back with hickory's `Message`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::HickoryEngine;
use crate::bundle::{Bundle, BundleError};
use crate::engine::{Engine, Identity, Outcome, Transport};

/// A bundle directory removed on drop.
pub struct TempBundle(pub PathBuf);

impl TempBundle {
    /// A fresh bundle holding `files` (relative path, content).
    pub fn new(files: &[(&str, &str)]) -> TempBundle {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stripedns-hickory-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        TempBundle(dir)
    }

    fn open(&self) -> Result<HickoryEngine, BundleError> {
        HickoryEngine::open(&Bundle::open(&self.0)?, identity())
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn identity() -> Identity {
    Identity {
        id: Some("pop1.stripe2.hickory".into()),
    }
}

const ZONE: &str = r#"$TTL 300
@       IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )
        NS  ns1
        MX  10 mail
ns1     A   192.0.2.53
mail    A   192.0.2.25
        AAAA 2001:db8::25
www     CNAME web
web     CNAME fleet
fleet   A   198.51.100.1
        A   198.51.100.2
*.wild  TXT "hi!"
a.b.c   A   192.0.2.9
sub     NS  ns.sub
        DS  1 8 2 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
ns.sub  A   192.0.2.77
out     NS  ns.elsewhere.net.
d       DNAME example.
loop1   CNAME loop2
loop2   CNAME loop1
away    CNAME www.example.net.
_sip._tcp SRV 0 5 5060 mail
"#;

fn engine() -> (TempBundle, HickoryEngine) {
    let mut zone = ZONE.to_string();
    for i in 0..60 {
        zone.push_str(&format!("big A 198.51.100.{i}\n"));
    }
    let b = TempBundle::new(&[("example.zone", &zone)]);
    let e = b.open().unwrap();
    (b, e)
}

fn query(name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut q = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q[11] = u8::from(edns.is_some());
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend(qtype.to_be_bytes());
    q.extend(1u16.to_be_bytes());
    if let Some(size) = edns {
        q.extend([0, 0, 41]);
        q.extend(size.to_be_bytes());
        q.extend([0, 0, 0, 0, 0, 0]);
    }
    q
}

fn ask_raw(e: &HickoryEngine, q: &[u8], t: Transport) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match e.answer(q, t, &mut out) {
        Outcome::Reply => Some(out),
        Outcome::Drop => None,
    }
}

fn ask(e: &HickoryEngine, q: &[u8], t: Transport) -> Message {
    let out = ask_raw(e, q, t).expect("a reply");
    Message::from_vec(&out).expect("a well-formed response")
}

fn udp(e: &HickoryEngine, name: &str, qtype: u16) -> Message {
    ask(e, &query(name, qtype, None), Transport::Udp)
}

fn owners(records: &[hickory_proto::rr::Record]) -> Vec<(String, RecordType)> {
    records
        .iter()
        .map(|r| (r.name.to_ascii().to_ascii_lowercase(), r.record_type()))
        .collect()
}

#[test]
fn positive_answer_is_authoritative() {
    let (_b, e) = engine();
    let m = udp(&e, "NS1.example.", 1);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    // The query's case is kept in the answer owner.
    assert_eq!(m.answers[0].name.to_ascii(), "NS1.example.");
}

#[test]
fn nxdomain_and_nodata_carry_the_negative_soa() {
    let (_b, e) = engine();
    let m = udp(&e, "nope.example.", 1);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        owners(&m.authorities),
        [("example.".into(), RecordType::SOA)]
    );
    // min(SOA TTL 300, MINIMUM 60).
    assert_eq!(m.authorities[0].ttl, 60);
    let m = udp(&e, "b.c.example.", 1);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    let m = udp(&e, "ns1.example.", 16);
    assert_eq!(m.authorities.len(), 1);
}

#[test]
fn cname_chain_inside_the_zone() {
    let (_b, e) = engine();
    let m = udp(&e, "www.example.", 1);
    assert_eq!(
        owners(&m.answers),
        [
            ("www.example.".into(), RecordType::CNAME),
            ("web.example.".into(), RecordType::CNAME),
            ("fleet.example.".into(), RecordType::A),
            ("fleet.example.".into(), RecordType::A),
        ]
    );
    // A chain leaving the zone stops there.
    let m = udp(&e, "away.example.", 1);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // Loops end.
    let m = udp(&e, "loop1.example.", 1);
    assert_eq!(m.answers.len(), 2);
    // The CNAME itself when asked for.
    let m = udp(&e, "www.example.", 5);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn wildcards_per_rfc4592() {
    let (_b, e) = engine();
    let m = udp(&e, "x.Y.wild.example.", 16);
    assert_eq!(m.answers[0].name.to_ascii(), "x.Y.wild.example.");
    // An existing name blocks the wildcard's parent: b.c exists, so
    // zz.c.example is NXDOMAIN (no `*.c`).
    let m = udp(&e, "zz.c.example.", 16);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // NODATA through a wildcard.
    let m = udp(&e, "q.wild.example.", 1);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
}

#[test]
fn referral_with_glue_and_parent_side_ds() {
    let (_b, e) = engine();
    let m = udp(&e, "host.sub.example.", 1);
    assert!(!m.metadata.authoritative);
    assert_eq!(
        owners(&m.authorities),
        [("sub.example.".into(), RecordType::NS)]
    );
    assert_eq!(
        owners(&m.additionals),
        [("ns.sub.example.".into(), RecordType::A)]
    );
    // No DS in referrals from an unsigned zone, even with DO set.
    let mut q = query("host.sub.example.", 1, Some(1232));
    let n = q.len();
    q[n - 4] = 0x80;
    let m = ask(&e, &q, Transport::Udp);
    assert_eq!(
        owners(&m.authorities),
        [("sub.example.".into(), RecordType::NS)]
    );
    // DS at the cut is answered by the parent, authoritatively.
    let m = udp(&e, "sub.example.", 43);
    assert!(m.metadata.authoritative);
    assert_eq!(
        owners(&m.answers),
        [("sub.example.".into(), RecordType::DS)]
    );
    // Out-of-bailiwick servers: no glue.
    let m = udp(&e, "x.out.example.", 1);
    assert!(m.additionals.is_empty());
    assert_eq!(m.authorities.len(), 1);
}

#[test]
fn dname_synthesis_and_yxdomain() {
    let (_b, e) = engine();
    let m = udp(&e, "ns1.d.example.", 1);
    assert_eq!(
        owners(&m.answers),
        [
            ("d.example.".into(), RecordType::DNAME),
            ("ns1.d.example.".into(), RecordType::CNAME),
            ("ns1.example.".into(), RecordType::A),
        ]
    );
    // A CNAME question is answered by the synthesised CNAME alone.
    let m = udp(&e, "nx.d.example.", 5);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2);
    // A name that becomes too long after substitution: YXDOMAIN. The
    // DNAME owner is 2 labels, the target 1; grow by using a long target.
    let long = "a".repeat(63);
    let zone = format!(
        "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nd DNAME {l}.{l}.{l}.example.\n",
        l = long
    );
    let b = TempBundle::new(&[("example.zone", &zone)]);
    let e = b.open().unwrap();
    let q = format!("{l}.{l}.d.example.", l = "b".repeat(60));
    let m = udp(&e, &q, 1);
    assert_eq!(m.metadata.response_code, ResponseCode::YXDomain);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn additional_addresses_for_mx_and_srv() {
    let (_b, e) = engine();
    let m = udp(&e, "example.", 15);
    assert_eq!(
        owners(&m.additionals),
        [
            ("mail.example.".into(), RecordType::A),
            ("mail.example.".into(), RecordType::AAAA),
        ]
    );
    let m = udp(&e, "_sip._tcp.example.", 33);
    assert_eq!(m.additionals.len(), 2);
}

#[test]
fn any_returns_the_rrset_of_the_lowest_type() {
    let (_b, e) = engine();
    let m = udp(&e, "example.", 255);
    let types: Vec<_> = m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::NS]);
    let m = udp(&e, "b.c.example.", 255);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
}

#[test]
fn truncation_keeps_whole_rrsets_and_the_opt() {
    let (_b, e) = engine();
    let m = udp(&e, "big.example.", 1);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    let m = ask(&e, &query("big.example.", 1, Some(4096)), Transport::Udp);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 60);
    // Below 512 is raised to 512; the OPT survives truncation.
    let raw = ask_raw(&e, &query("big.example.", 1, Some(100)), Transport::Udp).unwrap();
    assert!(raw.len() <= 512);
    let m = Message::from_vec(&raw).unwrap();
    assert!(m.metadata.truncation);
    assert!(m.edns.is_some());
    let m = ask(&e, &query("big.example.", 1, None), Transport::Tcp);
    assert_eq!(m.answers.len(), 60);
}

#[test]
fn staged_errors() {
    let (_b, e) = engine();
    assert!(ask_raw(&e, &[0xAB, 0xCD, 0], Transport::Udp).is_none());
    let mut q = query("example.", 1, None);
    q[2] |= 0x80;
    assert!(ask_raw(&e, &q, Transport::Udp).is_none());
    let rcode = |q: &[u8]| {
        let out = ask_raw(&e, q, Transport::Udp).unwrap();
        out[3] & 0xF
    };
    let mut q = query("example.", 1, None);
    q[2] = 2 << 3;
    assert_eq!(rcode(&q), 4);
    let mut q = query("example.", 1, None);
    q.push(0);
    assert_eq!(rcode(&q), 1);
    let mut q = query("example.", 1, None);
    q[5] = 2;
    assert_eq!(rcode(&q), 1);
    // QTYPE OPT and MAILA are looked up like any type (NODATA here).
    assert_eq!(rcode(&query("example.", 41, None)), 0);
    assert_eq!(rcode(&query("example.", 253, None)), 0);
    // NOTIFY: REFUSED; UPDATE: NOTIMP; both with the bare header.
    for (opcode, code) in [(4u8, 5u8), (5, 4)] {
        let mut q = query("example.", 6, Some(1232));
        q[2] = opcode << 3;
        let out = ask_raw(&e, &q, Transport::Udp).unwrap();
        assert_eq!(out[3] & 0xF, code);
        assert_eq!(out.len(), 12);
    }
    // Zone transfers: REFUSED with RD cleared.
    let out = ask_raw(&e, &query("example.", 252, None), Transport::Udp).unwrap();
    assert_eq!((out[2] & 1, out[3] & 0xF), (0, 5));
    assert_eq!(rcode(&query("example.", 252, None)), 5);
    assert_eq!(rcode(&query("example.org.", 1, None)), 5);
    // BADVERS: extended RCODE 1 in the OPT TTL.
    let mut q = query("example.", 1, Some(1232));
    let n = q.len();
    q[n - 5] = 1;
    let out = ask_raw(&e, &q, Transport::Udp).unwrap();
    assert_eq!(out[out.len() - 6], 1);
}

#[test]
fn chaos_identity_and_nsid() {
    let (_b, e) = engine();
    let mut q = query("ID.server.", 16, None);
    let n = q.len();
    q[n - 1] = 3;
    let m = ask(&e, &q, Transport::Udp);
    assert_eq!(m.answers.len(), 1);
    assert!(!m.metadata.authoritative);
    let mut q = query("version.bind.", 16, None);
    let n = q.len();
    q[n - 1] = 3;
    assert_eq!(
        ask(&e, &q, Transport::Udp).metadata.response_code,
        ResponseCode::Refused
    );
    // NSID requested: the identity comes back in the OPT.
    let mut q = query("example.", 1, None);
    q[11] = 1;
    q.extend(b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x04\x00\x03\x00\x00");
    let out = ask_raw(&e, &q, Transport::Udp).unwrap();
    assert!(out.ends_with(b"pop1.stripe2.hickory"));
}

#[test]
fn hostile_queries_never_panic() {
    let (_b, e) = engine();
    let base = query("www.example.", 1, Some(1232));
    let mut out = Vec::new();
    for cut in 0..base.len() {
        e.answer(&base[..cut], Transport::Udp, &mut out);
    }
    let mut x: u32 = 12345;
    for _ in 0..20_000 {
        let mut q = base.clone();
        for _ in 0..3 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (x >> 8) as usize % q.len();
            q[at] = (x >> 16) as u8;
        }
        e.answer(&q, Transport::Udp, &mut out);
        if !out.is_empty() {
            assert!(out.len() <= 1232);
        }
    }
}

fn load_err(files: &[(&str, &str)]) -> (String, usize, String) {
    let b = TempBundle::new(files);
    match b.open() {
        Err(BundleError::Zone {
            file,
            line,
            message,
        }) => (
            file.file_name().unwrap().to_string_lossy().into_owned(),
            line,
            message,
        ),
        Err(other) => (String::new(), 0, other.to_string()),
        Ok(_) => panic!("bundle loaded"),
    }
}

const HEAD: &str = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

#[test]
fn directives_and_inheritance() {
    let zone = format!(
        "{HEAD}$origin sub\n$ttl 1h\nwww A 192.0.2.2\n  TXT \"x\\0651\"\n$ORIGIN example.\nm 30 IN MX 1 @\n\
         $INCLUDE inc/part.db other.example.\nafter A 192.0.2.9\n$GENERATE 1-3 host-$ A 10.0.0.${{10}}\n\
         t TYPE65280 \\# 2 abcd\nq CLASS1 TXT ( \"a\"\n \"b\" )\n"
    );
    let part = "x A 192.0.2.3\n$ORIGIN deeper.example.\ny A 192.0.2.4\n";
    let b = TempBundle::new(&[("example.zone", &zone), ("inc/part.db", part)]);
    let e = b.open().unwrap();
    let m = udp(&e, "www.sub.example.", 16);
    assert_eq!(m.answers[0].ttl, 3600);
    assert_eq!(m.answers[0].data.to_string(), "xA1", "\\065 is decimal");
    let m = udp(&e, "m.example.", 15);
    assert_eq!(m.answers[0].ttl, 30);
    // The include's origin applied inside it only.
    assert_eq!(udp(&e, "x.other.example.", 1).answers.len(), 1);
    assert_eq!(udp(&e, "y.deeper.example.", 1).answers.len(), 1);
    assert_eq!(udp(&e, "after.example.", 1).answers.len(), 1);
    // $TTL set before the include still applies after it.
    assert_eq!(udp(&e, "after.example.", 1).answers[0].ttl, 3600);
    for i in 1..=3 {
        let m = udp(&e, &format!("host-{i}.example."), 1);
        assert_eq!(m.answers[0].data.to_string(), format!("10.0.0.{}", i + 10));
    }
    assert_eq!(udp(&e, "t.example.", 65280).answers.len(), 1);
    let m = udp(&e, "q.example.", 16);
    let hickory_proto::rr::RData::TXT(txt) = &m.answers[0].data else {
        panic!("not TXT");
    };
    assert_eq!(txt.txt_data.len(), 2);
    assert_eq!(e.counts().0, 1);
}

#[test]
fn default_ttl_without_dollar_ttl() {
    let zone = "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
    let b = TempBundle::new(&[("example.zone", zone)]);
    let e = b.open().unwrap();
    assert_eq!(udp(&e, "ns.example.", 1).answers[0].ttl, 3600);
}

#[test]
fn bad_zones_name_file_line_and_record() {
    let (f, l, m) = load_err(&[("example.zone", &format!("{HEAD}www A 192.0.2.300\n"))]);
    assert_eq!((f.as_str(), l), ("example.zone", 5));
    assert!(m.contains("www A 192.0.2.300"), "{m}");
    // Node problems are reported at the first record of the owner.
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}w CNAME x\nw A 192.0.2.1\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("CNAME and other data"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}w CNAME x\nw CNAME y\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("more than one CNAME"), "{m}");
    // Records outside the zone are dropped, a second apex SOA ignored and
    // duplicates (names compared without case) collapsed, as Knot does.
    let zone = format!(
        "{HEAD}x.example.org. A 192.0.2.1\n@ SOA ns h 2 2 3 4 5\nm MX 1 NS.example.\nm 99 MX 1 ns\n"
    );
    let b = TempBundle::new(&[("example.zone", &zone)]);
    let e = b.open().unwrap();
    assert_eq!(udp(&e, "example.", 6).answers.len(), 1);
    let m = udp(&e, "m.example.", 15);
    assert_eq!((m.answers.len(), m.answers[0].ttl), (1, 60));
    let (_, l, m) = load_err(&[(
        "example.zone",
        &format!("{HEAD}s NS x.net.\ns DS 1 8 2 00ff\n"),
    )]);
    assert_eq!(l, 6);
    assert!(m.contains("digest"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}s NS x.net.\ns DNAME y\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("NS beside the DNAME"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}$INCLUDE x rel\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("absolute"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", "$TTL 60\n@ NS ns\nns A 192.0.2.1\n")]);
    assert_eq!(l, 0);
    assert!(m.contains("missing SOA"), "{m}");
    let (_, _, m) = load_err(&[("example.zone", "$TTL 60\n@ SOA ns h 1 2 3 4 5\n")]);
    assert!(m.contains("missing NS"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}sub NS ns.sub\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("missing glue"), "{m}");
    // Apex name servers inside the zone need addresses too.
    let (_, l, m) = load_err(&[("example.zone", "@ SOA ns h 1 2 3 4 5\n@ NS ns\n")]);
    assert_eq!(l, 2);
    assert!(m.contains("missing glue"), "{m}");
    // A wildcard can provide glue.
    let b = TempBundle::new(&[(
        "example.zone",
        "@ SOA ns h 1 2 3 4 5\n@ NS ns.w\n*.w A 192.0.2.1\n",
    )]);
    assert!(b.open().is_ok());
    let (_, l, m) = load_err(&[(
        "example.zone",
        &format!("{HEAD}d DNAME x.\na.d A 192.0.2.1\n"),
    )]);
    assert_eq!(l, 6);
    assert!(m.contains("below the DNAME"), "{m}");
    // NSEC3 records live in a tree of their own (as in Knot DNS): one below
    // an apex DNAME is not a descendant of it.
    let b = TempBundle::new(&[(
        "example.zone",
        "@ SOA ns.example.net. h 1 2 3 4 5\n@ NS ns.example.net.\n@ DNAME example.net.\n\
         @ NSEC3PARAM 1 0 0 -\n\
         0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NSEC3 1 0 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom NS SOA DNAME RRSIG NSEC3PARAM\n",
    )]);
    if let Err(e) = b.open() {
        panic!("NSEC3 below an apex DNAME: {e}");
    }
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}$BOGUS x\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("unknown directive"), "{m}");
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}x 60 IN WKS 1\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("unknown record type"), "{m}");
    let (_, l, _) = load_err(&[("example.zone", &format!("{HEAD}x TXT ( \"a\"\n"))]);
    assert_eq!(l, 5);
    let (_, l, m) = load_err(&[("example.zone", &format!("{HEAD}x CH TXT \"a\"\n"))]);
    assert_eq!(l, 5);
    assert!(m.contains("class 3"), "{m}");
    let (_, l, _) = load_err(&[("example.zone", &format!("{HEAD}x CS TXT \"a\"\n"))]);
    assert_eq!(l, 5);
    // Errors inside an included file name that file.
    let (f, l, _) = load_err(&[
        ("example.zone", &format!("{HEAD}$INCLUDE part\n")),
        ("part", "\n\nbad A x\n"),
    ]);
    assert_eq!((f.as_str(), l), ("part", 3));
    // $INCLUDE outside the bundle is refused.
    let b = TempBundle::new(&[("example.zone", &format!("{HEAD}$INCLUDE /etc/passwd\n"))]);
    assert!(matches!(
        b.open(),
        Err(BundleError::Escapes { line: 5, .. })
    ));
    let b = TempBundle::new(&[("example.zone", &format!("{HEAD}$INCLUDE ../x\n"))]);
    assert!(matches!(b.open(), Err(BundleError::Escapes { .. })));
    // An include of itself ends at the nesting bound.
    let (_, _, m) = load_err(&[("example.zone", &format!("{HEAD}$INCLUDE example.zone\n"))]);
    assert!(m.contains("nested"), "{m}");
    // A $GENERATE too large.
    let (_, _, m) = load_err(&[(
        "example.zone",
        &format!("{HEAD}$GENERATE 0-10000000 h$ A 10.0.0.1\n"),
    )]);
    assert!(m.contains("$GENERATE"), "{m}");
    for hostile in [
        "$GENERATE 4294967295-4294967295/4294967295 h$ A 10.0.0.1",
        "$GENERATE 1-1 h${4294967295,255,X} A 10.0.0.1",
        "$GENERATE 1-1 h${-4294967295} A 10.0.0.1",
        "$GENERATE 99999999999999999999-1 h$ A 10.0.0.1",
        "$GENERATE 2-1 h$ A 10.0.0.1",
        "$GENERATE 1-2/0 h$ A 10.0.0.1",
    ] {
        let b = TempBundle::new(&[("example.zone", &format!("{HEAD}{hostile}\n"))]);
        let _ = b.open();
    }
}

#[test]
fn checks_name_the_record_read_again_from_its_file() {
    // A problem found after reading names the record as written, also
    // inside an included file and for a $GENERATE'd record.
    let (f, l, m) = load_err(&[
        ("example.zone", &format!("{HEAD}$INCLUDE part.db\n")),
        ("part.db", "; part\n\nsub ( NS\n   ns.sub )\n"),
    ]);
    assert_eq!((f.as_str(), l), ("part.db", 3));
    assert!(m.starts_with("`sub NS ns.sub`: missing glue"), "{m}");
    let (f, l, m) = load_err(&[(
        "example.zone",
        &format!("{HEAD}$GENERATE 1-3 s$ NS ns.s$\nns.s1 A 192.0.2.1\nns.s2 A 192.0.2.2\n"),
    )]);
    assert_eq!((f.as_str(), l), ("example.zone", 5));
    assert!(m.starts_with("`s3 NS ns.s3`: missing glue"), "{m}");
    // Of several problems, the record written first is named.
    let (_, l, m) = load_err(&[(
        "example.zone",
        &format!("{HEAD}b CNAME x\nb A 192.0.2.1\na CNAME x\na CNAME y\n"),
    )]);
    assert_eq!(l, 5);
    assert!(m.contains("CNAME and other data (A) at b.example."), "{m}");
}

#[test]
fn large_sets_keep_one_of_each_record() {
    // Past the size searched one by one, duplicates are still found,
    // names in RDATA compared without case (RFC 4034 6.2).
    let mut zone = String::from(HEAD);
    for round in 0..2 {
        for i in 0..40 {
            zone.push_str(&format!("big A 10.0.0.{i}\n"));
            let target = if round == 0 { "T" } else { "t" };
            zone.push_str(&format!("mx MX {i} {target}{i}.example.\n"));
        }
    }
    zone.push_str("big A 10.0.0.40\n");
    let b = TempBundle::new(&[("example.zone", &zone)]);
    let e = b.open().unwrap();
    let tcp = |name: &str, qtype: u16| ask(&e, &query(name, qtype, None), Transport::Tcp);
    let m = tcp("big.example.", 1);
    assert_eq!(m.answers.len(), 41);
    let m = tcp("mx.example.", 15);
    assert_eq!(m.answers.len(), 40);
    assert!(
        m.answers[0].data.to_string().contains("T0"),
        "first written kept"
    );
}

#[test]
fn owners_in_wire_form_match_hickory_names() {
    use super::text::{Token, lower_wire, name_word, name_word_wire, wire};
    let origin = super::text::name(b"Example.", &Name::root()).unwrap();
    let origin_wire = wire(&origin);
    let mut out = Vec::new();
    // Each word with the labels of the name it reads as (`None`: refused).
    let cases: [(&str, Option<&[&[u8]]>); 17] = [
        ("www", Some(&[b"www", b"Example"])),
        ("WWW.", Some(&[b"WWW"])),
        ("@", Some(&[b"Example"])),
        (".", Some(&[])),
        ("a\\.b", Some(&[b"a.b", b"Example"])),
        ("a\\065b.c", Some(&[b"aAb", b"c", b"Example"])),
        ("*", Some(&[b"*", b"Example"])),
        ("x.", Some(&[b"x"])),
        ("a..b", None),
        (".a", None),
        ("a\\", None),
        ("a\\1", None),
        ("a\\256", None),
        ("x y", None),
        ("-_/*", Some(&[b"-_/*", b"Example"])),
        ("\\046", Some(&[b".", b"Example"])),
        (
            "a.b.c.d.e",
            Some(&[b"a", b"b", b"c", b"d", b"e", b"Example"]),
        ),
    ];
    for (raw, labels) in cases {
        let word = Token {
            raw: raw.as_bytes(),
            quoted: false,
        };
        let expected = labels.map(|labels| {
            let mut w: Vec<u8> = labels
                .iter()
                .flat_map(|l| std::iter::once(l.len() as u8).chain(l.iter().copied()))
                .collect();
            w.push(0);
            w
        });
        let theirs = name_word(&word, &origin).map(|n| wire(&n));
        let mine = name_word_wire(&word, &origin_wire, &mut out).map(|()| out.clone());
        assert_eq!(mine.clone().ok(), expected, "{raw}");
        assert_eq!(mine, theirs, "{raw}");
        if let Ok(n) = name_word(&word, &origin) {
            assert_eq!(super::text::wire_name(&wire(&n)), n);
            assert_eq!(lower_wire(&n), out.to_ascii_lowercase());
        }
    }
    let long = [
        &[b'x'; 63][..],
        b".",
        &[b'y'; 63],
        b".",
        &[b'z'; 63],
        b".",
        &[b'w'; 60],
    ]
    .concat();
    for cut in [long.len(), long.len() - 1, long.len() - 3] {
        let word = Token {
            raw: &long[..cut],
            quoted: false,
        };
        let theirs = name_word(&word, &origin).map(|n| wire(&n));
        let mine = name_word_wire(&word, &origin_wire, &mut out).map(|()| out.clone());
        assert_eq!(mine, theirs, "{cut}");
    }
}

#[test]
fn hostile_zone_text_never_panics() {
    let mut x: u32 = 99;
    let alphabet = b"a.@$()\";\\ \n\t0123456789AINSOXTCH#*-_/{},=";
    for _ in 0..300 {
        let mut zone = HEAD.as_bytes().to_vec();
        for _ in 0..200 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            zone.push(alphabet[(x >> 16) as usize % alphabet.len()]);
        }
        let b = TempBundle::new(&[("example.zone", "")]);
        std::fs::write(b.0.join("example.zone"), &zone).unwrap();
        let _ = b.open();
    }
}

#[test]
fn reload_swaps_zones() {
    let (b, e) = engine();
    let other = TempBundle::new(&[("example.org.zone", HEAD)]);
    e.reload(&Bundle::open(&other.0).unwrap()).unwrap();
    assert_eq!(
        udp(&e, "www.example.", 1).metadata.response_code,
        ResponseCode::Refused
    );
    assert_eq!(udp(&e, "ns.example.org.", 1).answers.len(), 1);
    // A failed reload leaves the live data alone.
    let bad = TempBundle::new(&[("example.zone", "garbage\n")]);
    assert!(e.reload(&Bundle::open(&bad.0).unwrap()).is_err());
    assert_eq!(udp(&e, "ns.example.org.", 1).answers.len(), 1);
    drop(b);
    let _ = Name::root();
}

#[test]
fn loads_the_repository_bundles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["zones", "tests/zones/diff"] {
        let path = root.join(dir);
        if !path.is_dir() {
            continue;
        }
        let bundle = Bundle::open(&path).unwrap();
        let e =
            HickoryEngine::open(&bundle, identity()).unwrap_or_else(|err| panic!("{dir}: {err}"));
        assert!(e.counts().1 > 0);
    }
}

#[test]
fn a_wildcard_owner_asked_for_literally() {
    let zone = format!("{HEAD}*.cn CNAME ns\n*.w A 192.0.2.7\n");
    let b = TempBundle::new(&[("example.zone", &zone)]);
    let e = b.open().unwrap();
    let m = udp(&e, "*.cn.example.", 1);
    assert_eq!(m.answers.len(), 2, "{m:?}");
    let m = udp(&e, "*.w.example.", 1);
    assert_eq!(m.answers.len(), 1, "{m:?}");
}

/// RDATA wire forms of `testdata/knot-3.2.6-types.zone` as Knot DNS 3.2.6
/// serves them (`dig +unknownformat`), for every type with a presentation
/// parser here.
const KNOT_WIRE: &[(&str, &str)] = &[
    ("afsdb", "000103616673076578616D706C6503636F6D00"),
    (
        "caa",
        "0005697373756563612E6578616D706C652E6E65743B206163636F756E743D313233",
    ),
    ("caa", "8003746273556E6B6E6F776E"),
    ("csync", "000000420003000460000008"),
    (
        "dhcid",
        "000201636FC0B8271C82825BB1AC5C41CF5351AA69B4FEBD94E8F17CDB95000DA48C40",
    ),
    ("eui", "00005E00532A"),
    ("eui64", "00005EEF1000002A"),
    ("hinfo", "0650445020313104554E4958"),
    ("https", "000003777777076578616D706C65036E657400"),
    (
        "https2",
        "0001000001000302683300020000000500030102030006001020010DB8000000000000000000000001FDE80003616263",
    ),
    ("key", "0101030D010203040506070809"),
    ("loc", "0033132289172FC470BE15F000988CEE"),
    ("loc2", "001216138B28720080DBBA0000989680"),
    ("n3p", "0100000C04AABBCCDD"),
    (
        "naptr",
        "0064000A0153075349502B4432551B215E2E2A24217369703A696E666F406578616D706C652E636F6D2100",
    ),
    (
        "nsec",
        "04686F7374076578616D706C6503636F6D000006400100000003041B000000000000000000000000000000000000000000000000000020",
    ),
    ("openpgp", "0102030405"),
    ("rp", "0168076578616D706C6503636F6D0000"),
    (
        "sig",
        "000108020000012C65920080656922003039076578616D706C6503636F6D00010203040506",
    ),
    ("spf", "0B763D73706631202D616C6C0178"),
    ("sshfp", "01010123456789ABCDEF0123456789ABCDEF01234567"),
    (
        "svc",
        "00010473766332076578616D706C65036E6574000000000400010003000100060268320268330003000220FB00040008C0000201C0000202",
    ),
    ("tlsa", "0301010123456789ABCDEF"),
    ("txt", "03612262015C02FF00"),
    (
        "uri",
        "000A000168747470733A2F2F6578616D706C652E636F6D2F70617468",
    ),
    (
        "zmd",
        "7848B78C0101FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE",
    ),
];

#[test]
fn rdata_matches_knot_wire_forms() {
    let text = include_str!("testdata/knot-3.2.6-types.zone");
    let b = TempBundle::new(&[("example.com.zone", text)]);
    let bundle = Bundle::open(&b.0).unwrap();
    /// The first label of each record's owner, and its RDATA in hex.
    struct Hex(Vec<(String, String)>);
    impl super::master::Sink for Hex {
        fn record(&mut self, r: super::master::Read<'_>) {
            let hex: String = r.rdata.iter().map(|b| format!("{b:02X}")).collect();
            let len = usize::from(r.owner[0]);
            let first = String::from_utf8_lossy(&r.owner[1..1 + len]).into_owned();
            self.0.push((first, hex));
        }
    }
    let mut mine = Hex(Vec::new());
    super::master::read_zone(&bundle, &bundle.zones()[0], &mut mine).unwrap();
    let mine = mine.0;
    for (owner, hex) in KNOT_WIRE {
        assert!(
            mine.iter().any(|(o, h)| o == owner && h == hex),
            "{owner}: Knot has {hex}, here {:?}",
            mine.iter().filter(|(o, _)| o == owner).collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------------
// Web-fleet answers (crate::fleet): rotation, max_answers, health.

/// A fleet zone: `www` with `n` A records 10.0.0.i, `big` with 16 AAAA
/// records, a wildcard fleet, a CNAME to `www`, an MX whose exchange is
/// `www`, and RRSIGs beside `www`.
fn fleet_engine(toml: &str) -> (TempBundle, HickoryEngine) {
    let mut zone = String::from(
        "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n\
         @ MX 10 www\nalias CNAME www\n",
    );
    for i in 0..8 {
        zone.push_str(&format!("www A 10.0.0.{i}\n"));
        zone.push_str(&format!("*.pool A 10.1.0.{i}\n"));
    }
    for i in 0..16 {
        zone.push_str(&format!("big AAAA 2001:db8::{i:x}\n"));
    }
    for i in 0..3 {
        zone.push_str(&format!(
            "www RRSIG A 8 3 300 20300101000000 20200101000000 {i} example. AAAA\n"
        ));
    }
    let b = TempBundle::new(&[("example.zone", &zone), ("bundle.toml", toml)]);
    let e = b.open().unwrap();
    (b, e)
}

/// The answer section's A/AAAA addresses, in order.
fn addresses(m: &Message) -> Vec<std::net::IpAddr> {
    use hickory_proto::rr::RData;
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(std::net::IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn v4(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// How often each address came first over `rounds` queries of `name`.
fn first_counts(e: &HickoryEngine, name: &str, rounds: usize) -> Vec<(std::net::IpAddr, usize)> {
    let mut counts: Vec<(std::net::IpAddr, usize)> = Vec::new();
    for _ in 0..rounds {
        let got = addresses(&udp(e, name, 1));
        assert_eq!(got.len(), 8, "every record is served");
        match counts.iter_mut().find(|(a, _)| *a == got[0]) {
            Some((_, n)) => *n += 1,
            None => counts.push((got[0], 1)),
        }
    }
    counts
}

#[test]
fn cyclic_rotation_starts_one_further_each_response() {
    let (_b, e) = fleet_engine("");
    let first = addresses(&udp(&e, "www.example.", 1));
    assert_eq!(
        first,
        (0..8)
            .map(|i| v4(&format!("10.0.0.{i}")))
            .collect::<Vec<_>>()
    );
    let second = addresses(&udp(&e, "www.example.", 1));
    assert_eq!(second[0], v4("10.0.0.1"));
    assert_eq!(second[7], v4("10.0.0.0"));
    // Over 1,000 answers, each record comes first exactly 125 times.
    let (_b, e) = fleet_engine("");
    let counts = first_counts(&e, "www.example.", 1000);
    assert_eq!(counts.len(), 8);
    assert!(counts.iter().all(|&(_, n)| n == 125), "{counts:?}");
}

#[test]
fn random_rotation_spreads_the_first_record_evenly() {
    let (_b, e) = fleet_engine("[[zone]]\norigin = \"example.\"\nrotation = \"random\"\n");
    let counts = first_counts(&e, "www.example.", 1000);
    assert_eq!(counts.len(), 8, "{counts:?}");
    // 125 expected each; the standard deviation is about 10.5, so 65 to
    // 185 (more than 5.7 of them) fails by chance less than once in 10^7.
    assert!(
        counts.iter().all(|&(_, n)| (65..=185).contains(&n)),
        "{counts:?}"
    );
    // Each answer is a permutation of the whole set.
    let mut got = addresses(&udp(&e, "www.example.", 1));
    got.sort();
    assert_eq!(
        got,
        (0..8)
            .map(|i| v4(&format!("10.0.0.{i}")))
            .collect::<Vec<_>>()
    );
}

#[test]
fn rotation_off_keeps_zone_order() {
    let toml = "[[zone]]\norigin = \"example.\"\nrotation = \"random\"\n\
                [[fleet]]\nname = \"www.example.\"\nrotation = \"off\"\n";
    let (_b, e) = fleet_engine(toml);
    for _ in 0..5 {
        assert_eq!(addresses(&udp(&e, "www.example.", 1))[0], v4("10.0.0.0"));
    }
}

#[test]
fn max_answers_spreads_subsets_over_the_whole_set() {
    for rotation in ["cyclic", "random"] {
        let toml = format!(
            "[[fleet]]\nname = \"big.example.\"\nrotation = \"{rotation}\"\nmax_answers = 8\n"
        );
        let (_b, e) = fleet_engine(&toml);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let got = addresses(&udp(&e, "big.example.", 28));
            let distinct: std::collections::BTreeSet<_> = got.iter().collect();
            assert_eq!(got.len(), 8, "{rotation}");
            assert_eq!(distinct.len(), 8, "{rotation}: {got:?}");
            seen.extend(got);
        }
        assert_eq!(
            seen.len(),
            16,
            "{rotation}: all 16 served over many queries"
        );
    }
}

#[test]
fn down_addresses_leave_and_all_down_fails_open() {
    use crate::fleet::HealthState;
    use std::sync::Arc;
    let (_b, e) = fleet_engine("[[fleet]]\nname = \"www.example.\"\nmax_answers = 4\n");
    let down = [v4("10.0.0.2"), v4("10.0.0.5")];
    e.set_health(Arc::new(HealthState::from_down([(
        "www.example.",
        down.to_vec(),
    )])));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let got = addresses(&udp(&e, "www.example.", 1));
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|a| !down.contains(a)), "{got:?}");
        seen.extend(got);
    }
    assert_eq!(seen.len(), 6, "the six healthy addresses are all served");
    // Through a CNAME the target's own policy and health apply.
    let got = addresses(&udp(&e, "alias.example.", 1));
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|a| !down.contains(a)));
    // Every address down: all of them, within the limit (fail open).
    let all: Vec<_> = (0..8).map(|i| v4(&format!("10.0.0.{i}"))).collect();
    e.set_health(Arc::new(HealthState::from_down([("www.example.", all)])));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        seen.extend(addresses(&udp(&e, "www.example.", 1)));
    }
    assert_eq!(seen.len(), 8);
    // Health returns: everything is back.
    e.set_health(Arc::new(HealthState::default()));
    assert_eq!(addresses(&udp(&e, "www.example.", 1)).len(), 4);
}

#[test]
fn wildcard_answers_follow_the_wildcard_policy_and_health() {
    use crate::fleet::HealthState;
    use std::sync::Arc;
    let toml = "[[fleet]]\nname = \"*.pool.example.\"\nrotation = \"off\"\nmax_answers = 2\n";
    let (_b, e) = fleet_engine(toml);
    for name in ["a.pool.example.", "b.pool.example."] {
        assert_eq!(
            addresses(&udp(&e, name, 1)),
            [v4("10.1.0.0"), v4("10.1.0.1")]
        );
    }
    e.set_health(Arc::new(HealthState::from_down([(
        "*.pool.example.",
        vec![v4("10.1.0.0")],
    )])));
    assert_eq!(
        addresses(&udp(&e, "c.pool.example.", 1)),
        [v4("10.1.0.1"), v4("10.1.0.2")]
    );
    // Health keyed by the query name instead of the owner changes nothing.
    e.set_health(Arc::new(HealthState::from_down([(
        "d.pool.example.",
        vec![v4("10.1.0.0")],
    )])));
    assert_eq!(addresses(&udp(&e, "d.pool.example.", 1))[0], v4("10.1.0.0"));
}

#[test]
fn rrsigs_and_additional_addresses_are_left_as_they_are() {
    let (_b, e) = fleet_engine("[[fleet]]\nname = \"www.example.\"\nmax_answers = 2\n");
    let sigs =
        |m: &Message| -> Vec<String> { m.answers.iter().map(|r| r.data.to_string()).collect() };
    let first = sigs(&udp(&e, "www.example.", 46));
    assert_eq!(first.len(), 3);
    for _ in 0..3 {
        // All RRSIGs, in zone order, every time.
        assert_eq!(sigs(&udp(&e, "www.example.", 46)), first);
        // The MX's exchange: all eight addresses, in zone order.
        let m = udp(&e, "example.", 15);
        let extra: Vec<_> = m
            .additionals
            .iter()
            .filter(|r| r.record_type() == RecordType::A)
            .map(|r| r.data.to_string())
            .collect();
        assert_eq!(extra.len(), 8);
        assert_eq!(extra[0], "10.0.0.0");
    }
    // Neither moved the counter of `www`'s A set: the first answer starts
    // at the first record.
    assert_eq!(
        addresses(&udp(&e, "www.example.", 1)),
        [v4("10.0.0.0"), v4("10.0.0.1")]
    );
}
