//! End-to-end deploys against real OpenSSH servers (see tests/common).

mod common;

use common::{Fleet, closed_port, silent_host};

/// An inventory over the whole fleet: `wrong` is a credential the servers refuse,
/// `fleet` logs in with the fleet password and uses sudo.
fn inventory(fleet: &Fleet, settings: &str, package: &str, credentials: &str) -> String {
    fleet.agent_inventory(settings, package, &fleet.hosts_list(), credentials)
}

const AGENT: &str = r#"linux = { file = "install.sh", args = ["--unattended"], detect = "test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"" }"#;

#[test]
fn group_larger_than_concurrency_never_runs_more_than_n_at_once() {
    let fleet = Fleet::start(6);
    fleet.recording_installer("0.8", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "2",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let finished = run.finished();
    assert_eq!(finished.len(), 6);
    assert!(
        finished.iter().all(|f| f["outcome"]["status"] == "ok"),
        "{}",
        run.debug()
    );

    let runs = fleet.timeline();
    assert_eq!(runs.len(), 6, "each host ran the installer once: {runs:?}");
    let mut peak = 0;
    for (_, start, _) in &runs {
        let overlapping = runs
            .iter()
            .filter(|(_, s, e)| s <= start && e.expect("every run ended") > *start)
            .count();
        peak = peak.max(overlapping);
    }
    assert_eq!(
        peak, 2,
        "at most 2 installers at once, and the pool was used: {runs:?}"
    );
    // Queue order is inventory order: host1 and host2 start first.
    let mut by_start = runs.clone();
    by_start.sort_by(|a, b| a.1.total_cmp(&b.1));
    let first: Vec<&str> = by_start[..2].iter().map(|r| r.0.as_str()).collect();
    assert!(
        first.contains(&"host1") && first.contains(&"host2"),
        "{by_start:?}"
    );
}

#[test]
fn installer_failure_keeps_its_code_and_the_rest_succeed() {
    let fleet = Fleet::start(3);
    fleet.recording_installer(
        "0",
        r#"[ "$PUSHINST_FIXTURE_HOST" = host2 ] && { echo "disk on fire" >&2; exit 3; }"#,
    );
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let failed = run.outcome(&fleet.endpoints[1]);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["step"], "execute");
    assert_eq!(run.outcome(&fleet.endpoints[0])["status"], "ok");
    assert_eq!(run.outcome(&fleet.endpoints[2])["status"], "ok");
    // The summary names the failure, and the log keeps the installer's words.
    assert!(
        run.stderr().contains("installer exited with code 3"),
        "{}",
        run.debug()
    );
    assert!(fleet.all_logs().contains("disk on fire"));
    assert!(
        fleet.leftovers(&run.run_id()).is_empty(),
        "cleanup ran after the failure too"
    );
}

#[test]
fn dead_and_silent_hosts_fail_with_a_reason_within_their_timeouts() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    let closed = closed_port();
    let (_listener, silent) = silent_host();
    let text = inventory(&fleet, "connect_timeout = \"30s\"", AGENT, r#"["fleet"]"#).replace(
        "hosts = [",
        &format!("hosts = [\"127.0.0.1:{closed}\", \"localhost:{silent}\", "),
    );
    fleet.write("pushinst.toml", &text);
    // The flag wins over the setting.
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "2",
        "--connect-timeout",
        "1s",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let dead = run.outcome(&format!("127.0.0.1:{closed}"));
    assert_eq!(dead["status"], "unreachable");
    assert!(
        dead["reason"].as_str().unwrap().contains("connection refused"),
        "{dead}"
    );
    let mute = run.outcome(&format!("localhost:{silent}"));
    assert_eq!(mute["status"], "unreachable");
    assert_eq!(mute["reason"], "timeout during connect (1s)");
    for endpoint in &fleet.endpoints {
        assert_eq!(run.outcome(endpoint)["status"], "ok", "{}", run.debug());
    }
    assert!(run.elapsed.as_secs() < 10, "took {:?}", run.elapsed);
}

