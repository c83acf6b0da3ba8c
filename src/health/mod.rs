//! The health checker: probes the addresses of the live bundle's
//! health-checked fleet names and publishes their state for the kings.
//!
//! `stripedns health --state DIR` (a hidden subcommand that `up` runs and
//! restarts like the pipeline) reads the bundle `dns/current` names, its
//! [`FleetPolicy::checked`] names and the A and AAAA records of those
//! names in the zone files, and probes every address with its name's
//! [`HealthCheck`]: a TCP connect, or an HTTP/1.1 `GET` answered with the
//! expected status ([`probe`]). It writes what it found to
//! `DIR/health.json` ([`FILE_NAME`], the [`HealthFile`] format); the
//! workers of every king on that state directory follow the file
//! ([`watch::HealthWatcher`]) and hand its [`crate::fleet::HealthState`]
//! to their engine. Health is runtime data: it never goes through the
//! taster and never touches the bundle.
//!
//! # Design
//!
//! - **State per address** ([`Tracker`]): every address starts healthy;
//!   `unhealthy_threshold` failures in a row take it down,
//!   `healthy_threshold` successes in a row bring it back, as a load
//!   balancer's target health works.
//! - **No thundering herd**: each address has its own schedule, a random
//!   first probe within one interval ([`first_delay`]), then one interval
//!   plus or minus up to 20% ([`next_delay`]).
//! - **Bounded**: a probe never outlives its timeout (the future is
//!   dropped with its socket), and at most [`MAX_IN_FLIGHT`] probes run at
//!   once; at most [`MAX_TARGETS`] addresses are checked.
//! - **Publishing**: whenever an address changes state, and at least every
//!   few intervals ([`refresh_every`]), the whole file is written under a
//!   temporary name and renamed over `health.json`, so a reader sees the
//!   old file or the new one, never half of one. A thread of its own
//!   writes it, so a slow disk delays the file, never the probes, and
//!   another fsyncs it after the rename: an fsync took seconds on a busy
//!   disk in the tests, and durability must not delay a failover (the
//!   state is rebuilt at start anyway: every address starts healthy).
//! - **Following the bundle**: `dns/` is watched (`notify`, and a poll
//!   every second); when `dns/current` moves, the targets are read again,
//!   and the addresses that remain keep their state.
//!
//! ```
//! use stripedns::fleet::{HealthCheck, Protocol};
//! use stripedns::health::Tracker;
//! let check = HealthCheck {
//!     protocol: Protocol::Tcp, port: 80, path: "/".into(), status: 200,
//!     interval_ms: 1000, timeout_ms: 500, healthy_threshold: 2, unhealthy_threshold: 3,
//! };
//! let mut t = Tracker::new(0);
//! assert!(!t.record(Err("refused".into()), &check, 1));
//! assert!(!t.record(Err("refused".into()), &check, 2));
//! assert!(t.record(Err("refused".into()), &check, 3)); // third failure: down
//! assert!(!t.healthy && t.since_unix_ms == 3);
//! ```

pub mod probe;
pub mod watch;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::bundle::{Bundle, BundleError, BundleId};
use crate::engine::native::name::Name;
use crate::engine::native::record::{class, rtype};
use crate::engine::native::zonefile;
use crate::fleet::{AddressHealth, FleetPolicy, HealthCheck, HealthFile};
use crate::state::{StateDir, format_utc, unix_ms};

/// The file the checker publishes in the state directory.
pub const FILE_NAME: &str = "health.json";

/// Probes running at once, over all addresses.
pub const MAX_IN_FLIGHT: usize = 64;

/// Addresses checked at most; the rest are left healthy, with a warning.
pub const MAX_TARGETS: usize = 10_000;

/// How often `dns/current` is looked at when no file-system event comes.
const BUNDLE_POLL: Duration = Duration::from_secs(1);

/// A write of the health file that takes this long is logged: it delays
/// every reader.
const SLOW_WRITE: Duration = Duration::from_millis(100);

