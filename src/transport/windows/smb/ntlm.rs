//! NTLMv2 (MS-NLMP) inside SPNEGO (RFC 4178): the three messages of an SMB logon,
//! and the session key that signing and encryption are derived from.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use zeroize::Zeroizing;

use super::SmbError;
use super::wire::{Reader, Writer, utf16};
use crate::secrets::Secret;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
const UNICODE: u32 = 0x0000_0001;
const REQUEST_TARGET: u32 = 0x0000_0004;
const SIGN: u32 = 0x0000_0010;
const NTLM: u32 = 0x0000_0200;
const ALWAYS_SIGN: u32 = 0x0000_8000;
const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
const TARGET_INFO: u32 = 0x0080_0000;
const KEY_128: u32 = 0x2000_0000;
const KEY_56: u32 = 0x8000_0000;
const FLAGS: u32 = UNICODE
    | REQUEST_TARGET
    | SIGN
    | NTLM
    | ALWAYS_SIGN
    | EXTENDED_SESSION_SECURITY
    | TARGET_INFO
    | KEY_128
    | KEY_56;

/// Windows sends a few hundred bytes; more is a broken or hostile server.
const MAX_TARGET_INFO: usize = 8192;

/// `MsvAvTimestamp` in the server's target info.
const AV_TIMESTAMP: u16 = 7;

/// Who logs on: `DOMAIN\user`, `user@domain`, or `.\user` for a local account.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub domain: String,
}

impl Account {
    pub fn parse(login: &str) -> Account {
        if let Some((domain, user)) = login.split_once('\\') {
            let domain = if domain == "." { "" } else { domain };
            return Account {
                user: user.to_string(),
                domain: domain.to_string(),
            };
        }
        if let Some((user, domain)) = login.rsplit_once('@') {
            return Account {
                user: user.to_string(),
                domain: domain.to_string(),
            };
        }
        Account {
            user: login.to_string(),
            domain: String::new(),
        }
    }
}

pub fn negotiate() -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(SIGNATURE).u32(1).u32(FLAGS).zeros(16);
    w.buf
}

pub struct Challenge {
    pub server_challenge: [u8; 8],
    pub target_info: Vec<u8>,
    pub flags: u32,
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
    Ok(Challenge {
        server_challenge,
        target_info: r.slice(info_offset, info_len)?.to_vec(),
        flags: r.u32(20)?,
    })
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 16]> {
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// NTOWFv2 (MS-NLMP 3.3.2). The password's UTF-16 form and the NT hash are as
/// secret as the password, so both are zeroed when dropped.
fn nt_owf_v2(account: &Account, password: &Secret) -> Zeroizing<[u8; 16]> {
    let unicode = Zeroizing::new(utf16(password.expose()));
    let nt_hash = Zeroizing::new(<[u8; 16]>::from(Md4::digest(&unicode[..])));
    let identity = utf16(&format!("{}{}", account.user.to_uppercase(), account.domain));
    hmac_md5(&nt_hash[..], &[&identity])
}

/// The server's own clock when it sent one, so a skewed client clock does not matter.
fn server_time(target_info: &[u8]) -> Option<u64> {
    let mut at = 0;
    while at + 4 <= target_info.len() {
        let id = u16::from_le_bytes([target_info[at], target_info[at + 1]]);
        let len = u16::from_le_bytes([target_info[at + 2], target_info[at + 3]]) as usize;
        let value = target_info.get(at + 4..at + 4 + len)?;
        if id == AV_TIMESTAMP && len == 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(value);
            return Some(u64::from_le_bytes(b));
        }
        if id == 0 {
            break;
        }
        at += 4 + len;
    }
    None
}

