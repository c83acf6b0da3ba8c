//! How a king follows `dns/current`: notice the switch, load the promoted
//! bundle in the background and swap it into the engine.
//!
//! A thread watches `dns/` with `notify` and also looks every poll
//! interval (events can be lost on some file systems). When `dns/current`
//! names a bundle other than the one loaded, it opens `dns/bundles/<id>`
//! and calls [`Engine::reload`], which builds the new zone data completely
//! and swaps it in with `ArcSwap`: queries in flight finish on the old
//! data, none waits. The king does not validate: a load error is logged,
//! the old data stays live, and the same bundle is not retried until
//! `dns/current` changes again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::bundle::{Bundle, BundleId};
use crate::engine::Engine;
use crate::state::{Live, StateDir};

/// Wait until `dns/current` names a bundle (forever, checking every
/// `poll`), and return it.
pub fn wait_for_live(state: &StateDir, poll: Duration) -> Live {
    let mut told = false;
    loop {
        match state.live() {
            Ok(Some(live)) => return live,
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot read dns/current"),
        }
        if !told {
            info!(
                state = %state.root().display(),
                "no bundle promoted yet; waiting for dns/current"
            );
            told = true;
        }
        thread::sleep(poll);
    }
}

/// Start the thread that follows `dns/current` for `engine`, which serves
/// `loaded` now; `on_swap` is told of every bundle swapped in.
pub fn spawn(
    state: StateDir,
    engine: Arc<dyn Engine>,
    loaded: BundleId,
    poll: Duration,
    on_swap: impl Fn(&BundleId) + Send + 'static,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("follow-current".into())
        .spawn(move || follow(&state, engine.as_ref(), loaded, poll, &on_swap))
}

/// The follower's loop; never returns.
fn follow(
    state: &StateDir,
    engine: &dyn Engine,
    mut loaded: BundleId,
    poll: Duration,
    on_swap: &dyn Fn(&BundleId),
) {
    let (tx, rx) = mpsc::channel::<()>();
    let _watcher = watch(state.dns(), tx);
    // The last bundle that failed to load, not retried until current moves.
    let mut failed: Option<BundleId> = None;
    loop {
        let _ = rx.recv_timeout(poll);
        while rx.try_recv().is_ok() {}
        let live = match state.live() {
            Ok(Some(live)) => live,
            Ok(None) => continue,
            Err(e) => {
                warn!(error = %e, "cannot read dns/current");
                continue;
            }
        };
        if live.id == loaded || Some(live.id) == failed {
            continue;
        }
        let started = Instant::now();
        let result = Bundle::open(&live.path).and_then(|bundle| {
            if bundle.id() != live.id {
                warn!(
                    expected = %live.id,
                    found = %bundle.id(),
                    "dns/current's directory does not hash to its name"
                );
            }
            engine.reload(&bundle)
        });
        match result {
            Ok(()) => {
                info!(
                    bundle = %live.id,
                    took = ?started.elapsed(),
                    "swapped in the bundle dns/current names"
                );
                loaded = live.id;
                failed = None;
                on_swap(&loaded);
            }
            Err(e) => {
                error!(
                    bundle = %live.id,
                    error = %e,
                    "cannot load the promoted bundle; still serving {loaded}"
                );
                failed = Some(live.id);
            }
        }
    }
}

/// A `notify` watcher on `dir` sending on `tx` for every event; `None`
/// (polling only) when watching is not possible.
fn watch(dir: PathBuf, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    watch_dir(&dir, move |_| {
        let _ = tx.send(());
    })
}

/// A `notify` watcher on the directory of the file `path`, calling
/// `on_change` for every event about that file (and for errors of the
/// watcher, which may have missed one); `None`, with a warning, when
/// watching is not possible: the caller then relies on its poll.
pub fn watch_file(
    path: &Path,
    on_change: impl Fn() + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name()?.to_os_string();
    watch_dir(&dir, move |event| {
        let ours = event.is_none_or(|e| {
            e.paths.is_empty() || e.paths.iter().any(|p| p.file_name() == Some(&name))
        });
        if ours {
            on_change();
        }
    })
}

/// A `notify` watcher on the directory `dir` (not its subdirectories)
/// calling `on_event` for every event (`None` for an error of the
/// watcher); `None`, with a warning, when watching is not possible: the
/// caller then relies on its poll.
pub fn watch_dir(
    dir: &Path,
    on_event: impl Fn(Option<&notify::Event>) + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        on_event(event.as_ref().ok())
    })
    .ok()?;
    match watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "cannot watch; polling only");
            None
        }
    }
}
