//! The runner against a scripted transport, on tokio's paused clock: stalls at every
//! step, the host deadline, cleanup on every path, the queue under cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::events::Step;
use super::*;
use crate::outcome::Skip;
use crate::report::words::reason;
use crate::transport::{
    Artefact, AuthOutcome, BoxFuture, Connection, Detect, ExecOutput, OutputTail, RemoteExit, TransportError,
};

/// A host that answers every step at once, except `stall`, where it hangs forever.
#[derive(Clone, Default)]
struct Scripted {
    stall: Option<Step>,
    exit: i32,
    calls: Arc<Mutex<Vec<Step>>>,
    /// Shared with a [`Recording`] ledger, to see what happened in which order.
    log: Log,
}

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, line: String) {
    log.lock().unwrap().push(line);
}

/// A ledger that writes down every call, and refuses `busy` packages.
#[derive(Default)]
struct Recording {
    log: Log,
    busy: Option<String>,
}

impl Ledger for Recording {
    fn begin(&self, host: &str, package: &str) -> Result<(), Skip> {
        if self.busy.as_deref() == Some(package) {
            return Err(Skip::Busy {
                run_id: "other".into(),
                pid: 7,
            });
        }
        note(&self.log, format!("begin {host} {package}"));
        Ok(())
    }
    fn phase(&self, _: &str, _: &str, _: Step) {}
    fn will_create(&self, _: &str, credential: &str, artefacts: &[Artefact]) -> Result<(), String> {
        note(
            &self.log,
            format!("journal {} as {credential}", artefacts[0].path),
        );
        Ok(())
    }
    fn removed(&self, _: &str, artefacts: &[Artefact]) {
        note(&self.log, format!("forget {}", artefacts[0].path));
    }
    fn finish(&self, host: &str, package: &str, outcome: &Outcome, _: &HostReport) {
        note(&self.log, format!("finish {host} {package} {}", outcome.status()));
    }
    fn reboot(&self, _: &str, package: &str, state: &RebootState) {
        note(&self.log, format!("reboot {package} {}", state.label()));
    }
}

impl Scripted {
    fn enter<T: Send + 'static>(
        &self,
        step: Step,
        value: T,
    ) -> BoxFuture<'static, Result<T, TransportError>> {
        self.calls.lock().unwrap().push(step);
        let stall = self.stall == Some(step);
        Box::pin(async move {
            if stall {
                std::future::pending::<()>().await;
            }
            Ok(value)
        })
    }

    fn calls(&self) -> Vec<Step> {
        self.calls.lock().unwrap().clone()
    }
}

impl Connector for Scripted {
    fn connect<'a>(&'a self, _: &'a Endpoint) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
        let conn: Box<dyn Connection> = Box::new(self.clone());
        self.enter(Step::Connect, conn)
    }
}

impl Connection for Scripted {
    fn authenticate<'a>(
        &'a mut self,
        _: &'a [Credential],
    ) -> BoxFuture<'a, Result<AuthOutcome, TransportError>> {
        let outcome = AuthOutcome {
            accepted: "c".into(),
            rejected: vec![],
        };
        self.enter(Step::Authenticate, outcome)
    }
    fn detect<'a>(&'a mut self, _: &'a Detect) -> BoxFuture<'a, Result<bool, TransportError>> {
        self.enter(Step::Detect, false)
    }
    fn prepare(&mut self, package: &str) -> Vec<Artefact> {
        vec![Artefact {
            kind: crate::transport::ArtefactKind::Directory,
            path: format!("dir-{package}"),
        }]
    }
    fn stage<'a>(
        &'a mut self,
        _: &'a [Payload],
        _: &'a Install,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        note(&self.log, "stage".into());
        self.enter(Step::Upload, ())
    }
    fn execute<'a>(&'a mut self, _: &'a Install) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
        let out = ExecOutput {
            exit: RemoteExit::Code(self.exit),
            output: OutputTail::new(16),
        };
        self.enter(Step::Execute, out)
    }
    fn cleanup(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        note(&self.log, "cleanup".into());
        self.enter(Step::Cleanup, ())
    }
    fn remove<'a>(&'a mut self, _: &'a [Artefact]) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }
    fn probe(&mut self, _: u64) -> BoxFuture<'_, Result<crate::transport::HostFacts, TransportError>> {
        Box::pin(async { Ok(crate::transport::HostFacts::default()) })
    }
    fn reboot<'a>(&'a mut self, delay: Duration, _: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
        note(&self.log, format!("shutdown in {}s", delay.as_secs()));
        Box::pin(async { Ok(()) })
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

