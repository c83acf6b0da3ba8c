//! Presentation-format building blocks for the hickory engine's master-file
//! reader: splitting a file into logical entries, and turning single tokens
//! into names, numbers, TTLs and character strings.
//!
//! [`Entries`] scans a file one logical entry at a time: one per logical
//! line, with parentheses joining physical lines, comments dropped and
//! quoted strings kept whole. The words of an entry are borrowed from the
//! file ([`Token`]), so reading allocates nothing per line. Escapes are
//! left untouched at this stage, so a token's raw text still tells `\.` (a
//! dot inside a label) from `.` (a label break); each consumer decodes
//! them in its own context ([`name`], [`name_word_wire`] or
//! [`char_string`]).
//!
//! ```
//! use stripedns::engine::hickory::text::split_entries;
//! let entries = split_entries(b"www  IN A 192.0.2.1 ; web\n  TXT ( \"a b\"\n  c )\n").unwrap();
//! assert_eq!(entries.len(), 2);
//! assert!(entries[1].inherits_owner);
//! let tokens = entries[1].tokens();
//! assert_eq!(tokens[1].raw, b"a b");
//! assert!(tokens[1].quoted);
//! ```

use hickory_proto::rr::Name;

/// RFC 1035 2.3.4: labels are 63 octets or less.
pub const LABEL_MAX: usize = 63;
/// RFC 1035 2.3.4: names are 255 octets or less in wire form.
pub const NAME_MAX: usize = 255;

/// One whitespace-separated word of an entry, borrowed from the file (or,
/// for a word ending in a quoted value, from the splitter's scratch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The text as written, escapes not yet decoded; without the quotes
    /// for a quoted string.
    pub raw: &'a [u8],
    /// True when the token was written between double quotes.
    pub quoted: bool,
}

/// One logical line of a master file, its words owned (for tests and
/// tools; the reader itself borrows them, see [`Entries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The 1-based physical line the entry starts on.
    pub line: usize,
    /// True when the line starts with a blank: the record reuses the
    /// previous owner (RFC 1035 5.1).
    pub inherits_owner: bool,
    /// The words of the entry, at least one: (text as written, quoted).
    pub words: Vec<(Vec<u8>, bool)>,
}

impl Entry {
    /// The words as tokens.
    pub fn tokens(&self) -> Vec<Token<'_>> {
        self.words
            .iter()
            .map(|(raw, quoted)| Token {
                raw,
                quoted: *quoted,
            })
            .collect()
    }
}

/// Where one entry starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The 1-based physical line the entry starts on.
    pub line: usize,
    /// True when the line starts with a blank: the record reuses the
    /// previous owner (RFC 1035 5.1).
    pub inherits_owner: bool,
}

/// Where and why splitting failed: (line, message).
pub type SplitError = (usize, String);

/// Cut a master file into logical entries (RFC 1035 5.1): `;` comments,
/// `(`/`)` continuing an entry across lines (not nested), `"` strings kept
/// whole, `\` protecting the next character. Blank and comment-only lines
/// give no entry.
///
/// The character rules are Knot DNS's: outside comments a file holds only
/// printable ASCII (blanks and tabs also inside quotes), anything else is
/// written as `\DDD`; a quoted string ends on its line and is followed by
/// a blank; a word may end in a quoted value after `=` (`alpn="h2,h3"`),
/// which joins the word. An error names the line the scan had reached.
pub fn split_entries(src: &[u8]) -> Result<Vec<Entry>, SplitError> {
    let mut entries = Entries::default();
    let mut out = Vec::new();
    while let Some(head) = entries.next_entry(src)? {
        let mut tokens = Vec::new();
        entries.tokens(src, &mut tokens);
        out.push(Entry {
            line: head.line,
            inherits_owner: head.inherits_owner,
            words: tokens.iter().map(|t| (t.raw.to_vec(), t.quoted)).collect(),
        });
    }
    Ok(out)
}

/// Where one word of the current entry lies.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First octet.
    start: usize,
    /// One past the last octet.
    end: usize,
    /// Written between double quotes.
    quoted: bool,
    /// In [`Entries::joined`] rather than in the file.
    joined: bool,
}

