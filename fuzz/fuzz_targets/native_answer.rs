//! Fuzz target: see `stripedns::fuzzing::native_answer`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::native_answer(data));
