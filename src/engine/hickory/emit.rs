//! Encoding the hickory engine's responses, with name compression and the
//! size limit done here rather than by hickory's `BinEncoder`.
//!
//! hickory-proto 0.26's size-limited encoding splits an RRset when the
//! limit falls inside it, may leave the OPT record out, and leaves stale
//! octets past the end of the buffer; its compression also only matches
//! names of the same letter case. Knot DNS and NSD instead keep whole
//! RRsets, always send the OPT record, and compress case-insensitively.
//! So this module writes each RRset whole, checks the size after it, cuts
//! back to the last RRset that fit, and adds the OPT record last in room
//! kept for it.
//!
//! Compression follows RFC 1035 4.1.4 for owner names and for the names
//! inside the RDATA of the RFC 1035 types (NS, CNAME, PTR, MX, SOA); RFC
//! 3597 4 forbids it elsewhere. The table of names written is bounded
//! ([`MAX_MARKS`] entries, [`MAX_MARK_OCTETS`] octets of names, offsets
//! below 2^14), the same bounds the native engine uses, so both engines
//! produce responses of the same size and truncate at the same RRset.

use hickory_proto::rr::RData;

use crate::engine::{Identity, Transport};

use super::answer::{MadeData, Part, Plan};
use super::request::{Edns, Request};
use super::text;
use super::tree::t;

/// RFC 6891 6.2.5: the server's own UDP payload size (1232, as DNS Flag
/// Day 2020 recommends), also the most a UDP response may be.
pub const SERVER_PAYLOAD: u16 = 1232;
/// RFC 1035 4.2.1: UDP without EDNS.
const PLAIN_UDP: usize = 512;
/// RFC 1035 4.2.2: TCP messages carry a 16-bit length.
const TCP_MAX: usize = 65_535;
/// Names remembered for compression.
pub const MAX_MARKS: usize = 64;
/// Octets of remembered names.
pub const MAX_MARK_OCTETS: usize = 1024;
/// RFC 5001: NSID option code.
const OPTION_NSID: u16 = 3;
/// Longest NSID payload sent.
const NSID_MAX: usize = 512;

/// A response under construction.
struct Out<'a> {
    /// The message.
    buf: &'a mut Vec<u8>,
    /// Octets the message may use.
    limit: usize,
    /// Offsets of names written, with their lowercased wire form.
    marks: Vec<(usize, Vec<u8>)>,
    /// Sum of the lengths in `marks`.
    mark_octets: usize,
}

impl Out<'_> {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Write an uncompressed wire name, pointing at an earlier copy of its
    /// longest already-written suffix.
    fn name(&mut self, wire: &[u8]) {
        let mut at = 0;
        while let Some(&len) = wire.get(at) {
            if len == 0 {
                break;
            }
            let rest = &wire[at..];
            if let Some(&(offset, _)) = self
                .marks
                .iter()
                .find(|(_, m)| m.eq_ignore_ascii_case(rest))
            {
                self.u16(0xC000 | offset as u16);
                return;
            }
            let here = self.buf.len();
            // RFC 1035 4.1.4: a pointer holds a 14-bit offset.
            if here <= 0x3FFF
                && self.marks.len() < MAX_MARKS
                && self.mark_octets + rest.len() <= MAX_MARK_OCTETS
            {
                self.mark_octets += rest.len();
                self.marks.push((here, rest.to_ascii_lowercase()));
            }
            let end = (at + 1 + usize::from(len)).min(wire.len());
            self.buf.extend_from_slice(&wire[at..end]);
            at = end;
        }
        self.buf.push(0);
    }

    /// Cut the message back to `len` octets, forgetting names past it.
    fn cut(&mut self, len: usize) {
        self.buf.truncate(len);
        while self.marks.last().is_some_and(|(o, _)| *o >= len) {
            if let Some((_, m)) = self.marks.pop() {
                self.mark_octets -= m.len();
            }
        }
    }

    /// One record; the RDATA is given by `rdata`.
    fn record(&mut self, owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: Data<'_>) {
        self.name(owner);
        self.u16(rtype);
        self.u16(class);
        self.u32(ttl);
        let len_at = self.buf.len();
        self.u16(0);
        let start = self.buf.len();
        match rdata {
            Data::Zone(r, wire) => match r {
                RData::NS(n) => self.name(&text::wire(&n.0)),
                RData::CNAME(n) => self.name(&text::wire(&n.0)),
                RData::PTR(n) => self.name(&text::wire(&n.0)),
                RData::MX(mx) => {
                    self.u16(mx.preference);
                    self.name(&text::wire(&mx.exchange));
                }
                RData::SOA(soa) => {
                    self.name(&text::wire(&soa.mname));
                    self.name(&text::wire(&soa.rname));
                    self.u32(soa.serial);
                    self.u32(soa.refresh as u32);
                    self.u32(soa.retry as u32);
                    self.u32(soa.expire as u32);
                    self.u32(soa.minimum);
                }
                _ => self.buf.extend_from_slice(wire),
            },
            Data::Name(n) => self.name(n),
            Data::Raw(b) => self.buf.extend_from_slice(b),
        }
        let len = (self.buf.len() - start) as u16;
        if let Some(slot) = self.buf.get_mut(len_at..len_at + 2) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Write one part of a section; returns the records written.
    fn part(&mut self, part: &Part<'_>) -> u16 {
        match part {
            Part::Set { owner, set, turn } => {
                let owner = owner.as_deref().unwrap_or(&set.owner_wire);
                match turn {
                    Some(turn) => {
                        let mut written = 0u16;
                        turn.order(&set.wires, |i| {
                            if let (Some(r), Some(w)) = (set.rdatas.get(i), set.wires.get(i)) {
                                self.record(owner, set.rtype, 1, set.ttl, Data::Zone(r, w));
                                written += 1;
                            }
                        });
                        written
                    }
                    None => {
                        for (r, w) in set.rdatas.iter().zip(&set.wires) {
                            self.record(owner, set.rtype, 1, set.ttl, Data::Zone(r, w));
                        }
                        set.rdatas.len() as u16
                    }
                }
            }
            Part::Made {
                owner,
                rtype,
                class,
                ttl,
                rdata,
            } => {
                let data = match rdata {
                    MadeData::Name(n) => Data::Name(n),
                    MadeData::Raw(b) => Data::Raw(b),
                };
                self.record(owner, *rtype, *class, *ttl, data);
                1
            }
        }
    }
}

