//! Fuzzing entry points: each takes arbitrary bytes, drives one parser or
//! answer path, and panics only when an invariant is broken (a crash the
//! fuzzer should report). The `fuzz/` targets are one-line calls to these,
//! and `tests/fuzz_corpus.rs` replays every corpus file through them, so
//! past findings stay fixed without running the fuzzer.
//!
//! Not part of the public API.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::bundle::Bundle;
use crate::engine::native::name::Name;
use crate::engine::native::wire::{Message, Request, read_request};
use crate::engine::native::zonefile;
use crate::engine::{Engine, EngineKind, Identity, Outcome, Transport};

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

/// Bytes as the zone file of a one-zone bundle (`example.com.`) loaded by
/// every engine, as a worker loads it (the native engine's zone build and
/// the hickory engine's streaming reader included): any result is fine, a
/// panic is not. `$INCLUDE` can only reach files inside the bundle's
/// directory, which holds nothing else.
pub fn zone_load(data: &[u8]) {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| match tempfile::tempdir() {
        Ok(dir) => dir.keep(),
        Err(e) => panic!("cannot make the fuzzing bundle: {e}"),
    });
    if let Err(e) = std::fs::write(dir.join("example.com.zone"), data) {
        panic!("cannot write the fuzzing zone: {e}");
    }
    let Ok(bundle) = Bundle::open(dir) else {
        return;
    };
    for &kind in EngineKind::ALL {
        let _ = kind.open(&bundle, Identity::default());
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

/// Bytes as a `bundle.toml` through the taster's expectation parser: any
/// result is fine, a panic is not.
pub fn bundle_toml(data: &[u8]) {
    let _ = crate::taster::suite::parse_expectations(data, Path::new("bundle.toml"));
}

/// Every engine of this build serving [`ZONES`], built once from a bundle
/// written to a temporary directory (kept for the life of the process).
fn engines() -> &'static [(EngineKind, Arc<dyn Engine>)] {
    static ENGINES: OnceLock<Vec<(EngineKind, Arc<dyn Engine>)>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir.keep(),
            Err(e) => panic!("cannot make the fuzzing bundle: {e}"),
        };
        for (origin, text) in ZONES {
            let path = dir.join(format!("{}zone", origin));
            if let Err(e) = std::fs::write(&path, text) {
                panic!("{}: {e}", path.display());
            }
        }
        let bundle = match Bundle::open(&dir) {
            Ok(bundle) => bundle,
            Err(e) => panic!("the fuzzing bundle does not open: {e}"),
        };
        EngineKind::ALL
            .iter()
            .map(|&kind| {
                let identity = Identity {
                    id: Some("fuzz".into()),
                };
                match kind.open(&bundle, identity) {
                    Ok(engine) => (kind, engine),
                    Err(e) => panic!("the fuzzing zones do not load in {kind}: {e}"),
                }
            })
            .collect()
    })
}

/// A decoder a response must pass besides the native codec: the fuzz
/// targets hand in the other engine's, so each engine's answers are read by
/// code that did not write them.
pub type Decoder = dyn Fn(&[u8]) -> Result<(), String>;

/// Bytes as a query through the whole answer path of the engine named
/// `engine`, over UDP and TCP: a response must decode (with the native
/// codec and with `decoder`), echo the ID and fit the size limit.
pub fn answer_checked(engine: &str, data: &[u8], decoder: &Decoder) {
    let kind: EngineKind = match engine.parse() {
        Ok(kind) => kind,
        Err(e) => panic!("{e}"),
    };
    for (k, engine) in engines() {
        if *k == kind {
            check_answers(engine.as_ref(), data, decoder);
        }
    }
}

/// The native codec as a [`Decoder`].
pub fn native_decodes(msg: &[u8]) -> Result<(), String> {
    Message::decode(msg).map(drop).map_err(|e| format!("{e:?}"))
}

/// Bytes as a query through every engine: their responses must be the
/// same octets (the engines answer identically, down to compression and
/// record order), or all engines must drop the query.
pub fn engines_agree(data: &[u8]) {
    let Some(((first_kind, first), rest)) = engines().split_first() else {
        return;
    };
    let mut expected = Vec::new();
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        let outcome = first.answer(data, transport, &mut expected);
        for (kind, engine) in rest {
            assert_eq!(
                engine.answer(data, transport, &mut out),
                outcome,
                "{first_kind} and {kind} disagree on answering over {transport:?}"
            );
            if outcome == Outcome::Reply {
                assert_eq!(
                    out, expected,
                    "{first_kind} and {kind} answer differently over {transport:?}"
                );
            }
        }
    }
}

/// The invariants every engine's answer to `query` must keep.
pub fn check_answers(engine: &dyn Engine, query: &[u8], decoder: &Decoder) {
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
                if let Err(e) = decoder(&out) {
                    panic!("response does not decode with the other decoder: {e}");
                }
            }
        }
    }
}

/// Bytes as a query through the blacklist's fingerprint parser: it must not
/// panic, a packet with the ID changed must get the same fingerprint, and
/// the printable question must stay on one line.
pub fn fingerprint(data: &[u8]) {
    use crate::engine::EngineKind;
    use crate::fingerprint::{Fingerprint, describe};
    let fp = Fingerprint::of(data, EngineKind::Native);
    if let Some(fp) = fp {
        let mut other_id = data.to_vec();
        other_id[0] ^= 0xA5;
        other_id[1] ^= 0x5A;
        assert_eq!(
            Fingerprint::of(&other_id, EngineKind::Native),
            Some(fp),
            "the ID changed the fingerprint"
        );
    }
    let text = describe(data);
    assert!(
        !text.contains(['\n', '\r']),
        "question printed over two lines: {text:?}"
    );
}
