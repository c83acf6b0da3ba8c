//! Metrics an operator can graph: query counts by POP, stripe, engine,
//! query type and RCODE, truncations, blacklist drops, worker restarts,
//! bundle swaps and the live bundle, taster verdicts and address health,
//! served in the Prometheus text format.
//!
//! # Design
//!
//! - **Counting** ([`counters`]): every worker thread counts the queries it
//!   answers into its own block of its slot's shared memory, with relaxed
//!   atomic additions (no lock, no allocation). The king maps the same
//!   slots, so [`PopMetrics::snapshot`] sums them at any time; the slot
//!   outlives the worker, so a restarted worker continues the counts.
//! - **King-side facts**: the king counts worker restarts (by cause) and
//!   bundle swaps in [`PopMetrics`], from its supervision loop, which
//!   also notices the bundle every serving worker reports in its slot.
//! - **Serving**: `serve --metrics ADDR:PORT` renders the king's
//!   [`PopSnapshot`] on each `GET /metrics` ([`http`]).
//! - **Under `up`**: each king with a state directory writes its snapshot
//!   as JSON to `STATE/metrics/pop-<name>.json` every second (written whole
//!   and renamed, [`publish_loop`]). `up` serves one endpoint that reads
//!   those files, the verdict log and `health.json` at scrape time
//!   ([`pipeline`]) and renders them all, each family once. Files are the
//!   simplest robust channel: kings and `up` share the state directory
//!   already, a king that dies leaves its last counts readable, and `up`
//!   needs no connection to any child. A king that starts on a state
//!   directory counts on from its POP's last snapshot there
//!   ([`PopMetrics::continue_from`]), so a king restarted by `up` does not
//!   reset the POP's counters (`up` clears the snapshots when it starts).
//!
//! ```
//! use stripedns::metrics::{PopSnapshot, render};
//!
//! let pop = PopSnapshot { pop: "ams".into(), stripe: 1, engine: "native".into(),
//!                         blacklist_drops: 2, ..PopSnapshot::default() };
//! let text = render(&[(pop, true)], None);
//! assert!(text.contains("stripedns_blacklist_drops_total{pop=\"ams\",stripe=\"1\",engine=\"native\"} 2\n"));
//! ```

pub mod counters;
pub mod http;
pub mod pipeline;
pub mod text;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::bundle::BundleId;
use crate::engine::EngineKind;
use crate::slot::{Slot, State};
use crate::state::{StateDir, unix_ms};
use crate::topology::Pop;
use counters::Totals;
use http::Endpoint;
use pipeline::PipelineSnapshot;
use text::{Kind, TextWriter};

/// The directory of the kings' snapshot files in a state directory.
pub const SNAPSHOT_DIR: &str = "metrics";
/// How often a king writes its snapshot file.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// A snapshot older than this counts as from a king that is not running.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// Why a worker was restarted, as the restarts counter labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartCause {
    /// Killed by a signal (a crash, the OOM killer).
    Signal,
    /// Killed by the king's watchdog: a query kept it busy too long.
    Watchdog,
    /// Exited on its own (a load failure, an error).
    Exit,
}

impl RestartCause {
    /// Every cause, in counter order.
    const ALL: [RestartCause; 3] = [
        RestartCause::Signal,
        RestartCause::Watchdog,
        RestartCause::Exit,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCause::Signal => "signal",
            RestartCause::Watchdog => "watchdog",
            RestartCause::Exit => "exit",
        }
    }
}

/// Who a king is, for the labels of its series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopLabels {
    /// The POP's name.
    pub pop: String,
    /// Its stripe.
    pub stripe: u32,
    /// Its engine.
    pub engine: EngineKind,
}

/// A king's live metrics: its workers' slots and what the king itself
/// counts. Shared between the supervision loop and the metrics threads.
#[derive(Debug)]
pub struct PopMetrics {
    /// The labels of every series.
    labels: PopLabels,
    /// Every worker position's slot.
    slots: Vec<Arc<Slot>>,
    /// Worker restarts, by [`RestartCause::ALL`] order.
    restarts: [AtomicU64; 3],
    /// Times the bundle every serving worker serves changed.
    swaps: AtomicU64,
    /// The bundle every serving worker serves, once they agree.
    bundle: Mutex<Option<BundleId>>,
    /// The counts an earlier king of the same POP published, continued
    /// from (see [`PopMetrics::continue_from`]).
    earlier: Option<PopSnapshot>,
}

