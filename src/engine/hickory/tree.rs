//! The hickory engine's zone data: every name of a zone (empty
//! non-terminals included) keyed by its lowercased wire form, each with its
//! RRsets in the order the zone file first wrote them and their records in
//! wire form (encoded once at load by hickory's encoder), plus the zone
//! checks Knot's `kzonecheck` makes (on the lowercased wire names).
//!
//! Built once per load by a [`Builder`], which takes the records as
//! [`super::master`] reads them, one at a time, and keeps of each only its
//! RDATA and, for the checks, where it was written; read-only afterwards
//! and shared by every query behind one `Arc`.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use hickory_proto::rr::Name;

use super::master::{Pos, Read, Sink};
use super::rdata::{self, code};
use super::spread::Spread;
use super::text::{label_count, parent, wire_name, within};

/// A hash map with [`QuickHash`].
pub type Map<K, V> = HashMap<K, V, QuickHash>;
/// A hash set with [`QuickHash`].
pub type Set<K> = HashSet<K, QuickHash>;

/// The hasher of the zone's maps: a folded multiply (the 128-bit product
/// of two 64-bit words, its halves xored) over 16 octets at a time, with
/// two random keys per map. Much cheaper than SipHash on the short names
/// of a zone; and since every multiplication takes a secret key on both
/// sides, a hostile zone file cannot write names that collide whatever the
/// keys (as it could against a plain multiply-rotate hash), so it cannot
/// pile its names into one bucket.
#[derive(Debug, Clone, Copy)]
pub struct QuickHash {
    /// The keys of this map's hashes.
    keys: [u64; 2],
}

impl Default for QuickHash {
    fn default() -> QuickHash {
        QuickHash {
            keys: [fastrand::u64(..), fastrand::u64(..)],
        }
    }
}

impl std::hash::BuildHasher for QuickHash {
    type Hasher = Quick;
    fn build_hasher(&self) -> Quick {
        Quick {
            h: self.keys[0],
            keys: self.keys,
        }
    }
}

/// One hash in progress (see [`QuickHash`]).
#[derive(Debug)]
pub struct Quick {
    /// The state.
    h: u64,
    /// The map's keys.
    keys: [u64; 2],
}

/// The high and low halves of `a * b` xored.
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Quick {
    /// Take two words.
    fn mix(&mut self, a: u64, b: u64) {
        self.h = fold(self.h ^ a ^ self.keys[0], b ^ self.keys[1]);
    }
}

impl std::hash::Hasher for Quick {
    fn write(&mut self, bytes: &[u8]) {
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(w)
        };
        let mut pairs = bytes.chunks_exact(16);
        for p in &mut pairs {
            let (a, b) = p.split_at(8);
            self.mix(word(a), word(b));
        }
        let rest = pairs.remainder();
        if !rest.is_empty() {
            let (a, b) = rest.split_at(rest.len().min(8));
            self.mix(word(a), word(b));
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v), 0);
    }

    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v), 0);
    }

    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64, 0);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

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
    /// PTR.
    pub const PTR: u16 = 12;
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

/// All records of one owner and type, in wire form: encoded once at load
/// (with hickory's encoder, names uncompressed) and copied into responses
/// as they are, so nothing is decoded at query time.
#[derive(Debug, Clone)]
pub struct RSet {
    /// The owner in uncompressed wire form, case as first written.
    pub owner: Box<[u8]>,
    /// The type number.
    pub rtype: u16,
    /// The TTL of the first record written.
    pub ttl: u32,
    /// Number of records.
    len: u32,
    /// The RDATA length shared by every record (A: 4, AAAA: 16), or 0
    /// when each RDATA in `data` is preceded by its 16-bit length.
    width: u16,
    /// The records' RDATA, duplicates removed, in the order written.
    data: Box<[u8]>,
    /// The fleet policy of an address RRset of two records or more.
    pub spread: Option<Spread>,
}

