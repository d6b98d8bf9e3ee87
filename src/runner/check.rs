//! `pushinst check`: the preflight on one host, stopping at the first blocking
//! problem. connect → authenticate → probe (admin rights, staging, facts) → detect.
//! Nothing here installs and no attempt is recorded: a check is not an attempt, and
//! its result is its own type, never an install outcome. What the probe, the facts
//! and detect create on a target is in the artefact journal before it exists, as in
//! a deploy, and struck once it is gone: `pushinst cleanup` removes what a killed
//! check left.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::Ledger;
use super::books::Books;
use crate::secrets::Redactor;
use crate::transport::{
    Artefact, Connection, Connector, Credential, Detect, Endpoint, ErrorClass, HostFacts, Rejection,
    TransportError,
};

/// What a check's staging names carry where a package's name would be.
const PROBE_ITEM: &str = "check";
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything one host's check needs, already resolved.
pub struct CheckJob {
    pub label: String,
    pub endpoint: Endpoint,
    pub connector: Arc<dyn Connector>,
    pub credentials: Vec<Credential>,
    /// Bytes the package would stage (0 without a package).
    pub needs: u64,
    pub detect: Option<Detect>,
    /// The package's `requires`: an unmet one is the host's blocking problem.
    pub requires: Vec<crate::inventory::Requirement>,
    /// The package's variants by `arch`/`os`, in order: the host's facts pick one,
    /// whose detect and requires then apply. Empty: no choice.
    pub variants: Vec<CheckVariant>,
    /// The package's name, for a host no variant fits.
    pub package: Option<String>,
}

/// One variant a checked host may get.
#[derive(Debug, Clone)]
pub struct CheckVariant {
    pub number: usize,
    pub file: String,
    pub when: Vec<crate::inventory::Requirement>,
    pub detect: Option<Detect>,
    pub requires: Vec<crate::inventory::Requirement>,
}

/// The steps of a check, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStep {
    Connect,
    Authenticate,
    /// Admin rights, the staging place and the facts, in one go.
    Probe,
    Requires,
    Detect,
}

/// Why a host would not take the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    TimedOut {
        limit: Duration,
    },
    CredentialsRefused {
        rejected: Vec<Rejection>,
    },
    /// A `requires` of the package does not hold: a deploy would skip the host.
    RequirementNotMet {
        unmet: crate::outcome::Unmet,
    },
    /// None of the package's variants fits the host: a deploy would skip it.
    NoVariant {
        /// Always [`crate::outcome::Skip::NoVariant`], as a deploy would record it.
        skip: crate::outcome::Skip,
    },
    /// What the check would create could not be put in the artefact journal, so
    /// it was not created (the history's words).
    HistoryUnavailable {
        message: String,
    },
    /// The transport's own words (already redacted), by class.
    Transport {
        class: ErrorClass,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    /// Reached, but a deploy would fail at `step`.
    Blocked {
        step: CheckStep,
        problem: Problem,
    },
    /// Not reached at all (no answer, connection refused or lost).
    Unreachable {
        step: CheckStep,
        problem: Problem,
    },
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub host: String,
    pub address: String,
    pub verdict: Verdict,
    /// The credential that got in.
    pub credential: Option<String>,
    /// Credentials refused before it (or all of them).
    pub rejected: Vec<Rejection>,
    pub facts: HostFacts,
    /// The package's detect said so; `None` when not run.
    pub installed: Option<bool>,
    /// The variant the host's facts chose (its number and file); `None` when the
    /// package has no choice to make or none was made.
    pub variant: Option<(usize, String)>,
}

impl CheckResult {
    pub fn is_ready(&self) -> bool {
        self.verdict == Verdict::Ready
    }
}

/// Per-step limits for a check.
#[derive(Debug, Clone)]
pub struct CheckLimits {
    pub connect: Duration,
    pub auth: Duration,
    /// The probe stages a tiny file and runs it: the upload limit.
    pub probe: Duration,
    pub host: Duration,
    /// Removing what a failed or cut-short step may have left.
    pub cleanup: Duration,
}

