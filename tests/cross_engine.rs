//! Cross-engine tests: the two engines are each other's model.
//!
//! - `engines_share_nothing` fails when code outside `src/engine/hickory/`
//!   names hickory (the engine registration in `src/engine/mod.rs` aside),
//!   or when either engine's code names the other.
//! - `engines_answer_alike` (proptest): random zones (wildcards,
//!   delegations with and without glue, CNAME chains, DNAME, empty
//!   non-terminals, many RR types, large RRsets, at times a served child
//!   zone) are written as zone text into a temporary bundle and loaded by
//!   both engines; random queries (in and out of the zone, mixed case, EDNS
//!   sizes, DO and NSID, UDP and TCP, other classes and opcodes, mangled
//!   octets) must get the same response from both: the same octets, and so
//!   the same normalised answer (rcode, flags, question, sections as sets).
//!   A zone both engines refuse must be refused at the same file and line.
//! - `engines_read_zone_text_alike` (proptest): the same records written in
//!   many master-file forms (directives, includes, `$GENERATE`, escapes,
//!   inheritance, bad lines).
//! - `engines_answer_fleets_alike`, `engines_answer_random_fleets_alike`
//!   (proptest): random zones under a random `bundle.toml` fleet policy
//!   (rotation, max_answers) and random health states, each address owner
//!   asked several times; fresh engines must give the same octets, or with
//!   `random` rotation the same sets (address records counted per owner
//!   where random subsets are drawn).
//! - `engines_answer_random_packets_alike` (proptest): arbitrary octets.
//! - `every_type_reads_alike`, `every_directive_reads_alike`: fixed lists
//!   of good and bad records and directives.
//! - `regressions` replays the divergences found, as fixed cases.
//!
//! `PROPTEST_CASES=N` sets the number of cases (256 by default);
//! `DUMP_ZONES=DIR` writes every generated zone there (to check them with
//! `nsd-checkzone` or `kzonecheck`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use stripedns::bundle::{Bundle, BundleError};
use stripedns::engine::{EngineKind, Identity, Outcome, Transport};
use stripedns::fleet::HealthState;

// ---------------------------------------------------------------------
// Independence of the engines.

/// Code of a Rust source file with comments, string and character
/// literals blanked, so that only identifiers and paths remain.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                // A character literal ('x' or '\n'); lifetimes pass through.
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// Identifiers of `code` (lowercased) that contain `word`.
fn identifiers_naming(code: &str, word: &str) -> Vec<String> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_ascii_lowercase)
        .filter(|ident| {
            ident
                .split('_')
                .any(|part| part == word || part.starts_with(word))
        })
        .collect()
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn engines_share_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hickory_dir = root.join("src/engine/hickory");
    let native_dir = root.join("src/engine/native");
    let registration = root.join("src/engine/mod.rs");
    let mut files = Vec::new();
    for dir in ["src", "foodtaster/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 10,
        "source files not found under {}",
        root.display()
    );
    let mut problems = Vec::new();
    for file in &files {
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        if file.starts_with(&hickory_dir) {
            for ident in identifiers_naming(&code, "native") {
                problems.push(format!("{rel}: the hickory engine names `{ident}`"));
            }
        } else if *file != registration {
            for ident in identifiers_naming(&code, "hickory") {
                problems.push(format!("{rel}: names `{ident}` outside src/engine/hickory"));
            }
        }
        if file.starts_with(&native_dir) {
            for ident in identifiers_naming(&code, "hickory") {
                problems.push(format!("{rel}: the native engine names `{ident}`"));
            }
        }
    }
    // The registration may name the engine, but not use hickory-proto.
    let reg = code_only(&std::fs::read_to_string(&registration).unwrap());
    if reg.contains("hickory_proto") {
        problems.push("src/engine/mod.rs: uses hickory_proto".into());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_code_not_comments() {
    let src = "// hickory here\nlet s = \"hickory\"; /* native */ use crate::engine::native::x;\nlet c = '\"';";
    let code = code_only(src);
    assert!(identifiers_naming(&code, "hickory").is_empty());
    assert_eq!(identifiers_naming(&code, "native"), ["native"]);
    assert_eq!(
        identifiers_naming("use hickory_proto::rr; HickoryEngine", "hickory"),
        ["hickory_proto", "hickoryengine"]
    );
    assert!(identifiers_naming("alternative", "native").is_empty());
}

// ---------------------------------------------------------------------
// Random zones.

const ORIGIN: &str = "example.com.";
const LABELS: &[&str] = &[
    "a", "b", "c", "www", "mail", "x", "*", "sub", "d", "ns", "g1", "t2",
];

/// One record as generated: owner (relative, lowercase), TTL, type, RDATA.
#[derive(Debug, Clone)]
struct Rr {
    owner: Vec<&'static str>,
    ttl: Option<u32>,
    rtype: &'static str,
    rdata: String,
}

fn owner_strategy() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(LABELS), 1..4)
}

fn target_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => owner_strategy().prop_map(|o| o.join(".")),
        1 => Just("www.example.net.".to_string()),
        1 => Just("@".to_string()),
    ]
}

