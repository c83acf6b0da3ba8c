//! Owner names by number, for the passes over a whole zone (collapsing
//! duplicates, the zone checks).
//!
//! A large zone has hundreds of thousands of owners and several records
//! per owner, so these passes must not allocate or hash a name per record.
//! Names here are lowercased wire forms (the bytes of a
//! [`NameKey`](crate::engine::native::name::NameKey)), borrowed from the
//! records whenever the owner is written in lower case, and every name gets
//! a small number the first time it is seen. Ancestors are suffixes of a
//! name's wire form that start at a label boundary, so walking up a name
//! allocates nothing either. Every name handled here comes from a
//! [`Name`](crate::engine::native::name::Name), which is already valid.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::engine::native::zone::KeyHash;

/// The lowercased wire form of a valid wire name, borrowed when the name
/// has no upper-case letter. (Length octets are at most 63, below `A`, so
/// lowercasing the whole wire form leaves them alone.)
pub(super) fn lowercase(wire: &[u8]) -> Cow<'_, [u8]> {
    if wire.iter().any(u8::is_ascii_uppercase) {
        Cow::Owned(wire.to_ascii_lowercase())
    } else {
        Cow::Borrowed(wire)
    }
}

/// The parent of a valid wire name (its first label removed); `None` for
/// the root.
pub(super) fn parent(wire: &[u8]) -> Option<&[u8]> {
    let first = usize::from(*wire.first()?);
    if first == 0 {
        return None;
    }
    wire.get(first + 1..)
}

/// True when the lowercased wire name `name` equals `apex` or lies below
/// it (`apex` lowercased too).
pub(super) fn at_or_below(name: &[u8], apex: &[u8]) -> bool {
    let mut rest = name;
    while rest.len() > apex.len() {
        match parent(rest) {
            Some(p) => rest = p,
            None => return false,
        }
    }
    rest == apex
}

/// Numbers for lowercased names, from 0 in order of first sight.
///
/// Hashed with the seeded fast [`KeyHash`]: zone files are untrusted, so
/// the seed is random, but nothing here answers remote queries.
#[derive(Debug, Default)]
pub(super) struct Owners<'a> {
    /// The number of every name seen.
    ids: HashMap<Cow<'a, [u8]>, u32, KeyHash>,
}

impl<'a> Owners<'a> {
    /// Room for `names` names before the map grows.
    pub(super) fn with_capacity(names: usize) -> Owners<'a> {
        Owners {
            ids: HashMap::with_capacity_and_hasher(names, KeyHash::default()),
        }
    }

    /// The number of `name`, given one if it has none; true when it is new.
    pub(super) fn intern(&mut self, name: Cow<'a, [u8]>) -> (u32, bool) {
        // Bounded by the number of records (at most a few million), so the
        // count fits a u32.
        let next = self.ids.len() as u32;
        match self.ids.entry(name) {
            Entry::Occupied(e) => (*e.get(), false),
            Entry::Vacant(e) => {
                e.insert(next);
                (next, true)
            }
        }
    }

    /// The number of `name`, if it has one.
    pub(super) fn get(&self, name: &[u8]) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// How many names have a number.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::name::Name;

    fn wire(s: &str) -> Vec<u8> {
        Name::parse(s.as_bytes(), None).unwrap().as_wire().to_vec()
    }

    #[test]
    fn walks_and_compares_like_names() {
        let apex = wire("example.com.");
        let cases = [
            ("WWW.Example.COM.", true),
            ("example.com.", true),
            ("com.", false),
            ("xexample.com.", false),
            ("a.b.example.com.", true),
            (".", false),
        ];
        for (name, below) in cases {
            let n = Name::parse(name.as_bytes(), None).unwrap();
            let lower = lowercase(n.as_wire());
            assert_eq!(at_or_below(&lower, &apex), below, "{name}");
            assert_eq!(n.is_at_or_below(&Name::from_wire(&apex).unwrap()), below);
            assert_eq!(&*lower, n.key().as_wire());
            assert_eq!(
                parent(&lower).map(<[u8]>::to_vec),
                n.parent().map(|p| p.key().as_wire().to_vec())
            );
        }
        assert!(matches!(lowercase(&apex), Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_in_order_of_first_sight() {
        let mut owners = Owners::default();
        let a = wire("a.");
        let b = wire("b.");
        assert_eq!(owners.intern(Cow::Borrowed(&a)), (0, true));
        assert_eq!(owners.intern(Cow::Borrowed(&b)), (1, true));
        assert_eq!(owners.intern(Cow::Owned(a.clone())), (0, false));
        assert_eq!(owners.get(&b), Some(1));
        assert_eq!(owners.get(&wire("c.")), None);
        assert_eq!(owners.len(), 2);
    }
}
