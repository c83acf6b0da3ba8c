//! RDATA: presentation form to uncompressed wire form, and the check of
//! RFC 3597 generic (`\# len hex`) RDATA against a type's wire layout.
//!
//! Most types are a fixed sequence of simple fields (a number, a name, an
//! address, a character string, base64 to the end...), so a type is
//! described by a [`Format`]: a list of [`Field`]s, or one of the few types
//! whose syntax needs its own code (LOC, APL, IPSECKEY, SVCB/HTTPS). The same
//! description drives both directions, which keeps the presentation parser
//! and the generic-RDATA validator from drifting apart.
//!
//! The set of types with a format is the set Knot DNS 3.2 reads by mnemonic;
//! every other type can still be written in RFC 3597 form.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::lexer::Token;
use super::loc::loc;
use super::svcb::svcb;
use super::text::{self, show};
use super::types;
use super::wire::validate;
use crate::engine::native::name::{MAX_LABEL, MAX_NAME, Name, NameError};

/// One field of a type's RDATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    /// An 8-bit number.
    U8,
    /// A 16-bit number.
    U16,
    /// A 32-bit number without units (SOA serial).
    U32,
    /// A 32-bit time that may carry units (SOA timers, RRSIG original TTL).
    Ttl,
    /// A domain name, relative to the origin unless absolute.
    Name,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// One character string, length-prefixed.
    Str,
    /// One or more character strings to the end (TXT, SPF).
    Strings,
    /// Base64 over the remaining tokens.
    Base64,
    /// Hex over the remaining tokens.
    Hex,
    /// A length-prefixed hex salt, `-` for none (NSEC3, NSEC3PARAM).
    Salt,
    /// A length-prefixed base32hex hash (NSEC3).
    Base32,
    /// A type bitmap over the remaining tokens (NSEC, NSEC3, CSYNC).
    Bitmap,
    /// An RRSIG time: `YYYYMMDDHHmmSS` or seconds since the epoch.
    Time,
    /// A DNSSEC algorithm number or mnemonic.
    Algorithm,
    /// A type mnemonic (RRSIG type covered).
    Type,
    /// A CERT type number or mnemonic.
    CertType,
    /// A 48-bit EUI, `xx-xx-xx-xx-xx-xx`.
    Eui48,
    /// A 64-bit EUI, `xx-xx-xx-xx-xx-xx-xx-xx`.
    Eui64,
    /// A 64-bit ILNP locator or node id, `xxxx:xxxx:xxxx:xxxx`.
    Ilnp64,
    /// A CAA tag: letters and digits, length-prefixed.
    Tag,
    /// One string to the end of the RDATA, not length-prefixed (CAA value,
    /// URI target).
    Opaque,
}

/// How a type's RDATA is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// A fixed sequence of fields.
    Fields(&'static [Field]),
    /// RFC 1876 location.
    Loc,
    /// RFC 3123 address prefix list.
    Apl,
    /// RFC 4025 IPsec key.
    Ipseckey,
    /// RFC 9460 service binding.
    Svcb,
}

/// The format of `rtype`, `None` for a type without a presentation parser.
pub(super) fn format(rtype: u16) -> Option<Format> {
    use Field::*;
    let fields: &'static [Field] = match rtype {
        1 => &[Ipv4],
        2 | 5 | 12 | 39 => &[Name],
        6 => &[Name, Name, U32, Ttl, Ttl, Ttl, Ttl],
        13 => &[Str, Str],
        14 | 17 => &[Name, Name],
        15 | 18 | 21 | 36 | 107 => &[U16, Name],
        16 | 99 => &[Strings],
        28 => &[Ipv6],
        33 => &[U16, U16, U16, Name],
        35 => &[U16, U16, Str, Str, Str, Name],
        37 => &[CertType, U16, Algorithm, Base64],
        43 | 59 => &[U16, Algorithm, U8, Hex],
        44 => &[U8, U8, Hex],
        46 => &[Type, Algorithm, U8, Ttl, Time, Time, U16, Name, Base64],
        47 => &[Name, Bitmap],
        25 | 48 | 60 => &[U16, U8, Algorithm, Base64],
        49 | 61 => &[Base64],
        50 => &[U8, U8, U16, Salt, Base32, Bitmap],
        51 => &[U8, U8, U16, Salt],
        52 | 53 => &[U8, U8, U8, Hex],
        62 => &[U32, U16, Bitmap],
        63 => &[U32, U8, U8, Hex],
        104 | 106 => &[U16, Ilnp64],
        105 => &[U16, Ipv4],
        108 => &[Eui48],
        109 => &[Eui64],
        256 => &[U16, U16, Opaque],
        257 => &[U8, Tag, Opaque],
        29 => return Some(Format::Loc),
        42 => return Some(Format::Apl),
        45 => return Some(Format::Ipseckey),
        64 | 65 => return Some(Format::Svcb),
        _ => return None,
    };
    Some(Format::Fields(fields))
}

