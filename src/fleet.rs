//! Web-fleet answer policy: how a bundle asks for its address records to be
//! rotated, limited and health-checked.
//!
//! The policy is read from the `[[zone]]` and `[[fleet]]` tables of a
//! bundle's `bundle.toml` (the `[[expect]]` tables belong to the taster).
//! It is part of the bundle, so a bad policy is a bad bundle: errors name
//! the file and line, and the taster poisons it like any other.
//!
//! ```toml
//! [[zone]]
//! origin = "example.com."
//! rotation = "random"          # cyclic (default) | random | off
//!
//! [[fleet]]
//! name = "www.example.com."
//! rotation = "cyclic"
//! max_answers = 8
//! health = { protocol = "http", port = 80, path = "/healthz", status = 200,
//!            interval_ms = 2000, timeout_ms = 1000,
//!            healthy_threshold = 2, unhealthy_threshold = 3 }
//! ```
//!
//! # Answer semantics (both engines implement exactly this)
//!
//! Only A and AAAA RRsets placed in the answer section are affected,
//! including those reached through a CNAME chain or synthesised from a
//! wildcard; the policy of such a set is the one of its owner name as it
//! stands in the zone (`*.example.com.` for a wildcard). The additional
//! section, other types and RRSIGs are left as they are. For one response:
//!
//! 1. `healthy` = the set's records, in zone order, without those whose
//!    address [`HealthState::down`] lists for the owner; if that leaves
//!    none, `healthy` = every record (fail open).
//! 2. `n` = `healthy.len()`, `k` = `min(max_answers, n)` (`n` without a limit).
//! 3. [`Rotation::Cyclic`]: `start` = `c mod n`, where `c` is a counter kept
//!    per RRset of the loaded zone, starting at 0 and incremented once per
//!    response that carries the set; the answer is `healthy[(start + i) mod
//!    n]` for `i` in `0..k`. [`Rotation::Random`]: a uniformly random
//!    permutation of `healthy`, first `k`. [`Rotation::Off`]: the first `k`
//!    of `healthy`.
//!
//! A name's own `rotation` wins over its zone's, which wins over the default
//! ([`Rotation::Cyclic`]). `max_answers` and `health` exist only per name.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleError};

/// The file of a bundle holding its policy (and the taster's expectations).
pub const BUNDLE_TOML: &str = "bundle.toml";

/// The most records `max_answers` may ask for (a UDP answer of 255 AAAA
/// records would not fit anyway).
pub const MAX_ANSWERS_LIMIT: usize = 255;

/// How the records of an address RRset are ordered from one response to the
/// next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// Each response starts one record further on (BIND's `cyclic`).
    #[default]
    Cyclic,
    /// Each response carries a random permutation.
    Random,
    /// Zone order, always.
    Off,
}

impl fmt::Display for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rotation::Cyclic => "cyclic",
            Rotation::Random => "random",
            Rotation::Off => "off",
        })
    }
}

/// How an address is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A TCP connection that opens is healthy.
    Tcp,
    /// An HTTP/1.1 `GET path` answered with the expected status is healthy.
    Http,
}

/// A load balancer's health check for the addresses of one fleet name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub protocol: Protocol,
    /// The port probed on every address.
    pub port: u16,
    /// The HTTP path (`http` only).
    #[serde(default = "default_path")]
    pub path: String,
    /// The HTTP status that counts as healthy (`http` only).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Time between two probes of one address, in milliseconds (each probe
    /// is jittered around it).
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// How long one probe may take, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Consecutive successes that make a down address healthy again.
    #[serde(default = "default_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failures that take a healthy address down.
    #[serde(default = "default_threshold")]
    pub unhealthy_threshold: u32,
}

fn default_path() -> String {
    "/".to_string()
}
fn default_status() -> u16 {
    200
}
fn default_interval() -> u64 {
    2000
}
fn default_timeout() -> u64 {
    1000
}
fn default_threshold() -> u32 {
    2
}

/// The policy of one fleet name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetName {
    /// The name as written, absolute (`www.example.com.`).
    pub name: String,
    /// The name in wire form, lowercased: the key engines match owners on.
    pub wire: Vec<u8>,
    /// Its rotation, if it sets one.
    pub rotation: Option<Rotation>,
    /// The most address records one answer carries.
    pub max_answers: Option<usize>,
    /// The health check of its A and AAAA records.
    pub health: Option<HealthCheck>,
}

/// The policy of one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePolicy {
    /// The origin as written.
    pub origin: String,
    /// The origin in wire form, lowercased.
    pub wire: Vec<u8>,
    /// The zone's rotation.
    pub rotation: Rotation,
}

/// What applies to one address RRset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnswerPolicy {
    /// How its records are ordered.
    pub rotation: Rotation,
    /// The most records one answer carries (`None`: all).
    pub max_answers: Option<usize>,
}

