//! The native answer path: decode a request in stages, find the zone, walk
//! the tree (RFC 1034 4.3.2 with RFC 4592 wildcards and RFC 6672 DNAME),
//! and encode the response within the client's size limit.
//!
//! Stages, each of which can end the request early:
//! 1. fewer than 12 octets, or QR=1: dropped, no answer;
//! 2. an opcode other than QUERY: NOTIMP;
//! 3. not exactly one question, or a malformed message: FORMERR;
//! 4. EDNS version above 0: BADVERS;
//! 5. CHAOS class: the server's identity, or REFUSED;
//! 6. a name outside every served zone, or a zone transfer: REFUSED;
//! 7. the lookup, then encoding (TC=1 when the answer does not fit).
//!
//! Step 7 has a short way for the usual question, a name asked for with a
//! type it holds (no delegation or DNAME above it): the answer is prepared
//! at load time in wire form ([`Prepared`]: the sections after the
//! question, produced by the same lookup and encoder, and where each RRset
//! ends), so the query costs one hash lookup and a copy, plus the header,
//! the question as received, the cut to the size limit and the OPT record.
//! A and AAAA sets are written straight from their addresses, so that their
//! web-fleet policy (rotation, `max_answers`, health; see [`super::rotate`])
//! applies to every response. Either way, no answer allocates: plans keep
//! their usual items inline and names live in fixed buffers.

use std::collections::HashMap;
use std::net::IpAddr;

use arc_swap::ArcSwap;

use crate::engine::{Identity, Transport};
use crate::fleet::HealthState;

use super::name::NameKey;
use super::record::{class, rtype};
use super::rotate::{self, Pick};
use super::wire::{self, Edns, NameBuf, Request, Writer, flags, rcode};
use super::zone::{KeyHash, Node, RRset, Zone, name_len};

/// Our own EDNS UDP payload size (RFC 6891 6.2.5; 1232 as DNS Flag Day 2020
/// recommends), and the most a UDP response may be.
pub const SERVER_UDP_SIZE: u16 = 1232;
/// RFC 1035 4.2.1: UDP messages without EDNS are 512 octets or less.
const CLASSIC_UDP_SIZE: usize = 512;
/// RFC 1035 4.2.2: a TCP message is at most 65,535 octets.
const TCP_SIZE: usize = 65_535;
/// RFC 1996 NOTIFY.
const OPCODE_NOTIFY: u8 = 4;
/// RFC 2136 UPDATE.
const OPCODE_UPDATE: u8 = 5;
/// How many CNAME/DNAME steps one answer follows.
const MAX_CHAIN: usize = 16;

/// Every zone the engine serves, keyed by lowercased origin.
#[derive(Debug, Default)]
pub struct ZoneSet {
    /// The zones.
    pub zones: HashMap<NameKey, Zone, KeyHash>,
}

impl ZoneSet {
    /// The deepest zone containing the lowercased wire name `key`. A DS
    /// query for a zone's apex belongs to the parent side of the cut
    /// (RFC 4035 3.1.4.1), so the parent zone answers it when it is served.
    fn find(&self, key: &[u8], offsets: &[u8], qtype: u16) -> Option<&Zone> {
        if self.zones.len() <= FEW_ZONES {
            return self.find_among_few(key, offsets, qtype);
        }
        let mut zones = offsets
            .iter()
            .filter_map(|&at| self.zones.get(key.get(usize::from(at)..)?).map(|z| (at, z)));
        let (at, deepest) = zones.next()?;
        if qtype == rtype::DS && at == 0 {
            return Some(zones.next().map_or(deepest, |(_, parent)| parent));
        }
        Some(deepest)
    }

    /// [`ZoneSet::find`] for a handful of zones: compare each origin with
    /// the name's suffix of its length instead of hashing every suffix.
    fn find_among_few(&self, key: &[u8], offsets: &[u8], qtype: u16) -> Option<&Zone> {
        // The deepest and the next deepest zone containing the name.
        let mut best: [Option<(usize, &Zone)>; 2] = [None, None];
        for (origin, zone) in &self.zones {
            let Some(at) = key.len().checked_sub(origin.as_wire().len()) else {
                continue;
            };
            let boundary = at <= usize::from(u8::MAX) && offsets.contains(&(at as u8));
            if !boundary || key.get(at..) != Some(origin.as_wire()) {
                continue;
            }
            let len = origin.as_wire().len();
            match best {
                [Some((l, _)), _] if len > l => best = [Some((len, zone)), best[0]],
                [Some(_), Some((l, _))] if len <= l => {}
                [Some(_), _] => best[1] = Some((len, zone)),
                [None, _] => best[0] = Some((len, zone)),
            }
        }
        let (len, deepest) = best[0]?;
        if qtype == rtype::DS && len == key.len() {
            return Some(best[1].map_or(deepest, |(_, parent)| parent));
        }
        Some(deepest)
    }
}

/// Up to this many zones, [`ZoneSet::find`] compares origins directly.
const FEW_ZONES: usize = 8;

/// One record or RRset to write.
// Names are held inline (boxing them would allocate per query).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Item<'z> {
    /// A zone RRset, written with `owner` (a query name, for wildcard and
    /// case preservation) or its own owner.
    Set {
        /// Owner to write instead of the RRset's own.
        owner: Option<NameBuf>,
        /// The RRset.
        set: &'z RRset,
        /// For an address set of the answer section with a fleet policy:
        /// what this response drew for it (its records are then chosen by
        /// [`rotate::select`]).
        pick: Option<Pick>,
    },
    /// The CNAME a DNAME synthesises for this answer.
    Synth {
        /// Owner name.
        owner: NameBuf,
        /// The DNAME it comes from (its target is worked out again when
        /// written, so that the item holds one name, not two).
        dname: &'z RRset,
    },
    /// The CHAOS TXT record naming the server.
    Identity {
        /// Owner name.
        owner: NameBuf,
        /// The text, cut into character-strings when written.
        text: &'z [u8],
    },
}

/// The items of one section: the first `N` inline, so that a usual answer
/// needs no allocation; only longer sections spill into a vector.
#[derive(Debug)]
struct Section<'z, const N: usize> {
    /// The first items.
    head: [Option<Item<'z>>; N],
    /// Items in `head`.
    len: usize,
    /// The items after the first `N`.
    rest: Vec<Item<'z>>,
}

