//! `pushinst deploy PACKAGE… --to TARGET…`: the main job, or `--save-as` to record
//! it for `pushinst run` without touching a host.

use crate::cli::{Cli, DeployArgs};
use crate::commands::run::{SavedJob, save};
use crate::error::AppError;
use crate::inventory;
use crate::launch::{RunRequest, launch};

pub async fn deploy(cli: &Cli, args: &DeployArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    if let Some(name) = &args.save_as {
        let job = SavedJob {
            packages: args.packages.clone(),
            to: args.to.clone(),
            force: args.run.force,
        };
        return save(cli, &inv, name, &job, targets, &args.run);
    }
    let request = RunRequest {
        command: "deploy",
        job: None,
        packages: args.packages.clone(),
        targets,
        reboot: None,
        selection: Default::default(),
        goal: Default::default(),
        include_removed: false,
    };
    launch(cli, &inv, &args.run, request).await
}
