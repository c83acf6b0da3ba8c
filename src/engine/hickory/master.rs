//! The hickory engine's master-file reader (RFC 1035 section 5, with the
//! BIND extensions Knot DNS and NSD also read): `$ORIGIN`, `$TTL`,
//! `$INCLUDE file [origin]`, `$GENERATE`, `@`, relative names, owner, TTL
//! and class inheritance, and RFC 3597 `TYPEnnn`/`CLASSnnn`/`\#` forms.
//!
//! Design: [`text::split_entries`] turns each file into logical entries up
//! front; this module then runs a small machine over a stack of open files
//! (an `$INCLUDE` pushes one, the end of a file pops it), so nesting is
//! bounded by [`MAX_INCLUDE_DEPTH`] rather than by the call stack. Each
//! file frame carries its own origin and default TTL, as Knot DNS does, so
//! nothing an included file sets leaks back into the file that included
//! it. Every error names the file, the line and the entry.

use std::path::PathBuf;

use hickory_proto::rr::Name;

use crate::bundle::{Bundle, BundleError, ZoneFile};

use super::rdata;
use super::text::{self, Entries, Entry, Token};

/// How deeply `$INCLUDE`s may nest (NSD stops at 10 too), so that a file
/// including itself ends with an error.
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Most files one zone may read, so that a few includes per file cannot
/// multiply into an exponential number of reads.
pub const MAX_FILES: usize = 256;
/// Most records one `$GENERATE` may produce.
pub const MAX_GENERATE: i64 = 65_536;
/// Most records all `$GENERATE`s of one zone may produce.
pub const MAX_GENERATED: usize = 1 << 20;
/// Most records one zone may hold, so a hostile file cannot exhaust memory
/// through `$GENERATE` or includes.
pub const MAX_RECORDS: usize = 4_000_000;
/// TTL of records when neither the record nor a `$TTL` gives one (the
/// default of Knot DNS and NSD).
pub const DEFAULT_TTL: u32 = 3600;

/// One record as read, with where it was written.
#[derive(Debug, Clone)]
pub struct Rec {
    /// The owner, case as written.
    pub owner: Name,
    /// The type number.
    pub rtype: u16,
    /// Time to live.
    pub ttl: u32,
    /// The data in uncompressed wire form (hickory's encoder), or why it
    /// cannot be encoded.
    pub wire: Result<Vec<u8>, String>,
    /// Index into [`Loaded::files`].
    pub file: usize,
    /// 1-based line of the record.
    pub line: usize,
    /// The record as written, shortened, for messages.
    pub text: String,
}

/// Everything read for one zone.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The zone's apex, from the bundle file name.
    pub origin: Name,
    /// The zone file, then every included file in order of inclusion.
    pub files: Vec<PathBuf>,
    /// The records in the order written.
    pub records: Vec<Rec>,
}

/// One open file.
#[derive(Debug)]
struct Frame {
    /// Index into `Loaded::files`.
    file: usize,
    /// The file's entries, read one at a time.
    entries: Entries,
    /// `$ORIGIN` in force.
    origin: Name,
    /// `$TTL` in force.
    default_ttl: Option<u32>,
    /// The owner of the previous record, for entries starting with a blank.
    last_owner: Option<Name>,
}