impl<const N: usize> Default for Section<'_, N> {
    fn default() -> Self {
        Section {
            head: [const { None }; N],
            len: 0,
            rest: Vec::new(),
        }
    }
}

impl<'z, const N: usize> Section<'z, N> {
    fn push(&mut self, item: Item<'z>) {
        match self.head.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(item);
                self.len += 1;
            }
            None => self.rest.push(item),
        }
    }

    fn len(&self) -> usize {
        self.len + self.rest.len()
    }

    fn iter(&self) -> impl Iterator<Item = &Item<'z>> {
        self.head.iter().flatten().chain(self.rest.iter())
    }
}

/// What goes into a response before it is encoded.
#[derive(Debug, Default)]
struct Plan<'z> {
    /// Response code (may be extended, above 15).
    rcode: u16,
    /// Authoritative answer.
    aa: bool,
    /// Answer section (a CNAME chain of three, or a DNAME and its CNAME
    /// and the target, fit inline).
    answer: Section<'z, 4>,
    /// Authority section (one SOA or NS set).
    authority: Section<'z, 1>,
    /// Additional section (A and AAAA of two name servers).
    additional: Section<'z, 4>,
    /// Send the header without the question (NSD's bare errors).
    omit_question: bool,
    /// Send no OPT even when the request had one.
    omit_opt: bool,
    /// Do not copy RD (zone transfer refusals, as Knot DNS and NSD).
    clear_rd: bool,
    /// True when missing additional records must set TC (glue of a
    /// referral whose name servers are inside the delegation, RFC 9471).
    glue_required: bool,
}

/// Answer one raw query. Returns false when nothing must be sent. `health`
/// is read at most once, and only when the answer holds an address set
/// with a fleet policy.
pub fn answer(
    zones: &ZoneSet,
    identity: &Identity,
    health: &ArcSwap<HealthState>,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
) -> bool {
    answer_with(zones, identity, health, query, transport, out, true)
}

/// [`answer`], with or without the prepared answers (tests compare both).
fn answer_with(
    zones: &ZoneSet,
    identity: &Identity,
    health: &ArcSwap<HealthState>,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    use_prepared: bool,
) -> bool {
    out.clear();
    // Stage 1: a header and QR=0, or no answer at all.
    let mut r = wire::Reader::new(query);
    let Ok(header) = wire::Header::read(&mut r) else {
        return false;
    };
    if header.flags & flags::QR != 0 {
        return false;
    }
    let mut req = Request {
        header,
        ..Request::default()
    };
    let decoded = if header.qdcount == 1 {
        wire::read_request(query, &mut req)
    } else {
        Err(wire::WireError::Short)
    };
    // Keep the question only when it decoded completely.
    let has_question = header.qdcount == 1 && req.question_end > 0;
    let respond = |plan: &Plan<'_>, req: &Request, out: &mut Vec<u8>| {
        let picked = plan
            .answer
            .iter()
            .any(|i| matches!(i, Item::Set { pick: Some(_), .. }));
        if picked {
            let health = health.load();
            let health = Some(&**health).filter(|h| !h.is_empty());
            encode(
                plan,
                req,
                has_question,
                identity,
                transport,
                health,
                out,
                None,
            );
        } else {
            encode(
                plan,
                req,
                has_question,
                identity,
                transport,
                None,
                out,
                None,
            );
        }
        true
    };
    // Stage 2: only QUERY is implemented (RFC 8906 3.1.3: answer NOTIMP).
    // NOTIFY and UPDATE are refused or not implemented as NSD does, with
    // the bare header.
    match header.opcode() {
        0 => {}
        opcode => {
            let code = if opcode == OPCODE_NOTIFY {
                rcode::REFUSED
            } else {
                rcode::NOTIMP
            };
            let bare = matches!(opcode, OPCODE_NOTIFY | OPCODE_UPDATE);
            let plan = Plan {
                omit_question: bare,
                omit_opt: bare,
                ..error(code)
            };
            return respond(&plan, &req, out);
        }
    }
    // Stage 3: exactly one well-formed question; FORMERR carries no OPT.
    if decoded.is_err() {
        let plan = Plan {
            omit_opt: true,
            ..error(rcode::FORMERR)
        };
        return respond(&plan, &req, out);
    }
    #[cfg(feature = "fault-injection")]
    inject_fault(&req.qname);
    // Stage 4: RFC 6891 6.1.3: versions above 0 get BADVERS.
    if req.edns.is_some_and(|e| e.version > 0) {
        return respond(&error(rcode::BADVERS), &req, out);
    }
    // Stage 5: CHAOS identity queries; other classes than IN (or ANY,
    // answered as IN) are refused.
    match req.qclass {
        class::CH => return respond(&chaos(&req, identity), &req, out),
        class::IN | class::ANY => {}
        _ => return respond(&error(rcode::REFUSED), &req, out),
    }
    // Zone transfers are not offered.
    if matches!(req.qtype, rtype::AXFR | rtype::IXFR) {
        let plan = Plan {
            clear_rd: true,
            ..error(rcode::REFUSED)
        };
        return respond(&plan, &req, out);
    }
    // Stage 6: the zone.
    let mut key = req.qname.clone();
    key.make_lowercase();
    let (offsets, count) = label_offsets(key.as_wire());
    let Some(zone) = zones.find(key.as_wire(), &offsets[..count], req.qtype) else {
        return respond(&error(rcode::REFUSED), &req, out);
    };
    // Stage 7: a name asked for with a type it holds, with nothing above
    // it in the way: the answer prepared at load time.
    if use_prepared
        && let Some(node) = zone.node(key.as_wire()).filter(|n| n.plain)
        && let Some(set) = node.get(req.qtype)
    {
        if set.direct {
            emit_addresses(zone, set, &req, identity, health, transport, out);
            return true;
        }
        if let Some(prepared) = &set.prepared {
            emit_prepared(prepared, &req, identity, transport, out);
            return true;
        }
    }
    // Otherwise the lookup.
    let plan = resolve(zone, &req.qname, req.qtype);
    respond(&plan, &req, out)
}