impl RSet {
    /// A set of `rtype` owned by `owner` from the RDATA wire forms `rdatas`
    /// (each at most 65,535 octets).
    pub fn new(owner: &[u8], rtype: u16, ttl: u32, rdatas: &[&[u8]]) -> RSet {
        let first = rdatas.first().map_or(0, |r| r.len());
        let fixed = matches!(rtype, t::A | t::AAAA) && rdatas.iter().all(|r| r.len() == first);
        let mut data = Vec::with_capacity(rdatas.iter().map(|r| r.len() + 2).sum());
        for r in rdatas {
            if !fixed {
                data.extend_from_slice(&(r.len() as u16).to_be_bytes());
            }
            data.extend_from_slice(r);
        }
        RSet {
            owner: owner.into(),
            rtype,
            ttl,
            len: rdatas.len() as u32,
            width: if fixed { first as u16 } else { 0 },
            data: data.into_boxed_slice(),
            spread: None,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a set without records (never built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The RDATA of record `i`.
    pub fn rdata(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        if self.width > 0 {
            let w = usize::from(self.width);
            return self.data.get(i * w..(i + 1) * w);
        }
        self.rdatas().nth(i)
    }

    /// Every record's RDATA, in order.
    pub fn rdatas(&self) -> Rdatas<'_> {
        Rdatas {
            rest: &self.data,
            width: usize::from(self.width),
            left: self.len(),
        }
    }
}

/// The RDATA of an [`RSet`], one record at a time.
#[derive(Debug, Clone)]
pub struct Rdatas<'a> {
    /// What is left (possibly followed by unused octets).
    rest: &'a [u8],
    /// Fixed width, or 0 for length-prefixed records.
    width: usize,
    /// Records left.
    left: usize,
}

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (at, len) = if self.width > 0 {
            (0, self.width)
        } else {
            let len = u16::from_be_bytes([*self.rest.first()?, *self.rest.get(1)?]);
            (2, usize::from(len))
        };
        let one = self.rest.get(at..at + len)?;
        self.rest = &self.rest[at + len..];
        Some(one)
    }
}

/// Where one name's RRsets lie in its zone's [`Zone::sets`]; empty for an
/// empty non-terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slot {
    /// The first of its RRsets (while the zone is built: the owner's
    /// index in the builder).
    start: u32,
    /// Number of RRsets.
    len: u32,
    /// True for a delegation point (NS below the apex).
    cut: bool,
}

/// One name of a zone, as a lookup finds it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'z> {
    /// The RRsets; empty for an empty non-terminal.
    pub rrsets: &'z [RSet],
    /// True for a delegation point (NS below the apex).
    pub cut: bool,
}

impl<'z> Node<'z> {
    /// The RRset of type `rtype`.
    pub fn get(&self, rtype: u16) -> Option<&'z RSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }
}

/// One zone ready for lookups.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex, as hickory reads it (for messages).
    pub origin: Name,
    /// The apex in lowercased wire form.
    pub apex: Box<[u8]>,
    /// Labels of the apex.
    pub origin_labels: usize,
    /// Every name of the zone, keyed by its lowercased wire form.
    pub nodes: Map<Box<[u8]>, Slot>,
    /// The RRsets of every name, each name's together.
    pub sets: Vec<RSet>,
    /// The SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 3).
    pub negative_soa: RSet,
}

impl Zone {
    /// The node of `lower` (lowercased wire form), if the zone has it.
    #[inline]
    pub fn node(&self, lower: &[u8]) -> Option<Node<'_>> {
        self.nodes.get(lower).map(|slot| self.at(slot))
    }

    /// The name whose RRsets `slot` places.
    #[inline]
    pub fn at(&self, slot: &Slot) -> Node<'_> {
        let start = slot.start as usize;
        Node {
            rrsets: self
                .sets
                .get(start..start + slot.len as usize)
                .unwrap_or_default(),
            cut: slot.cut,
        }
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.sets.iter().map(RSet::len).sum()
    }
}

/// A problem the checks found: the record it names (none for a missing
/// SOA or NS) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    /// Where the record was written.
    pub at: Option<Pos>,
    /// What is wrong.
    pub message: String,
}

/// Sets of more records than this are searched for duplicates through a
/// hash map rather than one by one.
const SEARCHED: u32 = 16;

/// The records of one owner and type while the zone is read.
#[derive(Debug)]
struct Building {
    /// The owner, case as its first record wrote it.
    owner: Box<[u8]>,
    /// The type number.
    rtype: u16,
    /// The TTL of the first record.
    ttl: u32,
    /// Number of records.
    count: u32,
    /// As [`RSet`]'s: the fixed RDATA width, or 0 for length prefixes.
    width: u16,
    /// The RDATA, laid out as [`RSet`] keeps it.
    data: Vec<u8>,
}

