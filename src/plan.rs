//! Targets × packages → every decision about each host that can be made before
//! touching it: the package variant, the credentials in order (the one that got in
//! last time first), how it is reached and where files go, and, from the history,
//! what is skipped (attempt limit) or left out (already installed, not selected).
//! Reads the installer's size, never its bytes, and touches no host. The runner
//! only executes it; `--dry-run` prints exactly this.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashSet;
use std::time::SystemTime;

use crate::history::HistoryError;
use crate::inventory::{
    Inventory, Os, Package, RebootPolicy, SmbEncryption, SmbSigning, StagingDir, Target, Timeouts,
    UninstallProgram, Variant, WindowsExec,
};
use crate::outcome::Skip;
use crate::rollout::{Rollout, RolloutPlan};
pub use crate::runner::Operation;
use crate::transport::Detect;
use crate::transport::ssh::algorithms::Algorithms;

#[derive(Debug, Clone)]
pub struct Plan {
    /// Installed on each host in this order; a failure stops the later ones there.
    pub packages: Vec<PackagePlan>,
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub force: bool,
    /// No host starts after this (`--until`).
    pub until: Option<Window>,
    /// Canaries, waves and the failure threshold, over the hosts with work.
    pub rollout: RolloutPlan,
    pub hosts: Vec<HostPlan>,
    /// Put the packages on (`deploy`, `sync`, …) or take them off (`remove`).
    pub goal: Goal,
}

/// What a run does with its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Goal {
    #[default]
    Install,
    /// `pushinst remove`: each variant's `uninstall`.
    Remove,
}

/// The end of a maintenance window.
#[derive(Debug, Clone)]
pub struct Window {
    pub at: SystemTime,
    /// As the operator wrote it.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct PackagePlan {
    pub name: String,
    pub version: Option<String>,
    pub success_codes: Vec<i32>,
    pub reboot_codes: Vec<i32>,
    pub reboot: RebootPolicy,
    pub max_attempts: u32,
}

impl PackagePlan {
    /// `acme-agent 7.2.1`, or the bare name when there is no version.
    pub fn title(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HostPlan {
    pub target: Target,
    pub route: Route,
    /// Credential names in the order they will be tried.
    pub credentials: Vec<String>,
    /// The credential that got in last time, moved to the front.
    pub remembered: Option<String>,
    /// One per package, in the plan's order.
    pub installs: Vec<InstallPlan>,
    /// One per package, in the plan's order.
    pub decisions: Vec<Decision>,
    /// Windows: how each credential will log on. Decided by [`decide_logons`] for
    /// `check` and `--dry-run` only (it may ask DNS); a deploy decides at logon.
    pub logons: Vec<CredentialLogon>,
}

/// How one credential logs on to one Windows host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialLogon {
    pub credential: String,
    pub logon: crate::transport::windows::logon::LogonPlan,
}

/// Decide, for every Windows host, which mechanism each of its credentials uses and
/// where its KDC and its name come from (asking DNS where the inventory and
/// krb5.conf do not say). Blocking.
pub fn decide_logons(
    plan: &mut Plan,
    credentials: &std::collections::BTreeMap<String, crate::inventory::CredentialDef>,
) {
    use crate::transport::windows::WindowsLogon;
    for host in plan.hosts.iter_mut().filter(|h| h.target.os == Os::Windows) {
        host.logons = host
            .credentials
            .iter()
            .filter_map(|name| {
                let def = credentials.get(name)?;
                Some(CredentialLogon {
                    credential: name.clone(),
                    logon: WindowsLogon::from_inventory(def).plan(
                        &def.user,
                        &host.target.name,
                        &host.target.address,
                    ),
                })
            })
            .collect();
    }
}

/// How a host is reached, and where its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub transport: Transport,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// SSH; files staged in a new private directory in `staging_dir` (the login home
    /// when `None`), verified by sha256.
    Ssh {
        staging_dir: Option<StagingDir>,
        /// The algorithms offered, as OpenSSH would with the same settings (shared by
        /// the hosts with the same set).
        algorithms: Arc<Algorithms>,
    },
    /// SMB + RPC; files staged under ADMIN$, verified by size, run by a service or task,
    /// every answer signed (unless `smb_signing` relaxes it) and encrypted as
    /// `smb_encryption` says.
    Smb {
        exec: WindowsExec,
        signing: SmbSigning,
        encryption: SmbEncryption,
        /// The wrapper's start marker must appear within this once started.
        start_timeout: Duration,
    },
}

