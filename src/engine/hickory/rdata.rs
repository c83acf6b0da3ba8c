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
    ("MINFO", 14),
    ("RP", 17),
    ("AFSDB", 18),
    ("RT", 21),
    ("KEY", 25),
    ("AAAA", 28),
    ("LOC", 29),
    ("SRV", 33),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", code::DNAME),
    ("APL", 42),
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
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", code::URI),
    ("CAA", code::CAA),
];

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

/// RDATA of type A read into hickory's [`A`] and encoded by its encoder
/// into `out`, as [`parse`] and [`to_wire_into`] do it (with the same
/// messages), without the [`RData`] enum around it; `None` for the
/// generic form (`\#`), which [`parse`] reads.
pub fn a_into(words: &[Token], out: &mut Vec<u8>) -> Option<Result<(), String>> {
    if let Some(first) = words.first()
        && !first.quoted
        && first.raw == b"\\#"
    {
        return None;
    }
    let mut w = Words { words, at: 0 };
    let read = w.ipv4().map(A).and_then(|a| w.end().map(|()| a));
    Some(read.and_then(|a| {
        out.clear();
        let mut encoder = BinEncoder::new(out);
        a.emit(&mut encoder)
            .map_err(|e| format!("cannot encode RDATA: {e}"))
    }))
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
        // RFC 1035 MINFO: two names.
        14 => {
            out.extend(text::wire(&w.name(origin)?));
            out.extend(text::wire(&w.name(origin)?));
        }
        // RFC 2535 KEY: as DNSKEY.
        25 => {
            out.extend(w.num::<u16>("flags")?.to_be_bytes());
            out.push(w.num("protocol")?);
            out.push(w.algorithm()?);
            out.extend(text::per_word(w.rest(), text::base64)?);
        }
        // RFC 4398 CERT.
        37 => {
            out.extend(w.cert_type()?.to_be_bytes());
            out.extend(w.num::<u16>("key tag")?.to_be_bytes());
            out.push(w.algorithm()?);
            out.extend(text::per_word(w.rest(), text::base64)?);
        }
        // RFC 6742 NID and L64: preference, four groups of four hex digits.
        104 | 106 => {
            out.extend(w.num::<u16>("preference")?.to_be_bytes());
            let raw = &w.next()?.raw;
            let parts: Vec<&[u8]> = raw.split(|&b| b == b':').collect();
            if parts.len() != 4 || parts.iter().any(|p| p.len() != 4) {
                return Err("bad ILNP locator".into());
            }
            for p in parts {
                out.extend(text::hex(&[Token {
                    raw: p,
                    quoted: false,
                }])?);
            }
        }
        // RFC 6742 L32: preference and an IPv4 locator.
        105 => {
            out.extend(w.num::<u16>("preference")?.to_be_bytes());
            out.extend(w.ipv4()?.octets());
        }
        // RFC 3123 APL.
        42 => out.extend(apl(w.rest())?),
        // RFC 4025 IPSECKEY.
        45 => {
            out.push(w.num("precedence")?);
            let gateway_type: u8 = w.num("gateway type")?;
            if gateway_type > 3 {
                return Err("gateway type above 3".into());
            }
            out.push(gateway_type);
            out.push(w.num("algorithm")?);
            let gateway = w.next()?;
            match gateway_type {
                0 if gateway.raw == b"." => {}
                0 => return Err("gateway type 0 needs the gateway `.`".into()),
                1 => out.extend(parse_ip::<Ipv4Addr>(gateway.raw)?.octets()),
                2 => out.extend(parse_ip::<Ipv6Addr>(gateway.raw)?.octets()),
                _ => out.extend(text::wire(&text::name_word(gateway, origin)?)),
            }
            let key = w.rest();
            if !key.is_empty() {
                out.extend(text::per_word(key, text::base64)?);
            }
        }
        // RFC 1183 AFSDB, RT, RFC 2230 KX and RFC 6742 LP: a 16-bit value
        // and a name.
        18 | 21 | 36 | 107 => {
            out.extend(w.num::<u16>("preference")?.to_be_bytes());
            out.extend(text::wire(&w.name(origin)?));
        }
        code::SPF => {
            for s in w.strings()? {
                out.push(s.len() as u8);
                out.extend(s);
            }
        }
        // RFC 4034 DS and RFC 7344 CDS.
        code::DS | 59 => {
            out.extend(w.num::<u16>("key tag")?.to_be_bytes());
            out.push(w.algorithm()?);
            out.push(w.num("digest type")?);
            out.extend(text::per_word(w.rest(), text::hex)?);
        }
        // RFC 4034 DNSKEY and RFC 7344 CDNSKEY.
        code::DNSKEY | 60 => {
            out.extend(w.num::<u16>("flags")?.to_be_bytes());
            out.push(w.num("protocol")?);
            out.push(w.algorithm()?);
            out.extend(text::per_word(w.rest(), text::base64)?);
        }
        // RFC 4034 3.2 RRSIG.
        46 => {
            let covered = w.next()?;
            let covered = record_type(covered.raw).ok_or_else(|| {
                format!("unknown type `{}`", String::from_utf8_lossy(covered.raw))
            })?;
            out.extend(covered.to_be_bytes());
            out.push(w.algorithm()?);
            out.push(w.num("labels")?);
            out.extend(w.ttl()?.to_be_bytes());
            out.extend(w.time()?.to_be_bytes());
            out.extend(w.time()?.to_be_bytes());
            out.extend(w.num::<u16>("key tag")?.to_be_bytes());
            out.extend(text::wire(&w.name(origin)?));
            out.extend(text::per_word(w.rest(), text::base64)?);
        }
        // RFC 4034 4.2 NSEC.
        47 => {
            out.extend(text::wire(&w.name(origin)?));
            out.extend(type_bitmap(w.rest())?);
        }
        // RFC 5155 3.3 NSEC3.
        50 => {
            out.push(w.num("hash algorithm")?);
            out.push(w.num("flags")?);
            out.extend(w.num::<u16>("iterations")?.to_be_bytes());
            out.extend(salt(w.next()?)?);
            let hash = base32hex(w.next()?.raw)?;
            if hash.is_empty() || hash.len() > 255 {
                return Err("bad NSEC3 next hashed owner".into());
            }
            out.push(hash.len() as u8);
            out.extend(hash);
            out.extend(type_bitmap(w.rest())?);
        }
        // RFC 5155 4.3 NSEC3PARAM.
        51 => {
            out.push(w.num("hash algorithm")?);
            out.push(w.num("flags")?);
            out.extend(w.num::<u16>("iterations")?.to_be_bytes());
            out.extend(salt(w.next()?)?);
        }
        // RFC 7477 CSYNC.
        62 => {
            out.extend(w.num::<u32>("serial")?.to_be_bytes());
            out.extend(w.num::<u16>("flags")?.to_be_bytes());
            out.extend(type_bitmap(w.rest())?);
        }
        // RFC 8976 ZONEMD.
        63 => {
            out.extend(w.num::<u32>("serial")?.to_be_bytes());
            out.push(w.num("scheme")?);
            out.push(w.num("hash algorithm")?);
            out.extend(text::per_word(w.rest(), text::hex)?);
        }
        // RFC 7929 OPENPGPKEY and RFC 4701 DHCID: base64 only.
        61 | 49 => out.extend(text::per_word(w.rest(), text::base64)?),
        // RFC 8162 SMIMEA: as TLSA.
        53 => {
            out.push(w.num("usage")?);
            out.push(w.num("selector")?);
            out.push(w.num("matching type")?);
            out.extend(text::per_word(w.rest(), text::hex)?);
        }
        // RFC 7043 EUI48 and EUI64: hex pairs joined by `-`.
        108 | 109 => {
            let raw = &w.next()?.raw;
            let want = if t == 108 { 6 } else { 8 };
            let parts: Vec<&[u8]> = raw.split(|&b| b == b'-').collect();
            if parts.len() != want || parts.iter().any(|p| p.len() != 2) {
                return Err("bad EUI address".into());
            }
            for p in parts {
                out.extend(text::hex(&[Token {
                    raw: p,
                    quoted: false,
                }])?);
            }
        }
        // RFC 1876 LOC.
        29 => out.extend(loc(w.rest())?),
        code::SSHFP => {
            out.push(w.num("algorithm")?);
            out.push(w.num("fingerprint type")?);
            out.extend(text::per_word(w.rest(), text::hex)?);
        }
        code::TLSA => {
            out.push(w.num("usage")?);
            out.push(w.num("selector")?);
            out.push(w.num("matching type")?);
            out.extend(text::per_word(w.rest(), text::hex)?);
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
            out.extend(tag.raw);
            out.extend(text::unescape(w.next()?.raw)?);
        }
        code::URI => {
            out.extend(w.num::<u16>("priority")?.to_be_bytes());
            out.extend(w.num::<u16>("weight")?.to_be_bytes());
            let target = w.next()?;
            out.extend(text::unescape(target.raw)?);
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
    let len: u16 = text::number(len.raw, "RDATA length")?;
    let bytes = text::hex(hex)?;
    if bytes.len() != usize::from(len) {
        return Err(format!(
            "`\\#` length {len} does not match the {} octets given",
            bytes.len()
        ));
    }
    check_layout(t, &bytes)?;
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

/// The wire layout of each type read in presentation form, one character
/// per field: `1`, `2`, `4`, `6`, `8`, `G` fixed sizes of 1, 2, 4, 6, 8
/// and 16 octets; `n` an uncompressed name; `s` a character string; `S`
/// one or more strings to the end; `t` a non-empty string (CAA tag); `b`
/// a type bitmap; `r` anything to the end. LOC, APL, IPSECKEY and SVCB
/// are checked by hand.
fn layout(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "4",
        2 | 5 | 12 | 39 => "n",
        6 => "nn44444",
        13 => "ss",
        14 | 17 => "nn",
        15 | 18 | 21 | 36 | 107 => "2n",
        16 | 99 => "S",
        28 => "G",
        33 => "222n",
        35 => "22sssn",
        37 => "221r",
        43 | 59 => "211r",
        44 => "11r",
        46 => "2114442nr",
        47 => "nb",
        25 | 48 | 60 => "211r",
        49 | 61 => "r",
        50 => "112ssb",
        51 => "112s",
        52 | 53 => "111r",
        62 => "42b",
        63 => "411r",
        104 | 106 => "28",
        105 => "24",
        108 => "6",
        109 => "8",
        256 => "22r",
        257 => "1tr",
        _ => return None,
    })
}

