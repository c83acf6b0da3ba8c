//! Zone checks: the rules a zone must follow as a whole, after every record
//! parsed on its own.
//!
//! These are the semantic checks Knot DNS 3.2 makes when loading a zone
//! (`kzonecheck` with DNSSEC validation off), each reported as an error
//! naming the record: an SOA and NS at the apex, nothing beside a CNAME,
//! DNAME without children, glue for in-bailiwick name servers, and DS
//! digests of a known type and length. Knot only warns about some problems
//! (records outside the zone, a second SOA); the parser already resolved
//! those the way Knot does.

use std::collections::{HashMap, HashSet};

use crate::bundle::BundleError;
use crate::engine::native::name::{Name, NameKey};
use crate::engine::native::record::{ParsedZone, Record, rtype};

use super::nsec3;
use super::types::type_name;

/// RFC 5155 NSEC3PARAM.
const NSEC3PARAM: u16 = 51;

/// The records of a zone by owner, for the checks.
struct Index<'a> {
    /// The apex.
    apex: Name,
    /// Records by lowercased owner.
    nodes: HashMap<NameKey, Vec<&'a Record>>,
    /// Every name in the tree: owners and the empty non-terminals above them.
    names: HashSet<NameKey>,
}

impl<'a> Index<'a> {
    /// Index the records of `zone`.
    fn new(zone: &'a ParsedZone, apex: Name) -> Index<'a> {
        let mut nodes: HashMap<NameKey, Vec<&Record>> = HashMap::new();
        let mut names = HashSet::new();
        for record in zone.records.iter().filter(|r| !in_nsec3_tree(r)) {
            nodes.entry(record.owner.key()).or_default().push(record);
            let mut name = Some(record.owner.clone());
            while let Some(n) = name.filter(|n| n.is_at_or_below(&apex)) {
                if !names.insert(n.key()) {
                    break;
                }
                name = n.parent();
            }
        }
        Index { apex, nodes, names }
    }

    /// True when `name` owns a record of type `rtype`.
    fn has(&self, name: &Name, rtype: u16) -> bool {
        self.nodes
            .get(&name.key())
            .is_some_and(|rs| rs.iter().any(|r| r.rtype == rtype))
    }

    /// True when `name` or a name above it (below the apex) has NS records:
    /// it is a delegation point or lies below one.
    fn delegated(&self, name: &Name) -> bool {
        let mut current = Some(name.clone());
        while let Some(n) =
            current.filter(|n| !n.eq_ignore_case(&self.apex) && n.is_at_or_below(&self.apex))
        {
            if self.has(&n, rtype::NS) {
                return true;
            }
            current = n.parent();
        }
        false
    }

    /// The closest name of the tree at or above `name`.
    fn encloser(&self, name: &Name) -> Name {
        let mut current = name.clone();
        while !self.names.contains(&current.key()) {
            match current.parent() {
                Some(p) => current = p,
                None => break,
            }
        }
        current
    }
}

/// True for NSEC3 records and their signatures: Knot DNS keeps them in a
/// tree of their own (their owners are hashes, RFC 5155 section 7.1), so
/// they neither stand beside a CNAME nor serve as glue. (Below an apex
/// DNAME they still count; see `check_under_dname`.)
fn in_nsec3_tree(record: &Record) -> bool {
    record.rtype == rtype::NSEC3
        || (record.rtype == rtype::RRSIG
            && record.rdata.get(..2) == Some(&rtype::NSEC3.to_be_bytes()[..]))
}

/// Run the zone checks on a parsed zone.
pub fn check_zone(zone: &ParsedZone) -> Result<(), BundleError> {
    let Some(apex) = zone.origin.clone() else {
        return Err(BundleError::Zone {
            file: zone.files.first().cloned().unwrap_or_default(),
            line: 0,
            message: "zone without an origin".into(),
        });
    };
    let index = Index::new(zone, apex);
    let fail = |record: Option<&Record>, message: String| {
        let file = record.map_or(0, |r| usize::from(r.file));
        BundleError::Zone {
            file: zone.files.get(file).cloned().unwrap_or_default(),
            line: record.map_or(0, |r| r.line as usize),
            message,
        }
    };
    // RFC 1035 section 5.2: "Exactly one SOA RR should be present at the
    // top of the zone."
    if !index.has(&index.apex, rtype::SOA) {
        return Err(fail(
            None,
            format!("{}: missing SOA at the zone apex", index.apex),
        ));
    }
    // RFC 1035 section 5.2: "There should be one or more NS RRs present at
    // the top of the zone."
    if !index.has(&index.apex, rtype::NS) {
        return Err(fail(
            None,
            format!("{}: missing NS at the zone apex", index.apex),
        ));
    }
    // Knot DNS builds its NSEC3 chain from the one NSEC3PARAM at the apex
    // and refuses a zone with several ("failed to load NSEC3 parameters").
    let params = zone
        .records
        .iter()
        .filter(|r| r.rtype == NSEC3PARAM && r.owner.eq_ignore_case(&index.apex));
    if let Some(second) = params.clone().nth(1) {
        return Err(fail(
            Some(second),
            format!(
                "{}: more than one NSEC3PARAM record at the apex",
                index.apex
            ),
        ));
    }
    let apex_nsec3 = if index.has(&index.apex, rtype::DNAME) {
        apex_nsec3_owner(zone, &index.apex)
    } else {
        None
    };
    // Records in file order, so that the first problem in the file is the
    // one reported, every time.
    let mut checked_owners = HashSet::new();
    for record in &zone.records {
        let records = index.nodes.get(&record.owner.key());
        if let Some(records) = records.filter(|_| checked_owners.insert(record.owner.key()))
            && let Some(message) = check_node(&index, records)
        {
            return Err(fail(Some(record), message));
        }
        let message = match record.rtype {
            rtype::DS => check_ds(record),
            rtype::NS => check_glue(&index, record),
            _ => None,
        }
        .or_else(|| check_under_dname(&index, record, apex_nsec3.as_ref()));
        if let Some(message) = message {
            return Err(fail(Some(record), message));
        }
    }
    Ok(())
}

/// CNAME and DNAME rules for the records of one owner.
fn check_node(index: &Index<'_>, records: &[&Record]) -> Option<String> {
    let owner = &records.first()?.owner;
    let count = |t: u16| records.iter().filter(|r| r.rtype == t).count();
    let cnames = count(rtype::CNAME);
    // RFC 2181 section 10.1: "there may be only one such canonical name";
    // RFC 1034 section 3.6.2: "If a CNAME RR is present at a node, no other
    // data should be present" (RFC 4035 allows RRSIG and NSEC beside it).
    if cnames > 1 {
        return Some(format!("{owner} CNAME: multiple CNAME records"));
    }
    if cnames == 1
        && let Some(other) = records
            .iter()
            .find(|r| !matches!(r.rtype, rtype::CNAME | rtype::RRSIG | rtype::NSEC))
    {
        return Some(format!(
            "{owner} CNAME: another record ({}) exists beside CNAME",
            type_name(other.rtype)
        ));
    }
    let dnames = count(rtype::DNAME);
    if dnames == 0 {
        return None;
    }
    // RFC 6672 section 2.4: "there MUST NOT be more than one DNAME RR per
    // owner name".
    if dnames > 1 {
        return Some(format!("{owner} DNAME: multiple DNAME records"));
    }
    if !owner.eq_ignore_case(&index.apex) && count(rtype::NS) > 0 {
        return Some(format!("{owner} DNAME: NS record exists beside DNAME"));
    }
    None
}

/// RFC 6672 section 2.4: a DNAME owner "MUST NOT have any descendants";
/// checked from the descendant's side, walking up its ancestors. As in
/// Knot DNS, the NSEC3 record of the apex (`apex_nsec3`) may sit below a
/// DNAME at the apex.
fn check_under_dname(
    index: &Index<'_>,
    record: &Record,
    apex_nsec3: Option<&NameKey>,
) -> Option<String> {
    let mut current = record.owner.parent();
    while let Some(name) = current.filter(|n| n.is_at_or_below(&index.apex)) {
        if index.has(&name, rtype::DNAME) {
            let allowed =
                name.eq_ignore_case(&index.apex) && apex_nsec3 == Some(&record.owner.key());
            return (!allowed).then(|| {
                format!(
                    "{name} DNAME: child record {} exists under DNAME",
                    record.owner
                )
            });
        }
        current = name.parent();
    }
    None
}

/// The owner of the apex's own NSEC3 record under the zone's first
/// NSEC3PARAM (RFC 5155 section 4.2: algorithm 1, SHA-1, is the only one
/// defined), if the zone has one.
fn apex_nsec3_owner(zone: &ParsedZone, apex: &Name) -> Option<NameKey> {
    let param = zone
        .records
        .iter()
        .find(|r| r.rtype == NSEC3PARAM && r.owner.eq_ignore_case(apex))?;
    let (&algorithm, rest) = param.rdata.split_first()?;
    let iterations = u16::from_be_bytes([*rest.get(1)?, *rest.get(2)?]);
    let salt_len = usize::from(*rest.get(3)?);
    let salt = rest.get(4..4 + salt_len)?;
    if algorithm != 1 {
        return None;
    }
    let label = nsec3::hash_label(apex.key().as_wire(), salt, iterations);
    apex.prepend(label.as_bytes()).ok().map(|n| n.key())
}

/// Glue for an NS record at the apex or at a delegation point whose target
/// lies inside the zone, as Knot DNS checks it: the target (or a wildcard
/// covering it) must have an A or AAAA record, unless it lies below another
/// delegation.
fn check_glue(index: &Index<'_>, ns: &Record) -> Option<String> {
    let owner = &ns.owner;
    let at_apex = owner.eq_ignore_case(&index.apex);
    let below_other = owner.parent().is_some_and(|p| index.delegated(&p));
    if !at_apex && below_other {
        return None;
    }
    let target = Name::from_wire(&ns.rdata).ok()?;
    if !target.is_at_or_below(&index.apex) {
        return None;
    }
    let glue_owner = if index.names.contains(&target.key()) {
        target.clone()
    } else {
        let encloser = index.encloser(&target);
        if !encloser.eq_ignore_case(owner) && index.delegated(&encloser) {
            return None;
        }
        encloser.prepend(b"*").ok()?
    };
    if index.has(&glue_owner, rtype::A) || index.has(&glue_owner, rtype::AAAA) {
        return None;
    }
    Some(format!("{owner} NS: missing glue record for {target}"))
}

/// RFC 4034 section 5.1.4 digest types Knot DNS supports, with their
/// lengths (RFC 4509 SHA-256, RFC 6605 SHA-384).
fn check_ds(ds: &Record) -> Option<String> {
    let owner = &ds.owner;
    let digest_type = *ds.rdata.get(3)?;
    let digest_len = ds.rdata.len().saturating_sub(4);
    let expected = match digest_type {
        1 => 20,
        2 => 32,
        4 => 48,
        other => return Some(format!("{owner} DS: unknown digest type {other}")),
    };
    (digest_len != expected).then(|| {
        format!(
            "{owner} DS: digest of {digest_len} octets, digest type {digest_type} needs {expected}"
        )
    })
}
