//! Fuzz target: a query through the hickory engine's whole answer path;
//! see `stripedns::fuzzing::answer_with`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stripedns::fuzzing::answer_with("hickory", data));
