//! The topology of `stripedns up`: which POPs to run, in which stripe,
//! with which engine, listening where; read from a TOML file or taken from
//! the default embedded in the binary.
//!
//! A topology is a list of POPs (`[[pop]]` tables), optional settings
//! for the pipeline (`[pipeline]`) and, optionally, where `up` serves its
//! metrics (`[metrics]`, `listen = "ADDR:PORT"`; no table, no endpoint). Every POP becomes one king
//! (`stripedns serve --state DIR ...`) and all of them share the state
//! directory, so one push reaches every POP. Stripes are just the numbers
//! POPs carry: the POPs of a stripe are meant to run the same engine, and
//! different stripes different engines.
//!
//! # Design
//!
//! The file is parsed with serde and `deny_unknown_fields`; every error,
//! from the TOML parser or from the checks after it (a duplicate name, a
//! port 0, an address two POPs share, an engine this build does not know),
//! names the file and the line, so an operator knows what to fix. The
//! embedded default ([`DEFAULT_TEXT`], `src/topology/default.toml`) is
//! parsed by the same code, and a unit test keeps it valid.
//!
//! ```
//! let topology = stripedns::topology::Topology::embedded_default().unwrap();
//! assert_eq!(topology.pops.len(), 4);
//! assert_eq!(topology.stripes().len(), 2);
//!
//! let bad = "[[pop]]\nname = \"a\"\nstripe = 1\nengine = \"native\"\nlisten = [\"127.0.0.1:5301\"]\ncolour = \"red\"\n";
//! let err = stripedns::topology::Topology::parse(bad, "up.toml").unwrap_err();
//! assert!(err.to_string().starts_with("up.toml:6:"), "{err}");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use thiserror::Error;
use toml::Spanned;

use crate::engine::EngineKind;

/// The default topology, embedded in the binary: two stripes of two POPs
/// each on loopback ports 5301 to 5304.
pub const DEFAULT_TEXT: &str = include_str!("topology/default.toml");

/// How the embedded default is named in messages.
pub const DEFAULT_ORIGIN: &str = "the embedded default topology (src/topology/default.toml)";

/// The longest POP name: it goes into the identity text, logs and command
/// lines.
const MAX_NAME: usize = 63;

/// Why a topology cannot be used.
#[derive(Debug, Error)]
pub enum TopologyError {
    /// The file cannot be read.
    #[error("cannot read the topology {origin}: {source}")]
    Read {
        /// The file.
        origin: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The text is not valid TOML, has an unknown key or a bad value, or
    /// fails a check; `line` (from 1) and `column` say where, when known.
    #[error("{origin}{}: {message}", at(*line, *column))]
    Invalid {
        /// The file (or the embedded default).
        origin: String,
        /// The line, from 1; 0 when the error is about the whole file.
        line: usize,
        /// The column, from 1; 0 when unknown.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// `:LINE:COLUMN`, `:LINE` or nothing, for [`TopologyError::Invalid`].
fn at(line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, 0) => format!(":{l}"),
        (l, c) => format!(":{l}:{c}"),
    }
}

/// Settings passed to `stripedns pipeline`; each one unset keeps the
/// pipeline's own default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// `--taster-timeout`: seconds a tasting may take.
    pub taster_timeout_secs: Option<f64>,
    /// `--taster-memory`: the taster's address-space limit, MiB.
    pub taster_memory_mib: Option<u64>,
    /// `--taster-cpu`: the taster's CPU-time limit, seconds.
    pub taster_cpu_secs: Option<u64>,
    /// `--answer-deadline-ms`: how long one tasting answer may take.
    pub answer_deadline_ms: Option<u64>,
    /// `--poll-ms`: milliseconds between looks at landing/ without an event.
    pub poll_ms: Option<u64>,
}

