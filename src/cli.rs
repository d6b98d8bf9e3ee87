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

    /// More detail: each step as it starts, on commands that work on hosts; twice, debug logs on stderr
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

/// `--state`, on the commands that read or write the history.
#[derive(Debug, Args, Clone, Default)]
pub struct StateArg {
    /// The history database [default: settings.state or $XDG_STATE_HOME/pushinst/history.db]
    #[arg(long, env = "PUSHINST_STATE", value_name = "PATH")]
    pub state: Option<PathBuf>,
}

/// `--output`, on the commands that can report as JSON.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArg {
    /// How to report: `human` (progress on a terminal, plain lines otherwise) or `json` (JSON Lines on stdout)
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install packages on the targets (several packages install in the order given)
    Deploy(DeployArgs),
    /// Uninstall a package from the targets with its [packages.NAME.OS.uninstall]; detect first, verify after
    Remove(RemoveArgs),
    /// Preflight: whether each target would take the package (login, admin rights, staging, facts); installs nothing
    Check(CheckArgs),
    /// List the targets `--to` resolves to, without touching them
    Hosts(HostsArgs),
    /// Deliver every [jobs] entry (or the ones named) to each target with no success on record
    Sync(SyncArgs),
    /// Start a job saved with `deploy --save-as`, or an inventory [jobs] entry
    Run(RunJobArgs),
    /// Run again only the hosts of the last (or given) run that did not succeed
    Retry(RetryArgs),
    /// Host by host, the latest result of each package from the history
    Status(StatusArgs),
    /// The diagnostic log of a host's latest attempt
    Logs(LogsArgs),
    /// Set the failed-attempt counter of hosts back to 0, so they are tried again
    Reset(ResetArgs),
    /// Remove what interrupted or crashed runs left on targets (temp dirs), from the journal
    Cleanup(CleanupArgs),
    /// Store, remove or list the passwords `{ keyring = "NAME" }` reads (the OS keyring)
    #[command(subcommand)]
    Creds(CredsCommand),
    /// Write shell completions and the man page (for packagers)
    #[command(hide = true)]
    Generate(GenerateArgs),
}

impl Cli {
    /// The `--to` values of the command, for the commands that take them.
    pub fn targets_mut(&mut self) -> Option<&mut Vec<String>> {
        match &mut self.command {
            Command::Deploy(a) => Some(&mut a.to),
            Command::Remove(a) => Some(&mut a.to),
            Command::Check(a) => Some(&mut a.to),
            Command::Hosts(a) => Some(&mut a.to),
            Command::Status(a) => Some(&mut a.to),
            Command::Reset(a) => Some(&mut a.to),
            Command::Cleanup(a) => Some(&mut a.to),
            _ => None,
        }
    }

    /// `--output`, on the commands that have it; the others only speak to people.
    pub fn output(&self) -> OutputFormat {
        match &self.command {
            Command::Deploy(a) => a.run.pool.output.output,
            Command::Remove(a) => a.run.pool.output.output,
            Command::Check(a) => a.pool.output.output,
            Command::Sync(a) => a.run.pool.output.output,
            Command::Run(a) => a.run.pool.output.output,
            Command::Retry(a) => a.run.pool.output.output,
            Command::Cleanup(a) => a.pool.output.output,
            Command::Status(a) => a.output.output,
            Command::Hosts(a) => a.output.output,
            Command::Logs(_) | Command::Reset(_) | Command::Generate(_) | Command::Creds(_) => {
                OutputFormat::Human
            }
        }
    }

    /// `--state`, on the commands that use the history.
    pub fn state(&self) -> Option<&std::path::Path> {
        let arg = match &self.command {
            Command::Deploy(a) => &a.run.pool.state,
            Command::Remove(a) => &a.run.pool.state,
            Command::Check(a) => &a.pool.state,
            Command::Sync(a) => &a.run.pool.state,
            Command::Run(a) => &a.run.pool.state,
            Command::Retry(a) => &a.run.pool.state,
            Command::Cleanup(a) => &a.pool.state,
            Command::Status(a) => &a.state,
            Command::Logs(a) => &a.state,
            Command::Reset(a) => &a.state,
            Command::Hosts(_) | Command::Generate(_) | Command::Creds(_) => return None,
        };
        arg.state.as_deref()
    }

    /// `-q`, on the commands that have it.
    pub fn quiet(&self) -> bool {
        match &self.command {
            Command::Deploy(a) => a.run.pool.quiet,
            Command::Remove(a) => a.run.pool.quiet,
            Command::Check(a) => a.pool.quiet,
            Command::Sync(a) => a.run.pool.quiet,
            Command::Run(a) => a.run.pool.quiet,
            Command::Retry(a) => a.run.pool.quiet,
            Command::Cleanup(a) => a.pool.quiet,
            Command::Reset(a) => a.quiet,
            Command::Hosts(a) => a.quiet,
            Command::Status(_) | Command::Logs(_) | Command::Generate(_) | Command::Creds(_) => false,
        }
    }
}

