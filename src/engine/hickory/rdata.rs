//! RDATA in presentation form to hickory-proto [`RData`], type by type.
//!
//! hickory-proto's own text parsing is used for nothing here: its lexer
//! mis-decodes `\DDD` escapes and its per-type parsers lack DNAME, SPF,
//! DS, DNSKEY and the RFC 3597 generic form. Types whose hickory value
//! type round-trips exactly (A, AAAA, NS, CNAME, PTR, MX, SOA, TXT, SRV,
//! HINFO, NAPTR) become their typed [`RData`] variant; every other type
//! is built here in wire form and kept as [`RData::Unknown`], which
//! hickory-proto writes out octet for octet.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, HINFO, MX, NAPTR, NS, NULL, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{
    BinDecoder, BinEncodable, BinEncoder, NameEncoding, Restrict,
};

use super::text::{self, Token};

/// Type numbers this module names.
pub mod code {
    /// RFC 6672.
    pub const DNAME: u16 = 39;
    /// RFC 7208.
    pub const SPF: u16 = 99;
    /// RFC 4034.
    pub const DS: u16 = 43;
    /// RFC 4034.
    pub const DNSKEY: u16 = 48;
    /// RFC 4255.
    pub const SSHFP: u16 = 44;
    /// RFC 6698.
    pub const TLSA: u16 = 52;
    /// RFC 8659.
    pub const CAA: u16 = 257;
    /// RFC 9460.
    pub const SVCB: u16 = 64;
    /// RFC 9460.
    pub const HTTPS: u16 = 65;
    /// RFC 7553.
    pub const URI: u16 = 256;
}

/// Mnemonics read in zone files, with their type numbers.
const MNEMONICS: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("HINFO", 13),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", code::DNAME),
    ("DS", code::DS),
    ("SSHFP", code::SSHFP),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", code::DNSKEY),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", code::TLSA),
    ("SMIMEA", 53),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", code::SVCB),
    ("HTTPS", code::HTTPS),
    ("SPF", code::SPF),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", code::URI),
    ("CAA", code::CAA),
];

/// Types that cannot be zone data (RFC 6895 3.1 meta types and QTYPEs).
fn is_meta(t: u16) -> bool {
    matches!(t, 0 | 41 | 128..=255)
}

/// The type named by a zone-file word: a mnemonic or RFC 3597 `TYPEnnn`.
pub fn record_type(raw: &[u8]) -> Option<u16> {
    let word = std::str::from_utf8(raw).ok()?;
    if let Some(n) = word
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("TYPE"))
        .and_then(|_| word.get(4..))
    {
        return text::number::<u16>(n.as_bytes(), "type").ok();
    }
    MNEMONICS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(word))
        .map(|&(_, t)| t)
}

/// The mnemonic of a type number, or `TYPEnnn`.
pub fn type_name(t: u16) -> String {
    MNEMONICS
        .iter()
        .find(|&&(_, n)| n == t)
        .map(|(m, _)| (*m).to_string())
        .unwrap_or_else(|| format!("TYPE{t}"))
}