/// RFC 3597 5: generic RDATA of a known type must have that type's wire
/// layout.
fn check_layout(t: u16, wire: &[u8]) -> Result<(), String> {
    let short = || "RDATA too short for its type".to_string();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<(), String> {
        if wire.len() < *at + n {
            return Err(short());
        }
        *at += n;
        Ok(())
    };
    let octet = |at: &mut usize| -> Result<u8, String> {
        let b = *wire.get(*at).ok_or_else(short)?;
        *at += 1;
        Ok(b)
    };
    let name = |at: &mut usize| -> Result<(), String> {
        let start = *at;
        loop {
            let len = usize::from(*wire.get(*at).ok_or_else(short)?);
            *at += 1 + len;
            if len == 0 {
                break;
            }
            // RFC 3597 4: no compression in generic RDATA.
            if len > 63 || *at - start > 255 {
                return Err("invalid name in RDATA".into());
            }
        }
        if *at > wire.len() {
            return Err(short());
        }
        Ok(())
    };
    match t {
        29 => {
            take(&mut at, 16)?;
            if wire.first() != Some(&0) {
                return Err("unknown LOC version".into());
            }
        }
        42 => {
            while at < wire.len() {
                take(&mut at, 3)?;
                let len = octet(&mut at)? & 0x7f;
                take(&mut at, usize::from(len))?;
            }
        }
        45 => {
            take(&mut at, 1)?;
            let kind = octet(&mut at)?;
            take(&mut at, 1)?;
            match kind {
                0 => {}
                1 => take(&mut at, 4)?,
                2 => take(&mut at, 16)?,
                3 => name(&mut at)?,
                _ => return Err("invalid IPSECKEY gateway type".into()),
            }
            at = wire.len();
        }
        64 | 65 => {
            take(&mut at, 2)?;
            name(&mut at)?;
            let mut last: Option<u16> = None;
            while at < wire.len() {
                let key = u16::from_be_bytes([octet(&mut at)?, octet(&mut at)?]);
                if last.is_some_and(|l| l >= key) {
                    return Err("SVCB parameters out of order".into());
                }
                last = Some(key);
                let len = u16::from_be_bytes([octet(&mut at)?, octet(&mut at)?]);
                take(&mut at, usize::from(len))?;
            }
        }
        _ => {
            let Some(fields) = layout(t) else {
                return Ok(());
            };
            for f in fields.bytes() {
                match f {
                    b'1' | b'2' | b'4' | b'6' | b'8' => take(&mut at, usize::from(f - b'0'))?,
                    b'G' => take(&mut at, 16)?,
                    b'n' => name(&mut at)?,
                    b's' => {
                        let len = octet(&mut at)?;
                        take(&mut at, usize::from(len))?;
                    }
                    b't' => {
                        let len = octet(&mut at)?;
                        if len == 0 {
                            return Err("empty CAA tag".into());
                        }
                        take(&mut at, usize::from(len))?;
                    }
                    b'S' => loop {
                        let len = octet(&mut at)?;
                        take(&mut at, usize::from(len))?;
                        if at >= wire.len() {
                            break;
                        }
                    },
                    b'b' => {
                        let mut last: Option<u8> = None;
                        while at < wire.len() {
                            let window = octet(&mut at)?;
                            let len = octet(&mut at)?;
                            if last.is_some_and(|l| l >= window) || !(1..=32).contains(&len) {
                                return Err("invalid type bitmap".into());
                            }
                            last = Some(window);
                            take(&mut at, usize::from(len))?;
                        }
                    }
                    _ => at = wire.len(),
                }
            }
        }
    }
    if at != wire.len() {
        return Err("RDATA longer than its type allows".into());
    }
    Ok(())
}

