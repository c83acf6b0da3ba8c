//! `stripedns check DIR`: one line per engine, a verdict, and the exit
//! status scripts rely on.

use std::time::Duration;

use crate::support::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn check_good_bundle_prints_engines_and_verdict() {
    let bundle = example_bundle();
    let out = run_stripedns(&["check", bundle.path().to_str().unwrap()], T);
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("native: ok")),
        "{}",
        out.stdout
    );
    let verdict = lines.last().expect("a verdict line");
    let id = verdict
        .strip_prefix("bundle ")
        .and_then(|v| v.strip_suffix(": ok"))
        .unwrap_or_else(|| panic!("bad verdict line: {verdict}"));
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn check_bad_zone_fails_naming_the_file() {
    let bundle = write_bundle(&[
        ("bad.example.zone", "this is not a zone file\n"),
        ("example.com.zone", &minimal_zone("example.com.")),
    ]);
    let out = run_stripedns(&["check", bundle.path().to_str().unwrap()], T);
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    let file = bundle.path().join("bad.example.zone");
    assert!(out.stdout.contains("native: failed"), "{}", out.stdout);
    assert!(out.stderr.starts_with("stripedns: "), "{}", out.stderr);
    assert!(
        out.stderr.contains(file.to_str().unwrap()),
        "{}",
        out.stderr
    );
}

#[test]
fn check_missing_directory_fails() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nothing-here");
    let out = run_stripedns(&["check", missing.to_str().unwrap()], T);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "{}",
        out.stderr
    );
}
