//! pushinst: parse → run → exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

use pushinst::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    pushinst::run(cli)
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
