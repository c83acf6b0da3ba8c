//! The master-file lexer: bytes in, one *entry* (a record or a directive,
//! possibly spanning lines inside parentheses) out at a time.
//!
//! RFC 1035 section 5.1 defines the syntax this follows: fields separated by
//! blanks, `;` comments to the end of the line, `"` quoted strings, `\X` and
//! `\DDD` escapes, and parentheses that let an entry continue over line
//! boundaries. Tokens keep their escapes as written, because only the caller
//! knows whether a token is a name (escapes decoded by [`super::Name::parse`])
//! or a character string. The lexer reads through a cursor and never indexes,
//! so hostile input can only produce an error.
//!
//! A zone of a million records is a million entries, so the lexer can
//! refill one [`Entry`] in place ([`Lexer::next_into`]), reusing its list
//! of tokens. A field written as one run of plain bytes (nearly all of
//! them), or as a quoted string without escapes, is not copied: its token
//! borrows the text. Only the others are put together in a buffer.

use std::borrow::Cow;

/// One field of an entry, escapes still as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Token<'a> {
    /// The field's bytes (without the quotes of a quoted string): a slice
    /// of the text when the field is written in one piece, else a copy.
    pub text: Cow<'a, [u8]>,
    /// True when the field was (or began as) a quoted string.
    pub quoted: bool,
}

/// One logical entry: the tokens of a record or directive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The 1-based line the entry starts on.
    pub line: usize,
    /// True when the first line began with a blank: the owner is inherited.
    pub blank_owner: bool,
    /// The fields in order.
    pub tokens: Vec<Token<'a>>,
}

/// A lexical error, with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads entries from the text of one file.
#[derive(Debug)]
pub struct Lexer<'a> {
    /// What is left of the text.
    rest: &'a [u8],
    /// The current 1-based line.
    line: usize,
}

/// True for the blanks that separate fields.
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// True for bytes that end an unquoted field.
fn ends_word(b: u8) -> bool {
    is_blank(b) || matches!(b, b'\n' | b';' | b'(' | b')')
}

/// True for the bytes an unquoted field holds as they are, with nothing to
/// look at: printable, and neither a quote, an escape nor a field end.
fn plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// [`plain`] for every byte, looked up once per byte of a zone file.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = printable(byte, false) && !matches!(byte, b'"' | b'\\' | b';' | b'(' | b')');
        b += 1;
    }
    table
};

/// The bytes a quoted string holds as they are: printable or blank, and
/// neither its closing quote nor an escape.
const QUOTED_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = printable(byte, true) && !matches!(byte, b'"' | b'\\');
        b += 1;
    }
    table
};

impl<'a> Lexer<'a> {
    /// A lexer over `text`, starting on line 1.
    pub fn new(text: &'a [u8]) -> Lexer<'a> {
        Lexer {
            rest: text,
            line: 1,
        }
    }

    /// The next byte without consuming it.
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Consume one byte.
    fn bump(&mut self) -> Option<u8> {
        let (&b, tail) = self.rest.split_first()?;
        self.rest = tail;
        if b == b'\n' {
            self.line += 1;
        }
        Some(b)
    }

    /// An error on the current line.
    fn error(&self, message: &str) -> LexError {
        LexError {
            line: self.line,
            message: message.into(),
        }
    }

    /// The next entry, `None` at the end of the text. Lines holding only
    /// blanks and comments are skipped.
    #[cfg(test)]
    pub fn next_entry(&mut self) -> Result<Option<Entry<'a>>, LexError> {
        let mut entry = Entry::default();
        Ok(self.next_into(&mut entry)?.then_some(entry))
    }

    /// Refill `entry` with the next entry, reusing its buffers; false (and
    /// `entry` emptied) at the end of the text.
    pub fn next_into(&mut self, entry: &mut Entry<'a>) -> Result<bool, LexError> {
        entry.tokens.clear();
        loop {
            if self.rest.is_empty() {
                return Ok(false);
            }
            entry.line = self.line;
            entry.blank_owner = self.peek().is_some_and(is_blank);
            self.entry_tokens(&mut entry.tokens)?;
            if !entry.tokens.is_empty() {
                return Ok(true);
            }
        }
    }