/// A streaming splitter over one file: it finds one entry at a time and
/// keeps only where its words lie, so reading a file allocates nothing per
/// entry; an error late in a file is only reported once everything before
/// it was read.
#[derive(Debug)]
pub struct Entries {
    /// Where the next entry starts.
    at: usize,
    /// Its line.
    line: usize,
    /// The words of the entry found last.
    spans: Vec<Span>,
    /// The text of words that end in a quoted value (`key="value"`),
    /// which is not one run of the file.
    joined: Vec<u8>,
}

impl Default for Entries {
    fn default() -> Entries {
        Entries {
            at: 0,
            line: 1,
            spans: Vec::new(),
            joined: Vec::new(),
        }
    }
}

impl Entries {
    /// Find the next entry of the file `src` (the same file at every
    /// call), `None` at its end; its words are then read with
    /// [`Entries::tokens`].
    pub fn next_entry(&mut self, src: &[u8]) -> Result<Option<Head>, SplitError> {
        self.spans.clear();
        self.joined.clear();
        let mut scan = Scan {
            src,
            at: self.at,
            line: self.line,
            spans: &mut self.spans,
            joined: &mut self.joined,
        };
        let result = loop {
            if scan.at >= scan.src.len() {
                break Ok(None);
            }
            let line = scan.line;
            let inherits_owner = scan.peek().is_some_and(is_blank);
            match scan.entry() {
                Ok(()) if scan.spans.is_empty() => continue,
                Ok(()) => {
                    break Ok(Some(Head {
                        line,
                        inherits_owner,
                    }));
                }
                Err(e) => break Err(e),
            }
        };
        self.at = scan.at;
        self.line = scan.line;
        result
    }

    /// The words of the entry found last in `src`, into `out` (cleared
    /// first).
    pub fn tokens<'a>(&'a self, src: &'a [u8], out: &mut Vec<Token<'a>>) {
        out.clear();
        out.extend(self.spans.iter().map(|s| Token {
            raw: if s.joined {
                &self.joined[s.start..s.end]
            } else {
                &src[s.start..s.end]
            },
            quoted: s.quoted,
        }));
    }
}

/// Blanks between words.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

/// Bytes that end an unquoted word.
fn ends_word(b: u8) -> bool {
    is_blank(b) || matches!(b, b'\n' | b';' | b'(' | b')')
}

/// Bytes a word holds as they are (blanks only inside quotes).
fn plain(b: u8, quoted: bool) -> bool {
    (0x21..=0x7e).contains(&b) || (quoted && (b == b' ' || b == b'\t'))
}

/// The bytes an unquoted word runs over without a second look: printable
/// ASCII other than `"`, `\`, `;`, `(` and `)`.
const RUN: [bool; 256] = {
    let mut run = [false; 256];
    let mut b = 0x21;
    while b <= 0x7e {
        run[b] = !matches!(b as u8, b'"' | b'\\' | b';' | b'(' | b')');
        b += 1;
    }
    run
};