/// How any command that works on hosts goes: the pool, the connection limits, the
/// history and the report.
#[derive(Debug, Args, Clone, Default)]
pub struct PoolArgs {
    #[command(flatten)]
    pub state: StateArg,

    #[command(flatten)]
    pub output: OutputArg,

    /// Hosts worked on at once; the rest wait in inventory order [default: settings.concurrency or 20]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub concurrency: Option<u32>,

    /// Print only the summary and the hosts that did not succeed
    #[arg(short, long)]
    pub quiet: bool,

    /// Limit for TCP connect and the SSH handshake [default: settings.connect_timeout or 10s]
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<humantime::Duration>,

    /// Limit for everything on one host except cleanup [default: settings.host_timeout or 1h]
    #[arg(long, value_name = "DURATION")]
    pub host_timeout: Option<humantime::Duration>,
}

/// How an install run goes: the pool, the limits, the window.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub pool: PoolArgs,

    /// Print the per-host plan and touch nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Install even where the package's detect command says it is already installed
    #[arg(long)]
    pub force: bool,

    /// How Windows hosts run the installer: `service` (a temporary service) or `task` (a scheduled task) [default: the host's `exec`, else service]
    #[arg(long, value_enum, value_name = "METHOD")]
    pub exec: Option<crate::inventory::WindowsExec>,

    /// Start no host after this local time (HH:MM, the next one; or YYYY-MM-DD HH:MM); the rest are listed as not started
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Where per-host logs go [default: settings.log_dir/RUN, or logs/RUN beside the history]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Limit for the installer itself [default: the package's timeout, settings.exec_timeout or 30m]
    #[arg(long, value_name = "DURATION")]
    pub exec_timeout: Option<humantime::Duration>,

    /// Run the first N hosts alone; the rest start only if every one of them succeeds
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub canary: Option<u32>,

    /// Work in waves of N hosts (or P% of them), each finished before the next starts
    #[arg(long, value_name = "N|P%")]
    pub batch: Option<crate::rollout::Share>,

    /// Start no new host once N hosts (or P% of them) have failed
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<crate::rollout::Share>,

    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Reports written beside the run's own output.
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Also write the results as JUnit XML to FILE (one testcase per host and package), for CI dashboards
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The packages to install, as named in [packages.NAME], in this order
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<String>,

    /// Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    /// Record the job in the history without touching any host; start it with `pushinst run NAME` [default name: "Install PACKAGE VERSION"]
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub save_as: Option<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The package to check for: its files must fit in the staging place, and its detect is run
    #[arg(value_name = "PACKAGE")]
    pub package: Option<String>,

    /// Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    #[command(flatten)]
    pub pool: PoolArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The packages to uninstall, as named in [packages.NAME], in this order
    #[arg(required = true, value_name = "PACKAGE")]
    pub packages: Vec<String>,

    /// Groups, hosts, ranges (web-[01-20].example), CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` (stdin) reads one a line
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The [jobs] entries to deliver [default: all of them]
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,

    /// Also reinstall hosts where `pushinst remove` took the package off on purpose
    #[arg(long)]
    pub include_removed: bool,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RunJobArgs {
    /// The saved job's name (see `pushinst status`), or an inventory [jobs] entry
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The run to retry, as printed at its start [default: the latest run]
    #[arg(value_name = "RUN")]
    pub run_id: Option<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this [jobs] entry or package
    #[arg(value_name = "JOB|PACKAGE")]
    pub name: Option<String>,

    /// Only these targets (and list those with no attempt yet)
    #[arg(long = "to", num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    #[command(flatten)]
    pub state: StateArg,

    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The host, as pushinst names it (`status` lists them)
    pub host: String,

    /// The run [default: the host's latest attempt]
    #[arg(long = "run", value_name = "RUN")]
    pub run_id: Option<String>,

    /// Only this package's attempt
    #[arg(long, value_name = "PACKAGE")]
    pub package: Option<String>,

    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Subcommand)]
pub enum CredsCommand {
    /// Store a password under NAME, asked twice without echo
    Set {
        /// The name `{ keyring = "NAME" }` uses
        name: String,
    },
    /// Remove the password stored under NAME
    Delete { name: String },
    /// The names with a password stored (never the passwords)
    List,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The hosts whose counter to reset
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    /// The package whose counter to reset
    #[arg(long, required = true, value_name = "PACKAGE")]
    pub package: String,

    /// Print nothing when it worked
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub state: StateArg,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Only these targets [default: every host with leftovers on record]
    #[arg(long = "to", num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    #[command(flatten)]
    pub pool: PoolArgs,

    #[command(flatten)]
    pub reports: ReportArgs,
}

#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Groups, hosts, ranges, CIDR blocks, host:port; `!NAME` excludes; `@FILE` or `-` reads one a line
    #[arg(long = "to", required = true, num_args = 1.., value_name = "TARGET")]
    pub to: Vec<String>,

    /// Print only the targets, no count
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub output: OutputArg,
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