fn rr_strategy() -> impl Strategy<Value = Rr> {
    let data = prop_oneof![
        3 => (any::<u8>()).prop_map(|n| ("A", format!("192.0.2.{n}"))),
        2 => (any::<u16>()).prop_map(|n| ("AAAA", format!("2001:db8::{n:x}"))),
        2 => (0usize..3, any::<u8>()).prop_map(|(k, n)| ("TXT", match k {
            0 => format!("\"t{n}\""),
            1 => format!("\"a\\065{n}\" \"\" b{n}"),
            _ => format!("\"{}\"", "x".repeat(usize::from(n))),
        })),
        2 => (0u16..30, target_strategy()).prop_map(|(p, t)| ("MX", format!("{p} {t}"))),
        1 => (any::<u16>(), target_strategy()).prop_map(|(p, t)| ("SRV", format!("0 1 {p} {t}"))),
        3 => target_strategy().prop_map(|t| ("CNAME", t)),
        1 => prop_oneof![Just("example.net."), Just("x.example.com."), Just("d.example.com.")]
            .prop_map(|t| ("DNAME", t.to_string())),
        2 => any::<bool>().prop_map(|inside| ("NS", if inside { "ns".into() } else { "ns.example.net.".into() })),
        1 => Just(("CAA", "0 issue \"ca.example.net\"".to_string())),
        1 => target_strategy().prop_map(|t| ("PTR", t)),
        1 => prop_oneof![Just("\\# 0"), Just("\\# 2 abcd")].prop_map(|d| ("TYPE65280", d.to_string())),
        1 => Just(("SSHFP", "1 1 0123456789abcdef".to_string())),
        1 => Just(("HINFO", "\"PDP-11\" \"UNIX\"".to_string())),
        1 => prop_oneof![
            4 => Just("12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
            1 => Just("12345 13 2 0123456789ABCDEF"),
        ].prop_map(|d| ("DS", d.to_string())),
    ];
    (
        owner_strategy(),
        prop::option::weighted(0.3, prop::sample::select(vec![0u32, 30, 300, 86400])),
        data,
    )
        .prop_map(|(owner, ttl, (rtype, rdata))| Rr {
            owner,
            ttl,
            rtype,
            rdata,
        })
}

/// Is `inner` (labels, leftmost first) strictly below `outer`?
fn below(inner: &[&str], outer: &[&str]) -> bool {
    inner.len() > outer.len() && inner.ends_with(outer)
}

/// Keep the records a zone checker accepts (no CNAME beside other data,
/// one CNAME or DNAME per name, nothing below a DNAME, glue for in-zone
/// name servers, nothing else below a delegation), and add glue.
fn valid(records: Vec<Rr>) -> Vec<Rr> {
    let mut kept: Vec<Rr> = Vec::new();
    for mut r in records {
        let same = |k: &Rr| k.owner == r.owner;
        let has = |t: &str| kept.iter().any(|k| same(k) && k.rtype == t);
        let any_here = kept.iter().any(same);
        let below_special = kept
            .iter()
            .any(|k| matches!(k.rtype, "DNAME" | "NS") && below(&r.owner, &k.owner));
        let has_descendants = kept.iter().any(|k| below(&k.owner, &r.owner));
        let wildcard = r.owner.first() == Some(&"*");
        let ok = match r.rtype {
            "CNAME" => !any_here,
            "DNAME" => !has("DNAME") && !has("CNAME") && !has_descendants && !wildcard,
            "NS" => !has("CNAME") && !has("NS") && !has_descendants && !wildcard,
            "DS" => has("NS"),
            _ => !has("CNAME"),
        } && !below_special;
        if !ok {
            continue;
        }
        if r.rtype == "NS" && r.rdata == "ns" {
            r.rdata = format!("ns.{}", r.owner.join("."));
            let mut glue_owner = vec!["ns"];
            glue_owner.extend(r.owner.iter().copied());
            kept.push(r.clone());
            kept.push(Rr {
                owner: glue_owner,
                ttl: None,
                rtype: "A",
                rdata: "192.0.2.53".into(),
            });
            continue;
        }
        kept.push(r);
    }
    kept
}

/// A zone (records plus a case pattern for owner names) in zone-file text.
fn zone_text(records: &[Rr], case_mask: u64, big: Option<(usize, u8)>) -> String {
    let mut z = format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 7200 900 1209600 60 )\n  NS ns1\nns1 A 192.0.2.1\n"
    );
    for (i, r) in records.iter().enumerate() {
        let mut owner = r.owner.join(".");
        if case_mask >> (i % 64) & 1 == 1 {
            owner = owner.to_ascii_uppercase();
        }
        let ttl = r.ttl.map(|t| format!(" {t}")).unwrap_or_default();
        let _ = writeln!(z, "{owner}{ttl} IN {} {}", r.rtype, r.rdata);
    }
    if let Some((count, label)) = big {
        let owner = LABELS[usize::from(label) % LABELS.len()];
        if !records
            .iter()
            .any(|r| r.owner == [owner] && r.rtype == "CNAME")
        {
            for i in 0..count {
                let _ = writeln!(z, "{owner} IN A 198.51.100.{i}");
            }
        }
    }
    z
}

// ---------------------------------------------------------------------
// Random queries.

#[derive(Debug, Clone)]
struct Q {
    /// Labels, leftmost first; the origin is appended unless `outside`.
    labels: Vec<&'static str>,
    outside: bool,
    case_mask: u32,
    qtype: u16,
    qclass: u16,
    opcode: u8,
    edns: Option<(u16, bool, bool, u8)>,
    tcp: bool,
    mangle: Option<(usize, u8)>,
}

fn query_strategy() -> impl Strategy<Value = Q> {
    let qtype = prop_oneof![
        prop::sample::select(vec![
            1u16, 28, 16, 15, 33, 5, 2, 6, 43, 255, 39, 257, 12, 65280
        ]),
        prop::sample::select(vec![41u16, 252, 251, 253, 254, 0, 99, 13, 44, 65535]),
    ];
    (
        prop::collection::vec(prop::sample::select(LABELS), 0..5),
        prop::bool::weighted(0.05),
        any::<u32>(),
        qtype,
        prop::sample::select(vec![1u16, 1, 1, 1, 1, 1, 1, 3, 255, 4, 2]),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 5, 15]),
        prop::option::weighted(
            0.6,
            (
                prop::sample::select(vec![0u16, 100, 512, 513, 600, 1232, 1400, 4096, 65535]),
                any::<bool>(),
                any::<bool>(),
                prop::sample::select(vec![0u8, 0, 0, 1]),
            ),
        ),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.05, (any::<usize>(), any::<u8>())),
    )
        .prop_map(
            |(labels, outside, case_mask, qtype, qclass, opcode, edns, tcp, mangle)| Q {
                labels,
                outside,
                case_mask,
                qtype,
                qclass,
                opcode,
                edns,
                tcp,
                mangle,
            },
        )
}

fn wire_query(q: &Q) -> Vec<u8> {
    let mut m = vec![
        0x5A,
        0xA5,
        (q.opcode << 3) | 0x01,
        0x10,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    m[11] = u8::from(q.edns.is_some());
    let suffix: &[&str] = if q.outside {
        &["example", "org"]
    } else {
        &["example", "com"]
    };
    for (i, label) in q.labels.iter().chain(suffix).enumerate() {
        m.push(label.len() as u8);
        for c in label.bytes() {
            m.push(if q.case_mask >> (i % 32) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
    }
    m.push(0);
    m.extend(q.qtype.to_be_bytes());
    m.extend(q.qclass.to_be_bytes());
    if let Some((size, dnssec_ok, nsid, version)) = q.edns {
        m.extend([0, 0, 41]);
        m.extend(size.to_be_bytes());
        m.extend([0, version, if dnssec_ok { 0x80 } else { 0 }, 0]);
        if nsid {
            m.extend([0, 4, 0, 3, 0, 0]);
        } else {
            m.extend([0, 0]);
        }
    }
    if let Some((at, value)) = q.mangle {
        let at = at % m.len();
        m[at] = value;
    }
    m
}

// ---------------------------------------------------------------------
// Normalised responses.

/// A response as a comparable value: header fields, question, and each
/// section as a sorted list of records with names decompressed.
#[derive(Debug, PartialEq, Eq)]
struct Normal {
    id: u16,
    flags: u16,
    question: Vec<String>,
    sections: [BTreeSet<String>; 3],
}

fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(at)?;
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(at + 2);
            at = usize::from(u16::from_be_bytes([len & 0x3F, *msg.get(at + 1)?]));
            hops += 1;
            if hops > 128 {
                return None;
            }
            continue;
        }
        let label = msg.get(at + 1..at + 1 + usize::from(len))?;
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
        for &c in label {
            if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                out.push(c as char);
            } else {
                let _ = write!(out, "\\{c:03}");
            }
        }
        out.push('.');
    }
    Some((
        if out.is_empty() { ".".into() } else { out },
        end.unwrap_or(at),
    ))
}

fn normalise(msg: &[u8]) -> Option<Normal> {
    let u16at = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    let counts = [u16at(4)?, u16at(6)?, u16at(8)?, u16at(10)?];
    let mut at = 12;
    let mut question = Vec::new();
    for _ in 0..counts[0] {
        let (name, next) = read_name(msg, at)?;
        question.push(format!("{name} {} {}", u16at(next)?, u16at(next + 2)?));
        at = next + 4;
    }
    let mut sections: [BTreeSet<String>; 3] = Default::default();
    for (s, &count) in counts[1..].iter().enumerate() {
        for _ in 0..count {
            let (name, next) = read_name(msg, at)?;
            let rtype = u16at(next)?;
            let class = u16at(next + 2)?;
            let ttl = u32::from(u16at(next + 4)?) << 16 | u32::from(u16at(next + 6)?);
            let len = usize::from(u16at(next + 8)?);
            let start = next + 10;
            let rdata = msg.get(start..start + len)?;
            // Names inside the RDATA of compressible types, decompressed.
            let shown = match rtype {
                2 | 5 | 12 | 39 => read_name(msg, start)?.0,
                15 => format!("{} {}", u16at(start)?, read_name(msg, start + 2)?.0),
                6 => {
                    let (m, n1) = read_name(msg, start)?;
                    let (r, n2) = read_name(msg, n1)?;
                    format!("{m} {r} {:02x?}", msg.get(n2..start + len)?)
                }
                _ => format!("{rdata:02x?}"),
            };
            sections[s].insert(format!("{name} {rtype} {class} {ttl} {shown}"));
            at = start + len;
        }
    }
    if at != msg.len() {
        return None;
    }
    Some(Normal {
        id: u16at(0)?,
        flags: u16at(2)?,
        question,
        sections,
    })
}

