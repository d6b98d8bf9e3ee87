//! pushinst: parse → run → exit code. Everything else lives in the modules.

mod cli;
mod commands;
mod error;
mod history;
mod inventory;
mod launch;
mod local_check;
mod outcome;
mod plan;
mod report;
mod runner;
mod secrets;
mod transport;
mod window;
mod wiring;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pushinst: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Deploy(args) => commands::deploy::deploy(&cli, args).await,
            Command::Hosts(args) => commands::hosts::hosts(&cli, args),
            Command::Sync(args) => commands::sync::sync(&cli, args).await,
            Command::Run(args) => commands::run::run(&cli, args).await,
            Command::Retry(args) => commands::retry::retry(&cli, args).await,
            Command::Status(args) => commands::status::status(&cli, args),
            Command::Logs(args) => commands::logs::logs(&cli, args),
            Command::Reset(args) => commands::reset::reset(&cli, args),
            Command::Cleanup(args) => commands::cleanup::cleanup(&cli, args).await,
            Command::Generate(args) => commands::generate::generate(args),
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

fn init_tracing(verbose: u8) {
    if verbose < 2 {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("pushinst=debug,russh=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
