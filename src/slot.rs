//! A worker's slot: shared memory where the worker says what it is doing
//! and the king reads it, even after the worker died.
//!
//! The king creates one slot per worker (an unlinked temporary file, mapped
//! by both through [`crate::sys::SharedWords`]) and hands its descriptor
//! down with the sockets. The slot holds:
//!
//! - a **state** word: loading, serving, or load failed (with the error's
//!   text written into the file's tail, for the king to report);
//! - one **entry** per thread that calls an engine (one per UDP socket,
//!   one for TCP). Before a query goes to the engine the thread stores its
//!   first octets, then its [`Fingerprint`], then bumps a progress counter;
//!   after the engine returns it clears the fingerprint. A fingerprint still
//!   set when the worker died names the query that killed it; one set with
//!   an unchanged counter past the watchdog deadline names a query that
//!   hangs.
//!
//! - the **bundle** the worker serves (written at load and at every swap,
//!   under a sequence word so the king never reads half an id);
//! - one block of **query counters** per entry ([`crate::metrics::counters`]),
//!   after the error text. A replacement worker gets the same slot, so the
//!   counts survive worker restarts.
//!
//! Only atomic stores and loads touch the slot, so recording a query costs
//! a handful of plain memory writes: no system call, no lock.
//!
//! ```
//! use stripedns::slot::{Slot, State};
//!
//! let slot = Slot::create(2).unwrap();
//! assert_eq!(slot.state(), State::Loading);
//! slot.set_state(State::Serving);
//! assert_eq!(slot.in_flight(), vec![]);
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bundle::BundleId;
use crate::fingerprint::Fingerprint;
use crate::metrics::counters::{BLOCK_WORDS, Counters};
use crate::sys::SharedWords;

/// "SDNSLOT1": marks a slot file.
const MAGIC: u64 = u64::from_be_bytes(*b"SDNSLOT1");
/// Words before the first entry: magic, state, entry count, the bundle's
/// sequence word, the bundle id (four words).
const HEADER_WORDS: usize = 8;
/// The sequence word of the bundle id: odd while the worker writes it.
const BUNDLE_SEQ: usize = 3;
/// The first of the four words of the bundle id.
const BUNDLE_ID: usize = 4;
/// Query octets kept per entry: a header and the longest question
/// (12 + 255 + 4), rounded up to whole words.
const QUERY_WORDS: usize = 34;
/// Words per entry: fingerprint, progress counter, query length, query.
const ENTRY_WORDS: usize = 3 + QUERY_WORDS;
/// Entries a slot may hold at most (threads calling an engine).
pub const MAX_ENTRIES: usize = 256;
/// Octets of the file reserved after the words for a load error's text.
const ERROR_SPACE: u64 = 4096;

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

impl Slot {
    /// A new slot with `entries` entries (at least 1, at most
    /// [`MAX_ENTRIES`]), in a fresh unlinked temporary file.
    pub fn create(entries: usize) -> io::Result<Slot> {
        let entries = entries.clamp(1, MAX_ENTRIES);
        let file = tempfile::tempfile()?;
        file.set_len(words_for(entries) as u64 * 8)?;
        let words = SharedWords::map(&file)?;
        words.words()[0].store(MAGIC, Ordering::Relaxed);
        words.words()[2].store(entries as u64, Ordering::Release);
        Ok(Slot {
            file,
            words,
            entries,
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
        Ok(Slot {
            file,
            words,
            entries,
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

    /// Record that the thread of `entry` starts on `query` (worker side).
    pub fn begin(&self, entry: usize, fingerprint: Fingerprint, query: &[u8]) {
        let e = self.entry(entry);
        let kept = &query[..query.len().min(QUERY_WORDS * 8)];
        for (word, chunk) in e[3..].iter().zip(kept.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        e[2].store(kept.len() as u64, Ordering::Relaxed);
        e[0].store(fingerprint.raw(), Ordering::Release);
        e[1].fetch_add(1, Ordering::Release);
    }

    /// Record that the thread of `entry` is done with its query.
    pub fn end(&self, entry: usize) {
        self.entry(entry)[0].store(0, Ordering::Release);
    }

    /// The progress counter of `entry`: changes with every query begun.
    pub fn progress(&self, entry: usize) -> u64 {
        self.entry(entry)[1].load(Ordering::Acquire)
    }

    /// The query entry `entry` is working on, if any.
    pub fn current(&self, entry: usize) -> Option<InFlight> {
        let e = self.entry(entry);
        let fingerprint = Fingerprint::from_raw(e[0].load(Ordering::Acquire))?;
        let len = usize::try_from(e[2].load(Ordering::Relaxed))
            .unwrap_or(0)
            .min(QUERY_WORDS * 8);
        let mut query: Vec<u8> = e[3..]
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        query.truncate(len);
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
    use crate::engine::EngineKind;

    fn fp(q: &[u8]) -> Fingerprint {
        Fingerprint::of(q, EngineKind::Native).unwrap()
    }

    #[test]
    fn a_query_in_flight_is_seen_from_another_mapping() {
        let king = Slot::create(3).unwrap();
        let worker = Slot::open(king.file().try_clone().unwrap()).unwrap();
        assert_eq!(worker.entries(), 3);
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x0ccrash-native\x07example\x03com\x00\x00\x01\x00\x01");
        let before = king.progress(1);
        worker.begin(1, fp(&q), &q);
        assert_ne!(king.progress(1), before);
        let seen = king.in_flight();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].entry, 1);
        assert_eq!(seen[0].fingerprint, fp(&q));
        assert_eq!(seen[0].query, q);
        worker.end(1);
        assert!(king.in_flight().is_empty());
    }

    #[test]
    fn long_queries_keep_their_start() {
        let slot = Slot::create(1).unwrap();
        let q: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        slot.begin(0, Fingerprint::from_raw(5).unwrap(), &q);
        assert_eq!(slot.current(0).unwrap().query, q[..QUERY_WORDS * 8]);
        // Entries past the last share the last one instead of panicking.
        slot.begin(9, Fingerprint::from_raw(6).unwrap(), &q[..3]);
        assert_eq!(slot.current(0).unwrap().query, q[..3]);
    }

    #[test]
    fn load_failure_text_reaches_the_king() {
        let king = Slot::create(1).unwrap();
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
        let king = Slot::create(2).unwrap();
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
}
