//! Resource records as the native zone-file parser produces them: owner,
//! type, class, TTL and RDATA in uncompressed wire form, plus where in the
//! zone files the record was written, for error messages.

use super::name::Name;

/// Record types the native engine treats specially, by number.
pub mod rtype {
    /// RFC 1035 host address.
    pub const A: u16 = 1;
    /// RFC 1035 authoritative name server.
    pub const NS: u16 = 2;
    /// RFC 1035 canonical name.
    pub const CNAME: u16 = 5;
    /// RFC 1035 start of authority.
    pub const SOA: u16 = 6;
    /// RFC 1035 domain name pointer.
    pub const PTR: u16 = 12;
    /// RFC 1035 mail exchange.
    pub const MX: u16 = 15;
    /// RFC 1035 text strings.
    pub const TXT: u16 = 16;
    /// RFC 3596 IPv6 address.
    pub const AAAA: u16 = 28;
    /// RFC 2782 service location.
    pub const SRV: u16 = 33;
    /// RFC 6672 delegation of a subtree.
    pub const DNAME: u16 = 39;
    /// RFC 6891 EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// RFC 4034 delegation signer.
    pub const DS: u16 = 43;
    /// RFC 4034 signature.
    pub const RRSIG: u16 = 46;
    /// RFC 4034 next secure record.
    pub const NSEC: u16 = 47;
    /// RFC 5155 hashed next secure record.
    pub const NSEC3: u16 = 50;
    /// RFC 1995 incremental transfer.
    pub const IXFR: u16 = 251;
    /// RFC 1035 zone transfer.
    pub const AXFR: u16 = 252;
    /// RFC 1035 MAILB (obsolete meta type).
    pub const MAILB: u16 = 253;
    /// RFC 1035 MAILA (obsolete meta type).
    pub const MAILA: u16 = 254;
    /// RFC 1035 / RFC 8482 "any" query type.
    pub const ANY: u16 = 255;
}

/// Classes, by number.
pub mod class {
    /// The Internet.
    pub const IN: u16 = 1;
    /// CHAOS, for server identity queries.
    pub const CH: u16 = 3;
    /// RFC 1035 "any" class.
    pub const ANY: u16 = 255;
}

/// One resource record of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name, as written (case preserved).
    pub owner: Name,
    /// The type number.
    pub rtype: u16,
    /// The class number (IN for everything the engine serves).
    pub class: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// RDATA in uncompressed wire form; names inside are uncompressed and
    /// case preserved.
    pub rdata: Rdata,
    /// Index into [`ParsedZone::files`] of the file the record came from.
    pub file: u16,
    /// 1-based line where the record starts.
    pub line: u32,
}

/// The RDATA of one record: read as a `[u8]`. Short RDATA (an IPv4 or
/// IPv6 address, a short name) sits in the record itself, longer RDATA in
/// an allocation of its own: a zone of a million addresses then costs a
/// million allocations fewer to read and to free.
#[derive(Clone)]
pub struct Rdata(RdataRepr);

/// Where the octets of an [`Rdata`] are.
#[derive(Clone)]
enum RdataRepr {
    /// Up to [`Rdata::INLINE`] octets in place: the first `len` of `octets`.
    Inline {
        /// How many octets.
        len: u8,
        /// The octets, then zeros.
        octets: [u8; Rdata::INLINE],
    },
    /// Longer RDATA.
    Heap(Box<[u8]>),
}

impl Rdata {
    /// The longest RDATA kept in place (an IPv6 address fits).
    pub const INLINE: usize = 22;
}

impl std::ops::Deref for Rdata {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            RdataRepr::Inline { len, octets } => {
                octets.get(..usize::from(*len)).unwrap_or_default()
            }
            RdataRepr::Heap(octets) => octets,
        }
    }
}

impl From<&[u8]> for Rdata {
    fn from(octets: &[u8]) -> Rdata {
        let mut inline = [0; Rdata::INLINE];
        match inline.get_mut(..octets.len()) {
            Some(place) => {
                place.copy_from_slice(octets);
                Rdata(RdataRepr::Inline {
                    len: octets.len() as u8,
                    octets: inline,
                })
            }
            None => Rdata(RdataRepr::Heap(octets.into())),
        }
    }
}

impl From<Vec<u8>> for Rdata {
    fn from(octets: Vec<u8>) -> Rdata {
        match octets.len() {
            0..=Rdata::INLINE => Rdata::from(&octets[..]),
            _ => Rdata(RdataRepr::Heap(octets.into_boxed_slice())),
        }
    }
}

impl From<Box<[u8]>> for Rdata {
    fn from(octets: Box<[u8]>) -> Rdata {
        match octets.len() {
            0..=Rdata::INLINE => Rdata::from(&octets[..]),
            _ => Rdata(RdataRepr::Heap(octets)),
        }
    }
}

impl PartialEq for Rdata {
    fn eq(&self, other: &Rdata) -> bool {
        **self == **other
    }
}

impl Eq for Rdata {}

impl std::hash::Hash for Rdata {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for Rdata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// The records of one zone as read from its files.
#[derive(Debug, Clone, Default)]
pub struct ParsedZone {
    /// The zone's origin (from the bundle's file name).
    pub origin: Option<Name>,
    /// Files read: the zone file first, then included files in order.
    pub files: Vec<std::path::PathBuf>,
    /// Every record in file order.
    pub records: Vec<Record>,
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    /// RDATA reads back as given, whatever its length, and compares and
    /// hashes by its octets alone, wherever they are kept.
    #[test]
    fn rdata_is_its_octets() {
        let hash = std::collections::hash_map::RandomState::new();
        for len in [0, 1, 4, 16, Rdata::INLINE, Rdata::INLINE + 1, 300] {
            let octets: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            let from_slice = Rdata::from(&octets[..]);
            let from_vec = Rdata::from(octets.clone());
            let from_box = Rdata::from(octets.clone().into_boxed_slice());
            let on_heap = Rdata(RdataRepr::Heap(octets.clone().into_boxed_slice()));
            for r in [&from_slice, &from_vec, &from_box, &on_heap] {
                assert_eq!(&r[..], &octets[..]);
                assert_eq!(*r, on_heap);
                assert_eq!(hash.hash_one(r), hash.hash_one(&on_heap));
                assert_eq!(format!("{r:?}"), format!("{octets:?}"));
            }
            assert_eq!(
                matches!(from_slice.0, RdataRepr::Inline { .. }),
                len <= Rdata::INLINE
            );
        }
        assert_ne!(Rdata::from(&[1, 2][..]), Rdata::from(&[1, 2, 0][..]));
    }
}
