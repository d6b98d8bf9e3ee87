//! `pushinst logs HOST [--run RUN] [--package P]`: the diagnostic log of a host's
//! attempt: steps with timings, the command (secrets removed), exit code, output.

use crate::cli::{Cli, LogsArgs};
use crate::commands::optional_inventory;
use crate::error::{AppError, EXIT_OK};
use crate::history::Filter;
use crate::launch::open_history;

pub fn logs(cli: &Cli, args: &LogsArgs) -> Result<u8, AppError> {
    let inv = optional_inventory(cli)?;
    let history = open_history(cli, inv.as_ref())?;
    let rows = history.attempts(&Filter {
        hosts: vec![args.host.clone()],
        packages: args.package.iter().cloned().collect(),
    })?;
    let run = match &args.run_id {
        Some(id) => Some(id.clone()),
        None => rows
            .iter()
            .rev()
            .find(|a| a.started_at.is_some())
            .or(rows.last())
            .map(|a| a.run_id.clone()),
    };
    let chosen: Vec<_> = rows.iter().filter(|a| Some(&a.run_id) == run.as_ref()).collect();
    if chosen.is_empty() {
        let known: Vec<String> = history
            .attempts(&Filter::default())?
            .into_iter()
            .map(|a| a.host)
            .fold(Vec::new(), |mut v, h| {
                if !v.contains(&h) {
                    v.push(h);
                }
                v
            });
        return Err(AppError::Usage {
            message: match &args.run_id {
                Some(id) => format!("no attempt on record for {} in run {id}", args.host),
                None => format!("no attempt on record for {}", args.host),
            },
            hint: Some(
                match crate::inventory::nearest(&args.host, known.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`? (`pushinst status` lists the hosts)"),
                    None => "`pushinst status` lists the hosts on record".into(),
                },
            ),
        });
    }
    let mut out = String::new();
    let mut shown: Vec<&str> = Vec::new();
    for a in &chosen {
        out.push_str(&format!(
            "== {} {} in run {}: {}{}\n",
            a.host,
            a.package,
            a.run_id,
            a.status(),
            crate::report::words::attempt_reason(a)
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        ));
        let Some(path) = a.log_path.as_deref() else {
            continue;
        };
        if shown.contains(&path) {
            continue;
        }
        shown.push(path);
        match std::fs::read_to_string(path) {
            Ok(text) => out.push_str(&text),
            Err(e) => out.push_str(&format!("(the log file {path} cannot be read: {e})\n")),
        }
    }
    crate::report::write_out(&mut std::io::stdout(), &out);
    Ok(EXIT_OK)
}
