//! Metrics end to end: `serve --metrics` on loopback, queries sent to it,
//! and the counters of its Prometheus endpoint moving by exactly what was
//! sent; with the `fault-injection` feature, a query of death moving the
//! restarts counter and then the blacklist drops; and `up` serving one
//! endpoint with the series of every POP and of the pipeline, a push
//! counted as one bundle swap on every POP, and a restarted king counting
//! on from its predecessor.
//!
//! Every scrape is read by a small strict parser of the text format
//! (version 0.0.4): each family has `# HELP` then `# TYPE` before its
//! samples, samples of a family are together, every sample line is
//! `name{label="value",...} number` with the format's escapes, no series
//! appears twice and no counter is negative.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// Generous bound for one answer or one scrape on loopback.
const T: Duration = Duration::from_secs(3);

/// The query type AAAA.
const TYPE_AAAA: u16 = 28;

/// One sample: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    /// The metric name.
    name: String,
    /// The labels, by name.
    labels: BTreeMap<String, String>,
    /// The value.
    value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
struct Exposition {
    /// Every sample, in order.
    samples: Vec<Sample>,
    /// Each family's type (`counter`, `gauge`, ...).
    types: HashMap<String, String>,
}

impl Exposition {
    /// The samples of `name` whose labels include all of `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the samples of `name` with all of `labels` (0 when there
    /// is none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// How many samples of `name` have all of `labels`.
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.matching(name, labels).count()
    }
}

/// True for a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
fn metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// True for a label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__` reserved).
fn label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// Parse `{label="value",...}` at the start of `s`; the labels and the
/// rest of `s`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("no `{`")?;
    if let Some(r) = rest.strip_prefix('}') {
        return Ok((labels, r));
    }
    loop {
        let eq = rest.find('=').ok_or("label without `=`")?;
        let name = &rest[..eq];
        if !label_name(name) {
            return Err(format!("bad label name `{name}`"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("escape at the end")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape `\\{c}`")),
                },
                (_, '\n') => return Err("raw newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label `{name}` twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        rest = rest.strip_prefix(',').ok_or("no `,` between labels")?;
    }
}

/// Parse an exposition strictly; the error names the line.
fn parse(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line has no newline".into());
    }
    // The family whose HELP (and TYPE) came last, and whether TYPE came.
    let mut current: Option<(String, bool)> = None;
    let mut seen_families: Vec<String> = Vec::new();
    let mut seen_series: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _help) = rest.split_once(' ').ok_or_else(|| fail("no help".into()))?;
            if !metric_name(name) || seen_families.iter().any(|f| f == name) {
                return Err(fail("bad or repeated family".into()));
            }
            seen_families.push(name.to_string());
            current = Some((name.to_string(), false));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| fail("no type".into()))?;
            match &mut current {
                Some((family, typed)) if family == name && !*typed => *typed = true,
                _ => return Err(fail("TYPE not right after its HELP".into())),
            }
            if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                return Err(fail(format!("unknown type {kind}")));
            }
            exp.types.insert(name.to_string(), kind.to_string());
        } else if line.starts_with('#') || line.is_empty() {
            return Err(fail("comment or blank line outside HELP/TYPE".into()));
        } else {
            let split = line
                .find(['{', ' '])
                .ok_or_else(|| fail("no value".into()))?;
            let name = &line[..split];
            match &current {
                Some((family, true)) if family == name => {}
                _ => return Err(fail("sample not under its HELP and TYPE".into())),
            }
            let (labels, rest) = if line[split..].starts_with('{') {
                parse_labels(&line[split..]).map_err(fail)?
            } else {
                (BTreeMap::new(), &line[split..])
            };
            let value = rest
                .strip_prefix(' ')
                .ok_or_else(|| fail("no space before the value".into()))?;
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v
                    .parse()
                    .map_err(|_| fail(format!("bad value `{v}` (or a timestamp)")))?,
            };
            if exp.types.get(name).map(String::as_str) == Some("counter")
                && (value.is_nan() || value < 0.0)
            {
                return Err(fail("negative counter".into()));
            }
            let series = (name.to_string(), labels.clone());
            if seen_series.contains(&series) {
                return Err(fail("series twice".into()));
            }
            seen_series.push(series);
            exp.samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
    }
    Ok(exp)
}

