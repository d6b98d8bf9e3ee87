//! Which mechanism a Windows logon uses, and what Kerberos needs for it: the
//! realm, the KDC (the credential's `kdc`, else krb5.conf) and the host's DNS name.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::smb::kerberos::KerberosLogon;
use crate::inventory::{CredentialDef, WindowsAuth};
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
    /// A `kinit` ticket cache holding the user's TGT: Kerberos without a password.
    pub ticket_cache: Option<PathBuf>,
}

/// How long one exchange with the KDC may take (Windows waits 5 s too).
const KDC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Kerberos cannot even be tried for this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unready {
    /// The host is known by its address only; the SPN needs its DNS name, and
    /// reverse DNS gave none (`reverse` says what it answered).
    HostByAddress { address: String, reverse: String },
    /// A bare user name, and neither `realm` nor krb5.conf's default_realm.
    RealmUnknown { user: String },
    /// No `kdc`, krb5.conf names none for the realm, and DNS has no SRV record
    /// `asked` for it (`dns` says what DNS answered).
    KdcUnknown {
        realm: String,
        config: String,
        asked: String,
        dns: String,
    },
    /// Not decided yet: NTLM goes first, and DNS (`asked`) is only asked when the
    /// host refuses NTLM.
    Deferred { asked: String },
}

/// Where the KDC of a logon comes from, in the order they are looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdcSource {
    /// `kdc` on the credential.
    Credential,
    /// The realm's `kdc` in this krb5.conf.
    Krb5Conf { path: String },
    /// The SRV record of this name (`_kerberos._tcp.REALM`).
    Dns { name: String },
}

/// Where the host's name for its SPN comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    /// The inventory's `name`.
    Inventory,
    /// The PTR record of the host's address.
    ReverseDns { address: String },
}

/// What a Kerberos logon to one host will use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosRoute {
    /// The user without its realm.
    pub user: String,
    /// Upper case (`EXAMPLE.TEST`).
    pub realm: String,
    /// `host:port`.
    pub kdc: String,
    pub kdc_from: KdcSource,
    /// The host's DNS name (the SPN is `cifs/` it).
    pub host: String,
    pub host_from: HostName,
}

/// How one credential will log on to one Windows host: what `check` and
/// `--dry-run` show, and what the logon then does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogonPlan {
    pub mechanism: Mechanism,
    /// Kerberos is tried before NTLM (for `Negotiate`; NTLM first otherwise, and
    /// Kerberos when NTLM is refused).
    pub kerberos_first: bool,
    /// `None` for NTLM only.
    pub kerberos: Option<Result<KerberosRoute, Unready>>,
}

impl WindowsLogon {
    /// The inventory's `auth`, `kdc` and `realm` of a credential.
    pub fn from_inventory(def: &CredentialDef) -> WindowsLogon {
        WindowsLogon {
            mechanism: match def.auth {
                // A keytab or a ticket cache is Kerberos only: there is no password
                // for NTLM to fall back to (and check and --dry-run say so).
                WindowsAuth::Negotiate if def.keytab.is_some() || def.ticket_cache.is_some() => {
                    Mechanism::Kerberos
                }
                WindowsAuth::Negotiate => Mechanism::Negotiate,
                WindowsAuth::Kerberos => Mechanism::Kerberos,
                WindowsAuth::Ntlm => Mechanism::Ntlm,
            },
            kdc: def.kdc.clone(),
            realm: def.realm.clone(),
            keytab: def.keytab.clone(),
            ticket_cache: def.ticket_cache.clone(),
        }
    }

    /// Whether Kerberos goes first for this user.
    pub fn kerberos_first(&self, user: &str) -> bool {
        match self.mechanism {
            Mechanism::Kerberos => true,
            Mechanism::Ntlm => false,
            Mechanism::Negotiate => {
                user.contains('@')
                    || self.kdc.is_some()
                    || self.realm.is_some()
                    || self.keytab.is_some()
                    || self.ticket_cache.is_some()
            }
        }
    }

    /// How `user` will log on to the host named `host` (reached at `address`).
    /// Blocking: it may ask DNS (bounded: 2 s, one retry; each answer cached for
    /// the run).
    pub fn plan(&self, user: &str, host: &str, address: &str) -> LogonPlan {
        let kerberos_first = self.kerberos_first(user);
        LogonPlan {
            mechanism: self.mechanism,
            kerberos_first,
            // NTLM first: DNS is not asked for a logon that may never need it.
            kerberos: (self.mechanism != Mechanism::Ntlm)
                .then(|| self.route(user, host, address, kerberos_first)),
        }
    }

