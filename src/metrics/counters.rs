//! Per-thread query counters in shared memory: what a worker counts for
//! every query, and where its king reads the counts.
//!
//! Each slot entry (one answering thread of a worker, see
//! [`crate::slot`]) owns one block of [`BLOCK_WORDS`] atomic words in the
//! worker's slot file. Only that thread writes its block, with relaxed
//! `fetch_add`s: no lock, no allocation, no system call, and no cache line
//! shared with another thread (blocks are whole multiples of 64 octets).
//! The king maps the same file, so it reads the counts while the worker
//! runs and after it died; the slot outlives every replacement worker, so
//! the counts only ever grow.
//!
//! A query is counted once, after the engine returned, by the query type
//! of its question ([`QTYPES`], a small fixed set, anything else `other`)
//! and the RCODE of the response ([`RCODES`]); a response with TC=1 is
//! also counted as truncated. Blacklisted queries and queries the engine
//! did not answer have counters of their own.
//!
//! ```
//! use std::sync::atomic::AtomicU64;
//! use stripedns::engine::{Outcome, Transport};
//! use stripedns::metrics::counters::{BLOCK_WORDS, Counters, Totals};
//!
//! let words: Vec<AtomicU64> = (0..BLOCK_WORDS).map(|_| AtomicU64::new(0)).collect();
//! let counters = Counters::new(&words);
//! // www.example.com. IN AAAA, answered NXDOMAIN.
//! let mut query = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
//! query.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x1c\x00\x01");
//! let mut response = query.clone();
//! response[2] = 0x84;
//! response[3] = 3;
//! counters.answered(&query, Transport::Udp, Outcome::Reply, &response);
//! let mut totals = Totals::default();
//! counters.add_to(&mut totals);
//! assert_eq!(totals.queries(Transport::Udp, "AAAA", "NXDOMAIN"), 1);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::{Outcome, Transport};

/// The query types counted by name; every other type counts as `other`.
pub const QTYPES: [(u16, &str); 11] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (15, "MX"),
    (2, "NS"),
    (6, "SOA"),
    (16, "TXT"),
    (33, "SRV"),
    (12, "PTR"),
    (65, "HTTPS"),
    (255, "ANY"),
];
/// The label of query types not in [`QTYPES`] (and of questions that
/// cannot be read).
pub const OTHER: &str = "other";
/// Query type classes: the named ones, then `other`.
const QTYPE_CLASSES: usize = QTYPES.len() + 1;

/// The response codes counted by name (RFC 1035 4.1.1, RFC 6891 BADVERS);
/// every other code counts as `other`.
pub const RCODES: [(u16, &str); 7] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (16, "BADVERS"),
];
/// RCODE classes: the named ones, then `other`.
const RCODE_CLASSES: usize = RCODES.len() + 1;

/// The transports, in counter order.
pub const TRANSPORTS: [(Transport, &str); 2] = [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")];

/// Words of query counts: transport x query type x RCODE.
const QUERY_WORDS: usize = TRANSPORTS.len() * QTYPE_CLASSES * RCODE_CLASSES;
/// Word of responses sent with TC=1.
const TRUNCATED: usize = QUERY_WORDS;
/// Word of queries dropped because the blacklist holds them.
const BLACKLIST_DROPS: usize = QUERY_WORDS + 1;
/// Word of queries the engine did not answer.
const UNANSWERED: usize = QUERY_WORDS + 2;
/// Words in one thread's block: the counters, rounded up to whole 64-octet
/// cache lines so no two threads write the same line.
pub const BLOCK_WORDS: usize = (UNANSWERED + 1).div_ceil(8) * 8;
// Every counter fits the block, and blocks fill whole cache lines.
const _: () = assert!(BLOCK_WORDS > UNANSWERED && BLOCK_WORDS % 8 == 0);

/// RFC 1035 4.1.1: the header is 12 octets.
const HEADER_LEN: usize = 12;
/// RFC 1035 2.3.4: names are 255 octets or less.
const MAX_NAME: usize = 255;
/// RFC 6891 6.1.2: the OPT pseudo-record's type.
const TYPE_OPT: u16 = 41;

/// One thread's counters: a view of its block of shared words.
#[derive(Debug, Clone, Copy)]
pub struct Counters<'a> {
    /// Exactly [`BLOCK_WORDS`] words (fewer only in a damaged slot, when
    /// counting does nothing).
    words: &'a [AtomicU64],
}

