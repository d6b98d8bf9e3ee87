//! The SPNEGO blob of a SESSION_SETUP answer. See `pushinst::fuzzing::spnego`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::spnego(data));
