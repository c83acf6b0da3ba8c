//! Decoding a request for the hickory engine, in stages, over hickory's
//! [`BinDecoder`] cursor.
//!
//! `Message::from_vec` is not used on requests, because of four measured
//! hickory-proto 0.26 behaviours that would change answers: it ignores
//! octets after the last record (Knot and NSD answer FORMERR), it rejects
//! zero-length RDATA for types it does not know (legal per RFC 3597), it
//! raises an OPT payload size below 512 to 512 (harmless here, but it
//! hides what the client sent), and it drops the header's Z bit. Instead
//! the header is read field by field, names are decompressed here with
//! the RFC 1035 rules (pointers only strictly backward, labels of 63
//! octets or less, names of 255 or less) into a [`WireName`] on the stack
//! (no allocation per query), and the other records are skipped by their
//! RDLENGTH.

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::BinDecoder;

use super::text::{LABEL_MAX, NAME_MAX};
use super::tree::t;

/// Why a request is malformed; every variant answers FORMERR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The message ends inside a field.
    Short,
    /// A label type other than a length or a pointer.
    LabelType,
    /// A name over 255 octets.
    LongName,
    /// A pointer that does not point strictly backward.
    Pointer,
    /// An OPT record outside the additional section, a second OPT, or
    /// bad options.
    Opt,
    /// Octets after the last record.
    Trailing,
    /// Not exactly one question.
    QuestionCount,
}

/// The EDNS part of a request (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size, as sent.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO bit.
    pub dnssec_ok: bool,
    /// The request carries an NSID option (RFC 5001).
    pub nsid: bool,
}

/// A checked uncompressed wire name held inline: at most 255 octets,
/// labels of 63 or less, ending in the root label.
#[derive(Clone, Copy)]
pub struct WireName {
    /// The octets; the first `len` are the name.
    octets: [u8; NAME_MAX],
    /// Its length.
    len: u8,
}

impl WireName {
    /// The root name.
    pub const ROOT: WireName = WireName {
        octets: [0; NAME_MAX],
        len: 1,
    };

    /// The name's octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.octets[..usize::from(self.len)]
    }

    /// Append one octet; false when the name would exceed 255 octets.
    fn push(&mut self, octet: u8) -> bool {
        match self.octets.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = octet;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

impl std::fmt::Debug for WireName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_bytes())
    }
}