impl<'a> Counters<'a> {
    /// The counters in `words` (its first [`BLOCK_WORDS`] words).
    pub fn new(words: &'a [AtomicU64]) -> Counters<'a> {
        Counters {
            words: words.get(..BLOCK_WORDS).unwrap_or_default(),
        }
    }

    /// Add one to word `i`.
    fn bump(&self, i: usize) {
        if let Some(w) = self.words.get(i) {
            w.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count one query the engine was given: by query type and RCODE (and
    /// truncation) when it answered, as unanswered when it did not.
    pub fn answered(&self, query: &[u8], transport: Transport, outcome: Outcome, response: &[u8]) {
        if outcome != Outcome::Reply || response.len() < HEADER_LEN {
            self.bump(UNANSWERED);
            return;
        }
        let t = usize::from(transport == Transport::Tcp);
        let q = qtype_class(query);
        let r = rcode_class(response);
        self.bump((t * QTYPE_CLASSES + q) * RCODE_CLASSES + r);
        // TC is bit 1 of the third header octet (RFC 1035 4.1.1).
        if response[2] & 0x02 != 0 {
            self.bump(TRUNCATED);
        }
    }

    /// Count one query dropped because it is blacklisted.
    pub fn blacklist_drop(&self) {
        self.bump(BLACKLIST_DROPS);
    }

    /// Add these counts to `totals` (king side).
    pub fn add_to(&self, totals: &mut Totals) {
        let read = |i: usize| self.words.get(i).map_or(0, |w| w.load(Ordering::Relaxed));
        for (i, sum) in totals.queries.iter_mut().enumerate() {
            *sum = sum.wrapping_add(read(i));
        }
        totals.truncated = totals.truncated.wrapping_add(read(TRUNCATED));
        totals.blacklist_drops = totals.blacklist_drops.wrapping_add(read(BLACKLIST_DROPS));
        totals.unanswered = totals.unanswered.wrapping_add(read(UNANSWERED));
    }
}

/// Counts summed over threads and workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Answered queries, by transport, query type class and RCODE class.
    queries: [u64; QUERY_WORDS],
    /// Responses sent with TC=1.
    pub truncated: u64,
    /// Queries dropped by the blacklist.
    pub blacklist_drops: u64,
    /// Queries the engine did not answer.
    pub unanswered: u64,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            queries: [0; QUERY_WORDS],
            truncated: 0,
            blacklist_drops: 0,
            unanswered: 0,
        }
    }
}

impl Totals {
    /// Every non-zero query count as (transport, query type, RCODE, count),
    /// labels as [`TRANSPORTS`], [`QTYPES`] and [`RCODES`] name them.
    pub fn query_counts(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (t, (_, transport)) in TRANSPORTS.iter().enumerate() {
            for q in 0..QTYPE_CLASSES {
                for r in 0..RCODE_CLASSES {
                    let n = self.queries[(t * QTYPE_CLASSES + q) * RCODE_CLASSES + r];
                    if n > 0 {
                        out.push((*transport, qtype_label(q), rcode_label(r), n));
                    }
                }
            }
        }
        out
    }

    /// The count of answered queries with these labels (0 for labels not
    /// counted).
    pub fn queries(&self, transport: Transport, qtype: &str, rcode: &str) -> u64 {
        let t = usize::from(transport == Transport::Tcp);
        let q = (0..QTYPE_CLASSES).find(|&q| qtype_label(q) == qtype);
        let r = (0..RCODE_CLASSES).find(|&r| rcode_label(r) == rcode);
        match (q, r) {
            (Some(q), Some(r)) => self.queries[(t * QTYPE_CLASSES + q) * RCODE_CLASSES + r],
            _ => 0,
        }
    }
}

/// The label of query type class `q`.
fn qtype_label(q: usize) -> &'static str {
    QTYPES.get(q).map_or(OTHER, |(_, name)| name)
}

/// The label of RCODE class `r`.
fn rcode_label(r: usize) -> &'static str {
    RCODES.get(r).map_or(OTHER, |(_, name)| name)
}

/// The big-endian 16-bit word at `at`.
fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// Where the uncompressed name starting at `at` ends (the offset after
/// its root label); `None` for a compression pointer, a name past 255
/// octets or the end of the message.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len & 0xC0 != 0 || at + 1 + len - start > MAX_NAME {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            return Some(at);
        }
    }
}

/// The query type class of the first question of `query`.
fn qtype_class(query: &[u8]) -> usize {
    let qtype = u16_at(query, 4)
        .filter(|&qdcount| qdcount > 0)
        .and_then(|_| u16_at(query, skip_name(query, HEADER_LEN)?));
    qtype
        .and_then(|t| QTYPES.iter().position(|&(code, _)| code == t))
        .unwrap_or(QTYPES.len())
}