impl PopMetrics {
    /// Metrics over these slots, nothing counted by the king yet.
    pub fn new(labels: PopLabels, slots: Vec<Arc<Slot>>) -> PopMetrics {
        PopMetrics {
            labels,
            slots,
            restarts: Default::default(),
            swaps: AtomicU64::new(0),
            bundle: Mutex::new(None),
            earlier: None,
        }
    }

    /// Count on from `earlier`, the last snapshot a previous king of this
    /// POP published, so a restarted king (under `up`) does not reset the
    /// POP's counters. Ignored when it names another POP, stripe or
    /// engine.
    pub fn continue_from(&mut self, earlier: PopSnapshot) {
        if earlier.pop == self.labels.pop
            && earlier.stripe == self.labels.stripe
            && earlier.engine == self.labels.engine.as_str()
        {
            self.earlier = Some(earlier);
        }
    }

    /// Count one worker restart.
    pub fn restarted(&self, cause: RestartCause) {
        let i = RestartCause::ALL
            .iter()
            .position(|c| *c == cause)
            .unwrap_or(0);
        self.restarts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Look at the bundles the serving workers report: when they all agree
    /// on one other than the last, that is the POP's live bundle now, and
    /// a swap unless it is the first. Called from the supervision loop.
    pub fn observe_bundle(&self) {
        let mut agreed = None;
        for slot in &self.slots {
            if slot.state() != State::Serving {
                continue;
            }
            match (slot.bundle(), agreed) {
                (None, _) => return,
                (Some(id), None) => agreed = Some(id),
                (Some(id), Some(a)) if id != a => return,
                _ => {}
            }
        }
        let Some(id) = agreed else { return };
        let mut live = self.bundle.lock().unwrap_or_else(|e| e.into_inner());
        if *live != Some(id) {
            if live.is_some() {
                self.swaps.fetch_add(1, Ordering::Relaxed);
            }
            *live = Some(id);
        }
    }

    /// Everything counted so far.
    pub fn snapshot(&self) -> PopSnapshot {
        let mut totals = Totals::default();
        let mut serving = 0;
        for slot in &self.slots {
            for e in 0..slot.entries() {
                slot.counters(e).add_to(&mut totals);
            }
            serving += u64::from(slot.state() == State::Serving);
        }
        let restarts = RestartCause::ALL
            .iter()
            .zip(&self.restarts)
            .map(|(c, n)| (c.as_str().to_string(), n.load(Ordering::Relaxed)))
            .collect();
        let mut now = PopSnapshot {
            pop: self.labels.pop.clone(),
            stripe: self.labels.stripe,
            engine: self.labels.engine.as_str().to_string(),
            written_unix_ms: unix_ms(),
            queries: totals
                .query_counts()
                .into_iter()
                .map(|(transport, qtype, rcode, count)| QueryCount {
                    transport: transport.into(),
                    qtype: qtype.into(),
                    rcode: rcode.into(),
                    count,
                })
                .collect(),
            truncated: totals.truncated,
            blacklist_drops: totals.blacklist_drops,
            unanswered: totals.unanswered,
            restarts,
            swaps: self.swaps.load(Ordering::Relaxed),
            bundle: self
                .bundle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .map(|id| id.to_hex()),
            workers: self.slots.len() as u64,
            workers_serving: serving,
        };
        if let Some(earlier) = &self.earlier {
            now.add_counts(earlier);
        }
        now
    }
}

/// One count of answered queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCount {
    /// `udp` or `tcp`.
    pub transport: String,
    /// The query type class (`A`, `AAAA`, ..., `other`).
    pub qtype: String,
    /// The RCODE class (`NOERROR`, ..., `other`).
    pub rcode: String,
    /// How many.
    pub count: u64,
}

