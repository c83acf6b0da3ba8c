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

use std::collections::HashMap;

use crate::engine::{Identity, Transport};

use super::name::NameKey;
use super::record::{class, rtype};
use super::wire::{self, Edns, NameBuf, Request, Writer, flags, rcode};
use super::zone::{Node, RRset, Zone, name_len};

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
    pub zones: HashMap<NameKey, Zone>,
}

impl ZoneSet {
    /// The deepest zone containing the lowercased wire name `key`. A DS
    /// query for a zone's apex belongs to the parent side of the cut
    /// (RFC 4035 3.1.4.1), so the parent zone answers it when it is served.
    fn find(&self, key: &[u8], offsets: &[u8], qtype: u16) -> Option<&Zone> {
        let mut zones = offsets
            .iter()
            .filter_map(|&at| self.zones.get(key.get(usize::from(at)..)?).map(|z| (at, z)));
        let (at, deepest) = zones.next()?;
        if qtype == rtype::DS && at == 0 {
            return Some(zones.next().map_or(deepest, |(_, parent)| parent));
        }
        Some(deepest)
    }
}

/// One record or RRset to write.
#[derive(Debug)]
enum Item<'z> {
    /// A zone RRset, written with `owner` (a query name, for wildcard and
    /// case preservation) or its own owner.
    Set {
        /// Owner to write instead of the RRset's own.
        owner: Option<NameBuf>,
        /// The RRset.
        set: &'z RRset,
    },
    /// A record made for this answer (DNAME's CNAME, CHAOS TXT).
    Synth {
        /// Owner name.
        owner: NameBuf,
        /// Type.
        rtype: u16,
        /// Class.
        class: u16,
        /// TTL.
        ttl: u32,
        /// RDATA, uncompressed.
        rdata: Vec<u8>,
    },
}

/// What goes into a response before it is encoded.
#[derive(Debug, Default)]
struct Plan<'z> {
    /// Response code (may be extended, above 15).
    rcode: u16,
    /// Authoritative answer.
    aa: bool,
    /// Answer section.
    answer: Vec<Item<'z>>,
    /// Authority section.
    authority: Vec<Item<'z>>,
    /// Additional section.
    additional: Vec<Item<'z>>,
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