#[test]
fn a_refused_credential_falls_through_to_the_next() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "", AGENT, r#"["wrong", "fleet"]"#),
    );
    let run = fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-the-password");
    });
    assert_eq!(run.code(), 0, "{}", run.debug());
    let events = run.events();
    let rejected = events
        .iter()
        .find(|e| e["type"] == "credential_rejected")
        .expect("a rejection");
    assert_eq!(rejected["data"]["credential"], "wrong");
    let finished = &run.finished()[0];
    assert_eq!(finished["credential"], "fleet");
    assert_eq!(finished["outcome"]["status"], "ok");
}

#[test]
fn every_credential_refused_is_a_failure_naming_them() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["wrong"]"#));
    let run = fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-the-password");
    });
    assert_eq!(run.code(), 1);
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(outcome["step"], "authenticate");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("wrong: password refused"),
        "{outcome}"
    );
    // What the server said it accepts travels as data, and in the words.
    let rejected = &outcome["detail"]["reason"]["rejected"][0];
    let accepts: Vec<&str> = rejected["server_accepts"]
        .as_array()
        .expect("the server's methods")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(accepts.contains(&"password"), "{outcome}");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("the server accepts: "),
        "{outcome}"
    );
    assert!(fleet.timeline().is_empty());
}

#[test]
fn a_changed_host_key_is_refused_under_strict() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    // Record another key for host1, as if it had been replaced by an impostor.
    let other = fleet.path("impostor");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let impostor = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let known = std::fs::read_to_string(fleet.path("known_hosts")).unwrap();
    let mut lines: Vec<String> = known.lines().map(str::to_string).collect();
    let name = lines[0].split(' ').next().unwrap().to_string();
    let key: Vec<&str> = impostor.split(' ').take(2).collect();
    lines[0] = format!("{name} {}", key.join(" "));
    fleet.write("known_hosts", &(lines.join("\n") + "\n"));

    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let refused = run.outcome(&fleet.endpoints[0]);
    assert_eq!(refused["status"], "failed");
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        reason.contains("HOST KEY CHANGED") && reason.contains("SHA256:") && reason.contains("ssh-keygen -R"),
        "{reason}"
    );
    assert_eq!(run.outcome(&fleet.endpoints[1])["status"], "ok");
    let ran: Vec<String> = fleet.timeline().into_iter().map(|r| r.0).collect();
    assert_eq!(ran, ["host2"], "nothing ran on the refused host");
}

#[test]
fn unknown_host_keys_are_refused_by_strict_and_recorded_by_accept_new() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    fleet.write("known_hosts", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let strict = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(strict.code(), 1);
    let reason = strict.outcome(&fleet.endpoints[0])["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.starts_with("unknown host key") && reason.contains("accept-new"),
        "{reason}"
    );

    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "host_key_policy = \"accept-new\"", AGENT, r#"["fleet"]"#),
    );
    let learn = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(learn.code(), 0, "{}", learn.debug());
    let known = std::fs::read_to_string(fleet.path("known_hosts")).unwrap();
    assert!(known.contains("ssh-ed25519"), "{known}");
}

#[test]
fn detect_skips_an_installed_host_unless_forced() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    std::fs::create_dir_all(fleet.host_root(1).join("opt/agent")).unwrap();
    std::fs::write(fleet.host_root(1).join("opt/agent/installed"), "").unwrap();
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&fleet.endpoints[0])["status"], "already-installed");
    assert_eq!(run.outcome(&fleet.endpoints[1])["status"], "ok");
    let ran: Vec<String> = fleet.timeline().into_iter().map(|r| r.0).collect();
    assert_eq!(ran, ["host2"]);

    let forced = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        &fleet.endpoints[0],
        "--force",
        "--output",
        "json",
    ]);
    assert_eq!(forced.code(), 0, "{}", forced.debug());
    assert_eq!(forced.outcome(&fleet.endpoints[0])["status"], "ok");
}

