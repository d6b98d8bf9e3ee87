//! Turns a plan into what the runner executes: secrets resolved (each once), the
//! installers read (each once, shared by every host), one connector per protocol.
//! No decision is made here: the plan made them all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::inventory::{
    CredentialDef, HostKeyPolicy, Inventory, SmbEncryption, SmbSigning, Target, WindowsAuth, WindowsExec,
};
use crate::plan::{Decision, InstallPlan, PackagePlan, Plan, Route, Transport};
use crate::runner::check::{CheckJob, CheckVariant};
use crate::runner::{Alternative, ExitCodes, HostJob, PackageJob, Work};
use crate::secrets::{Redactor, SecretError, SecretSource};
use crate::transport::smb::{Encryption, Protection, Signing};
use crate::transport::ssh::{HostKeyCheck, SshConnector};
use crate::transport::windows::{ExecMethod, Mechanism, WindowsConnector, WindowsLogon, WindowsOptions};
use crate::transport::{AuthMethod, Connector, Credential, Endpoint, Install, Payload, Sudo};

/// How often a Windows host is asked whether the installer has finished.
const WINDOWS_POLL: std::time::Duration = std::time::Duration::from_millis(500);

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

fn credential(def: &CredentialDef, redactor: &mut Redactor) -> Result<Credential, SecretError> {
    let what = |thing: &str| format!("{thing} for credential {} (user {})", def.name, def.user);
    let mut resolve = |source: &SecretSource, thing: &str| {
        let secret = source.resolve(&what(thing))?;
        redactor.add(&secret);
        Ok::<_, SecretError>(secret)
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
            certificate: def.certificate.clone(),
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
        windows: WindowsLogon {
            mechanism: match def.auth {
                WindowsAuth::Negotiate => Mechanism::Negotiate,
                WindowsAuth::Kerberos => Mechanism::Kerberos,
                WindowsAuth::Ntlm => Mechanism::Ntlm,
            },
            kdc: def.kdc.clone(),
            realm: def.realm.clone(),
            keytab: def.keytab.clone(),
        },
    })
}

/// The connectors of this run: one for every SSH host, one per Windows route.
pub struct Connectors {
    ssh: SshConnector,
}

impl Connectors {
    pub fn new(inv: &Inventory, run_id: &str) -> Result<Self, AppError> {
        let known_hosts = known_hosts(inv);
        let accept_new = inv.settings.host_key_policy == HostKeyPolicy::AcceptNew;
        if accept_new && let Some(dir) = known_hosts.parent() {
            std::fs::create_dir_all(dir).map_err(|source| AppError::Io {
                what: format!("cannot create {}", dir.display()),
                source,
            })?;
        }
        Ok(Connectors {
            ssh: SshConnector::new(
                HostKeyCheck {
                    known_hosts,
                    accept_new,
                },
                run_id,
            )
            .stall_after(inv.settings.timeouts.connect),
        })
    }

    /// An upload that moves nothing for `limit` (the run's connect_timeout, after
    /// the command line's override) is stalled.
    pub fn stall_after(mut self, limit: std::time::Duration) -> Self {
        self.ssh = self.ssh.stall_after(limit);
        self
    }

    /// The connector for this route, and where it listens.
    pub fn endpoint(&self, t: &Target, route: &Route) -> (Arc<dyn Connector>, Endpoint) {
        let connector: Arc<dyn Connector> = match &route.transport {
            // Shares the run's SSH configuration; only the staging place is per host.
            Transport::Ssh {
                staging_dir,
                algorithms,
            } => Arc::new(
                self.ssh
                    .for_host(staging_dir.as_ref().map(|d| d.as_str()), algorithms),
            ),
            // A Windows connector holds only its options: one per host is cheap,
            // and lets each host's own signing and encryption rule travel with it.
            Transport::Smb {
                exec,
                signing,
                encryption,
                start_timeout,
            } => Arc::new(WindowsConnector::new(WindowsOptions {
                protection: Protection {
                    signing: match signing {
                        SmbSigning::Required => Signing::Required,
                        SmbSigning::AllowTampering => Signing::AllowTampering,
                    },
                    encryption: match encryption {
                        SmbEncryption::WhenSupported => Encryption::WhenSupported,
                        SmbEncryption::Required => Encryption::Required,
                        SmbEncryption::Off => Encryption::Off,
                    },
                },
                method: match exec {
                    WindowsExec::Service => ExecMethod::Service,
                    WindowsExec::Task => ExecMethod::Task,
                },
                poll: WINDOWS_POLL,
                start_timeout: *start_timeout,
            })),
        };
        let endpoint = Endpoint {
            name: t.name.clone(),
            address: t.address.clone(),
            port: route.port,
        };
        (connector, endpoint)
    }
}