    /// The tokens up to the end of the entry (a newline outside parentheses
    /// or the end of the text), appended to `tokens`.
    fn entry_tokens(&mut self, tokens: &mut Vec<Token<'a>>) -> Result<(), LexError> {
        let mut open_line = None;
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.bump();
                    if open_line.is_none() {
                        return Ok(());
                    }
                }
                b if is_blank(b) => {
                    self.bump();
                }
                b';' => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.bump();
                    }
                }
                b'(' => {
                    if open_line.is_some() {
                        return Err(self.error("nested parentheses"));
                    }
                    open_line = Some(self.line);
                    self.bump();
                }
                b')' => {
                    if open_line.is_none() {
                        return Err(self.error("too many right parentheses"));
                    }
                    open_line = None;
                    self.bump();
                }
                _ => tokens.push(self.token()?),
            }
        }
        if let Some(line) = open_line {
            return Err(LexError {
                line,
                message: "unclosed parenthesis at the end of the file".into(),
            });
        }
        Ok(())
    }

    /// One field: a quoted string, or a word that may end in a quoted
    /// value after `=` (`alpn="h2,h3"`, as SVCB parameters are written).
    fn token(&mut self) -> Result<Token<'a>, LexError> {
        let quoted = self.peek() == Some(b'"');
        // Written in one piece: a run of plain bytes up to the end of the
        // field, or a quote, printable bytes but quotes and escapes, and a
        // quote at the end of the field. Read as `copied` would, without
        // a copy.
        let rest = self.rest;
        let (text, tail) = if quoted {
            let inside = rest.get(1..).unwrap_or_default();
            let run = inside
                .iter()
                .position(|&b| !QUOTED_PLAIN[usize::from(b)])
                .unwrap_or(inside.len());
            let (text, tail) = inside.split_at(run);
            match tail.split_first() {
                Some((b'"', after)) => (text, Some(after)),
                _ => (text, None),
            }
        } else {
            let run = rest.iter().position(|&b| !plain(b)).unwrap_or(rest.len());
            let (text, tail) = rest.split_at(run);
            (text, Some(tail))
        };
        if let Some(tail) = tail.filter(|t| t.first().is_none_or(|&b| ends_word(b))) {
            self.rest = tail;
            return Ok(Token {
                text: Cow::Borrowed(text),
                quoted,
            });
        }
        let mut text = Vec::new();
        self.copied(&mut text)?;
        Ok(Token {
            text: Cow::Owned(text),
            quoted,
        })
    }

    /// A field the slow way, into `text` (empty): see [`Lexer::token`].
    fn copied(&mut self, text: &mut Vec<u8>) -> Result<(), LexError> {
        let quoted = self.peek() == Some(b'"');
        loop {
            // A run of plain bytes (no newline among them) in one copy.
            let run = self.rest.iter().position(|&b| !plain(b));
            let (head, tail) = self.rest.split_at(run.unwrap_or(self.rest.len()));
            text.extend_from_slice(head);
            self.rest = tail;
            let Some(b) = self.peek() else {
                break;
            };
            match b {
                b'"' if quoted || text.ends_with(b"=") => {
                    self.bump();
                    self.quoted_part(text)?;
                    if self.peek().is_some_and(|b| !ends_word(b)) {
                        return Err(self.error("missing blank after a quoted string"));
                    }
                    break;
                }
                b'"' => return Err(self.error("quote inside a word")),
                b'\\' => {
                    self.bump();
                    text.push(b'\\');
                    let escaped = self.bump().filter(|&e| printable(e, true));
                    text.push(escaped.ok_or_else(|| self.error("invalid escape"))?);
                }
                b if ends_word(b) => break,
                b => return Err(self.invalid(b)),
            }
        }
        Ok(())
    }

    /// The inside of a quoted string, after its opening quote, up to and
    /// including the closing quote.
    fn quoted_part(&mut self, text: &mut Vec<u8>) -> Result<(), LexError> {
        loop {
            match self.bump() {
                None | Some(b'\n') => return Err(self.error("unterminated quoted string")),
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    text.push(b'\\');
                    let escaped = self.bump().filter(|&e| printable(e, true));
                    text.push(escaped.ok_or_else(|| self.error("invalid escape"))?);
                }
                Some(b) if printable(b, true) => text.push(b),
                Some(b) => return Err(self.invalid(b)),
            }
        }
    }

    /// An error for a byte that may not appear in a field.
    fn invalid(&self, b: u8) -> LexError {
        self.error(&format!(
            "invalid character \\{b:03} (write it as an escape)"
        ))
    }
}

