//! The work on one host: connect → authenticate, then either each package in order
//! (detect → upload → execute → classify → cleanup on every path out, then the
//! reboot the packages' policy asks for), or the removal of what earlier runs left.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::books::Books;
use super::events::{EventKind, EventSink, HostReport, Step, StepRecord};
use super::{
    ExitCodes, HostJob, Leftover, Operation, PackageJob, RebootNotice, RebootPolicy, RebootState, Timeouts,
    Work,
};
use crate::outcome::{Failure, Outcome, Removed, Skip, Unreachable};
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
    pub books: Books,
}

/// Hears about each work item (package or removal) of a host as it ends.
pub(super) type Done = dyn FnMut(usize, Outcome, HostReport) -> super::BoxFuture<'static, ()> + Send;

/// Runs every item of one host.
pub(super) async fn run(job: &HostJob, ctx: &Ctx, done: &mut Done) {
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
    match &job.work {
        Work::Install(packages) => {
            let (runnable, blocked) = host.claim(packages).await;
            if runnable > 0 {
                host.install(&packages[..runnable], started, done).await;
            }
            if let Some(reason) = blocked {
                for (index, pkg) in packages.iter().enumerate().skip(runnable) {
                    let reason = if index == runnable {
                        reason.clone()
                    } else {
                        Skip::EarlierPackageNotInstalled
                    };
                    done(index, Outcome::Skipped { reason }, host.report_for(&pkg.package)).await;
                }
            }
        }
        Work::Remove(leftovers) => {
            let outcome = host.remove(leftovers).await;
            host.report.duration = started.elapsed();
            let report = std::mem::take(&mut host.report);
            done(0, outcome, report).await;
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
    async fn claim(&self, packages: &[PackageJob]) -> (usize, Option<Skip>) {
        for (index, pkg) in packages.iter().enumerate() {
            if let Some(reason) = &pkg.skip {
                return (index, Some(reason.clone()));
            }
            if let Err(reason) = self.ctx.books.begin(&self.job.label, &pkg.package).await {
                return (index, Some(reason));
            }
        }
        (packages.len(), None)
    }

    fn report_for(&self, package: &str) -> HostReport {
        HostReport {
            package: package.to_string(),
            ..self.report.clone()
        }
    }

    /// Connect and log in; on failure, the outcome every item gets.
    async fn open(&mut self) -> Result<(Box<dyn Connection>, String), Outcome> {
        let connect = self.job.connector.connect(&self.job.endpoint);
        let mut conn = self
            .step(Step::Connect, self.ctx.timeouts.connect, connect)
            .await?;
        match self.authenticate(conn.as_mut()).await {
            Ok(credential) => Ok((conn, credential)),
            Err(outcome) => {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
                Err(outcome)
            }
        }
    }

    async fn install(&mut self, packages: &'a [PackageJob], started: Instant, done: &mut Done) {
        let (mut conn, credential) = match self.open().await {
            Ok(opened) => opened,
            Err(outcome) => {
                self.report.duration = started.elapsed();
                for (index, pkg) in packages.iter().enumerate() {
                    done(index, outcome.clone(), self.report_for(&pkg.package)).await;
                }
                return;
            }
        };
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
            let outcome = if earlier_failed {
                Outcome::Skipped {
                    reason: Skip::EarlierPackageFailed,
                }
            } else {
                self.package(conn.as_mut(), pkg, &credential).await
            };
            earlier_failed |= !outcome.is_as_asked();
            self.report.duration = if index == 0 {
                started.elapsed()
            } else {
                begun.elapsed()
            };
            results.push(outcome.clone());
            done(index, outcome, std::mem::take(&mut self.report)).await;
        }
        self.reboot(conn.as_mut(), packages, &results).await;
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    }

    /// `pushinst cleanup`: remove each leftover, striking it from the journal once gone.
    async fn remove(&mut self, leftovers: &[Leftover]) -> Outcome {
        let (mut conn, _) = match self.open().await {
            Ok(opened) => opened,
            Err(outcome) => return outcome,
        };
        let mut removed = Vec::new();
        let mut outcome = None;
        for leftover in leftovers {
            let artefact = std::slice::from_ref(&leftover.artefact);
            let work = conn.remove(artefact);
            if let Err(failed) = self.step(Step::Cleanup, self.ctx.timeouts.cleanup, work).await {
                outcome = Some(failed);
                break;
            }
            self.ctx.books.removed(&self.job.label, artefact).await;
            removed.push(Removed {
                what: leftover.artefact.kind.name().to_string(),
                path: leftover.artefact.path.clone(),
                run_id: leftover.run_id.clone(),
            });
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        outcome.unwrap_or(Outcome::Cleaned { removed })
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
        self.rejections(&auth.rejected).await;
        self.report.credential = Some(auth.accepted.clone());
        Ok(auth.accepted)
    }

    async fn package(&mut self, conn: &mut dyn Connection, pkg: &'a PackageJob, credential: &str) -> Outcome {
        self.package = Some(&pkg.package);
        // On record before anything exists: on Windows even `detect` runs through a
        // temporary service and files.
        let artefacts = conn.prepare(&pkg.package);
        if let Err(message) = self
            .ctx
            .books
            .will_create(&self.job.label, credential, &artefacts)
            .await
        {
            return Outcome::Failed {
                step: Some(Step::Upload),
                reason: Failure::HistoryUnavailable { message },
            };
        }
        let outcome = match self.detect_then_install(conn, pkg).await {
            Ok(outcome) | Err(outcome) => outcome,
        };
        if self.cleanup(conn).await {
            self.ctx.books.removed(&self.job.label, &artefacts).await;
        }
        outcome
    }

    async fn detect_then_install(
        &mut self,
        conn: &mut dyn Connection,
        pkg: &PackageJob,
    ) -> Result<Outcome, Outcome> {
        let pkg = match self.choose(conn, pkg).await? {
            Ok(chosen) => chosen,
            Err(reason) => return Ok(Outcome::Skipped { reason }),
        };
        // Before detect and even under --force: a host that cannot take the package
        // is skipped, never attempted, and nothing is uploaded to it.
        if !pkg.requires.is_empty() {
            let limit = self.ctx.timeouts.auth;
            if let Some(unmet) = self
                .step(Step::Requires, limit, conn.requires(&pkg.requires))
                .await?
            {
                return Ok(Outcome::Skipped {
                    reason: Skip::RequirementNotMet { unmet },
                });
            }
        }
        if let (Some(detect), false) = (&pkg.detect, self.ctx.force) {
            let limit = self.ctx.timeouts.auth;
            let installed = self.step(Step::Detect, limit, conn.detect(detect)).await?;
            match (pkg.operation, installed) {
                (Operation::Install, true) => return Ok(Outcome::AlreadyInstalled),
                (Operation::Remove { .. }, false) => {
                    return Ok(Outcome::Skipped {
                        reason: Skip::NotInstalled,
                    });
                }
                _ => {}
            }
        }
        // As it would run now; the host's deadline may shorten it by the time it does.
        let planned = Install {
            timeout: self.remaining(pkg.install.timeout),
            ..pkg.install.clone()
        };
        self.step(
            Step::Upload,
            self.ctx.timeouts.upload,
            conn.stage(&pkg.payloads, &planned),
        )
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
        let outcome = self.classify(output, &pkg.codes);
        match pkg.operation {
            Operation::Install => Ok(outcome),
            Operation::Remove { verify } => self.removal(conn, pkg, outcome, verify).await,
        }
    }

    /// The variant for this host: asked of the host in one round trip when the package
    /// has a choice, the first whose `arch`/`os` holds. None holding is a skip, before
    /// anything is uploaded.
    async fn choose<'p>(
        &mut self,
        conn: &mut dyn Connection,
        pkg: &'p PackageJob,
    ) -> Result<Result<&'p PackageJob, Skip>, Outcome> {
        if pkg.alternatives.is_empty() {
            return Ok(Ok(pkg));
        }
        use crate::inventory::requires::{facts_for, fits};
        let asked = facts_for(pkg.alternatives.iter().map(|a| &a.when[..]));
        let limit = self.ctx.timeouts.auth;
        let answers = self.step(Step::Requires, limit, conn.answers(&asked)).await?;
        let Some(chosen) = pkg.alternatives.iter().find(|a| fits(&a.when, &answers)) else {
            return Ok(Err(Skip::NoVariant {
                package: pkg.package.clone(),
                os: answers.os_release(),
                arch: answers.arch,
            }));
        };
        self.report.variant = Some((chosen.number, chosen.file.clone()));
        self.ctx
            .sink
            .emit(EventKind::VariantChosen {
                host: self.job.label.clone(),
                package: pkg.package.clone(),
                variant: chosen.number,
                file: chosen.file.clone(),
            })
            .await;
        Ok(Ok(&chosen.job))
    }

    /// An uninstaller's result: its own failure words, and, where it says it worked
    /// and the package can be detected, the host's last word.
    async fn removal(
        &mut self,
        conn: &mut dyn Connection,
        pkg: &PackageJob,
        outcome: Outcome,
        verify: bool,
    ) -> Result<Outcome, Outcome> {
        let exit_code = match outcome {
            Outcome::Installed { exit_code } | Outcome::InstalledRebootRequired { exit_code } => exit_code,
            Outcome::Failed {
                step,
                reason: Failure::ExitCode { code },
            } => {
                return Ok(Outcome::Failed {
                    step,
                    reason: Failure::UninstallerExitCode { code },
                });
            }
            other => return Ok(other),
        };
        if let (true, Some(detect)) = (verify, &pkg.detect) {
            let limit = self.ctx.timeouts.auth;
            if self.step(Step::Detect, limit, conn.detect(detect)).await? {
                return Ok(Outcome::Failed {
                    step: Some(Step::Detect),
                    reason: Failure::StillInstalled { exit_code },
                });
            }
        }
        Ok(Outcome::Removed { exit_code })
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
                self.report.cleanup_failed = Some(outcome);
                false
            }
        }
    }

    /// One reboot at the end, for all packages: never between two installs.
    async fn reboot(&mut self, conn: &mut dyn Connection, packages: &[PackageJob], results: &[Outcome]) {
        let mut asked = Vec::new();
        let mut warn = false;
        for (pkg, outcome) in packages.iter().zip(results) {
            let reboot_required = match outcome {
                Outcome::Installed { .. } => false,
                Outcome::InstalledRebootRequired { .. } => true,
                _ => continue,
            };
            match (pkg.reboot, reboot_required) {
                (RebootPolicy::Always, _) | (RebootPolicy::IfRequired, true) => asked.push(pkg),
                (RebootPolicy::Ask, true) => {
                    warn = true;
                    asked.push(pkg);
                }
                (RebootPolicy::Never, true) => {
                    self.ctx
                        .books
                        .reboot(&self.job.label, &pkg.package, RebootState::Pending)
                        .await
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
            Ok(Ok(())) => RebootState::Requested { delay },
            Ok(Err(e)) => RebootState::Failed(self.ctx.redactor.redact(&e.to_string())),
            Err(_) => RebootState::Failed("timed out".to_string()),
        };
        for pkg in asked {
            self.ctx
                .books
                .reboot(&self.job.label, &pkg.package, state.clone())
                .await;
        }
        self.ctx
            .sink
            .emit(EventKind::RebootRequested {
                host: self.job.label.clone(),
                state,
            })
            .await;
    }

    async fn rejections(&mut self, rejected: &[crate::transport::Rejection]) {
        for r in rejected {
            self.ctx
                .sink
                .emit(EventKind::CredentialRejected {
                    host: self.job.label.clone(),
                    credential: r.credential.clone(),
                    reason: r.reason.clone(),
                })
                .await;
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
        self.ctx
            .sink
            .emit(EventKind::StepStarted {
                host: self.job.label.clone(),
                step,
            })
            .await;
        if let Some(package) = self.package {
            self.ctx.books.phase(&self.job.label, package, step).await;
        }
        let started = Instant::now();
        let result = tokio::time::timeout(bounded, work).await;
        let outcome = match result {
            Ok(Ok(value)) => {
                self.record(step, started, None);
                return Ok(value);
            }
            Ok(Err(err)) => self.failure(step, err).await,
            Err(_) => {
                let limit = if by_deadline {
                    self.ctx.timeouts.host
                } else {
                    limit
                };
                match step {
                    Step::Connect | Step::Authenticate => Outcome::Unreachable {
                        step,
                        reason: Unreachable::TimedOut {
                            limit,
                            host_deadline: by_deadline,
                        },
                    },
                    _ => Outcome::Failed {
                        step: Some(step),
                        reason: Failure::StepTimedOut {
                            limit,
                            host_deadline: by_deadline,
                        },
                    },
                }
            }
        };
        self.record(step, started, Some(outcome.clone()));
        Err(outcome)
    }

    fn record(&mut self, step: Step, started: Instant, failed: Option<Outcome>) {
        self.report.steps.push(StepRecord {
            step,
            duration: started.elapsed(),
            failed,
        });
    }

    /// The transport's error, by its class, as an outcome. Nothing here reads the
    /// error's text to decide: the text is only carried, redacted, for the reader.
    async fn failure(&mut self, step: Step, err: TransportError) -> Outcome {
        let class = err.class();
        match err {
            TransportError::AuthRejected(rejected) => {
                self.rejections(&rejected).await;
                Outcome::Failed {
                    step: Some(step),
                    reason: Failure::CredentialsRefused { rejected },
                }
            }
            TransportError::ExecTimedOut { timeout, output } => {
                self.report.output = self.ctx.redactor.redact(&output.text());
                Outcome::Failed {
                    step: Some(step),
                    reason: Failure::InstallerTimedOut { limit: timeout },
                }
            }
            other => {
                let message = self.ctx.redactor.redact(&other.to_string());
                match class {
                    ErrorClass::Connect => Outcome::Unreachable {
                        step,
                        reason: Unreachable::Network { message },
                    },
                    class => Outcome::Failed {
                        step: Some(step),
                        reason: Failure::Transport { class, message },
                    },
                }
            }
        }
    }
}

/// The package's codes decide: a reboot code is success with a reboot pending.
pub(super) fn classify(exit: &RemoteExit, codes: &ExitCodes) -> Outcome {
    match exit {
        RemoteExit::Code(code) if codes.reboot.contains(code) => {
            Outcome::InstalledRebootRequired { exit_code: *code }
        }
        RemoteExit::Code(code) if codes.success.contains(code) => Outcome::Installed { exit_code: *code },
        RemoteExit::Code(code) => Outcome::Failed {
            step: Some(Step::Execute),
            reason: Failure::ExitCode { code: *code },
        },
        RemoteExit::Signal(signal) => Outcome::Failed {
            step: Some(Step::Execute),
            reason: Failure::Signal {
                signal: signal.clone(),
            },
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
        assert!(failed.counts_as_attempt());
        assert_eq!(
            classify(&RemoteExit::Signal("KILL".into()), &codes).status(),
            "failed"
        );
    }
}