/// The uncompressed wire form of `rdata`.
pub fn to_wire(rdata: &RData) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    to_wire_into(rdata, &mut out)?;
    Ok(out)
}

/// The uncompressed wire form of `rdata`, into `out` (cleared first).
pub fn to_wire_into(rdata: &RData, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut encoder = BinEncoder::new(out);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    rdata
        .emit(&mut encoder)
        .map_err(|e| format!("cannot encode RDATA: {e}"))?;
    if out.len() > usize::from(u16::MAX) {
        return Err("RDATA longer than 65,535 octets".into());
    }
    Ok(())
}

/// A cursor over the RDATA words.
struct Words<'a> {
    /// The words.
    words: &'a [Token<'a>],
    /// The next one.
    at: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Result<&'a Token<'a>, String> {
        let t = self.words.get(self.at).ok_or("RDATA is incomplete")?;
        self.at += 1;
        Ok(t)
    }

    fn rest(&mut self) -> &'a [Token<'a>] {
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
        text::name_word(self.next()?, origin)
    }

    fn num<T: TryFrom<u64>>(&mut self, what: &str) -> Result<T, String> {
        text::number(self.next()?.raw, what)
    }

    fn ttl(&mut self) -> Result<u32, String> {
        text::ttl(self.next()?.raw)
    }

    fn ipv4(&mut self) -> Result<Ipv4Addr, String> {
        if let Some(a) = self.words.get(self.at).and_then(|t| dotted_quad(t.raw)) {
            self.at += 1;
            return Ok(a);
        }
        self.parsed("an IPv4 address")
    }

    fn ipv6(&mut self) -> Result<Ipv6Addr, String> {
        self.parsed("an IPv6 address")
    }

    /// The next word through `FromStr`; `what` names it in the error.
    fn parsed<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, String> {
        let t = self.next()?;
        std::str::from_utf8(t.raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("`{}` is not {what}", text::show(std::slice::from_ref(t))))
    }

    /// A DNSSEC algorithm number or mnemonic (RFC 4034 A.1, RFC 8624).
    fn algorithm(&mut self) -> Result<u8, String> {
        let raw = &self.next()?.raw;
        if raw.first().is_some_and(u8::is_ascii_digit) {
            return text::number(raw, "algorithm");
        }
        const NAMES: &[(&str, u8)] = &[
            ("RSAMD5", 1),
            ("DH", 2),
            ("DSA", 3),
            ("RSASHA1", 5),
            ("DSA-NSEC3-SHA1", 6),
            ("RSASHA1-NSEC3-SHA1", 7),
            ("RSASHA256", 8),
            ("RSASHA512", 10),
            ("ECC-GOST", 12),
            ("ECDSAP256SHA256", 13),
            ("ECDSAP384SHA384", 14),
            ("ED25519", 15),
            ("ED448", 16),
            ("INDIRECT", 252),
            ("PRIVATEDNS", 253),
            ("PRIVATEOID", 254),
        ];
        let word = String::from_utf8_lossy(raw).to_ascii_uppercase();
        NAMES
            .iter()
            .find(|(n, _)| *n == word)
            .map(|&(_, v)| v)
            .ok_or_else(|| format!("unknown algorithm `{word}`"))
    }

    /// A CERT type number or mnemonic (RFC 4398 2.1).
    fn cert_type(&mut self) -> Result<u16, String> {
        let raw = &self.next()?.raw;
        if raw.first().is_some_and(u8::is_ascii_digit) {
            return text::number(raw, "certificate type");
        }
        const NAMES: &[(&str, u16)] = &[
            ("PKIX", 1),
            ("SPKI", 2),
            ("PGP", 3),
            ("IPKIX", 4),
            ("ISPKI", 5),
            ("IPGP", 6),
            ("ACPKIX", 7),
            ("IACPKIX", 8),
            ("URI", 253),
            ("OID", 254),
        ];
        let word = String::from_utf8_lossy(raw).to_ascii_uppercase();
        NAMES
            .iter()
            .find(|(n, _)| *n == word)
            .map(|&(_, v)| v)
            .ok_or_else(|| format!("unknown certificate type `{word}`"))
    }

    /// An RRSIG time: `YYYYMMDDHHmmSS` (UTC) or seconds since the epoch.
    fn time(&mut self) -> Result<u32, String> {
        let raw = &self.next()?.raw;
        if raw.len() != 14 {
            return text::number(raw, "time");
        }
        let n = |a: usize, b: usize| text::number::<u64>(&raw[a..b], "time");
        let (y, mo, d, h, mi, sec) = (
            n(0, 4)?,
            n(4, 6)?,
            n(6, 8)?,
            n(8, 10)?,
            n(10, 12)?,
            n(12, 14)?,
        );
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return Err("bad time".into());
        }
        // Days from 1970-01-01 to the date (proleptic Gregorian).
        let (yy, mm) = if mo <= 2 {
            (y - 1, mo + 9)
        } else {
            (y, mo - 3)
        };
        let era = yy / 400;
        let yoe = yy - era * 400;
        let doy = (153 * mm + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = (era * 146_097 + doe) as i64 - 719_468;
        let secs = days * 86_400 + (h * 3600 + mi * 60 + sec) as i64;
        // RFC 4034 3.1.5: serial number arithmetic, modulo 2^32.
        Ok(secs.rem_euclid(1 << 32) as u32)
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        text::char_string(self.next()?.raw)
    }

    /// One or more character strings, to the end. As Knot DNS does, a
    /// word longer than 255 octets becomes several strings.
    fn strings(&mut self) -> Result<Vec<Vec<u8>>, String> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err("RDATA is incomplete".into());
        }
        let mut out = Vec::new();
        for t in rest {
            let bytes = text::unescape(t.raw)?;
            if bytes.is_empty() {
                out.push(Vec::new());
            }
            out.extend(bytes.chunks(255).map(<[u8]>::to_vec));
        }
        Ok(out)
    }
}

