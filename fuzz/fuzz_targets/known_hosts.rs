//! A known_hosts file. See `pushinst::fuzzing::known_hosts`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::known_hosts(data));