/// A bundle's whole answer policy. Empty (every set cyclic, unlimited) when
/// the bundle has no `bundle.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetPolicy {
    /// Per-zone rotation.
    pub zones: Vec<ZonePolicy>,
    /// Per-name settings.
    pub names: Vec<FleetName>,
}

impl FleetPolicy {
    /// Read the policy of `bundle` (none when it has no `bundle.toml`).
    pub fn from_bundle(bundle: &Bundle) -> Result<FleetPolicy, BundleError> {
        let path = bundle.root().join(BUNDLE_TOML);
        if !path.exists() {
            return Ok(FleetPolicy::default());
        }
        FleetPolicy::parse(&bundle.read(&path)?, &path)
    }

    /// Parse the text of a `bundle.toml` read from `path`. Untrusted input:
    /// errors name the file and line, never panic.
    pub fn parse(text: &[u8], path: &Path) -> Result<FleetPolicy, BundleError> {
        let bad = |line: usize, message: String| BundleError::Zone {
            file: path.to_path_buf(),
            line,
            message,
        };
        let text = std::str::from_utf8(text).map_err(|_| bad(0, "not UTF-8".into()))?;
        let parsed: PolicyToml = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            bad(line, e.message().to_string())
        })?;
        let line = |needle: &str| text.find(needle).map_or(0, |at| line_of(text, at));

        let mut policy = FleetPolicy::default();
        for z in parsed.zone {
            let wire = wire_lower(&z.origin)
                .map_err(|e| bad(line(&z.origin), format!("[[zone]] `{}`: {e}", z.origin)))?;
            if policy.zones.iter().any(|p| p.wire == wire) {
                return Err(bad(
                    line(&z.origin),
                    format!("[[zone]] `{}` appears twice", z.origin),
                ));
            }
            policy.zones.push(ZonePolicy {
                origin: z.origin,
                wire,
                rotation: z.rotation,
            });
        }
        for f in parsed.fleet {
            let at = line(&f.name);
            let which = format!("[[fleet]] `{}`", f.name);
            let wire = wire_lower(&f.name).map_err(|e| bad(at, format!("{which}: {e}")))?;
            if policy.names.iter().any(|p| p.wire == wire) {
                return Err(bad(at, format!("{which} appears twice")));
            }
            if let Some(max) = f.max_answers
                && !(1..=MAX_ANSWERS_LIMIT).contains(&max)
            {
                return Err(bad(
                    at,
                    format!("{which}: max_answers must be 1 to {MAX_ANSWERS_LIMIT}, not {max}"),
                ));
            }
            if let Some(h) = &f.health {
                check_health(h).map_err(|e| bad(at, format!("{which}: health: {e}")))?;
            }
            policy.names.push(FleetName {
                name: f.name,
                wire,
                rotation: f.rotation,
                max_answers: f.max_answers,
                health: f.health,
            });
        }
        Ok(policy)
    }

    /// The policy of the address RRset owned by `owner` (lowercased wire
    /// form, as in the zone) in the zone whose origin is `origin` (same form).
    pub fn for_owner(&self, origin: &[u8], owner: &[u8]) -> AnswerPolicy {
        let name = self.names.iter().find(|n| n.wire == owner);
        let zone = self.zones.iter().find(|z| z.wire == origin);
        AnswerPolicy {
            rotation: name
                .and_then(|n| n.rotation)
                .or(zone.map(|z| z.rotation))
                .unwrap_or_default(),
            max_answers: name.and_then(|n| n.max_answers),
        }
    }

    /// The names that carry a health check.
    pub fn checked(&self) -> impl Iterator<Item = (&FleetName, &HealthCheck)> {
        self.names
            .iter()
            .filter_map(|n| n.health.as_ref().map(|h| (n, h)))
    }
}

/// Reject checks no load balancer would accept.
fn check_health(h: &HealthCheck) -> Result<(), String> {
    if h.port == 0 {
        return Err("port must not be 0".into());
    }
    if h.interval_ms < 100 || h.interval_ms > 3_600_000 {
        return Err(format!(
            "interval_ms must be 100 to 3600000, not {}",
            h.interval_ms
        ));
    }
    if h.timeout_ms == 0 || h.timeout_ms > h.interval_ms {
        return Err(format!(
            "timeout_ms must be 1 to interval_ms ({}), not {}",
            h.interval_ms, h.timeout_ms
        ));
    }
    for (what, n) in [
        ("healthy_threshold", h.healthy_threshold),
        ("unhealthy_threshold", h.unhealthy_threshold),
    ] {
        if !(1..=10).contains(&n) {
            return Err(format!("{what} must be 1 to 10, not {n}"));
        }
    }
    if h.protocol == Protocol::Http {
        if !h.path.starts_with('/') || h.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "path must start with `/` and hold no spaces or control characters: `{}`",
                h.path
            ));
        }
        if !(100..=599).contains(&h.status) {
            return Err(format!("status must be 100 to 599, not {}", h.status));
        }
    }
    Ok(())
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at)
        .map_or(0, |before| before.matches('\n').count() + 1)
}

