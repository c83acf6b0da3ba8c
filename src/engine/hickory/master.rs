//! The hickory engine's master-file reader (RFC 1035 section 5, with the
//! BIND extensions Knot DNS and NSD also read): `$ORIGIN`, `$TTL`,
//! `$INCLUDE file [origin]`, `$GENERATE`, `@`, relative names, owner, TTL
//! and class inheritance, and RFC 3597 `TYPEnnn`/`CLASSnnn`/`\#` forms.
//!
//! Design: the reader streams. [`text::Entries`] finds one entry at a time
//! and this module runs a small machine over a stack of open files (an
//! `$INCLUDE` pushes one, the end of a file pops it), so nesting is
//! bounded by [`MAX_INCLUDE_DEPTH`] rather than by the call stack. Each
//! record is encoded to wire form as soon as it is read (owner by
//! [`text::name_word_wire`], RDATA through hickory's types and encoder)
//! and handed to a [`Sink`]; nothing of the line is kept. A record keeps
//! only its [`Pos`], from which [`describe`] finds the entry again when a
//! later check names it. Each file frame carries its own origin and
//! default TTL, as Knot DNS does, so nothing an included file sets leaks
//! back into the file that included it. Every error names the file, the
//! line and the entry.

use std::path::PathBuf;

use hickory_proto::rr::Name;

use crate::bundle::{Bundle, BundleError, ZoneFile};

use super::rdata;
use super::text::{self, Entries, Head, Token};

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

/// Where a record was written: enough to order records as read and to find
/// the entry again for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// The record's number in reading order (records outside the zone not
    /// counted).
    pub seq: u32,
    /// 1-based line of the entry (saturated at `u32::MAX`).
    pub line: u32,
    /// Which of the `$GENERATE`'s records, or [`Pos::WRITTEN`].
    pub generated: u32,
    /// Index into [`Loaded::files`].
    pub file: u16,
}

impl Pos {
    /// `generated` of a record written out rather than generated.
    pub const WRITTEN: u32 = u32::MAX;
}

/// One record as read, borrowed for the moment it is handed on.
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    /// The owner in uncompressed wire form, case as written.
    pub owner: &'a [u8],
    /// The owner lowercased.
    pub lower: &'a [u8],
    /// The type number.
    pub rtype: u16,
    /// Time to live.
    pub ttl: u32,
    /// The RDATA in uncompressed wire form (hickory's encoder).
    pub rdata: &'a [u8],
    /// Where it was written.
    pub at: Pos,
}

/// What takes the records of a zone as they are read.
pub trait Sink {
    /// The zone file holds `octets` octets (a hint for sizing).
    fn expect(&mut self, _octets: usize) {}

    /// Take one record of the zone (never one outside it).
    fn record(&mut self, rec: Read<'_>);
}

/// What reading a zone leaves besides its records.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The zone's apex, from the bundle file name.
    pub origin: Name,
    /// The zone file, then every included file in order of inclusion.
    pub files: Vec<PathBuf>,
}

/// The zone's apex as the bundle names it.
pub fn origin(zone: &ZoneFile) -> Result<Name, BundleError> {
    text::name(zone.origin.as_bytes(), &Name::root()).map_err(|e| BundleError::Zone {
        file: zone.path.clone(),
        line: 0,
        message: format!("zone origin {}: {e}", zone.origin),
    })
}

/// What an entry's context is: the directives in force in one file.
#[derive(Debug)]
struct Context {
    /// `$ORIGIN` in force.
    origin: Name,
    /// The same in wire form.
    origin_wire: Vec<u8>,
    /// `$TTL` in force.
    default_ttl: Option<u32>,
    /// The owner (wire form, case kept) of the previous record, for
    /// entries starting with a blank.
    last_owner: Option<Vec<u8>>,
}

impl Context {
    fn new(origin: Name, default_ttl: Option<u32>) -> Context {
        Context {
            origin_wire: text::wire(&origin),
            origin,
            default_ttl,
            last_owner: None,
        }
    }
}

/// One open file.
#[derive(Debug)]
struct Frame {
    /// Index into `Loaded::files`.
    file: usize,
    /// The file's contents.
    src: Vec<u8>,
    /// Where in it the reader is.
    entries: Entries,
    /// The directives in force.
    ctx: Context,
}

