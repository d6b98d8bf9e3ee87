//! What the runner reports, one past-tense event per change. Reporters, the log
//! writer and (later) the history consume these; the runner never formats text.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;

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
        outcome: Outcome,
        #[serde(skip)]
        report: Arc<HostReport>,
        stats: RunStats,
    },
    RebootRequested {
        host: String,
        result: String,
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
pub enum Step {
    Connect,
    Authenticate,
    Detect,
    Upload,
    Execute,
    Cleanup,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Authenticate => "authenticate",
            Step::Detect => "detect",
            Step::Upload => "upload",
            Step::Execute => "execute",
            Step::Cleanup => "cleanup",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// First Ctrl-C: start no new host, let running ones finish and clean up.
    Interrupt,
    /// Second Ctrl-C: stop now.
    Abort,
}

/// How one host ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Ok {
        exit_code: i32,
        reboot_required: bool,
    },
    AlreadyInstalled,
    Failed {
        step: Step,
        reason: String,
        exit_code: Option<i32>,
        /// The installer itself ran and failed (what an attempt limit counts), as
        /// opposed to never getting that far.
        installer_ran: bool,
    },
    Unreachable {
        step: Step,
        reason: String,
    },
    /// Not attempted, for a reason decided before touching the host (attempt limit,
    /// another run holds it, an earlier package failed).
    Skipped {
        reason: String,
    },
    /// Never started: the run was interrupted or its window closed.
    NotStarted {
        reason: String,
    },
    /// Aborted while running; its files may still be on the host.
    Interrupted,
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Ok {
                reboot_required: true,
                ..
            } => "reboot-required",
            Outcome::Ok { .. } => "ok",
            Outcome::AlreadyInstalled => "already-installed",
            Outcome::Failed { .. } => "failed",
            Outcome::Unreachable { .. } => "unreachable",
            Outcome::Skipped { .. } => "skipped",
            Outcome::NotStarted { .. } => "not-started",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Ok { .. } | Outcome::AlreadyInstalled)
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Ok { exit_code, .. } => Some(*exit_code),
            Outcome::Failed { exit_code, .. } => *exit_code,
            _ => None,
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Outcome::Ok {
                reboot_required: true,
                ..
            } => "installed; the host needs a reboot".to_string(),
            Outcome::Ok { .. } => "installed".to_string(),
            Outcome::AlreadyInstalled => "already installed (detect succeeded)".to_string(),
            Outcome::Failed { reason, .. }
            | Outcome::Unreachable { reason, .. }
            | Outcome::Skipped { reason }
            | Outcome::NotStarted { reason } => reason.clone(),
            Outcome::Interrupted => "interrupted while running; files may remain on the host".to_string(),
        }
    }
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
            Outcome::Ok { reboot_required, .. } => {
                self.ok += 1;
                self.reboot_required += usize::from(*reboot_required);
            }
            Outcome::AlreadyInstalled => self.already_installed += 1,
            Outcome::Failed { .. } | Outcome::Interrupted => self.failed += 1,
            Outcome::Unreachable { .. } => self.unreachable += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
            Outcome::NotStarted { .. } => self.not_started += 1,
        }
    }

    pub fn all_succeeded(&self) -> bool {
        self.ok + self.already_installed == self.total
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
    pub exit_code: Option<i32>,
    /// The end of the installer's output, secrets already removed.
    pub output: String,
    pub output_dropped: u64,
    pub cleanup_error: Option<String>,
    pub started: Option<SystemTime>,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub step: Step,
    pub duration: Duration,
    pub result: String,
}

/// The runner's side of the event channel.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::UnboundedSender<Event>,
    start: Instant,
}

impl EventSink {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            EventSink {
                tx,
                start: Instant::now(),
            },
            rx,
        )
    }

    pub fn emit(&self, kind: EventKind) {
        // A closed channel means the reporter is gone; the run goes on regardless.
        let _ = self.tx.send(Event {
            time: SystemTime::now(),
            elapsed: self.start.elapsed(),
            kind,
        });
    }
}
