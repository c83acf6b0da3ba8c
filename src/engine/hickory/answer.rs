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

use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use hickory_proto::rr::{LowerName, Name, RData};

use crate::engine::{Identity, Transport};
use crate::fleet::HealthState;

use super::emit;
use super::request::{self, Question, Request};
use super::spread::Turn;
use super::text;
use super::tree::{Node, RSet, Zone, t};

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

/// Every zone served, keyed by apex.
#[derive(Debug, Default)]
pub struct Zones {
    /// The zones.
    pub by_apex: HashMap<LowerName, Zone>,
}

impl Zones {
    /// The deepest served zone holding `name`. A DS question for a zone's
    /// apex belongs to the parent side of the cut (RFC 4035 3.1.4.1), so
    /// the parent zone answers it when it is served too.
    fn find(&self, name: &Name, qtype: u16) -> Option<&Zone> {
        let labels = text::label_count(name);
        let mut zones = (1..=labels).rev().filter_map(|n| {
            self.by_apex
                .get(&LowerName::new(&name.trim_to(n)))
                .map(|z| (n, z))
        });
        let (n, deepest) = zones.next()?;
        if qtype == t::DS && n == labels {
            return Some(zones.next().map_or(deepest, |(_, parent)| parent));
        }
        Some(deepest)
    }
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

