//! The native master-file parser (RFC 1035 section 5, with the extensions
//! BIND, Knot DNS and NSD read): directives, relative names, inheritance,
//! parentheses, escapes, TTL units, RFC 3597 generic forms, and the zone
//! checks Knot's `kzonecheck` makes.
//!
//! # Design
//!
//! Zone files are untrusted input, so the parser is a pipeline of small
//! stages that each only return errors: the `lexer` turns bytes into
//! entries of raw tokens; this module applies the directives and the
//! owner/TTL/class inheritance rules; `rdata` turns a type's tokens into
//! wire RDATA; `generate` expands `$GENERATE`; `checks` then looks at
//! the zone as a whole. Where the RFCs leave a choice open, the parser does
//! what Knot DNS 3.2 does, because stripedns is tested against it:
//!
//! - a record without a TTL gets the `$TTL` value, or 3600 (Knot's
//!   `default-ttl`) before any `$TTL`; an earlier record's TTL is not
//!   inherited;
//! - records outside the zone are dropped, as Knot ignores them;
//! - identical records (compared in canonical form, RFC 4034 section 6.2)
//!   are collapsed, and an RRset keeps the TTL of its first record;
//! - an included file starts without a previous owner, and the including
//!   file's origin and owner are restored when it ends.
//!
//! ```
//! use std::path::Path;
//! use stripedns::engine::native::name::Name;
//! use stripedns::engine::native::zonefile::{check_zone, parse_bytes};
//!
//! let text = b"$TTL 1h\n@ SOA ns hostmaster 1 1h 15m 1w 1h\n  NS ns\nns A 192.0.2.1\n";
//! let origin = Name::parse(b"example.com.", None).unwrap();
//! let mut no_includes = |_: usize, t: &str| -> Result<_, _> { unreachable!("{t}") };
//! let zone = parse_bytes(text, &origin, Path::new("example.com.zone"), &mut no_includes).unwrap();
//! assert_eq!(zone.records.len(), 3);
//! assert_eq!(zone.records[1].ttl, 3600);
//! check_zone(&zone).unwrap();
//! ```

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::bundle::{Bundle, BundleError, ZoneFile};

use super::name::Name;
use super::record::{ParsedZone, Record, class, rtype};
use super::zone::KeyHash;

mod checks;
mod generate;
mod lexer;
mod loc;
mod nsec3;
mod owners;
mod rdata;
mod svcb;
mod text;
pub mod types;
mod wire;

pub use checks::check_zone;

use lexer::{Entry, Lexer, Token};
use text::show;

/// How deep `$INCLUDE`s may nest. BIND, Knot and NSD bound this too (NSD at
/// 10), so that a file including itself ends with an error.
pub const MAX_INCLUDE_DEPTH: usize = 10;

/// How many files one zone may read in all, so that a few includes per file
/// cannot multiply into an exponential number of reads.
pub const MAX_FILES: usize = 256;

/// How many records `$GENERATE` may add to one zone in all.
pub const MAX_GENERATED: usize = 1 << 20;

/// The TTL of a record that has none before any `$TTL` directive: Knot
/// DNS's `default-ttl`.
pub const DEFAULT_TTL: u32 = 3600;

/// Reads an `$INCLUDE`d file: given the line of the directive and the
/// target, returns the path to name in errors and the file's bytes.
pub type IncludeFn<'a> = dyn FnMut(usize, &str) -> Result<(PathBuf, Vec<u8>), BundleError> + 'a;

/// Read one zone of a bundle (following `$INCLUDE`s inside the bundle) and
/// run the zone checks on it.
pub fn load_zone(bundle: &Bundle, zone: &ZoneFile) -> Result<ParsedZone, BundleError> {
    let origin = Name::parse(zone.origin.as_bytes(), None).map_err(|e| BundleError::BadOrigin {
        path: zone.path.clone(),
        reason: e.to_string(),
    })?;
    let text = bundle.read(&zone.path)?;
    let mut include = |line: usize, target: &str| {
        let path = bundle.resolve_include(&zone.path, line, target)?;
        let bytes = bundle.read(&path)?;
        Ok((path, bytes))
    };
    let parsed = parse_bytes(&text, &origin, &zone.path, &mut include)?;
    check_zone(&parsed)?;
    Ok(parsed)
}

