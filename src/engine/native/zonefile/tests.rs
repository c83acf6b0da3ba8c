//! Tests of the whole parser: directives, inheritance, includes, the zone
//! checks, and hostile input (which must give errors, never panics).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

/// The head of a valid zone, for tests that only add records.
const HEAD: &str = "$TTL 300\n@ SOA ns hostmaster 1 1h 15m 1w 1h\n  NS ns\nns A 192.0.2.1\n";

/// A zone with a DNAME at the apex.
const APEX_DNAME: &str = "@ SOA ns.other. h 1 2 3 4 5\n@ NS ns.other.\n@ DNAME x.\n";

/// An NSEC3PARAM under which `example.com.` hashes to
/// `ple28jlp3q5anh045ssk9f3u7ltd4qlc`.
const N3P: &str = "@ NSEC3PARAM 1 0 10 151E9F1094FE188F\n";

fn origin() -> Name {
    Name::parse(b"example.com.", None).unwrap()
}

fn name(text: &str) -> Name {
    Name::parse(text.as_bytes(), None).unwrap()
}

/// Parse `text` with `files` as the only files `$INCLUDE` can read.
fn parse_with(text: &str, files: &[(&str, &str)]) -> Result<ParsedZone, BundleError> {
    let files: HashMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    let mut include = |line: usize, target: &str| match files.get(target) {
        Some(bytes) => Ok((PathBuf::from(target), bytes.clone())),
        None => Err(BundleError::Zone {
            file: PathBuf::from("zone"),
            line,
            message: format!("no file {target}"),
        }),
    };
    parse_bytes(text.as_bytes(), &origin(), Path::new("zone"), &mut include)
}

