//! The plan in words (`--dry-run`): one table row per host and package, or, with
//! `--output json`, one JSON line per row after a `plan` line.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::words;
use crate::inventory::{CredentialDef, RebootPolicy, SmbEncryption, SmbSigning, WindowsExec};
use crate::outcome::{FORMAT_VERSION, Outcome};
use crate::plan::{Decision, Goal, HostPlan, InstallPlan, Omitted, Operation, PackagePlan, Plan, Transport};
use crate::rollout::RolloutPlan;

fn decision(d: &Decision) -> String {
    match d {
        Decision::Install => "install".into(),
        Decision::Remove => "remove".into(),
        // Worded as the skip will be reported.
        Decision::Skip(skip) => format!(
            "skip: {}",
            words::reason(&Outcome::Skipped { reason: skip.clone() })
        ),
        Decision::Omit(Omitted::AlreadySucceeded) => "leave: installed on record".into(),
        Decision::Omit(Omitted::NotSelected) => "leave: not retried".into(),
        Decision::Omit(Omitted::Removed) => {
            "leave: removed on purpose (sync --include-removed installs it again)".into()
        }
    }
}

fn transport(host: &HostPlan) -> String {
    match host.route.transport {
        Transport::Ssh { ref algorithms, .. } => {
            let mut text = format!("ssh :{}", host.route.port);
            // Weak algorithms allowed are shown wherever the host is, never only in the file.
            let legacy = algorithms.legacy();
            if !legacy.is_empty() {
                text.push_str(&format!(" LEGACY-ALLOWED({})", legacy.join(",")));
            }
            text
        }
        Transport::Smb {
            exec,
            signing,
            encryption,
            ..
        } => {
            let mut text = format!("smb :{} {}", host.route.port, exec_name(exec));
            // A relaxed rule is shown wherever the host is, never only in the file.
            if signing == SmbSigning::AllowTampering {
                text.push_str(" UNSIGNED-ALLOWED");
            }
            if encryption == SmbEncryption::Required {
                text.push_str(" encrypted");
            }
            text
        }
    }
}

/// The warning a run starts with when the inventory relaxes SMB signing for some
/// of its hosts: such a rule is never relaxed silently.
pub fn relaxed(plan: &Plan) -> Option<String> {
    let hosts: Vec<String> = plan
        .hosts
        .iter()
        .filter(|h| {
            matches!(
                h.route.transport,
                Transport::Smb {
                    signing: SmbSigning::AllowTampering,
                    ..
                }
            )
        })
        .map(|h| h.target.label())
        .collect();
    let (first, count) = (hosts.first()?, hosts.len());
    let names = match count {
        1 => first.clone(),
        2..=5 => hosts.join(", "),
        _ => format!("{}, and {} more", hosts[..5].join(", "), count - 5),
    };
    Some(format!(
        "warning: smb_signing = \"allow-tampering\" for {names}: unsigned SMB answers are accepted there, \
         so anyone on the network path can change what is installed\n"
    ))
}

/// The inventory's own spelling of `smb_signing`.
fn signing_name(signing: SmbSigning) -> &'static str {
    match signing {
        SmbSigning::Required => "required",
        SmbSigning::AllowTampering => "allow-tampering",
    }
}

/// The inventory's own spelling of `smb_encryption`.
fn encryption_name(encryption: SmbEncryption) -> &'static str {
    match encryption {
        SmbEncryption::WhenSupported => "when-supported",
        SmbEncryption::Required => "required",
        SmbEncryption::Off => "off",
    }
}

fn exec_name(exec: WindowsExec) -> &'static str {
    match exec {
        WindowsExec::Service => "service",
        WindowsExec::Task => "task",
    }
}

fn credential(name: &str, def: Option<&CredentialDef>) -> String {
    let Some(def) = def else { return name.to_string() };
    let mut how = Vec::new();
    if def.agent {
        how.push("agent".to_string());
    }
    if def.key.is_some() {
        how.push("key".to_string());
    }
    if def.keytab.is_some() {
        how.push("keytab".to_string());
    }
    if let Some(cache) = &def.ticket_cache {
        how.push(format!("ticket cache {}", cache.display()));
    }
    if let Some(source) = &def.password {
        how.push(format!("password from {source}"));
    }
    if def.sudo {
        how.push("sudo".to_string());
    }
    format!("{name} ({}: {})", def.user, how.join(", "))
}