/// `GET path` from `addr`: the status code, the headers and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, T).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (status, head.to_string(), body.to_string())
}

/// Scrape `addr` and parse strictly; panics naming the problem.
fn scrape(addr: SocketAddr) -> Exposition {
    let (status, head, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse(&body).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{body}"))
}

/// The metrics address from a king's `metrics on http://ADDR/metrics` line.
fn metrics_addr(server: &ServeProcess) -> SocketAddr {
    assert!(
        server.wait_for_log("metrics on http://", 1, T),
        "{}",
        server.stderr()
    );
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("metrics on http://"))
        .unwrap();
    let rest = &line[line.find("http://").unwrap() + 7..];
    rest[..rest.find('/').unwrap()].parse().unwrap()
}

/// Start a king on the example bundle with the metrics on port 0.
fn king_with_metrics(blacklist: &Path) -> (ServeProcess, SocketAddr, TempBundle) {
    let bundle = example_bundle();
    let server = ServeProcess::start(
        bundle.path(),
        &[
            "--workers",
            "2",
            "--pop",
            "m-pop",
            "--stripe",
            "3",
            "--metrics",
            "127.0.0.1:0",
            "--blacklist",
            blacklist.to_str().unwrap(),
        ],
    );
    let addr = metrics_addr(&server);
    // The first answer can come before the second worker serves, and the
    // king notes the live bundle on its next supervision round.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = scrape(addr);
        if e.sum("stripedns_workers_serving", &POP) == 2.0
            && e.count("stripedns_live_bundle_info", &POP) == 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the king never reported both workers serving one bundle"
        );
        thread::sleep(Duration::from_millis(20));
    }
    (server, addr, bundle)
}

/// A bundle directory, kept for the life of the server.
type TempBundle = tempfile::TempDir;

/// The labels of the test king's series.
const POP: [(&str, &str); 3] = [("pop", "m-pop"), ("stripe", "3"), ("engine", "native")];

/// `POP` and `more`.
fn with(more: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    POP.iter().chain(more).copied().collect()
}

