//! Replays every file of the checked-in fuzzing corpora (`fuzz/corpus/`)
//! through the same entry points the fuzz targets call, so every past
//! finding stays fixed without running the fuzzer.

use std::fs;
use std::path::Path;

use stripedns::fuzzing;

/// Run `entry` on every file of `fuzz/corpus/<target>`; returns the count.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for file in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = file.expect("corpus entry").path();
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{} panics", path.display());
        count += 1;
    }
    assert!(count > 0, "{} is empty", dir.display());
    count
}

#[test]
fn native_zonefile_corpus() {
    replay("native_zonefile", fuzzing::native_zonefile);
}

#[test]
fn zone_load_corpus() {
    replay("zone_load", fuzzing::zone_load);
}

#[test]
fn native_message_corpus() {
    replay("native_message", fuzzing::native_message);
}

#[test]
fn native_answer_corpus() {
    replay("native_answer", |data| {
        fuzzing::answer_checked(
            "native",
            data,
            &stripedns::engine::hickory::fuzzing::decodes,
        )
    });
}

#[test]
fn fingerprint_corpus() {
    replay("fingerprint", fuzzing::fingerprint);
}

#[test]
fn bundle_toml_corpus() {
    replay("bundle_toml", fuzzing::bundle_toml);
}

#[test]
fn hickory_answer_corpus() {
    replay("hickory_answer", |data| {
        fuzzing::answer_checked("hickory", data, &fuzzing::native_decodes)
    });
}

#[test]
fn differential_corpus() {
    replay("differential", fuzzing::engines_agree);
}