#[test]
fn installer_that_outlives_its_timeout_is_stopped_and_cleaned_up() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("60", "");
    let package = AGENT.replace("args = [", "timeout = \"1s\", args = [");
    fleet.write("pushinst.toml", &inventory(&fleet, "", &package, r#"["plain"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(outcome["step"], "execute");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .starts_with("timeout during execute"),
        "{outcome}"
    );
    assert!(run.elapsed.as_secs() < 15, "took {:?}", run.elapsed);
    assert!(
        fleet.leftovers(&run.run_id()).is_empty(),
        "the staging directory was removed"
    );

    // `--exec-timeout` wins over the package's own timeout.
    let package = AGENT.replace("args = [", "timeout = \"1h\", args = [");
    fleet.write("pushinst.toml", &inventory(&fleet, "", &package, r#"["plain"]"#));
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--exec-timeout",
        "1s",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = run.outcome(&fleet.endpoints[0])["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("did not finish within 1s"), "{reason}");
}

#[test]
fn the_config_file_is_uploaded_beside_the_installer_and_logs_go_to_log_dir() {
    let fleet = Fleet::start(1);
    fleet.installer(
        "install.sh",
        "echo \"config says: $(cat acme.conf)\"; stat -c '%a %n' acme.conf install.sh",
    );
    fleet.write("acme.conf", "server=mgmt.example\n");
    let package = r#"linux = { file = "install.sh", config = "acme.conf" }"#;
    fleet.write("pushinst.toml", &inventory(&fleet, "", package, r#"["plain"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--log-dir", "my-logs"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert!(
        run.stdout()
            .contains(&format!("per-host logs: {}", fleet.path("my-logs").display())),
        "{}",
        run.debug()
    );
    let log_name = format!("{}.log", fleet.endpoints[0].replace(':', "_"));
    let log = std::fs::read_to_string(fleet.path("my-logs").join(log_name)).expect("host log in --log-dir");
    assert!(log.contains("config says: server=mgmt.example"), "{log}");
    assert!(
        log.contains("600 acme.conf") && log.contains("700 install.sh"),
        "{log}"
    );
}

#[test]
fn sudo_runs_as_root_and_plain_runs_as_the_user() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--force"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert!(
        fleet.all_logs().contains("as root: --unattended"),
        "{}",
        fleet.all_logs()
    );

    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["plain"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert!(
        fleet.all_logs().contains("as pushinst-fleet: --unattended"),
        "{}",
        fleet.all_logs()
    );
}

#[test]
fn a_wrong_sudo_password_is_reported_as_sudo_refusing() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let text = inventory(&fleet, "", AGENT, r#"["fleet"]"#).replace(
        "sudo = true",
        "sudo = true\nsudo_password = { env = \"WRONG_PW\" }",
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-the-sudo-password");
    });
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert!(
        outcome["reason"].as_str().unwrap().starts_with("sudo refused"),
        "{outcome}"
    );
    assert!(fleet.timeline().is_empty());
}

#[test]
fn secrets_never_appear_in_output_or_logs() {
    let fleet = Fleet::start(2);
    // An installer that tries hard to leak: it prints its environment and stdin.
    fleet.installer("install.sh", "env; cat; echo done");
    let text = inventory(
        &fleet,
        "",
        r#"linux = { file = "install.sh" }"#,
        r#"["wrong", "fleet"]"#,
    );
    fleet.write("pushinst.toml", &text);
    let wrong = "wrong-password-7d1e";
    let password = fleet.password();
    for args in [
        &["deploy", "agent", "--to", "fleet", "-v"][..],
        &["deploy", "agent", "--to", "fleet", "--output", "json"][..],
        &["deploy", "agent", "--to", "fleet", "-vv"][..],
        &["deploy", "agent", "--to", "fleet", "--dry-run"][..],
    ] {
        let run = fleet.run_with(args, |c| {
            c.env("WRONG_PW", wrong);
        });
        assert!(run.code() == 0, "{}", run.debug());
        for secret in [wrong, password.as_str()] {
            assert!(!run.stdout().contains(secret), "secret in stdout of {args:?}");
            assert!(!run.stderr().contains(secret), "secret in stderr of {args:?}");
        }
    }
    let logs = fleet.all_logs();
    assert!(logs.contains("done"), "the installer ran: {logs}");
    assert!(
        !logs.contains(wrong) && !logs.contains(&password),
        "secret in a log file"
    );
    // Nor in the history, nor in what the history commands print.
    let state = fleet.path(".local/state/pushinst");
    for file in ["history.db", "history.db-wal"] {
        let bytes = std::fs::read(state.join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(wrong) && !text.contains(&password),
            "secret in {file}"
        );
    }
    for args in [
        &["status", "--output", "json"][..],
        &["logs", &fleet.endpoints[0]][..],
    ] {
        let run = fleet.run(args);
        assert_eq!(run.code(), 0, "{}", run.debug());
        assert!(!run.stdout().contains(wrong) && !run.stdout().contains(&password));
    }
}

#[test]
fn a_password_from_a_command_logs_in_and_is_found_nowhere_afterwards() {
    let fleet = Fleet::start(1);
    fleet.installer("install.sh", "env; cat; echo done");
    let password = fleet.password();
    let command = format!(
        "password = {{ command = [\"head\", \"-n\", \"1\", \"{}\"] }}",
        fleet.path("password").display()
    );
    let text = inventory(&fleet, "", r#"linux = { file = "install.sh" }"#, r#"["fromcmd"]"#)
        + &format!(
            "\n[credentials.fromcmd]\nuser = \"{}\"\n{command}\n",
            common::FLEET_USER
        );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "-vv", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&fleet.endpoints[0])["status"], "ok");
    assert!(!run.stdout().contains(&password) && !run.stderr().contains(&password));
    let logs = fleet.all_logs();
    assert!(logs.contains("done") && !logs.contains(&password), "{logs}");
    let state = fleet.path(".local/state/pushinst");
    for file in ["history.db", "history.db-wal"] {
        let bytes = std::fs::read(state.join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "secret in {file}"
        );
    }

    // A command that fails stops the run before any host, naming the program only.
    fleet.write(
        "pushinst.toml",
        &text.replace(&command, "password = { command = [\"false\", \"corp/deploy\"] }"),
    );
    let failed = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(failed.code(), 2, "{}", failed.debug());
    assert!(
        failed.stderr().contains("`false` failed (exit status: 1)"),
        "{}",
        failed.debug()
    );
}

