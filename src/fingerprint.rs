//! Query fingerprints: what the query-of-death blacklist remembers.
//!
//! While its engine's blacklist is not empty, a worker fingerprints every
//! query before an engine sees it and drops those whose fingerprint is
//! blacklisted; with an empty blacklist (the common case) it fingerprints
//! nothing. Either way it records the query's octets where its king can
//! read them after a crash or a hang, and the king fingerprints them then
//! (see [`crate::slot`]). The fingerprint must match the same
//! question sent by any resolver, so it covers only what the question *is*:
//! the lowercased query name, the query type and class, the opcode, and the
//! engine answering. The message ID, the letter case of the name (0x20
//! randomisation), the EDNS buffer size, cookies and every other option are
//! left out.
//!
//! This parser is shared code that runs before every engine, so it is
//! small, reads through a bounds-checked cursor and cannot panic. A packet
//! whose question cannot be read (no question, two questions, a bad label,
//! a compression pointer) is fingerprinted by its raw octets after the ID
//! instead, so even a malformed query of death is remembered exactly.
//!
//! ```
//! use stripedns::engine::EngineKind;
//! use stripedns::fingerprint::Fingerprint;
//!
//! // Header (ID 0x1234, RD), one question: www.example.com. IN A.
//! let mut q = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
//! q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
//! let mut other = q.clone();
//! other[0] = 0x99; // another ID
//! other[13] = b'W'; // another case
//! let a = Fingerprint::of(&q, EngineKind::Native).unwrap();
//! assert_eq!(Some(a), Fingerprint::of(&other, EngineKind::Native));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::engine::EngineKind;

/// RFC 1035 4.1.1: the header is 12 octets.
const HEADER_LEN: usize = 12;
/// RFC 1035 2.3.4: names are 255 octets or less (wire form).
const MAX_NAME: usize = 255;
/// RFC 1035 2.3.4: labels are 63 octets or less.
const MAX_LABEL: usize = 63;

/// The fingerprint of one question as one engine sees it: 64 bits of a
/// blake3 hash, never zero (zero marks an idle slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// The fingerprint of `query` for `engine`; `None` for packets no
    /// engine answers (shorter than a header, or QR=1 responses).
    pub fn of(query: &[u8], engine: EngineKind) -> Option<Fingerprint> {
        if !Fingerprint::applies(query) {
            return None;
        }
        let engine = engine.as_str().as_bytes();
        let hash = match Question::parse(query) {
            Some(q) => {
                // One buffer, one hash call: this runs for every query while
                // the blacklist is not empty.
                let mut buf = [0u8; 32 + 8 + MAX_NAME];
                let mut len = 0;
                let name = q.name();
                let parts: [&[u8]; 7] = [
                    engine,
                    &[0, b'Q'],
                    &[q.opcode],
                    &q.qtype.to_be_bytes(),
                    &q.qclass.to_be_bytes(),
                    &[0],
                    name,
                ];
                for part in parts {
                    buf.get_mut(len..len + part.len())?.copy_from_slice(part);
                    len += part.len();
                }
                blake3::hash(buf.get(..len).unwrap_or_default())
            }
            None => {
                // Everything but the ID: the exact packet, replayed.
                let mut hasher = blake3::Hasher::new();
                hasher.update(engine);
                hasher.update(&[0, b'R']);
                hasher.update(query.get(2..).unwrap_or_default());
                hasher.finalize()
            }
        };
        Some(Fingerprint::from_hash(hash.as_bytes()))
    }

    /// True when `query` gets a fingerprint from [`Fingerprint::of`]: it
    /// holds a header and is not a response. Costs two comparisons, so a
    /// caller can decide to record a query without fingerprinting it.
    pub fn applies(query: &[u8]) -> bool {
        query.len() >= HEADER_LEN && query[2] & 0x80 == 0
    }

    /// The first eight octets of a hash, with zero mapped to one.
    fn from_hash(hash: &[u8; 32]) -> Fingerprint {
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        Fingerprint(u64::from_be_bytes(first).max(1))
    }

    /// The fingerprint stored as `raw` (a slot's value); `None` for zero.
    pub fn from_raw(raw: u64) -> Option<Fingerprint> {
        (raw != 0).then_some(Fingerprint(raw))
    }

    /// The value stored in a slot; never zero.
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = String;
    fn from_str(s: &str) -> Result<Fingerprint, String> {
        let bad = || format!("`{s}` is not a fingerprint (16 hexadecimal digits)");
        if s.len() != 16 {
            return Err(bad());
        }
        let raw = u64::from_str_radix(s, 16).map_err(|_| bad())?;
        Fingerprint::from_raw(raw).ok_or_else(bad)
    }
}

