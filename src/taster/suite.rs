//! The tasting suite: which queries a bundle is tasted with and what each
//! answer must look like.
//!
//! The queries come from the bundle's own records (read with the native
//! zone-file parser) and from its optional `bundle.toml`:
//!
//! - SOA and NS at every zone apex: NOERROR, AA, at least one answer;
//! - every owner name with each of its types: NOERROR, AA and an answer,
//!   or a referral (NOERROR, AA clear) for names at or below a delegation;
//! - a name that does not exist under each apex: NXDOMAIN with AA (or
//!   NOERROR where an apex wildcard or DNAME covers it), and a type no
//!   apex holds: NOERROR, no answer;
//! - a fresh name under every wildcard, with each of the wildcard's types;
//! - a fresh name under every delegation: a referral;
//! - every `[[expect]]` of `bundle.toml`.
//!
//! Names at or below another zone of the bundle are left to that zone, and
//! names below a DNAME are left out (their answers are synthesised).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use crate::bundle::{Bundle, BundleError};
use crate::engine::native::name::Name;
use crate::engine::native::record::{class, rtype};
use crate::engine::native::zonefile::{self, types};

use super::message::rcode_from_name;

/// The file of a bundle holding its expectations.
pub const BUNDLE_TOML: &str = "bundle.toml";

/// A type no zone is expected to hold, for the NODATA probe.
const ABSENT_TYPE: u16 = 65_123;

/// RCODE values the suite names.
const NOERROR: u16 = 0;
/// Name error.
const NXDOMAIN: u16 = 3;

/// What a probe's answer must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The acceptable RCODEs.
    pub rcodes: Vec<u16>,
    /// The AA flag, where it matters.
    pub aa: Option<bool>,
    /// At least this many answer records (checked unless truncated).
    pub min_answers: usize,
    /// At most this many answer records, if bounded.
    pub max_answers: Option<usize>,
    /// At least this many authority records (checked unless truncated).
    pub min_authority: usize,
}

impl Expect {
    /// An authoritative answer with data.
    fn answer() -> Expect {
        Expect {
            rcodes: vec![NOERROR],
            aa: Some(true),
            min_answers: 1,
            max_answers: None,
            min_authority: 0,
        }
    }

    /// A referral: NOERROR, AA clear, no answer, an NS set in authority.
    fn referral() -> Expect {
        Expect {
            rcodes: vec![NOERROR],
            aa: Some(false),
            min_answers: 0,
            max_answers: Some(0),
            min_authority: 1,
        }
    }
}

/// One query of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The query name.
    pub name: Name,
    /// The query type.
    pub qtype: u16,
    /// What the answer must look like.
    pub expect: Expect,
    /// Where the probe comes from (`SOA at apex`, `bundle.toml [[expect]] 2`).
    pub why: &'static str,
}

impl Probe {
    /// `name TYPE`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, types::type_name(self.qtype))
    }
}

/// The contents of `bundle.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleToml {
    /// Expectations on answers.
    #[serde(default)]
    pub expect: Vec<ExpectToml>,
    /// Per-zone answer policy, read by [`crate::fleet`].
    #[serde(default)]
    pub zone: Option<toml::Value>,
    /// Per-name answer policy, read by [`crate::fleet`].
    #[serde(default)]
    pub fleet: Option<toml::Value>,
}

/// One `[[expect]]` table of `bundle.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectToml {
    /// The query name, absolute (`www.example.com.`).
    pub name: String,
    /// The query type (`A`, `AAAA`, `TYPE65000`).
    #[serde(rename = "type")]
    pub qtype: String,
    /// The RCODE (`NOERROR` unless given).
    #[serde(default)]
    pub rcode: Option<String>,
    /// The fewest answer records acceptable.
    #[serde(default)]
    pub min_answers: Option<usize>,
    /// The most answer records acceptable.
    #[serde(default)]
    pub max_answers: Option<usize>,
}

/// Read `bundle.toml` of `bundle` (none: no expectations) into probes.
pub fn expectations(bundle: &Bundle) -> Result<Vec<Probe>, BundleError> {
    let path = bundle.root().join(BUNDLE_TOML);
    if !path.exists() {
        return Ok(Vec::new());
    }
    parse_expectations(&bundle.read(&path)?, &path)
}