/// The largest deviation of one wait from the interval, as a fraction.
pub const JITTER: f64 = 0.2;

/// One address to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The fleet name, absolute, as `bundle.toml` writes it.
    pub name: String,
    /// An address of one of its A or AAAA records.
    pub address: IpAddr,
    /// How to probe it.
    pub check: HealthCheck,
}

/// The addresses the checker probes for `bundle`: those of the A and
/// AAAA records owned by each health-checked fleet name, in the zone that
/// holds the name (the closest enclosing origin), each once.
pub fn targets(bundle: &Bundle) -> Result<Vec<Target>, BundleError> {
    let policy = FleetPolicy::from_bundle(bundle)?;
    let checked: Vec<_> = policy.checked().collect();
    if checked.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<_> = checked
        .into_iter()
        .filter_map(|(fleet, check)| {
            Some((Name::parse(fleet.name.as_bytes(), None).ok()?, fleet, check))
        })
        .collect();
    // Only the zones that may hold a checked name are read.
    let mut zones = Vec::new();
    for file in bundle.zones() {
        let origin =
            Name::parse(file.origin.as_bytes(), None).map_err(|e| BundleError::BadOrigin {
                path: file.path.clone(),
                reason: e.to_string(),
            })?;
        if names
            .iter()
            .any(|(name, _, _)| name.is_at_or_below(&origin))
        {
            zones.push((origin, zonefile::load_zone(bundle, file)?));
        }
    }
    let mut out = Vec::new();
    for (name, fleet, check) in names {
        let Some((_, zone)) = zones
            .iter()
            .filter(|(origin, _)| name.is_at_or_below(origin))
            .max_by_key(|(origin, _)| origin.label_count())
        else {
            warn!(name = %fleet.name, "health-checked name is in no zone of the bundle");
            continue;
        };
        let mut found: Vec<IpAddr> = zone
            .records
            .iter()
            .filter(|r| r.class == class::IN && r.owner.eq_ignore_case(&name))
            .filter_map(|r| address_of(r.rtype, &r.rdata))
            .collect();
        found.sort();
        found.dedup();
        if found.is_empty() {
            warn!(name = %fleet.name, "health-checked name has no A or AAAA records");
        }
        out.extend(found.into_iter().map(|address| Target {
            name: fleet.name.clone(),
            address,
            check: check.clone(),
        }));
    }
    Ok(out)
}

