//! Which SSH algorithms pushinst offers, as OpenSSH's client does: the same defaults
//! (where russh implements them), the legacy ones off unless asked for, and the
//! lists the inventory settles per host turned into russh's preferences.

use std::borrow::Cow;
use std::str::FromStr;

use russh::keys::Algorithm;
use russh::{Preferred, kex};

/// The five lists OpenSSH lets an admin change, by their setting names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Kex,
    HostKey,
    Cipher,
    Mac,
    Pubkey,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Kex, Kind::HostKey, Kind::Cipher, Kind::Mac, Kind::Pubkey];

    /// The inventory key that sets this list.
    pub fn setting(self) -> &'static str {
        match self {
            Kind::Kex => "kex_algorithms",
            Kind::HostKey => "host_key_algorithms",
            Kind::Cipher => "ciphers",
            Kind::Mac => "macs",
            Kind::Pubkey => "pubkey_algorithms",
        }
    }

    /// What one entry of the list is, in words.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Kex => "key exchange",
            Kind::HostKey => "host key algorithm",
            Kind::Cipher => "cipher",
            Kind::Mac => "MAC",
            Kind::Pubkey => "public key algorithm",
        }
    }

    /// Every name pushinst can use, strongest first: what a `+` may add.
    pub fn implemented(self) -> &'static [&'static str] {
        match self {
            Kind::Kex => &[
                "mlkem768x25519-sha256",
                "curve25519-sha256",
                "curve25519-sha256@libssh.org",
                "ecdh-sha2-nistp256",
                "ecdh-sha2-nistp384",
                "ecdh-sha2-nistp521",
                "diffie-hellman-group-exchange-sha256",
                "diffie-hellman-group16-sha512",
                "diffie-hellman-group18-sha512",
                "diffie-hellman-group14-sha256",
                "diffie-hellman-group15-sha512",
                "diffie-hellman-group17-sha512",
                "diffie-hellman-group14-sha1",
                "diffie-hellman-group-exchange-sha1",
                "diffie-hellman-group1-sha1",
            ],
            Kind::HostKey | Kind::Pubkey => &[
                "ssh-ed25519",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "rsa-sha2-512",
                "rsa-sha2-256",
                "ssh-rsa",
            ],
            Kind::Cipher => &[
                "aes128-gcm@openssh.com",
                "aes256-gcm@openssh.com",
                "chacha20-poly1305@openssh.com",
                "aes128-ctr",
                "aes192-ctr",
                "aes256-ctr",
                "aes128-cbc",
                "aes192-cbc",
                "aes256-cbc",
            ],
            Kind::Mac => &[
                "hmac-sha2-256-etm@openssh.com",
                "hmac-sha2-512-etm@openssh.com",
                "hmac-sha1-etm@openssh.com",
                "hmac-sha2-256",
                "hmac-sha2-512",
                "hmac-sha1",
            ],
        }
    }

    /// What pushinst offers when nothing is set: the OpenSSH 9.x client's defaults,
    /// less what russh lacks (sntrup761, umac, security keys). SHA-1 key exchange and
    /// signatures and the CBC ciphers are off, as in OpenSSH.
    pub fn defaults(self) -> &'static [&'static str] {
        match self {
            Kind::Kex => &self.implemented()[..10],
            Kind::HostKey | Kind::Pubkey => &self.implemented()[..6],
            Kind::Cipher => default_ciphers(),
            Kind::Mac => self.implemented(),
        }
    }
}

/// OpenSSH's cipher set, cheapest first on this machine. With AES instructions,
/// AES-GCM costs less CPU than chacha20-poly1305 (which was a quarter of the
/// controller's CPU in a profile); without them, chacha20 is the cheaper one.
fn default_ciphers() -> &'static [&'static str] {
    const AES_FIRST: &[&str] = &[
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
    ];
    const CHACHA_FIRST: &[&str] = &[
        "chacha20-poly1305@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
    ];
    if aes_instructions() {
        AES_FIRST
    } else {
        CHACHA_FIRST
    }
}

fn aes_instructions() -> bool {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    {
        false
    }
}

/// The lists one host is offered, each in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Algorithms {
    pub kex: Vec<&'static str>,
    pub host_key: Vec<&'static str>,
    pub cipher: Vec<&'static str>,
    pub mac: Vec<&'static str>,
    pub pubkey: Vec<&'static str>,
}