/// A king's counts at one moment: what its endpoint renders and what it
/// publishes for `up` (as JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopSnapshot {
    /// The POP's name.
    pub pop: String,
    /// Its stripe.
    pub stripe: u32,
    /// Its engine.
    pub engine: String,
    /// When the snapshot was taken, ms since the Unix epoch.
    pub written_unix_ms: u64,
    /// Non-zero counts of answered queries.
    pub queries: Vec<QueryCount>,
    /// Responses sent with TC=1.
    pub truncated: u64,
    /// Queries dropped by the blacklist.
    pub blacklist_drops: u64,
    /// Queries the engine did not answer.
    pub unanswered: u64,
    /// Worker restarts by cause.
    pub restarts: Vec<(String, u64)>,
    /// Bundle swaps.
    pub swaps: u64,
    /// The live bundle (hex id), once the workers agree on one.
    pub bundle: Option<String>,
    /// Worker positions.
    pub workers: u64,
    /// Workers serving now.
    pub workers_serving: u64,
}

impl PopSnapshot {
    /// Add the counters of `other` (not its gauges) to these.
    pub fn add_counts(&mut self, other: &PopSnapshot) {
        for q in &other.queries {
            let same = |c: &&mut QueryCount| {
                c.transport == q.transport && c.qtype == q.qtype && c.rcode == q.rcode
            };
            match self.queries.iter_mut().find(same) {
                Some(c) => c.count = c.count.saturating_add(q.count),
                None => self.queries.push(q.clone()),
            }
        }
        for (cause, n) in &other.restarts {
            match self.restarts.iter_mut().find(|(c, _)| c == cause) {
                Some((_, m)) => *m = m.saturating_add(*n),
                None => self.restarts.push((cause.clone(), *n)),
            }
        }
        self.truncated = self.truncated.saturating_add(other.truncated);
        self.blacklist_drops = self.blacklist_drops.saturating_add(other.blacklist_drops);
        self.unanswered = self.unanswered.saturating_add(other.unanswered);
        self.swaps = self.swaps.saturating_add(other.swaps);
    }

    /// The file a king publishes this POP's snapshot to in `state`: the
    /// POP's name with anything but letters, digits, `-`, `_` and `.`
    /// replaced, so any `--pop` makes one file inside the directory.
    pub fn path(state: &Path, pop: &str) -> PathBuf {
        let safe: String = pop
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        state.join(SNAPSHOT_DIR).join(format!("pop-{safe}.json"))
    }

