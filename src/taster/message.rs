//! Responses as the taster reads them: a checked parse of a whole DNS
//! message and a normal form two engines' answers are compared in.
//!
//! The parse goes through the native engine's bounds-checked
//! [`Reader`]; every section is
//! walked and the message must be consumed exactly. The normal form follows
//! the differential tests: RCODE (with the OPT extended bits), opcode, the
//! flags QR AA TC RD RA AD CD, the question, the OPT version and DO bit,
//! and the answer and authority sections as sorted sets of records with
//! owners and the names inside well-known RDATA decompressed and
//! lowercased. The additional section is left out (which glue a server
//! adds is its own choice).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::engine::native::record::rtype;
use crate::engine::native::wire::{Header, NameBuf, Reader, WireError, flags};
use crate::engine::native::zonefile::types::type_name;

/// One resource record of a response.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rr {
    /// The owner, uncompressed wire form, lowercased.
    pub owner: Vec<u8>,
    /// The type.
    pub rtype: u16,
    /// The class.
    pub class: u16,
    /// The TTL.
    pub ttl: u32,
    /// The RDATA, with the names of well-known types decompressed and
    /// lowercased.
    pub rdata: Vec<u8>,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The header as received.
    pub header: Header,
    /// The RCODE, with the extended bits of OPT.
    pub rcode: u16,
    /// The question: name (wire, case as sent back), type, class.
    pub question: Option<(Vec<u8>, u16, u16)>,
    /// The answer section.
    pub answer: Vec<Rr>,
    /// The authority section.
    pub authority: Vec<Rr>,
    /// The OPT record's version and DO bit, if there was one.
    pub opt: Option<(u8, bool)>,
}

impl Response {
    /// Whether header flag `bit` (from [`flags`]) is set.
    pub fn flag(&self, bit: u16) -> bool {
        self.header.flags & bit != 0
    }

    /// The response reduced to what two engines must agree on, one line.
    pub fn normalised(&self) -> String {
        self.normalised_counting(|_| false)
    }

    /// [`Response::normalised`], with the A and AAAA records of the answer
    /// section whose owner `counted` names reduced to their number per
    /// owner, type, class and TTL: the form for sets from which a fleet
    /// policy's `max_answers` lets each engine pick its own subset.
    pub fn normalised_counting(&self, counted: impl Fn(&[u8]) -> bool) -> String {
        let mut out = format!(
            "{} opcode {} [",
            rcode_name(self.rcode),
            self.header.opcode()
        );
        for (bit, name) in [
            (flags::QR, "qr"),
            (flags::AA, "aa"),
            (flags::TC, "tc"),
            (flags::RD, "rd"),
            (flags::RA, "ra"),
            (flags::AD, "ad"),
            (flags::CD, "cd"),
        ] {
            if self.flag(bit) {
                let _ = write!(out, " {name}");
            }
        }
        out.push_str(" ]");
        if let Some((name, t, c)) = &self.question {
            let _ = write!(out, " q {} {c} {}", name_text(name), type_name(*t));
        }
        if let Some((v, d)) = self.opt {
            let _ = write!(out, " opt v{v}{}", if d { " do" } else { "" });
        }
        for (label, section) in [("an", &self.answer), ("ns", &self.authority)] {
            let mut set = BTreeSet::new();
            let mut subsets: BTreeMap<String, usize> = BTreeMap::new();
            for rr in section {
                if label == "an" && matches!(rr.rtype, rtype::A | rtype::AAAA) && counted(&rr.owner)
                {
                    let key = format!(
                        "{} {} {} {}",
                        name_text(&rr.owner),
                        rr.ttl,
                        rr.class,
                        type_name(rr.rtype)
                    );
                    *subsets.entry(key).or_default() += 1;
                } else {
                    set.insert(rr_text(rr));
                }
            }
            set.extend(
                subsets
                    .into_iter()
                    .map(|(k, n)| format!("{k} ({n} of the set)")),
            );
            let _ = write!(out, " {label} {{");
            for r in set {
                let _ = write!(out, " {r};");
            }
            out.push_str(" }");
        }
        out
    }
}

/// Why a response could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The section being read.
    pub section: &'static str,
    /// What was wrong.
    pub error: WireError,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed {} ({:?})", self.section, self.error)
    }
}

/// Parse a whole response; every octet must belong to a record.
pub fn parse(msg: &[u8]) -> Result<Response, ParseError> {
    let in_section = |section| move |error| ParseError { section, error };
    let mut r = Reader::new(msg);
    let header = Header::read(&mut r).map_err(in_section("header"))?;
    let mut scratch = NameBuf::default();
    let mut question = None;
    for _ in 0..header.qdcount {
        r.name(&mut scratch).map_err(in_section("question"))?;
        let t = r.u16().map_err(in_section("question"))?;
        let c = r.u16().map_err(in_section("question"))?;
        question.get_or_insert((scratch.as_wire().to_vec(), t, c));
    }
    let answer = read_section(msg, &mut r, header.ancount).map_err(in_section("answer"))?;
    let authority = read_section(msg, &mut r, header.nscount).map_err(in_section("authority"))?;
    let additional = read_section(msg, &mut r, header.arcount).map_err(in_section("additional"))?;
    if r.remaining() != 0 {
        return Err(ParseError {
            section: "message end",
            error: WireError::Trailing,
        });
    }
    let mut rcode = header.flags & 0x000F;
    let mut opt = None;
    for rr in additional.iter().filter(|rr| rr.rtype == rtype::OPT) {
        if opt.is_some() || rr.owner != [0] {
            return Err(ParseError {
                section: "additional",
                error: WireError::BadOpt,
            });
        }
        // RFC 6891 6.1.3: the TTL field holds EXTENDED-RCODE, VERSION, DO.
        rcode |= ((rr.ttl >> 24) as u16) << 4;
        opt = Some(((rr.ttl >> 16) as u8, rr.ttl & 0x8000 != 0));
    }
    Ok(Response {
        header,
        rcode,
        question,
        answer,
        authority,
        opt,
    })
}

