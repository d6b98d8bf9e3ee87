//! Linux targets over SSH (russh): one connection per host carries detect, upload
//! (streamed through an exec channel), verify, execute and cleanup, one channel at a
//! time (each closed, and its close seen, before the next opens: `MaxSessions 1`).

pub mod algorithms;
mod auth;
mod error;
mod exec;
mod host_key;
pub(crate) mod known_hosts;
mod meter;
mod probe;
mod quote;
mod requires;
mod stage;
mod tar;
mod wrapper;

/// The fuzz target's way in (see `crate::fuzzing::ssh_report`).
pub(crate) mod fuzz {
    /// What the wrapper or the staging script printed, fed in uneven pieces.
    pub fn report(data: &[u8]) {
        let mut report = super::wrapper::Report::new("0123456789abcdef", 4096);
        for piece in data.chunks(61) {
            report.feed(piece);
            let _ = report.prompts_so_far();
        }
        report.finish();
    }
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};

use algorithms::Algorithms;

use crate::inventory::Requirement;
use crate::outcome::Unmet;
use error::SSH_REFUSED;
pub use error::SshError;
pub use host_key::HostKeyCheck;
use host_key::{Client, ClientError};

use super::{
    Artefact, ArtefactKind, AuthOutcome, BoxFuture, Connection, Connector, Credential, Detect, Endpoint,
    ExecOutput, HostFacts, Install, Payload, TransportError,
};

/// Opens SSH connections for one run.
pub struct SshConnector {
    shared: Arc<Shared>,
    /// The directory staging directories go in; `None` is the login home.
    staging_dir: Option<String>,
    algorithms: Arc<Algorithms>,
    config: Arc<client::Config>,
    /// An upload that moves nothing for this long is stalled (connect_timeout).
    stall: Duration,
}

/// The stall limit until the run gives its connect_timeout.
const DEFAULT_STALL: Duration = Duration::from_secs(10);

struct Shared {
    check: Arc<HostKeyCheck>,
    /// Names the staging directory, so leftovers can be traced to a run.
    run_id: String,
    /// One russh configuration per set of algorithms in the run, shared by its hosts.
    configs: Mutex<HashMap<Algorithms, Arc<client::Config>>>,
}

impl Shared {
    fn config(&self, algorithms: &Algorithms) -> Arc<client::Config> {
        let mut configs = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        configs
            .entry(algorithms.clone())
            .or_insert_with(|| {
                Arc::new(client::Config {
                    // Each step has its own timeout in the runner; russh must not add another.
                    inactivity_timeout: None,
                    nodelay: true,
                    preferred: algorithms.preferred(),
                    ..Default::default()
                })
            })
            .clone()
    }
}

impl SshConnector {
    pub fn new(check: HostKeyCheck, run_id: &str) -> Self {
        let shared = Arc::new(Shared {
            check: Arc::new(check),
            run_id: run_id.to_string(),
            configs: Mutex::new(HashMap::new()),
        });
        let algorithms = Algorithms::default();
        SshConnector {
            config: shared.config(&algorithms),
            shared,
            staging_dir: None,
            algorithms: Arc::new(algorithms),
            stall: DEFAULT_STALL,
        }
    }

    /// The same connector, calling an upload stalled once nothing moved for `stall`
    /// (the run's connect_timeout: a host that answers at all answers within it).
    pub fn stall_after(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// The same run's connector for one host: staging in the absolute path `dir`
    /// (the login home when `None`), offering `algorithms`.
    pub fn for_host(&self, dir: Option<&str>, algorithms: &Arc<Algorithms>) -> Self {
        SshConnector {
            shared: self.shared.clone(),
            staging_dir: dir.map(|d| d.trim_end_matches('/').to_string()),
            config: self.shared.config(algorithms),
            algorithms: algorithms.clone(),
            stall: self.stall,
        }
    }
}

impl Connector for SshConnector {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
    ) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        Box::pin(async move {
            let (handle, meter) = open(&self.shared, &self.config, &self.algorithms, endpoint).await?;
            Ok(Box::new(SshConnection {
                shared: self.shared.clone(),
                config: self.config.clone(),
                algorithms: self.algorithms.clone(),
                staging_dir: self.staging_dir.clone(),
                stall: self.stall,
                stalled: false,
                conf: None,
                endpoint: endpoint.clone(),
                handle,
                meter,
                user: None,
                credential: None,
                staged: None,
                created: false,
                payloads: Vec::new(),
            }) as Box<dyn Connection>)
        })
    }
}