/// An absolute host name (`www.example.com.`, `*.example.com.`, `.` for the
/// root) in lowercased wire form. Fleet names are host names: letters,
/// digits, `-`, `_` and a leading `*` label; no escapes.
pub fn wire_lower(name: &str) -> Result<Vec<u8>, String> {
    let Some(body) = name.strip_suffix('.') else {
        return Err("name must be absolute (end in `.`)".into());
    };
    let mut wire = Vec::with_capacity(name.len() + 1);
    if !body.is_empty() {
        for (i, label) in body.split('.').enumerate() {
            let ok = match label {
                "" => false,
                "*" => i == 0,
                _ => label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            };
            if !ok || label.len() > 63 {
                return Err(format!("bad label `{label}`"));
            }
            wire.push(label.len() as u8);
            wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    wire.push(0);
    if wire.len() > 255 {
        return Err("name longer than 255 octets".into());
    }
    Ok(wire)
}

/// The health of fleet addresses at one moment, as the health checker
/// published it. Engines read it to leave down addresses out of answers; it
/// can only remove addresses, never add one, and an RRset whose addresses
/// are all down is answered whole (fail open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthState {
    /// Owner (lowercased wire form) -> its addresses that are down.
    down: HashMap<Box<[u8]>, Box<[IpAddr]>>,
}

impl HealthState {
    /// Build from (absolute owner name, down addresses) pairs. Names that
    /// are not valid host names are skipped: health state is runtime data
    /// and a bad entry must not stop the rest from applying.
    pub fn from_down<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<IpAddr>)>) -> HealthState {
        let mut down: HashMap<Box<[u8]>, Vec<IpAddr>> = HashMap::new();
        for (name, addrs) in entries {
            if addrs.is_empty() {
                continue;
            }
            if let Ok(wire) = wire_lower(name) {
                let list = down.entry(wire.into_boxed_slice()).or_default();
                list.extend(addrs);
                list.sort();
                list.dedup();
            }
        }
        HealthState {
            down: down
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect(),
        }
    }

    /// No address is down: engines may skip the lookup.
    pub fn is_empty(&self) -> bool {
        self.down.is_empty()
    }

    /// The down addresses of the RRsets owned by `owner` (lowercased wire
    /// form), sorted; empty when all are healthy or the name is unknown.
    pub fn down(&self, owner: &[u8]) -> &[IpAddr] {
        self.down.get(owner).map_or(&[], |v| v)
    }

    /// Whether `addr` of `owner` is down.
    pub fn is_down(&self, owner: &[u8], addr: IpAddr) -> bool {
        self.down(owner).binary_search(&addr).is_ok()
    }
}

/// The file the health checker publishes (`STATE/health.json`, replaced by
/// rename) and kings, workers, `status` and metrics read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFile {
    /// When it was written, in milliseconds since the Unix epoch.
    pub written_unix_ms: u64,
    /// The bundle whose fleet names were checked (hex id).
    pub bundle: String,
    /// Every probed address.
    pub addresses: Vec<AddressHealth>,
}

/// The health of one address of one fleet name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressHealth {
    /// The fleet name, absolute.
    pub name: String,
    /// The address probed.
    pub address: IpAddr,
    /// Whether answers carry it.
    pub healthy: bool,
    /// Since when it has been in this state, ms since the Unix epoch.
    pub since_unix_ms: u64,
    /// The last probe's failure, if it failed.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl HealthFile {
    /// Parse the file's bytes (untrusted: errors are values).
    pub fn parse(bytes: &[u8]) -> Result<HealthFile, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The state engines filter on: the addresses that are not healthy.
    pub fn state(&self) -> HealthState {
        let mut down: Vec<(&str, Vec<IpAddr>)> = Vec::new();
        for a in self.addresses.iter().filter(|a| !a.healthy) {
            match down.iter_mut().find(|(n, _)| *n == a.name) {
                Some((_, list)) => list.push(a.address),
                None => down.push((&a.name, vec![a.address])),
            }
        }
        HealthState::from_down(down)
    }
}