/// True when the parser reads `rtype`'s presentation form (its mnemonic is
/// accepted in records and type bitmaps).
pub fn has_presentation(rtype: u16) -> bool {
    format(rtype).is_some()
}

/// The type number for a type field: a mnemonic we read, or `TYPEnnn`.
pub fn type_number(text: &[u8]) -> Result<u16, String> {
    // The types most records have, as they are usually written.
    match text {
        b"A" => return Ok(1),
        b"NS" => return Ok(2),
        b"CNAME" => return Ok(5),
        b"MX" => return Ok(15),
        b"TXT" => return Ok(16),
        b"AAAA" => return Ok(28),
        _ => {}
    }
    let s = std::str::from_utf8(text).unwrap_or("");
    if let Some(n) = types::generic_number(s, "TYPE") {
        return Ok(n);
    }
    match types::type_from_name(s) {
        Some(n) if has_presentation(n) => Ok(n),
        _ => Err(format!("unsupported record type \"{}\"", show(text))),
    }
}

/// The remaining tokens of an entry, read front to back.
#[derive(Debug)]
pub struct Fields<'a> {
    /// Tokens not read yet.
    rest: &'a [Token<'a>],
}

impl<'a> Fields<'a> {
    /// A cursor over `tokens`.
    pub fn new(tokens: &'a [Token<'a>]) -> Fields<'a> {
        Fields { rest: tokens }
    }

    /// The next token, or an error naming the missing field.
    pub fn next(&mut self, what: &str) -> Result<&'a Token<'a>, String> {
        let (first, tail) = self
            .rest
            .split_first()
            .ok_or_else(|| format!("missing {what}"))?;
        self.rest = tail;
        Ok(first)
    }

    /// The next token, if any, without consuming it.
    pub fn peek(&self) -> Option<&'a Token<'a>> {
        self.rest.first()
    }

    /// All remaining tokens.
    pub fn take_rest(&mut self) -> &'a [Token<'a>] {
        std::mem::take(&mut self.rest)
    }

    /// An error unless every token was used.
    pub fn finish(&self) -> Result<(), String> {
        match self.rest.first() {
            None => Ok(()),
            Some(t) => Err(format!("unexpected \"{}\" after the RDATA", show(&t.text))),
        }
    }

    /// The remaining tokens, at least one, each decoded on its own by
    /// `decode` and concatenated. Base64 and hex may be split by blanks,
    /// but (as Knot DNS reads them) only between whole quartets or pairs.
    fn decode_rest(
        &mut self,
        what: &str,
        decode: fn(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let rest = self.take_rest();
        if rest.is_empty() {
            return Err(format!("missing {what}"));
        }
        let parts = rest
            .iter()
            .map(|t| decode(&t.text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(parts.concat())
    }
}

/// [`parse_into`] a new buffer.
#[cfg(test)]
pub fn parse(rtype: u16, fields: &mut Fields<'_>, origin: &Name) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    parse_into(rtype, fields, origin, &mut out)?;
    Ok(out)
}

/// Parse the presentation RDATA of `rtype` from `fields` into wire form in
/// `out`, replacing what it held (a buffer kept for its room, so that
/// reading a record allocates nothing for its RDATA). Names are relative
/// to `origin`.
pub fn parse_into(
    rtype: u16,
    fields: &mut Fields<'_>,
    origin: &Name,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    if fields
        .peek()
        .is_some_and(|t| !t.quoted && t.text[..] == b"\\#"[..])
    {
        fields.next("\\#")?;
        out.extend(generic(rtype, fields)?);
        return Ok(());
    }
    match format(rtype).ok_or("unsupported record type; write it as \\# len hex")? {
        Format::Fields(list) => {
            for &field in list {
                parse_field(field, fields, origin, out)?;
            }
        }
        Format::Loc => loc(fields, out)?,
        Format::Apl => apl(fields, out)?,
        Format::Ipseckey => ipseckey(fields, origin, out)?,
        Format::Svcb => svcb(fields, origin, out)?,
    }
    fields.finish()?;
    // RFC 1035 section 3.2.1: "RDLENGTH an unsigned 16 bit integer that
    // specifies the length in octets of the RDATA field."
    if out.len() > usize::from(u16::MAX) {
        return Err("RDATA longer than 65535 octets".into());
    }
    Ok(())
}

/// RFC 3597 section 5: "\# <length> <hex>", where "the hexadecimal data
/// ... may be divided into any number of words separated by whitespace".
fn generic(rtype: u16, fields: &mut Fields<'_>) -> Result<Vec<u8>, String> {
    let len = text::number(&fields.next("RDATA length")?.text, u64::from(u16::MAX))?;
    let rest = fields.take_rest();
    let hex: Vec<u8> = rest.iter().flat_map(|t| t.text.iter().copied()).collect();
    let wire = text::hex(&hex)?;
    if wire.len() as u64 != len {
        return Err(format!(
            "the RDATA length {len} does not match the {} octets given",
            wire.len()
        ));
    }
    validate(rtype, &wire)?;
    Ok(wire)
}

/// Parse one field.
pub(super) fn parse_field(
    field: Field,
    fields: &mut Fields<'_>,
    origin: &Name,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    match field {
        Field::U8 => out.push(text::number(&fields.next("number")?.text, 255)? as u8),
        Field::U16 => out.extend(u16_field(&fields.next("number")?.text)?.to_be_bytes()),
        Field::U32 => {
            let n = text::number(&fields.next("number")?.text, u64::from(u32::MAX))?;
            out.extend((n as u32).to_be_bytes());
        }
        Field::Ttl => out.extend(text::ttl(&fields.next("time")?.text)?.to_be_bytes()),
        Field::Name => out.extend_from_slice(name(fields.next("name")?, origin)?.as_wire()),
        Field::Ipv4 => out.extend(ipv4(&fields.next("IPv4 address")?.text)?.octets()),
        Field::Ipv6 => out.extend(ipv6(&fields.next("IPv6 address")?.text)?.octets()),
        Field::Str => string(&text::unescape(&fields.next("string")?.text)?, out)?,
        Field::Strings => {
            let rest = fields.take_rest();
            if rest.is_empty() {
                return Err("missing string".into());
            }
            for token in rest {
                let bytes = text::unescape(&token.text)?;
                if bytes.is_empty() {
                    out.push(0);
                }
                // Knot DNS splits a string longer than 255 octets into
                // 255-octet strings rather than refusing it.
                for chunk in bytes.chunks(255) {
                    string(chunk, out)?;
                }
            }
        }
        Field::Base64 => out.extend(fields.decode_rest("base64 data", text::base64)?),
        Field::Hex => out.extend(fields.decode_rest("hex data", text::hex)?),
        Field::Salt => {
            let token = &fields.next("salt")?.text;
            let salt = if token[..] == b"-"[..] {
                Vec::new()
            } else {
                text::hex(token)?
            };
            string(&salt, out)?;
        }
        Field::Base32 => string(&text::base32hex(&fields.next("hash")?.text)?, out)?,
        Field::Bitmap => bitmap(fields.take_rest(), out)?,
        Field::Time => out.extend(time(&fields.next("time")?.text)?.to_be_bytes()),
        Field::Algorithm => {
            out.push(mnemonic(&fields.next("algorithm")?.text, ALGORITHMS, 255)? as u8)
        }
        Field::Type => out.extend(type_number(&fields.next("type")?.text)?.to_be_bytes()),
        Field::CertType => out.extend(
            (mnemonic(&fields.next("certificate type")?.text, CERT_TYPES, 65535)? as u16)
                .to_be_bytes(),
        ),
        Field::Eui48 => out.extend(groups(&fields.next("EUI-48")?.text, b'-', 6, 2)?),
        Field::Eui64 => out.extend(groups(&fields.next("EUI-64")?.text, b'-', 8, 2)?),
        Field::Ilnp64 => out.extend(groups(&fields.next("locator")?.text, b':', 4, 4)?),
        Field::Tag => {
            let tag = &fields.next("tag")?.text;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err(format!("invalid tag \"{}\"", show(tag)));
            }
            string(tag, out)?;
        }
        Field::Opaque => out.extend(text::unescape(&fields.next("value")?.text)?),
    }
    Ok(())
}

/// A 16-bit number.
pub(super) fn u16_field(text: &[u8]) -> Result<u16, String> {
    Ok(text::number(text, 65535)? as u16)
}

/// A name in RDATA, relative to `origin`, case kept as written.
pub fn name(token: &Token, origin: &Name) -> Result<Name, String> {
    if token.quoted
        || token.text.is_empty()
        || (token.text[..] != b"@"[..] && !name_characters(&token.text))
    {
        return Err(format!("invalid name \"{}\"", show(&token.text)));
    }
    presentation_name(&token.text, origin)
        .map_err(|e| format!("invalid name \"{}\": {e}", show(&token.text)))
}

/// A presentation-form name (`www`, `a.example.`, `\046`, `\.`, `@`) in
/// wire form, relative to `origin` unless it ends in a dot: what
/// [`Name::parse`] reads, with the same error for the same text, written
/// straight into one buffer because every owner of a zone goes through it.
fn presentation_name(text: &[u8], origin: &Name) -> Result<Name, NameError> {
    if text == b"@" {
        return Ok(origin.clone());
    }
    if text == b"." {
        return Ok(Name::root());
    }
    let mut wire = WireBuffer::default();
    // Where the current label's length octet is, and the label's length.
    let mut label_at = wire.push(0);
    let mut label_len = 0u8;
    let mut absolute = false;
    let mut rest = text;
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        let octet = match c {
            b'.' => {
                if label_len == 0 {
                    return Err(NameError::EmptyLabel);
                }
                wire.set(label_at, label_len);
                absolute = rest.is_empty();
                label_at = wire.push(0);
                label_len = 0;
                continue;
            }
            b'\\' => match rest {
                [a, b, c, tail @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                    let value = [a, b, c]
                        .iter()
                        .fold(0u32, |v, &&d| v * 10 + u32::from(d - b'0'));
                    rest = tail;
                    u8::try_from(value).map_err(|_| NameError::BadEscape)?
                }
                [e, tail @ ..] if !e.is_ascii_digit() => {
                    rest = tail;
                    *e
                }
                _ => return Err(NameError::BadEscape),
            },
            other => other,
        };
        wire.push(octet);
        label_len += 1;
        if usize::from(label_len) > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
    }
    // The length octet of an empty last label (after a final dot, or of
    // an empty text) goes; the root or the origin ends the name.
    if label_len == 0 {
        wire.len -= 1;
    } else {
        wire.set(label_at, label_len);
    }
    if absolute {
        wire.push(0);
    } else {
        wire.extend(origin.as_wire());
    }
    // RFC 1035 section 2.3.4: "names 255 octets or less".
    match wire.octets() {
        Some(octets) => Name::from_wire(octets),
        None => Err(NameError::NameTooLong),
    }
}

