//! Bad bundles are refused with a message an operator can act on.
//!
//! Each test builds a broken bundle in a scratch directory and runs both
//! `stripedns serve --bundle DIR --listen ADDR:PORT` and `stripedns check DIR`
//! on it. Both must exit non-zero within a bounded time (a `serve` that is
//! still running has accepted the bundle, which fails the test) and print a
//! message naming the offending file, and for errors inside a zone file the
//! line as `FILE:LINE:`. A valid bundle passing `check` is the control that
//! keeps a CLI which rejects everything from passing these tests.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::{scratch_dir, unique_loopback};
use crate::support::free_port;

/// How long a command may take to refuse a bundle.
const DEADLINE: Duration = Duration::from_secs(20);

/// A valid zone for `example.com.`; the tests break copies of it. Line
/// numbers matter: tests append or replace from line 7 on.
const GOOD_ZONE: &str = "\
$ORIGIN example.com.
$TTL 3600
@       IN SOA  ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300
@       IN NS   ns1.example.com.
ns1     IN A    192.0.2.1
www     IN A    192.0.2.80
";

/// A scratch directory holding the bundle directory `dir` and room beside
/// it for files outside the bundle; removed on drop unless the test failed.
struct TestBundle {
    /// The scratch directory.
    scratch: PathBuf,
    /// The bundle directory, `scratch/bundle`.
    dir: PathBuf,
}

impl Drop for TestBundle {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.scratch);
        }
    }
}

