//! Windows targets, the way ESET's push install and PsExec reach them: one SMB
//! connection per host carries the upload into a new directory in `ADMIN$` that
//! only SYSTEM and Administrators can touch, DCE/RPC to the
//! Service Control Manager over `\PIPE\svcctl` to run a wrapper script as
//! LocalSystem, the polling for its exit code, and the cleanup.

pub mod dns;
mod error;
mod exec;
mod facts;
pub mod logon;
mod pipe;
mod registry;
pub mod rpc;
pub mod smb;
mod wrapper;

use std::sync::Arc;
use std::time::Duration;

pub use error::WindowsError;
use error::{SMB_REFUSED, smb_failure};
pub use logon::{Mechanism, WindowsLogon};
use smb::kerberos::LogonError;
use smb::{Account, Open, Protection, Session, SmbError, access, disposition, options, status};

use crate::inventory::Requirement;
use crate::inventory::requires::{HostAnswers, SYSTEM_DRIVE};
use crate::outcome::Unmet;

use super::{
    Artefact, ArtefactKind, AuthMethod, AuthOutcome, BoxFuture, Connection, Connector, Credential, Detect,
    Endpoint, ExecOutput, Install, Payload, Rejection, TransportError,
};

/// What runs the wrapper as SYSTEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecMethod {
    /// A temporary service over `\PIPE\svcctl` (MS-SCMR), deleted as soon as it starts.
    Service,
    /// A scheduled task over `\PIPE\atsvc` (MS-TSCH), deleted once the installer ends.
    Task,
}

/// How the Windows transport behaves for one run.
#[derive(Debug, Clone)]
pub struct WindowsOptions {
    /// Signing and encryption (`smb_signing`, `smb_encryption`).
    pub protection: Protection,
    pub method: ExecMethod,
    /// How often to look for the installer's exit code.
    pub poll: Duration,
    /// How long the wrapper may take to write its start marker once the service or
    /// task was started (`start_timeout`); past it, something blocked it.
    pub start_timeout: Duration,
}

pub struct WindowsConnector {
    options: Arc<WindowsOptions>,
}

impl WindowsConnector {
    pub fn new(options: WindowsOptions) -> Self {
        WindowsConnector {
            options: Arc::new(options),
        }
    }
}

impl Connector for WindowsConnector {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async move {
            let address = &endpoint.address;
            let port = endpoint.port;
            let stream = super::net::dial(address, port, SMB_REFUSED)
                .await
                .map_err(WindowsError::from)?;
            // Messages name the host as the report does: with its port when not 445.
            let peer = match port {
                445 => endpoint.name.clone(),
                port => format!("{}:{port}", endpoint.name),
            };
            let mut session = Session::negotiate(stream, address, &peer, self.options.protection)
                .await
                .map_err(|e| match e {
                    SmbError::Io(source) => WindowsError::NegotiationLost { source },
                    source @ SmbError::Tampering { .. } => WindowsError::Tampering { source },
                    source @ (SmbError::Status { .. } | SmbError::Protocol(_) | SmbError::Encryption(_)) => {
                        WindowsError::Negotiation { source }
                    }
                })?;
            session.name_target(&endpoint.name);
            // 128 random bits name the staging directory: nobody can guess it to
            // create it first. No randomness, no run.
            let mut tag = [0u8; 16];
            getrandom::fill(&mut tag).map_err(|_| WindowsError::NoRandomness)?;
            Ok(Box::new(WindowsConnection {
                options: self.options.clone(),
                endpoint: endpoint.clone(),
                tag,
                session,
                user: None,
                staged: None,
                created: false,
                services: Vec::new(),
                pending: Vec::new(),
                rpc_kerberos: None,
            }) as Box<dyn Connection>)
        })
    }
}

pub struct WindowsConnection {
    options: Arc<WindowsOptions>,
    endpoint: Endpoint,
    /// Random bits for this connection's directory and service names.
    tag: [u8; 16],
    session: Session,
    user: Option<String>,
    /// `pushinst-<128 random bits>` in ADMIN$, once prepared.
    staged: Option<String>,
    created: bool,
    /// Services this connection may create, named before they exist.
    services: Vec<String>,
    /// Created and not (yet) deleted: cleanup's business.
    pending: Vec<String>,
    /// When the SMB session logged on with Kerberos: the same logon, for the RPC
    /// binds, with the SPN Windows uses for RPC (`host/<FQDN>`).
    rpc_kerberos: Option<smb::kerberos::KerberosLogon>,
}

