//! Fuzz target: a query through every engine, answers compared octet for
//! octet; see `stripedns::fuzzing::engines_agree`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::engines_agree(data));