/// A cursor over a file being split.
struct Scan<'a> {
    /// The file.
    src: &'a [u8],
    /// The next octet.
    at: usize,
    /// The line of the next octet.
    line: usize,
    /// The words found so far.
    spans: &'a mut Vec<Span>,
    /// See [`Entries::joined`].
    joined: &'a mut Vec<u8>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    fn fail<T>(&self, message: &str) -> Result<T, SplitError> {
        Err((self.line, message.to_string()))
    }

    /// The words of one entry, up to a newline outside parentheses.
    fn entry(&mut self) -> Result<(), SplitError> {
        let mut open: Option<usize> = None;
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.next();
                    if open.is_none() {
                        return Ok(());
                    }
                }
                b';' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.next();
                    }
                }
                b'(' if open.is_some() => return self.fail("`(` inside parentheses"),
                b'(' => {
                    open = Some(self.line);
                    self.next();
                }
                b')' if open.is_none() => return self.fail("`)` without a matching `(`"),
                b')' => {
                    open = None;
                    self.next();
                }
                b if is_blank(b) => {
                    self.next();
                }
                _ => self.word()?,
            }
        }
        match open {
            Some(line) => Err((line, "`(` is never closed".into())),
            None => Ok(()),
        }
    }

    /// One word: a quoted string, or unquoted text that may end in a
    /// quoted value after `=`.
    fn word(&mut self) -> Result<(), SplitError> {
        if self.peek() == Some(b'"') {
            self.next();
            let start = self.at;
            self.quoted_rest(None)?;
            self.after_quote()?;
            self.spans.push(Span {
                start,
                end: self.at - 1,
                quoted: true,
                joined: false,
            });
            return Ok(());
        }
        let start = self.at;
        loop {
            // Most of a word is plain bytes, none of them a newline.
            let rest = self.src.get(self.at..).unwrap_or_default();
            self.at += rest
                .iter()
                .position(|&b| !RUN[usize::from(b)])
                .unwrap_or(rest.len());
            let Some(b) = self.peek() else {
                break;
            };
            match b {
                b'"' if self.at > start && self.src[self.at - 1] == b'=' => {
                    let from = self.joined.len();
                    self.joined.extend_from_slice(&self.src[start..self.at]);
                    self.next();
                    let mut joined = std::mem::take(self.joined);
                    let result = self.quoted_rest(Some(&mut joined));
                    *self.joined = joined;
                    result?;
                    self.after_quote()?;
                    self.spans.push(Span {
                        start: from,
                        end: self.joined.len(),
                        quoted: false,
                        joined: true,
                    });
                    return Ok(());
                }
                b'"' => return self.fail("`\"` inside a word"),
                b'\\' => {
                    self.next();
                    self.escaped()?;
                }
                b if ends_word(b) => break,
                b if !plain(b, false) => {
                    return self.fail(&format!("character \\{b:03} must be written as an escape"));
                }
                _ => {
                    self.next();
                }
            }
        }
        self.spans.push(Span {
            start,
            end: self.at,
            quoted: false,
            joined: false,
        });
        Ok(())
    }

    /// After a closing quote: the word must end here.
    fn after_quote(&self) -> Result<(), SplitError> {
        if self.peek().is_some_and(|c| !ends_word(c)) {
            return self.fail("no blank after a quoted string");
        }
        Ok(())
    }

    /// After a backslash: the protected character must be printable.
    fn escaped(&mut self) -> Result<u8, SplitError> {
        match self.next() {
            Some(c) if plain(c, true) => Ok(c),
            _ => self.fail("bad escape"),
        }
    }

    /// The rest of a quoted string, after its opening quote, copied into
    /// `out` when given (escapes kept as written).
    fn quoted_rest(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<(), SplitError> {
        loop {
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    let c = self.escaped()?;
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(&[b'\\', c]);
                    }
                }
                Some(c) if plain(c, true) => {
                    if let Some(out) = out.as_deref_mut() {
                        out.push(c);
                    }
                }
                None | Some(b'\n') => return self.fail("unterminated quoted string"),
                Some(c) => {
                    return self.fail(&format!("character \\{c:03} must be written as an escape"));
                }
            }
        }
    }
}

/// Decode one escape starting at `raw[at]` (just past the backslash):
/// `\DDD` is a decimal octet, `\X` is X. Returns (octet, octets used).
fn escape_at(raw: &[u8], at: usize) -> Result<(u8, usize), String> {
    let Some(&first) = raw.get(at) else {
        return Err("`\\` at the end of a word".into());
    };
    if !first.is_ascii_digit() {
        return Ok((first, 1));
    }
    let digits = raw
        .get(at..at + 3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| "`\\DDD` needs exactly three digits".to_string())?;
    let value = digits
        .iter()
        .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    let octet = u8::try_from(value).map_err(|_| format!("`\\{value}` is above 255"))?;
    Ok((octet, 3))
}

/// A `<character-string>` (RFC 1035 5.1) with its escapes decoded; at most
/// 255 octets.
pub fn char_string(raw: &[u8]) -> Result<Vec<u8>, String> {
    let out = unescape(raw)?;
    if out.len() > 255 {
        return Err("character string longer than 255 octets".into());
    }
    Ok(out)
}

