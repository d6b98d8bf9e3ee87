//! Targets × packages → what will happen on each host. Pure: reads the installer's
//! size, never its bytes, and touches no host. `--dry-run` prints exactly this.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::inventory::{CredentialDef, Inventory, Os, Package, RebootPolicy, Target, Timeouts};
use crate::transport::Detect;

#[derive(Debug, Clone)]
pub struct Plan {
    /// Installed on each host in this order; a failure stops the later ones there.
    pub packages: Vec<PackagePlan>,
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub force: bool,
    pub hosts: Vec<HostPlan>,
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
    /// One per package, in the plan's order.
    pub installs: Vec<InstallPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    pub installer: PathBuf,
    pub installer_size: u64,
    pub config: Option<PathBuf>,
    pub args: Vec<String>,
    pub detect: Option<Detect>,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown package `{name}`")]
    UnknownPackage { name: String, known: Vec<String> },
    #[error("package `{package}`: cannot read {what} {path}: {source}")]
    File {
        package: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("package `{package}` has no {os} installer, but {count} target(s) run {os}")]
    NoVariant { package: String, os: Os, count: usize },
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
}

pub fn plan(
    inv: &Inventory,
    packages: &[String],
    targets: Vec<Target>,
    options: PlanOptions,
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
            if count > 0 && pkg.variant(os).is_none() {
                return Err(PlanError::NoVariant {
                    package: package.to_string(),
                    os,
                    count,
                });
            }
        }
        installs.push((
            install_plan(pkg, Os::Linux, &options)?,
            install_plan(pkg, Os::Windows, &options)?,
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
    let hosts = targets
        .into_iter()
        .map(|target| HostPlan {
            installs: installs
                .iter()
                .filter_map(|(linux, windows)| match target.os {
                    Os::Linux => linux.clone(),
                    Os::Windows => windows.clone(),
                })
                .collect(),
            target,
        })
        .collect();
    Ok(Plan {
        packages: plans,
        concurrency: options.concurrency.unwrap_or(inv.settings.concurrency).max(1),
        timeouts: options.timeouts,
        force: options.force,
        hosts,
    })
}

fn install_plan(pkg: &Package, os: Os, options: &PlanOptions) -> Result<Option<InstallPlan>, PlanError> {
    let Some(variant) = pkg.variant(os) else {
        return Ok(None);
    };
    let file_error = |what, path: &PathBuf| {
        let path = path.clone();
        move |source| PlanError::File {
            package: pkg.name.clone(),
            what,
            path,
            source,
        }
    };
    let meta = std::fs::metadata(&variant.file).map_err(file_error("installer", &variant.file))?;
    if let Some(config) = &variant.config {
        std::fs::metadata(config).map_err(file_error("config file", config))?;
    }
    Ok(Some(InstallPlan {
        installer: variant.file.clone(),
        installer_size: meta.len(),
        config: variant.config.clone(),
        args: variant.args.clone(),
        detect: variant.detect.clone(),
        timeout: options
            .exec_timeout
            .or(variant.timeout)
            .or(pkg.timeout)
            .unwrap_or(options.timeouts.exec),
    }))
}

/// What `--dry-run` prints.
pub fn render(plan: &Plan, credentials: &std::collections::BTreeMap<String, CredentialDef>) -> String {
    let mut out = String::new();
    let names: Vec<String> = plan.packages.iter().map(PackagePlan::title).collect();
    let _ = writeln!(
        out,
        "plan: {} on {} host(s), {} at a time; nothing will be touched (dry run)",
        names.join(" → "),
        plan.hosts.len(),
        plan.concurrency
    );
    for host in &plan.hosts {
        let t = &host.target;
        let via = if t.address != t.name {
            format!(" via {}", t.address)
        } else {
            String::new()
        };
        let _ = writeln!(out, "\n{} ({}){via}", t.label(), t.os);
        let creds: Vec<String> = t
            .credentials
            .iter()
            .map(|name| describe_credential(name, credentials.get(name)))
            .collect();
        let _ = writeln!(out, "  credentials  {}", creds.join(", then "));
        let sudo = t
            .credentials
            .iter()
            .any(|c| credentials.get(c).is_some_and(|c| c.sudo));
        for (package, install) in plan.packages.iter().zip(&host.installs) {
            if plan.packages.len() > 1 {
                let _ = writeln!(out, "  package      {}", package.name);
            }
            render_install(&mut out, plan, package, install, sudo);
        }
    }
    out
}

fn render_install(out: &mut String, plan: &Plan, package: &PackagePlan, install: &InstallPlan, sudo: bool) {
    let mut argv = vec![file_name(&install.installer)];
    argv.extend(install.args.iter().cloned());
    let _ = writeln!(
        out,
        "  installer    {} ({} bytes)",
        install.installer.display(),
        install.installer_size
    );
    if let Some(config) = &install.config {
        let _ = writeln!(out, "  config       {}", config.display());
    }
    let mut steps = vec!["connect".to_string(), "authenticate".to_string()];
    match (&install.detect, plan.force) {
        (Some(detect), false) => steps.push(format!("detect {detect}")),
        (Some(_), true) => steps.push("detect skipped (--force)".to_string()),
        (None, _) => {}
    }
    steps.push("upload + verify sha256".to_string());
    steps.push(format!(
        "execute `{}`{} (timeout {})",
        argv.join(" "),
        if sudo { " via sudo" } else { "" },
        humantime::format_duration(install.timeout)
    ));
    steps.push(format!(
        "classify (ok: {:?}, reboot: {:?})",
        package.success_codes, package.reboot_codes
    ));
    steps.push("clean up".to_string());
    if package.reboot != RebootPolicy::Never {
        steps.push(format!("reboot ({})", reboot_name(package.reboot)));
    }
    let _ = writeln!(out, "  steps        {}", steps.join(" → "));
}

fn reboot_name(policy: RebootPolicy) -> &'static str {
    match policy {
        RebootPolicy::Never => "never",
        RebootPolicy::IfRequired => "if required",
        RebootPolicy::Always => "always",
        RebootPolicy::Ask => "ask the logged-on users first",
    }
}

fn describe_credential(name: &str, def: Option<&CredentialDef>) -> String {
    let Some(def) = def else { return name.to_string() };
    let mut how = Vec::new();
    if def.agent {
        how.push("agent".to_string());
    }
    if let Some(key) = &def.key {
        how.push(format!("key {}", key.display()));
    }
    if let Some(source) = &def.password {
        how.push(format!("password from {source}"));
    }
    if def.sudo {
        how.push("sudo".to_string());
    }
    format!("{name} ({}: {})", def.user, how.join(", "))
}

pub fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "installer".to_string())
}