/// The answer to a query for an RRset by its own name, prepared at load
/// time in wire form: everything after the question, and where each RRset
/// in it ends, so that a query only writes the header and question, cuts
/// the sections to its size limit and appends its OPT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Authoritative answer.
    aa: bool,
    /// Missing additional records set TC (glue inside the delegation).
    glue_required: bool,
    /// Where each RRset ends.
    marks: Box<[Mark]>,
    /// The answer, authority and additional sections, with compression
    /// pointers into a question of the owner's length at offset 12.
    body: Box<[u8]>,
}

/// Prepare, for every plain name of `zone`, the answer to each of its
/// RRsets asked for by that name (A and AAAA sets of single addresses
/// excepted: they are written straight from their RDATA). The sections
/// are those the lookup and the encoder produce for that question, so a
/// prepared answer is the same octets as one built per query.
pub fn prepare(zone: &Zone) -> Vec<(NameKey, u16, Prepared)> {
    let identity = Identity::default();
    let mut prepared = Vec::new();
    let mut out = Vec::new();
    let mut marks = Vec::new();
    for (key, node) in zone.nodes.iter().filter(|(_, n)| n.plain) {
        for set in node.rrsets.iter().filter(|s| !s.direct) {
            let mut req = Request::default();
            req.header.qdcount = 1;
            req.qname.set(set.owner.as_wire());
            req.qtype = set.rtype;
            req.qclass = class::IN;
            let plan = resolve(zone, &req.qname, set.rtype);
            let items = plan.answer.len() + plan.authority.len() + plan.additional.len();
            let picked = plan
                .answer
                .iter()
                .any(|i| matches!(i, Item::Set { pick: Some(_), .. }));
            marks.clear();
            out.clear();
            let tc = encode(
                &plan,
                &req,
                true,
                &identity,
                Transport::Tcp,
                None,
                &mut out,
                Some(&mut marks),
            );
            let body = 12 + req.qname.as_wire().len() + 4;
            if tc || picked || marks.len() != items || out.len() < body {
                continue;
            }
            prepared.push((
                key.clone(),
                set.rtype,
                Prepared {
                    aa: plan.aa,
                    glue_required: plan.glue_required,
                    marks: marks.as_slice().into(),
                    body: out[body..].into(),
                },
            ));
        }
    }
    prepared
}

/// Start a response: a header to be written by [`finish`], then the
/// question as received.
fn start(req: &Request, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(req.qname.as_wire());
    out.extend_from_slice(&req.qtype.to_be_bytes());
    out.extend_from_slice(&req.qclass.to_be_bytes());
}

/// Answer from a prepared answer: copy the sections that fit the limit.
fn emit_prepared(
    p: &Prepared,
    req: &Request,
    identity: &Identity,
    transport: Transport,
    out: &mut Vec<u8>,
) {
    let frame = Frame::new(req, identity, transport, false);
    start(req, out);
    let room = frame.body_limit().saturating_sub(out.len());
    let mut counts = [0u16; 3];
    let mut tc = false;
    let mut cut = 0;
    for m in p.marks.iter() {
        let end = m.end as usize;
        if end > room {
            // As the encoder: a whole RRset or nothing, and TC when the
            // answer or authority section is cut.
            tc = m.section < 2 || p.glue_required;
            break;
        }
        if let Some(c) = counts.get_mut(usize::from(m.section)) {
            *c += m.count;
        }
        cut = end;
    }
    out.extend_from_slice(p.body.get(..cut).unwrap_or_default());
    let outline = Outline {
        aa: p.aa,
        tc,
        qdcount: 1,
        counts,
        ..Outline::default()
    };
    finish(out, &frame, req, outline);
}

/// Answer an A or AAAA set asked for by its own name: each record is the
/// owner as a pointer to the question, the fixed fields and the address,
/// chosen and ordered by the set's fleet policy.
fn emit_addresses(
    zone: &Zone,
    set: &RRset,
    req: &Request,
    identity: &Identity,
    health: &ArcSwap<HealthState>,
    transport: Transport,
    out: &mut Vec<u8>,
) {
    let frame = Frame::new(req, identity, transport, false);
    start(req, out);
    let mut fixed = [0u8; 12];
    fixed[0..2].copy_from_slice(&0xC00Cu16.to_be_bytes());
    fixed[2..4].copy_from_slice(&set.rtype.to_be_bytes());
    fixed[4..6].copy_from_slice(&class::IN.to_be_bytes());
    fixed[6..10].copy_from_slice(&set.ttl.to_be_bytes());
    let width = set.rdatas.first().map_or(0, |r| r.len() as u16);
    fixed[10..12].copy_from_slice(&width.to_be_bytes());
    let base = out.len();
    let mut write = |i: usize| {
        out.extend_from_slice(&fixed);
        out.extend_from_slice(set.rdatas.get(i).unwrap_or_default());
    };
    let count = match set.fleet {
        None => {
            (0..set.rdatas.len()).for_each(&mut write);
            set.rdatas.len()
        }
        Some(policy) => {
            let pick = Pick::draw(policy, &zone.counters);
            let health = health.load();
            let down = if health.is_empty() {
                &[][..]
            } else {
                let mut key = NameBuf::default();
                key.set(set.owner.as_wire());
                key.make_lowercase();
                health.down(key.as_wire())
            };
            rotate::select(
                &pick,
                set.rdatas.len(),
                |i| is_down(down, set.rdatas.get(i).unwrap_or_default()),
                &mut write,
            )
        }
    };
    let mut outline = Outline {
        aa: true,
        qdcount: 1,
        counts: [count as u16, 0, 0],
        ..Outline::default()
    };
    if out.len() > frame.body_limit() {
        out.truncate(base);
        outline.tc = true;
        outline.counts[0] = 0;
    }
    finish(out, &frame, req, outline);
}

/// A plan with only a response code.
fn error<'z>(code: u16) -> Plan<'z> {
    Plan {
        rcode: code,
        ..Plan::default()
    }
}

/// Offsets of each label of a wire name, leftmost first, the root last.
fn label_offsets(wire: &[u8]) -> ([u8; 128], usize) {
    let mut offsets = [0u8; 128];
    let mut count = 0;
    let mut at = 0usize;
    while let Some(&len) = wire.get(at) {
        if count < offsets.len() {
            offsets[count] = at as u8;
            count += 1;
        }
        if len == 0 {
            break;
        }
        at += 1 + usize::from(len);
    }
    (offsets, count)
}

