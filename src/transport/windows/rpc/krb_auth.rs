//! Kerberos on a DCE/RPC binding at packet privacy (MS-RPCE 3.3.1.5.2 with
//! RPC_C_AUTHN_GSS_KERBEROS, MS-KILE 3.4.5): the DCE-style exchange (a bare AP-REQ
//! in the BIND, the host's bare AP-REP in the BIND_ACK, our AP-REP in the AUTH3)
//! and RFC 4121 wrap tokens around every stub after it. The cryptography is
//! `sspi`'s (the context the exchange left behind); this file holds the wire
//! shapes and checks what comes from the network before sspi sees it.

use sspi::{BufferType, EncryptionFlags, SecurityBufferFlags, SecurityBufferRef, Sspi};

use super::RpcError;
use super::auth::RpcTampering;
use crate::transport::windows::smb::kerberos::{self, Exchange, KerberosError, KerberosLogon, Pending};

/// Stubs are padded to the AES block before sealing, as Windows pads them.
pub const STUB_ALIGN: usize = 16;
/// RRC, the right rotation count of a wrap token, as Windows and sspi send it for
/// DCE/RPC (MS-KILE 3.4.5.4.1): the checksum and the encrypted header move to the
/// front, into the auth_value, so the stub keeps its length.
pub const RRC: u16 = 28;
/// What sspi puts in a sealed request's auth_value: the token header, then the
/// first RRC + EC (16) + confounder (16) bytes of the rotated ciphertext.
pub const SEAL_TOKEN_LEN: usize = WrapHeader::LEN + RRC as usize + 16 + 16;
/// The same for the host's answers, with its EC: the header, RRC bytes, EC bytes
/// of filler, 16 bytes of confounder.
const fn open_token_len(ec: u16) -> usize {
    WrapHeader::LEN + RRC as usize + ec as usize + 16
}

/// The header of an RFC 4121 4.2.6.2 wrap token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapHeader {
    pub tok_id: u16,
    pub flags: u8,
    pub filler: u8,
    /// Extra count: filler octets after the plaintext.
    pub ec: u16,
    /// Right rotation count.
    pub rrc: u16,
    pub snd_seq: u64,
}

impl WrapHeader {
    pub const LEN: usize = 16;
    /// TOK_ID of a wrap token.
    pub const TOK_ID: u16 = 0x0504;
    /// Flags (RFC 4121 4.2.2).
    pub const SENT_BY_ACCEPTOR: u8 = 0x01;
    pub const SEALED: u8 = 0x02;

    pub fn parse(bytes: &[u8]) -> Option<WrapHeader> {
        let b: &[u8; 16] = bytes.get(..Self::LEN)?.try_into().ok()?;
        Some(WrapHeader {
            tok_id: u16::from_be_bytes([b[0], b[1]]),
            flags: b[2],
            filler: b[3],
            ec: u16::from_be_bytes([b[4], b[5]]),
            rrc: u16::from_be_bytes([b[6], b[7]]),
            snd_seq: u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        })
    }

    /// Whether `auth_value` can be the host's sealed wrap token for a stub:
    /// sent by the acceptor, sealed, rotated as sspi undoes it, and exactly as
    /// long as its EC says. Anything else is refused before any decryption.
    pub fn check_answer(auth_value: &[u8]) -> Result<WrapHeader, RpcTampering> {
        let header = WrapHeader::parse(auth_value).ok_or(RpcTampering::BadSignature)?;
        let well_formed = header.tok_id == Self::TOK_ID
            && header.filler == 0xff
            && header.flags & Self::SENT_BY_ACCEPTOR != 0
            && header.flags & Self::SEALED != 0
            && header.rrc == RRC
            && auth_value.len() == open_token_len(header.ec);
        if well_formed {
            Ok(header)
        } else {
            Err(RpcTampering::BadSignature)
        }
    }
}

/// The sealing state of a binding authenticated with Kerberos: the established
/// sspi context (its keys: the AP-REP's acceptor subkey; its sequence numbers).
pub struct KerberosSecurity {
    context: sspi::Kerberos,
    /// Header signing agreed in the bind (MS-RPCE 2.2.2.11): the checksum of
    /// every wrap token also covers the PDU header and the sec_trailer.
    sign_headers: bool,
}

/// Copies of the signed-only parts of a PDU, when headers are signed: sspi takes
/// them as READONLY_WITH_CHECKSUM data, in their place around the stub.
struct Signed {
    header: Vec<u8>,
    trailer: Vec<u8>,
}

impl KerberosSecurity {
    fn signed(&self, header: &[u8], trailer: &[u8]) -> Option<Signed> {
        self.sign_headers.then(|| Signed {
            header: header.to_vec(),
            trailer: trailer.to_vec(),
        })
    }

    /// Seal `stub` (the stub and its padding, a multiple of 16 bytes) in place,
    /// between `header` (the PDU's first 24 bytes, as sent) and `trailer` (its
    /// sec_trailer); the auth_value to send after the trailer.
    pub fn seal(&mut self, header: &[u8], stub: &mut [u8], trailer: &[u8]) -> Result<Vec<u8>, RpcError> {
        let mut token = vec![0u8; SEAL_TOKEN_LEN];
        let stub_len = stub.len();
        let mut signed = self.signed(header, trailer);
        let (token_len, data_len) = {
            let mut message = buffers(&mut token, stub, signed.as_mut());
            self.context
                .encrypt_message(EncryptionFlags::empty(), &mut message)
                .map_err(|e| {
                    tracing::debug!("sspi encrypt_message: {e}");
                    RpcError::Protocol("the Kerberos context could not seal a request".into())
                })?;
            (message[0].data().len(), stub_data_len(&message))
        };
        // The layout the host reads: the rest of the wrap token is the stub, same length.
        if token_len != SEAL_TOKEN_LEN || data_len != stub_len {
            return Err(RpcError::Protocol(format!(
                "the Kerberos context sealed a request into {token_len} + {data_len} bytes, not {SEAL_TOKEN_LEN} + {stub_len}"
            )));
        }
        Ok(token)
    }

