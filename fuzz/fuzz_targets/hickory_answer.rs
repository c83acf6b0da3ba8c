//! Fuzz target: a query through the hickory engine's whole answer path; the
//! response must decode with the native codec. See
//! `stripedns::fuzzing::answer_checked`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stripedns::fuzzing::answer_checked("hickory", data, &stripedns::fuzzing::native_decodes)
});