/// CHAOS TXT `id.server` / `hostname.bind`: the identity, as Knot DNS and
/// NSD answer it; REFUSED for anything else or when no identity is set.
fn chaos<'z>(req: &Request, identity: &'z Identity) -> Plan<'z> {
    let mut name = req.qname.clone();
    name.make_lowercase();
    let asks_identity = matches!(
        name.as_wire(),
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00"
    );
    match (&identity.id, asks_identity && req.qtype == rtype::TXT) {
        (Some(id), true) => {
            let mut plan = Plan::default();
            plan.answer.push(Item::Identity {
                owner: req.qname.clone(),
                text: id.as_bytes(),
            });
            plan
        }
        _ => error(rcode::REFUSED),
    }
}

/// Test-only faults (DESIGN.md, "Fault injection"): a question whose first
/// label is `crash-native` (any case) aborts the process, `hang-native`
/// spins forever. Built only with the `fault-injection` feature.
#[cfg(feature = "fault-injection")]
fn inject_fault(qname: &NameBuf) {
    let wire = qname.as_wire();
    let label = wire
        .split_first()
        .and_then(|(&len, rest)| rest.get(..usize::from(len)))
        .unwrap_or_default();
    if label.eq_ignore_ascii_case(b"crash-native") {
        std::process::abort();
    }
    if label.eq_ignore_ascii_case(b"hang-native") {
        loop {
            std::hint::spin_loop();
        }
    }
}

/// Where a lookup of one name in a zone ends.
enum Found<'z> {
    /// The name exists (possibly through a wildcard).
    Node(&'z Node),
    /// The name lies at or below a delegation point.
    Referral(&'z Node),
    /// An ancestor owns a DNAME that rewrites the name.
    Dname(&'z RRset),
    /// The name does not exist, nor any wildcard for it.
    NxDomain,
}

/// RFC 1034 4.3.2 step 3 for one lowercased name in `zone`: walk down from
/// the apex label by label.
fn lookup<'z>(zone: &'z Zone, key: &[u8], qtype: u16) -> Found<'z> {
    let (offsets, count) = label_offsets(key);
    // Labels below the apex (count includes the root label).
    let below = count.saturating_sub(zone.origin_labels + 1);
    let suffix = |i: usize| key.get(usize::from(offsets[i])..).unwrap_or_default();
    let Some(apex) = zone.node(suffix(below)) else {
        return Found::NxDomain;
    };
    if below > 0
        && let Some(d) = apex.get(rtype::DNAME)
    {
        return Found::Dname(d);
    }
    if below == 0 {
        return Found::Node(apex);
    }
    for i in (0..below).rev() {
        let Some(node) = zone.node(suffix(i)) else {
            // RFC 4592 3.3.1: the closest encloser is the last node found;
            // the source of synthesis is `*.<closest encloser>`.
            let encloser = suffix(i + 1);
            let mut star = [0u8; super::name::MAX_NAME + 2];
            star[..2].copy_from_slice(b"\x01*");
            let end = 2 + encloser.len();
            star[2..end].copy_from_slice(encloser);
            return match zone.node(&star[..end]) {
                Some(node) => Found::Node(node),
                None => Found::NxDomain,
            };
        };
        // RFC 4035 3.1.4.1: DS at a delegation point belongs to the parent.
        if node.cut && !(i == 0 && qtype == rtype::DS) {
            return Found::Referral(node);
        }
        if i > 0
            && let Some(d) = node.get(rtype::DNAME)
        {
            return Found::Dname(d);
        }
        if i == 0 {
            return Found::Node(node);
        }
    }
    Found::NxDomain
}

/// Build the answer plan for `qname`/`qtype` in `zone`, following CNAME and
/// DNAME chains that stay inside the zone.
fn resolve<'z>(zone: &'z Zone, qname: &NameBuf, qtype: u16) -> Plan<'z> {
    let mut plan = Plan {
        aa: true,
        ..Plan::default()
    };
    let mut name = qname.clone();
    let mut key = name.clone();
    for step in 0..MAX_CHAIN {
        key.set(name.as_wire());
        key.make_lowercase();
        match lookup(zone, key.as_wire(), qtype) {
            Found::NxDomain => {
                plan.rcode = rcode::NXDOMAIN;
                push_soa(zone, &mut plan);
                break;
            }
            Found::Referral(cut) => {
                if step == 0 {
                    plan.aa = false;
                }
                referral(cut, &mut plan);
                break;
            }
            Found::Dname(dname) => {
                plan.answer.push(Item::Set {
                    owner: None,
                    set: dname,
                    pick: None,
                });
                let Some(target) = dname_target(&name, dname) else {
                    // RFC 6672 2.2: the substituted name is too long.
                    plan.rcode = rcode::YXDOMAIN;
                    break;
                };
                plan.answer.push(Item::Synth {
                    owner: name.clone(),
                    dname,
                });
                // A CNAME query is answered by the synthesised CNAME itself.
                if qtype == rtype::CNAME || !follow(zone, &mut name, &target, &plan) {
                    break;
                }
            }
            Found::Node(node) => {
                let owner = Some(name.clone());
                if qtype == rtype::ANY {
                    // RFC 8482 4.1: one RRset; Knot DNS sends the one of
                    // the lowest type.
                    if let Some(set) = node.rrsets.iter().min_by_key(|r| r.rtype) {
                        plan.answer.push(answer_set(zone, owner, set));
                    }
                } else if let Some(set) = node.get(qtype) {
                    plan.answer.push(answer_set(zone, owner, set));
                } else if let Some(cname) = node.get(rtype::CNAME) {
                    plan.answer.push(answer_set(zone, owner, cname));
                    let mut target = NameBuf::default();
                    match cname.rdatas.first().and_then(|r| Some(&r[..name_len(r)?])) {
                        Some(t) => target.set(t),
                        None => break,
                    }
                    if !follow(zone, &mut name, &target, &plan) {
                        break;
                    }
                    continue;
                }
                if node_answers_nothing(node, qtype) {
                    // RFC 2308 2.2: NODATA, with the SOA for negative caching.
                    push_soa(zone, &mut plan);
                }
                break;
            }
        }
    }
    additional(zone, &mut plan);
    plan
}