fn package(name: &str) -> PackageJob {
    PackageJob {
        package: name.into(),
        version: None,
        detect: Some(Detect::Command("true".into())),
        requires: Vec::new(),
        payloads: vec![],
        install: Install {
            program: "setup".into(),
            args: vec![],
            timeout: Duration::from_secs(600),
        },
        codes: ExitCodes {
            success: vec![0],
            reboot: vec![3010],
        },
        reboot: RebootPolicy::Never,
        skip: None,
        operation: Default::default(),
        alternatives: Vec::new(),
    }
}

fn job(name: &str, host: &Scripted) -> HostJob {
    jobs(name, host, vec![package("p")])
}

fn jobs(name: &str, host: &Scripted, packages: Vec<PackageJob>) -> HostJob {
    HostJob {
        label: name.into(),
        endpoint: Endpoint {
            name: name.into(),
            address: name.into(),
            port: 22,
        },
        connector: Arc::new(host.clone()),
        credentials: vec![],
        work: Work::Install(packages),
    }
}

fn config(concurrency: usize, timeouts: Timeouts) -> RunConfig {
    RunConfig {
        run_id: "r".into(),
        packages: vec!["p".into()],
        concurrency,
        timeouts,
        force: false,
        redactor: Default::default(),
        until: None,
        notice: RebootNotice {
            delay: Duration::from_secs(300),
            message: "save your work".into(),
        },
        ledger: Arc::new(NoLedger),
        rollout: Default::default(),
        goal: Default::default(),
    }
}

fn recorded(host: &Scripted, concurrency: usize) -> (RunConfig, Log) {
    let ledger = Recording {
        log: host.log.clone(),
        busy: None,
    };
    let config = RunConfig {
        ledger: Arc::new(ledger),
        ..config(concurrency, Timeouts::default())
    };
    (config, host.log.clone())
}

/// Run the jobs and return each host's outcome, in the order they finished.
async fn outcomes(jobs: Vec<HostJob>, config: RunConfig, cancel: Cancel) -> Vec<(String, Outcome)> {
    let (sink, mut events) = EventSink::new();
    let (tx, rx) = watch::channel(cancel);
    run(jobs, config, sink, rx).await;
    drop(tx);
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EventKind::HostFinished { host, outcome, .. } = event.kind {
            out.push((host, outcome));
        }
    }
    out
}

