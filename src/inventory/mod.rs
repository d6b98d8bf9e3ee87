//! The inventory: what hosts exist, how to reach them, what to install.

mod diagnostic;
pub mod folder;
mod load;
mod model;
mod nesting;
pub mod pattern;
pub mod requires;
mod shape;
mod suggest;
mod target_file;
mod targets;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use diagnostic::InventoryError;
pub use load::{DEFAULT_MAX_ATTEMPTS, load, parse};
pub use pattern::HostAddr;
pub use requires::{Requirement, VersionReq};
pub use suggest::nearest;
pub use target_file::{TargetFileError, expand as expand_target_lists};
pub use targets::{Target, TargetError, resolve_targets};

pub use crate::runner::{RebootNotice, RebootPolicy, Timeouts};
use crate::secrets::SecretSource;
pub use crate::transport::ssh::algorithms::Kind as AlgorithmKind;
pub use crate::transport::{Detect, RegistryView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
        })
    }
}

/// How a Windows host runs the installer: a temporary service (ESET, PsExec) or a
/// scheduled task (Sophos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WindowsExec {
    #[default]
    Service,
    Task,
}

/// `smb_signing`: whether a Windows host's unsigned SMB answers are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmbSigning {
    /// Every answer after logon signed or encrypted (the default).
    #[default]
    Required,
    /// Unsigned answers accepted where the server does not require signing: anyone
    /// on the path can then change the installer. The name says so on purpose.
    AllowTampering,
}

/// `smb_encryption`: when a Windows host's SMB session is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmbEncryption {
    /// Whenever the server supports SMB 3 encryption (the default).
    #[default]
    WhenSupported,
    /// Refuse a host whose session cannot be encrypted.
    Required,
    /// Only when the server or a share demands it.
    Off,
}

/// `staging_dir`: the directory on a Linux host in which pushinst makes its staging
/// directories, instead of the login home (which may be noexec, small or read-only).
/// An absolute path of plain characters only, because it reaches the target's
/// `/bin/sh`, and without `.` or `..` steps, so what the plan shows is where files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingDir(String);

/// Why a `staging_dir` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StagingDirError {
    #[error("staging_dir must be an absolute path")]
    Relative,
    #[error("staging_dir may hold only letters, digits, `.`, `-`, `_` and `/`")]
    Character,
    #[error("staging_dir may not have `.` or `..` steps")]
    DotStep,
    #[error("staging_dir is longer than 256 characters")]
    TooLong,
}