impl Route {
    /// Where the staged files go, in the target's terms.
    pub fn staging(&self) -> String {
        match &self.transport {
            Transport::Ssh {
                staging_dir: None, ..
            } => "~/.pushinst-RUN-…".to_string(),
            Transport::Ssh {
                staging_dir: Some(dir),
                ..
            } => format!("{}/.pushinst-RUN-…", dir.as_str().trim_end_matches('/')),
            Transport::Smb { .. } => r"ADMIN$\pushinst-<random> (SYSTEM and Administrators only)".to_string(),
        }
    }

    /// What the upload is checked against on the target.
    pub fn verifies(&self) -> &'static str {
        match self.transport {
            Transport::Ssh { .. } => "sha256",
            Transport::Smb { .. } => "size",
        }
    }
}

/// What happens to one package on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Detect (unless forced), then install.
    Install,
    /// Detect (unless forced; not there: skipped), uninstall, detect again.
    Remove,
    /// Not attempted: recorded as skipped, the host is not touched for it.
    Skip(Skip),
    /// Not part of this run at all.
    Omit(Omitted),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Omitted {
    /// `sync`: a success is on record.
    AlreadySucceeded,
    /// `retry`: it did not fail in the run retried (or has succeeded since).
    NotSelected,
    /// `sync`: removed on purpose (`pushinst remove`) since its last install.
    Removed,
}

/// Which host+package pairs of the plan to work on.
#[derive(Debug, Default)]
pub enum Selection {
    #[default]
    All,
    /// `sync`: those with no success on record.
    Missing,
    /// `retry`: exactly these (host label, package).
    Only(HashSet<(String, String)>),
}

/// What the plan needs to know from the history.
pub trait Facts {
    fn last_credential(&self, host: &str) -> Result<Option<String>, HistoryError>;
    fn failures(&self, host: &str, package: &str) -> Result<u32, HistoryError>;
    fn succeeded(&self, host: &str, package: &str) -> Result<bool, HistoryError>;
    /// `pushinst remove` took it off, and no install has succeeded since.
    fn removed(&self, _host: &str, _package: &str) -> Result<bool, HistoryError> {
        Ok(false)
    }
}

/// No history yet: nothing remembered, nothing failed, nothing installed.
pub struct NoFacts;

impl Facts for NoFacts {
    fn last_credential(&self, _: &str) -> Result<Option<String>, HistoryError> {
        Ok(None)
    }
    fn failures(&self, _: &str, _: &str) -> Result<u32, HistoryError> {
        Ok(0)
    }
    fn succeeded(&self, _: &str, _: &str) -> Result<bool, HistoryError> {
        Ok(false)
    }
}

