//! Starting a run, for every command that starts one (deploy, sync, run, retry):
//! inventory targets → plan → (secrets, payloads, transports, history) → runner →
//! reporters. The only place that knows all of them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::cli::{Cli, OutputFormat, RunArgs};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::history::{History, NewRun, RunLedger};
use crate::inventory::{CredentialDef, HostKeyPolicy, Inventory, Os, RebootPolicy, Target, WindowsExec};
use crate::outcome::Skip;
use crate::plan::{self, InstallPlan, Plan, PlanOptions};
use crate::report::{self, HostLogs, JsonLines, Lines, Progress, Sink, Summary};
use crate::runner::{self, Cancel, EventSink, ExitCodes, HostJob, PackageJob, RunConfig, Until, Work};
use crate::secrets::Redactor;
use crate::transport::smb::Encryption;
use crate::transport::ssh::{HostKeyCheck, SshConnector};
use crate::transport::windows::{ExecMethod, WindowsConnector, WindowsOptions};
use crate::transport::{AuthMethod, Connector, Credential, Endpoint, Install, Payload, Sudo};

/// How often a Windows host is asked whether the installer has finished.
const WINDOWS_POLL: std::time::Duration = std::time::Duration::from_millis(500);
use crate::window;

/// What to run, wherever the request came from.
pub struct RunRequest {
    /// The command that started it, as the history shows it.
    pub command: &'static str,
    pub job: Option<String>,
    pub packages: Vec<String>,
    pub targets: Vec<Target>,
    /// A job's policy, over each package's own.
    pub reboot: Option<RebootPolicy>,
    pub selection: Selection,
}

/// Which host+package pairs of the plan to work on.
#[derive(Debug, Default)]
pub enum Selection {
    #[default]
    All,
    /// `sync`: those with no success on record.
    Missing,
    /// `retry`: exactly these (host label, package).
    Only(std::collections::HashSet<(String, String)>),
}

/// Timeouts and the pool from the inventory, overridden by the command line.
pub fn plan_options(inv: &Inventory, args: &RunArgs, reboot: Option<RebootPolicy>) -> PlanOptions {
    let mut timeouts = inv.settings.timeouts.clone();
    if let Some(t) = args.connect_timeout {
        timeouts.connect = t.into();
    }
    if let Some(t) = args.host_timeout {
        timeouts.host = t.into();
    }
    PlanOptions {
        concurrency: args.concurrency.map(|c| c as usize),
        reboot,
        timeouts,
        exec_timeout: args.exec_timeout.map(Into::into),
        force: args.force,
    }
}

/// The history database for this inventory: `--state`, `settings.state`, or the default.
pub fn open_history(cli: &Cli, inv: Option<&Inventory>) -> Result<History, AppError> {
    let path = cli
        .state
        .clone()
        .or_else(|| inv.and_then(|i| i.settings.state.clone()))
        .unwrap_or_else(|| state_dir().join("history.db"));
    Ok(History::open(&path)?)
}