/// The RCODE class of `response` (a header at least): the header's four
/// bits, extended by the OPT record (RFC 6891 6.1.3) in the one case that
/// needs it, a NOERROR with no answer and no authority (BADVERS).
fn rcode_class(response: &[u8]) -> usize {
    let mut rcode = u16::from(response[3] & 0x0F);
    if rcode == 0 && response[6..10] == [0, 0, 0, 0] {
        rcode |= u16::from(opt_extended_rcode(response).unwrap_or(0)) << 4;
    }
    RCODES
        .iter()
        .position(|&(code, _)| code == rcode)
        .unwrap_or(RCODES.len())
}

/// The upper eight bits of the RCODE from the first additional record of
/// a response with no answer and no authority records, when it is an OPT.
fn opt_extended_rcode(response: &[u8]) -> Option<u8> {
    if u16_at(response, 10)? == 0 {
        return None;
    }
    let mut at = HEADER_LEN;
    for _ in 0..u16_at(response, 4)? {
        at = skip_name(response, at)? + 4;
    }
    at = skip_name(response, at)?;
    if u16_at(response, at)? != TYPE_OPT {
        return None;
    }
    // TYPE, CLASS (the payload size), then the TTL's first octet.
    response.get(at + 4).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Vec<AtomicU64> {
        (0..BLOCK_WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    fn query(qtype: u16) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x03com\x00");
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    fn response(q: &[u8], rcode: u8, tc: bool) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] = 0x84 | if tc { 0x02 } else { 0 };
        r[3] = rcode;
        r
    }

    #[test]
    fn queries_are_counted_by_type_and_rcode() {
        let words = block();
        let c = Counters::new(&words);
        for (qtype, rcode, transport) in [
            (1, 0, Transport::Udp),
            (1, 0, Transport::Udp),
            (28, 3, Transport::Udp),
            (99, 5, Transport::Tcp),
            (255, 9, Transport::Tcp),
        ] {
            let q = query(qtype);
            c.answered(&q, transport, Outcome::Reply, &response(&q, rcode, false));
        }
        let q = query(1);
        c.answered(&q, Transport::Udp, Outcome::Reply, &response(&q, 0, true));
        c.answered(&q, Transport::Udp, Outcome::Drop, &[]);
        c.blacklist_drop();
        let mut t = Totals::default();
        c.add_to(&mut t);
        assert_eq!(t.queries(Transport::Udp, "A", "NOERROR"), 3);
        assert_eq!(t.queries(Transport::Udp, "AAAA", "NXDOMAIN"), 1);
        assert_eq!(t.queries(Transport::Tcp, "other", "REFUSED"), 1);
        assert_eq!(t.queries(Transport::Tcp, "ANY", "other"), 1);
        assert_eq!((t.truncated, t.unanswered, t.blacklist_drops), (1, 1, 1));
        assert_eq!(t.query_counts().iter().map(|c| c.3).sum::<u64>(), 6);
        // The king's sum over two threads adds up.
        c.add_to(&mut t);
        assert_eq!(t.queries(Transport::Udp, "A", "NOERROR"), 6);
    }

    #[test]
    fn badvers_is_read_from_the_opt_record() {
        let mut q = query(1);
        q[11] = 1; // ARCOUNT 1
        q.extend_from_slice(&[0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 0]); // OPT, version 1
        let mut r = response(&q, 0, false);
        let opt_ttl = r.len() - 6;
        r[opt_ttl] = 1; // extended RCODE 1: 16, BADVERS
        assert_eq!(RCODES[rcode_class(&r)].1, "BADVERS");
        r[opt_ttl] = 0;
        assert_eq!(RCODES[rcode_class(&r)].1, "NOERROR");
    }

    #[test]
    fn unreadable_questions_are_other_and_never_panic() {
        assert_eq!(qtype_class(&[]), QTYPES.len());
        assert_eq!(qtype_class(&[0; 12]), QTYPES.len());
        let mut q = query(1);
        q[12] = 0xC0; // a pointer
        assert_eq!(qtype_class(&q), QTYPES.len());
        let mut long = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(qtype_class(&long), QTYPES.len());
        for cut in 0..query(28).len() {
            let q = &query(28)[..cut];
            let _ = qtype_class(q);
            if q.len() >= HEADER_LEN {
                let _ = rcode_class(q);
            }
        }
        // A short block counts nothing and does not panic either.
        let words = block();
        let short = Counters::new(&words[..3]);
        short.blacklist_drop();
        let mut t = Totals::default();
        short.add_to(&mut t);
        assert_eq!(t, Totals::default());
    }
}
