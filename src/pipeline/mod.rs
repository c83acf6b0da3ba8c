//! The pipeline: watch `landing/`, taste each bundle in a sacrificial
//! `foodtaster` process, then poison or promote it.
//!
//! # Design
//!
//! One loop, one bundle at a time, oldest first. The loop wakes on a
//! `notify` event in `landing/` or after the poll interval (events can be
//! lost on some file systems), moves the oldest bundle to `foodtaster/`,
//! and runs the `foodtaster` binary on it as a child process under limits
//! it sets ([`limits`]: address space, CPU time, death with the pipeline)
//! and enforces (a wall-clock timeout, after which the child is killed).
//! How the child ended decides:
//!
//! | the taster | verdict |
//! |---|---|
//! | exit 0 with a `promote` verdict line | promote: `dns/bundles/<id>`, `dns/current` switched |
//! | killed at the timeout | poisoned: hung past T s |
//! | failed an allocation (`memory allocation of N bytes failed`) | poisoned: out of memory |
//! | SIGXCPU | poisoned: CPU limit |
//! | any other signal | poisoned: crashed by signal N |
//! | exit 1 with a `reject` verdict | poisoned: failed checks, with the list |
//!
//! Every change of the state directory goes through [`StateDir`], which
//! makes each one atomic; [`StateDir::recover`] runs before the loop, so a
//! pipeline killed at any moment picks up where it was.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{info, warn};

use crate::bundle::BundleId;
use crate::state::{StateDir, StateError, shorten};
use crate::taster::Verdict;

pub mod limits;

pub use limits::Limits;

/// The environment variable naming the `foodtaster` binary to run.
pub const FOODTASTER_ENV: &str = "STRIPEDNS_FOODTASTER";

/// Octets of the taster's stderr kept for the poison record.
const STDERR_TAIL: usize = 4096;

/// Why the pipeline stopped.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The state directory could not be read or changed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The taster could not be started.
    #[error("cannot run the food taster {}: {source}", path.display())]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// How the pipeline tastes.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The `foodtaster` binary.
    pub taster: PathBuf,
    /// Wall-clock time a tasting may take before the taster is killed.
    pub timeout: Duration,
    /// Limits set in the taster process.
    pub limits: Limits,
    /// How long one answer may take, passed to the taster.
    pub deadline: Duration,
    /// How often `landing/` is looked at without a `notify` event.
    pub poll: Duration,
}

impl PipelineConfig {
    /// The defaults: the taster found by [`locate_taster`], 300 s, 2 GiB of
    /// address space, 300 s of CPU, 2 s per answer, a poll every 2 s.
    pub fn new(taster: PathBuf) -> PipelineConfig {
        PipelineConfig {
            taster,
            timeout: Duration::from_secs(300),
            limits: Limits {
                memory_bytes: 2048 << 20,
                cpu_secs: 300,
            },
            deadline: Duration::from_secs(2),
            poll: Duration::from_secs(2),
        }
    }
}

/// The `foodtaster` binary: `$STRIPEDNS_FOODTASTER` if set, else the file
/// `foodtaster` beside the running executable (cargo builds both into the
/// same directory).
pub fn locate_taster() -> PathBuf {
    if let Some(path) = std::env::var_os(FOODTASTER_ENV) {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("foodtaster")))
        .unwrap_or_else(|| PathBuf::from("foodtaster"))
}

/// The outcome of one tasting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Promoted; the note says how many engines were tasted.
    Promoted(String),
    /// Poisoned, for this reason.
    Poisoned(String),
}

/// Recover the state, then taste every bundle that lands, forever.
pub fn run(state: &StateDir, config: &PipelineConfig) -> Result<(), PipelineError> {
    let recovery = state.recover()?;
    if !recovery.is_empty() {
        info!(?recovery, "recovered the state directory");
    }
    let (tx, rx) = mpsc::channel::<()>();
    let watcher = watch(&state.landing(), tx);
    if watcher.is_none() {
        warn!(poll = ?config.poll, "cannot watch landing/; polling only");
    }
    info!(
        state = %state.root().display(),
        taster = %config.taster.display(),
        "pipeline waiting for bundles in landing/"
    );
    loop {
        while let Some((id, path)) = state.take_next()? {
            taste_one(state, id, &path, config)?;
        }
        let _ = rx.recv_timeout(config.poll);
        while rx.try_recv().is_ok() {}
    }
}

/// A `notify` watcher on `dir` that sends on `tx` for every event.
fn watch(dir: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |_event| {
        let _ = tx.send(());
    })
    .ok()?;
    watcher
        .watch(dir, notify::RecursiveMode::NonRecursive)
        .ok()?;
    Some(watcher)
}

