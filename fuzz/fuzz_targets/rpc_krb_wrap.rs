//! See `pushinst::fuzzing::rpc_krb_wrap`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::rpc_krb_wrap(data));