/// Answer one raw query. Returns false when nothing must be sent.
pub fn answer(
    zones: &ZoneSet,
    identity: &Identity,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
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
    let respond = |plan: Plan<'_>, req: &Request, out: &mut Vec<u8>| {
        encode(&plan, req, has_question, identity, transport, out);
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
            return respond(plan, &req, out);
        }
    }
    // Stage 3: exactly one well-formed question; FORMERR carries no OPT.
    if decoded.is_err() {
        let plan = Plan {
            omit_opt: true,
            ..error(rcode::FORMERR)
        };
        return respond(plan, &req, out);
    }
    #[cfg(feature = "fault-injection")]
    inject_fault(&req.qname);
    // Stage 4: RFC 6891 6.1.3: versions above 0 get BADVERS.
    if req.edns.is_some_and(|e| e.version > 0) {
        return respond(error(rcode::BADVERS), &req, out);
    }
    // Stage 5: CHAOS identity queries; other classes than IN (or ANY,
    // answered as IN) are refused.
    match req.qclass {
        class::CH => return respond(chaos(&req, identity), &req, out),
        class::IN | class::ANY => {}
        _ => return respond(error(rcode::REFUSED), &req, out),
    }
    // Zone transfers are not offered.
    if matches!(req.qtype, rtype::AXFR | rtype::IXFR) {
        let plan = Plan {
            clear_rd: true,
            ..error(rcode::REFUSED)
        };
        return respond(plan, &req, out);
    }
    // Stage 6: the zone.
    let mut key = req.qname.clone();
    key.make_lowercase();
    let (offsets, count) = label_offsets(key.as_wire());
    let Some(zone) = zones.find(key.as_wire(), &offsets[..count], req.qtype) else {
        return respond(error(rcode::REFUSED), &req, out);
    };
    // Stage 7: the lookup.
    let plan = resolve(zone, &req.qname, req.qtype);
    respond(plan, &req, out)
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
fn chaos<'z>(req: &Request, identity: &Identity) -> Plan<'z> {
    let mut name = req.qname.clone();
    name.make_lowercase();
    let asks_identity = matches!(
        name.as_wire(),
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00"
    );
    match (&identity.id, asks_identity && req.qtype == rtype::TXT) {
        (Some(id), true) => {
            let mut rdata = Vec::with_capacity(id.len() + 1);
            for chunk in id.as_bytes().chunks(255) {
                rdata.push(chunk.len() as u8);
                rdata.extend_from_slice(chunk);
            }
            Plan {
                answer: vec![Item::Synth {
                    owner: req.qname.clone(),
                    rtype: rtype::TXT,
                    class: class::CH,
                    ttl: 0,
                    rdata,
                }],
                ..Plan::default()
            }
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
            let mut star = Vec::with_capacity(key.len());
            star.extend_from_slice(b"\x01*");
            star.extend_from_slice(suffix(i + 1));
            return match zone.node(&star) {
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
                });
                let Some(target) = dname_target(&name, dname) else {
                    // RFC 6672 2.2: the substituted name is too long.
                    plan.rcode = rcode::YXDOMAIN;
                    break;
                };
                let mut cname = Vec::new();
                cname.extend_from_slice(target.as_wire());
                plan.answer.push(Item::Synth {
                    owner: name.clone(),
                    rtype: rtype::CNAME,
                    class: class::IN,
                    ttl: dname.ttl,
                    rdata: cname,
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
                        plan.answer.push(Item::Set { owner, set });
                    }
                } else if let Some(set) = node.get(qtype) {
                    plan.answer.push(Item::Set { owner, set });
                } else if let Some(cname) = node.get(rtype::CNAME) {
                    plan.answer.push(Item::Set { owner, set: cname });
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
        Item::Set { owner: Some(o), .. } | Item::Synth { owner: o, .. } => {
            o.as_wire().eq_ignore_ascii_case(lower.as_wire())
        }
        Item::Set { owner: None, set } => set.owner.as_wire().eq_ignore_ascii_case(lower.as_wire()),
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
    let mut wire = Vec::with_capacity(total);
    wire.extend_from_slice(&name.as_wire()[..prefix]);
    wire.extend_from_slice(target);
    let mut out = NameBuf::default();
    out.set(&wire);
    Some(out)
}

/// RFC 2308 3: the SOA in the authority section of a negative answer.
fn push_soa<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    plan.authority.push(Item::Set {
        owner: None,
        set: &zone.negative_soa,
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
    });
    for rdata in &ns.rdatas {
        let Some(len) = name_len(rdata) else { continue };
        let target = &rdata[..len];
        if let Ok(t) = super::name::Name::from_wire(target)
            && t.is_at_or_below(&ns.owner)
        {
            plan.glue_required = true;
        }
    }
}

/// Additional section: A and AAAA of the names that NS, MX and SRV records
/// of the answer and authority sections point to, when the zone has them.
fn additional<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    let mut extra: Vec<Item<'z>> = Vec::new();
    for item in plan.answer.iter().chain(plan.authority.iter()) {
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
                    });
                }
            }
        }
    }
    plan.additional = extra;
}

