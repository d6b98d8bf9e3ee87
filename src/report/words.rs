//! Outcomes in the admin's words: the one place where an [`Outcome`] becomes a
//! sentence. Every output (terminal, plain lines, JSON's `reason`, the per-host log,
//! the summary, `status`) reads its text from here.

use std::time::Duration;

use crate::inventory::Requirement;
use crate::outcome::{Failure, NotStarted, Outcome, Skip, Unmet, Unreachable};
use crate::plan::Goal;
use crate::runner::RebootState;

/// A limit as a sysadmin reads it: whole seconds (rounded up, as the wrapper enforces
/// a limit the host deadline has cut), milliseconds only below a second.
fn span(d: Duration) -> String {
    let d = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}

/// What a run does, for its header: `agent → tools` for an install, `removing
/// agent` for `pushinst remove`, so a remove never reads like a deploy.
pub fn run_subject(goal: Goal, packages: &[String]) -> String {
    let names = packages.join(" → ");
    match goal {
        Goal::Install => names,
        Goal::Remove => format!("removing {names}"),
    }
}

/// The run's first line: what it does, to how many hosts, how many at a time.
pub fn run_header(goal: Goal, packages: &[String], hosts: usize, concurrency: usize) -> String {
    let towards = match goal {
        Goal::Install => "on",
        Goal::Remove => "from",
    };
    format!(
        "{} {towards} {hosts} host(s), {concurrency} at a time",
        run_subject(goal, packages)
    )
}

/// A wave of the rollout starting.
pub fn wave(wave: usize, waves: usize, hosts: usize, canary: bool, after: usize) -> String {
    if canary {
        format!("canary: {hosts} host(s) first; the other {after} start only if every one of them succeeds")
    } else {
        format!("wave {wave}/{waves}: {hosts} host(s)")
    }
}

/// What became of a reboot request.
pub fn reboot(state: &RebootState) -> String {
    match state {
        RebootState::Pending => "reboot pending (the package's policy does not reboot)".into(),
        RebootState::Requested { delay } if delay.is_zero() => "reboot requested now".into(),
        RebootState::Requested { delay } => format!("reboot requested in {}", span(*delay)),
        RebootState::Failed(why) => format!("reboot request failed: {why}"),
    }
}

/// The reason of an attempt read back from the history: from its outcome, or the
/// words an older pushinst stored.
pub fn attempt_reason(row: &crate::history::AttemptRow) -> Option<String> {
    row.outcome
        .as_ref()
        .map(reason)
        .or_else(|| row.legacy_reason.clone())
}

/// The reason shown beside the status word.
pub fn reason(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Installed { .. } => "installed".into(),
        Outcome::InstalledRebootRequired { .. } => "installed; the host needs a reboot".into(),
        Outcome::AlreadyInstalled => "already installed (detect succeeded)".into(),
        Outcome::Removed { .. } => "uninstalled".into(),
        Outcome::Cleaned { removed } if removed.is_empty() => "nothing left to remove".into(),
        Outcome::Cleaned { removed } => {
            let what: Vec<String> = removed.iter().map(|r| format!("{} {}", r.what, r.path)).collect();
            format!("removed {}", what.join(", "))
        }
        Outcome::Failed { step, reason } => failure(*step, reason),
        Outcome::Unreachable { step, reason } => match reason {
            Unreachable::TimedOut { limit, host_deadline } => timed_out(step.name(), *limit, *host_deadline),
            Unreachable::Network { message } => message.clone(),
        },
        Outcome::Skipped { reason } => skip(reason),
        Outcome::NotStarted { reason } => not_started(reason),
    }
}

fn timed_out(step: &str, limit: Duration, host_deadline: bool) -> String {
    if host_deadline {
        format!("timeout during {step} (host deadline ({}) reached)", span(limit))
    } else {
        format!("timeout during {step} ({})", span(limit))
    }
}

