//! The pool: `concurrency` workers take hosts from one queue in inventory order, so
//! a free slot always goes to the next host in line and results stream as they
//! finish; a two-stage cancel stops the queue, then the workers.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::books::Books;
use super::events::{CancelReason, EventKind, EventSink, HostReport, Outcome, RunStats};
use super::flow::{self, Ctx};
use super::{BoxFuture, HostJob, RunConfig, Until};
use crate::outcome::{Failure, NotStarted};
use crate::rollout::RolloutPlan;

/// What the operator has asked for so far; it only ever escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cancel {
    None,
    /// Start no new host; running ones finish and clean up.
    Stop,
    /// Abandon running hosts now.
    Abort,
}

#[derive(Debug, Clone)]
enum HostState {
    Queued,
    Running,
    /// Its result is being written to the history; `was_running` says whether it
    /// counts among the running ones until then.
    Finishing {
        outcome: Outcome,
        report: Arc<HostReport>,
        was_running: bool,
    },
    Done,
}

struct Shared {
    ctx: Ctx,
    /// `--max-failures`: no host starts once this many have failed.
    max_failures: Option<usize>,
    /// Counting and announcing happen under one lock, so every event's stats are
    /// in order; the lock is async because announcing waits for the reporters.
    tally: tokio::sync::Mutex<Tally>,
}

struct Tally {
    stats: RunStats,
    /// One per host+item, hosts in queue order, each host's items in a row.
    slots: Vec<HostState>,
    /// Hosts with a result that failed or could not reach them: what `--max-failures`
    /// counts. Noted when the result is known, before it is written, so no host
    /// starts in between.
    failed: HashSet<String>,
    /// Hosts with any result that is not a success: what a canary must not have.
    unsuccessful: HashSet<String>,
}

impl Shared {
    /// The failure threshold has been reached: start no new host.
    async fn halted(&self) -> Option<NotStarted> {
        let limit = self.max_failures?;
        let failed = self.tally.lock().await.failed.len();
        (failed >= limit).then_some(NotStarted::FailureThreshold { failed, limit })
    }

    async fn started(&self, first: usize, count: usize, host: &str) {
        let mut tally = self.tally.lock().await;
        tally.slots[first..first + count].fill(HostState::Running);
        tally.stats.running += count;
        self.ctx
            .sink
            .emit(EventKind::HostStarted {
                host: host.to_string(),
            })
            .await;
    }

    /// Record, count and announce one result. The history write happens outside
    /// the lock: a slow disk delays this host's announcement, not the others'
    /// starts and results.
    async fn finish(&self, slot: usize, outcome: Outcome, report: HostReport) {
        let report = Arc::new(report);
        {
            let mut tally = self.tally.lock().await;
            let was_running = match tally.slots[slot] {
                HostState::Queued => false,
                HostState::Running => true,
                HostState::Finishing { .. } | HostState::Done => return,
            };
            tally.slots[slot] = HostState::Finishing {
                outcome: outcome.clone(),
                report: report.clone(),
                was_running,
            };
            if matches!(outcome, Outcome::Failed { .. } | Outcome::Unreachable { .. }) {
                tally.failed.insert(report.host.clone());
            }
            if !outcome.is_as_asked() {
                tally.unsuccessful.insert(report.host.clone());
            }
        }
        // Committed before it is announced: what a reporter shows is on record.
        self.ctx.books.finish(&outcome, &report).await;
        self.announce(slot, outcome, report).await;
    }

