//! The metrics of a state directory, read at scrape time by `up`'s
//! endpoint: taster verdicts from the verdict log, the bundles waiting,
//! being tasted and poisoned, the live bundle, and the health of every
//! checked address from `health.json` (when the health checker wrote one).
//!
//! Verdict reasons are free text; the `reason` label is their kind
//! ([`reason_class`]), so the label set stays small.

use std::path::Path;

use crate::fleet::HealthFile;
use crate::state::StateDir;

use super::text::{Kind, TextWriter};
use crate::state::unix_ms;

/// The health checker's file in a state directory.
pub const HEALTH_FILE: &str = "health.json";

/// A state directory's pipeline and health, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSnapshot {
    /// Verdicts recorded, as (verdict, reason kind, count), in first-seen
    /// order.
    pub verdicts: Vec<(String, &'static str, u64)>,
    /// Bundles waiting in `landing/`.
    pub landing: u64,
    /// Bundles being tasted.
    pub tasting: u64,
    /// Bundles poisoned.
    pub poisoned: u64,
    /// The bundle `dns/current` names.
    pub live: Option<String>,
    /// From `health.json`, when there is one.
    pub health: Option<HealthSnapshot>,
}

/// What `health.json` says, as the metrics show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// When it was written, ms since the Unix epoch.
    pub written_unix_ms: u64,
    /// Every address as (fleet name, address, healthy).
    pub addresses: Vec<(String, String, bool)>,
}

/// The kind of a verdict's reason, for the `reason` label: `ok` for a
/// promotion; for a poisoning `crashed`, `hung`, `out_of_memory`,
/// `cpu_limit`, `failed_checks`, `no_verdict` or `other` (the texts
/// `pipeline::decide` writes).
pub fn reason_class(verdict: &str, reason: &str) -> &'static str {
    if verdict == "promote" {
        return "ok";
    }
    [
        ("crashed", "crashed"),
        ("hung", "hung"),
        ("out of memory", "out_of_memory"),
        ("CPU limit", "cpu_limit"),
        ("failed checks", "failed_checks"),
        ("taster exited", "no_verdict"),
    ]
    .iter()
    .find(|(prefix, _)| reason.starts_with(prefix))
    .map_or("other", |(_, class)| class)
}