fn sudo(host: &HostPlan, credentials: &BTreeMap<String, CredentialDef>) -> bool {
    host.credentials
        .iter()
        .any(|c| credentials.get(c).is_some_and(|c| c.sudo))
}

/// The steps one package goes through on one host.
fn steps(plan: &Plan, host: &HostPlan, package: &PackagePlan, install: &InstallPlan, sudo: bool) -> String {
    if let Operation::Remove { verify } = install.operation {
        return removal_steps(plan, host, install, sudo, verify);
    }
    if !install.alternatives.is_empty() {
        return variant_steps(plan, host, package, install, sudo);
    }
    let mut argv = vec![program(install)];
    argv.extend(install.args.iter().cloned());
    let mut steps = Vec::new();
    if !install.requires.is_empty() {
        let list: Vec<String> = install
            .requires
            .iter()
            .map(crate::report::words::requirement)
            .collect();
        steps.push(format!("requires {}", list.join(", ")));
    }
    match (&install.detect, plan.force) {
        (Some(detect), false) => steps.push(format!("detect {detect}")),
        (Some(_), true) => steps.push("detect skipped (--force)".to_string()),
        (None, _) => {}
    }
    steps.push(match &install.entry {
        Some(_) => format!(
            "upload folder {} ({} bytes) + verify {} of every file",
            crate::plan::file_name(&install.installer),
            install.installer_size,
            host.route.verifies()
        ),
        None => format!("upload + verify {}", host.route.verifies()),
    });
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
    steps.join(" → ")
}

/// What runs: the file, or a folder's entry.
fn program(install: &InstallPlan) -> String {
    match &install.entry {
        Some(entry) => entry.clone(),
        None => crate::plan::file_name(&install.installer),
    }
}

/// A package with variants: which are tried, in order, then each one's own steps.
fn variant_steps(
    plan: &Plan,
    host: &HostPlan,
    package: &PackagePlan,
    install: &InstallPlan,
    sudo: bool,
) -> String {
    let asked = match host.target.os {
        crate::inventory::Os::Linux => "uname -m, /etc/os-release",
        crate::inventory::Os::Windows => "PROCESSOR_ARCHITECTURE and build, as SYSTEM",
    };
    let mut out = vec![format!(
        "ask the host its arch and os ({asked}); the first variant that fits runs, none fitting: skip"
    )];
    for alternative in &install.alternatives {
        let when: Vec<String> = alternative
            .when
            .iter()
            .map(crate::report::words::requirement)
            .collect();
        let when = if when.is_empty() {
            "any host".to_string()
        } else {
            when.join(", ")
        };
        out.push(format!(
            "variant {} `{}` for {when}: {}",
            alternative.number,
            crate::plan::file_name(&alternative.install.installer),
            steps(plan, host, package, &alternative.install, sudo)
        ));
    }
    out.join(" | ")
}

/// The steps of `pushinst remove` on one host: what it detects, what it runs and
/// how (a `command` through pushinst's small script, a `file` uploaded), what it checks.
fn removal_steps(plan: &Plan, host: &HostPlan, install: &InstallPlan, sudo: bool, verify: bool) -> String {
    let program = match &install.shim {
        Some(shim) => shim.program.clone(),
        None => crate::plan::file_name(&install.installer),
    };
    let mut argv = vec![program];
    argv.extend(install.args.iter().cloned());
    let mut steps = Vec::new();
    match (&install.detect, plan.force) {
        (Some(detect), false) => steps.push(format!("detect {detect} (not installed: skip)")),
        (Some(_), true) => steps.push("detect skipped (--force)".to_string()),
        (None, _) => steps.push("no detect: uninstall wherever asked".to_string()),
    }
    steps.push(match &install.shim {
        Some(_) => format!(
            "upload {} + verify {}",
            crate::plan::file_name(&install.installer),
            host.route.verifies()
        ),
        None => format!("upload + verify {}", host.route.verifies()),
    });
    let who = match host.route.transport {
        Transport::Ssh { .. } if sudo => " via sudo",
        Transport::Ssh { .. } => "",
        Transport::Smb { .. } => " as SYSTEM",
    };
    steps.push(format!(
        "uninstall `{}`{who} (timeout {})",
        argv.join(" "),
        humantime::format_duration(install.timeout)
    ));
    steps.push(format!("classify (ok: {:?})", install.success_codes));
    if let (true, Some(_)) = (verify, &install.detect) {
        steps.push("detect again (still installed: failed)".to_string());
    }
    steps.push("clean up".to_string());
    steps.join(" → ")
}

