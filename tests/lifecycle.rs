//! The history and the job lifecycle against real OpenSSH servers: status after a
//! kill -9, cleanup from the journal, retry, attempt limits, sync, leases, the
//! maintenance window, saved jobs, multi-package jobs, reboots, remembered credentials.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Fleet, Run, closed_port};

/// An inventory over the fleet; `extra` is appended (packages, jobs, more groups).
fn inventory(fleet: &Fleet, settings: &str, extra: &str) -> String {
    let package = r#"linux = { file = "install.sh" }"#;
    let inventory = fleet.agent_inventory(settings, package, &fleet.hosts_list(), r#"["fleet"]"#);
    format!("{inventory}{extra}\n")
}

/// `status --output json`, keyed by host.
fn status(fleet: &Fleet, args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["status", "--output", "json"];
    full.extend_from_slice(args);
    let run = fleet.run(&full);
    assert_eq!(run.code(), 0, "{}", run.debug());
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("status JSON"))
        .collect()
}

fn status_of(rows: &[serde_json::Value], host: &str) -> serde_json::Value {
    rows.iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("{host} not in status: {rows:?}"))
        .clone()
}

#[test]
fn a_killed_run_shows_finished_hosts_and_interrupted_ones_and_cleanup_removes_its_leftovers() {
    let fleet = Fleet::start(5);
    // host1 and host2 finish at once; host3 and host4 are still installing when the
    // process is killed; host5 is still queued.
    fleet.recording_installer(
        r#"$(case $PUSHINST_FIXTURE_HOST in host1|host2) echo 0;; *) echo 60;; esac)"#,
        "",
    );
    fleet.write("pushinst.toml", &inventory(&fleet, "", ""));
    let mut child = fleet
        .pushinst()
        .args(["deploy", "agent", "--to", "fleet", "-j", "2", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while fleet
        .timeline()
        .iter()
        .filter(|(h, ..)| h == "host3" || h == "host4")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "host3 and host4 never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    let run_id = Run::wait(child, Instant::now()).run_id();
    assert_eq!(
        fleet.leftovers(&run_id).len(),
        2,
        "the killed run left host3 and host4 staged"
    );

    let rows = status(&fleet, &["--to", "fleet"]);
    let result = |n: usize| status_of(&rows, &fleet.endpoints[n - 1])["result"].clone();
    assert_eq!(result(1), "ok");
    assert_eq!(result(2), "ok");
    assert_eq!(result(3), "interrupted");
    assert_eq!(result(4), "interrupted");
    assert_eq!(result(5), "not-started");
    assert_eq!(status_of(&rows, &fleet.endpoints[2])["phase"], "execute");
    // The recovery records data, not prose: which process ended, and where.
    let killed = status_of(&rows, &fleet.endpoints[2]);
    assert_eq!(killed["kind"], "failed");
    assert_eq!(killed["detail"]["step"], "execute");
    assert_eq!(killed["detail"]["reason"]["kind"], "process-ended");
    let queued = status_of(&rows, &fleet.endpoints[4]);
    assert_eq!(queued["kind"], "not-started");
    assert_eq!(queued["detail"]["reason"]["kind"], "process-ended");
    assert_eq!(status_of(&rows, &fleet.endpoints[0])["kind"], "installed");
    let human = fleet.run(&["status"]).stdout();
    assert!(
        human.contains("5 host/package pair(s): 1 interrupted") || human.contains("2 interrupted"),
        "{human}"
    );

    let logins_before = fleet.all_logins();
    let clean = fleet.run(&["cleanup"]);
    assert_eq!(clean.code(), 0, "{}", clean.debug());
    assert!(fleet.leftovers(&run_id).is_empty(), "{}", clean.debug());
    assert!(clean.stdout().contains(&format!(
        "{}: removed directory .pushinst-{run_id}",
        fleet.endpoints[2]
    )));
    let logins_after = fleet.all_logins();
    assert_eq!(
        (logins_after[0], logins_after[1], logins_after[4]),
        (logins_before[0], logins_before[1], logins_before[4]),
        "cleanup only visits hosts with leftovers"
    );
    let again = fleet.run(&["cleanup"]);
    assert!(
        again.stdout().contains("nothing to clean up"),
        "{}",
        again.debug()
    );
}

#[test]
fn retry_touches_only_the_hosts_that_failed_and_logs_shows_why() {
    let fleet = Fleet::start(4);
    fleet.recording_installer(
        "0",
        r#"[ "$PUSHINST_FIXTURE_HOST" = host2 ] && [ ! -e "$PUSHINST_FIXTURE_DIR/../fixed" ] && { echo "disk on fire"; exit 3; }"#,
    );
    fleet.write("pushinst.toml", &inventory(&fleet, "", ""));
    let first = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(first.code(), 1, "{}", first.debug());
    let logs = fleet.run(&["logs", &fleet.endpoints[1]]);
    assert_eq!(logs.code(), 0, "{}", logs.debug());
    let text = logs.stdout();
    for expected in [
        "failed — installer exited with code 3",
        "exit code:  3",
        "disk on fire",
        "execute",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from logs:\n{text}");
    }

    std::fs::write(fleet.path("host2/fixed"), "").unwrap();
    let before = fleet.all_logins();
    let retry = fleet.run(&["retry"]);
    assert_eq!(retry.code(), 0, "{}", retry.debug());
    let after = fleet.all_logins();
    let delta: Vec<usize> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [0, 1, 0, 0], "only the failed host is logged into again");
    assert!(retry.stdout().contains("retrying 1 host(s)"), "{}", retry.debug());
    let again = fleet.run(&["retry"]);
    assert!(again.stdout().contains("nothing to retry"), "{}", again.debug());
}

#[test]
fn the_attempt_limit_skips_a_host_until_reset_and_offline_hosts_do_not_count() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "exit 5");
    let dead = format!("127.0.0.1:{}", closed_port());
    let extra = format!(
        "[groups.both]\nhosts = [\"{}\", \"{dead}\"]\nos = \"linux\"\ncredentials = [\"fleet\"]\n",
        fleet.endpoints[0]
    );
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "connect_timeout = \"2s\"", &extra),
    );
    for _ in 0..3 {
        let run = fleet.run(&["deploy", "agent", "--to", "both"]);
        assert_eq!(run.code(), 1, "{}", run.debug());
    }
    let logins = fleet.logins(1);
    let blocked = fleet.run(&["deploy", "agent", "--to", "both", "--output", "json"]);
    assert_eq!(blocked.outcome(&fleet.endpoints[0])["status"], "skipped");
    assert_eq!(
        blocked.outcome(&fleet.endpoints[0])["reason"],
        "attempt-limit (3/3)"
    );
    assert_eq!(
        blocked.outcome(&dead)["status"],
        "unreachable",
        "offline hosts are still tried"
    );
    assert_eq!(fleet.logins(1), logins, "a host at its limit is not touched");
    let rows = status(&fleet, &["agent"]);
    assert_eq!(status_of(&rows, &fleet.endpoints[0])["attempts"], 3);
    assert_eq!(status_of(&rows, &dead)["attempts"], 0, "unreachable never counts");

    // Raising the limit in the inventory lets the host through once more.
    let raised = inventory(&fleet, "connect_timeout = \"2s\"\nmax_attempts = 4", &extra);
    fleet.write("pushinst.toml", &raised);
    for expected in ["failed", "attempt-limit (4/4)"] {
        let run = fleet.run(&["deploy", "agent", "--to", &fleet.endpoints[0], "--output", "json"]);
        let outcome = run.outcome(&fleet.endpoints[0]);
        assert!(
            outcome["status"] == expected || outcome["reason"] == expected,
            "{}",
            run.debug()
        );
    }

    let reset = fleet.run(&["reset", "--to", &fleet.endpoints[0], "--package", "agent"]);
    assert_eq!(reset.code(), 0, "{}", reset.debug());
    assert!(
        reset.stdout().contains("4 failed attempt(s) forgotten"),
        "{}",
        reset.debug()
    );
    let logins = fleet.logins(1);
    let retried = fleet.run(&["deploy", "agent", "--to", "both", "--output", "json"]);
    assert_eq!(retried.outcome(&fleet.endpoints[0])["status"], "failed");
    assert_eq!(fleet.logins(1), logins + 1);
}

