//! A worker's slot: shared memory where the worker says what it is doing
//! and the king reads it, even after the worker died.
//!
//! The king creates one slot per worker (an unlinked temporary file, mapped
//! by both through [`crate::sys::SharedWords`]) and hands its descriptor
//! down with the sockets. The slot holds:
//!
//! - the **engine** the worker answers with, written by the king, so the
//!   king can fingerprint what the worker recorded;
//! - a **state** word: loading, serving, or load failed (with the error's
//!   text written into the file's tail, for the king to report);
//! - one **entry** per thread that calls an engine (one per UDP socket,
//!   one for TCP). A UDP thread *holds* each batch of datagrams in its
//!   entry (octets and sender) until their answers are sent; a TCP query
//!   is copied in alone. Before a query goes to the engine the thread
//!   notes which one it is and makes its progress counter odd; after the
//!   engine returns it makes the counter even again. An odd counter when
//!   the worker died names the query that killed it; an odd counter
//!   unchanged past the watchdog deadline names a query that hangs.
//! - what a dead worker held: the datagrams of its last batch whose
//!   answers it never sent. [`Slot::reset`] marks the one it died on, and
//!   the replacement, which inherits the same socket, answers the others
//!   ([`Slot::take_held`]), so a query of death takes no other query of
//!   its batch down with it.
//!
//! - the **bundle** the worker serves (written at load and at every swap,
//!   under a sequence word so the king never reads half an id);
//! - one block of **query counters** per entry ([`crate::metrics::counters`]),
//!   after the error text. A replacement worker gets the same slot, so the
//!   counts survive worker restarts.
//!
//!
//! The worker does not fingerprint the query: the king computes the
//! [`Fingerprint`] from the recorded octets, and only when it needs one
//! (a death or a hang), so the common case costs a few plain memory
//! writes per query: no hash, no system call, no lock. The octets kept
//! always cover the whole question, so the king's fingerprint of them is
//! the fingerprint of the whole query; the one exception, a query longer
//! than what is kept whose question cannot be read (fingerprinted by all
//! its octets), is fingerprinted by the worker, which stores the result.
//! A worker that fingerprinted a query anyway (to check it against a
//! non-empty blacklist) stores it too.
//!
//! ```
//! use stripedns::engine::EngineKind;
//! use stripedns::fingerprint::Fingerprint;
//! use stripedns::slot::{Slot, State};
//!
//! let slot = Slot::create(2, EngineKind::Native).unwrap();
//! assert_eq!(slot.state(), State::Loading);
//! slot.set_state(State::Serving);
//! assert_eq!(slot.in_flight(), vec![]);
//!
//! let mut q = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
//! q.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
//! slot.begin(1, &q, None);
//! let seen = slot.in_flight();
//! assert_eq!(seen[0].query, q);
//! assert_eq!(Some(seen[0].fingerprint), Fingerprint::of(&q, EngineKind::Native));
//! slot.end(1);
//! assert_eq!(slot.in_flight(), vec![]);
//! ```

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::bundle::BundleId;
use crate::engine::EngineKind;
use crate::fingerprint::Fingerprint;
use crate::metrics::counters::{BLOCK_WORDS, Counters};
use crate::sys::SharedWords;