/// The reader's state across files, and its reused buffers.
#[derive(Debug)]
struct State {
    /// The zone's apex, lowercased wire form.
    apex: Vec<u8>,
    /// Records of the zone read so far.
    records: usize,
    /// Records all `$GENERATE`s made so far.
    generated: usize,
    /// The first record whose RDATA hickory could not encode: reported
    /// once everything was read, as a check would be.
    unencodable: Option<BundleError>,
    /// The owner being read.
    owner: Vec<u8>,
    /// The same, lowercased.
    lower: Vec<u8>,
    /// The RDATA being encoded.
    rdata: Vec<u8>,
    /// TXT RDATA for the load-time faults, checked once all is read.
    #[cfg(feature = "fault-injection")]
    txts: Vec<Vec<u8>>,
}

/// What an entry asks of the file stack.
enum Step {
    /// Nothing: go on with the next entry.
    Next,
    /// Open this included file with this origin.
    Include(PathBuf, Name),
}

/// Reuse the allocation of a token list for a list of another lifetime.
fn recycle<'b>(mut tokens: Vec<Token<'_>>) -> Vec<Token<'b>> {
    tokens.clear();
    tokens
        .into_iter()
        .map(|t| Token {
            raw: &[],
            quoted: t.quoted,
        })
        .collect()
}

/// Read a zone of `bundle` and every file it includes, handing each record
/// of the zone to `sink` in the order written.
pub fn read_zone<S: Sink>(
    bundle: &Bundle,
    zone: &ZoneFile,
    sink: &mut S,
) -> Result<Loaded, BundleError> {
    let origin = origin(zone)?;
    let mut loaded = Loaded {
        origin: origin.clone(),
        files: vec![zone.path.clone()],
    };
    let mut state = State {
        apex: text::lower_wire(&origin),
        records: 0,
        generated: 0,
        unencodable: None,
        owner: Vec::with_capacity(256),
        lower: Vec::with_capacity(256),
        rdata: Vec::with_capacity(512),
        #[cfg(feature = "fault-injection")]
        txts: Vec::new(),
    };
    let src = bundle.read(&zone.path)?;
    sink.expect(src.len());
    let mut stack = vec![Frame {
        file: 0,
        src,
        entries: Entries::default(),
        ctx: Context::new(origin, None),
    }];
    let mut spare: Vec<Token<'static>> = Vec::new();
    loop {
        let depth = stack.len();
        let Some(frame) = stack.last_mut() else {
            break;
        };
        let Frame {
            file,
            src,
            entries,
            ctx,
        } = frame;
        let file = *file;
        let head = match entries.next_entry(src) {
            Ok(Some(head)) => head,
            Ok(None) => {
                stack.pop();
                continue;
            }
            Err((line, message)) => {
                return Err(BundleError::Zone {
                    file: loaded.files[file].clone(),
                    line,
                    message,
                });
            }
        };
        let mut tokens = recycle(std::mem::take(&mut spare));
        entries.tokens(src, &mut tokens);
        let step = entry(
            bundle,
            &mut loaded,
            &mut state,
            ctx,
            depth,
            file,
            head,
            &tokens,
            sink,
        );
        spare = recycle(tokens);
        if let Step::Include(path, new_origin) = step? {
            let default_ttl = stack.last().and_then(|f| f.ctx.default_ttl);
            let src = bundle.read(&path)?;
            loaded.files.push(path);
            stack.push(Frame {
                file: loaded.files.len() - 1,
                src,
                entries: Entries::default(),
                ctx: Context::new(new_origin, default_ttl),
            });
        }
    }
    #[cfg(feature = "fault-injection")]
    for wire in &state.txts {
        // TXT RDATA: character strings, each after its length.
        let mut rest = &wire[..];
        while let Some((&len, tail)) = rest.split_first() {
            let (text, next) = tail.split_at(usize::from(len).min(tail.len()));
            crate::fault::on_load_txt(text);
            rest = next;
        }
    }
    match state.unencodable {
        Some(e) => Err(e),
        None => Ok(loaded),
    }
}

