//! Following a health file: what every worker does to keep its engine's
//! [`HealthState`] current.
//!
//! A [`HealthWatcher`] reads the file once before the worker serves, then
//! watches its directory (`notify`; the checker replaces the file by
//! rename, so the directory is what changes) and also looks every
//! [`POLL`], as the bundle follower does, in case events are lost. Each
//! new version of the file is parsed and its state handed on
//! ([`Engine::set_health`]):
//!
//! - a missing file means every address is healthy;
//! - a file that cannot be read or parsed keeps the previous state, with a
//!   warning naming the file, and is read again when it changes;
//! - a file written more than [`STALE_AFTER`] ago (its `written_unix_ms`)
//!   means every address is healthy, with a warning: the checker refreshes
//!   it at least every minute, so an old file is one whose checker has
//!   stopped, and its down list must not outlive it.
//!
//! A health state can only remove addresses from answers (and never all
//! of an RRset's), so the worst a bad file does is what a failing checker
//! does: leave out addresses that are up.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tracing::{info, warn};

use crate::engine::Engine;
use crate::fleet::{HealthFile, HealthState};

/// How often the file is looked at when no file-system event comes.
pub const POLL: Duration = Duration::from_millis(500);

/// The age past which a health file no longer counts: three times the
/// longest refresh period of the checker ([`super::refresh_every`]).
pub const STALE_AFTER: Duration = Duration::from_secs(180);

/// The largest health file read; a larger one is refused as unreadable.
pub const MAX_FILE: u64 = 64 << 20;

/// What reading a health file gave.
#[derive(Debug)]
pub enum Read {
    /// There is no file: every address is healthy.
    Missing,
    /// The file, parsed.
    File(HealthFile),
    /// It cannot be read or parsed; the text names the file.
    Bad(String),
}