fn failure(step: Option<crate::outcome::Step>, reason: &Failure) -> String {
    let step_name = step.map_or("the run", |s| s.name());
    match reason {
        Failure::ExitCode { code } => format!("installer exited with code {code}"),
        Failure::UninstallerExitCode { code } => format!("uninstaller exited with code {code}"),
        Failure::StillInstalled { exit_code } => format!(
            "uninstaller exited with code {exit_code} but detect still finds the package; \
             see the uninstaller's log on the host"
        ),
        Failure::Signal { signal } => format!("installer killed by signal {signal}"),
        Failure::InstallerTimedOut { limit } => format!(
            "timeout during execute (the installer did not finish within {}; it and the processes it started were killed)",
            span(*limit)
        ),
        Failure::StepTimedOut { limit, host_deadline } => timed_out(step_name, *limit, *host_deadline),
        Failure::CredentialsRefused { rejected } => {
            let tried = rejected
                .iter()
                .map(|r| format!("{}: {}", r.credential, r.reason))
                .collect::<Vec<_>>()
                .join("; ");
            // The server's last word on what it would take is what the admin needs,
            // beside what pushinst offered it.
            match rejected.last().map(|r| &r.server_accepts) {
                Some(methods) if !methods.is_empty() => format!(
                    "every credential was refused ({tried}); the server accepts: {}{}",
                    methods.join(", "),
                    methods_tried(rejected)
                ),
                _ => format!("every credential was refused ({tried})"),
            }
        }
        Failure::Transport { message, .. } => message.clone(),
        Failure::HistoryUnavailable { message } => {
            format!("cannot record in the history what would be created, so nothing was: {message}")
        }
        Failure::Aborted => "interrupted while running; files may remain on the host".into(),
        Failure::ProcessEnded { pid } => format!(
            "the pushinst process (pid {pid}) ended while this host was being worked on; \
             `pushinst cleanup` removes what it left"
        ),
    }
}

/// "; tried: password, keyboard-interactive": every method offered, once each, in
/// order; empty when the transport did not say.
pub fn methods_tried(rejected: &[crate::transport::Rejection]) -> String {
    let mut all: Vec<&str> = Vec::new();
    for method in rejected.iter().flat_map(|r| &r.tried) {
        if !all.contains(&method.as_str()) {
            all.push(method);
        }
    }
    if all.is_empty() {
        String::new()
    } else {
        format!("; tried: {}", all.join(", "))
    }
}

/// "requires x86_64, host is aarch64": the requirement and the host's answer.
pub fn unmet_reason(unmet: &Unmet) -> String {
    match unmet {
        Unmet::Arch { wanted, host } => format!("requires {}, host is {host}", wanted.join(" or ")),
        Unmet::FreeSpace {
            path,
            wanted_mib,
            free_mib,
        } => format!("requires {wanted_mib} MiB free on {path}, {free_mib} MiB free"),
        Unmet::Os { wanted, host } => format!("requires {wanted}, host is {host}"),
        Unmet::Command {
            command,
            exit: Some(code),
        } => format!("requirement `{command}` not met (exit {code})"),
        Unmet::Command { command, exit: None } => {
            format!("requirement `{command}` not met (no exit status: a syntax error, or ended by a signal)")
        }
        Unmet::Registry {
            key,
            value,
            wanted,
            found,
        } => {
            let wanted = match wanted {
                Some(w) => format!("registry {key}\\{value} = {w}"),
                None => format!("registry {key}\\{value}"),
            };
            match found {
                Some(data) => format!("requires {wanted}, host has {data}"),
                None => format!("requires {wanted}, host has no such value"),
            }
        }
        Unmet::Unknown { what } => format!("requires {what}, host did not tell"),
    }
}

/// One requirement as `--dry-run` lists it and as an unmet reason names it.
pub fn requirement(req: &Requirement) -> String {
    match req {
        Requirement::FreeMib { mib, path } => format!("{mib} MiB free on {path}"),
        Requirement::Arch(list) => format!("arch {}", list.join(" or ")),
        Requirement::Os { ids, version } => os_wanted(ids, version.as_ref()),
        Requirement::Command(command) => format!("`{command}` exits 0"),
        Requirement::Build(req) => format!("Windows build {req}"),
        Requirement::Registry {
            key, value, equals, ..
        } => match equals {
            Some(wanted) => format!("registry {key}\\{value} = {wanted}"),
            None => format!("registry {key}\\{value}"),
        },
    }
}

/// `debian or ubuntu >=12`, `any OS >=12`, `debian`.
pub fn os_wanted(ids: &[String], version: Option<&crate::inventory::VersionReq>) -> String {
    let ids = if ids.is_empty() {
        "an OS".to_string()
    } else {
        ids.join(" or ")
    };
    match version {
        Some(v) => format!("{ids} {v}"),
        None => ids,
    }
}

