//! DCE/RPC security at packet privacy (MS-RPCE 2.2.2.11, 3.3.1.5.2): the auth
//! verifier that follows a PDU's body, the legs of the authentication carried in
//! BIND, BIND_ACK and AUTH3, and the sealing and signing of every request and
//! response after it. Current Windows refuses `\PIPE\atsvc` calls that lack it,
//! whatever the SMB session under them proved.
//!
//! Two mechanisms, the one the SMB session logged on with: NTLMSSP (here) and
//! Kerberos in DCE style (krb_auth.rs). This file keeps what they share: the
//! sec_trailer, the verifier's place in a PDU, padding and fragment room.

use zeroize::Zeroizing;

use super::RpcError;
use super::krb_auth::KerberosSecurity;
use super::pdu::{self, HEADER_LEN};
use crate::secrets::Secret;
use crate::transport::windows::smb::SmbError;
use crate::transport::windows::smb::kerberos::KerberosLogon;
use crate::transport::windows::smb::ntlm::{self, Account, Authenticated};
use crate::transport::windows::smb::ntlm_session::{MessageSignature, NtlmSession};

/// RPC_C_AUTHN_WINNT: NTLMSSP.
pub const AUTHN_WINNT: u8 = 10;
/// RPC_C_AUTHN_GSS_KERBEROS: Kerberos, GSS tokens in DCE style.
pub const AUTHN_GSS_KERBEROS: u8 = 16;
/// RPC_C_AUTHN_LEVEL_PKT_PRIVACY: every PDU signed, every stub sealed.
pub const AUTHN_LEVEL_PKT_PRIVACY: u8 = 6;
/// Names this security context on the connection; any value works. impacket's.
pub const AUTH_CONTEXT_ID: u32 = 79231;
/// The request header after the common one: alloc_hint, p_cont_id, opnum.
const REQUEST_HEADER_LEN: usize = 8;
/// The sec_trailer must start 4-byte aligned (MS-RPCE 2.2.2.11).
const TRAILER_ALIGN: usize = 4;

/// The authentication service of a binding (MS-RPCE 2.2.1.1.7, RPC_C_AUTHN_*):
/// the SMB session's mechanism, again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthnService {
    /// RPC_C_AUTHN_WINNT.
    Winnt,
    /// RPC_C_AUTHN_GSS_KERBEROS.
    GssKerberos,
}

impl AuthnService {
    pub fn wire(self) -> u8 {
        match self {
            AuthnService::Winnt => AUTHN_WINNT,
            AuthnService::GssKerberos => AUTHN_GSS_KERBEROS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AuthnService::Winnt => "NTLM",
            AuthnService::GssKerberos => "Kerberos",
        }
    }

    /// What the stub is padded to before the sec_trailer: Windows pads
    /// Kerberos-sealed stubs to the AES block.
    fn stub_align(self) -> usize {
        match self {
            AuthnService::Winnt => TRAILER_ALIGN,
            AuthnService::GssKerberos => super::krb_auth::STUB_ALIGN,
        }
    }
}

/// sec_trailer (MS-RPCE 2.2.2.11): how the auth_value after it is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecTrailer {
    pub auth_type: u8,
    pub auth_level: u8,
    /// Bytes of padding between the stub and this trailer.
    pub auth_pad_length: u8,
    pub auth_reserved: u8,
    pub auth_context_id: u32,
}

impl SecTrailer {
    pub const LEN: usize = 8;

    pub fn privacy(service: AuthnService, auth_pad_length: u8) -> SecTrailer {
        SecTrailer {
            auth_type: service.wire(),
            auth_level: AUTHN_LEVEL_PKT_PRIVACY,
            auth_pad_length,
            auth_reserved: 0,
            auth_context_id: AUTH_CONTEXT_ID,
        }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let id = self.auth_context_id.to_le_bytes();
        [
            self.auth_type,
            self.auth_level,
            self.auth_pad_length,
            self.auth_reserved,
            id[0],
            id[1],
            id[2],
            id[3],
        ]
    }

