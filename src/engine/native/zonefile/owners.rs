//! Owner names by number, for the passes over a whole zone (collapsing
//! duplicates, the zone checks).
//!
//! A large zone has hundreds of thousands of owners and several records
//! per owner, so these passes must not allocate or hash a name per record.
//! Names here are lowercased wire forms (the bytes of a
//! [`NameKey`](crate::engine::native::name::NameKey)), borrowed from the
//! records whenever the owner is written in lower case, and every name gets
//! a small number the first time it is seen ([`Owners`] keeps a copy of
//! each name in one buffer). Ancestors are suffixes of a
//! name's wire form that start at a label boundary, so walking up a name
//! allocates nothing either. Every name handled here comes from a
//! [`Name`](crate::engine::native::name::Name), which is already valid.

use std::borrow::Cow;
use std::hash::BuildHasher;

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
/// A table of its own rather than a `HashMap`, because a large zone puts
/// hundreds of thousands of names in it, each looked up at random: the
/// names are copied one after the other into one buffer, and the table
/// proper is an array of 4-octet slots (open addressing, linear probing,
/// at most half full), small enough to stay in the caches far longer than
/// a map of borrowed keys. Names are hashed with the seeded fast
/// [`KeyHash`]: zone files are untrusted, so the seed is random per table,
/// but nothing here answers remote queries.
#[derive(Debug, Clone)]
pub(super) struct Owners {
    /// The octets of every name, one after the other in number order.
    octets: Vec<u8>,
    /// Where each name ends in `octets`, by number.
    ends: Vec<u32>,
    /// The hash of each name (its low 32 bits), by number: compared before
    /// the octets, and used again when the table grows.
    hashes: Vec<u32>,
    /// The table: a name's number plus one, 0 for an empty slot. Its
    /// length is a power of two.
    slots: Vec<u32>,
    /// The hash.
    hasher: KeyHash,
}

impl Default for Owners {
    fn default() -> Owners {
        Owners::with_capacity(0)
    }
}

impl Owners {
    /// Room for `names` names before the table grows.
    pub(super) fn with_capacity(names: usize) -> Owners {
        let slots = (names.max(8) * 2).next_power_of_two();
        Owners {
            octets: Vec::with_capacity(names * 16),
            ends: Vec::with_capacity(names),
            hashes: Vec::with_capacity(names),
            slots: vec![0; slots],
            hasher: KeyHash::default(),
        }
    }

    /// The octets of name number `id`.
    fn name(&self, id: usize) -> &[u8] {
        let start = match id.checked_sub(1) {
            Some(before) => self.ends.get(before).map_or(0, |&e| e as usize),
            None => 0,
        };
        let end = self.ends.get(id).map_or(0, |&e| e as usize);
        self.octets.get(start..end).unwrap_or_default()
    }

    /// The slot where `name` (of hash `hash`) is, or the empty slot where
    /// it would go; and its number if it is there.
    fn find(&self, name: &[u8], hash: u32) -> (usize, Option<u32>) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        // The table is at most half full, so an empty slot ends the walk.
        while let Some(&slot) = self.slots.get(at) {
            let Some(id) = slot.checked_sub(1) else {
                return (at, None);
            };
            if self.hashes.get(id as usize) == Some(&hash) && self.name(id as usize) == name {
                return (at, Some(id));
            }
            at = (at + 1) & mask;
        }
        (at, None)
    }

    /// The hash of `name` kept in the table.
    fn hash(&self, name: &[u8]) -> u32 {
        self.hasher.hash_one(name) as u32
    }

    /// The number of `name`, given one if it has none; true when it is new.
    pub(super) fn intern(&mut self, name: &[u8]) -> (u32, bool) {
        let hash = self.hash(name);
        let (at, found) = self.find(name, hash);
        if let Some(id) = found {
            return (id, false);
        }
        // Bounded by the number of records (at most a few million), so the
        // count fits a u32, and so do the octets (at most 255 a name).
        let id = self.ends.len() as u32;
        self.octets.extend_from_slice(name);
        self.ends.push(self.octets.len() as u32);
        self.hashes.push(hash);
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = id + 1;
        }
        if self.ends.len() * 2 > self.slots.len() {
            self.grow();
        }
        (id, true)
    }

    /// Double the table.
    fn grow(&mut self) {
        let mut slots = vec![0u32; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (id, &hash) in self.hashes.iter().enumerate() {
            let mut at = hash as usize & mask;
            while slots.get(at).is_some_and(|&s| s != 0) {
                at = (at + 1) & mask;
            }
            if let Some(slot) = slots.get_mut(at) {
                *slot = id as u32 + 1;
            }
        }
        self.slots = slots;
    }

    /// The number of `name`, if it has one.
    pub(super) fn get(&self, name: &[u8]) -> Option<u32> {
        self.find(name, self.hash(name)).1
    }

    /// How many names have a number.
    pub(super) fn len(&self) -> usize {
        self.ends.len()
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
        assert_eq!(owners.intern(&a), (0, true));
        assert_eq!(owners.intern(&b), (1, true));
        assert_eq!(owners.intern(&a), (0, false));
        assert_eq!(owners.get(&b), Some(1));
        assert_eq!(owners.get(&wire("c.")), None);
        assert_eq!(owners.len(), 2);
        // Through several doublings of the table, every name keeps its
        // number and its octets.
        let names: Vec<Vec<u8>> = (0..5000).map(|i| wire(&format!("n{i}.x."))).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(owners.intern(n), (i as u32 + 2, true));
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(owners.get(n), Some(i as u32 + 2));
            assert_eq!(owners.name(i + 2), &n[..]);
        }
        assert_eq!(owners.get(&wire("n5000.x.")), None);
        assert_eq!(owners.len(), 5002);
    }
}