/// `bundle.toml` as the policy reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    #[serde(default)]
    zone: Vec<ZoneToml>,
    #[serde(default)]
    fleet: Vec<FleetToml>,
    /// The taster's tables; read there.
    #[serde(default)]
    #[allow(dead_code)]
    expect: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneToml {
    origin: String,
    rotation: Rotation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetToml {
    name: String,
    #[serde(default)]
    rotation: Option<Rotation>,
    #[serde(default)]
    max_answers: Option<usize>,
    #[serde(default)]
    health: Option<HealthCheck>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FleetPolicy, String> {
        FleetPolicy::parse(text.as_bytes(), Path::new("b/bundle.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn full_policy_parses_and_applies_in_order() {
        let p = parse(
            r#"
[[zone]]
origin = "Example.com."
rotation = "random"

[[fleet]]
name = "www.example.com."
max_answers = 8
health = { protocol = "http", port = 8080, path = "/healthz" }

[[fleet]]
name = "api.example.com."
rotation = "off"

[[expect]]
name = "www.example.com."
type = "A"
"#,
        )
        .unwrap();
        let origin = wire_lower("example.com.").unwrap();
        let www = wire_lower("WWW.example.com.").unwrap();
        let api = wire_lower("api.example.com.").unwrap();
        let other = wire_lower("x.example.org.").unwrap();
        assert_eq!(
            p.for_owner(&origin, &www),
            AnswerPolicy {
                rotation: Rotation::Random,
                max_answers: Some(8)
            }
        );
        assert_eq!(p.for_owner(&origin, &api).rotation, Rotation::Off);
        assert_eq!(p.for_owner(b"\0", &other), AnswerPolicy::default());
        let (name, check) = p.checked().next().unwrap();
        assert_eq!(name.name, "www.example.com.");
        assert_eq!(
            (
                check.port,
                check.status,
                check.interval_ms,
                check.timeout_ms
            ),
            (8080, 200, 2000, 1000)
        );
        assert_eq!(p.checked().count(), 1);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("[[fleet]]\nname = \"www.example.com.\"\nmax_answers = 0\n").unwrap_err();
        assert!(e.starts_with("b/bundle.toml:2: "), "{e}");
        assert!(e.contains("max_answers must be 1 to 255"), "{e}");
        let e = parse("[[fleet]]\nname = \"www\"\n").unwrap_err();
        assert!(
            e.contains("b/bundle.toml:2: ") && e.contains("absolute"),
            "{e}"
        );
        let e = parse("[[zone]]\norigin = \"a.\"\nrotation = \"sideways\"\n").unwrap_err();
        assert!(e.starts_with("b/bundle.toml:3: "), "{e}");
        let e = parse("[[fleet]]\nname = \"a.\"\nhealth = { protocol = \"http\", port = 80, timeout_ms = 5000, interval_ms = 1000 }\n").unwrap_err();
        assert!(e.contains("timeout_ms must be 1 to interval_ms"), "{e}");
        let e = parse("[[fleet]]\nname = \"a.\"\n[[fleet]]\nname = \"A.\"\n").unwrap_err();
        assert!(e.contains("appears twice"), "{e}");
        assert!(parse("[nonsense]\n").is_err());
    }

    #[test]
    fn wire_form_is_lowercase_and_bounded() {
        assert_eq!(wire_lower("A.b.").unwrap(), b"\x01a\x01b\x00");
        assert_eq!(wire_lower(".").unwrap(), b"\x00");
        assert_eq!(wire_lower("*.x.").unwrap(), b"\x01*\x01x\x00");
        assert!(wire_lower("a.*.x.").is_err());
        assert!(wire_lower("a..b.").is_err());
        assert!(wire_lower("a b.").is_err());
        assert!(wire_lower(&format!("{}.", "a".repeat(64))).is_err());
        assert!(wire_lower(&"abcdefghi.".repeat(26)).is_err());
    }

    #[test]
    fn health_state_only_lists_down_addresses() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let s = HealthState::from_down([
            ("WWW.example.com.", vec![b, a]),
            ("bad name", vec![a]),
            ("idle.example.com.", vec![]),
        ]);
        let www = wire_lower("www.example.com.").unwrap();
        assert_eq!(s.down(&www), &[a, b]);
        assert!(s.is_down(&www, b));
        assert!(!s.is_down(&wire_lower("idle.example.com.").unwrap(), a));
        assert!(!s.is_empty());
        assert!(HealthState::default().is_empty());
    }

    #[test]
    fn health_file_round_trips_and_yields_down_addresses() {
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let entry = |address, healthy| AddressHealth {
            name: "www.example.com.".into(),
            address,
            healthy,
            since_unix_ms: 1,
            last_error: None,
        };
        let file = HealthFile {
            written_unix_ms: 2,
            bundle: "ab".into(),
            addresses: vec![entry(a, true), entry(b, false)],
        };
        let text = serde_json::to_vec(&file).unwrap();
        let back = HealthFile::parse(&text).unwrap();
        assert_eq!(back, file);
        let www = wire_lower("www.example.com.").unwrap();
        assert_eq!(back.state().down(&www), &[b]);
        assert!(HealthFile::parse(b"{\"addresses\": 3}").is_err());
    }
}
