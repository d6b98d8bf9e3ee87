//! A Kerberos ticket cache file (MIT `FILE:` format, versions 0x0503 and 0x0504:
//! what `kinit` on Linux leaves in `KRB5CCNAME` or `/tmp/krb5cc_UID`): the TGT a
//! sysadmin already has, so a credential without a password can log on with it.
//! Read here, bounded, as keytab.rs reads keytabs; only `FILE:` caches (a path,
//! with or without the prefix) are files pushinst can read.
//!
//! Layout (MIT krb5 `doc/formats/ccache_file_format.rst`): a version, for 0x0504 a
//! header of tagged fields, the default principal, then credentials until the end
//! of the file. Every count and length in it is checked against what is left of
//! the file before anything is taken, so a hostile file costs nothing beyond its
//! size, which [`MAX_CCACHE`] bounds.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::krb_file::{self, FileError, Reader};

/// No ticket cache pushinst reads is larger (a TGT with a large PAC is a few KiB;
/// a cache holding a day's service tickets some hundred KiB).
pub const MAX_CCACHE: u64 = 1024 * 1024;

/// The realm MIT krb5 gives the configuration entries it stores as credentials.
const CONFIG_REALM: &str = "X-CACHECONF:";

/// A principal: its name components and realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name_type: u32,
    pub components: Vec<String>,
    pub realm: String,
}

impl Principal {
    /// `name/instance@REALM`.
    pub fn display(&self) -> String {
        format!("{}@{}", self.components.join("/"), self.realm)
    }

    /// Whether this is the ticket-granting service of `realm` (`krbtgt/REALM@REALM`).
    fn is_tgs_of(&self, realm: &str) -> bool {
        self.components.len() == 2
            && self.components[0] == "krbtgt"
            && self.components[1].eq_ignore_ascii_case(realm)
            && self.realm.eq_ignore_ascii_case(realm)
    }
}

/// One credential of the cache: a ticket and what using it needs.
pub struct Credential {
    pub client: Principal,
    pub server: Principal,
    /// The session key's encryption type (RFC 3961 number) and value.
    pub enctype: u16,
    pub key: Zeroizing<Vec<u8>>,
    /// Seconds since the epoch, as the KDC issued them.
    pub authtime: u32,
    pub starttime: u32,
    pub endtime: u32,
    pub renew_till: u32,
    pub flags: u32,
    /// The Ticket, DER, as the KDC sent it.
    pub ticket: Vec<u8>,
}

/// A cache's contents: its credentials (the default principal is not needed:
/// the credential names its user).
pub struct Cache {
    pub credentials: Vec<Credential>,
}

/// Why a ticket cache gave no TGT.
#[derive(Debug, thiserror::Error)]
pub enum CcacheError {
    #[error("KRB5CCNAME names a {kind} ticket cache; pushinst reads only FILE: caches")]
    Unsupported { kind: String },
    #[error("cannot read the ticket cache {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the ticket cache {path} is {size} bytes, more than a ticket cache holds")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not a ticket cache (MIT FILE: format 0x0503 or 0x0504)")]
    Malformed { path: PathBuf },
    #[error("the ticket cache {path} holds no TGT for {principal} (it holds: {found})")]
    NoTgt {
        path: PathBuf,
        principal: String,
        found: String,
    },
    #[error("the TGT for {principal} in {path} expired {ago_s} s ago")]
    Expired {
        path: PathBuf,
        principal: String,
        ago_s: u64,
    },
}

/// The file `KRB5CCNAME` names: `FILE:path` or a bare path; any other cache type
/// (KEYRING:, KCM:, DIR:, MEMORY:, API:) is named, not guessed at.
pub fn path_of(ccname: &str) -> Result<PathBuf, CcacheError> {
    match ccname.split_once(':') {
        Some(("FILE", path)) => Ok(PathBuf::from(path)),
        Some((kind, _)) if !kind.is_empty() && !kind.contains('/') => Err(CcacheError::Unsupported {
            kind: kind.to_string(),
        }),
        _ => Ok(PathBuf::from(ccname)),
    }
}

/// A ticket cache file's contents; `None` when it is not one.
pub fn parse(data: &[u8]) -> Option<Cache> {
    let mut r = Reader(data);
    let version = r.u16()?;
    if version != 0x0504 && version != 0x0503 {
        return None;
    }
    if version == 0x0504 {
        // Tagged header fields (the KDC time offset): not needed, skipped whole.
        let len = r.u16()? as usize;
        r.take(len)?;
    }
    let _default_principal = r.principal()?;
    let mut credentials = Vec::new();
    while !r.0.is_empty() {
        credentials.push(r.credential(version)?);
    }
    Some(Cache { credentials })
}

