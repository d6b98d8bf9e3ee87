//! `pushinst hosts`: what `--to` resolves to, one host per line.

use crate::cli::{Cli, HostsArgs, OutputFormat};
use crate::error::{AppError, EXIT_OK};
use crate::inventory;

pub fn hosts(cli: &Cli, args: &HostsArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    let mut out = String::new();
    for t in &targets {
        if cli.output() == OutputFormat::Json {
            let line = serde_json::json!({
                "host": t.label(),
                "address": t.address,
                "port": t.port,
                "os": t.os,
                "credentials": t.credentials,
            });
            out.push_str(&format!("{line}\n"));
        } else if t.address != t.name {
            out.push_str(&format!(
                "{}\t{}\tvia {}\t{}\n",
                t.label(),
                t.os,
                t.address,
                t.credentials.join(",")
            ));
        } else {
            out.push_str(&format!("{}\t{}\t{}\n", t.label(), t.os, t.credentials.join(",")));
        }
    }
    crate::report::write_out(&mut std::io::stdout(), &out);
    if !cli.quiet() && cli.output() == OutputFormat::Human {
        crate::report::write_out(&mut std::io::stderr(), &format!("{} host(s)\n", targets.len()));
    }
    Ok(EXIT_OK)
}
