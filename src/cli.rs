//! The command line, defined once: help, completions and the man page come from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pushinst",
    version,
    about = "Push-install software onto Windows and Linux machines that have nothing of ours on them yet",
    after_help = "Exit codes: 0 every target ok or already installed; 1 a target failed or was unreachable; 2 bad input, nothing touched; 130 interrupted."
)]
pub struct Cli {
    /// The inventory file
    #[arg(
        short,
        long,
        global = true,
        env = "PUSHINST_INVENTORY",
        default_value = "pushinst.toml",
        value_name = "FILE"
    )]
    pub inventory: PathBuf,

    /// How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Print only the summary and the hosts that did not succeed
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Also show each step as it starts; twice for debug logs on stderr
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install a package on the targets
    Deploy(DeployArgs),
    /// List the targets `--to` resolves to, without touching them
    Hosts(HostsArgs),
    /// Write shell completions and the man page (for packagers)
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The package to install, as named in [packages.NAME]
    pub package: String,

    /// Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    /// Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub concurrency: Option<u32>,

    /// Print the per-host plan and touch nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Install even where the package's detect command says it is already installed
    #[arg(long)]
    pub force: bool,

    /// Where per-host logs go [default: $XDG_STATE_HOME/pushinst/logs/RUN]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<humantime::Duration>,

    /// Limit for the installer itself [default: the package's timeout, settings.exec_timeout or 30m]
    #[arg(long, value_name = "DURATION")]
    pub exec_timeout: Option<humantime::Duration>,

    /// Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]
    #[arg(long, value_name = "DURATION")]
    pub host_timeout: Option<humantime::Duration>,
}

#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Groups, hosts, ranges, CIDR blocks, host:port; `!NAME` excludes
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub what: Generated,
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Generated {
    Completions,
    Man,
}
