//! The install flow on one host: connect → authenticate, then for each package in
//! order detect → upload → execute → classify → cleanup (on every path out), then
//! the reboot the packages' policy asks for.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::events::{EventKind, EventSink, HostReport, Outcome, Step, StepRecord};
use super::{ExitCodes, HostJob, Ledger, PackageJob, RebootNotice, RebootPolicy, RebootState, Timeouts};
use crate::secrets::Redactor;
use crate::transport::{Connection, ErrorClass, ExecOutput, Install, RemoteExit, TransportError};

/// Time the transport gets beyond the installer's own timeout to stop it cleanly.
const EXEC_GRACE: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Ctx {
    pub sink: EventSink,
    pub timeouts: Timeouts,
    pub force: bool,
    pub redactor: Redactor,
    pub notice: RebootNotice,
    pub ledger: Arc<dyn Ledger>,
}

/// Runs every package of one host; `done` hears about each package as it ends.
pub(super) async fn install(
    job: &HostJob,
    ctx: &Ctx,
    done: &mut (dyn FnMut(usize, Outcome, HostReport) + Send),
) {
    let started = Instant::now();
    let mut host = HostRun {
        job,
        ctx,
        deadline: started + ctx.timeouts.host,
        package: None,
        report: HostReport {
            host: job.label.clone(),
            address: format!("{}:{}", job.endpoint.address, job.endpoint.port),
            started: Some(SystemTime::now()),
            ..HostReport::default()
        },
    };
    let (runnable, blocked) = host.claim();
    if runnable > 0 {
        host.run(runnable, started, done).await;
    }
    if let Some(reason) = blocked {
        for (index, pkg) in job.packages.iter().enumerate().skip(runnable) {
            let reason = if index == runnable {
                reason.clone()
            } else {
                "earlier package not installed".to_string()
            };
            done(index, Outcome::Skipped { reason }, host.report_for(pkg));
        }
    }
}

struct HostRun<'a> {
    job: &'a HostJob,
    ctx: &'a Ctx,
    deadline: Instant,
    /// The package being worked on, once the connection is up.
    package: Option<&'a str>,
    report: HostReport,
}

impl<'a> HostRun<'a> {
    /// Take the packages in order until one may not run (attempt limit, another run).
    fn claim(&self) -> (usize, Option<String>) {
        for (index, pkg) in self.job.packages.iter().enumerate() {
            if let Some(reason) = &pkg.skip {
                return (index, Some(reason.clone()));
            }
            if let Err(reason) = self.ctx.ledger.begin(&self.job.label, &pkg.package) {
                return (index, Some(reason));
            }
        }
        (self.job.packages.len(), None)
    }

    fn report_for(&self, pkg: &PackageJob) -> HostReport {
        HostReport {
            package: pkg.package.clone(),
            ..self.report.clone()
        }
    }