async fn open(
    shared: &Shared,
    config: &Arc<client::Config>,
    algorithms: &Algorithms,
    endpoint: &Endpoint,
) -> Result<(Handle<Client>, meter::Meter), SshError> {
    let address = &endpoint.address;
    let port = endpoint.port;
    let stream = super::net::dial(address, port, SSH_REFUSED).await?;
    let _ = stream.set_nodelay(true);
    let (stream, meter) = meter::Metered::new(stream);
    let handler = Client {
        host: endpoint.name.clone(),
        port,
        check: shared.check.clone(),
    };
    let handle = client::connect_stream(config.clone(), stream, handler)
        .await
        .map_err(|e| match e {
            ClientError::HostKey(e) => e,
            ClientError::Ssh(russh::Error::NoCommonAlgo { kind, theirs, .. }) => {
                error::no_common(kind, theirs, algorithms)
            }
            ClientError::Ssh(source) => SshError::Handshake { source },
        })?;
    Ok((handle, meter))
}

pub struct SshConnection {
    shared: Arc<Shared>,
    config: Arc<client::Config>,
    algorithms: Arc<Algorithms>,
    staging_dir: Option<String>,
    stall: Duration,
    /// An upload stalled: the link carries nothing, so nothing more is sent on it.
    stalled: bool,
    /// The wrapper's settings staged with the files, for `execute` to use.
    conf: Option<exec::StagedConf>,
    endpoint: Endpoint,
    handle: Handle<Client>,
    /// What `handle`'s socket has taken: uploads wait on it (see meter.rs).
    meter: meter::Meter,
    /// The user name this connection has tried to log in as; OpenSSH refuses a change.
    user: Option<String>,
    credential: Option<Credential>,
    /// The staging directory: absolute, or relative to the login user's home.
    staged: Option<String>,
    /// Whether `stage` began creating it (so cleanup has something to remove).
    created: bool,
    /// What was staged, for the wrapper to check on the target.
    payloads: Vec<Payload>,
}

impl SshConnection {
    async fn reconnect(&mut self) -> Result<(), TransportError> {
        (self.handle, self.meter) =
            open(&self.shared, &self.config, &self.algorithms, &self.endpoint).await?;
        self.user = None;
        Ok(())
    }

    fn sudo(&self) -> Option<&super::Sudo> {
        self.credential.as_ref().and_then(|c| c.sudo.as_ref())
    }

    /// Stage `payloads` (room for `needs` bytes, when given, instead of theirs); the
    /// bytes free where they went, when the host could say.
    async fn upload(
        &mut self,
        payloads: &[Payload],
        needs: Option<u64>,
        install: &Install,
    ) -> Result<Option<u64>, TransportError> {
        let dir = self.staged.clone().ok_or(SshError::NotPrepared)?;
        self.created = true;
        self.payloads = payloads.to_vec();
        let user = self.user.clone().unwrap_or_default();
        // The wrapper's settings travel with the files: no exchange of their own.
        let conf = exec::StagedConf::new(install, payloads, self.sudo());
        let result = stage::upload(
            &self.handle,
            self.meter.clone(),
            &dir,
            payloads,
            needs,
            conf.text.as_bytes(),
            &user,
            self.stall,
        )
        .await;
        self.conf = result.is_ok().then_some(conf);
        if let Err(TransportError::Ssh(SshError::Stalled { .. })) = &result {
            self.stalled = true;
        }
        result
    }

