//! `pushinst check` in words: one row per host (`ready`, or the first blocking
//! problem and its fix, then the facts learned), or one JSON object per host.

use serde_json::{Value, json};

use crate::runner::check::{CheckResult, CheckStep, Problem, Verdict};

fn step_name(step: CheckStep) -> &'static str {
    match step {
        CheckStep::Connect => "connect",
        CheckStep::Authenticate => "authenticate",
        CheckStep::Probe => "probe",
        CheckStep::Requires => "requires",
        CheckStep::Detect => "detect",
    }
}

/// `ready`, `blocked` or `unreachable`.
pub fn status(result: &CheckResult) -> &'static str {
    match result.verdict {
        Verdict::Ready => "ready",
        Verdict::Blocked { .. } => "blocked",
        Verdict::Unreachable { .. } => "unreachable",
    }
}

/// The problem and what to do about it.
pub fn problem_and_fix(step: CheckStep, problem: &Problem) -> (String, String) {
    match problem {
        Problem::TimedOut { limit } => (
            format!(
                "no answer during {} within {}",
                step_name(step),
                humantime::format_duration(*limit)
            ),
            match step {
                CheckStep::Connect | CheckStep::Authenticate => {
                    "check that the host is up and its port open, or raise --connect-timeout".into()
                }
                _ => "check the host's load, or raise --host-timeout".into(),
            },
        ),
        Problem::RequirementNotMet { unmet } => (
            crate::report::words::unmet_reason(unmet),
            "a deploy skips this host: change the host, or the package's `requires`".into(),
        ),
        Problem::NoVariant { skip } => (
            crate::report::words::skip(skip),
            "a deploy skips this host: add a variant for it, or exclude it with `!HOST`".into(),
        ),
        Problem::CredentialsRefused { rejected } => {
            let tried = rejected
                .iter()
                .map(|r| format!("{}: {}", r.credential, r.reason))
                .collect::<Vec<_>>()
                .join("; ");
            let accepts = match rejected.last().map(|r| &r.server_accepts) {
                Some(methods) if !methods.is_empty() => {
                    format!(
                        " (the server accepts: {}{})",
                        methods.join(", "),
                        crate::report::words::methods_tried(rejected)
                    )
                }
                _ => String::new(),
            };
            (
                format!("every credential was refused ({tried})"),
                format!("fix the user, password or key of a credential for this host{accepts}"),
            )
        }
        Problem::HistoryUnavailable { message } => (
            format!("cannot record in the history what the check would create, so nothing was: {message}"),
            "make the history database (--state or settings.state) writable, then check again".into(),
        ),
        // The transports' messages end in their fix after the first "; " (the form
        // every deploy failure has); one without a fix keeps a general hint.
        Problem::Transport { message, .. } => match message.split_once("; ") {
            Some((problem, fix)) => (problem.to_string(), fix.to_string()),
            None => (
                message.clone(),
                "see the problem; deploy would fail the same way".into(),
            ),
        },
    }
}

