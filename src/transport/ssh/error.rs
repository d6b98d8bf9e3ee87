//! Everything the SSH transport can fail with, one variant per failure. Library
//! errors stay attached as the source; the runner asks only for the class.

use std::path::PathBuf;

pub use crate::transport::net::DialError;
use crate::transport::{ErrorClass, RemoteExit};

/// What a closed SSH port usually means.
pub const SSH_REFUSED: &str = "is sshd running?";

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("SSH handshake failed: {source}")]
    Handshake {
        #[source]
        source: russh::Error,
    },
    #[error("SSH handshake failed: the host and pushinst share no algorithm: {source}")]
    NoCommonAlgorithm {
        #[source]
        source: russh::Error,
    },

    #[error("{label} offered a host certificate; pushinst checks plain host keys only")]
    HostCertificate { label: String },
    #[error(
        "unknown host key: {label} offers {fingerprint}, which {} does not list; check the fingerprint, then add it with `ssh-keyscan -p {port} {host} >> {}` or set host_key_policy = \"accept-new\"",
        known_hosts.display(),
        known_hosts.display()
    )]
    HostKeyUnknown {
        label: String,
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error(
        "HOST KEY CHANGED: {label} now offers {fingerprint}, but {} line {line} records a different key; this may be a man-in-the-middle attack; if the host was reinstalled, remove the old key with `ssh-keygen -R '{known_hosts_name}' -f {}`",
        known_hosts.display(),
        known_hosts.display()
    )]
    HostKeyChanged {
        label: String,
        known_hosts_name: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("cannot read {}: {source}", known_hosts.display())]
    KnownHostsUnreadable {
        known_hosts: PathBuf,
        #[source]
        source: russh::keys::Error,
    },
    #[error("cannot record the host key in {}: {source}", known_hosts.display())]
    HostKeyNotRecorded {
        known_hosts: PathBuf,
        #[source]
        source: russh::keys::Error,
    },

    #[error("connection lost during authentication: {source}")]
    LostDuringAuth {
        #[source]
        source: russh::Error,
    },
    #[error("connection lost during authentication with an ssh-agent key: {source}")]
    LostDuringAgentAuth {
        #[source]
        source: russh::AgentAuthError,
    },
    #[error("connection lost: {source}")]
    ConnectionLost {
        #[source]
        source: russh::Error,
    },
    #[error("the connection closed before the command finished")]
    ClosedDuringCommand,
    #[error("the connection closed while the installer was running")]
    ClosedDuringInstall,

    #[error("a registry check needs a Windows host")]
    RegistryCheckOnLinux,
    #[error("no staging directory was prepared")]
    NotPrepared,
    #[error("nothing was staged")]
    NothingStaged,
    #[error("upload failed: SFTP subsystem: {source}")]
    SftpSubsystem {
        #[source]
        source: russh::Error,
    },
    #[error("upload failed: SFTP subsystem: {source}")]
    SftpInit {
        #[source]
        source: russh_sftp::client::error::Error,
    },
    #[error("upload failed: mkdir ~/{dir}: {source}")]
    SftpMkdir {
        dir: String,
        #[source]
        source: russh_sftp::client::error::Error,
    },
    #[error("upload failed: {path}: {source}")]
    SftpOpen {
        path: String,
        #[source]
        source: russh_sftp::client::error::Error,
    },
    #[error("upload failed: {path}: {source}")]
    SftpWrite {
        path: String,
        #[source]
        source: russh_sftp::client::error::Error,
    },
    #[error("cannot verify the upload: {output}")]
    VerifyFailed { exit: RemoteExit, output: String },
    #[error(
        "checksum mismatch for {file} after upload (expected sha256 {expected}, target has {})",
        found.as_deref().unwrap_or("nothing")
    )]
    ChecksumMismatch {
        file: String,
        expected: String,
        found: Option<String>,
    },
    #[error("sudo refused: {said}")]
    SudoRefused { said: String },
    #[error("cleanup of ~/{dir} failed ({exit:?}): {output}")]
    CleanupFailed {
        dir: String,
        exit: RemoteExit,
        output: String,
    },
    #[error("shutdown -r failed ({exit:?}): {output}")]
    RebootFailed { exit: RemoteExit, output: String },
}