/// The question of a query, as far as the fingerprint needs it: the name
/// lowercased and uncompressed, type, class and opcode.
#[derive(Clone, PartialEq, Eq)]
pub struct Question {
    /// Uncompressed, lowercased wire form of the name.
    name: [u8; MAX_NAME],
    /// Octets of `name` in use.
    name_len: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// The header's opcode (0 is QUERY).
    pub opcode: u8,
}

impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Question({self})")
    }
}

/// A bounds-checked cursor over a message.
struct Cursor<'a> {
    /// The whole message.
    msg: &'a [u8],
    /// Where the next read starts.
    pos: usize,
}

impl Cursor<'_> {
    /// The next octet.
    fn u8(&mut self) -> Option<u8> {
        let b = *self.msg.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next two octets, big-endian.
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
}

impl Question {
    /// The question of a message with exactly one question, whose name
    /// reads cleanly; `None` otherwise. Never panics.
    pub fn parse(msg: &[u8]) -> Option<Question> {
        let header = msg.get(..HEADER_LEN)?;
        if header[4..6] != [0, 1] {
            return None;
        }
        let mut q = Question {
            name: [0; MAX_NAME],
            name_len: 0,
            qtype: 0,
            qclass: 0,
            opcode: (header[2] >> 3) & 0x0F,
        };
        let mut c = Cursor {
            msg,
            pos: HEADER_LEN,
        };
        loop {
            let len = c.u8()?;
            // RFC 1035 4.1.4: a pointer refers to a prior occurrence of a
            // name, and the question's name is the first of the message, so
            // a pointer could only point into the header (making the ID part
            // of the name). No real query does that; such a packet and
            // extended label types (RFC 6891 5) are fingerprinted by their
            // octets after the ID instead.
            if len & 0xC0 != 0 {
                return None;
            }
            let len = usize::from(len);
            // RFC 1035 2.3.4: labels are 63 octets or less, names 255.
            if len > MAX_LABEL || q.name_len + 1 + len > MAX_NAME {
                return None;
            }
            let label = msg.get(c.pos..c.pos + len)?;
            let out = q.name.get_mut(q.name_len..q.name_len + 1 + len)?;
            out[0] = len as u8;
            for (o, b) in out[1..].iter_mut().zip(label) {
                *o = b.to_ascii_lowercase();
            }
            q.name_len += 1 + len;
            c.pos += len;
            if len == 0 {
                break;
            }
        }
        q.qtype = c.u16()?;
        q.qclass = c.u16()?;
        Some(q)
    }

    /// The lowercased, uncompressed wire form of the name.
    pub fn name(&self) -> &[u8] {
        self.name.get(..self.name_len).unwrap_or_default()
    }
}

impl fmt::Display for Question {
    /// `name. CLASS TYPE` with non-printable octets as `\DDD` (RFC 1035
    /// 5.1), plus the opcode when it is not QUERY. One line, no spaces
    /// inside the name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.name();
        if rest.len() <= 1 {
            f.write_str(".")?;
        }
        while let Some((&len, tail)) = rest.split_first() {
            if len == 0 {
                break;
            }
            let (label, tail) = tail.split_at(usize::from(len).min(tail.len()));
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7E => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
            rest = tail;
        }
        let class = match self.qclass {
            1 => "IN".to_string(),
            3 => "CH".to_string(),
            255 => "ANY".to_string(),
            n => format!("CLASS{n}"),
        };
        let qtype = match self.qtype {
            1 => "A",
            2 => "NS",
            5 => "CNAME",
            6 => "SOA",
            12 => "PTR",
            15 => "MX",
            16 => "TXT",
            28 => "AAAA",
            33 => "SRV",
            255 => "ANY",
            _ => "",
        };
        if qtype.is_empty() {
            write!(f, " {class} TYPE{}", self.qtype)?;
        } else {
            write!(f, " {class} {qtype}")?;
        }
        if self.opcode != 0 {
            write!(f, " OPCODE{}", self.opcode)?;
        }
        Ok(())
    }
}

