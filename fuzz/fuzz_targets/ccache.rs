//! See `pushinst::fuzzing::ccache`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::ccache(data));