/// Decode every escape of `raw`, with no length limit.
pub fn unescape(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'\\' {
            let (octet, used) = escape_at(raw, i + 1)?;
            out.push(octet);
            i += 1 + used;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// A name written as a word: not quoted, and only with the characters
/// Knot DNS reads in names (letters, digits, `-`, `_`, `/`, `*`, `.`),
/// anything else escaped.
pub fn name_word(word: &Token<'_>, origin: &Name) -> Result<Name, String> {
    check_name_word(word)?;
    name(word.raw, origin)
}

/// The characters [`name_word`] allows.
fn check_name_word(word: &Token<'_>) -> Result<(), String> {
    let mut plain = true;
    let mut i = 0;
    while let Some(&b) = word.raw.get(i) {
        if b == b'\\' {
            i += 2;
            continue;
        }
        plain &= b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'*' | b'.');
        i += 1;
    }
    if word.quoted || word.raw.is_empty() || (word.raw != b"@" && !plain) {
        return Err(format!(
            "`{}` is not a valid name (escape other characters)",
            String::from_utf8_lossy(word.raw)
        ));
    }
    Ok(())
}

/// [`name_word`] straight into uncompressed wire form, case kept: the
/// name written as `word` (relative to `origin`, itself in wire form) into
/// `out`, with the same rules and the same messages.
pub fn name_word_wire(word: &Token<'_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    check_name_word(word)?;
    name_wire(word.raw, origin, out)
}

/// The name written as `raw` in presentation form, relative to `origin`
/// (in wire form) unless it ends in a dot, `@` being `origin` itself,
/// into uncompressed wire form in `out`, case kept, escapes decoded.
fn name_wire(raw: &[u8], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    if raw == b"@" {
        out.extend_from_slice(origin);
        return Ok(());
    }
    if raw == b"." {
        out.push(0);
        return Ok(());
    }
    // Each label's length octet is written once the label is complete.
    let mut label_at = 0;
    out.push(0);
    let mut absolute = false;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\\' => {
                let (octet, used) = escape_at(raw, i + 1)?;
                out.push(octet);
                i += 1 + used;
                continue;
            }
            b'.' => {
                let len = out.len() - label_at - 1;
                if len == 0 {
                    return Err("empty label".into());
                }
                if len > LABEL_MAX {
                    return Err("label longer than 63 octets".into());
                }
                out[label_at] = len as u8;
                label_at = out.len();
                out.push(0);
                if i + 1 == raw.len() {
                    absolute = true;
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    let len = out.len() - label_at - 1;
    if len > LABEL_MAX {
        return Err("label longer than 63 octets".into());
    }
    if len > 0 {
        out[label_at] = len as u8;
    } else if !absolute {
        return Err("empty name".into());
    }
    if !absolute {
        out.extend_from_slice(origin);
    }
    if out.len() > NAME_MAX {
        return Err("name longer than 255 octets".into());
    }
    Ok(())
}

/// The name above `wire` (an uncompressed wire name), `None` for the root
/// or a malformed name.
pub fn parent(wire: &[u8]) -> Option<&[u8]> {
    let len = usize::from(*wire.first()?);
    if len == 0 {
        return None;
    }
    wire.get(1 + len..)
}

/// True when the lowercased wire name `lower` is `apex` or lies below it
/// (both lowercased): hickory's `zone_of` on wire forms.
pub fn within(lower: &[u8], apex: &[u8]) -> bool {
    let mut at = lower;
    loop {
        if at.len() == apex.len() {
            return at == apex;
        }
        match parent(at) {
            Some(up) if up.len() >= apex.len() => at = up,
            _ => return false,
        }
    }
}

/// Labels of an uncompressed wire name, the root not counted.
pub fn wire_labels(wire: &[u8]) -> usize {
    let mut n = 0;
    let mut at = wire;
    while let Some(up) = parent(at) {
        n += 1;
        at = up;
    }
    n
}

/// A wire name as hickory's [`Name`] (for messages), the root when
/// malformed.
pub fn wire_name(wire: &[u8]) -> Name {
    name_of_wire(wire).unwrap_or_else(|_| Name::root())
}

/// A valid uncompressed wire name as hickory's [`Name`].
fn name_of_wire(wire: &[u8]) -> Result<Name, String> {
    let mut labels = Vec::new();
    let mut at = wire;
    while let Some(up) = parent(at) {
        labels.push(&at[1..at.len() - up.len()]);
        at = up;
    }
    Name::from_labels(labels).map_err(|e| format!("bad name: {e}"))
}

/// A name in presentation form, relative to `origin` unless it ends in a
/// dot; `@` is the origin itself. Letter case is kept as written.
pub fn name(raw: &[u8], origin: &Name) -> Result<Name, String> {
    if raw == b"@" {
        return Ok(origin.clone());
    }
    let mut out = Vec::new();
    name_wire(raw, &wire(origin), &mut out)?;
    name_of_wire(&out)
}

/// Labels of a name, the root not counted. (hickory's `num_labels` does
/// not count a leading `*`, as RRSIG label counts do; lookups need every
/// label.)
pub fn label_count(name: &Name) -> usize {
    name.iter().count()
}

/// The uncompressed wire form of a name, case kept.
pub fn wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// The uncompressed wire form of a name, lowercased.
pub fn lower_wire(name: &Name) -> Vec<u8> {
    let mut out = wire(name);
    out.make_ascii_lowercase();
    out
}

/// A decimal number that fits in `T`.
pub fn number<T: TryFrom<u64>>(raw: &[u8], what: &str) -> Result<T, String> {
    let bad = || format!("`{}` is not a valid {what}", String::from_utf8_lossy(raw));
    if raw.is_empty() || raw.len() > 20 || !raw.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for d in raw {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    T::try_from(v).map_err(|_| bad())
}

/// A TTL: seconds, or BIND's unit form (`1h30m`, `2d`, `1W`).
pub fn ttl(raw: &[u8]) -> Result<u32, String> {
    let bad = || format!("`{}` is not a valid TTL", String::from_utf8_lossy(raw));
    if raw.is_empty() || !raw[0].is_ascii_digit() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut value: Option<u64> = None;
    for &b in raw {
        if b.is_ascii_digit() {
            let v = value.unwrap_or(0) * 10 + u64::from(b - b'0');
            if v > u64::from(u32::MAX) {
                return Err(bad());
            }
            value = Some(v);
            continue;
        }
        let unit = match b.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => return Err(bad()),
        };
        total += value.take().ok_or_else(bad)? * unit;
        if total > u64::from(u32::MAX) {
            return Err(bad());
        }
    }
    if let Some(v) = value {
        // A bare number is seconds only when it is the whole word.
        if raw.iter().any(|b| !b.is_ascii_digit()) {
            return Err(bad());
        }
        total += v;
    }
    u32::try_from(total).map_err(|_| bad())
}

/// Hex digits (spread over any number of words) as octets.
pub fn hex(words: &[Token]) -> Result<Vec<u8>, String> {
    let mut digits = Vec::new();
    for w in words {
        digits.extend(w.raw.iter().copied());
    }
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                _ => Err(format!(
                    "`{}` is not hexadecimal",
                    String::from_utf8_lossy(pair)
                )),
            }
        })
        .collect()
}

