//! Jobs created without running (Kaspersky's "do not run the task after the
//! wizard"): `deploy … --save-as NAME` records one, `pushinst run NAME` starts it.
//! `run` also starts an inventory [jobs] entry on all its targets.

use serde::{Deserialize, Serialize};

use crate::cli::{Cli, RunArgs, RunJobArgs};
use crate::error::{AppError, EXIT_OK};
use crate::inventory::{self, Inventory, Target};
use crate::launch::{self, RunRequest, open_history, plan_options};
use crate::plan;

/// What the history keeps of a saved job: the request, not its resolution, so
/// hosts added to a group before `run` are included.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedJob {
    pub packages: Vec<String>,
    pub to: Vec<String>,
    pub force: bool,
}

pub fn save(
    cli: &Cli,
    inv: &Inventory,
    name: &str,
    job: &SavedJob,
    targets: Vec<Target>,
    args: &RunArgs,
) -> Result<u8, AppError> {
    // Plan now so a job that cannot run is refused now, not at 3 a.m.
    let options = plan_options(inv, args, None, plan::Selection::All)?;
    let plan = plan::plan(inv, &job.packages, targets, options, &plan::NoFacts)?;
    let name = if name.trim().is_empty() {
        let packages: Vec<String> = plan.packages.iter().map(plan::PackagePlan::title).collect();
        format!("Install {}", packages.join(", "))
    } else {
        name.trim().to_string()
    };
    let history = open_history(cli, Some(inv))?;
    let spec = serde_json::to_string(job).map_err(|e| AppError::Usage {
        message: format!("cannot record the job: {e}"),
        hint: None,
    })?;
    history.save_job(&name, &spec)?;
    if !cli.quiet() {
        crate::report::write_out(
            &mut std::io::stdout(),
            &format!(
                "saved job \"{name}\" ({} host(s)); nothing was touched. Start it with:\n  pushinst run '{}'\n",
                plan.hosts.len(),
                name.replace('\'', "'\\''")
            ),
        );
    }
    Ok(EXIT_OK)
}

pub async fn run(cli: &Cli, args: &RunJobArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let history = open_history(cli, Some(&inv))?;
    let request = match history.saved_job(&args.name)? {
        Some(spec) => {
            let job: SavedJob = serde_json::from_str(&spec).map_err(|e| AppError::Usage {
                message: format!("the saved job `{}` cannot be read: {e}", args.name),
                hint: Some("save it again with `pushinst deploy … --save-as NAME`".into()),
            })?;
            let mut run = args.run.clone();
            run.force |= job.force;
            let request = RunRequest {
                command: "run",
                job: Some(args.name.clone()),
                targets: inventory::resolve_targets(&inv, &job.to)?,
                packages: job.packages,
                reboot: None,
                selection: Default::default(),
                goal: Default::default(),
                include_removed: false,
            };
            return launch::launch(cli, &inv, &run, request).await;
        }
        None => match inv.jobs.get(&args.name) {
            Some(job) => RunRequest {
                command: "run",
                job: Some(job.name.clone()),
                packages: job.packages.clone(),
                targets: inventory::resolve_targets(&inv, &job.targets)?,
                reboot: job.reboot,
                selection: Default::default(),
                goal: Default::default(),
                include_removed: false,
            },
            None => {
                let mut known = history.saved_job_names()?;
                known.extend(inv.jobs.keys().cloned());
                return Err(AppError::Usage {
                    message: format!("no saved or inventory job named `{}`", args.name),
                    hint: Some(if known.is_empty() {
                        "save one with `pushinst deploy PACKAGE --to TARGET --save-as NAME`".into()
                    } else {
                        format!("jobs: {}", known.join(", "))
                    }),
                });
            }
        },
    };
    launch::launch(cli, &inv, &args.run, request).await
}