/// RFC 4034 4.1.2: the type bitmap of NSEC, NSEC3 and CSYNC, from type
/// mnemonics.
fn type_bitmap(words: &[Token]) -> Result<Vec<u8>, String> {
    let mut types = Vec::with_capacity(words.len());
    for w in words {
        types.push(record_type(w.raw).ok_or_else(|| {
            format!(
                "unknown type `{}` in a type bitmap",
                String::from_utf8_lossy(w.raw)
            )
        })?);
    }
    types.sort_unstable();
    types.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < types.len() {
        let window = (types[i] >> 8) as u8;
        let mut bits = [0u8; 32];
        let mut len = 0;
        while i < types.len() && (types[i] >> 8) as u8 == window {
            let low = (types[i] & 0xFF) as usize;
            bits[low / 8] |= 0x80 >> (low % 8);
            len = low / 8 + 1;
            i += 1;
        }
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    Ok(out)
}

/// RFC 5155 3.3: a salt in hex, or `-` for none, with its length octet.
fn salt(word: &Token) -> Result<Vec<u8>, String> {
    let bytes = if word.raw == b"-" {
        Vec::new()
    } else {
        text::hex(std::slice::from_ref(word))?
    };
    if bytes.len() > 255 {
        return Err("salt longer than 255 octets".into());
    }
    let mut out = vec![bytes.len() as u8];
    out.extend(bytes);
    Ok(out)
}

/// RFC 4648 7: base32 with the extended hex alphabet, no padding.
fn base32hex(raw: &[u8]) -> Result<Vec<u8>, String> {
    // Knot DNS reads whole groups of eight digits (40 bits) only.
    if raw.len() % 8 != 0 {
        return Err("base32hex length is not a multiple of 8".into());
    }
    let mut out = Vec::with_capacity(raw.len() * 5 / 8);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in raw {
        let v = match c.to_ascii_uppercase() {
            b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return Err("bad base32hex digit".into()),
        };
        acc = acc << 5 | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero, and fewer than one digit's worth.
    if acc != 0 || bits >= 5 {
        return Err("bad base32hex length".into());
    }
    Ok(out)
}

/// RFC 1876 section 3: LOC in presentation form.
fn loc(words: &[Token]) -> Result<Vec<u8>, String> {
    let bad = || "bad LOC RDATA".to_string();
    let texts: Vec<String> = words
        .iter()
        .map(|w| String::from_utf8_lossy(w.raw).into_owned())
        .collect();
    let mut i = 0;
    // One coordinate: degrees [minutes [seconds]] hemisphere.
    let mut coordinate = |pos: char, neg: char, max_deg: u64| -> Result<u32, String> {
        let mut parts: Vec<String> = Vec::new();
        while let Some(t) = texts.get(i) {
            i += 1;
            let up = t.to_ascii_uppercase();
            if up.len() == 1 && (up.starts_with(pos) || up.starts_with(neg)) {
                if parts.is_empty() || parts.len() > 3 {
                    return Err(bad());
                }
                let deg: u64 = text::number(parts[0].as_bytes(), "degrees")?;
                let min: u64 = match parts.get(1) {
                    Some(m) => text::number(m.as_bytes(), "minutes")?,
                    None => 0,
                };
                let ms = match parts.get(2) {
                    Some(s) => decimal(s, 3).ok_or_else(bad)?,
                    None => 0,
                };
                if deg > max_deg || min > 59 || ms > 59_999 {
                    return Err(bad());
                }
                let value = (deg * 3600 + min * 60) * 1000 + ms;
                if value > max_deg * 3_600_000 {
                    return Err(bad());
                }
                let value = i64::try_from(value).map_err(|_| bad())?;
                let signed = if up.starts_with(neg) { -value } else { value };
                return Ok((signed + (1i64 << 31)) as u32);
            }
            parts.push(t.clone());
        }
        Err(bad())
    };
    let lat = coordinate('N', 'S', 90)?;
    let lon = coordinate('E', 'W', 180)?;
    let rest = texts.get(i..).unwrap_or_default();
    let metres = |s: &str| -> Option<i64> {
        let s = s.strip_suffix(['m', 'M']).unwrap_or(s);
        let (neg, digits) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        let cm = decimal(digits, 2)? as i64;
        Some(if neg { -cm } else { cm })
    };
    let alt_cm = metres(rest.first().ok_or_else(bad)?).ok_or_else(bad)?;
    let alt = alt_cm + 10_000_000;
    if !(0..=i64::from(u32::MAX)).contains(&alt) {
        return Err(bad());
    }
    // Size and precisions: centimetres as mantissa and exponent.
    let precision = |s: Option<&String>, default_cm: i64| -> Result<u8, String> {
        let cm = match s {
            Some(s) => metres(s).ok_or_else(bad)?,
            None => default_cm,
        };
        if cm < 0 {
            return Err(bad());
        }
        let mut exp = 0u8;
        let mut mant = cm;
        while mant > 9 {
            if exp == 9 {
                return Err(bad());
            }
            mant /= 10;
            exp += 1;
        }
        Ok((mant as u8) << 4 | exp)
    };
    if rest.len() > 4 {
        return Err(bad());
    }
    let size = precision(rest.get(1), 100)?;
    let hp = precision(rest.get(2), 1_000_000)?;
    let vp = precision(rest.get(3), 1_000)?;
    let mut out = vec![0, size, hp, vp];
    out.extend(lat.to_be_bytes());
    out.extend(lon.to_be_bytes());
    out.extend((alt as u32).to_be_bytes());
    Ok(out)
}

/// A non-negative decimal with at most `places` fraction digits, scaled by
/// 10^places.
fn decimal(s: &str, places: u32) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > places as usize || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u64 = text::number(int.as_bytes(), "number").ok()?;
    let mut f: u64 = 0;
    for (k, d) in frac.bytes().enumerate() {
        f += u64::from(d - b'0') * 10u64.pow(places - 1 - k as u32);
    }
    int.checked_mul(10u64.pow(places))?.checked_add(f)
}

/// The common form of an IPv4 address, read without the general parser:
/// four decimal octets of one to three digits, no leading zero. `None`
/// for anything else (which `Ipv4Addr`'s parser then reads or refuses:
/// whatever this reads, it reads alike).
fn dotted_quad(raw: &[u8]) -> Option<Ipv4Addr> {
    // One pass over the octets: the value and digits of the part being
    // read, and how many parts are done.
    let mut octets = [0u8; 4];
    let mut done = 0;
    let mut v: u16 = 0;
    let mut digits = 0;
    for &b in raw {
        if b.is_ascii_digit() {
            // No fourth digit, and no digit after a leading zero.
            if digits == 3 || (digits == 1 && v == 0) {
                return None;
            }
            v = v * 10 + u16::from(b - b'0');
            digits += 1;
        } else if b == b'.' && digits > 0 && done < 3 {
            octets[done] = u8::try_from(v).ok()?;
            done += 1;
            v = 0;
            digits = 0;
        } else {
            return None;
        }
    }
    if digits == 0 || done != 3 {
        return None;
    }
    octets[3] = u8::try_from(v).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// An address in text form.
fn parse_ip<T: std::str::FromStr>(raw: &[u8]) -> Result<T, String> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("`{}` is not an address", String::from_utf8_lossy(raw)))
}

