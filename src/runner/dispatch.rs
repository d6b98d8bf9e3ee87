//! The pool: `concurrency` workers take hosts from one queue in inventory order, so
//! a free slot always goes to the next host in line and results stream as they
//! finish; a two-stage cancel stops the queue, then the workers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::events::{CancelReason, EventKind, EventSink, HostReport, Outcome, RunStats};
use super::flow::{self, Ctx};
use super::{HostJob, RunConfig, Until};

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
    /// One per host+package, hosts in queue order, each host's packages in a row.
    slots: Mutex<Vec<HostState>>,
}

impl Shared {
    fn stats(&self) -> std::sync::MutexGuard<'_, RunStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<HostState>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn started(&self, first: usize, count: usize, host: &str) {
        self.slots()[first..first + count].fill(HostState::Running);
        self.stats().running += count;
        self.ctx.sink.emit(EventKind::HostStarted {
            host: host.to_string(),
        });
    }

    /// Record, count and announce under one lock, so every event's stats are in order.
    fn finish(&self, slot: usize, outcome: Outcome, report: HostReport) {
        let mut slots = self.slots();
        let was = std::mem::replace(&mut slots[slot], HostState::Done);
        if was == HostState::Done {
            return;
        }
        self.ctx
            .ledger
            .finish(&report.host, &report.package, &outcome, &report);
        let mut stats = self.stats();
        if was == HostState::Running {
            stats.running -= 1;
        }
        stats.count(&outcome);
        self.ctx.sink.emit(EventKind::HostFinished {
            host: report.host.clone(),
            package: report.package.clone(),
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
    let mut slots = Vec::new();
    let mut queue = VecDeque::new();
    for job in jobs {
        let first = slots.len();
        slots.extend(
            job.packages
                .iter()
                .map(|p| (job.label.clone(), p.package.clone())),
        );
        queue.push_back((first, job));
    }
    sink.emit(EventKind::RunStarted {
        run_id: config.run_id.clone(),
        packages: config.packages.clone(),
        hosts: queue.len(),
        concurrency: config.concurrency,
    });
    let shared = Arc::new(Shared {
        ctx: Ctx {
            sink: sink.clone(),
            timeouts: config.timeouts,
            force: config.force,
            redactor: config.redactor,
            notice: config.notice,
            ledger: config.ledger,
        },
        stats: Mutex::new(RunStats {
            total: slots.len(),
            ..RunStats::default()
        }),
        slots: Mutex::new(vec![HostState::Queued; slots.len()]),
    });
    let workers = config.concurrency.clamp(1, queue.len().max(1));
    let queue = Arc::new(Mutex::new(queue));
    let until = config.until.clone();
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(worker(
            queue.clone(),
            cancel.clone(),
            until.clone(),
            shared.clone(),
        ));
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
    // Slots still queued after a cancel or the window's end, or whose worker was
    // aborted, never reported.
    let waiting = match (&until, level) {
        (Some(until), Cancel::None) => format!("not started: the window closed at {}", until.label),
        _ => "not started: the run was interrupted".to_string(),
    };
    let states = shared.slots().clone();
    for (slot, ((host, package), state)) in slots.into_iter().zip(states).enumerate() {
        let outcome = match state {
            HostState::Done => continue,
            HostState::Running => Outcome::Interrupted,
            HostState::Queued => Outcome::NotStarted {
                reason: waiting.clone(),
            },
        };
        let report = HostReport {
            host,
            package,
            ..HostReport::default()
        };
        shared.finish(slot, outcome, report);
    }
    let stats = shared.stats().clone();
    sink.emit(EventKind::RunFinished { stats: stats.clone() });
    stats
}

async fn worker(
    queue: Arc<Mutex<VecDeque<(usize, HostJob)>>>,
    cancel: watch::Receiver<Cancel>,
    until: Option<Until>,
    shared: Arc<Shared>,
) {
    loop {
        if *cancel.borrow() != Cancel::None {
            return;
        }
        if until.as_ref().is_some_and(|u| Instant::now() >= u.at) {
            return;
        }
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some((first, job)) = next else { return };
        shared.started(first, job.packages.len(), &job.label);
        let mut done = |index: usize, outcome: Outcome, report: HostReport| {
            shared.finish(first + index, outcome, report);
        };
        flow::install(&job, &shared.ctx, &mut done).await;
    }
}
