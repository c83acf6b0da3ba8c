//! Fuzzing entry points: each takes arbitrary bytes, drives one parser or
//! answer path, and panics only when an invariant is broken (a crash the
//! fuzzer should report). The `fuzz/` targets are one-line calls to these,
//! and `tests/fuzz_corpus.rs` replays every corpus file through them, so
//! past findings stay fixed without running the fuzzer.
//!
//! Not part of the public API.

use std::path::Path;
use std::sync::OnceLock;

use crate::engine::native::name::Name;
use crate::engine::native::wire::{Message, Request, read_request};
use crate::engine::native::{NativeEngine, zonefile};
use crate::engine::{Engine, Identity, Outcome, Transport};

/// The zones every answer-path target serves: the differential test's set,
/// which exercises every answering rule.
const ZONES: &[(&str, &[u8])] = &[
    (
        "example.com.",
        include_bytes!("../tests/zones/diff/example.com.zone"),
    ),
    (
        "example.net.",
        include_bytes!("../tests/zones/diff/example.net.zone"),
    ),
    (
        "kid.example.net.",
        include_bytes!("../tests/zones/diff/kid.example.net.zone"),
    ),
    (
        "2.0.192.in-addr.arpa.",
        include_bytes!("../tests/zones/diff/2.0.192.in-addr.arpa.zone"),
    ),
];

/// Bytes as a zone file for `example.com.` through the native parser and
/// zone checks: any result is fine, a panic is not. `$INCLUDE` is refused.
pub fn native_zonefile(data: &[u8]) {
    let Ok(origin) = Name::parse(b"example.com.", None) else {
        return;
    };
    let file = Path::new("fuzz.zone");
    if let Ok(zone) =
        zonefile::parse_bytes(data, &origin, file, &mut zonefile::refuse_includes(file))
    {
        let _ = zonefile::check_zone(&zone);
    }
}

/// Bytes as a DNS message through the native decoder; whatever decodes must
/// survive encode-then-decode unchanged (names compared ignoring case, as
/// compression matches names case-insensitively).
pub fn native_message(data: &[u8]) {
    let Ok(first) = Message::decode(data) else {
        return;
    };
    // An expanded RDATA that no longer fits its 16-bit length cannot be
    // encoded again; such input is not a message a peer can send.
    if first
        .sections
        .iter()
        .flatten()
        .any(|r| r.rdata.len() > usize::from(u16::MAX))
    {
        return;
    }
    let mut wire = Vec::new();
    first.encode(&mut wire);
    let second = match Message::decode(&wire) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded message does not decode: {e:?}"),
    };
    assert_eq!(
        lowercased(first),
        lowercased(second),
        "round trip changed the message"
    );
}

/// `m` with every owner and question name lowercased.
fn lowercased(mut m: Message) -> Message {
    for q in &mut m.questions {
        q.0.make_ascii_lowercase();
    }
    for r in m.sections.iter_mut().flatten() {
        r.owner.make_ascii_lowercase();
        r.rdata.make_ascii_lowercase();
    }
    m
}

/// The native engine serving [`ZONES`], built once.
fn native_engine() -> &'static NativeEngine {
    static ENGINE: OnceLock<NativeEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let identity = Identity {
            id: Some("fuzz".into()),
        };
        match NativeEngine::from_texts(ZONES, identity) {
            Ok(engine) => engine,
            Err(e) => panic!("the fuzzing zones do not load: {e}"),
        }
    })
}

/// Bytes as a query through the native engine's whole answer path, over
/// UDP and TCP. A response must decode, echo the ID and fit the limit.
pub fn native_answer(data: &[u8]) {
    check_answers(native_engine(), data);
}

/// The invariants every engine's answer to `query` must keep.
pub fn check_answers(engine: &dyn Engine, query: &[u8]) {
    let mut out = Vec::new();
    let mut req = Request::default();
    let edns = read_request(query, &mut req).ok().and(req.edns);
    for (transport, limit) in [
        (Transport::Udp, if edns.is_some() { 1232 } else { 512 }),
        (Transport::Tcp, 65_535),
    ] {
        match engine.answer(query, transport, &mut out) {
            Outcome::Drop => {
                let is_query = query.len() >= 12 && query[2] & 0x80 == 0;
                assert!(!is_query, "a query with a header was dropped");
            }
            Outcome::Reply => {
                assert!(out.len() >= 12, "response shorter than a header");
                assert_eq!(out[..2], query[..2], "response does not echo the ID");
                assert!(
                    out.len() <= limit,
                    "{} octets over {transport:?}",
                    out.len()
                );
                if let Err(e) = Message::decode(&out) {
                    panic!("response does not decode: {e:?}");
                }
            }
        }
    }
}
