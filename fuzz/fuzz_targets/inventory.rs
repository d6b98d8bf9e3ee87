//! An inventory file. See `pushinst::fuzzing::inventory`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::inventory(data));