/// Act on one entry: a directive or a record.
#[allow(clippy::too_many_arguments)]
fn entry<S: Sink>(
    bundle: &Bundle,
    loaded: &mut Loaded,
    state: &mut State,
    ctx: &mut Context,
    depth: usize,
    file: usize,
    head: Head,
    tokens: &[Token<'_>],
    sink: &mut S,
) -> Result<Step, BundleError> {
    let path = &loaded.files[file];
    let fail = |message: String| BundleError::Zone {
        file: path.clone(),
        line: head.line,
        message: format!("`{}`: {message}", text::show(tokens)),
    };
    let first = &tokens[0];
    if first.quoted || first.raw.first() != Some(&b'$') {
        record(state, ctx, head, tokens, file, Pos::WRITTEN, loaded, sink)?;
        return Ok(Step::Next);
    }
    let directive = String::from_utf8_lossy(first.raw).to_ascii_uppercase();
    let args = &tokens[1..];
    match directive.as_str() {
        "$ORIGIN" => {
            let [name] = args else {
                return Err(fail("$ORIGIN takes one name".into()));
            };
            ctx.origin = text::name_word(name, &ctx.origin).map_err(&fail)?;
            ctx.origin_wire = text::wire(&ctx.origin);
        }
        "$TTL" => {
            let [ttl] = args else {
                return Err(fail("$TTL takes one TTL".into()));
            };
            ctx.default_ttl = Some(text::ttl(ttl.raw).map_err(&fail)?);
        }
        "$INCLUDE" => {
            let (target, new_origin) = match args {
                [t] => (t, ctx.origin.clone()),
                // Knot DNS refuses a relative origin here.
                [t, o] if is_absolute(o.raw) => {
                    (t, text::name_word(o, &ctx.origin).map_err(&fail)?)
                }
                [_, _] => {
                    return Err(fail("$INCLUDE origin must be an absolute name".into()));
                }
                _ => {
                    return Err(fail("$INCLUDE takes a file and an optional origin".into()));
                }
            };
            if depth > MAX_INCLUDE_DEPTH {
                return Err(fail(format!(
                    "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"
                )));
            }
            let target = String::from_utf8(text::unescape(target.raw).map_err(&fail)?)
                .map_err(|_| fail("$INCLUDE path is not UTF-8".into()))?;
            if loaded.files.len() >= MAX_FILES {
                return Err(fail(format!("more than {MAX_FILES} files included")));
            }
            let resolved = bundle.resolve_include(path, head.line, &target)?;
            return Ok(Step::Include(resolved, new_origin));
        }
        "$GENERATE" => {
            let generated = generate(tokens).map_err(&fail)?;
            state.generated = state.generated.saturating_add(generated.len());
            if state.generated > MAX_GENERATED {
                return Err(fail(format!(
                    "$GENERATE adds more than {MAX_GENERATED} records to the zone"
                )));
            }
            let head = Head {
                line: head.line,
                inherits_owner: false,
            };
            let mut words = Vec::new();
            for (k, raws) in generated.iter().enumerate() {
                words.clear();
                words.extend(raws.iter().zip(&tokens[2..]).map(|(raw, t)| Token {
                    raw,
                    quoted: t.quoted,
                }));
                let k = u32::try_from(k).unwrap_or(Pos::WRITTEN - 1);
                record(state, ctx, head, &words, file, k, loaded, sink)?;
            }
        }
        _ => return Err(fail(format!("unknown directive {directive}"))),
    }
    Ok(Step::Next)
}

/// True when a presentation name ends in an unescaped dot.
fn is_absolute(raw: &[u8]) -> bool {
    let Some(body) = raw.strip_suffix(b".") else {
        return false;
    };
    body.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

/// The class a word names: a mnemonic or RFC 3597 `CLASSnnn`.
fn class_of(raw: &[u8]) -> Option<u16> {
    const NAMES: &[(&[u8], u16)] = &[
        (b"IN", 1),
        (b"CH", 3),
        (b"HS", 4),
        (b"NONE", 254),
        (b"ANY", 255),
    ];
    if let Some(&(_, c)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(raw)) {
        return Some(c);
    }
    let digits = raw
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case(b"CLASS"))
        .and_then(|_| raw.get(5..))?;
    text::number::<u16>(digits, "class").ok()
}

/// Read one record entry and hand it to `sink`.
#[allow(clippy::too_many_arguments)]
fn record<S: Sink>(
    state: &mut State,
    ctx: &mut Context,
    head: Head,
    tokens: &[Token<'_>],
    file: usize,
    generated: u32,
    loaded: &Loaded,
    sink: &mut S,
) -> Result<(), BundleError> {
    let fail = |message: String| BundleError::Zone {
        file: loaded.files[file].clone(),
        line: head.line,
        message: format!("`{}`: {message}", text::show(tokens)),
    };
    let mut at = 0;
    if head.inherits_owner {
        let last = ctx
            .last_owner
            .as_ref()
            .ok_or_else(|| fail("no previous owner to inherit".into()))?;
        state.owner.clear();
        state.owner.extend_from_slice(last);
    } else {
        at = 1;
        text::name_word_wire(&tokens[0], &ctx.origin_wire, &mut state.owner).map_err(&fail)?;
    }
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
            ttl = Some(text::ttl(word.raw).map_err(&fail)?);
        } else if let (Some(c), None) = (class_of(word.raw), class) {
            class = Some(c);
        } else {
            break rdata::record_type(word.raw).ok_or_else(|| {
                fail(format!(
                    "unknown record type `{}`",
                    String::from_utf8_lossy(word.raw)
                ))
            })?;
        }
    };
    if let Some(c) = class
        && c != 1
    {
        return Err(fail(format!("class {c} in an IN zone")));
    }
    match &mut ctx.last_owner {
        Some(last) => {
            last.clear();
            last.extend_from_slice(&state.owner);
        }
        None => ctx.last_owner = Some(state.owner.clone()),
    }
    // An A record is read and encoded at once (`state.rdata` holds it);
    // the others are read here and encoded below.
    let rdata = match (rtype == super::tree::t::A)
        .then(|| rdata::a_into(&tokens[at..], &mut state.rdata))
        .flatten()
    {
        Some(done) => {
            done.map_err(&fail)?;
            None
        }
        None => Some(rdata::parse(rtype, &tokens[at..], &ctx.origin).map_err(&fail)?),
    };
    // Records outside the zone are dropped, as Knot DNS ignores them.
    state.lower.clear();
    state.lower.extend_from_slice(&state.owner);
    state.lower.make_ascii_lowercase();
    if !text::within(&state.lower, &state.apex) {
        return Ok(());
    }
    if state.records >= MAX_RECORDS {
        return Err(fail(format!("more than {MAX_RECORDS} records in one zone")));
    }
    let pos = Pos {
        seq: state.records as u32,
        line: u32::try_from(head.line).unwrap_or(u32::MAX),
        generated,
        file: file as u16,
    };
    state.records += 1;
    if let Some(rdata) = &rdata
        && let Err(e) = rdata::to_wire_into(rdata, &mut state.rdata)
    {
        if state.unencodable.is_none() {
            state.unencodable = Some(fail(e));
        }
        return Ok(());
    }
    #[cfg(feature = "fault-injection")]
    if rtype == super::tree::t::TXT {
        state.txts.push(state.rdata.clone());
    }
    sink.record(Read {
        owner: &state.owner,
        lower: &state.lower,
        rtype,
        ttl: ttl.or(ctx.default_ttl).unwrap_or(DEFAULT_TTL),
        rdata: &state.rdata,
        at: pos,
    });
    Ok(())
}

