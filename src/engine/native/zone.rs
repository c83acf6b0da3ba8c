//! The native engine's zone tree: every name of a zone (empty non-terminals
//! included) in a hash map keyed by its lowercased wire form, each node with
//! its RRsets and the flags the lookup needs (delegation point, DNAME).
//!
//! Built once at load time from a [`ParsedZone`]; read-only afterwards, so
//! many threads share it behind one `Arc` with no locking.

use std::collections::{HashMap, HashSet};

use crate::bundle::BundleError;

use super::name::{Name, NameKey};
use super::record::{ParsedZone, rtype};

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
}

/// One name of a zone.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The RRsets at this name; empty for an empty non-terminal.
    pub rrsets: Vec<RRset>,
    /// True for a delegation point: NS here, and not the apex.
    pub cut: bool,
}

impl Node {
    /// The RRset of type `t`, if any.
    pub fn get(&self, t: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }
}

/// One zone, ready for lookups.
#[derive(Debug, Clone)]
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
}

impl Zone {
    /// Build the tree of a parsed (and checked) zone.
    pub fn build(parsed: ParsedZone) -> Result<Zone, BundleError> {
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
        Ok(Zone {
            origin_labels: origin.label_count(),
            origin,
            nodes,
            negative_soa: soa,
        })
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