impl Building {
    /// Every record's RDATA, in order.
    fn rdatas(&self) -> Rdatas<'_> {
        Rdatas {
            rest: &self.data,
            width: usize::from(self.width),
            left: self.count as usize,
        }
    }

    /// The RDATA of the record whose data starts at `offset`.
    fn rdata_at(&self, offset: usize) -> Option<&[u8]> {
        let rest = self.data.get(offset..)?;
        Rdatas {
            rest,
            width: usize::from(self.width),
            left: 1,
        }
        .next()
    }

    /// True when `r` is `rdata` in canonical form (`canon` is that form
    /// for the types with names in RDATA).
    fn same(&self, r: &[u8], rdata: &[u8], canon: Option<&[u8]>, scratch: &mut Vec<u8>) -> bool {
        match canon {
            None => r == rdata,
            Some(c) => {
                canonical_into(self.rtype, r, scratch);
                *scratch == c
            }
        }
    }

    /// Append `rdata`; where its data starts.
    fn push(&mut self, rdata: &[u8]) -> usize {
        if self.width > 0 && rdata.len() != usize::from(self.width) {
            // Not one width after all: length prefixes from here on.
            let old = std::mem::take(&mut self.data);
            let w = usize::from(self.width);
            for r in old.chunks(w) {
                self.data.extend_from_slice(&(r.len() as u16).to_be_bytes());
                self.data.extend_from_slice(r);
            }
            self.width = 0;
        }
        let offset = self.data.len();
        if self.width == 0 {
            self.data
                .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        }
        self.data.extend_from_slice(rdata);
        self.count += 1;
        offset
    }
}

/// One owner while the zone is read. Its first set is kept inline, so
/// that most owners cost no allocation that dies with the build.
#[derive(Debug)]
struct Owner {
    /// Its first set; none for an empty non-terminal.
    head: Option<Building>,
    /// Its other sets, in the order first written.
    more: Vec<Building>,
    /// Where its first record was written.
    first: Pos,
    /// Where its first record outside Knot's NSEC3 tree was written.
    main: Option<Pos>,
    /// True for a name of the zone's main tree: one owning a record
    /// outside the NSEC3 tree, or above one.
    named: bool,
}

impl Owner {
    /// An empty non-terminal.
    fn empty(named: bool) -> Owner {
        Owner {
            head: None,
            more: Vec::new(),
            first: Pos {
                seq: u32::MAX,
                line: 0,
                generated: Pos::WRITTEN,
                file: 0,
            },
            main: None,
            named,
        }
    }

    /// Its sets, in the order first written.
    fn sets(&self) -> impl Iterator<Item = &Building> {
        self.head.iter().chain(&self.more)
    }

    /// The set of `rtype`.
    fn get(&self, rtype: u16) -> Option<&Building> {
        self.sets().find(|s| s.rtype == rtype)
    }

    /// The set of `rtype`, made (empty) when missing.
    fn set_of(&mut self, rec: &Read<'_>) -> &mut Building {
        let new = || Building {
            owner: rec.owner.into(),
            rtype: rec.rtype,
            ttl: rec.ttl,
            count: 0,
            width: if matches!(rec.rtype, t::A | t::AAAA) {
                rec.rdata.len() as u16
            } else {
                0
            },
            // The smallest block malloc hands out holds 24 octets: room
            // for six IPv4 addresses or a short name from the start.
            data: Vec::with_capacity(24),
        };
        let head = self.head.get_or_insert_with(new);
        if head.rtype == rec.rtype {
            return head;
        }
        match self.more.iter().position(|s| s.rtype == rec.rtype) {
            Some(k) => &mut self.more[k],
            None => {
                self.more.reserve_exact(1);
                self.more.push(new());
                self.more.last_mut().expect("just pushed")
            }
        }
    }
}

/// A record the checks name one by one (NS, DS, NSEC3PARAM).
#[derive(Debug, Clone, Copy)]
struct Named {
    /// Its owner's index.
    owner: u32,
    /// Its type.
    rtype: u16,
    /// Where its data starts in its set.
    offset: usize,
    /// Where it was written.
    at: Pos,
}

/// Knot keeps NSEC3 records (and their RRSIGs) in a tree of their own.
fn in_nsec3_tree(rtype: u16, rdata: &[u8]) -> bool {
    rtype == NSEC3 || (rtype == t::RRSIG && rdata.get(..2) == Some(&[0, 50][..]))
}