/// The wire form of a name being written: up to 255 octets, and a count
/// that keeps growing past them, so that a name too long is still read to
/// its end (an error in its text comes first) and then refused.
struct WireBuffer {
    /// The octets written, as far as they fit.
    octets: [u8; MAX_NAME],
    /// How many octets were written.
    len: usize,
}

impl Default for WireBuffer {
    fn default() -> WireBuffer {
        WireBuffer {
            octets: [0; MAX_NAME],
            len: 0,
        }
    }
}

impl WireBuffer {
    /// Append `b`; returns where it went.
    fn push(&mut self, b: u8) -> usize {
        let at = self.len;
        self.set(at, b);
        self.len += 1;
        at
    }

    /// Append `bytes`, as far as they fit.
    fn extend(&mut self, bytes: &[u8]) {
        let room = self.octets.get_mut(self.len..).unwrap_or_default();
        let fit = room.len().min(bytes.len());
        if let (Some(to), Some(from)) = (room.get_mut(..fit), bytes.get(..fit)) {
            to.copy_from_slice(from);
        }
        self.len += bytes.len();
    }

    /// Overwrite the octet at `at`, if it is in the buffer.
    fn set(&mut self, at: usize, b: u8) {
        if let Some(slot) = self.octets.get_mut(at) {
            *slot = b;
        }
    }