/// The address in the RDATA of an A or AAAA record.
fn address_of(rtype: u16, rdata: &[u8]) -> Option<IpAddr> {
    match rtype {
        rtype::A => <[u8; 4]>::try_from(rdata)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        rtype::AAAA => <[u8; 16]>::try_from(rdata)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

/// The state of one address, moved by probe results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    /// Whether answers carry the address.
    pub healthy: bool,
    /// Since when it is in this state, ms since the Unix epoch.
    pub since_unix_ms: u64,
    /// Why the last probe failed; `None` after a success.
    pub last_error: Option<String>,
    /// Results in a row that disagree with the state.
    streak: u32,
}

impl Tracker {
    /// A healthy address, first seen at `now_ms`.
    pub fn new(now_ms: u64) -> Tracker {
        Tracker {
            healthy: true,
            since_unix_ms: now_ms,
            last_error: None,
            streak: 0,
        }
    }

    /// Count one probe result at `now_ms`; true when the address changed
    /// state (after `check.unhealthy_threshold` failures in a row, or
    /// `check.healthy_threshold` successes in a row).
    pub fn record(&mut self, result: Result<(), String>, check: &HealthCheck, now_ms: u64) -> bool {
        let ok = result.is_ok();
        self.last_error = result.err();
        if ok == self.healthy {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        let threshold = if ok {
            check.healthy_threshold
        } else {
            check.unhealthy_threshold
        };
        if self.streak < threshold.max(1) {
            return false;
        }
        self.healthy = ok;
        self.since_unix_ms = now_ms;
        self.streak = 0;
        true
    }
}

/// The wait before an address's first probe: uniform within one
/// interval, so addresses loaded together are not probed together.
pub fn first_delay(interval: Duration) -> Duration {
    interval.mul_f64(fastrand::f64())
}

/// The wait between two probes of one address: the interval, plus or
/// minus up to [`JITTER`] of it, uniformly.
pub fn next_delay(interval: Duration) -> Duration {
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * fastrand::f64())
}

/// How often the file is written when nothing changes: every five of the
/// shortest intervals, between 1 and 60 s, so readers and `status` can
/// tell a live checker from a dead one by the file's age.
pub fn refresh_every(targets: &[Target]) -> Duration {
    let shortest = targets
        .iter()
        .map(|t| t.check.interval_ms)
        .min()
        .unwrap_or(2000);
    Duration::from_millis(shortest.saturating_mul(5))
        .clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// The file for `trackers` (keyed by name and address) of `bundle`.
pub fn health_file(
    bundle: BundleId,
    trackers: &BTreeMap<(String, IpAddr), Tracker>,
    now_ms: u64,
) -> HealthFile {
    HealthFile {
        written_unix_ms: now_ms,
        bundle: bundle.to_hex(),
        addresses: trackers
            .iter()
            .map(|((name, address), t)| AddressHealth {
                name: name.clone(),
                address: *address,
                healthy: t.healthy,
                since_unix_ms: t.since_unix_ms,
                last_error: t.last_error.clone(),
            })
            .collect(),
    }
}

/// Write `file` to `path` whole: a temporary name beside it, renamed
/// over `path`, so a reader sees the old file or the new one, never half
/// of one. [`sync`] makes it durable afterwards.
pub fn publish(path: &Path, file: &HealthFile) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(file).map_err(io::Error::other)?;
    bytes.push(b'\n');
    crate::state::replace_file(path, "health", &bytes)
}

/// Flush the file at `path` and its directory entry to disk.
pub fn sync(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// One probe result, from a target's task to the checker's loop.
#[derive(Debug)]
struct Report {
    /// The fleet name.
    name: String,
    /// The address probed.
    address: IpAddr,
    /// The result.
    result: Result<(), String>,
}

/// A running prober: its check and its task.
#[derive(Debug)]
struct Prober {
    /// The check it runs (a changed check restarts the task).
    check: HealthCheck,
    /// Its task, aborted when the target goes.
    task: JoinHandle<()>,
}

/// The checker's state.
#[derive(Debug)]
struct Checker {
    /// The state directory.
    state: StateDir,
    /// The bundle whose targets are probed.
    loaded: Option<BundleId>,
    /// The last bundle whose targets could not be read.
    failed: Option<BundleId>,
    /// The state of every address.
    trackers: BTreeMap<(String, IpAddr), Tracker>,
    /// The task probing every address.
    probers: HashMap<(String, IpAddr), Prober>,
    /// How often to write the file when nothing changes.
    refresh: Duration,
    /// Where probers send their results.
    reports: mpsc::UnboundedSender<Report>,
    /// Where the file goes to be written.
    writer: std::sync::mpsc::Sender<HealthFile>,
    /// The bound on probes in flight.
    permits: Arc<Semaphore>,
}

impl Checker {
    /// Look at `dns/current`; when it names a bundle other than the one
    /// probed, read its targets and start over, keeping the state of the
    /// addresses that remain. True when the targets changed.
    fn reload(&mut self) -> bool {
        let live = match self.state.live() {
            Ok(Some(live)) => live,
            Ok(None) => return false,
            Err(e) => {
                warn!(error = %e, "cannot read dns/current");
                return false;
            }
        };
        if Some(live.id) == self.loaded || Some(live.id) == self.failed {
            return false;
        }
        let mut targets = match Bundle::open(&live.path).and_then(|b| targets(&b)) {
            Ok(t) => t,
            Err(e) => {
                error!(bundle = %live.id, error = %e, "cannot read the health checks of the live bundle");
                self.failed = Some(live.id);
                return false;
            }
        };
        if targets.len() > MAX_TARGETS {
            warn!(
                targets = targets.len(),
                checked = MAX_TARGETS,
                "too many addresses to check; the rest count as healthy"
            );
            targets.truncate(MAX_TARGETS);
        }
        let now = unix_ms();
        let keys: HashMap<(String, IpAddr), &Target> = targets
            .iter()
            .map(|t| ((t.name.clone(), t.address), t))
            .collect();
        self.trackers.retain(|k, _| keys.contains_key(k));
        self.probers.retain(|k, p| {
            let keep = keys.get(k).is_some_and(|t| t.check == p.check);
            if !keep {
                p.task.abort();
            }
            keep
        });
        for (key, target) in keys {
            self.trackers
                .entry(key.clone())
                .or_insert_with(|| Tracker::new(now));
            if !self.probers.contains_key(&key) {
                let task = tokio::spawn(run_prober(
                    target.clone(),
                    Arc::clone(&self.permits),
                    self.reports.clone(),
                ));
                self.probers.insert(
                    key,
                    Prober {
                        check: target.check.clone(),
                        task,
                    },
                );
            }
        }
        info!(
            bundle = %live.id,
            addresses = targets.len(),
            "checking the health of the live bundle's fleet addresses"
        );
        self.refresh = refresh_every(&targets);
        self.loaded = Some(live.id);
        self.failed = None;
        true
    }

    /// Count one probe result; true when an address changed state.
    fn record(&mut self, report: Report) -> bool {
        let key = (report.name, report.address);
        let (Some(t), Some(p)) = (self.trackers.get_mut(&key), self.probers.get(&key)) else {
            return false;
        };
        let changed = t.record(report.result, &p.check, unix_ms());
        if changed {
            if t.healthy {
                info!(name = %key.0, address = %key.1, "healthy again");
            } else {
                warn!(
                    name = %key.0,
                    address = %key.1,
                    error = t.last_error.as_deref().unwrap_or(""),
                    "down: left out of answers"
                );
            }
        }
        changed
    }

    /// Hand the file to the writer, if a bundle is loaded.
    fn publish(&self) {
        if let Some(bundle) = self.loaded {
            let _ = self
                .writer
                .send(health_file(bundle, &self.trackers, unix_ms()));
        }
    }
}

/// Start the thread that writes health files to `path`, newest first, so
/// a slow disk delays the file, never the probes; after each write it
/// asks a second thread to fsync it, so the fsync (which takes seconds on
/// a busy disk) delays nothing a reader sees. Both end when the sender is
/// dropped, after writing what was sent.
fn start_writer(
    path: PathBuf,
) -> io::Result<(
    std::sync::mpsc::Sender<HealthFile>,
    std::thread::JoinHandle<()>,
)> {
    let (tx, rx) = std::sync::mpsc::channel::<HealthFile>();
    let (sync_tx, sync_rx) = std::sync::mpsc::channel::<()>();
    let synced = path.clone();
    let syncer = std::thread::Builder::new()
        .name("health-sync".into())
        .spawn(move || {
            while sync_rx.recv().is_ok() {
                while sync_rx.try_recv().is_ok() {}
                if let Err(e) = sync(&synced) {
                    warn!(file = %synced.display(), error = %e, "cannot fsync the health file");
                }
            }
        })?;
    let thread = std::thread::Builder::new()
        .name("health-writer".into())
        .spawn(move || {
            while let Ok(mut file) = rx.recv() {
                // Only the newest of those waiting matters.
                while let Ok(newer) = rx.try_recv() {
                    file = newer;
                }
                let started = std::time::Instant::now();
                if let Err(e) = publish(&path, &file) {
                    error!(file = %path.display(), error = %e, "cannot write the health file");
                }
                let took = started.elapsed();
                if took >= SLOW_WRITE {
                    warn!(file = %path.display(), took_ms = took.as_millis() as u64, "writing the health file was slow");
                }
                let _ = sync_tx.send(());
            }
            drop(sync_tx);
            let _ = syncer.join();
        })?;
    Ok((tx, thread))
}

/// Probe `target` forever on its own jittered schedule, sending each
/// result to `reports`.
async fn run_prober(
    target: Target,
    permits: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let interval = Duration::from_millis(target.check.interval_ms);
    tokio::time::sleep(first_delay(interval)).await;
    loop {
        let started = tokio::time::Instant::now();
        let result = match permits.acquire().await {
            Ok(_permit) => probe::probe(&target.name, target.address, &target.check).await,
            Err(_) => return,
        };
        let report = Report {
            name: target.name.clone(),
            address: target.address,
            result,
        };
        if reports.send(report).is_err() {
            return;
        }
        tokio::time::sleep_until(started + next_delay(interval)).await;
    }
}

/// Run the checker on `state` until SIGTERM or SIGINT.
pub fn run(state: StateDir) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let shutdown = crate::server::shutdown_signal()?;
        tokio::pin!(shutdown);
        let (reports, mut results) = mpsc::unbounded_channel();
        let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
        let _watcher = crate::follow::watch_dir(&state.dns(), move |_| {
            let _ = events_tx.send(());
        });
        let (writer, written) = start_writer(state.root().join(FILE_NAME))?;
        let mut checker = Checker {
            writer,
            state,
            loaded: None,
            failed: None,
            trackers: BTreeMap::new(),
            probers: HashMap::new(),
            refresh: refresh_every(&[]),
            reports,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        };
        if checker.state.live().ok().flatten().is_none() {
            info!("no bundle promoted yet; waiting for dns/current");
        }
        if checker.reload() {
            checker.publish();
        }
        let mut poll = tokio::time::interval(BUNDLE_POLL);
        let mut last_publish = tokio::time::Instant::now();
        loop {
            let refresh_at = last_publish + checker.refresh;
            tokio::select! {
                () = &mut shutdown => break,
                _ = poll.tick() => {
                    if checker.reload() {
                        checker.publish();
                        last_publish = tokio::time::Instant::now();
                    }
                }
                Some(()) = events.recv() => {
                    while events.try_recv().is_ok() {}
                    if checker.reload() {
                        checker.publish();
                        last_publish = tokio::time::Instant::now();
                    }
                }
                Some(report) = results.recv() => {
                    if checker.record(report) {
                        checker.publish();
                        last_publish = tokio::time::Instant::now();
                    }
                }
                () = tokio::time::sleep_until(refresh_at) => {
                    checker.publish();
                    last_publish = tokio::time::Instant::now();
                }
            }
        }
        for p in checker.probers.values() {
            p.task.abort();
        }
        drop(checker);
        let _ = written.join();
        info!("health checker stopped");
        Ok(())
    })
}

