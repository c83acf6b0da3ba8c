//! The food taster: load a bundle with every engine, serve it on a
//! loopback port, and answer the tasting suite over real UDP and TCP.
//!
//! The sacrificial `foodtaster` process and `stripedns check` both call
//! [`taste`]; the pipeline runs the former under limits and reads the
//! [`Verdict`] it prints as one JSON line.
//!
//! # Design
//!
//! For each engine of [`EngineKind::ALL`] the taster opens the engine on
//! the bundle (a crash or hang there is the point of tasting in a separate
//! process), binds a [`Server`] on `127.0.0.1:0` with one UDP worker, and
//! sends every [`suite::Probe`] over UDP (EDNS, 1232 octets, a window of
//! queries in flight, retried on silence) and over TCP (pipelined, in
//! batches on one connection). Each answer must arrive within the deadline,
//! parse completely ([`message::parse`]), echo the ID and question, have QR
//! set and the expected RCODE, AA and section sizes. With two or more
//! engines the normalised answers are compared and the first query on
//! which the engines differ refuses the bundle; with one engine the verdict
//! says so. Sections are compared as sets, so rotation never looks like a
//! divergence; for names whose fleet policy sets `max_answers` the address
//! records are compared by number per owner, since each engine picks its
//! own subset.
//!
//! ```no_run
//! use stripedns::bundle::Bundle;
//! use stripedns::taster::{TasteConfig, taste};
//! let bundle = Bundle::open("zones").unwrap();
//! let verdict = taste(&bundle, &TasteConfig::default());
//! println!("{}", verdict.to_json());
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::engine::native::wire::flags;
use crate::engine::{EngineKind, Identity};
use crate::server::{Server, ServerConfig};

pub mod message;
pub mod suite;

use message::{Response, rcode_name};
use suite::Probe;

/// UDP queries in flight at once.
const UDP_WINDOW: usize = 32;
/// TCP queries written in one batch.
const TCP_BATCH: usize = 64;
/// Failure messages kept in a verdict (the count is always exact).
const MAX_FAILURES_SHOWN: usize = 50;

/// How the taster tastes.
#[derive(Debug, Clone)]
pub struct TasteConfig {
    /// How long one answer may take.
    pub deadline: Duration,
}

impl Default for TasteConfig {
    fn default() -> TasteConfig {
        TasteConfig {
            deadline: Duration::from_secs(2),
        }
    }
}

/// What one engine did with the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineReport {
    /// The engine.
    pub engine: String,
    /// Its load error, if it could not load the bundle.
    pub load_error: Option<String>,
    /// Milliseconds the load took.
    pub load_ms: u64,
    /// Queries answered (UDP and TCP).
    pub answered: usize,
    /// Checks failed.
    pub failed: usize,
}

/// The outcome of tasting one bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The bundle id (empty when the directory is not a bundle).
    pub bundle: String,
    /// `promote` or `reject`.
    pub verdict: String,
    /// One entry per engine tasted.
    pub engines: Vec<EngineReport>,
    /// Whether the engines' answers were compared, or why not.
    pub note: String,
    /// Probes in the suite (each sent over UDP and TCP to each engine).
    pub probes: usize,
    /// Checks made.
    pub checks: usize,
    /// Checks failed (load errors and divergences included).
    pub failed: usize,
    /// The first failures, in words.
    pub failures: Vec<String>,
    /// Milliseconds the tasting took.
    pub elapsed_ms: u64,
}

impl Verdict {
    /// Whether the bundle may be promoted.
    pub fn promote(&self) -> bool {
        self.verdict == "promote"
    }

    /// The verdict as one JSON line (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A verdict refusing `bundle` for one reason (it cannot be opened).
    pub fn refused(bundle: &str, why: String) -> Verdict {
        Verdict {
            bundle: bundle.into(),
            verdict: "reject".into(),
            engines: Vec::new(),
            note: String::new(),
            probes: 0,
            checks: 1,
            failed: 1,
            failures: vec![why],
            elapsed_ms: 0,
        }
    }
}

