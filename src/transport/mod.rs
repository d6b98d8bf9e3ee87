//! How pushinst reaches a host. The runner drives a [`Connection`] through the
//! install flow and never learns which protocol is underneath; a transport never
//! learns what an inventory is.

pub mod error;
mod net;
pub mod output;
pub mod ssh;
pub mod windows;

pub use windows::smb;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use error::{ErrorClass, TransportError};
pub use output::OutputTail;

use crate::inventory::Requirement;
use crate::outcome::Unmet;
use crate::secrets::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where to connect, and the name the host is known by (for host keys and messages).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub address: String,
    pub port: u16,
}

/// One way of proving who we are.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    Agent,
    Key {
        path: PathBuf,
        passphrase: Option<Secret>,
        /// An OpenSSH certificate for the key (`…-cert.pub`), offered before the key alone.
        certificate: Option<PathBuf>,
    },
    Password(Secret),
}

/// How to become root on the target once logged in.
#[derive(Debug, Clone)]
pub enum Sudo {
    /// `sudo -S`, the password fed on standard input.
    Password(Secret),
    /// `sudo -n`: the account needs no password.
    NoPassword,
}

#[derive(Debug, Clone)]
pub struct Credential {
    /// The inventory's name for it; the only part that may be shown.
    pub label: String,
    pub user: String,
    /// Tried in order on the same connection.
    pub methods: Vec<AuthMethod>,
    pub sudo: Option<Sudo>,
    /// Windows: Kerberos or NTLM, and where the KDC is.
    pub windows: windows::WindowsLogon,
}

/// A file to place on the target. The bytes are read once and shared by every host.
#[derive(Debug, Clone)]
pub struct Payload {
    pub file_name: String,
    /// Shared, never copied: each host sends slices of the same buffer.
    pub data: bytes::Bytes,
    pub sha256: String,
    pub executable: bool,
}

/// How to tell that a package is already installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detect {
    /// Exit code 0 means installed.
    Command(String),
    /// Windows: a registry value exists (and holds at least `min_version`).
    Registry {
        key: String,
        value: String,
        min_version: Option<String>,
        /// 64-bit Windows keeps 32-bit programs' keys apart; `None` reads the native view.
        view: Option<RegistryView>,
    },
}

/// Which registry view a check reads (`reg query … /reg:32` or `/reg:64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryView {
    Bits32,
    Bits64,
}

impl RegistryView {
    pub fn bits(self) -> u32 {
        match self {
            RegistryView::Bits32 => 32,
            RegistryView::Bits64 => 64,
        }
    }
}

impl std::fmt::Display for Detect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detect::Command(command) => write!(f, "`{command}`"),
            Detect::Registry {
                key,
                value,
                min_version,
                view,
            } => {
                write!(f, "registry {key}\\{value}")?;
                if let Some(v) = min_version {
                    write!(f, " >= {v}")?;
                }
                match view {
                    Some(view) => write!(f, " ({}-bit view)", view.bits()),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What to run once the payloads are staged.
#[derive(Debug, Clone)]
pub struct Install {
    /// File name of the staged installer.
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteExit {
    Code(i32),
    Signal(String),
}

#[derive(Debug)]
pub struct ExecOutput {
    pub exit: RemoteExit,
    pub output: OutputTail,
}

/// Something a transport creates on a target and must remove again. It is put on
/// record before it exists, so `pushinst cleanup` can remove what a crash left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    pub kind: ArtefactKind,
    /// Where it is, in the transport's own terms (a directory relative to the login home).
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtefactKind {
    Directory,
    /// A Windows service (deleted right after it starts; on record in case of a crash).
    Service,
    /// A Windows scheduled task (deleted once the installer has finished).
    Task,
}

impl ArtefactKind {
    pub fn name(self) -> &'static str {
        match self {
            ArtefactKind::Directory => "directory",
            ArtefactKind::Service => "service",
            ArtefactKind::Task => "task",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "directory" => Some(ArtefactKind::Directory),
            "service" => Some(ArtefactKind::Service),
            "task" => Some(ArtefactKind::Task),
            _ => None,
        }
    }
}

/// Who got in, and who was turned away first.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    pub accepted: String,
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    pub credential: String,
    pub reason: String,
    /// The methods the server said it would still accept after the refusal (SSH),
    /// so the admin sees what the host wants; empty when it did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_accepts: Vec<String>,
    /// The methods pushinst offered with this credential, by their protocol names
    /// (SSH), so "server accepts publickey; tried password" can be said.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
}

/// What `pushinst check` learned about a host, without installing anything. `None`
/// is "not learned", never a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `linux` or `windows`.
    pub os: Option<String>,
    /// `uname -m` (Linux), PROCESSOR_ARCHITECTURE (Windows).
    pub arch: Option<String>,
    /// `/etc/os-release` ID and VERSION_ID, as `debian 12`.
    pub os_release: Option<String>,
    /// Free space where the package would be staged, in KiB.
    pub free_kib: Option<u64>,
}

