//! What the runner reports, one past-tense event per change. Reporters and the log
//! writer consume these (the history hears through the `Ledger`, before them);
//! the runner never formats text: outcomes are data, `report/words.rs` words them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

pub use crate::outcome::{Outcome, Step};
use crate::transport::Rejection;

#[derive(Debug, Clone)]
pub struct Event {
    pub time: SystemTime,
    pub elapsed: Duration,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        packages: Vec<String>,
        hosts: usize,
        concurrency: usize,
        /// Installing or removing `packages`: the header says which.
        #[serde(skip)]
        goal: crate::plan::Goal,
    },
    HostStarted {
        host: String,
    },
    StepStarted {
        host: String,
        step: Step,
    },
    CredentialRejected {
        host: String,
        credential: String,
        reason: String,
    },
    /// One package on one host is done (a host installing several emits one each).
    HostFinished {
        host: String,
        package: String,
        /// Written out by the JSON reporter, with its words.
        #[serde(skip)]
        outcome: Outcome,
        #[serde(skip)]
        report: Arc<HostReport>,
        stats: RunStats,
    },
    /// The host's facts picked one of the package's variants.
    VariantChosen {
        host: String,
        package: String,
        /// Its place among the package's variants, from 1.
        variant: usize,
        file: String,
    },
    /// The reboot the packages' policy asked for was requested (or failed).
    RebootRequested {
        host: String,
        #[serde(skip)]
        state: super::RebootState,
    },
    /// A wave of the rollout starts (only when there is more than one): the hosts
    /// after it wait until it has finished.
    WaveStarted {
        /// From 1.
        wave: usize,
        waves: usize,
        hosts: usize,
        /// The canaries: the rest start only if every one of them succeeds.
        canary: bool,
        /// Hosts in the waves after this one.
        after: usize,
    },
    RunBeginCancel {
        reason: CancelReason,
    },
    RunFinished {
        stats: RunStats,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// First Ctrl-C: start no new host, let running ones finish and clean up.
    Interrupt,
    /// Second Ctrl-C: stop now.
    Abort,
}

/// Counters at one moment, carried by events so reporters keep no tally.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    pub total: usize,
    pub running: usize,
    pub finished: usize,
    pub ok: usize,
    pub reboot_required: usize,
    pub already_installed: usize,
    /// `remove`: uninstalled.
    pub removed: usize,
    /// `remove`: not there to begin with (counted apart from `skipped`).
    pub not_installed: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub skipped: usize,
    pub not_started: usize,
}

impl RunStats {
    pub fn queued(&self) -> usize {
        self.total.saturating_sub(self.finished + self.running)
    }

    pub fn count(&mut self, outcome: &Outcome) {
        self.finished += 1;
        match outcome {
            Outcome::Installed { .. } | Outcome::InstalledRebootRequired { .. } | Outcome::Cleaned { .. } => {
                self.ok += 1;
                self.reboot_required += usize::from(outcome.reboot_required());
            }
            Outcome::AlreadyInstalled => self.already_installed += 1,
            Outcome::Removed { .. } => self.removed += 1,
            Outcome::Skipped {
                reason: crate::outcome::Skip::NotInstalled,
            } => self.not_installed += 1,
            Outcome::Failed { .. } => self.failed += 1,
            Outcome::Unreachable { .. } => self.unreachable += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::NotStarted { .. } => self.not_started += 1,
        }
    }

    pub fn all_succeeded(&self) -> bool {
        self.ok + self.already_installed + self.removed + self.not_installed == self.total
    }
}

/// Everything worth keeping about one host's attempt: what the log file shows.
#[derive(Debug, Clone, Default)]
pub struct HostReport {
    pub host: String,
    pub package: String,
    pub address: String,
    pub credential: Option<String>,
    pub rejected: Vec<Rejection>,
    pub steps: Vec<StepRecord>,
    pub command: Option<String>,
    /// The package's variant the host's facts chose (its number and file), when it
    /// had a choice.
    pub variant: Option<(usize, String)>,
    pub exit_code: Option<i32>,
    /// The end of the installer's output, secrets already removed.
    pub output: String,
    pub output_dropped: u64,
    /// How the cleanup failed, when it did (the package's own outcome stands).
    pub cleanup_failed: Option<Outcome>,
    pub started: Option<SystemTime>,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub step: Step,
    pub duration: Duration,
    /// `None` when the step succeeded.
    pub failed: Option<Outcome>,
}

/// How many events may wait for the reporters before the runner waits for them:
/// a blocked terminal or pipe slows the run down instead of growing memory.
const EVENT_QUEUE: usize = 1024;

/// The runner's side of the event channel.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<Event>,
    start: Instant,
}

impl EventSink {
    pub fn new() -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        (
            EventSink {
                tx,
                start: Instant::now(),
            },
            rx,
        )
    }

    pub async fn emit(&self, kind: EventKind) {
        let event = Event {
            time: SystemTime::now(),
            elapsed: self.start.elapsed(),
            kind,
        };
        // A closed channel means the reporters are gone; the run goes on regardless.
        let _ = self.tx.send(event).await;
    }
}
