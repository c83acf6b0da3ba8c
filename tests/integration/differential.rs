//! Differential tests: the same queries to Knot DNS, NSD and stripedns, all
//! serving the bundle `tests/zones/diff`, and their normalised answers
//! compared.
//!
//! The query list is generated from the zone files: every owner name, the
//! empty non-terminals above them, names below wildcards, delegations and
//! DNAMEs, nonexistent names at several depths and out-of-zone names, each
//! with a spread of types, EDNS settings (none, version 0 with several
//! buffer sizes, DO, version 1), transports and qname case. See
//! [`crate::dnsmsg::normalise`] for what is compared.
//!
//! The rule: where Knot and NSD agree, stripedns must give the same answer;
//! where they disagree (the RFCs leave a choice), stripedns must give one of
//! theirs. [`knot_and_nsd_answer_the_query_set`] checks the peers alone and
//! reports where they differ; [`stripedns_matches_knot_and_nsd`] is the test
//! of stripedns. Reports go to stdout (`--nocapture`) and, in full, to files
//! under `target/tmp/`.
//!
//! ```text
//! cargo test --test integration differential::knot_and_nsd -- --nocapture   # peers only
//! cargo test --test integration differential::stripedns -- --nocapture      # stripedns
//! ```
//!
//! The peers' configuration is in [`crate::peers`]; the zone set's comments
//! say which answering rule each part of it exercises.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hickory_proto::rr::Name;

use crate::dnsmsg::{
    EdnsSpec, NormMessage, Normalised, Proto, QuerySpec, class_name, normalise, qtype,
};
use crate::peers::{Client, Server, bundle_zones, edns};

/// The bundle every server serves.
fn bundle_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/diff")
}

/// How many mismatches are printed in full on stdout.
const PRINTED_MISMATCHES: usize = 30;
/// After this many queries in a row without a response, a server is given
/// up on (so a dead server fails fast instead of timing out 4,000 times).
const MAX_SILENT_RUN: usize = 20;
/// After this many unanswered queries in all, a server is given up on too,
/// which bounds the test's time (each costs a few seconds of waiting).
const MAX_SILENT_TOTAL: usize = 40;

/// What the zone files say: for each zone, its owner names and the types
/// held at each.
#[derive(Debug, Default)]
struct ZoneFacts {
    /// Zone origins.
    origins: Vec<Name>,
    /// Owner name (as written, case kept) to the type mnemonics at it.
    owners: BTreeMap<Name, BTreeSet<String>>,
    /// Owner name to its number of records, to find the large RRsets.
    records: BTreeMap<Name, usize>,
}

/// Read the owner names and types of every zone of `dir`. This is a small
/// reader for the test zones' own layout (one record per line, multi-line
/// records only in parentheses), not a general zone-file parser.
fn read_zone_facts(dir: &Path) -> ZoneFacts {
    let mut facts = ZoneFacts::default();
    for zone in bundle_zones(dir) {
        let origin = Name::from_ascii(&zone.origin).unwrap();
        facts.origins.push(origin.clone());
        let text = fs::read_to_string(&zone.path).unwrap();
        let mut current_origin = origin.clone();
        let mut last_owner = origin.clone();
        let mut depth = 0i32;
        for line in text.lines() {
            let starts_record = depth == 0;
            let tokens = tokenize(line, &mut depth);
            if !starts_record || tokens.is_empty() {
                continue;
            }
            if tokens[0].eq_ignore_ascii_case("$ORIGIN") {
                current_origin = parse_name(&tokens[1], &Name::root()).unwrap();
                continue;
            }
            if tokens[0].starts_with('$') {
                continue;
            }
            let mut rest = &tokens[..];
            if !line.starts_with([' ', '\t']) {
                last_owner = if tokens[0] == "@" {
                    current_origin.clone()
                } else {
                    parse_name(&tokens[0], &current_origin).unwrap_or_else(|e| {
                        panic!("{}: owner {}: {e}", zone.path.display(), tokens[0])
                    })
                };
                rest = &rest[1..];
            }
            // Skip TTL and class, in either order; the next token is the type.
            let rtype = rest
                .iter()
                .find(|t| !t.chars().all(|c| c.is_ascii_digit()) && !t.eq_ignore_ascii_case("IN"))
                .cloned()
                .unwrap_or_default()
                .to_ascii_uppercase();
            facts
                .owners
                .entry(last_owner.clone())
                .or_default()
                .insert(rtype);
            *facts.records.entry(last_owner.clone()).or_default() += 1;
        }
    }
    facts
}