/// Parse the text of a `bundle.toml` (read from `path`, for errors) into
/// probes. Untrusted input: errors name the file and line, never panic.
pub fn parse_expectations(text: &[u8], path: &Path) -> Result<Vec<Probe>, BundleError> {
    let bad = |line: usize, message: String| BundleError::Zone {
        file: path.to_path_buf(),
        line,
        message,
    };
    let text = std::str::from_utf8(text).map_err(|_| bad(0, "not UTF-8".into()))?;
    let parsed: BundleToml = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| {
            text.get(..s.start)
                .map_or(0, |before| before.matches('\n').count() + 1)
        });
        bad(line, e.message().to_string())
    })?;
    let mut probes = Vec::new();
    for (i, e) in parsed.expect.iter().enumerate() {
        let which = format!("[[expect]] {} ({} {})", i + 1, e.name, e.qtype);
        if !e.name.ends_with('.') {
            return Err(bad(
                0,
                format!("{which}: name must be absolute (end in `.`)"),
            ));
        }
        let name = Name::parse(e.name.as_bytes(), None)
            .map_err(|err| bad(0, format!("{which}: bad name: {err}")))?;
        let qtype = types::type_from_name(&e.qtype.to_ascii_uppercase())
            .ok_or_else(|| bad(0, format!("{which}: unknown type `{}`", e.qtype)))?;
        let rcode = match &e.rcode {
            None => NOERROR,
            Some(r) => {
                rcode_from_name(r).ok_or_else(|| bad(0, format!("{which}: unknown rcode `{r}`")))?
            }
        };
        probes.push(Probe {
            name,
            qtype,
            expect: Expect {
                rcodes: vec![rcode],
                aa: None,
                min_answers: e.min_answers.unwrap_or(0),
                max_answers: e.max_answers,
                min_authority: 0,
            },
            why: "bundle.toml",
        });
    }
    Ok(probes)
}

/// The suite for `bundle`: probes from its zones, then its expectations.
pub fn build(bundle: &Bundle) -> Result<Vec<Probe>, BundleError> {
    let mut origins = Vec::new();
    let mut zones = Vec::new();
    for file in bundle.zones() {
        let parsed = zonefile::load_zone(bundle, file)?;
        let origin =
            Name::parse(file.origin.as_bytes(), None).map_err(|e| BundleError::BadOrigin {
                path: file.path.clone(),
                reason: e.to_string(),
            })?;
        origins.push(origin.clone());
        zones.push((origin, parsed));
    }
    let mut probes = Vec::new();
    for (origin, parsed) in &zones {
        zone_probes(origin, &parsed.records, &origins, &mut probes);
    }
    probes.extend(expectations(bundle)?);
    Ok(probes)
}