/// Base64 (RFC 4648, spread over any number of words) as octets.
pub fn base64(words: &[Token]) -> Result<Vec<u8>, String> {
    let mut text = Vec::new();
    for w in words {
        text.extend(w.raw.iter().copied());
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    if text.len() % 4 != 0 {
        return Err("base64 length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (g, chunk) in text.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && g + 1 != groups) {
            return Err("misplaced base64 padding".into());
        }
        let mut acc = 0u32;
        for &c in &chunk[..4 - pad] {
            acc = acc << 6 | value(c).ok_or("invalid base64 character")?;
        }
        // Padding bits should be zero (RFC 4648 3.5); Knot DNS ignores
        // them, and so does this.
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Ok(out)
}

/// Hex or base64 data written as one or more words, each word decoded on
/// its own (as Knot DNS reads them); at least one word.
pub fn per_word(
    words: &[Token],
    decode: fn(&[Token]) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    if words.is_empty() {
        return Err("missing hex or base64 data".into());
    }
    let mut out = Vec::new();
    for w in words {
        out.extend(decode(std::slice::from_ref(w))?);
    }
    Ok(out)
}

/// Show a token list as it was written (for error messages), shortened.
pub fn show(tokens: &[Token]) -> String {
    let mut s = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if t.quoted {
            s.push('"');
        }
        s.push_str(&String::from_utf8_lossy(t.raw));
        if t.quoted {
            s.push('"');
        }
        if s.len() > 80 {
            let mut cut = 77;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("...");
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Name {
        Name::root()
    }

    #[test]
    fn entries_join_parentheses_and_drop_comments() {
        let src = b"; head\n@ IN SOA ns ( 1 ; serial\n 2 3\n 4 5 )\n\n  ; only a comment\nwww A 1.2.3.4\n";
        let e = split_entries(src).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].line, 2);
        assert_eq!(e[0].tokens().len(), 9);
        assert_eq!(e[1].line, 7);
        assert!(!e[1].inherits_owner);
    }

    #[test]
    fn quotes_keep_specials() {
        let e = split_entries(b"a TXT \"x ; (y) \\\" z\" b\\ c\n").unwrap();
        assert_eq!(e[0].tokens()[2].raw, b"x ; (y) \\\" z");
        assert_eq!(e[0].tokens()[3].raw, b"b\\ c");
        assert_eq!(char_string(e[0].tokens()[2].raw).unwrap(), b"x ; (y) \" z");
        let e = split_entries(b"s SVCB 1 . alpn=\"h2,h3\" port=1\n").unwrap();
        assert_eq!(e[0].tokens()[4].raw, b"alpn=h2,h3");
        assert!(!e[0].tokens()[4].quoted);
    }

    #[test]
    fn split_errors_name_the_line() {
        assert_eq!(split_entries(b"a\nb ( c\n").unwrap_err().0, 2);
        assert_eq!(split_entries(b"a )\n").unwrap_err().0, 1);
        // The scan has passed the newline that ends the open string.
        assert_eq!(split_entries(b"\n\na \"open\n").unwrap_err().0, 4);
        assert_eq!(split_entries(b"a ((\n").unwrap_err().0, 1);
        assert!(split_entries(b"a \"x\"y\n").is_err());
        assert!(split_entries(b"a x\"y\"\n").is_err());
        assert!(split_entries(b"a \x80\n").is_err());
        assert!(split_entries(b"a ; \x80 in a comment\n").is_ok());
    }

    #[test]
    fn escapes_are_decimal() {
        assert_eq!(unescape(b"\\065\\066\\.").unwrap(), b"AB.");
        assert_eq!(unescape(b"\\255").unwrap(), [255]);
        assert!(unescape(b"\\256").is_err());
        assert!(unescape(b"\\12").is_err());
        assert!(unescape(b"\\").is_err());
        assert!(char_string(&[b'x'; 256]).is_err());
    }

    #[test]
    fn names_relative_absolute_and_escaped() {
        let origin = name(b"Example.COM.", &root()).unwrap();
        let n = name(b"www", &origin).unwrap();
        assert_eq!(wire(&n), b"\x03www\x07Example\x03COM\x00");
        assert_eq!(name(b"@", &origin).unwrap(), origin);
        let n = name(b"a\\.b.c.", &origin).unwrap();
        assert_eq!(wire(&n), b"\x03a.b\x01c\x00");
        let n = name(b"\\097_x.", &origin).unwrap();
        assert_eq!(wire(&n), b"\x03a_x\x00");
        assert_eq!(wire(&name(b".", &origin).unwrap()), b"\x00");
        assert!(name(b"a..b", &origin).is_err());
        assert!(name(b".a", &origin).is_err());
        assert!(name(&[b'x'; 64], &origin).is_err());
        let long = [b"abcdefghi.".as_slice(); 26].concat();
        assert!(name(&long, &origin).is_err());
    }

    #[test]
    fn ttls_with_units() {
        assert_eq!(ttl(b"3600").unwrap(), 3600);
        assert_eq!(ttl(b"1h30m").unwrap(), 5400);
        assert_eq!(ttl(b"1W2d").unwrap(), 604_800 + 172_800);
        assert_eq!(ttl(b"4294967295").unwrap(), u32::MAX);
        assert!(ttl(b"4294967296").is_err());
        assert!(ttl(b"h").is_err());
        assert!(ttl(b"1h30").is_err());
        assert!(ttl(b"1x").is_err());
        assert!(ttl(b"99999999999999999999999").is_err());
    }

    #[test]
    fn numbers_hex_base64() {
        assert_eq!(number::<u16>(b"65535", "u16").unwrap(), 65535);
        assert!(number::<u16>(b"65536", "u16").is_err());
        assert!(number::<u8>(b"-1", "u8").is_err());
        let t = |s: &'static str| Token {
            raw: s.as_bytes(),
            quoted: false,
        };
        assert_eq!(hex(&[t("0a"), t("FF")]).unwrap(), [10, 255]);
        assert!(hex(&[t("0")]).is_err());
        assert_eq!(base64(&[t("aGVs"), t("bG8=")]).unwrap(), b"hello");
        assert!(base64(&[t("a=bc")]).is_err());
    }
}