/// A one-line description of `query` for the blacklist: its question, or
/// its length when the question cannot be read.
pub fn describe(query: &[u8]) -> String {
    match Question::parse(query) {
        Some(q) => q.to_string(),
        None => format!("unparsed query of {} octets", query.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A query for `name` (dotted, no escapes) with `id`, `qtype`, class
    /// IN and, when `edns` is set, an OPT record with that buffer size.
    fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        let arcount = u8::from(edns.is_some());
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, arcount]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
        if let Some(size) = edns {
            q.extend_from_slice(&[0, 0, 41]);
            q.extend_from_slice(&size.to_be_bytes());
            q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        q
    }

    fn fp(q: &[u8]) -> Fingerprint {
        Fingerprint::of(q, EngineKind::Native).unwrap()
    }

    #[test]
    fn same_question_from_another_resolver_matches() {
        let a = fp(&query(1, "crash-native.example.com", 1, None));
        assert_eq!(a, fp(&query(0xBEEF, "CRASH-Native.EXAMPLE.com", 1, None)));
        assert_eq!(a, fp(&query(7, "crash-native.example.com", 1, Some(4096))));
        assert_eq!(a, fp(&query(8, "crash-native.example.com", 1, Some(1232))));
        // A cookie option in the OPT record changes nothing either.
        let mut cookie = query(9, "crash-native.example.com", 1, Some(1232));
        let n = cookie.len();
        cookie[n - 2..].copy_from_slice(&[0, 12]);
        cookie.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(a, fp(&cookie));
        // RD cleared.
        let mut no_rd = query(1, "crash-native.example.com", 1, None);
        no_rd[2] = 0;
        assert_eq!(a, fp(&no_rd));
    }

    #[test]
    fn other_questions_do_not_match() {
        let a = fp(&query(1, "crash-native.example.com", 1, None));
        assert_ne!(a, fp(&query(1, "crash-native.example.net", 1, None)));
        assert_ne!(a, fp(&query(1, "www.example.com", 1, None)));
        assert_ne!(a, fp(&query(1, "crash-native.example.com", 28, None)));
        let mut chaos = query(1, "crash-native.example.com", 1, None);
        let n = chaos.len();
        chaos[n - 1] = 3;
        assert_ne!(a, fp(&chaos));
        let mut notify = query(1, "crash-native.example.com", 1, None);
        notify[2] = 4 << 3;
        assert_ne!(a, fp(&notify));
        let q = query(1, "crash-native.example.com", 1, None);
        assert_ne!(
            Fingerprint::of(&q, EngineKind::Native),
            Fingerprint::of(&q[..q.len() - 1], EngineKind::Native)
        );
    }

    #[test]
    fn pointers_in_the_question_are_not_followed() {
        // A pointer into the header would make the ID part of the name: not
        // followed; the packet is fingerprinted by its octets after the ID,
        // so another ID still matches (found by the fuzzer).
        let mut q = vec![0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend_from_slice(&[0xC0, 0, 0, 1, 0, 1]);
        assert!(Question::parse(&q).is_none());
        let mut other = q.clone();
        other[1] = 8;
        let fp = Fingerprint::of(&q, EngineKind::Native);
        assert!(fp.is_some());
        assert_eq!(fp, Fingerprint::of(&other, EngineKind::Native));
        // A pointer to the question itself (a loop) is not followed either.
        let mut looped = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[1, b'a', 0xC0, 12, 0, 1, 0, 1]);
        assert!(Question::parse(&looped).is_none());
        // Extended label types neither.
        let mut extended = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        extended.extend_from_slice(&[0x41, 0, 0, 1, 0, 1]);
        assert!(Question::parse(&extended).is_none());
    }

    #[test]
    fn no_fingerprint_for_what_no_engine_answers() {
        assert!(Fingerprint::of(&[0; 11], EngineKind::Native).is_none());
        let mut response = query(1, "example.com", 1, None);
        response[2] |= 0x80;
        assert!(Fingerprint::of(&response, EngineKind::Native).is_none());
    }

    #[test]
    fn printable_question() {
        let q = Question::parse(&query(1, "Crash-Native.example.com", 1, None)).unwrap();
        assert_eq!(q.to_string(), "crash-native.example.com. IN A");
        let mut odd = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        odd.extend_from_slice(&[3, b'a', b' ', 0xFF, 0, 0, 99, 0, 1]);
        assert_eq!(describe(&odd), "a\\032\\255. IN TYPE99");
        assert_eq!(describe(&[0; 12]), "unparsed query of 12 octets");
        let mut root = vec![0, 1, 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        root.extend_from_slice(&[0, 0, 2, 0, 1]);
        assert_eq!(describe(&root), ". IN NS OPCODE4");
    }

    #[test]
    fn fingerprint_text_round_trips() {
        let a = fp(&query(1, "example.com", 1, None));
        assert_eq!(a.to_string().parse::<Fingerprint>(), Ok(a));
        assert!("0000000000000000".parse::<Fingerprint>().is_err());
        assert!("xyz".parse::<Fingerprint>().is_err());
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Fingerprint::of(&bytes, EngineKind::Native);
            let _ = describe(&bytes);
        }

        #[test]
        fn id_case_and_edns_size_do_not_matter(
            labels in proptest::collection::vec("[a-zA-Z0-9-]{1,20}", 1..5),
            id in any::<u16>(),
            qtype in any::<u16>(),
            size in proptest::option::of(512u16..=4096),
            flips in any::<u64>(),
        ) {
            let name = labels.join(".");
            let base = fp(&query(0, &name.to_ascii_lowercase(), qtype, None));
            let mixed: String = name
                .chars()
                .enumerate()
                .map(|(i, c)| if flips >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect();
            prop_assert_eq!(base, fp(&query(id, &mixed, qtype, size)));
            let other = fp(&query(id, &format!("x{name}"), qtype, size));
            prop_assert_ne!(base, other);
        }
    }
}
