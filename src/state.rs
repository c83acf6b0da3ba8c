//! The pipeline's state directory: where bundles wait, are tasted, go live
//! or are poisoned, and the record of every verdict.
//!
//! ```text
//! state/
//!   landing/<id>/          pushed bundles waiting for the taster (oldest first)
//!   foodtaster/<id>/       the one bundle being tasted now
//!   dns/bundles/<id>/      promoted bundles
//!   dns/current            symlink to bundles/<id>: the live bundle
//!   poisoned/<id>          JSON: why the bundle failed, the taster's stderr tail
//!   verdicts.log           one JSON line per verdict, append only
//! ```
//!
//! # Design
//!
//! Every change a crash could leave half done is made under a temporary
//! name (a dot name holding the writer's process id) and then renamed into
//! place: a copied bundle directory, a poison record, the `dns/current`
//! symlink. A kill -9 at any moment therefore leaves either the old or the
//! new state, and [`StateDir::recover`] (run by the pipeline at start-up)
//! finishes or undoes what was under way:
//!
//! - temporary names whose writer is dead are removed;
//! - a bundle left in `foodtaster/` goes back to `landing/` to be tasted
//!   again, unless its verdict was already recorded (then the leftover is
//!   removed);
//! - a bundle in `dns/bundles/` without a `promote` line in the verdict log
//!   was promoted when the crash came: the line is written, and
//!   `dns/current` is pointed at the bundle of the last `promote` line.
//!
//! Kings only ever read `dns/current` and the directory it points at, which
//! is complete before the symlink is switched.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let state = stripedns::state::StateDir::open(dir.path()).unwrap();
//! assert!(state.live().unwrap().is_none());
//! assert!(state.landed().unwrap().is_empty());
//! ```

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::bundle::{Bundle, BundleError, BundleId};

/// The state directory used when `--state` is not given.
pub const DEFAULT_STATE_DIR: &str = "state";

/// Why the state directory could not be read or changed.
#[derive(Debug, Error)]
pub enum StateError {
    /// A file or directory of the state could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The pushed directory is not a bundle.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A file of the state holds something unexpected.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A closure mapping an `io::Error` to a [`StateError`] naming `path`.
fn at(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One line of the verdict log, and the verdict part of a poison record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// Seconds since the Unix epoch when the verdict was recorded.
    pub time: u64,
    /// The bundle, as 64 hex digits.
    pub id: String,
    /// `promote` or `poisoned`.
    pub verdict: String,
    /// Why the bundle was poisoned (empty for `promote`), or a note.
    pub reason: String,
}

/// What `poisoned/<id>` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonRecord {
    /// Seconds since the Unix epoch when the bundle was poisoned.
    pub time: u64,
    /// The bundle, as 64 hex digits.
    pub id: String,
    /// Why: crashed by signal N, hung past T s, out of memory, failed
    /// checks (with the list).
    pub reason: String,
    /// The last lines the taster wrote to stderr.
    pub stderr_tail: String,
}

/// The live bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Its id.
    pub id: BundleId,
    /// Its directory, `dns/bundles/<id>`.
    pub path: PathBuf,
    /// When `dns/current` was last switched.
    pub since: SystemTime,
}

/// Where a bundle id is in the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// It is the live bundle.
    Live,
    /// It waits in `landing/`.
    Landed,
    /// The taster is tasting it.
    Tasting,
    /// It was poisoned, for this reason.
    Poisoned(PoisonRecord),
    /// The pipeline has not seen it, or it was promoted and is no longer
    /// live (pushing it again tastes it again).
    Unknown,
}

/// What `push` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The bundle was placed in `landing/`.
    Landed(BundleId),
    /// The same content is already where the push would lead; nothing was
    /// placed.
    Refused(BundleId, Place),
}

/// What [`StateDir::recover`] found and did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Temporary files and directories of dead writers, removed.
    pub removed_temporaries: Vec<PathBuf>,
    /// Bundles found in `foodtaster/` and put back in `landing/`.
    pub requeued: Vec<BundleId>,
    /// Bundles in `foodtaster/` whose verdict was already recorded, removed.
    pub removed_tasted: Vec<BundleId>,
    /// Promotions that were under way and were finished.
    pub finished_promotions: Vec<BundleId>,
    /// Poison records whose verdict line was missing, and was written.
    pub finished_poisonings: Vec<BundleId>,
}