impl Facts for crate::history::History {
    fn last_credential(&self, host: &str) -> Result<Option<String>, HistoryError> {
        crate::history::History::last_credential(self, host)
    }
    fn failures(&self, host: &str, package: &str) -> Result<u32, HistoryError> {
        crate::history::History::failures(self, host, package)
    }
    fn succeeded(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
        crate::history::History::succeeded(self, host, package)
    }
    fn removed(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
        crate::history::History::removed(self, host, package)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    pub installer: PathBuf,
    pub installer_size: u64,
    pub config: Option<PathBuf>,
    pub args: Vec<String>,
    pub detect: Option<Detect>,
    /// The package's `requires`, checked on the host before detect and upload.
    pub requires: Vec<crate::inventory::Requirement>,
    pub timeout: Duration,
    /// Install, or remove (and whether to detect again afterwards).
    pub operation: Operation,
    /// The exit codes that mean it worked: the package's for an install, the
    /// uninstall's own for a removal.
    pub success_codes: Vec<i32>,
    pub reboot_codes: Vec<i32>,
    /// An uninstall `command`: the small script pushinst uploads in place of a file
    /// to run it (`installer` is then only its name).
    pub shim: Option<Shim>,
    /// `installer` is a folder, uploaded whole; this file in it (relative) is run.
    pub entry: Option<String>,
    /// The package lists variants by `arch`/`os`: all of them, in order. The runner
    /// asks the host's facts and uses the first that matches (this plan itself is
    /// only the first variant's); none matching is a skip. Empty: no choice to make.
    pub alternatives: Vec<Alternative>,
}

/// One variant a host may get, in the inventory's order: the first whose `when`
/// holds on the host is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// Its place among the package's variants for the OS, from 1.
    pub number: usize,
    /// The variant's `arch` and `os`; empty matches every host.
    pub when: Vec<crate::inventory::Requirement>,
    pub install: InstallPlan,
}

/// A script pushinst writes to run a program already on the host, so an uninstall
/// `command` goes through the same wrapper, sudo and exit-code handling as a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shim {
    /// The program as the inventory names it.
    pub program: String,
    pub script: String,
}

