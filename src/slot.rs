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
//!   one for TCP). Before a query goes to the engine the thread stores its
//!   first octets (a header and the longest question) and its length, and
//!   makes its progress counter odd; after the engine returns it makes the
//!   counter even again. An odd counter when the worker died names the
//!   query that killed it; an odd counter unchanged past the watchdog
//!   deadline names a query that hangs.
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
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::engine::EngineKind;
use crate::fingerprint::Fingerprint;
use crate::sys::SharedWords;

/// "SDNSLOT2": marks a slot file (2: entries hold octets, not hashes).
const MAGIC: u64 = u64::from_be_bytes(*b"SDNSLOT2");
/// Words before the first entry: magic, state, entry count, engine,
/// reserved.
const HEADER_WORDS: usize = 8;
/// Query octets kept per entry: a header and the longest question
/// (12 + 255 + 4), rounded up to whole words.
const QUERY_WORDS: usize = 34;
/// Octets of a query an entry keeps.
pub const QUERY_KEPT: usize = QUERY_WORDS * 8;
/// Words per entry: progress counter, query length, fingerprint (0 when
/// the king is to compute it), query.
const ENTRY_WORDS: usize = 3 + QUERY_WORDS;
/// Entries a slot may hold at most (threads calling an engine).
pub const MAX_ENTRIES: usize = 256;
/// Octets of the file reserved after the words for a load error's text.
const ERROR_SPACE: u64 = 4096;

/// Entry word: the progress counter, odd while a query is in flight.
const PROGRESS: usize = 0;
/// Entry word: the length of the query in flight (all of it, not only the
/// octets kept).
const LENGTH: usize = 1;
/// Entry word: the query's fingerprint when the worker computed it, else 0.
const FINGERPRINT: usize = 2;
/// Entry word: the first of the words holding the query's octets.
const OCTETS: usize = 3;

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

/// The number an engine is stored as in the slot's header.
fn engine_code(engine: EngineKind) -> u64 {
    match engine {
        EngineKind::Native => 1,
        EngineKind::Hickory => 2,
    }
}

impl Slot {
    /// A new slot with `entries` entries (at least 1, at most
    /// [`MAX_ENTRIES`]) for a worker of `engine`, in a fresh unlinked
    /// temporary file.
    pub fn create(entries: usize, engine: EngineKind) -> io::Result<Slot> {
        let entries = entries.clamp(1, MAX_ENTRIES);
        let file = tempfile::tempfile()?;
        file.set_len((HEADER_WORDS + entries * ENTRY_WORDS) as u64 * 8 + ERROR_SPACE)?;
        let words = SharedWords::map(&file)?;
        words.words()[0].store(MAGIC, Ordering::Relaxed);
        words.words()[3].store(engine_code(engine), Ordering::Relaxed);
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
        let needed = entries
            .checked_mul(ENTRY_WORDS)
            .and_then(|n| n.checked_add(HEADER_WORDS + ERROR_SPACE as usize / 8));
        if entries == 0 || entries > MAX_ENTRIES || needed.is_none_or(|n| n > w.len()) {
            return Err(bad("worker slot of a wrong size"));
        }
        let code = w[3].load(Ordering::Relaxed);
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

    /// Record that the thread of `entry` starts on `query` (worker side;
    /// one thread per entry). `fingerprint` is the query's fingerprint if
    /// the caller computed it already; otherwise the king computes it from
    /// the octets kept, when it needs it. Allocates nothing and makes no
    /// system call.
    pub fn begin(&self, entry: usize, query: &[u8], fingerprint: Option<Fingerprint>) {
        let e = self.entry(entry);
        // The octets kept hold the whole question of any query, so the
        // king's fingerprint of them is the query's, except for a long
        // query whose question cannot be read: that one is fingerprinted
        // by all its octets, so do it here (rare: a malformed query of
        // more than QUERY_KEPT octets).
        let fingerprint = match fingerprint {
            Some(f) => Some(f),
            None if query.len() > QUERY_KEPT => Fingerprint::of(query, self.engine),
            None => None,
        };
        // The entry is idle (even counter) while its octets change; the
        // fence orders those changes after the counter became even, so a
        // king reading concurrently sees the counter move (see `current`).
        let progress = e[PROGRESS].load(Ordering::Relaxed);
        fence(Ordering::Release);
        let kept = &query[..query.len().min(QUERY_KEPT)];
        let mut chunks = kept.chunks_exact(8);
        let mut words = e[OCTETS..].iter();
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
        e[LENGTH].store(query.len() as u64, Ordering::Relaxed);
        e[FINGERPRINT].store(fingerprint.map_or(0, Fingerprint::raw), Ordering::Relaxed);
        // Odd: in flight, and a new value, so the watchdog sees progress
        // (one writer per entry, so a load and a store are enough).
        let next = progress.wrapping_add(if progress & 1 == 0 { 1 } else { 2 });
        e[PROGRESS].store(next, Ordering::Release);
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
        let len = usize::try_from(e[LENGTH].load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let stored = e[FINGERPRINT].load(Ordering::Relaxed);
        let mut query: Vec<u8> = e[OCTETS..]
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        query.truncate(len.min(QUERY_KEPT));
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

    /// Clear every entry and the state, for a replacement worker.
    pub fn reset(&self) {
        for e in 0..self.entries {
            self.end(e);
        }
        self.set_state(State::Loading);
    }
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
        let king = Slot::create(3, EngineKind::Hickory).unwrap();
        let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
        assert_eq!(worker.entries(), 3);
        assert_eq!(worker.engine(), EngineKind::Hickory);
        let q = crash_query();
        let before = king.progress(1);
        worker.begin(1, &q, None);
        assert_ne!(king.progress(1), before);
        let seen = king.in_flight();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].entry, 1);
        // Fingerprinted by the king, for the slot's engine.
        assert_eq!(seen[0].fingerprint, fp(&q, EngineKind::Hickory));
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
    fn reset_ends_what_a_dead_worker_left_in_flight() {
        let king = Slot::create(2, EngineKind::Native).unwrap();
        king.begin(1, &crash_query(), None);
        king.reset();
        assert!(king.in_flight().is_empty());
    }
}