pub async fn launch(cli: &Cli, inv: &Inventory, args: &RunArgs, request: RunRequest) -> Result<u8, AppError> {
    let until = args.until.as_deref().map(window::parse).transpose()?;
    let options = plan_options(inv, args, request.reboot);
    let plan = plan::plan(inv, &request.packages, request.targets, options)?;
    if args.dry_run {
        report::write_out(&mut std::io::stdout(), &plan::render(&plan, &inv.credentials));
        return Ok(EXIT_OK);
    }
    let history = Arc::new(open_history(cli, Some(inv))?);

    // Everything that can fail on our side fails here, before any host is touched.
    let mut redactor = Redactor::default();
    let credentials = resolve_credentials(inv, &plan, &mut redactor)?;
    let run_id = new_run_id();
    let jobs = build_jobs(
        inv,
        &plan,
        &credentials,
        &run_id,
        &history,
        &request.selection,
        args.exec,
    )?;
    if jobs.is_empty() {
        if cli.output == OutputFormat::Human && !cli.quiet {
            report::write_out(
                &mut std::io::stdout(),
                "nothing to do: every target has these packages on record as installed\n",
            );
        }
        return Ok(EXIT_OK);
    }
    let log_dir = log_dir(inv, args, &history, &run_id);
    let logs = HostLogs::create(&log_dir).map_err(|source| AppError::Io {
        what: format!("cannot create the log directory {}", log_dir.display()),
        source,
    })?;
    let packages: Vec<String> = plan.packages.iter().map(|p| p.name.clone()).collect();
    history.begin_run(&NewRun {
        id: &run_id,
        command: request.command,
        job: request.job.as_deref(),
        packages: &packages,
        log_dir: Some(&log_dir),
        slots: &slots(&jobs),
    })?;

    let (sink, events) = EventSink::new();
    let sinks = sinks(cli, logs);
    let summary = Summary::new(Some(log_dir.clone()));
    let reporter = tokio::task::spawn_blocking(move || report::consume(events, sinks, summary));
    let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
    let signals = tokio::spawn(watch_signals(cancel_tx));

    let config = RunConfig {
        ledger: Arc::new(RunLedger::new(history.clone(), &run_id, Some(log_dir))),
        run_id: run_id.clone(),
        packages,
        concurrency: plan.concurrency,
        timeouts: plan.timeouts.clone(),
        force: plan.force,
        redactor,
        until: until.map(|(at, label)| Until {
            at: window::instant(at),
            label,
        }),
        notice: inv.settings.reboot.clone(),
    };
    let stats = runner::run(jobs, config, sink, cancel_rx.clone()).await;
    let interrupted = *cancel_rx.borrow() != Cancel::None;
    signals.abort();
    if let Err(e) = history.end_run(&run_id) {
        tracing::warn!("could not record the end of run {run_id}: {e}");
    }
    let summary = reporter.await.unwrap_or_default();
    if let Some(text) = summary.text() {
        if cli.output == OutputFormat::Json {
            report::write_out(&mut std::io::stderr(), text);
        } else {
            report::write_out(&mut std::io::stdout(), text);
        }
    }
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if stats.all_succeeded() {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    })
}

/// `--log-dir`, else `settings.log_dir/RUN`, else `logs/RUN` beside the history.
fn log_dir(inv: &Inventory, args: &RunArgs, history: &History, run_id: &str) -> PathBuf {
    let dir = args
        .log_dir
        .clone()
        .or_else(|| inv.settings.log_dir.as_ref().map(|d| d.join(run_id)))
        .unwrap_or_else(|| logs_beside(history.path()).join(run_id));
    // The summary names it, often in a cron mail read elsewhere: make it absolute.
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Every host+package the run will work on, for the history.
fn slots(jobs: &[HostJob]) -> Vec<(String, String, Option<String>)> {
    jobs.iter()
        .flat_map(|job| {
            job.work
                .items()
                .into_iter()
                .map(|(item, version)| (job.label.clone(), item, version))
        })
        .collect()
}

fn sinks(cli: &Cli, logs: HostLogs) -> Vec<Box<dyn Sink>> {
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(logs)];
    match (cli.output, cli.quiet) {
        (OutputFormat::Json, _) => sinks.push(Box::new(JsonLines::new(std::io::stdout()))),
        (OutputFormat::Human, true) => {}
        (OutputFormat::Human, false)
            if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() =>
        {
            sinks.push(Box::new(Progress::new()))
        }
        (OutputFormat::Human, false) => sinks.push(Box::new(Lines::new(std::io::stdout(), cli.verbose > 0))),
    }
    sinks
}

/// First Ctrl-C (or SIGTERM): start no new host. Second: abort the running ones.
async fn watch_signals(cancel: watch::Sender<Cancel>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return;
    };
    for level in [Cancel::Stop, Cancel::Abort] {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        let _ = cancel.send(level);
    }
}

/// Read every secret the plan needs, once, prompting where the inventory says so.
fn resolve_credentials(
    inv: &Inventory,
    plan: &Plan,
    redactor: &mut Redactor,
) -> Result<BTreeMap<String, Credential>, AppError> {
    resolve_for(inv, plan.hosts.iter().map(|h| &h.target), redactor)
}

/// Read the secrets of every credential these targets may use, each once.
pub fn resolve_for<'a>(
    inv: &Inventory,
    targets: impl Iterator<Item = &'a Target>,
    redactor: &mut Redactor,
) -> Result<BTreeMap<String, Credential>, AppError> {
    let mut out = BTreeMap::new();
    for name in targets.flat_map(|t| t.credentials.iter()) {
        if out.contains_key(name) {
            continue;
        }
        let Some(def) = inv.credentials.get(name) else {
            continue;
        };
        let credential = credential(def, redactor).map_err(|source| AppError::Secret {
            credential: name.clone(),
            source,
        })?;
        out.insert(name.clone(), credential);
    }
    Ok(out)
}