fn reboot_name(policy: RebootPolicy) -> &'static str {
    match policy {
        RebootPolicy::Never => "never",
        RebootPolicy::IfRequired => "if required",
        RebootPolicy::Always => "always",
        RebootPolicy::Ask => "ask the logged-on users first",
    }
}

/// `--canary`, `--batch`, `--max-failures` in words, when any was given.
fn rollout(rollout: &RolloutPlan) -> Option<String> {
    if !rollout.is_controlled() {
        return None;
    }
    let waves = rollout.waves();
    let mut parts = Vec::new();
    if rollout.canary > 0 {
        parts.push(format!(
            "{} canary host(s) first, the rest only if every one succeeds",
            rollout.canary
        ));
    }
    if let Some(batch) = rollout.batch {
        let count = waves.iter().filter(|w| !w.canary).count();
        parts.push(format!(
            "waves of {batch} ({count} wave(s)), each finished before the next"
        ));
    }
    if let Some(limit) = rollout.max_failures {
        parts.push(format!("no new host once {limit} have failed"));
    }
    Some(format!("rollout: {}\n", parts.join("; ")))
}

/// Human form: a head line, then the table.
pub fn render(plan: &Plan, credentials: &BTreeMap<String, CredentialDef>) -> String {
    let names: Vec<String> = plan.packages.iter().map(PackagePlan::title).collect();
    let mut out = format!(
        "plan: {}{} on {} host(s), {} at a time{}; nothing will be touched (dry run)\n",
        if plan.goal == Goal::Remove { "remove " } else { "" },
        names.join(" → "),
        plan.hosts.len(),
        plan.concurrency,
        plan.until
            .as_ref()
            .map(|w| format!(", no host starts after {}", w.label))
            .unwrap_or_default()
    );
    if let Some(words) = rollout(&plan.rollout) {
        out.push_str(&words);
    }
    let mut rows = vec![[
        "HOST".to_string(),
        "OS".into(),
        "VIA".into(),
        "CREDENTIALS".into(),
        "PACKAGE".into(),
        "DECISION".into(),
        "STEPS".into(),
    ]];
    for host in &plan.hosts {
        let t = &host.target;
        let via = if t.address != t.name {
            format!("{} {}", transport(host), t.address)
        } else {
            transport(host)
        };
        let creds: Vec<String> = host
            .credentials
            .iter()
            .map(|name| credential(name, credentials.get(name)))
            .collect();
        let sudo = sudo(host, credentials);
        for ((package, install), decided) in plan.packages.iter().zip(&host.installs).zip(&host.decisions) {
            rows.push([
                t.label(),
                t.os.to_string(),
                via.clone(),
                creds.join(", then "),
                package.title(),
                decision(decided),
                steps(plan, host, package, install, sudo),
            ]);
        }
    }
    let logons: String = plan
        .hosts
        .iter()
        .filter(|h| !h.logons.is_empty())
        .map(|h| format!("{}\n{}", h.target.label(), super::logon::lines(&h.logons, "  ")))
        .collect();
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    out.push('\n');
    for row in rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !logons.is_empty() {
        out.push_str("\nwindows logons:\n");
        out.push_str(&logons);
    }
    out
}