/// Collects failures, keeping the first few.
#[derive(Debug, Default)]
struct Failures {
    /// Checks made.
    checks: usize,
    /// Checks failed.
    failed: usize,
    /// The first failures.
    shown: Vec<String>,
}

impl Failures {
    /// Count one check; record `failure` if there is one.
    fn check(&mut self, failure: Option<String>) {
        self.checks += 1;
        if let Some(f) = failure {
            self.failed += 1;
            if self.shown.len() < MAX_FAILURES_SHOWN {
                self.shown.push(f);
            }
        }
    }
}

/// Taste `bundle` with every engine of this build.
pub fn taste(bundle: &Bundle, config: &TasteConfig) -> Verdict {
    let started = Instant::now();
    let mut failures = Failures::default();
    let mut reports = Vec::new();
    // Per engine: the normalised answer to each (probe, transport).
    let mut answers: Vec<(EngineKind, Vec<Option<String>>)> = Vec::new();

    // Open every engine first: this is where a bad bundle crashes or hangs.
    let mut engines = Vec::new();
    for &kind in EngineKind::ALL {
        let load = Instant::now();
        let opened = kind.open(
            bundle,
            Identity {
                id: Some("foodtaster".into()),
            },
        );
        let load_ms = load.elapsed().as_millis() as u64;
        match opened {
            Ok(engine) => engines.push((kind, engine, load_ms)),
            Err(e) => {
                failures.check(Some(format!("{kind}: cannot load: {e}")));
                reports.push(EngineReport {
                    engine: kind.to_string(),
                    load_error: Some(e.to_string()),
                    load_ms,
                    answered: 0,
                    failed: 1,
                });
            }
        }
    }

    // A bad policy already failed every engine's load.
    let limited = Limited::of(&crate::fleet::FleetPolicy::from_bundle(bundle).unwrap_or_default());
    let probes = if engines.is_empty() {
        Vec::new()
    } else {
        match suite::build(bundle) {
            Ok(p) => p,
            Err(e) => {
                failures.check(Some(format!("cannot build the tasting suite: {e}")));
                Vec::new()
            }
        }
    };

    for (kind, engine, load_ms) in engines {
        let before = failures.failed;
        let asked = serve_and_ask(engine, &probes, config, kind, &limited, &mut failures);
        let (answered, normal) = match asked {
            Ok(r) => r,
            Err(e) => {
                failures.check(Some(format!("{kind}: cannot serve on loopback: {e}")));
                (0, Vec::new())
            }
        };
        reports.push(EngineReport {
            engine: kind.to_string(),
            load_error: None,
            load_ms,
            answered,
            failed: failures.failed - before,
        });
        answers.push((kind, normal));
    }

    let note = if answers.len() >= 2 {
        compare(&answers, &probes, &mut failures);
        format!(
            "{} engines tasted and compared ({})",
            answers.len(),
            names(&answers)
        )
    } else if EngineKind::ALL.len() == 1 {
        format!(
            "one engine tasted ({}); no divergence gate in this build",
            EngineKind::ALL[0]
        )
    } else {
        format!(
            "{} of {} engines served the bundle; answers not compared",
            answers.len(),
            EngineKind::ALL.len()
        )
    };
    Verdict {
        bundle: bundle.id().to_hex(),
        verdict: if failures.failed == 0 {
            "promote"
        } else {
            "reject"
        }
        .into(),
        engines: reports,
        note,
        probes: probes.len(),
        checks: failures.checks,
        failed: failures.failed,
        failures: failures.shown,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The engines' names, joined.
fn names(answers: &[(EngineKind, Vec<Option<String>>)]) -> String {
    answers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names whose address RRsets a fleet policy limits with
/// `max_answers`: each engine picks its own subset of them (the cyclic
/// counters of two engines drift apart as soon as one UDP query is
/// retried, and `random` draws differ anyway), so the divergence gate
/// compares how many addresses such an owner got, not which. Everything
/// else, and the order-free sets of unlimited rotated RRsets, is compared
/// in full.
#[derive(Debug, Default)]
struct Limited {
    /// Lowercased wire names with `max_answers`; `*.` names stand for the
    /// names below them (a wildcard's answers carry the query name).
    names: Vec<Vec<u8>>,
}

impl Limited {
    /// The limited names of `policy`.
    fn of(policy: &crate::fleet::FleetPolicy) -> Limited {
        Limited {
            names: policy
                .names
                .iter()
                .filter(|n| n.max_answers.is_some())
                .map(|n| n.wire.clone())
                .collect(),
        }
    }

    /// Whether the answer records owned by `owner` (lowercased wire form)
    /// may be a subset chosen by the engine.
    fn covers(&self, owner: &[u8]) -> bool {
        self.names
            .iter()
            .any(|name| match name.strip_prefix(b"\x01*") {
                Some(parent) => owner.len() > parent.len() && owner.ends_with(parent),
                None => name == owner,
            })
    }

    /// The form in which two engines' answers are compared.
    fn normalised(&self, r: &message::Response) -> String {
        if self.names.is_empty() {
            r.normalised()
        } else {
            r.normalised_counting(|owner| self.covers(owner))
        }
    }
}

/// The divergence gate: the first (probe, transport) on which an engine
/// answers differently from the first engine fails the bundle.
fn compare(
    answers: &[(EngineKind, Vec<Option<String>>)],
    probes: &[Probe],
    failures: &mut Failures,
) {
    let (first_kind, first) = &answers[0];
    for (kind, other) in &answers[1..] {
        let differs = first
            .iter()
            .zip(other)
            .position(|(a, b)| a.is_some() && b.is_some() && a != b);
        failures.check(differs.map(|i| {
            let transport = if i % 2 == 0 { "UDP" } else { "TCP" };
            format!(
                "engines disagree on {} over {transport}: {first_kind}: {} / {kind}: {}",
                probes[i / 2].label(),
                first[i].as_deref().unwrap_or(""),
                other[i].as_deref().unwrap_or("")
            )
        }));
    }
}

/// Serve `engine` on a loopback port and ask it every probe over UDP and
/// TCP. Returns the number of answers and, per probe and transport (UDP at
/// even, TCP at odd positions), the normalised answer if it parsed.
fn serve_and_ask(
    engine: std::sync::Arc<dyn crate::engine::Engine>,
    probes: &[Probe],
    config: &TasteConfig,
    kind: EngineKind,
    limited: &Limited,
    failures: &mut Failures,
) -> io::Result<(usize, Vec<Option<String>>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("taster-tcp")
        .enable_all()
        .build()?;
    let mut server_config = ServerConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 0))]);
    server_config.udp_workers = 1;
    let server = Server::bind(server_config, engine).map_err(io::Error::other)?;
    let addr = server.local_addrs()[0];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let queries: Vec<Vec<u8>> = probes.iter().map(|p| encode_query(p, true)).collect();
    let udp = ask_udp(addr, &queries, config.deadline);
    let tcp = ask_tcp(addr, &queries, config.deadline);
    let mut answered = 0;
    let mut normal = Vec::with_capacity(probes.len() * 2);
    for (i, probe) in probes.iter().enumerate() {
        for (transport, got) in [("UDP", &udp[i]), ("TCP", &tcp[i])] {
            let what = format!("{kind}: {} over {transport}", probe.label());
            match got {
                None => {
                    failures.check(Some(format!(
                        "{what}: no answer within {:?}",
                        config.deadline
                    )));
                    normal.push(None);
                }
                Some(bytes) => {
                    answered += 1;
                    match message::parse(bytes) {
                        Err(e) => {
                            failures.check(Some(format!("{what}: {e}")));
                            normal.push(None);
                        }
                        Ok(r) => {
                            failures
                                .check(judge(probe, &r, id_of(i)).map(|f| format!("{what}: {f}")));
                            normal.push(Some(limited.normalised(&r)));
                        }
                    }
                }
            }
        }
    }

    let _ = stop.send(());
    // The UDP worker looks at the shutdown flag between receives; datagrams
    // too short to be queries (dropped unanswered) wake it at once instead
    // of at its next poll.
    if let Ok(waker) = UdpSocket::bind(("127.0.0.1", 0)) {
        let until = Instant::now() + Duration::from_secs(1);
        while !serving.is_finished() && Instant::now() < until {
            let _ = waker.send_to(&[0], addr);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let _ = runtime.block_on(serving);
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok((answered, normal))
}

/// The message ID of the query for probe `i`.
fn id_of(i: usize) -> u16 {
    (i % 65_536) as u16
}

/// What is wrong with `r` as the answer to `probe` (sent with EDNS and RD
/// clear), if anything. TC is allowed over TCP too: an RRset larger than
/// 65,535 octets does not fit there either.
fn judge(probe: &Probe, r: &Response, id: u16) -> Option<String> {
    let e = &probe.expect;
    if r.header.id != id {
        return Some(format!("ID {} instead of {id}", r.header.id));
    }
    if !r.flag(flags::QR) {
        return Some("QR is clear".into());
    }
    if r.header.opcode() != 0 {
        return Some(format!("opcode {} instead of QUERY", r.header.opcode()));
    }
    // RFC 1035 4.1.1: RD is copied; an authoritative server offers no
    // recursion.
    if r.flag(flags::RD) || r.flag(flags::RA) {
        return Some("RD or RA set".into());
    }
    // RFC 6891 7: a query with OPT gets OPT back.
    if r.opt.is_none_or(|(version, _)| version != 0) {
        return Some("no OPT record (version 0) in the answer to an EDNS query".into());
    }
    match &r.question {
        Some((name, t, c))
            if name.eq_ignore_ascii_case(probe.name.as_wire()) && *t == probe.qtype && *c == 1 => {}
        _ => return Some("the question is not echoed".into()),
    }
    if !e.rcodes.contains(&r.rcode) {
        let want: Vec<String> = e.rcodes.iter().map(|&c| rcode_name(c)).collect();
        return Some(format!(
            "rcode {}, expected {}",
            rcode_name(r.rcode),
            want.join(" or ")
        ));
    }
    if let Some(aa) = e.aa
        && r.flag(flags::AA) != aa
    {
        return Some(format!("AA is {}", if aa { "clear" } else { "set" }));
    }
    if r.flag(flags::TC) {
        // A truncated answer carries whole RRsets only; sizes are not judged.
        return None;
    }
    if r.answer.len() < e.min_answers {
        return Some(format!(
            "{} answer records, expected at least {}",
            r.answer.len(),
            e.min_answers
        ));
    }
    if let Some(max) = e.max_answers
        && r.answer.len() > max
    {
        return Some(format!(
            "{} answer records, expected at most {max}",
            r.answer.len()
        ));
    }
    if r.authority.len() < e.min_authority {
        return Some(format!(
            "{} authority records, expected at least {}",
            r.authority.len(),
            e.min_authority
        ));
    }
    None
}

/// The query for `probe` (ID filled in when sent), with an OPT record
/// offering 1232 octets when `edns`.
fn encode_query(probe: &Probe, edns: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    q.extend_from_slice(probe.name.as_wire());
    q.extend_from_slice(&probe.qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

/// `query` with ID `id`.
fn with_id(query: &[u8], id: u16) -> Vec<u8> {
    let mut q = query.to_vec();
    q[..2].copy_from_slice(&id.to_be_bytes());
    q
}

/// Ask every query over UDP, [`UDP_WINDOW`] at a time; a query without an
/// answer is sent again after a third of the deadline. `None` where no
/// answer came within the deadline.
fn ask_udp(addr: SocketAddr, queries: &[Vec<u8>], deadline: Duration) -> Vec<Option<Vec<u8>>> {
    let mut answers: Vec<Option<Vec<u8>>> = vec![None; queries.len()];
    let Ok(socket) = UdpSocket::bind(("127.0.0.1", 0)) else {
        return answers;
    };
    if socket.connect(addr).is_err() {
        return answers;
    }
    let mut buf = vec![0u8; 65_535];
    for start in (0..queries.len()).step_by(UDP_WINDOW) {
        let end = (start + UDP_WINDOW).min(queries.len());
        let began = Instant::now();
        let mut next_send = began;
        let mut sends = 0;
        loop {
            let now = Instant::now();
            if now >= next_send && sends < 3 {
                for i in start..end {
                    if answers[i].is_none() {
                        let _ = socket.send(&with_id(&queries[i], id_of(i)));
                    }
                }
                sends += 1;
                next_send = now + deadline / 3;
            }
            if answers[start..end].iter().all(Option::is_some) || now >= began + deadline {
                break;
            }
            let wait = (next_send.min(began + deadline))
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            let _ = socket.set_read_timeout(Some(wait));
            if let Ok(n) = socket.recv(&mut buf)
                && n >= 2
            {
                let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                // IDs are the probe index modulo 65,536; find it in the window.
                if let Some(i) = (start..end).find(|&i| i % 65_536 == id)
                    && answers[i].is_none()
                {
                    answers[i] = Some(buf[..n].to_vec());
                }
            }
        }
    }
    answers
}

/// Ask every query over TCP, pipelined in batches of [`TCP_BATCH`] on one
/// connection (a new one after a failure). `None` where no answer came.
fn ask_tcp(addr: SocketAddr, queries: &[Vec<u8>], deadline: Duration) -> Vec<Option<Vec<u8>>> {
    let mut answers = vec![None; queries.len()];
    let mut stream: Option<TcpStream> = None;
    for start in (0..queries.len()).step_by(TCP_BATCH) {
        let end = (start + TCP_BATCH).min(queries.len());
        if stream.is_none() {
            stream = TcpStream::connect_timeout(&addr, deadline)
                .ok()
                .inspect(|s| {
                    let _ = s.set_read_timeout(Some(deadline));
                    let _ = s.set_write_timeout(Some(deadline));
                    let _ = s.set_nodelay(true);
                });
        }
        let Some(s) = stream.as_mut() else { continue };
        let mut bytes = Vec::new();
        for (i, q) in queries.iter().enumerate().take(end).skip(start) {
            let q = with_id(q, id_of(i));
            bytes.extend_from_slice(&(q.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&q);
        }
        let mut ok = s.write_all(&bytes).is_ok();
        for slot in answers.iter_mut().take(end).skip(start) {
            if !ok {
                break;
            }
            match read_frame(s) {
                Ok(a) => *slot = Some(a),
                Err(_) => ok = false,
            }
        }
        if !ok {
            stream = None;
        }
    }
    answers
}

/// Read one length-prefixed message.
fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg)?;
    Ok(msg)
}

/// Open `dir` and taste it; a directory that is not a bundle gets a
/// `reject` verdict naming the problem.
pub fn taste_dir(dir: &std::path::Path, config: &TasteConfig) -> Verdict {
    match Bundle::open(dir) {
        Ok(bundle) => taste(&bundle, config),
        Err(e) => Verdict::refused("", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::native::name::Name;

    fn probe(name: &str) -> Probe {
        Probe {
            name: Name::parse(name.as_bytes(), None).unwrap(),
            qtype: 1,
            expect: suite::Expect {
                rcodes: vec![0],
                aa: None,
                min_answers: 0,
                max_answers: None,
                min_authority: 0,
            },
            why: "test",
        }
    }

    #[test]
    fn divergence_gate_names_the_first_differing_query() {
        let probes = [probe("a.example."), probe("b.example.")];
        let same = vec![Some("x".to_string()); 4];
        let mut other = same.clone();
        other[3] = Some("y".into());
        let answers = vec![
            (EngineKind::Native, same.clone()),
            (EngineKind::Native, same),
        ];
        let mut failures = Failures::default();
        compare(&answers, &probes, &mut failures);
        assert_eq!((failures.checks, failures.failed), (1, 0));

        let answers = vec![
            (EngineKind::Native, answers[0].1.clone()),
            (EngineKind::Native, other),
        ];
        compare(&answers, &probes, &mut failures);
        assert_eq!(failures.failed, 1);
        assert!(
            failures.shown[0].starts_with("engines disagree on b.example. A over TCP"),
            "{}",
            failures.shown[0]
        );
    }

    /// A response to `name` A with one A record per address `10.0.0.a`.
    fn a_response(name: &str, addrs: &[u8]) -> message::Response {
        let mut wire = Vec::new();
        for label in name.trim_end_matches('.').split('.') {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        let mut m = vec![0, 1, 0x84, 0, 0, 1, 0, addrs.len() as u8, 0, 0, 0, 0];
        m.extend_from_slice(&wire);
        m.extend_from_slice(&[0, 1, 0, 1]);
        for &a in addrs {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, a]);
        }
        message::parse(&m).unwrap()
    }

    #[test]
    fn divergence_gate_allows_each_engine_its_own_limited_subset() {
        let policy = crate::fleet::FleetPolicy::parse(
            b"[[fleet]]\nname = \"www.example.\"\nrotation = \"random\"\nmax_answers = 2\n\
              [[fleet]]\nname = \"*.pool.example.\"\nmax_answers = 2\n\
              [[zone]]\norigin = \"example.\"\nrotation = \"random\"\n",
            std::path::Path::new("bundle.toml"),
        )
        .unwrap();
        let limited = Limited::of(&policy);
        let names = ["www.example.", "x.pool.example.", "api.example."];
        let probes = names.map(probe);
        let gate = |first: [&[u8]; 3], second: [&[u8]; 3]| {
            let side = |addrs: [&[u8]; 3]| {
                names
                    .iter()
                    .zip(addrs)
                    .flat_map(|(name, a)| {
                        let text = limited.normalised(&a_response(name, a));
                        [Some(text.clone()), Some(text)]
                    })
                    .collect::<Vec<_>>()
            };
            let answers = vec![
                (EngineKind::Native, side(first)),
                (EngineKind::Native, side(second)),
            ];
            let mut failures = Failures::default();
            compare(&answers, &probes, &mut failures);
            failures.shown
        };
        // Different subsets of limited sets, a random order elsewhere: alike.
        assert_eq!(
            gate(
                [&[1, 2], &[5, 6], &[1, 2, 3]],
                [&[3, 4], &[7, 5], &[3, 1, 2]]
            ),
            Vec::<String>::new()
        );
        // A subset of another size is a divergence.
        let shown = gate([&[1, 2], &[5, 6], &[1]], [&[3], &[5, 6], &[1]]);
        assert!(shown[0].contains("disagree on www.example. A"), "{shown:?}");
        // So is another address for a name without a limit.
        let shown = gate([&[1, 2], &[5, 6], &[1, 2]], [&[1, 2], &[5, 6], &[1, 3]]);
        assert!(shown[0].contains("disagree on api.example. A"), "{shown:?}");
        // The wildcard stands for names below it only.
        assert!(limited.covers(b"\x01x\x04pool\x07example\x00"));
        assert!(!limited.covers(b"\x04pool\x07example\x00"));
    }

    #[test]
    fn fleet_policies_taste_without_false_divergence() {
        let dir = tempfile::tempdir().unwrap();
        let mut zone = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n".to_string();
        for i in 0..12 {
            zone.push_str(&format!(
                "www A 10.0.0.{i}\napi A 10.0.1.{i}\n*.pool AAAA 2001:db8::{i:x}\n"
            ));
        }
        std::fs::write(dir.path().join("example.com.zone"), zone).unwrap();
        std::fs::write(
            dir.path().join("bundle.toml"),
            "[[zone]]\norigin = \"example.com.\"\nrotation = \"random\"\n\
             [[fleet]]\nname = \"www.example.com.\"\nmax_answers = 4\n\
             [[fleet]]\nname = \"*.pool.example.com.\"\nrotation = \"cyclic\"\nmax_answers = 3\n",
        )
        .unwrap();
        let verdict = taste_dir(dir.path(), &TasteConfig::default());
        assert!(verdict.promote(), "{verdict:?}");
    }

    #[test]
    fn tastes_a_small_bundle_over_udp_and_tcp() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("example.com.zone"),
            "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n",
        )
        .unwrap();
        let verdict = taste_dir(dir.path(), &TasteConfig::default());
        assert!(verdict.promote(), "{verdict:?}");
        assert_eq!(
            verdict.checks,
            verdict.probes * 2 * EngineKind::ALL.len() + usize::from(EngineKind::ALL.len() > 1)
        );
        let back: Verdict = serde_json::from_str(&verdict.to_json()).unwrap();
        assert_eq!(back, verdict);
    }
}