/// What `stripedns status` prints about `path` (a health file): one line
/// per address (name, address, healthy or down, since when, the last
/// error), at `now_ms`.
pub fn status_text(path: &Path, now_ms: u64) -> String {
    let file = match watch::read(path) {
        watch::Read::Missing => {
            return format!(
                "health: no {} (no health checker has run; every address counts as healthy)\n",
                path.display()
            );
        }
        watch::Read::Bad(e) => return format!("health: {e}\n"),
        watch::Read::File(file) => file,
    };
    let healthy = file.addresses.iter().filter(|a| a.healthy).count();
    let age = now_ms.saturating_sub(file.written_unix_ms) / 1000;
    let mut text = format!(
        "health: {healthy} of {} addresses healthy (written {}, {age} s ago, bundle {})\n",
        file.addresses.len(),
        format_utc(file.written_unix_ms / 1000),
        crate::state::shorten(&file.bundle, 12),
    );
    if file.addresses.is_empty() {
        return text;
    }
    let width = file
        .addresses
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(0);
    text.push_str(&format!(
        "  {:<width$}  {:<39}  {:<7}  {:<20}  LAST ERROR\n",
        "NAME", "ADDRESS", "STATE", "SINCE"
    ));
    for a in &file.addresses {
        text.push_str(&format!(
            "  {:<width$}  {:<39}  {:<7}  {:<20}  {}\n",
            a.name,
            a.address.to_string(),
            if a.healthy { "healthy" } else { "down" },
            format_utc(a.since_unix_ms / 1000),
            a.last_error.as_deref().unwrap_or("-"),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Protocol;

    fn check(healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck {
            protocol: Protocol::Http,
            port: 8080,
            path: "/".into(),
            status: 200,
            interval_ms: 1000,
            timeout_ms: 500,
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
    }

    fn fail() -> Result<(), String> {
        Err("connect: refused".into())
    }

    #[test]
    fn thresholds_flip_state_only_on_consecutive_results() {
        let c = check(2, 3);
        let mut t = Tracker::new(10);
        assert!(t.healthy);
        // Two failures, a success: the count starts again.
        assert!(!t.record(fail(), &c, 11));
        assert!(!t.record(fail(), &c, 12));
        assert!(!t.record(Ok(()), &c, 13));
        assert!(t.healthy && t.last_error.is_none() && t.since_unix_ms == 10);
        assert!(!t.record(fail(), &c, 14));
        assert!(!t.record(fail(), &c, 15));
        assert!(t.record(fail(), &c, 16));
        assert!(!t.healthy);
        assert_eq!(t.since_unix_ms, 16);
        assert_eq!(t.last_error.as_deref(), Some("connect: refused"));
        // More failures change nothing; one success is not enough.
        assert!(!t.record(fail(), &c, 17));
        assert!(!t.record(Ok(()), &c, 18));
        assert!(!t.healthy && t.last_error.is_none());
        assert!(!t.record(fail(), &c, 19));
        assert!(!t.record(Ok(()), &c, 20));
        assert!(t.record(Ok(()), &c, 21));
        assert!(t.healthy);
        assert_eq!(t.since_unix_ms, 21);
    }

    #[test]
    fn threshold_one_flips_at_once() {
        let c = check(1, 1);
        let mut t = Tracker::new(0);
        assert!(t.record(fail(), &c, 1));
        assert!(t.record(Ok(()), &c, 2));
    }

    #[test]
    fn jitter_stays_in_bounds_and_spreads() {
        let interval = Duration::from_millis(1000);
        let mut firsts = Vec::new();
        for _ in 0..2000 {
            let d = next_delay(interval);
            assert!(
                d >= Duration::from_millis(800) && d <= Duration::from_millis(1200),
                "{d:?}"
            );
            let f = first_delay(interval);
            assert!(f < interval, "{f:?}");
            firsts.push(f.as_millis() / 100);
        }
        // The first probes spread over the whole interval: every tenth of
        // it gets some (the chance that one gets none is below 1e-90).
        for tenth in 0..10 {
            assert!(firsts.contains(&tenth), "no first probe in tenth {tenth}");
        }
        let nexts: std::collections::BTreeSet<_> =
            (0..100).map(|_| next_delay(interval).as_millis()).collect();
        assert!(nexts.len() > 10, "{nexts:?}");
    }

    #[test]
    fn refresh_follows_the_shortest_interval_within_bounds() {
        let t = |ms| Target {
            name: "a.".into(),
            address: "127.0.0.2".parse().unwrap(),
            check: HealthCheck {
                interval_ms: ms,
                ..check(2, 2)
            },
        };
        assert_eq!(refresh_every(&[t(1000), t(400)]), Duration::from_secs(2));
        assert_eq!(refresh_every(&[t(100)]), Duration::from_secs(1));
        assert_eq!(refresh_every(&[t(3_600_000)]), Duration::from_secs(60));
        assert_eq!(refresh_every(&[]), Duration::from_secs(10));
    }

    /// A bundle with a health-checked name in a child zone, an unchecked
    /// one, and a name checked in `bundle.toml` without records.
    fn fleet_bundle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let soa = "@ IN SOA ns hostmaster 1 7200 3600 1209600 60\n@ IN NS ns\nns IN A 192.0.2.1\n";
        std::fs::write(
            dir.path().join("example.com.zone"),
            format!(
                "$ORIGIN example.com.\n$TTL 60\n{soa}\
                 www IN A 127.0.0.3\nwww IN A 127.0.0.2\nwww IN AAAA ::1\nwww IN TXT \"x\"\n\
                 api IN A 127.0.0.9\nkid IN NS ns.kid\nns.kid IN A 127.0.0.8\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("kid.example.com.zone"),
            "$ORIGIN kid.example.com.\n$TTL 60\n@ IN SOA ns hostmaster 1 7200 3600 1209600 60\n\
             @ IN NS ns\nns IN A 127.0.0.7\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("bundle.toml"),
            "[[fleet]]\nname = \"WWW.example.com.\"\n\
             health = { protocol = \"tcp\", port = 8080, interval_ms = 500, timeout_ms = 200 }\n\
             [[fleet]]\nname = \"ns.kid.example.com.\"\n\
             health = { protocol = \"http\", port = 80 }\n\
             [[fleet]]\nname = \"api.example.com.\"\nmax_answers = 1\n\
             [[fleet]]\nname = \"none.example.com.\"\nhealth = { protocol = \"tcp\", port = 1 }\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn targets_are_the_addresses_of_checked_names_in_their_zone() {
        let dir = fleet_bundle();
        let bundle = Bundle::open(dir.path()).unwrap();
        let found: Vec<(String, String, u16)> = targets(&bundle)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.address.to_string(), t.check.port))
            .collect();
        let s = |n: &str, a: &str, p| (n.to_string(), a.to_string(), p);
        assert_eq!(
            found,
            [
                s("WWW.example.com.", "127.0.0.2", 8080),
                s("WWW.example.com.", "127.0.0.3", 8080),
                s("WWW.example.com.", "::1", 8080),
                // The child zone's record, not the parent's glue.
                s("ns.kid.example.com.", "127.0.0.7", 80),
            ]
        );
    }

    #[test]
    fn a_bundle_without_checks_has_no_targets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("example.com.zone"),
            "$ORIGIN example.com.\n@ 60 IN SOA ns h 1 2 3 4 5\n@ 60 IN NS ns\nns 60 IN A 192.0.2.1\n",
        )
        .unwrap();
        assert!(
            targets(&Bundle::open(dir.path()).unwrap())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn publishing_replaces_the_file_whole_and_status_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(status_text(&path, 0).contains("no health checker has run"));
        let c = check(1, 1);
        let mut trackers = BTreeMap::new();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        trackers.insert(("www.example.com.".to_string(), a), Tracker::new(1_000));
        let mut down = Tracker::new(1_000);
        down.record(
            Err("connect to 127.0.0.3:80: refused".into()),
            &c,
            1_764_000_000_000,
        );
        trackers.insert(("www.example.com.".to_string(), b), down);
        let id: BundleId = "ab".repeat(32).parse().unwrap();
        let file = health_file(id, &trackers, 1_764_000_005_000);
        publish(&path, &file).unwrap();
        publish(&path, &file).unwrap();
        // Only the file itself is left: the temporary was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
        let back = HealthFile::parse(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, file);
        let www = crate::fleet::wire_lower("www.example.com.").unwrap();
        assert_eq!(back.state().down(&www), &[b]);
        let text = status_text(&path, 1_764_000_007_000);
        assert!(
            text.starts_with("health: 1 of 2 addresses healthy (written 2025-11-24T16:00:05Z, 2 s ago, bundle abababababab"),
            "{text}"
        );
        let line = text.lines().find(|l| l.contains("127.0.0.3")).unwrap();
        assert!(line.contains("down"), "{line}");
        assert!(line.contains("2025-11-24T16:00:00Z"), "{line}");
        assert!(line.contains("connect to 127.0.0.3:80: refused"), "{line}");
        std::fs::write(&path, "{").unwrap();
        assert!(status_text(&path, 0).contains(&path.display().to_string()));
    }
}