impl std::ops::Deref for TestBundle {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

/// A new, empty bundle directory.
fn new_bundle() -> TestBundle {
    let scratch = scratch_dir("bundle-errors");
    let dir = scratch.join("bundle");
    fs::create_dir_all(&dir).unwrap();
    TestBundle { scratch, dir }
}

/// Write `text` to `dir/name`.
fn put(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Run `cmd` to completion within [`DEADLINE`]; its exit success and its
/// stdout and stderr together. A command still running at the deadline is
/// killed and fails the test: `serve` has accepted the bundle.
fn run(mut cmd: Command, what: &str) -> (bool, String) {
    let out_dir = scratch_dir("bundle-errors-out");
    let out_path = out_dir.join("output");
    let out = fs::File::create(&out_path).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let text = fs::read_to_string(&out_path).unwrap_or_default();
            panic!(
                "{what} was still running after {DEADLINE:?} (bundle accepted?); output:\n{text}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = fs::read_to_string(&out_path).unwrap_or_default();
    let _ = fs::remove_dir_all(&out_dir);
    (status.success(), text)
}

/// `stripedns serve --bundle DIR --listen ADDR:PORT` on a free loopback port.
fn serve(bundle: &Path) -> (bool, String) {
    let ip = unique_loopback();
    let port = free_port(ip.into());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripedns"));
    cmd.arg("serve")
        .arg("--bundle")
        .arg(bundle)
        .arg("--listen")
        .arg(format!("{ip}:{port}"));
    run(cmd, "stripedns serve")
}

/// `stripedns check DIR`.
fn check(bundle: &Path) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stripedns"));
    cmd.arg("check").arg(bundle);
    run(cmd, "stripedns check")
}

/// Both `serve` and `check` refuse `bundle`, and each message contains
/// every string of `expect` and at least one of `any_of` (if not empty).
fn assert_refused(bundle: &Path, expect: &[&str], any_of: &[&str]) {
    for (what, (ok, text)) in [("serve", serve(bundle)), ("check", check(bundle))] {
        assert!(
            !ok,
            "stripedns {what} accepted the bad bundle {}; output:\n{text}",
            bundle.display()
        );
        for e in expect {
            assert!(
                text.contains(e),
                "stripedns {what}: message lacks `{e}`:\n{text}"
            );
        }
        assert!(
            any_of.is_empty() || any_of.iter().any(|e| text.contains(e)),
            "stripedns {what}: message names none of {any_of:?}:\n{text}"
        );
    }
}

#[test]
fn valid_bundle_passes_check() {
    let bundle = new_bundle();
    put(&bundle, "example.com.zone", GOOD_ZONE);
    let (ok, text) = check(&bundle);
    assert!(ok, "stripedns check refused a valid bundle:\n{text}");
    let diff = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones/diff");
    let (ok, text) = check(&diff);
    assert!(ok, "stripedns check refused tests/zones/diff:\n{text}");
}

#[test]
fn missing_directory_is_named() {
    let bundle = new_bundle();
    let missing = bundle.join("no-such-bundle");
    assert_refused(&missing, &["no-such-bundle"], &[]);
}

#[test]
fn directory_without_zone_files_is_named() {
    let bundle = new_bundle();
    put(&bundle, "README.txt", "not a zone\n");
    let shown = bundle.display().to_string();
    assert_refused(&bundle, &[&shown], &[]);
}

#[test]
fn unreadable_zone_file_is_named() {
    let bundle = new_bundle();
    put(
        &bundle,
        "example.net.zone",
        &GOOD_ZONE.replace("example.com.", "example.net."),
    );
    // Permissions do not stop root, so as root the unreadable file is a
    // link to a file that does not exist (inside the bundle).
    if is_root() {
        symlink("missing.txt", bundle.join("example.com.zone")).unwrap();
    } else {
        let path = put(&bundle, "example.com.zone", GOOD_ZONE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    }
    assert_refused(&bundle, &["example.com.zone"], &[]);
}

#[test]
fn file_name_that_is_not_an_origin_is_named() {
    let bundle = new_bundle();
    put(&bundle, "example.com.zone", GOOD_ZONE);
    put(
        &bundle,
        "a..b.zone",
        &GOOD_ZONE.replace("example.com.", "a.b."),
    );
    assert_refused(&bundle, &["a..b.zone"], &[]);
}

#[test]
fn include_climbing_out_of_the_bundle_is_refused() {
    let bundle = new_bundle();
    put(
        bundle.parent().unwrap(),
        "outside",
        "extra IN A 192.0.2.99\n",
    );
    put(
        &bundle,
        "example.com.zone",
        &format!("{GOOD_ZONE}$INCLUDE ../outside\n"),
    );
    assert_refused(&bundle, &["example.com.zone:7:"], &[]);
}

#[test]
fn include_of_an_absolute_path_outside_is_refused() {
    let bundle = new_bundle();
    put(
        &bundle,
        "example.com.zone",
        &format!("{GOOD_ZONE}$INCLUDE /etc/hosts\n"),
    );
    assert_refused(&bundle, &["example.com.zone:7:"], &[]);
}

#[test]
fn symlink_leading_out_of_the_bundle_is_refused() {
    let bundle = new_bundle();
    put(&bundle, "example.com.zone", GOOD_ZONE);
    let outside = put(
        bundle.parent().unwrap(),
        "outside.zone",
        &GOOD_ZONE.replace("example.com.", "example.net."),
    );
    symlink(&outside, bundle.join("example.net.zone")).unwrap();
    assert_refused(&bundle, &["example.net.zone"], &[]);
}

#[test]
fn syntax_error_names_file_and_line() {
    let bundle = new_bundle();
    put(
        &bundle,
        "example.com.zone",
        &format!("{GOOD_ZONE}bad     IN A    192.0.2.300\n"),
    );
    assert_refused(&bundle, &["example.com.zone:7:"], &[]);
}

#[test]
fn zone_without_soa_is_refused() {
    let bundle = new_bundle();
    let no_soa: String = GOOD_ZONE
        .lines()
        .filter(|l| !l.contains("SOA"))
        .map(|l| format!("{l}\n"))
        .collect();
    put(&bundle, "example.com.zone", &no_soa);
    assert_refused(&bundle, &["example.com.zone", "SOA"], &[]);
}

#[test]
fn cname_beside_other_data_is_refused() {
    let bundle = new_bundle();
    // Line 6 holds `www A`, line 7 the CNAME at the same name.
    put(
        &bundle,
        "example.com.zone",
        &format!("{GOOD_ZONE}www     IN CNAME ns1.example.com.\n"),
    );
    assert_refused(
        &bundle,
        &["example.com.zone", "CNAME"],
        &["example.com.zone:6:", "example.com.zone:7:"],
    );
}

/// Whether the tests run as root (for whom file permissions do not apply).
fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no memory effects.
    unsafe { libc::geteuid() == 0 }
}