/// The text of the record written at `at` (as [`text::show`] gives it),
/// read again from its file; `None` when the file no longer gives it.
pub fn describe(bundle: &Bundle, files: &[PathBuf], at: Pos) -> Option<String> {
    let src = bundle.read(files.get(usize::from(at.file))?).ok()?;
    let mut entries = Entries::default();
    let mut tokens = Vec::new();
    while let Some(head) = entries.next_entry(&src).ok()? {
        if head.line < at.line as usize {
            continue;
        }
        if head.line > at.line as usize {
            return None;
        }
        entries.tokens(&src, &mut tokens);
        if at.generated == Pos::WRITTEN {
            return Some(text::show(&tokens));
        }
        let generated = generate(&tokens).ok()?;
        let raws = generated.get(at.generated as usize)?;
        let words: Vec<Token<'_>> = raws
            .iter()
            .zip(&tokens[2..])
            .map(|(raw, t)| Token {
                raw,
                quoted: t.quoted,
            })
            .collect();
        return Some(text::show(&words));
    }
    None
}

/// BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs...`
/// (`tokens` is the whole entry): for each record it stands for, the words
/// of its template (`tokens[2..]`) with `$` replaced by the counter.
fn generate(tokens: &[Token<'_>]) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let args = &tokens[1..];
    let (range, template) = args
        .split_first()
        .ok_or("$GENERATE needs a range and a template")?;
    if template.len() < 3 {
        return Err("$GENERATE needs an owner, a type and RDATA".into());
    }
    let range = String::from_utf8_lossy(range.raw).to_string();
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
        let words = template
            .iter()
            .map(|t| substitute(t.raw, i))
            .collect::<Result<Vec<_>, String>>()?;
        out.push(words);
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