/// `settings.known_hosts`, else `~/.ssh/known_hosts`.
pub fn known_hosts(inv: &Inventory) -> PathBuf {
    inv.settings
        .known_hosts
        .clone()
        .unwrap_or_else(|| crate::launch::home().join(".ssh").join("known_hosts"))
}

/// The credentials in the plan's order, secrets resolved.
pub fn ordered(names: &[String], credentials: &BTreeMap<String, Credential>) -> Vec<Credential> {
    names.iter().filter_map(|c| credentials.get(c).cloned()).collect()
}

/// One job per host with anything to do, in the plan's order.
pub fn jobs(
    plan: &Plan,
    connectors: &Connectors,
    credentials: &BTreeMap<String, Credential>,
) -> Result<Vec<HostJob>, AppError> {
    // The installer is read once and its bytes shared by every host.
    let mut payloads: Vec<(InstallPlan, Vec<Payload>)> = Vec::new();
    let mut jobs = Vec::new();
    for host in &plan.hosts {
        let mut packages = Vec::new();
        for ((package, install), decision) in plan.packages.iter().zip(&host.installs).zip(&host.decisions) {
            let skip = match decision {
                Decision::Install | Decision::Remove => None,
                Decision::Skip(skip) => Some(skip.clone()),
                Decision::Omit(_) => continue,
            };
            let mut alternatives = Vec::new();
            for alternative in &install.alternatives {
                alternatives.push(Alternative {
                    number: alternative.number,
                    file: crate::plan::file_name(&alternative.install.installer),
                    when: alternative.when.clone(),
                    job: package_job(
                        package,
                        &alternative.install,
                        None,
                        cached_payloads(&alternative.install, &mut payloads)?,
                    ),
                });
            }
            // With a choice to make, only the chosen variant is ever uploaded.
            let files = match alternatives.is_empty() {
                true => cached_payloads(install, &mut payloads)?,
                false => Vec::new(),
            };
            packages.push(PackageJob {
                alternatives,
                ..package_job(package, install, skip, files)
            });
        }
        if packages.is_empty() {
            continue;
        }
        let (connector, endpoint) = connectors.endpoint(&host.target, &host.route);
        jobs.push(HostJob {
            label: host.target.label(),
            endpoint,
            connector,
            credentials: ordered(&host.credentials, credentials),
            work: Work::Install(packages),
        });
    }
    Ok(jobs)
}

/// The installer's files, read once per run and shared by every host.
fn cached_payloads(
    install: &InstallPlan,
    cache: &mut Vec<(InstallPlan, Vec<Payload>)>,
) -> Result<Vec<Payload>, AppError> {
    if let Some((_, files)) = cache.iter().find(|(p, _)| p == install) {
        return Ok(files.clone());
    }
    let files = read_payloads(install)?;
    cache.push((install.clone(), files.clone()));
    Ok(files)
}

fn package_job(
    package: &PackagePlan,
    install: &InstallPlan,
    skip: Option<crate::outcome::Skip>,
    files: Vec<Payload>,
) -> PackageJob {
    PackageJob {
        package: package.name.clone(),
        version: package.version.clone(),
        detect: install.detect.clone(),
        requires: install.requires.clone(),
        payloads: files,
        install: Install {
            program: match &install.entry {
                Some(entry) => entry.clone(),
                None => crate::plan::file_name(&install.installer),
            },
            args: install.args.clone(),
            timeout: install.timeout,
        },
        codes: ExitCodes {
            success: install.success_codes.clone(),
            reboot: install.reboot_codes.clone(),
        },
        reboot: package.reboot,
        skip,
        operation: install.operation,
        alternatives: Vec::new(),
    }
}

