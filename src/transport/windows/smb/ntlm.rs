//! NTLMv2 (MS-NLMP) inside SPNEGO (RFC 4178): the three messages of an SMB logon,
//! and the session key that signing and encryption are derived from.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use zeroize::Zeroizing;

use super::SmbError;
use super::rc4::Rc4;
use super::wire::{Reader, Writer, utf16};
use crate::secrets::Secret;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
pub const UNICODE: u32 = 0x0000_0001;
const REQUEST_TARGET: u32 = 0x0000_0004;
pub const SIGN: u32 = 0x0000_0010;
pub const SEAL: u32 = 0x0000_0020;
const NTLM: u32 = 0x0000_0200;
const ALWAYS_SIGN: u32 = 0x0000_8000;
pub const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
const TARGET_INFO: u32 = 0x0080_0000;
const VERSION: u32 = 0x0200_0000;
pub const KEY_128: u32 = 0x2000_0000;
pub const KEY_EXCH: u32 = 0x4000_0000;
pub const KEY_56: u32 = 0x8000_0000;
/// What Windows clients ask for: sealing and key exchange too, which DCE/RPC at
/// packet privacy needs and SMB ignores.
pub const FLAGS: u32 = UNICODE
    | REQUEST_TARGET
    | SIGN
    | SEAL
    | NTLM
    | ALWAYS_SIGN
    | EXTENDED_SESSION_SECURITY
    | TARGET_INFO
    | VERSION
    | KEY_128
    | KEY_EXCH
    | KEY_56;

/// MS-NLMP 2.2.2.10 VERSION: Windows 10 (10.0 build 19041), NTLMSSP_REVISION_W2K3.
/// Debugging information only; servers do not act on it.
const CLIENT_VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

/// Windows sends a few hundred bytes; more is a broken or hostile server.
const MAX_TARGET_INFO: usize = 8192;

/// AV_PAIR AvIds (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER_NAME: u16 = 1;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
    pub const TARGET_NAME: u16 = 9;
    pub const CHANNEL_BINDINGS: u16 = 10;
    /// MsvAvFlags bit: the AUTHENTICATE message carries a MIC.
    pub const FLAG_MIC_PRESENT: u32 = 0x0000_0002;
}

/// AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3): the fixed part is 64 bytes, then
/// Version (8) and the MIC (16); the payload follows.
const AUTHENTICATE_MIC_OFFSET: usize = 72;
const AUTHENTICATE_PAYLOAD_OFFSET: usize = 88;

/// Whose account the password belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Realm {
    /// `DOMAIN\user`, or a bare `user` (empty domain: the server decides).
    Domain(String),
    /// `user@domain`: the user name is sent whole and the domain empty, as Windows does.
    Upn,
    /// `.\user`: an account of the target itself, named by the computer name the
    /// server gives in its challenge.
    Local,
}

/// Who logs on: `DOMAIN\user`, `user@domain`, or `.\user` for a local account.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub realm: Realm,
}

impl Account {
    pub fn parse(login: &str) -> Account {
        if let Some((domain, user)) = login.split_once('\\') {
            let realm = if domain == "." {
                Realm::Local
            } else {
                Realm::Domain(domain.to_string())
            };
            return Account {
                user: user.to_string(),
                realm,
            };
        }
        if login.contains('@') {
            return Account {
                user: login.to_string(),
                realm: Realm::Upn,
            };
        }
        Account {
            user: login.to_string(),
            realm: Realm::Domain(String::new()),
        }
    }

    /// The domain field of the AUTHENTICATE message, and of NTOWFv2.
    fn domain(&self, challenge: &Challenge) -> String {
        match &self.realm {
            Realm::Domain(domain) => domain.clone(),
            Realm::Upn => String::new(),
            Realm::Local => challenge.computer_name().unwrap_or_default(),
        }
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) with no domain or workstation supplied.
pub fn negotiate() -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(SIGNATURE)
        .u32(1)
        .u32(FLAGS)
        .zeros(16)
        .bytes(&CLIENT_VERSION);
    w.buf
}

pub struct Challenge {
    pub server_challenge: [u8; 8],
    pub target_info: Vec<u8>,
    pub flags: u32,
    /// The message as received: the MIC covers it.
    pub raw: Vec<u8>,
}

impl Challenge {
    /// MsvAvNbComputerName: the name a `.\user` account belongs to.
    fn computer_name(&self) -> Option<String> {
        let pairs = av_pairs(&self.target_info).ok()?;
        let (_, name) = pairs.into_iter().find(|(id, _)| *id == av::NB_COMPUTER_NAME)?;
        let units: Vec<u16> = name
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).ok()
    }
}

