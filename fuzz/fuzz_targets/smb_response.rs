//! One SMB2 response message. See `pushinst::fuzzing::smb_response`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::smb_response(data));
