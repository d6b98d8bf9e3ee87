//! What can go wrong on the way to a host, typed. Each transport has its own error
//! enum; the runner only asks a [`TransportError`] for its [`ErrorClass`] and maps
//! that to an outcome, so no caller ever reads an error's text to decide anything.

use std::time::Duration;

use super::ssh::SshError;
use super::windows::WindowsError;
use super::{OutputTail, Rejection};

/// The few kinds of trouble the runner tells apart. Each transport error names
/// exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// The host could not be reached, or the connection dropped: not the host's
    /// configuration, not the installer. The outcome is *unreachable*.
    Connect,
    /// The host's key (or certificate) is not the one on record.
    HostKey,
    /// Every credential was refused.
    Authentication,
    /// Client and server found no common protocol, algorithm or security level.
    Negotiation,
    /// Something on the target before the installer ran: staging, permissions,
    /// sudo, disk space, a missing share or service manager right.
    TargetSetup,
    /// The installer itself ran and failed or was stopped.
    Installer,
    /// The peer answered something the protocol does not allow.
    Protocol,
    /// An answer failed its signature or integrity check: someone on the path may
    /// be changing traffic. Nothing more is sent to that host.
    Tampering,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Windows(#[from] WindowsError),
    #[error("every credential was refused ({})", .0.iter().map(|r| format!("{}: {}", r.credential, r.reason)).collect::<Vec<_>>().join("; "))]
    AuthRejected(Vec<Rejection>),
    #[error("the installer did not finish within {}", humantime::format_duration(*.timeout))]
    ExecTimedOut { timeout: Duration, output: OutputTail },
}

impl TransportError {
    pub fn class(&self) -> ErrorClass {
        match self {
            TransportError::Ssh(e) => e.class(),
            TransportError::Windows(e) => e.class(),
            TransportError::AuthRejected(_) => ErrorClass::Authentication,
            TransportError::ExecTimedOut { .. } => ErrorClass::Installer,
        }
    }
}