impl Shim {
    /// The script's name on the host: its extension tells Windows how to run it.
    pub fn file_name(os: Os) -> &'static str {
        match os {
            Os::Linux => "pushinst-uninstall.sh",
            Os::Windows => "pushinst-uninstall.cmd",
        }
    }

    pub fn new(os: Os, program: &str) -> Shim {
        let script = match os {
            // Single quotes keep every character as written; `exec` passes the
            // exit code on untouched.
            Os::Linux => format!(
                "#!/bin/sh\n# pushinst: run the uninstaller the inventory names\nexec '{}' \"$@\"\n",
                program.replace('\'', r"'\''")
            ),
            // The inventory refused `"`, `%` and the characters cmd acts on.
            Os::Windows => format!(
                "@echo off\r\nrem pushinst: run the uninstaller the inventory names\r\n\"{program}\" %*\r\nexit /b %ERRORLEVEL%\r\n"
            ),
        };
        Shim {
            program: program.to_string(),
            script,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown package `{name}`")]
    UnknownPackage { name: String, known: Vec<String> },
    #[error("package `{package}`: cannot read {what} {path} ({location}): {source}")]
    File {
        package: String,
        what: &'static str,
        path: PathBuf,
        /// Where the variant naming the file is written (`pushinst.toml:12:9`).
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("package `{package}` has no {os} installer, but {count} target(s) run {os}")]
    NoVariant { package: String, os: Os, count: usize },
    #[error("package `{package}` has no {os} uninstall ({location}); nothing was touched")]
    NoUninstall {
        package: String,
        os: Os,
        /// Where its installer is written: the uninstall goes beside it.
        location: String,
    },
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl PlanError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::UnknownPackage { known, .. } => Some(format!(
                "packages in the inventory: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )),
            PlanError::File { .. } => {
                Some("paths in the inventory are relative to the inventory file".into())
            }
            PlanError::NoVariant { os, .. } => Some(format!(
                "add `{os} = {{ file = \"…\" }}` to the package, or exclude those hosts with `!HOST`"
            )),
            PlanError::NoUninstall { package, os, .. } => Some(format!(
                "add [packages.{package}.{os}.uninstall] with `command = \"…\"` (a program on the host) \
                 or `file = \"…\"` (uploaded), and `args = [...]`; README.md, \"Uninstall\""
            )),
            PlanError::History(_) => None,
        }
    }
}

pub struct PlanOptions {
    pub concurrency: Option<usize>,
    /// A job's reboot policy, over each package's own.
    pub reboot: Option<RebootPolicy>,
    pub timeouts: Timeouts,
    /// `--exec-timeout`: wins over the package's own timeout.
    pub exec_timeout: Option<Duration>,
    pub force: bool,
    /// `--exec`: wins over every Windows host's own method.
    pub exec: Option<WindowsExec>,
    pub until: Option<Window>,
    pub selection: Selection,
    pub rollout: Rollout,
    pub goal: Goal,
    /// `sync --include-removed`: hosts removed on purpose get the package again.
    pub include_removed: bool,
}

pub fn plan(
    inv: &Inventory,
    packages: &[String],
    targets: Vec<Target>,
    options: PlanOptions,
    facts: &dyn Facts,
) -> Result<Plan, PlanError> {
    let mut plans = Vec::new();
    let mut installs: Vec<(Option<InstallPlan>, Option<InstallPlan>)> = Vec::new();
    for package in packages {
        let pkg = inv
            .packages
            .get(package)
            .ok_or_else(|| PlanError::UnknownPackage {
                name: package.to_string(),
                known: inv.packages.keys().cloned().collect(),
            })?;
        for os in [Os::Linux, Os::Windows] {
            let count = targets.iter().filter(|t| t.os == os).count();
            if count == 0 {
                continue;
            }
            if pkg.variants(os).is_empty() {
                return Err(PlanError::NoVariant {
                    package: package.to_string(),
                    os,
                    count,
                });
            }
            // Refused before any host is touched, where the package is written.
            if options.goal == Goal::Remove
                && let Some(variant) = pkg.variants(os).iter().find(|v| v.uninstall.is_none())
            {
                return Err(PlanError::NoUninstall {
                    package: package.to_string(),
                    os,
                    location: variant.location.clone(),
                });
            }
        }
        installs.push((
            choice(pkg, Os::Linux, &options)?,
            choice(pkg, Os::Windows, &options)?,
        ));
        plans.push(PackagePlan {
            name: package.to_string(),
            version: pkg.version.clone(),
            success_codes: pkg.success_codes.clone(),
            reboot_codes: pkg.reboot_codes.clone(),
            reboot: options.reboot.unwrap_or(pkg.reboot),
            max_attempts: pkg.attempts_allowed(&inv.settings),
        });
    }
    let mut hosts = Vec::new();
    for target in targets {
        let label = target.label();
        let mut decisions = Vec::new();
        for package in &plans {
            decisions.push(match options.goal {
                // An explicit request: no attempt limit stands between the admin
                // and taking a package off.
                Goal::Remove => Decision::Remove,
                Goal::Install => decide(&label, package, &options, facts)?,
            });
        }
        let remembered = facts
            .last_credential(&label)?
            .filter(|c| target.credentials.contains(c));
        hosts.push(HostPlan {
            installs: installs
                .iter()
                .filter_map(|(linux, windows)| match target.os {
                    Os::Linux => linux.clone(),
                    Os::Windows => windows.clone(),
                })
                .collect(),
            credentials: credentials_first(&target.credentials, remembered.as_deref()),
            remembered,
            route: route(&target, options.exec),
            decisions,
            logons: Vec::new(),
            target,
        });
    }
    // Hosts where every package is left out are not worked on at all: they are
    // neither canaries nor part of a wave.
    let with_work = hosts
        .iter()
        .filter(|h| h.decisions.iter().any(|d| !matches!(d, Decision::Omit(_))))
        .count();
    Ok(Plan {
        rollout: options.rollout.resolve(with_work),
        packages: plans,
        concurrency: options.concurrency.unwrap_or(inv.settings.concurrency).max(1),
        timeouts: options.timeouts,
        force: options.force,
        until: options.until,
        hosts,
        goal: options.goal,
    })
}

fn decide(
    host: &str,
    package: &PackagePlan,
    options: &PlanOptions,
    facts: &dyn Facts,
) -> Result<Decision, PlanError> {
    let selected = match &options.selection {
        Selection::All => true,
        Selection::Missing => {
            // Removed on purpose: left alone unless asked, and when asked, the
            // install on record before the removal no longer counts.
            let removed = facts.removed(host, &package.name)?;
            if removed && !options.include_removed {
                return Ok(Decision::Omit(Omitted::Removed));
            }
            if !removed && facts.succeeded(host, &package.name)? {
                return Ok(Decision::Omit(Omitted::AlreadySucceeded));
            }
            true
        }
        Selection::Only(pairs) => pairs.contains(&(host.to_string(), package.name.clone())),
    };
    if !selected {
        return Ok(Decision::Omit(Omitted::NotSelected));
    }
    let failures = facts.failures(host, &package.name)?;
    Ok(if failures >= package.max_attempts {
        Decision::Skip(Skip::AttemptLimit {
            failures,
            limit: package.max_attempts,
        })
    } else {
        Decision::Install
    })
}

/// How the target is reached: its OS decides the transport, `--exec` over its own
/// method decides how Windows runs the installer.
pub fn route(target: &Target, exec: Option<WindowsExec>) -> Route {
    let (transport, port) = match target.os {
        Os::Linux => (
            Transport::Ssh {
                staging_dir: target.staging_dir.clone(),
                algorithms: target.ssh_algorithms.clone(),
            },
            22,
        ),
        Os::Windows => (
            Transport::Smb {
                exec: exec.unwrap_or(target.exec),
                signing: target.smb_signing,
                encryption: target.smb_encryption,
                start_timeout: target.start_timeout,
            },
            445,
        ),
    };
    Route {
        transport,
        port: target.port.unwrap_or(port),
    }
}

/// Credential names in inventory order, `first` (when it is one of them) moved to the front.
pub fn credentials_first(names: &[String], first: Option<&str>) -> Vec<String> {
    let mut list = names.to_vec();
    if let Some(pos) = first.and_then(|f| list.iter().position(|c| c == f)) {
        let chosen = list.remove(pos);
        list.insert(0, chosen);
    }
    list
}

/// The package on `os`: its one installer, or, when it lists variants by `arch` or
/// `os`, the first as a stand-in and every one as an [`Alternative`] for the runner
/// to choose from once the host has said what it is.
fn choice(pkg: &Package, os: Os, options: &PlanOptions) -> Result<Option<InstallPlan>, PlanError> {
    let variants = pkg.variants(os);
    let step = |variant| match options.goal {
        Goal::Install => install_plan(pkg, variant, options),
        Goal::Remove => uninstall_plan(pkg, os, variant, options),
    };
    let Some(first) = variants.first() else {
        return Ok(None);
    };
    let Some(mut plan) = step(first)? else {
        return Ok(None);
    };
    if variants.len() > 1 || !first.when.is_empty() {
        let mut alternatives = Vec::new();
        for (index, variant) in variants.iter().enumerate() {
            if let Some(install) = step(variant)? {
                alternatives.push(Alternative {
                    number: index + 1,
                    when: variant.when.clone(),
                    install,
                });
            }
        }
        plan.alternatives = alternatives;
    }
    Ok(Some(plan))
}

/// How many bytes a variant uploads: its file, or every file of its folder.
fn installer_size(variant: &Variant) -> std::io::Result<u64> {
    match variant.entry {
        None => Ok(std::fs::metadata(&variant.file)?.len()),
        Some(_) => crate::inventory::folder::walk(&variant.file)
            .map(|files| files.iter().map(|f| f.size).sum())
            .map_err(std::io::Error::other),
    }
}

fn install_plan(
    pkg: &Package,
    variant: &Variant,
    options: &PlanOptions,
) -> Result<Option<InstallPlan>, PlanError> {
    let file_error = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| PlanError::File {
            package: pkg.name.clone(),
            what,
            path,
            location: variant.location.clone(),
            source,
        }
    };
    let size = installer_size(variant).map_err(file_error("installer", &variant.file))?;
    if let Some(config) = &variant.config {
        std::fs::metadata(config).map_err(file_error("config file", config))?;
    }
    Ok(Some(InstallPlan {
        installer: variant.file.clone(),
        installer_size: size,
        entry: variant.entry.clone(),
        alternatives: Vec::new(),
        config: variant.config.clone(),
        args: variant.args.clone(),
        detect: variant.detect.clone(),
        requires: pkg.requires.clone(),
        timeout: options
            .exec_timeout
            .or(variant.timeout)
            .or(pkg.timeout)
            .unwrap_or(options.timeouts.exec),
        operation: Operation::Install,
        success_codes: pkg.success_codes.clone(),
        reboot_codes: pkg.reboot_codes.clone(),
        shim: None,
    }))
}

