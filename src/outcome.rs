//! How one piece of work ended on one host, as data. The runner and the history
//! produce and store these; only `report/` turns them into words. Which outcomes
//! are a success, count toward the attempt limit, are worth a retry or say anything
//! decisive about a host is defined here, once.
//!
//! The serde form is the machine form: `kind` is stable (documented in the README,
//! versioned by [`FORMAT_VERSION`]), reasons carry their own `kind` and data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::transport::{ErrorClass, Rejection};

/// The version of the machine form of outcomes and events (`--output json`, the
/// history's `outcome` column). Raised when a field changes meaning or goes away;
/// new kinds and fields may appear without a raise.
pub const FORMAT_VERSION: u32 = 2;

/// A step of the flow on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Connect,
    Authenticate,
    /// A package's `requires`, checked before detect.
    Requires,
    Detect,
    Upload,
    Execute,
    Cleanup,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Authenticate => "authenticate",
            Step::Requires => "requires",
            Step::Detect => "detect",
            Step::Upload => "upload",
            Step::Execute => "execute",
            Step::Cleanup => "cleanup",
        }
    }

    pub fn parse(text: &str) -> Option<Step> {
        [
            Step::Connect,
            Step::Authenticate,
            Step::Requires,
            Step::Detect,
            Step::Upload,
            Step::Execute,
            Step::Cleanup,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How one package (or one cleanup) ended on one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The installer ran and exited with a success code.
    Installed { exit_code: i32 },
    /// The installer ran, exited with a reboot code: success, reboot pending.
    InstalledRebootRequired { exit_code: i32 },
    /// The package's detect check said it is there; nothing was installed.
    AlreadyInstalled,
    /// `pushinst remove`: the uninstaller ran and exited with a success code (and,
    /// where verified, detect no longer finds the package).
    Removed { exit_code: i32 },
    /// `pushinst cleanup`: these leftovers are gone from the host.
    Cleaned { removed: Vec<Removed> },
    /// The host was reached and something went wrong. `step` is `None` only when
    /// nobody knows (a run aborted mid-flight).
    Failed { step: Option<Step>, reason: Failure },
    /// The host could not be reached, or dropped the connection.
    Unreachable { step: Step, reason: Unreachable },
    /// Not attempted, for a reason decided before touching the host for it.
    Skipped { reason: Skip },
    /// Never started: the run ended first.
    NotStarted { reason: NotStarted },
}

/// One leftover `pushinst cleanup` removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// `directory`, `service` or `task`.
    pub what: String,
    pub path: String,
    /// The run that left it.
    pub run_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Failure {
    /// The installer exited with a code that is neither success nor reboot.
    ExitCode { code: i32 },
    /// The installer was killed by a signal.
    Signal { signal: String },
    /// The installer did not finish within its limit and was stopped.
    InstallerTimedOut {
        #[serde(rename = "limit_ms", with = "millis")]
        limit: Duration,
    },
    /// A step other than the installer ran out of time.
    StepTimedOut {
        #[serde(rename = "limit_ms", with = "millis")]
        limit: Duration,
        /// The whole-host deadline cut it short, not the step's own limit.
        host_deadline: bool,
    },
    /// Every credential was refused.
    CredentialsRefused { rejected: Vec<Rejection> },
    /// The transport said what went wrong (already in the admin's words).
    Transport { class: ErrorClass, message: String },
    /// The history could not record what the host would get, so nothing was done.
    HistoryUnavailable { message: String },
    /// `pushinst remove`: the uninstaller exited with a code that is not one of its
    /// success codes. Not an installer failure: it does not count toward the
    /// package's attempt limit.
    UninstallerExitCode { code: i32 },
    /// `pushinst remove`: the uninstaller exited with `exit_code`, a success code,
    /// but the package's detect still finds it.
    StillInstalled { exit_code: i32 },
    /// The run was aborted while this host was being worked on.
    Aborted,
    /// The pushinst process ended (killed, crashed) while working on this host.
    ProcessEnded { pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Unreachable {
    /// Connect or authentication did not answer in time.
    TimedOut {
        #[serde(rename = "limit_ms", with = "millis")]
        limit: Duration,
        host_deadline: bool,
    },
    /// Refused, no route, name unknown, connection lost: the transport's words.
    Network { message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Skip {
    /// The installer failed `failures` times; the limit is `limit`.
    AttemptLimit { failures: u32, limit: u32 },
    /// Another run holds this host and package right now.
    Busy { run_id: String, pid: u32 },
    /// An earlier package of the same job failed on this host.
    EarlierPackageFailed,
    /// An earlier package of the same job was skipped on this host.
    EarlierPackageNotInstalled,
    /// The history could not record the attempt, so it was not made.
    HistoryUnavailable { message: String },
    /// A package's `requires` does not hold on this host: nothing was uploaded.
    RequirementNotMet { unmet: Unmet },
    /// `pushinst remove`: detect says the package is not there; nothing was run.
    NotInstalled,
    /// None of the package's variants is for this host (its `arch` and `os` as the
    /// host said them; `None` when it did not say): nothing was uploaded.
    NoVariant {
        package: String,
        arch: Option<String>,
        os: Option<String>,
    },
}

/// Which requirement failed and what the host answered, so the reason names both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "requirement", rename_all = "kebab-case")]
pub enum Unmet {
    Arch {
        wanted: Vec<String>,
        host: String,
    },
    FreeSpace {
        path: String,
        wanted_mib: u64,
        free_mib: u64,
    },
    /// `wanted` as written (`debian or ubuntu >=12`), `host` as `ubuntu 22.04`.
    Os {
        wanted: String,
        host: String,
    },
    /// `exit` is `None` when the command gave no status: a syntax error stopped the
    /// script before it reported one, or a signal ended the command.
    Command {
        command: String,
        exit: Option<i32>,
    },
    /// Windows: the registry value is absent (`found` `None`) or holds something
    /// else than `wanted` (as written: `0`, `"yes"`).
    Registry {
        key: String,
        value: String,
        wanted: Option<String>,
        found: Option<String>,
    },
    /// The host did not say (no os-release, no df answer): not met rather than guessed.
    Unknown {
        what: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NotStarted {
    /// Ctrl-C or SIGTERM before its turn came.
    Interrupted,
    /// `--until` passed before its turn came.
    WindowClosed { at: String },
    /// The pushinst process ended before its turn came.
    ProcessEnded { pid: u32 },
    /// `--canary`: not every canary host succeeded, so the rest were held back.
    CanaryFailed { failed: usize, canaries: usize },
    /// `--max-failures`: that many hosts had failed before its turn came.
    FailureThreshold { failed: usize, limit: usize },
}

impl Outcome {
    /// The short word a person reads in tables and lines (`ok`, `failed`, …).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Installed { .. } => "ok",
            Outcome::InstalledRebootRequired { .. } => "reboot-required",
            Outcome::AlreadyInstalled => "already-installed",
            Outcome::Removed { .. } => "removed",
            Outcome::Cleaned { .. } => "cleaned",
            Outcome::Failed {
                reason: Failure::Aborted | Failure::ProcessEnded { .. },
                ..
            } => "interrupted",
            Outcome::Failed { .. } => "failed",
            Outcome::Unreachable { .. } => "unreachable",
            Outcome::Skipped { .. } => "skipped",
            Outcome::NotStarted { .. } => "not-started",
        }
    }

    /// The stable machine name (the serde tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Installed { .. } => "installed",
            Outcome::InstalledRebootRequired { .. } => "installed-reboot-required",
            Outcome::AlreadyInstalled => "already-installed",
            Outcome::Removed { .. } => "removed",
            Outcome::Cleaned { .. } => "cleaned",
            Outcome::Failed { .. } => "failed",
            Outcome::Unreachable { .. } => "unreachable",
            Outcome::Skipped { .. } => "skipped",
            Outcome::NotStarted { .. } => "not-started",
        }
    }

    /// The package is on the host (or gone, for a removal; or the leftovers are gone).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Installed { .. }
                | Outcome::InstalledRebootRequired { .. }
                | Outcome::AlreadyInstalled
                | Outcome::Removed { .. }
                | Outcome::Cleaned { .. }
        )
    }

    /// The host is as the run asked: a success, or, for a removal, a package that
    /// was not there to remove. What a canary, the exit code and the summary go by.
    pub fn is_as_asked(&self) -> bool {
        self.is_success()
            || matches!(
                self,
                Outcome::Skipped {
                    reason: Skip::NotInstalled
                }
            )
    }

    /// A removal that worked: what keeps `sync` from installing the host again.
    pub fn is_removal(&self) -> bool {
        matches!(self, Outcome::Removed { .. })
    }

    /// The installer itself ran on the host, whatever it returned.
    pub fn installer_ran(&self) -> bool {
        matches!(
            self,
            Outcome::Installed { .. }
                | Outcome::InstalledRebootRequired { .. }
                | Outcome::Removed { .. }
                | Outcome::Failed {
                    reason: Failure::StillInstalled { .. } | Failure::UninstallerExitCode { .. },
                    ..
                }
        ) || self.counts_as_attempt()
    }

    /// The installer itself ran and failed: what the attempt limit counts. A host
    /// that could not be reached or set up never counts.
    pub fn counts_as_attempt(&self) -> bool {
        matches!(
            self,
            Outcome::Failed {
                reason: Failure::ExitCode { .. } | Failure::Signal { .. } | Failure::InstallerTimedOut { .. },
                ..
            }
        )
    }

    /// Worth running again by `pushinst retry`: not a success, and not held back by
    /// the attempt limit (raising it or `pushinst reset` is the admin's decision).
    pub fn is_retryable(&self) -> bool {
        !self.is_success()
            && !matches!(
                self,
                Outcome::Skipped {
                    reason: Skip::AttemptLimit { .. } | Skip::NotInstalled
                }
            )
    }

    /// Says something about the host. A run that never got to the host (not
    /// started, busy in another run, skipped after an earlier package) must not
    /// hide an earlier run's result in `status`.
    pub fn is_decisive(&self) -> bool {
        !matches!(self, Outcome::Skipped { .. } | Outcome::NotStarted { .. })
    }

    /// The installer's exit code, when it ran and one came back.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Installed { exit_code }
            | Outcome::InstalledRebootRequired { exit_code }
            | Outcome::Removed { exit_code } => Some(*exit_code),
            Outcome::Failed {
                reason:
                    Failure::ExitCode { code }
                    | Failure::UninstallerExitCode { code }
                    | Failure::StillInstalled { exit_code: code },
                ..
            } => Some(*code),
            _ => None,
        }
    }

    /// The step the outcome happened in, where there is one.
    pub fn step(&self) -> Option<Step> {
        match self {
            Outcome::Failed { step, .. } => *step,
            Outcome::Unreachable { step, .. } => Some(*step),
            _ => None,
        }
    }

    pub fn reboot_required(&self) -> bool {
        matches!(self, Outcome::InstalledRebootRequired { .. })
    }
}

