//! BIND's `$GENERATE range lhs [ttl] [class] type rhs` directive: one record
//! per number in the range, with `$` in the owner and RDATA replaced by the
//! number.
//!
//! `$` is the number, `${offset,width,base}` adds an offset and pads to a
//! width in base `d`, `o`, `x`, `X` or the nibble forms `n`/`N` (reversed,
//! dot-separated hex digits, for reverse zones), and `\$` is a literal
//! dollar. Neither Knot DNS 3.2 nor NSD 4.6 read `$GENERATE`; BIND does, and
//! this follows BIND. A directive is bounded so that a short line cannot
//! make the zone grow without limit.

use super::lexer::Token;
use super::text::{self, show};

/// Records one `$GENERATE` may produce. BIND has no such limit; a zone
/// needing more should be written out.
pub const MAX_PER_DIRECTIVE: u64 = 65_536;

/// Widest `${offset,width,base}` field accepted (a name label cannot be
/// longer anyway).
const MAX_WIDTH: usize = 255;

/// Expand a `$GENERATE` directive whose arguments (after the directive
/// word) are `args`: the range, then the record template. Returns one token
/// list per record, owner first.
pub fn expand<'a>(args: &[Token<'a>]) -> Result<Vec<Vec<Token<'a>>>, String> {
    let (range, template) = args.split_first().ok_or("$GENERATE needs a range")?;
    if template.len() < 3 {
        return Err("$GENERATE needs a range, an owner, a type and RDATA".into());
    }
    let (start, stop, step) = parse_range(&range.text)?;
    let count = (stop - start) / step + 1;
    if count > MAX_PER_DIRECTIVE {
        return Err(format!(
            "$GENERATE range produces {count} records, more than {MAX_PER_DIRECTIVE}"
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut value = start;
    while value <= stop {
        let tokens = template
            .iter()
            .map(|t| {
                Ok(Token {
                    text: substitute(&t.text, value)?.into(),
                    quoted: t.quoted,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        out.push(tokens);
        value += step;
    }
    Ok(out)
}

/// `start-stop[/step]`, with start <= stop and a step of at least 1.
fn parse_range(text: &[u8]) -> Result<(u64, u64, u64), String> {
    let bad = || format!("invalid $GENERATE range \"{}\"", show(text));
    let (range, step) = match text.iter().position(|&b| b == b'/') {
        Some(i) => (
            text.get(..i).unwrap_or_default(),
            text.get(i + 1..).unwrap_or_default(),
        ),
        None => (text, &b"1"[..]),
    };
    let dash = range.iter().position(|&b| b == b'-').ok_or_else(bad)?;
    let max = u64::from(u32::MAX);
    let start = text::number(range.get(..dash).unwrap_or_default(), max).map_err(|_| bad())?;
    let stop = text::number(range.get(dash + 1..).unwrap_or_default(), max).map_err(|_| bad())?;
    let step = text::number(step, max).map_err(|_| bad())?;
    if start > stop || step == 0 {
        return Err(bad());
    }
    Ok((start, stop, step))
}

/// Replace `$` and `${...}` in `text` by `value`; `\$` and other escapes
/// stay as written for the record parser.
fn substitute(text: &[u8], value: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'\\' => {
                out.push(b);
                if let Some((&e, tail)) = rest.split_first() {
                    out.push(e);
                    rest = tail;
                }
            }
            b'$' => match rest.strip_prefix(b"{") {
                Some(modifier) => {
                    let end = modifier
                        .iter()
                        .position(|&b| b == b'}')
                        .ok_or_else(|| format!("unterminated ${{ in \"{}\"", show(text)))?;
                    let spec = modifier.get(..end).unwrap_or_default();
                    out.extend(format_value(spec, value)?);
                    rest = modifier.get(end + 1..).unwrap_or_default();
                }
                None => out.extend(value.to_string().bytes()),
            },
            _ => out.push(b),
        }
    }
    Ok(out)
}

/// Format `value` by a `offset[,width[,base]]` modifier.
fn format_value(spec: &[u8], value: u64) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid $GENERATE modifier \"${{{}}}\"", show(spec));
    let mut parts = spec.split(|&b| b == b',');
    let offset = parts.next().unwrap_or_default();
    let width = parts.next().unwrap_or(b"0");
    let base = parts.next().unwrap_or(b"d");
    if parts.next().is_some() {
        return Err(bad());
    }
    let (negative, digits) = match offset.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, offset.strip_prefix(b"+").unwrap_or(offset)),
    };
    let offset = text::number(digits, u64::from(u32::MAX)).map_err(|_| bad())? as i64;
    let value = value as i64 + if negative { -offset } else { offset };
    // BIND computes in a C int and refuses what overflows it.
    if value.unsigned_abs() > i32::MAX as u64 {
        return Err(format!("$GENERATE value {value} out of range"));
    }
    let width = text::number(width, MAX_WIDTH as u64).map_err(|_| bad())? as usize;
    let magnitude = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    let formatted = match base {
        b"d" => format!("{sign}{magnitude:0width$}"),
        b"o" => format!("{sign}{magnitude:0width$o}"),
        b"x" => format!("{sign}{magnitude:0width$x}"),
        b"X" => format!("{sign}{magnitude:0width$X}"),
        b"n" | b"N" => {
            let hex = format!("{magnitude:0width$x}");
            let hex = if base == b"N" {
                hex.to_ascii_uppercase()
            } else {
                hex
            };
            let nibbles: Vec<String> = hex.chars().rev().map(String::from).collect();
            nibbles.join(".")
        }
        _ => return Err(bad()),
    };
    Ok(formatted.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens<'a>(words: &[&'a str]) -> Vec<Token<'a>> {
        words
            .iter()
            .map(|w| Token {
                text: w.as_bytes().into(),
                quoted: false,
            })
            .collect()
    }

    fn expanded(words: &[&str]) -> Result<Vec<String>, String> {
        Ok(expand(&tokens(words))?
            .iter()
            .map(|t| {
                t.iter()
                    .map(|t| show(&t.text))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect())
    }

    #[test]
    fn plain_and_stepped_ranges() {
        assert_eq!(
            expanded(&["1-3", "host$", "A", "10.0.0.$"]).unwrap(),
            ["host1 A 10.0.0.1", "host2 A 10.0.0.2", "host3 A 10.0.0.3"]
        );
        assert_eq!(
            expanded(&["0-10/5", "h$", "A", "10.0.0.$"]).unwrap().len(),
            3
        );
    }

    #[test]
    fn modifiers_and_escapes() {
        let out = expanded(&[
            "10-10",
            "x${-1,3}",
            "TXT",
            "${0,4,x}/${0,0,X}/${0,3,o}/${0,3,n}/\\$",
        ])
        .unwrap();
        assert_eq!(out, ["x009 TXT 000a/A/012/a.0.0/\\$"]);
        assert_eq!(
            expanded(&["1-1", "${-5}", "A", "1.2.3.4"]).unwrap(),
            ["-4 A 1.2.3.4"]
        );
    }

    #[test]
    fn bad_directives_are_errors() {
        assert!(expanded(&["0-4294967295", "$", "A", "1.2.3.4"]).is_err());
        assert!(expanded(&["0-65536", "$", "A", "1.2.3.4"]).is_err());
        assert!(expanded(&["0-65535", "$", "A", "1.2.3.4"]).is_ok());
        assert!(expanded(&["5-1", "$", "A", "1.2.3.4"]).is_err());
        assert!(expanded(&["1-5/0", "$", "A", "1.2.3.4"]).is_err());
        assert!(expanded(&["1-5", "$", "A"]).is_err());
        assert!(expanded(&["1-1", "${0,999}", "A", "x"]).is_err());
        assert!(expanded(&["1-1", "${0,1,q}", "A", "x"]).is_err());
        assert!(expanded(&["1-1", "${0", "A", "x"]).is_err());
        assert!(expanded(&["x", "$", "A", "x"]).is_err());
        assert!(expanded(&["1-1", "${2147483647}", "A", "x"]).is_err());
    }
}
