//! The pool: `concurrency` workers take hosts from one queue in inventory order, so
//! a free slot always goes to the next host in line and results stream as they
//! finish; a two-stage cancel stops the queue, then the workers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
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
        self.ctx.sink.emit(EventKind::HostStarted {
            host: host.to_string(),
        });
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

pub async fn run(
    jobs: Vec<HostJob>,
    config: RunConfig,
    sink: EventSink,
    mut cancel: watch::Receiver<Cancel>,
) -> RunStats {
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
    let queue = Arc::new(Mutex::new(jobs.into_iter().enumerate().collect::<VecDeque<_>>()));
    let mut tasks = JoinSet::new();
    for _ in 0..config.concurrency.clamp(1, total.max(1)) {
        tasks.spawn(worker(queue.clone(), cancel.clone(), shared.clone()));
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
    // Hosts still queued after a cancel, or whose worker was aborted, never reported.
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

async fn worker(
    queue: Arc<Mutex<VecDeque<(usize, HostJob)>>>,
    cancel: watch::Receiver<Cancel>,
    shared: Arc<Shared>,
) {
    loop {
        if *cancel.borrow() != Cancel::None {
            return;
        }
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some((index, job)) = next else { return };
        shared.started(index, &job.label);
        let (outcome, report) = flow::install(&job, &shared.ctx).await;
        shared.finish(index, outcome, report);
    }
}
