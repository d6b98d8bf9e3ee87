//! `pushinst retry [RUN]` (JP1's "re-execute only the jobs that ended in error"):
//! the hosts of that run that failed, were unreachable, skipped or interrupted,
//! and only the packages they lack. Hosts that succeeded are never touched.

use std::collections::HashSet;

use crate::cli::{Cli, RetryArgs};
use crate::error::{AppError, EXIT_OK};
use crate::history::Filter;
use crate::inventory;
use crate::launch::{RunRequest, launch, open_history};
use crate::plan::Selection;

pub async fn retry(cli: &Cli, args: &RetryArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let history = open_history(cli, Some(&inv))?;
    let Some(run) = history.run(args.run_id.as_deref())? else {
        return Err(AppError::Usage {
            message: match &args.run_id {
                Some(id) => format!("no run `{id}` in the history ({})", history.path().display()),
                None => format!("no run in the history yet ({})", history.path().display()),
            },
            hint: Some("`pushinst status` shows what is on record".into()),
        });
    };
    // A retry installs; retrying a removal that way would put the package back.
    if run.command == "remove" {
        return Err(AppError::Usage {
            message: format!(
                "run {} was a `pushinst remove`; retry repeats installs only",
                run.id
            ),
            hint: Some(format!(
                "run `pushinst remove {} --to HOST…` again for the hosts it did not reach",
                run.packages.join(" ")
            )),
        });
    }
    if run.finished_at.is_none() {
        return Err(AppError::Usage {
            message: format!("run {} is still going", run.id),
            hint: Some("retry it once it has finished".into()),
        });
    }
    let undone: Vec<_> = history
        .run_attempts(&run.id)?
        .into_iter()
        .filter(|a| a.retryable())
        .collect();
    // ...unless a later (or concurrent) run has since put the package on the host:
    // retry never reinstalls a host that has it. Only these hosts' records are read.
    let filter = Filter {
        hosts: undone.iter().map(|a| a.host.clone()).collect(),
        packages: run.packages.clone(),
    };
    let on_record = if undone.is_empty() {
        Vec::new()
    } else {
        history.latest(&filter)?
    };
    let settled: HashSet<(String, String)> = on_record
        .into_iter()
        .filter(|a| a.succeeded())
        .map(|a| (a.host, a.package))
        .collect();
    let failed: Vec<_> = undone
        .into_iter()
        .filter(|a| !settled.contains(&(a.host.clone(), a.package.clone())))
        .collect();
    if failed.is_empty() {
        if !cli.quiet() {
            crate::report::write_out(
                &mut std::io::stdout(),
                &format!(
                    "nothing to retry: every host of run {} has the package on record, or is at its attempt limit\n",
                    run.id
                ),
            );
        }
        return Ok(EXIT_OK);
    }
    let mut hosts: Vec<String> = Vec::new();
    for a in &failed {
        if !hosts.contains(&a.host) {
            hosts.push(a.host.clone());
        }
    }
    let pairs: HashSet<(String, String)> = failed.into_iter().map(|a| (a.host, a.package)).collect();
    let reboot = run
        .job
        .as_ref()
        .and_then(|j| inv.jobs.get(j))
        .and_then(|j| j.reboot);
    let request = RunRequest {
        command: "retry",
        job: run.job.clone(),
        packages: run.packages.clone(),
        targets: inventory::resolve_targets(&inv, &hosts)?,
        reboot,
        selection: Selection::Only(pairs),
        goal: Default::default(),
        include_removed: false,
    };
    if !cli.quiet() && cli.output() == crate::cli::OutputFormat::Human {
        crate::report::write_out(
            &mut std::io::stdout(),
            &format!(
                "retrying {} host(s) of run {} ({}, started {})\n",
                hosts.len(),
                run.id,
                run.command,
                crate::report::clock(run.started_at)
            ),
        );
    }
    launch(cli, &inv, &args.run, request).await
}
