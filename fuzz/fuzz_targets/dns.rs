//! See `pushinst::fuzzing::dns`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::dns(data));
