//! `pushinst sync [JOB…]` (JP1's jobs bound to groups): deliver each job to every
//! target with no success on record for it. Run from cron, it installs hosts added
//! to a group since last time and tries offline ones again, touching no others.

use crate::cli::{Cli, SyncArgs};
use crate::commands::worst;
use crate::error::{AppError, EXIT_INTERRUPTED, EXIT_OK};
use crate::inventory;
use crate::launch::{RunRequest, launch};
use crate::plan::Selection;

pub async fn sync(cli: &Cli, args: &SyncArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    for name in &args.jobs {
        if !inv.jobs.contains_key(name) {
            return Err(AppError::Usage {
                message: format!("no job `{name}` in {}", cli.inventory.display()),
                hint: Some(if inv.jobs.is_empty() {
                    "add a [jobs.NAME] table with `package` and `targets`".into()
                } else {
                    format!(
                        "jobs in the inventory: {}",
                        inv.jobs.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                }),
            });
        }
    }
    let names: Vec<String> = if args.jobs.is_empty() {
        inv.jobs.keys().cloned().collect()
    } else {
        args.jobs.clone()
    };
    if names.is_empty() && !cli.quiet() {
        crate::report::write_out(
            &mut std::io::stderr(),
            "pushinst: the inventory has no [jobs]; nothing to sync\n",
        );
    }
    // Every job's targets are checked before the first job runs.
    let mut requests = Vec::new();
    for name in names {
        let job = &inv.jobs[&name];
        requests.push(RunRequest {
            command: "sync",
            job: Some(name.clone()),
            packages: job.packages.clone(),
            targets: inventory::resolve_targets(&inv, &job.targets)?,
            reboot: job.reboot,
            selection: Selection::Missing,
            goal: Default::default(),
            include_removed: args.include_removed,
        });
    }
    let mut code = EXIT_OK;
    for request in requests {
        if !cli.quiet() && cli.output() == crate::cli::OutputFormat::Human {
            crate::report::write_out(
                &mut std::io::stdout(),
                &format!("job {}:\n", request.job.as_deref().unwrap_or_default()),
            );
        }
        code = worst(code, launch(cli, &inv, &args.run, request).await?);
        if code == EXIT_INTERRUPTED {
            break;
        }
    }
    Ok(code)
}
