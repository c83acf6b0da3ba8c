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

use crate::engine::{Identity, Transport};

use super::answer::{MadeData, Part, Plan};
use super::request::{Edns, Request};
use super::spread;
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

/// The names written so far, for compression: where each starts in the
/// message and its lowercased wire form, in fixed arrays on the stack.
struct Marks {
    /// (offset in the message, start in `octets`, length) per name.
    at: [(u16, u16, u16); MAX_MARKS],
    /// Names remembered.
    count: usize,
    /// The lowercased names, one after another.
    octets: [u8; MAX_MARK_OCTETS],
    /// Octets of `octets` in use.
    used: usize,
}

impl Marks {
    fn new() -> Marks {
        Marks {
            at: [(0, 0, 0); MAX_MARKS],
            count: 0,
            octets: [0; MAX_MARK_OCTETS],
            used: 0,
        }
    }

    /// The offset of a remembered name equal to `name` (any case).
    fn find(&self, name: &[u8]) -> Option<u16> {
        self.at[..self.count]
            .iter()
            .find(|&&(_, start, len)| {
                let (start, len) = (usize::from(start), usize::from(len));
                self.octets
                    .get(start..start + len)
                    .is_some_and(|m| m.eq_ignore_ascii_case(name))
            })
            .map(|&(offset, _, _)| offset)
    }

    /// Remember that `name` starts at `offset`, while there is room.
    fn remember(&mut self, offset: usize, name: &[u8]) {
        // RFC 1035 4.1.4: a pointer holds a 14-bit offset.
        if offset > 0x3FFF || self.count >= MAX_MARKS || self.used + name.len() > MAX_MARK_OCTETS {
            return;
        }
        let slot = &mut self.octets[self.used..self.used + name.len()];
        slot.copy_from_slice(name);
        slot.make_ascii_lowercase();
        self.at[self.count] = (offset as u16, self.used as u16, name.len() as u16);
        self.count += 1;
        self.used += name.len();
    }

    /// Forget the names written at or after `len`.
    fn cut(&mut self, len: usize) {
        while self.count > 0 && usize::from(self.at[self.count - 1].0) >= len {
            self.count -= 1;
            self.used -= usize::from(self.at[self.count].2);
        }
    }
}

/// A response under construction.
struct Out<'a> {
    /// The message.
    buf: &'a mut Vec<u8>,
    /// Octets the message may use.
    limit: usize,
    /// Names written, for compression.
    marks: Marks,
}

impl Out<'_> {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Write an uncompressed wire name (exactly one name), pointing at an
    /// earlier copy of its longest already-written suffix.
    fn name(&mut self, wire: &[u8]) {
        let mut at = 0;
        while let Some(&len) = wire.get(at) {
            if len == 0 {
                break;
            }
            let rest = &wire[at..];
            if let Some(offset) = self.marks.find(rest) {
                self.u16(0xC000 | offset);
                return;
            }
            self.marks.remember(self.buf.len(), rest);
            let end = (at + 1 + usize::from(len)).min(wire.len());
            self.buf.extend_from_slice(&wire[at..end]);
            at = end;
        }
        self.buf.push(0);
    }

    /// Cut the message back to `len` octets, forgetting names past it.
    fn cut(&mut self, len: usize) {
        self.buf.truncate(len);
        self.marks.cut(len);
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
            // RFC 1035 4.1.4 and RFC 3597 4: names in the RDATA of NS,
            // CNAME, PTR, MX and SOA are compressed; nothing else is.
            Data::Zone(wire) => match rtype {
                t::NS | t::CNAME | t::PTR => self.name(wire),
                t::MX if wire.len() > 2 => {
                    self.buf.extend_from_slice(&wire[..2]);
                    self.name(&wire[2..]);
                }
                t::SOA => {
                    let (mname, rest) = wire.split_at(name_len(wire));
                    let (rname, numbers) = rest.split_at(name_len(rest));
                    self.name(mname);
                    self.name(rname);
                    self.buf.extend_from_slice(numbers);
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
                let owner = owner.as_deref().unwrap_or(&set.owner);
                match turn {
                    Some(turn) => {
                        let mut written = 0u16;
                        turn.order(
                            set.len(),
                            |i| set.rdata(i).and_then(spread::address),
                            |i| {
                                if let Some(w) = set.rdata(i) {
                                    self.record(owner, set.rtype, 1, set.ttl, Data::Zone(w));
                                    written += 1;
                                }
                            },
                        );
                        written
                    }
                    None => {
                        for w in set.rdatas() {
                            self.record(owner, set.rtype, 1, set.ttl, Data::Zone(w));
                        }
                        set.len() as u16
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

/// Length of the uncompressed wire name at the start of `wire`.
fn name_len(wire: &[u8]) -> usize {
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    at.min(wire.len())
}

/// RDATA to write.
enum Data<'a> {
    /// Zone data in wire form, names uncompressed.
    Zone(&'a [u8]),
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
        marks: Marks::new(),
    };
    w.buf.extend_from_slice(&[0; 12]);
    let qdcount = match req.question.as_ref().filter(|_| !plan.omit_question) {
        Some(q) => {
            w.name(q.wire.as_bytes());
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
