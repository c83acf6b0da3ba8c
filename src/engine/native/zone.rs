//! The native engine's zone tree: every name of a zone (empty non-terminals
//! included) in a hash map keyed by its lowercased wire form, each node with
//! its RRsets and the flags the lookup needs (delegation point, DNAME).
//!
//! Built once at load time from a [`ParsedZone`]; read-only afterwards, so
//! many threads share it behind one `Arc` with no locking.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use crate::bundle::BundleError;
use crate::fleet::{FleetPolicy, Rotation};

use super::answer::{self, Prepared};
use super::name::{Name, NameKey};
use super::record::{ParsedZone, rtype};
use super::rotate::SetPolicy;

pub use super::wire::name_len;

/// All records of one owner and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// The owner as first written in the zone file.
    pub owner: Name,
    /// The type number.
    pub rtype: u16,
    /// The TTL (of the first record, as Knot DNS keeps it).
    pub ttl: u32,
    /// Each record's RDATA in uncompressed wire form, duplicates removed,
    /// in zone-file order.
    pub rdatas: Vec<Box<[u8]>>,
    /// The web-fleet policy of an A or AAAA set of more than one record
    /// (rotation, answer limit, health); `None` for every other set.
    pub fleet: Option<SetPolicy>,
    /// True for an A or AAAA set whose records all hold one address: asked
    /// for by its own name, its answer is written straight from the RDATA.
    pub direct: bool,
    /// Asked for by its own name (and not [`RRset::direct`]): the answer
    /// prepared at load time in wire form.
    pub prepared: Option<Box<Prepared>>,
}

/// One name of a zone.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The RRsets at this name; empty for an empty non-terminal.
    pub rrsets: Vec<RRset>,
    /// True for a delegation point: NS here, and not the apex.
    pub cut: bool,
    /// True when a query for this very name ends here: no delegation here
    /// or above, no DNAME above. Only such names use prepared answers.
    pub plain: bool,
}

impl Node {
    /// The RRset of type `t`, if any.
    pub fn get(&self, t: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }
}

/// One zone, ready for lookups.
#[derive(Debug)]
pub struct Zone {
    /// The apex name.
    pub origin: Name,
    /// Number of labels in the origin.
    pub origin_labels: usize,
    /// Every name of the zone, empty non-terminals included.
    pub nodes: HashMap<NameKey, Node>,
    /// The apex SOA as sent in negative answers: its TTL is
    /// min(SOA TTL, SOA MINIMUM) (RFC 2308 section 3).
    pub negative_soa: RRset,
    /// The cyclic rotation counters of the zone's address sets, each
    /// starting at 0 ([`SetPolicy::counter`] indexes them).
    pub counters: Box<[AtomicU64]>,
}

/// The proper suffixes of a wire name (its ancestors), root excluded.
fn strict_suffixes(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = usize::from(*wire.get(at)?);
        if len == 0 {
            return None;
        }
        at += 1 + len;
        wire.get(at..).filter(|rest| rest.len() > 1)
    })
}