    pub fn parse(bytes: &[u8]) -> Option<SecTrailer> {
        let b: &[u8; 8] = bytes.try_into().ok()?;
        Some(SecTrailer {
            auth_type: b[0],
            auth_level: b[1],
            auth_pad_length: b[2],
            auth_reserved: b[3],
            auth_context_id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Why an answer on an authenticated binding cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcTampering {
    /// A response without the verifier every response must carry.
    Unsigned,
    /// A verifier whose trailer or signature does not check out.
    BadSignature,
}

impl RpcTampering {
    pub fn what(self) -> &'static str {
        match self {
            RpcTampering::Unsigned => "DCE/RPC response not signed on a binding at packet privacy",
            RpcTampering::BadSignature => "DCE/RPC response carries a bad signature",
        }
    }
}

/// Who the RPC binding authenticates as with NTLM: the SMB session's account, again.
#[derive(Clone)]
pub struct Credentials {
    pub account: Account,
    pub password: Secret,
    /// MsvAvTargetName, e.g. `cifs/ws01.corp.example`.
    pub target_name: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account", &self.account)
            .field("target_name", &self.target_name)
            .finish_non_exhaustive()
    }
}

/// How a binding at packet privacy authenticates: as the SMB session logged on.
#[derive(Clone)]
pub enum BindLogon {
    Ntlm(Credentials),
    /// The SMB session's Kerberos logon, with the SPN for RPC (`host/<FQDN>`).
    Kerberos(KerberosLogon),
}

/// The verifier of a BIND or AUTH3: a sec_trailer and an authentication token.
pub fn verifier(service: AuthnService, token: &[u8]) -> Vec<u8> {
    let mut out = SecTrailer::privacy(service, 0).to_bytes().to_vec();
    out.extend_from_slice(token);
    out
}

/// The token a BIND_ACK carries after its sec_trailer, which must be `service`'s
/// at packet privacy.
pub fn bind_ack_token(pdu: &[u8], service: AuthnService) -> Result<&[u8], RpcError> {
    let (trailer, token) = split_verifier(pdu)?;
    if trailer.auth_type != service.wire() || trailer.auth_level != AUTHN_LEVEL_PKT_PRIVACY {
        return Err(RpcError::Protocol(format!(
            "the server answered the bind with authentication type {} at level {}, not {} at packet privacy",
            trailer.auth_type,
            trailer.auth_level,
            service.name()
        )));
    }
    Ok(token)
}

/// A PDU's sec_trailer and auth_value, found from its auth_length; every length
/// checked against the PDU before it is used.
fn split_verifier(pdu: &[u8]) -> Result<(SecTrailer, &[u8]), RpcError> {
    let auth_len = pdu
        .get(10..12)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| RpcError::Protocol("short RPC PDU".into()))?;
    if auth_len == 0 {
        return Err(RpcError::Protocol(
            "the server's bind answer carries no authentication".into(),
        ));
    }
    let start = pdu
        .len()
        .checked_sub(auth_len + SecTrailer::LEN)
        .filter(|start| *start >= HEADER_LEN)
        .ok_or_else(|| RpcError::Protocol(format!("an RPC auth length of {auth_len} runs past the PDU")))?;
    let trailer = SecTrailer::parse(&pdu[start..start + SecTrailer::LEN])
        .ok_or_else(|| RpcError::Protocol("short sec_trailer".into()))?;
    Ok((trailer, &pdu[start + SecTrailer::LEN..]))
}

/// What BIND_ACK's challenge leads to: the AUTH3's NTLM message, and the session
/// that seals and signs from then on.
pub fn answer_challenge(
    credentials: &Credentials,
    negotiate: &[u8],
    challenge: &[u8],
    random: ntlm::Randomness,
    now_filetime: u64,
) -> Result<(Vec<u8>, Security), RpcError> {
    // A malformed challenge is the RPC server's doing, not the SMB session's.
    let challenge = ntlm::parse_challenge(challenge).map_err(|e| match e {
        SmbError::Protocol(message) => RpcError::Protocol(message),
        other => RpcError::Transport(other),
    })?;
    let logon = ntlm::Logon {
        account: &credentials.account,
        password: &credentials.password,
        negotiate,
        challenge: &challenge,
        target_name: &credentials.target_name,
    };
    let Authenticated {
        message,
        session_key,
        flags,
    } = ntlm::authenticate(&logon, random, now_filetime).map_err(|e| match e {
        SmbError::Protocol(message) => RpcError::Protocol(message),
        other => RpcError::Transport(other),
    })?;
    // Without these there is nothing to seal with: a server that strips them
    // is refused rather than spoken to in the clear.
    let needed = ntlm::SIGN | ntlm::SEAL | ntlm::EXTENDED_SESSION_SECURITY;
    if flags & needed != needed {
        return Err(RpcError::Protocol(
            "the server's NTLM challenge does not offer signing and sealing with extended session security"
                .into(),
        ));
    }
    Ok((message, Security::new(&session_key, flags)))
}

/// The sealing and signing state of one authenticated binding.
pub enum Security {
    Ntlm(NtlmSession),
    Kerberos(KerberosSecurity),
}

impl Security {
    /// An NTLM binding's state, from its exported session key and flags.
    pub fn new(session_key: &Zeroizing<[u8; 16]>, flags: u32) -> Security {
        Security::Ntlm(NtlmSession::client(session_key, flags))
    }