/// The probes of one zone.
fn zone_probes(
    origin: &Name,
    records: &[crate::engine::native::record::Record],
    origins: &[Name],
    probes: &mut Vec<Probe>,
) {
    // Owner (lowercased key order) -> (owner as written, types).
    let mut owners: BTreeMap<Vec<u8>, (Name, BTreeSet<u16>)> = BTreeMap::new();
    for r in records.iter().filter(|r| r.class == class::IN) {
        owners
            .entry(r.owner.key().as_wire().to_vec())
            .or_insert_with(|| (r.owner.clone(), BTreeSet::new()))
            .1
            .insert(r.rtype);
    }
    let with = |t: u16| -> Vec<Name> {
        owners
            .values()
            .filter(|(_, ts)| ts.contains(&t))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let cuts: Vec<Name> = with(rtype::NS)
        .into_iter()
        .filter(|n| !n.eq_ignore_case(origin))
        .collect();
    let dnames = with(rtype::DNAME);
    // Another zone of the bundle, below this one, answers for its names.
    let elsewhere = |n: &Name| {
        origins
            .iter()
            .any(|o| o.label_count() > origin.label_count() && n.is_at_or_below(o))
    };
    let below_dname = |n: &Name| {
        dnames
            .iter()
            .any(|d| n.is_at_or_below(d) && !n.eq_ignore_case(d))
    };
    let at_or_below_cut = |n: &Name| cuts.iter().any(|c| n.is_at_or_below(c));

    for t in [rtype::SOA, rtype::NS] {
        probes.push(Probe {
            name: origin.clone(),
            qtype: t,
            expect: Expect::answer(),
            why: "apex",
        });
    }
    for (name, types_here) in owners.values() {
        if elsewhere(name) || below_dname(name) {
            continue;
        }
        for &t in types_here {
            let apex = name.eq_ignore_case(origin);
            if apex && (t == rtype::SOA || t == rtype::NS) {
                continue;
            }
            // Meta types cannot be queried for their records (RFC 6895).
            if t == rtype::OPT || (128..=255).contains(&t) {
                continue;
            }
            let cut_here = cuts.iter().any(|c| c.eq_ignore_case(name));
            let expect = if cut_here && t == rtype::DS {
                // The parent side of the cut answers DS (RFC 4035 3.1.4.1).
                Expect::answer()
            } else if at_or_below_cut(name) {
                Expect::referral()
            } else {
                Expect::answer()
            };
            probes.push(Probe {
                name: name.clone(),
                qtype: t,
                expect,
                why: "owner and type",
            });
        }
    }

    // A name that does not exist, and a type the apex does not hold.
    let apex_types = owners
        .get(origin.key().as_wire())
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    // RFC 4592 2.2.1: `*.<apex>` covers the probe even when it exists only
    // as an empty non-terminal (with names below it).
    let covered = apex_types.contains(&rtype::DNAME)
        || origin
            .prepend(b"*")
            .is_ok_and(|star| owners.values().any(|(n, _)| n.is_at_or_below(&star)));
    if let Ok(nx) = origin.prepend(b"stripedns-taster-nx") {
        probes.push(Probe {
            name: nx,
            qtype: rtype::A,
            expect: Expect {
                rcodes: if covered {
                    vec![NOERROR, NXDOMAIN]
                } else {
                    vec![NXDOMAIN]
                },
                aa: if covered { None } else { Some(true) },
                min_answers: 0,
                max_answers: if covered { None } else { Some(0) },
                min_authority: usize::from(!covered),
            },
            why: "nonexistent name",
        });
    }
    if !apex_types.contains(&ABSENT_TYPE) {
        probes.push(Probe {
            name: origin.clone(),
            qtype: ABSENT_TYPE,
            expect: Expect {
                rcodes: vec![NOERROR],
                aa: Some(true),
                min_answers: 0,
                max_answers: Some(0),
                min_authority: 1,
            },
            why: "type not at the apex",
        });
    }

    // Fresh names under wildcards and delegations.
    for (name, types_here) in owners.values() {
        if !name.is_wildcard() || elsewhere(name) || below_dname(name) || at_or_below_cut(name) {
            continue;
        }
        let Some(Ok(fresh)) = name.parent().map(|p| p.prepend(b"stripedns-taster-wc")) else {
            continue;
        };
        for &t in types_here {
            if t == rtype::OPT || (128..=255).contains(&t) {
                continue;
            }
            probes.push(Probe {
                name: fresh.clone(),
                qtype: t,
                expect: Expect::answer(),
                why: "name under a wildcard",
            });
        }
    }
    for cut in &cuts {
        if elsewhere(cut) || below_dname(cut) {
            continue;
        }
        if let Ok(fresh) = cut.prepend(b"stripedns-taster-dl") {
            probes.push(Probe {
                name: fresh,
                qtype: rtype::A,
                expect: Expect::referral(),
                why: "name under a delegation",
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Bundle) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let b = Bundle::open(dir.path()).unwrap();
        (dir, b)
    }

    const ZONE: &str = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                        www A 192.0.2.2\n* TXT wild\nsub NS ns.sub\nns.sub A 192.0.2.3\n";

    #[test]
    fn suite_covers_apex_owners_wildcards_and_delegations() {
        let (_d, b) = bundle_with(&[("example.com.zone", ZONE)]);
        let probes = build(&b).unwrap();
        let labels: Vec<String> = probes.iter().map(Probe::label).collect();
        for want in [
            "example.com. SOA",
            "example.com. NS",
            "www.example.com. A",
            "stripedns-taster-nx.example.com. A",
            "stripedns-taster-wc.example.com. TXT",
            "stripedns-taster-dl.sub.example.com. A",
            "ns.sub.example.com. A",
        ] {
            assert!(
                labels.iter().any(|l| l == want),
                "{want} missing: {labels:?}"
            );
        }
        let glue = probes
            .iter()
            .find(|p| p.label() == "ns.sub.example.com. A")
            .unwrap();
        assert_eq!(glue.expect, Expect::referral());
        // The apex wildcard covers the nonexistent name.
        let nx = probes.iter().find(|p| p.why == "nonexistent name").unwrap();
        assert_eq!(nx.expect.rcodes, vec![NOERROR, NXDOMAIN]);
    }

    #[test]
    fn wildcard_empty_non_terminal_covers_the_nonexistent_name() {
        let zone = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nfoo.* TXT x\n";
        let (_d, b) = bundle_with(&[("example.com.zone", zone)]);
        let probes = build(&b).unwrap();
        let nx = probes.iter().find(|p| p.why == "nonexistent name").unwrap();
        assert_eq!(nx.expect.rcodes, vec![NOERROR, NXDOMAIN]);
    }

    #[test]
    fn bundle_toml_expectations_and_errors() {
        let toml = "[[expect]]\nname = \"www.example.com.\"\ntype = \"A\"\nmin_answers = 4\n\
                    [[expect]]\nname = \"nope.example.com.\"\ntype = \"aaaa\"\nrcode = \"NXDOMAIN\"\n";
        let (_d, b) = bundle_with(&[("example.com.zone", ZONE), ("bundle.toml", toml)]);
        let probes = expectations(&b).unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].expect.min_answers, 4);
        assert_eq!(probes[1].qtype, 28);
        assert_eq!(probes[1].expect.rcodes, vec![NXDOMAIN]);

        let (_d, b) = bundle_with(&[
            ("example.com.zone", ZONE),
            (
                "bundle.toml",
                "[[expect]]\nname = \"www.example.com.\"\ntype = \"BOGUS\"\n",
            ),
        ]);
        let err = expectations(&b).unwrap_err().to_string();
        assert!(
            err.contains("bundle.toml") && err.contains("BOGUS"),
            "{err}"
        );
        let (_d, b) = bundle_with(&[
            ("example.com.zone", ZONE),
            ("bundle.toml", "[[expect]]\nname = \"x.\"\nkind = 1\n"),
        ]);
        let err = expectations(&b).unwrap_err().to_string();
        assert!(err.contains("bundle.toml:"), "{err}");
    }
}
