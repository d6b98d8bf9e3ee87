//! See `pushinst::fuzzing::keytab`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::keytab(data));
