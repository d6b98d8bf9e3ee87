//! `pushinst hosts`: what `--to` resolves to, one host per line.

use crate::cli::{Cli, HostsArgs, OutputFormat};
use crate::error::{AppError, EXIT_OK};
use crate::inventory;

pub fn hosts(cli: &Cli, args: &HostsArgs) -> Result<u8, AppError> {
    let inv = inventory::load(&cli.inventory)?;
    let targets = inventory::resolve_targets(&inv, &args.to)?;
    for t in &targets {
        if cli.output == OutputFormat::Json {
            let line = serde_json::json!({
                "host": t.label(),
                "address": t.address,
                "port": t.port,
                "os": t.os,
                "credentials": t.credentials,
            });
            println!("{line}");
        } else if t.address != t.name {
            println!(
                "{}\t{}\tvia {}\t{}",
                t.label(),
                t.os,
                t.address,
                t.credentials.join(",")
            );
        } else {
            println!("{}\t{}\t{}", t.label(), t.os, t.credentials.join(","));
        }
    }
    if !cli.quiet && cli.output == OutputFormat::Human {
        eprintln!("{} host(s)", targets.len());
    }
    Ok(EXIT_OK)
}