/// An RRset of the answer section; an address set with a fleet policy
/// draws its pick now, once for this response.
fn answer_set<'z>(zone: &'z Zone, owner: Option<NameBuf>, set: &'z RRset) -> Item<'z> {
    Item::Set {
        owner,
        set,
        pick: set.fleet.map(|p| Pick::draw(p, &zone.counters)),
    }
}

/// True when the node has no data for `qtype` (NODATA).
fn node_answers_nothing(node: &Node, qtype: u16) -> bool {
    if qtype == rtype::ANY {
        node.rrsets.is_empty()
    } else {
        node.get(qtype).is_none()
    }
}

/// Move the chain on to `target` when it is inside the zone and not seen
/// yet; false ends the chain.
fn follow(zone: &Zone, name: &mut NameBuf, target: &NameBuf, plan: &Plan<'_>) -> bool {
    let mut lower = target.clone();
    lower.make_lowercase();
    // In the zone: some label boundary of the target starts the origin.
    let (offsets, count) = label_offsets(lower.as_wire());
    let in_zone = offsets[..count].iter().any(|&at| {
        lower
            .as_wire()
            .get(usize::from(at)..)
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(zone.origin.as_wire()))
    });
    if !in_zone {
        return false;
    }
    // A loop: the target already owns a record of this answer.
    let looped = plan.answer.iter().any(|item| match item {
        Item::Set { owner: Some(o), .. }
        | Item::Synth { owner: o, .. }
        | Item::Identity { owner: o, .. } => o.as_wire().eq_ignore_ascii_case(lower.as_wire()),
        Item::Set {
            owner: None, set, ..
        } => set.owner.as_wire().eq_ignore_ascii_case(lower.as_wire()),
    });
    if looped {
        return false;
    }
    name.set(target.as_wire());
    true
}

/// RFC 6672 2.2: replace the DNAME owner suffix of `name` by its target.
fn dname_target(name: &NameBuf, dname: &RRset) -> Option<NameBuf> {
    let target = dname.rdatas.first()?;
    let target = &target[..name_len(target)?];
    let owner_len = dname.owner.wire_len();
    let prefix = name.as_wire().len().checked_sub(owner_len)?;
    let total = prefix + target.len();
    // RFC 1035 2.3.4: names are 255 octets or less.
    if total > super::name::MAX_NAME {
        return None;
    }
    let mut wire = [0u8; super::name::MAX_NAME];
    wire[..prefix].copy_from_slice(&name.as_wire()[..prefix]);
    wire[prefix..total].copy_from_slice(target);
    let mut out = NameBuf::default();
    out.set(&wire[..total]);
    Some(out)
}

/// RFC 2308 3: the SOA in the authority section of a negative answer.
fn push_soa<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    plan.authority.push(Item::Set {
        owner: None,
        set: &zone.negative_soa,
        pick: None,
    });
}

/// RFC 1034 4.3.2 3b: a referral to the delegation at `cut`.
fn referral<'z>(cut: &'z Node, plan: &mut Plan<'z>) {
    let Some(ns) = cut.get(rtype::NS) else {
        return;
    };
    plan.authority.push(Item::Set {
        owner: None,
        set: ns,
        pick: None,
    });
    for rdata in &ns.rdatas {
        let Some(len) = name_len(rdata) else { continue };
        if len <= super::name::MAX_NAME && at_or_below(&rdata[..len], ns.owner.as_wire()) {
            plan.glue_required = true;
        }
    }
}

/// Whether the wire name `name` equals `ancestor` or lies below it
/// (case-insensitive; both valid wire names).
fn at_or_below(name: &[u8], ancestor: &[u8]) -> bool {
    let (offsets, count) = label_offsets(name);
    offsets[..count].iter().any(|&at| {
        name.get(usize::from(at)..)
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(ancestor))
    })
}

/// Additional section: A and AAAA of the names that NS, MX and SRV records
/// of the answer and authority sections point to, when the zone has them.
fn additional<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    let Plan {
        answer,
        authority,
        additional: extra,
        ..
    } = plan;
    for item in answer.iter().chain(authority.iter()) {
        let Item::Set { set, .. } = item else {
            continue;
        };
        let skip = match set.rtype {
            rtype::NS => 0,
            rtype::MX => 2,
            rtype::SRV => 6,
            _ => continue,
        };
        for rdata in &set.rdatas {
            let Some(target) = rdata.get(skip..) else {
                continue;
            };
            let Some(len) = name_len(target) else {
                continue;
            };
            let mut key = NameBuf::default();
            key.set(&target[..len]);
            key.make_lowercase();
            let Some(node) = zone.node(key.as_wire()) else {
                continue;
            };
            for t in [rtype::A, rtype::AAAA] {
                if let Some(addr) = node.get(t)
                    && !extra
                        .iter()
                        .any(|i| matches!(i, Item::Set { set, .. } if std::ptr::eq(*set, addr)))
                {
                    extra.push(Item::Set {
                        owner: None,
                        set: addr,
                        pick: None,
                    });
                }
            }
        }
    }
}

/// The size frame of one response: what limit it has and what OPT record
/// ends it.
struct Frame<'a> {
    /// The request's EDNS, unless the response must not carry OPT.
    edns: Option<Edns>,
    /// The whole message may not exceed this.
    limit: usize,
    /// The NSID to send, if asked for and set.
    nsid: Option<&'a [u8]>,
    /// Octets the OPT record will take.
    opt_len: usize,
}

impl<'a> Frame<'a> {
    fn new(req: &Request, identity: &'a Identity, transport: Transport, omit_opt: bool) -> Self {
        let edns = req.edns.filter(|_| !omit_opt);
        let limit = match (transport, edns) {
            (Transport::Tcp, _) => TCP_SIZE,
            (Transport::Udp, None) => CLASSIC_UDP_SIZE,
            (Transport::Udp, Some(e)) => {
                usize::from(e.udp_size.clamp(CLASSIC_UDP_SIZE as u16, SERVER_UDP_SIZE))
            }
        };
        let nsid = match (&identity.id, edns) {
            (Some(id), Some(Edns { nsid: true, .. })) => Some(id.as_bytes()),
            _ => None,
        };
        let opt_len = match (edns, nsid) {
            (None, _) => 0,
            (Some(_), None) => 11,
            (Some(_), Some(id)) => 15 + id.len().min(512),
        };
        Frame {
            edns,
            limit,
            nsid,
            opt_len,
        }
    }

