//! `--dry-run`: the plan, in words or as JSON Lines, then what could be checked on
//! this machine without touching a host (files, keys, secrets, known_hosts). A
//! problem found there exits 2, as any bad input does; nothing is touched either way.

use serde_json::json;

use crate::cli::{Cli, OutputFormat};
use crate::error::{AppError, EXIT_BAD_INPUT, EXIT_OK};
use crate::inventory::Inventory;
use crate::local_check;
use crate::plan::{Goal, Plan, Transport};
use crate::report;

pub fn show(cli: &Cli, inv: &Inventory, plan: &Plan) -> Result<u8, AppError> {
    // Which mechanism and KDC each Windows host will use: this may ask DNS, with
    // bounded timeouts, and nothing else runs meanwhile.
    let mut plan = plan.clone();
    tokio::task::block_in_place(|| crate::plan::decide_logons(&mut plan, &inv.credentials));
    let plan = &plan;
    let mut credentials: Vec<String> = Vec::new();
    for name in plan.hosts.iter().flat_map(|h| h.credentials.iter()) {
        if !credentials.contains(name) {
            credentials.push(name.clone());
        }
    }
    // A removal uploads no installer: the plan has already found each uninstall file.
    let packages: Vec<String> = match plan.goal {
        Goal::Install => plan.packages.iter().map(|p| p.name.clone()).collect(),
        Goal::Remove => Vec::new(),
    };
    let uses_ssh = plan
        .hosts
        .iter()
        .any(|h| matches!(h.route.transport, Transport::Ssh { .. }));
    let check = local_check::check(inv, &credentials, &packages, uses_ssh);
    let text = match cli.output() {
        OutputFormat::Human => {
            let mut text = report::plan::render(plan, &inv.credentials);
            for name in &check.prompts {
                text.push_str(&format!(
                    "\nthe secret of credential `{name}` will be asked for when the run starts"
                ));
            }
            if !check.prompts.is_empty() {
                text.push('\n');
            }
            text
        }
        OutputFormat::Json => {
            let mut lines = report::plan::json_lines(plan, &inv.credentials);
            lines.extend(
                check
                    .prompts
                    .iter()
                    .map(|name| json!({"type": "prompt", "data": {"credential": name}})),
            );
            lines.extend(check.problems.iter().map(|p| {
                json!({"type": "local_problem", "data": {
                    "subject": p.subject, "problem": p.problem, "hint": p.hint,
                }})
            }));
            lines.iter().map(|line| format!("{line}\n")).collect()
        }
    };
    report::write_out(&mut std::io::stdout(), &text);
    if check.problems.is_empty() {
        return Ok(EXIT_OK);
    }
    if cli.output() == OutputFormat::Human {
        let mut text = format!(
            "\npushinst: error: {} problem(s) found on this machine; a run would stop on them:\n",
            check.problems.len()
        );
        for p in &check.problems {
            text.push_str(&format!("  {p}\n"));
            if let Some(hint) = &p.hint {
                text.push_str(&format!("    hint: {hint}\n"));
            }
        }
        report::write_out(&mut std::io::stderr(), &text);
    }
    Ok(EXIT_BAD_INPUT)
}