/// Split a zone-file line into tokens, dropping the comment, keeping
/// backslash escapes and quoted strings whole, and tracking parentheses.
fn tokenize(line: &str, depth: &mut i32) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            _ if quoted => cur.push(c),
            ';' => break,
            '(' | ')' => {
                *depth += if c == '(' { 1 } else { -1 };
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// `text` in presentation form (`\\X` and `\\DDD` escapes, any other
/// octet taken as is, no IDNA), relative to `origin` unless it ends in an
/// unescaped dot.
fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    let mut labels: Vec<Vec<u8>> = vec![Vec::new()];
    let mut absolute = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let digits = bytes
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let value = std::str::from_utf8(d).unwrap().parse::<u16>().unwrap();
                    let octet = u8::try_from(value).map_err(|_| format!("{text}: bad escape"))?;
                    labels.last_mut().unwrap().push(octet);
                    i += 4;
                } else {
                    let c = *bytes
                        .get(i + 1)
                        .ok_or_else(|| format!("{text}: trailing \\"))?;
                    labels.last_mut().unwrap().push(c);
                    i += 2;
                }
            }
            b'.' => {
                if i + 1 == bytes.len() {
                    absolute = true;
                } else {
                    labels.push(Vec::new());
                }
                i += 1;
            }
            c => {
                labels.last_mut().unwrap().push(c);
                i += 1;
            }
        }
    }
    if text == "." {
        return Ok(Name::root());
    }
    if labels.iter().any(Vec::is_empty) {
        return Err(format!("{text}: empty label"));
    }
    let mut name = Name::from_labels(labels).map_err(|e| format!("{text}: {e}"))?;
    name.set_fqdn(true);
    if absolute {
        Ok(name)
    } else {
        name.append_domain(origin).map_err(|e| e.to_string())
    }
}

/// `label` (one or more labels, presentation form) prepended to `name`.
fn child(name: &Name, label: &str) -> Name {
    parse_name(label, name).unwrap()
}

/// A deterministic pseudo-random generator (xorshift), so the query list
/// and its mixed-case names are the same on every run.
struct Rng(u64);

impl Rng {
    /// The next value.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `name` with the case of its ASCII letters scrambled.
fn mixed_case(name: &Name, rng: &mut Rng) -> Name {
    let labels: Vec<Vec<u8>> = name
        .iter()
        .map(|label| {
            label
                .iter()
                .map(|&b| {
                    if rng.next() & 1 == 1 {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    }
                })
                .collect()
        })
        .collect();
    let mut out = Name::from_labels(labels).unwrap();
    out.set_fqdn(true);
    out
}

/// The types every owner name is asked for.
const OWNER_TYPES: &[u16] = &[
    qtype::A,
    qtype::AAAA,
    qtype::NS,
    qtype::SOA,
    qtype::MX,
    qtype::TXT,
    qtype::CNAME,
    qtype::SRV,
    qtype::PTR,
    qtype::CAA,
    qtype::HINFO,
    qtype::NAPTR,
    qtype::SSHFP,
    qtype::TLSA,
    qtype::DS,
    qtype::DNAME,
    qtype::ANY,
    qtype::TYPE65000,
    qtype::TYPE65123,
];

/// The types asked for derived names (nonexistent, synthesised, below cuts).
const DERIVED_TYPES: &[u16] = &[
    qtype::A,
    qtype::AAAA,
    qtype::TXT,
    qtype::MX,
    qtype::CNAME,
    qtype::NS,
    qtype::DS,
    qtype::ANY,
];

/// The transport and EDNS variants each name is asked with (for a few
/// types): plain, DO, small and large buffers, buffer sizes under 512 (which
/// mean 512), no EDNS, TCP with and without EDNS.
fn variants() -> Vec<(Proto, Option<EdnsSpec>)> {
    vec![
        (Proto::Udp, None),
        (Proto::Udp, edns(512, false)),
        (Proto::Udp, edns(0, false)),
        (Proto::Udp, edns(600, true)),
        (Proto::Udp, edns(4096, true)),
        (Proto::Tcp, None),
        (Proto::Tcp, edns(1232, true)),
    ]
}

/// Build the query list from the zone facts.
fn build_queries(facts: &ZoneFacts) -> Vec<QuerySpec> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut queries = Vec::new();
    let owners: BTreeSet<Name> = facts.owners.keys().cloned().collect();
    let lower_owners: BTreeSet<Name> = owners.iter().map(Name::to_lowercase).collect();

