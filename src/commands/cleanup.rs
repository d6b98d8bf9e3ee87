//! `pushinst cleanup [--to TARGET…]`: remove from targets what interrupted or
//! crashed runs left there, as the artefact journal records it. It goes through
//! the same runner as every install: the same pool, timeouts, progress, `--output
//! json`, Ctrl-C handling and exit codes. Each entry is struck once it is gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cli::{CleanupArgs, Cli, OutputFormat};
use crate::error::{AppError, EXIT_OK};
use crate::history::{ArtefactRow, CleanupLedger};
use crate::inventory::{self, Target};
use crate::launch::{self, RunSetup, open_history};
use crate::plan;
use crate::runner::{CLEANUP_ITEM, HostJob, Leftover, Work};
use crate::secrets::Redactor;
use crate::transport::{Artefact, ArtefactKind};
use crate::wiring::{self, Connectors};

pub async fn cleanup(cli: &Cli, args: &CleanupArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let history = Arc::new(open_history(cli, Some(&inv))?);
    let wanted: Option<Vec<String>> = if args.to.is_empty() {
        None
    } else {
        Some(
            inventory::resolve_targets(&inv, &args.to)?
                .iter()
                .map(Target::label)
                .collect(),
        )
    };
    let mut by_host: BTreeMap<String, Vec<ArtefactRow>> = BTreeMap::new();
    for row in history.leftovers()? {
        if wanted.as_ref().is_none_or(|w| w.contains(&row.host)) {
            by_host.entry(row.host.clone()).or_default().push(row);
        }
    }
    if by_host.is_empty() {
        if !cli.quiet() && cli.output() == OutputFormat::Human {
            crate::report::write_out(
                &mut std::io::stdout(),
                "nothing to clean up: the journal has no leftovers\n",
            );
        }
        return Ok(EXIT_OK);
    }
    let mut targets = Vec::new();
    let mut gone = Vec::new();
    for (host, rows) in by_host {
        match inventory::resolve_targets(&inv, std::slice::from_ref(&host)) {
            Ok(mut t) if t.len() == 1 => targets.push((t.remove(0), rows)),
            _ => gone.push(host),
        }
    }
    if !gone.is_empty() {
        return Err(AppError::Usage {
            message: format!(
                "the journal has leftovers on host(s) the inventory no longer knows: {}",
                gone.join(", ")
            ),
            hint: Some("put them back in the inventory, or clean up the rest with `--to`".into()),
        });
    }
    let mut redactor = Redactor::default();
    let credentials = wiring::resolve_for(&inv, targets.iter().map(|(t, _)| t), &mut redactor)?;
    let run_id = launch::new_run_id();
    let connectors = Connectors::new(&inv, &run_id)?;
    let jobs: Vec<HostJob> = targets
        .into_iter()
        .map(|(target, rows)| {
            // The credential that created the artefacts first: it owns them.
            let owner = rows.first().map(|r| r.credential.as_str());
            // Removal works the same whether a service or a task ran the installer.
            let (connector, endpoint) = connectors.endpoint(&target, &plan::route(&target, None));
            let leftovers = rows
                .iter()
                .filter_map(|row| {
                    Some(Leftover {
                        artefact: Artefact {
                            kind: ArtefactKind::parse(&row.kind)?,
                            path: row.path.clone(),
                        },
                        run_id: row.run_id.clone(),
                    })
                })
                .collect();
            HostJob {
                label: target.label(),
                endpoint,
                connector,
                credentials: wiring::ordered(
                    &plan::credentials_first(&target.credentials, owner),
                    &credentials,
                ),
                work: Work::Remove(leftovers),
            }
        })
        .collect();
    let log_dir = launch::logs_beside(history.path()).join(&run_id);
    let setup = RunSetup {
        ledger: Arc::new(CleanupLedger::new(history.clone())),
        run_id,
        items: vec![CLEANUP_ITEM.to_string()],
        concurrency: launch::concurrency(&inv, &args.pool),
        timeouts: launch::timeouts(&inv, &args.pool),
        force: false,
        redactor,
        until: None,
        notice: inv.settings.reboot.clone(),
        rollout: Default::default(),
        logs: launch::create_logs(&log_dir)?,
        junit: launch::create_junit(&args.reports)?,
        // Takes off what runs left behind, not a package.
        goal: Default::default(),
    };
    launch::run_jobs(cli, jobs, setup).await
}