/// Taste the bundle `id` (already in `foodtaster/` at `path`) in a taster
/// process, then promote or poison it.
pub fn taste_one(
    state: &StateDir,
    id: BundleId,
    path: &Path,
    config: &PipelineConfig,
) -> Result<Decision, PipelineError> {
    info!(bundle = %id, "tasting");
    let started = Instant::now();
    let mut cmd = Command::new(&config.taster);
    cmd.arg(path)
        .arg("--deadline-ms")
        .arg(config.deadline.as_millis().max(1).to_string())
        // Fewer malloc arenas: each reserves address space, which counts
        // against the limit without being used.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limits::apply(&mut cmd, config.limits);
    let mut child = cmd.spawn().map_err(|source| PipelineError::Spawn {
        path: config.taster.clone(),
        source,
    })?;
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        1 << 20,
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        STDERR_TAIL,
    );
    let end = wait_or_kill(&mut child, config.timeout);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let decision = decide(&end, &stdout, &stderr, config);
    let took = started.elapsed();
    match &decision {
        Decision::Promoted(note) => {
            state.promote(id, note)?;
            info!(bundle = %id, ?took, note, "promoted; dns/current switched");
        }
        Decision::Poisoned(reason) => {
            state.poison(id, reason, &stderr)?;
            warn!(bundle = %id, ?took, reason, "poisoned");
        }
    }
    Ok(decision)
}

/// How the taster ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It exited, with this status.
    Exited(ExitStatus),
    /// It was still running at the timeout and was killed.
    TimedOut,
}

/// Wait for `child` up to `timeout`; kill it then.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> End {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return End::Exited(status),
            Ok(None) => {}
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    End::TimedOut
}

/// Read a pipe to its end on a thread, keeping its last `keep` octets.
fn drain(pipe: Option<Box<dyn Read + Send>>, keep: usize) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * keep {
                    kept.drain(..kept.len() - keep);
                }
            }
        }
        let start = kept.len().saturating_sub(keep);
        String::from_utf8_lossy(&kept[start..]).into_owned()
    })
}

/// The decision for a taster that ended as `end` after printing `stdout`
/// and `stderr`.
pub fn decide(end: &End, stdout: &str, stderr: &str, config: &PipelineConfig) -> Decision {
    use std::os::unix::process::ExitStatusExt;
    let out_of_memory = stderr.contains("memory allocation of");
    let status = match end {
        End::TimedOut => {
            return Decision::Poisoned(format!(
                "hung past {} s (killed at the timeout)",
                config.timeout.as_secs_f64()
            ));
        }
        End::Exited(status) => *status,
    };
    if out_of_memory {
        return Decision::Poisoned(format!(
            "out of memory (address-space limit {} MiB)",
            config.limits.memory_bytes >> 20
        ));
    }
    if let Some(signal) = status.signal() {
        if signal == libc::SIGXCPU {
            return Decision::Poisoned(format!(
                "CPU limit of {} s exceeded (signal {signal}, SIGXCPU)",
                config.limits.cpu_secs
            ));
        }
        return Decision::Poisoned(format!(
            "crashed by signal {signal} ({})",
            signal_name(signal)
        ));
    }
    let verdict = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Verdict>(l).ok());
    match (status.code(), verdict) {
        (Some(0), Some(v)) if v.promote() => Decision::Promoted(v.note),
        (_, Some(v)) if !v.promote() => {
            let mut list = v.failures.join("; ");
            if v.failed > v.failures.len() {
                list.push_str(&format!("; and {} more", v.failed - v.failures.len()));
            }
            Decision::Poisoned(shorten(
                &format!("failed checks ({} of {}): {list}", v.failed, v.checks),
                4000,
            ))
        }
        (code, _) => Decision::Poisoned(format!(
            "taster exited with status {} without a verdict",
            code.map_or("?".into(), |c| c.to_string())
        )),
    }
}

/// The name of signal `n`.
fn signal_name(n: i32) -> &'static str {
    match n {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn config() -> PipelineConfig {
        PipelineConfig::new(PathBuf::from("foodtaster"))
    }

    #[test]
    fn decisions_from_how_the_taster_ended() {
        let c = config();
        let signalled = End::Exited(ExitStatus::from_raw(libc::SIGABRT));
        assert_eq!(
            decide(&signalled, "", "", &c),
            Decision::Poisoned("crashed by signal 6 (SIGABRT)".into())
        );
        let oom = decide(
            &signalled,
            "",
            "memory allocation of 1048576 bytes failed\n",
            &c,
        );
        assert!(matches!(oom, Decision::Poisoned(r) if r.starts_with("out of memory")));
        let hung = decide(&End::TimedOut, "", "", &c);
        assert!(matches!(hung, Decision::Poisoned(r) if r.starts_with("hung past 300 s")));
        let xcpu = decide(
            &End::Exited(ExitStatus::from_raw(libc::SIGXCPU)),
            "",
            "",
            &c,
        );
        assert!(matches!(xcpu, Decision::Poisoned(r) if r.contains("CPU limit")));

        let mut v = Verdict::refused("x", "www.example.com. A: rcode SERVFAIL".into());
        let failed = decide(
            &End::Exited(ExitStatus::from_raw(1 << 8)),
            &v.to_json(),
            "",
            &c,
        );
        assert_eq!(
            failed,
            Decision::Poisoned("failed checks (1 of 1): www.example.com. A: rcode SERVFAIL".into())
        );
        v.verdict = "promote".into();
        v.note = "one engine".into();
        let ok = decide(&End::Exited(ExitStatus::from_raw(0)), &v.to_json(), "", &c);
        assert_eq!(ok, Decision::Promoted("one engine".into()));
        let silent = decide(&End::Exited(ExitStatus::from_raw(3 << 8)), "", "", &c);
        assert!(matches!(silent, Decision::Poisoned(r) if r.contains("status 3")));
    }
}
