//! pushinst as a library. The binary (`src/main.rs`) parses the command line and
//! hands it to [`run`]; everything else stays private to the crate, so unused code
//! still draws a dead-code warning. The one other way in is [`fuzzing`], for the
//! fuzz targets in `fuzz/`, which must reach the wire parsers from outside.

pub mod cli;
mod commands;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod history;
mod inventory;
mod launch;
mod local_check;
mod outcome;
mod plan;
mod report;
mod rollout;
mod runner;
mod secrets;
mod transport;
mod window;
mod wiring;

use std::io::IsTerminal;
use std::process::ExitCode;

use cli::{Cli, Command};

/// Run one parsed command line to the process's exit code.
pub fn run(mut cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pushinst: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Target lists are read before anything else, so a bad line touches no host.
    let lists = match cli.targets_mut() {
        Some(to) => inventory::expand_target_lists(to, &mut std::io::stdin().lock()).map(|(read, lists)| {
            *to = read;
            lists
        }),
        None => Ok(Default::default()),
    };
    let cli = &cli;
    let result = runtime.block_on(async {
        let lists = lists?;
        let result = match &cli.command {
            Command::Deploy(args) => commands::deploy::deploy(cli, args).await,
            Command::Remove(args) => commands::remove::remove(cli, args).await,
            Command::Check(args) => commands::check::check(cli, args).await,
            Command::Hosts(args) => commands::hosts::hosts(cli, args),
            Command::Sync(args) => commands::sync::sync(cli, args).await,
            Command::Run(args) => commands::run::run(cli, args).await,
            Command::Retry(args) => commands::retry::retry(cli, args).await,
            Command::Status(args) => commands::status::status(cli, args),
            Command::Logs(args) => commands::logs::logs(cli, args),
            Command::Reset(args) => commands::reset::reset(cli, args),
            Command::Cleanup(args) => commands::cleanup::cleanup(cli, args).await,
            Command::Creds(action) => commands::creds::creds(action),
            Command::Generate(args) => commands::generate::generate(args),
        };
        // A name only the inventory can refuse, read from a list, is shown at its line.
        match result {
            Err(error::AppError::Targets(err)) => Err(match lists.locate(&err) {
                Some(located) => located.into(),
                None => err.into(),
            }),
            other => other,
        }
    });
    // Hosts still in their cleanup after an abort must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed stderr must not turn an error into a panic.
            report::write_out(
                &mut std::io::stderr(),
                &err.render(std::io::stderr().is_terminal()),
            );
            err.exit_code()
        }
    }
}
