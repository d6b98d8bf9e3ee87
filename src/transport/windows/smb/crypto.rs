//! What protects an SMB session: the key derivation (MS-SMB2 3.1.4.2), message
//! signing (HMAC-SHA256 for 2.x, AES-128-CMAC for 3.x, 3.1.4.1) and encryption
//! (AES-128/256 in GCM or CCM, 3.1.4.3). Every key is zeroed when dropped.

use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::consts::{U11, U16};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use cmac::Cmac;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use super::SmbError;
use super::wire::{HEADER_LEN, TRANSFORM_ID};

/// Bytes 48..64 of the SMB2 header (MS-SMB2 2.2.1.2).
const SIGNATURE: std::ops::Range<usize> = 48..64;
/// The flags field of the SMB2 header, and its SMB2_FLAGS_SIGNED bit.
const FLAGS: std::ops::Range<usize> = 16..20;
const FLAG_SIGNED: u32 = 0x0000_0008;

/// SP800-108 counter mode with HMAC-SHA256, one block: `N` bytes of key (L = 8N).
/// The 256-bit ciphers need 32 bytes, everything else 16.
pub fn kdf<const N: usize>(key: &[u8; 16], label: &[u8], context: &[u8]) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 32, "one HMAC-SHA256 block") };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&1u32.to_be_bytes());
    mac.update(label);
    mac.update(&[0]);
    mac.update(context);
    mac.update(&((N * 8) as u32).to_be_bytes());
    let full = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
    let mut out = Zeroizing::new([0u8; N]);
    out.copy_from_slice(&full[..N]);
    out
}

/// The running SHA-512 over negotiate and session setup messages (3.1.1): the keys
/// are derived from it, so a changed NEGOTIATE breaks the logon's signature.
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

/// How a session signs (MS-SMB2 3.1.4.1).
pub enum Signer {
    /// SMB 2.0.2 and 2.1: HMAC-SHA256 with the session key.
    HmacSha256(Zeroizing<[u8; 16]>),
    /// SMB 3.x: AES-128-CMAC with the derived signing key.
    AesCmac(Zeroizing<[u8; 16]>),
}

impl Signer {
    /// Feed the message to a MAC with its signature field taken as zeros, without
    /// copying the (up to 64 KiB) message.
    fn feed(mac: &mut impl Mac, message: &[u8]) {
        mac.update(&message[..SIGNATURE.start]);
        mac.update(&[0u8; 16]);
        mac.update(&message[SIGNATURE.end..]);
    }