/// Check every host, `concurrency` at once; results in the jobs' order. `ledger`
/// journals what a check creates on a host (its attempts are never called for).
pub async fn check_all(
    jobs: Vec<CheckJob>,
    concurrency: usize,
    limits: &CheckLimits,
    redactor: &Redactor,
    ledger: std::sync::Arc<dyn Ledger>,
) -> Vec<CheckResult> {
    let books = Books::new(ledger);
    let books = &books;
    futures::stream::iter(jobs)
        .map(|job| async move {
            let mut result = CheckResult {
                host: job.label.clone(),
                address: format!("{}:{}", job.endpoint.address, job.endpoint.port),
                verdict: Verdict::Ready,
                credential: None,
                rejected: Vec::new(),
                facts: HostFacts::default(),
                installed: None,
                variant: None,
            };
            // Cut short by the host limit, what the host holds stays on record for
            // `pushinst cleanup`.
            let run = check_host(&job, limits, redactor, books, &mut result);
            if let Err(problem) = tokio::time::timeout(limits.host, run)
                .await
                .unwrap_or(Err((CheckStep::Probe, Problem::TimedOut { limit: limits.host })))
            {
                result.verdict = verdict(problem);
            }
            result
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

type Stop = (CheckStep, Problem);

fn verdict((step, problem): Stop) -> Verdict {
    let unreachable = match &problem {
        Problem::TimedOut { .. } => matches!(step, CheckStep::Connect | CheckStep::Authenticate),
        Problem::Transport { class, .. } => *class == ErrorClass::Connect,
        Problem::CredentialsRefused { .. }
        | Problem::HistoryUnavailable { .. }
        | Problem::RequirementNotMet { .. }
        | Problem::NoVariant { .. } => false,
    };
    if unreachable {
        Verdict::Unreachable { step, problem }
    } else {
        Verdict::Blocked { step, problem }
    }
}

async fn check_host(
    job: &CheckJob,
    limits: &CheckLimits,
    redactor: &Redactor,
    books: &Books,
    result: &mut CheckResult,
) -> Result<(), Stop> {
    let connect = tokio::time::timeout(limits.connect, job.connector.connect(&job.endpoint)).await;
    let mut conn = stop(CheckStep::Connect, limits.connect, connect, redactor)?;
    let checked = logged_in(conn.as_mut(), job, limits, redactor, books, result).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    checked
}

async fn logged_in(
    conn: &mut dyn Connection,
    job: &CheckJob,
    limits: &CheckLimits,
    redactor: &Redactor,
    books: &Books,
    result: &mut CheckResult,
) -> Result<(), Stop> {
    let auth = tokio::time::timeout(limits.auth, conn.authenticate(&job.credentials)).await;
    if let Ok(Err(TransportError::AuthRejected(rejected))) = &auth {
        result.rejected = rejected.clone();
    }
    let auth = stop(CheckStep::Authenticate, limits.auth, auth, redactor)?;
    result.rejected = auth.rejected;
    result.credential = Some(auth.accepted.clone());
    let journal = Journal {
        books,
        host: &job.label,
        credential: &auth.accepted,
    };
    // On record before the probe creates anything, as a deploy's staging is.
    let announced = conn.preflight();
    journal.will_create(CheckStep::Probe, &announced).await?;
    let checked = steps(conn, job, limits, redactor, &journal, result).await;
    // A step that succeeded removed what it made. One that failed kept on the
    // connection what it could not remove, and one cut short by its limit all it
    // had made: `cleanup` removes that, as after a deploy's step. Struck once gone.
    let gone = match &checked {
        Ok(()) | Err((_, Problem::RequirementNotMet { .. } | Problem::NoVariant { .. })) => true,
        Err(_) => matches!(
            tokio::time::timeout(limits.cleanup, conn.cleanup()).await,
            Ok(Ok(()))
        ),
    };
    if gone {
        journal.removed(&announced).await;
    }
    checked
}

/// This host's entries in the artefact journal.
struct Journal<'a> {
    books: &'a Books,
    host: &'a str,
    credential: &'a str,
}

impl Journal<'_> {
    /// Nothing is created that could not be put on record first.
    async fn will_create(&self, step: CheckStep, artefacts: &[Artefact]) -> Result<(), Stop> {
        if artefacts.is_empty() {
            return Ok(());
        }
        self.books
            .will_create(self.host, self.credential, artefacts)
            .await
            .map_err(|message| (step, Problem::HistoryUnavailable { message }))
    }

    async fn removed(&self, artefacts: &[Artefact]) {
        if !artefacts.is_empty() {
            self.books.removed(self.host, artefacts).await;
        }
    }
}

/// Probe, variant, requires and detect, as deploy takes them.
async fn steps(
    conn: &mut dyn Connection,
    job: &CheckJob,
    limits: &CheckLimits,
    redactor: &Redactor,
    journal: &Journal<'_>,
    result: &mut CheckResult,
) -> Result<(), Stop> {
    let probe = tokio::time::timeout(limits.probe, conn.probe(job.needs)).await;
    result.facts = stop(CheckStep::Probe, limits.probe, probe, redactor)?;
    let (detect, requires) = match job.variants.is_empty() {
        true => (&job.detect, &job.requires),
        false => {
            let chosen = choose(conn, job, limits, redactor).await?;
            result.variant = Some((chosen.number, chosen.file.clone()));
            (&chosen.detect, &chosen.requires)
        }
    };
    if !requires.is_empty() {
        // As deploy asks it (one script of its own), so check and deploy never disagree.
        let asked = tokio::time::timeout(limits.auth, conn.requires(requires)).await;
        if let Some(unmet) = stop(CheckStep::Requires, limits.auth, asked, redactor)? {
            return Err((CheckStep::Requires, Problem::RequirementNotMet { unmet }));
        }
    }
    if let Some(detect) = detect {
        // As deploy runs it: on Windows through a wrapper and service of its own,
        // named by `prepare`, on record before they exist, removed by `cleanup` on
        // every path and struck once gone.
        let prepared = conn.prepare(PROBE_ITEM);
        journal.will_create(CheckStep::Detect, &prepared).await?;
        let detected = tokio::time::timeout(limits.auth, conn.detect(detect)).await;
        let cleaned = tokio::time::timeout(limits.cleanup, conn.cleanup()).await;
        if matches!(cleaned, Ok(Ok(()))) {
            journal.removed(&prepared).await;
        }
        result.installed = Some(stop(CheckStep::Detect, limits.auth, detected, redactor)?);
        stop(CheckStep::Detect, limits.cleanup, cleaned, redactor)?;
    }
    Ok(())
}

/// The variant a deploy would choose, asked of the host as deploy asks it.
async fn choose<'j>(
    conn: &mut dyn Connection,
    job: &'j CheckJob,
    limits: &CheckLimits,
    redactor: &Redactor,
) -> Result<&'j CheckVariant, Stop> {
    use crate::inventory::requires::{facts_for, fits};
    let asked = facts_for(job.variants.iter().map(|v| &v.when[..]));
    let answers = tokio::time::timeout(limits.auth, conn.answers(&asked)).await;
    let answers = stop(CheckStep::Requires, limits.auth, answers, redactor)?;
    match job.variants.iter().find(|v| fits(&v.when, &answers)) {
        Some(chosen) => Ok(chosen),
        None => Err((
            CheckStep::Requires,
            Problem::NoVariant {
                skip: crate::outcome::Skip::NoVariant {
                    package: job.package.clone().unwrap_or_default(),
                    os: answers.os_release(),
                    arch: answers.arch,
                },
            },
        )),
    }
}

