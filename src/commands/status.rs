//! `pushinst status [JOB|PACKAGE] [--to TARGET…]`: from the history, per host and
//! package the latest result, the attempts used, when, the exit code and whether
//! a reboot is pending.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::cli::{Cli, OutputFormat, StatusArgs};
use crate::commands::optional_inventory;
use crate::error::{AppError, EXIT_OK};
use crate::history::{AttemptRow, Filter};
use crate::inventory::{self, Inventory};
use crate::launch::open_history;
use crate::report::clock;

struct Entry {
    host: String,
    package: String,
    latest: Option<AttemptRow>,
    failures: u32,
    max_attempts: u32,
}

impl Entry {
    fn result(&self) -> &str {
        self.latest.as_ref().map_or("never-tried", AttemptRow::status)
    }
}

pub fn status(cli: &Cli, args: &StatusArgs) -> Result<u8, AppError> {
    let inv = optional_inventory(cli)?;
    if inv.is_none() && !args.to.is_empty() {
        return Err(AppError::Usage {
            message: format!(
                "--to needs the inventory, and {} does not exist",
                cli.inventory.display()
            ),
            hint: Some("pass it with -i FILE or PUSHINST_INVENTORY".into()),
        });
    }
    let history = open_history(cli, inv.as_ref())?;
    let (packages, targets) = scope(inv.as_ref(), args)?;
    let filter = Filter {
        hosts: targets.clone().unwrap_or_default(),
        packages: packages.clone(),
    };
    let mut latest: BTreeMap<(String, String), AttemptRow> = history
        .latest(&filter)?
        .into_iter()
        .map(|row| ((row.host.clone(), row.package.clone()), row))
        .collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    if let Some(hosts) = &targets {
        for host in hosts {
            for package in &packages {
                keys.push((host.clone(), package.clone()));
            }
        }
    }
    for key in latest.keys() {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    let mut entries = Vec::new();
    for (host, package) in keys {
        let max_attempts = inv
            .as_ref()
            .map(|i| {
                i.packages
                    .get(&package)
                    .map_or(i.settings.max_attempts, |p| p.attempts_allowed(&i.settings))
            })
            .unwrap_or(inventory::DEFAULT_MAX_ATTEMPTS);
        entries.push(Entry {
            failures: history.failures(&host, &package)?,
            latest: latest.remove(&(host.clone(), package.clone())),
            host,
            package,
            max_attempts,
        });
    }
    let text = match cli.output() {
        OutputFormat::Json => render_json(&entries),
        OutputFormat::Human => render(&entries),
    };
    crate::report::write_out(&mut std::io::stdout(), &text);
    Ok(EXIT_OK)
}

/// The packages asked about, and the hosts when the question names them.
fn scope(inv: Option<&Inventory>, args: &StatusArgs) -> Result<(Vec<String>, Option<Vec<String>>), AppError> {
    let job = args
        .name
        .as_ref()
        .and_then(|name| inv.and_then(|i| i.jobs.get(name)));
    let packages = match (job, &args.name) {
        (Some(job), _) => job.packages.clone(),
        (None, Some(name)) => vec![name.clone()],
        (None, None) => Vec::new(),
    };
    let to = match job {
        _ if !args.to.is_empty() => Some(args.to.clone()),
        Some(job) => Some(job.targets.clone()),
        None => None,
    };
    let targets = match (to, inv) {
        (Some(to), Some(inv)) => Some(
            inventory::resolve_targets(inv, &to)?
                .iter()
                .map(|t| t.label())
                .collect(),
        ),
        _ => None,
    };
    Ok((packages, targets))
}

fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("nothing on record\n");
        return out;
    }
    let host_w = entries.iter().map(|e| e.host.len()).max().unwrap_or(4).max(4);
    let pkg_w = entries.iter().map(|e| e.package.len()).max().unwrap_or(7).max(7);
    let _ = writeln!(
        out,
        "{:<host_w$}  {:<pkg_w$}  {:<17}  {:<20}  {:>8}  {:>5}  {:<9}  DETAIL",
        "HOST", "PACKAGE", "RESULT", "WHEN", "ATTEMPTS", "EXIT", "REBOOT"
    );
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *tally.entry(e.result()).or_default() += 1;
        let a = e.latest.as_ref();
        let when = a
            .and_then(|a| a.finished_at.or(a.started_at))
            .map(clock)
            .unwrap_or_else(|| "-".into());
        let exit = a
            .and_then(|a| a.exit_code)
            .map_or("-".to_string(), |c| c.to_string());
        let reboot = a.and_then(|a| a.reboot.clone()).unwrap_or_else(|| "-".into());
        let detail = match a {
            Some(a) if !a.succeeded() => {
                crate::report::words::attempt_reason(a).unwrap_or_else(|| format!("at {}", a.phase))
            }
            _ => String::new(),
        };
        let line = format!(
            "{:<host_w$}  {:<pkg_w$}  {:<17}  {when:<20}  {:>8}  {exit:>5}  {reboot:<9}  {detail}",
            e.host,
            e.package,
            e.result(),
            format!("{}/{}", e.failures, e.max_attempts),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let counts: Vec<String> = tally.iter().map(|(r, n)| format!("{n} {r}")).collect();
    let _ = writeln!(
        out,
        "\n{} host/package pair(s): {}",
        entries.len(),
        counts.join(", ")
    );
    out
}

fn render_json(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let a = e.latest.as_ref();
        let line = json!({
            "host": e.host,
            "package": e.package,
            "result": e.result(),
            // The outcome as data (null for attempts recorded before version 2).
            "kind": a.and_then(|a| a.outcome.as_ref()).map(|o| o.kind()),
            "detail": a.and_then(|a| a.outcome.as_ref()),
            "success": a.is_some_and(|a| a.succeeded()),
            "run_id": a.map(|a| &a.run_id),
            "version": a.and_then(|a| a.version.as_ref()),
            "started": a.and_then(|a| a.started_at).map(clock),
            "finished": a.and_then(|a| a.finished_at).map(clock),
            "phase": a.map(|a| &a.phase),
            "exit_code": a.and_then(|a| a.exit_code),
            "reason": a.and_then(crate::report::words::attempt_reason),
            "reboot": a.and_then(|a| a.reboot.as_ref()),
            "credential": a.and_then(|a| a.credential.as_ref()),
            "attempts": e.failures,
            "max_attempts": e.max_attempts,
        });
        let _ = writeln!(out, "{line}");
    }
    out
}
