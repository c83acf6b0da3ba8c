//! The hickory engine's answer path: staged checks on the decoded request,
//! the lookup (RFC 1034 4.3.2, RFC 4592 wildcards, RFC 6672 DNAME), and
//! the response plan that [`super::emit`] encodes.
//!
//! Stages, in order, each of which may end the request:
//! 1. shorter than a header, or QR=1: no answer ([`super::request`]);
//! 2. opcode other than QUERY: NOTIMP (RFC 8906 3.1.3); NOTIFY: REFUSED;
//! 3. not one question, or malformed: FORMERR;
//! 4. EDNS version above 0: BADVERS (RFC 6891 6.1.3);
//! 5. CHAOS: `id.server`/`hostname.bind` with the identity, else REFUSED;
//! 6. classes other than IN and ANY, zone transfers, names in no served
//!    zone: REFUSED;
//! 7. the lookup.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::engine::{Identity, Transport};
use crate::fleet::HealthState;

use super::emit;
use super::request::{self, Question, Request};
use super::spread::Turn;
use super::text::NAME_MAX;
use super::tree::{Map, Node, RSet, Zone, t};

/// How many CNAME/DNAME steps one answer follows.
const CHAIN_LIMIT: usize = 16;
/// RFC 1996 NOTIFY.
const OPCODE_NOTIFY: u16 = 4;
/// RFC 2136 UPDATE.
const OPCODE_UPDATE: u16 = 5;
/// The Internet class.
const CLASS_IN: u16 = 1;
/// The CHAOS class.
const CLASS_CH: u16 = 3;
/// QCLASS ANY.
const CLASS_ANY: u16 = 255;

/// Response codes used here (values above 15 go in the OPT record).
pub mod rcode {
    /// NOERROR.
    pub const NOERROR: u16 = 0;
    /// FORMERR.
    pub const FORMERR: u16 = 1;
    /// NXDOMAIN.
    pub const NXDOMAIN: u16 = 3;
    /// NOTIMP.
    pub const NOTIMP: u16 = 4;
    /// REFUSED.
    pub const REFUSED: u16 = 5;
    /// YXDOMAIN (RFC 6672 2.2).
    pub const YXDOMAIN: u16 = 6;
    /// BADVERS (RFC 6891).
    pub const BADVERS: u16 = 16;
}

/// Every zone served, keyed by apex (lowercased wire form).
#[derive(Debug, Default)]
pub struct Zones {
    /// The zones.
    pub by_apex: Map<Box<[u8]>, Zone>,
}

impl Zones {
    /// The deepest served zone holding `name`. A DS question for a zone's
    /// apex belongs to the parent side of the cut (RFC 4035 3.1.4.1), so
    /// the parent zone answers it when it is served too.
    fn find(&self, name: &Lookup, qtype: u16) -> Option<&Zone> {
        let mut zones = (1..=name.labels)
            .rev()
            .filter_map(|keep| self.by_apex.get(name.suffix(keep)).map(|z| (keep, z)));
        let (keep, deepest) = zones.next()?;
        if qtype == t::DS && keep == name.labels {
            return Some(zones.next().map_or(deepest, |(_, parent)| parent));
        }
        Some(deepest)
    }
}

/// A name ready for lookups: its wire form lowercased, with where each
/// label starts, so that every ancestor is a slice of it (no allocation).
#[derive(Clone, Copy)]
pub struct Lookup {
    /// The lowercased wire form; the first `len` octets.
    lower: [u8; NAME_MAX],
    /// Its length.
    len: usize,
    /// Offset of each label, leftmost first.
    starts: [u8; NAME_MAX / 2 + 1],
    /// Number of labels, the root not counted.
    labels: usize,
}

impl Lookup {
    /// The lookup form of the uncompressed wire name `wire` (a checked
    /// name from a request or the zone); `None` if it is not one.
    pub fn new(wire: &[u8]) -> Option<Lookup> {
        let mut l = Lookup {
            lower: [0; NAME_MAX],
            len: 0,
            starts: [0; NAME_MAX / 2 + 1],
            labels: 0,
        };
        let mut at = 0;
        loop {
            let len = usize::from(*wire.get(at)?);
            if len == 0 {
                break;
            }
            if len > 63 {
                return None;
            }
            *l.starts.get_mut(l.labels)? = at as u8;
            l.labels += 1;
            at += 1 + len;
        }
        let whole = wire.get(..=at).filter(|w| w.len() <= NAME_MAX)?;
        l.lower[..whole.len()].copy_from_slice(whole);
        l.lower[..whole.len()].make_ascii_lowercase();
        l.len = whole.len();
        Some(l)
    }