pub fn parse_challenge(msg: &[u8]) -> Result<Challenge, SmbError> {
    let r = Reader::new(msg);
    if r.slice(0, 8)? != SIGNATURE || r.u32(8)? != 2 {
        return Err(SmbError::Protocol(
            "the server's NTLM challenge is malformed".into(),
        ));
    }
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(r.slice(24, 8)?);
    let info_len = r.u16(40)? as usize;
    let info_offset = r.u32(44)? as usize;
    // It comes back inside the AUTHENTICATE message, whose fields are 16-bit.
    if info_len > MAX_TARGET_INFO {
        return Err(SmbError::Protocol(format!(
            "the server's NTLM target information is {info_len} bytes long"
        )));
    }
    let target_info = r.slice(info_offset, info_len)?.to_vec();
    av_pairs(&target_info)?;
    Ok(Challenge {
        server_challenge,
        target_info,
        flags: r.u32(20)?,
        raw: msg.to_vec(),
    })
}

/// The AV_PAIRs of a target info block up to MsvAvEOL (MS-NLMP 2.2.2.1).
fn av_pairs(info: &[u8]) -> Result<Vec<(u16, &[u8])>, SmbError> {
    let bad = || SmbError::Protocol("the server's NTLM target information is malformed".into());
    let mut pairs = Vec::new();
    let mut rest = info;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let len = u16::from_le_bytes([rest[2], rest[3]]) as usize;
        let value = rest.get(4..4 + len).ok_or_else(bad)?;
        if id == av::EOL {
            return Ok(pairs);
        }
        pairs.push((id, value));
        rest = &rest[4 + len..];
    }
    Err(bad())
}

pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// NTOWFv2 (MS-NLMP 3.3.2). The password's UTF-16 form and the NT hash are as
/// secret as the password, so both are zeroed when dropped.
fn nt_owf_v2(user: &str, domain: &str, password: &Secret) -> Zeroizing<[u8; 16]> {
    let unicode = Zeroizing::new(utf16(password.expose()));
    let nt_hash = Zeroizing::new(<[u8; 16]>::from(Md4::digest(&unicode[..])));
    let identity = utf16(&format!("{}{}", user.to_uppercase(), domain));
    hmac_md5(&nt_hash[..], &[&identity])
}

/// The target info the client sends back inside its NTLMv2 response: the server's
/// pairs, plus MsvAvFlags announcing the MIC, MsvAvTargetName (the SPN servers
/// with SPN hardening check) and empty channel bindings, as Windows clients send.
fn client_target_info(server: &[(u16, &[u8])], target_name: &str) -> Vec<u8> {
    let mut w = Writer::default();
    let mut flags = av::FLAG_MIC_PRESENT;
    for (id, value) in server {
        match *id {
            av::FLAGS => {
                if let Ok(b) = <[u8; 4]>::try_from(*value) {
                    flags |= u32::from_le_bytes(b);
                }
            }
            av::TARGET_NAME | av::CHANNEL_BINDINGS => {}
            id => {
                w.u16(id).u16(value.len() as u16).bytes(value);
            }
        }
    }
    let name = utf16(target_name);
    w.u16(av::FLAGS).u16(4).u32(flags);
    w.u16(av::TARGET_NAME).u16(name.len() as u16).bytes(&name);
    w.u16(av::CHANNEL_BINDINGS).u16(16).zeros(16);
    w.u16(av::EOL).u16(0);
    w.buf
}

/// The random parts of an AUTHENTICATE message, given so tests can fix them.
pub struct Randomness {
    pub client_challenge: [u8; 8],
    /// The exported session key when key exchange is negotiated.
    pub session_key: Zeroizing<[u8; 16]>,
}

/// The AUTHENTICATE message, and what the session's security is built on.
pub struct Authenticated {
    pub message: Vec<u8>,
    /// The exported session key (MS-NLMP 3.1.5.1.2): SMB signing and RPC sealing derive from it.
    pub session_key: Zeroizing<[u8; 16]>,
    /// The flags both sides agreed on.
    pub flags: u32,
}

/// What the AUTHENTICATE message answers.
pub struct Logon<'a> {
    pub account: &'a Account,
    pub password: &'a Secret,
    /// The NEGOTIATE message as sent, and the server's CHALLENGE: the MIC covers both.
    pub negotiate: &'a [u8],
    pub challenge: &'a Challenge,
    /// MsvAvTargetName, e.g. `cifs/ws01.corp.example`.
    pub target_name: &'a str,
}

