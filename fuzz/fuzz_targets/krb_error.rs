//! See `pushinst::fuzzing::krb_error`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::krb_error(data));