    /// What the sections may take up to (the OPT record goes after them).
    fn body_limit(&self) -> usize {
        self.limit.saturating_sub(self.opt_len)
    }
}

/// The header fields of one response besides the ID and the counts.
#[derive(Debug, Clone, Copy, Default)]
struct Outline {
    /// Response code (may be extended).
    rcode: u16,
    /// Authoritative answer.
    aa: bool,
    /// Truncated.
    tc: bool,
    /// Do not copy RD.
    clear_rd: bool,
    /// Number of questions.
    qdcount: u16,
    /// Answer, authority, additional counts (without OPT).
    counts: [u16; 3],
}

/// Append the OPT record (when the frame has one) and write the header over
/// the first 12 octets of `out`.
fn finish(out: &mut Vec<u8>, frame: &Frame<'_>, req: &Request, o: Outline) {
    let mut arcount = o.counts[2];
    if let Some(e) = frame.edns {
        write_opt(out, o.rcode, e.dnssec_ok, frame.nsid);
        arcount += 1;
    }
    // Knot DNS and NSD copy the opcode and RD, not CD.
    let copied = if o.clear_rd {
        0x7800
    } else {
        0x7800 | flags::RD
    };
    let mut f = flags::QR | (req.header.flags & copied);
    if o.aa {
        f |= flags::AA;
    }
    if o.tc {
        f |= flags::TC;
    }
    f |= o.rcode & 0xF;
    if let Some(head) = out.get_mut(..12) {
        head[0..2].copy_from_slice(&req.header.id.to_be_bytes());
        head[2..4].copy_from_slice(&f.to_be_bytes());
        head[4..6].copy_from_slice(&o.qdcount.to_be_bytes());
        head[6..8].copy_from_slice(&o.counts[0].to_be_bytes());
        head[8..10].copy_from_slice(&o.counts[1].to_be_bytes());
        head[10..12].copy_from_slice(&arcount.to_be_bytes());
    }
}

/// Where one item of a prepared answer ends, relative to the end of the
/// question, its section and its number of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Offset just past the item, counted from the end of the question.
    end: u32,
    /// 0 answer, 1 authority, 2 additional.
    section: u8,
    /// Records in the item.
    count: u16,
}

/// Encode the response for `plan` into `out`. With `marks`, record where
/// each item ends (for a prepared answer). Returns whether TC was set.
#[allow(clippy::too_many_arguments)]
fn encode(
    plan: &Plan<'_>,
    req: &Request,
    has_question: bool,
    identity: &Identity,
    transport: Transport,
    health: Option<&HealthState>,
    out: &mut Vec<u8>,
    mut marks: Option<&mut Vec<Mark>>,
) -> bool {
    let frame = Frame::new(req, identity, transport, plan.omit_opt);
    let mut w = Writer::new(out, frame.body_limit());
    w.bytes(&[0; 12]);
    let mut qdcount = 0;
    if has_question && !plan.omit_question {
        w.name(req.qname.as_wire(), true);
        w.u16(req.qtype);
        w.u16(req.qclass);
        qdcount = 1;
    }
    let body = w.len();
    let mut counts = [0u16; 3];
    let mut tc = false;
    let sections = plan
        .answer
        .iter()
        .map(|i| (0, i))
        .chain(plan.authority.iter().map(|i| (1, i)))
        .chain(plan.additional.iter().map(|i| (2, i)));
    for (s, item) in sections {
        let mark = w.len();
        let n = write_item(&mut w, item, health);
        if !w.fits() {
            w.truncate(mark);
            if s < 2 || plan.glue_required {
                tc = true;
            }
            break;
        }
        counts[s] += n;
        if let Some(marks) = marks.as_deref_mut() {
            marks.push(Mark {
                end: (w.len() - body) as u32,
                section: s as u8,
                count: n,
            });
        }
    }
    let outline = Outline {
        rcode: plan.rcode,
        aa: plan.aa,
        tc,
        clear_rd: plan.clear_rd,
        qdcount,
        counts,
    };
    finish(out, &frame, req, outline);
    tc
}

/// The OPT record of a response (RFC 6891 6.1.2).
fn write_opt(out: &mut Vec<u8>, code: u16, dnssec_ok: bool, nsid: Option<&[u8]>) {
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&SERVER_UDP_SIZE.to_be_bytes());
    let ext = u32::from(code >> 4) << 24;
    let ttl = ext | if dnssec_ok { 0x8000 } else { 0 };
    out.extend_from_slice(&ttl.to_be_bytes());
    match nsid {
        Some(id) => {
            let id = &id[..id.len().min(512)];
            out.extend_from_slice(&(4 + id.len() as u16).to_be_bytes());
            out.extend_from_slice(&wire::OPT_NSID.to_be_bytes());
            out.extend_from_slice(&(id.len() as u16).to_be_bytes());
            out.extend_from_slice(id);
        }
        None => out.extend_from_slice(&[0, 0]),
    }
}

/// Write one item; returns the number of records written. `health` (not
/// empty) applies to address sets with a pick.
fn write_item(w: &mut Writer<'_>, item: &Item<'_>, health: Option<&HealthState>) -> u16 {
    match item {
        Item::Set { owner, set, pick } => {
            let owner = owner
                .as_ref()
                .map(NameBuf::as_wire)
                .unwrap_or(set.owner.as_wire());
            let Some(pick) = pick else {
                for rdata in &set.rdatas {
                    w.record(owner, set.rtype, class::IN, set.ttl, rdata);
                }
                return set.rdatas.len() as u16;
            };
            let down = health.map_or(&[][..], |h| {
                let mut key = NameBuf::default();
                key.set(set.owner.as_wire());
                key.make_lowercase();
                h.down(key.as_wire())
            });
            let written = rotate::select(
                pick,
                set.rdatas.len(),
                |i| is_down(down, set.rdatas.get(i).unwrap_or_default()),
                |i| {
                    w.record(
                        owner,
                        set.rtype,
                        class::IN,
                        set.ttl,
                        set.rdatas.get(i).unwrap_or_default(),
                    )
                },
            );
            written as u16
        }
        Item::Synth { owner, dname } => {
            let Some(target) = dname_target(owner, dname) else {
                return 0;
            };
            w.record(
                owner.as_wire(),
                rtype::CNAME,
                class::IN,
                dname.ttl,
                target.as_wire(),
            );
            1
        }
        Item::Identity { owner, text } => {
            // One record of 255-octet character-strings (on the stack
            // for any usual identity).
            let mut stack = [0u8; 1024];
            let mut heap = Vec::new();
            let need = text.len() + text.len().div_ceil(255);
            let rdata = match stack.get_mut(..need) {
                Some(rdata) => rdata,
                None => {
                    heap.resize(need, 0);
                    &mut heap[..]
                }
            };
            let mut len = 0;
            for chunk in text.chunks(255) {
                rdata[len] = chunk.len() as u8;
                rdata[len + 1..len + 1 + chunk.len()].copy_from_slice(chunk);
                len += 1 + chunk.len();
            }
            w.record(owner.as_wire(), rtype::TXT, class::CH, 0, rdata);
            1
        }
    }
}