/// Parse the RDATA words of a record of type `t`, names relative to
/// `origin`.
pub fn parse(t: u16, words: &[Token], origin: &Name) -> Result<RData, String> {
    if is_meta(t) {
        return Err(format!("{} is not a type of zone data", type_name(t)));
    }
    if let Some(first) = words.first()
        && !first.quoted
        && first.raw == b"\\#"
    {
        return generic(t, &words[1..]);
    }
    let rtype = RecordType::from(t);
    let mut w = Words { words, at: 0 };
    let rdata = match t {
        1 => RData::A(A(w.ipv4()?)),
        28 => RData::AAAA(AAAA(w.ipv6()?)),
        2 => RData::NS(NS(w.name(origin)?)),
        5 => RData::CNAME(CNAME(w.name(origin)?)),
        12 => RData::PTR(PTR(w.name(origin)?)),
        15 => RData::MX(MX::new(w.num("preference")?, w.name(origin)?)),
        6 => {
            let mname = w.name(origin)?;
            let rname = w.name(origin)?;
            let serial = w.num("serial")?;
            let refresh = w.ttl()? as i32;
            let retry = w.ttl()? as i32;
            let expire = w.ttl()? as i32;
            let minimum = w.ttl()?;
            RData::SOA(SOA::new(
                mname, rname, serial, refresh, retry, expire, minimum,
            ))
        }
        16 => {
            let strings = w.strings()?;
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
        33 => RData::SRV(SRV::new(
            w.num("priority")?,
            w.num("weight")?,
            w.num("port")?,
            w.name(origin)?,
        )),
        13 => RData::HINFO(HINFO::from_bytes(
            w.string()?.into_boxed_slice(),
            w.string()?.into_boxed_slice(),
        )),
        35 => RData::NAPTR(NAPTR::new(
            w.num("order")?,
            w.num("preference")?,
            w.string()?.into_boxed_slice(),
            w.string()?.into_boxed_slice(),
            w.string()?.into_boxed_slice(),
            w.name(origin)?,
        )),
        _ => {
            let bytes = own_wire(t, &mut w, origin)?;
            w.end()?;
            return Ok(unknown(rtype, bytes));
        }
    };
    w.end()?;
    Ok(rdata)
}

/// RDATA of types kept in wire form.
fn own_wire(t: u16, w: &mut Words<'_>, origin: &Name) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match t {
        code::DNAME => out.extend(text::wire(&w.name(origin)?)),
        // RFC 1183 RP: two names, never compressed (RFC 3597 4).
        17 => {
            out.extend(text::wire(&w.name(origin)?));
            out.extend(text::wire(&w.name(origin)?));
        }
        // RFC 1183 AFSDB and RFC 2230 KX: a 16-bit value and a name.
        18 | 36 => {
            out.extend(w.num::<u16>("preference")?.to_be_bytes());
            out.extend(text::wire(&w.name(origin)?));
        }
        code::SPF => {
            for s in w.strings()? {
                out.push(s.len() as u8);
                out.extend(s);
            }
        }
        code::DS => {
            out.extend(w.num::<u16>("key tag")?.to_be_bytes());
            out.push(w.num("algorithm")?);
            out.push(w.num("digest type")?);
            out.extend(text::hex(w.rest())?);
        }
        code::DNSKEY => {
            out.extend(w.num::<u16>("flags")?.to_be_bytes());
            out.push(w.num("protocol")?);
            out.push(w.num("algorithm")?);
            out.extend(text::base64(w.rest())?);
        }
        code::SSHFP => {
            out.push(w.num("algorithm")?);
            out.push(w.num("fingerprint type")?);
            out.extend(text::hex(w.rest())?);
        }
        code::TLSA => {
            out.push(w.num("usage")?);
            out.push(w.num("selector")?);
            out.push(w.num("matching type")?);
            out.extend(text::hex(w.rest())?);
        }
        code::CAA => {
            out.push(w.num("flags")?);
            let tag = w.next()?;
            if tag.raw.is_empty()
                || tag.raw.len() > 255
                || !tag.raw.iter().all(u8::is_ascii_alphanumeric)
            {
                return Err("CAA tag must be letters and digits".into());
            }
            out.push(tag.raw.len() as u8);
            out.extend(&tag.raw);
            out.extend(text::unescape(&w.next()?.raw)?);
        }
        code::URI => {
            out.extend(w.num::<u16>("priority")?.to_be_bytes());
            out.extend(w.num::<u16>("weight")?.to_be_bytes());
            let target = w.next()?;
            out.extend(text::unescape(&target.raw)?);
        }
        code::SVCB | code::HTTPS => {
            out.extend(w.num::<u16>("priority")?.to_be_bytes());
            out.extend(text::wire(&w.name(origin)?));
            out.extend(svc_params(w.rest())?);
        }
        _ => {
            return Err(format!(
                "{} must be written in the RFC 3597 form `\\# length hex`",
                type_name(t)
            ));
        }
    }
    if out.len() > usize::from(u16::MAX) {
        return Err("RDATA longer than 65,535 octets".into());
    }
    Ok(out)
}

