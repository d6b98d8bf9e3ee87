//! Which mechanism a Windows logon uses, and what Kerberos needs for it: the
//! realm, the KDC (the credential's `kdc`, else krb5.conf) and the host's DNS name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::smb::kerberos::KerberosLogon;
use crate::secrets::Secret;

/// `auth` on a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mechanism {
    /// Kerberos first when the credential names a realm or a KDC; NTLM first
    /// otherwise, and Kerberos when the host refuses NTLM.
    #[default]
    Negotiate,
    Kerberos,
    Ntlm,
}

/// How one credential logs on to Windows hosts.
#[derive(Debug, Clone, Default)]
pub struct WindowsLogon {
    pub mechanism: Mechanism,
    pub kdc: Option<String>,
    pub realm: Option<String>,
    /// A keytab holding the user's key: Kerberos without a password.
    pub keytab: Option<PathBuf>,
}

/// How long one exchange with the KDC may take (Windows waits 5 s too).
const KDC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Kerberos cannot even be tried for this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    /// The host is known by its address only; the SPN needs its DNS name.
    HostByAddress { address: String },
    /// A bare user name, and neither `realm` nor krb5.conf's default_realm.
    RealmUnknown { user: String },
    /// No `kdc`, and krb5.conf names none for the realm.
    KdcUnknown { realm: String, config: String },
}

impl WindowsLogon {
    /// Whether Kerberos goes first for this user.
    pub fn kerberos_first(&self, user: &str) -> bool {
        match self.mechanism {
            Mechanism::Kerberos => true,
            Mechanism::Ntlm => false,
            Mechanism::Negotiate => {
                user.contains('@') || self.kdc.is_some() || self.realm.is_some() || self.keytab.is_some()
            }
        }
    }

    /// The Kerberos logon for `user` to the host named `host`.
    pub fn kerberos(&self, user: &str, password: &Secret, host: &str) -> Result<KerberosLogon, Unready> {
        let config = Krb5Conf::load();
        let (name, realm) = match (user.rsplit_once('@'), user.split_once('\\')) {
            (Some((name, realm)), _) => (name.to_string(), realm.to_uppercase()),
            (None, Some((domain, name))) => {
                let realm = self
                    .realm
                    .clone()
                    .or_else(|| config.default_realm.clone())
                    .unwrap_or_else(|| domain.to_uppercase());
                (name.to_string(), realm)
            }
            (None, None) => {
                let realm = self
                    .realm
                    .clone()
                    .or_else(|| config.default_realm.clone())
                    .unwrap_or_default();
                (user.to_string(), realm)
            }
        };
        if realm.is_empty() {
            return Err(Unready::RealmUnknown {
                user: user.to_string(),
            });
        }
        if host.parse::<IpAddr>().is_ok() {
            return Err(Unready::HostByAddress {
                address: host.to_string(),
            });
        }
        let kdc = match &self.kdc {
            Some(kdc) => kdc.clone(),
            None => config
                .kdcs
                .get(&realm)
                .cloned()
                .ok_or_else(|| Unready::KdcUnknown {
                    realm: realm.clone(),
                    config: config.path.display().to_string(),
                })?,
        };
        Ok(KerberosLogon {
            user: name,
            realm,
            password: password.clone(),
            keytab: self.keytab.clone(),
            kdc,
            spn: format!("cifs/{host}"),
            timeout: KDC_TIMEOUT,
        })
    }
}

/// What pushinst reads from krb5.conf: the default realm and each realm's first KDC.
#[derive(Debug, Default)]
pub struct Krb5Conf {
    pub path: PathBuf,
    pub default_realm: Option<String>,
    pub kdcs: HashMap<String, String>,
}

/// krb5.conf larger than this is not read.
const MAX_KRB5_CONF: u64 = 1024 * 1024;

impl Krb5Conf {
    /// `KRB5_CONFIG` (its first file), else /etc/krb5.conf; nothing when unreadable.
    pub fn load() -> Krb5Conf {
        let path = std::env::var("KRB5_CONFIG")
            .ok()
            .and_then(|v| v.split(':').next().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/etc/krb5.conf"));
        let text = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.len() <= MAX_KRB5_CONF)
            .and_then(|_| std::fs::read_to_string(&path).ok())
            .unwrap_or_default();
        let mut conf = Krb5Conf::parse(&text);
        conf.path = path;
        conf
    }

    /// The profile format (MIT krb5): `[section]`, `key = value`, `REALM = { … }`.
    pub fn parse(text: &str) -> Krb5Conf {
        let mut conf = Krb5Conf::default();
        let mut section = String::new();
        let mut realm: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                realm = None;
                continue;
            }
            if line == "}" {
                realm = None;
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match section.as_str() {
                "libdefaults" if key == "default_realm" && !value.is_empty() => {
                    conf.default_realm = Some(value.to_string());
                }
                "realms" if value == "{" => realm = Some(key.to_string()),
                "realms" if key == "kdc" && !value.is_empty() => {
                    if let Some(realm) = &realm {
                        conf.kdcs
                            .entry(realm.clone())
                            .or_insert_with(|| value.to_string());
                    }
                }
                _ => {}
            }
        }
        conf
    }
}

/// Credentials the KDC refused this run, with the reason: a wrong password is
/// sent once per run, never once per host, so it cannot lock the account out.
static REFUSED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// Per credential: whether the KDC has taken its password this run. Until it has,
/// hosts try it one at a time, so a wrong password reaches the KDC once, not once
/// per host running in parallel.
static PROVEN: Mutex<Option<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>> = Mutex::new(None);

/// The gate for `label`: hold it while trying the credential unless it is proven.
pub fn gate(label: &str) -> Arc<tokio::sync::Mutex<bool>> {
    match PROVEN.lock() {
        Ok(mut map) => map
            .get_or_insert_with(HashMap::new)
            .entry(label.to_string())
            .or_default()
            .clone(),
        Err(_) => Arc::default(),
    }
}

pub fn refused(label: &str) -> Option<String> {
    REFUSED.lock().ok()?.as_ref()?.get(label).cloned()
}

pub fn remember_refusal(label: &str, reason: &str) {
    if let Ok(mut map) = REFUSED.lock() {
        map.get_or_insert_with(HashMap::new)
            .insert(label.to_string(), reason.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_realm_and_the_first_kdc() {
        let conf = Krb5Conf::parse(
            "[libdefaults]\n\tdefault_realm = EXAMPLE.TEST\n[realms]\n\tEXAMPLE.TEST = {\n\t\tkdc = 10.0.0.1\n\t\tkdc = 10.0.0.2\n\t}\n[domain_realm]\n\t.example.test = EXAMPLE.TEST\n",
        );
        assert_eq!(conf.default_realm.as_deref(), Some("EXAMPLE.TEST"));
        assert_eq!(
            conf.kdcs.get("EXAMPLE.TEST").map(String::as_str),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn a_host_known_by_address_has_no_spn() {
        let logon = WindowsLogon {
            kdc: Some("kdc".into()),
            ..WindowsLogon::default()
        };
        let password = Secret::new("p".into());
        assert_eq!(
            logon.kerberos("u@R", &password, "10.1.2.3").err(),
            Some(Unready::HostByAddress {
                address: "10.1.2.3".into()
            })
        );
        let ok = logon.kerberos(r"EX\u", &password, "dc1.example.test").unwrap();
        assert_eq!(ok.spn, "cifs/dc1.example.test");
        assert_eq!(ok.user, "u");
    }
}
