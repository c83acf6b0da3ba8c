//! Record type mnemonics: the one table mapping type names to numbers, for
//! the parser and for logging elsewhere in the native engine.
//!
//! Names come from the IANA "Resource Record (RR) TYPEs" registry. A name in
//! this table is not a promise that the parser reads that type's
//! presentation form; the `rdata` module decides that. RFC 3597 section 5
//! gives every type the name `TYPEnnn`, which both functions here accept and
//! produce.

use std::borrow::Cow;

/// Every type with a registered mnemonic, in number order.
const TYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (31, "EID"),
    (32, "NIMLOC"),
    (33, "SRV"),
    (34, "ATMA"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (40, "SINK"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (56, "NINFO"),
    (57, "RKEY"),
    (58, "TALINK"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (66, "DSYNC"),
    (67, "HHIT"),
    (68, "BRID"),
    (99, "SPF"),
    (100, "UINFO"),
    (101, "UID"),
    (102, "GID"),
    (103, "UNSPEC"),
    (104, "NID"),
    (105, "L32"),
    (106, "L64"),
    (107, "LP"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (258, "AVC"),
    (259, "DOA"),
    (260, "AMTRELAY"),
    (261, "RESINFO"),
    (262, "WALLET"),
    (263, "CLA"),
    (264, "IPN"),
    (32768, "TA"),
    (32769, "DLV"),
];

/// The mnemonic of a type, or `TYPEnnn` (RFC 3597 section 5) when it has
/// none.
pub fn type_name(rtype: u16) -> Cow<'static, str> {
    match TYPES.binary_search_by_key(&rtype, |&(n, _)| n) {
        Ok(i) => TYPES
            .get(i)
            .map_or(Cow::Owned(format!("TYPE{rtype}")), |&(_, s)| {
                Cow::Borrowed(s)
            }),
        Err(_) => Cow::Owned(format!("TYPE{rtype}")),
    }
}

/// The number of a type written as a mnemonic or as `TYPEnnn`, ignoring
/// letter case.
pub fn type_from_name(name: &str) -> Option<u16> {
    if let Some(n) = generic_number(name, "TYPE") {
        return Some(n);
    }
    TYPES
        .iter()
        .find(|(_, s)| s.eq_ignore_ascii_case(name))
        .map(|&(n, _)| n)
}

/// The number of an RFC 3597 generic name such as `TYPE65280` or
/// `CLASS32`: the prefix (any case) followed by decimal digits only.
pub fn generic_number(name: &str, prefix: &str) -> Option<u16> {
    let head = name.get(..prefix.len())?;
    let digits = name.get(prefix.len()..)?;
    if !head.eq_ignore_ascii_case(prefix) || digits.is_empty() || digits.len() > 5 {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(type_name(1), "A");
        assert_eq!(type_name(65), "HTTPS");
        assert_eq!(type_name(65280), "TYPE65280");
        assert_eq!(type_from_name("aaaa"), Some(28));
        assert_eq!(type_from_name("NSAP-PTR"), Some(23));
        assert_eq!(type_from_name("type65280"), Some(65280));
        assert_eq!(type_from_name("TYPE65536"), None);
        assert_eq!(type_from_name("TYPE"), None);
        assert_eq!(type_from_name("TYPE+1"), None);
        assert_eq!(type_from_name("BOGUS"), None);
    }

    #[test]
    fn table_is_sorted_and_round_trips() {
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        for &(n, s) in TYPES {
            assert_eq!(type_from_name(s), Some(n));
            assert_eq!(type_name(n), s);
        }
    }
}
