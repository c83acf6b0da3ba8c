//! The native engine's zone tree: every name of a zone (empty non-terminals
//! included) in a hash map keyed by its lowercased wire form, each node with
//! its RRsets and the flags the lookup needs (delegation point, names a
//! query reaches directly).
//!
//! Compact by construction: a node's RRsets sit in one boxed slice and an
//! RRset's records in one packed allocation ([`Rdatas`]), not one per
//! record; the map hashes names with a fast seeded hash ([`KeyHash`]). The
//! build touches the map once per owner for records that follow each other,
//! and finds empty non-terminals without allocating for the ancestors that
//! exist.
//!
//! Built once at load time from a [`ParsedZone`]; read-only afterwards, so
//! many threads share it behind one `Arc` with no locking.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use crate::bundle::BundleError;
use crate::fleet::{FleetPolicy, Rotation};

use super::answer::{self, Prepared};
use super::name::{Name, NameKey};
use super::record::{ParsedZone, rtype};
use super::rotate::SetPolicy;

pub use super::wire::name_len;

/// The RDATA of an RRset's records, packed into one allocation: each
/// record's length (two octets, big-endian) then its octets, in zone order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rdatas {
    /// The packed records.
    data: Box<[u8]>,
    /// Number of records.
    count: u32,
    /// When every record has this one length (not 0), record `i` starts at
    /// `i * (2 + width)`.
    width: u16,
}

impl Rdatas {
    /// Pack `records` (each at most 65,535 octets, as RDATA is).
    pub fn new<'a>(records: impl Iterator<Item = &'a [u8]> + Clone) -> Rdatas {
        let total = records.clone().map(|r| 2 + r.len()).sum();
        let mut data = Vec::with_capacity(total);
        let mut count = 0u32;
        let mut width = None;
        for r in records {
            let r = &r[..r.len().min(usize::from(u16::MAX))];
            data.extend_from_slice(&(r.len() as u16).to_be_bytes());
            data.extend_from_slice(r);
            count += 1;
            width = match width {
                None => Some(r.len() as u16),
                Some(w) if usize::from(w) == r.len() => Some(w),
                Some(_) => Some(0),
            };
        }
        Rdatas {
            data: data.into_boxed_slice(),
            count,
            width: width.unwrap_or(0),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when there is no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records in zone order.
    pub fn iter(&self) -> RdataIter<'_> {
        RdataIter { rest: &self.data }
    }

    /// The first record.
    pub fn first(&self) -> Option<&[u8]> {
        self.iter().next()
    }

    /// Record `i` (in constant time when all records have one length).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if self.width == 0 {
            return self.iter().nth(i);
        }
        let w = usize::from(self.width);
        let at = i.checked_mul(2 + w)? + 2;
        self.data.get(at..at + w)
    }
}

impl<'a> IntoIterator for &'a Rdatas {
    type Item = &'a [u8];
    type IntoIter = RdataIter<'a>;
    fn into_iter(self) -> RdataIter<'a> {
        self.iter()
    }
}

/// Iterator over the records of [`Rdatas`].
#[derive(Debug, Clone)]
pub struct RdataIter<'a> {
    /// The packed records not yet returned.
    rest: &'a [u8],
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, tail) = self.rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (record, rest) = tail.split_at_checked(len)?;
        self.rest = rest;
        Some(record)
    }
}

/// All records of one owner and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRset {
    /// The owner as first written in the zone file.
    pub owner: Name,
    /// The type number.
    pub rtype: u16,
    /// True for an A or AAAA set whose records all hold one address: asked
    /// for by its own name, its answer is written straight from the RDATA.
    pub direct: bool,
    /// The TTL (of the first record, as Knot DNS keeps it).
    pub ttl: u32,
    /// Each record's RDATA in uncompressed wire form, duplicates removed,
    /// in zone-file order.
    pub rdatas: Rdatas,
    /// The web-fleet policy of an A or AAAA set of more than one record
    /// (rotation, answer limit, health); `None` for every other set.
    pub fleet: Option<SetPolicy>,
    /// Asked for by its own name (and not [`RRset::direct`]): the answer
    /// prepared at load time in wire form.
    pub prepared: Option<Box<Prepared>>,
}