#[test]
fn sync_installs_a_host_added_to_the_group_and_touches_no_other() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("0", "");
    let job = "[jobs.protect]\npackage = \"agent\"\ntargets = [\"office\"]\n";
    let group = |hosts: &[String]| {
        let quoted: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
        format!(
            "[groups.office]\nhosts = [{}]\nos = \"linux\"\ncredentials = [\"fleet\"]\n{job}",
            quoted.join(", ")
        )
    };
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "", &group(&fleet.endpoints[..2])),
    );
    let first = fleet.run(&["sync"]);
    assert_eq!(first.code(), 0, "{}", first.debug());
    assert_eq!(fleet.all_logins(), [1, 1, 0]);

    fleet.write("pushinst.toml", &inventory(&fleet, "", &group(&fleet.endpoints)));
    let second = fleet.run(&["sync", "protect"]);
    assert_eq!(second.code(), 0, "{}", second.debug());
    assert_eq!(fleet.all_logins(), [1, 1, 1], "only the new host is visited");
    let mut ran: Vec<String> = fleet.timeline().into_iter().map(|(h, ..)| h).collect();
    ran.sort();
    assert_eq!(ran, ["host1", "host2", "host3"], "each host installed once");

    let third = fleet.run(&["sync"]);
    assert_eq!(third.code(), 0, "{}", third.debug());
    assert!(third.stdout().contains("nothing to do"), "{}", third.debug());
    assert_eq!(fleet.all_logins(), [1, 1, 1]);
    let rows = status(&fleet, &["protect"]);
    assert!(rows.iter().all(|r| r["result"] == "ok"), "{rows:?}");
    assert_eq!(rows.len(), 3);
}

