//! The NDR stub of an MS-SCMR answer. See `pushinst::fuzzing::scmr_ndr`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::scmr_ndr(data));