fn credential(
    def: &CredentialDef,
    redactor: &mut Redactor,
) -> Result<Credential, crate::secrets::SecretError> {
    let what = |thing: &str| format!("{thing} for credential {} (user {})", def.name, def.user);
    let mut resolve = |source: &crate::secrets::SecretSource, thing: &str| {
        let secret = source.resolve(&what(thing))?;
        redactor.add(&secret);
        Ok::<_, crate::secrets::SecretError>(secret)
    };
    let password = def
        .password
        .as_ref()
        .map(|s| resolve(s, "password"))
        .transpose()?;
    let passphrase = def
        .passphrase
        .as_ref()
        .map(|s| resolve(s, "key passphrase"))
        .transpose()?;
    let sudo_password = def
        .sudo_password
        .as_ref()
        .map(|s| resolve(s, "sudo password"))
        .transpose()?;
    // Cheapest and safest first: the agent, then a key, then a password.
    let mut methods = Vec::new();
    if def.agent {
        methods.push(AuthMethod::Agent);
    }
    if let Some(path) = &def.key {
        methods.push(AuthMethod::Key {
            path: path.clone(),
            passphrase,
        });
    }
    if let Some(password) = &password {
        methods.push(AuthMethod::Password(password.clone()));
    }
    let sudo = def.sudo.then(|| match sudo_password.or(password) {
        Some(secret) => Sudo::Password(secret),
        None => Sudo::NoPassword,
    });
    Ok(Credential {
        label: def.name.clone(),
        user: def.user.clone(),
        methods,
        sudo,
    })
}

/// The connectors every host of this run shares.
pub struct Connectors {
    ssh: Arc<dyn Connector>,
    windows_service: Arc<dyn Connector>,
    windows_task: Arc<dyn Connector>,
    /// `--exec`: wins over every host's own method.
    exec: Option<WindowsExec>,
}

impl Connectors {
    pub fn new(inv: &Inventory, run_id: &str, exec: Option<WindowsExec>) -> Result<Self, AppError> {
        let known_hosts = inv
            .settings
            .known_hosts
            .clone()
            .unwrap_or_else(|| home().join(".ssh").join("known_hosts"));
        let accept_new = inv.settings.host_key_policy == HostKeyPolicy::AcceptNew;
        if accept_new && let Some(dir) = known_hosts.parent() {
            std::fs::create_dir_all(dir).map_err(|source| AppError::Io {
                what: format!("cannot create {}", dir.display()),
                source,
            })?;
        }
        let windows = |method| -> Arc<dyn Connector> {
            Arc::new(WindowsConnector::new(
                WindowsOptions {
                    encryption: if inv.settings.smb_encryption_required {
                        Encryption::Required
                    } else {
                        Encryption::IfAsked
                    },
                    method,
                    poll: WINDOWS_POLL,
                },
                run_id,
            ))
        };
        Ok(Connectors {
            ssh: Arc::new(SshConnector::new(
                HostKeyCheck {
                    known_hosts,
                    accept_new,
                },
                run_id,
            )),
            windows_service: windows(ExecMethod::Service),
            windows_task: windows(ExecMethod::Task),
            exec,
        })
    }

    /// The connector for this target and where it listens.
    pub fn endpoint(&self, t: &Target) -> (Arc<dyn Connector>, Endpoint) {
        let (connector, port) = match (t.os, self.exec.unwrap_or(t.exec)) {
            (Os::Linux, _) => (self.ssh.clone(), 22),
            (Os::Windows, WindowsExec::Service) => (self.windows_service.clone(), 445),
            (Os::Windows, WindowsExec::Task) => (self.windows_task.clone(), 445),
        };
        let endpoint = Endpoint {
            name: t.name.clone(),
            address: t.address.clone(),
            port: t.port.unwrap_or(port),
        };
        (connector, endpoint)
    }
}

