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

use std::borrow::Cow;

use crate::bundle::BundleError;
use crate::engine::native::name::{MAX_NAME, Name};
use crate::engine::native::record::{ParsedZone, Record, rtype};

use super::nsec3;
use super::owners::{Owners, at_or_below, lowercase, parent};
use super::types::type_name;

/// RFC 5155 NSEC3PARAM.
const NSEC3PARAM: u16 = 51;

/// The records of a zone by owner, for the checks.
///
/// Names are lowercased wire forms numbered by [`Owners`]; the records of
/// each owner sit together in one array, in file order, so that building
/// the index allocates nothing per record or per owner.
struct Index<'a> {
    /// The apex, lowercased.
    apex: Vec<u8>,
    /// Every owner (but NSEC3 records') and every name in the tree.
    names: Owners,
    /// The records of name `i` are `records[start[i]..start[i + 1]]`.
    start: Vec<usize>,
    /// Records (but NSEC3 records) grouped by owner, in file order.
    records: Vec<&'a Record>,
    /// The owner number of each record but NSEC3 records, in file order.
    owner_of: Vec<u32>,
    /// Whether name `i` is in the tree: an owner at or below the apex, or
    /// an empty non-terminal between such an owner and the apex.
    in_tree: Vec<bool>,
}

impl<'a> Index<'a> {
    /// Index the records of `zone`.
    fn new(zone: &'a ParsedZone, apex: &Name) -> Index<'a> {
        let apex = lowercase(apex.as_wire()).into_owned();
        let mut names = Owners::with_capacity(zone.records.len() / 4);
        let mut in_tree = Vec::new();
        // The owner number of each indexed record, in file order.
        let mut owner_of = Vec::with_capacity(zone.records.len());
        let mut last: Option<(&Name, u32)> = None;
        // The parent of the last owner put in the tree, which is in the tree
        // too: siblings written one after the other share it.
        let mut last_parent: Option<&[u8]> = None;
        for record in zone.records.iter().filter(|r| !in_nsec3_tree(r)) {
            let wire = record.owner.as_wire();
            if let Some((_, id)) = last.filter(|&(w, _)| w.is(&record.owner)) {
                owner_of.push(id);
                continue;
            }
            let lower = lowercase(wire);
            let (id, _) = names.intern(&lower);
            owner_of.push(id);
            last = Some((&record.owner, id));
            // The owner and the names above it, up to the apex, are in
            // the tree; stop at the first one already there.
            let mut name = Some(lower);
            let mut known = Some(id);
            while let Some(n) = name.filter(|n| at_or_below(n, &apex)) {
                let n_id = match known.take() {
                    Some(id) => id as usize,
                    None => names.intern(&n).0 as usize,
                };
                in_tree.resize(names.len(), false);
                if in_tree.get(n_id) == Some(&true) {
                    break;
                }
                if let Some(flag) = in_tree.get_mut(n_id) {
                    *flag = true;
                }
                name = match n {
                    Cow::Borrowed(b) => {
                        let up = parent(b);
                        if up.is_some() && up == last_parent {
                            break;
                        }
                        if up.is_some_and(|p| at_or_below(p, &apex)) {
                            last_parent = up;
                        }
                        up.map(Cow::Borrowed)
                    }
                    Cow::Owned(o) => parent(&o).map(|p| Cow::Owned(p.to_vec())),
                };
            }
        }
        in_tree.resize(names.len(), false);
        // Group the records by owner, keeping file order (a counting sort).
        let mut start = vec![0; names.len() + 1];
        for &id in &owner_of {
            if let Some(count) = start.get_mut(id as usize + 1) {
                *count += 1;
            }
        }
        let mut total = 0;
        for count in &mut start {
            total += *count;
            *count = total;
        }
        let indexed = zone.records.iter().filter(|r| !in_nsec3_tree(r));
        let records: Vec<&Record> = if owner_of.is_sorted() {
            // Each owner's records together, owners numbered in order (the
            // usual layout): the records are grouped already.
            indexed.collect()
        } else {
            let mut next = start.clone();
            // Every slot is overwritten below; any record serves as the
            // filler.
            let mut records = match indexed.clone().next() {
                Some(filler) => vec![filler; owner_of.len()],
                None => Vec::new(),
            };
            for (record, &id) in indexed.zip(&owner_of) {
                if let Some(slot) = next.get_mut(id as usize) {
                    if let Some(place) = records.get_mut(*slot) {
                        *place = record;
                    }
                    *slot += 1;
                }
            }
            records
        };
        Index {
            apex,
            names,
            start,
            records,
            owner_of,
            in_tree,
        }
    }

    /// The records owned by the lowercased name `name`, in file order.
    fn node(&self, name: &[u8]) -> &[&'a Record] {
        match self.names.get(name) {
            Some(id) => self.node_of(id),
            None => &[],
        }
    }

    /// The records owned by name number `id`.
    fn node_of(&self, id: u32) -> &[&'a Record] {
        let id = id as usize;
        match (self.start.get(id), self.start.get(id + 1)) {
            (Some(&from), Some(&to)) => self.records.get(from..to).unwrap_or_default(),
            _ => &[],
        }
    }

    /// True when the lowercased name `name` is in the tree.
    fn in_tree(&self, name: &[u8]) -> bool {
        self.names
            .get(name)
            .is_some_and(|id| self.in_tree.get(id as usize) == Some(&true))
    }

    /// True when the lowercased name `name` owns a record of type `rtype`.
    fn has(&self, name: &[u8], rtype: u16) -> bool {
        self.node(name).iter().any(|r| r.rtype == rtype)
    }

    /// True when the lowercased name `name` or a name above it (below the
    /// apex) has NS records: it is a delegation point or lies below one.
    fn delegated(&self, name: &[u8]) -> bool {
        let mut current = Some(name);
        while let Some(n) = current.filter(|&n| n != self.apex && at_or_below(n, &self.apex)) {
            if self.has(n, rtype::NS) {
                return true;
            }
            current = parent(n);
        }
        false
    }

    /// The closest name of the tree at or above the lowercased `name`.
    fn encloser<'n>(&self, name: &'n [u8]) -> &'n [u8] {
        let mut current = name;
        while !self.in_tree(current) {
            match parent(current) {
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
    let Some(apex) = zone.origin.as_ref() else {
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
        return Err(fail(None, format!("{apex}: missing SOA at the zone apex")));
    }
    // RFC 1035 section 5.2: "There should be one or more NS RRs present at
    // the top of the zone."
    if !index.has(&index.apex, rtype::NS) {
        return Err(fail(None, format!("{apex}: missing NS at the zone apex")));
    }
    // Knot DNS builds its NSEC3 chain from the one NSEC3PARAM at the apex
    // and refuses a zone with several ("failed to load NSEC3 parameters").
    let params = zone
        .records
        .iter()
        .filter(|r| r.rtype == NSEC3PARAM && r.owner.eq_ignore_case(apex));
    if let Some(second) = params.clone().nth(1) {
        return Err(fail(
            Some(second),
            format!("{apex}: more than one NSEC3PARAM record at the apex"),
        ));
    }
    let apex_nsec3 = if index.has(&index.apex, rtype::DNAME) {
        apex_nsec3_owner(zone, apex)
    } else {
        None
    };
    // Records in file order, so that the first problem in the file is the
    // one reported, every time. What depends on the owner alone is checked
    // once per run of records with the same owner.
    let mut checked = vec![false; index.names.len()];
    // A parent with no DNAME at or above it, as the last walk up found.
    let mut clean = Vec::new();
    let mut last: Option<&Name> = None;
    let mut owner = Cow::Borrowed(&[][..]);
    // The owner numbers the index gave the records it holds, in order.
    let mut numbers = index.owner_of.iter();
    for record in &zone.records {
        let number = match in_nsec3_tree(record) {
            false => numbers.next().copied(),
            true => None,
        };
        let new_owner = last.is_none_or(|last| !last.is(&record.owner));
        if new_owner {
            last = Some(&record.owner);
            owner = lowercase(record.owner.as_wire());
            if let Some(id) = number.or_else(|| index.names.get(&owner))
                && let Some(seen) = checked.get_mut(id as usize)
                && !std::mem::replace(seen, true)
                && let Some(message) = check_node(&index, index.node_of(id))
            {
                return Err(fail(Some(record), message));
            }
        }
        let message = match record.rtype {
            rtype::DS => check_ds(record),
            rtype::NS => check_glue(&index, record, &owner),
            _ => None,
        }
        .or_else(|| {
            new_owner
                .then(|| {
                    check_under_dname(&index, record, &owner, apex_nsec3.as_deref(), &mut clean)
                })
                .flatten()
        });
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
    if *lowercase(owner.as_wire()) != *index.apex && count(rtype::NS) > 0 {
        return Some(format!("{owner} DNAME: NS record exists beside DNAME"));
    }
    None
}

/// RFC 6672 section 2.4: a DNAME owner "MUST NOT have any descendants";
/// checked from the descendant's side, walking up its ancestors. As in
/// Knot DNS, the NSEC3 record of the apex (`apex_nsec3`) may sit below a
/// DNAME at the apex. `clean` is a name known to have no DNAME at or
/// above it: when it is the owner's parent, there is nothing to walk; when
/// a walk finds no DNAME, the owner's parent becomes it.
fn check_under_dname(
    index: &Index<'_>,
    record: &Record,
    owner: &[u8],
    apex_nsec3: Option<&[u8]>,
    clean: &mut Vec<u8>,
) -> Option<String> {
    let first = parent(owner);
    if first.is_some_and(|p| p == clean.as_slice()) {
        return None;
    }
    let mut current = first;
    while let Some(name) = current.filter(|n| at_or_below(n, &index.apex)) {
        if index.has(name, rtype::DNAME) {
            let allowed = name == index.apex && apex_nsec3 == Some(owner);
            return (!allowed).then(|| {
                // The ancestor with the letter case of the record's owner.
                let at = owner.len().saturating_sub(name.len());
                let shown = record
                    .owner
                    .as_wire()
                    .get(at..)
                    .and_then(|w| Name::from_wire(w).ok())
                    .map_or_else(String::new, |n| n.to_string());
                format!(
                    "{shown} DNAME: child record {} exists under DNAME",
                    record.owner
                )
            });
        }
        current = parent(name);
    }
    if let Some(p) = first {
        clean.clear();
        clean.extend_from_slice(p);
    }
    None
}

/// The owner of the apex's own NSEC3 record under the zone's first
/// NSEC3PARAM (RFC 5155 section 4.2: algorithm 1, SHA-1, is the only one
/// defined), if the zone has one.
fn apex_nsec3_owner(zone: &ParsedZone, apex: &Name) -> Option<Vec<u8>> {
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
    apex.prepend(label.as_bytes())
        .ok()
        .map(|n| n.key().as_wire().to_vec())
}

/// Glue for an NS record at the apex or at a delegation point whose target
/// lies inside the zone, as Knot DNS checks it: the target (or a wildcard
/// covering it) must have an A or AAAA record, unless it lies below another
/// delegation.
fn check_glue(index: &Index<'_>, ns: &Record, owner_key: &[u8]) -> Option<String> {
    let owner = &ns.owner;
    let at_apex = owner_key == index.apex;
    let below_other = parent(owner_key).is_some_and(|p| index.delegated(p));
    if !at_apex && below_other {
        return None;
    }
    let target = Name::from_wire(&ns.rdata).ok()?;
    let target_key = lowercase(target.as_wire());
    if !at_or_below(&target_key, &index.apex) {
        return None;
    }
    let wildcard;
    let glue_owner: &[u8] = if index.in_tree(&target_key) {
        &target_key
    } else {
        let encloser = index.encloser(&target_key);
        if encloser != owner_key && index.delegated(encloser) {
            return None;
        }
        // `*.` and the encloser, which must still be a valid name.
        if encloser.len() + 2 > MAX_NAME {
            return None;
        }
        wildcard = [&[1, b'*'][..], encloser].concat();
        &wildcard
    };
    if index.has(glue_owner, rtype::A) || index.has(glue_owner, rtype::AAAA) {
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