    // Empty non-terminals: ancestors of owners that own nothing themselves.
    let mut ents = BTreeSet::new();
    for owner in &owners {
        let origin = facts.origins.iter().find(|o| o.zone_of(owner)).unwrap();
        let mut name = owner.base_name();
        while name.num_labels() > origin.num_labels() {
            if !lower_owners.contains(&name.to_lowercase()) {
                ents.insert(name.clone());
            }
            name = name.base_name();
        }
    }

    // Names that exist in no zone but lead somewhere interesting.
    let mut derived: BTreeSet<Name> = BTreeSet::new();
    for origin in &facts.origins {
        derived.insert(child(origin, "nx"));
        derived.insert(child(origin, "a.b.nx"));
        derived.insert(child(origin, "q.r.s.t.nx"));
    }
    for (owner, types) in &facts.owners {
        let is_wildcard = owner.is_wildcard();
        if is_wildcard {
            let parent = owner.base_name();
            for label in ["foo", "a.b", "host-x", "*", "_tcp", "MiXeD"] {
                derived.insert(child(&parent, label));
            }
            derived.insert(child(owner, "below"));
            continue;
        }
        derived.insert(child(owner, "nx"));
        if types.contains("NS") || types.contains("DNAME") {
            for label in ["host", "a.b", "ns1", "x", "y.x", "www"] {
                derived.insert(child(owner, label));
            }
        }
    }
    for ent in &ents {
        derived.insert(child(ent, "nx"));
    }
    let out_of_zone = [
        ".",
        "com.",
        "net.",
        "org.",
        "example.org.",
        "www.example.org.",
        "xexample.com.",
        "example.co.",
        "arpa.",
        "in-addr.arpa.",
        "0.192.in-addr.arpa.",
        "3.0.192.in-addr.arpa.",
        "example.",
    ];
    for name in out_of_zone {
        derived.insert(parse_name(name, &Name::root()).unwrap());
    }