/// Read `count` records.
fn read_section(msg: &[u8], r: &mut Reader<'_>, count: u16) -> Result<Vec<Rr>, WireError> {
    let mut scratch = NameBuf::default();
    let mut records = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        r.name(&mut scratch)?;
        scratch.make_lowercase();
        let owner = scratch.as_wire().to_vec();
        let rtype = r.u16()?;
        let class = r.u16()?;
        let ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let start = r.pos();
        let raw = r.take(len)?;
        let rdata = decompress_rdata(msg, start, len, rtype)?.unwrap_or_else(|| raw.to_vec());
        records.push(Rr {
            owner,
            rtype,
            class,
            ttl,
            rdata,
        });
    }
    Ok(records)
}

/// The RDATA of a type that holds compressible names (RFC 1035 3.3 and the
/// types servers commonly compress), rewritten with its names
/// uncompressed and lowercased; `None` for other types.
fn decompress_rdata(
    msg: &[u8],
    start: usize,
    len: usize,
    rtype: u16,
) -> Result<Option<Vec<u8>>, WireError> {
    // (octets before the first name, names in a row, octets after).
    let (prefix, names) = match rtype {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => (0, 1),
        6 => (0, 2),
        14 | 17 => (0, 2),
        15 | 18 | 21 | 36 => (2, 1),
        33 => (6, 1),
        26 => (2, 2),
        _ => return Ok(None),
    };
    let mut r = Reader::new(msg);
    r.take(start)?;
    let mut out = r.take(prefix)?.to_vec();
    let mut name = NameBuf::default();
    for _ in 0..names {
        r.name(&mut name)?;
        name.make_lowercase();
        out.extend_from_slice(name.as_wire());
    }
    let used = r.pos() - start;
    let rest = len.checked_sub(used).ok_or(WireError::Short)?;
    out.extend_from_slice(r.take(rest)?);
    Ok(Some(out))
}

/// A wire name in presentation form (`www.example.com.`), with octets
/// other than letters, digits, `-` and `_` written as `\DDD`.
pub fn name_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut r = Reader::new(wire);
    while let Ok(len) = r.u8() {
        if len == 0 {
            break;
        }
        let Ok(label) = r.take(usize::from(len)) else {
            break;
        };
        for &b in label {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*' {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\{b:03}");
            }
        }
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// One record in a stable text form: owner, TTL, class, type, RDATA hex.
fn rr_text(rr: &Rr) -> String {
    let mut hex = String::with_capacity(rr.rdata.len() * 2);
    for b in &rr.rdata {
        let _ = write!(hex, "{b:02x}");
    }
    format!(
        "{} {} {} {} {hex}",
        name_text(&rr.owner),
        rr.ttl,
        rr.class,
        type_name(rr.rtype)
    )
}

/// The name of an RCODE.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

/// The RCODE named `name` (`NOERROR`, `NXDOMAIN`, ... or `RCODEn`).
pub fn rcode_from_name(name: &str) -> Option<u16> {
    let upper = name.to_ascii_uppercase();
    (0..=16u16)
        .find(|&n| rcode_name(n) == upper)
        .or_else(|| upper.strip_prefix("RCODE")?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_and_plain_names_normalise_alike() {
        // Header: id 7, QR AA, one question, one answer (CNAME).
        let head = [0, 7, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        let question = b"\x03WWW\x07example\x03com\x00\x00\x05\x00\x01";
        let mut compressed = head.to_vec();
        compressed.extend_from_slice(question);
        // www CNAME web.<pointer to example.com at 16>
        compressed.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        compressed.extend_from_slice(b"\x03web\xc0\x10");
        let mut plain = head.to_vec();
        plain.extend_from_slice(question);
        plain.extend_from_slice(b"\x03www\x07example\x03com\x00");
        plain.extend_from_slice(&[0, 5, 0, 1, 0, 0, 0, 60, 0, 17]);
        plain.extend_from_slice(b"\x03WEB\x07example\x03com\x00");
        let a = parse(&compressed).unwrap();
        let b = parse(&plain).unwrap();
        assert_eq!(a.normalised(), b.normalised());
        assert!(a.normalised().starts_with("NOERROR opcode 0 [ qr aa ]"));
        assert_eq!(name_text(&a.question.unwrap().0), "WWW.example.com.");
    }

    #[test]
    fn trailing_octets_and_forward_pointers_are_refused() {
        let mut msg = vec![0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse(&msg).is_ok());
        msg.push(0);
        assert!(parse(&msg).is_err());
        let mut fwd = vec![0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        fwd.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(parse(&fwd).is_err());
    }

    #[test]
    fn rcode_names() {
        assert_eq!(rcode_from_name("nxdomain"), Some(3));
        assert_eq!(rcode_from_name("BADVERS"), Some(16));
        assert_eq!(rcode_from_name("RCODE11"), Some(11));
        assert_eq!(rcode_from_name("nonsense"), None);
    }
}
