//! See `pushinst::fuzzing::kdc_request`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::kdc_request(data));