    /// Read the snapshot of `pop` in `state`; `None` when there is none
    /// or it does not parse (it is written by rename, so only a foreign
    /// file would not).
    pub fn read(state: &Path, pop: &str) -> Option<PopSnapshot> {
        let bytes = std::fs::read(PopSnapshot::path(state, pop)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Write this snapshot to its file in `state`, whole, by rename.
    pub fn write(&self, state: &Path) -> std::io::Result<()> {
        let path = PopSnapshot::path(state, &self.pop);
        let dir = state.join(SNAPSHOT_DIR);
        std::fs::create_dir_all(&dir)?;
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::state::replace_file(&path, "metrics", &json)
    }
}

/// Write `metrics`'s snapshot into `state` every [`PUBLISH_EVERY`], for
/// `up`; runs on its own thread for the life of the king.
pub fn publish_loop(metrics: Arc<PopMetrics>, state: PathBuf) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("metrics-publish".into())
        .spawn(move || {
            let mut warned = false;
            loop {
                match metrics.snapshot().write(&state) {
                    Ok(()) => warned = false,
                    Err(e) if !warned => {
                        warn!(error = %e, "cannot write the metrics snapshot");
                        warned = true;
                    }
                    Err(_) => {}
                }
                std::thread::sleep(PUBLISH_EVERY);
            }
        })
        .map(drop)
}

/// Remove the snapshot files of earlier runs from `state`, so `up`'s
/// endpoint shows only what this run's kings write.
pub fn clear_snapshots(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state.join(SNAPSHOT_DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("pop-") || name.starts_with(".tmp-metrics-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Serve `up`'s metrics on `endpoint`: on each scrape, the snapshot every
/// POP of `pops` last published in `state` (a POP with none, or only a
/// stale one, shows `stripedns_pop_up 0`), then the pipeline's and the
/// health checker's state.
pub fn serve_up(endpoint: Endpoint, state: StateDir, pops: Vec<Pop>) -> std::io::Result<()> {
    endpoint
        .spawn(Arc::new(move || render_up(&state, &pops)))
        .map(drop)
}

/// The exposition `up` serves (see [`serve_up`]).
pub fn render_up(state: &StateDir, pops: &[Pop]) -> String {
    let now = unix_ms();
    let fresh = u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX);
    let snapshots: Vec<(PopSnapshot, bool)> = pops
        .iter()
        .map(|pop| match PopSnapshot::read(state.root(), &pop.name) {
            Some(s) => {
                let up = now.saturating_sub(s.written_unix_ms) < fresh;
                (s, up)
            }
            None => (
                PopSnapshot {
                    pop: pop.name.clone(),
                    stripe: pop.stripe,
                    engine: pop.engine.as_str().to_string(),
                    ..PopSnapshot::default()
                },
                false,
            ),
        })
        .collect();
    render(&snapshots, Some(&PipelineSnapshot::read(state)))
}

/// A family with one sample per POP: name, type, help, value.
type PerPop = (
    &'static str,
    Kind,
    &'static str,
    fn(&PopSnapshot, bool) -> u64,
);

/// The families with one sample per POP, in exposition order.
const PER_POP: [PerPop; 7] = [
    (
        "stripedns_truncated_total",
        Kind::Counter,
        "Responses sent with TC=1 (too large for the client's UDP limit).",
        |p, _| p.truncated,
    ),
    (
        "stripedns_blacklist_drops_total",
        Kind::Counter,
        "Queries dropped because the query-of-death blacklist holds them.",
        |p, _| p.blacklist_drops,
    ),
    (
        "stripedns_unanswered_total",
        Kind::Counter,
        "Queries the engine chose not to answer (not a query, or the engine failed on it).",
        |p, _| p.unanswered,
    ),
    (
        "stripedns_workers_serving",
        Kind::Gauge,
        "Workers of the king serving now.",
        |p, _| p.workers_serving,
    ),
    (
        "stripedns_workers",
        Kind::Gauge,
        "Worker positions of the king.",
        |p, _| p.workers,
    ),
    (
        "stripedns_bundle_swaps_total",
        Kind::Counter,
        "Times the bundle served by every worker of the POP changed while serving.",
        |p, _| p.swaps,
    ),
    (
        "stripedns_pop_up",
        Kind::Gauge,
        "1 when the POP's king is running and its counts are current, else 0.",
        |_, up| u64::from(up),
    ),
];

/// The exposition of these POPs (each with whether its king is running)
/// and, under `up`, the pipeline's and the health checker's state. Every
/// family is written once, with the samples of every POP.
pub fn render(pops: &[(PopSnapshot, bool)], pipeline: Option<&PipelineSnapshot>) -> String {
    let mut w = TextWriter::new();
    let stripes: Vec<String> = pops.iter().map(|(p, _)| p.stripe.to_string()).collect();
    let labels = |i: usize| -> [(&str, &str); 3] {
        let p = &pops[i].0;
        [
            ("pop", p.pop.as_str()),
            ("stripe", stripes[i].as_str()),
            ("engine", p.engine.as_str()),
        ]
    };

    let name = "stripedns_queries_total";
    w.family(
        name,
        Kind::Counter,
        "Queries answered, by transport, query type (common types by name, else other) and RCODE; only combinations seen so far are listed.",
    );
    for (i, (p, _)) in pops.iter().enumerate() {
        for q in &p.queries {
            let [pop, stripe, engine] = labels(i);
            let more = [
                ("transport", q.transport.as_str()),
                ("qtype", &q.qtype),
                ("rcode", &q.rcode),
            ];
            w.sample(
                name,
                &[pop, stripe, engine, more[0], more[1], more[2]],
                q.count,
            );
        }
    }
    let name = "stripedns_worker_restarts_total";
    w.family(
        name,
        Kind::Counter,
        "Workers restarted, by cause: killed by a signal, killed by the watchdog, or exited.",
    );
    for (i, (p, _)) in pops.iter().enumerate() {
        for (cause, n) in &p.restarts {
            let [pop, stripe, engine] = labels(i);
            w.sample(name, &[pop, stripe, engine, ("cause", cause)], n);
        }
    }
    let name = "stripedns_live_bundle_info";
    w.family(
        name,
        Kind::Gauge,
        "The bundle every serving worker of the POP serves (value 1; the id in the bundle label).",
    );
    for (i, (p, _)) in pops.iter().enumerate() {
        if let Some(bundle) = &p.bundle {
            let [pop, stripe, engine] = labels(i);
            w.sample(name, &[pop, stripe, engine, ("bundle", bundle)], 1);
        }
    }
    for (name, kind, help, value) in PER_POP {
        w.family(name, kind, help);
        for (i, (p, up)) in pops.iter().enumerate() {
            w.sample(name, &labels(i), value(p, *up));
        }
    }
    if let Some(pipeline) = pipeline {
        pipeline.render(&mut w);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> PopLabels {
        PopLabels {
            pop: "ams".into(),
            stripe: 1,
            engine: EngineKind::Native,
        }
    }

    #[test]
    fn a_restarted_king_counts_on_from_the_published_snapshot() {
        let slot = Arc::new(Slot::create(1, crate::engine::EngineKind::Native).unwrap());
        let first = PopMetrics::new(labels(), vec![Arc::clone(&slot)]);
        let q = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01";
        let mut r = q.to_vec();
        r[2] |= 0x80;
        let count = |s: &Slot| {
            s.counters(0).answered(
                q,
                crate::engine::Transport::Udp,
                crate::engine::Outcome::Reply,
                &r,
            )
        };
        count(&slot);
        count(&slot);
        first.restarted(RestartCause::Signal);
        let dir = tempfile::tempdir().unwrap();
        first.snapshot().write(dir.path()).unwrap();
        let published = PopSnapshot::read(dir.path(), "ams").unwrap();
        assert_eq!(published.queries[0].count, 2);

        // The next king: new slots, counting on.
        let slot = Arc::new(Slot::create(1, crate::engine::EngineKind::Native).unwrap());
        let mut next = PopMetrics::new(labels(), vec![Arc::clone(&slot)]);
        next.continue_from(published.clone());
        count(&slot);
        next.restarted(RestartCause::Signal);
        let now = next.snapshot();
        assert_eq!(now.queries.len(), 1);
        assert_eq!(now.queries[0].count, 3);
        assert!(now.restarts.contains(&("signal".to_string(), 2)));
        assert_eq!(now.restarts.len(), 3);

        // Another stripe's (or POP's, or engine's) snapshot is not
        // continued from.
        let mut other = PopMetrics::new(
            PopLabels {
                stripe: 2,
                ..labels()
            },
            vec![],
        );
        other.continue_from(published);
        assert!(other.snapshot().queries.is_empty());
    }

    #[test]
    fn every_family_is_written_once_with_every_pop() {
        let pop = |name: &str| PopSnapshot {
            pop: name.into(),
            stripe: 2,
            engine: "hickory".into(),
            restarts: vec![("exit".into(), 1)],
            ..PopSnapshot::default()
        };
        let text = render(&[(pop("a"), true), (pop("b\"c"), false)], None);
        let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
        let unique: std::collections::HashSet<&str> = helps.iter().copied().collect();
        assert_eq!(helps.len(), unique.len());
        assert_eq!(helps.len(), 10);
        assert!(text.contains("stripedns_pop_up{pop=\"a\",stripe=\"2\",engine=\"hickory\"} 1\n"));
        assert!(
            text.contains("stripedns_pop_up{pop=\"b\\\"c\",stripe=\"2\",engine=\"hickory\"} 0\n")
        );
        assert!(text.contains(
            "stripedns_worker_restarts_total{pop=\"a\",stripe=\"2\",engine=\"hickory\",cause=\"exit\"} 1\n"
        ));
    }
}
