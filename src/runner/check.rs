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