    fn mac(&self, message: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        match self {
            Signer::HmacSha256(key) => {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..]).expect("any key length");
                Self::feed(&mut mac, message);
                out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
            }
            Signer::AesCmac(key) => {
                let mut mac = <Cmac<Aes128> as KeyInit>::new_from_slice(&key[..]).expect("16-byte key");
                Self::feed(&mut mac, message);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// Set the SIGNED flag and the signature of a whole message.
    pub fn sign(&self, message: &mut [u8]) {
        if message.len() < HEADER_LEN {
            return;
        }
        let mut flags = [0u8; 4];
        flags.copy_from_slice(&message[FLAGS]);
        let flags = u32::from_le_bytes(flags) | FLAG_SIGNED;
        message[FLAGS].copy_from_slice(&flags.to_le_bytes());
        let signature = self.mac(message);
        message[SIGNATURE].copy_from_slice(&signature);
    }

    /// A signed message from the server must carry our key's signature. The
    /// comparison takes the same time wherever the first difference is.
    pub fn verify(&self, message: &[u8]) -> bool {
        if message.len() < HEADER_LEN {
            return false;
        }
        let expected = self.mac(message);
        let got = &message[SIGNATURE];
        expected.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The ciphers of MS-SMB2 2.2.3.1.2, by their wire ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherId {
    Aes128Ccm = 1,
    Aes128Gcm = 2,
    Aes256Ccm = 3,
    Aes256Gcm = 4,
}

impl CipherId {
    /// What pushinst offers, strongest and fastest first (as Windows Server 2022 does).
    pub const OFFERED: [CipherId; 4] = [
        CipherId::Aes256Gcm,
        CipherId::Aes128Gcm,
        CipherId::Aes256Ccm,
        CipherId::Aes128Ccm,
    ];

    pub fn from_wire(id: u16) -> Option<CipherId> {
        Self::OFFERED.into_iter().find(|c| *c as u16 == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            CipherId::Aes128Ccm => "AES-128-CCM",
            CipherId::Aes128Gcm => "AES-128-GCM",
            CipherId::Aes256Ccm => "AES-256-CCM",
            CipherId::Aes256Gcm => "AES-256-GCM",
        }
    }

    fn is_256(self) -> bool {
        matches!(self, CipherId::Aes256Ccm | CipherId::Aes256Gcm)
    }

    fn nonce_len(self) -> usize {
        match self {
            CipherId::Aes128Ccm | CipherId::Aes256Ccm => 11,
            CipherId::Aes128Gcm | CipherId::Aes256Gcm => 12,
        }
    }
}

/// One direction's AEAD; each type zeroes its key schedule on drop.
enum Aead {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    Aes128Ccm(Box<Ccm<Aes128, U16, U11>>),
    Aes256Ccm(Box<Ccm<Aes256, U16, U11>>),
}

impl Aead {
    fn new(id: CipherId, key: &[u8]) -> Result<Aead, SmbError> {
        let bad = |_| SmbError::Protocol("a derived key has the wrong length".into());
        Ok(match id {
            CipherId::Aes128Gcm => Aead::Aes128Gcm(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            CipherId::Aes256Gcm => Aead::Aes256Gcm(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            CipherId::Aes128Ccm => Aead::Aes128Ccm(Box::new(Ccm::new_from_slice(key).map_err(bad)?)),
            CipherId::Aes256Ccm => Aead::Aes256Ccm(Box::new(Ccm::new_from_slice(key).map_err(bad)?)),
        })
    }

    /// Encrypt `body` in place; the tag, or `None` if the library refused.
    fn seal(&self, nonce: &[u8], aad: &[u8], body: &mut [u8]) -> Option<[u8; 16]> {
        let tag = match self {
            Aead::Aes128Gcm(c) => c.encrypt_inout_detached(nonce.try_into().ok()?, aad, body.into()),
            Aead::Aes256Gcm(c) => c.encrypt_inout_detached(nonce.try_into().ok()?, aad, body.into()),
            Aead::Aes128Ccm(c) => c.encrypt_inout_detached(nonce.try_into().ok()?, aad, body.into()),
            Aead::Aes256Ccm(c) => c.encrypt_inout_detached(nonce.try_into().ok()?, aad, body.into()),
        }
        .ok()?;
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag);
        Some(out)
    }

    /// Decrypt `body` in place if the tag proves it came from the key's holder.
    fn open(&self, nonce: &[u8], aad: &[u8], body: &mut [u8], tag: &[u8]) -> bool {
        let (Ok(tag), body) = (<&[u8; 16]>::try_from(tag), body) else {
            return false;
        };
        let tag = (*tag).into();
        match self {
            Aead::Aes128Gcm(c) => nonce
                .try_into()
                .is_ok_and(|n| c.decrypt_inout_detached(n, aad, body.into(), &tag).is_ok()),
            Aead::Aes256Gcm(c) => nonce
                .try_into()
                .is_ok_and(|n| c.decrypt_inout_detached(n, aad, body.into(), &tag).is_ok()),
            Aead::Aes128Ccm(c) => nonce
                .try_into()
                .is_ok_and(|n| c.decrypt_inout_detached(n, aad, body.into(), &tag).is_ok()),
            Aead::Aes256Ccm(c) => nonce
                .try_into()
                .is_ok_and(|n| c.decrypt_inout_detached(n, aad, body.into(), &tag).is_ok()),
        }
    }
}

/// SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): ProtocolId, Signature, Nonce,
/// OriginalMessageSize, Reserved, Flags, SessionId.
pub const TRANSFORM_LEN: usize = 52;
/// Flags = Encrypted (3.1.1), or EncryptionAlgorithm = SMB2_ENCRYPTION_AES128_CCM (3.0):
/// the same value on the wire.
const TRANSFORM_ENCRYPTED: u16 = 0x0001;

/// The parsed fixed part of a TRANSFORM_HEADER.
pub struct TransformHeader<'a> {
    pub signature: &'a [u8],
    pub nonce: &'a [u8],
    pub original_message_size: u32,
    pub flags: u16,
    pub session_id: u64,
    /// Bytes 20..52: what the AEAD authenticates besides the message.
    pub aad: &'a [u8],
}

impl<'a> TransformHeader<'a> {
    pub fn parse(frame: &'a [u8]) -> Result<TransformHeader<'a>, SmbError> {
        let bad = |why: &str| SmbError::Protocol(format!("an encrypted answer {why}"));
        if frame.len() < TRANSFORM_LEN || frame[..4] != TRANSFORM_ID {
            return Err(bad("has no transform header"));
        }
        let u32_at = |at: usize| u32::from_le_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
        let mut session = [0u8; 8];
        session.copy_from_slice(&frame[44..52]);
        Ok(TransformHeader {
            signature: &frame[4..20],
            nonce: &frame[20..36],
            original_message_size: u32_at(36),
            flags: u16::from_le_bytes([frame[42], frame[43]]),
            session_id: u64::from_le_bytes(session),
            aad: &frame[20..52],
        })
    }
}

/// A session's encryption in both directions, with the session id bound into
/// every message.
pub struct Cipher {
    id: CipherId,
    encrypt: Aead,
    decrypt: Aead,
    session_id: u64,
    counter: u64,
    salt: [u8; 4],
}

/// Why an encrypted answer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not even a well-formed transform frame.
    Malformed,
    /// Well-formed, but not sealed with this session's key: changed on the way.
    Integrity,
}

impl Cipher {
    /// Keys from the session key: `labels` are (client-to-server, server-to-client)
    /// label and context pairs, which differ between 3.0 and 3.1.1.
    pub fn derive(
        id: CipherId,
        session_key: &[u8; 16],
        c2s: (&[u8], &[u8]),
        s2c: (&[u8], &[u8]),
        session_id: u64,
    ) -> Result<Cipher, SmbError> {
        let (encrypt, decrypt) = if id.is_256() {
            (
                Aead::new(id, &kdf::<32>(session_key, c2s.0, c2s.1)[..])?,
                Aead::new(id, &kdf::<32>(session_key, s2c.0, s2c.1)[..])?,
            )
        } else {
            (
                Aead::new(id, &kdf::<16>(session_key, c2s.0, c2s.1)[..])?,
                Aead::new(id, &kdf::<16>(session_key, s2c.0, s2c.1)[..])?,
            )
        };
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).map_err(|_| SmbError::Protocol("no randomness for nonces".into()))?;
        Ok(Cipher {
            id,
            encrypt,
            decrypt,
            session_id,
            counter: 0,
            salt,
        })
    }

    /// A cipher from raw keys rather than a session key: the fuzz targets' seeds
    /// are sealed with a fixed key so they get past the integrity check.
    pub fn from_keys(id: CipherId, c2s: &[u8], s2c: &[u8], session_id: u64) -> Result<Cipher, SmbError> {
        Ok(Cipher {
            id,
            encrypt: Aead::new(id, c2s)?,
            decrypt: Aead::new(id, s2c)?,
            session_id,
            counter: 0,
            salt: [0; 4],
        })
    }

    pub fn id(&self) -> CipherId {
        self.id
    }

    /// TRANSFORM_HEADER + ciphertext. Nonces never repeat within a session: a
    /// counter, with a random prefix where the nonce has room.
    pub fn seal(&mut self, message: &[u8]) -> Result<Vec<u8>, SmbError> {
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| SmbError::Protocol("the session used up its nonces".into()))?;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.counter.to_le_bytes());
        let room = self.id.nonce_len() - 8;
        nonce[8..8 + room].copy_from_slice(&self.salt[..room]);
        let size = u32::try_from(message.len()).map_err(|_| SmbError::Protocol("message too long".into()))?;
        let mut out = Vec::with_capacity(TRANSFORM_LEN + message.len());
        out.extend_from_slice(&TRANSFORM_ID);
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&TRANSFORM_ENCRYPTED.to_le_bytes());
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(message);
        let (head, body) = out.split_at_mut(TRANSFORM_LEN);
        let tag = self
            .encrypt
            .seal(&nonce[..self.id.nonce_len()], &head[20..52], body)
            .ok_or_else(|| SmbError::Protocol("encryption failed".into()))?;
        head[4..20].copy_from_slice(&tag);
        Ok(out)
    }

    /// The message inside a transform frame, if this session's key sealed it.
    pub fn open(&self, frame: &[u8]) -> Result<Vec<u8>, OpenError> {
        let header = TransformHeader::parse(frame).map_err(|_| OpenError::Malformed)?;
        if header.original_message_size as usize != frame.len() - TRANSFORM_LEN
            || header.flags != TRANSFORM_ENCRYPTED
        {
            return Err(OpenError::Malformed);
        }
        // Another session's traffic, or a replay from one, is as foreign as a forgery.
        if header.session_id != self.session_id {
            return Err(OpenError::Integrity);
        }
        let mut body = frame[TRANSFORM_LEN..].to_vec();
        let nonce = &header.nonce[..self.id.nonce_len()];
        if !self.decrypt.open(nonce, header.aad, &mut body, header.signature) {
            return Err(OpenError::Integrity);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(id: CipherId) -> (Cipher, Cipher) {
        let key = [5u8; 16];
        let a = (&b"C2S\0"[..], &b"ctx"[..]);
        let b = (&b"S2C\0"[..], &b"ctx"[..]);
        (
            Cipher::derive(id, &key, a, b, 7).unwrap(),
            Cipher::derive(id, &key, b, a, 7).unwrap(),
        )
    }

    #[test]
    fn every_cipher_seals_for_its_peer_and_catches_tampering() {
        for id in CipherId::OFFERED {
            let (mut client, server) = pair(id);
            let message = b"\xfeSMB hello".to_vec();
            let sealed = client.seal(&message).unwrap();
            assert_eq!(server.open(&sealed).unwrap(), message, "{}", id.name());
            let mut tampered = sealed.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(server.open(&tampered), Err(OpenError::Integrity), "{}", id.name());
            let mut foreign_session = sealed.clone();
            foreign_session[44] ^= 1;
            assert_eq!(server.open(&foreign_session), Err(OpenError::Integrity));
            assert_eq!(server.open(&sealed[..40]), Err(OpenError::Malformed));
            assert_ne!(
                client.seal(&message).unwrap()[20..36],
                sealed[20..36],
                "a fresh nonce each time"
            );
        }
    }

    /// MS-SMB2 3.1.4.2 with L = 256 differs from L = 128 in more than length.
    #[test]
    fn the_key_length_is_part_of_the_derivation() {
        let short = kdf::<16>(&[1; 16], b"SMBC2SCipherKey\0", b"x");
        let long = kdf::<32>(&[1; 16], b"SMBC2SCipherKey\0", b"x");
        assert_ne!(short[..], long[..16]);
    }

    #[test]
    fn signatures_verify_and_detect_changes() {
        for signer in [
            Signer::AesCmac(Zeroizing::new([9u8; 16])),
            Signer::HmacSha256(Zeroizing::new([9u8; 16])),
        ] {
            let mut message = vec![0u8; 80];
            message[..4].copy_from_slice(&super::super::wire::PROTOCOL_ID);
            signer.sign(&mut message);
            assert!(signer.verify(&message));
            assert_ne!(message[16] & 0x08, 0, "the SIGNED flag is set");
            message[70] ^= 1;
            assert!(!signer.verify(&message));
            assert!(!signer.verify(&message[..10]));
        }
    }
}