/// Opens connections for one protocol.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>>;
}

/// One connection to one host, used for the whole install flow.
pub trait Connection: Send {
    /// Try the credentials in order; only a refusal moves on to the next one.
    fn authenticate<'a>(
        &'a mut self,
        credentials: &'a [Credential],
    ) -> BoxFuture<'a, Result<AuthOutcome, TransportError>>;

    /// `true` when the package's detect check says it is installed.
    fn detect<'a>(&'a mut self, detect: &'a Detect) -> BoxFuture<'a, Result<bool, TransportError>>;

    /// The first of `requires` the host does not meet, `None` when all hold. Learns
    /// everything in one round trip and changes nothing. Only Linux hosts are asked:
    /// the inventory refuses `requires` on a package with a Windows installer, so the
    /// default is never reached with requirements to check.
    fn requires<'a>(
        &'a mut self,
        requires: &'a [Requirement],
    ) -> BoxFuture<'a, Result<Option<Unmet>, TransportError>> {
        let _ = requires;
        Box::pin(async { Ok(None) })
    }

    /// What the host says about itself for these requirements (`arch`, `os`) in one
    /// round trip, changing nothing: a package's variants are chosen by it. Only
    /// Linux hosts are asked (the inventory refuses Windows variants by `arch` or
    /// `os`), so the default, which says nothing, is never reached.
    fn answers<'a>(
        &'a mut self,
        asked: &'a [Requirement],
    ) -> BoxFuture<'a, Result<crate::inventory::requires::HostAnswers, TransportError>> {
        let _ = asked;
        Box::pin(async { Ok(crate::inventory::requires::HostAnswers::default()) })
    }

    /// Name what `stage` and `execute` will create for this package, without creating it.
    fn prepare(&mut self, package: &str) -> Vec<Artefact>;

    /// Name what `probe`, and `requires` or `answers` asked before any `prepare`
    /// (`pushinst check`), may create, without creating it: each removes its own
    /// again before it returns, and these are on record in case it never does.
    fn preflight(&mut self) -> Vec<Artefact> {
        Vec::new()
    }

    /// Copy the payloads into the prepared private directory and verify their checksums.
    /// `install` is how they will run, so a transport may stage its settings with them
    /// (one exchange fewer); `execute` gets the final word on it.
    fn stage<'a>(
        &'a mut self,
        payloads: &'a [Payload],
        install: &'a Install,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Run the staged installer and wait for it, at most `install.timeout`.
    fn execute<'a>(&'a mut self, install: &'a Install) -> BoxFuture<'a, Result<ExecOutput, TransportError>>;

    /// Remove everything `stage` created. Safe to call when nothing was staged.
    fn cleanup(&mut self) -> BoxFuture<'_, Result<(), TransportError>>;

    /// Remove artefacts an earlier, interrupted run left behind.
    fn remove<'a>(&'a mut self, artefacts: &'a [Artefact]) -> BoxFuture<'a, Result<(), TransportError>>;

    /// The preflight of `pushinst check`, after `authenticate`: prove the admin
    /// rights and the staging place the install would use, by the same paths the
    /// install takes, and learn the host's facts. Runs no installer and leaves
    /// nothing behind; `needs` is the bytes the package would stage.
    fn probe(&mut self, needs: u64) -> BoxFuture<'_, Result<HostFacts, TransportError>>;

    /// Ask the host to reboot after `delay`, telling logged-on users `message`.
    fn reboot<'a>(
        &'a mut self,
        delay: Duration,
        message: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