impl Default for Algorithms {
    fn default() -> Self {
        Algorithms {
            kex: Kind::Kex.defaults().to_vec(),
            host_key: Kind::HostKey.defaults().to_vec(),
            cipher: Kind::Cipher.defaults().to_vec(),
            mac: Kind::Mac.defaults().to_vec(),
            pubkey: Kind::Pubkey.defaults().to_vec(),
        }
    }
}

impl Algorithms {
    pub fn get(&self, kind: Kind) -> &[&'static str] {
        match kind {
            Kind::Kex => &self.kex,
            Kind::HostKey => &self.host_key,
            Kind::Cipher => &self.cipher,
            Kind::Mac => &self.mac,
            Kind::Pubkey => &self.pubkey,
        }
    }

    pub fn set(&mut self, kind: Kind, names: Vec<&'static str>) {
        match kind {
            Kind::Kex => self.kex = names,
            Kind::HostKey => self.host_key = names,
            Kind::Cipher => self.cipher = names,
            Kind::Mac => self.mac = names,
            Kind::Pubkey => self.pubkey = names,
        }
    }

    /// The lists that differ from the defaults, as `setting = "a,b"` for the plan.
    pub fn changed(&self) -> Vec<(Kind, String)> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.get(*k) != k.defaults())
            .map(|k| (k, self.get(k).join(",")))
            .collect()
    }

    /// The weak algorithms these lists allow (SHA-1 key exchange and RSA signatures,
    /// CBC ciphers), which OpenSSH too leaves off unless asked.
    pub fn legacy(&self) -> Vec<&'static str> {
        let mut weak = Vec::new();
        for kind in Kind::ALL {
            for name in self.get(kind) {
                let is_weak = match kind {
                    Kind::Kex => name.ends_with("-sha1"),
                    Kind::HostKey | Kind::Pubkey => *name == "ssh-rsa",
                    Kind::Cipher => name.ends_with("-cbc"),
                    Kind::Mac => false,
                };
                if is_weak && !weak.contains(name) {
                    weak.push(*name);
                }
            }
        }
        weak
    }

    /// russh's preferences for the handshake. Every name here is one of
    /// `Kind::implemented`, which russh knows; a name it did not would be dropped.
    pub fn preferred(&self) -> Preferred {
        let mut kex: Vec<kex::Name> = names(&self.kex);
        // Not algorithms but flags riding in the list: server-sig-algs (which RSA
        // signature the server takes) and the strict key exchange against Terrapin.
        kex.push(kex::EXTENSION_SUPPORT_AS_CLIENT);
        kex.push(kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT);
        let key: Vec<Algorithm> = self
            .host_key
            .iter()
            .filter_map(|n| Algorithm::from_str(n).ok())
            .collect();
        Preferred {
            kex: Cow::Owned(kex),
            // Ask for host certificates of the same algorithms, as OpenSSH does: one no
            // listed authority signed is checked as its plain key (host_key.rs).
            host_key_certificates: Cow::Owned(key.clone()),
            key: Cow::Owned(key),
            cipher: Cow::Owned(names(&self.cipher)),
            mac: Cow::Owned(names(&self.mac)),
            ..Preferred::DEFAULT
        }
    }

    /// Whether a key of this algorithm may sign a login, and with which RSA hash:
    /// `server` is the RSA signatures the server said it takes (`None` when it did not
    /// say). `None` when the list allows no signature for this key.
    pub fn pubkey_signature(&self, key: &Algorithm, server: Option<&[Algorithm]>) -> Option<Algorithm> {
        let allowed = |a: &Algorithm| {
            self.pubkey
                .iter()
                .any(|n| Algorithm::from_str(n).ok().as_ref() == Some(a))
        };
        if !matches!(key, Algorithm::Rsa { .. }) {
            return allowed(key).then(|| key.clone());
        }
        let rsa = self
            .pubkey
            .iter()
            .filter_map(|n| Algorithm::from_str(n).ok())
            .filter(|a| matches!(a, Algorithm::Rsa { .. }));
        match server {
            Some(server) => rsa.into_iter().find(|a| server.contains(a)),
            // An old server that does not say: the first RSA signature allowed, as
            // OpenSSH does (ssh-rsa only when the list asks for it).
            None => rsa.into_iter().next(),
        }
    }
}