    // Every owner and empty non-terminal with every type, UDP, EDNS 1232.
    for name in owners.iter().chain(&ents) {
        for &t in OWNER_TYPES {
            queries.push(QuerySpec::new(name.clone(), t));
        }
    }
    // Derived names with the common types.
    for name in &derived {
        if lower_owners.contains(&name.to_lowercase()) {
            continue;
        }
        for &t in DERIVED_TYPES {
            queries.push(QuerySpec::new(name.clone(), t));
        }
    }
    // Transport and EDNS variants for a few types on every owner and a
    // sample of the derived names.
    let sample: Vec<&Name> = owners
        .iter()
        .chain(&ents)
        .chain(derived.iter().step_by(3))
        .collect();
    for name in &sample {
        for (i, (proto, e)) in variants().into_iter().enumerate() {
            let types: &[u16] = match i % 3 {
                0 => &[qtype::A, qtype::TXT, qtype::ANY],
                1 => &[qtype::AAAA, qtype::MX],
                _ => &[qtype::A, qtype::NS],
            };
            for &t in types {
                let mut q = QuerySpec::new((*name).clone(), t);
                q.proto = proto;
                q.edns = e;
                queries.push(q);
            }
        }
    }
    // Mixed-case qnames, RD and CD set, BADVERS, CHAOS-free.
    for (i, name) in sample.iter().enumerate() {
        let mut q = QuerySpec::new(
            mixed_case(name, &mut rng),
            [qtype::A, qtype::MX, qtype::TXT][i % 3],
        );
        q.rd = i % 2 == 0;
        q.cd = i % 5 == 0;
        queries.push(q);
        let mut q = QuerySpec::new(mixed_case(name, &mut rng), qtype::CNAME);
        q.proto = Proto::Tcp;
        queries.push(q);
    }
    // Truncation: the names with large RRsets, with buffer sizes around and
    // under 512 (EDNS sizes below 512 mean 512, RFC 6891 6.2.5).
    let large = facts
        .records
        .iter()
        .filter(|&(_, &n)| n >= 8)
        .map(|(name, _)| name);
    for name in large {
        for t in [qtype::A, qtype::AAAA, qtype::TXT, qtype::ANY, qtype::NS] {
            for bufsize in [
                None,
                Some(0),
                Some(100),
                Some(511),
                Some(512),
                Some(700),
                Some(1232),
            ] {
                for do_bit in [false, true] {
                    if bufsize.is_none() && do_bit {
                        continue;
                    }
                    let mut q = QuerySpec::new(name.clone(), t);
                    q.edns = bufsize.and_then(|b| edns(b, do_bit));
                    queries.push(q);
                }
            }
        }
    }
    // Other opcodes (RFC 8906: answer them, NOTIMP where not implemented)
    // and other classes than IN. CHAOS is asked only for zone names here:
    // `id.server` and the like name the server and are not compared.
    for origin in &facts.origins {
        for name in [origin.clone(), child(origin, "www"), child(origin, "nx")] {
            for opcode in [1, 2, 3, 6, 15] {
                let mut q = QuerySpec::new(name.clone(), qtype::SOA);
                q.opcode = opcode;
                queries.push(q);
            }
            for qclass in [3, 4, 42, 254, 255] {
                for t in [qtype::SOA, qtype::A] {
                    let mut q = QuerySpec::new(name.clone(), t);
                    q.qclass = qclass;
                    queries.push(q);
                }
            }
        }
    }
    for name in owners.iter().step_by(7) {
        let mut q = QuerySpec::new(name.clone(), qtype::A);
        q.edns = Some(EdnsSpec {
            bufsize: 1232,
            do_bit: false,
            version: 1,
        });
        queries.push(q);
    }
    queries
}

/// Run `queries` against `server`, in order, with one client; stops asking
/// after [`MAX_SILENT_RUN`] silent queries in a row or [`MAX_SILENT_TOTAL`]
/// in all, and marks the rest as unanswered.
fn run_all(server: &Server, queries: &[QuerySpec]) -> Vec<Normalised> {
    let client = Client::new().unwrap();
    let mut silent = 0;
    let mut silent_total = 0;
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            if silent >= MAX_SILENT_RUN || silent_total >= MAX_SILENT_TOTAL {
                return Normalised::NoResponse;
            }
            let id = (i as u16) ^ 0xa5a5;
            match client.query(server.addr, q, id) {
                Some(wire) => {
                    silent = 0;
                    normalise(&wire, id)
                }
                None => {
                    silent += 1;
                    silent_total += 1;
                    Normalised::NoResponse
                }
            }
        })
        .collect()
}

