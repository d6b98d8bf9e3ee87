//! The NDR stub of an MS-TSCH answer. See `pushinst::fuzzing::tsch_ndr`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::tsch_ndr(data));