/// Encode the response for `plan` into `out`.
fn encode(
    plan: &Plan<'_>,
    req: &Request,
    has_question: bool,
    identity: &Identity,
    transport: Transport,
    out: &mut Vec<u8>,
) {
    let edns = req.edns.filter(|_| !plan.omit_opt);
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
    let mut w = Writer::new(out, limit.saturating_sub(opt_len));
    w.bytes(&[0; 12]);
    let mut qdcount = 0;
    if has_question && !plan.omit_question {
        w.name(req.qname.as_wire(), true);
        w.u16(req.qtype);
        w.u16(req.qclass);
        qdcount = 1;
    }
    let mut counts = [0u16; 3];
    let mut tc = false;
    'sections: for (s, section) in [&plan.answer, &plan.authority, &plan.additional]
        .into_iter()
        .enumerate()
    {
        for item in section.iter() {
            let mark = w.len();
            let n = write_item(&mut w, item);
            if !w.fits() {
                w.truncate(mark);
                if s < 2 || plan.glue_required {
                    tc = true;
                }
                break 'sections;
            }
            counts[s] += n;
        }
    }
    w.set_limit(limit);
    let mut arcount = counts[2];
    if let Some(e) = edns {
        write_opt(&mut w, plan.rcode, e.dnssec_ok, nsid);
        arcount += 1;
    }
    // Knot DNS and NSD copy the opcode and RD, not CD.
    let copied = if plan.clear_rd {
        0x7800
    } else {
        0x7800 | flags::RD
    };
    let mut f = flags::QR | (req.header.flags & copied);
    if plan.aa {
        f |= flags::AA;
    }
    if tc {
        f |= flags::TC;
    }
    f |= plan.rcode & 0xF;
    let mut head = [0u8; 12];
    head[0..2].copy_from_slice(&req.header.id.to_be_bytes());
    head[2..4].copy_from_slice(&f.to_be_bytes());
    head[4..6].copy_from_slice(&(qdcount as u16).to_be_bytes());
    head[6..8].copy_from_slice(&counts[0].to_be_bytes());
    head[8..10].copy_from_slice(&counts[1].to_be_bytes());
    head[10..12].copy_from_slice(&arcount.to_be_bytes());
    for (i, b) in head.iter().enumerate() {
        w.patch_u8(i, *b);
    }
}

/// The OPT record of a response (RFC 6891 6.1.2).
fn write_opt(w: &mut Writer<'_>, code: u16, dnssec_ok: bool, nsid: Option<&[u8]>) {
    w.bytes(&[0]);
    w.u16(rtype::OPT);
    w.u16(SERVER_UDP_SIZE);
    let ext = u32::from(code >> 4) << 24;
    w.u32(ext | if dnssec_ok { 0x8000 } else { 0 });
    match nsid {
        Some(id) => {
            let id = &id[..id.len().min(512)];
            w.u16(4 + id.len() as u16);
            w.u16(wire::OPT_NSID);
            w.u16(id.len() as u16);
            w.bytes(id);
        }
        None => w.u16(0),
    }
}

/// Write one item; returns the number of records written.
fn write_item(w: &mut Writer<'_>, item: &Item<'_>) -> u16 {
    match item {
        Item::Set { owner, set } => {
            let owner = owner
                .as_ref()
                .map(NameBuf::as_wire)
                .unwrap_or(set.owner.as_wire());
            for rdata in &set.rdatas {
                w.record(owner, set.rtype, class::IN, set.ttl, rdata);
            }
            set.rdatas.len() as u16
        }
        Item::Synth {
            owner,
            rtype,
            class,
            ttl,
            rdata,
        } => {
            w.record(owner.as_wire(), *rtype, *class, *ttl, rdata);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::name::Name;
    use super::super::record::{ParsedZone, Record};
    use super::*;

    /// A record from presentation-ish parts; RDATA given as wire octets.
    fn rec(owner: &str, t: u16, rdata: Vec<u8>) -> Record {
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

    fn name(s: &str) -> Vec<u8> {
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
        let zone = Zone::build(parsed).unwrap();
        let mut set = ZoneSet::default();
        set.zones.insert(zone.origin.key(), zone);
        set
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
        if !answer(set, &Identity::default(), q, t, &mut out) {
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
            &q,
            Transport::Udp,
            &mut out
        ));
        let n = out.len();
        assert_eq!(out[n - 11 + 5], 1, "extended rcode BADVERS");
    }
}