    pub fn service(&self) -> AuthnService {
        match self {
            Security::Ntlm(_) => AuthnService::Winnt,
            Security::Kerberos(_) => AuthnService::GssKerberos,
        }
    }

    /// The auth_value of each request: an NTLM signature, or a wrap token's head.
    fn auth_value_len(&self) -> usize {
        match self {
            Security::Ntlm(_) => MessageSignature::LEN,
            Security::Kerberos(_) => super::krb_auth::SEAL_TOKEN_LEN,
        }
    }

    /// The most stub one request fragment of `max_frag` bytes can carry, kept a
    /// multiple of the stub alignment so that only the last fragment needs padding.
    pub fn room(&self, max_frag: u16) -> usize {
        let align = self.service().stub_align();
        let room = (max_frag as usize).saturating_sub(
            HEADER_LEN + REQUEST_HEADER_LEN + SecTrailer::LEN + self.auth_value_len() + align - 1,
        );
        (room - room % align).max(align)
    }

    /// One request fragment, sealed and signed: header, request header, the stub
    /// piece padded, sec_trailer, auth_value. NTLM's signature covers it all with
    /// the stub in plaintext, then the stub and its padding are sealed; Kerberos
    /// seals the stub and its padding into a wrap token whose head is the auth_value.
    pub fn request(
        &mut self,
        flags: u8,
        call_id: u32,
        alloc_hint: u32,
        opnum: u16,
        piece: &[u8],
    ) -> Result<Vec<u8>, RpcError> {
        let align = self.service().stub_align();
        let body = HEADER_LEN + REQUEST_HEADER_LEN + piece.len();
        let pad = (align - piece.len() % align) % align;
        let auth_len = self.auth_value_len();
        let frag_len = body + pad + SecTrailer::LEN + auth_len;
        let mut out = pdu::header(pdu::REQUEST, flags, frag_len, call_id);
        out[10..12].copy_from_slice(&(auth_len as u16).to_le_bytes());
        out.extend_from_slice(&alloc_hint.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&opnum.to_le_bytes());
        out.extend_from_slice(piece);
        out.resize(body + pad, 0);
        out.extend_from_slice(&SecTrailer::privacy(self.service(), pad as u8).to_bytes());
        let stub = HEADER_LEN + REQUEST_HEADER_LEN..body + pad;
        match self {
            Security::Ntlm(ntlm) => {
                let mut sealed = out[stub.clone()].to_vec();
                let signature = ntlm.seal(&mut sealed, &out);
                out[stub].copy_from_slice(&sealed);
                out.extend_from_slice(&signature.to_bytes());
            }
            Security::Kerberos(kerberos) => {
                let header = out[..HEADER_LEN + REQUEST_HEADER_LEN].to_vec();
                let trailer = out[stub.end..].to_vec();
                let token = kerberos.seal(&header, &mut out[stub], &trailer)?;
                out.extend_from_slice(&token);
            }
        }
        Ok(out)
    }