/// A step's result under its limit, or where and why the check stops.
fn stop<T>(
    step: CheckStep,
    limit: Duration,
    result: Result<Result<T, TransportError>, tokio::time::error::Elapsed>,
    redactor: &Redactor,
) -> Result<T, Stop> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err((step, problem(err, redactor))),
        Err(_) => Err((step, Problem::TimedOut { limit })),
    }
}

fn problem(err: TransportError, redactor: &Redactor) -> Problem {
    match err {
        TransportError::AuthRejected(rejected) => Problem::CredentialsRefused { rejected },
        other => Problem::Transport {
            class: other.class(),
            message: redactor.redact(&other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    //! The journal around a check's steps, against a scripted host on tokio's
    //! paused clock: on record before the probe, struck once gone, kept when not.

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::outcome::{Outcome, Skip};
    use crate::runner::{HostReport, RebootState, Step};
    use crate::transport::{ArtefactKind, AuthOutcome, BoxFuture, ExecOutput, Install, Payload, RemoteExit};

    type Log = Arc<Mutex<Vec<String>>>;

    fn note(log: &Log, line: &str) {
        log.lock().unwrap().push(line.to_string());
    }

    /// A host whose probe answers at once, or hangs (`stall`).
    #[derive(Clone)]
    struct Host {
        log: Log,
        stall: bool,
    }

    impl Connector for Host {
        fn connect<'a>(
            &'a self,
            _: &'a Endpoint,
        ) -> BoxFuture<'a, Result<Box<dyn Connection>, TransportError>> {
            let conn: Box<dyn Connection> = Box::new(self.clone());
            Box::pin(async move { Ok(conn) })
        }
    }

    impl Connection for Host {
        fn authenticate<'a>(
            &'a mut self,
            _: &'a [Credential],
        ) -> BoxFuture<'a, Result<AuthOutcome, TransportError>> {
            Box::pin(async {
                Ok(AuthOutcome {
                    accepted: "c".into(),
                    rejected: vec![],
                })
            })
        }
        fn detect<'a>(&'a mut self, _: &'a Detect) -> BoxFuture<'a, Result<bool, TransportError>> {
            Box::pin(async { Ok(false) })
        }
        fn prepare(&mut self, _: &str) -> Vec<Artefact> {
            Vec::new()
        }
        fn preflight(&mut self) -> Vec<Artefact> {
            vec![Artefact {
                kind: ArtefactKind::Directory,
                path: "probe-dir".into(),
            }]
        }
        fn stage<'a>(
            &'a mut self,
            _: &'a [Payload],
            _: &'a Install,
        ) -> BoxFuture<'a, Result<(), TransportError>> {
            Box::pin(async { Ok(()) })
        }
        fn execute<'a>(&'a mut self, _: &'a Install) -> BoxFuture<'a, Result<ExecOutput, TransportError>> {
            Box::pin(async {
                Ok(ExecOutput {
                    exit: RemoteExit::Code(0),
                    output: crate::transport::OutputTail::new(16),
                })
            })
        }
        fn cleanup(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
            note(&self.log, "cleanup");
            Box::pin(async { Ok(()) })
        }
        fn remove<'a>(&'a mut self, _: &'a [Artefact]) -> BoxFuture<'a, Result<(), TransportError>> {
            Box::pin(async { Ok(()) })
        }
        fn probe(&mut self, _: u64) -> BoxFuture<'_, Result<HostFacts, TransportError>> {
            note(&self.log, "probe");
            let stall = self.stall;
            Box::pin(async move {
                if stall {
                    std::future::pending::<()>().await;
                }
                Ok(HostFacts::default())
            })
        }
        fn reboot<'a>(&'a mut self, _: Duration, _: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
            Box::pin(async { Ok(()) })
        }
        fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    /// Writes down the journal calls; refuses them when `refuse`.
    struct Journaled {
        log: Log,
        refuse: bool,
    }

    impl Ledger for Journaled {
        fn begin(&self, _: &str, _: &str) -> Result<(), Skip> {
            Ok(())
        }
        fn phase(&self, _: &str, _: &str, _: Step) {}
        fn will_create(&self, host: &str, credential: &str, artefacts: &[Artefact]) -> Result<(), String> {
            if self.refuse {
                return Err("disk full".into());
            }
            note(
                &self.log,
                &format!("journal {host} {credential} {}", artefacts[0].path),
            );
            Ok(())
        }
        fn removed(&self, _: &str, artefacts: &[Artefact]) {
            note(&self.log, &format!("strike {}", artefacts[0].path));
        }
        fn finish(&self, _: &str, _: &str, _: &Outcome, _: &HostReport) {}
        fn reboot(&self, _: &str, _: &str, _: &RebootState) {}
    }

    async fn check(stall: bool, refuse: bool) -> (CheckResult, Vec<String>) {
        let log = Log::default();
        let host = Host {
            log: log.clone(),
            stall,
        };
        let job = CheckJob {
            label: "h".into(),
            endpoint: Endpoint {
                name: "h".into(),
                address: "h".into(),
                port: 22,
            },
            connector: Arc::new(host),
            credentials: Vec::new(),
            needs: 0,
            detect: None,
            requires: Vec::new(),
            variants: Vec::new(),
            package: None,
        };
        let limits = CheckLimits {
            connect: Duration::from_secs(5),
            auth: Duration::from_secs(5),
            probe: Duration::from_secs(5),
            host: Duration::from_secs(600),
            cleanup: Duration::from_secs(5),
        };
        let ledger = Arc::new(Journaled {
            log: log.clone(),
            refuse,
        });
        let mut results = check_all(vec![job], 1, &limits, &Redactor::default(), ledger).await;
        let log = log.lock().unwrap().clone();
        (results.remove(0), log)
    }

    #[tokio::test(start_paused = true)]
    async fn the_probes_place_is_on_record_before_it_is_made_and_struck_after() {
        let (result, log) = check(false, false).await;
        assert!(result.is_ready(), "{:?}", result.verdict);
        assert_eq!(log, ["journal h c probe-dir", "probe", "strike probe-dir"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_cut_short_is_cleaned_up_then_struck() {
        let (result, log) = check(true, false).await;
        assert!(
            matches!(
                result.verdict,
                Verdict::Blocked {
                    step: CheckStep::Probe,
                    problem: Problem::TimedOut { .. }
                }
            ),
            "{:?}",
            result.verdict
        );
        assert_eq!(
            log,
            ["journal h c probe-dir", "probe", "cleanup", "strike probe-dir"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_made_that_could_not_be_put_on_record() {
        let (result, log) = check(false, true).await;
        assert!(
            matches!(
                &result.verdict,
                Verdict::Blocked { step: CheckStep::Probe, problem: Problem::HistoryUnavailable { message } }
                    if message == "disk full"
            ),
            "{:?}",
            result.verdict
        );
        assert!(log.is_empty(), "{log:?}");
    }
}