#[test]
fn key_files_of_every_format_and_passphrases_log_in() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    // An encrypted OpenSSH key, authorised alongside the fleet's own keys.
    let encrypted = fleet.path("id_encrypted");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "key-passphrase-1", "-f"])
        .arg(&encrypted)
        .status()
        .unwrap();
    assert!(status.success());
    let mut authorized = std::fs::read_to_string(fleet.path("authorized_keys")).unwrap();
    authorized.push_str(&std::fs::read_to_string(encrypted.with_extension("pub")).unwrap());
    fleet.write("authorized_keys", &authorized);

    for key in [
        "key = \"id_ed25519\"".to_string(),
        "key = \"id_rsa.pem\"".to_string(),
        "key = \"id_encrypted\"\npassphrase = { env = \"KEY_PASS\" }".to_string(),
    ] {
        let text = inventory(&fleet, "", AGENT, r#"["keyed"]"#)
            + &format!("\n[credentials.keyed]\nuser = \"pushinst-fleet\"\n{key}\n");
        fleet.write("pushinst.toml", &text);
        let run = fleet.run_with(
            &["deploy", "agent", "--to", "fleet", "--force", "--output", "json"],
            |c| {
                c.env("KEY_PASS", "key-passphrase-1");
            },
        );
        assert_eq!(run.code(), 0, "{key}: {}", run.debug());
        assert_eq!(run.finished()[0]["credential"], "keyed");
    }
}