impl StagingDir {
    pub fn parse(text: &str) -> Result<Self, StagingDirError> {
        if !text.starts_with('/') {
            return Err(StagingDirError::Relative);
        }
        if text.len() > 256 {
            return Err(StagingDirError::TooLong);
        }
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        {
            return Err(StagingDirError::Character);
        }
        let steps: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
        if steps.iter().any(|s| *s == "." || *s == "..") {
            return Err(StagingDirError::DotStep);
        }
        Ok(StagingDir(format!("/{}", steps.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SSH algorithm lists set at one level (settings, a group, a `[[hosts]]` entry), each
/// already resolved against pushinst's defaults, as OpenSSH resolves `+`, `-` and `^`.
/// A list not set here comes from the next level out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlgorithmSettings {
    lists: Vec<(AlgorithmKind, Vec<&'static str>)>,
}

impl AlgorithmSettings {
    pub fn set(&mut self, kind: AlgorithmKind, list: Vec<&'static str>) {
        self.lists.retain(|(k, _)| *k != kind);
        self.lists.push((kind, list));
    }

    pub fn get(&self, kind: AlgorithmKind) -> Option<&[&'static str]> {
        self.lists.iter().find(|(k, _)| *k == kind).map(|(_, l)| &l[..])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys refuse the host.
    Strict,
    /// Unknown keys are recorded; changed keys still refuse the host.
    AcceptNew,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub host_key_policy: HostKeyPolicy,
    pub known_hosts: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub max_attempts: u32,
    pub reboot: RebootNotice,
    pub smb_signing: SmbSigning,
    pub smb_encryption: SmbEncryption,
    pub staging_dir: Option<StagingDir>,
    pub ssh_algorithms: AlgorithmSettings,
    pub windows_exec: WindowsExec,
    /// Windows: the wrapper's start marker must appear within this.
    pub start_timeout: Duration,
    pub default_os: Option<Os>,
    pub default_credentials: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CredentialDef {
    pub name: String,
    pub user: String,
    pub password: Option<SecretSource>,
    pub key: Option<PathBuf>,
    pub passphrase: Option<SecretSource>,
    /// An OpenSSH certificate for `key`, offered before the key alone.
    pub certificate: Option<PathBuf>,
    pub agent: bool,
    pub sudo: bool,
    pub sudo_password: Option<SecretSource>,
    /// Windows: which logon mechanism (`auth`).
    pub auth: WindowsAuth,
    /// Windows: the Kerberos KDC (`kdc`), `host` or `host:port`.
    pub kdc: Option<String>,
    /// Windows: the Kerberos realm (`realm`).
    pub realm: Option<String>,
    /// Windows: a keytab holding the user's Kerberos key (`keytab`).
    pub keytab: Option<PathBuf>,
    /// Windows: the `kinit` ticket cache a domain user without a secret logs on
    /// with (KRB5CCNAME, or /tmp/krb5cc_UID).
    pub ticket_cache: Option<PathBuf>,
}

/// `auth` on a credential: how it logs on to Windows hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowsAuth {
    /// Kerberos when the credential names a realm or a KDC, else NTLM; and
    /// Kerberos when the host refuses NTLM.
    #[default]
    Negotiate,
    /// Kerberos only, never NTLM.
    Kerberos,
    /// NTLM only.
    Ntlm,
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub file: PathBuf,
    pub args: Vec<String>,
    pub config: Option<PathBuf>,
    pub detect: Option<Detect>,
    pub timeout: Option<Duration>,
    /// How `pushinst remove` takes it off again; `None` when the inventory says not.
    pub uninstall: Option<Uninstall>,
    /// Where the variant is written (`pushinst.toml:12:9`), for errors found after
    /// loading (a `remove` of a package without an uninstall).
    pub location: String,
    /// Which hosts it is for (`arch`, `os`; only [`Requirement::Arch`] and
    /// [`Requirement::Os`]); empty: any host.
    pub when: Vec<Requirement>,
    /// `file` is a folder, uploaded whole; this file in it (a relative path) is run.
    pub entry: Option<String>,
}

/// `[packages.X.linux.uninstall]`: what `pushinst remove` runs, as root (sudo) on
/// Linux and as SYSTEM on Windows, through the same wrapper as an installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uninstall {
    pub program: UninstallProgram,
    pub args: Vec<String>,
    pub success_codes: Vec<i32>,
    pub timeout: Option<Duration>,
    /// Run the variant's detect again afterwards: still installed is a failure.
    pub verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UninstallProgram {
    /// A program already on the host (`/opt/acme/uninstall.sh`, `msiexec`).
    Command(String),
    /// A file on this machine, uploaded and verified like an installer.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: Option<String>,
    /// In the inventory's order: a host gets the first whose `when` it matches.
    pub linux: Vec<Variant>,
    pub windows: Vec<Variant>,
    pub success_codes: Vec<i32>,
    pub reboot_codes: Vec<i32>,
    pub timeout: Option<Duration>,
    pub reboot: RebootPolicy,
    /// Failed installer runs allowed per host before it is skipped (overrides the setting).
    pub max_attempts: Option<u32>,
    /// What a Linux host must offer before anything is uploaded; empty when nothing.
    pub requires: Vec<Requirement>,
}

impl Package {
    pub fn attempts_allowed(&self, settings: &Settings) -> u32 {
        self.max_attempts.unwrap_or(settings.max_attempts)
    }

    pub fn variants(&self, os: Os) -> &[Variant] {
        match os {
            Os::Linux => &self.linux,
            Os::Windows => &self.windows,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    /// Every host of the group, nested groups expanded in place, each once.
    pub hosts: Vec<HostAddr>,
    /// The `hosts` entries as written: hosts and the groups nested in this one.
    pub entries: Vec<GroupEntry>,
    pub os: Option<Os>,
    pub credentials: Vec<String>,
    pub exec: Option<WindowsExec>,
    pub smb_signing: Option<SmbSigning>,
    pub smb_encryption: Option<SmbEncryption>,
    pub staging_dir: Option<StagingDir>,
    pub start_timeout: Option<Duration>,
    pub ssh_algorithms: AlgorithmSettings,
}

/// One entry of a group's `hosts`, in the order written.
#[derive(Debug, Clone)]
pub enum GroupEntry {
    Host(HostAddr),
    /// Another group, named as `--to` names it; `span` is where the inventory does.
    Group {
        name: String,
        span: std::ops::Range<usize>,
    },
}

/// A `[[hosts]]` entry: per-host facts that win over the group's.
#[derive(Debug, Clone)]
pub struct HostOverride {
    pub name: String,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub os: Option<Os>,
    pub credentials: Option<Vec<String>>,
    pub exec: Option<WindowsExec>,
    pub smb_signing: Option<SmbSigning>,
    pub smb_encryption: Option<SmbEncryption>,
    pub staging_dir: Option<StagingDir>,
    pub start_timeout: Option<Duration>,
    pub ssh_algorithms: AlgorithmSettings,
}

/// A job bound to targets: `sync` delivers its packages, in order, wherever they
/// have no success on record.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub packages: Vec<String>,
    pub targets: Vec<String>,
    /// Wins over each package's own policy.
    pub reboot: Option<RebootPolicy>,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub settings: Settings,
    pub credentials: BTreeMap<String, CredentialDef>,
    pub packages: BTreeMap<String, Package>,
    pub groups: BTreeMap<String, Group>,
    pub hosts: Vec<HostOverride>,
    pub jobs: BTreeMap<String, Job>,
}