/// Durations travel as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// One of every kind and the main reasons, for tests of whatever renders them.
#[cfg(test)]
pub fn samples() -> Vec<Outcome> {
    tests::all()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn all() -> Vec<Outcome> {
        vec![
            Outcome::Installed { exit_code: 0 },
            Outcome::InstalledRebootRequired { exit_code: 3010 },
            Outcome::AlreadyInstalled,
            Outcome::Removed { exit_code: 0 },
            Outcome::Cleaned { removed: vec![] },
            Outcome::Failed {
                step: Some(Step::Execute),
                reason: Failure::ExitCode { code: 3 },
            },
            Outcome::Failed {
                step: Some(Step::Detect),
                reason: Failure::StillInstalled { exit_code: 0 },
            },
            Outcome::Failed {
                step: Some(Step::Execute),
                reason: Failure::UninstallerExitCode { code: 4 },
            },
            Outcome::Failed {
                step: Some(Step::Execute),
                reason: Failure::InstallerTimedOut {
                    limit: Duration::from_secs(60),
                },
            },
            Outcome::Failed {
                step: Some(Step::Upload),
                reason: Failure::Transport {
                    class: ErrorClass::TargetSetup,
                    message: "disk full".into(),
                },
            },
            Outcome::Failed {
                step: None,
                reason: Failure::Aborted,
            },
            Outcome::Unreachable {
                step: Step::Connect,
                reason: Unreachable::Network {
                    message: "refused".into(),
                },
            },
            Outcome::Skipped {
                reason: Skip::AttemptLimit {
                    failures: 3,
                    limit: 3,
                },
            },
            Outcome::Skipped {
                reason: Skip::Busy {
                    run_id: "r".into(),
                    pid: 1,
                },
            },
            Outcome::Skipped {
                reason: Skip::NotInstalled,
            },
            Outcome::NotStarted {
                reason: NotStarted::Interrupted,
            },
        ]
    }

    #[test]
    fn the_machine_form_round_trips_and_names_its_kind() {
        for outcome in all() {
            let json = serde_json::to_value(&outcome).expect("serialize");
            assert_eq!(json["kind"], outcome.kind(), "{json}");
            let back: Outcome = serde_json::from_value(json).expect("deserialize");
            assert_eq!(back, outcome);
        }
        let json = serde_json::to_value(Outcome::Failed {
            step: Some(Step::Execute),
            reason: Failure::InstallerTimedOut {
                limit: Duration::from_secs(2),
            },
        })
        .expect("serialize");
        assert_eq!(json["reason"]["kind"], "installer-timed-out");
        assert_eq!(json["reason"]["limit_ms"], 2000);
    }

    #[test]
    fn success_attempts_retries_and_decisiveness_are_defined_once() {
        let table: Vec<(&str, bool, bool, bool, bool, bool)> = all()
            .iter()
            .map(|o| {
                (
                    o.status(),
                    o.is_success(),
                    o.installer_ran(),
                    o.counts_as_attempt(),
                    o.is_retryable(),
                    o.is_decisive(),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("ok", true, true, false, false, true),
                ("reboot-required", true, true, false, false, true),
                ("already-installed", true, false, false, false, true),
                ("removed", true, true, false, false, true),
                ("cleaned", true, false, false, false, true),
                ("failed", false, true, true, true, true),
                ("failed", false, true, false, true, true),
                ("failed", false, true, false, true, true),
                ("failed", false, true, true, true, true),
                ("failed", false, false, false, true, true),
                ("interrupted", false, false, false, true, true),
                ("unreachable", false, false, false, true, true),
                ("skipped", false, false, false, false, false),
                ("skipped", false, false, false, true, false),
                ("skipped", false, false, false, false, false),
                ("not-started", false, false, false, true, false),
            ]
        );
    }
}