/// True for the bytes a field may hold as they are: printable ASCII, plus
/// blanks inside quotes. Knot DNS refuses anything else (control
/// characters, and octets over 127 such as raw UTF-8), which must be written
/// as `\DDD` escapes.
const fn printable(b: u8, quoted: bool) -> bool {
    matches!(b, 0x21..=0x7e) || (quoted && (b == b' ' || b == b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Entry<'_>> {
        let mut lexer = Lexer::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(e) = lexer.next_entry().unwrap() {
            out.push(e);
        }
        out
    }

    fn words(e: &Entry) -> Vec<String> {
        e.tokens
            .iter()
            .map(|t| String::from_utf8_lossy(&t.text).into_owned())
            .collect()
    }

    #[test]
    fn entries_lines_and_blank_owner() {
        let es = entries("a A 1.2.3.4 ; c\r\n\n  ; only a comment\n\tTXT \"x y\"\n");
        assert_eq!(es.len(), 2);
        assert_eq!(words(&es[0]), ["a", "A", "1.2.3.4"]);
        assert!(!es[0].blank_owner);
        assert_eq!(es[1].line, 4);
        assert!(es[1].blank_owner);
        assert_eq!(words(&es[1]), ["TXT", "x y"]);
        assert!(es[1].tokens[1].quoted);
    }

    #[test]
    fn parentheses_span_lines() {
        let es = entries("@ SOA ns ( 1 ; serial\n 2 3\n 4 5 )\nnext A 1.1.1.1");
        assert_eq!(es.len(), 2);
        assert_eq!(words(&es[0]), ["@", "SOA", "ns", "1", "2", "3", "4", "5"]);
        assert_eq!(es[1].line, 4);
    }

    #[test]
    fn escapes_are_kept_raw() {
        let es = entries("a\\ b TXT \"q\\\"x\" w\\;x alpn=\"h2,h3\"\n");
        assert_eq!(
            words(&es[0]),
            ["a\\ b", "TXT", "q\\\"x", "w\\;x", "alpn=h2,h3"]
        );
        assert!(!es[0].tokens[4].quoted);
    }

    #[test]
    fn borrowed_fields_read_as_copied_ones() {
        // Random fields over the bytes that matter, read both ways: the
        // same text, the same rest, or an error both ways.
        let alphabet = b"a=\"\\ \t;()\n\r.\x80\x00";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 9) as usize;
            let input: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (8 + 4 * i)) % alphabet.len() as u64) as usize])
                .collect();
            if input.first().is_none_or(|&b| ends_word(b)) {
                continue;
            }
            let mut fast = Lexer::new(&input);
            let mut slow = Lexer::new(&input);
            let token = fast.token();
            let mut text = Vec::new();
            let copied = slow.copied(&mut text);
            match (token, copied) {
                (Ok(t), Ok(())) => {
                    assert_eq!(&t.text[..], &text[..], "{input:?}");
                    assert_eq!(t.quoted, input.first() == Some(&b'"'), "{input:?}");
                    assert_eq!(fast.rest, slow.rest, "{input:?}");
                    assert_eq!(fast.line, slow.line, "{input:?}");
                }
                (Err(_), Err(_)) => {}
                (t, c) => panic!("{input:?}: {t:?} against {c:?}"),
            }
        }
    }

    #[test]
    fn hostile_input_is_an_error() {
        for bad in [
            "a TXT \"open\n",
            "a ( b\n",
            "a ) b\n",
            "a ((\n))",
            "a b\\",
            "a\0b",
        ] {
            let mut lexer = Lexer::new(bad.as_bytes());
            let mut result = Ok(None);
            for _ in 0..4 {
                result = lexer.next_entry();
                if !matches!(result, Ok(Some(_))) {
                    break;
                }
            }
            assert!(result.is_err(), "{bad:?}");
        }
    }
}