#[tokio::test(start_paused = true)]
async fn a_stall_at_any_step_times_out_with_that_step_and_cleans_up_what_was_staged() {
    for (stall, expected) in [
        (Step::Connect, "timeout during connect (10s)"),
        (Step::Authenticate, "timeout during authenticate (30s)"),
        (Step::Detect, "timeout during detect (30s)"),
        (Step::Upload, "timeout during upload (5m)"),
        (Step::Execute, "timeout during execute (10m 10s)"),
    ] {
        let host = Scripted {
            stall: Some(stall),
            ..Scripted::default()
        };
        let done = outcomes(
            vec![job("h", &host)],
            config(1, Timeouts::default()),
            Cancel::None,
        )
        .await;
        assert_eq!(reason(&done[0].1), expected);
        let unreachable = matches!(stall, Step::Connect | Step::Authenticate);
        assert_eq!(
            done[0].1.status(),
            if unreachable { "unreachable" } else { "failed" }
        );
        let cleaned = host.calls().contains(&Step::Cleanup);
        // Once connected and logged in, the transport is asked to clean up whatever
        // it created (it knows whether that is anything).
        assert_eq!(
            cleaned,
            matches!(stall, Step::Detect | Step::Upload | Step::Execute),
            "cleanup after a stall in {stall}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_host_deadline_cuts_a_long_step_short() {
    let host = Scripted {
        stall: Some(Step::Upload),
        ..Scripted::default()
    };
    let timeouts = Timeouts {
        host: Duration::from_secs(60),
        ..Timeouts::default()
    };
    let done = outcomes(vec![job("h", &host)], config(1, timeouts), Cancel::None).await;
    assert_eq!(
        reason(&done[0].1),
        "timeout during upload (host deadline (1m) reached)"
    );
    assert!(host.calls().contains(&Step::Cleanup));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_host_does_not_hold_up_the_queue() {
    let stuck = Scripted {
        stall: Some(Step::Upload),
        ..Scripted::default()
    };
    let fine = Scripted::default();
    let failing = Scripted {
        exit: 3,
        ..Scripted::default()
    };
    let jobs = vec![
        job("stuck", &stuck),
        job("a", &fine),
        job("b", &failing),
        job("c", &fine),
    ];
    let done = outcomes(jobs, config(2, Timeouts::default()), Cancel::None).await;
    let order: Vec<&str> = done.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        order,
        ["a", "b", "c", "stuck"],
        "the others finish while one host hangs"
    );
    assert_eq!(done[1].1.exit_code(), Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_starts_nothing() {
    let host = Scripted::default();
    let done = outcomes(
        vec![job("a", &host), job("b", &host)],
        config(1, Timeouts::default()),
        Cancel::Stop,
    )
    .await;
    assert!(done.iter().all(|(_, o)| o.status() == "not-started"), "{done:?}");
    assert!(host.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_window_already_closed_starts_nothing_and_says_why() {
    let host = Scripted::default();
    let mut config = config(2, Timeouts::default());
    config.until = Some(Until {
        at: tokio::time::Instant::now(),
        label: "05:00".into(),
    });
    let done = outcomes(vec![job("a", &host), job("b", &host)], config, Cancel::None).await;
    assert_eq!(done.len(), 2);
    for (_, outcome) in &done {
        assert_eq!(reason(outcome), "not started: the window closed at 05:00");
    }
    assert!(host.calls().is_empty());
}

/// Hosts `names` sharing one log; those in `failing` exit 1.
fn fleet(names: &[&str], failing: &[&str]) -> (Vec<HostJob>, Scripted) {
    let good = Scripted::default();
    let bad = Scripted {
        exit: 1,
        ..good.clone()
    };
    let jobs = names
        .iter()
        .map(|n| job(n, if failing.contains(n) { &bad } else { &good }))
        .collect();
    (jobs, good)
}

fn rollout(canary: usize, batch: Option<usize>, max_failures: Option<usize>) -> RolloutPlan {
    RolloutPlan {
        hosts: 0,
        canary,
        batch,
        max_failures,
    }
}

#[tokio::test(start_paused = true)]
async fn waves_never_overlap() {
    let (jobs, host) = fleet(&["a", "b", "c", "d", "e"], &[]);
    let (mut config, log) = recorded(&host, 10);
    config.rollout = rollout(1, Some(2), None);
    let done = outcomes(jobs, config, Cancel::None).await;
    assert!(done.iter().all(|(_, o)| o.status() == "ok"), "{done:?}");
    let log = log.lock().unwrap().clone();
    let at = |what: &str| {
        log.iter()
            .position(|l| l == what)
            .unwrap_or_else(|| panic!("{what}: {log:?}"))
    };
    // Canary a, then {b, c}, then {d, e}: each wave ends before the next begins.
    assert!(at("finish a p ok") < at("begin b p"));
    for (ended, next) in [("b", "d"), ("c", "d"), ("b", "e"), ("c", "e")] {
        assert!(
            at(&format!("finish {ended} p ok")) < at(&format!("begin {next} p")),
            "{log:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_holds_back_every_other_host() {
    let (jobs, host) = fleet(&["a", "b", "c", "d"], &["b"]);
    let mut config = config(4, Timeouts::default());
    config.rollout = rollout(2, None, None);
    let done = outcomes(jobs, config, Cancel::None).await;
    let status: Vec<(&str, String)> = done.iter().map(|(h, o)| (h.as_str(), reason(o))).collect();
    assert!(status.contains(&("a", "installed".into())), "{status:?}");
    assert!(
        status.contains(&("b", "installer exited with code 1".into())),
        "{status:?}"
    );
    let held = "not started: 1 of 2 canary host(s) did not succeed; fix them, then run again";
    assert!(
        status.contains(&("c", held.into())) && status.contains(&("d", held.into())),
        "{status:?}"
    );
    // Good and bad hosts share one call log: only the two canaries were reached.
    assert_eq!(host.calls().iter().filter(|s| **s == Step::Connect).count(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_failure_threshold_starts_no_host_after_it_is_reached() {
    let (jobs, good) = fleet(&["a", "b", "c", "d", "e", "f"], &["a", "c", "d", "e", "f"]);
    let mut config = config(1, Timeouts::default());
    config.rollout = rollout(0, None, Some(2));
    let done = outcomes(jobs, config, Cancel::None).await;
    let order: Vec<(&str, &str)> = done.iter().map(|(h, o)| (h.as_str(), o.status())).collect();
    assert_eq!(
        order[..3],
        [("a", "failed"), ("b", "ok"), ("c", "failed")],
        "{order:?}"
    );
    for (host, outcome) in &done[3..] {
        assert_eq!(
            reason(outcome),
            "not started: failure threshold reached (2 hosts failed, --max-failures 2)",
            "{host}"
        );
    }
    // One log for all: a, b and c were reached, no other.
    assert_eq!(good.calls().iter().filter(|s| **s == Step::Connect).count(), 3);
}

#[tokio::test(start_paused = true)]
async fn packages_install_in_order_over_one_connection_and_a_failure_stops_the_rest() {
    let host = Scripted {
        exit: 3,
        ..Scripted::default()
    };
    let (config, log) = recorded(&host, 1);
    let packages = vec![package("first"), package("second")];
    let done = outcomes(vec![jobs("h", &host, packages)], config, Cancel::None).await;
    let statuses: Vec<&str> = done.iter().map(|(_, o)| o.status()).collect();
    assert_eq!(statuses, ["failed", "skipped"]);
    assert_eq!(reason(&done[1].1), "earlier package failed");
    let connects = host.calls().iter().filter(|s| **s == Step::Connect).count();
    assert_eq!(connects, 1);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "begin h first",
            "begin h second",
            "journal dir-first as c",
            "stage",
            "cleanup",
            "forget dir-first",
            "finish h first failed",
            "finish h second skipped",
        ],
        "the artefact is on record before it is created, and struck after cleanup"
    );
}

#[tokio::test(start_paused = true)]
async fn a_skipped_or_busy_package_touches_nothing_and_skips_the_later_ones() {
    let host = Scripted::default();
    let mut limited = package("first");
    limited.skip = Some(Skip::AttemptLimit {
        failures: 3,
        limit: 3,
    });
    let (limited_config, _) = recorded(&host, 1);
    let done = outcomes(
        vec![jobs("h", &host, vec![limited, package("second")])],
        limited_config,
        Cancel::None,
    )
    .await;
    assert_eq!(reason(&done[0].1), "attempt-limit (3/3)");
    assert_eq!(reason(&done[1].1), "earlier package not installed");
    assert!(host.calls().is_empty(), "no connection for a skipped host");

    let busy_host = Scripted::default();
    let config = RunConfig {
        ledger: Arc::new(Recording {
            log: busy_host.log.clone(),
            busy: Some("p".into()),
        }),
        ..config(1, Timeouts::default())
    };
    let done = outcomes(vec![job("h", &busy_host)], config, Cancel::None).await;
    assert_eq!(
        reason(&done[0].1),
        "busy: another run holds it (run other, pid 7)"
    );
    assert!(busy_host.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn reboots_follow_the_policy_once_after_all_packages() {
    for (policy, exit, expected) in [
        (RebootPolicy::Never, 3010, vec!["reboot p pending"]),
        (RebootPolicy::Never, 0, vec![]),
        (RebootPolicy::IfRequired, 0, vec![]),
        (
            RebootPolicy::IfRequired,
            3010,
            vec!["shutdown in 0s", "reboot p requested"],
        ),
        (
            RebootPolicy::Always,
            0,
            vec!["shutdown in 0s", "reboot p requested"],
        ),
        (
            RebootPolicy::Ask,
            3010,
            vec!["shutdown in 300s", "reboot p requested"],
        ),
        (RebootPolicy::Ask, 0, vec![]),
    ] {
        let host = Scripted {
            exit,
            ..Scripted::default()
        };
        let (config, log) = recorded(&host, 1);
        let mut pkg = package("p");
        pkg.reboot = policy;
        outcomes(vec![jobs("h", &host, vec![pkg])], config, Cancel::None).await;
        let seen: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("reboot") || l.starts_with("shutdown"))
            .cloned()
            .collect();
        assert_eq!(seen, expected, "{policy:?} with exit {exit}");
    }
}

/// Where a slow history disk makes a ledger call block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SlowIn {
    Begin,
    Finish,
}

/// A ledger whose disk is slow for the host `slow`: its call `at` blocks until the
/// host `releaser` has finished. If that can never happen while it blocks, the
/// wait runs out and `waited_out` says so.
struct SlowDisk {
    at: SlowIn,
    releaser: &'static str,
    release: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    wait: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    waited_out: std::sync::atomic::AtomicBool,
}

impl SlowDisk {
    fn new(at: SlowIn, releaser: &'static str) -> Arc<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        Arc::new(SlowDisk {
            at,
            releaser,
            release: Mutex::new(Some(tx)),
            wait: Mutex::new(Some(rx)),
            waited_out: Default::default(),
        })
    }

    fn stall(&self, host: &str, at: SlowIn) {
        if host == "slow"
            && at == self.at
            && let Some(rx) = self.wait.lock().unwrap().take()
            && rx.recv_timeout(Duration::from_secs(10)).is_err()
        {
            self.waited_out.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn waited_out(&self) -> bool {
        self.waited_out.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Ledger for SlowDisk {
    fn begin(&self, host: &str, _: &str) -> Result<(), Skip> {
        self.stall(host, SlowIn::Begin);
        Ok(())
    }
    fn phase(&self, _: &str, _: &str, _: Step) {}
    fn will_create(&self, _: &str, _: &str, _: &[Artefact]) -> Result<(), String> {
        Ok(())
    }
    fn removed(&self, _: &str, _: &[Artefact]) {}
    fn finish(&self, host: &str, _: &str, _: &Outcome, _: &HostReport) {
        self.stall(host, SlowIn::Finish);
        if host == self.releaser
            && let Some(tx) = self.release.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    }
    fn reboot(&self, _: &str, _: &str, _: &RebootState) {}
}

/// Run `hosts` at concurrency 2 over a slow disk; the order they finished in.
async fn over_slow_disk(ledger: Arc<SlowDisk>, hosts: &[&str]) -> Vec<String> {
    let host = Scripted::default();
    let config = RunConfig {
        ledger: ledger.clone(),
        ..config(2, Timeouts::default())
    };
    let jobs = hosts.iter().map(|name| job(name, &host)).collect();
    let done = outcomes(jobs, config, Cancel::None).await;
    assert!(
        !ledger.waited_out(),
        "a host could not go on while another host's record was being written"
    );
    done.into_iter().map(|(h, _)| h).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_history_disk_stalls_only_its_own_host() {
    // On one thread: a ledger call made on the runtime's thread would block `fast`.
    let mut order = over_slow_disk(SlowDisk::new(SlowIn::Begin, "fast"), &["slow", "fast"]).await;
    order.sort();
    assert_eq!(order, ["fast", "slow"], "both finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_result_write_does_not_hold_up_the_queue() {
    // `later` waits in the queue for a free slot: a result written under the
    // dispatcher's lock would keep it from starting.
    let hosts = ["slow", "fast", "later"];
    let mut order = over_slow_disk(SlowDisk::new(SlowIn::Finish, "later"), &hosts).await;
    // `slow` and `later` are announced right after `later`'s record, in either order.
    assert_eq!(order.remove(0), "fast");
    order.sort();
    assert_eq!(order, ["later", "slow"]);
}