/// An include resolver that refuses every `$INCLUDE`, for zone text that
/// has no directory around it (fuzzing, tests).
pub fn refuse_includes(
    file: &Path,
) -> impl FnMut(usize, &str) -> Result<(PathBuf, Vec<u8>), BundleError> + '_ {
    move |line, target| {
        Err(BundleError::Zone {
            file: file.to_path_buf(),
            line,
            message: format!("$INCLUDE {target}: includes are not available here"),
        })
    }
}

/// Parse the master file `text` of the zone `origin`, read from `file`,
/// without the zone checks.
///
/// `include(line, target)` reads an `$INCLUDE`d file: `target` is the path
/// as written, made relative to the directory of `file` when the include
/// sits in a nested included file, so that the callback can resolve every
/// target against `file`'s directory. It returns the path to report in
/// errors and the file's bytes.
pub fn parse_bytes(
    text: &[u8],
    origin: &Name,
    file: &Path,
    include: &mut IncludeFn<'_>,
) -> Result<ParsedZone, BundleError> {
    let mut parser = Parser {
        zone: ParsedZone {
            origin: Some(origin.clone()),
            files: Vec::new(),
            records: Vec::new(),
        },
        include,
        default_ttl: DEFAULT_TTL,
        generated: 0,
        rdata: Vec::new(),
    };
    let top = Source {
        origin: origin.clone(),
        dir: PathBuf::new(),
        depth: 0,
    };
    parser.file(text, file.to_path_buf(), top)?;
    let mut zone = parser.zone;
    finish(&mut zone);
    Ok(zone)
}

/// Where the file being read came from.
#[derive(Debug, Clone)]
struct Source {
    /// The origin the file starts with.
    origin: Name,
    /// The file's directory relative to the zone file's directory.
    dir: PathBuf,
    /// How many `$INCLUDE`s deep the file is.
    depth: usize,
}

/// The state that lives across files.
struct Parser<'a> {
    /// The zone being built.
    zone: ParsedZone,
    /// Reads included files.
    include: &'a mut IncludeFn<'a>,
    /// The TTL of records written without one (`$TTL`).
    default_ttl: u32,
    /// Records produced by `$GENERATE` so far.
    generated: usize,
    /// The RDATA of the record being read (a buffer kept for its room).
    rdata: Vec<u8>,
}

/// The state of one file being read.
struct FileState {
    /// The current origin (`$ORIGIN`).
    origin: Name,
    /// Where in [`ParsedZone::records`] the previous record of this file
    /// is: its owner is inherited by a line starting with a blank.
    last_owner: Option<usize>,
    /// The owner field of the last record of this file that had one, as
    /// written, and where that record is: a record that writes the same
    /// text (under the same `$ORIGIN`) has the same owner, which is then
    /// copied rather than parsed again.
    written_owner: Option<(Vec<u8>, usize)>,
    /// Index of the file in [`ParsedZone::files`].
    index: u16,
    /// Where the file came from.
    source: Source,
}