/// The target's credentials in inventory order, except that the one that got in
/// last time on this host goes first.
fn credentials_for(
    t: &Target,
    credentials: &BTreeMap<String, Credential>,
    history: &History,
) -> Result<Vec<Credential>, AppError> {
    let last = history.last_credential(&t.label())?;
    Ok(credentials_first(t, credentials, last.as_deref()))
}

/// The target's credentials in inventory order, `first` (when it is one of them) moved
/// to the front.
pub fn credentials_first(
    t: &Target,
    credentials: &BTreeMap<String, Credential>,
    first: Option<&str>,
) -> Vec<Credential> {
    let mut list: Vec<Credential> = t
        .credentials
        .iter()
        .filter_map(|c| credentials.get(c).cloned())
        .collect();
    if let Some(pos) = first.and_then(|label| list.iter().position(|c| c.label == label)) {
        let chosen = list.remove(pos);
        list.insert(0, chosen);
    }
    list
}

fn build_jobs(
    inv: &Inventory,
    plan: &Plan,
    credentials: &BTreeMap<String, Credential>,
    run_id: &str,
    history: &History,
    selection: &Selection,
    exec: Option<WindowsExec>,
) -> Result<Vec<HostJob>, AppError> {
    let connectors = Connectors::new(inv, run_id, exec)?;
    // The installer is read once and its bytes shared by every host.
    let mut payloads: Vec<(InstallPlan, Vec<Payload>)> = Vec::new();
    let mut jobs = Vec::new();
    for host in &plan.hosts {
        let t = &host.target;
        let label = t.label();
        let mut packages = Vec::new();
        for (package, install) in plan.packages.iter().zip(&host.installs) {
            let wanted = match selection {
                Selection::All => true,
                Selection::Missing => !history.succeeded(&label, &package.name)?,
                Selection::Only(pairs) => pairs.contains(&(label.clone(), package.name.clone())),
            };
            if !wanted {
                continue;
            }
            let files = match payloads.iter().find(|(p, _)| p == install) {
                Some((_, files)) => files.clone(),
                None => {
                    let files = read_payloads(install)?;
                    payloads.push((install.clone(), files.clone()));
                    files
                }
            };
            let failures = history.failures(&label, &package.name)?;
            let skip = (failures >= package.max_attempts).then_some(Skip::AttemptLimit {
                failures,
                limit: package.max_attempts,
            });
            packages.push(PackageJob {
                package: package.name.clone(),
                version: package.version.clone(),
                detect: install.detect.clone(),
                payloads: files,
                install: Install {
                    program: plan::file_name(&install.installer),
                    args: install.args.clone(),
                    timeout: install.timeout,
                },
                codes: ExitCodes {
                    success: package.success_codes.clone(),
                    reboot: package.reboot_codes.clone(),
                },
                reboot: package.reboot,
                skip,
            });
        }
        if packages.is_empty() {
            continue;
        }
        let (connector, endpoint) = connectors.endpoint(t);
        jobs.push(HostJob {
            label,
            endpoint,
            connector,
            credentials: credentials_for(t, credentials, history)?,
            work: Work::Install(packages),
        });
    }
    Ok(jobs)
}

fn read_payloads(install: &InstallPlan) -> Result<Vec<Payload>, AppError> {
    let mut files = vec![read_payload(&install.installer, true)?];
    if let Some(config) = &install.config {
        files.push(read_payload(config, false)?);
    }
    Ok(files)
}

fn read_payload(path: &Path, executable: bool) -> Result<Payload, AppError> {
    let data = std::fs::read(path).map_err(|source| AppError::Io {
        what: format!("cannot read {}", path.display()),
        source,
    })?;
    let sha256 = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    Ok(Payload {
        file_name: plan::file_name(path),
        data: Arc::from(data),
        sha256,
        executable,
    })
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Logs live beside the history that points at them.
fn logs_beside(history: &Path) -> PathBuf {
    history
        .parent()
        .map_or_else(|| state_dir().join("logs"), |dir| dir.join("logs"))
}

fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local").join("state"))
        .join("pushinst")
}

/// `20261125-142000-1a2b`: sortable. The tail is the process id, so two runs
/// started in the same second on this machine (sharing one history) never collide.
pub fn new_run_id() -> String {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = stamp.split_at(8.min(stamp.len()));
    format!("{date}-{time}-{:04x}", std::process::id())
}
