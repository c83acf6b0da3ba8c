//! Fuzz target: see `stripedns::fuzzing::zone_load`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::zone_load(data));
