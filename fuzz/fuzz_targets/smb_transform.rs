//! One SMB2 frame behind a TRANSFORM_HEADER. See `pushinst::fuzzing::smb_transform`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::smb_transform(data));