/// A zone being built from the records [`super::master`] reads, one at a
/// time: owners keyed by lowercased wire name, each record appended to its
/// set unless it repeats one, then checked and turned into a [`Zone`].
#[derive(Debug)]
pub struct Builder {
    /// The apex, as hickory reads it.
    origin: Name,
    /// The apex, lowercased wire form.
    apex: Box<[u8]>,
    /// Every owner's index in `owners` (as a [`Slot`]'s start, so that the
    /// map becomes the zone's without being built again).
    index: Map<Box<[u8]>, Slot>,
    /// The owners.
    owners: Vec<Owner>,
    /// The owner of the previous record (records of one owner are
    /// usually written together), and its key.
    last: Option<(u32, Vec<u8>)>,
    /// The records the checks name one by one, in reading order.
    named: Vec<Named>,
    /// For the sets of more than [`SEARCHED`] records: (owner, type,
    /// hash of the canonical form) to where that record's data starts.
    seen: Map<(u32, u16, u64), usize>,
    /// True once the apex SOA was taken.
    apex_soa: bool,
    /// True when the zone has a DNAME.
    any_dname: bool,
    /// The owners more than one label below the apex (the only ones that
    /// can need empty non-terminals), in the order they were made.
    deep: Vec<u32>,
    /// The owners of a CNAME or DNAME set (the only ones the CNAME and
    /// DNAME rules can find a problem with), in the order first written.
    special: Vec<u32>,
    /// Number of sets.
    sets: usize,
    /// Canonical forms being compared.
    canon: Vec<u8>,
    /// The same, for the record compared with.
    scratch: Vec<u8>,
}