/// How long `shutdown` gets to say whether it scheduled the reboot.
const REBOOT_WAIT: Duration = Duration::from_secs(60);

/// Entries cleanup removes from one staging directory before it gives up.
const MAX_CLEANUP_ENTRIES: usize = 200_000;

/// The error that names what an administrator must do about an access denial.
fn denied(what: &'static str, user: &str) -> WindowsError {
    WindowsError::AccessDenied {
        what,
        user: user.to_string(),
    }
}

impl WindowsConnection {
    /// The probe's staging directory (`pushinst check`), made and removed at once.
    fn probe_dir(&self) -> String {
        format!("pushinst-{}-c", hex(&self.tag))
    }

    /// The facts run's own directory, when no package is prepared (`check`).
    fn facts_dir(&self) -> String {
        format!("pushinst-{}-f", hex(&self.tag))
    }

    /// The facts run's own service or task, when no package is prepared (`check`).
    fn facts_service(&self) -> String {
        format!("{}pushinst-{}-f", self.exec_prefix(), hex(&self.tag[..8]))
    }

    /// Tasks live in the scheduler's root folder; services have no folder.
    fn exec_prefix(&self) -> &'static str {
        match self.options.method {
            ExecMethod::Service => "",
            ExecMethod::Task => "\\",
        }
    }

    fn exec_kind(&self) -> ArtefactKind {
        match self.options.method {
            ExecMethod::Service => ArtefactKind::Service,
            ExecMethod::Task => ArtefactKind::Task,
        }
    }

    fn user(&self) -> String {
        self.user.clone().unwrap_or_default()
    }

    async fn admin_share(&mut self) -> Result<smb::Tree, WindowsError> {
        match self.session.tree_connect("ADMIN$").await {
            Ok(tree) => Ok(tree),
            Err(e) if e.status() == Some(status::ACCESS_DENIED) => Err(denied("ADMIN$", &self.user())),
            Err(source) if source.status() == Some(status::BAD_NETWORK_NAME) => {
                Err(WindowsError::NoAdminShare { source })
            }
            Err(e) => Err(smb_failure(e, |source| WindowsError::Share {
                share: "ADMIN$",
                source,
            })),
        }
    }

    async fn upload(&mut self, tree: &smb::Tree, path: &str, data: &[u8]) -> Result<(), WindowsError> {
        let failed = |e: SmbError| match e.status() {
            // The host's antivirus scans as the file is written or closed.
            Some(code @ (status::VIRUS_INFECTED | status::VIRUS_DELETED)) => WindowsError::VirusDetected {
                path: path.to_string(),
                status: code,
            },
            _ => smb_failure(e, |source| WindowsError::Upload {
                path: path.to_string(),
                source,
            }),
        };
        let open = Open {
            path,
            access: access::READ_DATA | access::WRITE_DATA,
            disposition: disposition::CREATE,
            options: options::NON_DIRECTORY,
            descriptor: None,
        };
        let file = self.session.create(tree, &open).await.map_err(failed)?;
        let written = self.session.write_all(tree, file, data).await;
        let closed = self.session.close(tree, file).await;
        written.map_err(failed)?;
        // Only a scan verdict at close matters; the size check below catches the rest.
        if let Err(e) = closed
            && e.status()
                .is_some_and(|s| matches!(s, status::VIRUS_INFECTED | status::VIRUS_DELETED))
        {
            return Err(failed(e));
        }
        let size = self.session.size(tree, path).await.map_err(failed)?;
        if size != data.len() as u64 {
            return Err(WindowsError::UploadSizeMismatch {
                path: path.to_string(),
                size,
                sent: data.len() as u64,
            });
        }
        Ok(())
    }

    /// The host's answers for `asked`, in one wrapper run as SYSTEM. In a prepared
    /// package's directory with its detect service (deploy); otherwise (`check`,
    /// which asks before any package is prepared) in a directory and with a
    /// service of its own, both removed again before it returns.
    async fn facts(&mut self, asked: &[Requirement]) -> Result<HostAnswers, WindowsError> {
        let own = self.staged.is_none();
        if own {
            self.staged = Some(self.facts_dir());
            self.created = false;
        }
        let asked_here = self.run_facts(asked).await;
        if !own {
            return asked_here;
        }
        let pending = std::mem::take(&mut self.pending);
        let deleted = match self.options.method {
            ExecMethod::Service => exec::delete_services(self, &pending).await,
            ExecMethod::Task => exec::delete_tasks(self, &pending).await,
        };
        if deleted.is_err() {
            // Still there, as far as we know: `cleanup` tries again.
            self.pending = pending;
        }
        let removed = match (self.created, self.staged.clone()) {
            (true, Some(dir)) => self.remove_dir(&dir).await,
            _ => Ok(()),
        };
        if removed.is_ok() {
            self.staged = None;
            self.created = false;
        }
        let answers = asked_here?;
        deleted?;
        removed?;
        Ok(answers)
    }

    async fn run_facts(&mut self, asked: &[Requirement]) -> Result<HostAnswers, WindowsError> {
        let command = facts::command(asked)?;
        let required = asked.iter().find_map(|r| match r {
            Requirement::Command(command) => Some(command),
            _ => None,
        });
        if let Some(required) = required {
            let dir = self.staged.clone().ok_or(WindowsError::NotPrepared)?;
            exec::ensure_dir(self, &dir).await?;
            let tree = self.admin_share().await?;
            let file = facts::command_file(required);
            self.upload(&tree, &format!(r"{dir}\{}", facts::COMMAND_FILE), file.as_bytes())
                .await?;
        }
        let out = exec::run(self, exec::Purpose::Facts, &command, Duration::from_secs(120)).await?;
        let exit = match out.exit {
            super::RemoteExit::Code(code) => code,
            super::RemoteExit::Signal(_) => -1,
        };
        Ok(facts::answers(&out.output.text(), asked, exit))
    }

    /// Create `parent` (`lib\x`) and every directory above it in the staging
    /// directory, each once: new, inside the directory only SYSTEM and
    /// Administrators can touch, whose protection they inherit.
    async fn make_dirs(
        &mut self,
        tree: &smb::Tree,
        dir: &str,
        parent: &str,
        made: &mut Vec<String>,
    ) -> Result<(), WindowsError> {
        let mut path = String::new();
        for part in parent.split('\\') {
            if !path.is_empty() {
                path.push('\\');
            }
            path.push_str(part);
            if made.iter().any(|m| m.eq_ignore_ascii_case(&path)) {
                continue;
            }
            let full = format!(r"{dir}\{path}");
            let open = Open {
                path: &full,
                access: access::READ_ATTRIBUTES,
                disposition: disposition::CREATE,
                options: options::DIRECTORY,
                descriptor: None,
            };
            let failed = |e: SmbError| {
                smb_failure(e, |source| WindowsError::Upload {
                    path: full.clone(),
                    source,
                })
            };
            let handle = self.session.create(tree, &open).await.map_err(failed)?;
            self.session.close(tree, handle).await.map_err(failed)?;
            made.push(path.clone());
        }
        Ok(())
    }

    /// Remove the staging directory with everything in it, including what the
    /// installer unpacked there: files first, then directories, deepest last.
    async fn remove_dir(&mut self, dir: &str) -> Result<(), WindowsError> {
        let tree = self.admin_share().await?;
        let mut to_list = vec![dir.to_string()];
        let mut dirs = Vec::new();
        let mut seen = 0usize;
        while let Some(current) = to_list.pop() {
            let names = match self.session.list(&tree, &current).await {
                Ok(names) => names,
                Err(e) if current == dir && e.status().is_some_and(status::is_missing) => return Ok(()),
                Err(e) => {
                    return Err(smb_failure(e, |source| WindowsError::Cleanup {
                        path: current.clone(),
                        source,
                    }));
                }
            };
            // A tree that never ends is a hostile server, not an installer's files.
            seen += names.len();
            if seen > MAX_CLEANUP_ENTRIES {
                return Err(WindowsError::CleanupTooLarge {
                    path: dir.to_string(),
                    limit: MAX_CLEANUP_ENTRIES,
                });
            }
            for name in names {
                let path = format!(r"{current}\{name}");
                match self.session.delete(&tree, &path, false).await {
                    Ok(()) => {}
                    Err(e) if e.status() == Some(status::FILE_IS_A_DIRECTORY) => to_list.push(path),
                    Err(e) => {
                        return Err(smb_failure(e, |source| WindowsError::DeleteInUse {
                            path,
                            source,
                        }));
                    }
                }
            }
            dirs.push(current);
        }
        for d in dirs.iter().rev() {
            self.session.delete(&tree, d, true).await.map_err(|e| {
                smb_failure(e, |source| WindowsError::Cleanup {
                    path: d.clone(),
                    source,
                })
            })?;
        }
        Ok(())
    }
}

