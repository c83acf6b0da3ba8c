//! The hickory engine's zone data: every name of a zone (empty
//! non-terminals included) keyed by its lowercased wire form, each with its
//! RRsets in the order the zone file first wrote them and their records in
//! wire form (encoded once at load by hickory's encoder), plus the zone
//! checks Knot's `kzonecheck` makes (on hickory's [`LowerName`]).
//!
//! Built once per load from the records [`super::master`] read; read-only
//! afterwards and shared by every query behind one `Arc`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use hickory_proto::rr::{LowerName, Name};

use crate::bundle::BundleError;

use super::master::{Loaded, Rec};
use super::rdata::{self, code};
use super::spread::Spread;
use super::text::label_count;

/// A hash map with [`QuickHash`].
pub type Map<K, V> = HashMap<K, V, QuickHash>;
/// A hash set with [`QuickHash`].
pub type Set<K> = HashSet<K, QuickHash>;

/// The hasher of the zone's maps: a multiply-rotate hash over 8-octet
/// words with a random key per map, much cheaper than SipHash on the
/// short names of a zone (the keys are the bundle's own names, never the
/// queries', so no query can steer entries into one bucket).
#[derive(Debug, Clone, Copy)]
pub struct QuickHash {
    /// The key this map's hashes start from.
    seed: u64,
}

impl Default for QuickHash {
    fn default() -> QuickHash {
        QuickHash {
            seed: fastrand::u64(..),
        }
    }
}

impl std::hash::BuildHasher for QuickHash {
    type Hasher = Quick;
    fn build_hasher(&self) -> Quick {
        Quick(self.seed)
    }
}

/// One hash in progress (see [`QuickHash`]).
#[derive(Debug)]
pub struct Quick(u64);

/// An odd constant with well-spread bits (from FxHash).
const MIX: u64 = 0x517c_c1b7_2722_0a95;

impl std::hash::Hasher for Quick {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(MIX);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(MIX);
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(v)).wrapping_mul(MIX);
    }

    fn write_u16(&mut self, v: u16) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(v)).wrapping_mul(MIX);
    }

    fn write_usize(&mut self, v: usize) {
        self.0 = (self.0.rotate_left(5) ^ v as u64).wrapping_mul(MIX);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown picks buckets with the low
        // bits and tags with the high ones.
        let h = self.0;
        (h ^ (h >> 32)).wrapping_mul(MIX) ^ (h >> 29)
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
        }
    }
}

/// The RDATA of an [`RSet`], one record at a time.
#[derive(Debug, Clone)]
pub struct Rdatas<'a> {
    /// What is left.
    rest: &'a [u8],
    /// Fixed width, or 0 for length-prefixed records.
    width: usize,
}

impl<'a> Iterator for Rdatas<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
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

/// One name of a zone.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The RRsets; empty for an empty non-terminal.
    pub rrsets: Box<[RSet]>,
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
    /// The apex, as hickory reads it (for messages).
    pub origin: Name,
    /// The apex in lowercased wire form.
    pub apex: Box<[u8]>,
    /// Labels of the apex.
    pub origin_labels: usize,
    /// Every name of the zone, keyed by its lowercased wire form.
    pub nodes: Map<Box<[u8]>, Node>,
    /// The SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 3).
    pub negative_soa: RSet,
}

impl Zone {
    /// The node of `lower` (lowercased wire form), if the zone has it.
    pub fn node(&self, lower: &[u8]) -> Option<&Node> {
        self.nodes.get(lower)
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|n| n.rrsets.iter())
            .map(RSet::len)
            .sum()
    }

    /// Build and check the zone from what the reader loaded.
    pub fn build(loaded: Loaded) -> Result<Zone, BundleError> {
        let Loaded {
            origin,
            files,
            records,
        } = loaded;
        let records = collapse(&origin, records).map_err(|bad| {
            let (rec, e) = *bad;
            BundleError::Zone {
                file: files.get(rec.file).cloned().unwrap_or_default(),
                line: rec.line,
                message: format!("`{}`: {e}", rec.text),
            }
        })?;
        check(&origin, &files, &records)?;
        let apex = super::text::lower_wire(&origin).into_boxed_slice();
        // Per owner, its sets in the order first written, each with its
        // records' RDATA.
        type Building<'r> = Vec<(&'r Rec, Vec<&'r [u8]>)>;
        let mut owners: Map<Box<[u8]>, Building<'_>> = Map::default();
        for (rec, wire) in &records {
            let key = super::text::lower_wire(&rec.owner).into_boxed_slice();
            let sets = owners.entry(key).or_default();
            match sets.iter_mut().find(|(first, _)| first.rtype == rec.rtype) {
                Some((_, rdatas)) => rdatas.push(wire),
                None => sets.push((rec, vec![wire])),
            }
        }
        let mut nodes: Map<Box<[u8]>, Node> = Map::default();
        nodes.reserve(owners.len());
        for (key, sets) in owners {
            let rrsets: Vec<RSet> = sets
                .iter()
                .map(|(first, rdatas)| {
                    let owner = super::text::wire(&first.owner);
                    RSet::new(&owner, first.rtype, first.ttl, rdatas)
                })
                .collect();
            let cut = *key != *apex && rrsets.iter().any(|s| s.rtype == t::NS);
            nodes.insert(
                key,
                Node {
                    rrsets: rrsets.into_boxed_slice(),
                    cut,
                },
            );
        }
        drop(records);
        // Empty non-terminals: every name between a record's owner and the
        // apex that owns nothing itself.
        let mut missing: Set<&[u8]> = Set::default();
        for key in nodes.keys() {
            let mut at = 0;
            while let Some(&len) = key.get(at) {
                at += 1 + usize::from(len);
                let up = &key[at.min(key.len())..];
                if len == 0 || up.len() <= apex.len() {
                    break;
                }
                if !nodes.contains_key(up) && !missing.insert(up) {
                    break;
                }
            }
        }
        let missing: Vec<Box<[u8]>> = missing.into_iter().map(Box::from).collect();
        for key in missing {
            nodes.insert(key, Node::default());
        }
        // The checks found the SOA; this only fails on a broken invariant.
        let soa = nodes
            .get(&apex)
            .and_then(|n| n.get(t::SOA))
            .ok_or_else(|| BundleError::Zone {
                file: files.first().cloned().unwrap_or_default(),
                line: 0,
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
            negative_soa,
        })
    }
}