impl Builder {
    /// A zone at `origin`.
    pub fn new(origin: &Name) -> Builder {
        Builder {
            apex: super::text::lower_wire(origin).into_boxed_slice(),
            origin: origin.clone(),
            index: Map::default(),
            owners: Vec::new(),
            last: None,
            named: Vec::new(),
            seen: Map::default(),
            apex_soa: false,
            any_dname: false,
            deep: Vec::new(),
            special: Vec::new(),
            sets: 0,
            canon: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The index of the owner `lower`, made when missing.
    fn owner_index(&mut self, lower: &[u8], at: Pos) -> u32 {
        if let Some((i, key)) = &self.last
            && key.as_slice() == lower
        {
            return *i;
        }
        let i = match self.index.get(lower) {
            Some(slot) => slot.start,
            None => {
                let i = self.owners.len() as u32;
                self.index.insert(lower.into(), Slot::owner(i));
                if parent(lower).is_some_and(|up| up.len() > self.apex.len()) {
                    self.deep.push(i);
                }
                let mut owner = Owner::empty(false);
                owner.first = at;
                self.owners.push(owner);
                i
            }
        };
        match &mut self.last {
            Some((last, key)) => {
                *last = i;
                key.clear();
                key.extend_from_slice(lower);
            }
            None => self.last = Some((i, lower.to_vec())),
        }
        i
    }
}

impl Sink for Builder {
    fn expect(&mut self, octets: usize) {
        // Zone files spend some 30 octets a record, and fleets have a few
        // records a name.
        self.index.reserve(octets / 64);
        self.owners.reserve(octets / 64);
    }

    /// Bring the records into the shape Knot DNS loads: only the first SOA
    /// of the apex, identical records (compared in the canonical form of
    /// RFC 4034 6.2) once, and each RRset with the TTL of its first record.
    fn record(&mut self, rec: Read<'_>) {
        if rec.rtype == t::SOA && rec.lower == &*self.apex {
            if self.apex_soa {
                return;
            }
            self.apex_soa = true;
        }
        let i = self.owner_index(rec.lower, rec.at);
        let owner = &mut self.owners[i as usize];
        if owner.main.is_none() && !in_nsec3_tree(rec.rtype, rec.rdata) {
            owner.main = Some(rec.at);
            owner.named = true;
        }
        let set = owner.set_of(&rec);
        let canon = has_names(rec.rtype).then(|| {
            canonical_into(rec.rtype, rec.rdata, &mut self.canon);
            self.canon.as_slice()
        });
        let want = canon.unwrap_or(rec.rdata);
        let key =
            (set.count >= SEARCHED).then(|| (i, rec.rtype, self.seen.hasher().hash_one(want)));
        let scratch = &mut self.scratch;
        let held = if let (true, Some(key)) = (set.count > SEARCHED, &key) {
            match self.seen.get(key) {
                None => false,
                Some(&offset) => {
                    set
                    .rdata_at(offset)
                    .is_some_and(|r| set.same(r, rec.rdata, canon, scratch))
                    // A collision of hashes: look at every record.
                    || set.rdatas().any(|r| set.same(r, rec.rdata, canon, scratch))
                }
            }
        } else {
            set.rdatas().any(|r| set.same(r, rec.rdata, canon, scratch))
        };
        if held {
            return;
        }
        let offset = set.push(rec.rdata);
        if set.count > SEARCHED {
            if set.count == SEARCHED + 1 {
                // The set just grew past searching: index all of it.
                let mut offset = 0;
                let rtype = set.rtype;
                for r in set.rdatas() {
                    let hash = if has_names(rtype) {
                        canonical_into(rtype, r, scratch);
                        self.seen.hasher().hash_one(&scratch[..])
                    } else {
                        self.seen.hasher().hash_one(r)
                    };
                    self.seen.entry((i, rtype, hash)).or_insert(offset);
                    offset += r.len() + if set.width == 0 { 2 } else { 0 };
                }
            } else if let Some(key) = key {
                self.seen.entry(key).or_insert(offset);
            }
        }
        if matches!(rec.rtype, t::NS | t::DS | NSEC3PARAM) {
            self.named.push(Named {
                owner: i,
                rtype: rec.rtype,
                offset,
                at: rec.at,
            });
        }
        if rec.rtype == code::DNAME {
            self.any_dname = true;
        }
        if set.count == 1 {
            self.sets += 1;
            if matches!(rec.rtype, t::CNAME | code::DNAME) {
                self.special.push(i);
            }
        }
    }
}

impl Builder {
    /// Whether `lower` owns a set of `rtype` (never asked of types of the
    /// NSEC3 tree).
    fn has(&self, lower: &[u8], rtype: u16) -> bool {
        self.index
            .get(lower)
            .is_some_and(|s| self.owners[s.start as usize].get(rtype).is_some())
    }

    /// Whether `lower` is a name of the main tree (see [`Owner::named`]).
    fn named(&self, lower: &[u8]) -> bool {
        self.index
            .get(lower)
            .is_some_and(|s| self.owners[s.start as usize].named)
    }

    /// The name or an ancestor below the apex is a delegation point.
    fn delegated(&self, lower: &[u8]) -> bool {
        let mut n = lower;
        while within(n, &self.apex) && *n != *self.apex {
            if self.has(n, t::NS) {
                return true;
            }
            match parent(n) {
                Some(up) => n = up,
                None => return false,
            }
        }
        false
    }

    /// Add the empty non-terminals (every name between an owner and the
    /// apex that owns nothing itself) and mark the names of the main tree.
    fn fill_in(&mut self) {
        let apex_len = self.apex.len();
        let mut missing: Map<Box<[u8]>, bool> = Map::default();
        let mut lower = Vec::new();
        // The owners below a name below the apex, in the order they were
        // made (the order they lie in memory); each has a set by now,
        // whose owner has the labels of the key (the case aside).
        let deep = std::mem::take(&mut self.deep);
        for &i in &deep {
            let owner = &self.owners[i as usize];
            let Some(head) = &owner.head else {
                continue;
            };
            let named = owner.named;
            lowercase_into(&head.owner, &mut lower);
            let mut at: &[u8] = &lower;
            while let Some(up) = parent(at) {
                if up.len() <= apex_len {
                    break;
                }
                at = up;
                if let Some(slot) = self.index.get(up) {
                    let above = &mut self.owners[slot.start as usize];
                    if named && !above.named {
                        above.named = true;
                        continue;
                    }
                    break;
                }
                match missing.get_mut(up) {
                    Some(m) if named && !*m => *m = true,
                    Some(_) => break,
                    None => {
                        missing.insert(up.into(), named);
                    }
                }
            }
        }
        for (key, named) in missing {
            self.index
                .insert(key, Slot::owner(self.owners.len() as u32));
            self.owners.push(Owner::empty(named));
        }
    }

    /// The zone checks Knot DNS 3.2 makes when loading a zone
    /// (`kzonecheck` without DNSSEC validation), each an error naming the
    /// record: SOA and NS at the apex, one NSEC3PARAM, nothing beside a
    /// CNAME, one CNAME and one DNAME per name, no NS beside a DNAME below
    /// the apex, nothing below a DNAME, DS digests of a known type and
    /// length, and glue for name servers inside the zone. Of several
    /// problems, the one of the record written first is reported.
    fn check(&self) -> Result<(), Bad> {
        let origin = &self.origin;
        let apex = &*self.apex;
        if !self.has(apex, t::SOA) {
            return Err(Bad {
                at: None,
                message: format!("{origin}: missing SOA at the zone apex"),
            });
        }
        if !self.has(apex, t::NS) {
            return Err(Bad {
                at: None,
                message: format!("{origin}: missing NS at the zone apex"),
            });
        }
        let top = self.index.get(apex).map(|s| s.start);
        if let Some(second) = self
            .named
            .iter()
            .filter(|n| n.rtype == NSEC3PARAM && Some(n.owner) == top)
            .nth(1)
        {
            return Err(Bad {
                at: Some(second.at),
                message: format!("{origin}: more than one NSEC3PARAM record at the apex"),
            });
        }
        // The problem of the record read first; of one record's problems,
        // the one Knot's order of checks finds first.
        let mut worst: Option<(u32, u8, Pos, String)> = None;
        let mut found = |at: Pos, kind: u8, message: String| {
            if worst
                .as_ref()
                .is_none_or(|(seq, k, _, _)| (at.seq, kind) < (*seq, *k))
            {
                worst = Some((at.seq, kind, at, message));
            }
        };
        let mut target = Vec::new();
        // DS and NS records in reading order: the first problem of each
        // kind is the one to compare.
        // An owner lowercased (its key in the index).
        let mut lower = Vec::new();
        let mut ds_done = false;
        let mut ns_done = false;
        for n in &self.named {
            let done = match n.rtype {
                t::DS => &mut ds_done,
                t::NS => &mut ns_done,
                _ => continue,
            };
            if *done {
                continue;
            }
            let Some(set) = self.owners[n.owner as usize].get(n.rtype) else {
                continue;
            };
            let Some(r) = set.rdata_at(n.offset) else {
                continue;
            };
            let problem = match n.rtype {
                t::DS => ds_problem(r),
                _ => {
                    lowercase_into(&set.owner, &mut lower);
                    self.glue_problem(&lower, r, &mut target)
                }
            };
            if let Some(problem) = problem {
                found(n.at, 1, problem);
                *done = true;
            }
        }
        // With a DNAME in the zone, every owner (in the order they were
        // made, which is the order they lie in memory); else those with a
        // CNAME or DNAME, whom alone the rules below concern.
        let mut special = self.special.clone();
        special.sort_unstable();
        special.dedup();
        let every = self.any_dname.then_some(0..self.owners.len() as u32);
        for i in every
            .into_iter()
            .flatten()
            .chain(special.into_iter().filter(|_| !self.any_dname))
        {
            let node = &self.owners[i as usize];
            let Some(first_set) = &node.head else {
                continue;
            };
            let owner = &first_set.owner;
            if node.main.is_some()
                && let Some(problem) = node_problem(owner, node, top == Some(i))
            {
                found(node.first, 0, problem);
            }
            // RFC 6672 2.4: a DNAME owner "MUST NOT have any descendants";
            // NSEC3 records sit in their own tree and are not descendants.
            if let (true, Some(at)) = (self.any_dname, node.main) {
                lowercase_into(owner, &mut lower);
                let mut up = parent(&lower);
                while let Some(u) = up.filter(|u| within(u, apex)) {
                    if self.has(u, code::DNAME) {
                        let above = &owner[owner.len() - u.len()..];
                        found(
                            at,
                            2,
                            format!(
                                "{} is below the DNAME at {}",
                                wire_name(owner),
                                wire_name(above)
                            ),
                        );
                        break;
                    }
                    if u == apex {
                        break;
                    }
                    up = parent(u);
                }
            }
        }
        match worst {
            Some((_, _, at, message)) => Err(Bad {
                at: Some(at),
                message,
            }),
            None => Ok(()),
        }
    }

    /// Glue, as Knot DNS checks it, for an NS record (RDATA `rdata`) of
    /// `owner` (lowercased) at the apex or at a delegation point (not
    /// below another one) whose target lies in the zone: an A or AAAA at
    /// the target, or at the wildcard that covers it, unless the target
    /// lies below another delegation.
    fn glue_problem(&self, owner: &[u8], rdata: &[u8], target: &mut Vec<u8>) -> Option<String> {
        let apex = &*self.apex;
        let written = rdata.get(..name_len(rdata)?)?;
        target.clear();
        target.extend_from_slice(written);
        target.make_ascii_lowercase();
        if owner != apex && self.delegated(parent(owner)?) {
            return None;
        }
        if !within(target, apex) {
            return None;
        }
        let wildcard;
        let glue_owner: &[u8] = if self.named(target) {
            target
        } else {
            let mut encloser = parent(target)?;
            while !self.named(encloser) {
                encloser = parent(encloser)?;
            }
            if encloser != owner && self.delegated(encloser) {
                return None;
            }
            if encloser.len() + 2 > super::text::NAME_MAX {
                return None;
            }
            wildcard = [&b"\x01*"[..], encloser].concat();
            &wildcard
        };
        if self.has(glue_owner, t::A) || self.has(glue_owner, t::AAAA) {
            return None;
        }
        Some(format!(
            "missing glue for the name server {}",
            wire_name(written)
        ))
    }

    /// Check the zone and build it for lookups.
    pub fn finish(mut self) -> Result<Zone, Bad> {
        self.fill_in();
        self.check()?;
        let Builder {
            origin,
            apex,
            index,
            owners,
            sets: count,
            ..
        } = self;
        let apex_owner = index.get(&apex).map(|s| s.start);
        // Every owner's sets in the order the owners were made, which is
        // about the order their data lies in memory; where they start,
        // and the cut flag in the top bit.
        let mut sets: Vec<RSet> = Vec::with_capacity(count);
        let mut starts: Vec<u32> = Vec::with_capacity(owners.len() + 1);
        for (i, owner) in owners.into_iter().enumerate() {
            let mut start = sets.len() as u32;
            let mut ns = false;
            for b in owner.head.into_iter().chain(owner.more) {
                ns |= b.rtype == t::NS;
                sets.push(RSet {
                    owner: b.owner,
                    rtype: b.rtype,
                    ttl: b.ttl,
                    len: b.count,
                    width: b.width,
                    data: fitted(b.data),
                    spread: None,
                });
            }
            if ns && apex_owner != Some(i as u32) {
                start |= CUT;
            }
            starts.push(start);
        }
        starts.push(sets.len() as u32);
        let mut nodes = index;
        for slot in nodes.values_mut() {
            let i = slot.start as usize;
            let (start, end) = (starts[i], starts[i + 1] & !CUT);
            slot.start = start & !CUT;
            slot.len = end - slot.start;
            slot.cut = start & CUT != 0;
        }
        drop(starts);
        let zone_sets = sets;
        // The checks found the SOA.
        let soa = nodes
            .get(&apex)
            .and_then(|s| {
                let start = s.start as usize;
                zone_sets.get(start..start + s.len as usize)
            })
            .and_then(|sets| sets.iter().find(|s| s.rtype == t::SOA))
            .ok_or_else(|| Bad {
                at: None,
                message: format!("{origin}: missing SOA at the zone apex"),
            })?;
        // MINIMUM is the last field of the SOA RDATA.
        let minimum = soa
            .rdata(0)
            .and_then(|r| r.len().checked_sub(4).and_then(|at| r.get(at..)))
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .map_or(0, u32::from_be_bytes);
        let mut negative_soa = soa.clone();
        negative_soa.ttl = negative_soa.ttl.min(minimum);
        Ok(Zone {
            origin_labels: label_count(&origin),
            origin,
            apex,
            nodes,
            sets: zone_sets,
            negative_soa,
        })
    }
}

/// `wire` lowercased, into `out`.
fn lowercase_into(wire: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(wire);
    out.make_ascii_lowercase();
}

/// The top bit of a start while the slots are filled in: the name is a
/// delegation point.
const CUT: u32 = 1 << 31;

impl Slot {
    /// The slot of the builder's owner `i`.
    fn owner(i: u32) -> Slot {
        Slot {
            start: i,
            len: 0,
            cut: false,
        }
    }
}

/// A set's data as it is kept: the buffer shrunk only when that frees a
/// block's worth of octets, else kept whole (the records are counted, so
/// unused octets at the end are never read), which saves a `realloc` per
/// set that would not free anything.
fn fitted(mut data: Vec<u8>) -> Box<[u8]> {
    if data.capacity() - data.len() < 16 || data.capacity() <= 24 {
        data.resize(data.capacity(), 0);
    }
    data.into_boxed_slice()
}

/// Where the names lie in RDATA of the types whose names RFC 4034 6.2
/// lowercases in canonical form: (octets before the first name, names).
fn name_layout(rtype: u16) -> Option<(usize, usize)> {
    Some(match rtype {
        // NS, CNAME, PTR, DNAME; MD, MF, MB, MG, MR are not read here.
        2 | 5 | 12 | 39 => (0, 1),
        // SOA; RP and MINFO.
        6 | 14 | 17 => (0, 2),
        // MX, AFSDB, RT, KX.
        15 | 18 | 21 | 36 => (2, 1),
        // SRV.
        33 => (6, 1),
        // RRSIG: the signer's name.
        46 => (18, 1),
        _ => return None,
    })
}

/// Length of the uncompressed wire name at the start of `b`.
fn name_len(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*b.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            return (at <= b.len()).then_some(at);
        }
    }
}