/// The TGT of `principal` (`user@REALM`, compared without regard to case, as
/// Active Directory compares names) in the cache file at `path`, valid at `now`
/// (seconds since the epoch).
pub fn load(path: &Path, principal: &str, now: u64) -> Result<Credential, CcacheError> {
    let data = krb_file::read_bounded(path, MAX_CCACHE).map_err(|e| match e {
        FileError::Read(source) => CcacheError::Read {
            path: path.to_path_buf(),
            source,
        },
        FileError::TooLarge(size) => CcacheError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })?;
    let cache = parse(&data).ok_or_else(|| CcacheError::Malformed {
        path: path.to_path_buf(),
    })?;
    let realm = principal.rsplit_once('@').map(|(_, r)| r).unwrap_or_default();
    let found: Vec<String> = cache
        .credentials
        .iter()
        .filter(|c| c.server.realm != CONFIG_REALM)
        .map(|c| format!("{} for {}", c.server.display(), c.client.display()))
        .collect();
    let mut tgts: Vec<Credential> = cache
        .credentials
        .into_iter()
        .filter(|c| c.client.display().eq_ignore_ascii_case(principal) && c.server.is_tgs_of(realm))
        .collect();
    // The one that lasts longest: kinit -R and a second kinit append, not replace.
    tgts.sort_by_key(|c| c.endtime);
    let Some(tgt) = tgts.pop() else {
        return Err(CcacheError::NoTgt {
            path: path.to_path_buf(),
            principal: principal.to_string(),
            found: if found.is_empty() {
                "nothing".into()
            } else {
                found.join(", ")
            },
        });
    };
    if u64::from(tgt.endtime) <= now {
        return Err(CcacheError::Expired {
            path: path.to_path_buf(),
            principal: principal.to_string(),
            ago_s: now - u64::from(tgt.endtime),
        });
    }
    Ok(tgt)
}

/// The ticket cache's records, read with the shared big-endian reader.
trait CacheRecords {
    fn principal(&mut self) -> Option<Principal>;
    fn skip_typed_list(&mut self) -> Option<()>;
    fn credential(&mut self, version: u16) -> Option<Credential>;
}