/// "SDNSLOT4": marks a slot file (4: entries hold batches of octets,
/// counters and the bundle follow).
const MAGIC: u64 = u64::from_be_bytes(*b"SDNSLOT4");
/// Words before the first entry: magic, state, entry count, the bundle's
/// sequence word, the bundle id (four words), the engine.
const HEADER_WORDS: usize = 9;
/// The sequence word of the bundle id: odd while the worker writes it.
const BUNDLE_SEQ: usize = 3;
/// The first of the four words of the bundle id.
const BUNDLE_ID: usize = 4;
/// The engine's code ([`engine_code`]).
const ENGINE: usize = 8;
/// Datagrams an entry can hold: a UDP thread's largest batch.
pub const HELD: usize = 32;
/// Octets kept of each datagram held (a query longer than that is
/// recorded but cannot be answered by a replacement). At least a header
/// and the longest question (12 + 255 + 4), so the king's fingerprint of
/// the octets kept is the query's.
pub const QUERY_KEPT: usize = 512;
/// Words of the octets of one datagram held.
const QUERY_WORDS: usize = QUERY_KEPT / 8;
/// Words per datagram held: its length, its sender (4 words), its octets.
const DATAGRAM_WORDS: usize = 1 + 4 + QUERY_WORDS;
/// Words per entry: progress counter, fingerprint (0 when the king is to
/// compute it), datagram in flight, datagrams held, datagram to skip,
/// then the datagrams.
const ENTRY_WORDS: usize = 5 + HELD * DATAGRAM_WORDS;
/// Entries a slot may hold at most (threads calling an engine).
pub const MAX_ENTRIES: usize = 256;
/// Octets of the file reserved after the words for a load error's text.
const ERROR_SPACE: u64 = 4096;

/// Entry word: the progress counter, odd while a query is in flight.
const PROGRESS: usize = 0;
/// Entry word: the fingerprint of the query in flight when the worker
/// computed it, else 0.
const FINGERPRINT: usize = 1;
/// Entry word: the datagram the query in flight is.
const IN_FLIGHT: usize = 2;
/// Entry word: how many datagrams are held for a replacement (0 when the
/// octets recorded are a lone query, as TCP's are).
const HELD_COUNT: usize = 3;
/// Entry word: the held datagram a dead worker was answering, which its
/// replacement skips; [`NONE`] when none. Set by [`Slot::reset`].
const SKIP: usize = 4;
/// Entry word: the first datagram.
const DATAGRAMS: usize = 5;
/// Datagram word: its length (all of it, not only the octets kept).
const LENGTH: usize = 0;
/// Datagram words: its sender (see `encode_peer`).
const PEER: usize = 1;
/// Datagram word: the first of the words holding its octets.
const OCTETS: usize = 5;
/// No datagram.
const NONE: u64 = u64::MAX;

/// What a worker is doing, as its king sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Started, loading the bundle; not answering yet.
    Loading,
    /// Answering queries.
    Serving,
    /// The bundle could not be loaded; the error is in [`Slot::error`].
    LoadFailed,
}

/// One worker's slot, mapped in the king and in the worker.
#[derive(Debug)]
pub struct Slot {
    /// The slot file (unlinked), kept for the error text and for handing
    /// down.
    file: File,
    /// The mapping of the words part of `file`.
    words: SharedWords,
    /// Entries in this slot.
    entries: usize,
    /// The engine whose fingerprints the queries get.
    engine: EngineKind,
}

/// One query in flight, as recorded in an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The entry (thread) that was answering it.
    pub entry: usize,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// Its first octets (up to a header and the longest question).
    pub query: Vec<u8>,
}

/// The number an engine is stored as in the slot's header: its place in
/// [`EngineKind::ALL`], from 1.
fn engine_code(engine: EngineKind) -> u64 {
    EngineKind::ALL
        .iter()
        .position(|&e| e == engine)
        .map_or(0, |i| i as u64 + 1)
}

impl Slot {
    /// A new slot with `entries` entries (at least 1, at most
    /// [`MAX_ENTRIES`]) for a worker of `engine`, in a fresh unlinked
    /// temporary file.
    pub fn create(entries: usize, engine: EngineKind) -> io::Result<Slot> {
        let entries = entries.clamp(1, MAX_ENTRIES);
        let file = tempfile::tempfile()?;
        file.set_len(words_for(entries) as u64 * 8)?;
        let words = SharedWords::map(&file)?;
        words.words()[0].store(MAGIC, Ordering::Relaxed);
        words.words()[ENGINE].store(engine_code(engine), Ordering::Relaxed);
        for entry in 0..entries {
            words.words()[HEADER_WORDS + entry * ENTRY_WORDS + SKIP].store(NONE, Ordering::Relaxed);
        }
        words.words()[2].store(entries as u64, Ordering::Release);
        Ok(Slot {
            file,
            words,
            entries,
            engine,
        })
    }