/// True for the types whose canonical form lowercases names in RDATA.
fn has_names(rtype: u16) -> bool {
    rtype == 35 || name_layout(rtype).is_some()
}

/// The canonical form of RDATA, into `out`: names lowercased where RFC
/// 4034 6.2 says.
fn canonical_into(rtype: u16, wire: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(wire);
    if rtype == 35 {
        // NAPTR: three character strings, then the replacement name.
        let mut at = 4;
        for _ in 0..3 {
            match out.get(at) {
                Some(&len) => at += 1 + usize::from(len),
                None => return,
            }
        }
        if let Some(name) = out.get_mut(at..) {
            name.make_ascii_lowercase();
        }
        return;
    }
    let Some((mut at, names)) = name_layout(rtype) else {
        return;
    };
    for _ in 0..names {
        let Some(len) = out.get(at..).and_then(name_len) else {
            break;
        };
        out[at..at + len].make_ascii_lowercase();
        at += len;
    }
}

/// RFC 5155 NSEC3.
const NSEC3: u16 = 50;
/// RFC 5155 NSEC3PARAM.
const NSEC3PARAM: u16 = 51;

/// CNAME and DNAME rules for the sets of one owner (`owner` in wire form,
/// as written); types of the NSEC3 tree do not count.
fn node_problem(owner: &[u8], node: &Owner, apex: bool) -> Option<String> {
    let count = |x: u16| node.get(x).map_or(0, |s| s.count);
    let owner = || wire_name(owner);
    let cnames = count(t::CNAME);
    // RFC 2181 10.1: one canonical name; RFC 1034 3.6.2: no other data
    // beside it (RFC 4035 allows RRSIG and NSEC).
    if cnames > 1 {
        return Some(format!("more than one CNAME record at {}", owner()));
    }
    if cnames == 1
        && let Some(other) = node
            .sets()
            .find(|s| !matches!(s.rtype, t::CNAME | t::RRSIG | t::NSEC | NSEC3))
    {
        return Some(format!(
            "CNAME and other data ({}) at {}",
            rdata::type_name(other.rtype),
            owner()
        ));
    }
    // RFC 6672 2.4: one DNAME per name, and no NS beside it below the apex.
    if count(code::DNAME) > 1 {
        return Some(format!("more than one DNAME record at {}", owner()));
    }
    if count(code::DNAME) == 1 && !apex && count(t::NS) > 0 {
        return Some(format!("NS beside the DNAME at {}", owner()));
    }
    None
}