/// The variant's `uninstall`, run the way its installer would be: a `file` is
/// uploaded and verified, a `command` is run through a [`Shim`]. No `requires`: a
/// host that could not take the package can still give it back.
fn uninstall_plan(
    pkg: &Package,
    os: Os,
    variant: &Variant,
    options: &PlanOptions,
) -> Result<Option<InstallPlan>, PlanError> {
    let Some(uninstall) = &variant.uninstall else {
        return Ok(None);
    };
    let (installer, installer_size, shim) = match &uninstall.program {
        UninstallProgram::File(path) => {
            let meta = std::fs::metadata(path).map_err(|source| PlanError::File {
                package: pkg.name.clone(),
                what: "uninstaller",
                path: path.clone(),
                location: variant.location.clone(),
                source,
            })?;
            (path.clone(), meta.len(), None)
        }
        UninstallProgram::Command(program) => {
            let shim = Shim::new(os, program);
            (
                PathBuf::from(Shim::file_name(os)),
                shim.script.len() as u64,
                Some(shim),
            )
        }
    };
    Ok(Some(InstallPlan {
        installer,
        installer_size,
        entry: None,
        alternatives: Vec::new(),
        config: None,
        args: uninstall.args.clone(),
        detect: variant.detect.clone(),
        requires: Vec::new(),
        timeout: options
            .exec_timeout
            .or(uninstall.timeout)
            .or(variant.timeout)
            .or(pkg.timeout)
            .unwrap_or(options.timeouts.exec),
        operation: Operation::Remove {
            verify: uninstall.verify,
        },
        success_codes: uninstall.success_codes.clone(),
        reboot_codes: Vec::new(),
        shim,
    }))
}