impl Parser<'_> {
    /// Read one file (the zone file or an included one).
    fn file(&mut self, text: &[u8], path: PathBuf, source: Source) -> Result<(), BundleError> {
        // Bounded by MAX_FILES, so the index fits in the u16 of a record.
        if self.zone.files.len() >= MAX_FILES {
            return Err(zone_error(
                &path,
                0,
                format!("more than {MAX_FILES} files included"),
            ));
        }
        let index = self.zone.files.len() as u16;
        self.zone.files.push(path.clone());
        let mut state = FileState {
            origin: source.origin.clone(),
            last_owner: None,
            written_owner: None,
            index,
            source,
        };
        let mut lexer = Lexer::new(text);
        let mut entry = Entry::default();
        loop {
            match lexer.next_into(&mut entry) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(zone_error(&path, e.line, e.message)),
            }
            self.entry(&mut state, &entry)
                .map_err(|e| e.into_bundle_error(&path, entry.line))?;
        }
    }

    /// Apply one entry: a directive or a record.
    fn entry(&mut self, state: &mut FileState, entry: &Entry) -> Result<(), EntryError> {
        let Some((first, args)) = entry.tokens.split_first() else {
            return Ok(());
        };
        if entry.blank_owner || first.quoted || !first.text.starts_with(b"$") {
            return self.record(state, &entry.tokens, entry.blank_owner, entry.line);
        }
        let directive = first.text.to_ascii_uppercase();
        match directive.as_slice() {
            b"$ORIGIN" => {
                let [arg] = args else {
                    return Err("$ORIGIN needs exactly one name".into());
                };
                state.origin =
                    rdata::name(arg, &state.origin).map_err(|e| format!("$ORIGIN: {e}"))?;
                state.written_owner = None;
            }
            b"$TTL" => {
                let [arg] = args else {
                    return Err("$TTL needs exactly one TTL".into());
                };
                self.default_ttl = text::ttl(&arg.text).map_err(|e| format!("$TTL: {e}"))?;
            }
            b"$INCLUDE" => self.include(state, args, entry.line)?,
            b"$GENERATE" => {
                let records = generate::expand(args)?;
                self.generated = self.generated.saturating_add(records.len());
                if self.generated > MAX_GENERATED {
                    return Err(format!(
                        "$GENERATE adds more than {MAX_GENERATED} records to the zone"
                    )
                    .into());
                }
                for tokens in records {
                    self.record(state, &tokens[..], false, entry.line)?;
                }
            }
            _ => return Err(format!("unknown directive \"{}\"", show(&first.text)).into()),
        }
        Ok(())
    }

    /// `$INCLUDE file [origin]`.
    fn include(
        &mut self,
        state: &mut FileState,
        args: &[Token],
        line: usize,
    ) -> Result<(), EntryError> {
        let (target, origin) = match args {
            [target] => (target, state.origin.clone()),
            [target, origin] => {
                // Knot DNS refuses a relative origin here ("invalid origin in
                // include directive"); so do we.
                if !is_absolute(&origin.text) {
                    return Err("$INCLUDE origin must be an absolute name".into());
                }
                (target, rdata::name(origin, &state.origin)?)
            }
            _ => return Err("$INCLUDE needs a file name and at most an origin".into()),
        };
        let depth = state.source.depth + 1;
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep").into());
        }
        let written = String::from_utf8(text::unescape(&target.text)?)
            .map_err(|_| "$INCLUDE file name is not UTF-8".to_string())?;
        let relative = state.source.dir.join(&written);
        let relative = relative.to_str().ok_or("$INCLUDE file name is not UTF-8")?;
        let including = self
            .zone
            .files
            .get(usize::from(state.index))
            .cloned()
            .unwrap_or_default();
        let (path, bytes) = (self.include)(line, relative)
            .map_err(|e| EntryError::Bundle(placed(e, &including, &written)))?;
        let source = Source {
            origin,
            dir: Path::new(relative)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            depth,
        };
        // As in Knot DNS, the included file starts with the including
        // file's $TTL, and its own $TTL does not outlive it.
        let default_ttl = self.default_ttl;
        let result = self.file(&bytes, path, source);
        self.default_ttl = default_ttl;
        result.map_err(EntryError::Bundle)
    }

    /// One record: `[owner] [ttl] [class] type rdata` in either order of
    /// TTL and class.
    fn record(
        &mut self,
        state: &mut FileState,
        tokens: &[Token],
        blank_owner: bool,
        line: usize,
    ) -> Result<(), EntryError> {
        let mut fields = rdata::Fields::new(tokens);
        let mut written = None;
        let owner = if blank_owner {
            state
                .last_owner
                .and_then(|i| self.zone.records.get(i))
                .map(|r| r.owner.clone())
                .ok_or("no previous owner for a line starting with a blank")?
        } else {
            let token = fields.next("owner")?;
            let same = match &state.written_owner {
                Some((text, at)) if !token.quoted && text[..] == token.text[..] => {
                    self.zone.records.get(*at).map(|r| r.owner.clone())
                }
                _ => None,
            };
            match same {
                Some(owner) => owner,
                None => {
                    written = Some(token);
                    rdata::name(token, &state.origin).map_err(|e| format!("owner: {e}"))?
                }
            }
        };
        let on_record = |what: &str, e: String| match what {
            "" => format!("{owner}: {e}"),
            _ => format!("{owner} {what}: {e}"),
        };
        let mut ttl = None;
        let mut rclass = None;
        while let Some(token) = fields.peek().filter(|t| !t.quoted) {
            if ttl.is_none() && token.text.first().is_some_and(u8::is_ascii_digit) {
                ttl = Some(text::ttl(&token.text).map_err(|e| on_record("TTL", e))?);
            } else if let Some(c) = rclass
                .is_none()
                .then(|| class_number(&token.text))
                .flatten()
            {
                rclass = Some(c);
            } else {
                break;
            }
            fields.next("TTL or class")?;
        }
        let type_token = fields.next("type").map_err(|e| on_record("", e))?;
        let rtype = rdata::type_number(&type_token.text).map_err(|e| on_record("", e))?;
        let rclass = rclass.unwrap_or(class::IN);
        if rclass != class::IN {
            return Err(on_record(
                &types::type_name(rtype),
                "unsupported class (only IN is served)".into(),
            )
            .into());
        }
        self.rdata.clear();
        rdata::parse_into(rtype, &mut fields, &state.origin, &mut self.rdata)
            .map_err(|e| on_record(&types::type_name(rtype), e))?;
        state.last_owner = Some(self.zone.records.len());
        if let Some(token) = written {
            let (text, at) = state.written_owner.get_or_insert_with(Default::default);
            text.clear();
            text.extend_from_slice(&token.text);
            *at = self.zone.records.len();
        }
        self.zone.records.push(Record {
            owner,
            rtype,
            class: rclass,
            ttl: ttl.unwrap_or(self.default_ttl),
            rdata: self.rdata.as_slice().into(),
            file: state.index,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        });
        Ok(())
    }
}