impl Zone {
    /// Build the tree of a parsed (and checked) zone, with the answer
    /// policy of its address sets taken from `policy`.
    pub fn build(parsed: ParsedZone, policy: &FleetPolicy) -> Result<Zone, BundleError> {
        let file = parsed.files.first().cloned().unwrap_or_default();
        let zone_error = |message: String| BundleError::Zone {
            file: file.clone(),
            line: 0,
            message,
        };
        let origin = parsed
            .origin
            .clone()
            .ok_or_else(|| zone_error("zone has no origin".into()))?;
        let origin_key = origin.key();
        let mut nodes: HashMap<NameKey, Node> = HashMap::new();
        for rec in parsed.records {
            if !rec.owner.is_at_or_below(&origin) {
                // Out-of-zone data is never served (Knot DNS ignores it too).
                continue;
            }
            let node = nodes.entry(rec.owner.key()).or_default();
            match node.rrsets.iter_mut().find(|r| r.rtype == rec.rtype) {
                Some(set) => set.rdatas.push(rec.rdata),
                None => node.rrsets.push(RRset {
                    owner: rec.owner,
                    rtype: rec.rtype,
                    ttl: rec.ttl,
                    rdatas: vec![rec.rdata],
                    fleet: None,
                    direct: false,
                    prepared: None,
                }),
            }
        }
        // Empty non-terminals: every ancestor between a name and the apex
        // exists (RFC 4592 2.2.2), so it answers NODATA, not NXDOMAIN.
        let owners: Vec<Name> = nodes
            .values()
            .filter_map(|n| n.rrsets.first().map(|r| r.owner.clone()))
            .collect();
        for owner in owners {
            let mut name = owner;
            while let Some(parent) = name.parent() {
                if !parent.is_at_or_below(&origin) {
                    break;
                }
                nodes.entry(parent.key()).or_default();
                name = parent;
            }
        }
        for (key, node) in nodes.iter_mut() {
            let mut seen = HashSet::new();
            for set in &mut node.rrsets {
                seen.clear();
                set.rdatas.retain(|r| seen.insert(r.clone()));
            }
            node.cut = *key != origin_key && node.get(rtype::NS).is_some();
        }
        // Names a lookup stops at before reaching the names below them.
        let blockers: HashSet<NameKey> = nodes
            .iter()
            .filter(|(_, n)| n.cut || n.get(rtype::DNAME).is_some())
            .map(|(k, _)| k.clone())
            .collect();
        let mut counters = 0u32;
        for (key, node) in nodes.iter_mut() {
            node.plain = !node.cut && !strict_suffixes(key.as_wire()).any(|s| blockers.contains(s));
            for set in &mut node.rrsets {
                let width = match set.rtype {
                    rtype::A => 4,
                    rtype::AAAA => 16,
                    _ => 0,
                };
                set.direct = width > 0 && set.rdatas.iter().all(|r| r.len() == width);
                if !matches!(set.rtype, rtype::A | rtype::AAAA) || set.rdatas.len() < 2 {
                    continue;
                }
                let p = policy.for_owner(origin_key.as_wire(), key.as_wire());
                let counter = if p.rotation == Rotation::Cyclic {
                    counters += 1;
                    counters - 1
                } else {
                    u32::MAX
                };
                set.fleet = Some(SetPolicy {
                    rotation: p.rotation,
                    max_answers: p
                        .max_answers
                        .map_or(0, |m| m.min(usize::from(u16::MAX)) as u16),
                    counter,
                });
            }
        }
        let apex = nodes
            .get(&origin_key)
            .ok_or_else(|| zone_error(format!("{origin} has no records at the apex")))?;
        let mut soa = apex
            .get(rtype::SOA)
            .cloned()
            .ok_or_else(|| zone_error(format!("{origin} has no SOA at the apex")))?;
        let minimum = soa
            .rdatas
            .first()
            .and_then(|r| r.len().checked_sub(4).map(|at| &r[at..]))
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        soa.ttl = soa.ttl.min(minimum);
        let mut zone = Zone {
            origin_labels: origin.label_count(),
            origin,
            nodes,
            negative_soa: soa,
            counters: (0..counters).map(|_| AtomicU64::new(0)).collect(),
        };
        for (key, t, prepared) in answer::prepare(&zone) {
            if let Some(set) = zone
                .nodes
                .get_mut(&key)
                .and_then(|n| n.rrsets.iter_mut().find(|s| s.rtype == t))
            {
                set.prepared = Some(Box::new(prepared));
            }
        }
        Ok(zone)
    }

    /// The node for a lowercased wire name.
    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }

    /// Number of records in the zone.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|n| n.rrsets.iter())
            .map(|r| r.rdatas.len())
            .sum()
    }
}