fn names<N: for<'a> TryFrom<&'a str>>(list: &[&'static str]) -> Vec<N> {
    list.iter().filter_map(|n| N::try_from(n).ok()).collect()
}

/// Why a list written the OpenSSH way cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("the list is empty")]
    Empty,
    #[error("`{name}` is not a {noun} pushinst implements")]
    Unknown { name: String, noun: &'static str },
    #[error("this leaves no {noun} to offer")]
    NothingLeft { noun: &'static str },
}

/// How a written list changes the defaults, as in OpenSSH's ssh_config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Replace,
    Append,
    Remove,
    Prepend,
}

/// A list as OpenSSH reads it: `a,b` replaces the defaults, `+a,b` appends to them,
/// `-a,b` removes from them and `^a,b` puts in front of them. Names may hold `*`
/// and `?` wildcards, matched against what pushinst implements.
pub fn resolve(kind: Kind, text: &str) -> Result<Vec<&'static str>, ListError> {
    let (op, rest) = match text.trim().as_bytes().first() {
        Some(b'+') => (Op::Append, &text.trim()[1..]),
        Some(b'-') => (Op::Remove, &text.trim()[1..]),
        Some(b'^') => (Op::Prepend, &text.trim()[1..]),
        _ => (Op::Replace, text.trim()),
    };
    let patterns: Vec<&str> = rest.split(',').map(str::trim).collect();
    if patterns.iter().all(|p| p.is_empty()) {
        return Err(ListError::Empty);
    }
    let mut named = Vec::new();
    for pattern in patterns {
        if pattern.is_empty() {
            return Err(ListError::Empty);
        }
        let found: Vec<&'static str> = kind
            .implemented()
            .iter()
            .copied()
            .filter(|n| wildcard(pattern, n))
            .collect();
        if found.is_empty() {
            return Err(ListError::Unknown {
                name: pattern.to_string(),
                noun: kind.noun(),
            });
        }
        named.extend(found);
    }
    let defaults = kind.defaults().iter().copied();
    let list: Vec<&'static str> = match op {
        Op::Replace => named,
        Op::Append => defaults.chain(named).collect(),
        Op::Prepend => named.into_iter().chain(defaults).collect(),
        Op::Remove => defaults.filter(|d| !named.contains(d)).collect(),
    };
    let mut seen = Vec::with_capacity(list.len());
    for name in list {
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    if seen.is_empty() {
        return Err(ListError::NothingLeft { noun: kind.noun() });
    }
    Ok(seen)
}

/// OpenSSH's `*` and `?` patterns (no character classes).
fn wildcard(pattern: &str, name: &str) -> bool {
    fn at(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => at(&p[1..], n) || (!n.is_empty() && at(p, &n[1..])),
            (Some(b'?'), Some(_)) => at(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => at(&p[1..], &n[1..]),
            _ => false,
        }
    }
    at(pattern.as_bytes(), name.as_bytes())
}