/// One name of a zone.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The RRsets at this name; empty for an empty non-terminal.
    pub rrsets: Box<[RRset]>,
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

/// Makes the RRsets of a zone, numbering the rotation counters of its
/// address sets.
#[derive(Debug)]
struct SetMaker<'p> {
    /// The bundle's answer policy.
    policy: &'p FleetPolicy,
    /// The zone's apex, lowercased.
    origin: &'p [u8],
    /// Rotation counters given out so far.
    counters: u32,
}

impl SetMaker<'_> {
    /// The RRset of type `rtype` at the lowercased name `key`, with the
    /// owner and TTL of its first record and the records `rdatas`; `fleet`
    /// is the policy it already has, when records are added to a set.
    fn make(
        &mut self,
        key: &[u8],
        (owner, rtype, ttl): (&Name, u16, u32),
        rdatas: Rdatas,
        fleet: Option<SetPolicy>,
    ) -> RRset {
        let width = match rtype {
            rtype::A => 4,
            rtype::AAAA => 16,
            _ => 0,
        };
        let direct = width > 0 && rdatas.iter().all(|r| r.len() == width);
        let fleet = fleet.or_else(|| {
            (width > 0 && rdatas.len() > 1).then(|| {
                let p = self.policy.for_owner(self.origin, key);
                let counter = if p.rotation == Rotation::Cyclic {
                    self.counters += 1;
                    self.counters - 1
                } else {
                    u32::MAX
                };
                SetPolicy {
                    rotation: p.rotation,
                    max_answers: p
                        .max_answers
                        .map_or(0, |m| m.min(usize::from(u16::MAX)) as u16),
                    counter,
                }
            })
        });
        RRset {
            owner: owner.clone(),
            rtype,
            direct,
            ttl,
            rdatas,
            fleet,
            prepared: None,
        }
    }
}

/// The hash of the zone's name index: fast on short keys (a lookup hashes
/// one name per label of the query), seeded per zone at random so that a
/// bundle cannot choose its collisions ahead of time. The zone-file parser
/// uses it for its load-time maps too, for the same two reasons.
#[derive(Debug, Clone)]
pub struct KeyHash {
    /// The per-zone seed.
    seed: u64,
}

impl Default for KeyHash {
    fn default() -> KeyHash {
        KeyHash {
            seed: fastrand::u64(..),
        }
    }
}

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { h: self.seed }
    }
}

