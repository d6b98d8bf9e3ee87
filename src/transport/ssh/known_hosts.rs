//! An OpenSSH known_hosts file, read as `ssh` reads it (sshd(8) "SSH_KNOWN_HOSTS FILE
//! FORMAT"): plain and hashed (`|1|salt|hash`) host patterns, `[host]:port`, `*`/`?`
//! wildcards, `!` negation, comments, and the `@revoked` and `@cert-authority`
//! markers. Lines `ssh` would skip (a key type it does not know, a broken key) are
//! skipped here too, so one odd line does not lock the admin out of every host.

use std::io::Read;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::PublicKey;
use russh::keys::ssh_key::public::KeyData;

/// A known_hosts file larger than this is refused unread: OpenSSH's own files hold a
/// few hundred bytes per host, so 64 MiB is several hundred thousand hosts.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("cannot read it: {source}")]
    Read {
        #[source]
        source: std::io::Error,
    },
    #[error("it is larger than {} MiB, more than any known_hosts file should be", MAX_BYTES / (1024 * 1024))]
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A plain line: this key is this host's.
    Host,
    /// `@revoked`: this key must never be accepted for a matching host.
    Revoked,
    /// `@cert-authority`: host certificates signed by this key are trusted.
    CertAuthority,
}

#[derive(Debug, Clone)]
enum Hosts {
    /// `|1|salt|hash`: HMAC-SHA1 of the host name, keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, each `!`-negated or not, lowercased.
    Patterns(Vec<(bool, String)>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// 1-based, as editors and `ssh-keygen -R` count.
    pub line: usize,
    pub marker: Marker,
    hosts: Hosts,
    pub key: KeyData,
}

/// What the file says about one host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A plain line for the host lists this key.
    Known,
    /// Lines for the host list other keys of the same type; the first one's line.
    Changed { line: usize },
    /// No line for the host lists a key of this type.
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// The file at `path`; a missing file is an empty one, as for `ssh`.
    pub fn read(path: &Path) -> Result<KnownHosts, KnownHostsError> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KnownHosts::default()),
            Err(source) => return Err(KnownHostsError::Read { source }),
        };
        let mut bytes = Vec::new();
        file.take(MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| KnownHostsError::Read { source })?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(KnownHostsError::TooLarge);
        }
        Ok(KnownHosts::parse(&bytes))
    }

    /// Every line that means something; the rest is skipped as `ssh` skips it.
    pub fn parse(bytes: &[u8]) -> KnownHosts {
        let text = String::from_utf8_lossy(bytes);
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(i, line)| parse_line(i + 1, line))
            .collect();
        KnownHosts { entries }
    }

    /// The entries whose host patterns match `name` (`host`, or `[host]:port` off
    /// port 22).
    pub fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let lower = name.to_ascii_lowercase();
        self.entries.iter().filter(move |e| e.hosts.matches(&lower))
    }

    /// The `@revoked` line for `name` that lists `key`, if any.
    pub fn revoked(&self, name: &str, key: &KeyData) -> Option<usize> {
        self.matching(name)
            .find(|e| e.marker == Marker::Revoked && e.key == *key)
            .map(|e| e.line)
    }

    /// Whether `key` is `name`'s, by the plain lines for it.
    pub fn check(&self, name: &str, key: &KeyData) -> Verdict {
        let mut changed = None;
        for entry in self.matching(name).filter(|e| e.marker == Marker::Host) {
            if entry.key == *key {
                return Verdict::Known;
            }
            if changed.is_none() && entry.key.algorithm() == key.algorithm() {
                changed = Some(entry.line);
            }
        }
        match changed {
            Some(line) => Verdict::Changed { line },
            None => Verdict::Unknown,
        }
    }

    /// Whether any `@cert-authority` line is for `name`.
    pub fn has_authority(&self, name: &str) -> bool {
        self.matching(name).any(|e| e.marker == Marker::CertAuthority)
    }

    /// The `@cert-authority` line for `name` that lists `ca`, if any.
    pub fn authority(&self, name: &str, ca: &KeyData) -> Option<usize> {
        self.matching(name)
            .find(|e| e.marker == Marker::CertAuthority && e.key == *ca)
            .map(|e| e.line)
    }
}

fn parse_line(line: usize, text: &str) -> Option<Entry> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut fields = text.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        // A marker `ssh` does not know: it skips the line.
        m if m.starts_with('@') => return None,
        _ => Marker::Host,
    };
    if marker != Marker::Host {
        first = fields.next()?;
    }
    let hosts = parse_hosts(first)?;
    let algorithm = fields.next()?;
    let base64 = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{algorithm} {base64}")).ok()?;
    Some(Entry {
        line,
        marker,
        hosts,
        key: key.key_data().clone(),
    })
}

fn parse_hosts(field: &str) -> Option<Hosts> {
    if let Some(rest) = field.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|')?;
        let salt = base64_decode(salt)?;
        let hash = base64_decode(hash)?;
        // SHA-1 is 20 bytes; anything else can never match.
        if hash.len() != 20 {
            return None;
        }
        return Some(Hosts::Hashed { salt, hash });
    }
    if field.starts_with('|') {
        return None;
    }
    let patterns = field
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.strip_prefix('!') {
            Some(p) => (true, p.to_ascii_lowercase()),
            None => (false, p.to_ascii_lowercase()),
        })
        .collect();
    Some(Hosts::Patterns(patterns))
}