pub fn skip(reason: &Skip) -> String {
    match reason {
        Skip::AttemptLimit { failures, limit } => format!("attempt-limit ({failures}/{limit})"),
        Skip::Busy { run_id, pid } => format!("busy: another run holds it (run {run_id}, pid {pid})"),
        Skip::EarlierPackageFailed => "earlier package failed".into(),
        Skip::EarlierPackageNotInstalled => "earlier package not installed".into(),
        Skip::HistoryUnavailable { message } => {
            format!("cannot record the attempt in the history: {message}")
        }
        Skip::RequirementNotMet { unmet } => unmet_reason(unmet),
        Skip::NotInstalled => "not installed (detect found nothing to remove)".into(),
        Skip::NoVariant { package, arch, os } => {
            let said: Vec<&str> = [arch.as_deref(), os.as_deref()].into_iter().flatten().collect();
            let host = if said.is_empty() {
                "this host (it did not say its arch or os)".to_string()
            } else {
                said.join(" / ")
            };
            format!("no variant of {package} for {host}; nothing was uploaded")
        }
    }
}

/// `agent: variant 2 (agent-arm64.sh) fits this host`.
pub fn variant_chosen(package: &str, variant: usize, file: &str) -> String {
    format!("{package}: variant {variant} ({file}) fits this host")
}