impl SshError {
    pub fn class(&self) -> ErrorClass {
        match self {
            SshError::Dial(_)
            | SshError::Handshake { .. }
            | SshError::LostDuringAuth { .. }
            | SshError::LostDuringAgentAuth { .. }
            | SshError::ConnectionLost { .. }
            | SshError::ClosedDuringCommand
            | SshError::ClosedDuringInstall => ErrorClass::Connect,
            SshError::NoCommonAlgorithm { .. } => ErrorClass::Negotiation,
            SshError::HostCertificate { .. }
            | SshError::HostKeyUnknown { .. }
            | SshError::HostKeyChanged { .. }
            | SshError::KnownHostsUnreadable { .. }
            | SshError::HostKeyNotRecorded { .. } => ErrorClass::HostKey,
            SshError::RegistryCheckOnLinux
            | SshError::NotPrepared
            | SshError::NothingStaged
            | SshError::SftpSubsystem { .. }
            | SshError::SftpInit { .. }
            | SshError::SftpMkdir { .. }
            | SshError::SftpOpen { .. }
            | SshError::SftpWrite { .. }
            | SshError::VerifyFailed { .. }
            | SshError::ChecksumMismatch { .. }
            | SshError::SudoRefused { .. }
            | SshError::CleanupFailed { .. }
            | SshError::RebootFailed { .. } => ErrorClass::TargetSetup,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;
    use crate::transport::ssh::{HostKeyCheck, SshConnector};
    use crate::transport::{Connector, Endpoint, TransportError};

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    #[test]
    fn each_failure_names_its_class() {
        let cases = [
            (
                SshError::Dial(DialError::Resolve {
                    address: "h".into(),
                    source: io(io::ErrorKind::NotFound),
                }),
                ErrorClass::Connect,
            ),
            (
                SshError::Dial(DialError::Refused {
                    address: "h".into(),
                    port: 22,
                    hint: SSH_REFUSED,
                }),
                ErrorClass::Connect,
            ),
            (
                SshError::Handshake {
                    source: russh::Error::Inconsistent,
                },
                ErrorClass::Connect,
            ),
            (
                SshError::ConnectionLost {
                    source: russh::Error::Disconnect,
                },
                ErrorClass::Connect,
            ),
            (SshError::ClosedDuringInstall, ErrorClass::Connect),
            (
                SshError::NoCommonAlgorithm {
                    source: russh::Error::Kex,
                },
                ErrorClass::Negotiation,
            ),
            (
                SshError::HostKeyChanged {
                    label: "h".into(),
                    known_hosts_name: "h".into(),
                    fingerprint: "ssh-ed25519 SHA256:x".into(),
                    known_hosts: PathBuf::from("/k"),
                    line: 3,
                },
                ErrorClass::HostKey,
            ),
            (
                SshError::HostCertificate { label: "h".into() },
                ErrorClass::HostKey,
            ),
            (
                SshError::SftpMkdir {
                    dir: ".pushinst-x".into(),
                    source: russh_sftp::client::error::Error::Timeout,
                },
                ErrorClass::TargetSetup,
            ),
            (
                SshError::ChecksumMismatch {
                    file: "a".into(),
                    expected: "00".into(),
                    found: None,
                },
                ErrorClass::TargetSetup,
            ),
            (
                SshError::SudoRefused { said: "no".into() },
                ErrorClass::TargetSetup,
            ),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            assert_eq!(TransportError::from(error).class(), class);
        }
    }

    #[test]
    fn messages_keep_what_the_tests_and_admins_look_for() {
        let e = SshError::ChecksumMismatch {
            file: "a.sh".into(),
            expected: "00".into(),
            found: None,
        };
        assert_eq!(
            e.to_string(),
            "checksum mismatch for a.sh after upload (expected sha256 00, target has nothing)"
        );
        assert_eq!(
            SshError::SudoRefused {
                said: "a password is required".into()
            }
            .to_string(),
            "sudo refused: a password is required"
        );
    }

    fn connector() -> SshConnector {
        SshConnector::new(
            HostKeyCheck {
                known_hosts: PathBuf::from("/nonexistent/known_hosts"),
                accept_new: false,
            },
            "test",
        )
    }

    async fn connect_error(address: &str, port: u16) -> TransportError {
        let endpoint = Endpoint {
            name: address.into(),
            address: address.into(),
            port,
        };
        match connector().connect(&endpoint).await {
            Ok(_) => panic!("{address}:{port} should not connect"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_a_resolve_failure() {
        let e = connect_error("nonexistent.invalid", 22).await;
        assert!(
            matches!(&e, TransportError::Ssh(SshError::Dial(DialError::Resolve { address, .. })) if address == "nonexistent.invalid"),
            "{e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Connect);
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let e = connect_error("127.0.0.1", port).await;
        assert!(
            matches!(&e, TransportError::Ssh(SshError::Dial(DialError::Refused { port: p, .. })) if *p == port),
            "{e:?}"
        );
        assert_eq!(e.class(), ErrorClass::Connect);
    }
}
