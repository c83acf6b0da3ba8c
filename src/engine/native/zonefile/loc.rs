//! LOC (RFC 1876) in presentation form: degrees, minutes and seconds of
//! latitude and longitude, altitude and three precision sizes in meters.
//!
//! The syntax is unlike any other type's (a variable number of fields per
//! coordinate, fixed-point decimals, a mantissa-and-exponent size
//! encoding), so it lives apart from the field-list types of
//! [`super::rdata`].

use super::rdata::Fields;
use super::text::{self, show};

/// RFC 1876 LOC: `d1 [m1 [s1]] {N|S} d2 [m2 [s2]] {E|W} alt[m] [siz[m]
/// [hp[m] [vp[m]]]]`.
pub fn loc(fields: &mut Fields<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let latitude = coordinate(fields, b'N', b'S', 90)?;
    let longitude = coordinate(fields, b'E', b'W', 180)?;
    let altitude = meters(&fields.next("altitude")?.text)?;
    // RFC 1876 section 2: altitude "in centimeters, from a base of 100,000m
    // below the [WGS 84] reference spheroid".
    let altitude =
        u32::try_from(altitude + 10_000_000).map_err(|_| "altitude out of range".to_string())?;
    let mut sizes = [100, 1_000_000, 1_000];
    for size in &mut sizes {
        match fields.peek() {
            Some(token) => {
                fields.next("size")?;
                *size = meters(&token.text)?;
            }
            None => break,
        }
    }
    out.push(0);
    for size in sizes {
        out.push(size_octet(size)?);
    }
    out.extend(latitude.to_be_bytes());
    out.extend(longitude.to_be_bytes());
    out.extend(altitude.to_be_bytes());
    Ok(())
}

/// One LOC coordinate: degrees, optional minutes and seconds, hemisphere.
fn coordinate(
    fields: &mut Fields<'_>,
    plus: u8,
    minus: u8,
    max_degrees: i64,
) -> Result<u32, String> {
    let bad = || "invalid LOC coordinate".to_string();
    let mut parts = Vec::new();
    let sign = loop {
        let token = &fields.next("LOC coordinate")?.text;
        match &token[..] {
            [h] if h.eq_ignore_ascii_case(&plus) => break 1,
            [h] if h.eq_ignore_ascii_case(&minus) => break -1,
            _ if parts.len() < 3 => parts.push(token.clone()),
            _ => return Err(bad()),
        }
    };
    let mut ms: i64 = 0;
    for (i, part) in parts.iter().enumerate() {
        let (limit, scale, frac) = match i {
            0 => (max_degrees, 3_600_000, 0),
            1 => (59, 60_000, 0),
            _ => (59, 1000, 3),
        };
        let value = fixed(part, frac).ok_or_else(bad)?;
        if value < 0 || value > limit * 10_i64.pow(frac) + if frac > 0 { 999 } else { 0 } {
            return Err(bad());
        }
        ms += if frac > 0 { value } else { value * scale };
    }
    if parts.is_empty() || ms > max_degrees * 3_600_000 {
        return Err(bad());
    }
    // RFC 1876 section 2: "2^31 represents the equator" / "the prime
    // meridian", in thousandths of a second of arc.
    Ok(((1_i64 << 31) + sign * ms) as u32)
}

/// A LOC distance in meters (optional `m` suffix) as centimeters.
fn meters(text: &[u8]) -> Result<i64, String> {
    let digits = text
        .strip_suffix(b"m")
        .or_else(|| text.strip_suffix(b"M"))
        .unwrap_or(text);
    fixed(digits, 2).ok_or_else(|| format!("invalid LOC distance \"{}\"", show(text)))
}

/// A decimal with an optional sign and up to `frac` fraction digits, scaled
/// by 10^frac.
fn fixed(text: &[u8], frac: u32) -> Option<i64> {
    let (negative, text) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut split = text.splitn(2, |&b| b == b'.');
    let whole = split.next()?;
    let fraction = split.next().unwrap_or_default();
    if whole.is_empty() || fraction.len() > frac as usize {
        return None;
    }
    let whole = text::number(whole, 1_000_000_000).ok()?;
    let mut value = whole as i64 * 10_i64.pow(frac);
    if !fraction.is_empty() {
        let f = text::number(fraction, 1_000).ok()? as i64;
        value += f * 10_i64.pow(frac - fraction.len() as u32);
    }
    Some(if negative { -value } else { value })
}

/// RFC 1876 size encoding: "the high order four bits are the base, the low
/// order four bits are the power of ten" of a value in centimeters.
fn size_octet(cm: i64) -> Result<u8, String> {
    if !(0..=9_000_000_000).contains(&cm) {
        return Err("LOC size out of range".into());
    }
    let (mut base, mut power) = (cm, 0u8);
    while base >= 10 {
        base /= 10;
        power += 1;
    }
    Ok(((base as u8) << 4) | power)
}
