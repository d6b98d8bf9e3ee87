//! The database on its own: migrations, recovery after a dead process, leases,
//! attempt counters and the journal.

use std::sync::Arc;

use super::*;
use crate::outcome::Failure;
use crate::runner::{HostReport, Ledger, Outcome, Step};
use crate::transport::{Artefact, ArtefactKind};

fn open(dir: &tempfile::TempDir) -> History {
    History::open(&dir.path().join("state/history.db")).expect("open history")
}

fn start(history: &History, id: &str, hosts: &[&str]) {
    let slots: Vec<(String, String, Option<String>)> = hosts
        .iter()
        .map(|h| (h.to_string(), "p".to_string(), Some("1.0".to_string())))
        .collect();
    history
        .begin_run(&NewRun {
            id,
            command: "deploy",
            job: None,
            packages: &["p".to_string()],
            log_dir: None,
            slots: &slots,
        })
        .expect("begin run");
}

/// A pid that existed and is gone now.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

fn failed(installer_ran: bool) -> Outcome {
    if installer_ran {
        Outcome::Failed {
            step: Some(Step::Execute),
            reason: Failure::ExitCode { code: 3 },
        }
    } else {
        Outcome::Failed {
            step: Some(Step::Upload),
            reason: Failure::Transport {
                class: crate::transport::ErrorClass::TargetSetup,
                message: "the host's disk is full".into(),
            },
        }
    }
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    drop(open(&dir));
    let path = dir.path().join("state/history.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = History::open(&path).err().expect("refused");
    assert!(err.to_string().contains("newer pushinst"), "{err}");
}

#[test]
fn a_dead_process_leaves_interrupted_and_not_started_attempts_and_no_leases() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a", "b", "c"]);
    let ledger = RunLedger::new(history.clone(), "r1", None);
    ledger.begin("a", "p").unwrap();
    ledger.finish("a", "p", &Outcome::AlreadyInstalled, &HostReport::default());
    ledger.begin("b", "p").unwrap();
    ledger.phase("b", "p", Step::Execute);
    // Make the run look like another process that was killed.
    let pid = dead_pid();
    history.conn().execute("UPDATE runs SET pid = ?1", [pid]).unwrap();
    history
        .conn()
        .execute("UPDATE leases SET pid = ?1", [pid])
        .unwrap();
    drop(ledger);
    drop(history);

    let history = open(&dir);
    let rows = history.run_attempts("r1").unwrap();
    let results: Vec<(&str, &str)> = rows.iter().map(|r| (r.host.as_str(), r.status())).collect();
    assert_eq!(
        results,
        [
            ("a", "already-installed"),
            ("b", "interrupted"),
            ("c", "not-started")
        ]
    );
    assert_eq!(rows[1].phase, "execute");
    assert!(history.run(Some("r1")).unwrap().unwrap().finished_at.is_some());
    let leases: i64 = history
        .conn()
        .query_row("SELECT count(*) FROM leases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(leases, 0);
}

#[test]
fn a_live_run_holds_its_lease_and_a_dead_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a"]);
    start(&history, "r2", &["a"]);
    let first = RunLedger::new(history.clone(), "r1", None);
    let second = RunLedger::new(history.clone(), "r2", None);
    first.begin("a", "p").unwrap();
    // Both ledgers live in this process; make the holder a different, live one.
    let holder = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    history
        .conn()
        .execute("UPDATE leases SET pid = ?1", [holder.id()])
        .unwrap();
    let busy = second.begin("a", "p").unwrap_err();
    assert!(
        matches!(&busy, crate::outcome::Skip::Busy { run_id, .. } if run_id == "r1"),
        "{busy:?}"
    );
    let mut holder = holder;
    holder.kill().unwrap();
    holder.wait().unwrap();
    second
        .begin("a", "p")
        .expect("a dead holder's lease is taken over");
}

#[test]
fn only_installer_failures_count_and_reset_forgets_them() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r1", None);
    ledger.finish("a", "p", &failed(true), &HostReport::default());
    start(&history, "r2", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r2", None);
    ledger.finish("a", "p", &failed(false), &HostReport::default());
    start(&history, "r3", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r3", None);
    let unreachable = Outcome::Unreachable {
        step: Step::Connect,
        reason: crate::outcome::Unreachable::Network {
            message: "connection refused".into(),
        },
    };
    ledger.finish("a", "p", &unreachable, &HostReport::default());
    assert_eq!(history.failures("a", "p").unwrap(), 1);
    assert_eq!(history.reset("a", "p").unwrap(), 1);
    assert_eq!(history.failures("a", "p").unwrap(), 0);
}

#[test]
fn the_journal_keeps_artefacts_until_removed_and_hides_those_of_running_runs() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r1", None);
    let staged = |path: &str| Artefact {
        kind: ArtefactKind::Directory,
        path: path.into(),
    };
    ledger.will_create("a", "cred", &[staged("d1")]).unwrap();
    ledger.will_create("a", "cred", &[staged("d2")]).unwrap();
    ledger.removed("a", &[staged("d1")]);
    assert!(history.leftovers().unwrap().is_empty(), "the run is still going");
    history.end_run("r1").unwrap();
    let left = history.leftovers().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].path.as_str(), left[0].credential.as_str()),
        ("d2", "cred")
    );
    history.forget("a", &[staged("d2")]).unwrap();
    assert!(history.leftovers().unwrap().is_empty());
}