fn not_started(reason: &NotStarted) -> String {
    match reason {
        NotStarted::Interrupted => "not started: the run was interrupted".into(),
        NotStarted::WindowClosed { at } => format!("not started: the window closed at {at}"),
        NotStarted::ProcessEnded { pid } => {
            format!("not started: the pushinst process (pid {pid}) ended first")
        }
        NotStarted::CanaryFailed { failed, canaries } => format!(
            "not started: {failed} of {canaries} canary host(s) did not succeed; fix them, then run again"
        ),
        NotStarted::FailureThreshold { failed, limit } => {
            format!("not started: failure threshold reached ({failed} hosts failed, --max-failures {limit})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Removed, Step};
    use crate::transport::{ErrorClass, Rejection};

    #[test]
    fn a_limit_cut_by_the_deadline_reads_in_whole_seconds() {
        assert_eq!(span(Duration::from_nanos(5_697_287_878)), "6s");
        assert_eq!(span(Duration::from_secs(1800)), "30m");
        assert_eq!(span(Duration::from_micros(250_400)), "250ms");
    }

    #[test]
    fn every_outcome_reads_as_a_reason() {
        let secs = Duration::from_secs;
        let cases: Vec<(Outcome, &str, &str)> = vec![
            (Outcome::Installed { exit_code: 0 }, "ok", "installed"),
            (
                Outcome::InstalledRebootRequired { exit_code: 3010 },
                "reboot-required",
                "installed; the host needs a reboot",
            ),
            (
                Outcome::AlreadyInstalled,
                "already-installed",
                "already installed (detect succeeded)",
            ),
            (
                Outcome::Cleaned {
                    removed: vec![Removed {
                        what: "directory".into(),
                        path: ".pushinst-1".into(),
                        run_id: "1".into(),
                    }],
                },
                "cleaned",
                "removed directory .pushinst-1",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Execute),
                    reason: Failure::ExitCode { code: 3 },
                },
                "failed",
                "installer exited with code 3",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Execute),
                    reason: Failure::Signal {
                        signal: "KILL".into(),
                    },
                },
                "failed",
                "installer killed by signal KILL",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Execute),
                    reason: Failure::InstallerTimedOut { limit: secs(1800) },
                },
                "failed",
                "timeout during execute (the installer did not finish within 30m; it and the processes it started were killed)",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Upload),
                    reason: Failure::StepTimedOut {
                        limit: secs(60),
                        host_deadline: false,
                    },
                },
                "failed",
                "timeout during upload (1m)",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Detect),
                    reason: Failure::StepTimedOut {
                        limit: secs(3600),
                        host_deadline: true,
                    },
                },
                "failed",
                "timeout during detect (host deadline (1h) reached)",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Authenticate),
                    reason: Failure::CredentialsRefused {
                        rejected: vec![
                            Rejection {
                                credential: "a".into(),
                                reason: "password refused".into(),
                                server_accepts: vec![],
                                tried: Vec::new(),
                            },
                            Rejection {
                                credential: "b".into(),
                                reason: "key refused".into(),
                                server_accepts: vec!["publickey".into(), "keyboard-interactive".into()],
                                tried: vec!["password".into()],
                            },
                        ],
                    },
                },
                "failed",
                "every credential was refused (a: password refused; b: key refused); the server accepts: publickey, keyboard-interactive; tried: password",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Upload),
                    reason: Failure::Transport {
                        class: ErrorClass::TargetSetup,
                        message: "the host's disk is full".into(),
                    },
                },
                "failed",
                "the host's disk is full",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Upload),
                    reason: Failure::HistoryUnavailable {
                        message: "locked".into(),
                    },
                },
                "failed",
                "cannot record in the history what would be created, so nothing was: locked",
            ),
            (
                Outcome::Failed {
                    step: None,
                    reason: Failure::Aborted,
                },
                "interrupted",
                "interrupted while running; files may remain on the host",
            ),
            (
                Outcome::Failed {
                    step: Some(Step::Execute),
                    reason: Failure::ProcessEnded { pid: 42 },
                },
                "interrupted",
                "the pushinst process (pid 42) ended while this host was being worked on; `pushinst cleanup` removes what it left",
            ),
            (
                Outcome::Unreachable {
                    step: Step::Connect,
                    reason: Unreachable::TimedOut {
                        limit: secs(1),
                        host_deadline: false,
                    },
                },
                "unreachable",
                "timeout during connect (1s)",
            ),
            (
                Outcome::Unreachable {
                    step: Step::Connect,
                    reason: Unreachable::Network {
                        message: "connection refused on port 22 (is sshd running?)".into(),
                    },
                },
                "unreachable",
                "connection refused on port 22 (is sshd running?)",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::AttemptLimit {
                        failures: 3,
                        limit: 3,
                    },
                },
                "skipped",
                "attempt-limit (3/3)",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::Busy {
                        run_id: "r1".into(),
                        pid: 7,
                    },
                },
                "skipped",
                "busy: another run holds it (run r1, pid 7)",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::EarlierPackageFailed,
                },
                "skipped",
                "earlier package failed",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::EarlierPackageNotInstalled,
                },
                "skipped",
                "earlier package not installed",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::HistoryUnavailable {
                        message: "locked".into(),
                    },
                },
                "skipped",
                "cannot record the attempt in the history: locked",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::RequirementNotMet {
                        unmet: Unmet::Arch {
                            wanted: vec!["x86_64".into()],
                            host: "aarch64".into(),
                        },
                    },
                },
                "skipped",
                "requires x86_64, host is aarch64",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::RequirementNotMet {
                        unmet: Unmet::FreeSpace {
                            path: "/".into(),
                            wanted_mib: 500,
                            free_mib: 120,
                        },
                    },
                },
                "skipped",
                "requires 500 MiB free on /, 120 MiB free",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::RequirementNotMet {
                        unmet: Unmet::Os {
                            wanted: "debian >=12".into(),
                            host: "ubuntu 22.04".into(),
                        },
                    },
                },
                "skipped",
                "requires debian >=12, host is ubuntu 22.04",
            ),
            (
                Outcome::Skipped {
                    reason: Skip::RequirementNotMet {
                        unmet: Unmet::Command {
                            command: "test ! -e /run/acme.lock".into(),
                            exit: Some(1),
                        },
                    },
                },
                "skipped",
                "requirement `test ! -e /run/acme.lock` not met (exit 1)",
            ),
            (
                Outcome::NotStarted {
                    reason: NotStarted::Interrupted,
                },
                "not-started",
                "not started: the run was interrupted",
            ),
            (
                Outcome::NotStarted {
                    reason: NotStarted::WindowClosed { at: "05:00".into() },
                },
                "not-started",
                "not started: the window closed at 05:00",
            ),
            (
                Outcome::NotStarted {
                    reason: NotStarted::ProcessEnded { pid: 9 },
                },
                "not-started",
                "not started: the pushinst process (pid 9) ended first",
            ),
            (
                Outcome::NotStarted {
                    reason: NotStarted::CanaryFailed {
                        failed: 1,
                        canaries: 2,
                    },
                },
                "not-started",
                "not started: 1 of 2 canary host(s) did not succeed; fix them, then run again",
            ),
            (
                Outcome::NotStarted {
                    reason: NotStarted::FailureThreshold { failed: 2, limit: 2 },
                },
                "not-started",
                "not started: failure threshold reached (2 hosts failed, --max-failures 2)",
            ),
        ];
        for (outcome, status, text) in cases {
            assert_eq!((outcome.status(), reason(&outcome).as_str()), (status, text));
        }
    }
}
