//! NTLM session security (MS-NLMP 3.4) with extended session security: each
//! direction's signing key, RC4 sealing stream and sequence number, and the
//! NTLMSSP_MESSAGE_SIGNATURE that proves a message came unaltered from the other
//! side. DCE/RPC at packet privacy seals and signs with it; SPNEGO's mechListMIC
//! signs with it once.

use md5::{Digest, Md5};
use zeroize::Zeroizing;

use super::ntlm::{KEY_56, KEY_128, KEY_EXCH, hmac_md5};
use super::rc4::Rc4;

/// NTLMSSP_MESSAGE_SIGNATURE for extended session security (MS-NLMP 2.2.2.9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSignature {
    /// Always 1.
    pub version: u32,
    /// The first 8 bytes of the HMAC-MD5, RC4-encrypted when keys were exchanged.
    pub checksum: [u8; 8],
    pub seq_num: u32,
}

impl MessageSignature {
    pub const LEN: usize = 16;
    const VERSION: u32 = 1;

    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..12].copy_from_slice(&self.checksum);
        out[12..].copy_from_slice(&self.seq_num.to_le_bytes());
        out
    }

    pub fn parse(bytes: &[u8]) -> Option<MessageSignature> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&bytes[4..12]);
        Some(MessageSignature {
            version: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            checksum,
            seq_num: u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        })
    }
}

/// One direction of the session: what signs and seals its messages, and how many
/// it has carried.
struct Direction {
    sign_key: Zeroizing<[u8; 16]>,
    seal: Rc4,
    seq: u32,
}

const CLIENT_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

fn md5(parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut h = Md5::new();
    for part in parts {
        h.update(part);
    }
    Zeroizing::new(h.finalize().into())
}

impl Direction {
    /// SIGNKEY and SEALKEY (MS-NLMP 3.4.5.2, 3.4.5.3).
    fn new(session_key: &[u8; 16], flags: u32, sign: &[u8], seal: &[u8]) -> Direction {
        let seal_len = if flags & KEY_128 != 0 {
            16
        } else if flags & KEY_56 != 0 {
            7
        } else {
            5
        };
        Direction {
            sign_key: md5(&[session_key, sign]),
            seal: Rc4::new(&md5(&[&session_key[..seal_len], seal])[..]),
            seq: 0,
        }
    }

    /// MAC (MS-NLMP 3.4.4.2): HMAC-MD5 over the sequence number and the message,
    /// its checksum RC4'd on the sealing stream when keys were exchanged.
    fn mac(&mut self, message: &[u8], key_exch: bool) -> MessageSignature {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let digest = hmac_md5(&self.sign_key[..], &[&seq.to_le_bytes(), message]);
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&digest[..8]);
        if key_exch {
            self.seal.apply(&mut checksum);
        }
        MessageSignature {
            version: MessageSignature::VERSION,
            checksum,
            seq_num: seq,
        }
    }
}

/// A client's NTLM security context after the AUTHENTICATE message.
pub struct NtlmSession {
    client: Direction,
    server: Direction,
    key_exch: bool,
}

impl NtlmSession {
    /// `session_key` is the exported session key; `flags` those both sides agreed on.
    pub fn client(session_key: &[u8; 16], flags: u32) -> NtlmSession {
        NtlmSession {
            client: Direction::new(session_key, flags, CLIENT_SIGN, CLIENT_SEAL),
            server: Direction::new(session_key, flags, SERVER_SIGN, SERVER_SEAL),
            key_exch: flags & KEY_EXCH != 0,
        }
    }

    /// Sign an outgoing message without sealing anything.
    pub fn sign(&mut self, message: &[u8]) -> MessageSignature {
        self.client.mac(message, self.key_exch)
    }

    /// Seal `data` in place, then sign `signed`, which the caller built with
    /// `data` still in plaintext (MS-NLMP 3.4.3: the signature covers the plaintext).
    pub fn seal(&mut self, data: &mut [u8], signed: &[u8]) -> MessageSignature {
        self.client.seal.apply(data);
        self.client.mac(signed, self.key_exch)
    }

    /// Unseal an incoming message's sealed part in place. Its content must not be
    /// used until `verify` accepted the signature over it.
    pub fn unseal(&mut self, data: &mut [u8]) {
        self.server.seal.apply(data);
    }

    /// Whether `signature` is the server's next signature over `signed` (in
    /// plaintext). A wrong one still uses up the sequence number: the session is
    /// over after it anyway.
    pub fn verify(&mut self, signed: &[u8], signature: &[u8]) -> bool {
        let Some(got) = MessageSignature::parse(signature) else {
            return false;
        };
        let expected = self.server.mac(signed, self.key_exch);
        // Not secret-dependent timing that matters: the expected value is the
        // server's and is discarded; compare in full anyway.
        let same = got
            .checksum
            .iter()
            .zip(expected.checksum.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        same && got.version == expected.version && got.seq_num == expected.seq_num
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::windows::smb::ntlm::{EXTENDED_SESSION_SECURITY, SEAL, SIGN};

    const FLAGS: u32 = KEY_128 | KEY_EXCH | KEY_56 | EXTENDED_SESSION_SECURITY | SEAL | SIGN;

    /// The server's side, built from the same keys with the directions swapped.
    fn server(session_key: &[u8; 16]) -> NtlmSession {
        NtlmSession {
            client: Direction::new(session_key, FLAGS, SERVER_SIGN, SERVER_SEAL),
            server: Direction::new(session_key, FLAGS, CLIENT_SIGN, CLIENT_SEAL),
            key_exch: true,
        }
    }

    #[test]
    fn what_one_side_seals_the_other_opens_and_a_changed_byte_is_caught() {
        let key = [0x42; 16];
        let mut client = NtlmSession::client(&key, FLAGS);
        let mut peer = server(&key);
        for round in 0..3u8 {
            let plain = vec![round; 40];
            let mut sealed = plain.clone();
            let signature = client.seal(&mut sealed, &plain);
            assert_ne!(sealed, plain);
            assert_eq!(signature.seq_num, round as u32);
            let mut opened = sealed.clone();
            peer.unseal(&mut opened);
            assert_eq!(opened, plain);
            assert!(peer.verify(&opened, &signature.to_bytes()));
        }
        let mut sealed = vec![7u8; 8];
        let signature = client.seal(&mut sealed, &[7u8; 8]);
        sealed[0] ^= 1;
        peer.unseal(&mut sealed);
        assert!(!peer.verify(&sealed, &signature.to_bytes()));
        assert!(
            !peer.verify(&sealed, &[0; 15]),
            "a short signature is no signature"
        );
    }
}