#[test]
fn ssh_agent_keys_log_in() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let socket = fleet.path("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
        }
    }
    let _agent = Kill(agent);
    for _ in 0..50 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(fleet.path("id_ed25519"))
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let text = inventory(&fleet, "", AGENT, r#"["agent"]"#)
        + "\n[credentials.agent]\nuser = \"pushinst-fleet\"\nagent = true\n";
    fleet.write("pushinst.toml", &text);
    let run = fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("SSH_AUTH_SOCK", &socket);
    });
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.finished()[0]["credential"], "agent");
}

#[test]
fn first_interrupt_lets_running_hosts_finish_and_starts_no_more() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("1.5", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let args = [
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "1",
        "--output",
        "json",
    ];
    let child = fleet.spawn_until_installing(&args);
    common::interrupt(&child);
    let run = common::Run::wait(child, std::time::Instant::now());
    assert_eq!(run.code(), 130, "{}", run.debug());
    assert_eq!(
        run.outcome(&fleet.endpoints[0])["status"],
        "ok",
        "the running host finished"
    );
    assert_eq!(run.outcome(&fleet.endpoints[1])["status"], "not-started");
    assert_eq!(run.outcome(&fleet.endpoints[2])["status"], "not-started");
    assert_eq!(fleet.timeline().len(), 1);
    assert!(fleet.leftovers(&run.run_id()).is_empty());
}

#[test]
fn keyring_secrets_come_from_the_secret_service() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let text = inventory(&fleet, "", AGENT, r#"["vault"]"#)
        + "\n[credentials.vault]\nuser = \"pushinst-fleet\"\npassword = { keyring = \"fleet-vault\" }\n";
    fleet.write("pushinst.toml", &text);
    // A private D-Bus session with an unlocked GNOME Keyring holding the password.
    let script = format!(
        "echo -n unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null && \
         printf %s \"$FLEET_PW\" | secret-tool store --label=pushinst service pushinst credential fleet-vault && \
         exec {} deploy agent --to fleet --output json > events.jsonl",
        env!("CARGO_BIN_EXE_pushinst")
    );
    let mut cmd = fleet.pushinst();
    let cmd = cmd.env("FLEET_PW", fleet.password());
    let mut session = std::process::Command::new("dbus-run-session");
    session
        .args(["--", "sh", "-c", &script])
        .current_dir(fleet.dir.path());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => session.env(key, value),
            None => session.env_remove(key),
        };
    }
    let mut output = session
        .output()
        .expect("dbus-run-session (apt: dbus gnome-keyring libsecret-tools)");
    // A keyring daemon started by D-Bus activation may print to the session's stdout.
    output.stdout = std::fs::read(fleet.path("events.jsonl")).unwrap_or_default();
    let run = common::Run {
        output,
        elapsed: std::time::Duration::ZERO,
    };
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.finished()[0]["credential"], "vault");

    // Without a Secret Service the credential is refused up front, nothing touched.
    let run = fleet.run(&["deploy", "agent", "--to", "fleet", "--force"]);
    assert_eq!(run.code(), 2, "{}", run.debug());
    assert!(
        run.stderr()
            .contains("credential `vault`: keyring entry `fleet-vault`"),
        "{}",
        run.debug()
    );
    assert_eq!(fleet.timeline().len(), 1);
}

