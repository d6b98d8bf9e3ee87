//! Everything the SSH transport can fail with, one variant per failure. Library
//! errors stay attached as the source; the runner asks only for the class.

use std::path::PathBuf;

pub use super::wrapper::MkdirFailure;
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
    #[error("no common {noun}: the host offers {}; {}", offered(offers), remedy.as_deref().unwrap_or("pushinst implements none of them"))]
    NoCommonAlgorithm {
        noun: &'static str,
        /// The server's list, as it sent it.
        offers: Vec<String>,
        /// The setting that would allow one of them, when pushinst implements one.
        remedy: Option<String>,
    },

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
    #[error(
        "checksum mismatch for {file} after upload (expected sha256 {expected}, target has {})",
        found.as_deref().unwrap_or("nothing")
    )]
    ChecksumMismatch {
        file: String,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "cannot verify the upload: the host has none of sha256sum, shasum, sha256, openssl, busybox; each file's size was checked and matched, its contents were not, so nothing was run; install one of them (coreutils, perl or openssl) on the host"
    )]
    NoChecksumTool,
    #[error("no space left on {dir}: needs {}, {} free; free some space there or set staging_dir", mib(*.needs), mib(*.free))]
    NoSpace { dir: String, needs: u64, free: u64 },
    #[error(
        "refusing staging path {dir:?}: pushinst names its directories with letters, digits, `.`, `-`, `_` and `/` only"
    )]
    UnsafeStagingPath { dir: String },
    #[error(
        "sudo is not installed on the host (not in {user}'s PATH); install it, or use a credential without `sudo = true`"
    )]
    SudoMissing { user: String },
    #[error(
        "sudo refused: {user} may not run commands as root on this host; allow it in sudoers (it runs /bin/sh)"
    )]
    SudoNotPermitted { user: String },
    #[error(
        "sudo refused the password for {user}; check sudo_password (with `targetpw` or `rootpw` in sudoers, sudo wants root's password)"
    )]
    SudoPasswordRefused { user: String },
    #[error("sudo -n refused {user}: sudo wants a password (set sudo_password) or {user} may not use sudo")]
    SudoNeedsPassword { user: String },
    #[error(
        "the password of {user} has expired: the host demands a new one before it runs anything; set a new password (passwd, or chage on the host) and put it in the credential"
    )]
    PasswordExpired { user: String },
    #[error("the host accepted the login of {user} but runs no command for it ({}); check the account's login shell and sshd's ForceCommand", exit_words(.exit))]
    SessionRunsNothing { user: String, exit: Option<RemoteExit> },
    #[error(
        "{dir} is mounted noexec, so the installer cannot run from it; nothing was installed (set staging_dir to a directory where programs may run)"
    )]
    StagingNoexec { dir: String },
    #[error(
        "refusing to stage in {dir}: {exposure}, so pushinst's files could be swapped before they run; make it writable only by root and the login user (or sticky, as /var/tmp is), or set another staging_dir"
    )]
    StagingExposed { dir: String, exposure: Exposure },
    #[error("the check script failed on the host ({}): {output}; is /bin/sh a POSIX shell there?", exit_words(&Some(.exit.clone())))]
    ProbeFailed { exit: RemoteExit, output: String },
    #[error(
        "the installer's end was not seen: pushinst's wrapper on the host stopped first (was it killed?)"
    )]
    InstallerLost,
    #[error("pushinst's wrapper did not run on the host ({}); is /bin/sh a POSIX shell there?", exit_words(.exit))]
    WrapperSilent { exit: Option<RemoteExit> },
    #[error("no word from the host for {} after the installer's limit; it may still be running there", humantime::format_duration(*.waited))]
    NoReport { waited: std::time::Duration },
    #[error("cleanup of {} failed ({exit:?}): {output}", shown(.dir))]
    CleanupFailed {
        dir: String,
        exit: RemoteExit,
        output: String,
    },
    #[error("shutdown -r failed ({exit:?}): {output}")]
    RebootFailed { exit: RemoteExit, output: String },
    #[error(
        "upload stalled: no data moved for {} (connect_timeout); the network path or the host stopped taking data; the host removes the partial upload itself once the connection is gone",
        humantime::format_duration(*.waited)
    )]
    Stalled { waited: std::time::Duration },
    #[error(
        "the host refused a session channel twice (its sshd's MaxSessions, or sessions not allowed for this user): {source}"
    )]
    SessionRefused {
        #[source]
        source: russh::Error,
    },
    #[error("the connection closed during the upload")]
    ClosedDuringUpload,
    #[error("upload failed: cannot create the staging directory {} ({}); {}", shown(.dir), mkdir_words(*.why), mkdir_advice(*.why))]
    StageMkdir { dir: String, why: MkdirFailure },
    #[error(
        "upload failed: the host has no `tar` on the login user's PATH (pushinst unpacks the upload with it); install tar (or busybox) there"
    )]
    NoTar,
    #[error("upload failed: tar on the host could not unpack the files (exit {exit}): {output}")]
    UnpackFailed { exit: i32, output: String },
    #[error(
        "cannot stage a file named {name:?}: an upload carries paths inside the staging directory (no `..`, `.` or empty steps) of at most 255 bytes"
    )]
    FileNameNotStageable { name: String },
    #[error("upload damaged: {file} has {found} bytes on the host, {expected} were sent; nothing was run")]
    SizeMismatch { file: String, expected: u64, found: u64 },
    #[error("cannot write the wrapper's settings into {} ({}): {output}", shown(.dir), exit_words(&Some(.exit.clone())))]
    ConfNotWritten {
        dir: String,
        exit: RemoteExit,
        output: String,
    },

    #[error(
        "REVOKED HOST KEY: {label} offers {fingerprint}, which {} line {line} marks @revoked, so pushinst will not connect to it; find out why it was revoked before giving the host a new key",
        known_hosts.display()
    )]
    HostKeyRevoked {
        label: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error(
        "untrusted host certificate: {label} offers a certificate signed by {ca_fingerprint}, and no @cert-authority line for {known_hosts_name} in {} lists that authority, nor is the host's key listed; add the authority with `@cert-authority {known_hosts_name} <CA public key>` or the host's key",
        known_hosts.display()
    )]
    HostCertificateUntrusted {
        label: String,
        ca_fingerprint: String,
        known_hosts_name: String,
        known_hosts: PathBuf,
    },
    #[error(
        "bad host certificate: {label} offers a certificate from the authority on {} line {line}, but {problem}; have the host's certificate reissued (ssh-keygen -s CA -h -n NAME)",
        known_hosts.display()
    )]
    HostCertificateInvalid {
        label: String,
        problem: CertificateProblem,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("cannot use {} as known_hosts: {source}", known_hosts.display())]
    KnownHostsInvalid {
        known_hosts: PathBuf,
        #[source]
        source: super::known_hosts::KnownHostsError,
    },
}

