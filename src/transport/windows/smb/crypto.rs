//! What protects an SMB session: the SMB 3.1.1 key derivation, message signing
//! (AES-CMAC for 3.1.1, HMAC-SHA256 for 2.1) and AES-128-GCM encryption.

use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use cmac::Cmac;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::SmbError;
use super::wire::TRANSFORM_ID;

/// SP800-108 counter mode with HMAC-SHA256, one block, 128 bits (MS-SMB2 3.1.4.2).
pub fn kdf(key: &[u8; 16], label: &[u8], context: &[u8]) -> [u8; 16] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&1u32.to_be_bytes());
    mac.update(label);
    mac.update(&[0]);
    mac.update(context);
    mac.update(&128u32.to_be_bytes());
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The running SHA-512 over negotiate and session setup messages (3.1.1).
#[derive(Clone)]
pub struct Preauth(pub [u8; 64]);

impl Preauth {
    pub fn new() -> Self {
        Preauth([0u8; 64])
    }
    pub fn update(&mut self, message: &[u8]) {
        let mut h = Sha512::new();
        h.update(self.0);
        h.update(message);
        self.0.copy_from_slice(&h.finalize());
    }
}

#[derive(Clone)]
pub enum Signer {
    /// SMB 2.1: HMAC-SHA256 with the session key.
    HmacSha256([u8; 16]),
    /// SMB 3.x: AES-128-CMAC with the derived signing key.
    AesCmac([u8; 16]),
}

impl Signer {
    fn mac(&self, message: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        match self {
            Signer::HmacSha256(key) => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
                mac.update(message);
                out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
            }
            Signer::AesCmac(key) => {
                let mut mac = <Cmac<Aes128> as KeyInit>::new_from_slice(key).expect("16-byte key");
                mac.update(message);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// Set the SIGNED flag and the signature of a whole message.
    pub fn sign(&self, message: &mut [u8]) {
        let flags = u32::from_le_bytes([message[16], message[17], message[18], message[19]]) | 0x8;
        message[16..20].copy_from_slice(&flags.to_le_bytes());
        message[48..64].fill(0);
        let signature = self.mac(message);
        message[48..64].copy_from_slice(&signature);
    }

    /// A signed message from the server must carry our key's signature.
    pub fn verify(&self, message: &[u8]) -> bool {
        if message.len() < 64 {
            return false;
        }
        let mut copy = message.to_vec();
        copy[48..64].fill(0);
        self.mac(&copy) == message[48..64]
    }
}

/// AES-128-GCM in both directions, with the session id bound into every message.
pub struct Cipher {
    encrypt: Aes128Gcm,
    decrypt: Aes128Gcm,
    session_id: u64,
    counter: u64,
    salt: [u8; 4],
}

pub const TRANSFORM_LEN: usize = 52;

impl Cipher {
    pub fn new(client_to_server: &[u8; 16], server_to_client: &[u8; 16], session_id: u64) -> Self {
        let mut salt = [0u8; 4];
        let _ = getrandom::fill(&mut salt);
        Cipher {
            encrypt: Aes128Gcm::new(client_to_server.into()),
            decrypt: Aes128Gcm::new(server_to_client.into()),
            session_id,
            counter: 0,
            salt,
        }
    }

    /// TRANSFORM_HEADER + ciphertext (MS-SMB2 2.2.41). Nonces never repeat: a
    /// random prefix per session and a counter.
    pub fn seal(&mut self, message: &[u8]) -> Result<Vec<u8>, SmbError> {
        self.counter += 1;
        let mut nonce = [0u8; 16];
        nonce[..4].copy_from_slice(&self.salt);
        nonce[4..12].copy_from_slice(&self.counter.to_le_bytes());
        let mut out = Vec::with_capacity(TRANSFORM_LEN + message.len());
        out.extend_from_slice(&TRANSFORM_ID);
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&(message.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&self.session_id.to_le_bytes());
        let mut body = message.to_vec();
        let tag = self
            .encrypt
            .encrypt_inout_detached(&nonce_of(&nonce[..12]), &out[20..52], body.as_mut_slice().into())
            .map_err(|_| SmbError::Protocol("encryption failed".into()))?;
        out[4..20].copy_from_slice(&tag);
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SmbError> {
        let bad = |why: &str| SmbError::Protocol(format!("an encrypted answer {why}"));
        if sealed.len() < TRANSFORM_LEN || sealed[..4] != TRANSFORM_ID {
            return Err(bad("has no transform header"));
        }
        let size = u32::from_le_bytes([sealed[36], sealed[37], sealed[38], sealed[39]]) as usize;
        if size != sealed.len() - TRANSFORM_LEN {
            return Err(bad("has the wrong length"));
        }
        let mut body = sealed[TRANSFORM_LEN..].to_vec();
        let tag = Tag::try_from(&sealed[4..20]).map_err(|_| bad("has a short tag"))?;
        self.decrypt
            .decrypt_inout_detached(
                &nonce_of(&sealed[20..32]),
                &sealed[20..52],
                body.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| bad("failed its integrity check"))?;
        Ok(body)
    }
}

fn nonce_of(bytes: &[u8]) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut nonce = Nonce::default();
    nonce.copy_from_slice(bytes);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_with_the_peer_key_and_tampering_is_caught() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let mut client = Cipher::new(&a, &b, 7);
        let server = Cipher::new(&b, &a, 7);
        let message = b"\xfeSMB hello".to_vec();
        let sealed = client.seal(&message).unwrap();
        assert_eq!(server.open(&sealed).unwrap(), message);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(server.open(&tampered).is_err());
        assert_ne!(
            client.seal(&message).unwrap()[20..32],
            sealed[20..32],
            "a fresh nonce each time"
        );
    }

    #[test]
    fn signatures_verify_and_detect_changes() {
        for signer in [Signer::AesCmac([9u8; 16]), Signer::HmacSha256([9u8; 16])] {
            let mut message = vec![0u8; 80];
            message[..4].copy_from_slice(&super::super::wire::PROTOCOL_ID);
            signer.sign(&mut message);
            assert!(signer.verify(&message));
            message[70] ^= 1;
            assert!(!signer.verify(&message));
        }
    }
}
