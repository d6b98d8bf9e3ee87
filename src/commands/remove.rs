//! `pushinst remove PACKAGE… --to TARGET…`: the deploy flow with each variant's
//! `uninstall` (detect first, run it as root or SYSTEM, detect again), recorded so
//! `status` shows `removed` and `sync` leaves the host alone.

use crate::cli::{Cli, RemoveArgs};
use crate::error::AppError;
use crate::inventory;
use crate::launch::{RunRequest, launch};
use crate::plan::Goal;

pub async fn remove(cli: &Cli, args: &RemoveArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    let request = RunRequest {
        command: "remove",
        job: None,
        packages: args.packages.clone(),
        targets,
        reboot: None,
        selection: Default::default(),
        goal: Goal::Remove,
        include_removed: false,
    };
    launch(cli, &inv, &args.run, request).await
}