pub fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "installer".to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The history as the plan sees it, scripted.
    #[derive(Default)]
    struct Scripted {
        last: HashMap<String, String>,
        failures: HashMap<(String, String), u32>,
        succeeded: Vec<(String, String)>,
        removed: Vec<(String, String)>,
    }

    impl Facts for Scripted {
        fn last_credential(&self, host: &str) -> Result<Option<String>, HistoryError> {
            Ok(self.last.get(host).cloned())
        }
        fn failures(&self, host: &str, package: &str) -> Result<u32, HistoryError> {
            Ok(*self
                .failures
                .get(&(host.to_string(), package.to_string()))
                .unwrap_or(&0))
        }
        fn succeeded(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
            Ok(self.succeeded.contains(&(host.to_string(), package.to_string())))
        }
        fn removed(&self, host: &str, package: &str) -> Result<bool, HistoryError> {
            Ok(self.removed.contains(&(host.to_string(), package.to_string())))
        }
    }

    fn inventory(dir: &tempfile::TempDir) -> Inventory {
        std::fs::write(dir.path().join("setup.sh"), "#!/bin/sh\n").unwrap();
        let text = r#"
[settings]
max_attempts = 2

[credentials.first]
user = "a"
password = { env = "A" }

[credentials.second]
user = "b"
password = { env = "B" }

[packages.agent]
linux = { file = "setup.sh" }
windows = { file = "setup.sh" }

[packages.tool.linux]
file = "setup.sh"
detect = "test -e /opt/tool"
uninstall = { command = "/opt/tool/it's uninstall", args = ["-y"], success_codes = [0, 2] }

[packages.tool.windows]
file = "setup.sh"
uninstall = { file = "setup.sh", timeout = "1m" }

[groups.mixed]
hosts = ["l1", "l2", "l3"]
os = "linux"
credentials = ["first", "second"]

[groups.win]
hosts = ["w1:4455"]
os = "windows"
credentials = ["first"]
"#;
        let path = dir.path().join("pushinst.toml");
        std::fs::write(&path, text).unwrap();
        crate::inventory::load(&path).expect("inventory")
    }

    fn options(selection: Selection, exec: Option<WindowsExec>) -> PlanOptions {
        PlanOptions {
            concurrency: None,
            reboot: None,
            timeouts: Timeouts::default(),
            exec_timeout: None,
            force: false,
            exec,
            until: None,
            selection,
            rollout: Rollout::default(),
            goal: Goal::Install,
            include_removed: false,
        }
    }

    fn plan_with(facts: &Scripted, selection: Selection, exec: Option<WindowsExec>) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory(&dir);
        let targets = crate::inventory::resolve_targets(&inv, &["mixed".into(), "win".into()]).unwrap();
        plan(&inv, &["agent".into()], targets, options(selection, exec), facts).expect("plan")
    }

    fn key(host: &str) -> (String, String) {
        (host.to_string(), "agent".to_string())
    }

    #[test]
    fn the_attempt_limit_and_the_remembered_credential_are_decided_in_the_plan() {
        let mut facts = Scripted::default();
        facts.failures.insert(key("l2"), 2);
        facts.failures.insert(key("l3"), 1);
        facts.last.insert("l3".into(), "second".into());
        // A remembered credential the host no longer has is ignored.
        facts.last.insert("l1".into(), "gone".into());
        let plan = plan_with(&facts, Selection::All, None);
        let decisions: Vec<&Decision> = plan.hosts.iter().map(|h| &h.decisions[0]).collect();
        assert_eq!(
            decisions,
            [
                &Decision::Install,
                &Decision::Skip(Skip::AttemptLimit {
                    failures: 2,
                    limit: 2
                }),
                &Decision::Install,
                &Decision::Install,
            ]
        );
        let orders: Vec<Vec<String>> = plan.hosts.iter().map(|h| h.credentials.clone()).collect();
        assert_eq!(orders[0], ["first", "second"]);
        assert_eq!(orders[2], ["second", "first"]);
        assert_eq!(plan.hosts[2].remembered.as_deref(), Some("second"));
        assert_eq!(plan.hosts[0].remembered, None);
    }

    #[test]
    fn sync_leaves_installed_hosts_and_retry_only_the_selected_pairs() {
        let mut facts = Scripted::default();
        facts.succeeded.push(key("l1"));
        let plan = plan_with(&facts, Selection::Missing, None);
        assert_eq!(
            plan.hosts[0].decisions[0],
            Decision::Omit(Omitted::AlreadySucceeded)
        );
        assert_eq!(plan.hosts[1].decisions[0], Decision::Install);

        let only = [key("l2")].into_iter().collect();
        let plan = plan_with(&Scripted::default(), Selection::Only(only), None);
        let picked: Vec<bool> = plan
            .hosts
            .iter()
            .map(|h| h.decisions[0] == Decision::Install)
            .collect();
        assert_eq!(picked, [false, true, false, false]);
    }

    #[test]
    fn the_route_follows_the_os_the_port_and_exec_on_the_command_line() {
        let plan = plan_with(&Scripted::default(), Selection::All, None);
        assert_eq!(
            plan.hosts[0].route,
            Route {
                transport: Transport::Ssh {
                    staging_dir: None,
                    algorithms: Arc::new(Algorithms::default()),
                },
                port: 22
            }
        );
        assert_eq!(plan.hosts[0].route.verifies(), "sha256");
        let win = &plan.hosts[3].route;
        assert_eq!(win.port, 4455);
        assert_eq!(win.verifies(), "size");
        let forced = plan_with(&Scripted::default(), Selection::All, Some(WindowsExec::Task));
        assert_eq!(
            forced.hosts[3].route.transport,
            Transport::Smb {
                exec: WindowsExec::Task,
                signing: SmbSigning::Required,
                encryption: SmbEncryption::WhenSupported,
                start_timeout: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn sync_leaves_a_removed_host_unless_asked_and_remove_plans_each_os_uninstall() {
        let dir = tempfile::tempdir().unwrap();
        let inv = inventory(&dir);
        let targets = || crate::inventory::resolve_targets(&inv, &["mixed".into(), "win".into()]).unwrap();
        let mut facts = Scripted::default();
        facts.removed.push(key("l1"));
        facts.succeeded.push(key("l1"));
        facts.succeeded.push(key("l2"));
        let sync = |include_removed| {
            let options = PlanOptions {
                include_removed,
                ..options(Selection::Missing, None)
            };
            let plan = plan(&inv, &["agent".into()], targets(), options, &facts).expect("plan");
            plan.hosts
                .iter()
                .map(|h| h.decisions[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sync(false),
            [
                Decision::Omit(Omitted::Removed),
                Decision::Omit(Omitted::AlreadySucceeded),
                Decision::Install,
                Decision::Install
            ]
        );
        // Asked: the install on record before the removal no longer counts.
        assert_eq!(
            sync(true)[..2],
            [Decision::Install, Decision::Omit(Omitted::AlreadySucceeded)]
        );

        let remove = |package: &str| {
            let options = PlanOptions {
                goal: Goal::Remove,
                ..options(Selection::All, None)
            };
            plan(&inv, &[package.into()], targets(), options, &facts)
        };
        let refused = remove("agent").expect_err("no uninstall");
        assert!(
            matches!(&refused, PlanError::NoUninstall { os: Os::Linux, location, .. }
                if location.ends_with("pushinst.toml:14:9")),
            "{refused:?}"
        );
        assert!(
            refused
                .hint()
                .unwrap()
                .contains("[packages.agent.linux.uninstall]")
        );
        let plan = remove("tool").expect("plan");
        assert_eq!(plan.goal, Goal::Remove);
        // An explicit request: the attempt limit and the record do not hold it back.
        assert!(plan.hosts.iter().all(|h| h.decisions[0] == Decision::Remove));
        let linux = &plan.hosts[0].installs[0];
        assert_eq!(linux.operation, Operation::Remove { verify: true });
        assert_eq!(
            (linux.args.clone(), linux.success_codes.clone()),
            (vec!["-y".to_string()], vec![0, 2])
        );
        assert!(linux.requires.is_empty());
        let shim = linux.shim.as_ref().expect("a command runs through a script");
        assert_eq!(file_name(&linux.installer), "pushinst-uninstall.sh");
        assert!(
            shim.script.contains(r#"exec '/opt/tool/it'\''s uninstall' "$@""#),
            "{}",
            shim.script
        );
        let windows = &plan.hosts[3].installs[0];
        assert_eq!(windows.operation, Operation::Remove { verify: false });
        assert!(windows.shim.is_none());
        assert_eq!(windows.timeout, Duration::from_secs(60));
        assert!(windows.installer.ends_with("setup.sh"));
    }
}