/// The question.
#[derive(Debug, Clone)]
pub struct Question {
    /// The name in uncompressed wire form, case as received.
    pub wire: WireName,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// A request decoded as far as it goes.
#[derive(Debug, Clone)]
pub struct Request {
    /// Message ID.
    pub id: u16,
    /// The flags word as received.
    pub flags: u16,
    /// The question, when exactly one was sent and it decoded.
    pub question: Option<Question>,
    /// The first well-formed OPT record.
    pub edns: Option<Edns>,
    /// Why decoding stopped, if it did.
    pub malformed: Option<Malformed>,
}

impl Request {
    /// The header's opcode.
    pub fn opcode(&self) -> u16 {
        (self.flags >> 11) & 0xF
    }
}

/// RFC 5001: the NSID option code.
const OPTION_NSID: u16 = 3;

/// Decode `msg`. `None` for messages to drop: shorter than a header, or
/// responses (QR=1).
pub fn decode(msg: &[u8]) -> Option<Request> {
    let mut d = BinDecoder::new(msg);
    let id = u16v(&mut d).ok()?;
    let flags = u16v(&mut d).ok()?;
    let mut counts = [0u16; 4];
    for c in &mut counts {
        *c = u16v(&mut d).ok()?;
    }
    if flags & 0x8000 != 0 {
        return None;
    }
    let mut req = Request {
        id,
        flags,
        question: None,
        edns: None,
        malformed: None,
    };
    if counts[0] != 1 {
        req.malformed = Some(Malformed::QuestionCount);
        return Some(req);
    }
    if let Err(e) = body(msg, &mut d, counts, &mut req) {
        req.malformed = Some(e);
    }
    Some(req)
}

/// The question and the remaining sections.
fn body<'a>(
    msg: &'a [u8],
    d: &mut BinDecoder<'a>,
    counts: [u16; 4],
    req: &mut Request,
) -> Result<(), Malformed> {
    let mut wire = WireName {
        octets: [0; NAME_MAX],
        len: 0,
    };
    read_name(msg, d, Some(&mut wire))?;
    let qtype = u16v(d)?;
    let qclass = u16v(d)?;
    req.question = Some(Question {
        wire,
        qtype,
        qclass,
    });
    let others = u32::from(counts[1]) + u32::from(counts[2]);
    for _ in 0..others {
        // RFC 6891 6.1.1: OPT belongs in the additional section only.
        if skip_record(msg, d)?.0 == t::OPT {
            return Err(Malformed::Opt);
        }
    }
    for _ in 0..counts[3] {
        let (rtype, class, ttl, rdata) = skip_record(msg, d)?;
        if rtype != t::OPT {
            continue;
        }
        // RFC 6891 6.1.1: at most one OPT. Its owner should be the root;
        // like Knot DNS, another owner is tolerated.
        if req.edns.is_some() {
            return Err(Malformed::Opt);
        }
        let mut edns = Edns {
            udp_size: class,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            nsid: false,
        };
        let mut o = BinDecoder::new(rdata);
        while !o.is_empty() {
            let code = u16v(&mut o).map_err(|_| Malformed::Opt)?;
            let len = u16v(&mut o).map_err(|_| Malformed::Opt)?;
            o.read_slice(usize::from(len)).map_err(|_| Malformed::Opt)?;
            edns.nsid |= code == OPTION_NSID;
        }
        req.edns = Some(edns);
    }
    if !d.is_empty() {
        return Err(Malformed::Trailing);
    }
    Ok(())
}

/// One big-endian u16.
fn u16v(d: &mut BinDecoder<'_>) -> Result<u16, Malformed> {
    d.read_u16()
        .map(|v| v.unverified())
        .map_err(|_| Malformed::Short)
}

/// A record skipped over: (type, class, ttl, rdata).
type Skipped<'a> = (u16, u16, u32, &'a [u8]);

/// Skip one record (its owner is checked, not kept).
fn skip_record<'a>(msg: &'a [u8], d: &mut BinDecoder<'a>) -> Result<Skipped<'a>, Malformed> {
    read_name(msg, d, None)?;
    let rtype = u16v(d)?;
    let class = u16v(d)?;
    let ttl = d
        .read_u32()
        .map(|v| v.unverified())
        .map_err(|_| Malformed::Short)?;
    let len = u16v(d)?;
    let rdata = d
        .read_slice(usize::from(len))
        .map(|v| v.unverified())
        .map_err(|_| Malformed::Short)?;
    Ok((rtype, class, ttl, rdata))
}

/// Read a possibly compressed name at the cursor into `out` (when given)
/// in uncompressed wire form, leaving the cursor after it.
fn read_name(
    msg: &[u8],
    d: &mut BinDecoder<'_>,
    mut out: Option<&mut WireName>,
) -> Result<(), Malformed> {
    let mut total = 0usize;
    let mut pos = d.index();
    // RFC 1035 4.1.4: a pointer names "a prior occurrence"; accepting only
    // targets before the start of the piece being read also rules out
    // loops.
    let mut floor = pos;
    let mut end_in_place: Option<usize> = None;
    loop {
        let len = *msg.get(pos).ok_or(Malformed::Short)?;
        match len & 0xC0 {
            0x00 => {
                let n = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + n).ok_or(Malformed::Short)?;
                // RFC 1035 2.3.4: 255 octets or less, the root included.
                total += 1 + n;
                if total > NAME_MAX {
                    return Err(Malformed::LongName);
                }
                if let Some(out) = out.as_deref_mut() {
                    for &octet in std::iter::once(&len).chain(label) {
                        if !out.push(octet) {
                            return Err(Malformed::LongName);
                        }
                    }
                }
                pos += 1 + n;
                if n == 0 {
                    break;
                }
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(Malformed::Short)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                if target >= floor {
                    return Err(Malformed::Pointer);
                }
                end_in_place.get_or_insert(pos + 2);
                floor = target;
                pos = target;
            }
            // RFC 6891 5: the extended label types are not in use.
            _ => return Err(Malformed::LabelType),
        }
    }
    let resume = end_in_place.unwrap_or(pos);
    let skip = resume.checked_sub(d.index()).ok_or(Malformed::Short)?;
    d.read_slice(skip).map_err(|_| Malformed::Short)?;
    Ok(())
}