impl Recovery {
    /// True when there was nothing to do.
    pub fn is_empty(&self) -> bool {
        *self == Recovery::default()
    }
}

/// A state directory, its subdirectories created.
#[derive(Debug, Clone)]
pub struct StateDir {
    /// The directory given with `--state`.
    root: PathBuf,
}

impl StateDir {
    /// Open (and create where missing) the state directory `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<StateDir, StateError> {
        let state = StateDir {
            root: root.as_ref().to_path_buf(),
        };
        for dir in [
            state.landing(),
            state.foodtaster(),
            state.bundles(),
            state.poisoned_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(at(&dir))?;
        }
        Ok(state)
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `landing/`: pushed bundles waiting to be tasted.
    pub fn landing(&self) -> PathBuf {
        self.root.join("landing")
    }

    /// `foodtaster/`: the bundle being tasted.
    pub fn foodtaster(&self) -> PathBuf {
        self.root.join("foodtaster")
    }

    /// `dns/`: promoted bundles and the `current` symlink.
    pub fn dns(&self) -> PathBuf {
        self.root.join("dns")
    }

    /// `dns/bundles/`: every promoted bundle.
    pub fn bundles(&self) -> PathBuf {
        self.dns().join("bundles")
    }

    /// `dns/current`: the symlink to the live bundle.
    pub fn current_link(&self) -> PathBuf {
        self.dns().join("current")
    }

    /// `poisoned/`: one JSON record per poisoned bundle.
    pub fn poisoned_dir(&self) -> PathBuf {
        self.root.join("poisoned")
    }

    /// `verdicts.log`: one JSON line per verdict.
    pub fn verdict_log(&self) -> PathBuf {
        self.root.join("verdicts.log")
    }