    /// The staging directory for `package`: absolute, or relative to the login home.
    fn staging_path(&self, package: &str) -> String {
        // Per host as well as per run: homes on NFS are shared between hosts.
        let safe = |text: &str| -> String {
            text.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let name = format!(
            ".pushinst-{}-{}-{}-{}",
            self.shared.run_id,
            safe(package),
            safe(&self.endpoint.name),
            self.endpoint.port
        );
        match &self.staging_dir {
            Some(base) => format!("{base}/{name}"),
            None => name,
        }
    }

    /// After a stall nothing reaches the host: say so at once instead of waiting out
    /// another limit. The staging script removes its partial upload itself when the
    /// connection goes.
    fn usable(&self) -> Result<(), TransportError> {
        if self.stalled {
            return Err(SshError::Stalled { waited: self.stall }.into());
        }
        Ok(())
    }
}

impl Connection for SshConnection {
    fn authenticate<'a>(
        &'a mut self,
        credentials: &'a [Credential],
    ) -> BoxFuture<'a, Result<AuthOutcome, TransportError>> {
        Box::pin(auth::authenticate(self, credentials))
    }

    fn detect<'a>(&'a mut self, detect: &'a Detect) -> BoxFuture<'a, Result<bool, TransportError>> {
        Box::pin(async move {
            let Detect::Command(command) = detect else {
                return Err(SshError::RegistryCheckOnLinux.into());
            };
            let user = self.user.clone().unwrap_or_default();
            let exit = exec::sh(&self.handle, &user, command).await?;
            Ok(exit == super::RemoteExit::Code(0))
        })
    }

    fn requires<'a>(
        &'a mut self,
        requires: &'a [Requirement],
    ) -> BoxFuture<'a, Result<Option<Unmet>, TransportError>> {
        Box::pin(async move {
            let user = self.user.clone().unwrap_or_default();
            let text = exec::sh_output(&self.handle, &user, &requires::script(requires)).await?;
            Ok(crate::inventory::requires::evaluate(
                requires,
                &requires::answers(&text),
            ))
        })
    }

    fn answers<'a>(
        &'a mut self,
        asked: &'a [Requirement],
    ) -> BoxFuture<'a, Result<crate::inventory::requires::HostAnswers, TransportError>> {
        Box::pin(async move {
            let user = self.user.clone().unwrap_or_default();
            let text = exec::sh_output(&self.handle, &user, &requires::script(asked)).await?;
            Ok(requires::answers(&text))
        })
    }

    fn prepare(&mut self, package: &str) -> Vec<Artefact> {
        let dir = self.staging_path(package);
        // Set before the directory exists, so cleanup covers a half-done upload.
        self.staged = Some(dir.clone());
        vec![Artefact {
            kind: ArtefactKind::Directory,
            path: dir,
        }]
    }

    fn preflight(&mut self) -> Vec<Artefact> {
        // The probe stages into a package's directory, named for no package.
        vec![Artefact {
            kind: ArtefactKind::Directory,
            path: self.staging_path(probe::ITEM),
        }]
    }

    fn stage<'a>(
        &'a mut self,
        payloads: &'a [Payload],
        install: &'a Install,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move { self.upload(payloads, None, install).await.map(drop) })
    }

    fn execute<'a>(&'a mut self, install: &'a Install) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        Box::pin(async move {
            let dir = self.staged.clone().ok_or(SshError::NothingStaged)?;
            let user = self.user.clone().unwrap_or_default();
            let staged = self.conf.take();
            let ran = exec::install(
                &self.handle,
                &dir,
                install,
                &self.payloads,
                &user,
                self.sudo(),
                staged.as_ref(),
            )
            .await;
            if ran.removed {
                // The wrapper removed the directory itself: nothing left for cleanup.
                self.created = false;
            }
            ran.result
        })
    }

    fn cleanup(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let Some(dir) = self.staged.clone().filter(|_| self.created) else {
                self.staged = None;
                return Ok(());
            };
            self.usable()?;
            exec::remove_dir(&self.handle, &dir).await?;
            self.staged = None;
            self.created = false;
            Ok(())
        })
    }

    fn remove<'a>(&'a mut self, artefacts: &'a [Artefact]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.usable()?;
            for artefact in artefacts {
                match artefact.kind {
                    ArtefactKind::Directory => exec::remove_dir(&self.handle, &artefact.path).await?,
                    ArtefactKind::Service | ArtefactKind::Task => {}
                }
            }
            Ok(())
        })
    }

    fn probe(&mut self, needs: u64) -> BoxFuture<'_, Result<HostFacts, TransportError>> {
        Box::pin(async move {
            self.prepare(probe::ITEM).pop().ok_or(SshError::NotPrepared)?;
            // Staged as an installer would be, with the room the package needs.
            let payload = probe::payload();
            let mut free = None;
            let ran = match self
                .upload(std::slice::from_ref(&payload), Some(needs), &probe::install())
                .await
            {
                Ok(room) => {
                    free = room;
                    self.execute(&probe::install()).await
                }
                Err(e) => Err(e),
            };
            // Always, whatever happened: a check leaves nothing on the host.
            let cleaned = self.cleanup().await;
            let out = ran?;
            cleaned?;
            let sudo_user = self.sudo().map(|_| self.user.clone().unwrap_or_default());
            probe::facts(out, free, sudo_user.as_deref())
        })
    }

    fn reboot<'a>(
        &'a mut self,
        delay: Duration,
        message: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let user = self.user.clone().unwrap_or_default();
            exec::reboot(&self.handle, delay, message, &user, self.sudo()).await
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        })
    }
}
