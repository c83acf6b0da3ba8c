//! The hickory engine's zone data: every name of a zone (empty
//! non-terminals included) keyed by hickory's [`LowerName`], each with its
//! RRsets in the order the zone file first wrote them, plus the zone
//! checks Knot's `kzonecheck` makes.
//!
//! Built once per load from the records [`super::master`] read; read-only
//! afterwards and shared by every query behind one `Arc`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use hickory_proto::rr::{LowerName, Name, RData};

use crate::bundle::BundleError;

use super::master::{Loaded, Rec};
use super::rdata::{self, code};
use super::text::label_count;

/// Type numbers the tree and the answer path treat specially.
pub mod t {
    /// A.
    pub const A: u16 = 1;
    /// NS.
    pub const NS: u16 = 2;
    /// CNAME.
    pub const CNAME: u16 = 5;
    /// SOA.
    pub const SOA: u16 = 6;
    /// MX.
    pub const MX: u16 = 15;
    /// TXT.
    pub const TXT: u16 = 16;
    /// AAAA.
    pub const AAAA: u16 = 28;
    /// SRV.
    pub const SRV: u16 = 33;
    /// DNAME.
    pub const DNAME: u16 = 39;
    /// OPT.
    pub const OPT: u16 = 41;
    /// DS.
    pub const DS: u16 = 43;
    /// RRSIG.
    pub const RRSIG: u16 = 46;
    /// NSEC.
    pub const NSEC: u16 = 47;
    /// IXFR.
    pub const IXFR: u16 = 251;
    /// AXFR.
    pub const AXFR: u16 = 252;
    /// MAILB.
    pub const MAILB: u16 = 253;
    /// MAILA.
    pub const MAILA: u16 = 254;
    /// ANY.
    pub const ANY: u16 = 255;
}

/// All records of one owner and type.
#[derive(Debug, Clone)]
pub struct RSet {
    /// The owner as first written.
    pub owner: Name,
    /// Its uncompressed wire form, case kept.
    pub owner_wire: Vec<u8>,
    /// The type number.
    pub rtype: u16,
    /// The TTL of the first record written.
    pub ttl: u32,
    /// The records' data, duplicates removed, in the order written.
    pub rdatas: Vec<RData>,
    /// The same data in uncompressed wire form.
    pub wires: Vec<Vec<u8>>,
}

/// One name of a zone.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The RRsets; empty for an empty non-terminal.
    pub rrsets: Vec<RSet>,
    /// True for a delegation point (NS below the apex).
    pub cut: bool,
}

impl Node {
    /// The RRset of type `rtype`.
    pub fn get(&self, rtype: u16) -> Option<&RSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// One zone ready for lookups.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    /// Labels of the apex.
    pub origin_labels: usize,
    /// Every name of the zone.
    pub nodes: HashMap<LowerName, Node>,
    /// The SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 3).
    pub negative_soa: RSet,
}