/// Why a host certificate from a trusted authority is still refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateProblem {
    #[error("it is a user certificate, not a host certificate")]
    NotHost,
    #[error("its signature does not verify")]
    BadSignature,
    #[error("it is valid only from {from}")]
    NotYetValid { from: String },
    #[error("it expired at {until}")]
    Expired { until: String },
    #[error("it names {principals:?}, not {host}")]
    Principal { host: String, principals: String },
    #[error("it names no host (OpenSSH refuses such a host certificate too)")]
    NoPrincipals,
    #[error("it carries the critical option {option:?}, which pushinst does not know")]
    CriticalOption { option: String },
}

fn mkdir_words(why: MkdirFailure) -> &'static str {
    match why {
        MkdirFailure::Missing => "its parent directory does not exist",
        MkdirFailure::Exists => "it exists already",
        MkdirFailure::Denied => "permission denied",
        MkdirFailure::Other => "mkdir failed",
    }
}

fn mkdir_advice(why: MkdirFailure) -> &'static str {
    match why {
        MkdirFailure::Missing => "create it, or set staging_dir to a directory that exists",
        MkdirFailure::Exists => {
            "another run left it, or someone planted it: check it, remove it (`pushinst cleanup` removes pushinst's own), and retry"
        }
        MkdirFailure::Denied | MkdirFailure::Other => {
            "the login user cannot write there: set staging_dir to a directory it can write to"
        }
    }
}

/// Who else could replace what pushinst stages: a directory on the way to the staging
/// directory that someone other than root and the login user may rename entries in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exposure {
    #[error("{path} is writable by every user")]
    WorldWritable { path: String },
    #[error("{path} is writable by group {gid}")]
    GroupWritable { path: String, gid: u32 },
    #[error("{path} belongs to user {uid}")]
    Owner { path: String, uid: u32 },
}

/// A staging path as the admin reads it: relative ones are in the login home.
fn shown(dir: &str) -> String {
    if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("~/{dir}")
    }
}

fn exit_words(exit: &Option<RemoteExit>) -> String {
    match exit {
        Some(RemoteExit::Code(c)) => format!("exit {c}"),
        Some(RemoteExit::Signal(s)) => format!("signal {s}"),
        None => "no exit status".to_string(),
    }
}