    /// The lowercased wire form.
    pub fn lower(&self) -> &[u8] {
        &self.lower[..self.len]
    }

    /// The ancestor made of the last `keep` labels (the root for 0, the
    /// name itself for all of them).
    pub fn suffix(&self, keep: usize) -> &[u8] {
        let from = match self.labels.checked_sub(keep) {
            Some(i) if i < self.labels => usize::from(self.starts[i]),
            _ => self.len - 1,
        };
        &self.lower[from..self.len]
    }

    /// Whether the name is `apex` (lowercased wire, `apex_labels` labels)
    /// or below it.
    fn within(&self, apex: &[u8], apex_labels: usize) -> bool {
        self.labels >= apex_labels && self.suffix(apex_labels) == apex
    }
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.lower())
    }
}

/// Number of labels of a checked uncompressed wire name.
fn labels_of(wire: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        n += 1;
        at += 1 + usize::from(len);
    }
    n
}

/// The health of fleet addresses as one query sees it: loaded from the
/// engine at most once, and only when an address RRset with a policy goes
/// into the answer section.
pub struct Health<'h> {
    /// The engine's live health state.
    live: &'h ArcSwap<HealthState>,
    /// What this query loaded, once it needed it.
    seen: OnceCell<Guard<Arc<HealthState>>>,
}

impl<'h> Health<'h> {
    /// Nothing loaded yet.
    pub fn new(live: &'h ArcSwap<HealthState>) -> Health<'h> {
        Health {
            live,
            seen: OnceCell::new(),
        }
    }

    /// The down addresses of the RRsets owned by `owner` (wire form, any
    /// case).
    fn down(&self, owner: &[u8]) -> &[IpAddr] {
        let state = self.seen.get_or_init(|| self.live.load());
        if state.is_empty() {
            return &[];
        }
        match Lookup::new(owner) {
            Some(key) => state.down(key.lower()),
            None => &[],
        }
    }
}

impl std::fmt::Debug for Health<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("loaded", &self.seen.get().is_some())
            .finish()
    }
}

/// One entry of a response section.
#[derive(Debug)]
pub enum Part<'a> {
    /// A zone RRset, with the owner to write instead of its own (the
    /// query name, for wildcards and case).
    Set {
        /// The owner to write, in wire form.
        owner: Option<Cow<'a, [u8]>>,
        /// The RRset.
        set: &'a RSet,
        /// For an address RRset of the answer section with a fleet policy:
        /// which of its records this response carries, in which order.
        turn: Option<Turn<'a>>,
    },
    /// A record made for this answer.
    Made {
        /// Owner in wire form.
        owner: Vec<u8>,
        /// Type.
        rtype: u16,
        /// Class.
        class: u16,
        /// TTL.
        ttl: u32,
        /// The data.
        rdata: MadeData,
    },
}

impl Part<'_> {
    /// The owner this part writes.
    fn owner(&self) -> &[u8] {
        match self {
            Part::Set { owner: Some(o), .. } => o,
            Part::Set { set, .. } => &set.owner,
            Part::Made { owner, .. } => owner,
        }
    }
}

/// Data of a made record.
#[derive(Debug)]
pub enum MadeData {
    /// A CNAME target (from DNAME substitution), wire form.
    Name(Vec<u8>),
    /// Raw RDATA.
    Raw(Vec<u8>),
}

/// The response before encoding.
#[derive(Debug, Default)]
pub struct Plan<'a> {
    /// Response code, possibly extended.
    pub rcode: u16,
    /// AA flag.
    pub aa: bool,
    /// Answer section.
    pub answer: Vec<Part<'a>>,
    /// Authority section.
    pub authority: Vec<Part<'a>>,
    /// Additional section.
    pub additional: Vec<Part<'a>>,
    /// A referral whose name servers lie inside the delegation: dropping
    /// their addresses must set TC.
    pub glue_required: bool,
    /// Send no question (NSD's bare NOTIFY and UPDATE errors).
    pub omit_question: bool,
    /// Send no OPT even when the request had one.
    pub omit_opt: bool,
    /// Do not copy RD (zone transfer refusals).
    pub clear_rd: bool,
}

fn only(code: u16) -> Plan<'static> {
    Plan {
        rcode: code,
        ..Plan::default()
    }
}