impl PipelineSettings {
    /// The `stripedns pipeline` flags for the settings that are set.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(name.to_string());
                args.push(v);
            }
        };
        flag(
            "--taster-timeout",
            self.taster_timeout_secs.map(|v| v.to_string()),
        );
        flag(
            "--taster-memory",
            self.taster_memory_mib.map(|v| v.to_string()),
        );
        flag("--taster-cpu", self.taster_cpu_secs.map(|v| v.to_string()));
        flag(
            "--answer-deadline-ms",
            self.answer_deadline_ms.map(|v| v.to_string()),
        );
        flag("--poll-ms", self.poll_ms.map(|v| v.to_string()));
        args
    }
}

/// One POP: a king with its listen addresses, in one stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop {
    /// Its name, unique in the topology; in the identity (NSID, CHAOS
    /// `id.server`) and in log prefixes.
    pub name: String,
    /// The stripe it belongs to (1 and up).
    pub stripe: u32,
    /// The engine its workers run.
    pub engine: EngineKind,
    /// Where it answers, UDP and TCP each.
    pub listen: Vec<SocketAddr>,
    /// The king's worker processes; `None` keeps `serve`'s default.
    pub workers: Option<u32>,
}

impl Pop {
    /// The `stripedns serve` arguments of this POP's king, following the
    /// live bundle of `state`.
    pub fn serve_args(&self, state: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "serve".into(),
            "--state".into(),
            state.as_os_str().to_owned(),
        ];
        for addr in &self.listen {
            args.push("--listen".into());
            args.push(addr.to_string().into());
        }
        args.extend(
            [
                "--engine",
                self.engine.as_str(),
                "--pop",
                &self.name,
                "--stripe",
                &self.stripe.to_string(),
            ]
            .map(Into::into),
        );
        if let Some(n) = self.workers {
            args.push("--workers".into());
            args.push(n.to_string().into());
        }
        args
    }
}

/// A whole topology, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Where it was read from, for messages (a path, or
    /// [`DEFAULT_ORIGIN`]).
    pub origin: String,
    /// The pipeline's settings.
    pub pipeline: PipelineSettings,
    /// The POPs, in file order.
    pub pops: Vec<Pop>,
    /// Where `up` serves the metrics of every POP and the pipeline
    /// (`[metrics] listen`); `None` without a `[metrics]` table.
    pub metrics: Option<SocketAddr>,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyToml {
    /// `[pipeline]`.
    #[serde(default = "no_pipeline_table")]
    pipeline: Spanned<PipelineSettings>,
    /// The `[[pop]]` tables.
    #[serde(default)]
    pop: Vec<Spanned<PopToml>>,
    /// `[metrics]`.
    #[serde(default)]
    metrics: Option<MetricsToml>,
}

/// The `[metrics]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsToml {
    /// `listen`: the address of the HTTP endpoint.
    listen: Spanned<SocketAddr>,
}

/// The settings when the file has no `[pipeline]` table.
fn no_pipeline_table() -> Spanned<PipelineSettings> {
    Spanned::new(0..0, PipelineSettings::default())
}

/// One `[[pop]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopToml {
    /// `name`.
    name: Spanned<String>,
    /// `stripe`.
    stripe: Spanned<u32>,
    /// `engine`.
    engine: Spanned<EngineName>,
    /// `listen`.
    listen: Spanned<Vec<Spanned<SocketAddr>>>,
    /// `workers`.
    #[serde(default)]
    workers: Option<Spanned<u32>>,
}

/// An engine name, checked against the engines this build knows while
/// parsing, so a wrong one is reported at its line.
#[derive(Debug, Clone, Copy)]
struct EngineName(EngineKind);

impl<'de> Deserialize<'de> for EngineName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(EngineName)
            .map_err(serde::de::Error::custom)
    }
}

impl Topology {
    /// The embedded default ([`DEFAULT_TEXT`]).
    pub fn embedded_default() -> Result<Topology, TopologyError> {
        Topology::parse(DEFAULT_TEXT, DEFAULT_ORIGIN)
    }