/// An error of the include callback placed in the file holding the
/// `$INCLUDE`: the callback resolves every target from the zone file, so it
/// cannot name a nested including file itself.
fn placed(error: BundleError, including: &Path, written: &str) -> BundleError {
    match error {
        BundleError::Escapes { line, .. } => BundleError::Escapes {
            path: including.to_path_buf(),
            line,
            what: format!("$INCLUDE {written}"),
        },
        BundleError::Zone { line, message, .. } => BundleError::Zone {
            file: including.to_path_buf(),
            line,
            message,
        },
        other => other,
    }
}

/// True when a presentation name ends in an unescaped dot (RFC 1035
/// section 5.1: names "that do not end in a dot are relative").
fn is_absolute(text: &[u8]) -> bool {
    let Some(body) = text.strip_suffix(b".") else {
        return false;
    };
    let backslashes = body.iter().rev().take_while(|&&b| b == b'\\').count();
    backslashes % 2 == 0
}

/// A class mnemonic or `CLASSnnn` (RFC 3597 section 5).
fn class_number(text: &[u8]) -> Option<u16> {
    if text == b"IN" {
        return Some(class::IN);
    }
    let s = std::str::from_utf8(text).ok()?;
    let named = [
        ("IN", class::IN),
        ("CH", class::CH),
        ("HS", 4),
        ("NONE", 254),
        ("ANY", class::ANY),
    ];
    named
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|&(_, c)| c)
        .or_else(|| types::generic_number(s, "CLASS"))
}

