//! Every outcome through every writer, on synthetic events: the plain line, the JSON
//! object, the summary table and the per-host log all carry the same words, and the
//! JSON carries the machine form beside them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{JsonLines, Lines, Sink, Summary, words};
use crate::outcome::{Outcome, samples};
use crate::runner::{Event, EventKind, HostReport, RunStats};

fn event(kind: EventKind) -> Event {
    Event {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        elapsed: Duration::from_millis(1500),
        kind,
    }
}

fn finished(outcome: &Outcome) -> Event {
    event(EventKind::HostFinished {
        host: "web-01".into(),
        package: "agent".into(),
        outcome: outcome.clone(),
        report: Arc::new(HostReport {
            host: "web-01".into(),
            package: "agent".into(),
            credential: Some("deploy".into()),
            duration: Duration::from_millis(1200),
            ..HostReport::default()
        }),
        stats: RunStats::default(),
    })
}

#[test]
fn a_plain_line_per_outcome() {
    for outcome in samples() {
        let mut out = Vec::new();
        Lines::new(&mut out, false).event(&finished(&outcome)).unwrap();
        let line = String::from_utf8(out).unwrap();
        let expected = match &outcome {
            Outcome::Cleaned { removed } if !removed.is_empty() => String::new(),
            _ => format!(
                "2027-01-15T08:00:00Z web-01: {} — {}{} (1.2s)\n",
                outcome.status(),
                words::reason(&outcome),
                outcome
                    .exit_code()
                    .map(|c| format!(", exit {c}"))
                    .unwrap_or_default()
            ),
        };
        assert_eq!(line, expected, "{outcome:?}");
    }
}

#[test]
fn a_cleaned_host_lists_each_removal_on_its_own_line() {
    let outcome = Outcome::Cleaned {
        removed: vec![
            crate::outcome::Removed {
                what: "directory".into(),
                path: r"Temp\pushinst-1".into(),
                run_id: "r1".into(),
            },
            crate::outcome::Removed {
                what: "service".into(),
                path: "pushinst-ab".into(),
                run_id: "r1".into(),
            },
        ],
    };
    let mut out = Vec::new();
    Lines::new(&mut out, false).event(&finished(&outcome)).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2027-01-15T08:00:00Z web-01: removed directory Temp\\pushinst-1 (left by run r1)\n\
         2027-01-15T08:00:00Z web-01: removed service pushinst-ab (left by run r1)\n"
    );
}

#[test]
fn a_json_object_per_outcome_with_words_and_data() {
    for outcome in samples() {
        let mut out = Vec::new();
        JsonLines::new(&mut out).event(&finished(&outcome)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["type"], "host_finished");
        assert_eq!(value["elapsed_ms"], 1500);
        let data = &value["data"];
        assert_eq!(data["credential"], "deploy");
        assert_eq!(data["duration_ms"], 1200);
        let o = &data["outcome"];
        assert_eq!(o["kind"], outcome.kind());
        assert_eq!(o["status"], outcome.status());
        assert_eq!(o["reason"], words::reason(&outcome));
        assert_eq!(o["success"], outcome.is_success());
        assert_eq!(o["installer_ran"], outcome.installer_ran());
        assert_eq!(o["counts_as_attempt"], outcome.counts_as_attempt());
        assert_eq!(o["exit_code"], serde_json::json!(outcome.exit_code()));
        assert_eq!(o["step"], serde_json::json!(outcome.step()));
        let back: Outcome = serde_json::from_value(o["detail"].clone()).unwrap();
        assert_eq!(back, outcome, "the detail is the outcome itself");
    }
}

#[test]
fn the_summary_lists_every_host_that_did_not_succeed_with_its_reason() {
    let mut summary = Summary::new(None);
    let mut stats = RunStats::default();
    summary
        .event(&event(EventKind::RunStarted {
            run_id: "r".into(),
            packages: vec!["agent".into()],
            hosts: samples().len(),
            concurrency: 4,
            goal: Default::default(),
        }))
        .unwrap();
    for outcome in samples() {
        stats.total += 1;
        stats.count(&outcome);
        summary.event(&finished(&outcome)).unwrap();
    }
    summary.event(&event(EventKind::RunFinished { stats })).unwrap();
    let text = summary.text().expect("a summary at the end").to_string();
    let (_, table) = text.split_once("REASON\n").expect("a table of problems");
    for outcome in samples() {
        let row = format!("  {}", words::reason(&outcome));
        let listed = table.lines().any(|l| l.ends_with(&row));
        assert_eq!(listed, !outcome.is_as_asked(), "{outcome:?} in:\n{text}");
    }
    assert!(
        text.contains("16 host(s) in 1.5s: 3 ok (1 need a reboot), 1 already installed, 6 failed, 1 unreachable, 1 removed, 1 not installed, 2 skipped, 1 not started"),
        "{text}"
    );
}