/// Read and parse the health file at `path`.
pub fn read(path: &Path) -> Read {
    let bad = |e: String| Read::Bad(format!("{}: {e}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Missing,
        Err(e) => return bad(e.to_string()),
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_FILE + 1).read_to_end(&mut bytes) {
        return bad(e.to_string());
    }
    if bytes.len() as u64 > MAX_FILE {
        return bad(format!("larger than {MAX_FILE} octets"));
    }
    match HealthFile::parse(&bytes) {
        Ok(file) => Read::File(file),
        Err(e) => bad(e),
    }
}

/// What identifies one version of the file: inode, size, modification
/// time. `None` when it does not exist.
fn version(path: &Path) -> Option<(u64, u64, i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// A thread following one health file; stops when dropped.
#[derive(Debug)]
pub struct HealthWatcher {
    /// Wakes the thread to stop it (dropping it does too).
    stop: Option<mpsc::Sender<Wake>>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

/// Why the follower's thread wakes.
#[derive(Debug)]
enum Wake {
    /// Something changed in the file's directory.
    Event,
    /// Stop.
    Stop,
}

impl HealthWatcher {
    /// Read `path` now and give its state to `engine` (so no query is
    /// answered before it is known), then follow it.
    pub fn start(path: PathBuf, engine: Arc<dyn Engine>) -> std::io::Result<HealthWatcher> {
        HealthWatcher::start_with(path, move |state| engine.set_health(state))
    }

    /// Like [`HealthWatcher::start`], handing each new state to `apply`.
    pub fn start_with(
        path: PathBuf,
        apply: impl Fn(Arc<HealthState>) + Send + 'static,
    ) -> std::io::Result<HealthWatcher> {
        let (tx, rx) = mpsc::channel();
        let mut follower = Follower {
            path,
            seen: None,
            written: None,
            current: Arc::new(HealthState::default()),
            apply: Box::new(apply),
        };
        follower.look(true);
        let watcher = watch(&follower.path, tx.clone());
        let thread = thread::Builder::new()
            .name("health".into())
            .spawn(move || {
                let _watcher = watcher;
                loop {
                    match rx.recv_timeout(POLL) {
                        Ok(Wake::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        Ok(Wake::Event) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    // Take every event queued: one look covers them.
                    loop {
                        match rx.try_recv() {
                            Ok(Wake::Event) => {}
                            Ok(Wake::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                            Err(mpsc::TryRecvError::Empty) => break,
                        }
                    }
                    follower.look(false);
                }
            })?;
        Ok(HealthWatcher {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for HealthWatcher {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(Wake::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The follower's state.
struct Follower {
    /// The health file.
    path: PathBuf,
    /// The version last read (`None`: missing, or not read yet).
    seen: Option<Option<(u64, u64, i64, i64)>>,
    /// When the file last read and applied was written (ms since the
    /// epoch); `None` when no file applies (missing, or already stale).
    written: Option<u64>,
    /// The state last handed on.
    current: Arc<HealthState>,
    /// Where states go.
    apply: Box<dyn Fn(Arc<HealthState>) + Send>,
}

impl Follower {
    /// Read the file if it changed since the last look; hand on its state
    /// if that changed. `first`: hand it on in any case.
    fn look(&mut self, first: bool) {
        let now = version(&self.path);
        if self.seen == Some(now) {
            // Unchanged, but it may have grown stale since it was read.
            if self.written.is_some_and(is_stale) {
                self.written = None;
                self.stale_warning();
                self.hand_on(HealthState::default(), 0, false);
            }
            return;
        }
        self.seen = Some(now);
        let (state, down) = match read(&self.path) {
            Read::Missing => {
                self.written = None;
                (HealthState::default(), 0)
            }
            Read::File(file) if is_stale(file.written_unix_ms) => {
                self.written = None;
                self.stale_warning();
                (HealthState::default(), 0)
            }
            Read::File(file) => {
                self.written = Some(file.written_unix_ms);
                (
                    file.state(),
                    file.addresses.iter().filter(|a| !a.healthy).count(),
                )
            }
            Read::Bad(e) => {
                warn!(file = %self.path.display(), error = %e, "health file not read; keeping the previous health state");
                return;
            }
        };
        self.hand_on(state, down, first);
    }

    /// Hand `state` on if it differs from the current one (`first`: in
    /// any case).
    fn hand_on(&mut self, state: HealthState, down: usize, first: bool) {
        if !first && state == *self.current {
            return;
        }
        if !first || !state.is_empty() {
            info!(file = %self.path.display(), down, "health state changed");
        }
        self.current = Arc::new(state);
        (self.apply)(Arc::clone(&self.current));
    }

    fn stale_warning(&self) {
        warn!(
            file = %self.path.display(),
            stale_after_s = STALE_AFTER.as_secs(),
            "health file not refreshed (is the health checker running?); every address counts as healthy"
        );
    }
}

/// Whether a file written at `written_unix_ms` is older than
/// [`STALE_AFTER`]; a time in the future (a clock step) is not stale.
fn is_stale(written_unix_ms: u64) -> bool {
    crate::state::unix_ms().saturating_sub(written_unix_ms) > STALE_AFTER.as_millis() as u64
}

/// A `notify` watcher waking the follower for events about `path`;
/// `None` (polling only) when not possible.
fn watch(path: &Path, tx: mpsc::Sender<Wake>) -> Option<notify::RecommendedWatcher> {
    crate::follow::watch_file(path, move || {
        let _ = tx.send(Wake::Event);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{AddressHealth, wire_lower};
    use std::net::IpAddr;
    use std::sync::Mutex;
    use std::time::Instant;

    fn file(down: &[&str]) -> HealthFile {
        let entry = |a: &str, healthy| AddressHealth {
            name: "www.example.com.".into(),
            address: a.parse().unwrap(),
            healthy,
            since_unix_ms: 1,
            last_error: None,
        };
        let mut addresses = vec![entry("127.0.0.9", true)];
        addresses.extend(down.iter().map(|a| entry(a, false)));
        HealthFile {
            written_unix_ms: now_ms(),
            bundle: "ab".into(),
            addresses,
        }
    }

    use crate::state::unix_ms as now_ms;

    /// The down addresses of `www.example.com.` in the last state applied.
    fn down(states: &Mutex<Vec<Arc<HealthState>>>) -> Vec<IpAddr> {
        let www = wire_lower("www.example.com.").unwrap();
        states.lock().unwrap().last().unwrap().down(&www).to_vec()
    }

    /// Wait up to 10 s for `f` (the watcher runs on its own thread).
    fn eventually(f: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn follows_the_file_through_changes_removal_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        let states = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&states);
        // Missing at start: all healthy, applied at once.
        let watcher = HealthWatcher::start_with(path.clone(), move |s| {
            sink.lock().unwrap().push(s);
        })
        .unwrap();
        assert_eq!(states.lock().unwrap().len(), 1);
        assert!(down(&states).is_empty());

        let b: IpAddr = "127.0.0.3".parse().unwrap();
        crate::health::publish(&path, &file(&["127.0.0.3"])).unwrap();
        assert!(eventually(|| down(&states) == [b]));

        // Garbage keeps the previous state.
        let applied = states.lock().unwrap().len();
        std::fs::write(&path, b"{\"written_unix_ms\": ").unwrap();
        thread::sleep(POLL * 2);
        assert_eq!(states.lock().unwrap().len(), applied);
        assert_eq!(down(&states), [b]);

        // A good file again, then none: all healthy.
        crate::health::publish(&path, &file(&["127.0.0.3", "127.0.0.4"])).unwrap();
        assert!(eventually(|| down(&states).len() == 2));
        std::fs::remove_file(&path).unwrap();
        assert!(eventually(|| down(&states).is_empty()));
        drop(watcher);
    }

    #[test]
    fn a_file_present_at_start_applies_before_start_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        crate::health::publish(&path, &file(&["127.0.0.3"])).unwrap();
        let states = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&states);
        let _w = HealthWatcher::start_with(path, move |s| sink.lock().unwrap().push(s)).unwrap();
        assert_eq!(down(&states), ["127.0.0.3".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn a_stale_file_counts_as_all_healthy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        let mut old = file(&["127.0.0.3"]);
        old.written_unix_ms = now_ms() - STALE_AFTER.as_millis() as u64 - 1000;
        crate::health::publish(&path, &old).unwrap();
        let states = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&states);
        let _w =
            HealthWatcher::start_with(path.clone(), move |s| sink.lock().unwrap().push(s)).unwrap();
        assert!(down(&states).is_empty());
        // A fresh file applies again.
        crate::health::publish(&path, &file(&["127.0.0.3"])).unwrap();
        assert!(eventually(|| down(&states).len() == 1));
        assert!(!is_stale(now_ms() + 60_000), "a future time is not stale");
        assert!(is_stale(1));
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.json");
        assert!(matches!(read(&path), Read::Missing));
        std::fs::write(&path, "[]").unwrap();
        match read(&path) {
            Read::Bad(e) => assert!(e.starts_with(&path.display().to_string()), "{e}"),
            other => panic!("{other:?}"),
        }
        // A directory where the file should be.
        match read(dir.path()) {
            Read::Bad(e) => assert!(e.contains(&dir.path().display().to_string()), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