    /// Map the slot file `file` (created by [`Slot::create`] in the king).
    pub fn open(file: File) -> io::Result<Slot> {
        let words = SharedWords::map(&file)?;
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        let w = words.words();
        if w.len() < HEADER_WORDS || w[0].load(Ordering::Relaxed) != MAGIC {
            return Err(bad("not a worker slot"));
        }
        let entries = usize::try_from(w[2].load(Ordering::Acquire)).unwrap_or(usize::MAX);
        if entries == 0 || entries > MAX_ENTRIES || words_for(entries) > w.len() {
            return Err(bad("worker slot of a wrong size"));
        }
        let code = w[ENGINE].load(Ordering::Relaxed);
        let engine = EngineKind::ALL
            .iter()
            .copied()
            .find(|&e| engine_code(e) == code)
            .ok_or_else(|| bad("worker slot of an unknown engine"))?;
        Ok(Slot {
            file,
            words,
            entries,
            engine,
        })
    }

    /// The slot file, to hand down to a worker.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Entries in this slot.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// The engine the slot's queries are fingerprinted for.
    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    /// Word `i` of the slot. Callers only ask for words inside the layout.
    fn word(&self, i: usize) -> &AtomicU64 {
        &self.words.words()[i]
    }

    /// The words of entry `entry` (clamped to the last entry).
    fn entry(&self, entry: usize) -> &[AtomicU64] {
        let start = HEADER_WORDS + entry.min(self.entries - 1) * ENTRY_WORDS;
        &self.words.words()[start..start + ENTRY_WORDS]
    }

    /// Where the text of a load error starts in the file.
    fn error_offset(&self) -> u64 {
        (HEADER_WORDS + self.entries * ENTRY_WORDS) as u64 * 8
    }