    /// The octets, `None` when more were written than fit.
    fn octets(&self) -> Option<&[u8]> {
        self.octets.get(..self.len)
    }
}

/// True when a name is written with the characters Knot DNS reads in
/// names: letters, digits, `-`, `_`, `/`, `*` and `.`; anything else must be
/// escaped (`\\@`, `\\033`).
fn name_characters(text: &[u8]) -> bool {
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            bytes.next();
        } else if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'*' | b'.')) {
            return false;
        }
    }
    true
}

/// An IPv4 address in dotted-quad form.
pub(super) fn ipv4(text: &[u8]) -> Result<Ipv4Addr, String> {
    if let Some(addr) = plain_ipv4(text) {
        return Ok(addr);
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("invalid IPv4 address \"{}\"", show(text)))
}

/// The common form of an IPv4 address read without the standard parser:
/// four decimal octets of one to three digits, no leading zero, none over
/// 255. Every text it reads, the standard parser reads the same way;
/// `None` leaves the rest (and the errors) to that parser.
fn plain_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    // The octet being read: its index, value and number of digits.
    let (mut at, mut value, mut digits) = (0usize, 0u16, 0u8);
    for &b in text {
        if b == b'.' {
            *octets.get_mut(at)? = u8::try_from(value).ok().filter(|_| digits > 0)?;
            (at, value, digits) = (at + 1, 0, 0);
        } else if b.is_ascii_digit() && digits < 3 && !(digits == 1 && value == 0) {
            value = value * 10 + u16::from(b - b'0');
            digits += 1;
        } else {
            return None;
        }
    }
    *octets.get_mut(at).filter(|_| at == 3)? = u8::try_from(value).ok().filter(|_| digits > 0)?;
    Some(Ipv4Addr::from(octets))
}

/// An IPv6 address (RFC 4291 section 2.2 text forms).
pub(super) fn ipv6(text: &[u8]) -> Result<Ipv6Addr, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("invalid IPv6 address \"{}\"", show(text)))
}