    /// Count and announce under one lock, so every event's stats are in order.
    async fn announce(&self, slot: usize, outcome: Outcome, report: Arc<HostReport>) {
        let mut tally = self.tally.lock().await;
        let was = std::mem::replace(&mut tally.slots[slot], HostState::Done);
        let HostState::Finishing { was_running, .. } = was else {
            return;
        };
        if was_running {
            tally.stats.running -= 1;
        }
        tally.stats.count(&outcome);
        let stats = tally.stats.clone();
        self.ctx
            .sink
            .emit(EventKind::HostFinished {
                host: report.host.clone(),
                package: report.package.clone(),
                outcome,
                report,
                stats,
            })
            .await;
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
            job.work
                .items()
                .into_iter()
                .map(|(item, _)| (job.label.clone(), item)),
        );
        queue.push_back((first, job));
    }
    sink.emit(EventKind::RunStarted {
        run_id: config.run_id.clone(),
        packages: config.packages.clone(),
        hosts: queue.len(),
        concurrency: config.concurrency,
        goal: config.goal,
    })
    .await;
    let shared = Arc::new(Shared {
        ctx: Ctx {
            sink: sink.clone(),
            timeouts: config.timeouts,
            force: config.force,
            redactor: config.redactor,
            notice: config.notice,
            books: Books::new(config.ledger),
        },
        max_failures: config.rollout.max_failures,
        tally: tokio::sync::Mutex::new(Tally {
            stats: RunStats {
                total: slots.len(),
                ..RunStats::default()
            },
            slots: vec![HostState::Queued; slots.len()],
            failed: HashSet::new(),
            unsuccessful: HashSet::new(),
        }),
    });
    let rollout = RolloutPlan {
        hosts: queue.len(),
        ..config.rollout
    };
    let until = config.until.clone();
    let mut level = Cancel::None;
    let mut listening = true;
    // Why the hosts still queued were held back by the rollout, if they were.
    let mut held = None;
    let waves = rollout.waves();
    let count = waves.len();
    for (index, wave) in waves.into_iter().enumerate() {
        let part: VecDeque<_> = queue.drain(..wave.hosts.min(queue.len())).collect();
        if count > 1 {
            sink.emit(EventKind::WaveStarted {
                wave: index + 1,
                waves: count,
                hosts: part.len(),
                canary: wave.canary,
                after: queue.len(),
            })
            .await;
        }
        let workers = config.concurrency.clamp(1, part.len().max(1));
        let part = Arc::new(Mutex::new(part));
        let mut tasks = JoinSet::new();
        for _ in 0..workers {
            tasks.spawn(worker(
                part.clone(),
                cancel.clone(),
                until.clone(),
                shared.clone(),
            ));
        }
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
                        sink.emit(EventKind::RunBeginCancel { reason }).await;
                        if now == Cancel::Abort {
                            tasks.abort_all();
                        }
                    }
                }
            }
        }
        if level != Cancel::None || until.as_ref().is_some_and(|u| Instant::now() >= u.at) {
            break;
        }
        if let Some(threshold) = shared.halted().await {
            held = Some(threshold);
            break;
        }
        let unsuccessful = shared.tally.lock().await.unsuccessful.len();
        if wave.canary && unsuccessful > 0 {
            held = Some(NotStarted::CanaryFailed {
                failed: unsuccessful,
                canaries: wave.hosts,
            });
            break;
        }
    }
    // Slots still queued after a cancel, the window's end or the rollout's stop, or
    // whose worker was aborted, never reported.
    let waiting = match (level, held, &until) {
        (Cancel::None, Some(held), _) => held,
        (Cancel::None, None, Some(until)) => NotStarted::WindowClosed {
            at: until.label.clone(),
        },
        _ => NotStarted::Interrupted,
    };
    let states = shared.tally.lock().await.slots.clone();
    for (slot, ((host, package), state)) in slots.into_iter().zip(states).enumerate() {
        let outcome = match state {
            HostState::Done => continue,
            // Aborted while its result was being written: the write goes on in the
            // background pool; announce that same result.
            HostState::Finishing { outcome, report, .. } => {
                shared.announce(slot, outcome, report).await;
                continue;
            }
            HostState::Running => Outcome::Failed {
                step: None,
                reason: Failure::Aborted,
            },
            HostState::Queued => Outcome::NotStarted {
                reason: waiting.clone(),
            },
        };
        let report = HostReport {
            host,
            package,
            ..HostReport::default()
        };
        shared.finish(slot, outcome, report).await;
    }
    let stats = shared.tally.lock().await.stats.clone();
    sink.emit(EventKind::RunFinished { stats: stats.clone() }).await;
    stats
}

async fn worker(
    queue: Arc<Mutex<VecDeque<(usize, HostJob)>>>,
    cancel: watch::Receiver<Cancel>,
    until: Option<Until>,
    shared: Arc<Shared>,
) {
    loop {
        if *cancel.borrow() != Cancel::None || shared.halted().await.is_some() {
            return;
        }
        if until.as_ref().is_some_and(|u| Instant::now() >= u.at) {
            return;
        }
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some((first, job)) = next else { return };
        shared.started(first, job.work.len(), &job.label).await;
        let owner = shared.clone();
        let mut done = move |index: usize, outcome: Outcome, report: HostReport| -> BoxFuture<'static, ()> {
            let shared = owner.clone();
            Box::pin(async move { shared.finish(first + index, outcome, report).await })
        };
        flow::run(&job, &shared.ctx, &mut done).await;
    }
}
