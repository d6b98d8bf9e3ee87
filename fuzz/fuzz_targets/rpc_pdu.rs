//! DCE/RPC fragments as a pipe delivers them. See `pushinst::fuzzing::rpc_pdu`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pushinst::fuzzing::rpc_pdu(data));