    /// The down addresses of `key` (lowercased wire owner).
    fn down(&self, key: &[u8]) -> &[IpAddr] {
        let state = self.seen.get_or_init(|| self.live.load());
        if state.is_empty() {
            &[]
        } else {
            state.down(key)
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
pub enum Part<'z> {
    /// A zone RRset, with the owner to write instead of its own (the
    /// query name, for wildcards and case).
    Set {
        /// The owner to write, in wire form.
        owner: Option<Vec<u8>>,
        /// The RRset.
        set: &'z RSet,
        /// For an address RRset of the answer section with a fleet policy:
        /// which of its records this response carries, in which order.
        turn: Option<Turn<'z>>,
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
pub struct Plan<'z> {
    /// Response code, possibly extended.
    pub rcode: u16,
    /// AA flag.
    pub aa: bool,
    /// Answer section.
    pub answer: Vec<Part<'z>>,
    /// Authority section.
    pub authority: Vec<Part<'z>>,
    /// Additional section.
    pub additional: Vec<Part<'z>>,
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
    let Some(first) = req.question.as_ref().and_then(|q| q.name.iter().next()) else {
        return;
    };
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
fn decide<'z>(
    zones: &'z Zones,
    health: &'z Health<'_>,
    identity: &Identity,
    req: &Request,
) -> Plan<'z> {
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
    match question.qclass {
        CLASS_CH => return chaos(question, identity),
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
    let Some(zone) = zones.find(&question.name, question.qtype) else {
        return only(rcode::REFUSED);
    };
    resolve(zone, health, question)
}

/// CHAOS TXT `id.server` and `hostname.bind` (as Knot DNS and NSD answer
/// them), REFUSED otherwise or with no identity set.
fn chaos<'z>(q: &Question, identity: &Identity) -> Plan<'z> {
    let lower = q.wire.to_ascii_lowercase();
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
                    owner: q.wire.clone(),
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

/// Where the lookup of one name ends.
enum Found<'z> {
    /// The name exists, or a wildcard stands for it.
    Exists(&'z Node),
    /// The name is at or below a delegation.
    Delegated(&'z Node),
    /// An ancestor's DNAME rewrites the name.
    Renamed(&'z RSet),
    /// No such name.
    Missing,
}

/// RFC 1034 4.3.2 step 3 for `name` in `zone`, label by label from the
/// apex down.
fn find<'z>(zone: &'z Zone, name: &Name, qtype: u16) -> Found<'z> {
    let total = text::label_count(name);
    let Some(apex) = zone.node(&zone.origin) else {
        return Found::Missing;
    };
    if total == zone.origin_labels {
        return Found::Exists(apex);
    }
    if let Some(d) = apex.get(t::DNAME) {
        return Found::Renamed(d);
    }
    for depth in zone.origin_labels + 1..=total {
        let here = name.trim_to(depth);
        let last = depth == total;
        let Some(node) = zone.node(&here) else {
            // RFC 4592 3.3.1: the source of synthesis is `*.` + the closest
            // encloser, the deepest existing ancestor.
            let encloser = name.trim_to(depth - 1);
            let Ok(star) = encloser.prepend_label(&b"*"[..]) else {
                return Found::Missing;
            };
            return match zone.node(&star) {
                Some(n) => Found::Exists(n),
                None => Found::Missing,
            };
        };
        // RFC 4035 3.1.4.1: the DS of a delegation is the parent's.
        if node.cut && !(last && qtype == t::DS) {
            return Found::Delegated(node);
        }
        if last {
            return Found::Exists(node);
        }
        if let Some(d) = node.get(t::DNAME) {
            return Found::Renamed(d);
        }
    }
    Found::Missing
}

/// The plan for a question in `zone`, following CNAME and DNAME chains
/// while they stay in the zone.
fn resolve<'z>(zone: &'z Zone, health: &'z Health<'_>, q: &Question) -> Plan<'z> {
    let mut plan = Plan {
        aa: true,
        ..Plan::default()
    };
    let qtype = q.qtype;
    let mut name = q.name.clone();
    let mut name_wire = q.wire.clone();
    for step in 0..CHAIN_LIMIT {
        match find(zone, &name, qtype) {
            Found::Missing => {
                plan.rcode = rcode::NXDOMAIN;
                plan.authority.push(Part::Set {
                    owner: None,
                    set: &zone.negative_soa,
                    turn: None,
                });
                break;
            }
            Found::Delegated(cut) => {
                if step == 0 {
                    plan.aa = false;
                }
                referral(cut, &mut plan);
                break;
            }
            Found::Renamed(dname) => {
                plan.answer.push(in_answer(None, dname, health));
                let Some(target) = substitute(&name, dname) else {
                    plan.rcode = rcode::YXDOMAIN;
                    break;
                };
                let target_wire = text::wire(&target);
                plan.answer.push(Part::Made {
                    owner: name_wire.clone(),
                    rtype: t::CNAME,
                    class: 1,
                    ttl: dname.ttl,
                    rdata: MadeData::Name(target_wire.clone()),
                });
                // The synthesised CNAME answers a CNAME question by itself
                // (Knot DNS and NSD stop here).
                if qtype == t::CNAME || !next_in_chain(zone, &target, &plan) {
                    break;
                }
                name = target;
                name_wire = target_wire;
            }
            Found::Exists(node) => {
                if qtype == t::ANY {
                    // RFC 8482 4.1: one RRset; Knot DNS sends the one of
                    // the lowest type.
                    if let Some(set) = node.rrsets.iter().min_by_key(|s| s.rtype) {
                        plan.answer
                            .push(in_answer(Some(name_wire.clone()), set, health));
                    }
                    if node.rrsets.is_empty() {
                        nodata(zone, &mut plan);
                    }
                    break;
                }
                if let Some(set) = node.get(qtype) {
                    plan.answer
                        .push(in_answer(Some(name_wire.clone()), set, health));
                    break;
                }
                let Some(cname) = node.get(t::CNAME) else {
                    nodata(zone, &mut plan);
                    break;
                };
                plan.answer
                    .push(in_answer(Some(name_wire.clone()), cname, health));
                let Some(RData::CNAME(target)) = cname.rdatas.first() else {
                    break;
                };
                let target = target.0.clone();
                if !next_in_chain(zone, &target, &plan) {
                    break;
                }
                name_wire = text::wire(&target);
                name = target;
            }
        }
    }
    additional(zone, &mut plan);
    plan
}

/// A zone RRset placed in the answer section: an address RRset with a
/// fleet policy counts one more response and takes its turn (reading the
/// health state, once per query, only here).
fn in_answer<'z>(owner: Option<Vec<u8>>, set: &'z RSet, health: &'z Health<'_>) -> Part<'z> {
    let turn = set
        .spread
        .as_deref()
        .map(|spread| Turn::take(spread, health.down(&spread.key)));
    Part::Set { owner, set, turn }
}

