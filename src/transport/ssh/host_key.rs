//! Host key trust: known_hosts checked on every connection, by policy, as OpenSSH's
//! `ssh` checks it: `@revoked` keys are refused whatever else the file says,
//! `@cert-authority` lines trust host certificates, and a certificate no authority
//! vouches for is checked as the plain key inside it.

use std::path::PathBuf;
use std::sync::Mutex;

use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::public::KeyData;
use russh::keys::{Certificate, HashAlg, PublicKey, PublicKeyOrCertificate};

use super::SshError;
use super::error::CertificateProblem;
use super::known_hosts::{self, KnownHosts, Verdict};

#[derive(Debug, Clone)]
pub struct HostKeyCheck {
    pub known_hosts: PathBuf,
    /// Record keys of hosts never seen before (`accept-new`); changed keys are always refused.
    pub accept_new: bool,
}

/// Appends to known_hosts from many tasks at once must not interleave.
static LEARN_LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    #[error(transparent)]
    HostKey(SshError),
}

/// The russh handler: it only decides whether to trust the server's key.
pub struct Client {
    pub host: String,
    pub port: u16,
    pub check: std::sync::Arc<HostKeyCheck>,
}

impl russh::client::Handler for Client {
    type Error = ClientError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let known = KnownHosts::read(&self.check.known_hosts).map_err(|source| {
            ClientError::HostKey(SshError::KnownHostsInvalid {
                known_hosts: self.check.known_hosts.clone(),
                source,
            })
        })?;
        let result = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(&known, key),
            PublicKeyOrCertificate::Certificate(cert) => self.verify_certificate(&known, cert),
        };
        result.map(|()| true).map_err(ClientError::HostKey)
    }
}

impl Client {
    fn label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn known_hosts_name(&self) -> String {
        known_hosts::host_name(&self.host, self.port)
    }

    fn revoked(&self, known: &KnownHosts, key: &KeyData) -> Result<(), SshError> {
        match known.revoked(&self.known_hosts_name(), key) {
            None => Ok(()),
            Some(line) => Err(SshError::HostKeyRevoked {
                label: self.label(),
                fingerprint: fingerprint(key),
                known_hosts: self.check.known_hosts.clone(),
                line,
            }),
        }
    }

    fn verify(&self, known: &KnownHosts, key: &PublicKey) -> Result<(), SshError> {
        let path = &self.check.known_hosts;
        // Before anything else: a revoked key is never accepted nor recorded.
        self.revoked(known, key.key_data())?;
        match known.check(&self.known_hosts_name(), key.key_data()) {
            Verdict::Known => Ok(()),
            Verdict::Unknown if self.check.accept_new => {
                let _guard = LEARN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                russh::keys::known_hosts::learn_known_hosts_path(&self.host, self.port, key, path).map_err(
                    |source| SshError::HostKeyNotRecorded {
                        known_hosts: path.clone(),
                        source,
                    },
                )
            }
            Verdict::Unknown => Err(SshError::HostKeyUnknown {
                label: self.label(),
                host: self.host.clone(),
                port: self.port,
                fingerprint: fingerprint(key.key_data()),
                known_hosts: path.clone(),
            }),
            Verdict::Changed { line } => Err(SshError::HostKeyChanged {
                label: self.label(),
                known_hosts_name: self.known_hosts_name(),
                fingerprint: fingerprint(key.key_data()),
                known_hosts: path.clone(),
                line,
            }),
        }
    }