    /// Read and check the topology file `path`.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            origin: origin.clone(),
            source,
        })?;
        Topology::parse(&text, &origin)
    }

    /// Parse and check `text`, read from `origin` (named in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Topology, TopologyError> {
        let invalid = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((0, 0), |s| line_column(text, s.start));
            TopologyError::Invalid {
                origin: origin.to_string(),
                line,
                column,
                message,
            }
        };
        let parsed: TopologyToml =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        check_pipeline(&parsed.pipeline).map_err(|(span, m)| invalid(Some(span), m))?;
        if parsed.pop.is_empty() {
            return Err(invalid(
                None,
                "no [[pop]] table: a topology needs at least one POP".into(),
            ));
        }
        let mut pops = Vec::with_capacity(parsed.pop.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut addrs: HashMap<SocketAddr, (String, usize)> = HashMap::new();
        for table in &parsed.pop {
            let p = table.get_ref();
            let name = p.name.get_ref();
            let line_of = |span: Range<usize>| line_column(text, span.start).0;
            if let Some(reason) = bad_name(name) {
                return Err(invalid(
                    Some(p.name.span()),
                    format!("POP name `{name}` {reason}"),
                ));
            }
            if let Some(first) = names.insert(name.clone(), line_of(p.name.span())) {
                return Err(invalid(
                    Some(p.name.span()),
                    format!("POP name `{name}` is used twice (first at line {first})"),
                ));
            }
            let stripe = *p.stripe.get_ref();
            if !(1..=1000).contains(&stripe) {
                return Err(invalid(
                    Some(p.stripe.span()),
                    format!("POP {name}: stripe {stripe} is not between 1 and 1000"),
                ));
            }
            if p.listen.get_ref().is_empty() {
                return Err(invalid(
                    Some(p.listen.span()),
                    format!("POP {name}: listen is empty; give at least one ADDR:PORT"),
                ));
            }
            let mut listen = Vec::with_capacity(p.listen.get_ref().len());
            for addr in p.listen.get_ref() {
                let a = *addr.get_ref();
                if a.port() == 0 {
                    return Err(invalid(
                        Some(addr.span()),
                        format!("POP {name}: {a}: give a fixed port, not 0"),
                    ));
                }
                if let Some((other, line)) = addrs.insert(a, (name.clone(), line_of(addr.span()))) {
                    return Err(invalid(
                        Some(addr.span()),
                        format!(
                            "POP {name}: {a} is also a listen address of POP {other} (line {line})"
                        ),
                    ));
                }
                listen.push(a);
            }
            let workers = match &p.workers {
                None => None,
                Some(w) if (1..=1024).contains(w.get_ref()) => Some(*w.get_ref()),
                Some(w) => {
                    return Err(invalid(
                        Some(w.span()),
                        format!(
                            "POP {name}: workers {} is not between 1 and 1024",
                            w.get_ref()
                        ),
                    ));
                }
            };
            pops.push(Pop {
                name: name.clone(),
                stripe,
                engine: p.engine.get_ref().0,
                listen,
                workers,
            });
        }
        let metrics = match &parsed.metrics {
            None => None,
            Some(m) => {
                let a = *m.listen.get_ref();
                if a.port() == 0 {
                    return Err(invalid(
                        Some(m.listen.span()),
                        format!("[metrics] listen {a}: give a fixed port, not 0"),
                    ));
                }
                if let Some((pop, line)) = addrs.get(&a) {
                    return Err(invalid(
                        Some(m.listen.span()),
                        format!(
                            "[metrics] listen {a} is also a listen address of POP {pop} (line {line})"
                        ),
                    ));
                }
                Some(a)
            }
        };
        Ok(Topology {
            origin: origin.to_string(),
            pipeline: parsed.pipeline.into_inner(),
            pops,
            metrics,
        })
    }

    /// The POPs of each stripe, by stripe number.
    pub fn stripes(&self) -> BTreeMap<u32, Vec<&Pop>> {
        let mut stripes: BTreeMap<u32, Vec<&Pop>> = BTreeMap::new();
        for pop in &self.pops {
            stripes.entry(pop.stripe).or_default().push(pop);
        }
        stripes
    }
}

/// Why `name` cannot name a POP, if it cannot.
fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > MAX_NAME {
        return Some("is longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("may only hold letters, digits, `-`, `_` and `.`");
    }
    None
}