// ---------------------------------------------------------------------
// The comparison.

struct TempDir(PathBuf);

impl TempDir {
    fn with_zone(text: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stripedns-cross-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{ORIGIN}zone")), text).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// True once the native engine has been seen unable to read zone files.
static NATIVE_PARSER_MISSING: AtomicUsize = AtomicUsize::new(0);
/// Queries compared.
static COMPARED: AtomicUsize = AtomicUsize::new(0);

/// The file name and line a load error names.
fn place(e: &BundleError) -> (String, usize) {
    match e {
        BundleError::Zone { file, line, .. }
        | BundleError::Escapes {
            path: file, line, ..
        } => (
            file.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            *line,
        ),
        other => (other.to_string(), 0),
    }
}

/// Zones loaded by both engines.
static BOTH_LOADED: AtomicUsize = AtomicUsize::new(0);
/// Zones refused by both engines (at the same place).
static BOTH_REFUSED: AtomicUsize = AtomicUsize::new(0);

fn is_parser_stub(e: &BundleError) -> bool {
    e.to_string().contains("parser not built yet")
}

/// Load `zone` into both engines and compare their answers to `queries`.
fn compare(zone: &str, queries: &[Q]) -> Result<(), String> {
    compare_files(zone, &[], queries)
}

/// [`compare`] with more files in the bundle (for `$INCLUDE`).
fn compare_files(zone: &str, extra: &[(&str, String)], queries: &[Q]) -> Result<(), String> {
    compare_fleet(zone, extra, queries, None)
}

/// A fleet answer policy and health states for [`compare_fleet`].
#[derive(Debug, Clone, Default)]
struct Fleet {
    /// The bundle's `bundle.toml`.
    toml: String,
    /// Down addresses per owner name, set on both engines before the first
    /// query.
    health: Vec<(String, Vec<IpAddr>)>,
    /// From this query on, both engines see every address healthy again.
    recover_at: Option<usize>,
    /// Some set is rotated at random: answers are compared as sets.
    random: bool,
    /// ... and limited too: random subsets, so address records are
    /// compared by number per owner, not by value.
    random_subsets: bool,
}

/// How two answers are compared under `fleet`: the octets, or with
/// random rotation, the normalised answer (sections as sets; address
/// records counted per owner where random subsets are drawn).
fn same_answer(a: &[u8], b: &[u8], fleet: Option<&Fleet>) -> bool {
    if a == b {
        return true;
    }
    let Some(fleet) = fleet.filter(|f| f.random) else {
        return false;
    };
    let (Some(mut na), Some(mut nb)) = (normalise(a), normalise(b)) else {
        return false;
    };
    if a.len() != b.len() {
        return false;
    }
    if fleet.random_subsets {
        for n in [&mut na, &mut nb] {
            n.sections[0] = counted_addresses(&n.sections[0]);
        }
    }
    na == nb
}

/// The answer section with A and AAAA records reduced to how many each
/// owner got (their addresses dropped).
fn counted_addresses(section: &BTreeSet<String>) -> BTreeSet<String> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let mut out = BTreeSet::new();
    for line in section {
        let fields: Vec<&str> = line.splitn(5, ' ').collect();
        if matches!(fields.get(1), Some(&"1") | Some(&"28")) {
            *counts.entry(fields[..4].join(" ")).or_default() += 1;
        } else {
            out.insert(line.clone());
        }
    }
    out.extend(counts.into_iter().map(|(k, n)| format!("{k} x{n}")));
    out
}

/// [`compare_files`] under a fleet policy: both engines load the same
/// `bundle.toml`, get the same health states at the same points, and
/// answer the same query sequence from fresh counters.
fn compare_fleet(
    zone: &str,
    extra: &[(&str, String)],
    queries: &[Q],
    fleet: Option<&Fleet>,
) -> Result<(), String> {
    let dir = TempDir::with_zone(zone);
    if let Some(f) = fleet {
        std::fs::write(dir.0.join("bundle.toml"), &f.toml).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    if let Ok(dump) = std::env::var("DUMP_ZONES") {
        static DUMPED: AtomicUsize = AtomicUsize::new(0);
        let n = DUMPED.fetch_add(1, Ordering::Relaxed);
        let _ = std::fs::write(format!("{dump}/z{n}.zone"), zone);
    }
    let bundle = Bundle::open(&dir.0).map_err(|e| e.to_string())?;
    let identity = Identity {
        id: Some("pop-test".into()),
    };
    let hickory = EngineKind::Hickory.open(&bundle, identity.clone());
    let native = EngineKind::Native.open(&bundle, identity);
    let (hickory, native) = match (hickory, native) {
        (Ok(h), Ok(n)) => {
            BOTH_LOADED.fetch_add(1, Ordering::Relaxed);
            (h, Some(n))
        }
        (Ok(h), Err(e)) if is_parser_stub(&e) => {
            NATIVE_PARSER_MISSING.fetch_add(1, Ordering::Relaxed);
            (h, None)
        }
        // Both refuse: they must blame the same file and line.
        (Err(h), Err(n)) => {
            return if place(&h) == place(&n) {
                BOTH_REFUSED.fetch_add(1, Ordering::Relaxed);
                Ok(())
            } else {
                Err(format!(
                    "engines refuse the zone at different places:\nhickory: {h}\nnative: {n}\n{zone}"
                ))
            };
        }
        (Ok(_), Err(e)) => return Err(format!("only native refuses the zone: {e}\n{zone}")),
        (Err(e), Ok(_)) => return Err(format!("only hickory refuses the zone: {e}\n{zone}")),
    };
    if let Some(f) = fleet {
        let health = HealthState::from_down(f.health.iter().map(|(n, a)| (n.as_str(), a.clone())));
        let health = Arc::new(health);
        hickory.set_health(health.clone());
        if let Some(n) = &native {
            n.set_health(health);
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, q) in queries.iter().enumerate() {
        if fleet.and_then(|f| f.recover_at) == Some(i) {
            hickory.set_health(Arc::default());
            if let Some(n) = &native {
                n.set_health(Arc::default());
            }
        }
        let wire = wire_query(q);
        let transport = if q.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let ho = hickory.answer(&wire, transport, &mut a);
        if ho == Outcome::Reply && !q.tcp && a.len() > 1232 {
            return Err(format!(
                "hickory sent {} octets over UDP for {q:?}",
                a.len()
            ));
        }
        let Some(native) = &native else { continue };
        let no = native.answer(&wire, transport, &mut b);
        COMPARED.fetch_add(1, Ordering::Relaxed);
        let same = ho == no && (ho == Outcome::Drop || same_answer(&a, &b, fleet));
        if same {
            continue;
        }
        let (na, nb) = (normalise(&a), normalise(&b));
        let mut text = format!("engines differ for {q:?}\nquery {wire:02x?}\n");
        let _ = writeln!(text, "hickory {ho:?} {} octets: {na:#?}", a.len());
        let _ = writeln!(text, "native  {no:?} {} octets: {nb:#?}", b.len());
        let _ = writeln!(text, "zone:\n{zone}");
        if let Some(f) = fleet {
            let _ = writeln!(text, "bundle.toml:\n{}\nhealth: {:?}", f.toml, f.health);
        }
        return Err(text);
    }
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engines_answer_alike(
        records in prop::collection::vec(rr_strategy(), 0..40),
        case_mask in any::<u64>(),
        big in prop::option::weighted(0.2, (20usize..80, any::<u8>())),
        queries in prop::collection::vec(query_strategy(), 1..40),
        unchecked in prop::bool::weighted(0.15),
        child in prop::option::weighted(0.3, prop::collection::vec(rr_strategy(), 0..15)),
    ) {
        // Mostly zones that pass the checks; some as drawn, to compare how
        // the engines refuse them.
        let records = if unchecked { records } else { valid(records) };
        let zone = zone_text(&records, case_mask, big);
        // Sometimes a served child zone `sub.example.com.` too: the
        // deepest zone answers, but the parent answers DS at its apex.
        let extra: Vec<(&str, String)> = child
            .map(|c| {
                let text = zone_text(&valid(c), case_mask.rotate_left(7), None)
                    .replace(&format!("$ORIGIN {ORIGIN}"), "$ORIGIN sub.example.com.");
                vec![("sub.example.com.zone", text)]
            })
            .unwrap_or_default();
        if let Err(e) = compare_files(&zone, &extra, &queries) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The fleet half of a generated case: per-zone rotation, per-name
/// settings for some address owners, and which addresses are down.
#[derive(Debug, Clone)]
struct FleetDraw {
    zone_rotation: Option<&'static str>,
    /// (which address owner, rotation, max_answers).
    names: Vec<(usize, Option<&'static str>, Option<usize>)>,
    /// Bit i: the i-th address record is down.
    down_mask: u64,
    /// Owners (by index) whose addresses are all down.
    all_down: Vec<usize>,
    recover_at: Option<usize>,
    /// How many times each address owner is asked (exercises counters).
    repeats: usize,
}

fn fleet_strategy(random: bool) -> impl Strategy<Value = FleetDraw> {
    let rotations: Vec<&'static str> = if random {
        vec!["random", "random", "cyclic", "off"]
    } else {
        vec!["cyclic", "off"]
    };
    (
        prop::option::weighted(0.5, prop::sample::select(rotations.clone())),
        prop::collection::vec(
            (
                any::<usize>(),
                prop::option::weighted(0.5, prop::sample::select(rotations)),
                prop::option::weighted(0.6, 1usize..10),
            ),
            0..5,
        ),
        any::<u64>(),
        prop::collection::vec(any::<usize>(), 0..2),
        prop::option::weighted(0.3, 0usize..60),
        1usize..8,
    )
        .prop_map(
            |(zone_rotation, names, down_mask, all_down, recover_at, repeats)| FleetDraw {
                zone_rotation,
                names,
                down_mask,
                all_down,
                recover_at,
                repeats,
            },
        )
}

/// Turn a draw into a policy and health state for the zone's records
/// (and its `big` set), plus the queries that ask each address owner
/// `repeats` times, interleaved with `queries`.
fn fleet_case(
    records: &[Rr],
    big: Option<(usize, u8)>,
    draw: &FleetDraw,
    queries: &[Q],
) -> (Fleet, Vec<Q>) {
    // (owner labels, address) of every address record of the zone text.
    let mut addrs: Vec<(Vec<&'static str>, IpAddr)> = records
        .iter()
        .filter(|r| matches!(r.rtype, "A" | "AAAA"))
        .filter_map(|r| Some((r.owner.clone(), r.rdata.parse().ok()?)))
        .collect();
    if let Some((count, label)) = big {
        let owner = LABELS[usize::from(label) % LABELS.len()];
        if !records
            .iter()
            .any(|r| r.owner == [owner] && r.rtype == "CNAME")
        {
            for i in 0..count {
                addrs.push((vec![owner], format!("198.51.100.{i}").parse().unwrap()));
            }
        }
    }
    let mut owners: Vec<Vec<&'static str>> = Vec::new();
    for (o, _) in &addrs {
        // Fleet names are host names: `*` only as the first label.
        if !owners.contains(o) && !o.iter().skip(1).any(|l| *l == "*") {
            owners.push(o.clone());
        }
    }
    let fqdn = |o: &[&str]| format!("{}.{ORIGIN}", o.join("."));
    let mut toml = String::new();
    let mut random = false;
    let mut limited = false;
    if let Some(r) = draw.zone_rotation {
        let _ = writeln!(toml, "[[zone]]\norigin = \"{ORIGIN}\"\nrotation = \"{r}\"");
        random |= r == "random";
    }
    let mut named: Vec<usize> = Vec::new();
    for &(pick, rotation, max) in &draw.names {
        if owners.is_empty() {
            break;
        }
        let at = pick % owners.len();
        if named.contains(&at) {
            continue;
        }
        named.push(at);
        let _ = writeln!(toml, "[[fleet]]\nname = \"{}\"", fqdn(&owners[at]));
        if let Some(r) = rotation {
            let _ = writeln!(toml, "rotation = \"{r}\"");
            random |= r == "random";
        }
        if let Some(m) = max {
            let _ = writeln!(toml, "max_answers = {m}");
            limited = true;
        }
    }
    let mut health: Vec<(String, Vec<IpAddr>)> = Vec::new();
    for (i, (o, a)) in addrs.iter().enumerate() {
        let all = draw
            .all_down
            .iter()
            .any(|&k| !owners.is_empty() && owners[k % owners.len()] == *o);
        if all || draw.down_mask >> (i % 64) & 1 == 1 {
            health.push((fqdn(o), vec![*a]));
        }
    }
    let mut asked = Vec::new();
    let mut extra = queries.iter();
    for round in 0..draw.repeats {
        for (k, o) in owners.iter().enumerate() {
            // A fresh name below a wildcard owner stands for it.
            let labels: Vec<&'static str> = if o.first() == Some(&"*") {
                std::iter::once("g1")
                    .chain(o[1..].iter().copied())
                    .collect()
            } else {
                o.clone()
            };
            asked.push(Q {
                labels,
                outside: false,
                case_mask: 0,
                qtype: [1, 28, 255][(round + k) % 3],
                qclass: 1,
                opcode: 0,
                edns: Some((1232, false, false, 0)),
                tcp: (round + k) % 4 == 0,
                mangle: None,
            });
            if let Some(q) = extra.next() {
                asked.push(q.clone());
            }
        }
    }
    asked.extend(extra.cloned());
    let fleet = Fleet {
        toml,
        health,
        recover_at: draw.recover_at,
        random,
        // Random subsets need a limit on some set; with limits only on
        // cyclic or off sets the answers are still the same octets.
        random_subsets: random && limited,
    };
    (fleet, asked)
}

proptest! {
    #![proptest_config(config())]

    /// Random zones under a random fleet policy (rotation off or cyclic,
    /// max_answers) and random health states: fresh engines given the
    /// same queries give the same octets.
    #[test]
    fn engines_answer_fleets_alike(
        records in prop::collection::vec(rr_strategy(), 0..30),
        big in prop::option::weighted(0.5, (2usize..40, any::<u8>())),
        draw in fleet_strategy(false),
        queries in prop::collection::vec(query_strategy(), 0..20),
    ) {
        let records = valid(records);
        let zone = zone_text(&records, 0, big);
        let (fleet, queries) = fleet_case(&records, big, &draw, &queries);
        prop_assert!(!fleet.random);
        if let Err(e) = compare_fleet(&zone, &[], &queries, Some(&fleet)) {
            prop_assert!(false, "{}", e);
        }
    }

    /// The same with `random` rotation in the mix: answers compared as
    /// sets, and by number of addresses per owner where random subsets
    /// are drawn.
    #[test]
    fn engines_answer_random_fleets_alike(
        records in prop::collection::vec(rr_strategy(), 0..30),
        big in prop::option::weighted(0.5, (2usize..40, any::<u8>())),
        draw in fleet_strategy(true),
        queries in prop::collection::vec(query_strategy(), 0..20),
    ) {
        let records = valid(records);
        let zone = zone_text(&records, 0, big);
        let (fleet, queries) = fleet_case(&records, big, &draw, &queries);
        if let Err(e) = compare_fleet(&zone, &[], &queries, Some(&fleet)) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// The relaxed comparison still tells different answers apart.
#[test]
fn random_fleet_comparison_is_not_blind() {
    // One A record answer for www.example. with addresses 1 and 2.
    let answer = |addrs: &[u8]| {
        let mut m = b"\x00\x01\x84\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x00\x00\x01\x00\x01".to_vec();
        m[7] = addrs.len() as u8;
        for &a in addrs {
            m.extend(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02");
            m.push(a);
        }
        m
    };
    let sets = Fleet {
        random: true,
        ..Fleet::default()
    };
    let subsets = Fleet {
        random_subsets: true,
        ..sets.clone()
    };
    assert!(same_answer(&answer(&[1, 2]), &answer(&[2, 1]), Some(&sets)));
    assert!(!same_answer(&answer(&[1, 2]), &answer(&[2, 1]), None));
    assert!(!same_answer(
        &answer(&[1, 2]),
        &answer(&[1, 3]),
        Some(&sets)
    ));
    assert!(same_answer(
        &answer(&[1, 2]),
        &answer(&[3, 4]),
        Some(&subsets)
    ));
    assert!(!same_answer(
        &answer(&[1, 2]),
        &answer(&[3]),
        Some(&subsets)
    ));
}

proptest! {
    #![proptest_config(config())]

    /// Any octets at all, as a query to a fixed zone: both engines drop
    /// it or send the same response.
    #[test]
    fn engines_answer_random_packets_alike(
        packet in prop::collection::vec(any::<u8>(), 0..300),
        header in prop::collection::vec(any::<u8>(), 12),
        tcp in any::<bool>(),
    ) {
        // Mostly a plausible header (one question, QR=0) before the noise.
        let mut wire = header;
        wire[2] &= 0x7F;
        wire[4] = 0;
        wire[5] = 1;
        wire.extend(packet);
        let zone = zone_text(&[], 0, Some((30, 0)));
        let dir = TempDir::with_zone(&zone);
        let bundle = Bundle::open(&dir.0).unwrap();
        let hickory = EngineKind::Hickory.open(&bundle, Identity::default()).unwrap();
        let Ok(native) = EngineKind::Native.open(&bundle, Identity::default()) else {
            return Ok(());
        };
        let t = if tcp { Transport::Tcp } else { Transport::Udp };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ho = hickory.answer(&wire, t, &mut a);
        let no = native.answer(&wire, t, &mut b);
        prop_assert_eq!(ho, no);
        if ho == Outcome::Reply {
            prop_assert_eq!(a, b, "query {:02x?}", wire);
        }
    }
}

/// How one record is written: the forms a master file may take.
#[derive(Debug, Clone)]
struct Style {
    /// A directive or a bad line before the record.
    before: u8,
    /// Owner form: relative, absolute, inherited, escaped, upper case.
    owner: u8,
    /// TTL form: none, seconds, units.
    ttl: u8,
    /// Class form: none, `IN`, `in`, `CLASS1`.
    class: u8,
    /// Class before TTL.
    swap: bool,
    /// Type form: mnemonic, lower case, `TYPEnnn`.
    rtype: u8,
    /// RDATA in parentheses across lines, with a comment.
    parens: bool,
    /// Written in an included file instead.
    included: bool,
    /// One more oddity: line ends, tabs, generic RDATA, odd owners and
    /// TTLs, escapes, unknown types.
    noise: u8,
}

fn style_strategy() -> impl Strategy<Value = Style> {
    (
        0u8..100,
        0u8..5,
        0u8..3,
        0u8..4,
        any::<bool>(),
        0u8..3,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
        0u8..100,
    )
        .prop_map(
            |(before, owner, ttl, class, swap, rtype, parens, included, noise)| Style {
                before,
                owner,
                ttl,
                class,
                swap,
                rtype,
                parens,
                included,
                noise,
            },
        )
}

/// Type numbers of the mnemonics the generator uses.
fn type_number(mnemonic: &str) -> Option<u16> {
    Some(match mnemonic {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "PTR" => 12,
        "HINFO" => 13,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "DNAME" => 39,
        "DS" => 43,
        "SSHFP" => 44,
        "CAA" => 257,
        _ => return None,
    })
}

/// Write `records` in the forms `styles` pick, with directives and some
/// bad lines between them; returns the zone file and the included file.
fn styled_zone(records: &[Rr], styles: &[Style]) -> (String, String) {
    let mut z = format!(
        "$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 7200 900 1209600 60 )\n  NS ns1\nns1 A 192.0.2.1\n"
    );
    let mut inc = String::new();
    let mut last_owner: Option<&[&str]> = None;
    for (r, st) in records.iter().zip(styles) {
        let out = if st.included { &mut inc } else { &mut z };
        match st.before {
            0 => out.push_str(
                ["$TTL 1h30m\n", "$ttl 90\n", "$TTL 2W\n", "$TTL 0\n"][r.owner.len() % 4],
            ),
            1 => out.push_str(
                [
                    "$ORIGIN b.example.com.\n",
                    "$ORIGIN Example.COM.\n",
                    "$origin x.y.example.com.\n",
                    "$ORIGIN sub\n",
                    "$ORIGIN example.org.\n",
                    "$ORIGIN example.com.\n",
                ][r.owner.len() * 2 % 6],
            ),
            2 => out.push_str("$GENERATE 1-3 g$ A 192.0.2.${10,3}\n"),
            3 => out.push_str("$GENERATE 0-4/2 t${0,1,x} 60 TXT \"v$\" \\$\n"),
            4 => out.push_str(
                [
                    "junk\n",
                    "y A 1.2.3\n",
                    "z TXT \"open\n",
                    "$BOGUS 1\n",
                    "w IN\n",
                ][r.owner.len() % 5],
            ),
            5 => out.push_str("; a comment line\n\n"),
            _ => {}
        }
        let rel = r.owner.join(".");
        let owner = match st.owner {
            1 => format!("{rel}.{ORIGIN}"),
            2 if last_owner == Some(&r.owner[..]) && !st.included => "   ".to_string(),
            3 => {
                let first = rel.as_bytes()[0];
                format!("\\{first:03}{}", &rel[1..])
            }
            4 => rel.to_ascii_uppercase(),
            _ => rel.clone(),
        };
        last_owner = (!st.included).then_some(&r.owner[..]);
        let ttl = match (st.ttl, r.ttl) {
            (1, t) => format!("{}", t.unwrap_or(120)),
            (2, _) => "5m".to_string(),
            _ => String::new(),
        };
        let class = ["", "IN", "in", "CLASS1"][usize::from(st.class)].to_string();
        let (first, second) = if st.swap { (class, ttl) } else { (ttl, class) };
        let rtype = match (st.rtype, type_number(r.rtype)) {
            (1, _) => r.rtype.to_ascii_lowercase(),
            (2, Some(n)) => format!("TYPE{n}"),
            _ => r.rtype.to_string(),
        };
        let rdata = if st.parens {
            format!("( {} ; split\n   )", r.rdata)
        } else {
            r.rdata.clone()
        };
        let (owner, first, rtype, rdata) = match st.noise {
            0 => (owner, first, rtype, format!("{rdata}\r")),
            1 => (format!("{owner}\t"), first, rtype, rdata),
            2 if r.rtype == "A" => {
                let hex: String = r
                    .rdata
                    .split('.')
                    .map(|o| format!("{:02x}", o.parse::<u8>().unwrap_or(0)))
                    .collect();
                (owner, first, rtype, format!("\\# 4 {hex}"))
            }
            3 => ("x.example.org.".to_string(), first, rtype, rdata),
            4 => (owner, "1H".into(), rtype, rdata),
            5 => (owner, "4294967296".into(), rtype, rdata),
            6 => (
                "@".to_string(),
                first,
                "TXT".into(),
                "\"\\\"x\\\" \\255 \\0651\" y\\032z".into(),
            ),
            7 => ("a\\.b".to_string(), first, rtype, rdata),
            8 => (owner, first, "FOO".into(), rdata),
            9 => (owner, first, "TYPE65280".into(), "\\# 3 abcdef".into()),
            10 => (owner, first, "TXT".into(), "unquoted\\;semi \"\"".into()),
            11 => (owner, "1w2d3h4m5s".into(), rtype, rdata),
            _ => (owner, first, rtype, rdata),
        };
        let _ = writeln!(out, "{owner} {first} {second} {rtype} {rdata}");
        if st.before == 1 {
            out.push_str("$ORIGIN example.com.\n");
        }
    }
    if !inc.is_empty() {
        z.push_str(if inc.len() % 2 == 0 {
            "$INCLUDE inc.db\n"
        } else {
            "$INCLUDE \"inc.db\" example.com.\n"
        });
    }
    (z, inc)
}

proptest! {
    #![proptest_config(config())]

    /// The same records written in many master-file forms (directives,
    /// inheritance, escapes, units, generic types, parentheses, includes,
    /// `$GENERATE`, bad lines): both engines load the same zone, or refuse
    /// it at the same file and line.
    #[test]
    fn engines_read_zone_text_alike(
        records in prop::collection::vec(rr_strategy(), 0..25),
        styles in prop::collection::vec(style_strategy(), 25),
        queries in prop::collection::vec(query_strategy(), 1..30),
    ) {
        let records = valid(records);
        let (zone, inc) = styled_zone(&records, &styles);
        if let Err(e) = compare_files(&zone, &[("inc.db", inc)], &queries) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// One record of every type the parsers read, in good and bad forms:
/// both engines load it the same or refuse it on the same line.
#[test]
fn every_type_reads_alike() {
    let lines = [
        "r A 192.0.2.1",
        "r A 192.0.2.011",
        "r A 1.2.3",
        "r AAAA 2001:db8::1",
        "r AAAA ::ffff:1.2.3.4",
        "r NS ns.example.net.",
        "r CNAME a+b",
        "r CNAME \\+b",
        "r PTR \"quoted.\"",
        "r DNAME x.example.net.",
        "r MX 10 mail",
        "r MX 65536 mail",
        "r TXT \"a\" b \"\"",
        "r TXT x=\"y z\"",
        &format!("r TXT \"{}\"", "x".repeat(300)),
        "r SPF \"v=spf1 -all\"",
        "r HINFO PDP-11 UNIX",
        "r HINFO \"a\"",
        "r MINFO a b",
        "r RP a.example.com. .",
        "r AFSDB 1 afs",
        "r RT 1 rt",
        "r KX 1 kx",
        "r LP 1 lp.example.com.",
        "r SRV 0 1 2 t",
        "r SRV 0 1 t",
        "r NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp",
        "r CAA 0 issue \"ca.example\"",
        "r CAA 0 is-sue \"x\"",
        "r CAA 0 issue ca",
        "r URI 10 1 \"https://e.x/\"",
        "r SSHFP 1 1 0123456789abcdef",
        "r SSHFP 1 1",
        "r SSHFP 1 1 012 3",
        "r TLSA 3 1 1 00 11",
        "r SMIMEA 3 1 1 abcd",
        "r DS 1 8 1 0123456789012345678901234567890123456789",
        "r DS 1 RSASHA256 2 00",
        "r DS 1 FOO 2 00",
        "r CDS 0 0 0 00",
        "r DNSKEY 257 3 13 AQID",
        "r DNSKEY 257 3 13 AQI=",
        "r DNSKEY 257 3 13 AQJ=",
        "r DNSKEY 257 3 13 AQ ID",
        "r CDNSKEY 0 3 0 AA==",
        "r KEY 256 3 5 AQID",
        "r CERT PGP 0 0 AQID",
        "r CERT 1 2 3 AQID",
        "r RRSIG A 8 2 300 20240101000000 20231201000000 1 example.com. AQID",
        "r RRSIG A 8 2 300 20241301000000 20231201000000 1 example.com. AQID",
        "r NSEC n.example.com. A NS SOA TYPE65000",
        "r NSEC n.example.com. A FOO",
        "r NSEC3 1 1 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM A",
        "r NSEC3 1 1 0 ab 0P9MHAVE A",
        "r NSEC3PARAM 1 0 0 -",
        "r CSYNC 1 3 A NS",
        "r ZONEMD 1 1 1 00",
        "r OPENPGPKEY AQID",
        "r DHCID AQID",
        "r EUI48 00-00-5e-00-53-2a",
        "r EUI48 00-00-5e-00-53",
        "r EUI64 00-00-5e-ef-10-00-00-2a",
        "r NID 1 0014:4fff:ff20:ee64",
        "r L64 1 0014:4fff:ff20:ee6",
        "r L32 1 192.0.2.1",
        "r APL 1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32",
        "r APL 1:1.2.3.4/33",
        "r IPSECKEY 10 1 2 192.0.2.38 AQID",
        "r IPSECKEY 10 0 2 . AQID",
        "r IPSECKEY 10 3 2 gw.example.com.",
        "r IPSECKEY 10 0 2 x AQID",
        "r LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
        "r LOC 52 N 4 E 0",
        "r LOC 91 N 4 E 0",
        "r LOC 52 22 N 4 53 E 10m 1m 2m 3m 4m",
        "r SVCB 1 . alpn=h2,h3 port=8443",
        "r SVCB 0 t.example.com.",
        "r SVCB 1 . mandatory=alpn alpn=h2",
        "r HTTPS 1 . ech=AQID ipv4hint=192.0.2.1,192.0.2.2",
        "r HTTPS 1 . key65000=x no-default-alpn",
        "r HTTPS 1 . alpn=\"h2,h3\"",
        "r HTTPS 1 . port=1 port=2",
        "r HTTPS 1 . dohpath=/q{?dns}",
        "r TYPE65280 \\# 0",
        "r TYPE1 \\# 4 c0000201",
        "r A \\# 3 c00002",
        "r TYPE41 \\# 0",
        "r TYPE255 \\# 0",
        "r WKS \\# 0",
        "r CLASS1 A 192.0.2.1",
        "r CH A 192.0.2.1",
        "r 1h30 A 192.0.2.1",
        "r 1H30M A 192.0.2.1",
        "r DS \\# 4 00010801",
        "r SOA ns h 1 2 3 4 5",
        "r MX \\# 3 000a00",
        "r NS \\# 1 00",
        "r NAPTR 1 2 \"\" \"\" \"\" .",
        "r TXT \"\\256\"",
        "r TXT a\\",
        "r NSEC3PARAM 1 0 0 zz",
        "r DS \\# 2 0001",
        "r SVCB \\# 1 00",
        "r SVCB \\# 3 000100",
        "r LOC \\# 16 01000000000000000000000000000000",
        "r LOC \\# 16 00000000000000000000000000000000",
        "r NSEC \\# 1 00",
        "r NSEC \\# 3 010000",
        "r CAA \\# 1 00",
        "r CAA \\# 2 0000",
        "r DNAME \\# 1 05",
        "r DNAME \\# 2 0100",
        "r RP \\# 2 0000",
        "r SSHFP \\# 1 01",
        "r TLSA \\# 3 010101",
        "r URI \\# 4 00010002",
        "r RRSIG \\# 4 00010800",
        "r APL \\# 4 00012000",
        "r EUI48 \\# 5 0000000000",
        "r HTTPS \\# 7 00010000010000",
        "r IPSECKEY \\# 3 0a0002",
        "r HTTPS 1 . alpn= \"h2\"",
        "r HTTPS 1 . mandatory=port",
        "r HTTPS 1 . mandatory=port port=1",
        "r HTTPS 1 . mandatory=mandatory",
        "r HTTPS 1 . alpn=",
        "r HTTPS 1 . port=",
        "r HTTPS 1 . key7=/x",
        "r HTTPS 1 . KEY3=1",
        "r HTTPS 1 . key65535=x",
        "r HTTPS 1 . ipv6hint=::1,2001:db8::2",
        "r HTTPS 1 . ech=\"AQID\"",
        "r HTTPS 1 . no-default-alpn=x",
        "r HTTPS 1 . alpn=h2\\,x,h3",
        "r HTTPS 1 . ohttp",
        "r HTTPS 0 . alpn=h2",
        "r SVCB 1 t port=53 port=53",
        "r LOC 0 0 0 N 0 0 0 E 0",
        "r LOC 90 0 0 S 180 0 0 W -100000m",
        "r LOC 90 1 0 N 0 E 0",
        "r LOC 52 60 0 N 0 E 0",
        "r LOC 52 1 60 N 0 E 0",
        "r LOC 52 1 59.9999 N 0 E 0",
        "r LOC 52 1 59.999 N 0 E 0",
        "r LOC 52 N 4 E 0 90000000m",
        "r LOC 52 N 4 E 0 1 2 3",
        "r LOC 52 N 4 E 0.5 0.01m",
        "r LOC 52 N 4 E 42849672.95m",
        "r LOC 52 N 4 E 42849672.96m",
        "r LOC 52 n 4 e 0",
        "r LOC 52 N 4 E",
        "r LOC -1 N 4 E 0",
        "r LOC 52 N 4 E 1.234m",
        "r LOC 52 N 4 E 10m 100000000m",
        "r RRSIG A 8 2 300 19691231235959 20231201000000 1 example.com. AQID",
        "r RRSIG A 8 2 300 21060207062816 20231201000000 1 example.com. AQID",
        "r RRSIG A 8 2 300 4294967295 0 1 example.com. AQID",
        "r RRSIG A 8 2 300 4294967296 0 1 example.com. AQID",
        "r RRSIG A 8 2 300 20240230000000 0 1 example.com. AQID",
        "r RRSIG TYPE65000 8 2 1h 0 0 1 example.com. AQID",
        "r RRSIG FOO 8 2 1h 0 0 1 example.com. AQID",
        "r RRSIG A 8 2 1h 0 0 1 example.com.",
        "r NSEC3 1 1 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM",
        "r NSEC3 1 1 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A",
        "r NSEC3 1 1 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TO A",
        "r NSEC3PARAM 1 0 0 a",
        &format!("r NSEC3PARAM 1 0 0 {}", "ab".repeat(256)),
        "r NSEC n.example.com.",
        "r NSEC n.example.com. TYPE0 TYPE65535",
        "r TXT \"a\\\"",
        "r TXT \\0",
        "r TXT \\00x",
        "r CAA 0 issue \"\"",
        "r CAA 256 issue x",
        "r CAA 0 issue",
        "r URI 1 1",
        "r URI 1 1 \"\"",
        "r SSHFP 1 1 0",
        "r DNSKEY 257 3 13 ====",
        "r DNSKEY 257 3 13 AA=A",
        "r DNSKEY 257 3 13 A",
        "r DS 65536 8 2 00",
        "r HINFO \"\" \"\"",
        &format!("r HINFO {} x", "x".repeat(256)),
        "r MX 1 .",
        "r SRV 1 2 3 .",
        "r A 192.0.2.1 ( )",
        "r A ( 192.0.2.1 ) x",
    ];
    let mut refused = 0;
    for line in lines {
        let zone = format!(
            "$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n{line}\n"
        );
        let queries: Vec<Q> = [1u16, 255, 16, 29, 64, 65, 42, 45, 37, 65280, 41]
            .into_iter()
            .map(|qtype| Q {
                labels: vec!["r"],
                outside: false,
                case_mask: 0,
                qtype,
                qclass: 1,
                opcode: 0,
                edns: Some((1232, false, false, 0)),
                tcp: true,
                mangle: None,
            })
            .collect();
        if let Err(e) = compare(&zone, &queries) {
            panic!("{line}: {e}");
        }
        let dir = TempDir::with_zone(&zone);
        let bundle = Bundle::open(&dir.0).unwrap();
        refused += usize::from(
            EngineKind::Hickory
                .open(&bundle, Identity::default())
                .is_err(),
        );
    }
    eprintln!(
        "every_type_reads_alike: {} lines, {refused} refused by both",
        lines.len()
    );
}

/// Directives, inheritance and lexical forms, good and bad, each as the
/// body of a zone: both engines load it the same or refuse it on the same
/// line. `inc.db` holds `x A 192.0.2.9` for the includes.
#[test]
fn every_directive_reads_alike() {
    let bodies = [
        "$ORIGIN sub\nr A 192.0.2.1",
        "$ORIGIN sub.example.com.\nr A 192.0.2.1\n$ORIGIN example.com.\nr A 192.0.2.2",
        "$ORIGIN\nr A 192.0.2.1",
        "$ORIGIN a b\n",
        "$ORIGIN \"q.\"\n",
        "$TTL 1h\nr A 192.0.2.1",
        "$TTL\n",
        "$TTL x\n",
        "$TTL 1h30\n",
        "$TTL 60 extra\n",
        "r 60 A 192.0.2.1\n  A 192.0.2.2\n  600 A 192.0.2.3",
        " A 192.0.2.1",
        "r IN 60 A 192.0.2.1",
        "r 60 60 A 192.0.2.1",
        "r IN IN A 192.0.2.1",
        "r",
        "r 60",
        "r 60 IN",
        "$INCLUDE inc.db",
        "$INCLUDE inc.db sub.example.com.",
        "$INCLUDE inc.db sub",
        "$INCLUDE \"inc.db\"",
        "$INCLUDE missing.db",
        "$INCLUDE",
        "$INCLUDE inc.db a b",
        "$include inc.db\nr A 192.0.2.1",
        "$INCLUDE inc.db\n  A 192.0.2.2",
        "$GENERATE 1-3 h$ A 192.0.2.$",
        "$GENERATE 1-3 h$ 60 IN A 192.0.2.$",
        "$GENERATE 3-1 h$ A 192.0.2.$",
        "$GENERATE 1-3/0 h$ A 192.0.2.$",
        "$GENERATE 1-3 h$ A",
        "$GENERATE 1-3",
        "$GENERATE 0-15 ${0,2,n} PTR h$.example.com.",
        "$GENERATE 1-2 h${-5,3} TXT x$",
        "$GENERATE 1-2 h\\$ TXT \"$\"",
        "$GENERATE 1-2 h${0,3,q} A 192.0.2.1",
        "$GENERATE 1-70000 h$ A 192.0.2.1",
        "$GENERATE 1-2 h$ TYPE$ \\# 0",
        "$BOGUS",
        "r A ( 192.0.2.1 )",
        "r A ( 192.0.2.1",
        "r A 192.0.2.1 )",
        "r TXT ( ( a ) )",
        "r TXT \"a\"b",
        "r TXT a\"b\"",
        "r TXT \"a\tb\"",
        "r TXT \"a\rb\"",
        "r\tTXT\ta",
        "r TXT a\r",
        "r TXT \"\\\n\"",
        "r TXT a ; comment \u{1}\n",
        "r TXT \u{7f}",
        "\\064 A 192.0.2.1",
        "a\\.b A 192.0.2.1",
        "a..b A 192.0.2.1",
        ".r A 192.0.2.1",
        "r. A 192.0.2.1",
        "r.example.com.. A 192.0.2.1",
        "@ A 192.0.2.1",
        "@.x A 192.0.2.1",
        "r+x A 192.0.2.1",
        "r=x A 192.0.2.1",
        "\"r\" A 192.0.2.1",
        "r.example.org. A 192.0.2.1",
        "r A 192.0.2.1 ; trailing",
        "r NS ns.r\nns.r A 192.0.2.1\nx.r TXT occluded",
        "r CNAME a\nr RRSIG A 8 2 300 20240101000000 20231201000000 1 example.com. AQID",
        "r CNAME a\nr NSEC a.example.com. CNAME",
        "r DNAME a.\nx.r A 192.0.2.1",
        "@ DNAME a.",
        "r NS a.example.net.\nr DNAME a.",
        "r NSEC3PARAM 1 0 0 -\n@ NSEC3PARAM 1 0 0 -\n@ NSEC3PARAM 1 0 1 -",
        "@ SOA ns1 h 2 2 3 4 5\n",
        "r SOA ns1 h 2 2 3 4 5\n",
        "@ NS ns2\n",
        "@ NS ns3.r\n*.r A 192.0.2.1",
        "sub NS ns.sub\n",
        "sub NS ns.deep.sub\nns.deep.sub A 192.0.2.1",
        "sub NS ns.other\n",
        "sub NS ns.other\nother NS x.example.net.",
        "sub NS x\nx CNAME y",
        "r A 192.0.2.1\nr A 192.0.2.1\nR 60 A 192.0.2.1",
        "r DS 1 8 3 00",
        "r DS 1 8 4 00",
    ];
    let mut refused = 0;
    for body in bodies {
        let zone = format!(
            "$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n{body}\n"
        );
        let names: [&[&'static str]; 6] = [
            &["r"],
            &["x"],
            &["h1"],
            &["x", "sub"],
            &["sub"],
            &["x", "r"],
        ];
        let queries: Vec<Q> = names
            .iter()
            .flat_map(|labels| {
                [1u16, 255, 16, 12, 5].into_iter().map(|qtype| Q {
                    labels: labels.to_vec(),
                    outside: false,
                    case_mask: 0,
                    qtype,
                    qclass: 1,
                    opcode: 0,
                    edns: Some((1232, false, false, 0)),
                    tcp: true,
                    mangle: None,
                })
            })
            .collect();
        let inc = ("inc.db", "x A 192.0.2.9\n".to_string());
        if let Err(e) = compare_files(&zone, std::slice::from_ref(&inc), &queries) {
            panic!("{body:?}: {e}");
        }
        let dir = TempDir::with_zone(&zone);
        std::fs::write(dir.0.join(inc.0), &inc.1).unwrap();
        let bundle = Bundle::open(&dir.0).unwrap();
        refused += usize::from(
            EngineKind::Hickory
                .open(&bundle, Identity::default())
                .is_err(),
        );
    }
    eprintln!(
        "every_directive_reads_alike: {} bodies, {refused} refused by both",
        bodies.len()
    );
}

/// Shrunk failures of `engines_answer_alike`, kept as fixed cases.
#[test]
fn regressions() {
    let base = Q {
        labels: vec![],
        outside: false,
        case_mask: 0,
        qtype: 1,
        qclass: 1,
        opcode: 0,
        edns: None,
        tcp: false,
        mangle: None,
    };
    let q = |labels: Vec<&'static str>, qtype: u16| Q {
        labels,
        qtype,
        ..base.clone()
    };
    let cases: Vec<(&str, Vec<Q>)> = vec![
        ("big IN A 198.51.100.1\n", vec![q(vec!["big"], 1)]),
        // A wildcard owner asked for literally (hickory's `num_labels`
        // does not count `*`).
        (
            "*.cn CNAME www\nwww A 192.0.2.8\n*.w A 192.0.2.9\n",
            vec![
                q(vec!["*", "cn"], 1),
                q(vec!["*", "w"], 1),
                q(vec!["x", "*", "w"], 1),
            ],
        ),
        // A CNAME question stops at the CNAME a DNAME synthesises.
        (
            "d DNAME x.example.com.\nx A 192.0.2.8\n",
            vec![q(vec!["a", "b", "d"], 5), q(vec!["a", "d"], 1)],
        ),
        // No DS in a referral from an unsigned zone, even with DO.
        (
            "sub NS ns.sub\nns.sub A 192.0.2.7\nsub DS 1 13 2 0001020304050607080900010203040506070809000102030405060708090001\n",
            vec![
                Q {
                    edns: Some((1232, true, false, 0)),
                    ..q(vec!["www", "sub"], 1)
                },
                q(vec!["sub"], 43),
            ],
        ),
        // Names compared without case collapse duplicates; the first TTL
        // holds for the RRset.
        (
            "m MX 1 NS1.example.com.\nm 99 MX 1 ns1\nm 5 MX 2 ns1\n",
            vec![q(vec!["m"], 15), q(vec!["M"], 255)],
        ),
    ];
    for (extra, queries) in cases {
        let zone = format!(
            "$ORIGIN {ORIGIN}\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 60\n  NS ns1\nns1 A 192.0.2.1\n{extra}"
        );
        compare(&zone, &queries).unwrap();
    }
    eprintln!(
        "cross-engine: {} zones loaded by both, {} queries compared, {} zones refused by both",
        BOTH_LOADED.load(Ordering::Relaxed),
        COMPARED.load(Ordering::Relaxed),
        BOTH_REFUSED.load(Ordering::Relaxed)
    );
    if NATIVE_PARSER_MISSING.load(Ordering::Relaxed) > 0 {
        eprintln!("note: the native engine cannot read zone files yet; answers were not compared");
    }
}

#[test]
fn normaliser_reads_compressed_names() {
    let msg = b"\x00\x01\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00\x03www\x07example\x00\x00\x05\x00\x01\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x06\x03web\xc0\x10";
    let n = normalise(msg).unwrap();
    assert_eq!(n.question, ["www.example. 5 1"]);
    assert!(n.sections[0].contains("www.example. 5 1 60 web.example."));
    let _ = COMPARED.load(Ordering::Relaxed);
}