    fn verify_certificate(&self, known: &KnownHosts, cert: &Certificate) -> Result<(), SshError> {
        let name = self.known_hosts_name();
        self.revoked(known, cert.public_key())?;
        self.revoked(known, cert.signature_key())?;
        let Some(line) = known.authority(&name, cert.signature_key()) else {
            // As `ssh` does: no authority for this host signed it, so the key inside
            // is judged as a plain key (known, unknown or changed). When the file
            // trusts another authority for the host, that is what the admin must see.
            let plain = PublicKey::new(cert.public_key().clone(), "");
            return match self.verify(known, &plain) {
                Err(SshError::HostKeyUnknown { .. }) if known.has_authority(&name) => {
                    Err(SshError::HostCertificateUntrusted {
                        label: self.label(),
                        ca_fingerprint: fingerprint(cert.signature_key()),
                        known_hosts_name: name,
                        known_hosts: self.check.known_hosts.clone(),
                    })
                }
                other => other,
            };
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match certificate_problem(cert, &self.host, now) {
            None => Ok(()),
            Some(problem) => Err(SshError::HostCertificateInvalid {
                label: self.label(),
                problem,
                known_hosts: self.check.known_hosts.clone(),
                line,
            }),
        }
    }
}

/// What is wrong with a host certificate signed by a trusted authority, in the
/// order OpenSSH checks it; `None` when it is good for `host` at `now`.
pub(super) fn certificate_problem(cert: &Certificate, host: &str, now: u64) -> Option<CertificateProblem> {
    if cert.cert_type() != CertType::Host {
        return Some(CertificateProblem::NotHost);
    }
    if cert.verify_signature().is_err() {
        return Some(CertificateProblem::BadSignature);
    }
    if now < cert.valid_after() {
        return Some(CertificateProblem::NotYetValid {
            from: stamp(cert.valid_after()),
        });
    }
    if now >= cert.valid_before() {
        return Some(CertificateProblem::Expired {
            until: stamp(cert.valid_before()),
        });
    }
    // A host certificate must name its host (OpenSSH requires a principal list).
    if cert.valid_principals().is_empty() {
        return Some(CertificateProblem::NoPrincipals);
    }
    if !cert
        .valid_principals()
        .iter()
        .any(|p| p.eq_ignore_ascii_case(host))
    {
        return Some(CertificateProblem::Principal {
            host: host.to_string(),
            principals: cert.valid_principals().join(", "),
        });
    }
    // No critical option is defined for host certificates: one we do not know must
    // not be ignored.
    if let Some(option) = cert.critical_options().keys().next() {
        return Some(CertificateProblem::CriticalOption {
            option: option.clone(),
        });
    }
    None
}

/// A certificate's time as people read it; "forever" (u64::MAX) is shown as the
/// last second of year 9999, the last one RFC 3339 can write.
fn stamp(secs: u64) -> String {
    const LAST: u64 = 253_402_300_799;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.min(LAST));
    humantime::format_rfc3339_seconds(time).to_string()
}

fn fingerprint(key: &KeyData) -> String {
    format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn keygen(dir: &Path, args: &[&str]) {
        let status = Command::new("ssh-keygen")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    }

    /// A certificate made by ssh-keygen for `host_key.pub` with `args`.
    fn cert(dir: &Path, name: &str, args: &[&str]) -> Certificate {
        std::fs::copy(dir.join("host_key.pub"), dir.join(format!("{name}.pub"))).unwrap();
        let mut all = vec!["-q", "-s", "ca", "-I", name];
        all.extend_from_slice(args);
        let public = format!("{name}.pub");
        all.push(&public);
        keygen(dir, &all);
        Certificate::read_file(&dir.join(format!("{name}-cert.pub"))).unwrap()
    }

    #[test]
    fn a_host_certificate_is_checked_as_openssh_checks_it() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        keygen(dir, &["-q", "-t", "ed25519", "-N", "", "-f", "ca"]);
        keygen(dir, &["-q", "-t", "ed25519", "-N", "", "-f", "host_key"]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let good = cert(dir, "good", &["-h", "-n", "web1,web1.lan"]);
        assert_eq!(certificate_problem(&good, "WEB1.lan", now), None);
        let user = cert(dir, "user", &["-n", "web1"]);
        assert_eq!(
            certificate_problem(&user, "web1", now),
            Some(CertificateProblem::NotHost)
        );
        let old = cert(dir, "old", &["-h", "-n", "web1", "-V", "20200101:20200102"]);
        assert!(matches!(
            certificate_problem(&old, "web1", now),
            Some(CertificateProblem::Expired { until }) if until.starts_with("2020-01-0")
        ));
        let future = cert(dir, "future", &["-h", "-n", "web1", "-V", "+52w:+53w"]);
        assert!(matches!(
            certificate_problem(&future, "web1", now),
            Some(CertificateProblem::NotYetValid { .. })
        ));
        assert_eq!(
            certificate_problem(&good, "web2", now),
            Some(CertificateProblem::Principal {
                host: "web2".into(),
                principals: "web1, web1.lan".into()
            })
        );
        // No principals at all: OpenSSH refuses a host certificate without a list.
        let any = cert(dir, "any", &["-h"]);
        assert_eq!(
            certificate_problem(&any, "web1", now),
            Some(CertificateProblem::NoPrincipals)
        );
        assert_eq!(stamp(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