#[test]
fn a_host_whose_cleanup_failed_is_named_by_every_writer_even_when_it_succeeded() {
    use crate::outcome::{Failure, Step};
    use crate::transport::ErrorClass;
    let left = Outcome::Failed {
        step: Some(Step::Cleanup),
        reason: Failure::Transport {
            class: ErrorClass::TargetSetup,
            message: "cleanup of ~/.pushinst-x failed".into(),
        },
    };
    let mut done = finished(&Outcome::Installed { exit_code: 0 });
    if let EventKind::HostFinished { report, .. } = &mut done.kind {
        Arc::make_mut(report).cleanup_failed = Some(left.clone());
    }
    let words = words::reason(&left);

    let mut out = Vec::new();
    Lines::new(&mut out, false).event(&done).unwrap();
    let lines = String::from_utf8(out).unwrap();
    assert!(
        lines.contains(&format!("web-01: left on the host — {words}")),
        "{lines}"
    );

    let mut out = Vec::new();
    JsonLines::new(&mut out).event(&done).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["data"]["cleanup_failed"], words.as_str());
    assert_eq!(value["data"]["outcome"]["status"], "ok");

    let mut summary = Summary::new(None);
    summary.event(&done).unwrap();
    let stats = RunStats {
        total: 1,
        ..RunStats::default()
    };
    summary.event(&event(EventKind::RunFinished { stats })).unwrap();
    let text = summary.text().unwrap();
    assert!(text.contains(&format!("left on the host (on record: `pushinst cleanup` removes it once the host lets it):\nweb-01: {words}")), "{text}");

    // And nothing of the kind where cleanup went well.
    let mut out = Vec::new();
    JsonLines::new(&mut out)
        .event(&finished(&Outcome::Installed { exit_code: 0 }))
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(value["data"]["cleanup_failed"].is_null());
}

#[test]
fn the_host_log_names_the_result_in_the_same_words() {
    for outcome in samples() {
        let report = HostReport {
            host: "web-01".into(),
            ..HostReport::default()
        };
        let log = super::host_log::render(&report, &outcome);
        assert!(
            log.contains(&format!(
                "result:     {} — {}",
                outcome.status(),
                words::reason(&outcome)
            )),
            "{log}"
        );
    }
}

#[test]
fn the_first_json_line_names_the_format_version() {
    let mut out = Vec::new();
    JsonLines::new(&mut out)
        .event(&event(EventKind::RunStarted {
            run_id: "r".into(),
            packages: vec!["agent".into()],
            hosts: 1,
            concurrency: 1,
            goal: Default::default(),
        }))
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["type"], "run_started");
    assert_eq!(value["data"]["format_version"], crate::outcome::FORMAT_VERSION);
    assert_eq!(value["data"]["packages"], serde_json::json!(["agent"]));
}

#[test]
fn a_remove_runs_header_says_it_removes_and_an_installs_does_not() {
    use crate::plan::Goal;
    let packages = vec!["agent".to_string(), "tools".to_string()];
    let header = |goal| {
        let mut out = Vec::new();
        Lines::new(&mut out, false)
            .event(&event(EventKind::RunStarted {
                run_id: "r".into(),
                packages: packages.clone(),
                hosts: 3,
                concurrency: 2,
                goal,
            }))
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    let install = header(Goal::Install);
    assert!(
        install.ends_with(" run r: agent → tools on 3 host(s), 2 at a time\n"),
        "{install}"
    );
    let remove = header(Goal::Remove);
    assert!(
        remove.ends_with(" run r: removing agent → tools from 3 host(s), 2 at a time\n"),
        "{remove}"
    );
    assert_eq!(
        words::run_subject(Goal::Remove, &packages),
        "removing agent → tools"
    );
}
