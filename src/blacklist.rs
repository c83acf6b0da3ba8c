//! The query-of-death blacklist: fingerprints of queries that crashed or
//! hung a worker, kept in a file and dropped by every worker before any
//! engine sees them.
//!
//! The king [`add`]s an entry when a worker dies with a query in flight
//! (or is killed by the watchdog); `stripedns unblock` [`remove`]s one.
//! Both rewrite the file whole (a temporary file renamed over it) under an
//! exclusive lock on a `.lock` file beside it, so concurrent writers (several
//! kings, an operator) do not lose each other's entries and readers never
//! see half a file. Workers follow the file with a [`Watcher`]: a thread
//! that looks at it a few times a second and, when it changed, swaps a new
//! [`FingerprintSet`] in behind an `ArcSwap`, so checking a query costs one
//! lock-free load and one hash lookup.
//!
//! The file is plain text, one entry a line:
//!
//! ```text
//! # stripedns blacklist v1: fingerprint engine count first-seen last-seen question
//! 3f2a9c0d11e0b7a4 native 1 1764070000 1764070000 crash-native.example.com. IN A
//! ```
//!
//! Times are Unix seconds; the count is how many workers the query killed;
//! the question is printable (RFC 1035 escapes) and ends the line.
//! Without `--blacklist FILE` the file is [`default_path`].

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use thiserror::Error;
use tracing::{info, warn};

use crate::engine::EngineKind;
use crate::fingerprint::Fingerprint;
use crate::sys;

/// The first line of every blacklist file.
const HEADER: &str =
    "# stripedns blacklist v1: fingerprint engine count first-seen last-seen question";

/// How often a [`Watcher`] looks at the file besides the file-system
/// events it waits for.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// The file name of the blacklist inside a state directory.
pub const FILE_NAME: &str = "blacklist";

/// The blacklist used when none is named: `blacklist` in the directory
/// `stripedns` under the system's temporary directory (`$TMPDIR`, else
/// `/tmp`), shared by every `serve` on the machine.
pub fn default_path() -> PathBuf {
    std::env::temp_dir().join("stripedns").join(FILE_NAME)
}

/// One blacklisted query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The query's fingerprint (for `engine`).
    pub fingerprint: Fingerprint,
    /// The engine whose worker it killed.
    pub engine: EngineKind,
    /// How many workers it killed.
    pub count: u64,
    /// When it first killed one (Unix seconds).
    pub first_seen: u64,
    /// When it last killed one (Unix seconds).
    pub last_seen: u64,
    /// The question, printable, on one line.
    pub question: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.fingerprint,
            self.engine,
            self.count,
            self.first_seen,
            self.last_seen,
            self.question
        )
    }
}

/// Why the blacklist file could not be read or written.
#[derive(Debug, Error)]
pub enum BlacklistError {
    /// The file (or its directory or lock) failed.
    #[error("blacklist {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A line is not an entry.
    #[error("blacklist {path}:{line}: not an entry: {text}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Parse one entry line.
fn parse_line(line: &str) -> Option<Entry> {
    let mut parts = line.splitn(6, ' ');
    Some(Entry {
        fingerprint: parts.next()?.parse().ok()?,
        engine: parts.next()?.parse().ok()?,
        count: parts.next()?.parse().ok()?,
        first_seen: parts.next()?.parse().ok()?,
        last_seen: parts.next()?.parse().ok()?,
        question: parts.next().unwrap_or_default().to_string(),
    })
}

/// Every entry of the blacklist at `path`; none when the file does not
/// exist.
pub fn load(path: &Path) -> Result<Vec<Entry>, BlacklistError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BlacklistError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        entries.push(parse_line(line).ok_or_else(|| BlacklistError::Syntax {
            path: path.to_path_buf(),
            line: i + 1,
            text: line.to_string(),
        })?);
    }
    Ok(entries)
}

/// Change the blacklist at `path` with `change`, under the lock, and write
/// it back whole. Creates the file and its directory when missing.
fn update<T>(path: &Path, change: impl FnOnce(&mut Vec<Entry>) -> T) -> Result<T, BlacklistError> {
    let io_err = |source| BlacklistError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err)?;
    sys::lock_exclusive(&lock).map_err(io_err)?;
    let mut entries = load(path)?;
    let result = change(&mut entries);
    let mut tmp_path = path.as_os_str().to_owned();
    tmp_path.push(".tmp");
    let mut text = String::from(HEADER);
    text.push('\n');
    for e in &entries {
        text.push_str(&e.to_string());
        text.push('\n');
    }
    let mut tmp = File::create(&tmp_path).map_err(io_err)?;
    tmp.write_all(text.as_bytes()).map_err(io_err)?;
    tmp.sync_all().map_err(io_err)?;
    fs::rename(&tmp_path, path).map_err(io_err)?;
    drop(lock);
    Ok(result)
}

/// Record that `fingerprint` (described by `question`) killed a worker of
/// `engine`: a new entry, or one more on the count of the existing one.
/// Returns the entry as written.
pub fn add(
    path: &Path,
    fingerprint: Fingerprint,
    engine: EngineKind,
    question: &str,
) -> Result<Entry, BlacklistError> {
    let now = crate::state::unix_now();
    update(path, |entries| {
        if let Some(e) = entries
            .iter_mut()
            .find(|e| e.fingerprint == fingerprint && e.engine == engine)
        {
            e.count += 1;
            e.last_seen = now;
            return e.clone();
        }
        let entry = Entry {
            fingerprint,
            engine,
            count: 1,
            first_seen: now,
            last_seen: now,
            question: question.replace(['\n', '\r'], " "),
        };
        entries.push(entry.clone());
        entry
    })
}