/// Read a zone of `bundle` and every file it includes.
pub fn read_zone(bundle: &Bundle, zone: &ZoneFile) -> Result<Loaded, BundleError> {
    let fail = |line: usize, message: String| BundleError::Zone {
        file: zone.path.clone(),
        line,
        message,
    };
    let origin = text::name(zone.origin.as_bytes(), &Name::root())
        .map_err(|e| fail(0, format!("zone origin {}: {e}", zone.origin)))?;
    let mut loaded = Loaded {
        origin: origin.clone(),
        files: vec![zone.path.clone()],
        records: Vec::new(),
    };
    let entries = open(bundle, &zone.path)?;
    let mut stack = vec![Frame {
        file: 0,
        entries,
        origin,
        default_ttl: None,
        last_owner: None,
    }];
    let mut generated = 0usize;
    while let Some(frame) = stack.last_mut() {
        let file = frame.file;
        let path = loaded.files[file].clone();
        let entry = match frame.entries.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => {
                stack.pop();
                continue;
            }
            Err((line, message)) => {
                return Err(BundleError::Zone {
                    file: path,
                    line,
                    message,
                });
            }
        };
        let fail = |message: String| BundleError::Zone {
            file: path.clone(),
            line: entry.line,
            message: format!("`{}`: {message}", text::show(&entry.tokens)),
        };
        let first = &entry.tokens[0];
        if !first.quoted && first.raw.first() == Some(&b'$') {
            let directive = String::from_utf8_lossy(&first.raw).to_ascii_uppercase();
            let args = &entry.tokens[1..];
            match directive.as_str() {
                "$ORIGIN" => {
                    let [name] = args else {
                        return Err(fail("$ORIGIN takes one name".into()));
                    };
                    frame.origin = text::name_word(name, &frame.origin).map_err(&fail)?;
                }
                "$TTL" => {
                    let [ttl] = args else {
                        return Err(fail("$TTL takes one TTL".into()));
                    };
                    frame.default_ttl = Some(text::ttl(&ttl.raw).map_err(&fail)?);
                }
                "$INCLUDE" => {
                    let (target, new_origin) = match args {
                        [t] => (t, frame.origin.clone()),
                        // Knot DNS refuses a relative origin here.
                        [t, o] if is_absolute(&o.raw) => {
                            (t, text::name_word(o, &frame.origin).map_err(&fail)?)
                        }
                        [_, _] => {
                            return Err(fail("$INCLUDE origin must be an absolute name".into()));
                        }
                        _ => {
                            return Err(fail(
                                "$INCLUDE takes a file and an optional origin".into(),
                            ));
                        }
                    };
                    if stack.len() > MAX_INCLUDE_DEPTH {
                        return Err(fail(format!(
                            "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"
                        )));
                    }
                    let target = String::from_utf8(text::unescape(&target.raw).map_err(&fail)?)
                        .map_err(|_| fail("$INCLUDE path is not UTF-8".into()))?;
                    if loaded.files.len() >= MAX_FILES {
                        return Err(fail(format!("more than {MAX_FILES} files included")));
                    }
                    let resolved = bundle.resolve_include(&path, entry.line, &target)?;
                    let entries = open(bundle, &resolved)?;
                    let default_ttl = stack.last().and_then(|f| f.default_ttl);
                    loaded.files.push(resolved);
                    stack.push(Frame {
                        file: loaded.files.len() - 1,
                        entries,
                        origin: new_origin,
                        default_ttl,
                        last_owner: None,
                    });
                }
                "$GENERATE" => {
                    let records = generate(&entry).map_err(&fail)?;
                    generated = generated.saturating_add(records.len());
                    if generated > MAX_GENERATED {
                        return Err(fail(format!(
                            "$GENERATE adds more than {MAX_GENERATED} records to the zone"
                        )));
                    }
                    for generated in records {
                        record(frame, &generated, &mut loaded, file)?;
                    }
                }
                _ => return Err(fail(format!("unknown directive {directive}"))),
            }
            continue;
        }
        record(frame, &entry, &mut loaded, file)?;
    }
    Ok(loaded)
}

