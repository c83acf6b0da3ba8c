//! Small decoders for the textual pieces of master files: numbers, TTLs with
//! units, character strings with escapes, hex, base64 and base32hex.
//!
//! They exist apart from [`super::rdata`] because directives (`$TTL`,
//! `$GENERATE`) need them too. Each takes the bytes of one token and returns
//! a value or a short message saying what is wrong; none of them panics.

/// A decimal number of at most `max`, digits only.
pub fn number(text: &[u8], max: u64) -> Result<u64, String> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(format!("invalid number \"{}\"", show(text)));
    }
    let mut value: u64 = 0;
    for &b in text {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .filter(|&v| v <= max)
            .ok_or_else(|| format!("number \"{}\" is bigger than {max}", show(text)))?;
    }
    Ok(value)
}

/// A TTL or SOA time: seconds, or numbers with units `s m h d w` in any
/// case (`1h30m`, `1W2D`).
///
/// RFC 2181 section 8: "The definition of values appropriate to the TTL
/// field in STD 13 is not as clearly defined ... [it is] an unsigned number
/// ... with a minimum value of 0, and a maximum value of 2147483647"; Knot
/// DNS reads up to 2^32-1, as do we, and the server caps on the wire.
pub fn ttl(text: &[u8]) -> Result<u32, String> {
    // Most TTLs are a few digits: below 10^9, so they fit a u32.
    if (1..=9).contains(&text.len()) && text.iter().all(u8::is_ascii_digit) {
        return Ok(text.iter().fold(0, |v, &d| v * 10 + u32::from(d - b'0')));
    }
    let bad = || format!("invalid time \"{}\"", show(text));
    if !text.first().is_some_and(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (num, tail) = rest.split_at(digits);
        if num.is_empty() {
            return Err(bad());
        }
        let n = number(num, u64::from(u32::MAX)).map_err(|_| bad())?;
        let (unit, tail) = match tail.split_first() {
            Some((&u, t)) => (Some(u.to_ascii_lowercase()), t),
            None => (None, tail),
        };
        let scale = match unit {
            // A bare number is seconds only when it is the whole field:
            // Knot DNS refuses `1h30`.
            None if rest.len() == text.len() => 1,
            None => return Err(format!("invalid time unit in \"{}\"", show(text))),
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            Some(b'w') => 604_800,
            Some(_) => return Err(format!("invalid time unit in \"{}\"", show(text))),
        };
        total = total.saturating_add(n.saturating_mul(scale));
        rest = tail;
    }
    u32::try_from(total).map_err(|_| format!("time \"{}\" is bigger than 2^32-1", show(text)))
}

/// A character string with `\X` and `\DDD` escapes decoded (RFC 1035
/// section 5.1).
pub fn unescape(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match rest.split_first() {
            Some((d, _)) if d.is_ascii_digit() => {
                let digits = rest.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
                let value = digits
                    .and_then(|d| number(d, 255).ok())
                    .ok_or_else(|| format!("invalid escape in \"{}\"", show(text)))?;
                out.push(value as u8);
                rest = rest.get(3..).unwrap_or_default();
            }
            Some((&e, tail)) => {
                out.push(e);
                rest = tail;
            }
            None => return Err(format!("escape at the end of \"{}\"", show(text))),
        }
    }
    Ok(out)
}

/// Hex digits (either case) to octets; an odd count is an error.
pub fn hex(text: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid hexadecimal \"{}\"", show(text));
    if text.len() % 2 != 0 {
        return Err(bad());
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16).ok_or_else(bad);
            match pair {
                [h, l] => Ok((digit(*h)? * 16 + digit(*l)?) as u8),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// Base64 (RFC 4648 section 4) with padding, to octets.
pub fn base64(text: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid base64 \"{}\"", show(text));
    if text.len() % 4 != 0 {
        return Err(bad());
    }
    let pad = text.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return Err(bad());
    }
    let body = text.get(..text.len() - pad).ok_or_else(bad)?;
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(bad()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits should be zero in a canonical encoding (RFC 4648
    // section 3.5) but Knot DNS ignores them, and so do we.
    Ok(out)
}

/// Base32hex (RFC 4648 section 7) without padding, either case, as NSEC3
/// writes hashed owner names.
pub fn base32hex(text: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid base32hex \"{}\"", show(text));
    // Knot DNS reads whole 8-digit groups only (a SHA-1 hash is 32 digits).
    if text.len() % 8 != 0 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in text {
        let v = match b.to_ascii_uppercase() {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return Err(bad()),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 || bits >= 5 {
        return Err(bad());
    }
    Ok(out)
}

/// Bytes for an error message, lossily as text.
pub fn show(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ttls() {
        assert_eq!(number(b"65535", 65535), Ok(65535));
        assert!(number(b"65536", 65535).is_err());
        assert!(number(b"", 10).is_err());
        assert!(number(b"-1", 10).is_err());
        assert!(number(b"99999999999999999999999", u64::MAX).is_err());
        assert_eq!(ttl(b"3600"), Ok(3600));
        assert_eq!(ttl(b"1h30m"), Ok(5400));
        assert_eq!(ttl(b"1W2d"), Ok(9 * 86_400));
        assert_eq!(ttl(b"4294967295"), Ok(u32::MAX));
        assert!(ttl(b"4294967296").is_err());
        assert!(ttl(b"99999999w").is_err());
        assert!(ttl(b"1x").is_err());
        assert!(ttl(b"h").is_err());
        assert!(ttl(b"1hh").is_err());
        assert!(ttl(b"1h30").is_err());
        assert_eq!(ttl(b"1h30s"), Ok(3630));
        // Digits only, short or long: the same value either way.
        for text in [
            "0",
            "7",
            "000000060",
            "999999999",
            "1000000000",
            "0000000000060",
        ] {
            let expected = number(text.as_bytes(), u64::from(u32::MAX)).map(|n| n as u32);
            assert_eq!(ttl(text.as_bytes()), expected, "{text}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"a\\065\\\"b\\\\"), Ok(b"aA\"b\\".to_vec()));
        assert_eq!(unescape(b"\\000\\255"), Ok(vec![0, 255]));
        assert!(unescape(b"\\999").is_err());
        assert!(unescape(b"\\25").is_err());
        assert!(unescape(b"x\\").is_err());
    }

    #[test]
    fn binary_encodings() {
        assert_eq!(hex(b"00aBff"), Ok(vec![0, 0xab, 0xff]));
        assert!(hex(b"abc").is_err());
        assert!(hex(b"zz").is_err());
        assert_eq!(base64(b"AQID"), Ok(vec![1, 2, 3]));
        assert_eq!(base64(b"AQI="), Ok(vec![1, 2]));
        assert_eq!(base64(b"AQ=="), Ok(vec![1]));
        assert_eq!(base64(b""), Ok(vec![]));
        assert!(base64(b"AQ=").is_err());
        assert!(base64(b"A===").is_err());
        assert!(base64(b"AQ!D").is_err());
        assert_eq!(base64(b"AR=="), Ok(vec![1]));
        assert_eq!(base32hex(b"CPNMUOJ1"), Ok(b"foobar"[..5].to_vec()));
        assert!(base32hex(b"W").is_err());
        assert!(base32hex(b"NS").is_err());
    }
}