impl Zone {
    /// The node of `name`, if the zone has it.
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.nodes.get(&LowerName::new(name))
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|n| &n.rrsets)
            .map(|s| s.rdatas.len())
            .sum()
    }

    /// Build and check the zone from what the reader loaded.
    pub fn build(loaded: Loaded) -> Result<Zone, BundleError> {
        let Loaded {
            origin,
            files,
            records,
        } = loaded;
        let at = |rec: &Rec, message: String| BundleError::Zone {
            file: files.get(rec.file).cloned().unwrap_or_default(),
            line: rec.line,
            message: format!("`{}`: {message}", rec.text),
        };
        let whole = |message: String| BundleError::Zone {
            file: files.first().cloned().unwrap_or_default(),
            line: 0,
            message,
        };
        let mut nodes: HashMap<LowerName, Node> = HashMap::new();
        let mut soa_seen = false;
        for rec in &records {
            let wire = rdata::to_wire(&rec.rdata).map_err(|e| at(rec, e))?;
            let apex = rec.owner.eq(&origin);
            if rec.rtype == t::SOA && apex {
                if soa_seen && !is_same_soa(&nodes, &origin, &wire) {
                    return Err(at(rec, format!("a second SOA record at {origin}")));
                }
                soa_seen = true;
            }
            let node = nodes.entry(LowerName::new(&rec.owner)).or_default();
            // kzonecheck: CNAME beside other data (RFC 1034 3.6.2), and one
            // CNAME or DNAME per name (RFC 6672 2.4).
            let is_meta = |x: u16| x == t::RRSIG || x == t::NSEC;
            if !is_meta(rec.rtype) {
                let clash = if rec.rtype == t::CNAME {
                    node.rrsets
                        .iter()
                        .any(|s| s.rtype != t::CNAME && !is_meta(s.rtype))
                } else {
                    node.get(t::CNAME).is_some()
                };
                if clash {
                    return Err(at(rec, format!("CNAME and other data at {}", rec.owner)));
                }
            }
            match node.rrsets.iter_mut().find(|s| s.rtype == rec.rtype) {
                Some(set) => {
                    if set.wires.contains(&wire) {
                        continue;
                    }
                    if rec.rtype == t::CNAME || rec.rtype == code::DNAME {
                        return Err(at(
                            rec,
                            format!(
                                "more than one {} record at {}",
                                rdata::type_name(rec.rtype),
                                rec.owner
                            ),
                        ));
                    }
                    set.rdatas.push(rec.rdata.clone());
                    set.wires.push(wire);
                }
                None => node.rrsets.push(RSet {
                    owner_wire: super::text::wire(&rec.owner),
                    owner: rec.owner.clone(),
                    rtype: rec.rtype,
                    ttl: rec.ttl,
                    rdatas: vec![rec.rdata.clone()],
                    wires: vec![wire],
                }),
            }
        }
        let apex_key = LowerName::new(&origin);
        let apex = nodes
            .get(&apex_key)
            .ok_or_else(|| whole(format!("no SOA record at the zone apex {origin}")))?;
        let soa = apex
            .get(t::SOA)
            .ok_or_else(|| whole(format!("no SOA record at the zone apex {origin}")))?;
        if apex.get(t::NS).is_none() {
            return Err(whole(format!("no NS records at the zone apex {origin}")));
        }
        let minimum = match soa.rdatas.first() {
            Some(RData::SOA(s)) => s.minimum,
            _ => 0,
        };
        let mut negative_soa = soa.clone();
        negative_soa.ttl = negative_soa.ttl.min(minimum);

        // Data below a DNAME (RFC 6672 2.3), as NSD and kzonecheck refuse.
        for rec in &records {
            let mut name = rec.owner.base_name();
            while origin.zone_of(&name) && label_count(&name) >= label_count(&origin) {
                if let Some(node) = nodes.get(&LowerName::new(&name))
                    && node.get(code::DNAME).is_some()
                {
                    return Err(at(
                        rec,
                        format!("{} is below the DNAME at {name}", rec.owner),
                    ));
                }
                if label_count(&name) == 0 {
                    break;
                }
                name = name.base_name();
            }
        }

        // Empty non-terminals: every name between a record and the apex.
        let owners: Vec<Name> = records.iter().map(|r| r.owner.clone()).collect();
        for owner in owners {
            let mut name = owner.base_name();
            while label_count(&name) > label_count(&origin) {
                if let Entry::Vacant(v) = nodes.entry(LowerName::new(&name)) {
                    v.insert(Node::default());
                }
                name = name.base_name();
            }
        }
        for (key, node) in nodes.iter_mut() {
            node.cut = *key != apex_key && node.get(t::NS).is_some();
        }

        // kzonecheck: glue for name servers inside a delegation.
        for rec in &records {
            let RData::NS(ns) = &rec.rdata else { continue };
            let Some(node) = nodes.get(&LowerName::new(&rec.owner)) else {
                continue;
            };
            if !node.cut || !rec.owner.zone_of(&ns.0) {
                continue;
            }
            let has_address = nodes
                .get(&LowerName::new(&ns.0))
                .is_some_and(|n| n.get(t::A).is_some() || n.get(t::AAAA).is_some());
            if !has_address {
                return Err(at(
                    rec,
                    format!("missing glue for the name server {}", ns.0),
                ));
            }
        }

        Ok(Zone {
            origin_labels: label_count(&origin),
            origin,
            nodes,
            negative_soa,
        })
    }
}

/// True when the apex already holds exactly this SOA (a duplicate line).
fn is_same_soa(nodes: &HashMap<LowerName, Node>, origin: &Name, wire: &[u8]) -> bool {
    nodes
        .get(&LowerName::new(origin))
        .and_then(|n| n.get(t::SOA))
        .is_some_and(|s| s.wires.iter().any(|w| w == wire))
}