/// An error while applying one entry: a message for the entry's line, or an
/// error already placed (from an included file).
#[derive(Debug)]
enum EntryError {
    /// What is wrong with the entry.
    Message(String),
    /// An error from an included file or the include callback.
    Bundle(BundleError),
}

impl From<String> for EntryError {
    fn from(message: String) -> EntryError {
        EntryError::Message(message)
    }
}

impl From<&str> for EntryError {
    fn from(message: &str) -> EntryError {
        EntryError::Message(message.into())
    }
}

impl EntryError {
    /// The error as a [`BundleError`] placed at `line` of `file`.
    fn into_bundle_error(self, file: &Path, line: usize) -> BundleError {
        match self {
            EntryError::Message(message) => zone_error(file, line, message),
            EntryError::Bundle(e) => e,
        }
    }
}

/// A zone-content error.
fn zone_error(file: &Path, line: usize, message: String) -> BundleError {
    BundleError::Zone {
        file: file.to_path_buf(),
        line,
        message,
    }
}

/// Bring the parsed records into the shape Knot DNS loads: records outside
/// the zone dropped, identical records collapsed, every RRset (but RRSIG,
/// whose TTLs follow the covered types) with the TTL of its first record,
/// and at most one SOA at the apex.
fn finish(zone: &mut ParsedZone) {
    let Some(origin) = zone.origin.as_ref() else {
        return;
    };
    let (plan, unchanged) = finish_plan(&zone.records, origin);
    if unchanged {
        return;
    }
    let mut plan = plan.into_iter();
    zone.records.retain_mut(|r| match plan.next() {
        Some(Some(ttl)) => {
            r.ttl = ttl;
            true
        }
        _ => false,
    });
}

