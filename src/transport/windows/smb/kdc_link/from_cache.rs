//! The AS exchange answered from a `kinit` ticket cache.
//!
//! sspi starts every Kerberos logon with an AS exchange and cannot be given a TGT
//! (kdc_link/cache.rs says why). A credential with a ticket cache has the TGT and
//! its session key but no password, so the AS exchange's two answers are made
//! here, for a one-time key sspi is given as the "keytab" key:
//!
//! - to the AS-REQ without pre-authentication, KDC_ERR_PREAUTH_REQUIRED (all sspi
//!   reads from it is the error code and an optional salt; a key needs no salt);
//! - to the AS-REQ with PA-ENC-TIMESTAMP, an AS-REP carrying the cache's TGT as it
//!   came from the KDC, and an EncASRepPart with the TGT's session key and times,
//!   encrypted with the one-time key (key usage 3, RFC 4120 7.5.1).
//!
//! Nothing made here leaves the process: sspi reads the TGT and session key back
//! out, and its TGS-REQ (the TGT, an authenticator under the session key) goes
//! to the real KDC, which checks both. A TGT the KDC no longer honours is the KDC's
//! refusal there, named as any other.

use picky_krb::crypto::CipherSuite;
use zeroize::Zeroizing;

use super::super::ccache::Credential;

/// KDC_ERR_PREAUTH_REQUIRED.
const PREAUTH_REQUIRED: u8 = 25;
/// Key usage of an AS-REP's enc-part (RFC 4120 7.5.1).
const AS_REP_ENC_PART: i32 = 3;
/// NT-PRINCIPAL, NT-SRV-INST.
const NT_PRINCIPAL: u8 = 1;
const NT_SRV_INST: u8 = 2;

/// The two answers, each framed as on TCP (four-byte length first), and the
/// one-time key to give sspi (of the TGT session key's encryption type).
pub struct FromCache {
    pub probe: Vec<u8>,
    pub as_rep: Vec<u8>,
    pub key: Zeroizing<Vec<u8>>,
}

/// Why a TGT from the cache cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FromCacheError {
    #[error("the TGT's session key is of encryption type {0}; pushinst's Kerberos uses AES (17, 18)")]
    Enctype(u16),
    #[error("the TGT could not be prepared for use")]
    Crypto,
}

/// The answers that give sspi `tgt`, for its client principal exactly as the KDC
/// wrote it into the ticket (the KDC compares the two in the TGS exchange).
pub fn answers(tgt: &Credential) -> Result<FromCache, FromCacheError> {
    let realm = tgt.client.realm.as_str();
    let names: Vec<&str> = tgt.client.components.iter().map(String::as_str).collect();
    let enctype = match tgt.enctype {
        17 => CipherSuite::Aes128CtsHmacSha196,
        18 => CipherSuite::Aes256CtsHmacSha196,
        other => return Err(FromCacheError::Enctype(other)),
    };
    let cipher = enctype.cipher();
    let mut key = Zeroizing::new(vec![0u8; cipher.key_size()]);
    getrandom::fill(&mut key).map_err(|_| FromCacheError::Crypto)?;
    let tgs = principal(NT_SRV_INST, &["krbtgt", realm]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let probe = tlv(
        0x7e,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(30)),
            ctx(4, &time(now)),
            ctx(5, &int(0)),
            ctx(6, &int(PREAUTH_REQUIRED.into())),
            ctx(9, &gstring(realm)),
            ctx(10, &tgs),
        ]),
    );

    let mut enc_fields = vec![
        ctx(
            0,
            &seq(&[ctx(0, &int(tgt.enctype.into())), ctx(1, &tlv(0x04, &tgt.key))]),
        ),
        ctx(
            1,
            &seq(&[seq(&[ctx(0, &int(0)), ctx(1, &time(tgt.authtime.into()))])]),
        ),
        ctx(2, &int(0)),
        ctx(4, &tlv(0x03, &[&[0u8][..], &tgt.flags.to_be_bytes()].concat())),
        ctx(5, &time(tgt.authtime.into())),
        ctx(6, &time(tgt.starttime.max(tgt.authtime).into())),
        ctx(7, &time(tgt.endtime.into())),
    ];
    if tgt.renew_till != 0 {
        enc_fields.push(ctx(8, &time(tgt.renew_till.into())));
    }
    enc_fields.push(ctx(9, &gstring(realm)));
    enc_fields.push(ctx(10, &tgs));
    let enc_part = Zeroizing::new(tlv(0x79, &seq(&enc_fields)));
    let sealed = cipher
        .encrypt(&key, AS_REP_ENC_PART, &enc_part)
        .map_err(|_| FromCacheError::Crypto)?;
    let as_rep = tlv(
        0x6b,
        &seq(&[
            ctx(0, &int(5)),
            ctx(1, &int(11)),
            ctx(3, &gstring(realm)),
            ctx(4, &principal(NT_PRINCIPAL, &names)),
            ctx(5, &tgt.ticket),
            ctx(
                6,
                &seq(&[ctx(0, &int(tgt.enctype.into())), ctx(2, &tlv(0x04, &sealed))]),
            ),
        ]),
    );
    Ok(FromCache {
        probe: framed(probe),
        as_rep: framed(as_rep),
        key,
    })
}

fn framed(message: Vec<u8>) -> Vec<u8> {
    let mut out = (message.len() as u32).to_be_bytes().to_vec();
    out.extend(message);
    out
}

/// A DER element: tag, definite length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

/// `[n]` EXPLICIT.
fn ctx(n: u8, inner: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, inner)
}

/// An INTEGER, in the fewest bytes, never negative.
fn int(value: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = value.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

fn gstring(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

fn principal(name_type: u8, names: &[&str]) -> Vec<u8> {
    let names: Vec<Vec<u8>> = names.iter().map(|n| gstring(n)).collect();
    seq(&[ctx(0, &int(name_type.into())), ctx(1, &seq(&names))])
}

/// KerberosTime: GeneralizedTime, `YYYYMMDDHHMMSSZ`, from seconds since the epoch.
fn time(secs: u64) -> Vec<u8> {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let text = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    tlv(0x18, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kerberos_time_is_generalized_time() {
        assert_eq!(&time(0)[2..], b"19700101000000Z");
        assert_eq!(&time(1_765_065_600)[2..], b"20251207000000Z");
        assert_eq!(&time(951_782_400)[2..], b"20000229000000Z");
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(int(0), [2, 1, 0]);
        assert_eq!(int(25), [2, 1, 25]);
        assert_eq!(int(128), [2, 2, 0, 128]);
        assert_eq!(int(0x5000_0000), [2, 4, 0x50, 0, 0, 0]);
    }
}