/// An [`RData::Unknown`] holding `bytes` (hickory's `NULL` must not be
/// built from an empty vector).
fn unknown(rtype: RecordType, bytes: Vec<u8>) -> RData {
    let rdata = if bytes.is_empty() {
        NULL::new()
    } else {
        NULL::with(bytes)
    };
    RData::Unknown { code: rtype, rdata }
}

/// True for the types kept as a typed hickory value.
fn typed(t: u16) -> bool {
    matches!(t, 1 | 2 | 5 | 6 | 12 | 13 | 15 | 16 | 28 | 33 | 35)
}

/// RFC 3597 5: `\# length hex`.
fn generic(t: u16, words: &[Token]) -> Result<RData, String> {
    let (len, hex) = words
        .split_first()
        .ok_or("`\\#` needs a length and hex octets")?;
    let len: u16 = text::number(&len.raw, "RDATA length")?;
    let bytes = text::hex(hex)?;
    if bytes.len() != usize::from(len) {
        return Err(format!(
            "`\\#` length {len} does not match the {} octets given",
            bytes.len()
        ));
    }
    let rtype = RecordType::from(t);
    if !typed(t) {
        return Ok(unknown(rtype, bytes));
    }
    let mut decoder = BinDecoder::new(&bytes);
    let rdata = RData::read(&mut decoder, rtype, Restrict::new(len))
        .map_err(|e| format!("RDATA is not a valid {}: {e}", type_name(t)))?;
    if !decoder.is_empty() {
        return Err(format!("RDATA is not a valid {}", type_name(t)));
    }
    Ok(rdata)
}

/// The uncompressed wire form of `rdata`.
pub fn to_wire(rdata: &RData) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = BinEncoder::new(&mut out);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    rdata
        .emit(&mut encoder)
        .map_err(|e| format!("cannot encode RDATA: {e}"))?;
    if out.len() > usize::from(u16::MAX) {
        return Err("RDATA longer than 65,535 octets".into());
    }
    Ok(out)
}

/// A cursor over the RDATA words.
struct Words<'a> {
    /// The words.
    words: &'a [Token],
    /// The next one.
    at: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Result<&'a Token, String> {
        let t = self.words.get(self.at).ok_or("RDATA is incomplete")?;
        self.at += 1;
        Ok(t)
    }

    fn rest(&mut self) -> &'a [Token] {
        let rest = self.words.get(self.at..).unwrap_or_default();
        self.at = self.words.len();
        rest
    }

    fn end(&self) -> Result<(), String> {
        match self.words.get(self.at..) {
            Some([]) | None => Ok(()),
            Some(extra) => Err(format!(
                "unexpected `{}` after the RDATA",
                text::show(extra)
            )),
        }
    }

    fn name(&mut self, origin: &Name) -> Result<Name, String> {
        let t = self.next()?;
        text::name(&t.raw, origin)
    }

    fn num<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, String> {
        text::number(&self.next()?.raw, what)
    }

    fn ttl(&mut self) -> Result<u32, String> {
        text::ttl(&self.next()?.raw)
    }

    fn ipv4(&mut self) -> Result<Ipv4Addr, String> {
        let t = self.next()?;
        std::str::from_utf8(&t.raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "`{}` is not an IPv4 address",
                    text::show(std::slice::from_ref(t))
                )
            })
    }

    fn ipv6(&mut self) -> Result<Ipv6Addr, String> {
        let t = self.next()?;
        std::str::from_utf8(&t.raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "`{}` is not an IPv6 address",
                    text::show(std::slice::from_ref(t))
                )
            })
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        text::char_string(&self.next()?.raw)
    }

    /// One or more character strings, to the end.
    fn strings(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err("RDATA is incomplete".into());
        }
        rest.iter().map(|t| text::char_string(&t.raw)).collect()
    }
}

/// SvcParamKey names of RFC 9460 14.3.2.
const SVC_KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("ipv6hint", 6),
];

