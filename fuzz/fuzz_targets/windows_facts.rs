//! What pushinst's facts wrapper printed on a Windows host. See
//! `pushinst::fuzzing::windows_facts`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::windows_facts(data));