/// Start the given servers, query them all in parallel, and return the
/// query list and each server's answers in the same order.
fn ask_everyone(servers: &[&Server]) -> (ZoneFacts, Vec<QuerySpec>, Vec<Vec<Normalised>>) {
    let facts = read_zone_facts(&bundle_dir());
    let queries = build_queries(&facts);
    let answers = std::thread::scope(|s| {
        let handles: Vec<_> = servers
            .iter()
            .map(|srv| s.spawn(|| run_all(srv, &queries)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (facts, queries, answers)
}

/// How the answers spread over RCODEs, truncation and non-empty sections,
/// to show what the query set exercises.
fn coverage(answers: &[Normalised]) -> String {
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        let key = match a {
            Normalised::Message(m) => {
                let mut key = crate::dnsmsg::rcode_name(m.rcode);
                if m.flags.contains(&"tc") {
                    key.push_str(" truncated");
                } else if !m.flags.contains(&"aa") {
                    key.push_str(" not-authoritative");
                } else if m.answer.is_empty() {
                    key.push_str(" aa empty-answer");
                } else {
                    key.push_str(" aa answer");
                }
                key
            }
            other => other.shape(),
        };
        *shapes.entry(key).or_default() += 1;
    }
    let parts: Vec<String> = shapes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("knot's answers: {}", parts.join(", "))
}

/// Where the report files go: `target/tmp/<file>`.
fn report_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(file)
}

/// Group the queries Knot and NSD disagree on by what differs; write the
/// full list to a file and return a summary for stdout.
fn peer_disagreements(
    facts: &ZoneFacts,
    queries: &[QuerySpec],
    knot: &[Normalised],
    nsd: &[Normalised],
) -> String {
    let mut categories: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (k, n)) in knot.iter().zip(nsd).enumerate() {
        if k != n {
            let key = categorise(facts, &queries[i], k, n);
            categories.entry(key).or_default().push(i);
        }
    }
    let disagree: usize = categories.values().map(Vec::len).sum();
    let mut summary = format!(
        "knot vs nsd: {} queries, {} agree, {} disagree, {} categories\n",
        queries.len(),
        queries.len() - disagree,
        disagree,
        categories.len()
    );
    let mut full = summary.clone();
    let mut sorted: Vec<_> = categories.iter().collect();
    sorted.sort_by_key(|(k, v)| (std::cmp::Reverse(v.len()), (*k).clone()));
    for (key, idx) in sorted {
        let first = idx[0];
        let _ = writeln!(
            summary,
            "  {:5}  {key}   e.g. {}",
            idx.len(),
            queries[first]
        );
        let _ = writeln!(full, "\n=== {} x {key}", idx.len());
        for &i in idx {
            let _ = write!(
                full,
                "\n{}\n  knot:\n{}  nsd:\n{}",
                queries[i], knot[i], nsd[i]
            );
        }
    }
    let path = report_path("differential-knot-vs-nsd.txt");
    fs::write(&path, full).unwrap();
    let _ = writeln!(summary, "full list: {}", path.display());
    summary
}

/// A category for a disagreement between Knot (`k`) and NSD (`n`): the
/// known kinds by name, anything else by qtype and first difference.
fn categorise(facts: &ZoneFacts, q: &QuerySpec, k: &Normalised, n: &Normalised) -> String {
    let zone = facts
        .origins
        .iter()
        .filter(|o| o.zone_of(&q.name))
        .max_by_key(|o| o.num_labels());
    if let (Normalised::Message(a), Normalised::Message(b), Some(zone)) = (k, n, zone) {
        let leaves = |m: &NormMessage| {
            m.answer.iter().chain(&m.authority).any(|line| {
                let owner = line.split(' ').next().unwrap_or_default();
                parse_name(owner, &Name::root()).is_ok_and(|o| !zone.zone_of(&o))
            })
        };
        match (leaves(a), leaves(b)) {
            (false, true) => {
                return "nsd follows the CNAME/DNAME chain into another zone it serves, knot \
                        stops at the zone's edge"
                    .into();
            }
            (true, false) => {
                return "knot follows the chain into another zone, nsd does not".into();
            }
            _ => {}
        }
        if q.qtype == qtype::ANY && a.rcode == b.rcode && a.answer != b.answer {
            let rrset_types = |m: &NormMessage| -> String {
                let types: BTreeSet<&str> = m
                    .answer
                    .iter()
                    .filter_map(|l| l.split(' ').nth(3))
                    .collect();
                types.into_iter().collect::<Vec<_>>().join("+")
            };
            return format!(
                "ANY (RFC 8482): a different RRset chosen (knot {}, nsd {})",
                rrset_types(a),
                rrset_types(b)
            );
        }
    }
    if q.opcode != 0 {
        return format!("opcode {} (not QUERY): {}", q.opcode, k.difference(n));
    }
    if q.qclass != 1 {
        return format!("class {}: {}", class_name(q.qclass), k.difference(n));
    }
    format!("{}: {}", qtype::name(q.qtype), k.difference(n))
}

/// Knot DNS and NSD both answer every query of the set with a decodable
/// response. Where they differ is printed by category (and written to
/// `target/tmp/differential-knot-vs-nsd.txt`): that is what the RFCs leave
/// to the implementation, and where stripedns may pick either answer.
#[test]
fn knot_and_nsd_answer_the_query_set() {
    let started = Instant::now();
    let knot = Server::knot(&bundle_dir());
    let nsd = Server::nsd(&bundle_dir());
    let (facts, queries, answers) = ask_everyone(&[&knot, &nsd]);
    assert!(
        queries.len() >= 1000,
        "only {} queries generated",
        queries.len()
    );
    println!("{}", coverage(&answers[0]));
    println!(
        "{}",
        peer_disagreements(&facts, &queries, &answers[0], &answers[1])
    );
    println!(
        "{} queries to 2 servers in {:.1?}",
        queries.len(),
        started.elapsed()
    );
    assert_peers_answered(&queries, &[(&knot, &answers[0]), (&nsd, &answers[1])]);
    // The zone set is clean: Knot DNS's semantic checks and NSD's loader
    // have nothing to say about it.
    for server in [&knot, &nsd] {
        let log = server.log();
        assert!(
            !log.contains("warning:") && !log.contains("error:"),
            "{} complains about tests/zones/diff:\n{log}",
            server.kind.name()
        );
    }
}

/// Every peer gave a decodable response to every query; otherwise the
/// comparison would be meaningless (a harness or zone problem).
fn assert_peers_answered(queries: &[QuerySpec], peers: &[(&Server, &Vec<Normalised>)]) {
    for (server, results) in peers {
        let bad: Vec<String> = queries
            .iter()
            .zip(results.iter())
            .filter(|(_, r)| !matches!(r, Normalised::Message(_)))
            .take(10)
            .map(|(q, r)| format!("{q}\n{r}"))
            .collect();
        assert!(
            bad.is_empty(),
            "{} gave no usable answer to some queries:\n{}\nlog:\n{}",
            server.kind.name(),
            bad.join("\n"),
            server.log()
        );
    }
}

/// stripedns gives, for every query, the answer Knot DNS and NSD agree on,
/// or one of theirs where they disagree.
#[test]
fn stripedns_matches_knot_and_nsd() {
    matches_knot_and_nsd(
        Server::stripedns(&bundle_dir()),
        "differential-mismatches.txt",
    );
}

/// The same with `serve --engine hickory`, the second stripe's engine.
#[test]
fn stripedns_hickory_matches_knot_and_nsd() {
    matches_knot_and_nsd(
        Server::stripedns_hickory(&bundle_dir()),
        "differential-mismatches-hickory.txt",
    );
}

/// Compare `stripedns` with Knot DNS and NSD; mismatches go to `report`.
fn matches_knot_and_nsd(stripedns: Server, report: &str) {
    let started = Instant::now();
    let _ = fs::remove_file(report_path(report));
    let knot = Server::knot(&bundle_dir());
    let nsd = Server::nsd(&bundle_dir());
    let (_, queries, answers) = ask_everyone(&[&knot, &nsd, &stripedns]);
    let (k, n, s) = (&answers[0], &answers[1], &answers[2]);
    assert_peers_answered(&queries, &[(&knot, k), (&nsd, n)]);

    let mut mismatches = Vec::new();
    let mut agree = 0;
    for i in 0..queries.len() {
        let peers_agree = k[i] == n[i];
        agree += usize::from(peers_agree);
        let ok = s[i] == k[i] || s[i] == n[i];
        if !ok {
            let mut text = format!("#{i} {}\n", queries[i]);
            if peers_agree {
                let _ = write!(
                    text,
                    "  knot and nsd agree; -expected +stripedns:\n{}",
                    diff(&k[i], &s[i])
                );
            } else {
                let _ = write!(
                    text,
                    "  knot and nsd differ; stripedns must match one.\n  -knot +stripedns:\n{}  \
                     -nsd +stripedns:\n{}",
                    diff(&k[i], &s[i]),
                    diff(&n[i], &s[i])
                );
            }
            mismatches.push(text);
        }
    }
    let summary = format!(
        "differential ({}): {} queries compared, {} matched, {} mismatched; knot and nsd agree on {}, \
         disagree on {} ({:.1?})",
        stripedns.kind.name(),
        queries.len(),
        queries.len() - mismatches.len(),
        mismatches.len(),
        agree,
        queries.len() - agree,
        started.elapsed()
    );
    println!("{summary}");
    if !mismatches.is_empty() {
        let path = report_path(report);
        fs::write(&path, format!("{summary}\n\n{}", mismatches.join("\n"))).unwrap();
        for m in mismatches.iter().take(PRINTED_MISMATCHES) {
            println!("{m}");
        }
        panic!(
            "{summary}\nfirst {} mismatches above; all {} in {}\nstripedns log (tail):\n{}",
            PRINTED_MISMATCHES.min(mismatches.len()),
            mismatches.len(),
            path.display(),
            tail(&stripedns.log(), 40)
        );
    }
}

/// A line diff of two normalised answers: common lines with a space,
/// lines only in `expected` with `-`, lines only in `actual` with `+`.
fn diff(expected: &Normalised, actual: &Normalised) -> String {
    let e = expected.to_string();
    let a = actual.to_string();
    let a_lines: BTreeSet<&str> = a.lines().collect();
    let e_lines: BTreeSet<&str> = e.lines().collect();
    let mut out = String::new();
    for line in e.lines() {
        let mark = if a_lines.contains(line) { ' ' } else { '-' };
        let _ = writeln!(out, "  {mark}{}", line.trim_start());
    }
    for line in a.lines().filter(|l| !e_lines.contains(l)) {
        let _ = writeln!(out, "  +{}", line.trim_start());
    }
    out
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Regression tests of the zone reader.
mod tests {
    use super::*;

    /// Escapes, `/` and relative names parse as the zone file means them.
    #[test]
    fn presentation_names_parse_without_idna() {
        let origin = Name::from_ascii("2.0.192.in-addr.arpa.").unwrap();
        let n = parse_name("64/26", &origin).unwrap();
        assert_eq!(n.iter().next().unwrap(), b"64/26");
        let n = parse_name("weird\\.dot", &Name::from_ascii("example.com.").unwrap()).unwrap();
        assert_eq!(n.num_labels(), 3);
        let n = parse_name("\\200high.example.com.", &Name::root()).unwrap();
        assert_eq!(n.iter().next().unwrap(), b"\xc8high");
        assert!(parse_name("a..b", &Name::root()).is_err());
    }

    /// Comments end at an unquoted, unescaped semicolon.
    #[test]
    fn tokenizer_keeps_escapes_and_quotes() {
        let mut depth = 0;
        let t = tokenize("semi\\;colon IN TXT \"a ; b\" ; comment (", &mut depth);
        assert_eq!(t, ["semi\\;colon", "IN", "TXT", "\"a ; b\""]);
        assert_eq!(depth, 0);
    }

    /// The query set is large and reaches every kind of answer.
    #[test]
    fn query_set_covers_the_zones() {
        let facts = read_zone_facts(&bundle_dir());
        let queries = build_queries(&facts);
        assert!(queries.len() >= 1000, "{} queries", queries.len());
        assert!(queries.iter().any(|q| q.proto == Proto::Tcp));
        assert!(queries.iter().any(|q| q.edns.is_none()));
        assert!(queries.iter().any(|q| q.edns.is_some_and(|e| e.do_bit)));
        assert!(queries.iter().any(|q| q.name.to_ascii().contains("MiXeD")));
    }
}