    /// Check and unseal the host's answer in place: `auth_value` is the wrap
    /// token's head, `stub` the rest of it (the sealed stub and its padding),
    /// `header` and `trailer` the PDU's, as received.
    pub fn open(
        &mut self,
        header: &[u8],
        auth_value: &[u8],
        stub: &mut [u8],
        trailer: &[u8],
    ) -> Result<(), RpcTampering> {
        WrapHeader::check_answer(auth_value)?;
        let mut token = auth_value.to_vec();
        let len = stub.len();
        let mut signed = self.signed(header, trailer);
        let opened = {
            let mut message = buffers(&mut token, stub, signed.as_mut());
            match self.context.decrypt_message(&mut message) {
                Ok(_) => Some(stub_data_len(&message)),
                Err(e) => {
                    tracing::debug!("sspi decrypt_message: {e}");
                    None
                }
            }
        };
        // The plaintext must fill the stub exactly: the sealed stub was as long.
        match opened {
            Some(n) if n == len => Ok(()),
            _ => Err(RpcTampering::BadSignature),
        }
    }
}

/// The security buffers of one wrap: the token, then the data in PDU order (the
/// header and trailer around the stub, signed only, when headers are signed).
fn buffers<'a>(
    token: &'a mut [u8],
    stub: &'a mut [u8],
    signed: Option<&'a mut Signed>,
) -> Vec<SecurityBufferRef<'a>> {
    let checksummed = |data: &'a mut [u8]| {
        SecurityBufferRef::data_buf(data).with_flags(SecurityBufferFlags::SECBUFFER_READONLY_WITH_CHECKSUM)
    };
    match signed {
        None => vec![
            SecurityBufferRef::token_buf(token),
            SecurityBufferRef::data_buf(stub),
        ],
        Some(Signed { header, trailer }) => vec![
            SecurityBufferRef::token_buf(token),
            checksummed(header),
            SecurityBufferRef::data_buf(stub),
            checksummed(trailer),
        ],
    }
}

/// How much of the stub sspi left in its (one, unflagged) Data buffer.
fn stub_data_len(message: &[SecurityBufferRef<'_>]) -> usize {
    message
        .iter()
        .filter(|b| b.buffer_type() == BufferType::Data && b.buffer_flags() == SecurityBufferFlags::NONE)
        .map(|b| b.data().len())
        .sum()
}

/// The AP-REQ of a DCE-style exchange for `logon` (its SPN `host/<FQDN>`), and
/// the context that reads the host's AP-REP. Blocking: it talks to the KDC.
pub fn ap_req(logon: &KerberosLogon) -> Result<(Pending, Vec<u8>), KerberosError> {
    kerberos::ap_req_for(logon, Exchange::DceRpc)
}

/// The host's AP-REP from the BIND_ACK: the binding's sealing state and the third
/// leg for the AUTH3. Fails when the AP-REP does not decrypt with the ticket's
/// session key, that is, when whoever answered does not hold the host's key.
/// `sign_headers`: the BIND_ACK agreed to header signing.
pub fn third_leg(
    pending: Pending,
    ap_rep: &[u8],
    sign_headers: bool,
) -> Result<(KerberosSecurity, Vec<u8>), KerberosError> {
    let (context, token) = kerberos::dce_third_leg(pending, ap_rep)?;
    Ok((
        KerberosSecurity {
            context,
            sign_headers,
        },
        token,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(flags: u8, ec: u16, rrc: u16, len: usize) -> Vec<u8> {
        let mut t = vec![0x05, 0x04, flags, 0xff];
        t.extend_from_slice(&ec.to_be_bytes());
        t.extend_from_slice(&rrc.to_be_bytes());
        t.extend_from_slice(&7u64.to_be_bytes());
        t.resize(len, 0xab);
        t
    }

    #[test]
    fn the_hosts_wrap_token_is_checked_before_decryption() {
        // As the emulator and Windows send it: EC 0 for a 16-byte aligned stub.
        let good = token(0x07, 0, 28, 60);
        let header = WrapHeader::check_answer(&good).expect("well formed");
        assert_eq!(header.snd_seq, 7);
        assert!(WrapHeader::check_answer(&token(0x07, 16, 28, 76)).is_ok());
        // Sent by the initiator (a reflected request), not sealed, another rotation,
        // a length that disagrees with EC, a MIC token, short.
        for bad in [
            token(0x06, 0, 28, 60),
            token(0x05, 0, 28, 60),
            token(0x07, 0, 12, 60),
            token(0x07, 16, 28, 60),
            token(0x07, 0, 28, 61),
            {
                let mut t = token(0x07, 0, 28, 60);
                t[1] = 0x04;
                t[0] = 0x04;
                t
            },
            token(0x07, 0, 28, 16)[..15].to_vec(),
        ] {
            assert_eq!(
                WrapHeader::check_answer(&bad),
                Err(RpcTampering::BadSignature),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn a_sealed_request_fits_the_verifier_the_host_expects() {
        // header 16 + RRC 28 + EC 16 + confounder 16: MS-KILE's 76-byte auth_value.
        assert_eq!(SEAL_TOKEN_LEN, 76);
        assert_eq!(open_token_len(0), 60);
    }
}