/// Whether the address in `rdata` (A or AAAA) is among `down` (sorted).
fn is_down(down: &[IpAddr], rdata: &[u8]) -> bool {
    if down.is_empty() {
        return false;
    }
    let addr = match rdata.len() {
        4 => <[u8; 4]>::try_from(rdata).map(IpAddr::from),
        16 => <[u8; 16]>::try_from(rdata).map(IpAddr::from),
        _ => return false,
    };
    addr.is_ok_and(|a| down.binary_search(&a).is_ok())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::name::Name;
    use super::super::record::{ParsedZone, Record};
    use super::*;

    /// A record from presentation-ish parts; RDATA given as wire octets.
    pub(in super::super) fn rec(owner: &str, t: u16, rdata: Vec<u8>) -> Record {
        Record {
            owner: Name::parse(owner.as_bytes(), None).unwrap(),
            rtype: t,
            class: class::IN,
            ttl: 300,
            rdata: rdata.into(),
            file: 0,
            line: 1,
        }
    }

    /// The wire form of the name `s`.
    pub(in super::super) fn name(s: &str) -> Vec<u8> {
        Name::parse(s.as_bytes(), None).unwrap().as_wire().to_vec()
    }

    fn soa() -> Vec<u8> {
        let mut r = name("ns1.example.");
        r.extend(name("hostmaster.example."));
        for v in [1u32, 3600, 600, 86400, 60] {
            r.extend(v.to_be_bytes());
        }
        r
    }

    fn zone_set() -> ZoneSet {
        zone_set_with(&crate::fleet::FleetPolicy::default())
    }

    fn zone_set_with(policy: &crate::fleet::FleetPolicy) -> ZoneSet {
        let mut records = vec![
            rec("example.", rtype::SOA, soa()),
            rec("example.", rtype::NS, name("ns1.example.")),
            rec("ns1.example.", rtype::A, vec![192, 0, 2, 53]),
            rec("www.example.", rtype::CNAME, name("web.example.")),
            rec("web.example.", rtype::CNAME, name("fleet.example.")),
            rec("*.wild.example.", rtype::TXT, b"\x03hi!".to_vec()),
            rec("a.b.c.example.", rtype::A, vec![192, 0, 2, 9]),
            rec("sub.example.", rtype::NS, name("ns.sub.example.")),
            rec("ns.sub.example.", rtype::A, vec![192, 0, 2, 77]),
            rec("d.example.", rtype::DNAME, name("example.")),
            rec("loop1.example.", rtype::CNAME, name("loop2.example.")),
            rec("loop2.example.", rtype::CNAME, name("loop1.example.")),
        ];
        for i in 0..60u8 {
            records.push(rec("fleet.example.", rtype::A, vec![198, 51, 100, i]));
        }
        let parsed = ParsedZone {
            origin: Some(Name::parse(b"example.", None).unwrap()),
            files: vec!["example.zone".into()],
            records,
        };
        let zone = Zone::build(parsed, policy).unwrap();
        let mut set = ZoneSet::default();
        set.zones.insert(zone.origin.key(), zone);
        set
    }

    fn no_health() -> ArcSwap<HealthState> {
        ArcSwap::from_pointee(HealthState::default())
    }

    fn query(qname: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut q = vec![
            0xAB,
            0xCD,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            u8::from(edns.is_some()),
        ];
        q.extend(name(qname));
        q.extend(qtype.to_be_bytes());
        q.extend(class::IN.to_be_bytes());
        if let Some(size) = edns {
            q.extend([0, 0, 41]);
            q.extend(size.to_be_bytes());
            q.extend([0, 0, 0, 0, 0, 0]);
        }
        q
    }

    /// (flags, [an, ns, ar], answer types and owners)
    struct Resp {
        flags: u16,
        counts: [u16; 3],
        records: Vec<(Vec<u8>, u16)>,
    }

    fn ask(set: &ZoneSet, q: &[u8], t: Transport) -> Option<Resp> {
        let mut out = Vec::new();
        if !answer(set, &Identity::default(), &no_health(), q, t, &mut out) {
            return None;
        }
        let mut r = wire::Reader::new(&out);
        let h = wire::Header::read(&mut r).unwrap();
        assert_eq!(h.id, 0xABCD);
        let mut n = NameBuf::default();
        for _ in 0..h.qdcount {
            r.name(&mut n).unwrap();
            r.take(4).unwrap();
        }
        let mut records = Vec::new();
        for _ in 0..(h.ancount + h.nscount + h.arcount) {
            r.name(&mut n).unwrap();
            let t = r.u16().unwrap();
            r.take(6).unwrap();
            let len = r.u16().unwrap();
            r.take(usize::from(len)).unwrap();
            let mut lower = n.clone();
            lower.make_lowercase();
            records.push((lower.as_wire().to_vec(), t));
        }
        assert_eq!(r.remaining(), 0, "response has trailing octets");
        Some(Resp {
            flags: h.flags,
            counts: [h.ancount, h.nscount, h.arcount],
            records,
        })
    }

    fn udp(set: &ZoneSet, qname: &str, qtype: u16) -> Resp {
        ask(set, &query(qname, qtype, None), Transport::Udp).unwrap()
    }

    /// Every name and type of the zone, in mixed case, with and without
    /// EDNS, over UDP and TCP: the prepared answers are the octets the
    /// lookup and encoder build per query.
    #[test]
    fn prepared_answers_equal_built_ones() {
        // Zone order, so that the two paths' answers can be compared.
        let off = crate::fleet::FleetPolicy::parse(
            b"[[zone]]\norigin = \"example.\"\nrotation = \"off\"\n",
            std::path::Path::new("bundle.toml"),
        )
        .unwrap();
        let set = zone_set_with(&off);
        let zone = set.zones.values().next().unwrap();
        let mut checked = 0;
        for node in zone.nodes.values() {
            for rrset in &node.rrsets {
                let mut owner = rrset.owner.to_string();
                owner = owner.replacen('e', "E", 1);
                for edns in [None, Some(512), Some(1232), Some(4096)] {
                    for t in [Transport::Udp, Transport::Tcp] {
                        let q = query(&owner, rrset.rtype, edns);
                        let health = no_health();
                        let id = Identity {
                            id: Some("pop".into()),
                        };
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        answer_with(&set, &id, &health, &q, t, &mut a, true);
                        answer_with(&set, &id, &health, &q, t, &mut b, false);
                        assert_eq!(a, b, "{owner} {} {edns:?} {t:?}", rrset.rtype);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 80);
    }

    #[test]
    fn nxdomain_carries_soa() {
        let set = zone_set();
        let r = udp(&set, "nope.example.", rtype::A);
        assert_eq!(r.flags & 0xF, rcode::NXDOMAIN);
        assert_ne!(r.flags & flags::AA, 0);
        assert_eq!(r.counts, [0, 1, 0]);
        assert_eq!(r.records[0].1, rtype::SOA);
    }

    #[test]
    fn empty_non_terminal_is_nodata() {
        let set = zone_set();
        let r = udp(&set, "B.c.example.", rtype::A);
        assert_eq!(r.flags & 0xF, rcode::NOERROR);
        assert_eq!(r.counts, [0, 1, 0]);
    }

    #[test]
    fn cname_chain_is_followed_inside_the_zone() {
        let set = zone_set();
        let r = ask(
            &set,
            &query("WWW.example.", rtype::A, Some(4096)),
            Transport::Udp,
        )
        .unwrap();
        assert_eq!(r.counts[0], 62);
        assert_eq!(r.records[0], (name("www.example."), rtype::CNAME));
        assert_eq!(r.records[1], (name("web.example."), rtype::CNAME));
        assert_eq!(r.records[2], (name("fleet.example."), rtype::A));
    }

    #[test]
    fn cname_loop_ends() {
        let set = zone_set();
        let r = udp(&set, "loop1.example.", rtype::A);
        assert_eq!(r.counts[0], 2);
    }

    #[test]
    fn wildcard_synthesises_the_query_name() {
        let set = zone_set();
        let r = udp(&set, "x.y.wild.example.", rtype::TXT);
        assert_eq!(r.records[0], (name("x.y.wild.example."), rtype::TXT));
        // The wildcard does not apply to names that exist below its parent.
        let r = udp(&set, "zz.c.example.", rtype::TXT);
        assert_eq!(r.flags & 0xF, rcode::NXDOMAIN);
    }

    #[test]
    fn referral_is_not_authoritative_and_has_glue() {
        let set = zone_set();
        let r = udp(&set, "host.sub.example.", rtype::A);
        assert_eq!(r.flags & flags::AA, 0);
        assert_eq!(r.counts, [0, 1, 1]);
        assert_eq!(r.records[0], (name("sub.example."), rtype::NS));
        assert_eq!(r.records[1], (name("ns.sub.example."), rtype::A));
    }

    #[test]
    fn dname_synthesises_a_cname() {
        let set = zone_set();
        let r = udp(&set, "ns1.d.example.", rtype::A);
        assert_eq!(r.records[0], (name("d.example."), rtype::DNAME));
        assert_eq!(r.records[1], (name("ns1.d.example."), rtype::CNAME));
        assert_eq!(r.records[2], (name("ns1.example."), rtype::A));
    }

    #[test]
    fn large_rrset_truncates_over_udp_only() {
        let set = zone_set();
        let r = udp(&set, "fleet.example.", rtype::A);
        assert_ne!(r.flags & flags::TC, 0);
        assert_eq!(r.counts[0], 0, "the RRset is dropped whole");
        let r = ask(
            &set,
            &query("fleet.example.", rtype::A, None),
            Transport::Tcp,
        )
        .unwrap();
        assert_eq!(r.flags & flags::TC, 0);
        assert_eq!(r.counts[0], 60);
    }

    #[test]
    fn out_of_zone_is_refused() {
        let set = zone_set();
        let r = udp(&set, "example.org.", rtype::A);
        assert_eq!(r.flags & 0xF, rcode::REFUSED);
        assert_eq!(r.flags & flags::AA, 0);
    }

    #[test]
    fn staged_errors() {
        let set = zone_set();
        // Too short, and responses: nothing sent.
        assert!(ask(&set, &[0xAB, 0xCD, 0], Transport::Udp).is_none());
        let mut q = query("example.", rtype::A, None);
        q[2] |= 0x80;
        assert!(ask(&set, &q, Transport::Udp).is_none());
        // Unknown opcode: NOTIMP.
        let mut q = query("example.", rtype::A, None);
        q[2] = 0x2 << 3;
        assert_eq!(
            ask(&set, &q, Transport::Udp).unwrap().flags & 0xF,
            rcode::NOTIMP
        );
        // Trailing garbage and two questions: FORMERR.
        let mut q = query("example.", rtype::A, None);
        q.push(0);
        assert_eq!(
            ask(&set, &q, Transport::Udp).unwrap().flags & 0xF,
            rcode::FORMERR
        );
        let mut q = query("example.", rtype::A, None);
        q[5] = 2;
        assert_eq!(
            ask(&set, &q, Transport::Udp).unwrap().flags & 0xF,
            rcode::FORMERR
        );
        // EDNS version 1: BADVERS (extended rcode 1 in the OPT TTL).
        let mut q = query("example.", rtype::A, Some(1232));
        let n = q.len();
        q[n - 5] = 1;
        let mut out = Vec::new();
        assert!(answer(
            &set,
            &Identity::default(),
            &no_health(),
            &q,
            Transport::Udp,
            &mut out
        ));
        let n = out.len();
        assert_eq!(out[n - 11 + 5], 1, "extended rcode BADVERS");
    }
}