impl PipelineSnapshot {
    /// Read `state` now. What cannot be read is left out (an exposition
    /// is better partial than missing).
    pub fn read(state: &StateDir) -> PipelineSnapshot {
        let mut verdicts: Vec<(String, &'static str, u64)> = Vec::new();
        for v in state.verdicts(usize::MAX).unwrap_or_default() {
            // The verdict word is written by the pipeline; anything else
            // in a hand-edited log counts as `other`, keeping labels few.
            let verdict = match v.verdict.as_str() {
                "promote" | "poisoned" => v.verdict.clone(),
                _ => "other".to_string(),
            };
            let class = reason_class(&verdict, &v.reason);
            match verdicts
                .iter_mut()
                .find(|(w, c, _)| *w == verdict && *c == class)
            {
                Some(entry) => entry.2 += 1,
                None => verdicts.push((verdict, class, 1)),
            }
        }
        let count = |r: Result<usize, _>| r.map_or(0, |n| n as u64);
        PipelineSnapshot {
            verdicts,
            landing: count(state.landed().map(|v| v.len())),
            tasting: count(state.tasting().map(|v| v.len())),
            poisoned: count(state.poisoned().map(|v| v.len())),
            live: state.live().ok().flatten().map(|l| l.id.to_hex()),
            health: read_health(state.root()),
        }
    }

    /// Write this snapshot's families.
    pub fn render(&self, w: &mut TextWriter) {
        let name = "stripedns_taster_verdicts_total";
        w.family(
            name,
            Kind::Counter,
            "Taster verdicts recorded in the verdict log, by verdict and kind of reason.",
        );
        for (verdict, reason, n) in &self.verdicts {
            w.sample(name, &[("verdict", verdict), ("reason", reason)], n);
        }
        let name = "stripedns_pipeline_bundles";
        w.family(
            name,
            Kind::Gauge,
            "Bundles waiting in landing/, being tasted, and poisoned.",
        );
        for (place, n) in [
            ("landing", self.landing),
            ("tasting", self.tasting),
            ("poisoned", self.poisoned),
        ] {
            w.sample(name, &[("place", place)], n);
        }
        let name = "stripedns_current_bundle_info";
        w.family(
            name,
            Kind::Gauge,
            "The bundle dns/current names (value 1; the id in the bundle label).",
        );
        if let Some(live) = &self.live {
            w.sample(name, &[("bundle", live)], 1);
        }
        let name = "stripedns_address_healthy";
        w.family(
            name,
            Kind::Gauge,
            "Health of each checked fleet address from health.json: 1 healthy, 0 down.",
        );
        if let Some(health) = &self.health {
            for (fleet, address, healthy) in &health.addresses {
                w.sample(
                    name,
                    &[("name", fleet), ("address", address)],
                    u8::from(*healthy),
                );
            }
        }
        let name = "stripedns_health_file_age_seconds";
        w.family(
            name,
            Kind::Gauge,
            "Seconds since the health checker last wrote health.json.",
        );
        if let Some(health) = &self.health {
            let now = unix_ms();
            let age = now.saturating_sub(health.written_unix_ms) as f64 / 1000.0;
            w.sample(name, &[], age);
        }
    }
}

/// `health.json` of the state directory at `root`, if present and valid.
fn read_health(root: &Path) -> Option<HealthSnapshot> {
    let bytes = std::fs::read(root.join(HEALTH_FILE)).ok()?;
    let file = HealthFile::parse(&bytes).ok()?;
    let addresses = file
        .addresses
        .into_iter()
        .map(|a| (a.name, a.address.to_string(), a.healthy))
        .collect();
    Some(HealthSnapshot {
        written_unix_ms: file.written_unix_ms,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_classed_from_the_pipelines_texts() {
        for (reason, class) in [
            ("crashed by signal 6 (SIGABRT)", "crashed"),
            ("hung past 300 s (killed at the timeout)", "hung"),
            (
                "out of memory (address-space limit 512 MiB)",
                "out_of_memory",
            ),
            (
                "CPU limit of 60 s exceeded (signal 24, SIGXCPU)",
                "cpu_limit",
            ),
            (
                "failed checks (1 of 1): www.example.com. A",
                "failed_checks",
            ),
            (
                "taster exited with status 3 without a verdict",
                "no_verdict",
            ),
            ("something new", "other"),
        ] {
            assert_eq!(reason_class("poisoned", reason), class, "{reason}");
        }
        assert_eq!(reason_class("promote", "2 engines tasted"), "ok");
    }

    #[test]
    fn verdicts_and_health_of_a_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let lines = [
            r#"{"time":1,"id":"aa","verdict":"promote","reason":"2 engines"}"#,
            r#"{"time":2,"id":"bb","verdict":"poisoned","reason":"crashed by signal 6"}"#,
            r#"{"time":3,"id":"cc","verdict":"poisoned","reason":"crashed by signal 11"}"#,
            "not json",
        ];
        std::fs::write(state.verdict_log(), lines.join("\n") + "\n").unwrap();
        std::fs::write(
            dir.path().join(HEALTH_FILE),
            r#"{"written_unix_ms":5,"bundle":"aa","addresses":[
                {"name":"www.example.com.","address":"192.0.2.1","healthy":true,"since_unix_ms":1},
                {"name":"www.example.com.","address":"2001:db8::1","healthy":false,"since_unix_ms":1}]}"#,
        )
        .unwrap();
        let snap = PipelineSnapshot::read(&state);
        assert_eq!(
            snap.verdicts,
            vec![
                ("promote".to_string(), "ok", 1),
                ("poisoned".to_string(), "crashed", 2)
            ]
        );
        let mut w = TextWriter::new();
        snap.render(&mut w);
        let text = w.finish();
        assert!(text.contains(
            "stripedns_taster_verdicts_total{verdict=\"poisoned\",reason=\"crashed\"} 2\n"
        ));
        assert!(text.contains(
            "stripedns_address_healthy{name=\"www.example.com.\",address=\"192.0.2.1\"} 1\n"
        ));
        assert!(text.contains(
            "stripedns_address_healthy{name=\"www.example.com.\",address=\"2001:db8::1\"} 0\n"
        ));
        // A damaged health file leaves the family empty, not the scrape.
        std::fs::write(dir.path().join(HEALTH_FILE), "{").unwrap();
        assert_eq!(PipelineSnapshot::read(&state).health, None);
    }
}
