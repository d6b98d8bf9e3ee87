//! The pool: a semaphore acquired inside each host's task (so results stream as they
//! finish), a JoinSet to collect them, and a two-stage cancel.

use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::events::{CancelReason, EventKind, EventSink, HostReport, Outcome, RunStats};
use super::flow::{self, Ctx};
use super::{HostJob, RunConfig};

/// What the operator has asked for so far; it only ever escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cancel {
    None,
    /// Start no new host; running ones finish and clean up.
    Stop,
    /// Abandon running hosts now.
    Abort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostState {
    Queued,
    Running,
    Done,
}

struct Shared {
    ctx: Ctx,
    stats: Mutex<RunStats>,
    hosts: Mutex<Vec<HostState>>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, RunStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, Vec<HostState>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn started(&self, index: usize, host: &str) {
        self.hosts()[index] = HostState::Running;
        self.stats().running += 1;
        self.ctx.sink.emit(EventKind::HostStarted { host: host.to_string() });
    }

    /// Count and announce under one lock, so every event's stats are in order.
    fn finish(&self, index: usize, outcome: Outcome, report: HostReport) {
        let mut hosts = self.hosts();
        let was = std::mem::replace(&mut hosts[index], HostState::Done);
        if was == HostState::Done {
            return;
        }
        let mut stats = self.stats();
        if was == HostState::Running {
            stats.running -= 1;
        }
        stats.count(&outcome);
        self.ctx.sink.emit(EventKind::HostFinished {
            host: report.host.clone(),
            outcome,
            report: Arc::new(report),
            stats: stats.clone(),
        });
    }
}

pub async fn run(jobs: Vec<HostJob>, config: RunConfig, sink: EventSink, mut cancel: watch::Receiver<Cancel>) -> RunStats {
    let total = jobs.len();
    sink.emit(EventKind::RunStarted {
        run_id: config.run_id.clone(),
        package: config.package.clone(),
        version: config.version.clone(),
        hosts: total,
        concurrency: config.concurrency,
    });
    let shared = Arc::new(Shared {
        ctx: Ctx {
            sink: sink.clone(),
            timeouts: config.timeouts,
            codes: config.codes,
            force: config.force,
            redactor: config.redactor,
        },
        stats: Mutex::new(RunStats {
            total,
            ..RunStats::default()
        }),
        hosts: Mutex::new(vec![HostState::Queued; total]),
    });
    let labels: Vec<String> = jobs.iter().map(|j| j.label.clone()).collect();
    let semaphore = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    // Spawned in inventory order; tokio's semaphore is fair, so the queue keeps that order.
    for (index, job) in jobs.into_iter().enumerate() {
        tasks.spawn(host_task(index, job, semaphore.clone(), cancel.clone(), shared.clone()));
    }
    let mut level = Cancel::None;
    let mut listening = true;
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            changed = cancel.changed(), if listening && level != Cancel::Abort => {
                if changed.is_err() {
                    // Nobody can cancel any more (the signal handler is gone).
                    listening = false;
                    continue;
                }
                let now = *cancel.borrow();
                if now > level {
                    level = now;
                    let reason = if now == Cancel::Abort { CancelReason::Abort } else { CancelReason::Interrupt };
                    sink.emit(EventKind::RunBeginCancel { reason });
                    if now == Cancel::Abort {
                        tasks.abort_all();
                    }
                }
            }
        }
    }
    // Hosts whose task was aborted never reported; say so.
    let states = shared.hosts().clone();
    for (index, (label, state)) in labels.into_iter().zip(states).enumerate() {
        let outcome = match state {
            HostState::Done => continue,
            HostState::Running => Outcome::Interrupted,
            HostState::Queued => Outcome::NotStarted,
        };
        let report = HostReport {
            host: label,
            ..HostReport::default()
        };
        shared.finish(index, outcome, report);
    }
    let stats = shared.stats().clone();
    sink.emit(EventKind::RunFinished { stats: stats.clone() });
    stats
}

async fn host_task(index: usize, job: HostJob, semaphore: Arc<Semaphore>, mut cancel: watch::Receiver<Cancel>, shared: Arc<Shared>) {
    let permit = tokio::select! {
        biased;
        _ = cancel.wait_for(|c| *c != Cancel::None) => None,
        permit = semaphore.acquire_owned() => permit.ok(),
    };
    let not_started = || HostReport {
        host: job.label.clone(),
        ..HostReport::default()
    };
    let Some(_permit) = permit else {
        shared.finish(index, Outcome::NotStarted, not_started());
        return;
    };
    if *cancel.borrow() != Cancel::None {
        shared.finish(index, Outcome::NotStarted, not_started());
        return;
    }
    shared.started(index, &job.label);
    let (outcome, report) = flow::install(&job, &shared.ctx).await;
    shared.finish(index, outcome, report);
}
