//! Runs the plan on a bounded pool: `concurrency` hosts at once, the rest queued in
//! order, every step under a timeout, cancellation in two stages.

mod books;
pub mod check;
mod dispatch;
pub mod events;
mod flow;
mod ledger;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use dispatch::{Cancel, run};
pub use events::{Event, EventKind, EventSink, HostReport, Outcome, RunStats, Step};
#[cfg(test)]
pub use ledger::NoLedger;
pub use ledger::{Ledger, RebootState};

use crate::outcome::Skip;
use crate::rollout::RolloutPlan;
use crate::secrets::Redactor;
use crate::transport::{Artefact, BoxFuture, Connector, Credential, Detect, Endpoint, Install, Payload};

/// The end of a maintenance window: no host starts after it.
#[derive(Debug, Clone)]
pub struct Until {
    pub at: tokio::time::Instant,
    /// How the operator wrote it, for the hosts left waiting.
    pub label: String,
}

/// Per-step limits and the whole-host deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub auth: Duration,
    pub upload: Duration,
    pub exec: Duration,
    /// Cleanup gets its own time even after the host deadline: it must always run.
    pub cleanup: Duration,
    pub host: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            auth: Duration::from_secs(30),
            upload: Duration::from_secs(300),
            exec: Duration::from_secs(30 * 60),
            cleanup: Duration::from_secs(30),
            host: Duration::from_secs(60 * 60),
        }
    }
}

/// Which installer exit codes mean what.
#[derive(Debug, Clone)]
pub struct ExitCodes {
    pub success: Vec<i32>,
    pub reboot: Vec<i32>,
}

/// Everything one host needs, already resolved: the runner reads no inventory.
pub struct HostJob {
    pub label: String,
    pub endpoint: Endpoint,
    pub connector: Arc<dyn Connector>,
    pub credentials: Vec<Credential>,
    pub work: Work,
}

/// What to do once logged in.
pub enum Work {
    /// Install in this order over one connection; a failure skips the rest. One
    /// result per package.
    Install(Vec<PackageJob>),
    /// `pushinst cleanup`: remove what earlier runs left. One result for the host.
    Remove(Vec<Leftover>),
}

/// The item name a removal reports under, where an install names its package.
pub const CLEANUP_ITEM: &str = "cleanup";

impl Work {
    /// How many results the host will report.
    pub fn len(&self) -> usize {
        match self {
            Work::Install(packages) => packages.len(),
            Work::Remove(_) => 1,
        }
    }

    /// The names results are reported under, in order.
    pub fn items(&self) -> Vec<(String, Option<String>)> {
        match self {
            Work::Install(packages) => packages
                .iter()
                .map(|p| (p.package.clone(), p.version.clone()))
                .collect(),
            Work::Remove(_) => vec![(CLEANUP_ITEM.to_string(), None)],
        }
    }
}

/// Something an earlier run left on the host, from the journal.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub artefact: Artefact,
    pub run_id: String,
}

/// One package on one host: an attempt.
#[derive(Clone)]
pub struct PackageJob {
    pub package: String,
    pub version: Option<String>,
    pub detect: Option<Detect>,
    /// Checked before detect, even under `--force`: a host that cannot take the
    /// package is skipped, never attempted.
    pub requires: Vec<crate::inventory::Requirement>,
    pub payloads: Vec<Payload>,
    pub install: Install,
    pub codes: ExitCodes,
    pub reboot: RebootPolicy,
    /// Decided in the plan (an attempt limit): the host is not touched for it.
    pub skip: Option<Skip>,
    /// Put the package on, or take it off.
    pub operation: Operation,
    /// The package's variants by `arch`/`os`, in order: the host's facts pick the
    /// first that matches, and that job runs instead of this one. Empty: no choice.
    pub alternatives: Vec<Alternative>,
}

/// One variant a host may get (see [`crate::plan::Alternative`]).
#[derive(Clone)]
pub struct Alternative {
    /// Its place among the package's variants, from 1.
    pub number: usize,
    /// What it uploads and runs, as the report names it.
    pub file: String,
    pub when: Vec<crate::inventory::Requirement>,
    pub job: PackageJob,
}

/// What a run does with each package: `deploy` installs, `remove` uninstalls. The
/// flow is the same (detect, upload, execute, clean up); what detect means and how
/// the exit code reads are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operation {
    #[default]
    Install,
    /// Detect first (not there: skipped), run the uninstaller, and when `verify`,
    /// detect again: still there is a failure.
    Remove { verify: bool },
}

/// What to do when a package is installed (Kaspersky's restart options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebootPolicy {
    #[default]
    Never,
    /// Reboot at once when the installer returned a reboot code.
    IfRequired,
    /// Reboot at once after every successful install.
    Always,
    /// When a reboot code came back: warn the logged-on users, wait, then reboot.
    Ask,
}

impl RebootPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "never" => RebootPolicy::Never,
            "if-required" => RebootPolicy::IfRequired,
            "always" => RebootPolicy::Always,
            "ask" => RebootPolicy::Ask,
            _ => return None,
        })
    }

    pub const NAMES: &[&str] = &["never", "if-required", "always", "ask"];
}

/// The warning `ask` gives the logged-on users.
#[derive(Debug, Clone)]
pub struct RebootNotice {
    pub delay: Duration,
    pub message: String,
}

pub struct RunConfig {
    pub run_id: String,
    /// What the run is about, for its first event: package names, or `cleanup`.
    pub packages: Vec<String>,
    pub concurrency: usize,
    pub timeouts: Timeouts,
    pub force: bool,
    pub redactor: Redactor,
    pub until: Option<Until>,
    pub notice: RebootNotice,
    pub ledger: Arc<dyn Ledger>,
    /// Canaries, waves and the failure threshold.
    pub rollout: RolloutPlan,
    /// Installing or removing the packages (for the first event).
    pub goal: crate::plan::Goal,
}
