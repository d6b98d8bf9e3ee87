//! How a Windows host will be logged on to, in words (`check`, `--dry-run`):
//! the mechanism, and for Kerberos the principal, the KDC and where it came from.

use serde_json::{Value, json};

use crate::plan::CredentialLogon;
use crate::transport::windows::Mechanism;
use crate::transport::windows::logon::{HostName, KdcSource, KerberosRoute, LogonPlan, Unready};

fn kdc(route: &KerberosRoute) -> String {
    let from = match &route.kdc_from {
        KdcSource::Credential => format!("KDC {} (the credential's kdc)", route.kdc),
        KdcSource::Krb5Conf { path } => format!("KDC {} (krb5.conf {path})", route.kdc),
        KdcSource::Dns { name } => format!("KDC from DNS {name} → {}", route.kdc),
    };
    let name = match &route.host_from {
        HostName::Inventory => String::new(),
        HostName::ReverseDns { address } => {
            format!(", name {} from the PTR record of {address}", route.host)
        }
    };
    format!("as {}@{}, {from}{name}", route.user, route.realm)
}

fn unready(unready: &Unready) -> String {
    match unready {
        Unready::HostByAddress { address, reverse } => format!(
            "not possible: {address} has no DNS name (reverse DNS: {reverse}); \
             write [[hosts]] name = \"<its FQDN>\", address = \"{address}\""
        ),
        Unready::RealmUnknown { user } => {
            format!("not possible: no realm for {user}; write user@REALM or set `realm`")
        }
        Unready::KdcUnknown {
            realm,
            config,
            asked,
            dns,
        } => format!(
            "not possible: no KDC for {realm}: no `kdc` on the credential, none in {config}, \
             and DNS {asked}: {dns}"
        ),
        Unready::Deferred { asked } => format!("DNS {asked} asked then"),
    }
}

fn kerberos(route: &Result<KerberosRoute, Unready>) -> String {
    match route {
        Ok(route) => kdc(route),
        Err(why) => unready(why),
    }
}

/// One credential's logon: `kerberos as u@R, KDC 10.0.0.1:88 (krb5.conf …)`,
/// `negotiate: kerberos first (…), NTLM if kerberos cannot be used`, `ntlm`.
pub fn words(logon: &LogonPlan) -> String {
    match (&logon.mechanism, &logon.kerberos) {
        (Mechanism::Ntlm, _) | (_, None) => "ntlm".into(),
        (Mechanism::Kerberos, Some(route)) => format!("kerberos only, {}", kerberos(route)),
        (Mechanism::Negotiate, Some(route)) if logon.kerberos_first => format!(
            "negotiate: kerberos first ({}), NTLM if kerberos cannot be used",
            kerberos(route)
        ),
        (Mechanism::Negotiate, Some(route)) => format!(
            "negotiate: NTLM first, kerberos if the host refuses NTLM ({})",
            kerberos(route)
        ),
    }
}

/// `credential: words` for each credential of a host, one per line, indented.
pub fn lines(logons: &[CredentialLogon], indent: &str) -> String {
    logons
        .iter()
        .map(|c| format!("{indent}logon {}: {}\n", c.credential, words(&c.logon)))
        .collect()
}

/// The same for scripts.
pub fn json(logons: &[CredentialLogon]) -> Value {
    Value::Array(
        logons
            .iter()
            .map(|c| {
                let l = &c.logon;
                let mechanism = match l.mechanism {
                    Mechanism::Negotiate => "negotiate",
                    Mechanism::Kerberos => "kerberos",
                    Mechanism::Ntlm => "ntlm",
                };
                let route = l.kerberos.as_ref().and_then(|r| r.as_ref().ok());
                let kdc_from = route.map(|r| match &r.kdc_from {
                    KdcSource::Credential => json!({"source": "credential"}),
                    KdcSource::Krb5Conf { path } => json!({"source": "krb5.conf", "path": path}),
                    KdcSource::Dns { name } => json!({"source": "dns", "name": name}),
                });
                json!({
                    "credential": c.credential,
                    "mechanism": mechanism,
                    "kerberos_first": l.kerberos_first,
                    "principal": route.map(|r| format!("{}@{}", r.user, r.realm)),
                    "kdc": route.map(|r| &r.kdc),
                    "kdc_from": kdc_from,
                    "host_name": route.map(|r| &r.host),
                    "name_from_reverse_dns": route.map(|r| r.host_from != HostName::Inventory),
                    "kerberos_unavailable": l
                        .kerberos
                        .as_ref()
                        .and_then(|r| r.as_ref().err())
                        .filter(|u| !matches!(u, Unready::Deferred { .. }))
                        .map(unready),
                    "text": words(l),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(kdc_from: KdcSource) -> KerberosRoute {
        KerberosRoute {
            user: "deployer".into(),
            realm: "EXAMPLE.TEST".into(),
            kdc: "dc1.example.test:88".into(),
            kdc_from,
            host: "dc1.example.test".into(),
            host_from: HostName::Inventory,
        }
    }

    #[test]
    fn each_mechanism_and_kdc_source_in_words() {
        let dns = LogonPlan {
            mechanism: Mechanism::Negotiate,
            kerberos_first: true,
            kerberos: Some(Ok(route(KdcSource::Dns {
                name: "_kerberos._tcp.EXAMPLE.TEST".into(),
            }))),
        };
        assert_eq!(
            words(&dns),
            "negotiate: kerberos first (as deployer@EXAMPLE.TEST, KDC from DNS _kerberos._tcp.EXAMPLE.TEST → \
             dc1.example.test:88), NTLM if kerberos cannot be used"
        );
        let conf = LogonPlan {
            mechanism: Mechanism::Kerberos,
            kerberos_first: true,
            kerberos: Some(Ok(route(KdcSource::Krb5Conf {
                path: "/etc/krb5.conf".into(),
            }))),
        };
        assert!(words(&conf).starts_with(
            "kerberos only, as deployer@EXAMPLE.TEST, KDC dc1.example.test:88 (krb5.conf /etc/krb5.conf)"
        ));
        let ntlm = LogonPlan {
            mechanism: Mechanism::Ntlm,
            kerberos_first: false,
            kerberos: None,
        };
        assert_eq!(words(&ntlm), "ntlm");
        let missing = LogonPlan {
            mechanism: Mechanism::Negotiate,
            kerberos_first: false,
            kerberos: Some(Err(Unready::KdcUnknown {
                realm: "R".into(),
                config: "/etc/krb5.conf".into(),
                asked: "_kerberos._tcp.R".into(),
                dns: "no SRV record".into(),
            })),
        };
        let text = words(&missing);
        assert!(text.starts_with("negotiate: NTLM first"), "{text}");
        assert!(text.contains("_kerberos._tcp.R"), "{text}");
        let later = LogonPlan {
            mechanism: Mechanism::Negotiate,
            kerberos_first: false,
            kerberos: Some(Err(Unready::Deferred {
                asked: "_kerberos._tcp.R".into(),
            })),
        };
        assert_eq!(
            words(&later),
            "negotiate: NTLM first, kerberos if the host refuses NTLM (DNS _kerberos._tcp.R asked then)"
        );
    }
}
