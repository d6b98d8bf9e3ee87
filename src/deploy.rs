//! `pushinst deploy`: inventory → targets → plan → (secrets, payloads, transports)
//! → runner → reporters. The only place that knows all of them.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::cli::{Cli, DeployArgs, OutputFormat};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::inventory::{self, CredentialDef, HostKeyPolicy, Inventory, Os};
use crate::plan::{self, InstallPlan, Plan, PlanOptions};
use crate::report::{self, HostLogs, JsonLines, Lines, Progress, Sink, Summary};
use crate::runner::{self, Cancel, EventSink, ExitCodes, HostJob, RunConfig};
use crate::secrets::Redactor;
use crate::transport::ssh::{HostKeyCheck, SshConnector};
use crate::transport::{self, AuthMethod, Connector, Credential, Endpoint, Install, Payload, Sudo};

pub async fn deploy(cli: &Cli, args: &DeployArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    let mut timeouts = inv.settings.timeouts.clone();
    if let Some(t) = args.connect_timeout {
        timeouts.connect = t.into();
    }
    if let Some(t) = args.host_timeout {
        timeouts.host = t.into();
    }
    let options = PlanOptions {
        concurrency: args.concurrency.map(|c| c as usize),
        timeouts,
        exec_timeout: args.exec_timeout.map(Into::into),
        force: args.force,
    };
    let plan = plan::plan(&inv, &args.package, targets, options)?;
    if args.dry_run {
        report::write_out(&mut std::io::stdout(), &plan::render(&plan, &inv.credentials));
        return Ok(EXIT_OK);
    }

    // Everything that can fail on our side fails here, before any host is touched.
    let mut redactor = Redactor::default();
    let credentials = resolve_credentials(&inv, &plan, &mut redactor)?;
    let run_id = new_run_id();
    let jobs = build_jobs(&inv, &plan, &credentials, &run_id)?;
    let log_dir = args
        .log_dir
        .clone()
        .or_else(|| inv.settings.log_dir.as_ref().map(|d| d.join(&run_id)))
        .unwrap_or_else(|| state_dir().join("logs").join(&run_id));
    // The summary names it, often in a cron mail read elsewhere: make it absolute.
    let log_dir = std::path::absolute(&log_dir).unwrap_or(log_dir);
    let logs = HostLogs::create(&log_dir).map_err(|source| AppError::Io {
        what: format!("cannot create the log directory {}", log_dir.display()),
        source,
    })?;

    let (sink, events) = EventSink::new();
    let sinks = sinks(cli, logs);
    let summary = Summary::new(Some(log_dir));
    let reporter = tokio::spawn(report::consume(events, sinks, summary));
    let (cancel_tx, cancel_rx) = watch::channel(Cancel::None);
    let signals = tokio::spawn(watch_signals(cancel_tx));

    let config = RunConfig {
        run_id,
        package: plan.package.clone(),
        version: plan.version.clone(),
        concurrency: plan.concurrency,
        timeouts: plan.timeouts.clone(),
        codes: ExitCodes {
            success: plan.success_codes.clone(),
            reboot: plan.reboot_codes.clone(),
        },
        force: plan.force,
        redactor,
    };
    let stats = runner::run(jobs, config, sink, cancel_rx.clone()).await;
    let interrupted = *cancel_rx.borrow() != Cancel::None;
    signals.abort();
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
    let mut out = BTreeMap::new();
    for name in plan.hosts.iter().flat_map(|h| h.target.credentials.iter()) {
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

fn build_jobs(
    inv: &Inventory,
    plan: &Plan,
    credentials: &BTreeMap<String, Credential>,
    run_id: &str,
) -> Result<Vec<HostJob>, AppError> {
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
    let ssh: Arc<dyn Connector> = Arc::new(SshConnector::new(
        HostKeyCheck {
            known_hosts,
            accept_new,
        },
        run_id,
    ));
    let windows: Arc<dyn Connector> = Arc::new(transport::Unavailable(
        "Windows targets are not supported by this version of pushinst yet".into(),
    ));
    // The installer is read once and its bytes shared by every host.
    let mut payloads: Vec<(InstallPlan, Vec<Payload>)> = Vec::new();
    let mut jobs = Vec::new();
    for host in &plan.hosts {
        let Some(install) = &host.install else { continue };
        let files = match payloads.iter().find(|(p, _)| p == install) {
            Some((_, files)) => files.clone(),
            None => {
                let files = read_payloads(install)?;
                payloads.push((install.clone(), files.clone()));
                files
            }
        };
        let t = &host.target;
        let (connector, port) = match t.os {
            Os::Linux => (ssh.clone(), 22),
            Os::Windows => (windows.clone(), 445),
        };
        jobs.push(HostJob {
            label: t.label(),
            endpoint: Endpoint {
                name: t.name.clone(),
                address: t.address.clone(),
                port: t.port.unwrap_or(port),
            },
            connector,
            credentials: t
                .credentials
                .iter()
                .filter_map(|c| credentials.get(c).cloned())
                .collect(),
            detect: install.detect.clone(),
            payloads: files,
            install: Install {
                program: plan::file_name(&install.installer),
                args: install.args.clone(),
                timeout: install.timeout,
            },
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

fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local").join("state"))
        .join("pushinst")
}

/// `20261125-142000-1a2b`: sortable, and unique enough across processes.
fn new_run_id() -> String {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = stamp.split_at(8.min(stamp.len()));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{date}-{time}-{:04x}", (nanos ^ std::process::id()) & 0xffff)
}
