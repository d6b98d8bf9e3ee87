//! One file per subcommand: each turns its arguments into a request and reports.

pub mod check;
pub mod cleanup;
pub mod creds;
pub mod deploy;
pub mod dry_run;
pub mod generate;
pub mod hosts;
pub mod logs;
pub mod remove;
pub mod reset;
pub mod retry;
pub mod run;
pub mod status;
pub mod sync;

use crate::cli::Cli;
use crate::error::AppError;
use crate::inventory::{self, Inventory};

/// For commands that read the history: the inventory when there is one (it may
/// name the database and the jobs), nothing when there is none.
pub fn optional_inventory(cli: &Cli) -> Result<Option<Inventory>, AppError> {
    if cli.inventory.exists() {
        Ok(Some(inventory::load(&cli.inventory)?))
    } else {
        Ok(None)
    }
}

/// Worst first: an interrupt beats a failure beats success.
pub fn worst(a: u8, b: u8) -> u8 {
    use crate::error::{EXIT_HOSTS_FAILED, EXIT_INTERRUPTED};
    [EXIT_INTERRUPTED, EXIT_HOSTS_FAILED]
        .into_iter()
        .find(|code| a == *code || b == *code)
        .unwrap_or(a.max(b))
}