/// Remove every entry with `fingerprint`; returns the entries removed
/// (none when it was not blacklisted).
pub fn remove(path: &Path, fingerprint: Fingerprint) -> Result<Vec<Entry>, BlacklistError> {
    update(path, |entries| {
        let (gone, kept) = std::mem::take(entries)
            .into_iter()
            .partition(|e| e.fingerprint == fingerprint);
        *entries = kept;
        gone
    })
}

/// The fingerprints one engine drops, as a worker holds them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FingerprintSet {
    /// The fingerprints.
    set: HashSet<Fingerprint>,
}

impl FingerprintSet {
    /// The fingerprints of `entries` that name `engine`.
    pub fn for_engine(entries: &[Entry], engine: EngineKind) -> FingerprintSet {
        FingerprintSet {
            set: entries
                .iter()
                .filter(|e| e.engine == engine)
                .map(|e| e.fingerprint)
                .collect(),
        }
    }

    /// True when `fingerprint` must be dropped.
    pub fn contains(&self, fingerprint: Fingerprint) -> bool {
        !self.set.is_empty() && self.set.contains(&fingerprint)
    }

    /// Number of fingerprints.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when nothing is blacklisted.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// What identifies one version of the file: changes whenever it is
/// replaced (rename gives a new inode) or rewritten.
fn version(path: &Path) -> Option<(u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// A thread following the blacklist file for one engine, publishing the
/// current [`FingerprintSet`]; stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    /// The set workers read, swapped whole on every change.
    current: Arc<ArcSwap<FingerprintSet>>,
    /// Raised to end the thread.
    stop: Arc<AtomicBool>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Read the blacklist at `path` now (so no query is answered before it
    /// is known) and follow it from then on.
    pub fn start(path: PathBuf, engine: EngineKind) -> Result<Watcher, BlacklistError> {
        let mut seen = version(&path);
        // A broken file must not stop a worker from answering: start with
        // nothing blacklisted and read it again when it changes.
        let initial = match load(&path) {
            Ok(entries) => FingerprintSet::for_engine(&entries, engine),
            Err(e) => {
                warn!(error = %e, "blacklist not loaded");
                FingerprintSet::default()
            }
        };
        if !initial.is_empty() {
            info!(entries = initial.len(), path = %path.display(), "blacklist loaded");
        }
        let current = Arc::new(ArcSwap::from_pointee(initial));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let current = Arc::clone(&current);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("blacklist".into())
                .spawn(move || {
                    // A new blacklist is read as soon as it is renamed into
                    // place: a query of death resent at once may otherwise
                    // reach a worker still on the old set.
                    let (tx, changed) = std::sync::mpsc::channel();
                    let _events = crate::follow::watch_file(&path, move || {
                        let _ = tx.send(());
                    });
                    while !stop.load(Ordering::Relaxed) {
                        let _ = changed.recv_timeout(WATCH_INTERVAL);
                        while changed.try_recv().is_ok() {}
                        let now = version(&path);
                        if now == seen {
                            continue;
                        }
                        match load(&path) {
                            Ok(entries) => {
                                let set = FingerprintSet::for_engine(&entries, engine);
                                info!(entries = set.len(), "blacklist changed");
                                current.store(Arc::new(set));
                                seen = now;
                            }
                            // Keep the last good set until the file changes.
                            Err(e) => {
                                warn!(error = %e, "blacklist not reloaded");
                                seen = now;
                            }
                        }
                    }
                })
                .map_err(|source| BlacklistError::Io {
                    path: PathBuf::from("(watcher thread)"),
                    source,
                })?
        };
        Ok(Watcher {
            current,
            stop,
            thread: Some(thread),
        })
    }

    /// The live set, shared with the answering threads.
    pub fn set(&self) -> Arc<ArcSwap<FingerprintSet>> {
        Arc::clone(&self.current)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u64) -> Fingerprint {
        Fingerprint::from_raw(n).unwrap()
    }

    #[test]
    fn add_count_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("blacklist");
        assert!(load(&path).unwrap().is_empty());
        add(&path, fp(1), EngineKind::Native, "a.example. IN A").unwrap();
        let again = add(&path, fp(1), EngineKind::Native, "a.example. IN A").unwrap();
        assert_eq!(again.count, 2);
        add(&path, fp(2), EngineKind::Native, "b\nc. IN A").unwrap();
        let entries = load(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].question, "b c. IN A");
        assert_eq!(remove(&path, fp(1)).unwrap().len(), 1);
        assert!(remove(&path, fp(1)).unwrap().is_empty());
        let left = load(&path).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].fingerprint, fp(2));
        let set = FingerprintSet::for_engine(&left, EngineKind::Native);
        assert!(set.contains(fp(2)) && !set.contains(fp(1)));
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blacklist");
        fs::write(&path, format!("{HEADER}\nnot an entry\n")).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("blacklist:2"), "{e}");
    }

    #[test]
    fn watcher_sees_additions_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blacklist");
        let watcher = Watcher::start(path.clone(), EngineKind::Native).unwrap();
        let set = watcher.set();
        assert!(set.load().is_empty());
        add(&path, fp(7), EngineKind::Native, "x. IN A").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !set.load().contains(fp(7)) {
            assert!(std::time::Instant::now() < deadline, "addition not seen");
            std::thread::sleep(Duration::from_millis(10));
        }
        remove(&path, fp(7)).unwrap();
        while set.load().contains(fp(7)) {
            assert!(std::time::Instant::now() < deadline, "removal not seen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
