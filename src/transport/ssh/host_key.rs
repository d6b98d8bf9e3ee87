//! Host key trust: known_hosts checked on every connection, by policy.

use std::path::PathBuf;
use std::sync::Mutex;

use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

use super::SshError;

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
        match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key).map(|()| true),
            PublicKeyOrCertificate::Certificate(_) => Err(ClientError::HostKey(SshError::HostCertificate {
                label: self.label(),
            })),
        }
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
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    fn verify(&self, key: &PublicKey) -> Result<(), ClientError> {
        let path = &self.check.known_hosts;
        let fingerprint = format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256));
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, path) {
            Ok(true) => Ok(()),
            Ok(false) if self.check.accept_new => {
                let _guard = LEARN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                russh::keys::known_hosts::learn_known_hosts_path(&self.host, self.port, key, path).map_err(
                    |source| {
                        ClientError::HostKey(SshError::HostKeyNotRecorded {
                            known_hosts: path.clone(),
                            source,
                        })
                    },
                )
            }
            Ok(false) => Err(ClientError::HostKey(SshError::HostKeyUnknown {
                label: self.label(),
                host: self.host.clone(),
                port: self.port,
                fingerprint,
                known_hosts: path.clone(),
            })),
            Err(russh::keys::Error::KeyChanged { line }) => {
                Err(ClientError::HostKey(SshError::HostKeyChanged {
                    label: self.label(),
                    known_hosts_name: self.known_hosts_name(),
                    fingerprint,
                    known_hosts: path.clone(),
                    line,
                }))
            }
            Err(source) => Err(ClientError::HostKey(SshError::KnownHostsUnreadable {
                known_hosts: path.clone(),
                source,
            })),
        }
    }
}
