//! Fuzz target: see `stripedns::fuzzing::bundle_toml`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::bundle_toml(data));
