//! `pushinst check --to TARGET… [PACKAGE]`: the preflight. Same inventory, targets,
//! credentials order, pool and limits as deploy; installs nothing and records
//! nothing (the history is only read, for the credential that worked last).

use std::io::IsTerminal;

use crate::cli::{CheckArgs, Cli, OutputFormat, RunArgs};
use crate::error::{AppError, EXIT_HOSTS_FAILED, EXIT_OK};
use crate::history::History;
use crate::inventory;
use crate::launch::{self, new_run_id};
use crate::plan::{self, Facts, NoFacts};
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
    // Read only, as a dry run does: a check creates no history.
    let path = launch::history_path(cli, Some(&inv));
    let history = path.exists().then(|| History::open(&path)).transpose()?;
    let facts: &dyn Facts = match &history {
        Some(h) => h,
        None => &NoFacts,
    };
    let packages: Vec<String> = args.package.iter().cloned().collect();
    let plan = plan::plan(&inv, &packages, targets, options, facts)?;
    let mut redactor = Redactor::default();
    let credentials = wiring::resolve_for(&inv, plan.hosts.iter().map(|h| &h.target), &mut redactor)?;
    // Names the probe's staging directory, as a run id names deploy's.
    let connectors = Connectors::new(&inv, &new_run_id())?;
    let jobs = wiring::check_jobs(&plan, &connectors, &credentials)?;
    let limits = CheckLimits {
        connect: plan.timeouts.connect,
        auth: plan.timeouts.auth,
        probe: plan.timeouts.upload,
        host: plan.timeouts.host,
    };
    let results = check_all(jobs, plan.concurrency, &limits, &redactor).await;
    let mut out = std::io::stdout();
    match cli.output() {
        OutputFormat::Json => {
            for result in &results {
                report::write_out(&mut out, &format!("{}\n", report::check::json(result)));
            }
        }
        OutputFormat::Human => {
            for result in results.iter().filter(|r| !(cli.quiet() && r.is_ready())) {
                report::write_out(&mut out, &report::check::row(result));
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