#[test]
fn parser_is_strict() {
    let good =
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\na_total 2\n";
    let e = parse(good).unwrap();
    assert_eq!(e.samples[0].labels["x"], "q\"\\\n");
    for bad in [
        "a_total 1\n",                                                     // no HELP/TYPE
        "# TYPE a counter\n# HELP a A.\na 1\n",                            // TYPE first
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1 123\n",                 // timestamp
        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",                         // unquoted
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",                   // bad escape
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                         // series twice
        "# HELP a A.\n# TYPE a counter\na -1\n",                           // negative counter
        "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\n", // not together
        "# HELP a A.\n# TYPE a gauge\na 1",                                // no final newline
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn serve_metrics_count_queries_by_type_and_rcode() {
    let dir = tempfile::tempdir().unwrap();
    let (server, metrics, _bundle) = king_with_metrics(&dir.path().join("blacklist"));
    let dns = server.addr();

    let before = scrape(metrics);
    let sent: [(&str, u16, u32, &str, &str); 3] = [
        ("www.example.com.", TYPE_A, 3, "A", "NOERROR"),
        ("www.example.com.", TYPE_AAAA, 2, "AAAA", "NOERROR"),
        ("nope.example.com.", TYPE_A, 1, "A", "NXDOMAIN"),
    ];
    let mut id = 100;
    for (name, qtype, times, _, _) in sent {
        for _ in 0..times {
            id += 1;
            let a = udp_query(dns, &query(id, name, qtype), T);
            assert!(a.is_some(), "{name} {qtype} not answered");
        }
    }
    // And one over TCP.
    let mut tcp = tcp_connect(dns, T).unwrap();
    tcp.write_all(&frame(&query(7, "www.example.com.", TYPE_A)))
        .unwrap();
    assert!(read_frame(&mut tcp).unwrap().is_some());
    drop(tcp);
    let after = scrape(metrics);

    let q = "stripedns_queries_total";
    for (name, _, times, qtype, rcode) in sent {
        let labels = with(&[("transport", "udp"), ("qtype", qtype), ("rcode", rcode)]);
        let moved = after.sum(q, &labels) - before.sum(q, &labels);
        assert_eq!(moved, f64::from(times), "{name} {qtype} {rcode}");
    }
    let tcp_a = with(&[("transport", "tcp"), ("qtype", "A"), ("rcode", "NOERROR")]);
    assert_eq!(after.sum(q, &tcp_a) - before.sum(q, &tcp_a), 1.0);
    // Nothing else was counted: 3 + 2 + 1 + 1 queries in all.
    assert_eq!(after.sum(q, &POP) - before.sum(q, &POP), 7.0);
    assert_eq!(after.types[q], "counter");
    for family in [
        "stripedns_truncated_total",
        "stripedns_blacklist_drops_total",
        "stripedns_worker_restarts_total",
        "stripedns_bundle_swaps_total",
    ] {
        assert_eq!(after.sum(family, &POP), 0.0, "{family}");
        assert!(after.count(family, &POP) > 0, "{family} has no series");
    }
    assert_eq!(after.sum("stripedns_workers_serving", &POP), 2.0);
    assert_eq!(after.sum("stripedns_pop_up", &POP), 1.0);
    assert_eq!(after.count("stripedns_live_bundle_info", &POP), 1);

    let (status, _, _) = http_get(metrics, "/");
    assert_eq!(status, 404);
    let (status, _, _) = http_get(metrics, "/metrics/x");
    assert_eq!(status, 404);
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_worker_restart_and_a_blacklist_drop_move_their_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (server, metrics, _bundle) = king_with_metrics(&dir.path().join("blacklist"));
    let dns = server.addr();
    let restarts = "stripedns_worker_restarts_total";
    let drops = "stripedns_blacklist_drops_total";
    let signal = with(&[("cause", "signal")]);

    let before = scrape(metrics);
    let death = query(0x0BAD, "crash-native.example.com.", TYPE_A);
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(&death, dns).unwrap();
    assert!(
        server.wait_for_log("serving again", 1, Duration::from_secs(10)),
        "{}",
        server.stderr()
    );
    let restarted = scrape(metrics);
    assert_eq!(
        restarted.sum(restarts, &signal) - before.sum(restarts, &signal),
        1.0
    );
    assert_eq!(
        restarted.sum(restarts, &POP) - before.sum(restarts, &POP),
        1.0
    );
    // Both workers serve again, and the counts of the dead one were kept.
    assert_eq!(restarted.sum("stripedns_workers_serving", &POP), 2.0);
    let q = "stripedns_queries_total";
    assert!(restarted.sum(q, &POP) >= before.sum(q, &POP));

    // The same query again: dropped, once the workers read the blacklist.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = restarted;
    while now.sum(drops, &POP) == before.sum(drops, &POP) {
        assert!(
            Instant::now() < deadline,
            "no blacklist drop counted:\n{}",
            server.stderr()
        );
        client.send_to(&death, dns).unwrap();
        thread::sleep(Duration::from_millis(100));
        now = scrape(metrics);
    }
    assert!(now.sum(drops, &POP) > before.sum(drops, &POP));
    // Dropped, not answered and not a second death.
    assert_eq!(now.sum(restarts, &POP) - before.sum(restarts, &POP), 1.0);
    assert_eq!(server.log_count("worker died"), 1, "{}", server.stderr());
}

#[test]
fn up_serves_one_endpoint_with_every_pop_and_the_pipeline() {
    let foodtaster = Path::new(STRIPEDNS).with_file_name("foodtaster");
    assert!(
        foodtaster.exists(),
        "{} is missing: build the workspace (tests/run.sh does)",
        foodtaster.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let pops: Vec<(&str, u32, &str, SocketAddr)> = [("m-a", 1, "native"), ("m-b", 2, "hickory")]
        .into_iter()
        .enumerate()
        .map(|(i, (name, stripe, engine))| {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 61, 1 + i as u8));
            (name, stripe, engine, SocketAddr::new(ip, free_port(ip)))
        })
        .collect();
    let metrics_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 61, 9));
    let metrics = SocketAddr::new(metrics_ip, free_port(metrics_ip));
    let mut config = format!(
        "[pipeline]\npoll_ms = 200\ntaster_memory_mib = 512\n\n[metrics]\nlisten = \"{metrics}\"\n"
    );
    for (name, stripe, engine, addr) in &pops {
        config.push_str(&format!(
            "\n[[pop]]\nname = \"{name}\"\nstripe = {stripe}\nengine = \"{engine}\"\nlisten = [\"{addr}\"]\nworkers = 1\n"
        ));
    }
    let config_path = dir.path().join("up.toml");
    std::fs::write(&config_path, config).unwrap();
    let up = Daemon::start(&[
        "up".as_ref(),
        "--config".as_ref(),
        config_path.as_os_str(),
        "--state".as_ref(),
        dir.path().join("state").as_os_str(),
    ]);
    let log = || up.log();

    // Wait until both kings serve and publish, then ask each POP once.
    let ready = Instant::now() + Duration::from_secs(60);
    let all_up = |e: &Exposition| {
        pops.iter().all(|(name, ..)| {
            e.sum("stripedns_pop_up", &[("pop", name)]) == 1.0
                && e.count("stripedns_live_bundle_info", &[("pop", name)]) == 1
        })
    };
    loop {
        let e = TcpStream::connect_timeout(&metrics, T)
            .ok()
            .map(|_| scrape(metrics));
        if e.as_ref().is_some_and(all_up) {
            break;
        }
        assert!(Instant::now() < ready, "POPs not all up:\n{}", log());
        thread::sleep(Duration::from_millis(200));
    }
    for (i, (name, _, _, addr)) in pops.iter().enumerate() {
        let a = udp_query(
            *addr,
            &query(0x4D00 + i as u16, "www.example.com.", TYPE_A),
            T,
        );
        assert!(a.is_some(), "POP {name} did not answer:\n{}", log());
    }
    // Kings publish every second; wait for both queries to show.
    let counted = Instant::now() + Duration::from_secs(10);
    let e = loop {
        let e = scrape(metrics);
        let seen = pops.iter().all(|(name, stripe, engine, _)| {
            e.sum(
                "stripedns_queries_total",
                &[
                    ("pop", name),
                    ("stripe", &stripe.to_string()),
                    ("engine", engine),
                    ("qtype", "A"),
                    ("rcode", "NOERROR"),
                ],
            ) >= 1.0
        });
        if seen {
            break e;
        }
        assert!(Instant::now() < counted, "queries not counted:\n{}", log());
        thread::sleep(Duration::from_millis(200));
    };
    // Every per-POP family has a series for every POP.
    for family in [
        "stripedns_truncated_total",
        "stripedns_blacklist_drops_total",
        "stripedns_worker_restarts_total",
        "stripedns_bundle_swaps_total",
        "stripedns_workers_serving",
    ] {
        for (name, ..) in &pops {
            assert!(e.count(family, &[("pop", name)]) > 0, "{family} {name}");
        }
    }
    // The pipeline's: the default bundle was tasted and promoted.
    assert!(
        e.sum(
            "stripedns_taster_verdicts_total",
            &[("verdict", "promote"), ("reason", "ok")]
        ) >= 1.0
    );
    assert_eq!(e.count("stripedns_current_bundle_info", &[]), 1);
    assert_eq!(e.types["stripedns_address_healthy"], "gauge");
    let (status, _, _) = http_get(metrics, "/other");
    assert_eq!(status, 404);

    // A push: once tasted and promoted, every POP counts one swap and
    // names the new bundle.
    let pushed = tempfile::tempdir().unwrap();
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    for entry in std::fs::read_dir(&zones).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), pushed.path().join(entry.file_name())).unwrap();
    }
    let zone = pushed.path().join("example.com.zone");
    let text = std::fs::read_to_string(&zone).unwrap() + "metrics-push IN A 192.0.2.77\n";
    std::fs::write(&zone, text).unwrap();
    let state = dir.path().join("state");
    let out = run_stripedns(
        &[
            "push",
            pushed.path().to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        T,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let id = out.stdout.trim().to_string();
    let swapped = Instant::now() + Duration::from_secs(30);
    loop {
        let e = scrape(metrics);
        let done = pops.iter().all(|(name, ..)| {
            e.sum("stripedns_bundle_swaps_total", &[("pop", name)]) == 1.0
                && e.count(
                    "stripedns_live_bundle_info",
                    &[("pop", name), ("bundle", &id)],
                ) == 1
        });
        if done {
            assert_eq!(
                e.count("stripedns_current_bundle_info", &[("bundle", &id)]),
                1
            );
            break;
        }
        assert!(
            Instant::now() < swapped,
            "no swap to {id} counted:\n{}",
            log()
        );
        thread::sleep(Duration::from_millis(200));
    }

    // A king killed outright and restarted by `up` counts on from what it
    // last published: one more query makes the count one more, not one.
    let (name, _, _, addr) = pops[0];
    let at = [("pop", name), ("qtype", "A"), ("rcode", "NOERROR")];
    let before = scrape(metrics).sum("stripedns_queries_total", &at);
    assert!(before >= 1.0);
    let pid_after = |line: &str, needle: &str| -> Option<u32> {
        let rest = &line[line.find(needle)? + needle.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    let king_needle = format!("started child={name} pid=");
    let prefix = format!("{name} | ");
    let king = log()
        .lines()
        .rev()
        .find_map(|l| pid_after(l, &king_needle))
        .expect("the king's pid in up's log");
    // Its workers answer until they notice the king's death: wait for
    // them to be gone, so the next query reaches the new king's worker.
    let old: Vec<u32> = log()
        .lines()
        .filter(|l| l.contains(&prefix))
        .filter_map(|l| pid_after(l, "worker started worker=0 pid="))
        .chain([king])
        .collect();
    let killed = Command::new("kill")
        .args(["-KILL", &king.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let gone = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z'))
        })
    };
    let serving = || {
        log()
            .lines()
            .filter(|l| l.contains(&prefix) && l.contains("all workers serving"))
            .count()
    };
    let again = Instant::now() + Duration::from_secs(30);
    while !(old.iter().all(gone) && serving() >= 2) {
        assert!(Instant::now() < again, "king not restarted:\n{}", log());
        thread::sleep(Duration::from_millis(50));
    }
    while udp_query(addr, &query(0x4DFF, "www.example.com.", TYPE_A), T).is_none() {
        assert!(
            Instant::now() < again,
            "no answer after the restart:\n{}",
            log()
        );
    }
    loop {
        let now = scrape(metrics).sum("stripedns_queries_total", &at);
        if now == before + 1.0 {
            break;
        }
        assert!(
            now <= before + 1.0 && Instant::now() < again,
            "count {now} after the restart and one query, {before} before:\n{}",
            log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn up_refuses_a_busy_metrics_port() {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 61, 20));
    let held = std::net::TcpListener::bind((ip, 0)).unwrap();
    let busy = held.local_addr().unwrap();
    let dns = SocketAddr::new(ip, free_port(ip));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("busy-metrics.toml");
    std::fs::write(
        &config,
        format!(
            "[metrics]\nlisten = \"{busy}\"\n\n[[pop]]\nname = \"p1\"\nstripe = 1\nengine = \"native\"\nlisten = [\"{dns}\"]\n"
        ),
    )
    .unwrap();
    let out = run_stripedns(
        &[
            "up",
            "--config",
            config.to_str().unwrap(),
            "--state",
            dir.path().join("state").to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains(&format!("cannot serve metrics on {busy}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("busy-metrics.toml"), "{}", out.stderr);
    // Nothing was started.
    assert!(
        udp_query(
            dns,
            &query(1, "www.example.com.", TYPE_A),
            Duration::from_millis(200)
        )
        .is_none()
    );
}