/// Answer one raw query into `out`; false when nothing is to be sent.
pub fn answer(
    zones: &Zones,
    health: &ArcSwap<HealthState>,
    identity: &Identity,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let Some(req) = request::decode(query) else {
        return false;
    };
    #[cfg(feature = "fault-injection")]
    query_fault(&req);
    let health = Health::new(health);
    let plan = decide(zones, &health, identity, &req);
    emit::encode(&plan, &req, identity, transport, out);
    true
}

/// DESIGN.md's query faults, built only with `fault-injection`: a first
/// label `crash-hickory` aborts the process, `hang-hickory` spins forever.
#[cfg(feature = "fault-injection")]
fn query_fault(req: &Request) {
    let Some(wire) = req.question.as_ref().map(|q| q.wire.as_bytes()) else {
        return;
    };
    let len = usize::from(wire.first().copied().unwrap_or(0));
    let first = wire.get(1..1 + len).unwrap_or_default();
    if first.eq_ignore_ascii_case(b"crash-hickory") {
        eprintln!("fault injection: crash-hickory");
        std::process::abort();
    }
    if first.eq_ignore_ascii_case(b"hang-hickory") {
        eprintln!("fault injection: hang-hickory");
        loop {
            std::hint::spin_loop();
        }
    }
}

/// Stages 2 to 7.
fn decide<'a>(
    zones: &'a Zones,
    health: &'a Health<'_>,
    identity: &Identity,
    req: &'a Request,
) -> Plan<'a> {
    match req.opcode() {
        0 => {}
        // NOTIFY is refused and UPDATE not implemented, as NSD answers
        // them: the bare header, no question, no OPT.
        opcode @ (OPCODE_NOTIFY | OPCODE_UPDATE) => {
            return Plan {
                omit_question: true,
                omit_opt: true,
                ..only(if opcode == OPCODE_NOTIFY {
                    rcode::REFUSED
                } else {
                    rcode::NOTIMP
                })
            };
        }
        // RFC 8906 3.1.3: other opcodes are not implemented.
        _ => return only(rcode::NOTIMP),
    }
    let question = match (&req.malformed, &req.question) {
        (None, Some(q)) => q,
        // FORMERR carries no OPT.
        _ => {
            return Plan {
                omit_opt: true,
                ..only(rcode::FORMERR)
            };
        }
    };
    if req.edns.is_some_and(|e| e.version > 0) {
        return only(rcode::BADVERS);
    }
    let Some(name) = Lookup::new(question.wire.as_bytes()) else {
        return only(rcode::FORMERR);
    };
    match question.qclass {
        CLASS_CH => return chaos(question, &name, identity),
        // ANY is answered as IN.
        CLASS_IN | CLASS_ANY => {}
        _ => return only(rcode::REFUSED),
    }
    // Zone transfers are not offered; Knot DNS and NSD clear RD here.
    if matches!(question.qtype, t::AXFR | t::IXFR) {
        return Plan {
            clear_rd: true,
            ..only(rcode::REFUSED)
        };
    }
    let Some(zone) = zones.find(&name, question.qtype) else {
        return only(rcode::REFUSED);
    };
    let mut walk = Walk {
        zone,
        health,
        qtype: question.qtype,
        plan: Plan {
            aa: true,
            ..Plan::default()
        },
    };
    walk.chain(Cow::Borrowed(question.wire.as_bytes()), name);
    walk.additional();
    walk.plan
}

/// CHAOS TXT `id.server` and `hostname.bind` (as Knot DNS and NSD answer
/// them), REFUSED otherwise or with no identity set.
fn chaos<'a>(q: &Question, name: &Lookup, identity: &Identity) -> Plan<'a> {
    let lower = name.lower();
    let named = lower == b"\x02id\x06server\x00" || lower == b"\x08hostname\x04bind\x00";
    match (&identity.id, named && q.qtype == t::TXT) {
        (Some(id), true) => {
            let mut rdata = Vec::with_capacity(id.len() + 2);
            for piece in id.as_bytes().chunks(255) {
                rdata.push(piece.len() as u8);
                rdata.extend_from_slice(piece);
            }
            Plan {
                answer: vec![Part::Made {
                    owner: q.wire.as_bytes().to_vec(),
                    rtype: t::TXT,
                    class: 3,
                    ttl: 0,
                    rdata: MadeData::Raw(rdata),
                }],
                ..Plan::default()
            }
        }
        _ => only(rcode::REFUSED),
    }
}