/// A SvcParamKey by name or as `keyNNNNN`.
fn svc_key(name: &[u8]) -> Result<u16, String> {
    let s = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some(&(_, k)) = SVC_KEYS.iter().find(|(n, _)| *n == s) {
        return Ok(k);
    }
    match s.strip_prefix("key") {
        Some(n) if !n.is_empty() => text::number(n.as_bytes(), "SvcParamKey"),
        _ => Err(format!("unknown SvcParamKey `{s}`")),
    }
}

/// Split a value on unescaped commas, decoding escapes in each item.
fn comma_list(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\\' => {
                let end = if raw.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i + 4
                } else {
                    i + 2
                };
                let piece = raw.get(i..end).ok_or("`\\` at the end of a value")?;
                cur.extend(text::unescape(piece)?);
                i = end;
            }
            b',' => {
                items.push(std::mem::take(&mut cur));
                i += 1;
            }
            _ => {
                cur.push(b);
                i += 1;
            }
        }
    }
    items.push(cur);
    Ok(items)
}

/// RFC 9460 2.1: SvcParams in presentation form, to wire form sorted by
/// key.
fn svc_params(words: &[Token]) -> Result<Vec<u8>, String> {
    // Join `key=` with a following quoted value.
    let mut pairs: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let mut i = 0;
    while let Some(t) = words.get(i) {
        if t.quoted {
            return Err("a quoted SvcParam value without a key".into());
        }
        match t.raw.iter().position(|&b| b == b'=') {
            None => pairs.push((t.raw.clone(), None)),
            Some(eq) => {
                let key = t.raw[..eq].to_vec();
                let mut value = t.raw[eq + 1..].to_vec();
                if value.is_empty()
                    && let Some(next) = words.get(i + 1).filter(|n| n.quoted)
                {
                    value = next.raw.clone();
                    i += 1;
                }
                pairs.push((key, Some(value)));
            }
        }
        i += 1;
    }
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    for (key, value) in pairs {
        let k = svc_key(&key)?;
        let mut data = Vec::new();
        match (k, value) {
            (2, None) => {}
            (2, Some(_)) => return Err("no-default-alpn takes no value".into()),
            (_, None) if k <= 6 => {
                return Err(format!(
                    "SvcParam `{}` needs a value",
                    String::from_utf8_lossy(&key)
                ));
            }
            (_, None) => {}
            (0, Some(v)) => {
                let mut keys = comma_list(&v)?
                    .iter()
                    .map(|n| svc_key(n))
                    .collect::<Result<Vec<_>, _>>()?;
                keys.sort_unstable();
                for k in keys {
                    data.extend(k.to_be_bytes());
                }
            }
            (1, Some(v)) => {
                for id in comma_list(&v)? {
                    if id.is_empty() || id.len() > 255 {
                        return Err("bad alpn identifier".into());
                    }
                    data.push(id.len() as u8);
                    data.extend(id);
                }
            }
            (3, Some(v)) => data.extend(text::number::<u16>(&v, "port")?.to_be_bytes()),
            (4, Some(v)) => {
                for a in comma_list(&v)? {
                    let ip: Ipv4Addr = std::str::from_utf8(&a)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or("bad ipv4hint address")?;
                    data.extend(ip.octets());
                }
            }
            (6, Some(v)) => {
                for a in comma_list(&v)? {
                    let ip: Ipv6Addr = std::str::from_utf8(&a)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or("bad ipv6hint address")?;
                    data.extend(ip.octets());
                }
            }
            (5, Some(v)) => data.extend(text::base64(&[Token {
                raw: v,
                quoted: false,
            }])?),
            (_, Some(v)) => data.extend(text::unescape(&v)?),
        }
        if params.iter().any(|(have, _)| *have == k) {
            return Err(format!("SvcParamKey {k} is given twice"));
        }
        if data.len() > usize::from(u16::MAX) {
            return Err("SvcParam value too long".into());
        }
        params.push((k, data));
    }
    params.sort_by_key(|(k, _)| *k);
    let mut out = Vec::new();
    for (k, data) in params {
        out.extend(k.to_be_bytes());
        out.extend((data.len() as u16).to_be_bytes());
        out.extend(data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::hickory::text::split_entries;

    fn rd(t: &str, text: &str) -> Result<Vec<u8>, String> {
        let origin = text::name(b"example.", &Name::root()).unwrap();
        let line = format!("x {text}\n");
        let e = split_entries(line.as_bytes()).unwrap();
        let code = record_type(t.as_bytes()).unwrap();
        parse(code, &e[0].tokens[1..], &origin).and_then(|r| to_wire(&r))
    }

    #[test]
    fn common_types() {
        assert_eq!(rd("A", "192.0.2.1").unwrap(), [192, 0, 2, 1]);
        assert!(rd("A", "192.0.2.256").is_err());
        assert!(rd("A", "192.0.2.1 x").is_err());
        assert_eq!(rd("AAAA", "::1").unwrap().len(), 16);
        assert_eq!(rd("NS", "ns1").unwrap(), b"\x03ns1\x07example\x00");
        assert_eq!(rd("MX", "10 @").unwrap(), b"\x00\x0a\x07example\x00");
        let soa = rd("SOA", "ns h 1 1h 2 3 1d").unwrap();
        assert_eq!(&soa[soa.len() - 4..], &86_400u32.to_be_bytes());
        assert_eq!(
            rd("TXT", "\"a\\032b\" c \"\"").unwrap(),
            b"\x03a b\x01c\x00"
        );
        assert_eq!(rd("SPF", "\"v=spf1 -all\"").unwrap(), b"\x0bv=spf1 -all");
        assert_eq!(
            rd("SRV", "1 2 3 t.").unwrap(),
            b"\x00\x01\x00\x02\x00\x03\x01t\x00"
        );
        assert_eq!(rd("DNAME", "x.y.").unwrap(), b"\x01x\x01y\x00");
        assert_eq!(rd("RP", "a b.").unwrap(), b"\x01a\x07example\x00\x01b\x00");
        assert_eq!(rd("AFSDB", "1 b.").unwrap(), b"\x00\x01\x01b\x00");
        assert_eq!(
            rd("CAA", "0 issue \"ca.example; x=y\"").unwrap(),
            b"\x00\x05issueca.example; x=y"
        );
        assert_eq!(rd("DS", "1 8 2 00 ff").unwrap(), [0, 1, 8, 2, 0, 255]);
        assert_eq!(rd("DNSKEY", "257 3 8 AQID").unwrap(), [1, 1, 3, 8, 1, 2, 3]);
        assert_eq!(rd("TLSA", "3 1 1 abcd").unwrap(), [3, 1, 1, 0xab, 0xcd]);
        assert_eq!(rd("SSHFP", "1 1 ab").unwrap(), [1, 1, 0xab]);
        assert_eq!(
            rd("NAPTR", "1 2 \"u\" \"E2U+sip\" \"\" .").unwrap(),
            b"\x00\x01\x00\x02\x01u\x07E2U+sip\x00\x00"
        );
    }

    #[test]
    fn svcb_params_sorted() {
        let w = rd("HTTPS", "1 . port=8443 alpn=\"h2,h3\"").unwrap();
        assert_eq!(
            w,
            b"\x00\x01\x00\x00\x01\x00\x06\x02h2\x02h3\x00\x03\x00\x02\x20\xfb"
        );
        assert!(rd("SVCB", "1 . port=1 port=2").is_err());
        assert!(rd("SVCB", "1 . bogus=1").is_err());
    }

    #[test]
    fn generic_form() {
        assert_eq!(rd("TYPE65280", "\\# 0").unwrap(), b"");
        assert_eq!(rd("TYPE65280", "\\# 2 ab CD").unwrap(), [0xab, 0xcd]);
        assert_eq!(rd("A", "\\# 4 c0000201").unwrap(), [192, 0, 2, 1]);
        assert!(rd("A", "\\# 3 c00002").is_err());
        assert!(rd("TYPE1", "\\# 5 c0000201").is_err());
        assert!(rd("LOC", "1 2 3").is_err());
        assert!(rd("TYPE41", "\\# 0").is_err());
        assert_eq!(record_type(b"type1"), Some(1));
        assert_eq!(record_type(b"TYPE65536"), None);
        assert_eq!(record_type(b"BOGUS"), None);
    }
}
