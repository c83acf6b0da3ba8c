//! Fuzz target: a query through the native engine's whole answer path; the
//! response must also decode with hickory-proto's decoder. See
//! `stripedns::fuzzing::answer_checked`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stripedns::fuzzing::answer_checked("native", data, &stripedns::engine::hickory::fuzzing::decodes)
});