/// JSON Lines: `{"type":"plan",…}`, then one `{"type":"planned",…}` per host and package.
pub fn json_lines(plan: &Plan, credentials: &BTreeMap<String, CredentialDef>) -> Vec<Value> {
    let mut lines = vec![json!({
        "type": "plan",
        "data": {
            "format_version": FORMAT_VERSION,
            "packages": plan.packages.iter().map(|p| json!({
                "name": p.name,
                "version": p.version,
                "max_attempts": p.max_attempts,
                "success_codes": p.success_codes,
                "reboot_codes": p.reboot_codes,
            })).collect::<Vec<_>>(),
            "operation": match plan.goal {
                Goal::Install => "install",
                Goal::Remove => "remove",
            },
            "hosts": plan.hosts.len(),
            "concurrency": plan.concurrency,
            "force": plan.force,
            "until": plan.until.as_ref().map(|w| &w.label),
            "rollout": {
                "canary": plan.rollout.canary,
                "batch": plan.rollout.batch,
                "max_failures": plan.rollout.max_failures,
                "waves": plan.rollout.waves().iter().map(|w| w.hosts).collect::<Vec<_>>(),
            },
        }
    })];
    for host in &plan.hosts {
        let t = &host.target;
        let sudo = sudo(host, credentials);
        for ((package, install), decided) in plan.packages.iter().zip(&host.installs).zip(&host.decisions) {
            let (kind, skip) = match decided {
                Decision::Install => ("install", Value::Null),
                Decision::Remove => ("remove", Value::Null),
                Decision::Skip(skip) => ("skip", json!(skip)),
                Decision::Omit(Omitted::AlreadySucceeded) => ("leave-installed", Value::Null),
                Decision::Omit(Omitted::NotSelected) => ("leave-not-selected", Value::Null),
                Decision::Omit(Omitted::Removed) => ("leave-removed", Value::Null),
            };
            let algorithms: serde_json::Map<String, Value> = match &host.route.transport {
                Transport::Ssh { algorithms, .. } => algorithms
                    .changed()
                    .into_iter()
                    .map(|(kind, list)| (kind.setting().to_string(), Value::String(list)))
                    .collect(),
                Transport::Smb { .. } => serde_json::Map::new(),
            };
            let (transport, exec, signing, encryption, start) = match host.route.transport {
                Transport::Ssh { .. } => ("ssh", None, None, None, None),
                Transport::Smb {
                    exec,
                    signing,
                    encryption,
                    start_timeout,
                } => (
                    "smb",
                    Some(exec_name(exec)),
                    Some(signing_name(signing)),
                    Some(encryption_name(encryption)),
                    Some(u64::try_from(start_timeout.as_millis()).unwrap_or(u64::MAX)),
                ),
            };
            lines.push(json!({
                "type": "planned",
                "data": {
                    "host": t.label(),
                    "os": t.os.to_string(),
                    "address": t.address,
                    "port": host.route.port,
                    "transport": transport,
                    "exec": exec,
                    "smb_signing": signing,
                    "smb_encryption": encryption,
                    "start_timeout_ms": start,
                    "ssh_algorithms": algorithms,
                    "staging": host.route.staging(),
                    "verify": host.route.verifies(),
                    "credentials": host.credentials,
                    "logon": super::logon::json(&host.logons),
                    "remembered_credential": host.remembered,
                    "sudo": sudo,
                    "package": package.name,
                    "version": package.version,
                    "decision": kind,
                    "decision_text": decision(decided),
                    "skip": skip,
                    "installer": install.installer,
                    "installer_size": install.installer_size,
                    "config": install.config,
                    "args": install.args,
                    "detect": install.detect.as_ref().map(|d| d.to_string()),
                    "requires": install.requires.iter().map(crate::report::words::requirement).collect::<Vec<_>>(),
                    "timeout_ms": u64::try_from(install.timeout.as_millis()).unwrap_or(u64::MAX),
                    "reboot": package.reboot,
                    "success_codes": install.success_codes,
                    // An uninstall `command`: the program on the host the uploaded
                    // script runs.
                    "command": install.shim.as_ref().map(|s| &s.program),
                    "entry": install.entry,
                    // Variants by arch/os, in the order they are tried on the host.
                    "variants": install.alternatives.iter().map(|a| json!({
                        "variant": a.number,
                        "installer": a.install.installer,
                        "entry": a.install.entry,
                        "when": a.when.iter().map(crate::report::words::requirement).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                }
            }));
        }
    }
    lines
}