    async fn run(
        &mut self,
        runnable: usize,
        started: Instant,
        done: &mut (dyn FnMut(usize, Outcome, HostReport) + Send),
    ) {
        let packages = &self.job.packages[..runnable];
        let connect = self.job.connector.connect(&self.job.endpoint);
        let mut conn = match self.step(Step::Connect, self.ctx.timeouts.connect, connect).await {
            Ok(conn) => conn,
            Err(outcome) => {
                self.report.duration = started.elapsed();
                for (index, pkg) in packages.iter().enumerate() {
                    done(index, outcome.clone(), self.report_for(pkg));
                }
                return;
            }
        };
        let session = self.authenticate(conn.as_mut()).await;
        let connected = self.report.clone();
        let mut results = Vec::new();
        let mut earlier_failed = false;
        for (index, pkg) in packages.iter().enumerate() {
            self.report = HostReport {
                package: pkg.package.clone(),
                started: Some(SystemTime::now()),
                ..connected.clone()
            };
            let begun = Instant::now();
            let outcome = match (&session, earlier_failed) {
                (Err(outcome), _) => outcome.clone(),
                (Ok(_), true) => Outcome::Skipped {
                    reason: "earlier package failed".to_string(),
                },
                (Ok(credential), false) => self.package(conn.as_mut(), pkg, credential).await,
            };
            earlier_failed |= !outcome.succeeded();
            self.report.duration = if index == 0 {
                started.elapsed()
            } else {
                begun.elapsed()
            };
            results.push(outcome.clone());
            done(index, outcome, std::mem::take(&mut self.report));
        }
        if session.is_ok() {
            self.reboot(conn.as_mut(), packages, &results).await;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    }

    /// The credential label that got in, or the outcome every package gets.
    async fn authenticate(&mut self, conn: &mut dyn Connection) -> Result<String, Outcome> {
        let auth = self
            .step(
                Step::Authenticate,
                self.ctx.timeouts.auth,
                conn.authenticate(&self.job.credentials),
            )
            .await?;
        self.rejections(&auth.rejected);
        self.report.credential = Some(auth.accepted.clone());
        Ok(auth.accepted)
    }

    async fn package(&mut self, conn: &mut dyn Connection, pkg: &'a PackageJob, credential: &str) -> Outcome {
        self.package = Some(&pkg.package);
        // On record before anything exists: on Windows even `detect` runs through a
        // temporary service and files.
        let artefacts = conn.prepare(&pkg.package);
        if let Err(why) = self
            .ctx
            .ledger
            .will_create(&self.job.label, credential, &artefacts)
        {
            return Outcome::Failed {
                step: Step::Upload,
                reason: format!("cannot record in the history what would be created, so nothing was: {why}"),
                exit_code: None,
                installer_ran: false,
            };
        }
        let outcome = match self.detect_then_install(conn, pkg).await {
            Ok(outcome) | Err(outcome) => outcome,
        };
        if self.cleanup(conn).await {
            self.ctx.ledger.removed(&self.job.label, &artefacts);
        }
        outcome
    }

    async fn detect_then_install(
        &mut self,
        conn: &mut dyn Connection,
        pkg: &PackageJob,
    ) -> Result<Outcome, Outcome> {
        if let (Some(detect), false) = (&pkg.detect, self.ctx.force) {
            let limit = self.ctx.timeouts.auth;
            if self.step(Step::Detect, limit, conn.detect(detect)).await? {
                return Ok(Outcome::AlreadyInstalled);
            }
        }
        self.step(Step::Upload, self.ctx.timeouts.upload, conn.stage(&pkg.payloads))
            .await?;
        let install = Install {
            timeout: self.remaining(pkg.install.timeout),
            ..pkg.install.clone()
        };
        let mut argv = vec![install.program.clone()];
        argv.extend(install.args.iter().cloned());
        self.report.command = Some(self.ctx.redactor.redact(&argv.join(" ")));
        let run = conn.execute(&install);
        let output = self
            .step(Step::Execute, install.timeout + EXEC_GRACE, run)
            .await?;
        Ok(self.classify(output, &pkg.codes))
    }

    fn classify(&mut self, out: ExecOutput, codes: &ExitCodes) -> Outcome {
        self.report.output = self.ctx.redactor.redact(&out.output.text());
        self.report.output_dropped = out.output.dropped();
        let outcome = classify(&out.exit, codes);
        self.report.exit_code = outcome.exit_code();
        outcome
    }

    /// `true` when everything staged is gone.
    async fn cleanup(&mut self, conn: &mut dyn Connection) -> bool {
        // Not bounded by the host deadline: leaving files behind is worse than running late.
        let result = self
            .step(Step::Cleanup, self.ctx.timeouts.cleanup, conn.cleanup())
            .await;
        match result {
            Ok(()) => true,
            Err(outcome) => {
                self.report.cleanup_error = Some(outcome.reason());
                false
            }
        }
    }

    /// One reboot at the end, for all packages: never between two installs.
    async fn reboot(&mut self, conn: &mut dyn Connection, packages: &[PackageJob], results: &[Outcome]) {
        let mut asked = Vec::new();
        let mut warn = false;
        for (pkg, outcome) in packages.iter().zip(results) {
            let Outcome::Ok { reboot_required, .. } = outcome else {
                continue;
            };
            match (pkg.reboot, reboot_required) {
                (RebootPolicy::Always, _) | (RebootPolicy::IfRequired, true) => asked.push(pkg),
                (RebootPolicy::Ask, true) => {
                    warn = true;
                    asked.push(pkg);
                }
                (RebootPolicy::Never, true) => {
                    self.ctx
                        .ledger
                        .reboot(&self.job.label, &pkg.package, &RebootState::Pending)
                }
                _ => {}
            }
        }
        if asked.is_empty() {
            return;
        }
        let (delay, message) = if warn {
            (self.ctx.notice.delay, self.ctx.notice.message.clone())
        } else {
            (Duration::ZERO, String::new())
        };
        let request = tokio::time::timeout(self.ctx.timeouts.cleanup, conn.reboot(delay, &message)).await;
        let state = match request {
            Ok(Ok(())) => RebootState::Requested,
            Ok(Err(e)) => RebootState::Failed(self.ctx.redactor.redact(&e.to_string())),
            Err(_) => RebootState::Failed("timed out".to_string()),
        };
        for pkg in asked {
            self.ctx.ledger.reboot(&self.job.label, &pkg.package, &state);
        }
        let result = match &state {
            RebootState::Requested if delay.is_zero() => "reboot requested now".to_string(),
            RebootState::Requested => {
                format!("reboot requested in {}", humantime::format_duration(delay))
            }
            other => other.label(),
        };
        self.ctx.sink.emit(EventKind::RebootRequested {
            host: self.job.label.clone(),
            result,
        });
    }

    fn rejections(&mut self, rejected: &[crate::transport::Rejection]) {
        for r in rejected {
            self.ctx.sink.emit(EventKind::CredentialRejected {
                host: self.job.label.clone(),
                credential: r.credential.clone(),
                reason: r.reason.clone(),
            });
        }
        self.report.rejected.extend(rejected.iter().cloned());
    }

    /// A step's own limit, cut short by the host deadline (except for cleanup).
    fn remaining(&self, limit: Duration) -> Duration {
        limit.min(self.deadline.saturating_duration_since(Instant::now()))
    }

    async fn step<T>(
        &mut self,
        step: Step,
        limit: Duration,
        work: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, Outcome> {
        // Cleanup must run even past the deadline; execute gets the deadline inside
        // the transport, which can then stop the installer instead of abandoning it.
        let bounded = match step {
            Step::Cleanup | Step::Execute => limit,
            _ => self.remaining(limit),
        };
        let by_deadline = bounded < limit;
        self.ctx.sink.emit(EventKind::StepStarted {
            host: self.job.label.clone(),
            step,
        });
        if let Some(package) = self.package {
            self.ctx.ledger.phase(&self.job.label, package, step);
        }
        let started = Instant::now();
        let result = tokio::time::timeout(bounded, work).await;
        let outcome = match result {
            Ok(Ok(value)) => {
                self.record(step, started, "ok".to_string());
                return Ok(value);
            }
            Ok(Err(err)) => self.failure(step, err),
            Err(_) => {
                let why = if by_deadline {
                    format!(
                        "host deadline ({}) reached",
                        humantime::format_duration(self.ctx.timeouts.host)
                    )
                } else {
                    humantime::format_duration(limit).to_string()
                };
                let reason = format!("timeout during {step} ({why})");
                match step {
                    Step::Connect | Step::Authenticate => Outcome::Unreachable { step, reason },
                    _ => Outcome::Failed {
                        step,
                        reason,
                        exit_code: None,
                        installer_ran: step == Step::Execute,
                    },
                }
            }
        };
        self.record(step, started, outcome.reason());
        Err(outcome)
    }

    fn record(&mut self, step: Step, started: Instant, result: String) {
        self.report.steps.push(StepRecord {
            step,
            duration: started.elapsed(),
            result,
        });
    }

    fn failure(&mut self, step: Step, err: TransportError) -> Outcome {
        match err {
            err if err.class() == ErrorClass::Connect => Outcome::Unreachable {
                step,
                reason: self.ctx.redactor.redact(&err.to_string()),
            },
            TransportError::AuthRejected(rejected) => {
                self.rejections(&rejected);
                Outcome::Failed {
                    step,
                    reason: TransportError::AuthRejected(rejected).to_string(),
                    exit_code: None,
                    installer_ran: false,
                }
            }
            TransportError::ExecTimedOut { timeout, output } => {
                self.report.output = self.ctx.redactor.redact(&output.text());
                Outcome::Failed {
                    step,
                    reason: format!(
                        "timeout during {step} (the installer did not finish within {}; it was stopped)",
                        humantime::format_duration(timeout)
                    ),
                    exit_code: None,
                    installer_ran: true,
                }
            }
            other => Outcome::Failed {
                step,
                reason: self.ctx.redactor.redact(&other.to_string()),
                exit_code: None,
                installer_ran: other.class() == ErrorClass::Installer,
            },
        }
    }
}

/// The package's codes decide: a reboot code is success with a reboot pending.
pub(super) fn classify(exit: &RemoteExit, codes: &ExitCodes) -> Outcome {
    match exit {
        RemoteExit::Code(code) if codes.reboot.contains(code) => Outcome::Ok {
            exit_code: *code,
            reboot_required: true,
        },
        RemoteExit::Code(code) if codes.success.contains(code) => Outcome::Ok {
            exit_code: *code,
            reboot_required: false,
        },
        RemoteExit::Code(code) => Outcome::Failed {
            step: Step::Execute,
            reason: format!("installer exited with code {code}"),
            exit_code: Some(*code),
            installer_ran: true,
        },
        RemoteExit::Signal(signal) => Outcome::Failed {
            step: Step::Execute,
            reason: format!("installer killed by signal {signal}"),
            exit_code: None,
            installer_ran: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_package() {
        let codes = ExitCodes {
            success: vec![0, 3010],
            reboot: vec![3010, 1641],
        };
        assert_eq!(classify(&RemoteExit::Code(0), &codes).status(), "ok");
        assert_eq!(
            classify(&RemoteExit::Code(3010), &codes).status(),
            "reboot-required"
        );
        assert_eq!(
            classify(&RemoteExit::Code(1641), &codes).status(),
            "reboot-required"
        );
        let failed = classify(&RemoteExit::Code(3), &codes);
        assert_eq!((failed.status(), failed.exit_code()), ("failed", Some(3)));
        assert_eq!(
            classify(&RemoteExit::Signal("KILL".into()), &codes).status(),
            "failed"
        );
    }
}