/// True when a presentation name ends in an unescaped dot.
fn is_absolute(raw: &[u8]) -> bool {
    let Some(body) = raw.strip_suffix(b".") else {
        return false;
    };
    body.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

/// Read one file of the bundle, to be split entry by entry.
fn open(bundle: &Bundle, path: &std::path::Path) -> Result<Entries, BundleError> {
    Ok(Entries::new(bundle.read(path)?))
}

/// True for a class word: a mnemonic or RFC 3597 `CLASSnnn`.
fn class_of(raw: &[u8]) -> Option<u16> {
    let upper = String::from_utf8_lossy(raw).to_ascii_uppercase();
    match upper.as_str() {
        "IN" => Some(1),
        "CH" => Some(3),
        "HS" => Some(4),
        "NONE" => Some(254),
        "ANY" => Some(255),
        _ => upper
            .strip_prefix("CLASS")
            .and_then(|n| text::number::<u16>(n.as_bytes(), "class").ok()),
    }
}

/// Read one record entry into `loaded`.
fn record(
    frame: &mut Frame,
    entry: &Entry,
    loaded: &mut Loaded,
    file: usize,
) -> Result<(), BundleError> {
    let fail = |message: String| BundleError::Zone {
        file: loaded.files[file].clone(),
        line: entry.line,
        message: format!("`{}`: {message}", text::show(&entry.tokens)),
    };
    let tokens = &entry.tokens;
    let mut at = 0;
    let owner = if entry.inherits_owner {
        frame
            .last_owner
            .clone()
            .ok_or_else(|| fail("no previous owner to inherit".into()))?
    } else {
        at = 1;
        text::name_word(&tokens[0], &frame.origin).map_err(&fail)?
    };
    let mut ttl = None;
    let mut class = None;
    let rtype = loop {
        let word = tokens
            .get(at)
            .ok_or_else(|| fail("no record type".into()))?;
        at += 1;
        if word.quoted {
            return Err(fail("a quoted string where a type is expected".into()));
        }
        if word.raw.first().is_some_and(u8::is_ascii_digit) && ttl.is_none() {
            ttl = Some(text::ttl(&word.raw).map_err(&fail)?);
        } else if let (Some(c), None) = (class_of(&word.raw), class) {
            class = Some(c);
        } else {
            break rdata::record_type(&word.raw).ok_or_else(|| {
                fail(format!(
                    "unknown record type `{}`",
                    String::from_utf8_lossy(&word.raw)
                ))
            })?;
        }
    };
    if let Some(c) = class
        && c != 1
    {
        return Err(fail(format!("class {c} in an IN zone")));
    }
    frame.last_owner = Some(owner.clone());
    let rdata = rdata::parse(rtype, &tokens[at..], &frame.origin).map_err(&fail)?;
    // Records outside the zone are dropped, as Knot DNS ignores them.
    if !loaded.origin.zone_of(&owner) {
        return Ok(());
    }
    if loaded.records.len() >= MAX_RECORDS {
        return Err(fail(format!("more than {MAX_RECORDS} records in one zone")));
    }
    loaded.records.push(Rec {
        owner,
        rtype,
        ttl: ttl.or(frame.default_ttl).unwrap_or(DEFAULT_TTL),
        wire: rdata::to_wire(&rdata),
        file,
        line: entry.line,
        text: text::show(tokens),
    });
    Ok(())
}

/// BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs...`: the
/// record entries it stands for, `$` replaced by the counter.
fn generate(entry: &Entry) -> Result<Vec<Entry>, String> {
    let args = &entry.tokens[1..];
    let (range, template) = args
        .split_first()
        .ok_or("$GENERATE needs a range and a template")?;
    if template.len() < 3 {
        return Err("$GENERATE needs an owner, a type and RDATA".into());
    }
    let range = String::from_utf8_lossy(&range.raw).to_string();
    let (span, step) = match range.split_once('/') {
        Some((s, st)) => (s, i64::from(text::number::<u32>(st.as_bytes(), "step")?)),
        None => (range.as_str(), 1),
    };
    let (start, stop) = span
        .split_once('-')
        .ok_or("$GENERATE range must be start-stop")?;
    let start: i64 = i64::from(text::number::<u32>(start.as_bytes(), "range start")?);
    let stop: i64 = i64::from(text::number::<u32>(stop.as_bytes(), "range stop")?);
    if step < 1 || stop < start {
        return Err("$GENERATE range is empty or its step is 0".into());
    }
    if (stop - start) / step + 1 > MAX_GENERATE {
        return Err(format!("$GENERATE makes more than {MAX_GENERATE} records"));
    }
    let mut out = Vec::new();
    let mut i = start;
    while i <= stop {
        let tokens = template
            .iter()
            .map(|t| {
                Ok(Token {
                    raw: substitute(&t.raw, i)?,
                    quoted: t.quoted,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        out.push(Entry {
            line: entry.line,
            inherits_owner: false,
            tokens,
        });
        i += step;
    }
    Ok(out)
}

/// Replace `$` and `${offset[,width[,base]]}` in a `$GENERATE` word; `\$`
/// stays a literal dollar.
fn substitute(raw: &[u8], value: i64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len() + 8);
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\\' => {
                out.extend(raw.get(i..i + 2).unwrap_or(&raw[i..]));
                i += 2;
            }
            b'$' if raw.get(i + 1) == Some(&b'{') => {
                let close = raw[i..]
                    .iter()
                    .position(|&c| c == b'}')
                    .ok_or("`${` without `}`")?;
                let inner = String::from_utf8_lossy(&raw[i + 2..i + close]).to_string();
                let mut parts = inner.split(',');
                let offset = parts.next().unwrap_or_default();
                let (neg, digits) = match offset.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, offset.strip_prefix('+').unwrap_or(offset)),
                };
                let offset = i64::from(text::number::<u32>(digits.as_bytes(), "offset")?);
                let width: usize = text::number(parts.next().unwrap_or("0").as_bytes(), "width")?;
                if width > 255 {
                    return Err("$GENERATE width above 255".into());
                }
                let n = value + if neg { -offset } else { offset };
                // BIND computes in a C int.
                if n.unsigned_abs() > i32::MAX as u64 {
                    return Err(format!("$GENERATE value {n} out of range"));
                }
                let (sign, m) = (if n < 0 { "-" } else { "" }, n.unsigned_abs());
                let formatted = match parts.next().unwrap_or("d") {
                    "d" => format!("{sign}{m:0width$}"),
                    "o" => format!("{sign}{m:0width$o}"),
                    "x" => format!("{sign}{m:0width$x}"),
                    "X" => format!("{sign}{m:0width$X}"),
                    // Nibbles, least significant first, for reverse zones.
                    base @ ("n" | "N") => {
                        let mut hex = format!("{m:0width$x}");
                        if base == "N" {
                            hex.make_ascii_uppercase();
                        }
                        let nibbles: Vec<String> = hex.chars().rev().map(String::from).collect();
                        nibbles.join(".")
                    }
                    other => return Err(format!("$GENERATE base `{other}` is not supported")),
                };
                if parts.next().is_some() {
                    return Err("too many fields in `${...}`".into());
                }
                out.extend(formatted.bytes());
                i += close + 1;
            }
            b'$' => {
                out.extend(value.to_string().bytes());
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_forms() {
        assert_eq!(substitute(b"host-$", 7).unwrap(), b"host-7");
        assert_eq!(substitute(b"h${10,3}", 7).unwrap(), b"h017");
        assert_eq!(substitute(b"h${0,4,x}", 255).unwrap(), b"h00ff");
        assert_eq!(substitute(b"h${-1}", 7).unwrap(), b"h6");
        assert_eq!(substitute(b"a\\$b", 7).unwrap(), b"a\\$b");
        assert!(substitute(b"h${0", 1).is_err());
        assert_eq!(substitute(b"h${-9}", 1).unwrap(), b"h-8");
        assert_eq!(substitute(b"${0,4,n}", 0x1a).unwrap(), b"a.1.0.0");
        assert!(substitute(b"h${}", 1).is_err());
        assert!(substitute(b"h${0,3,q}", 1).is_err());
        assert!(substitute(b"h${2147483647}", 1).is_err());
    }
}