#[test]
fn two_concurrent_deploys_never_install_a_host_twice() {
    let fleet = Fleet::start(4);
    fleet.recording_installer("1", "");
    let package = r#"[packages.once]
linux = { file = "install.sh", detect = "test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"" }
"#;
    fleet.write("pushinst.toml", &inventory(&fleet, "", package));
    let args = ["deploy", "once", "--to", "fleet", "-j", "4", "--output", "json"];
    let spawn = || {
        fleet
            .pushinst()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let runs: Vec<Run> = [a, b].into_iter().map(|c| Run::wait(c, Instant::now())).collect();
    let mut installs = std::collections::HashMap::new();
    for (host, ..) in fleet.timeline() {
        *installs.entry(host).or_insert(0) += 1;
    }
    assert_eq!(installs.len(), 4, "{installs:?}");
    assert!(installs.values().all(|n| *n == 1), "{installs:?}");
    for host in &fleet.endpoints {
        let statuses: Vec<String> = runs
            .iter()
            .map(|r| r.outcome(host)["status"].as_str().unwrap().to_string())
            .collect();
        assert!(statuses.contains(&"ok".to_string()), "{host}: {statuses:?}");
        let other = statuses
            .iter()
            .find(|s| *s != "ok")
            .expect("one run did not install");
        assert!(
            other == "skipped" || other == "already-installed",
            "{host}: {statuses:?}"
        );
    }
    let busy = runs
        .iter()
        .flat_map(|r| r.finished())
        .filter(|d| {
            d["outcome"]["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("busy: another run holds it"))
        })
        .count();
    assert!(busy > 0, "both runs started together, so some host was busy");

    // The busy skips of one run do not hide the other run's installs...
    let rows = status(&fleet, &["once"]);
    for host in &fleet.endpoints {
        assert_eq!(status_of(&rows, host)["result"], "ok", "{rows:?}");
    }
    // ...and retrying the later run reinstalls nothing.
    let logins = fleet.all_logins();
    let retry = fleet.run(&["retry"]);
    assert_eq!(retry.code(), 0, "{}", retry.debug());
    assert!(retry.stdout().contains("nothing to retry"), "{}", retry.debug());
    assert_eq!(fleet.all_logins(), logins, "no host was logged into again");
}

#[test]
fn a_window_already_closed_starts_nothing_and_says_so() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", ""));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--until", "2020-01-01 00:00"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(
        run.stdout()
            .contains("not started: the window closed at 2020-01-01 00:00"),
        "{}",
        run.debug()
    );
    assert!(run.stdout().contains("2 not started"), "{}", run.debug());
    assert_eq!(fleet.all_logins(), [0, 0]);
    let bad = fleet.run(&["deploy", "agent", "--to", "fleet", "--until", "soon"]);
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr().contains("HH:MM"), "{}", bad.debug());
}

#[test]
fn a_saved_job_touches_nothing_until_run() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", ""));
    let saved = fleet.run(&["deploy", "agent", "--to", "fleet", "--save-as"]);
    assert_eq!(saved.code(), 0, "{}", saved.debug());
    assert!(
        saved.stdout().contains("saved job \"Install agent 1.0\""),
        "{}",
        saved.debug()
    );
    assert_eq!(fleet.all_logins(), [0, 0]);
    let run = fleet.run(&["run", "Install agent 1.0"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(fleet.all_logins(), [1, 1]);
    let unknown = fleet.run(&["run", "nope"]);
    assert_eq!(unknown.code(), 2);
    assert!(
        unknown.stderr().contains("Install agent 1.0"),
        "{}",
        unknown.debug()
    );
}

#[test]
fn a_job_installs_its_packages_in_order_over_one_login_and_stops_after_a_failure() {
    let fleet = Fleet::start(2);
    for (name, body) in [
        (
            "first.sh",
            "echo \"first $PUSHINST_FIXTURE_HOST\" >> \"$PUSHINST_FIXTURE_DIR/order\"",
        ),
        (
            "second.sh",
            "echo \"second $PUSHINST_FIXTURE_HOST\" >> \"$PUSHINST_FIXTURE_DIR/order\"; [ \"$PUSHINST_FIXTURE_HOST\" = host2 ] && exit 7; exit 0",
        ),
        (
            "third.sh",
            "echo \"third $PUSHINST_FIXTURE_HOST\" >> \"$PUSHINST_FIXTURE_DIR/order\"",
        ),
    ] {
        fleet.installer(name, body);
    }
    let extra = r#"[packages.first]
linux = { file = "first.sh" }
[packages.second]
linux = { file = "second.sh" }
[packages.third]
linux = { file = "third.sh" }
[jobs.stack]
packages = ["first", "second", "third"]
targets = ["fleet"]
"#;
    fleet.write("pushinst.toml", &inventory(&fleet, "", extra));
    let run = fleet.run(&["run", "stack", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let order = |n: usize| std::fs::read_to_string(fleet.host_root(n).join("order")).unwrap_or_default();
    assert_eq!(order(1), "first host1\nsecond host1\nthird host1\n");
    assert_eq!(order(2), "first host2\nsecond host2\n");
    assert_eq!(fleet.all_logins(), [1, 1], "one login carries every package");
    let host2: Vec<(String, String)> = run
        .finished()
        .into_iter()
        .filter(|d| d["host"] == fleet.endpoints[1].as_str())
        .map(|d| {
            (
                d["package"].as_str().unwrap().to_string(),
                d["outcome"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        host2,
        [
            ("first".to_string(), "ok".to_string()),
            ("second".to_string(), "failed".to_string()),
            ("third".to_string(), "skipped".to_string())
        ]
    );
    let lines = fleet.run(&["status", "stack"]).stdout();
    assert!(
        lines
            .lines()
            .any(|l| l.contains(" skipped ") && l.ends_with("earlier package failed")),
        "{lines}"
    );
}

#[test]
fn a_reboot_code_under_ask_warns_then_reboots_and_is_on_record() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", r#"[ "$PUSHINST_FIXTURE_HOST" = host1 ] && exit 100"#);
    let extra = r#"[packages.kernel]
linux = { file = "install.sh" }
reboot_codes = [100]
[jobs.patch]
package = "kernel"
targets = ["fleet"]
reboot = "ask"
"#;
    let settings = "reboot_delay = \"2m\"\nreboot_message = \"Patching: save your work\"";
    fleet.write("pushinst.toml", &inventory(&fleet, settings, extra));
    let run = fleet.run(&["sync"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let shutdown =
        std::fs::read_to_string(fleet.host_root(1).join("shutdown")).expect("host1 asked to reboot");
    assert_eq!(shutdown, "-r +2 Patching: save your work\n");
    assert!(
        !fleet.host_root(2).join("shutdown").exists(),
        "host2 needed no reboot"
    );
    assert!(run.stdout().contains("reboot requested in 2m"), "{}", run.debug());
    let rows = status(&fleet, &["patch"]);
    assert_eq!(status_of(&rows, &fleet.endpoints[0])["reboot"], "requested");
    assert_eq!(status_of(&rows, &fleet.endpoints[0])["result"], "reboot-required");
    assert!(status_of(&rows, &fleet.endpoints[1])["reboot"].is_null());

    // Under the default policy a reboot code is only recorded as pending.
    let pending = fleet.run(&["deploy", "kernel", "--to", &fleet.endpoints[0]]);
    assert_eq!(pending.code(), 0, "{}", pending.debug());
    assert_eq!(
        std::fs::read_to_string(fleet.host_root(1).join("shutdown")).unwrap(),
        shutdown
    );
    let rows = status(&fleet, &["kernel"]);
    assert_eq!(status_of(&rows, &fleet.endpoints[0])["reboot"], "pending");
}

#[test]
fn the_credential_that_worked_last_time_is_tried_first() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let text = inventory(&fleet, "", "").replace(
        r#"credentials = ["fleet"]"#,
        r#"credentials = ["wrong", "fleet"]"#,
    );
    fleet.write("pushinst.toml", &text);
    let rejected = |run: &Run| {
        run.events()
            .iter()
            .filter(|e| e["type"] == "credential_rejected")
            .count()
    };
    let with_env = |c: &mut std::process::Command| {
        c.env("WRONG_PW", "not-the-password");
    };
    let first = fleet.run_with(
        &["deploy", "agent", "--to", "fleet", "--output", "json"],
        with_env,
    );
    assert_eq!(first.code(), 0, "{}", first.debug());
    assert_eq!(rejected(&first), 1);
    let second = fleet.run_with(
        &["deploy", "agent", "--to", "fleet", "--output", "json"],
        with_env,
    );
    assert_eq!(second.code(), 0, "{}", second.debug());
    assert_eq!(rejected(&second), 0, "the remembered credential went first");
    assert_eq!(second.finished()[0]["credential"], "fleet");
}