/// RFC 3123 4: `[!]family:address/prefix` items, trailing zero octets of
/// the address left out.
fn apl(words: &[Token]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for w in words {
        let bad = || format!("bad APL item `{}`", String::from_utf8_lossy(w.raw));
        let (negated, item) = match w.raw.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, w.raw),
        };
        let item = std::str::from_utf8(item).map_err(|_| bad())?;
        let (family, rest) = item.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
        let prefix: u8 = text::number(prefix.as_bytes(), "prefix").map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
        let (family, mut octets) = match family {
            "1" if prefix <= 32 => (
                1u16,
                parse_ip::<Ipv4Addr>(address.as_bytes())?.octets().to_vec(),
            ),
            "2" => (
                2u16,
                parse_ip::<Ipv6Addr>(address.as_bytes())?.octets().to_vec(),
            ),
            _ => return Err(bad()),
        };
        while octets.last() == Some(&0) {
            octets.pop();
        }
        out.extend(family.to_be_bytes());
        out.push(prefix);
        out.push(u8::from(negated) << 7 | octets.len() as u8);
        out.extend(octets);
    }
    Ok(out)
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
    ("dohpath", 7),
    ("ohttp", 8),
];

/// A SvcParamKey by name or as `keyNNNNN` (lower case; 65535 is reserved).
fn svc_key(name: &[u8]) -> Result<u16, String> {
    let s = String::from_utf8_lossy(name);
    if let Some(&(_, k)) = SVC_KEYS.iter().find(|(n, _)| *n == s) {
        return Ok(k);
    }
    match s
        .strip_prefix("key")
        .map(|n| text::number::<u16>(n.as_bytes(), "key"))
    {
        Some(Ok(k)) if k != u16::MAX => Ok(k),
        _ => Err(format!("unknown SvcParamKey `{s}`")),
    }
}

