//! Fuzz target: see `stripedns::fuzzing::fingerprint`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::fingerprint(data));