/// The AUTHENTICATE message (MS-NLMP 3.1.5.1.2) with NTLMv2, key exchange when the
/// server agreed to it, and a MIC.
pub fn authenticate(
    logon: &Logon<'_>,
    random: Randomness,
    now_filetime: u64,
) -> Result<Authenticated, SmbError> {
    let challenge = logon.challenge;
    let domain = logon.account.domain(challenge);
    let key = nt_owf_v2(&logon.account.user, &domain, logon.password);
    let server_pairs = av_pairs(&challenge.target_info)?;
    let timestamp = server_pairs
        .iter()
        .find(|(id, value)| *id == av::TIMESTAMP && value.len() == 8)
        .and_then(|(_, value)| <[u8; 8]>::try_from(*value).ok())
        .map(u64::from_le_bytes);
    let target_info = client_target_info(&server_pairs, logon.target_name);
    // The server's own clock when it sent one, so a skewed client clock does not matter.
    let mut blob = Writer::default();
    blob.u8(1)
        .u8(1)
        .zeros(6)
        .u64(timestamp.unwrap_or(now_filetime))
        .bytes(&random.client_challenge)
        .zeros(4)
        .bytes(&target_info)
        .zeros(4);
    let proof = hmac_md5(&key[..], &[&challenge.server_challenge, &blob.buf]);
    let base_key = hmac_md5(&key[..], &[&proof[..]]);
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&blob.buf);
    // With a server timestamp the LMv2 response must be zeros (MS-NLMP 3.1.5.1.2).
    let lm_response = match timestamp {
        Some(_) => vec![0u8; 24],
        None => {
            let mut lm =
                hmac_md5(&key[..], &[&challenge.server_challenge, &random.client_challenge]).to_vec();
            lm.extend_from_slice(&random.client_challenge);
            lm
        }
    };
    let flags = FLAGS & (challenge.flags | UNICODE);
    // NTLMv2's key exchange key is the session base key (MS-NLMP 3.4.5.1).
    let (session_key, encrypted_key) = if flags & KEY_EXCH != 0 {
        let mut encrypted = random.session_key.to_vec();
        Rc4::new(&base_key[..]).apply(&mut encrypted);
        (random.session_key, encrypted)
    } else {
        (base_key, Vec::new())
    };
    let domain = utf16(&domain);
    let user = utf16(&logon.account.user);
    let workstation = utf16("PUSHINST");
    let fields: [&[u8]; 6] = [
        &lm_response,
        &nt_response,
        &domain,
        &user,
        &workstation,
        &encrypted_key,
    ];
    if fields.iter().any(|f| f.len() > u16::MAX as usize) {
        return Err(SmbError::Protocol(
            "the NTLM AUTHENTICATE message would be larger than its 16-bit fields allow".into(),
        ));
    }
    let mut w = Writer::default();
    w.bytes(SIGNATURE).u32(3);
    let mut offset = AUTHENTICATE_PAYLOAD_OFFSET as u32;
    for field in fields {
        w.u16(field.len() as u16).u16(field.len() as u16).u32(offset);
        offset += field.len() as u32;
    }
    w.u32(flags).bytes(&CLIENT_VERSION).zeros(16);
    for field in fields {
        w.bytes(field);
    }
    // The MIC binds the three messages together, so none can be altered on the way.
    let mic = hmac_md5(&session_key[..], &[logon.negotiate, &challenge.raw, &w.buf]);
    w.buf[AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_PAYLOAD_OFFSET].copy_from_slice(&mic[..]);
    Ok(Authenticated {
        message: w.buf,
        session_key,
        flags,
    })
}

pub(crate) const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// MechTypeList (RFC 4178 4.2.1): NTLMSSP alone. The mechListMIC signs exactly these bytes.
pub fn mech_types() -> Vec<u8> {
    der(0x30, &der(0x06, NTLMSSP_OID))
}

/// NegTokenInit offering NTLMSSP, carrying its first message.
pub fn spnego_init(token: &[u8]) -> Vec<u8> {
    let mech_types = der(0xa0, &mech_types());
    let mech_token = der(0xa2, &der(0x04, token));
    let init = der(0xa0, &der(0x30, &[mech_types, mech_token].concat()));
    der(0x60, &[der(0x06, SPNEGO_OID), init].concat())
}