fn facts(result: &CheckResult) -> Vec<String> {
    let f = &result.facts;
    let mut out = Vec::new();
    if let Some(c) = &result.credential {
        out.push(format!("credential {c}"));
    }
    let system: Vec<&str> = [f.os.as_deref(), f.arch.as_deref(), f.os_release.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !system.is_empty() {
        out.push(system.join(" "));
    }
    if let Some(kib) = f.free_kib {
        out.push(format!("{} MiB free for staging", kib / 1024));
    }
    if let Some((number, file)) = &result.variant {
        out.push(format!("variant {number} ({file})"));
    }
    match result.installed {
        Some(true) => out.push("installed".into()),
        Some(false) => out.push("not installed".into()),
        None => {}
    }
    out
}

/// One row for people: `HOST  ready  (facts)` or `HOST  blocked  PROBLEM` + fix.
pub fn row(result: &CheckResult) -> String {
    let known = facts(result);
    let known = if known.is_empty() {
        String::new()
    } else {
        format!(" ({})", known.join("; "))
    };
    match &result.verdict {
        Verdict::Ready => format!("{}  ready{known}\n", result.host),
        Verdict::Blocked { step, problem } | Verdict::Unreachable { step, problem } => {
            let (problem, fix) = problem_and_fix(*step, problem);
            let refused: Vec<String> = match problem.starts_with("every credential") {
                true => Vec::new(),
                false => result
                    .rejected
                    .iter()
                    .map(|r| format!("    refused first: {}: {}\n", r.credential, r.reason))
                    .collect(),
            };
            format!(
                "{}  {}  {problem}{known}\n{}    fix: {fix}\n",
                result.host,
                status(result),
                refused.concat()
            )
        }
    }
}

/// The last line: how many hosts are in each state.
pub fn summary(results: &[CheckResult]) -> String {
    let count = |s: &str| results.iter().filter(|r| status(r) == s).count();
    format!(
        "check: {} hosts: {} ready, {} blocked, {} unreachable; nothing was installed\n",
        results.len(),
        count("ready"),
        count("blocked"),
        count("unreachable")
    )
}

/// One host as scripts read it.
pub fn json(result: &CheckResult) -> Value {
    let (step, problem, fix) = match &result.verdict {
        Verdict::Ready => (None, None, None),
        Verdict::Blocked { step, problem } | Verdict::Unreachable { step, problem } => {
            let (p, f) = problem_and_fix(*step, problem);
            (Some(step_name(*step)), Some(p), Some(f))
        }
    };
    json!({
        "host": result.host,
        "address": result.address,
        "status": status(result),
        "step": step,
        "problem": problem,
        "fix": fix,
        "credential": result.credential,
        "rejected": result.rejected,
        "os": result.facts.os,
        "arch": result.facts.arch,
        "os_release": result.facts.os_release,
        "free_mib": result.facts.free_kib.map(|k| k / 1024),
        "installed": result.installed,
        "variant": result.variant.as_ref().map(|(n, _)| n),
        "variant_file": result.variant.as_ref().map(|(_, f)| f),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{ErrorClass, HostFacts, Rejection};

    fn result(verdict: Verdict) -> CheckResult {
        CheckResult {
            host: "web-01".into(),
            address: "10.0.0.1:22".into(),
            verdict,
            credential: Some("deploy".into()),
            rejected: vec![Rejection {
                credential: "old".into(),
                reason: "password refused".into(),
                server_accepts: Vec::new(),
                tried: Vec::new(),
            }],
            facts: HostFacts {
                os: Some("linux".into()),
                arch: Some("aarch64".into()),
                os_release: Some("debian 12".into()),
                free_kib: Some(2048 * 1024),
            },
            installed: Some(false),
            variant: None,
        }
    }

    #[test]
    fn a_ready_row_lists_the_facts_and_a_blocked_one_its_fix() {
        assert_eq!(
            row(&result(Verdict::Ready)),
            "web-01  ready (credential deploy; linux aarch64 debian 12; 2048 MiB free for staging; not installed)\n"
        );
        let blocked = result(Verdict::Blocked {
            step: CheckStep::Probe,
            problem: Problem::Transport {
                class: ErrorClass::TargetSetup,
                message: "sudo refused: deploy may not run commands as root on this host; allow it in sudoers (it runs /bin/sh)".into(),
            },
        });
        assert_eq!(
            row(&blocked),
            "web-01  blocked  sudo refused: deploy may not run commands as root on this host (credential deploy; linux aarch64 debian 12; 2048 MiB free for staging; not installed)\n    refused first: old: password refused\n    fix: allow it in sudoers (it runs /bin/sh)\n"
        );
        let json = json(&blocked);
        assert_eq!(json["status"], "blocked");
        assert_eq!(json["step"], "probe");
        assert_eq!(json["fix"], "allow it in sudoers (it runs /bin/sh)");
        assert_eq!(json["free_mib"], 2048);
        assert_eq!(json["installed"], false);
    }

    #[test]
    fn a_silent_host_is_unreachable_with_a_fix() {
        let dead = result(Verdict::Unreachable {
            step: CheckStep::Connect,
            problem: Problem::TimedOut {
                limit: std::time::Duration::from_secs(10),
            },
        });
        let json = json(&dead);
        assert_eq!(json["status"], "unreachable");
        assert_eq!(json["problem"], "no answer during connect within 10s");
        assert!(
            json["fix"]
                .as_str()
                .is_some_and(|f| f.contains("--connect-timeout"))
        );
        assert_eq!(
            summary(&[dead, result(Verdict::Ready)]),
            "check: 2 hosts: 1 ready, 0 blocked, 1 unreachable; nothing was installed\n"
        );
    }
}