/// RDATA to write.
enum Data<'a> {
    /// Zone data: the value and its wire form.
    Zone(&'a RData, &'a [u8]),
    /// A name, compressed.
    Name(&'a [u8]),
    /// Octets as they are.
    Raw(&'a [u8]),
}

/// The size limit of a response (RFC 1035 4.2.1, RFC 6891 6.2.5).
fn limit_for(edns: Option<Edns>, transport: Transport) -> usize {
    match (transport, edns) {
        (Transport::Tcp, _) => TCP_MAX,
        (Transport::Udp, None) => PLAIN_UDP,
        (Transport::Udp, Some(e)) => {
            usize::from(e.udp_size.clamp(PLAIN_UDP as u16, SERVER_PAYLOAD))
        }
    }
}

/// Encode `plan` as the response to `req` into `out`.
pub fn encode(
    plan: &Plan<'_>,
    req: &Request,
    identity: &Identity,
    transport: Transport,
    out: &mut Vec<u8>,
) {
    out.clear();
    let edns = req.edns.filter(|_| !plan.omit_opt);
    let limit = limit_for(edns, transport);
    let nsid = match (&identity.id, edns) {
        (Some(id), Some(e)) if e.nsid => {
            let b = id.as_bytes();
            Some(&b[..b.len().min(NSID_MAX)])
        }
        _ => None,
    };
    // Room kept for the OPT record: 11 octets, plus the NSID option.
    let opt_room = match (edns, nsid) {
        (None, _) => 0,
        (Some(_), None) => 11,
        (Some(_), Some(id)) => 15 + id.len(),
    };
    let mut w = Out {
        buf: out,
        limit: limit.saturating_sub(opt_room),
        marks: Vec::new(),
        mark_octets: 0,
    };
    w.buf.extend_from_slice(&[0; 12]);
    let qdcount = match req.question.as_ref().filter(|_| !plan.omit_question) {
        Some(q) => {
            w.name(&q.wire);
            w.u16(q.qtype);
            w.u16(q.qclass);
            1u16
        }
        None => 0,
    };
    let mut counts = [0u16; 3];
    let mut truncated = false;
    'sections: for (i, section) in [&plan.answer, &plan.authority, &plan.additional]
        .into_iter()
        .enumerate()
    {
        for part in section {
            let mark = w.buf.len();
            let n = w.part(part);
            if w.buf.len() > w.limit {
                w.cut(mark);
                // Answer and authority must be whole; additional records
                // go silently, unless they are a referral's required glue.
                if i < 2 || plan.glue_required {
                    truncated = true;
                }
                break 'sections;
            }
            counts[i] += n;
        }
    }
    let mut arcount = counts[2];
    if let Some(e) = edns {
        // RFC 6891 6.1.2: root owner, our payload size, extended RCODE in
        // the top octet of the TTL, version 0, DO echoed.
        w.buf.push(0);
        w.u16(t::OPT);
        w.u16(SERVER_PAYLOAD);
        let mut ttl = u32::from(plan.rcode >> 4) << 24;
        if e.dnssec_ok {
            ttl |= 0x8000;
        }
        w.u32(ttl);
        match nsid {
            Some(id) => {
                w.u16(4 + id.len() as u16);
                w.u16(OPTION_NSID);
                w.u16(id.len() as u16);
                w.buf.extend_from_slice(id);
            }
            None => w.u16(0),
        }
        arcount += 1;
    }
    // QR, the request's opcode and RD (as Knot DNS and NSD: not CD), then
    // AA, TC and the RCODE.
    let copied = if plan.clear_rd {
        0x7800
    } else {
        0x7800 | 0x0100
    };
    let mut flags = 0x8000 | (req.flags & copied);
    if plan.aa {
        flags |= 0x0400;
    }
    if truncated {
        flags |= 0x0200;
    }
    flags |= plan.rcode & 0xF;
    let mut head = [0u8; 12];
    head[0..2].copy_from_slice(&req.id.to_be_bytes());
    head[2..4].copy_from_slice(&flags.to_be_bytes());
    head[4..6].copy_from_slice(&qdcount.to_be_bytes());
    head[6..8].copy_from_slice(&counts[0].to_be_bytes());
    head[8..10].copy_from_slice(&counts[1].to_be_bytes());
    head[10..12].copy_from_slice(&arcount.to_be_bytes());
    w.buf[..12].copy_from_slice(&head);
}