/// What [`finish`] does with each record, in order: `None` drops it,
/// `Some(ttl)` keeps it with that TTL; and true when that keeps every
/// record as it is.
///
/// Owners are numbered ([`owners::Owners`]) once per run of records with
/// the same owner. Most zones write each owner's records together, so an
/// owner seen for the first time is deduplicated within its run by
/// comparing the few records kept so far. Only an owner that comes back
/// after other owners, or whose run grows long, goes through the maps of
/// the whole zone, after the records of its first run are put there; a
/// record then costs one hash of its owner number, type and canonical
/// RDATA (borrowed unless names in it need lowercasing).
fn finish_plan(records: &[Record], origin: &Name) -> (Vec<Option<u32>>, bool) {
    /// How many records an owner's first run keeps before its keys move to
    /// the maps of the whole zone (the run compares each record with all
    /// those kept before it).
    const RUN_LIMIT: usize = 8;
    let apex = owners::lowercase(origin.as_wire());
    // Most owners hold a few records each.
    let mut owners = owners::Owners::with_capacity(records.len() / 4);
    // For each owner number: the records of its first run (`start..end`),
    // or `None` once its keys are in `seen` and `first_ttl`.
    let mut first_run: Vec<Option<(u32, u32)>> = Vec::with_capacity(records.len() / 4);
    let mut seen = HashSet::with_hasher(KeyHash::default());
    let mut first_ttl = HashMap::with_hasher(KeyHash::default());
    let mut apex_soa = false;
    // The previous record's owner as written, its number (`None` outside
    // the zone) and whether it is the apex.
    let mut last_owner: Option<(&Name, Option<u32>, bool)> = None;
    // The run being read: its owner's number and first record, and while
    // the owner is not in the maps, the (type, canonical RDATA) of the
    // records it kept and the first TTL of each of its types.
    let mut run: Option<(u32, usize)> = None;
    let mut run_global = false;
    let mut run_kept: Vec<(u16, std::borrow::Cow<'_, [u8]>)> = Vec::new();
    let mut run_ttls: Vec<(u16, u32)> = Vec::new();
    let mut plan: Vec<Option<u32>> = Vec::with_capacity(records.len());
    // How many records are kept with the TTL they have.
    let mut unchanged = 0;
    for (index, r) in records.iter().enumerate() {
        let wire = r.owner.as_wire();
        let (id, at_apex) = match last_owner {
            Some((w, id, at_apex)) if w.is(&r.owner) => (id, at_apex),
            _ => {
                let lower = owners::lowercase(wire);
                let at_apex = *lower == *apex;
                let id = owners::at_or_below(&lower, &apex).then(|| owners.intern(&lower));
                last_owner = Some((&r.owner, id.map(|(id, _)| id), at_apex));
                let Some((id, new)) = id else {
                    plan.push(None);
                    continue;
                };
                if run.is_none_or(|(run_id, _)| run_id != id) {
                    // A new run: the previous one's owner, if still only
                    // in its run, keeps where that run lies.
                    if let Some((run_id, start)) = run
                        && !run_global
                        && let Some(slot) = first_run.get_mut(run_id as usize)
                    {
                        *slot = Some((start as u32, index as u32));
                    }
                    run = Some((id, index));
                    run_kept.clear();
                    run_ttls.clear();
                    if new {
                        first_run.push(None);
                        run_global = false;
                    } else {
                        // The owner comes back: its first run's keys go to
                        // the maps, and so does everything it has from now.
                        if let Some(Some((from, to))) =
                            first_run.get_mut(id as usize).map(Option::take)
                        {
                            let range = from as usize..to as usize;
                            let earlier = records.get(range.clone()).unwrap_or_default();
                            let kept = plan.get(range).unwrap_or_default();
                            for (r, kept) in earlier.iter().zip(kept) {
                                let Some(ttl) = *kept else {
                                    continue;
                                };
                                seen.insert((id, r.rtype, wire::canonical(r.rtype, &r.rdata)));
                                if r.rtype != rtype::RRSIG {
                                    first_ttl.entry((id, r.rtype)).or_insert(ttl);
                                }
                            }
                        }
                        run_global = true;
                    }
                }
                (Some(id), at_apex)
            }
        };
        let Some(id) = id else {
            plan.push(None);
            continue;
        };
        if r.rtype == rtype::SOA && at_apex {
            if apex_soa {
                plan.push(None);
                continue;
            }
            apex_soa = true;
        }
        let canonical = wire::canonical(r.rtype, &r.rdata);
        if run_global {
            if !seen.insert((id, r.rtype, canonical)) {
                plan.push(None);
                continue;
            }
        } else {
            if run_kept
                .iter()
                .any(|(t, c)| *t == r.rtype && *c == canonical)
            {
                plan.push(None);
                continue;
            }
            if run_kept.len() == RUN_LIMIT {
                // A long run: from here on, through the maps.
                for (t, c) in run_kept.drain(..) {
                    seen.insert((id, t, c));
                }
                for &(t, ttl) in &run_ttls {
                    first_ttl.insert((id, t), ttl);
                }
                seen.insert((id, r.rtype, canonical));
                run_global = true;
            } else {
                run_kept.push((r.rtype, canonical));
            }
        }
        let ttl = if r.rtype == rtype::RRSIG {
            r.ttl
        } else if run_global {
            *first_ttl.entry((id, r.rtype)).or_insert(r.ttl)
        } else {
            match run_ttls.iter().find(|(t, _)| *t == r.rtype) {
                Some(&(_, ttl)) => ttl,
                None => {
                    run_ttls.push((r.rtype, r.ttl));
                    r.ttl
                }
            }
        };
        unchanged += usize::from(ttl == r.ttl);
        plan.push(Some(ttl));
    }
    (plan, unchanged == records.len())
}

#[cfg(test)]
mod tests;
