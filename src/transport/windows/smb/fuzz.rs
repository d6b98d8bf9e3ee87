//! Entry points for the fuzz targets (`fuzz/`, through `crate::fuzzing`): raw bytes
//! into the parsers that read what an SMB server sends. Each ignores the parsers'
//! results; only a panic, a hang or a runaway allocation is a finding.
//!
//! One function per fuzz target. A parser for another response belongs in
//! `response`, beside the ones there.

use super::crypto::{Cipher, Signer};
use super::ntlm::{self, Account};
use super::wire::{HEADER_LEN, Header};
use super::{data_at, security_buffer};
use crate::secrets::Secret;

/// The server-to-client key of `transform`: seeds sealed with it (AES-128-GCM,
/// MS-SMB2 3.1.4.3) get past the integrity check and into `response`.
pub const FUZZ_KEY: [u8; 16] = *b"pushinst-fuzzkey";

/// One SMB2 response, as `Session::read_message` hands it on: the header, the
/// signature check, and the payloads that READ, IOCTL and SESSION_SETUP answers
/// point at.
pub fn response(msg: &[u8]) {
    let _ = Header::parse(msg);
    for signer in [Signer::HmacSha256(FUZZ_KEY), Signer::AesCmac(FUZZ_KEY)] {
        let _ = signer.verify(msg);
    }
    // READ (MS-SMB2 2.2.20): one-byte offset; IOCTL (2.2.32): four-byte offset.
    let _ = data_at(msg, HEADER_LEN + 2, HEADER_LEN + 4, true);
    let _ = data_at(msg, HEADER_LEN + 32, HEADER_LEN + 36, false);
    if let Ok(blob) = security_buffer(msg) {
        spnego(blob);
    }
}

/// A frame that starts with a TRANSFORM_HEADER (MS-SMB2 2.2.41); what opens goes on
/// to `response`.
pub fn transform(frame: &[u8]) {
    // The client-to-server key only seals, which no target does.
    let cipher = Cipher::new(&[0; 16], &FUZZ_KEY, 0);
    if let Ok(msg) = cipher.open(frame) {
        response(&msg);
    }
}

/// The security blob of a SESSION_SETUP answer: SPNEGO (DER), then the NTLM
/// message inside.
pub fn spnego(blob: &[u8]) {
    if let Ok(token) = ntlm::spnego_token(blob) {
        challenge(&token);
    }
}

/// An NTLM CHALLENGE message, and the AUTHENTICATE answer built from it (which
/// walks the server's target info for its timestamp).
pub fn challenge(msg: &[u8]) {
    if let Ok(challenge) = ntlm::parse_challenge(msg) {
        let account = Account::parse(r"DOMAIN\user");
        let _ = ntlm::authenticate(&account, &Secret::new("password".into()), &challenge, [7; 8], 0);
    }
}