/// How a Kerberos logon attempt ended.
enum Kerberos {
    LoggedOn,
    /// The domain refused the account: no other mechanism would fare better.
    Refused(String),
    /// Kerberos could not be used here (no name, no KDC, KDC down, …).
    Unavailable(String),
}

fn rejection(credential: &Credential, reason: String) -> Rejection {
    Rejection {
        credential: credential.label.clone(),
        reason,
        server_accepts: Vec::new(),
        tried: Vec::new(),
    }
}

impl WindowsConnection {
    fn accepted(
        &mut self,
        credential: &Credential,
        mechanism: &str,
        rejected: Vec<Rejection>,
    ) -> AuthOutcome {
        tracing::debug!(
            "{}: SMB {} session, cipher {}, logged on with {mechanism}",
            self.endpoint.name,
            self.session.dialect(),
            self.session.cipher_name().unwrap_or("none (signed only)")
        );
        self.user = Some(credential.user.clone());
        AuthOutcome {
            accepted: credential.label.clone(),
            rejected,
        }
    }

    async fn login_kerberos(
        &mut self,
        credential: &Credential,
        account: &Account,
        password: &crate::secrets::Secret,
    ) -> Result<Kerberos, WindowsError> {
        // Finding the KDC and the host's name may ask DNS: off the async workers.
        let (windows, user, password) = (
            credential.windows.clone(),
            credential.user.clone(),
            password.clone(),
        );
        let (host, address) = (self.endpoint.name.clone(), self.endpoint.address.clone());
        let prepared =
            tokio::task::spawn_blocking(move || windows.kerberos(&user, &password, &host, &address)).await;
        let logon = match prepared {
            Ok(Ok(logon)) => logon,
            Ok(Err(unready)) => return Ok(Kerberos::Unavailable(error::kerberos_unready(&unready))),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let principal = format!("{}@{}", logon.user, logon.realm);
        let spn = logon.spn.clone();
        let gate = logon::gate(&credential.label);
        let mut proven = gate.lock().await;
        if *proven {
            drop(proven);
            return self
                .kerberos_outcome(credential, account, logon, &principal, &spn)
                .await;
        }
        // Another host may have had this password refused while this one waited.
        if let Some(reason) = logon::refused(&credential.label) {
            return Ok(Kerberos::Refused(format!(
                "{reason} (refused earlier in this run; not tried again)"
            )));
        }
        let outcome = self
            .kerberos_outcome(credential, account, logon, &principal, &spn)
            .await;
        if matches!(outcome, Ok(Kerberos::LoggedOn)) {
            *proven = true;
        }
        outcome
    }

    async fn kerberos_outcome(
        &mut self,
        credential: &Credential,
        account: &Account,
        logon: smb::kerberos::KerberosLogon,
        principal: &str,
        spn: &str,
    ) -> Result<Kerberos, WindowsError> {
        let rpc = smb::kerberos::KerberosLogon {
            spn: format!("host/{}", self.endpoint.name),
            ..logon.clone()
        };
        match self.session.login_kerberos(account, logon).await {
            Ok(()) => {
                self.rpc_kerberos = Some(rpc);
                Ok(Kerberos::LoggedOn)
            }
            Err(LogonError::Kerberos(e)) => {
                let (reason, about_account) = error::kerberos_refusal(&e, principal, spn);
                if about_account {
                    logon::remember_refusal(&credential.label, &reason);
                    Ok(Kerberos::Refused(reason))
                } else {
                    Ok(Kerberos::Unavailable(reason))
                }
            }
            Err(LogonError::Smb(SmbError::Status { status: code, .. }))
                if status::logon_refusal(code).is_some() =>
            {
                Ok(Kerberos::Refused(format!(
                    "{} ({})",
                    status::logon_refusal(code).unwrap_or_default(),
                    status::describe(code)
                )))
            }
            Err(LogonError::Smb(e)) => Err(smb_failure(e, |source| WindowsError::Logon { source })),
        }
    }
}

impl Connection for WindowsConnection {
    fn authenticate<'a>(
        &'a mut self,
        credentials: &'a [Credential],
    ) -> BoxFuture<'a, Result<AuthOutcome, TransportError>> {
        Box::pin(async move {
            let mut rejected = Vec::new();
            for credential in credentials {
                let password = credential.methods.iter().find_map(|m| match m {
                    AuthMethod::Password(p) => Some(p.clone()),
                    _ => None,
                });
                // A keytab holds the key, a ticket cache the TGT: no password, and
                // Kerberos only (below).
                let secretless =
                    credential.windows.keytab.is_some() || credential.windows.ticket_cache.is_some();
                let password =
                    password.or_else(|| secretless.then(|| crate::secrets::Secret::new(String::new())));
                let Some(password) = password else {
                    rejected.push(Rejection {
                        credential: credential.label.clone(),
                        reason: "Windows logons need a password; this credential has none".into(),
                        server_accepts: Vec::new(),
                        tried: Vec::new(),
                    });
                    continue;
                };
                // A password the KDC refused earlier this run is not sent again.
                if let Some(reason) = logon::refused(&credential.label) {
                    rejected.push(rejection(
                        credential,
                        format!("{reason} (refused earlier in this run; not tried again)"),
                    ));
                    continue;
                }
                let account = Account::parse(&credential.user);
                let kerberos_only = credential.windows.mechanism == Mechanism::Kerberos || secretless;
                let kerberos_first = credential.windows.kerberos_first(&credential.user);
                // Why Kerberos could not be used, said with NTLM's refusal if NTLM fails too.
                let mut kerberos_unavailable = None;
                if kerberos_first {
                    match self.login_kerberos(credential, &account, &password).await? {
                        Kerberos::LoggedOn => return Ok(self.accepted(credential, "Kerberos", rejected)),
                        Kerberos::Refused(reason) => {
                            rejected.push(rejection(credential, reason));
                            continue;
                        }
                        Kerberos::Unavailable(reason) if kerberos_only => {
                            rejected.push(rejection(credential, reason));
                            continue;
                        }
                        Kerberos::Unavailable(reason) => kerberos_unavailable = Some(reason),
                    }
                }
                match self.session.login(&account, &password).await {
                    Ok(()) => return Ok(self.accepted(credential, "NTLM", rejected)),
                    // The host refuses NTLM: a negotiating credential takes Kerberos.
                    Err(SmbError::Status { status: code, .. })
                        if code == status::NTLM_BLOCKED
                            && !kerberos_first
                            && credential.windows.mechanism == Mechanism::Negotiate =>
                    {
                        match self.login_kerberos(credential, &account, &password).await? {
                            Kerberos::LoggedOn => return Ok(self.accepted(credential, "Kerberos", rejected)),
                            Kerberos::Refused(reason) => rejected.push(rejection(credential, reason)),
                            Kerberos::Unavailable(reason) => rejected.push(rejection(
                                credential,
                                format!(
                                    "{} ({}); {reason}",
                                    status::logon_refusal(code).unwrap_or_default(),
                                    status::describe(code)
                                ),
                            )),
                        }
                    }
                    Err(SmbError::Status { status: code, .. }) if status::logon_refusal(code).is_some() => {
                        let ntlm = format!(
                            "{} ({})",
                            status::logon_refusal(code).unwrap_or_default(),
                            status::describe(code)
                        );
                        let reason = match kerberos_unavailable.take() {
                            Some(kerberos) => format!("{kerberos}; and NTLM: {ntlm}"),
                            None => ntlm,
                        };
                        rejected.push(rejection(credential, reason))
                    }
                    Err(e) => return Err(smb_failure(e, |source| WindowsError::Logon { source }).into()),
                }
            }
            Err(TransportError::AuthRejected(rejected))
        })
    }

    fn detect<'a>(&'a mut self, detect: &'a Detect) -> BoxFuture<'a, Result<bool, TransportError>> {
        Box::pin(async move {
            let command = match detect {
                Detect::Command(command) => wrapper::Command::plain(command.clone()),
                Detect::Registry { key, value, view, .. } => wrapper::reg_query(key, value, *view)?,
            };
            let out = exec::run(self, exec::Purpose::Detect, &command, Duration::from_secs(120)).await?;
            let found = out.exit == super::RemoteExit::Code(0);
            match detect {
                Detect::Registry {
                    value,
                    min_version: Some(min),
                    ..
                } if found => Ok(registry::data(&out.output.text(), value)
                    .is_some_and(|data| registry::at_least(&data, min))),
                _ => Ok(found),
            }
        })
    }

    fn requires<'a>(
        &'a mut self,
        requires: &'a [Requirement],
    ) -> BoxFuture<'a, Result<Option<Unmet>, TransportError>> {
        Box::pin(async move {
            // Free space is measured on a drive: a package for both systems says `/`.
            let requires: Vec<Requirement> = requires
                .iter()
                .map(|r| match r {
                    Requirement::FreeMib { mib, path } => Requirement::FreeMib {
                        mib: *mib,
                        path: facts::free_path(path),
                    },
                    other => other.clone(),
                })
                .collect();
            let answers = self.facts(&requires).await?;
            Ok(crate::inventory::requires::evaluate(&requires, &answers))
        })
    }

    fn answers<'a>(
        &'a mut self,
        asked: &'a [Requirement],
    ) -> BoxFuture<'a, Result<HostAnswers, TransportError>> {
        Box::pin(async move { Ok(self.facts(asked).await?) })
    }

    fn prepare(&mut self, _package: &str) -> Vec<Artefact> {
        // Directly in C:\Windows, where only administrators may create anything,
        // and never in C:\Windows\Temp, where every local user can.
        let dir = format!("pushinst-{}", hex(&self.tag));
        let service = hex(&self.tag[..8]);
        let (prefix, kind) = match self.options.method {
            ExecMethod::Service => ("", ArtefactKind::Service),
            ExecMethod::Task => ("\\", ArtefactKind::Task),
        };
        self.services = vec![
            format!("{prefix}pushinst-{service}-d"),
            format!("{prefix}pushinst-{service}"),
        ];
        self.staged = Some(dir.clone());
        let mut artefacts = vec![Artefact {
            kind: ArtefactKind::Directory,
            path: dir,
        }];
        artefacts.extend(self.services.iter().map(|name| Artefact {
            kind,
            path: name.clone(),
        }));
        artefacts
    }

    fn preflight(&mut self) -> Vec<Artefact> {
        vec![
            Artefact {
                kind: ArtefactKind::Directory,
                path: self.probe_dir(),
            },
            Artefact {
                kind: ArtefactKind::Directory,
                path: self.facts_dir(),
            },
            Artefact {
                kind: self.exec_kind(),
                path: self.facts_service(),
            },
        ]
    }

    fn stage<'a>(
        &'a mut self,
        payloads: &'a [Payload],
        _install: &'a Install,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let dir = self.staged.clone().ok_or(WindowsError::NotPrepared)?;
            exec::ensure_dir(self, &dir).await?;
            let tree = self.admin_share().await?;
            // A folder's files come sorted, each directory before what is in it.
            let mut made: Vec<String> = Vec::new();
            for payload in payloads {
                let relative = payload.file_name.replace('/', "\\");
                if let Some((parent, _)) = relative.rsplit_once('\\') {
                    self.make_dirs(&tree, &dir, parent, &mut made).await?;
                }
                self.upload(&tree, &format!(r"{dir}\{relative}"), &payload.data)
                    .await?;
            }
            Ok(())
        })
    }

    fn execute<'a>(&'a mut self, install: &'a Install) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            // A folder's entry is named with `/`, which cmd would read as a switch.
            let program = install.program.replace('/', "\\");
            let command = wrapper::install_command(&program, &install.args)?;
            Ok(exec::run(self, exec::Purpose::Install, &command, install.timeout).await?)
        })
    }

    fn cleanup(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let pending = std::mem::take(&mut self.pending);
            self.services.clear();
            let dir = self.staged.take();
            match self.options.method {
                ExecMethod::Service => exec::delete_services(self, &pending).await?,
                ExecMethod::Task => exec::delete_tasks(self, &pending).await?,
            }
            if !self.created {
                return Ok(());
            }
            if let Some(dir) = dir {
                self.remove_dir(&dir).await?;
            }
            self.created = false;
            Ok(())
        })
    }

    fn remove<'a>(&'a mut self, artefacts: &'a [Artefact]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let services: Vec<String> = artefacts
                .iter()
                .filter(|a| a.kind == ArtefactKind::Service)
                .map(|a| a.path.clone())
                .collect();
            exec::delete_services(self, &services).await?;
            let tasks: Vec<String> = artefacts
                .iter()
                .filter(|a| a.kind == ArtefactKind::Task)
                .map(|a| a.path.clone())
                .collect();
            exec::delete_tasks(self, &tasks).await?;
            for a in artefacts.iter().filter(|a| a.kind == ArtefactKind::Directory) {
                self.remove_dir(&a.path).await?;
            }
            Ok(())
        })
    }

    fn probe(&mut self, _needs: u64) -> BoxFuture<'_, Result<super::HostFacts, TransportError>> {
        Box::pin(async move {
            // ADMIN$ writable: a staging directory made exactly as `stage` makes
            // one (new, locked to SYSTEM and Administrators), then removed.
            let dir = self.probe_dir();
            self.staged = Some(dir.clone());
            self.created = false;
            let made = exec::ensure_dir(self, &dir).await;
            let removed = match self.created {
                true => self.remove_dir(&dir).await,
                false => Ok(()),
            };
            // Kept when it may still be there, for `cleanup`; the probe stops then.
            if removed.is_ok() {
                self.staged = None;
                self.created = false;
            }
            made?;
            removed?;
            // A task-run deploy never opens the service manager; a service-run one
            // needs it with create rights.
            if self.options.method == ExecMethod::Service {
                exec::scm_opens(self).await?;
            }
            // The facts, as deploy learns them: one wrapper run as SYSTEM.
            let asked = [
                Requirement::Arch(Vec::new()),
                Requirement::Build(crate::inventory::VersionReq {
                    op: crate::inventory::requires::Cmp::Ge,
                    version: "0".into(),
                }),
                Requirement::FreeMib {
                    mib: 0,
                    path: SYSTEM_DRIVE.to_string(),
                },
            ];
            let answers = self.facts(&asked).await?;
            Ok(super::HostFacts {
                os: Some("windows".to_string()),
                arch: answers.arch,
                os_release: answers.build.map(|b| format!("build {b}")),
                free_kib: answers.free_kib,
            })
        })
    }

    fn reboot<'a>(
        &'a mut self,
        delay: Duration,
        message: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let command = wrapper::shutdown(delay, message)?;
            // Through a wrapper of its own, like an installer, so that `shutdown`'s
            // exit code says whether the reboot was scheduled.
            self.staged = Some(format!("pushinst-{}-r", hex(&self.tag)));
            self.created = false;
            let ran = exec::run(self, exec::Purpose::Reboot, &command, REBOOT_WAIT).await;
            let cleaned = self.cleanup().await;
            match ran?.exit {
                super::RemoteExit::Code(0) => {}
                super::RemoteExit::Code(code) => return Err(WindowsError::RebootRefused { code }.into()),
                super::RemoteExit::Signal(_) => return Err(WindowsError::RebootRefused { code: -1 }.into()),
            }
            cleaned
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.session.logoff().await })
    }
}

