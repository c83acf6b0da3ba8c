//! Fuzz target: see `stripedns::fuzzing::native_zonefile`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::native_zonefile(data));