impl CacheRecords for Reader<'_> {
    fn principal(&mut self) -> Option<Principal> {
        let name_type = self.u32()?;
        let count = self.u32()?;
        let realm = self.string32()?;
        // Each component takes at least its 4-byte length: a count beyond what is
        // left fails on the way, never allocates ahead.
        let mut components = Vec::new();
        for _ in 0..count {
            components.push(self.string32()?);
        }
        Some(Principal {
            name_type,
            components,
            realm,
        })
    }
    /// Addresses or authorization data: a count of (16-bit type, counted data).
    fn skip_typed_list(&mut self) -> Option<()> {
        let count = self.u32()?;
        for _ in 0..count {
            self.u16()?;
            self.counted32()?;
        }
        Some(())
    }
    fn credential(&mut self, version: u16) -> Option<Credential> {
        let client = self.principal()?;
        let server = self.principal()?;
        let enctype = self.u16()?;
        if version == 0x0503 {
            // Version 3 stores the encryption type twice.
            self.u16()?;
        }
        let key = Zeroizing::new(self.counted32()?.to_vec());
        let authtime = self.u32()?;
        let starttime = self.u32()?;
        let endtime = self.u32()?;
        let renew_till = self.u32()?;
        let _is_skey = self.u8()?;
        let flags = self.u32()?;
        self.skip_typed_list()?;
        self.skip_typed_list()?;
        let ticket = self.counted32()?.to_vec();
        let _second_ticket = self.counted32()?;
        Some(Credential {
            client,
            server,
            enctype,
            key,
            authtime,
            starttime,
            endtime,
            renew_till,
            flags,
            ticket,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(b: &[u8]) -> Vec<u8> {
        let mut out = (b.len() as u32).to_be_bytes().to_vec();
        out.extend(b);
        out
    }

    fn principal(components: &[&str], realm: &str) -> Vec<u8> {
        let mut out = 1u32.to_be_bytes().to_vec();
        out.extend((components.len() as u32).to_be_bytes());
        out.extend(counted(realm.as_bytes()));
        for c in components {
            out.extend(counted(c.as_bytes()));
        }
        out
    }

    fn credential(client: &[u8], server: &[u8], endtime: u32, ticket: &[u8]) -> Vec<u8> {
        let mut out = client.to_vec();
        out.extend(server);
        out.extend(18u16.to_be_bytes());
        out.extend(counted(&[9; 32]));
        for t in [100u32, 100, endtime, endtime + 100] {
            out.extend(t.to_be_bytes());
        }
        out.push(0);
        out.extend(0x50e1_0000u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend(counted(ticket));
        out.extend(counted(b""));
        out
    }

    /// A cache as kinit writes it: version 4, the time-offset header field, the
    /// default principal, a configuration entry, then the TGTs.
    fn sample(endtimes: &[u32]) -> Vec<u8> {
        let me = principal(&["deployer"], "EXAMPLE.TEST");
        let mut out = vec![0x05, 0x04, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x08];
        out.extend([0; 8]);
        out.extend(&me);
        out.extend(credential(
            &me,
            &principal(&["krb5_ccache_conf_data", "fast_avail"], CONFIG_REALM),
            0,
            b"yes",
        ));
        for (i, end) in endtimes.iter().enumerate() {
            let tgs = principal(&["krbtgt", "EXAMPLE.TEST"], "EXAMPLE.TEST");
            out.extend(credential(&me, &tgs, *end, &[0x61, i as u8]));
        }
        out
    }

    fn write(data: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("krb5cc_0");
        std::fs::write(&path, data).unwrap();
        (dir, path)
    }

    #[test]
    fn takes_the_longest_lasting_tgt_of_the_principal() {
        let (_dir, path) = write(&sample(&[5000, 9000, 7000]));
        let tgt = load(&path, "Deployer@example.test", 1000).unwrap();
        assert_eq!((tgt.endtime, tgt.enctype, tgt.key.len()), (9000, 18, 32));
        assert_eq!(tgt.ticket, [0x61, 1]);
        assert_eq!(tgt.server.display(), "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST");
    }

    #[test]
    fn an_expired_tgt_and_another_principal_are_named() {
        let (_dir, path) = write(&sample(&[5000]));
        match load(&path, "deployer@EXAMPLE.TEST", 5600) {
            Err(CcacheError::Expired { ago_s, .. }) => assert_eq!(ago_s, 600),
            _ => panic!("an expired TGT is named"),
        }
        match load(&path, "admin@EXAMPLE.TEST", 1000) {
            Err(CcacheError::NoTgt { found, .. }) => {
                assert_eq!(
                    found,
                    "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST for deployer@EXAMPLE.TEST"
                )
            }
            _ => panic!("a cache of another principal has no TGT for this one"),
        }
    }

    /// The fuzz seeds are caches as kinit writes them (version 4) and as older
    /// Heimdal and MIT releases did (version 3, the enctype twice).
    #[test]
    fn the_fuzz_seeds_read_as_caches() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ccache");
        let tgt = load(
            &seeds.join("seed-kinit-v4"),
            "deployer@EXAMPLE.TEST",
            1_765_000_000,
        )
        .unwrap();
        assert_eq!(
            (tgt.enctype, tgt.endtime, tgt.ticket[0]),
            (18, 1_765_065_600, 0x61)
        );
        let v3 = parse(&std::fs::read(seeds.join("seed-v3-service")).unwrap()).unwrap();
        assert_eq!(v3.credentials.len(), 1);
        let service = &v3.credentials[0];
        assert_eq!(service.server.display(), "cifs/dc1.example.test@EXAMPLE.TEST");
        assert_eq!((service.enctype, service.key.len()), (17, 16));
    }

    #[test]
    fn krb5ccname_forms() {
        assert_eq!(
            path_of("FILE:/tmp/krb5cc_0").unwrap(),
            PathBuf::from("/tmp/krb5cc_0")
        );
        assert_eq!(path_of("/tmp/krb5cc_0").unwrap(), PathBuf::from("/tmp/krb5cc_0"));
        assert!(matches!(
            path_of("KEYRING:persistent:0"),
            Err(CcacheError::Unsupported { kind }) if kind == "KEYRING"
        ));
    }

    #[test]
    fn anything_else_is_not_a_ticket_cache_and_lengths_are_checked_first() {
        assert!(parse(b"").is_none());
        assert!(parse(&[0x05, 0x02, 0, 0]).is_none());
        let whole = sample(&[5000]);
        // Cut anywhere, it is refused, or (cut between two credentials) it holds
        // fewer: never more than is there.
        for cut in 0..whole.len() {
            if let Some(cache) = parse(&whole[..cut]) {
                assert!(cache.credentials.len() < 2, "cut at {cut}");
            }
        }
        // A component count of four billion fails at the first missing length.
        let mut huge = vec![0x05, 0x04, 0, 0];
        huge.extend(1u32.to_be_bytes());
        huge.extend(u32::MAX.to_be_bytes());
        huge.extend(counted(b"R"));
        assert!(parse(&huge).is_none());
    }
}