/// RFC 2308 2.2: NODATA carries the SOA.
fn nodata<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    plan.authority.push(Part::Set {
        owner: None,
        set: &zone.negative_soa,
        turn: None,
    });
}

/// Whether a chain goes on to `target`: only inside the zone, and never
/// back to a name the answer already holds (a loop).
fn next_in_chain(zone: &Zone, target: &Name, plan: &Plan<'_>) -> bool {
    if !zone.origin.zone_of(target) {
        return false;
    }
    let lower = text::lower_wire(target);
    !plan.answer.iter().any(|p| {
        let owner = match p {
            Part::Set { owner: Some(o), .. } | Part::Made { owner: o, .. } => o,
            Part::Set {
                owner: None, set, ..
            } => &set.owner_wire,
        };
        owner.eq_ignore_ascii_case(&lower)
    })
}

/// RFC 6672 2.2: the owner of the DNAME in `name` replaced by its target;
/// `None` when the result would exceed 255 octets.
fn substitute(name: &Name, dname: &RSet) -> Option<Name> {
    let target_wire = dname.wires.first()?;
    let target = request::to_name(target_wire).ok()?;
    let keep = text::label_count(name).checked_sub(text::label_count(&dname.owner))?;
    let labels: Vec<Vec<u8>> = name
        .iter()
        .take(keep)
        .chain(target.iter())
        .map(<[u8]>::to_vec)
        .collect();
    text::name_from_labels(labels).ok()
}

/// RFC 1034 4.3.2 3b: the delegation's NS. The zones served are not
/// signed, so like Knot DNS and NSD no DS goes with it, even when DO is
/// set (RFC 4035 3.1.4 asks for DS and its RRSIGs from signed zones).
fn referral<'z>(cut: &'z Node, plan: &mut Plan<'z>) {
    let Some(ns) = cut.get(t::NS) else {
        return;
    };
    plan.authority.push(Part::Set {
        owner: None,
        set: ns,
        turn: None,
    });
    plan.glue_required = ns
        .rdatas
        .iter()
        .any(|r| matches!(r, RData::NS(target) if ns.owner.zone_of(&target.0)));
}

/// The name an NS, MX or SRV record points to.
fn target_of(rdata: &RData) -> Option<&Name> {
    match rdata {
        RData::NS(ns) => Some(&ns.0),
        RData::MX(mx) => Some(&mx.exchange),
        RData::SRV(srv) => Some(&srv.target),
        _ => None,
    }
}

/// Additional section: the zone's A and AAAA RRsets of the names NS, MX
/// and SRV records of the answer and authority sections point to.
fn additional<'z>(zone: &'z Zone, plan: &mut Plan<'z>) {
    let mut extra: Vec<&'z RSet> = Vec::new();
    for part in plan.answer.iter().chain(plan.authority.iter()) {
        let Part::Set { set, .. } = part else {
            continue;
        };
        if !matches!(set.rtype, t::NS | t::MX | t::SRV) {
            continue;
        }
        for rdata in &set.rdatas {
            let Some(node) = target_of(rdata).and_then(|n| zone.node(n)) else {
                continue;
            };
            for rtype in [t::A, t::AAAA] {
                if let Some(addr) = node.get(rtype)
                    && !extra.iter().any(|have| std::ptr::eq(*have, addr))
                {
                    extra.push(addr);
                }
            }
        }
    }
    plan.additional = extra
        .into_iter()
        .map(|set| Part::Set {
            owner: None,
            set,
            turn: None,
        })
        .collect();
}
