//! See `pushinst::fuzzing::krb5_conf`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::krb5_conf(data));