/// NegTokenResp carrying the next NTLM message and, once NTLM has a key, the
/// mechListMIC: servers that saw a MIC in the AUTHENTICATE message (Windows,
/// Samba) insist on it, so the offered mechanisms cannot be downgraded unseen.
pub fn spnego_response(token: &[u8], mech_list_mic: Option<&[u8]>) -> Vec<u8> {
    let mut fields = der(0xa2, &der(0x04, token));
    if let Some(mic) = mech_list_mic {
        fields.extend_from_slice(&der(0xa3, &der(0x04, mic)));
    }
    der(0xa1, &der(0x30, &fields))
}

/// One DER element: (tag, content, rest). A length of more than four bytes, or
/// one that runs past the data, is malformed: no arithmetic on it can overflow.
pub(crate) fn element(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = data.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize),
            2 + n,
        )
    };
    let end = header.checked_add(len)?;
    let content = data.get(header..end)?;
    Some((tag, content, data.get(end..)?))
}

/// The NTLM message inside the server's SPNEGO answer (or the answer itself when
/// the server speaks raw NTLMSSP).
pub fn spnego_token(blob: &[u8]) -> Result<Vec<u8>, SmbError> {
    if blob.starts_with(SIGNATURE) {
        return Ok(blob.to_vec());
    }
    let bad = || SmbError::Protocol("the server's SPNEGO answer is malformed".into());
    let (tag, resp, _) = element(blob).ok_or_else(bad)?;
    if tag != 0xa1 {
        return Err(bad());
    }
    let (_, mut fields, _) = element(resp).ok_or_else(bad)?;
    while !fields.is_empty() {
        let (tag, content, rest) = element(fields).ok_or_else(bad)?;
        if tag == 0xa2 {
            let (_, token, _) = element(content).ok_or_else(bad)?;
            return Ok(token.to_vec());
        }
        fields = rest;
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MS-NLMP 4.2.4: the NTLMv2 example (user "User", domain "Domain", password
    /// "Password", the challenges and blob given there).
    #[test]
    fn ntlmv2_matches_the_specification_example() {
        let key = nt_owf_v2("User", "Domain", &Secret::new("Password".into()));
        assert_eq!(
            *key,
            [
                0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0, 0x2e,
                0x3f
            ]
        );
    }

    #[test]
    fn accounts_parse_the_three_windows_forms() {
        let a = Account::parse(r"CORP\svc-deploy");
        assert_eq!(
            (a.user.as_str(), &a.realm),
            ("svc-deploy", &Realm::Domain("CORP".into()))
        );
        let b = Account::parse("admin@corp.example");
        assert_eq!((b.user.as_str(), &b.realm), ("admin@corp.example", &Realm::Upn));
        let c = Account::parse(r".\Administrator");
        assert_eq!((c.user.as_str(), &c.realm), ("Administrator", &Realm::Local));
        let d = Account::parse("Administrator");
        assert_eq!(
            (d.user.as_str(), &d.realm),
            ("Administrator", &Realm::Domain(String::new()))
        );
    }

    fn utf16_text(bytes: &[u8]) -> String {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).unwrap()
    }

    /// A CHALLENGE_MESSAGE as Windows sends one: computer name WS01, a timestamp,
    /// key exchange offered.
    fn challenge() -> Challenge {
        let mut info = Writer::default();
        let name = utf16("WS01");
        info.u16(av::NB_COMPUTER_NAME).u16(name.len() as u16).bytes(&name);
        info.u16(av::TIMESTAMP).u16(8).u64(0x01db_0000_0000_0000);
        info.u16(av::EOL).u16(0);
        let mut w = Writer::default();
        w.bytes(SIGNATURE).u32(2).u16(0).u16(0).u32(56).u32(FLAGS);
        w.bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).zeros(8);
        w.u16(info.buf.len() as u16)
            .u16(info.buf.len() as u16)
            .u32(56)
            .zeros(8);
        w.bytes(&info.buf);
        parse_challenge(&w.buf).unwrap()
    }

    /// One field of an AUTHENTICATE message (index 0 = LM, 1 = NT, 2 = domain, 3 = user, 5 = key).
    fn field(message: &[u8], index: usize) -> &[u8] {
        let at = 12 + index * 8;
        let len = u16::from_le_bytes([message[at], message[at + 1]]) as usize;
        let offset = u32::from_le_bytes(message[at + 4..at + 8].try_into().unwrap()) as usize;
        &message[offset..offset + len]
    }

    fn logon_as(login: &str) -> (Vec<u8>, Authenticated, Challenge) {
        let account = Account::parse(login);
        let password = Secret::new("Passw0rd!".into());
        let negotiate = negotiate();
        let challenge = challenge();
        let logon = Logon {
            account: &account,
            password: &password,
            negotiate: &negotiate,
            challenge: &challenge,
            target_name: "cifs/ws01.corp.example",
        };
        let random = Randomness {
            client_challenge: [9; 8],
            session_key: Zeroizing::new([0x55; 16]),
        };
        let done = authenticate(&logon, random, 0).unwrap();
        (negotiate, done, challenge)
    }

    #[test]
    fn each_account_form_fills_user_and_domain_as_windows_does() {
        for (login, user, domain) in [
            (r"CORP\svc-deploy", "svc-deploy", "CORP"),
            ("admin@corp.example", "admin@corp.example", ""),
            (r".\Administrator", "Administrator", "WS01"),
        ] {
            let (_, done, challenge) = logon_as(login);
            assert_eq!(utf16_text(field(&done.message, 3)), user, "{login}");
            assert_eq!(utf16_text(field(&done.message, 2)), domain, "{login}");
            // The server recomputes the proof from the same user and domain.
            let key = nt_owf_v2(user, domain, &Secret::new("Passw0rd!".into()));
            let nt = field(&done.message, 1);
            let proof = hmac_md5(&key[..], &[&challenge.server_challenge, &nt[16..]]);
            assert_eq!(&proof[..], &nt[..16], "{login}");
        }
    }

    #[test]
    fn the_response_names_the_target_and_carries_a_valid_mic() {
        let (negotiate, done, challenge) = logon_as(r"CORP\svc-deploy");
        let nt = field(&done.message, 1);
        // The blob: 28 bytes of header, then the AV pairs.
        let pairs = av_pairs(&nt[16 + 28..]).unwrap();
        let get = |id| pairs.iter().find(|(i, _)| *i == id).map(|(_, v)| *v);
        assert_eq!(
            utf16_text(get(av::TARGET_NAME).unwrap()),
            "cifs/ws01.corp.example"
        );
        assert_eq!(get(av::FLAGS).unwrap(), &av::FLAG_MIC_PRESENT.to_le_bytes());
        assert_eq!(
            get(av::TIMESTAMP).unwrap(),
            &0x01db_0000_0000_0000u64.to_le_bytes()
        );
        // With the server's timestamp, the blob's time is the server's and LMv2 is zeros.
        assert_eq!(&nt[16 + 8..16 + 16], &0x01db_0000_0000_0000u64.to_le_bytes());
        assert_eq!(field(&done.message, 0), &[0u8; 24]);
        // Key exchange: the exported key is ours, sent RC4'd under the session base key.
        assert_eq!(*done.session_key, [0x55; 16]);
        assert_eq!(field(&done.message, 5).len(), 16);
        assert_ne!(field(&done.message, 5), &[0x55; 16]);
        // The MIC: HMAC-MD5 over the three messages with the MIC field zeroed.
        let mut zeroed = done.message.clone();
        zeroed[AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_PAYLOAD_OFFSET].fill(0);
        let mic = hmac_md5(&done.session_key[..], &[&negotiate, &challenge.raw, &zeroed]);
        assert_eq!(
            &done.message[AUTHENTICATE_MIC_OFFSET..AUTHENTICATE_PAYLOAD_OFFSET],
            &mic[..]
        );
    }

    #[test]
    fn target_info_that_runs_past_its_end_is_refused() {
        assert!(av_pairs(&[1, 0, 0xff, 0x00, 0x41]).is_err());
        assert!(av_pairs(&[1, 0, 2, 0, 0x41, 0]).is_err(), "no MsvAvEOL");
    }

    #[test]
    fn spnego_round_trips_a_token() {
        let token = negotiate();
        let init = spnego_init(&token);
        assert_eq!(init[0], 0x60);
        let resp = spnego_response(&token, None);
        assert_eq!(spnego_token(&resp).unwrap(), token);
        assert_eq!(spnego_token(&token).unwrap(), token, "raw NTLMSSP passes through");
        assert!(spnego_token(&[0xa1, 0x05, 0x30]).is_err());
        // A length of 2^64-1 bytes and one of 2^32-1: refused, not overflowed.
        assert!(spnego_token(&[0xa1, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(spnego_token(&[0xa1, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]).is_err());
    }
}
