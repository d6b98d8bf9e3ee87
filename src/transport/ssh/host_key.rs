//! Host key trust: known_hosts checked on every connection, by policy.

use std::path::PathBuf;
use std::sync::Mutex;

use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};

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
    #[error("{0}")]
    HostKey(String),
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
            PublicKeyOrCertificate::Certificate(_) => Err(ClientError::HostKey(format!(
                "{} offered a host certificate; pushinst checks plain host keys only",
                self.label()
            ))),
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
        let shown = format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256));
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, path) {
            Ok(true) => Ok(()),
            Ok(false) if self.check.accept_new => {
                let _guard = LEARN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                russh::keys::known_hosts::learn_known_hosts_path(&self.host, self.port, key, path).map_err(
                    |e| {
                        ClientError::HostKey(format!("cannot record the host key in {}: {e}", path.display()))
                    },
                )
            }
            Ok(false) => Err(ClientError::HostKey(format!(
                "unknown host key: {} offers {shown}, which {} does not list; check the fingerprint, then add it with `ssh-keyscan -p {} {} >> {}` or set host_key_policy = \"accept-new\"",
                self.label(),
                path.display(),
                self.port,
                self.host,
                path.display()
            ))),
            Err(russh::keys::Error::KeyChanged { line }) => Err(ClientError::HostKey(format!(
                "HOST KEY CHANGED: {} now offers {shown}, but {} line {line} records a different key; this may be a man-in-the-middle attack; if the host was reinstalled, remove the old key with `ssh-keygen -R '{}' -f {}`",
                self.label(),
                path.display(),
                self.known_hosts_name(),
                path.display()
            ))),
            Err(e) => Err(ClientError::HostKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }
}
