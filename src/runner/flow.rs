//! The install flow on one host: connect → authenticate → detect → upload →
//! execute → classify, then cleanup on every path out.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::events::{EventKind, EventSink, HostReport, Outcome, Step, StepRecord};
use super::{ExitCodes, HostJob, Timeouts};
use crate::secrets::Redactor;
use crate::transport::{Connection, ExecOutput, Install, RemoteExit, TransportError};

/// Time the transport gets beyond the installer's own timeout to stop it cleanly.
const EXEC_GRACE: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Ctx {
    pub sink: EventSink,
    pub timeouts: Timeouts,
    pub codes: ExitCodes,
    pub force: bool,
    pub redactor: Redactor,
}

pub(super) async fn install(job: &HostJob, ctx: &Ctx) -> (Outcome, HostReport) {
    let started = Instant::now();
    let mut host = HostRun {
        job,
        ctx,
        deadline: started + ctx.timeouts.host,
        report: HostReport {
            host: job.label.clone(),
            address: format!("{}:{}", job.endpoint.address, job.endpoint.port),
            started: Some(SystemTime::now()),
            ..HostReport::default()
        },
    };
    let outcome = host.run().await;
    host.report.duration = started.elapsed();
    (outcome, host.report)
}

struct HostRun<'a> {
    job: &'a HostJob,
    ctx: &'a Ctx,
    deadline: Instant,
    report: HostReport,
}

impl HostRun<'_> {
    async fn run(&mut self) -> Outcome {
        let connect = self.job.connector.connect(&self.job.endpoint);
        let mut conn = match self.step(Step::Connect, self.ctx.timeouts.connect, connect).await {
            Ok(conn) => conn,
            Err(outcome) => return outcome,
        };
        let outcome = match self.flow(conn.as_mut()).await {
            Ok(outcome) | Err(outcome) => outcome,
        };
        self.cleanup(conn.as_mut()).await;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        outcome
    }

    async fn flow(&mut self, conn: &mut dyn Connection) -> Result<Outcome, Outcome> {
        let job = self.job;
        let auth = self
            .step(
                Step::Authenticate,
                self.ctx.timeouts.auth,
                conn.authenticate(&job.credentials),
            )
            .await?;
        self.rejections(&auth.rejected);
        self.report.credential = Some(auth.accepted.clone());

        if let (Some(detect), false) = (&job.detect, self.ctx.force)
            && self
                .step(Step::Detect, self.ctx.timeouts.auth, conn.detect(detect))
                .await?
        {
            return Ok(Outcome::AlreadyInstalled);
        }
        self.step(Step::Upload, self.ctx.timeouts.upload, conn.stage(&job.payloads))
            .await?;

        let install = Install {
            timeout: self.remaining(job.install.timeout),
            ..job.install.clone()
        };
        let mut argv = vec![install.program.clone()];
        argv.extend(install.args.iter().cloned());
        self.report.command = Some(self.ctx.redactor.redact(&argv.join(" ")));
        let run = conn.execute(&install);
        let output = self
            .step(Step::Execute, install.timeout + EXEC_GRACE, run)
            .await?;
        Ok(self.classify(output))
    }

    fn classify(&mut self, out: ExecOutput) -> Outcome {
        self.report.output = self.ctx.redactor.redact(&out.output.text());
        self.report.output_dropped = out.output.dropped();
        let outcome = classify(&out.exit, &self.ctx.codes);
        self.report.exit_code = outcome.exit_code();
        outcome
    }

    async fn cleanup(&mut self, conn: &mut dyn Connection) {
        // Not bounded by the host deadline: leaving files behind is worse than running late.
        let result = self
            .step(Step::Cleanup, self.ctx.timeouts.cleanup, conn.cleanup())
            .await;
        if let Err(outcome) = result {
            self.report.cleanup_error = Some(outcome.reason());
        }
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
            TransportError::Unreachable(reason) => Outcome::Unreachable { step, reason },
            TransportError::AuthRejected(rejected) => {
                self.rejections(&rejected);
                Outcome::Failed {
                    step,
                    reason: TransportError::AuthRejected(rejected).to_string(),
                    exit_code: None,
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
                }
            }
            other => Outcome::Failed {
                step,
                reason: self.ctx.redactor.redact(&other.to_string()),
                exit_code: None,
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
        },
        RemoteExit::Signal(signal) => Outcome::Failed {
            step: Step::Execute,
            reason: format!("installer killed by signal {signal}"),
            exit_code: None,
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