/// RFC 4034 5.1.4: the digest types Knot DNS knows, with their lengths
/// (SHA-1, RFC 4509 SHA-256, RFC 6605 SHA-384).
fn ds_problem(wire: &[u8]) -> Option<String> {
    let digest_type = *wire.get(3)?;
    let len = wire.len().saturating_sub(4);
    let want = match digest_type {
        1 => 20,
        2 => 32,
        4 => 48,
        other => return Some(format!("DS digest type {other} is unknown")),
    };
    (len != want)
        .then(|| format!("DS digest of {len} octets, digest type {digest_type} needs {want}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_collide_under_any_multiply_rotate_key_do_not_collide_here() {
        // Under h = (rotl(h, 5) ^ word) * odd, flipping the top bit of one
        // word and bit 4 of the next gives the same hash whatever the key:
        // a zone could pile such names into one bucket.
        let a = [0x61u8; 16];
        let mut b = a;
        b[7] ^= 0x80;
        b[8] ^= 0x10;
        for _ in 0..8 {
            let keys = QuickHash::default();
            assert_ne!(keys.hash_one(&a[..]), keys.hash_one(&b[..]));
        }
        // Lengths are hashed too: trailing zero octets count.
        let keys = QuickHash::default();
        assert_ne!(keys.hash_one(&b"ab"[..]), keys.hash_one(&b"ab\0"[..]));
    }
}
