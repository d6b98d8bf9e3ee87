//! The runner against a scripted transport, on tokio's paused clock: stalls at every
//! step, the host deadline, cleanup on every path, the queue under cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::events::Step;
use super::*;
use crate::transport::{
    AuthOutcome, BoxFuture, Connection, ExecOutput, OutputTail, RemoteExit, TransportError,
};

/// A host that answers every step at once, except `stall`, where it hangs forever.
#[derive(Clone, Default)]
struct Scripted {
    stall: Option<Step>,
    exit: i32,
    calls: Arc<Mutex<Vec<Step>>>,
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
    fn detect<'a>(&'a mut self, _: &'a str) -> BoxFuture<'a, Result<bool, TransportError>> {
        self.enter(Step::Detect, false)
    }
    fn stage<'a>(&'a mut self, _: &'a [Payload]) -> BoxFuture<'a, Result<(), TransportError>> {
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
        self.enter(Step::Cleanup, ())
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

fn job(name: &str, host: &Scripted) -> HostJob {
    HostJob {
        label: name.into(),
        endpoint: Endpoint {
            name: name.into(),
            address: name.into(),
            port: 22,
        },
        connector: Arc::new(host.clone()),
        credentials: vec![],
        detect: Some("true".into()),
        payloads: vec![],
        install: Install {
            program: "setup".into(),
            args: vec![],
            timeout: Duration::from_secs(600),
        },
    }
}

fn config(concurrency: usize, timeouts: Timeouts) -> RunConfig {
    RunConfig {
        run_id: "r".into(),
        package: "p".into(),
        version: None,
        concurrency,
        timeouts,
        codes: ExitCodes {
            success: vec![0],
            reboot: vec![],
        },
        force: false,
        redactor: Default::default(),
    }
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
async fn a_stall_at_any_step_times_out_with_that_step_and_still_cleans_up() {
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
        assert_eq!(done[0].1.reason(), expected);
        let unreachable = matches!(stall, Step::Connect | Step::Authenticate);
        assert_eq!(
            done[0].1.status(),
            if unreachable { "unreachable" } else { "failed" }
        );
        let cleaned = host.calls().contains(&Step::Cleanup);
        assert_eq!(
            cleaned,
            stall != Step::Connect,
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
        done[0].1.reason(),
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
    assert!(done.iter().all(|(_, o)| *o == Outcome::NotStarted), "{done:?}");
    assert!(host.calls().is_empty());
}
