//! Entry points for the fuzz targets (`fuzz/`, through `crate::fuzzing`): raw bytes
//! into the parsers that read what an SMB server sends. Each ignores the parsers'
//! results; only a panic, a hang or a runaway allocation is a finding.
//!
//! One function per fuzz target. A parser for another response belongs in
//! `response`, beside the ones there.

use zeroize::Zeroizing;

use super::crypto::{Cipher, CipherId, Signer, TransformHeader};
use super::messages::{
    CreateResponse, IoctlResponse, QueryDirectoryResponse, ReadResponse, SessionSetupResponse,
    TreeConnectResponse, WriteResponse,
};
use super::negotiate::{self, NegotiateResponse};
use super::ntlm::{self, Account};
use super::wire::Header;
use crate::secrets::Secret;

/// The server-to-client key of `transform`: seeds sealed with it (AES-128-GCM,
/// MS-SMB2 3.1.4.3) get past the integrity check and into `response`.
pub const FUZZ_KEY: [u8; 16] = *b"pushinst-fuzzkey";
/// What pushinst asks for at most in one READ, IOCTL or listing.
const ASKED: u32 = 64 * 1024;

/// One SMB2 response, as `Session::recv` hands it on: the header, the signature
/// check, and every response structure pushinst decodes (MS-SMB2 2.2).
pub fn response(msg: &[u8]) {
    let _ = Header::parse(msg);
    for signer in [
        Signer::HmacSha256(Zeroizing::new(FUZZ_KEY)),
        Signer::AesCmac(Zeroizing::new(FUZZ_KEY)),
    ] {
        let _ = signer.verify(msg);
    }
    if let Ok(negotiated) = NegotiateResponse::parse(msg) {
        // The dialect check compares a later answer with this one.
        if let Ok(ioctl) = IoctlResponse::parse(msg, ASKED) {
            let _ = negotiate::validate_negotiate_matches(ioctl.output, &negotiated);
        }
    }
    if let Ok(setup) = SessionSetupResponse::parse(msg) {
        spnego(setup.security_buffer);
    }
    let _ = TreeConnectResponse::parse(msg);
    let _ = CreateResponse::parse(msg);
    let _ = WriteResponse::parse(msg);
    let _ = ReadResponse::parse(msg, ASKED);
    let _ = IoctlResponse::parse(msg, ASKED);
    if let Ok(listing) = QueryDirectoryResponse::parse(msg, ASKED) {
        let _ = listing.names();
    }
}

/// A frame that starts with a TRANSFORM_HEADER (MS-SMB2 2.2.41); what opens goes on
/// to `response`.
pub fn transform(frame: &[u8]) {
    // The frame's own session id, so sealed seeds open whatever session they name.
    let Ok(header) = TransformHeader::parse(frame) else {
        return;
    };
    // The client-to-server key only seals, which no target does.
    if let Ok(cipher) = Cipher::from_keys(CipherId::Aes128Gcm, &[0; 16], &FUZZ_KEY, header.session_id)
        && let Ok(msg) = cipher.open(frame)
    {
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
/// walks the server's target info for its timestamp and computer name).
pub fn challenge(msg: &[u8]) {
    if let Ok(challenge) = ntlm::parse_challenge(msg) {
        let account = Account::parse(r"DOMAIN\user");
        let password = Secret::new("password".into());
        let negotiate = ntlm::negotiate();
        let logon = ntlm::Logon {
            account: &account,
            password: &password,
            negotiate: &negotiate,
            challenge: &challenge,
            target_name: "cifs/fuzz",
        };
        let random = ntlm::Randomness {
            client_challenge: [7; 8],
            session_key: zeroize::Zeroizing::new([7; 16]),
        };
        let _ = ntlm::authenticate(&logon, random, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without seeds that open, the transform target would never reach `response`.
    #[test]
    fn the_sealed_seeds_open_with_the_fuzz_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/smb_transform");
        let opened = std::fs::read_dir(dir)
            .expect("the smb_transform corpus")
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter(|frame| {
                TransformHeader::parse(frame).is_ok_and(|h| {
                    Cipher::from_keys(CipherId::Aes128Gcm, &[0; 16], &FUZZ_KEY, h.session_id)
                        .is_ok_and(|c| c.open(frame).is_ok())
                })
            })
            .count();
        assert!(opened >= 3, "only {opened} sealed seeds open with FUZZ_KEY");
    }
}