/// The hasher of [`KeyHash`]: eight octets per step, then a final mix.
#[derive(Debug, Clone)]
pub struct KeyHasher {
    /// The state.
    h: u64,
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.h = (self.h.rotate_left(23) ^ u64::from_le_bytes(b)).wrapping_mul(K);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut b = [0u8; 8];
            b[..tail.len()].copy_from_slice(tail);
            self.h = (self.h.rotate_left(23) ^ u64::from_le_bytes(b) ^ tail.len() as u64)
                .wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        // One step of `write`, without going through a buffer: numbers
        // (a slice's length, a tuple's fields) are most of what a key of
        // the load-time maps holds besides its octets.
        self.h = (self.h.rotate_left(23) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser: every input bit reaches every output bit.
        let mut h = self.h;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
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
    pub nodes: HashMap<NameKey, Node, KeyHash>,
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
    ///
    /// The records are taken as [`parse_bytes`](super::zonefile::parse_bytes)
    /// leaves them: identical records (same owner in any letter case, type
    /// and RDATA) already collapsed, so each is kept as it is. Records
    /// outside the zone are still left out.
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
        // Records of one owner usually follow each other: each run of them
        // makes its node at once, reading the parsed records front to back
        // and touching the map once. An owner that comes back later adds
        // its records to the node it already has. The build only reads the
        // parsed records, so they are freed together afterwards, as one
        // stretch of memory the allocator can give back, instead of one by
        // one among the zone's own allocations.
        let records = &parsed.records[..];
        let mut nodes: HashMap<NameKey, Node, KeyHash> =
            HashMap::with_capacity_and_hasher(records.len() / 4, KeyHash::default());
        let mut maker = SetMaker {
            policy,
            origin: origin_key.as_wire(),
            counters: 0,
        };
        // Names a lookup stops at before reaching the names below them:
        // DNAME owners, and delegation points (NS, but not at the apex).
        // Few.
        let mut blockers: HashSet<NameKey, KeyHash> = HashSet::default();
        // The parents of the names made, but for repeats in a row.
        let mut parents: Vec<NameKey> = Vec::new();
        // The records of the run, by type, and its RRsets: the first
        // record's index, the type, and where they lie in `order`.
        let mut order: Vec<u32> = Vec::new();
        let mut sets: Vec<(u32, u16, usize, usize)> = Vec::new();
        let rtype_of = |i: u32| records.get(i as usize).map_or(0, |r| r.rtype);
        let mut at = 0;
        while let Some(first) = records.get(at) {
            let owner = first.owner.as_wire();
            let len = records
                .get(at..)
                .unwrap_or_default()
                .iter()
                .take_while(|r| {
                    r.owner.is(&first.owner) || r.owner.as_wire().eq_ignore_ascii_case(owner)
                })
                .count();
            let start = at;
            at += len.max(1);
            // Out-of-zone data is never served (Knot DNS ignores it too;
            // the parser has already dropped it).
            if !first.owner.is_at_or_below(&origin) {
                continue;
            }
            // By type, each type's records in file order (a stable sort),
            // and the types in the order they first appear. Bounded by the
            // number of records, so every index fits a u32.
            order.clear();
            order.extend(start as u32..at as u32);
            order.sort_by_key(|&i| rtype_of(i));
            sets.clear();
            for (pos, &i) in order.iter().enumerate() {
                match sets.last_mut() {
                    Some(set) if set.1 == rtype_of(i) => set.3 = pos + 1,
                    _ => sets.push((i, rtype_of(i), pos, pos + 1)),
                }
            }
            sets.sort_unstable_by_key(|set| set.0);
            // The owner's place in the map, found once: the RRsets it has
            // from earlier runs if it comes back, where its node goes.
            let mut slot = nodes.entry(first.owner.key());
            let earlier = match &mut slot {
                Entry::Occupied(node) => {
                    Some(std::mem::take(&mut node.get_mut().rrsets).into_vec())
                }
                Entry::Vacant(_) => None,
            };
            let key = slot.key();
            let mut rrsets = earlier.unwrap_or_else(|| Vec::with_capacity(sets.len()));
            for &(first, set_type, from, to) in &sets {
                let Some(first) = records.get(first as usize) else {
                    continue;
                };
                let added = order
                    .get(from..to)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|&i| records.get(i as usize))
                    .map(|r| &r.rdata[..]);
                match rrsets.iter_mut().find(|s| s.rtype == set_type) {
                    // The owner came back with more records of a type.
                    Some(set) => {
                        let rdatas = Rdatas::new(set.rdatas.iter().chain(added));
                        let fleet = set.fleet.take();
                        let made = maker.make(
                            key.as_wire(),
                            (&set.owner, set.rtype, set.ttl),
                            rdatas,
                            fleet,
                        );
                        *set = made;
                    }
                    None => {
                        let made = maker.make(
                            key.as_wire(),
                            (&first.owner, set_type, first.ttl),
                            Rdatas::new(added),
                            None,
                        );
                        rrsets.push(made);
                    }
                }
            }
            let apex = *key == origin_key;
            let has = |t: u16| rrsets.iter().any(|s| s.rtype == t);
            let cut = !apex && has(rtype::NS);
            if cut || has(rtype::DNAME) {
                blockers.insert(key.clone());
            }
            let node = Node {
                rrsets: rrsets.into_boxed_slice(),
                cut,
                plain: true,
            };
            // The parent, unless the previous owner had it too (siblings
            // are mostly written together), may be an empty non-terminal.
            let parent = strict_suffixes(key.as_wire()).next();
            if let Some(parent) = parent.filter(|p| p.len() >= origin_key.as_wire().len())
                && parents.last().is_none_or(|last| last.as_wire() != parent)
            {
                parents.push(NameKey::from_valid_wire(parent));
            }
            match slot {
                Entry::Occupied(mut kept) => *kept.get_mut() = node,
                Entry::Vacant(place) => {
                    place.insert(node);
                }
            }
        }
        // Empty non-terminals: every ancestor between a name and the apex
        // exists (RFC 4592 2.2.2), so it answers NODATA, not NXDOMAIN.
        // Walking up from each name's parent, the names up to the first one
        // that exists are missing; above that one, its own parent's walk
        // takes over.
        let mut missing: HashSet<&[u8], KeyHash> = HashSet::default();
        for parent in &parents {
            let wire = parent.as_wire();
            for name in std::iter::once(wire).chain(strict_suffixes(wire)) {
                if name.len() < origin_key.as_wire().len() || nodes.contains_key(name) {
                    break;
                }
                missing.insert(name);
            }
        }
        let missing: Vec<NameKey> = missing.into_iter().map(NameKey::from_valid_wire).collect();
        for key in missing {
            nodes.insert(
                key,
                Node {
                    plain: true,
                    ..Node::default()
                },
            );
        }
        // A query for a name ends there unless a blocker is at or above it.
        if !blockers.is_empty() {
            for (key, node) in &mut nodes {
                node.plain = !blockers.contains(key.as_wire())
                    && !strict_suffixes(key.as_wire()).any(|s| blockers.contains(s));
            }
        }
        drop(blockers);
        let counters = maker.counters;
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::native::zonefile::{parse_bytes, refuse_includes};

