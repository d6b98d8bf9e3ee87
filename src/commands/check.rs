//! `pushinst check --to TARGET… [PACKAGE]`: the preflight. Same inventory, targets,
//! credentials order, pool and limits as deploy; installs nothing and records no
//! attempt. It is a run in the history all the same (command `check`, no hosts'
//! attempts), so that what it creates on targets is journaled under its run id and
//! its pid: `pushinst cleanup` removes what a killed check left, never what a
//! running one holds. Like deploy, it does not start without the history.

use std::io::IsTerminal;

use crate::cli::{CheckArgs, Cli, OutputFormat, RunArgs};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_OK};
use crate::history::{CHECK_RUN, NewRun, RunLedger};
use crate::inventory;
use crate::launch::{self, new_run_id, open_history};
use crate::plan;
use crate::report;
use crate::runner::check::{CheckLimits, check_all};
use crate::secrets::Redactor;
use crate::wiring::{self, Connectors};

pub async fn check(cli: &Cli, args: &CheckArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    let run = RunArgs {
        pool: args.pool.clone(),
        ..RunArgs::default()
    };
    let options = launch::plan_options(&inv, &run, None, Default::default())?;
    // Opened (made) as deploy opens it: nothing is created on a host that could
    // not be journaled first.
    let history = std::sync::Arc::new(open_history(cli, Some(&inv))?);
    let packages: Vec<String> = args.package.iter().cloned().collect();
    let mut plan = plan::plan(&inv, &packages, targets, options, history.as_ref())?;
    // Which mechanism and KDC each Windows host will use, shown with its row. This
    // may ask DNS (bounded, each answer kept for the run's logons); no host is
    // being worked on yet.
    tokio::task::block_in_place(|| plan::decide_logons(&mut plan, &inv.credentials));
    let logons: std::collections::HashMap<String, Vec<plan::CredentialLogon>> = plan
        .hosts
        .iter()
        .map(|h| (h.target.label(), h.logons.clone()))
        .collect();
    let logons_of = |host: &str| logons.get(host).map(Vec::as_slice).unwrap_or_default();
    let mut redactor = Redactor::default();
    let credentials = wiring::resolve_for(&inv, plan.hosts.iter().map(|h| &h.target), &mut redactor)?;
    // Names the probe's staging directory, as a run id names deploy's, and the
    // check's entries in the journal.
    let run_id = new_run_id();
    let connectors = Connectors::new(&inv, &run_id)?;
    let jobs = wiring::check_jobs(&plan, &connectors, &credentials)?;
    let limits = CheckLimits {
        connect: plan.timeouts.connect,
        auth: plan.timeouts.auth,
        probe: plan.timeouts.upload,
        host: plan.timeouts.host,
        cleanup: plan.timeouts.cleanup,
    };
    history.begin_run(&NewRun {
        id: &run_id,
        command: CHECK_RUN,
        job: None,
        packages: &packages,
        log_dir: None,
        slots: &[],
    })?;
    let ledger = std::sync::Arc::new(RunLedger::new(history.clone(), &run_id, None));
    let results = check_all(jobs, plan.concurrency, &limits, &redactor, ledger).await;
    if let Err(e) = history.end_run(&run_id) {
        tracing::warn!("could not record the end of check {run_id}: {e}");
    }
    let mut out = std::io::stdout();
    match cli.output() {
        OutputFormat::Json => {
            for result in &results {
                let mut line = report::check::json(result);
                line["logon"] = report::logon::json(logons_of(&result.host));
                report::write_out(&mut out, &format!("{line}\n"));
            }
        }
        OutputFormat::Human => {
            for result in results.iter().filter(|r| !(cli.quiet() && r.is_ready())) {
                report::write_out(&mut out, &report::check::row(result));
                report::write_out(&mut out, &report::logon::lines(logons_of(&result.host), "    "));
            }
            let summary = report::check::summary(&results);
            if std::io::stdout().is_terminal() || !cli.quiet() || results.iter().any(|r| !r.is_ready()) {
                report::write_out(&mut out, &summary);
            }
        }
    }
    Ok(if results.iter().all(|r| r.is_ready()) {
        EXIT_OK
    } else {
        EXIT_HOSTS_FAILED
    })
}
