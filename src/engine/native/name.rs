//! Domain names for the native engine: [`Name`] in uncompressed wire form,
//! case preserved, and [`NameKey`], its lowercased form for lookups.
//!
//! Every constructor enforces RFC 1035 2.3.4 (labels of 63 octets or less,
//! names of 255 octets or less), so a `Name` that exists is a valid name and
//! code that holds one never checks again.
//!
//! A `Name`'s octets are shared: cloning one (every record of an owner
//! holds the owner, every RRset too) counts a reference instead of
//! allocating and copying.

use std::fmt;
use std::sync::Arc;

/// RFC 1035 2.3.4: "labels 63 octets or less".
pub const MAX_LABEL: usize = 63;
/// RFC 1035 2.3.4: "names 255 octets or less" (wire form, length octets
/// and the root label included).
pub const MAX_NAME: usize = 255;

/// Why a name is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// A label longer than 63 octets.
    LabelTooLong,
    /// A name longer than 255 octets.
    NameTooLong,
    /// An empty label inside a name (`a..b`).
    EmptyLabel,
    /// A bad escape in presentation form.
    BadEscape,
    /// The wire form does not end with the root label.
    Unterminated,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
            NameError::EmptyLabel => "empty label",
            NameError::BadEscape => "bad escape in name",
            NameError::Unterminated => "name not terminated by the root label",
        })
    }
}

/// A domain name in uncompressed wire form, letter case as written; clones
/// share the octets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<[u8]>);

/// A lowercased name in wire form: the key of every lookup, so that
/// `WWW.Example.COM` and `www.example.com` find the same node.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(Box<[u8]>);

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name(Arc::from(&[0u8][..]))
    }

    /// A name from uncompressed wire octets, checked.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        if wire.len() > MAX_NAME {
            return Err(NameError::NameTooLong);
        }
        let mut rest = wire;
        loop {
            let Some((&len, tail)) = rest.split_first() else {
                return Err(NameError::Unterminated);
            };
            let len = usize::from(len);
            if len == 0 {
                if !tail.is_empty() {
                    return Err(NameError::Unterminated);
                }
                return Ok(Name(wire.into()));
            }
            if len > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
            if tail.len() < len {
                return Err(NameError::Unterminated);
            }
            rest = &tail[len..];
        }
    }

    /// A name from labels (without length octets), checked.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Name, NameError> {
        let mut wire = Vec::with_capacity(32);
        for label in labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
            if wire.len() + 1 > MAX_NAME {
                return Err(NameError::NameTooLong);
            }
        }
        wire.push(0);
        Ok(Name(wire.into()))
    }

    /// Parse a presentation-format name (`www.example.com.`, `\046`, `\.`).
    /// A name without a final dot is relative to `origin`; `@` is `origin`.
    pub fn parse(text: &[u8], origin: Option<&Name>) -> Result<Name, NameError> {
        if text == b"@" {
            return origin.cloned().ok_or(NameError::EmptyLabel);
        }
        if text == b"." {
            return Ok(Name::root());
        }
        let mut labels: Vec<Vec<u8>> = Vec::new();
        let mut label = Vec::new();
        let mut absolute = false;
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            match c {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    labels.push(std::mem::take(&mut label));
                    if i + 1 == text.len() {
                        absolute = true;
                    }
                    i += 1;
                }
                b'\\' => {
                    let digits = text.get(i + 1..i + 4);
                    match digits {
                        Some(d) if d.iter().all(u8::is_ascii_digit) => {
                            let v = d.iter().fold(0u32, |a, &b| a * 10 + u32::from(b - b'0'));
                            if v > 255 {
                                return Err(NameError::BadEscape);
                            }
                            label.push(v as u8);
                            i += 4;
                        }
                        _ => match text.get(i + 1) {
                            Some(&b) if !b.is_ascii_digit() => {
                                label.push(b);
                                i += 2;
                            }
                            _ => return Err(NameError::BadEscape),
                        },
                    }
                }
                _ => {
                    label.push(c);
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL {
                return Err(NameError::LabelTooLong);
            }
        }
        if !label.is_empty() {
            labels.push(label);
        }
        let mut wire = Vec::with_capacity(text.len() + 2);
        for l in &labels {
            wire.push(l.len() as u8);
            wire.extend_from_slice(l);
        }
        if absolute {
            wire.push(0);
        } else {
            match origin {
                Some(o) => wire.extend_from_slice(o.as_wire()),
                None => wire.push(0),
            }
        }
        Name::from_wire(&wire)
    }

    /// The uncompressed wire octets.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// Length of the wire form.
    pub fn wire_len(&self) -> usize {
        self.0.len()
    }

    /// The labels, leftmost first, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.0 }
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// True for the root name.
    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// True when the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.labels().next() == Some(b"*")
    }

    /// The name with its first label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        let first = usize::from(*self.0.first()?);
        if first == 0 {
            return None;
        }
        Some(Name(self.0[first + 1..].into()))
    }

    /// `label` prepended to this name, checked.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
        let mut wire = Vec::with_capacity(self.0.len() + label.len() + 1);
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
        wire.extend_from_slice(&self.0);
        Name::from_wire(&wire)
    }

    /// True when `self` equals `other` or lies below it (case-insensitive).
    ///
    /// Both being valid, that is: `other`'s wire form ends `self`'s (length
    /// octets, under 64, never differ by letter case alone) and starts at
    /// one of `self`'s labels.
    pub fn is_at_or_below(&self, other: &Name) -> bool {
        let (mine, theirs) = (&self.0[..], &other.0[..]);
        let Some(start) = mine.len().checked_sub(theirs.len()) else {
            return false;
        };
        if !mine
            .get(start..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(theirs))
        {
            return false;
        }
        let mut at = 0;
        while at < start {
            match mine.get(at) {
                Some(&len) if len > 0 => at += 1 + usize::from(len),
                _ => return false,
            }
        }
        at == start
    }

    /// The lowercased key of this name.
    pub fn key(&self) -> NameKey {
        NameKey(self.0.to_ascii_lowercase().into())
    }

    /// Exact equality (letter case included), as `==`, but answered at
    /// once for clones of one name, as the records of one owner are.
    pub fn is(&self, other: &Name) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }

    /// Case-insensitive equality.
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl NameKey {
    /// The lowercased wire octets.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The key of a name given in uncompressed wire form that is already
    /// known to be valid (from the wire decoder).
    pub fn from_valid_wire(wire: &[u8]) -> NameKey {
        NameKey(wire.to_ascii_lowercase().into())
    }
}