    /// A received fragment with its signature checked and its stub unsealed, as the
    /// same PDU would look unauthenticated (auth_length 0, no padding or verifier),
    /// ready for `pdu::response`. Faults pass as they are: Windows does not sign
    /// them, and a forged one can only stop a call, never make it succeed.
    pub fn open(&mut self, fragment: &[u8]) -> Result<Vec<u8>, RpcError> {
        let Some(frame) = ResponseFrame::parse(fragment, self.service())? else {
            return Ok(fragment.to_vec());
        };
        let bad = RpcError::Tampering(RpcTampering::BadSignature);
        let stub = ResponseFrame::STUB_AT..frame.trailer_at;
        let auth_value = &fragment[frame.auth_value_at()..];
        let mut plain = fragment[..frame.auth_value_at()].to_vec();
        match self {
            Security::Ntlm(ntlm) => {
                ntlm.unseal(&mut plain[stub]);
                if !ntlm.verify(&plain, auth_value) {
                    return Err(bad);
                }
            }
            Security::Kerberos(kerberos) => {
                let header = &fragment[..ResponseFrame::STUB_AT];
                let trailer = &fragment[frame.trailer_at..frame.auth_value_at()];
                kerberos
                    .open(header, auth_value, &mut plain[stub], trailer)
                    .map_err(RpcError::Tampering)?;
            }
        }
        plain.truncate(frame.trailer_at - frame.pad);
        let frag_len = plain.len() as u16;
        plain[8..10].copy_from_slice(&frag_len.to_le_bytes());
        plain[10..12].copy_from_slice(&0u16.to_le_bytes());
        Ok(plain)
    }
}

/// Where the parts of a response fragment on an authenticated binding are: the
/// stub from `STUB_AT`, its padding, the sec_trailer at `trailer_at`, the
/// auth_value after it to the end. Every length from the network checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFrame {
    pub trailer_at: usize,
    pub pad: usize,
}

impl ResponseFrame {
    pub const STUB_AT: usize = HEADER_LEN + REQUEST_HEADER_LEN;

    /// The frame of `fragment` on a binding of `service` at packet privacy; None
    /// when it is not a response (a fault, which passes as it is).
    pub fn parse(fragment: &[u8], service: AuthnService) -> Result<Option<ResponseFrame>, RpcError> {
        if fragment.get(2) != Some(&pdu::RESPONSE) {
            return Ok(None);
        }
        if fragment.len() < Self::STUB_AT {
            return Err(RpcError::Protocol("short RPC answer".into()));
        }
        let auth_len = u16::from_le_bytes([fragment[10], fragment[11]]) as usize;
        if auth_len == 0 {
            return Err(RpcError::Tampering(RpcTampering::Unsigned));
        }
        let bad = RpcError::Tampering(RpcTampering::BadSignature);
        if service == AuthnService::Winnt && auth_len != MessageSignature::LEN {
            return Err(bad);
        }
        let Some(trailer_at) = fragment
            .len()
            .checked_sub(auth_len + SecTrailer::LEN)
            .filter(|at| *at >= Self::STUB_AT)
        else {
            return Err(bad);
        };
        let trailer = SecTrailer::parse(&fragment[trailer_at..trailer_at + SecTrailer::LEN])
            .ok_or(RpcTampering::BadSignature)
            .map_err(RpcError::Tampering)?;
        let pad = trailer.auth_pad_length as usize;
        if trailer.auth_type != service.wire()
            || trailer.auth_level != AUTHN_LEVEL_PKT_PRIVACY
            || trailer_at - Self::STUB_AT < pad
        {
            return Err(bad);
        }
        Ok(Some(ResponseFrame { trailer_at, pad }))
    }

