//! `--dry-run`: the plan, in words or as JSON Lines; nothing is touched.

use crate::cli::{Cli, OutputFormat};
use crate::error::{AppError, EXIT_OK};
use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::report;

pub fn show(cli: &Cli, inv: &Inventory, plan: &Plan) -> Result<u8, AppError> {
    let text = match cli.output {
        OutputFormat::Human => report::plan::render(plan, &inv.credentials),
        OutputFormat::Json => report::plan::json_lines(plan, &inv.credentials)
            .iter()
            .map(|line| format!("{line}\n"))
            .collect(),
    };
    report::write_out(&mut std::io::stdout(), &text);
    Ok(EXIT_OK)
}