    fn build(text: &str) -> Zone {
        let origin = Name::parse(b"example.", None).unwrap();
        let file = Path::new("example.zone");
        let parsed =
            parse_bytes(text.as_bytes(), &origin, file, &mut refuse_includes(file)).unwrap();
        Zone::build(parsed, &FleetPolicy::default()).unwrap()
    }

    fn key(name: &str) -> NameKey {
        Name::parse(name.as_bytes(), None).unwrap().key()
    }

    /// An owner that comes back after other owners has one node: its
    /// types in the order they first appear, each type's records in file
    /// order, with the owner and TTL of its first record.
    #[test]
    fn an_owner_written_in_two_places_has_one_node() {
        let zone = build(
            "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
             Www 60 A 192.0.2.10\nwww TXT one\nother A 192.0.2.3\n\
             WWW 90 AAAA ::1\nwww 30 A 192.0.2.11\nwww TXT two\n\
             sub NS ns.elsewhere.\n",
        );
        let node = zone.node(key("www.example.").as_wire()).unwrap();
        let types: Vec<u16> = node.rrsets.iter().map(|s| s.rtype).collect();
        assert_eq!(types, [rtype::A, rtype::TXT, rtype::AAAA]);
        let a = node.get(rtype::A).unwrap();
        assert_eq!(a.owner.to_string(), "Www.example.");
        assert_eq!(a.ttl, 60);
        let addrs: Vec<&[u8]> = a.rdatas.iter().collect();
        assert_eq!(addrs, [&[192, 0, 2, 10][..], &[192, 0, 2, 11][..]]);
        assert!(a.direct);
        assert!(a.fleet.is_some(), "two addresses take the fleet policy");
        let txt: Vec<&[u8]> = node.get(rtype::TXT).unwrap().rdatas.iter().collect();
        assert_eq!(txt, [&b"\x03one"[..], &b"\x03two"[..]]);
        assert!(node.plain && !node.cut);
        assert_eq!(zone.record_count(), 10);
        let sub = zone.node(key("sub.example.").as_wire()).unwrap();
        assert!(sub.cut && !sub.plain);
    }

    /// Every name between an owner and the apex exists, whether the names
    /// above it are written before, after, or not at all.
    #[test]
    fn empty_non_terminals_fill_the_tree() {
        let zone = build(
            "@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
             a.b.c.d A 192.0.2.2\nz.b.c.d A 192.0.2.3\nd A 192.0.2.4\n\
             q.p A 192.0.2.5\nr.p A 192.0.2.6\n",
        );
        for (name, records) in [
            ("b.c.d.example.", 0),
            ("c.d.example.", 0),
            ("d.example.", 1),
            ("p.example.", 0),
            ("q.p.example.", 1),
            ("example.", 2),
        ] {
            let node = zone
                .node(key(name).as_wire())
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(node.rrsets.len(), records, "{name}");
            assert!(node.plain, "{name}");
        }
        assert_eq!(zone.nodes.len(), 10);
    }
}