#[test]
fn second_interrupt_abandons_running_hosts_at_once() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("30", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let args = [
        "deploy",
        "agent",
        "--to",
        "fleet",
        "--concurrency",
        "1",
        "--output",
        "json",
    ];
    let child = fleet.spawn_until_installing(&args);
    let started = std::time::Instant::now();
    for _ in 0..2 {
        common::interrupt(&child);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = common::Run::wait(child, started);
    assert_eq!(run.code(), 130, "{}", run.debug());
    assert!(run.elapsed.as_secs() < 5, "aborted in {:?}", run.elapsed);
    assert_eq!(run.outcome(&fleet.endpoints[0])["status"], "interrupted");
    assert_eq!(run.outcome(&fleet.endpoints[1])["status"], "not-started");
    let reasons: Vec<String> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "run_begin_cancel")
        .map(|e| e["data"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["interrupt", "abort"]);
}

#[test]
fn plain_lines_off_a_terminal_and_quiet_prints_only_the_summary() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", r#"[ "$PUSHINST_FIXTURE_HOST" = host2 ] && exit 4"#);
    fleet.write("pushinst.toml", &inventory(&fleet, "", AGENT, r#"["fleet"]"#));
    let run = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let out = run.stdout();
    assert!(!out.contains('\u{1b}'), "no escape codes off a terminal: {out:?}");
    let (a, b) = (&fleet.endpoints[0], &fleet.endpoints[1]);
    for line in [
        format!("{a}: started"),
        format!("{a}: ok — installed, exit 0"),
        format!("{b}: failed — installer exited with code 4, exit 4"),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert!(
        out.contains("2 host(s) in") && out.contains("1 ok") && out.contains("1 failed"),
        "{out}"
    );
    assert!(out.contains("per-host logs: "), "{out}");

    let quiet = fleet.run(&["deploy", "agent", "--to", "fleet", "-q", "--force"]);
    assert_eq!(quiet.code(), 1);
    let out = quiet.stdout();
    assert!(!out.contains("started"), "{out}");
    assert!(
        !out.contains(&format!("{a}: ok")),
        "successes are not listed: {out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with(b.as_str()))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..3], ["failed", "4"], "{row}");
}

#[test]
fn a_prompted_password_is_asked_on_the_terminal_without_echo_and_refused_without_one() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let text = inventory(&fleet, "", AGENT, r#"["asker"]"#)
        + "\n[credentials.asker]\nuser = \"pushinst-fleet\"\npassword = { prompt = true }\n";
    fleet.write("pushinst.toml", &text);

    let refused = fleet.run_with(&["deploy", "agent", "--to", "fleet"], |c| {
        c.stdin(std::process::Stdio::null());
    });
    assert_eq!(refused.code(), 2, "{}", refused.debug());
    assert!(
        refused.stderr().contains("standard input is not a terminal"),
        "{}",
        refused.debug()
    );
    assert!(fleet.timeline().is_empty(), "nothing was touched");

    // `script` gives pushinst a terminal and types the password into it.
    let password = fleet.password();
    let line = format!(
        "{} deploy agent --to fleet --output json",
        env!("CARGO_BIN_EXE_pushinst")
    );
    let mut cmd = fleet.pushinst();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .current_dir(fleet.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    for (key, value) in cmd.stdin(std::process::Stdio::null()).get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let mut child = script.spawn().expect("script (util-linux)");
    let mut stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Type only once the prompt is up, as a person would.
    let mut shown = Vec::new();
    let mut typed = false;
    let mut chunk = [0u8; 4096];
    loop {
        use std::io::{Read, Write};
        let n = stdout.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&chunk[..n]);
        if !typed && String::from_utf8_lossy(&shown).contains("(user pushinst-fleet): ") {
            // rpassword turns echo off just after printing the prompt.
            std::thread::sleep(std::time::Duration::from_millis(300));
            writeln!(stdin, "{password}").unwrap();
            typed = true;
        }
    }
    let status = child.wait().unwrap();
    let shown = String::from_utf8_lossy(&shown).into_owned();
    assert!(status.success(), "{shown}");
    assert!(
        shown.contains("password for credential asker (user pushinst-fleet): "),
        "{shown}"
    );
    assert!(shown.contains("\"credential\":\"asker\""), "{shown}");
    assert!(!shown.contains(&password), "the password was echoed: {shown}");
}