/// The hint for a negotiation that found nothing in common: what the server offers
/// and how to allow it, when pushinst implements one of them.
pub fn remedy(kind: Kind, server_offers: &[String], ours: &Algorithms) -> Option<String> {
    let offered: Vec<&'static str> = kind
        .implemented()
        .iter()
        .copied()
        .filter(|n| server_offers.iter().any(|s| s == n))
        .filter(|n| !ours.get(kind).contains(n))
        .collect();
    let first = offered.first()?;
    Some(format!("allow it with {} = \"+{first}\"", kind.setting()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::{cipher, mac};

    #[test]
    fn openssh_list_syntax_changes_the_defaults() {
        let ctr = resolve(Kind::Cipher, "aes128-ctr,aes256-ctr").unwrap();
        assert_eq!(ctr, ["aes128-ctr", "aes256-ctr"]);
        let plus = resolve(Kind::Cipher, "+aes128-cbc").unwrap();
        assert_eq!(plus.last(), Some(&"aes128-cbc"));
        assert_eq!(plus.len(), Kind::Cipher.defaults().len() + 1);
        let minus = resolve(Kind::Cipher, "-chacha20*").unwrap();
        assert!(!minus.contains(&"chacha20-poly1305@openssh.com"));
        assert_eq!(minus.len(), Kind::Cipher.defaults().len() - 1);
        let caret = resolve(Kind::Kex, "^diffie-hellman-group14-sha1").unwrap();
        assert_eq!(caret[0], "diffie-hellman-group14-sha1");
        // Already a default: moved to the front, not listed twice.
        let again = resolve(Kind::Mac, "^hmac-sha1").unwrap();
        assert_eq!(again[0], "hmac-sha1");
        assert_eq!(again.len(), Kind::Mac.defaults().len());
        let pattern = resolve(Kind::Cipher, "aes*-cbc").unwrap();
        assert_eq!(pattern, ["aes128-cbc", "aes192-cbc", "aes256-cbc"]);
    }

    #[test]
    fn unknown_names_and_empty_results_are_refused() {
        assert_eq!(
            resolve(Kind::Cipher, "+aes128-cbcx"),
            Err(ListError::Unknown {
                name: "aes128-cbcx".into(),
                noun: "cipher"
            })
        );
        assert_eq!(
            resolve(Kind::Mac, "umac-64-etm@openssh.com")
                .unwrap_err()
                .to_string(),
            "`umac-64-etm@openssh.com` is not a MAC pushinst implements"
        );
        assert_eq!(resolve(Kind::Kex, ""), Err(ListError::Empty));
        assert_eq!(resolve(Kind::Kex, "+"), Err(ListError::Empty));
        assert_eq!(
            resolve(Kind::Cipher, "aes128-ctr,,aes256-ctr"),
            Err(ListError::Empty)
        );
        assert_eq!(
            resolve(Kind::Mac, "-hmac-*"),
            Err(ListError::NothingLeft { noun: "MAC" })
        );
    }

    #[test]
    fn legacy_algorithms_are_off_by_default_as_in_openssh() {
        let d = Algorithms::default();
        for legacy in [
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group1-sha1",
            "diffie-hellman-group-exchange-sha1",
        ] {
            assert!(!d.kex.contains(&legacy), "{legacy}");
        }
        assert!(d.cipher.iter().all(|c| !c.ends_with("-cbc")));
        assert!(!d.host_key.contains(&"ssh-rsa") && !d.pubkey.contains(&"ssh-rsa"));
        // What FIPS hosts and single-algorithm hosts need is on.
        for fips in [
            "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384",
            "diffie-hellman-group14-sha256",
        ] {
            assert!(d.kex.contains(&fips), "{fips}");
        }
        for c in ["aes128-gcm@openssh.com", "aes256-ctr"] {
            assert!(d.cipher.contains(&c));
        }
        assert!(d.mac.contains(&"hmac-sha1"));
        assert!(d.changed().is_empty());
    }

    #[test]
    fn every_implemented_name_is_known_to_russh() {
        for name in Kind::Kex.implemented() {
            assert!(kex::Name::try_from(*name).is_ok(), "{name}");
        }
        for name in Kind::Cipher.implemented() {
            assert!(cipher::Name::try_from(*name).is_ok(), "{name}");
        }
        for name in Kind::Mac.implemented() {
            assert!(mac::Name::try_from(*name).is_ok(), "{name}");
        }
        for name in Kind::HostKey.implemented() {
            assert!(Algorithm::from_str(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_remedy_names_a_setting_that_would_work() {
        let ours = Algorithms::default();
        let offers = vec!["aes128-cbc".to_string(), "3des-cbc".to_string()];
        assert_eq!(
            remedy(Kind::Cipher, &offers, &ours).as_deref(),
            Some("allow it with ciphers = \"+aes128-cbc\"")
        );
        assert_eq!(remedy(Kind::Cipher, &["3des-cbc".to_string()], &ours), None);
    }

    #[test]
    fn rsa_signatures_follow_the_list_and_the_server() {
        let d = Algorithms::default();
        let sha512 = Algorithm::from_str("rsa-sha2-512").unwrap();
        let sha256 = Algorithm::from_str("rsa-sha2-256").unwrap();
        let sha1 = Algorithm::from_str("ssh-rsa").unwrap();
        let key = sha1.clone();
        assert_eq!(
            d.pubkey_signature(&key, Some(std::slice::from_ref(&sha256))),
            Some(sha256.clone())
        );
        assert_eq!(d.pubkey_signature(&key, None), Some(sha512));
        assert_eq!(d.pubkey_signature(&key, Some(std::slice::from_ref(&sha1))), None);
        let mut legacy = Algorithms::default();
        legacy.set(Kind::Pubkey, resolve(Kind::Pubkey, "+ssh-rsa").unwrap());
        assert_eq!(
            legacy.pubkey_signature(&key, Some(std::slice::from_ref(&sha1))),
            Some(sha1)
        );
        let ed = Algorithm::from_str("ssh-ed25519").unwrap();
        let mut no_ed = Algorithms::default();
        no_ed.set(Kind::Pubkey, resolve(Kind::Pubkey, "-ssh-ed25519").unwrap());
        assert_eq!(no_ed.pubkey_signature(&ed, None), None);
    }
}