    /// The realm, the KDC and the host's name a Kerberos logon uses; without
    /// `ask_dns`, what only DNS could say is [`Unready::Deferred`].
    pub fn route(
        &self,
        user: &str,
        host: &str,
        address: &str,
        ask_dns: bool,
    ) -> Result<KerberosRoute, Unready> {
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
        let (host, host_from) = match host.parse::<IpAddr>() {
            Err(_) => (host.to_string(), HostName::Inventory),
            Ok(ip) => {
                let ip = address.parse::<IpAddr>().unwrap_or(ip);
                if !ask_dns {
                    return Err(Unready::Deferred {
                        asked: super::dns::reverse_name(ip),
                    });
                }
                match lookup::ptr(ip) {
                    Ok(name) => (
                        name,
                        HostName::ReverseDns {
                            address: ip.to_string(),
                        },
                    ),
                    Err(reverse) => {
                        return Err(Unready::HostByAddress {
                            address: host.to_string(),
                            reverse,
                        });
                    }
                }
            }
        };
        let (kdc, kdc_from) = match (&self.kdc, config.kdcs.get(&realm)) {
            (Some(kdc), _) => (kdc.clone(), KdcSource::Credential),
            (None, Some(kdc)) => (
                kdc.clone(),
                KdcSource::Krb5Conf {
                    path: config.path.display().to_string(),
                },
            ),
            (None, None) => {
                let asked = format!("_kerberos._tcp.{realm}");
                if !ask_dns {
                    return Err(Unready::Deferred { asked });
                }
                match lookup::srv(&asked) {
                    Ok(kdc) => (kdc, KdcSource::Dns { name: asked }),
                    Err(dns) => {
                        return Err(Unready::KdcUnknown {
                            realm,
                            config: config.path.display().to_string(),
                            asked,
                            dns,
                        });
                    }
                }
            }
        };
        Ok(KerberosRoute {
            user: name,
            realm,
            kdc: with_port(&kdc),
            kdc_from,
            host,
            host_from,
        })
    }

    /// The Kerberos logon for `user` to the host named `host` (at `address`).
    pub fn kerberos(
        &self,
        user: &str,
        password: &Secret,
        host: &str,
        address: &str,
    ) -> Result<KerberosLogon, Unready> {
        let route = self.route(user, host, address, true)?;
        Ok(KerberosLogon {
            user: route.user,
            realm: route.realm,
            password: password.clone(),
            keytab: self.keytab.clone(),
            ticket_cache: self.ticket_cache.clone(),
            kdc: route.kdc,
            spn: format!("cifs/{}", route.host),
            timeout: KDC_TIMEOUT,
        })
    }
}

/// `host:port`, port 88 when none is written (`[v6]:port` for an IPv6 address).
fn with_port(kdc: &str) -> String {
    match kdc.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]:88"),
        Ok(IpAddr::V4(v4)) => format!("{v4}:88"),
        Err(_) if kdc.starts_with('[') || kdc.contains(':') => kdc.to_string(),
        Err(_) => format!("{kdc}:88"),
    }
}

/// The DNS questions, each asked once per run: 500 hosts of one realm make one
/// SRV query, and a resolver that never answers costs its timeout once.
mod lookup {
    use std::collections::HashMap;
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Mutex;

    use super::super::dns::{self, DnsError};

    /// Answers by question (`SRV name`, `PTR address`): the name, or why none.
    static ANSWERS: Mutex<Option<HashMap<String, Result<String, String>>>> = Mutex::new(None);
    /// A resolver that timed out: not asked again this run.
    static SILENT: Mutex<Option<SocketAddr>> = Mutex::new(None);

    fn cached(
        key: String,
        ask: impl FnOnce(SocketAddr) -> Result<String, DnsError>,
    ) -> Result<String, String> {
        if let Some(answer) = ANSWERS.lock().ok().and_then(|m| m.as_ref()?.get(&key).cloned()) {
            return answer;
        }
        let answer = match dns::system_resolver() {
            Err(e) => Err(e.to_string()),
            Ok(server) if SILENT.lock().ok().and_then(|s| *s) == Some(server) => {
                Err(DnsError::TimedOut { server }.to_string())
            }
            Ok(server) => ask(server).map_err(|e| {
                if matches!(e, DnsError::TimedOut { .. })
                    && let Ok(mut silent) = SILENT.lock()
                {
                    *silent = Some(server);
                }
                e.to_string()
            }),
        };
        if let Ok(mut map) = ANSWERS.lock() {
            map.get_or_insert_with(HashMap::new).insert(key, answer.clone());
        }
        answer
    }

    /// The KDC the realm's best SRV record names, `target:port`.
    pub fn srv(name: &str) -> Result<String, String> {
        cached(format!("SRV {}", name.to_ascii_lowercase()), |server| {
            let records = dns::srv(server, name)?;
            let best = dns::best_srv(&records).ok_or_else(|| DnsError::NoRecord {
                server,
                kind: "SRV",
                name: name.to_string(),
            })?;
            Ok(format!("{}:{}", best.target.to_ascii_lowercase(), best.port))
        })
    }

    /// The name the address's PTR record gives, without its final dot.
    pub fn ptr(ip: IpAddr) -> Result<String, String> {
        cached(format!("PTR {ip}"), |server| {
            dns::ptr(server, ip).map(|n| n.trim_end_matches('.').to_ascii_lowercase())
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
    fn a_kdc_without_a_port_is_on_88() {
        assert_eq!(with_port("10.0.0.1"), "10.0.0.1:88");
        assert_eq!(with_port("10.0.0.1:750"), "10.0.0.1:750");
        assert_eq!(with_port("dc1.example.test"), "dc1.example.test:88");
        assert_eq!(with_port("fd00::1"), "[fd00::1]:88");
        assert_eq!(with_port("[fd00::1]:88"), "[fd00::1]:88");
    }

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
    fn a_host_known_by_name_has_its_spn() {
        let logon = WindowsLogon {
            kdc: Some("kdc".into()),
            ..WindowsLogon::default()
        };
        let password = Secret::new("p".into());
        let ok = logon
            .kerberos(r"EX\u", &password, "dc1.example.test", "10.1.2.3")
            .unwrap();
        assert_eq!(ok.spn, "cifs/dc1.example.test");
        assert_eq!(ok.user, "u");
        assert_eq!(ok.kdc, "kdc:88");
    }
}