/// For [`crate::fuzzing`]: the parsers of what a Windows host prints.
pub mod fuzz {
    use crate::inventory::Requirement;
    use crate::inventory::requires::{RegistryData, evaluate};

    /// The facts wrapper's output, read back as every requirement asks it, and judged.
    pub fn facts(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let asked = [
            Requirement::Arch(vec!["x86_64".into()]),
            Requirement::Build(crate::inventory::VersionReq {
                op: crate::inventory::requires::Cmp::Ge,
                version: "17763.5329".into(),
            }),
            Requirement::FreeMib {
                mib: 500,
                path: crate::inventory::requires::SYSTEM_DRIVE.into(),
            },
            Requirement::Registry {
                key: r"HKLM\SOFTWARE\Acme".into(),
                value: "IsLocked".into(),
                equals: Some(RegistryData::Number(0)),
                view: None,
            },
            Requirement::Command("exit /b 0".into()),
        ];
        let answers = super::facts::answers(&text, &asked, 0);
        let _ = evaluate(&asked, &answers);
        let text_equals = [Requirement::Registry {
            key: r"HKLM\SOFTWARE\Acme".into(),
            value: "IsLocked".into(),
            equals: Some(RegistryData::Text("yes".into())),
            view: None,
        }];
        let _ = evaluate(&text_equals, &answers);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