    /// The live bundle, if any bundle was ever promoted.
    pub fn live(&self) -> Result<Option<Live>, StateError> {
        let link = self.current_link();
        let target = match fs::read_link(&link) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at(&link)(e)),
        };
        let since = fs::symlink_metadata(&link)
            .and_then(|m| m.modified())
            .map_err(at(&link))?;
        let id = target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<BundleId>().ok())
            .ok_or_else(|| StateError::Corrupt {
                path: link.clone(),
                reason: format!("points at {}, not at a bundle id", target.display()),
            })?;
        Ok(Some(Live {
            id,
            path: self.bundles().join(id.to_hex()),
            since,
        }))
    }

    /// The bundles in `landing/`, oldest first (by the time they landed,
    /// then by id).
    pub fn landed(&self) -> Result<Vec<BundleId>, StateError> {
        let mut found = Vec::new();
        for (id, path) in bundle_entries(&self.landing())? {
            let time = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            found.push((time, id));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, id)| id).collect())
    }

    /// The bundles in `foodtaster/` (at most one while a pipeline runs).
    pub fn tasting(&self) -> Result<Vec<BundleId>, StateError> {
        Ok(bundle_entries(&self.foodtaster())?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The poison record of `id`, if it was poisoned.
    pub fn poison_record(&self, id: BundleId) -> Result<Option<PoisonRecord>, StateError> {
        let path = self.poisoned_dir().join(id.to_hex());
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at(&path)(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    /// Every poison record, oldest first.
    pub fn poisoned(&self) -> Result<Vec<PoisonRecord>, StateError> {
        let mut records = Vec::new();
        for (id, _) in bundle_entries(&self.poisoned_dir())? {
            if let Some(r) = self.poison_record(id)? {
                records.push(r);
            }
        }
        records.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Ok(records)
    }

    /// Where `id` is in the pipeline.
    pub fn place(&self, id: BundleId) -> Result<Place, StateError> {
        if let Some(record) = self.poison_record(id)? {
            return Ok(Place::Poisoned(record));
        }
        if self.live()?.is_some_and(|l| l.id == id) {
            return Ok(Place::Live);
        }
        if self.foodtaster().join(id.to_hex()).exists() {
            return Ok(Place::Tasting);
        }
        if self.landing().join(id.to_hex()).exists() {
            return Ok(Place::Landed);
        }
        Ok(Place::Unknown)
    }

    /// Place a copy of the bundle directory `src` in `landing/` under its
    /// id: copied under a temporary name, then renamed. Nothing is checked
    /// beyond "is a bundle directory"; a bundle that is live, waiting,
    /// being tasted or poisoned is refused without copying it again.
    pub fn push(&self, src: &Path) -> Result<PushOutcome, StateError> {
        let bundle = Bundle::open(src)?;
        let place = self.place(bundle.id())?;
        if place != Place::Unknown {
            return Ok(PushOutcome::Refused(bundle.id(), place));
        }
        let tmp = self.landing().join(temp_name("push"));
        let copied = copy_dir(src, &tmp).and_then(|()| {
            // The copy's id is the truth, should the source change meanwhile.
            let copy = Bundle::open(&tmp)?;
            Ok(copy.id())
        });
        let id = match copied {
            Ok(id) => id,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        let place = self.place(id)?;
        if place != Place::Unknown {
            let _ = fs::remove_dir_all(&tmp);
            return Ok(PushOutcome::Refused(id, place));
        }
        let dest = self.landing().join(id.to_hex());
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_dir_all(&tmp);
            // A concurrent push of the same content won the race.
            if dest.exists() {
                return Ok(PushOutcome::Refused(id, Place::Landed));
            }
            return Err(at(&dest)(e));
        }
        sync_dir(&self.landing());
        Ok(PushOutcome::Landed(id))
    }

    /// Move the oldest bundle of `landing/` to `foodtaster/` and return its
    /// id and new path; `None` when nothing waits.
    pub fn take_next(&self) -> Result<Option<(BundleId, PathBuf)>, StateError> {
        let mut landed = self.landed()?.into_iter();
        let id = loop {
            let Some(id) = landed.next() else {
                return Ok(None);
            };
            if self.poison_record(id)?.is_none() {
                break id;
            }
            // A poisoned id is never tasted again.
            remove_dir(&self.landing().join(id.to_hex()))?;
        };
        let from = self.landing().join(id.to_hex());
        let to = self.foodtaster().join(id.to_hex());
        if to.exists() {
            remove_dir(&to)?;
        }
        fs::rename(&from, &to).map_err(at(&from))?;
        Ok(Some((id, to)))
    }

    /// Promote the tasted bundle `id`: move it to `dns/bundles/<id>`,
    /// record the verdict and switch `dns/current` to it.
    pub fn promote(&self, id: BundleId, note: &str) -> Result<(), StateError> {
        let tasted = self.foodtaster().join(id.to_hex());
        let dest = self.bundles().join(id.to_hex());
        if dest.exists() {
            // Promoted before (and pushed again): the copy there is whole.
            remove_dir(&tasted)?;
        } else {
            fs::rename(&tasted, &dest).map_err(at(&tasted))?;
            sync_dir(&self.bundles());
        }
        self.append_verdict(&VerdictRecord {
            time: unix_now(),
            id: id.to_hex(),
            verdict: "promote".into(),
            reason: note.into(),
        })?;
        self.switch_current(id)
    }

    /// Poison the tasted bundle `id`: write its record, log the verdict and
    /// remove it from `foodtaster/`.
    pub fn poison(&self, id: BundleId, reason: &str, stderr_tail: &str) -> Result<(), StateError> {
        let record = PoisonRecord {
            time: unix_now(),
            id: id.to_hex(),
            reason: reason.into(),
            stderr_tail: stderr_tail.into(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| StateError::Corrupt {
            path: self.poisoned_dir(),
            reason: e.to_string(),
        })?;
        write_atomically(&self.poisoned_dir().join(id.to_hex()), &json)?;
        self.append_verdict(&VerdictRecord {
            time: record.time,
            id: record.id.clone(),
            verdict: "poisoned".into(),
            reason: shorten(reason, 2000),
        })?;
        let tasted = self.foodtaster().join(id.to_hex());
        if tasted.exists() {
            remove_dir(&tasted)?;
        }
        Ok(())
    }

    /// Point `dns/current` at `dns/bundles/<id>`: a new symlink under a
    /// temporary name, renamed over the old one.
    pub fn switch_current(&self, id: BundleId) -> Result<(), StateError> {
        let tmp = self.dns().join(temp_name("current"));
        let target = Path::new("bundles").join(id.to_hex());
        std::os::unix::fs::symlink(&target, &tmp).map_err(at(&tmp))?;
        let link = self.current_link();
        if let Err(e) = fs::rename(&tmp, &link) {
            let _ = fs::remove_file(&tmp);
            return Err(at(&link)(e));
        }
        sync_dir(&self.dns());
        Ok(())
    }

    /// The last `n` lines of the verdict log, oldest first. Lines that do
    /// not parse (there should be none) are skipped.
    pub fn verdicts(&self, n: usize) -> Result<Vec<VerdictRecord>, StateError> {
        let all = self.all_verdicts()?;
        Ok(all[all.len().saturating_sub(n)..].to_vec())
    }

    /// Every line of the verdict log.
    fn all_verdicts(&self) -> Result<Vec<VerdictRecord>, StateError> {
        let path = self.verdict_log();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(at(&path)(e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Append one line to the verdict log, in one `write` so that a crash
    /// cannot leave half a line followed by another.
    fn append_verdict(&self, record: &VerdictRecord) -> Result<(), StateError> {
        let path = self.verdict_log();
        let mut line = serde_json::to_string(record).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        line.push('\n');
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(at(&path))?;
        file.write_all(line.as_bytes()).map_err(at(&path))?;
        file.sync_data().map_err(at(&path))
    }

    /// Finish or undo what a killed pipeline left under way (see the
    /// module documentation). Run it before tasting anything, with no other
    /// pipeline running on the same state.
    pub fn recover(&self) -> Result<Recovery, StateError> {
        let mut done = Recovery::default();
        for dir in [
            self.landing(),
            self.foodtaster(),
            self.dns(),
            self.bundles(),
            self.poisoned_dir(),
            self.root.clone(),
        ] {
            for entry in fs::read_dir(&dir).map_err(at(&dir))? {
                let entry = entry.map_err(at(&dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if temp_writer(name).is_some_and(|pid| !process_alive(pid)) {
                    let path = entry.path();
                    remove_any(&path)?;
                    done.removed_temporaries.push(path);
                }
            }
        }
        for id in self.tasting()? {
            let tasted = self.foodtaster().join(id.to_hex());
            let promoted = self.bundles().join(id.to_hex()).exists();
            if promoted || self.poison_record(id)?.is_some() {
                remove_dir(&tasted)?;
                done.removed_tasted.push(id);
            } else {
                let back = self.landing().join(id.to_hex());
                if back.exists() {
                    remove_dir(&tasted)?;
                } else {
                    fs::rename(&tasted, &back).map_err(at(&tasted))?;
                }
                done.requeued.push(id);
            }
        }
        let verdicts = self.all_verdicts()?;
        let logged = |id: &BundleId, verdict: &str| {
            let hex = id.to_hex();
            verdicts.iter().any(|v| v.verdict == verdict && v.id == hex)
        };
        for record in self.poisoned()? {
            if let Ok(id) = record.id.parse::<BundleId>()
                && !logged(&id, "poisoned")
            {
                // Killed between the record and its log line.
                self.append_verdict(&VerdictRecord {
                    time: record.time,
                    id: record.id.clone(),
                    verdict: "poisoned".into(),
                    reason: shorten(&record.reason, 2000),
                })?;
                done.finished_poisonings.push(id);
            }
        }
        for (id, _) in bundle_entries(&self.bundles())? {
            if !logged(&id, "promote") {
                self.append_verdict(&VerdictRecord {
                    time: unix_now(),
                    id: id.to_hex(),
                    verdict: "promote".into(),
                    reason: "promotion finished at recovery".into(),
                })?;
                done.finished_promotions.push(id);
            }
        }
        let last = self
            .all_verdicts()?
            .into_iter()
            .rev()
            .find(|v| v.verdict == "promote")
            .and_then(|v| v.id.parse::<BundleId>().ok());
        if let Some(last) = last
            && self.bundles().join(last.to_hex()).is_dir()
            && self.live()?.is_none_or(|l| l.id != last)
        {
            self.switch_current(last)?;
            if !done.finished_promotions.contains(&last) {
                done.finished_promotions.push(last);
            }
        }
        Ok(done)
    }
}

/// The entries of `dir` named by a bundle id, with their paths.
fn bundle_entries(dir: &Path) -> Result<Vec<(BundleId, PathBuf)>, StateError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<BundleId>().ok())
        {
            found.push((id, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// A temporary name for `what`, unique on this machine:
/// `.tmp-<what>-<pid>-<nanoseconds>`. The process id lets
/// [`StateDir::recover`] tell a dead writer's leftovers from a live one's
/// work.
fn temp_name(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .subsec_nanos();
    format!(".tmp-{what}-{}-{nanos}", std::process::id())
}

/// The process id in a name made by [`temp_name`].
fn temp_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".tmp-")?;
    let mut parts = rest.rsplitn(3, '-');
    let _nanos = parts.next()?;
    parts.next()?.parse().ok()
}

/// Whether process `pid` exists (on Linux, through `/proc`).
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Write `bytes` to `path` through a temporary name and a rename, synced
/// to disk before and after the rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    replace(path, "write", bytes, true).map_err(at(path))
}

/// Write `bytes` to `path` whole: a temporary name beside it
/// (`.tmp-<what>-<pid>-<nanoseconds>`) renamed over `path`, so a reader sees the old file or the
/// new one, never half of one. Not synced: for runtime files that are
/// rewritten often and rebuilt at start (health, metrics snapshots).
pub fn replace_file(path: &Path, what: &str, bytes: &[u8]) -> io::Result<()> {
    replace(path, what, bytes, false)
}

/// [`replace_file`], syncing the file before the rename and its directory
/// after it when `durable`.
fn replace(path: &Path, what: &str, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(what));
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        if durable { f.sync_all() } else { Ok(()) }
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Copy the bundle directory `src` to the new directory `dest`: regular
/// files and directories, following symlinks (which [`Bundle::open`] has
/// confined to the bundle), leaving out hidden names as the bundle id does.
fn copy_dir(src: &Path, dest: &Path) -> Result<(), StateError> {
    fs::create_dir(dest).map_err(at(dest))?;
    for entry in fs::read_dir(src).map_err(at(src))? {
        let entry = entry.map_err(at(src))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let from = entry.path();
        let to = dest.join(&name);
        let meta = fs::metadata(&from).map_err(at(&from))?;
        if meta.is_dir() {
            copy_dir(&from, &to)?;
        } else if meta.is_file() {
            fs::copy(&from, &to).map_err(at(&from))?;
            fs::File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(at(&to))?;
        }
    }
    Ok(())
}

/// Remove a directory tree; a missing one is fine.
fn remove_dir(path: &Path) -> Result<(), StateError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(at(path)(e)),
        _ => Ok(()),
    }
}

/// Remove a file, symlink or directory tree.
fn remove_any(path: &Path) -> Result<(), StateError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => remove_dir(path),
        Ok(_) => fs::remove_file(path).map_err(at(path)),
        Err(_) => Ok(()),
    }
}

/// Flush a directory's entries to disk, so a rename survives a power cut
/// (best effort: a kill -9 does not need it).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `s`, cut to at most `max` characters with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(max).collect();
    cut.push('…');
    cut
}

/// `secs` since the Unix epoch as an RFC 3339 UTC time
/// (`2026-11-25T11:35:06Z`).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle directory with one zone whose `www` has address `addr`.
    fn bundle(dir: &Path, addr: &str) -> PathBuf {
        let b = dir.join(format!("bundle-{addr}"));
        fs::create_dir_all(&b).unwrap();
        fs::write(
            b.join("example.com.zone"),
            format!("$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A {addr}\n"),
        )
        .unwrap();
        b
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_606_506), "2026-11-25T11:35:06Z");
        assert_eq!(format_utc(1_764_070_138), "2025-11-25T11:28:58Z");
    }

    #[test]
    fn temp_names_carry_the_writer() {
        let name = temp_name("push");
        assert_eq!(temp_writer(&name), Some(std::process::id()));
        assert_eq!(temp_writer("landing"), None);
    }

    #[test]
    fn push_take_promote_poison_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state")).unwrap();
        let a = bundle(dir.path(), "192.0.2.10");
        let b = bundle(dir.path(), "192.0.2.20");

        let PushOutcome::Landed(id_a) = state.push(&a).unwrap() else {
            panic!("not landed")
        };
        assert_eq!(
            state.push(&a).unwrap(),
            PushOutcome::Refused(id_a, Place::Landed)
        );
        let (taken, path) = state.take_next().unwrap().unwrap();
        assert_eq!(taken, id_a);
        assert_eq!(Bundle::open(&path).unwrap().id(), id_a);
        assert_eq!(state.place(id_a).unwrap(), Place::Tasting);
        state.promote(id_a, "").unwrap();
        let live = state.live().unwrap().unwrap();
        assert_eq!(live.id, id_a);
        assert_eq!(Bundle::open(&live.path).unwrap().id(), id_a);
        assert_eq!(
            state.push(&a).unwrap(),
            PushOutcome::Refused(id_a, Place::Live)
        );

        let PushOutcome::Landed(id_b) = state.push(&b).unwrap() else {
            panic!("not landed")
        };
        state.take_next().unwrap().unwrap();
        state.poison(id_b, "failed checks: x", "tail").unwrap();
        let PushOutcome::Refused(_, Place::Poisoned(rec)) = state.push(&b).unwrap() else {
            panic!("poisoned bundle not refused")
        };
        assert_eq!(rec.reason, "failed checks: x");
        assert!(state.tasting().unwrap().is_empty());
        let v = state.verdicts(10).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].verdict, "poisoned");
        assert!(state.recover().unwrap().is_empty());
    }

    #[test]
    fn bundles_are_taken_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state")).unwrap();
        let mut pushed = Vec::new();
        // Descending addresses, so that id order is unlikely to be push order.
        for last in [30, 20, 10] {
            let b = bundle(dir.path(), &format!("192.0.2.{last}"));
            let PushOutcome::Landed(id) = state.push(&b).unwrap() else {
                panic!()
            };
            pushed.push(id);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(state.landed().unwrap(), pushed);
        let mut taken = Vec::new();
        while let Some((id, _)) = state.take_next().unwrap() {
            state.poison(id, "test", "").unwrap();
            taken.push(id);
        }
        assert_eq!(taken, pushed);
    }

    #[test]
    fn recovery_requeues_and_finishes_promotions() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state")).unwrap();
        let a = bundle(dir.path(), "192.0.2.10");
        let b = bundle(dir.path(), "192.0.2.20");
        let PushOutcome::Landed(id_a) = state.push(&a).unwrap() else {
            panic!()
        };
        let PushOutcome::Landed(id_b) = state.push(&b).unwrap() else {
            panic!()
        };
        // A: killed while moving into dns/bundles, before the log line.
        let (_, path) = state.take_next().unwrap().unwrap();
        fs::rename(&path, state.bundles().join(id_a.to_hex())).unwrap();
        // B: killed while tasting.
        state.take_next().unwrap().unwrap();
        // C: killed between its poison record and its verdict line.
        let c = bundle(dir.path(), "192.0.2.30");
        let PushOutcome::Landed(id_c) = state.push(&c).unwrap() else {
            panic!()
        };
        state.take_next().unwrap().unwrap();
        let record = PoisonRecord {
            time: 1,
            id: id_c.to_hex(),
            reason: "crashed by signal 6 (SIGABRT)".into(),
            stderr_tail: String::new(),
        };
        write_atomically(
            &state.poisoned_dir().join(id_c.to_hex()),
            &serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        // A dead writer's half copy.
        let half = state.landing().join(".tmp-push-999999999-1");
        fs::create_dir(&half).unwrap();

        let done = state.recover().unwrap();
        assert_eq!(done.requeued, vec![id_b]);
        assert_eq!(done.finished_promotions, vec![id_a]);
        assert_eq!(done.removed_temporaries, vec![half]);
        assert_eq!(done.finished_poisonings, vec![id_c]);
        assert_eq!(done.removed_tasted, vec![id_c]);
        assert_eq!(state.verdicts(2).unwrap()[0].verdict, "poisoned");
        assert_eq!(state.live().unwrap().unwrap().id, id_a);
        assert_eq!(state.landed().unwrap(), vec![id_b]);
        assert!(state.recover().unwrap().is_empty());
    }
}
