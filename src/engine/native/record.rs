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
    pub rdata: Box<[u8]>,
    /// Index into [`ParsedZone::files`] of the file the record came from.
    pub file: u16,
    /// 1-based line where the record starts.
    pub line: u32,
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