/// A hickory [`Name`] from a checked uncompressed wire name.
pub fn to_name(wire: &[u8]) -> Result<Name, Malformed> {
    let mut labels: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        let n = usize::from(len);
        if n > LABEL_MAX {
            return Err(Malformed::LabelType);
        }
        labels.push(wire.get(at + 1..at + 1 + n).ok_or(Malformed::Short)?);
        at += 1 + n;
    }
    Name::from_labels(labels).map_err(|_| Malformed::LongName)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_at(msg: &[u8], at: usize) -> Result<Vec<u8>, Malformed> {
        let mut d = BinDecoder::new(msg);
        d.read_slice(at).unwrap();
        let mut out = WireName {
            octets: [0; NAME_MAX],
            len: 0,
        };
        read_name(msg, &mut d, Some(&mut out))?;
        Ok(out.as_bytes().to_vec())
    }

    #[test]
    fn pointers_only_backward() {
        let msg = b"\x07example\x00\x03www\xC0\x00";
        assert_eq!(name_at(msg, 9).unwrap(), b"\x03www\x07example\x00");
        assert_eq!(name_at(b"\xC0\x00", 0), Err(Malformed::Pointer));
        assert_eq!(name_at(b"\xC0\x02\x00", 0), Err(Malformed::Pointer));
        assert_eq!(name_at(b"\x01a\xC0\x00", 0), Err(Malformed::Pointer));
        assert_eq!(name_at(b"\x80", 0), Err(Malformed::LabelType));
        assert_eq!(name_at(b"\x05ab", 0), Err(Malformed::Short));
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend([b'x'; 63]);
        }
        long.push(0);
        assert_eq!(name_at(&long, 0), Err(Malformed::LongName));
    }

    fn query(tail: &[u8], arcount: u8) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, arcount];
        q.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        q.extend_from_slice(tail);
        q
    }

    #[test]
    fn stages() {
        assert!(decode(&[0; 11]).is_none());
        let mut q = query(b"", 0);
        q[2] |= 0x80;
        assert!(decode(&q).is_none());
        let r = decode(&query(b"", 0)).unwrap();
        assert!(r.malformed.is_none());
        assert_eq!(r.question.unwrap().qtype, 1);
        let r = decode(&query(b"\x00", 0)).unwrap();
        assert_eq!(r.malformed, Some(Malformed::Trailing));
        assert!(r.question.is_some());
        // An unknown type with empty RDATA in the additional section.
        let r = decode(&query(b"\x00\xff\x00\x00\x01\x00\x00\x00\x00\x00\x00", 1)).unwrap();
        assert!(r.malformed.is_none());
    }

    #[test]
    fn edns_as_sent() {
        let r = decode(&query(
            b"\x00\x00\x29\x00\x64\x00\x01\x80\x00\x00\x04\x00\x03\x00\x00",
            1,
        ))
        .unwrap();
        let e = r.edns.unwrap();
        assert_eq!(e.udp_size, 100);
        assert_eq!(e.version, 1);
        assert!(e.dnssec_ok && e.nsid);
        // Two OPT records.
        let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";
        let r = decode(&query(&[opt.as_slice(), opt].concat(), 2)).unwrap();
        assert_eq!(r.malformed, Some(Malformed::Opt));
        assert!(r.edns.is_some());
    }
}