    /// The query counters of `entry` (clamped to the last entry): the
    /// worker's thread counts into them, the king sums them.
    pub fn counters(&self, entry: usize) -> Counters<'_> {
        let start = counters_start(self.entries) + entry.min(self.entries - 1) * BLOCK_WORDS;
        Counters::new(&self.words.words()[start..start + BLOCK_WORDS])
    }

    /// Record the bundle the worker serves now (worker side; one writer at
    /// a time: the loading thread, then the follower).
    pub fn set_bundle(&self, id: &BundleId) {
        let seq = self.word(BUNDLE_SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s | 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        for (i, chunk) in id.as_bytes().chunks_exact(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            self.word(BUNDLE_ID + i)
                .store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        seq.store((s | 1).wrapping_add(1), Ordering::Release);
    }

    /// The bundle the worker last said it serves (king side); `None`
    /// before the first load, or while a write keeps racing the read.
    pub fn bundle(&self) -> Option<BundleId> {
        let seq = self.word(BUNDLE_SEQ);
        for _ in 0..64 {
            let before = seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut id = [0u8; 32];
            for (i, chunk) in id.chunks_exact_mut(8).enumerate() {
                chunk.copy_from_slice(
                    &self
                        .word(BUNDLE_ID + i)
                        .load(Ordering::Relaxed)
                        .to_le_bytes(),
                );
            }
            std::sync::atomic::fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == before {
                return Some(BundleId::from_bytes(id));
            }
        }
        None
    }

    /// The worker's state.
    pub fn state(&self) -> State {
        match self.word(1).load(Ordering::Acquire) {
            1 => State::Serving,
            2 => State::LoadFailed,
            _ => State::Loading,
        }
    }

    /// Set the worker's state (worker side).
    pub fn set_state(&self, state: State) {
        let v = match state {
            State::Loading => 0,
            State::Serving => 1,
            State::LoadFailed => 2,
        };
        self.word(1).store(v, Ordering::Release);
    }

    /// Record a load failure (worker side): the error's text, then the
    /// state.
    pub fn fail_load(&self, error: &str) {
        let at = self.error_offset();
        let text = error.as_bytes();
        let text = &text[..text.len().min(ERROR_SPACE as usize - 1)];
        let mut buf = text.to_vec();
        buf.push(0);
        let _ = self.file.write_all_at(&buf, at);
        self.set_state(State::LoadFailed);
    }

    /// The text of a load failure (king side).
    pub fn error(&self) -> String {
        let at = self.error_offset();
        let mut buf = vec![0u8; ERROR_SPACE as usize];
        let n = self.file.read_at(&mut buf, at).unwrap_or(0);
        buf.truncate(n);
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }

    /// The words of datagram `i` (clamped to the last) of entry `entry`.
    fn datagram(&self, entry: usize, i: usize) -> &[AtomicU64] {
        let start = DATAGRAMS + i.min(HELD - 1) * DATAGRAM_WORDS;
        &self.entry(entry)[start..start + DATAGRAM_WORDS]
    }

    /// Store `query` (its length and first octets) and `peer` as datagram
    /// `i` of entry `entry`.
    fn store_datagram(&self, entry: usize, i: usize, query: &[u8], peer: Option<SocketAddr>) {
        let d = self.datagram(entry, i);
        let kept = &query[..query.len().min(QUERY_KEPT)];
        let mut chunks = kept.chunks_exact(8);
        let mut words = d[OCTETS..].iter();
        // Chunks first: `zip` stops at the first `None` without taking a
        // word past the last whole chunk.
        for (chunk, word) in chunks.by_ref().zip(words.by_ref()) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        let tail = chunks.remainder();
        if let (false, Some(word)) = (tail.is_empty(), words.next()) {
            let mut bytes = [0u8; 8];
            bytes[..tail.len()].copy_from_slice(tail);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        d[LENGTH].store(query.len() as u64, Ordering::Relaxed);
        for (word, value) in d[PEER..OCTETS].iter().zip(encode_peer(peer)) {
            word.store(value, Ordering::Relaxed);
        }
    }

    /// The length and octets kept of datagram `i` of entry `entry`.
    fn load_datagram(&self, entry: usize, i: usize) -> (usize, Vec<u8>) {
        let d = self.datagram(entry, i);
        let len = usize::try_from(d[LENGTH].load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let mut query: Vec<u8> = d[OCTETS..]
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        query.truncate(len.min(QUERY_KEPT));
        (len, query)
    }

    /// Note that the thread of `entry` works on datagram `i`, whose octets
    /// are `query`, and make the counter odd.
    fn start(&self, entry: usize, i: usize, query: &[u8], fingerprint: Option<Fingerprint>) {
        let e = self.entry(entry);
        // The octets kept hold the whole question of any query, so the
        // king's fingerprint of them is the query's; but a query longer
        // than QUERY_KEPT whose question cannot be read is fingerprinted by
        // all its octets, which the king will not have. Rather than parse
        // here, fingerprint every query longer than QUERY_KEPT (rare: only
        // TCP or large EDNS queries are that long).
        let fingerprint = match fingerprint {
            Some(f) => Some(f),
            None if query.len() > QUERY_KEPT => Fingerprint::of(query, self.engine),
            None => None,
        };
        e[FINGERPRINT].store(fingerprint.map_or(0, Fingerprint::raw), Ordering::Relaxed);
        e[IN_FLIGHT].store(i as u64, Ordering::Relaxed);
        // Odd: in flight, and a new value, so the watchdog sees progress
        // (one writer per entry, so a load and a store are enough).
        let progress = e[PROGRESS].load(Ordering::Relaxed);
        let next = progress.wrapping_add(if progress & 1 == 0 { 1 } else { 2 });
        e[PROGRESS].store(next, Ordering::Release);
    }

    /// Record that the thread of `entry` starts on `query`, a lone query
    /// (TCP's, or one datagram that is not held) (worker side; one thread
    /// per entry). `fingerprint` is the query's fingerprint if the caller
    /// computed it already; otherwise the king computes it from the octets
    /// kept, when it needs it. Allocates nothing and makes no system call.
    pub fn begin(&self, entry: usize, query: &[u8], fingerprint: Option<Fingerprint>) {
        // The octets change while the counter is even (no query in
        // flight); the fence orders those changes after it became even, so
        // a king reading concurrently sees the counter move (`current`).
        fence(Ordering::Release);
        let e = self.entry(entry);
        e[HELD_COUNT].store(0, Ordering::Relaxed);
        self.store_datagram(entry, 0, query, None);
        self.start(entry, 0, query, fingerprint);
    }

    /// Hold the datagrams of a UDP batch (octets and sender, at most
    /// [`HELD`]) in entry `entry` until [`Slot::release`], so that a
    /// replacement can answer them should the worker die before sending
    /// their answers (worker side). Allocates nothing.
    pub fn hold<'q>(
        &self,
        entry: usize,
        datagrams: impl IntoIterator<Item = (&'q [u8], Option<SocketAddr>)>,
    ) {
        // As in `begin`.
        fence(Ordering::Release);
        let mut n = 0;
        for (i, (query, peer)) in datagrams.into_iter().take(HELD).enumerate() {
            self.store_datagram(entry, i, query, peer);
            n = i + 1;
        }
        self.entry(entry)[HELD_COUNT].store(n as u64, Ordering::Relaxed);
    }

    /// Record that the thread of `entry` starts on held datagram `i`,
    /// whose octets are `query` (worker side); `fingerprint` as for
    /// [`Slot::begin`].
    pub fn begin_held(
        &self,
        entry: usize,
        i: usize,
        query: &[u8],
        fingerprint: Option<Fingerprint>,
    ) {
        self.start(entry, i.min(HELD - 1), query, fingerprint);
    }

    /// Record that the thread of `entry` is done with its query (worker
    /// side).
    pub fn end(&self, entry: usize) {
        let e = self.entry(entry);
        let progress = e[PROGRESS].load(Ordering::Relaxed);
        if progress & 1 == 1 {
            e[PROGRESS].store(progress.wrapping_add(1), Ordering::Release);
        }
    }

    /// Record that the answers to the datagrams held in `entry` are sent
    /// (worker side).
    pub fn release(&self, entry: usize) {
        self.entry(entry)[HELD_COUNT].store(0, Ordering::Release);
    }

    /// The progress counter of `entry`: changes with every query begun.
    pub fn progress(&self, entry: usize) -> u64 {
        self.entry(entry)[PROGRESS].load(Ordering::Acquire)
    }

    /// The query entry `entry` is working on, if any, with its
    /// fingerprint (king side). Fingerprints the recorded octets when the
    /// worker did not.
    pub fn current(&self, entry: usize) -> Option<InFlight> {
        let e = self.entry(entry);
        let before = e[PROGRESS].load(Ordering::Acquire);
        if before & 1 == 0 {
            return None;
        }
        let stored = e[FINGERPRINT].load(Ordering::Relaxed);
        let i = usize::try_from(e[IN_FLIGHT].load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let (_, query) = self.load_datagram(entry, i);
        // A live worker may have moved on while we read: then what we read
        // may mix two queries, and this one is no longer in flight.
        fence(Ordering::Acquire);
        if e[PROGRESS].load(Ordering::Relaxed) != before {
            return None;
        }
        let fingerprint = match Fingerprint::from_raw(stored) {
            Some(f) => f,
            // Recorded queries are queries (a header, QR=0), so this is
            // `None` only for a slot written by something else.
            None => Fingerprint::of(&query, self.engine)?,
        };
        Some(InFlight {
            entry,
            fingerprint,
            query,
        })
    }

    /// Every query in flight, over all entries (king side, after a death).
    pub fn in_flight(&self) -> Vec<InFlight> {
        (0..self.entries).filter_map(|e| self.current(e)).collect()
    }

    /// Prepare the slot for a replacement worker (king side): end every
    /// entry's query, marking the held datagram it was (the one the worker
    /// died on) to be skipped, and set the state to loading.
    pub fn reset(&self) {
        for entry in 0..self.entries {
            let e = self.entry(entry);
            let skip = if e[PROGRESS].load(Ordering::Acquire) & 1 == 1 {
                e[IN_FLIGHT].load(Ordering::Relaxed)
            } else {
                NONE
            };
            e[SKIP].store(skip, Ordering::Relaxed);
            self.end(entry);
        }
        self.set_state(State::Loading);
    }

    /// The datagrams a dead predecessor held in `entry` without sending
    /// their answers, each with its sender, except the one it died on and
    /// those too long to have been kept whole; they are no longer held
    /// afterwards (worker side, before serving; allocates).
    pub fn take_held(&self, entry: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let e = self.entry(entry);
        let count = usize::try_from(e[HELD_COUNT].load(Ordering::Acquire))
            .unwrap_or(0)
            .min(HELD);
        let skip = e[SKIP].load(Ordering::Relaxed);
        let mut held = Vec::new();
        for i in 0..count {
            if i as u64 == skip {
                continue;
            }
            let d = self.datagram(entry, i);
            let peer = decode_peer(std::array::from_fn(|k| d[PEER + k].load(Ordering::Relaxed)));
            let (len, query) = self.load_datagram(entry, i);
            if let (Some(peer), true) = (peer, len <= QUERY_KEPT) {
                held.push((query, peer));
            }
        }
        e[HELD_COUNT].store(0, Ordering::Relaxed);
        e[SKIP].store(NONE, Ordering::Relaxed);
        held
    }
}

/// A sender's address as four words: kind (0 none, 4 or 6) and port and
/// scope, then the address, then the flow label.
fn encode_peer(peer: Option<SocketAddr>) -> [u64; 4] {
    match peer {
        None => [0; 4],
        Some(SocketAddr::V4(a)) => [
            4 | u64::from(a.port()) << 8,
            u64::from(a.ip().to_bits()),
            0,
            0,
        ],
        Some(SocketAddr::V6(a)) => {
            let bits = a.ip().to_bits();
            [
                6 | u64::from(a.port()) << 8 | u64::from(a.scope_id()) << 32,
                (bits >> 64) as u64,
                bits as u64,
                u64::from(a.flowinfo()),
            ]
        }
    }
}

/// The address `encode_peer` wrote; `None` for none or garbage.
fn decode_peer(w: [u64; 4]) -> Option<SocketAddr> {
    let port = (w[0] >> 8) as u16;
    match w[0] & 0xFF {
        4 => Some(SocketAddrV4::new(Ipv4Addr::from_bits(u32::try_from(w[1]).ok()?), port).into()),
        6 => Some(
            SocketAddrV6::new(
                Ipv6Addr::from_bits(u128::from(w[1]) << 64 | u128::from(w[2])),
                port,
                u32::try_from(w[3]).ok()?,
                (w[0] >> 32) as u32,
            )
            .into(),
        ),
        _ => None,
    }
}

/// Where the counter blocks start: after the entries and the error text,
/// on a 64-octet boundary.
fn counters_start(entries: usize) -> usize {
    (HEADER_WORDS + entries * ENTRY_WORDS + ERROR_SPACE as usize / 8).div_ceil(8) * 8
}

/// The words of a slot with `entries` entries (at most [`MAX_ENTRIES`]).
fn words_for(entries: usize) -> usize {
    counters_start(entries) + entries * BLOCK_WORDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(q: &[u8], engine: EngineKind) -> Fingerprint {
        Fingerprint::of(q, engine).unwrap()
    }

    /// A query for `crash-native.example.com. A`.
    fn crash_query() -> Vec<u8> {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x0ccrash-native\x07example\x03com\x00\x00\x01\x00\x01");
        q
    }

    #[test]
    fn a_query_in_flight_is_seen_from_another_mapping() {
        // Another engine than the default, to see it is the slot's.
        let other = EngineKind::ALL[EngineKind::ALL.len() - 1];
        assert_ne!(other, EngineKind::Native);
        let king = Slot::create(3, other).unwrap();
        let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
        assert_eq!(worker.entries(), 3);
        assert_eq!(worker.engine(), other);
        let q = crash_query();
        let before = king.progress(1);
        worker.begin(1, &q, None);
        assert_ne!(king.progress(1), before);
        let seen = king.in_flight();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].entry, 1);
        // Fingerprinted by the king, for the slot's engine.
        assert_eq!(seen[0].fingerprint, fp(&q, other));
        assert_ne!(seen[0].fingerprint, fp(&q, EngineKind::Native));
        assert_eq!(seen[0].query, q);
        let during = king.progress(1);
        worker.end(1);
        assert!(king.in_flight().is_empty());
        // The next query is progress too, even with the same octets.
        worker.begin(1, &q, None);
        assert_ne!(king.progress(1), during);
        assert_eq!(king.in_flight().len(), 1);
    }

    #[test]
    fn a_fingerprint_given_by_the_worker_is_kept() {
        let slot = Slot::create(1, EngineKind::Native).unwrap();
        let q = crash_query();
        slot.begin(0, &q, Some(Fingerprint::from_raw(42).unwrap()));
        assert_eq!(slot.current(0).unwrap().fingerprint.raw(), 42);
        // And not left over for the next query.
        slot.end(0);
        slot.begin(0, &q, None);
        assert_eq!(
            slot.current(0).unwrap().fingerprint,
            fp(&q, EngineKind::Native)
        );
    }

    #[test]
    fn long_queries_keep_their_start_and_their_fingerprint() {
        let slot = Slot::create(1, EngineKind::Native).unwrap();
        // A question that reads, then 1000 octets more (an OPT record, say):
        // the octets kept give the same fingerprint as the whole query.
        let mut q = crash_query();
        q.extend((0..1000u32).map(|i| i as u8));
        slot.begin(0, &q, None);
        let seen = slot.current(0).unwrap();
        assert_eq!(seen.query, q[..QUERY_KEPT]);
        assert_eq!(seen.fingerprint, fp(&q, EngineKind::Native));
        slot.end(0);
        // A long query whose question does not read is fingerprinted by
        // all its octets: the worker computes that one.
        let mut bad: Vec<u8> = vec![0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        bad.extend((0..1000u32).map(|i| i as u8));
        let mut other_tail = bad.clone();
        *other_tail.last_mut().unwrap() ^= 1;
        assert_ne!(
            fp(&bad, EngineKind::Native),
            fp(&other_tail, EngineKind::Native)
        );
        slot.begin(0, &bad, None);
        assert_eq!(
            slot.current(0).unwrap().fingerprint,
            fp(&bad, EngineKind::Native)
        );
        // Entries past the last share the last one instead of panicking.
        slot.begin(9, &q[..13], None);
        assert_eq!(slot.current(0).unwrap().query, q[..13]);
    }

    #[test]
    fn every_length_round_trips() {
        let slot = Slot::create(1, EngineKind::Native).unwrap();
        let mut q = crash_query();
        q.resize(QUERY_KEPT, 0xAB);
        for len in 12..=QUERY_KEPT {
            slot.begin(0, &q[..len], None);
            assert_eq!(slot.current(0).unwrap().query, q[..len]);
            slot.end(0);
        }
    }

    #[test]
    fn load_failure_text_reaches_the_king() {
        let king = Slot::create(1, EngineKind::Native).unwrap();
        let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
        worker.fail_load("engine native: /b/example.com.zone:3: bad record");
        assert_eq!(king.state(), State::LoadFailed);
        assert_eq!(
            king.error(),
            "engine native: /b/example.com.zone:3: bad record"
        );
        king.reset();
        assert_eq!(king.state(), State::Loading);
    }

    #[test]
    fn counters_and_bundle_survive_a_replacement_worker() {
        use crate::engine::{Outcome, Transport};
        use crate::metrics::counters::Totals;
        let king = Slot::create(2, EngineKind::Native).unwrap();
        assert_eq!(king.bundle(), None);
        let id: BundleId = "ab".repeat(32).parse().unwrap();
        let q = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01";
        let mut r = q.to_vec();
        r[2] |= 0x80;
        for round in 1..=2u64 {
            let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
            worker.set_bundle(&id);
            worker
                .counters(1)
                .answered(q, Transport::Udp, Outcome::Reply, &r);
            worker.counters(7).blacklist_drop(); // clamped to the last entry
            drop(worker);
            king.reset();
            let mut t = Totals::default();
            for e in 0..king.entries() {
                king.counters(e).add_to(&mut t);
            }
            assert_eq!(t.queries(Transport::Udp, "A", "NOERROR"), round);
            assert_eq!(t.blacklist_drops, round);
            assert_eq!(king.bundle(), Some(id));
        }
        // Entries' counters are apart from each other.
        let mut t = Totals::default();
        king.counters(0).add_to(&mut t);
        assert_eq!(t, Totals::default());
    }

    #[test]
    fn a_replacement_answers_what_its_predecessor_held_but_the_culprit() {
        let king = Slot::create(2, EngineKind::Native).unwrap();
        let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
        let crash = crash_query();
        let mut other = crash_query();
        other[13] = b'x';
        let too_long = vec![0u8; QUERY_KEPT + 1];
        let v4: SocketAddr = "127.0.0.1:5300".parse().unwrap();
        let v6: SocketAddr = "[::1]:5301".parse().unwrap();
        let batch: [(&[u8], Option<SocketAddr>); 5] = [
            (&other, Some(v4)),
            (&crash, Some(v6)),
            (&other, Some(v6)),
            (&other, None),
            (&too_long, Some(v4)),
        ];
        worker.hold(1, batch);
        worker.begin_held(1, 0, &other, None);
        worker.end(1);
        worker.begin_held(1, 1, &crash, None);
        // The worker dies here: the king sees the culprit, held datagram 1.
        let seen = king.in_flight();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].query, crash);
        assert_eq!(seen[0].fingerprint, fp(&crash, EngineKind::Native));
        king.reset();
        // The replacement gets the others back (not the culprit, not one
        // without a sender, not one too long to be kept), once.
        let replacement = Slot::open(king.file().try_clone().unwrap()).unwrap();
        assert!(replacement.take_held(0).is_empty());
        assert_eq!(
            replacement.take_held(1),
            vec![(other.clone(), v4), (other.clone(), v6)]
        );
        assert!(replacement.take_held(1).is_empty());

        // Answers sent: nothing is held any more.
        replacement.hold(1, [(&other[..], Some(v4))]);
        replacement.begin_held(1, 0, &other, None);
        replacement.end(1);
        replacement.release(1);
        king.reset();
        assert!(replacement.take_held(1).is_empty());
    }

    #[test]
    fn peers_round_trip() {
        for peer in ["192.0.2.1:53", "[2001:db8::1]:65535", "[fe80::1%7]:1"] {
            let peer: SocketAddr = peer.parse().unwrap();
            assert_eq!(decode_peer(encode_peer(Some(peer))), Some(peer));
        }
        assert_eq!(decode_peer(encode_peer(None)), None);
        assert_eq!(decode_peer([9, 0, 0, 0]), None);
    }

    #[test]
    fn reset_ends_what_a_dead_worker_left_in_flight() {
        let king = Slot::create(2, EngineKind::Native).unwrap();
        king.begin(1, &crash_query(), None);
        king.reset();
        assert!(king.in_flight().is_empty());
    }
}
