//! A keytab file (MIT format 0x502, what `ktutil`, `samba-tool domain
//! exportkeytab` and Windows' `ktpass` write): the long-term key of the
//! credential's principal, for a Kerberos logon without a password. sspi takes the
//! key itself, not the file, so the file is read here, bounded.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::krb_file::{self, FileError, Reader};

/// No keytab pushinst reads is larger (one holds a few entries of < 100 bytes).
pub const MAX_KEYTAB: u64 = 1024 * 1024;

/// Encryption types sspi can use, strongest first (RFC 3962; RC4 and DES are not
/// supported by sspi's Kerberos).
const AES256: u16 = 18;
const AES128: u16 = 17;

/// One key of a keytab.
pub struct Entry {
    /// `name/instance@REALM`.
    pub principal: String,
    pub enctype: u16,
    pub kvno: u32,
    pub key: Zeroizing<Vec<u8>>,
}

/// Why a keytab gave no key.
#[derive(Debug, thiserror::Error)]
pub enum KeytabError {
    #[error("cannot read the keytab {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the keytab {path} is {size} bytes, more than a keytab holds")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a keytab (MIT format 0x502)")]
    Malformed { path: PathBuf },
    #[error("the keytab {path} has no AES key for {principal} (it holds: {found})")]
    NoKey {
        path: PathBuf,
        principal: String,
        found: String,
    },
}

/// The entries of a keytab file's contents; `None` when it is not one.
pub fn parse(data: &[u8]) -> Option<Vec<Entry>> {
    if data.get(..2)? != [0x05, 0x02] {
        return None;
    }
    let mut entries = Vec::new();
    let mut rest = &data[2..];
    while rest.len() >= 4 {
        let size = i32::from_be_bytes(rest[..4].try_into().ok()?);
        rest = &rest[4..];
        // A negative size is a deleted entry's hole.
        let len = size.unsigned_abs() as usize;
        let record = rest.get(..len)?;
        rest = &rest[len..];
        if size > 0 {
            entries.push(entry(record)?);
        }
    }
    Some(entries)
}

fn entry(record: &[u8]) -> Option<Entry> {
    let mut r = Reader(record);
    let components = r.u16()?;
    let realm = r.string16()?;
    let mut names = Vec::new();
    for _ in 0..components {
        names.push(r.string16()?);
    }
    let _name_type = r.u32()?;
    let _timestamp = r.u32()?;
    let kvno8 = r.u8()?;
    let enctype = r.u16()?;
    let key_len = r.u16()? as usize;
    let key = Zeroizing::new(r.take(key_len)?.to_vec());
    // The 32-bit kvno that follows, when the writer put one there, wins over the 8-bit one.
    let kvno = match r.u32() {
        Some(kvno) if kvno != 0 => kvno,
        _ => kvno8 as u32,
    };
    Some(Entry {
        principal: format!("{}@{realm}", names.join("/")),
        enctype,
        kvno,
        key,
    })
}

/// The strongest, newest key for `principal` (`user@REALM`, compared as Active
/// Directory compares names: without regard to case) in the keytab at `path`.
pub fn load(path: &Path, principal: &str) -> Result<Entry, KeytabError> {
    let data = krb_file::read_bounded(path, MAX_KEYTAB).map_err(|e| match e {
        FileError::Read(source) => KeytabError::Read {
            path: path.to_path_buf(),
            source,
        },
        FileError::TooLarge(size) => KeytabError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })?;
    let entries = parse(&data).ok_or_else(|| KeytabError::Malformed {
        path: path.to_path_buf(),
    })?;
    let rank = |e: &Entry| match e.enctype {
        AES256 => 2,
        AES128 => 1,
        _ => 0,
    };
    let mut found: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.principal, enctype_name(e.enctype)))
        .collect();
    found.dedup();
    entries
        .into_iter()
        .filter(|e| e.principal.eq_ignore_ascii_case(principal) && rank(e) > 0)
        .max_by_key(|e| (rank(e), e.kvno))
        .ok_or_else(|| KeytabError::NoKey {
            path: path.to_path_buf(),
            principal: principal.to_string(),
            found: if found.is_empty() {
                "nothing".into()
            } else {
                found.join(", ")
            },
        })
}

fn enctype_name(enctype: u16) -> String {
    match enctype {
        AES256 => "aes256".into(),
        AES128 => "aes128".into(),
        23 => "rc4".into(),
        n => format!("enctype {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u16).to_be_bytes().to_vec();
        out.extend(s.as_bytes());
        out
    }

    fn record(names: &[&str], realm: &str, enctype: u16, kvno: u32, key: &[u8]) -> Vec<u8> {
        let mut r = (names.len() as u16).to_be_bytes().to_vec();
        r.extend(string(realm));
        for n in names {
            r.extend(string(n));
        }
        r.extend(1u32.to_be_bytes());
        r.extend(0u32.to_be_bytes());
        r.push(kvno as u8);
        r.extend(enctype.to_be_bytes());
        r.extend((key.len() as u16).to_be_bytes());
        r.extend(key);
        r.extend(kvno.to_be_bytes());
        let mut out = (r.len() as i32).to_be_bytes().to_vec();
        out.extend(r);
        out
    }

    #[test]
    fn picks_the_strongest_newest_key_of_the_principal() {
        let mut data = vec![5, 2];
        data.extend(record(&["admin"], "EXAMPLE.TEST", 23, 3, &[1; 16]));
        data.extend(record(&["admin"], "EXAMPLE.TEST", 17, 3, &[2; 16]));
        data.extend(record(&["admin"], "EXAMPLE.TEST", 18, 2, &[3; 32]));
        data.extend(record(&["admin"], "EXAMPLE.TEST", 18, 3, &[4; 32]));
        data.extend((-12i32).to_be_bytes());
        data.extend([0; 12]);
        data.extend(record(&["other"], "EXAMPLE.TEST", 18, 9, &[5; 32]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keytab");
        std::fs::write(&path, &data).unwrap();
        let key = load(&path, "Admin@example.test").unwrap();
        assert_eq!((key.enctype, key.kvno, key.key[0]), (18, 3, 4));
        match load(&path, "nobody@EXAMPLE.TEST") {
            Err(KeytabError::NoKey { found, .. }) => {
                assert!(found.contains("other@EXAMPLE.TEST (aes256)"), "{found}")
            }
            _ => panic!("a principal not in the keytab has no key"),
        }
    }

    #[test]
    fn anything_else_is_not_a_keytab() {
        assert!(parse(b"").is_none());
        assert!(parse(&[5, 1]).is_none());
        assert!(parse(&[5, 2, 0, 0, 0, 9, 0]).is_none());
        assert!(parse(&[5, 2, 0x7f, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(parse(&[5, 2]).map(|e| e.len()), Some(0));
    }
}
