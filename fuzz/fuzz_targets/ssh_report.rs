//! What the wrapper or the staging script printed on a Linux host. See
//! `pushinst::fuzzing::ssh_report`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::ssh_report(data));