impl std::borrow::Borrow<[u8]> for NameKey {
    /// Lets a map keyed by `NameKey` be searched with a lowercased wire
    /// slice, so a lookup needs no allocation.
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// Iterator over a name's labels.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || tail.len() < len {
            return None;
        }
        let (label, rest) = tail.split_at(len);
        self.rest = rest;
        Some(label)
    }
}

/// Write one label in presentation form, escaping as RFC 4343 asks.
fn write_label(f: &mut fmt::Formatter<'_>, label: &[u8]) -> fmt::Result {
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => write!(f, "\\{}", b as char)?,
            0x21..=0x7e => write!(f, "{}", b as char)?,
            _ => write!(f, "\\{b:03}")?,
        }
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            write_label(f, label)?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Name::from_wire(&self.0) {
            Ok(n) => write!(f, "NameKey({n})"),
            Err(_) => write!(f, "NameKey({:?})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s.as_bytes(), None).unwrap()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "example.com.",
            "a\\.b.example.",
            "\\000.x.",
            ".",
            "*.wild.example.",
        ] {
            assert_eq!(n(s).to_string(), s);
        }
        let origin = n("example.com.");
        assert_eq!(
            Name::parse(b"www", Some(&origin)).unwrap(),
            n("www.example.com.")
        );
        assert_eq!(Name::parse(b"@", Some(&origin)).unwrap(), origin);
        assert_eq!(
            Name::parse(b"a\\065", None).unwrap().as_wire(),
            b"\x02aA\x00"
        );
    }

    #[test]
    fn limits_follow_rfc_1035() {
        let l63 = "a".repeat(63);
        assert!(Name::parse(format!("{l63}.").as_bytes(), None).is_ok());
        let l64 = "a".repeat(64);
        assert_eq!(
            Name::parse(format!("{l64}.").as_bytes(), None),
            Err(NameError::LabelTooLong)
        );
        // 4 labels of 63 + 4 length octets + root = 257 > 255.
        let long = format!("{l63}.{l63}.{l63}.{l63}.");
        assert_eq!(
            Name::parse(long.as_bytes(), None),
            Err(NameError::NameTooLong)
        );
        assert_eq!(Name::parse(b"a..b.", None), Err(NameError::EmptyLabel));
        assert_eq!(Name::parse(b"a\\256.", None), Err(NameError::BadEscape));
        assert_eq!(Name::from_wire(b"\x03ab"), Err(NameError::Unterminated));
        assert_eq!(
            Name::from_wire(b"\x01a\x00\x00"),
            Err(NameError::Unterminated)
        );
    }

    #[test]
    fn hierarchy_is_case_insensitive() {
        let a = n("WWW.Example.COM.");
        assert!(a.is_at_or_below(&n("example.com.")));
        assert!(a.is_at_or_below(&n(".")));
        assert!(!n("example.com.").is_at_or_below(&a));
        assert!(!n("xexample.com.").is_at_or_below(&n("example.com.")));
        assert_eq!(a.key(), n("www.example.com.").key());
        assert_eq!(a.parent().unwrap(), n("Example.COM."));
        assert!(n("*.x.").is_wildcard());
    }

    #[test]
    fn at_or_below_matches_whole_labels() {
        // Labels compared from the right, ignoring case: the model.
        let model = |a: &Name, b: &Name| {
            let (x, y): (Vec<_>, Vec<_>) = (a.labels().collect(), b.labels().collect());
            x.len() >= y.len()
                && x[x.len() - y.len()..]
                    .iter()
                    .zip(&y)
                    .all(|(p, q)| p.eq_ignore_ascii_case(q))
        };
        // Label octets that look like length octets or differ in case only.
        let names = [
            ".",
            "com.",
            "COM.",
            "example.com.",
            "Example.Com.",
            "xexample.com.",
            "a.example.com.",
            "\\003com.",
            "a\\003com.",
            "\\007example\\003com.",
            "b.\\007example\\003com.",
            "\\003abc.com.",
            "abc.com.",
            "bc.com.",
            "m.",
        ];
        let names: Vec<Name> = names.iter().map(|t| n(t)).collect();
        for a in &names {
            for b in &names {
                assert_eq!(a.is_at_or_below(b), model(a, b), "{a} under {b}");
            }
        }
    }
}
