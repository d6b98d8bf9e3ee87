//! `pushinst reset --to TARGET… --package P`: the attempt counter back to 0, so
//! hosts at the attempt limit are tried again.

use crate::cli::{Cli, ResetArgs};
use crate::error::{AppError, EXIT_OK};
use crate::inventory;
use crate::launch::open_history;

pub fn reset(cli: &Cli, args: &ResetArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    let history = open_history(cli, Some(&inv))?;
    let mut out = String::new();
    let mut reset = 0;
    for t in &targets {
        let host = t.label();
        let before = history.failures(&host, &args.package)?;
        if history.reset(&host, &args.package)? > 0 {
            reset += 1;
            out.push_str(&format!("{host}: {} failed attempt(s) forgotten\n", before));
        }
    }
    if !cli.quiet() {
        out.push_str(&format!(
            "{reset} of {} host(s) reset for {}\n",
            targets.len(),
            args.package
        ));
        crate::report::write_out(&mut std::io::stdout(), &out);
    }
    Ok(EXIT_OK)
}