/// Check the pipeline settings against the ranges `stripedns pipeline`
/// accepts, so a bad value is reported here, at its line, rather than by
/// a pipeline that keeps failing to start.
fn check_pipeline(s: &Spanned<PipelineSettings>) -> Result<(), (Range<usize>, String)> {
    let fail = |m: String| Err((s.span(), m));
    let p = s.get_ref();
    if let Some(t) = p.taster_timeout_secs
        && !(t > 0.0 && t <= 86_400.0)
    {
        return fail(format!(
            "[pipeline] taster_timeout_secs {t} is not between 0 and 86400"
        ));
    }
    let ranges: [(&str, Option<u64>, u64, u64); 4] = [
        ("taster_memory_mib", p.taster_memory_mib, 16, 1_048_576),
        ("taster_cpu_secs", p.taster_cpu_secs, 1, 86_400),
        ("answer_deadline_ms", p.answer_deadline_ms, 1, 600_000),
        ("poll_ms", p.poll_ms, 10, 3_600_000),
    ];
    for (key, value, low, high) in ranges {
        if let Some(v) = value
            && !(low..=high).contains(&v)
        {
            return fail(format!(
                "[pipeline] {key} {v} is not between {low} and {high}"
            ));
        }
    }
    Ok(())
}

/// The line and column (both from 1) of octet `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid POP table with `extra` lines.
    fn pop(name: &str, listen: &str, extra: &str) -> String {
        format!(
            "[[pop]]\nname = \"{name}\"\nstripe = 1\nengine = \"native\"\nlisten = [\"{listen}\"]\n{extra}"
        )
    }

    /// The error text of parsing `text` as `t.toml`.
    fn error(text: &str) -> String {
        Topology::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_embedded_default_has_two_stripes_of_two_pops() {
        let t = Topology::embedded_default().unwrap();
        assert_eq!(t.pops.len(), 4);
        let stripes = t.stripes();
        assert_eq!(stripes.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        for pops in stripes.values() {
            assert_eq!(pops.len(), 2);
            // The POPs of a stripe run the same engine.
            assert!(pops.iter().all(|p| p.engine == pops[0].engine));
        }
        // And the two stripes run different engines: native and hickory.
        assert_eq!(stripes[&1][0].engine.as_str(), "native");
        assert_eq!(stripes[&2][0].engine.as_str(), "hickory");
        let mut addrs: Vec<SocketAddr> = t.pops.iter().flat_map(|p| p.listen.clone()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 4, "every POP listens somewhere else");
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() > 1024)
        );
        assert_eq!(t.origin, DEFAULT_ORIGIN);
        assert!(t.pipeline.poll_ms.is_some());
        assert_eq!(t.metrics, Some("127.0.0.1:5380".parse().unwrap()));
    }

    #[test]
    fn the_deploy_example_is_valid() {
        let t = Topology::parse(
            include_str!("../deploy/topology.toml"),
            "deploy/topology.toml",
        )
        .unwrap();
        assert_eq!(t.stripes().len(), 2);
        assert_eq!(t.metrics, Some("127.0.0.1:5380".parse().unwrap()));
    }

    #[test]
    fn metrics_table_is_optional_and_checked() {
        let one = pop("a", "127.0.0.1:5301", "");
        assert_eq!(Topology::parse(&one, "t.toml").unwrap().metrics, None);
        let t = Topology::parse(
            &format!("[metrics]\nlisten = \"[::1]:9100\"\n{one}"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(t.metrics, Some("[::1]:9100".parse().unwrap()));
        let e = error(&format!("{one}[metrics]\nlisten = \"127.0.0.1:5301\"\n"));
        assert!(
            e.starts_with("t.toml:7:") && e.contains("also a listen address of POP a"),
            "{e}"
        );
        let e = error(&format!("{one}[metrics]\nlisten = \"127.0.0.1:0\"\n"));
        assert!(e.starts_with("t.toml:7:") && e.contains("not 0"), "{e}");
        let e = error(&format!("{one}[metrics]\nport = 1\n"));
        assert!(e.starts_with("t.toml:7:"), "{e}");
    }

    #[test]
    fn serve_and_pipeline_arguments() {
        let t = Topology::parse(
            &format!(
                "[pipeline]\npoll_ms = 200\ntaster_timeout_secs = 1.5\n{}",
                pop("p1", "127.0.0.1:5301", "workers = 3\n")
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            t.pipeline.args(),
            ["--taster-timeout", "1.5", "--poll-ms", "200"]
        );
        let args: Vec<String> = t.pops[0]
            .serve_args(Path::new("/s"))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "serve",
                "--state",
                "/s",
                "--listen",
                "127.0.0.1:5301",
                "--engine",
                "native",
                "--pop",
                "p1",
                "--stripe",
                "1",
                "--workers",
                "3"
            ]
        );
    }

    #[test]
    fn unknown_keys_name_the_file_and_line() {
        let text = format!("{}colour = \"red\"\n", pop("a", "127.0.0.1:5301", ""));
        let e = error(&text);
        assert!(e.starts_with("t.toml:6:1: "), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = error("[pipeline]\npoll = 5\n");
        assert!(e.starts_with("t.toml:2:"), "{e}");
        let e = error("[[pops]]\nname = \"a\"\n");
        assert!(e.starts_with("t.toml:1:"), "{e}");
    }

    #[test]
    fn bad_values_name_the_line() {
        let text = pop("a", "127.0.0.1:5301", "").replace("\"native\"", "\"bogus\"");
        let e = error(&text);
        assert!(e.contains("(known: native, hickory)"), "{e}");
        let e = error(&text);
        assert!(e.starts_with("t.toml:4:"), "{e}");
        assert!(e.contains("unknown engine `bogus`"), "{e}");
        let e = error(&pop("a", "localhost:53", ""));
        assert!(e.starts_with("t.toml:5:"), "{e}");
        let e = error(&pop("a", "127.0.0.1:0", ""));
        assert!(
            e.starts_with("t.toml:5:") && e.contains("fixed port"),
            "{e}"
        );
        let e = error(&pop("a b", "127.0.0.1:5301", ""));
        assert!(e.starts_with("t.toml:2:") && e.contains("`a b`"), "{e}");
        let e = error(&pop("a", "127.0.0.1:5301", "workers = 0\n"));
        assert!(e.starts_with("t.toml:6:"), "{e}");
        let e = error(&pop("a", "127.0.0.1:5301", "").replace("stripe = 1", "stripe = 0"));
        assert!(e.starts_with("t.toml:3:"), "{e}");
        let e = error(&pop("a", "127.0.0.1:5301", "").replace("stripe = 1", "stripe = \"x\""));
        assert!(e.starts_with("t.toml:3:"), "{e}");
        let e = error(&format!(
            "[pipeline]\npoll_ms = 1\n{}",
            pop("a", "127.0.0.1:1", "")
        ));
        assert!(e.starts_with("t.toml:1:") && e.contains("poll_ms"), "{e}");
        let e = error("[[pop]]\nname = \"a\"\n");
        assert!(e.starts_with("t.toml:1:") && e.contains("stripe"), "{e}");
    }

    #[test]
    fn duplicates_and_empty_topologies_are_refused() {
        let text = format!(
            "{}{}",
            pop("a", "127.0.0.1:5301", ""),
            pop("a", "127.0.0.1:5302", "")
        );
        let e = error(&text);
        assert!(
            e.starts_with("t.toml:7:") && e.contains("first at line 2"),
            "{e}"
        );
        let text = format!(
            "{}{}",
            pop("a", "127.0.0.1:5301", ""),
            pop("b", "127.0.0.1:5301", "")
        );
        let e = error(&text);
        assert!(
            e.starts_with("t.toml:10:") && e.contains("POP a (line 5)"),
            "{e}"
        );
        let e = error("# nothing\n");
        assert!(e.starts_with("t.toml: no [[pop]]"), "{e}");
        let e = error(&pop("a", "127.0.0.1:5301", "").replace("[\"127.0.0.1:5301\"]", "[]"));
        assert!(e.starts_with("t.toml:5:") && e.contains("empty"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = Topology::load(Path::new("/nonexistent/up.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/up.toml"), "{e}");
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
