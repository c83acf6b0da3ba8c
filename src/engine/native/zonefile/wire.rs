//! Checking RDATA in wire form against a type's layout: for RFC 3597
//! generic (`\# len hex`) RDATA of a known type, and for the canonical form
//! (RFC 4034 section 6.2) that decides whether two records are duplicates.
//!
//! The walk reads through a cursor that only hands out checked slices, so
//! any octets at all give a result or an error.

use std::borrow::Cow;
use std::ops::Range;

use super::rdata::{Field, Format, format};
use crate::engine::native::name::{MAX_NAME, Name};

/// A cursor over wire octets, for checking generic RDATA.
#[derive(Debug)]
struct Reader<'a> {
    /// Octets not read yet.
    rest: &'a [u8],
    /// Length of the whole RDATA.
    total: usize,
    /// Where the names read so far lie.
    names: Vec<Range<usize>>,
}

impl<'a> Reader<'a> {
    /// Take `n` octets.
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err("RDATA too short for its type".into());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Take one octet.
    fn octet(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    /// Take a 16-bit number.
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes([self.octet()?, self.octet()?]))
    }

    /// Take a length-prefixed string.
    fn string(&mut self) -> Result<&'a [u8], String> {
        let len = self.octet()?;
        self.take(usize::from(len))
    }

    /// Take an uncompressed name.
    fn name(&mut self) -> Result<(), String> {
        let mut len = 0;
        loop {
            let label = usize::from(*self.rest.get(len).ok_or("RDATA too short for its type")?);
            len += 1 + label;
            if label == 0 {
                break;
            }
            // RFC 3597 section 4: RDATA of known types in generic form must
            // not hold compressed names; a length over 63 is one.
            if label > 63 || len > MAX_NAME {
                return Err("invalid name in RDATA".into());
            }
        }
        let start = self.offset();
        Name::from_wire(self.take(len)?).map_err(|e| format!("invalid name in RDATA: {e}"))?;
        self.names.push(start..start + len);
        Ok(())
    }

    /// How many octets were read.
    fn offset(&self) -> usize {
        self.total - self.rest.len()
    }

    /// Take everything left.
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
}

/// Check that generic RDATA has the wire layout of `rtype` (RFC 3597
/// section 5: the generic form of a known type must be "exactly the same"
/// as its usual encoding). Types without a format are taken as they are.
pub fn validate(rtype: u16, wire: &[u8]) -> Result<(), String> {
    layout(rtype, wire).map(drop)
}

/// RFC 4034 section 6.2, narrowed by RFC 6840 section 5.1 (NSEC is no
/// longer listed): the types whose RDATA names are lowercased in canonical
/// form. SVCB target names, for one, keep their case.
const LOWERCASED: &[u16] = &[2, 5, 6, 12, 14, 15, 17, 18, 21, 33, 35, 36, 39, 46];

/// The canonical form of RDATA (names lowercased where RFC 4034 section
/// 6.2 asks), which decides whether two records are the same record.
/// Borrowed when it is the RDATA as written: a type without names to
/// lowercase, or RDATA without an upper-case letter anywhere.
pub fn canonical(rtype: u16, wire: &[u8]) -> Cow<'_, [u8]> {
    // Most records are of a type without names (A, AAAA, TXT): one test.
    if matches!(rtype, 1 | 16 | 28) || !LOWERCASED.contains(&rtype) {
        return Cow::Borrowed(wire);
    }
    if !wire.iter().any(u8::is_ascii_uppercase) {
        return Cow::Borrowed(wire);
    }
    let mut out = wire.to_vec();
    if let Ok(names) = layout(rtype, wire) {
        for range in names {
            if let Some(name) = out.get_mut(range) {
                name.make_ascii_lowercase();
            }
        }
    }
    Cow::Owned(out)
}

/// Walk RDATA by the wire layout of `rtype`, returning where its names lie.
fn layout(rtype: u16, wire: &[u8]) -> Result<Vec<Range<usize>>, String> {
    let mut r = Reader {
        rest: wire,
        total: wire.len(),
        names: Vec::new(),
    };
    match format(rtype) {
        None => return Ok(Vec::new()),
        Some(Format::Fields(list)) => {
            for &field in list {
                validate_field(field, &mut r)?;
            }
        }
        Some(Format::Loc) => {
            if r.take(16)?.first() != Some(&0) {
                return Err("unknown LOC version".into());
            }
        }
        Some(Format::Apl) => {
            while !r.rest.is_empty() {
                r.take(3)?;
                let len = r.octet()? & 0x7f;
                r.take(usize::from(len))?;
            }
        }
        Some(Format::Ipseckey) => {
            let (_precedence, kind, _algorithm) = (r.octet()?, r.octet()?, r.octet()?);
            match kind {
                0 => {}
                1 => drop(r.take(4)?),
                2 => drop(r.take(16)?),
                3 => r.name()?,
                _ => return Err("invalid IPSECKEY gateway type".into()),
            }
            r.rest();
        }
        Some(Format::Svcb) => {
            r.take(2)?;
            r.name()?;
            let mut last: Option<u16> = None;
            while !r.rest.is_empty() {
                let key = r.u16()?;
                if last.is_some_and(|l| l >= key) {
                    return Err("SVCB parameters out of order".into());
                }
                last = Some(key);
                let len = r.u16()?;
                r.take(usize::from(len))?;
            }
        }
    }
    if !r.rest.is_empty() {
        return Err("RDATA longer than its type allows".into());
    }
    Ok(r.names)
}

/// Check one field of generic RDATA.
fn validate_field(field: Field, r: &mut Reader<'_>) -> Result<(), String> {
    match field {
        Field::U8 | Field::Algorithm => drop(r.take(1)?),
        Field::U16 | Field::Type | Field::CertType => drop(r.take(2)?),
        Field::U32 | Field::Ttl | Field::Time | Field::Ipv4 => drop(r.take(4)?),
        Field::Ipv6 => drop(r.take(16)?),
        Field::Eui48 => drop(r.take(6)?),
        Field::Eui64 | Field::Ilnp64 => drop(r.take(8)?),
        Field::Name => r.name()?,
        Field::Str | Field::Salt | Field::Base32 => drop(r.string()?),
        Field::Tag => {
            if r.string()?.is_empty() {
                return Err("empty CAA tag".into());
            }
        }
        Field::Strings => {
            r.string()?;
            while !r.rest.is_empty() {
                r.string()?;
            }
        }
        Field::Base64 | Field::Hex | Field::Opaque => drop(r.rest()),
        Field::Bitmap => {
            let mut last: Option<u8> = None;
            while !r.rest.is_empty() {
                let window = r.octet()?;
                let len = r.octet()?;
                if last.is_some_and(|l| l >= window) || !(1..=32).contains(&len) {
                    return Err("invalid type bitmap".into());
                }
                last = Some(window);
                r.take(usize::from(len))?;
            }
        }
    }
    Ok(())
}