impl Hosts {
    /// `name` is lowercased already.
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            // As OpenSSH's match_hostname: a matching negated pattern rules the line
            // out whatever else matches.
            Hosts::Patterns(patterns) => {
                let mut positive = false;
                for (negated, pattern) in patterns {
                    if wildcard(pattern.as_bytes(), name.as_bytes()) {
                        if *negated {
                            return false;
                        }
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// `*` any run of characters, `?` one character; iterative, so a hostile pattern
/// costs O(pattern × name) and never recurses.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Standard base64 with padding, as `ssh-keygen -H` writes salts and hashes.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let [_, a, b, c] = acc.to_be_bytes();
        out.push(a);
        if chunk.len() > 2 {
            out.push(b);
        }
        if chunk.len() > 3 {
            out.push(c);
        }
    }
    Some(out)
}

/// The name a host goes by in known_hosts: `host`, or `[host]:port` off port 22.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICx2GqrKL/PT2gBE+wL9r78jpEeDL/H2YaUTd0St/W5j";
    const ED2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFylxjuFU8Xb9Dd0NDxUL+eDr2DcRY6eGE6XwW3HkcdX";

    fn key(text: &str) -> KeyData {
        PublicKey::from_openssh(text).unwrap().key_data().clone()
    }

    #[test]
    fn wildcards_and_negation_match_as_openssh_does() {
        assert!(wildcard(b"*.example.com", b"web1.example.com"));
        assert!(wildcard(b"web?", b"web1"));
        assert!(!wildcard(b"web?", b"web12"));
        assert!(wildcard(b"*", b""));
        assert!(!wildcard(b"a*b", b"acbd"));
        assert!(wildcard(b"a*b*c", b"axxbyyc"));
        let hosts = KnownHosts::parse(format!("*.example.com,!bad.example.com {ED}\n").as_bytes());
        assert_eq!(hosts.check("WEB.example.com", &key(ED)), Verdict::Known);
        assert_eq!(hosts.check("bad.example.com", &key(ED)), Verdict::Unknown);
        assert_eq!(hosts.check("example.org", &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn ports_brackets_comments_and_changed_lines() {
        let text = format!("# comment\n\n[h]:2222 {ED} c\nh {ED2}\n");
        let hosts = KnownHosts::parse(text.as_bytes());
        assert_eq!(hosts.check(&host_name("h", 2222), &key(ED)), Verdict::Known);
        assert_eq!(
            hosts.check(&host_name("h", 22), &key(ED)),
            Verdict::Changed { line: 4 }
        );
        assert_eq!(hosts.check(&host_name("h", 2223), &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn hashed_names_match_their_host_only() {
        // What `ssh-keygen -H` writes for "[127.0.0.1]:2222" (the real file is tested
        // against sshd in tests/ssh_auth.rs).
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let line = format!("|1|{}|{} {ED}\n", encode(salt), encode(&hash));
        let hosts = KnownHosts::parse(line.as_bytes());
        assert_eq!(hosts.check("[127.0.0.1]:2222", &key(ED)), Verdict::Known);
        assert_eq!(hosts.check("127.0.0.1", &key(ED)), Verdict::Unknown);
    }

    #[test]
    fn a_file_hashed_by_ssh_keygen_knows_its_host() {
        // `ssh-keygen -H` output for "host1" (also a fuzz seed).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/known_hosts/hashed");
        let hosts = KnownHosts::read(&path).unwrap();
        assert_eq!(hosts.check("host1", &key(ED)), Verdict::Known);
        assert_eq!(hosts.check("host2", &key(ED)), Verdict::Unknown);
    }

    fn encode(bytes: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base64_decode(&encode(&data)).unwrap(), data, "{len}");
        }
    }

    #[test]
    fn markers_are_kept_apart_and_unknown_ones_skipped() {
        let text = format!("@revoked * {ED}\n@cert-authority *.lan {ED2}\n@future h {ED}\nh {ED}\n");
        let hosts = KnownHosts::parse(text.as_bytes());
        assert_eq!(hosts.revoked("h", &key(ED)), Some(1));
        assert_eq!(hosts.revoked("h", &key(ED2)), None);
        assert_eq!(hosts.authority("a.lan", &key(ED2)), Some(2));
        assert_eq!(hosts.authority("h", &key(ED2)), None);
        assert_eq!(hosts.check("h", &key(ED)), Verdict::Known);
        assert_eq!(hosts.entries.len(), 3);
    }

    #[test]
    fn a_file_too_large_is_refused() {
        let dir = std::env::temp_dir().join(format!("pushinst-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("known_hosts");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_BYTES + 1).unwrap();
        assert!(matches!(KnownHosts::read(&path), Err(KnownHostsError::TooLarge)));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(KnownHosts::read(&dir.join("missing")).unwrap().entries.is_empty());
    }
}