    pub fn auth_value_at(&self) -> usize {
        self.trailer_at + SecTrailer::LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn golden() -> serde_json::Value {
        serde_json::from_str(include_str!("golden.json")).expect("golden JSON")
    }

    /// The golden vectors' security context: impacket's flags and a fixed
    /// exported session key.
    fn golden_security(g: &serde_json::Value) -> Security {
        let sealing = &g["sealing"];
        let mut key = [0u8; 16];
        key.copy_from_slice(&hex(sealing["session_key"].as_str().expect("key")));
        let flags = sealing["flags"].as_u64().expect("flags") as u32;
        Security::new(&Zeroizing::new(key), flags)
    }

    /// Requests sealed and signed by impacket's own DCERPC_v5 code, byte for byte.
    #[test]
    fn sealed_requests_match_impacket() {
        let g = golden();
        let mut security = golden_security(&g);
        for request in g["sealing"]["requests"].as_array().expect("requests") {
            let stub = hex(request["stub"].as_str().expect("stub"));
            let opnum = request["opnum"].as_u64().expect("opnum") as u16;
            let call_id = request["call_id"].as_u64().expect("call_id") as u32;
            let ours = security
                .request(
                    pdu::FIRST_FRAG | pdu::LAST_FRAG,
                    call_id,
                    stub.len() as u32,
                    opnum,
                    &stub,
                )
                .expect("NTLM seals");
            assert_eq!(
                ours,
                hex(request["pdu"].as_str().expect("pdu")),
                "opnum {opnum}, call {call_id}"
            );
        }
    }

    /// Responses sealed and signed with impacket's NTLM SEAL under the server's
    /// keys open to the stub; any changed byte is tampering.
    #[test]
    fn sealed_responses_from_impacket_open_and_a_changed_byte_is_tampering() {
        let g = golden();
        let responses = g["sealing"]["responses"].as_array().expect("responses");
        let mut security = golden_security(&g);
        for response in responses {
            let opened = security
                .open(&hex(response["pdu"].as_str().expect("pdu")))
                .expect("a good response opens");
            let fragment = pdu::response(&opened, response["call_id"].as_u64().expect("call") as u32)
                .expect("a response");
            assert_eq!(fragment.stub, hex(response["stub"].as_str().expect("stub")));
        }
        let first = hex(responses[0]["pdu"].as_str().expect("pdu"));
        for at in [
            2usize,
            8,
            20,
            24,
            first.len() - 20,
            first.len() - 10,
            first.len() - 1,
        ] {
            let mut security = golden_security(&g);
            let mut changed = first.clone();
            changed[at] ^= 0x01;
            let result = security.open(&changed);
            assert!(
                matches!(result, Err(RpcError::Tampering(_)) | Err(RpcError::Protocol(_)))
                    || (at == 2 && result.is_ok()),
                "byte {at}: {:?}",
                result.map(|_| ())
            );
        }
    }

    #[test]
    fn an_unsigned_response_on_a_private_binding_is_tampering() {
        let mut unsigned = pdu::header(pdu::RESPONSE, pdu::FIRST_FRAG | pdu::LAST_FRAG, 28, 2);
        unsigned.extend_from_slice(&[0; 12]);
        let mut security = Security::new(&Zeroizing::new([1; 16]), ntlm::FLAGS);
        assert!(matches!(
            security.open(&unsigned),
            Err(RpcError::Tampering(RpcTampering::Unsigned))
        ));
    }

    #[test]
    fn verifier_lengths_from_the_network_are_checked() {
        let mut security = Security::new(&Zeroizing::new([1; 16]), ntlm::FLAGS);
        for len in 0..64usize {
            for auth_len in [0u16, 8, 16, 17, 0xffff] {
                let mut pdu = pdu::header(pdu::RESPONSE, 3, len, 2);
                pdu[10..12].copy_from_slice(&auth_len.to_le_bytes());
                pdu.resize(len.max(16), 0xff);
                let _ = security.open(&pdu);
                let _ = bind_ack_token(&pdu, AuthnService::Winnt);
                let _ = bind_ack_token(&pdu, AuthnService::GssKerberos);
            }
        }
    }
}