/// Append one length-prefixed character string.
///
/// RFC 1035 section 3.3: "<character-string> is a single length octet
/// followed by that number of characters", so at most 255.
pub(super) fn string(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let len = u8::try_from(bytes.len())
        .map_err(|_| "character string longer than 255 octets".to_string())?;
    out.push(len);
    out.extend_from_slice(bytes);
    Ok(())
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGORITHMS: &[(&str, u64)] = &[
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

/// CERT type mnemonics (RFC 4398 section 2.1).
const CERT_TYPES: &[(&str, u64)] = &[
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

/// A number up to `max`, or a mnemonic from `table`.
fn mnemonic(text: &[u8], table: &[(&str, u64)], max: u64) -> Result<u64, String> {
    if text.first().is_some_and(u8::is_ascii_digit) {
        return text::number(text, max);
    }
    table
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
        .map(|&(_, n)| n)
        .ok_or_else(|| format!("unknown mnemonic \"{}\"", show(text)))
}

/// `count` groups of exactly `width` hex digits separated by `sep`, each
/// giving `width / 2` octets: EUI-48/64 (RFC 7043 section 3.2: "six
/// two-digit hexadecimal numbers separated by hyphens") and ILNP
/// identifiers (RFC 6742 section 2.3, four groups of four digits, which
/// Knot DNS insists on).
fn groups(text: &[u8], sep: u8, count: usize, width: usize) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid identifier \"{}\"", show(text));
    let parts: Vec<&[u8]> = text.split(|&b| b == sep).collect();
    if parts.len() != count {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(count * width / 2);
    for part in parts {
        if part.len() != width {
            return Err(bad());
        }
        out.extend(text::hex(part).map_err(|_| bad())?);
    }
    Ok(out)
}

/// An RRSIG time. RFC 4034 section 3.2: "The Signature Expiration Time and
/// Inception Time field values MUST be represented either as an unsigned
/// decimal integer indicating seconds since 1 January 1970 00:00:00 UTC, or
/// in the form YYYYMMDDHHmmSS in UTC".
fn time(text: &[u8]) -> Result<u32, String> {
    if text.len() != 14 {
        return Ok(text::number(text, u64::from(u32::MAX))? as u32);
    }
    let bad = || format!("invalid time \"{}\"", show(text));
    let part = |from: usize, to: usize| {
        text.get(from..to)
            .and_then(|d| text::number(d, 9999).ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (part(0, 4)?, part(4, 6)?, part(6, 8)?);
    let (hour, minute, second) = (part(8, 10)?, part(10, 12)?, part(12, 14)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let (y, m) = (year as i64 - i64::from(month <= 2), month as i64);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    // Serial number arithmetic (RFC 1982): the value is taken modulo 2^32.
    Ok(seconds.rem_euclid(1 << 32) as u32)
}

/// An NSEC/NSEC3/CSYNC type bitmap (RFC 4034 section 4.1.2) from type
/// names.
fn bitmap(tokens: &[Token], out: &mut Vec<u8>) -> Result<(), String> {
    let mut present: Vec<u16> = tokens
        .iter()
        .map(|t| type_number(&t.text).map_err(|e| format!("invalid bitmap: {e}")))
        .collect::<Result<_, _>>()?;
    present.sort_unstable();
    present.dedup();
    let mut windows: Vec<(u8, [u8; 32], usize)> = Vec::new();
    for t in present {
        let (window, low) = ((t >> 8) as u8, (t & 0xff) as usize);
        if windows.last().is_none_or(|w| w.0 != window) {
            windows.push((window, [0; 32], 0));
        }
        if let Some(w) = windows.last_mut() {
            if let Some(octet) = w.1.get_mut(low / 8) {
                *octet |= 0x80 >> (low % 8);
            }
            w.2 = low / 8 + 1;
        }
    }
    for (window, bits, len) in windows {
        out.push(window);
        out.push(len as u8);
        out.extend_from_slice(bits.get(..len).unwrap_or_default());
    }
    Ok(())
}

/// RFC 3123 APL: items `[!]afi:address/prefix`.
fn apl(fields: &mut Fields<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    for token in fields.take_rest() {
        let bad = || format!("invalid APL item \"{}\"", show(&token.text));
        let (negated, item) = match token.text.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, &token.text[..]),
        };
        let item = std::str::from_utf8(item).map_err(|_| bad())?;
        let (family, rest) = item.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
        let prefix = text::number(prefix.as_bytes(), 128).map_err(|_| bad())? as u8;
        let (family, mut octets) = match family {
            "1" if prefix <= 32 => (1u16, ipv4(address.as_bytes())?.octets().to_vec()),
            "2" => (2u16, ipv6(address.as_bytes())?.octets().to_vec()),
            _ => return Err(bad()),
        };
        // RFC 3123 section 4: "trailing zero octets ... MUST NOT be sent".
        while octets.last() == Some(&0) {
            octets.pop();
        }
        out.extend(family.to_be_bytes());
        out.push(prefix);
        out.push((u8::from(negated) << 7) | octets.len() as u8);
        out.extend(octets);
    }
    Ok(())
}

/// RFC 4025 IPSECKEY: precedence, gateway type, algorithm, gateway, key.
fn ipseckey(fields: &mut Fields<'_>, origin: &Name, out: &mut Vec<u8>) -> Result<(), String> {
    parse_field(Field::U8, fields, origin, out)?;
    let gateway_type = text::number(&fields.next("gateway type")?.text, 3)? as u8;
    out.push(gateway_type);
    parse_field(Field::U8, fields, origin, out)?;
    let gateway = fields.next("gateway")?;
    match gateway_type {
        0 if gateway.text[..] == b"."[..] => {}
        0 => return Err("gateway type 0 needs the gateway \".\"".into()),
        1 => out.extend(ipv4(&gateway.text)?.octets()),
        2 => out.extend(ipv6(&gateway.text)?.octets()),
        _ => out.extend_from_slice(name(gateway, origin)?.as_wire()),
    }
    if fields.peek().is_some() {
        parse_field(Field::Base64, fields, origin, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::lexer::Lexer;
    use super::*;

    fn rdata(rtype: &str, text: &str) -> Result<Vec<u8>, String> {
        let origin = Name::parse(b"example.com.", None).unwrap();
        let entry = Lexer::new(text.as_bytes()).next_entry().unwrap().unwrap();
        let rtype = type_number(rtype.as_bytes())?;
        parse(rtype, &mut Fields::new(&entry.tokens), &origin)
    }

    fn ok(rtype: &str, text: &str) -> Vec<u8> {
        rdata(rtype, text).unwrap_or_else(|e| panic!("{rtype} {text}: {e}"))
    }

    /// The zone-file name reader gives what `Name::parse` gives, value or
    /// error, for hand-picked and for random texts.
    #[test]
    fn names_read_as_name_parse_reads_them() {
        let origin = Name::parse(b"example.com.", None).unwrap();
        let l63 = "a".repeat(63);
        let mut texts: Vec<String> = [
            "www", "www.", "a.b.c", "@", ".", "", "a..b", ".a", "a.\\.", "\\.", "\\065b", "\\256",
            "\\25", "\\1x", "x\\", "\\\\", "a\\ b.", "A.B.", "*.w",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.push(format!("{l63}.{l63}.{l63}."));
        texts.push(format!("{l63}.{l63}.{l63}.{l63}."));
        texts.push(format!("{l63}.{l63}.{l63}.{l63}.\\999"));
        texts.push(format!("{l63}.{l63}.{l63}.abc"));
        texts.push(format!("{l63}a"));
        texts.push(format!("{l63}\\065"));
        let alphabet = b"ab.\\0129Z";
        let mut rng = fastrand::Rng::with_seed(8);
        for _ in 0..20_000 {
            let len = rng.usize(0..12);
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            texts.push(String::from_utf8(text).unwrap());
        }
        for _ in 0..200 {
            let labels = rng.usize(1..6);
            let text: Vec<String> = (0..labels).map(|_| "x".repeat(rng.usize(1..70))).collect();
            texts.push(text.join("."));
        }
        for text in &texts {
            assert_eq!(
                presentation_name(text.as_bytes(), &origin),
                Name::parse(text.as_bytes(), Some(&origin)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(ok("A", "192.0.2.1"), [192, 0, 2, 1]);
        assert!(
            rdata("A", "1.2.3")
                .unwrap_err()
                .contains("invalid IPv4 address \"1.2.3\"")
        );
        assert!(rdata("A", "1.2.3.256").is_err());
        assert_eq!(ok("AAAA", "2001:db8::1")[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert!(rdata("AAAA", "2001:db8:::1").is_err());
        assert!(rdata("A", "1.2.3.4 5").is_err());
    }

    #[test]
    fn names_keep_case_and_follow_origin() {
        assert_eq!(ok("NS", "Ns1"), b"\x03Ns1\x07example\x03com\x00");
        assert_eq!(ok("CNAME", "@"), b"\x07example\x03com\x00");
        assert_eq!(ok("MX", "10 mx.other."), b"\x00\x0a\x02mx\x05other\x00");
        assert_eq!(ok("SRV", "1 2 3 t."), b"\x00\x01\x00\x02\x00\x03\x01t\x00");
        assert!(rdata("PTR", &format!("{}.", "a".repeat(64))).is_err());
    }

    #[test]
    fn soa_with_units() {
        let wire = ok("SOA", "ns. host. 4294967295 1h 30m 1w 1d");
        assert_eq!(&wire[..9], b"\x02ns\x00\x04host");
        assert_eq!(
            &wire[wire.len() - 20..],
            [
                255, 255, 255, 255, 0, 0, 14, 16, 0, 0, 7, 8, 0, 9, 58, 128, 0, 1, 81, 128
            ]
        );
        assert!(rdata("SOA", "ns. host. 4294967296 1 1 1 1").is_err());
        assert!(rdata("SOA", "ns. host. 1 1 1 1").is_err());
    }

    #[test]
    fn txt_strings() {
        assert_eq!(ok("TXT", "\"a b\" c \"\""), b"\x03a b\x01c\x00");
        assert_eq!(ok("TXT", "\"\\065\\\"\""), b"\x02A\"");
        let long = "x".repeat(300);
        let wire = ok("SPF", &format!("\"{long}\""));
        assert_eq!(wire.len(), 302);
        assert_eq!(wire[0], 255);
        assert_eq!(wire[256], 45);
        assert!(rdata("TXT", "\"\\999\"").is_err());
        assert!(rdata("HINFO", &format!("{long} x")).is_err());
    }

    #[test]
    fn dnssec_types() {
        assert_eq!(
            ok("DS", "60485 RSASHA1 1 2BB1 83AF"),
            [0xec, 0x45, 5, 1, 0x2b, 0xb1, 0x83, 0xaf]
        );
        assert_eq!(ok("DNSKEY", "257 3 8 AQID BA=="), [1, 1, 3, 8, 1, 2, 3, 4]);
        assert!(rdata("DNSKEY", "257 3 8 AQ!D").is_err());
        assert!(rdata("DNSKEY", "257 3 8 AQI DBA==").is_err());
        assert_eq!(ok("OPENPGPKEY", "AQ== AQID"), [1, 1, 2, 3]);
        assert!(rdata("SSHFP", "1 1 ABC DEF").is_err());
        assert!(rdata("DS", "1 8 2 XYZ0").is_err());
        let sig = ok(
            "RRSIG",
            "A 8 2 3600 20300101000000 1700000000 1 example.com. AQID",
        );
        assert_eq!(&sig[..4], [0, 1, 8, 2]);
        assert_eq!(&sig[8..12], 1_893_456_000u32.to_be_bytes());
        let mut nsec = b"\x01a\x00\x00\x06\x40\x01\x00\x00\x00\x02\x04\x1b".to_vec();
        nsec.extend([0; 26]);
        nsec.push(0x20);
        assert_eq!(ok("NSEC", "a. A MX RRSIG TYPE1234"), nsec);
        assert!(rdata("NSEC", "a. A BOGUS").is_err());
        assert_eq!(ok("NSEC3PARAM", "1 0 10 -"), [1, 0, 0, 10, 0]);
        assert_eq!(
            ok("NSEC3", "1 1 0 AB CPNMUOJ1 A"),
            [
                1, 1, 0, 0, 1, 0xab, 5, b'f', b'o', b'o', b'b', b'a', 0, 1, 0x40
            ]
        );
    }

    #[test]
    fn field_list_types_to_wire() {
        let cases: &[(&str, &str, &[u8])] = &[
            ("PTR", "h.", b"\x01h\x00"),
            ("DNAME", "t.", b"\x01t\x00"),
            ("HINFO", "\"PC\" unix", b"\x02PC\x04unix"),
            ("MINFO", "a. b.", b"\x01a\x00\x01b\x00"),
            ("RP", "a. .", b"\x01a\x00\x00"),
            ("AFSDB", "1 a.", b"\x00\x01\x01a\x00"),
            ("RT", "2 a.", b"\x00\x02\x01a\x00"),
            ("KX", "3 a.", b"\x00\x03\x01a\x00"),
            ("LP", "4 a.", b"\x00\x04\x01a\x00"),
            ("L32", "5 10.1.2.0", b"\x00\x05\x0a\x01\x02\x00"),
            (
                "NID",
                "6 0014:4fff:ff20:ee64",
                b"\x00\x06\x00\x14\x4f\xff\xff\x20\xee\x64",
            ),
            (
                "EUI64",
                "00-00-5e-ef-10-00-00-2a",
                b"\x00\x00\x5e\xef\x10\x00\x00\x2a",
            ),
            ("CDS", "0 0 0 00", b"\x00\x00\x00\x00\x00"),
            ("CDNSKEY", "0 3 0 AA==", b"\x00\x00\x03\x00\x00"),
            ("KEY", "256 3 5 AQID", b"\x01\x00\x03\x05\x01\x02\x03"),
            ("DHCID", "AAIB", b"\x00\x02\x01"),
            ("OPENPGPKEY", "AQID", b"\x01\x02\x03"),
            ("SMIMEA", "0 0 1 ABCD", b"\x00\x00\x01\xab\xcd"),
            (
                "CSYNC",
                "66 3 A NS AAAA",
                b"\x00\x00\x00\x42\x00\x03\x00\x04\x60\x00\x00\x08",
            ),
            ("ZONEMD", "7 1 1 ABCD", b"\x00\x00\x00\x07\x01\x01\xab\xcd"),
            ("TYPE1", "192.0.2.7", b"\xc0\x00\x02\x07"),
        ];
        for (rtype, text, wire) in cases {
            assert_eq!(ok(rtype, text), *wire, "{rtype} {text}");
        }
    }

    #[test]
    fn misc_types() {
        assert_eq!(
            ok("CAA", "0 issue \"ca.example\""),
            b"\x00\x05issueca.example"
        );
        assert!(rdata("CAA", "0 is-sue x").is_err());
        assert_eq!(ok("SSHFP", "1 1 ABCD"), [1, 1, 0xab, 0xcd]);
        assert_eq!(ok("TLSA", "3 1 1 00"), [3, 1, 1, 0]);
        assert_eq!(
            ok("NAPTR", "1 2 \"u\" \"E2U+sip\" \"\" ."),
            b"\x00\x01\x00\x02\x01u\x07E2U+sip\x00\x00"
        );
        assert_eq!(
            ok("URI", "10 1 \"https://x/\""),
            b"\x00\x0a\x00\x01https://x/"
        );
        assert_eq!(
            ok("EUI48", "00-00-5e-00-53-2a"),
            [0, 0, 0x5e, 0, 0x53, 0x2a]
        );
        assert!(rdata("EUI48", "00-00-5e-00-53").is_err());
        assert_eq!(
            ok("L64", "10 2001:0db8:0001:0002"),
            [0, 10, 0x20, 1, 0x0d, 0xb8, 0, 1, 0, 2]
        );
        assert!(rdata("NID", "10 0:0:0:0").is_err());
        assert_eq!(
            ok("APL", "1:192.168.32.0/21 !1:192.168.38.0/28"),
            [0, 1, 21, 3, 192, 168, 32, 0, 1, 28, 0x83, 192, 168, 38]
        );
        assert_eq!(
            ok("IPSECKEY", "10 1 2 192.0.2.38 AQID"),
            [10, 1, 2, 192, 0, 2, 38, 1, 2, 3]
        );
        assert_eq!(ok("CERT", "PGP 0 0 AQID"), [0, 3, 0, 0, 0, 1, 2, 3]);
        assert_eq!(ok("ZONEMD", "2018031900 1 1 ABCD").len(), 8);
    }

    #[test]
    fn loc() {
        // RFC 1876 appendix example: cambridge-net.kei.com.
        let wire = ok("LOC", "42 21 54 N 71 06 18 W -24m 30m");
        assert_eq!(
            wire,
            [
                0, 0x33, 0x16, 0x13, 0x89, 0x17, 0x2d, 0xd0, 0x70, 0xbe, 0x15, 0xf0, 0x00, 0x98,
                0x8d, 0x20
            ]
        );
        assert!(rdata("LOC", "91 N 0 E 0").is_err());
        assert!(rdata("LOC", "42 X 0 E 0").is_err());
    }

    #[test]
    fn svcb() {
        let wire = ok("HTTPS", "1 . port=8443 alpn=h2,h3 mandatory=alpn");
        assert_eq!(wire, b"\x00\x01\x00\x00\x00\x00\x02\x00\x01\x00\x01\x00\x06\x02h2\x02h3\x00\x03\x00\x02\x20\xfb"[..]);
        let wire = ok(
            "SVCB",
            "1 s. ipv4hint=192.0.2.1,192.0.2.2 no-default-alpn alpn=\"a\\,b\" key65000=x",
        );
        assert!(wire.ends_with(b"\xfd\xe8\x00\x01x"));
        assert!(
            rdata("SVCB", "1 . port=1 port=2")
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(
            rdata("SVCB", "1 . mandatory=port")
                .unwrap_err()
                .contains("missing mandatory")
        );
        assert!(rdata("SVCB", "1 . mandatory=mandatory").is_err());
        assert!(rdata("SVCB", "1 . bogus=1").is_err());
        assert!(rdata("SVCB", "1 . key65535=1").is_err());
        assert!(rdata("SVCB", "1 . no-default-alpn=x").is_err());
    }

    #[test]
    fn generic_rdata() {
        assert_eq!(ok("TYPE65280", "\\# 3 ABCDEF"), [0xab, 0xcd, 0xef]);
        assert_eq!(ok("TYPE65280", "\\# 0"), Vec::<u8>::new());
        assert_eq!(ok("A", "\\# 4 C0 00 02 01"), [192, 0, 2, 1]);
        assert!(rdata("A", "\\# 3 C00002").is_err());
        assert!(rdata("A", "\\# 5 C000020101").is_err());
        assert!(rdata("TYPE1", "\\# 4 C00002").is_err());
        assert!(rdata("NS", "\\# 4 C00C0000").is_err());
        assert!(rdata("MX", "\\# 4 000A0000").is_err());
        assert!(rdata("TXT", "\\# 2 0201").is_err());
        assert!(rdata("BOGUS", "1").is_err());
        assert!(rdata("NSAP", "0x47").is_err());
    }

    /// The quick forms read what the general readers read.
    #[test]
    fn quick_forms_agree_with_the_general_readers() {
        for t in ["A", "NS", "CNAME", "MX", "TXT", "AAAA"] {
            let n = type_number(t.as_bytes()).unwrap();
            assert_eq!(Some(n), types::type_from_name(t), "{t}");
            assert!(has_presentation(n), "{t}");
        }
        let mut texts: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4.5",
            "1..2.3",
            "",
            ".",
            "1.2.3.04",
            "0.00.0.0",
            "1000.1.1.1",
            "+1.2.3.4",
            "1.2.3.4 ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let len = (seed % 16) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"0123456789.....x"[(seed >> 60) as usize] as char
                })
                .collect();
            texts.push(text);
        }
        for text in &texts {
            if let Some(quick) = plain_ipv4(text.as_bytes()) {
                assert_eq!(Some(quick), text.parse().ok(), "{text}");
            }
            assert_eq!(ipv4(text.as_bytes()).ok(), text.parse().ok(), "{text}");
        }
        assert!(plain_ipv4(b"192.0.2.1").is_some());
    }
}
