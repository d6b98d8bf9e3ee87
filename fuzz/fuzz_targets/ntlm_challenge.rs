//! One NTLM CHALLENGE message. See `pushinst::fuzzing::ntlm_challenge`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::ntlm_challenge(data));