/// One check per host, in the plan's order: the size of the package's files (read
/// once) and its detect, when a package was named.
pub fn check_jobs(
    plan: &Plan,
    connectors: &Connectors,
    credentials: &BTreeMap<String, Credential>,
) -> Result<Vec<CheckJob>, AppError> {
    let mut sizes: Vec<(InstallPlan, u64)> = Vec::new();
    let mut jobs = Vec::new();
    for host in &plan.hosts {
        let mut size = |install: &InstallPlan| -> Result<u64, AppError> {
            if let Some((_, n)) = sizes.iter().find(|(p, _)| p == install) {
                return Ok(*n);
            }
            let n = read_payloads(install)?.iter().map(|p| p.data.len() as u64).sum();
            sizes.push((install.clone(), n));
            Ok(n)
        };
        let mut variants = Vec::new();
        let (mut needs, detect, requires) = match host.installs.first() {
            Some(install) if install.alternatives.is_empty() => {
                (size(install)?, install.detect.clone(), install.requires.clone())
            }
            Some(install) => (0, install.detect.clone(), install.requires.clone()),
            None => (0, None, Vec::new()),
        };
        for alternative in host
            .installs
            .first()
            .map(|i| &i.alternatives[..])
            .unwrap_or_default()
        {
            // Room for the largest: the choice is made on the host, after the probe.
            needs = needs.max(size(&alternative.install)?);
            variants.push(CheckVariant {
                number: alternative.number,
                file: crate::plan::file_name(&alternative.install.installer),
                when: alternative.when.clone(),
                detect: alternative.install.detect.clone(),
                requires: alternative.install.requires.clone(),
            });
        }
        let (connector, endpoint) = connectors.endpoint(&host.target, &host.route);
        jobs.push(CheckJob {
            label: host.target.label(),
            endpoint,
            connector,
            credentials: ordered(&host.credentials, credentials),
            needs,
            detect,
            requires,
            variants,
            package: plan.packages.first().map(|p| p.name.clone()),
        });
    }
    Ok(jobs)
}

fn read_payloads(install: &InstallPlan) -> Result<Vec<Payload>, AppError> {
    let first = match &install.shim {
        Some(shim) => payload(
            crate::plan::file_name(&install.installer),
            shim.script.clone().into_bytes(),
            true,
        ),
        None => match &install.entry {
            None => read_payload(&install.installer, true)?,
            Some(entry) => return folder_payloads(install, entry),
        },
    };
    let mut files = vec![first];
    if let Some(config) = &install.config {
        files.push(read_payload(config, false)?);
    }
    Ok(files)
}

/// Every file of a folder, named by its path in it; the entry and whatever is
/// executable here stay executable there.
fn folder_payloads(install: &InstallPlan, entry: &str) -> Result<Vec<Payload>, AppError> {
    use std::os::unix::fs::PermissionsExt;
    let files = crate::inventory::folder::walk(&install.installer).map_err(|e| AppError::Io {
        what: format!("cannot read folder {}", install.installer.display()),
        source: std::io::Error::other(e),
    })?;
    let mut out = Vec::new();
    for file in files {
        let data = std::fs::read(&file.path).map_err(|source| AppError::Io {
            what: format!("cannot read {}", file.path.display()),
            source,
        })?;
        let mode = std::fs::metadata(&file.path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        let executable = file.relative == entry || mode & 0o111 != 0;
        out.push(payload(file.relative, data, executable));
    }
    if let Some(config) = &install.config {
        out.push(read_payload(config, false)?);
    }
    Ok(out)
}

fn read_payload(path: &Path, executable: bool) -> Result<Payload, AppError> {
    let data = std::fs::read(path).map_err(|source| AppError::Io {
        what: format!("cannot read {}", path.display()),
        source,
    })?;
    Ok(payload(crate::plan::file_name(path), data, executable))
}

fn payload(file_name: String, data: Vec<u8>, executable: bool) -> Payload {
    let sha256 = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    Payload {
        file_name,
        data: bytes::Bytes::from(data),
        sha256,
        executable,
    }
}