/// The AUTHENTICATE message and the exported session key (no key exchange, so the
/// session key is NTLMv2's session base key).
pub fn authenticate(
    account: &Account,
    password: &Secret,
    challenge: &Challenge,
    client_challenge: [u8; 8],
    now_filetime: u64,
) -> (Vec<u8>, Zeroizing<[u8; 16]>) {
    let key = nt_owf_v2(account, password);
    let timestamp = server_time(&challenge.target_info);
    let mut blob = Writer::default();
    blob.u8(1)
        .u8(1)
        .zeros(6)
        .u64(timestamp.unwrap_or(now_filetime))
        .bytes(&client_challenge)
        .zeros(4)
        .bytes(&challenge.target_info)
        .zeros(4);
    let proof = hmac_md5(&key[..], &[&challenge.server_challenge, &blob.buf]);
    let session_key = hmac_md5(&key[..], &[&proof[..]]);
    let mut nt_response = proof.to_vec();
    nt_response.extend_from_slice(&blob.buf);
    // With a server timestamp the LMv2 response must be zeros (MS-NLMP 3.1.5.1.2).
    let lm_response = match timestamp {
        Some(_) => vec![0u8; 24],
        None => {
            let mut lm = hmac_md5(&key[..], &[&challenge.server_challenge, &client_challenge]).to_vec();
            lm.extend_from_slice(&client_challenge);
            lm
        }
    };
    let domain = utf16(&account.domain);
    let user = utf16(&account.user);
    let workstation = utf16("PUSHINST");
    let fields: [&[u8]; 6] = [&lm_response, &nt_response, &domain, &user, &workstation, &[]];
    let mut w = Writer::default();
    w.bytes(SIGNATURE).u32(3);
    let mut offset = 64u32;
    for field in fields {
        w.u16(field.len() as u16).u16(field.len() as u16).u32(offset);
        offset += field.len() as u32;
    }
    w.u32(FLAGS & (challenge.flags | UNICODE));
    for field in fields {
        w.bytes(field);
    }
    (w.buf, session_key)
}

const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
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

/// NegTokenInit offering NTLMSSP, carrying its first message.
pub fn spnego_init(token: &[u8]) -> Vec<u8> {
    let mech_types = der(0xa0, &der(0x30, &der(0x06, NTLMSSP_OID)));
    let mech_token = der(0xa2, &der(0x04, token));
    let init = der(0xa0, &der(0x30, &[mech_types, mech_token].concat()));
    der(0x60, &[der(0x06, SPNEGO_OID), init].concat())
}

/// NegTokenResp carrying the next NTLM message.
pub fn spnego_response(token: &[u8]) -> Vec<u8> {
    der(0xa1, &der(0x30, &der(0xa2, &der(0x04, token))))
}

/// One DER element: (tag, content, rest). A length of more than four bytes, or
/// one that runs past the data, is malformed: no arithmetic on it can overflow.
fn element(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
        let account = Account {
            user: "User".into(),
            domain: "Domain".into(),
        };
        let key = nt_owf_v2(&account, &Secret::new("Password".into()));
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
        assert_eq!((a.user.as_str(), a.domain.as_str()), ("svc-deploy", "CORP"));
        let b = Account::parse("admin@corp.example");
        assert_eq!((b.user.as_str(), b.domain.as_str()), ("admin", "corp.example"));
        let c = Account::parse(r".\Administrator");
        assert_eq!((c.user.as_str(), c.domain.as_str()), ("Administrator", ""));
    }

    #[test]
    fn spnego_round_trips_a_token() {
        let token = negotiate();
        let init = spnego_init(&token);
        assert_eq!(init[0], 0x60);
        let resp = spnego_response(&token);
        assert_eq!(spnego_token(&resp).unwrap(), token);
        assert_eq!(spnego_token(&token).unwrap(), token, "raw NTLMSSP passes through");
        assert!(spnego_token(&[0xa1, 0x05, 0x30]).is_err());
        // A length of 2^64-1 bytes and one of 2^32-1: refused, not overflowed.
        assert!(spnego_token(&[0xa1, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(spnego_token(&[0xa1, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]).is_err());
    }
}