/// A record with its RDATA in wire form.
type Wired = (Rec, Vec<u8>);

/// Bring the records into the shape Knot DNS loads: only the first SOA of
/// the apex, identical records (compared in the canonical form of RFC 4034
/// 6.2) once, and each RRset with the TTL of its first record.
fn collapse(origin: &Name, records: Vec<Rec>) -> Result<Vec<Wired>, Box<(Rec, String)>> {
    let mut out: Vec<Wired> = Vec::with_capacity(records.len());
    let mut seen: Set<(LowerName, u16, Vec<u8>)> = Set::default();
    let mut first_ttl: Map<(LowerName, u16), u32> = Map::default();
    let mut apex_soa = false;
    for mut rec in records {
        let wire = match std::mem::replace(&mut rec.wire, Ok(Vec::new())) {
            Ok(w) => w,
            Err(e) => return Err(Box::new((rec, e))),
        };
        let key = LowerName::new(&rec.owner);
        if rec.rtype == t::SOA && rec.owner == *origin {
            if apex_soa {
                continue;
            }
            apex_soa = true;
        }
        if !seen.insert((key.clone(), rec.rtype, canonical(rec.rtype, &wire))) {
            continue;
        }
        rec.ttl = *first_ttl.entry((key, rec.rtype)).or_insert(rec.ttl);
        out.push((rec, wire));
    }
    Ok(out)
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

/// The canonical form of RDATA: names lowercased where RFC 4034 6.2 says.
fn canonical(rtype: u16, wire: &[u8]) -> Vec<u8> {
    let mut out = wire.to_vec();
    if rtype == 35 {
        // NAPTR: three character strings, then the replacement name.
        let mut at = 4;
        for _ in 0..3 {
            match out.get(at) {
                Some(&len) => at += 1 + usize::from(len),
                None => return out,
            }
        }
        if let Some(name) = out.get_mut(at..) {
            name.make_ascii_lowercase();
        }
        return out;
    }
    let Some((mut at, names)) = name_layout(rtype) else {
        return out;
    };
    for _ in 0..names {
        let Some(len) = out.get(at..).and_then(name_len) else {
            break;
        };
        out[at..at + len].make_ascii_lowercase();
        at += len;
    }
    out
}

/// The zone checks Knot DNS 3.2 makes when loading a zone (`kzonecheck`
/// without DNSSEC validation), each an error naming the record: SOA and
/// NS at the apex, one NSEC3PARAM, nothing beside a CNAME, one CNAME and
/// one DNAME per name, no NS beside a DNAME below the apex, nothing below
/// a DNAME, DS digests of a known type and length, and glue for name
/// servers inside the zone. Problems are reported in file order.
fn check(origin: &Name, files: &[PathBuf], records: &[Wired]) -> Result<(), BundleError> {
    let at = |rec: Option<&Rec>, message: String| BundleError::Zone {
        file: files
            .get(rec.map_or(0, |r| r.file))
            .cloned()
            .unwrap_or_default(),
        line: rec.map_or(0, |r| r.line),
        message: match rec {
            Some(r) => format!("`{}`: {message}", r.text),
            None => message,
        },
    };
    // Knot keeps NSEC3 records (and their RRSIGs) in a tree of their own.
    let in_nsec3_tree = |rec: &Rec, wire: &[u8]| {
        rec.rtype == NSEC3 || (rec.rtype == t::RRSIG && wire.get(..2) == Some(&[0, 50][..]))
    };
    let mut types: Map<LowerName, Vec<u16>> = Map::default();
    let mut names: Set<LowerName> = Set::default();
    for (rec, wire) in records {
        if in_nsec3_tree(rec, wire) {
            continue;
        }
        types
            .entry(LowerName::new(&rec.owner))
            .or_default()
            .push(rec.rtype);
        let mut name = rec.owner.clone();
        while origin.zone_of(&name) && names.insert(LowerName::new(&name)) {
            if label_count(&name) == 0 {
                break;
            }
            name = name.base_name();
        }
    }
    let has = |name: &Name, rtype: u16| {
        types
            .get(&LowerName::new(name))
            .is_some_and(|ts| ts.contains(&rtype))
    };
    // The name or an ancestor below the apex is a delegation point.
    let delegated = |name: &Name| {
        let mut n = name.clone();
        while origin.zone_of(&n) && n != *origin {
            if has(&n, t::NS) {
                return true;
            }
            n = n.base_name();
        }
        false
    };
    if !has(origin, t::SOA) {
        return Err(at(None, format!("{origin}: missing SOA at the zone apex")));
    }
    if !has(origin, t::NS) {
        return Err(at(None, format!("{origin}: missing NS at the zone apex")));
    }
    if let Some((second, _)) = records
        .iter()
        .filter(|(r, _)| r.rtype == NSEC3PARAM && r.owner == *origin)
        .nth(1)
    {
        return Err(at(
            Some(second),
            format!("{origin}: more than one NSEC3PARAM record at the apex"),
        ));
    }
    let any_dname = records.iter().any(|(r, _)| r.rtype == code::DNAME);
    let mut checked: Set<LowerName> = Set::default();
    for (rec, wire) in records {
        let key = LowerName::new(&rec.owner);
        if checked.insert(key.clone())
            && let Some(ts) = types.get(&key)
            && let Some(problem) = node_problem(&rec.owner, ts, rec.owner == *origin)
        {
            return Err(at(Some(rec), problem));
        }
        let problem = match rec.rtype {
            t::DS => ds_problem(wire),
            t::NS => glue_problem(origin, rec, wire, &names, &has, &delegated),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(at(Some(rec), problem));
        }
        // RFC 6672 2.4: a DNAME owner "MUST NOT have any descendants";
        // NSEC3 records sit in their own tree and are not descendants.
        if !any_dname || in_nsec3_tree(rec, wire) {
            continue;
        }
        let mut up = rec.owner.base_name();
        while origin.zone_of(&up) {
            if has(&up, code::DNAME) {
                return Err(at(
                    Some(rec),
                    format!("{} is below the DNAME at {up}", rec.owner),
                ));
            }
            if up == *origin {
                break;
            }
            up = up.base_name();
        }
    }
    Ok(())
}

/// RFC 5155 NSEC3.
const NSEC3: u16 = 50;
/// RFC 5155 NSEC3PARAM.
const NSEC3PARAM: u16 = 51;

/// CNAME and DNAME rules for the types present at one owner.
fn node_problem(owner: &Name, types: &[u16], apex: bool) -> Option<String> {
    let count = |x: u16| types.iter().filter(|&&y| y == x).count();
    let cnames = count(t::CNAME);
    // RFC 2181 10.1: one canonical name; RFC 1034 3.6.2: no other data
    // beside it (RFC 4035 allows RRSIG and NSEC).
    if cnames > 1 {
        return Some(format!("more than one CNAME record at {owner}"));
    }
    if cnames == 1
        && let Some(&other) = types
            .iter()
            .find(|&&x| !matches!(x, t::CNAME | t::RRSIG | t::NSEC))
    {
        return Some(format!(
            "CNAME and other data ({}) at {owner}",
            rdata::type_name(other)
        ));
    }
    // RFC 6672 2.4: one DNAME per name, and no NS beside it below the apex.
    if count(code::DNAME) > 1 {
        return Some(format!("more than one DNAME record at {owner}"));
    }
    if count(code::DNAME) == 1 && !apex && count(t::NS) > 0 {
        return Some(format!("NS beside the DNAME at {owner}"));
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

/// Glue, as Knot DNS checks it, for an NS record at the apex or at a
/// delegation point (not below another one) whose target lies in the
/// zone: an A or AAAA at the target, or at the wildcard that covers it,
/// unless the target lies below another delegation.
fn glue_problem(
    origin: &Name,
    ns: &Rec,
    wire: &[u8],
    names: &Set<LowerName>,
    has: &dyn Fn(&Name, u16) -> bool,
    delegated: &dyn Fn(&Name) -> bool,
) -> Option<String> {
    let target = &super::request::to_name(wire).ok()?;
    let at_apex = ns.owner == *origin;
    if !at_apex && delegated(&ns.owner.base_name()) {
        return None;
    }
    if !origin.zone_of(target) {
        return None;
    }
    let glue_owner = if names.contains(&LowerName::new(target)) {
        target.clone()
    } else {
        let mut encloser = target.base_name();
        while !names.contains(&LowerName::new(&encloser)) && label_count(&encloser) > 0 {
            encloser = encloser.base_name();
        }
        if encloser != ns.owner && delegated(&encloser) {
            return None;
        }
        encloser.prepend_label(&b"*"[..]).ok()?
    };
    if has(&glue_owner, t::A) || has(&glue_owner, t::AAAA) {
        return None;
    }
    Some(format!("missing glue for the name server {target}"))
}