/// Sizes as people read them: `5.0 MiB`.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
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
            | SshError::ClosedDuringInstall
            | SshError::Stalled { .. }
            | SshError::ClosedDuringUpload => ErrorClass::Connect,
            SshError::NoCommonAlgorithm { .. } => ErrorClass::Negotiation,
            SshError::HostKeyUnknown { .. }
            | SshError::HostKeyChanged { .. }
            | SshError::HostKeyNotRecorded { .. }
            | SshError::HostKeyRevoked { .. }
            | SshError::HostCertificateUntrusted { .. }
            | SshError::HostCertificateInvalid { .. }
            | SshError::KnownHostsInvalid { .. } => ErrorClass::HostKey,
            SshError::RegistryCheckOnLinux
            | SshError::NotPrepared
            | SshError::NothingStaged
            | SshError::ChecksumMismatch { .. }
            | SshError::NoChecksumTool
            | SshError::NoSpace { .. }
            | SshError::UnsafeStagingPath { .. }
            | SshError::SudoMissing { .. }
            | SshError::SudoNotPermitted { .. }
            | SshError::SudoPasswordRefused { .. }
            | SshError::SudoNeedsPassword { .. }
            | SshError::StagingNoexec { .. }
            | SshError::StagingExposed { .. }
            | SshError::PasswordExpired { .. }
            | SshError::SessionRunsNothing { .. }
            | SshError::InstallerLost
            | SshError::ProbeFailed { .. }
            | SshError::WrapperSilent { .. }
            | SshError::NoReport { .. }
            | SshError::CleanupFailed { .. }
            | SshError::RebootFailed { .. }
            | SshError::StageMkdir { .. }
            | SshError::NoTar
            | SshError::UnpackFailed { .. }
            | SshError::FileNameNotStageable { .. }
            | SshError::SizeMismatch { .. }
            | SshError::ConfNotWritten { .. }
            | SshError::SessionRefused { .. } => ErrorClass::TargetSetup,
        }
    }
}

/// The server's list in a message: the first few names, then how many more.
fn offered(offers: &[String]) -> String {
    const SHOWN: usize = 6;
    let mut text = offers.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if offers.len() > SHOWN {
        text.push_str(&format!(" and {} more", offers.len() - SHOWN));
    }
    if text.is_empty() {
        "nothing".to_string()
    } else {
        text
    }
}

/// A handshake that found no algorithm both sides have, named by the list it
/// failed on, with the setting that would reach the host.
pub(super) fn no_common(
    kind: russh::AlgorithmKind,
    theirs: Vec<String>,
    ours: &super::algorithms::Algorithms,
) -> SshError {
    use super::algorithms::{self, Kind};
    let kind = match kind {
        russh::AlgorithmKind::Kex => Some(Kind::Kex),
        russh::AlgorithmKind::Key => Some(Kind::HostKey),
        russh::AlgorithmKind::Cipher => Some(Kind::Cipher),
        russh::AlgorithmKind::Mac => Some(Kind::Mac),
        russh::AlgorithmKind::Compression => None,
    };
    // Only the flags of the key exchange list, never an algorithm to offer.
    let offers: Vec<String> = theirs
        .into_iter()
        .filter(|n| !n.starts_with("ext-info-") && !n.starts_with("kex-strict-"))
        .collect();
    SshError::NoCommonAlgorithm {
        noun: kind.map_or("compression", Kind::noun),
        remedy: kind.and_then(|k| algorithms::remedy(k, &offers, ours)),
        offers,
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
                SshError::Stalled {
                    waited: std::time::Duration::from_secs(5),
                },
                ErrorClass::Connect,
            ),
            (
                SshError::NoCommonAlgorithm {
                    noun: "cipher",
                    offers: vec!["aes128-cbc".into()],
                    remedy: None,
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
                SshError::HostKeyRevoked {
                    label: "h".into(),
                    fingerprint: "ssh-ed25519 SHA256:x".into(),
                    known_hosts: PathBuf::from("/k"),
                    line: 1,
                },
                ErrorClass::HostKey,
            ),
            (
                SshError::StageMkdir {
                    dir: ".pushinst-x".into(),
                    why: MkdirFailure::Denied,
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
                SshError::SudoNotPermitted { user: "u".into() },
                ErrorClass::TargetSetup,
            ),
            (
                SshError::StagingNoexec {
                    dir: "/home/u".into(),
                },
                ErrorClass::TargetSetup,
            ),
            (
                SshError::StagingExposed {
                    dir: "/srv".into(),
                    exposure: Exposure::WorldWritable { path: "/srv".into() },
                },
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
            SshError::NoSpace {
                dir: "/home/deploy".into(),
                needs: 5 * 1024 * 1024,
                free: 1258291,
            }
            .to_string(),
            "no space left on /home/deploy: needs 5.0 MiB, 1.2 MiB free; free some space there or set staging_dir"
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