fn parse(text: &str) -> ParsedZone {
    parse_with(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The error message of a zone that must not parse or check.
fn error(text: &str) -> String {
    match parse_with(text, &[]).and_then(|z| check_zone(&z)) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

/// (owner, type, ttl) of each record.
fn summary(zone: &ParsedZone) -> Vec<(String, String, u32)> {
    zone.records
        .iter()
        .map(|r| (r.owner.to_string(), type_name(r.rtype).into_owned(), r.ttl))
        .collect()
}

use types::type_name;

#[test]
fn head_is_a_valid_zone() {
    let zone = parse(HEAD);
    check_zone(&zone).unwrap();
    assert_eq!(
        summary(&zone),
        [
            ("example.com.".into(), "SOA".into(), 300),
            ("example.com.".into(), "NS".into(), 300),
            ("ns.example.com.".into(), "A".into(), 300),
        ]
    );
    assert_eq!(zone.records[2].line, 4);
}

#[test]
fn owner_ttl_and_class_inheritance() {
    let zone = parse(
        "@ 60 IN SOA ns h 1 2 3 4 5\n\tNS ns\nns IN 120 A 192.0.2.1\n  A 192.0.2.2\n\
         $TTL 1h\nx A 192.0.2.3\n$ttl 2H\ny CLASS1 A 192.0.2.4\n",
    );
    assert_eq!(
        summary(&zone),
        [
            ("example.com.".into(), "SOA".into(), 60),
            // Knot DNS: no TTL and no $TTL yet gives the default 3600, not the
            // previous record's TTL.
            ("example.com.".into(), "NS".into(), 3600),
            ("ns.example.com.".into(), "A".into(), 120),
            // An RRset keeps the TTL of its first record.
            ("ns.example.com.".into(), "A".into(), 120),
            ("x.example.com.".into(), "A".into(), 3600),
            ("y.example.com.".into(), "A".into(), 7200),
        ]
    );
}

#[test]
fn origin_directive_absolute_and_relative() {
    let zone =
        parse("$ORIGIN sub.example.com.\na A 192.0.2.1\n$ORIGIN deeper\nb A 192.0.2.2\n@ MX 1 c\n");
    assert_eq!(zone.records[0].owner, name("a.sub.example.com."));
    assert_eq!(zone.records[1].owner, name("b.deeper.sub.example.com."));
    assert_eq!(
        &zone.records[2].rdata[2..],
        name("c.deeper.sub.example.com.").as_wire()
    );
    // The same owner text means another name under another $ORIGIN, also
    // when the line before wrote it; in an included file too.
    let zone = parse_with(
        "a A 192.0.2.1\na A 192.0.2.2\n$ORIGIN sub.example.com.\na A 192.0.2.3\n\
         $INCLUDE inc other.example.com.\na A 192.0.2.5\n",
        &[("inc", "a A 192.0.2.4\n")],
    )
    .unwrap();
    let owners: Vec<Name> = zone.records.iter().map(|r| r.owner.clone()).collect();
    assert_eq!(
        owners,
        [
            "a.example.com.",
            "a.example.com.",
            "a.sub.example.com.",
            "a.other.example.com.",
            "a.sub.example.com."
        ]
        .map(name)
    );
}

#[test]
fn names_escapes_and_case() {
    let zone = parse("A\\.b\\065 TXT \"x\\\"y\\\\ \\255\"\nWWW CNAME Target.Example.\n");
    assert_eq!(
        zone.records[0].owner.as_wire(),
        b"\x04A.bA\x07example\x03com\x00"
    );
    assert_eq!(&*zone.records[0].rdata, b"\x06x\"y\\ \xff");
    // RDATA names keep the case they were written in.
    assert_eq!(&*zone.records[1].rdata, b"\x06Target\x07Example\x00");
}

#[test]
fn crlf_comments_and_parentheses() {
    let text = "$TTL 5m\r\n@ SOA ( ns ; primary\r\n h 1 ; serial\r\n 2 3 4 5 )\r\n NS ns ; x\r\nns A 192.0.2.1\r\n";
    let zone = parse(text);
    assert_eq!(zone.records.len(), 3);
    assert_eq!(zone.records[1].line, 5);
    assert_eq!(zone.records[0].ttl, 300);
    check_zone(&zone).unwrap();
}

#[test]
fn rfc3597_types_and_classes() {
    let zone = parse("x TYPE65280 \\# 2 ABCD\nx CLASS1 TYPE1 \\# 4 C0000201\nx 1 in a 192.0.2.2\n");
    assert_eq!(zone.records[0].rtype, 65280);
    assert_eq!(&*zone.records[0].rdata, [0xab, 0xcd]);
    assert_eq!(zone.records[1].rtype, rtype::A);
    assert!(error("x CH TXT \"a\"\n").contains("unsupported class"));
    assert!(error("x CLASS3 A 192.0.2.1\n").contains("unsupported class"));
    assert!(error("x TYPE1 \\# 3 C00002\n").contains("A:"));
}

#[test]
fn error_messages_name_the_record() {
    let e = error(&format!("{HEAD}www A 1.2.3\n"));
    assert!(
        e.ends_with(":5: www.example.com. A: invalid IPv4 address \"1.2.3\""),
        "{e}"
    );
}

#[test]
fn include_restores_origin_and_owner() {
    let files = [
        (
            "inc/a.inc",
            "$ORIGIN other.example.com.\n$TTL 5\nb A 192.0.2.2\n$INCLUDE b.inc\n",
        ),
        ("inc/b.inc", "c A 192.0.2.3\n"),
    ];
    let text = "x A 192.0.2.1\n$INCLUDE inc/a.inc sub.example.com.\n  A 192.0.2.9\ny A 192.0.2.4\n";
    let zone = parse_with(text, &files).unwrap();
    let owners: Vec<String> = zone.records.iter().map(|r| r.owner.to_string()).collect();
    assert_eq!(
        owners,
        [
            "x.example.com.",
            "b.other.example.com.",
            "c.other.example.com.",
            "x.example.com.",
            "y.example.com.",
        ]
    );
    assert_eq!(
        zone.files,
        [
            PathBuf::from("zone"),
            "inc/a.inc".into(),
            "inc/b.inc".into()
        ]
    );
    assert_eq!(zone.records[2].file, 2);
    let ttls: Vec<u32> = zone.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [3600, 5, 5, 3600, 3600]);
}

#[test]
fn absolute_names_end_in_an_unescaped_dot() {
    assert!(is_absolute(b"a."));
    assert!(is_absolute(b"."));
    assert!(is_absolute(b"a\\\\."));
    assert!(!is_absolute(b"a\\."));
    assert!(!is_absolute(b"a"));
}

#[test]
fn include_rules() {
    // An included file does not inherit the previous owner.
    let e = parse_with("x A 192.0.2.1\n$INCLUDE a\n", &[("a", " A 192.0.2.2\n")]).unwrap_err();
    assert!(e.to_string().contains("a:1: no previous owner"), "{e}");
    // Knot DNS refuses a relative origin on $INCLUDE.
    assert!(parse_with("$INCLUDE a sub\n", &[("a", "")]).is_err());
    assert!(parse_with("$INCLUDE a sub\\.\n", &[("a", "")]).is_err());
    let e = parse_with("$INCLUDE a\n", &[("a", "\n\n$INCLUDE missing\n")]).unwrap_err();
    assert!(e.to_string().starts_with("a:3: "), "{e}");
    // A file including itself stops at the depth limit.
    let e = parse_with("$INCLUDE loop\n", &[("loop", "$INCLUDE loop\n")]).unwrap_err();
    assert!(e.to_string().contains("nested more than 10"), "{e}");
    // Many includes per file cannot multiply without bound.
    let wide = "$INCLUDE w\n".repeat(20);
    assert!(parse_with(&wide, &[("w", &wide)]).is_err());
}

#[test]
fn generate_directive() {
    let zone =
        parse("$GENERATE 1-3/2 h${10,2,d} 60 IN A 10.0.0.$\n$GENERATE 0-1 $ PTR host-${0,2,x}.\n");
    assert_eq!(
        summary(&zone),
        [
            ("h11.example.com.".into(), "A".into(), 60),
            ("h13.example.com.".into(), "A".into(), 60),
            ("0.example.com.".into(), "PTR".into(), 3600),
            ("1.example.com.".into(), "PTR".into(), 3600),
        ]
    );
    assert_eq!(&*zone.records[1].rdata, [10, 0, 0, 3]);
    assert_eq!(&zone.records[3].rdata[..8], b"\x07host-01");
    assert!(error("$GENERATE 0-100000 $ A 10.0.0.1\n").contains("more than"));
    let many = "$GENERATE 0-65535 x A 10.0.0.1\n".repeat(17);
    assert!(parse_with(&many, &[]).is_err());
}

#[test]
fn duplicates_collapse_and_outside_records_drop() {
    let zone = parse(
        "a MX 10 Mail.\na 60 MX 10 mail.\na MX 20 mail.\nb SVCB 1 T.\nb SVCB 1 t.\nwww.example.org. A 192.0.2.1\n",
    );
    assert_eq!(
        summary(&zone),
        [
            ("a.example.com.".into(), "MX".into(), 3600),
            ("a.example.com.".into(), "MX".into(), 3600),
            ("b.example.com.".into(), "SVCB".into(), 3600),
            ("b.example.com.".into(), "SVCB".into(), 3600),
        ]
    );
}

#[test]
fn zone_checks() {
    assert!(error("@ NS ns\nns A 192.0.2.1\n").contains("missing SOA"));
    assert!(error("@ SOA ns h 1 2 3 4 5\n").contains("missing NS"));
    assert!(error(&format!("{HEAD}c CNAME x.\nc A 192.0.2.1\n")).contains("beside CNAME"));
    assert!(error(&format!("{HEAD}c CNAME x.\nc CNAME y.\n")).contains("multiple CNAME"));
    parse(&format!(
        "{HEAD}c CNAME x.\nc RRSIG CNAME 8 3 300 1 0 1 example.com. AQID\nc NSEC d A\n"
    ));
    assert!(error(&format!("{HEAD}d DNAME x.\nd DNAME y.\n")).contains("multiple DNAME"));
    assert!(
        error(&format!("{HEAD}d DNAME x.\nd NS x.\n")).contains("NS record exists beside DNAME")
    );
    assert!(error(&format!("{HEAD}d DNAME x.\na.d A 192.0.2.1\n")).contains("child record"));
    assert!(
        error(&format!("{HEAD}sub NS ns.sub\n"))
            .contains("missing glue record for ns.sub.example.com.")
    );
    assert!(error(&format!("{HEAD}@ NS ns2\n")).contains("missing glue"));
    let ds = "0000000000000000000000000000000000000000";
    assert!(error(&format!("{HEAD}s DS 1 8 3 {ds}{ds}\n")).contains("unknown digest type 3"));
    assert!(error(&format!("{HEAD}s DS 1 8 2 {ds}\n")).contains("needs 32"));
    assert!(
        error(&format!(
            "{HEAD}@ NSEC3PARAM 1 0 0 -\n@ NSEC3PARAM 1 0 1 -\n"
        ))
        .contains("more than one")
    );
    // Any other child of an apex DNAME is refused, NSEC3 records included.
    for bad in [
        format!(
            "{APEX_DNAME}{N3P}ple28jlp3q5anh045ssk9f3u7ltd4qla NSEC3 1 1 10 151E9F1094FE188F ple28jlp3q5anh045ssk9f3u7ltd4qlc A\n"
        ),
        format!(
            "{APEX_DNAME}ple28jlp3q5anh045ssk9f3u7ltd4qlc NSEC3 1 1 10 151E9F1094FE188F ple28jlp3q5anh045ssk9f3u7ltd4qlc A\n"
        ),
        format!("{APEX_DNAME}www A 192.0.2.1\n"),
    ] {
        assert!(error(&bad).contains("exists under DNAME"), "{bad}");
    }
    for fine in [
        format!("{HEAD}sub NS ns.sub\nns.sub A 192.0.2.1\n"),
        format!("{HEAD}sub NS ns.other\nother NS x.\n"),
        format!("{HEAD}sub NS ns.sub\n*.sub AAAA ::1\n"),
        format!("{HEAD}sub NS x.example.org.\ns DS 1 8 1 {ds}\n"),
        format!("{HEAD}d DNAME x.\n$ORIGIN d.example.org.\nwww A 192.0.2.1\n"),
        format!("{HEAD}@ SOA ns h 2 2 3 4 5\nsub SOA ns h 1 2 3 4 5\n"),
        // The apex's own NSEC3 may sit below a DNAME at the apex.
        format!(
            "{APEX_DNAME}{N3P}ple28jlp3q5anh045ssk9f3u7ltd4qlc NSEC3 1 1 10 151E9F1094FE188F ple28jlp3q5anh045ssk9f3u7ltd4qlc A\n"
        ),
    ] {
        let zone = parse(&fine);
        check_zone(&zone).unwrap_or_else(|e| panic!("{fine}: {e}"));
    }
}

#[test]
fn hostile_inputs_are_errors() {
    let l63 = "a".repeat(63);
    let hostile = [
        "x TXT \"unterminated\n".to_string(),
        "x TXT ( \"a\"\n".into(),
        "x A 192.0.2.1 )\n".into(),
        format!("{}.example.com. A 192.0.2.1\n", "a".repeat(64)),
        format!("{l63}.{l63}.{l63}.{l63}. A 192.0.2.1\n"),
        format!("{l63}.{l63}.{l63}.{} A 192.0.2.1\n", "a".repeat(50)),
        "x 4294967296 A 192.0.2.1\n".into(),
        "$TTL 99999999999999999999\n".into(),
        "x TXT \"\\999\"\n".into(),
        "x\\999 A 192.0.2.1\n".into(),
        "x DNSKEY 257 3 8 AQ=D\n".into(),
        "x DS 1 8 2 0G\n".into(),
        "x A 192.0.2.1\0\n".into(),
        "x TXT \"\u{1}\"\n".into(),
        "x TXT \u{e9}\n".into(),
        "$ORIGIN\n".into(),
        "$TTL 1h 2h\n".into(),
        "$GENERATE 4294967295-0 x A 10.0.0.1\n".into(),
        "$UNKNOWN x\n".into(),
        " A 192.0.2.1\n".into(),
        "x 300\n".into(),
        "x \\# 0\n".into(),
        "x TYPE65536 \\# 0\n".into(),
        "x TYPE1 \\# 65536\n".into(),
        "x SOA ns h 1 2 3 4 5 6\n".into(),
        "x LOC 91 N 0 E 0\n".into(),
        "x SVCB 1 . alpn=,\n".into(),
        "x!y A 192.0.2.1\n".into(),
        "x CNAME a@b\n".into(),
    ];
    for text in hostile {
        assert!(parse_with(&text, &[]).is_err(), "{text:?}");
    }
    // Many parameters on one line: rejected (too long) without quadratic
    // work on the way.
    let params: Vec<String> = (0..30_000).map(|i| format!("key{}=x", i + 10)).collect();
    assert!(parse_with(&format!("x SVCB 1 . {}\n", params.join(" ")), &[]).is_err());
    let invalid_utf8 = b"x TXT \xff\xfe\n";
    let mut no_include =
        |_: usize, _: &str| -> Result<(PathBuf, Vec<u8>), BundleError> { unreachable!() };
    assert!(parse_bytes(invalid_utf8, &origin(), Path::new("z"), &mut no_include).is_err());
}

/// Tokens that make random zones interesting to the parser.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("@".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("\\".to_string()),
        Just("\\#".to_string()),
        Just("$ORIGIN".to_string()),
        Just("$TTL".to_string()),
        Just("$INCLUDE".to_string()),
        Just("$GENERATE".to_string()),
        Just("${1,3,n}".to_string()),
        Just("1-10".to_string()),
        Just("IN".to_string()),
        proptest::sample::select(&[
            "A",
            "AAAA",
            "NS",
            "SOA",
            "MX",
            "TXT",
            "SRV",
            "CAA",
            "SVCB",
            "HTTPS",
            "DS",
            "DNSKEY",
            "RRSIG",
            "NSEC",
            "NSEC3",
            "LOC",
            "APL",
            "IPSECKEY",
            "NAPTR",
            "TYPE65280",
            "CNAME",
            "DNAME",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9.=,:-]{0,12}",
        "[0-9]{1,11}[smhdw]?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut include = |_: usize, _: &str| Ok((PathBuf::from("inc"), bytes.clone()));
        if let Ok(zone) = parse_bytes(&bytes, &origin(), Path::new("z"), &mut include) {
            let _ = check_zone(&zone);
        }
    }

    #[test]
    fn random_tokens_never_panic(tokens in proptest::collection::vec(token(), 0..64)) {
        let text = format!("{HEAD}{}", tokens.join(" "));
        let mut include = |_: usize, _: &str| Ok((PathBuf::from("inc"), text.clone().into_bytes()));
        if let Ok(zone) = parse_bytes(text.as_bytes(), &origin(), Path::new("z"), &mut include) {
            let _ = check_zone(&zone);
        }
    }
}

#[test]
fn load_zone_follows_includes_inside_the_bundle_only() {
    let dir = std::env::temp_dir().join(format!("stripedns-zonefile-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let zone_text = format!("{HEAD}$INCLUDE sub/a.inc\n");
    std::fs::write(dir.join("example.com.zone"), zone_text).unwrap();
    // A relative target in an included file is taken from that file's
    // directory.
    std::fs::write(dir.join("sub/a.inc"), "$INCLUDE b.inc\n").unwrap();
    std::fs::write(dir.join("sub/b.inc"), "b A 192.0.2.2\n").unwrap();
    let bundle = Bundle::open(&dir).unwrap();
    let zone = load_zone(&bundle, &bundle.zones()[0]).unwrap();
    assert_eq!(zone.records.last().unwrap().owner, name("b.example.com."));
    assert_eq!(zone.files.len(), 3);

    std::fs::write(dir.join("sub/b.inc"), "$INCLUDE ../../outside\n").unwrap();
    let bundle = Bundle::open(&dir).unwrap();
    let e = load_zone(&bundle, &bundle.zones()[0]).unwrap_err();
    assert!(matches!(e, BundleError::Escapes { line: 1, .. }), "{e}");
    assert!(e.to_string().contains("b.inc:1"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What `finish_plan` did before it read owners run by run: every record
/// through one set of (owner, type, canonical RDATA), the first TTL of
/// each RRset from one map. The model the faster plan must match.
fn finish_plan_model(records: &[Record], origin: &Name) -> Vec<Option<u32>> {
    let apex = origin.key();
    let mut seen = std::collections::HashSet::new();
    let mut first_ttl = HashMap::new();
    let mut apex_soa = false;
    let mut plan = Vec::new();
    for r in records {
        let key = r.owner.key();
        if !r.owner.is_at_or_below(origin) {
            plan.push(None);
            continue;
        }
        if r.rtype == rtype::SOA && key == apex {
            if apex_soa {
                plan.push(None);
                continue;
            }
            apex_soa = true;
        }
        let canonical = wire::canonical(r.rtype, &r.rdata).into_owned();
        if !seen.insert((key.clone(), r.rtype, canonical)) {
            plan.push(None);
            continue;
        }
        let ttl = match r.rtype {
            rtype::RRSIG => r.ttl,
            _ => *first_ttl.entry((key, r.rtype)).or_insert(r.ttl),
        };
        plan.push(Some(ttl));
    }
    plan
}

/// Random records: a few owners (in and out of the zone, in both letter
/// cases), types, RDATA (names in both cases) and TTLs, in any order and
/// in runs long enough to leave the per-run path.
fn records_strategy() -> impl Strategy<Value = Vec<Record>> {
    let owners = [
        "example.com.",
        "EXAMPLE.com.",
        "a.example.com.",
        "A.example.COM.",
        "b.example.com.",
        "example.org.",
        "x.example.org.",
    ];
    let rtypes = [rtype::A, rtype::MX, rtype::RRSIG, rtype::SOA, rtype::NS];
    let record = (0..owners.len(), 0..rtypes.len(), 0u8..12, 0u32..3);
    let run = (record, 1usize..14);
    proptest::collection::vec(run, 0..24).prop_map(move |runs| {
        let mut out = Vec::new();
        for ((o, t, v, ttl), len) in runs {
            for i in 0..len {
                let rtype = rtypes[t];
                // Values repeat within a run, so that some records collapse.
                let v = v.wrapping_add((i % 10) as u8);
                let target = if v % 2 == 0 {
                    "Mail.example.com."
                } else {
                    "mail.example.com."
                };
                let mut rdata = match rtype {
                    rtype::A => vec![192, 0, 2, v / 2],
                    _ => vec![0, v / 2],
                };
                if rtype != rtype::A {
                    rdata.extend_from_slice(name(target).as_wire());
                }
                out.push(Record {
                    owner: name(owners[o]),
                    rtype,
                    class: class::IN,
                    ttl: 60 * (ttl + u32::from(i % 3 == 1)),
                    rdata: rdata.into(),
                    file: 0,
                    line: 1,
                });
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn finish_plan_matches_the_model(records in records_strategy()) {
        let (plan, unchanged) = finish_plan(&records, &origin());
        let model = finish_plan_model(&records, &origin());
        let same = model.iter().zip(&records).all(|(p, r)| *p == Some(r.ttl));
        prop_assert_eq!(plan, model);
        prop_assert_eq!(unchanged, same);
    }
}

/// Lines for random zones: owners in both letter cases, in and out of
/// the zone, blank (inherited) owners, and RDATA that repeats, with names
/// in both cases.
fn zone_line() -> impl Strategy<Value = String> {
    let owners = proptest::sample::select(&[
        "a",
        "A",
        "b.a",
        "B.A",
        "@",
        "x.example.org.",
        "EXAMPLE.COM.",
        " ",
    ]);
    let records = proptest::sample::select(&[
        "A 192.0.2.1",
        "A 192.0.2.2",
        "60 A 192.0.2.1",
        "MX 10 mail",
        "MX 10 MAIL",
        "300 MX 10 Mail.example.com.",
        "TXT x",
        "TXT X",
        "NS ns",
        "NS NS",
    ]);
    (owners, records).prop_map(|(o, r)| format!("{o} {r}\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// What `Zone::build` relies on: the parser leaves no record outside
    /// the zone and no two records with the same owner (in any case), type
    /// and RDATA.
    #[test]
    fn parsed_records_are_in_zone_and_distinct(lines in proptest::collection::vec(zone_line(), 0..60)) {
        let zone = parse(&format!("{HEAD}{}", lines.concat()));
        let mut seen = std::collections::HashSet::new();
        for r in &zone.records {
            prop_assert!(r.owner.is_at_or_below(&origin()), "{}", r.owner);
            prop_assert!(seen.insert((r.owner.key(), r.rtype, r.rdata.clone())), "{} {}", r.owner, r.rtype);
        }
    }
}