#[test]
fn the_last_credential_that_got_in_is_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r1", None);
    let report = HostReport {
        credential: Some("second".into()),
        ..HostReport::default()
    };
    ledger.finish("a", "p", &Outcome::AlreadyInstalled, &report);
    assert_eq!(history.last_credential("a").unwrap().as_deref(), Some("second"));
    assert_eq!(history.last_credential("b").unwrap(), None);
}

#[test]
fn outcomes_are_stored_as_data_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a"]);
    let ledger = RunLedger::new(history.clone(), "r1", None);
    ledger.finish("a", "p", &failed(true), &HostReport::default());
    let rows = history.run_attempts("r1").unwrap();
    assert_eq!(rows[0].outcome, Some(failed(true)));
    assert_eq!(rows[0].legacy_reason, None, "no prose is stored");
    assert!(!rows[0].succeeded() && rows[0].retryable() && rows[0].decisive);
}

#[test]
fn a_version_1_database_is_migrated_and_its_rows_classed_by_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/history.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO runs (id, pid, command, packages, started_at, finished_at) VALUES ('r', 1, 'deploy', '[]', 0, 1)",
        [],
    )
    .unwrap();
    for (host, result) in [("a", "ok"), ("b", "failed"), ("c", "skipped")] {
        conn.execute(
            "INSERT INTO attempts (run_id, host, package, queued_at, phase, result, reason)
             VALUES ('r', ?1, 'p', 0, 'execute', ?2, 'old words')",
            params![host, result],
        )
        .unwrap();
    }
    drop(conn);
    let history = History::open(&path).unwrap();
    let rows = history.run_attempts("r").unwrap();
    let classed: Vec<(bool, bool)> = rows.iter().map(|r| (r.succeeded(), r.decisive)).collect();
    assert_eq!(classed, [(true, true), (false, true), (false, false)]);
    assert_eq!(rows[1].legacy_reason.as_deref(), Some("old words"));
    assert!(history.succeeded("a", "p").unwrap());
}

#[test]
fn a_later_run_that_never_reached_the_host_does_not_hide_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    start(&history, "r1", &["a", "b"]);
    start(&history, "r2", &["a", "b"]);
    let first = RunLedger::new(history.clone(), "r1", None);
    let second = RunLedger::new(history.clone(), "r2", None);
    first.finish(
        "a",
        "p",
        &Outcome::Installed { exit_code: 0 },
        &HostReport::default(),
    );
    first.finish("b", "p", &failed(true), &HostReport::default());
    let busy = Outcome::Skipped {
        reason: crate::outcome::Skip::Busy {
            run_id: "r1".into(),
            pid: 1,
        },
    };
    second.finish("a", "p", &busy, &HostReport::default());
    second.finish(
        "b",
        "p",
        &Outcome::Installed { exit_code: 0 },
        &HostReport::default(),
    );
    let latest: Vec<(String, String)> = history
        .latest(&Filter::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.host, r.run_id))
        .collect();
    assert_eq!(
        latest,
        [
            ("a".to_string(), "r1".to_string()),
            ("b".to_string(), "r2".to_string())
        ]
    );
}

#[test]
fn a_removal_stands_until_an_install_succeeds_and_a_failure_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let history = Arc::new(open(&dir));
    let record = |run: &str, outcome: Outcome| {
        start(&history, run, &["a"]);
        let ledger = RunLedger::new(history.clone(), run, None);
        ledger.begin("a", "p").unwrap();
        ledger.finish("a", "p", &outcome, &HostReport::default());
        history.end_run(run).unwrap();
    };
    assert!(!history.removed("a", "p").unwrap(), "nothing on record");
    record("r1", Outcome::Installed { exit_code: 0 });
    assert!(!history.removed("a", "p").unwrap());
    record("r2", Outcome::Removed { exit_code: 0 });
    assert!(history.removed("a", "p").unwrap());
    // A failed install (or a failed removal) after it: still removed on purpose.
    record("r3", failed(true));
    assert!(history.removed("a", "p").unwrap());
    record("r4", Outcome::AlreadyInstalled);
    assert!(!history.removed("a", "p").unwrap(), "detect found it back");
    record("r5", Outcome::Removed { exit_code: 0 });
    record("r6", Outcome::Installed { exit_code: 0 });
    assert!(!history.removed("a", "p").unwrap(), "a later install clears it");
    assert!(!history.removed("b", "p").unwrap(), "another host");
}