/// Split a value on unescaped commas, decoding escapes in each item; no
/// item may be empty.
fn comma_list(raw: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\\' => {
                cur.extend(raw.get(i..i + 2).unwrap_or(&raw[i..]));
                i += 2;
            }
            b',' => {
                items.push(text::unescape(&std::mem::take(&mut cur))?);
                i += 1;
            }
            _ => {
                cur.push(b);
                i += 1;
            }
        }
    }
    items.push(text::unescape(&cur)?);
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in a SvcParam value list".into());
    }
    Ok(items)
}

/// RFC 9460 2.1: SvcParams in presentation form (`key` or `key=value`),
/// to wire form sorted by key.
fn svc_params(words: &[Token]) -> Result<Vec<u8>, String> {
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut mandatory: Vec<u16> = Vec::new();
    for w in words {
        let (key, value) = match w.raw.iter().position(|&b| b == b'=') {
            Some(eq) => (&w.raw[..eq], Some(&w.raw[eq + 1..])),
            None => (w.raw, None),
        };
        let k = svc_key(key)?;
        let need = || {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("SvcParam `{}` needs a value", String::from_utf8_lossy(key)))
        };
        let data = match k {
            0 => {
                let mut keys = comma_list(need()?)?
                    .iter()
                    .map(|n| svc_key(n))
                    .collect::<Result<Vec<_>, _>>()?;
                keys.sort_unstable();
                if keys.windows(2).any(|p| p[0] == p[1]) || keys.first() == Some(&0) {
                    return Err("bad mandatory list".into());
                }
                mandatory.clone_from(&keys);
                keys.iter().flat_map(|k| k.to_be_bytes()).collect()
            }
            1 => {
                let mut data = Vec::new();
                for id in comma_list(need()?)? {
                    if id.len() > 255 {
                        return Err("alpn identifier longer than 255 octets".into());
                    }
                    data.push(id.len() as u8);
                    data.extend(id);
                }
                data
            }
            2 | 8 if value.is_some() => return Err(format!("SvcParamKey {k} takes no value")),
            2 | 8 => Vec::new(),
            3 => text::number::<u16>(need()?, "port")?.to_be_bytes().to_vec(),
            4 => {
                let mut data = Vec::new();
                for a in comma_list(need()?)? {
                    data.extend(parse_ip::<Ipv4Addr>(&a)?.octets());
                }
                data
            }
            6 => {
                let mut data = Vec::new();
                for a in comma_list(need()?)? {
                    data.extend(parse_ip::<Ipv6Addr>(&a)?.octets());
                }
                data
            }
            5 => text::base64(&[Token {
                raw: need()?,
                quoted: false,
            }])?,
            _ => text::unescape(value.unwrap_or_default())?,
        };
        if data.len() > usize::from(u16::MAX) {
            return Err("SvcParam value too long".into());
        }
        params.push((k, data));
    }
    params.sort_by_key(|(k, _)| *k);
    if params.windows(2).any(|p| p[0].0 == p[1].0) {
        return Err("a SvcParamKey is given twice".into());
    }
    // RFC 9460 8: every mandatory key must be present.
    if let Some(k) = mandatory
        .iter()
        .find(|k| params.binary_search_by_key(*k, |(have, _)| *have).is_err())
    {
        return Err(format!("mandatory SvcParamKey {k} is missing"));
    }
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
        parse(code, &e[0].tokens()[1..], &origin).and_then(|r| to_wire(&r))
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
    fn dnssec_types_and_loc() {
        assert_eq!(rd("DS", "1 RSASHA256 2 00").unwrap(), [0, 1, 8, 2, 0]);
        assert_eq!(
            rd("NSEC", "host.example. A MX RRSIG NSEC TYPE1234").unwrap(),
            [
                b"\x04host\x07example\x00".as_slice(),
                &[0, 6, 0x40, 0x01, 0, 0, 0, 0x03],
                &[4, 27],
                &[0; 26],
                &[0x20],
            ]
            .concat()
        );
        let sig = rd(
            "RRSIG",
            "A 8 2 300 20240101000000 1704067200 1 example. AQID",
        )
        .unwrap();
        assert_eq!(&sig[..4], &[0, 1, 8, 2]);
        assert_eq!(&sig[8..12], &1_704_067_200u32.to_be_bytes());
        assert_eq!(&sig[12..16], &1_704_067_200u32.to_be_bytes());
        assert_eq!(
            rd("NSEC3PARAM", "1 0 10 aabb").unwrap(),
            [1, 0, 0, 10, 2, 0xaa, 0xbb]
        );
        let n3 = rd("NSEC3", "1 1 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM A").unwrap();
        assert_eq!(&n3[..6], &[1, 1, 0, 0, 0, 20]);
        assert_eq!(
            rd("EUI48", "00-00-5e-00-53-2a").unwrap(),
            [0, 0, 0x5e, 0, 0x53, 0x2a]
        );
        // RFC 1876 example values.
        let l = rd("LOC", "42 21 54 N 71 06 18 W -24m 30m").unwrap();
        assert_eq!(
            l,
            [
                0x00, 0x33, 0x16, 0x13, 0x89, 0x17, 0x2d, 0xd0, 0x70, 0xbe, 0x15, 0xf0, 0x00, 0x98,
                0x8d, 0x20
            ]
        );
        assert!(rd("LOC", "91 N 0 E 0").is_err());
        assert_eq!(rd("OPENPGPKEY", "AQID").unwrap(), [1, 2, 3]);
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
    fn dotted_quads_read_as_the_general_parser_reads_them() {
        let mut cases: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.1.1.1",
            "1.1.1",
            "1.1.1.1.1",
            "1..1.1",
            "1.1.1.",
            ".1.1.1",
            "1.1.1.1 ",
            "+1.1.1.1",
            "1.1.1.-1",
            "0000.1.1.1",
            "10.0.0.10",
            "192.0.2.300",
            "1.2.3.04",
            "a.b.c.d",
            "",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        for i in 0..2000u32 {
            let x = i.wrapping_mul(2_654_435_761);
            cases.push(format!(
                "{}.{}.{}.{}",
                x % 300,
                (x >> 8) % 260,
                (x >> 16) % 1000,
                i % 257
            ));
            cases.push(format!("{}.0{}.1.1", x % 7, i % 10));
        }
        for c in cases {
            let general: Option<Ipv4Addr> = c.parse().ok();
            if let Some(mine) = dotted_quad(c.as_bytes()) {
                assert_eq!(Some(mine), general, "{c}");
            }
            let word = Token {
                raw: c.as_bytes(),
                quoted: false,
            };
            let mut w = Words {
                words: std::slice::from_ref(&word),
                at: 0,
            };
            assert_eq!(w.ipv4().ok(), general, "{c}");
        }
    }

    #[test]
    fn generic_form() {
        assert_eq!(rd("TYPE65280", "\\# 0").unwrap(), b"");
        assert_eq!(rd("TYPE65280", "\\# 2 ab CD").unwrap(), [0xab, 0xcd]);
        assert_eq!(rd("A", "\\# 4 c0000201").unwrap(), [192, 0, 2, 1]);
        assert!(rd("A", "\\# 3 c00002").is_err());
        assert!(rd("TYPE1", "\\# 5 c0000201").is_err());
        assert!(rd("LOC", "1 2 3").is_err());
        assert_eq!(record_type(b"type1"), Some(1));
        assert_eq!(record_type(b"TYPE65536"), None);
        assert_eq!(record_type(b"BOGUS"), None);
    }
}
