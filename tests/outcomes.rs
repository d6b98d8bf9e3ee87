//! Outcomes and plans as data, end to end against real OpenSSH servers: the dry
//! run's JSON after a run with failures, `cleanup` through the runner under Ctrl-C,
//! and output that survives a closed pipe.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Fleet, Run, interrupt, silent_host};

fn inventory(fleet: &Fleet, settings: &str, hosts: &str, credentials: &str) -> String {
    let package = r#"linux = { file = "install.sh", args = ["--quiet"] }"#;
    fleet.agent_inventory(settings, package, hosts, credentials)
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

#[test]
fn the_dry_run_shows_the_history_decisions_as_json_and_touches_nothing() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("0", r#"[ "$PUSHINST_FIXTURE_HOST" = host2 ] && exit 3"#);
    fleet.write(
        "pushinst.toml",
        &inventory(
            &fleet,
            "max_attempts = 1",
            &fleet.hosts_list(),
            r#"["wrong", "plain"]"#,
        ),
    );
    let first = fleet.run_with(&["deploy", "agent", "--to", "fleet"], |c| {
        c.env("WRONG_PW", "not-it");
    });
    assert_eq!(first.code(), 1, "{}", first.debug());
    let logins = fleet.all_logins();
    let history = fleet.path(".local/state/pushinst/history.db");
    let before = std::fs::read(&history).expect("history");

    let args = [
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--dry-run",
        "--output",
        "json",
    ];
    // Without the `wrong` credential's variable, the dry run names it and exits 2.
    let unset = fleet.run(&args);
    assert_eq!(unset.code(), 2, "{}", unset.debug());
    let problems: Vec<serde_json::Value> = lines(&unset.stdout())
        .into_iter()
        .filter(|l| l["type"] == "local_problem")
        .collect();
    assert_eq!(problems.len(), 1, "{}", unset.debug());
    assert_eq!(problems[0]["data"]["subject"], "credential `wrong`");
    let dry = fleet.run_with(&args, |c| {
        c.env("WRONG_PW", "not-it");
    });
    assert_eq!(dry.code(), 0, "{}", dry.debug());
    let lines = lines(&dry.stdout());
    assert_eq!(lines[0]["type"], "plan");
    assert_eq!(lines[0]["data"]["packages"][0]["max_attempts"], 1);
    let planned: Vec<&serde_json::Value> = lines[1..].iter().map(|l| &l["data"]).collect();
    assert_eq!(
        planned.len(),
        3,
        "one line per host and package: {}",
        dry.stdout()
    );
    let row = |n: usize| {
        *planned
            .iter()
            .find(|p| p["host"] == fleet.endpoints[n - 1])
            .unwrap_or_else(|| panic!("host{n} not planned: {}", dry.stdout()))
    };
    // host2's installer failed once: at the limit of 1, it is skipped, by the plan.
    assert_eq!(row(2)["decision"], "skip");
    assert_eq!(row(2)["skip"]["kind"], "attempt-limit");
    assert_eq!(row(2)["skip"]["failures"], 1);
    assert_eq!(row(2)["skip"]["limit"], 1);
    for n in [1, 3] {
        assert_eq!(row(n)["decision"], "install");
        // `plain` got in last time, so it goes before `wrong` now.
        assert_eq!(row(n)["credentials"], serde_json::json!(["plain", "wrong"]));
        assert_eq!(row(n)["remembered_credential"], "plain");
        assert_eq!(row(n)["transport"], "ssh");
        assert_eq!(row(n)["verify"], "sha256");
        assert_eq!(row(n)["args"], serde_json::json!(["--quiet"]));
    }
    assert_eq!(fleet.all_logins(), logins, "a dry run logs into nothing");
    assert_eq!(
        std::fs::read(&history).expect("history"),
        before,
        "nor writes the history"
    );

    // The run does what the plan said: host2 is skipped without a login.
    let run = fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-it");
    });
    let skipped = run.outcome(&fleet.endpoints[1]);
    assert_eq!(skipped["kind"], "skipped");
    assert_eq!(skipped["detail"]["reason"]["kind"], "attempt-limit");
    assert_eq!(fleet.logins(2), logins[1]);
}

#[test]
fn cleanup_runs_through_the_runner_with_json_output_and_stops_on_ctrl_c() {
    let fleet = Fleet::start(2);
    let (_silent, port) = silent_host();
    let silent = format!("127.0.0.1:{port}");
    let hosts = format!(
        "[\"{silent}\", \"{}\", \"{}\"]",
        fleet.endpoints[0], fleet.endpoints[1]
    );
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "connect_timeout = \"3s\"", &hosts, r#"["plain"]"#),
    );
    // A crashed run's journal: one leftover on each host, the silent one first.
    let history = fleet.path(".local/state/pushinst/history.db");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    {
        let status = fleet.run(&["status"]);
        assert_eq!(status.code(), 0, "{}", status.debug());
        let db = rusqlite::Connection::open(&history).expect("open history");
        db.execute(
            "INSERT INTO runs (id, pid, command, packages, started_at, finished_at)
             VALUES ('crashed', 1, 'deploy', '[\"agent\"]', 0, 1)",
            [],
        )
        .unwrap();
        for host in [&silent, &fleet.endpoints[0], &fleet.endpoints[1]] {
            db.execute(
                "INSERT INTO artefacts (run_id, host, credential, kind, path, created_at)
                 VALUES ('crashed', ?1, 'plain', 'directory', '.pushinst-crashed', 0)",
                [host],
            )
            .unwrap();
        }
    }
    let mut child = fleet
        .pushinst()
        .args(["cleanup", "-j", "1", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    // Wait until the silent host is being connected to, then press Ctrl-C once.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !seen.contains("\"step_started\"") {
        assert!(Instant::now() < deadline, "cleanup never started: {seen}");
        let n = stdout.read(&mut buf).expect("read");
        assert!(n > 0, "cleanup ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    interrupt(&child);
    stdout.read_to_string(&mut seen).expect("read the rest");
    let run = Run::wait(child, Instant::now());
    assert_eq!(run.code(), 130, "{seen}\n{}", run.debug());
    let events = lines(&seen);
    assert!(events.iter().any(|e| e["type"] == "run_begin_cancel"), "{seen}");
    let outcome = |host: &str| {
        events
            .iter()
            .find(|e| e["type"] == "host_finished" && e["data"]["host"] == host)
            .unwrap_or_else(|| panic!("{host} missing: {seen}"))["data"]["outcome"]
            .clone()
    };
    assert_eq!(outcome(&silent)["kind"], "unreachable", "{seen}");
    for host in &fleet.endpoints {
        assert_eq!(outcome(host)["kind"], "not-started", "{seen}");
    }
    assert_eq!(fleet.all_logins(), [0, 0], "no host was started after Ctrl-C");
    let db = rusqlite::Connection::open(&history).expect("open history");
    let left: i64 = db
        .query_row("SELECT count(*) FROM artefacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 3, "nothing was struck from the journal");
}

#[test]
fn status_into_a_closed_pipe_exits_quietly() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "", &fleet.hosts_list(), r#"["plain"]"#),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    for args in [
        &["status"][..],
        &["status", "--output", "json"],
        &["hosts", "--to", "fleet"],
    ] {
        let mut child = fleet
            .pushinst()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // `| head -0`: the reader is gone before pushinst writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        assert!(out.status.code().is_some(), "{args:?} died of a signal");
    }
}
