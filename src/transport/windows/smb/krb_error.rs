//! KRB-ERROR (RFC 4120 5.9.1), read only as far as naming a failure needs: the
//! error code and the KDC's clock. `sspi` reports every KDC refusal as one kind of
//! error, so the KDC's own answer is decoded here to tell a wrong password from an
//! unknown account or a clock that is off.

/// KDC_ERR_C_PRINCIPAL_UNKNOWN: no such account in the realm.
pub const C_PRINCIPAL_UNKNOWN: i32 = 6;
/// KDC_ERR_S_PRINCIPAL_UNKNOWN: no account holds the service name (SPN).
pub const S_PRINCIPAL_UNKNOWN: i32 = 7;
/// KDC_ERR_CLIENT_REVOKED: the account is disabled or locked out.
pub const CLIENT_REVOKED: i32 = 18;
/// KDC_ERR_KEY_EXPIRED: the password has expired.
pub const KEY_EXPIRED: i32 = 23;
/// KDC_ERR_PREAUTH_FAILED: the password is wrong.
pub const PREAUTH_FAILED: i32 = 24;
/// KRB_AP_ERR_SKEW: the clocks differ by more than the KDC allows.
pub const SKEW: i32 = 37;
/// KDC_ERR_WRONG_REALM.
pub const WRONG_REALM: i32 = 68;

/// What a KRB-ERROR says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrbError {
    pub error_code: i32,
    /// The KDC's time, seconds since 1970 (`stime`).
    pub stime: Option<i64>,
}

// DER elements are read as the NTLM/SPNEGO code reads them.
use super::ntlm::element;

fn integer(content: &[u8]) -> Option<i32> {
    let (tag, bytes, _) = element(content)?;
    if tag != 0x02 || bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    let mut value: i64 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        value = (value << 8) | *b as i64;
    }
    i32::try_from(value).ok()
}

/// KerberosTime: GeneralizedTime `YYYYMMDDHHMMSSZ`, as seconds since 1970.
fn kerberos_time(content: &[u8]) -> Option<i64> {
    let (tag, bytes, _) = element(content)?;
    if tag != 0x18 || bytes.len() != 15 || bytes[14] != b'Z' {
        return None;
    }
    let digits = std::str::from_utf8(&bytes[..14]).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hh, mm, ss) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A KDC answer as it came over TCP (with or without its four-byte length):
/// the KRB-ERROR it holds, or `None` when it is anything else.
pub fn parse(reply: &[u8]) -> Option<KrbError> {
    let reply = match reply.first() {
        Some(0x7e) => reply,
        _ => reply.get(4..)?,
    };
    let (tag, body, _) = element(reply)?;
    if tag != 0x7e {
        return None;
    }
    let (tag, mut fields, _) = element(body)?;
    if tag != 0x30 {
        return None;
    }
    let mut error_code = None;
    let mut stime = None;
    while !fields.is_empty() {
        let (tag, content, rest) = element(fields)?;
        match tag {
            0xa4 => stime = kerberos_time(content),
            0xa6 => error_code = integer(content),
            _ => {}
        }
        fields = rest;
    }
    Some(KrbError {
        error_code: error_code?,
        stime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn krb_error(code: u8, stime: &str) -> Vec<u8> {
        let fields = [
            der(0xa0, &der(0x02, &[5])),
            der(0xa1, &der(0x02, &[30])),
            der(0xa4, &der(0x18, stime.as_bytes())),
            der(0xa5, &der(0x02, &[0])),
            der(0xa6, &der(0x02, &[code])),
            der(0xa9, &der(0x1b, b"EXAMPLE.TEST")),
        ]
        .concat();
        der(0x7e, &der(0x30, &fields))
    }

    #[test]
    fn reads_the_code_and_the_kdc_clock() {
        let e = krb_error(24, "20261205133000Z");
        let parsed = parse(&e).unwrap();
        assert_eq!(parsed.error_code, PREAUTH_FAILED);
        assert_eq!(parsed.stime, Some(1_796_477_400));
        let mut framed = (e.len() as u32).to_be_bytes().to_vec();
        framed.extend(&e);
        assert_eq!(parse(&framed).unwrap().error_code, PREAUTH_FAILED);
    }

    #[test]
    fn anything_else_is_not_an_error() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x6b, 0x03, 0x30, 0x01, 0x00]), None);
        assert_eq!(parse(&[0x7e, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(parse(&[0x7e, 0x88, 0xff]), None);
    }
}