/// Where the descent of RFC 1034 4.3.2 step 3 stops for one name.
enum Landing<'z> {
    /// The name exists, or a wildcard stands for it.
    Node(Node<'z>),
    /// The name is at or below a delegation.
    Cut(Node<'z>),
    /// An ancestor's DNAME rewrites the name.
    Dname(&'z RSet),
    /// No such name.
    Nowhere,
}

/// One answer being built in one zone: the chain of names it follows and
/// the sections it fills.
struct Walk<'a, 'h> {
    /// The zone answering.
    zone: &'a Zone,
    /// Health, read on first need.
    health: &'a Health<'h>,
    /// The question's type.
    qtype: u16,
    /// What the response will say.
    plan: Plan<'a>,
}

impl<'a> Walk<'a, '_> {
    /// Descend from the apex to `name`, one label at a time.
    fn land(&self, name: &Lookup) -> Landing<'a> {
        let zone = self.zone;
        let top = zone.origin_labels;
        let Some(apex) = zone.node(&zone.apex) else {
            return Landing::Nowhere;
        };
        if name.labels == top {
            return Landing::Node(apex);
        }
        if let Some(d) = apex.get(t::DNAME) {
            return Landing::Dname(d);
        }
        for depth in top + 1..=name.labels {
            let last = depth == name.labels;
            let Some(node) = zone.node(name.suffix(depth)) else {
                // RFC 4592 3.3.1: the source of synthesis is `*.` + the
                // closest encloser, the deepest existing ancestor.
                return match wildcard(zone, name.suffix(depth - 1)) {
                    Some(n) => Landing::Node(n),
                    None => Landing::Nowhere,
                };
            };
            // RFC 4035 3.1.4.1: the DS of a delegation is the parent's.
            if node.cut && !(last && self.qtype == t::DS) {
                return Landing::Cut(node);
            }
            if last {
                return Landing::Node(node);
            }
            if let Some(d) = node.get(t::DNAME) {
                return Landing::Dname(d);
            }
        }
        Landing::Nowhere
    }

    /// Answer for `written` (the name as it goes into the response) and
    /// every name a CNAME or DNAME leads to inside the zone.
    fn chain(&mut self, mut written: Cow<'a, [u8]>, mut name: Lookup) {
        for step in 0..CHAIN_LIMIT {
            let next = match self.land(&name) {
                Landing::Nowhere => {
                    self.plan.rcode = rcode::NXDOMAIN;
                    self.negative();
                    return;
                }
                Landing::Cut(cut) => {
                    if step == 0 {
                        self.plan.aa = false;
                    }
                    self.referral(cut);
                    return;
                }
                Landing::Dname(dname) => match self.rename(&written, dname) {
                    Some(target) => target,
                    None => return,
                },
                Landing::Node(node) => match self.at_node(&written, node) {
                    Some(target) => Cow::Borrowed(target),
                    None => return,
                },
            };
            let Some(lookup) = Lookup::new(&next) else {
                return;
            };
            if !self.goes_on(&lookup) {
                return;
            }
            written = next;
            name = lookup;
        }
    }

    /// The data of an existing node (or the wildcard standing for the
    /// name); returns the CNAME target to follow, if any.
    fn at_node(&mut self, written: &Cow<'a, [u8]>, node: Node<'a>) -> Option<&'a [u8]> {
        let owner = Some(written.clone());
        if self.qtype == t::ANY {
            // RFC 8482 4.1: one RRset; Knot DNS sends the one of the
            // lowest type.
            match node.rrsets.iter().min_by_key(|s| s.rtype) {
                Some(set) => self.answer_with(owner, set),
                None => self.negative(),
            }
            return None;
        }
        if let Some(set) = node.get(self.qtype) {
            self.answer_with(owner, set);
            return None;
        }
        let Some(cname) = node.get(t::CNAME) else {
            self.negative();
            return None;
        };
        self.answer_with(owner, cname);
        cname.rdata(0)
    }

    /// RFC 6672 2.2: the DNAME, the CNAME it synthesises for `written`,
    /// and that CNAME's target to follow (unless the question is for a
    /// CNAME: Knot DNS and NSD stop there). YXDOMAIN when the target
    /// would exceed 255 octets.
    fn rename(&mut self, written: &[u8], dname: &'a RSet) -> Option<Cow<'a, [u8]>> {
        self.answer_with(None, dname);
        let Some(target) = substitute(written, dname) else {
            self.plan.rcode = rcode::YXDOMAIN;
            return None;
        };
        self.plan.answer.push(Part::Made {
            owner: written.to_vec(),
            rtype: t::CNAME,
            class: 1,
            ttl: dname.ttl,
            rdata: MadeData::Name(target.clone()),
        });
        (self.qtype != t::CNAME).then_some(Cow::Owned(target))
    }

    /// Whether the chain goes on to `target`: only inside the zone, and
    /// never back to a name the answer already holds (a loop).
    fn goes_on(&self, target: &Lookup) -> bool {
        target.within(&self.zone.apex, self.zone.origin_labels)
            && !self
                .plan
                .answer
                .iter()
                .any(|p| p.owner().eq_ignore_ascii_case(target.lower()))
    }

    /// Put `set` in the answer section; an address RRset with a fleet
    /// policy counts one more response and takes its turn (reading the
    /// health state, once per query, only here).
    fn answer_with(&mut self, owner: Option<Cow<'a, [u8]>>, set: &'a RSet) {
        let health = self.health;
        let turn = set
            .spread
            .as_ref()
            .map(|spread| Turn::take(spread, health.down(&set.owner)));
        self.plan.answer.push(Part::Set { owner, set, turn });
    }

    /// RFC 2308 2.1 and 2.2: NXDOMAIN and NODATA carry the SOA.
    fn negative(&mut self) {
        self.plan.authority.push(Part::Set {
            owner: None,
            set: &self.zone.negative_soa,
            turn: None,
        });
    }

    /// RFC 1034 4.3.2 3b: the delegation's NS. The zones served are not
    /// signed, so like Knot DNS and NSD no DS goes with it, even when DO
    /// is set (RFC 4035 3.1.4 asks for DS and its RRSIGs from signed
    /// zones).
    fn referral(&mut self, cut: Node<'a>) {
        let Some(ns) = cut.get(t::NS) else {
            return;
        };
        self.plan.authority.push(Part::Set {
            owner: None,
            set: ns,
            turn: None,
        });
        let Some(owner) = Lookup::new(&ns.owner) else {
            return;
        };
        self.plan.glue_required = ns
            .rdatas()
            .filter_map(Lookup::new)
            .any(|target| target.within(owner.lower(), owner.labels));
    }

    /// Additional section: the zone's A and AAAA RRsets of the names NS,
    /// MX and SRV records of the answer and authority sections point to,
    /// each once.
    fn additional(&mut self) {
        let zone = self.zone;
        let mut extra: Vec<Part<'a>> = Vec::new();
        for part in self.plan.answer.iter().chain(self.plan.authority.iter()) {
            let Part::Set { set, .. } = part else {
                continue;
            };
            // Where the target name starts in the RDATA.
            let at = match set.rtype {
                t::NS => 0,
                t::MX => 2,
                t::SRV => 6,
                _ => continue,
            };
            for rdata in set.rdatas() {
                let Some(node) = rdata
                    .get(at..)
                    .and_then(Lookup::new)
                    .and_then(|target| zone.node(target.lower()))
                else {
                    continue;
                };
                for rtype in [t::A, t::AAAA] {
                    let Some(addr) = node.get(rtype) else {
                        continue;
                    };
                    let have = extra
                        .iter()
                        .any(|p| matches!(p, Part::Set { set, .. } if std::ptr::eq(*set, addr)));
                    if !have {
                        extra.push(Part::Set {
                            owner: None,
                            set: addr,
                            turn: None,
                        });
                    }
                }
            }
        }
        self.plan.additional = extra;
    }
}

/// The node of `*.` + `encloser` (lowercased wire), if the zone has one.
fn wildcard<'z>(zone: &'z Zone, encloser: &[u8]) -> Option<Node<'z>> {
    let mut star = [0u8; NAME_MAX + 2];
    let len = encloser.len() + 2;
    if len > NAME_MAX {
        return None;
    }
    star[0] = 1;
    star[1] = b'*';
    star[2..len].copy_from_slice(encloser);
    zone.node(&star[..len])
}

/// RFC 6672 2.2: the owner of the DNAME in `name` (wire) replaced by its
/// target; `None` when the result would exceed 255 octets.
fn substitute(name: &[u8], dname: &RSet) -> Option<Vec<u8>> {
    let target = dname.rdata(0)?;
    let keep = labels_of(name).checked_sub(labels_of(&dname.owner))?;
    let mut at = 0;
    for _ in 0..keep {
        at += 1 + usize::from(*name.get(at)?);
    }
    let mut out = Vec::with_capacity(at + target.len());
    out.extend_from_slice(name.get(..at)?);
    out.extend_from_slice(target);
    (out.len() <= NAME_MAX).then_some(out)
}
