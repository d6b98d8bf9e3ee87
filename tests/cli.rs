//! The command line without a fleet: inventory errors, target listing, dry runs and
//! the generated completions and man page.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "common/offline.rs"]
mod offline;
use offline::{pushinst, text};

/// A listener that counts connections: proof that nothing was touched.
fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for _ in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

fn good_inventory(port: u16) -> String {
    format!(
        r#"[settings]
concurrency = 4

[credentials.deploy]
user = "deploy"
password = {{ env = "DEPLOY_PW" }}
sudo = true

[credentials.backup]
user = "backup"
key = "id_ed25519"

[packages.agent]
version = "7.2.1"
linux = {{ file = "install.sh", args = ["--unattended"], detect = "test -x /opt/agent" }}
reboot_codes = [3010]

[groups.web]
hosts = ["web-[01-03].example", "127.0.0.1:{port}"]
os = "linux"
credentials = ["deploy", "backup"]

[groups.db]
hosts = ["10.0.0.0/30"]
os = "linux"
credentials = ["backup"]
"#
    )
}

#[test]
fn a_broken_inventory_exits_2_with_file_line_column_and_hint_touching_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, connections) = counting_listener();
    std::fs::write(dir.path().join("install.sh"), "#!/bin/sh\n").unwrap();
    let broken = good_inventory(port)
        .replace("concurrency = 4", "concurency = 4")
        .replace(
            "credentials = [\"deploy\", \"backup\"]",
            "credentials = [\"deploy\", \"bakup\"]",
        );
    std::fs::write(dir.path().join("pushinst.toml"), broken).unwrap();
    let out = pushinst(dir.path(), &["deploy", "agent", "--to", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    // Parse errors stop at the first; this one is the misspelt key on line 2.
    assert!(err.contains("pushinst.toml:2:1"), "{err}");
    assert!(
        err.contains("concurency = 4"),
        "the offending line is shown: {err}"
    );
    assert!(err.contains("did you mean `concurrency`?"), "{err}");
    assert!(err.contains("nothing was touched"), "{err}");

    // Fix the key: now the unknown credential is reported where it is written.
    let broken = good_inventory(port).replace("\"deploy\", \"backup\"]", "\"deploy\", \"bakup\"]");
    std::fs::write(dir.path().join("pushinst.toml"), broken).unwrap();
    let out = pushinst(dir.path(), &["deploy", "agent", "--to", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown credential `bakup`"), "{err}");
    assert!(err.contains("pushinst.toml:21:"), "{err}");
    assert!(err.contains("did you mean `backup`?"), "{err}");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no host was contacted");
}

#[test]
fn bad_targets_and_packages_exit_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("install.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(dir.path().join("pushinst.toml"), good_inventory(1)).unwrap();
    let out = pushinst(dir.path(), &["deploy", "agent", "--to", "webb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean the group `web`?"),
        "{}",
        text(&out.stderr)
    );
    let out = pushinst(dir.path(), &["deploy", "agnet", "--to", "web"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("packages in the inventory: agent"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(dir.path().join("install.sh")).unwrap();
    let out = pushinst(dir.path(), &["deploy", "agent", "--to", "web", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read installer"),
        "{}",
        text(&out.stderr)
    );
    let out = pushinst(dir.path(), &["deploy", "agent"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses a missing --to");
}

#[test]
fn a_missing_inventory_names_the_ways_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = pushinst(dir.path(), &["hosts", "--to", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot read inventory pushinst.toml") && err.contains("PUSHINST_INVENTORY"),
        "{err}"
    );
}

#[test]
fn hosts_lists_resolved_targets_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.toml"), good_inventory(2222)).unwrap();
    let out = pushinst(
        dir.path(),
        &[
            "-i",
            "inv.toml",
            "hosts",
            "--to",
            "db",
            "web",
            "web-02.example",
            "!web-03.example",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hosts: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(
        hosts,
        [
            "10.0.0.1",
            "10.0.0.2",
            "web-01.example",
            "web-02.example",
            "127.0.0.1:2222"
        ]
    );
}

#[test]
fn dry_run_prints_the_plan_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, connections) = counting_listener();
    std::fs::write(dir.path().join("install.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(dir.path().join("pushinst.toml"), good_inventory(port)).unwrap();
    let dry = |setup: &dyn Fn(&mut Command)| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushinst"));
        cmd.current_dir(dir.path())
            .env("HOME", dir.path())
            .env_remove("PUSHINST_INVENTORY")
            .env_remove("DEPLOY_PW")
            .args(["deploy", "agent", "--to", "web", "--dry-run"]);
        setup(&mut cmd);
        cmd.output().expect("run pushinst")
    };
    // What can be checked here is: the variable, the key file and known_hosts.
    let out = dry(&|_| {});
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    for expected in [
        "3 problem(s) found on this machine",
        "environment variable `DEPLOY_PW` is not set",
        "key file id_ed25519 does not exist",
        "known_hosts does not exist",
    ] {
        assert!(err.contains(expected), "{expected:?}: {err}");
    }
    let key = dir.path().join("id_ed25519");
    std::fs::write(&key, "not really a key").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = dry(&|c| {
        c.env("DEPLOY_PW", "secret-pw-1234");
    });
    let err = text(&out.stderr);
    assert!(err.contains("chmod 600"), "a key others can read is named: {err}");
    assert!(!err.contains("secret-pw-1234") && !text(&out.stdout).contains("secret-pw-1234"));
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(dir.path().join(".ssh")).unwrap();
    std::fs::write(dir.path().join(".ssh/known_hosts"), "").unwrap();
    let out = dry(&|c| {
        c.env("DEPLOY_PW", "secret-pw-1234");
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.starts_with("plan: agent 7.2.1 on 4 host(s), 4 at a time"),
        "{plan}"
    );
    assert!(
        plan.contains("deploy (deploy: password from env DEPLOY_PW, sudo), then backup"),
        "{plan}"
    );
    // One table row per host and package, after the head line, a blank and the header.
    let rows: Vec<&str> = plan.lines().skip(3).collect();
    assert_eq!(rows.len(), 4, "{plan}");
    assert!(rows.iter().all(|r| r.contains("agent 7.2.1  install")), "{plan}");
    assert!(plan.contains("detect `test -x /opt/agent` → upload + verify sha256 → execute `install.sh --unattended` via sudo (timeout 30m)"), "{plan}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    assert!(
        !dir.path().join(".local").exists(),
        "no log directory was created"
    );
}

#[test]
fn each_command_offers_only_the_flags_that_act_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let help = |command: &str| text(&pushinst(dir.path(), &[command, "--help"]).stdout);
    let offers = |command: &str, flag: &str| {
        help(command)
            .lines()
            .any(|l| l.trim_start().split([' ', ',']).any(|word| word == flag))
    };
    for (command, present, absent) in [
        (
            "deploy",
            &[
                "--force",
                "--exec-timeout",
                "--dry-run",
                "-q",
                "--output",
                "--state",
                "--junit",
                "--canary",
                "--batch",
                "--max-failures",
            ][..],
            &["--include-removed"][..],
        ),
        (
            "remove",
            &[
                "--force",
                "--exec-timeout",
                "--dry-run",
                "-j",
                "-q",
                "--output",
                "--state",
                "--junit",
                "--canary",
                "--batch",
                "--max-failures",
            ],
            &["--save-as", "--include-removed"],
        ),
        (
            "sync",
            &["--include-removed", "--dry-run", "--canary", "--junit"],
            &["--save-as"],
        ),
        (
            "cleanup",
            &["-j", "-q", "--output", "--state", "--connect-timeout", "--junit"],
            &[
                "--force",
                "--exec-timeout",
                "--dry-run",
                "--exec",
                "--canary",
                "--batch",
            ],
        ),
        (
            "status",
            &["--output", "--state"],
            &["-q", "--force", "-j", "--junit"],
        ),
        ("logs", &["--state"], &["-q", "--output", "-j", "--junit"]),
        ("reset", &["-q", "--state"], &["--output", "-j", "--junit"]),
        ("hosts", &["-q", "--output"], &["--state", "-j", "--junit"]),
        (
            "check",
            &[
                "-j",
                "-q",
                "--output",
                "--state",
                "--connect-timeout",
                "--host-timeout",
            ],
            &[
                "--force",
                "--exec-timeout",
                "--dry-run",
                "--junit",
                "--canary",
                "--batch",
                "--max-failures",
            ],
        ),
    ] {
        for flag in present {
            assert!(
                offers(command, flag),
                "`{command}` lacks {flag}:\n{}",
                help(command)
            );
        }
        for flag in absent {
            assert!(
                !offers(command, flag),
                "`{command}` offers {flag}, which does nothing there"
            );
        }
    }
}

#[test]
fn completions_and_man_page_are_up_to_date() {
    let out = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (what, committed) in [("completions", "completions"), ("man", "man")] {
        let status = Command::new(env!("CARGO_BIN_EXE_pushinst"))
            .args(["generate", what, "--out-dir"])
            .arg(out.path().join(what))
            .status()
            .unwrap();
        assert!(status.success());
        for entry in std::fs::read_dir(out.path().join(what)).unwrap() {
            let entry = entry.unwrap();
            let fresh = std::fs::read_to_string(entry.path()).unwrap();
            let path = root.join(committed).join(entry.file_name());
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                fresh == old,
                "{} is stale: run `cargo run -- generate {what} --out-dir {committed}`",
                path.display()
            );
        }
    }
}

#[test]
fn a_refused_inline_password_is_not_echoed_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = good_inventory(1).replace("{ env = \"DEPLOY_PW\" }", "\"inline-secret-4242\"");
    std::fs::write(dir.path().join("pushinst.toml"), inventory).unwrap();
    let out = pushinst(dir.path(), &["hosts", "--to", "web"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("plain-text secret refused") && err.contains("pushinst.toml:6:12"),
        "{err}"
    );
    assert!(!err.contains("inline-secret-4242"), "{err}");
}

#[test]
fn the_readme_inventory_is_the_example_file_and_it_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/inventory.toml")).unwrap();
    let block = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in the README");
    assert_eq!(block, example, "README.md and examples/inventory.toml differ");
    let out = pushinst(
        root,
        &[
            "-i",
            "examples/inventory.toml",
            "hosts",
            "--to",
            "web-servers",
            "branch-office",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 20 + 14 + 1 + 120, "{listed}");
    assert!(
        listed.contains("web-07.corp.example:2200\tlinux\tvia 192.0.2.17\tops-agent"),
        "{listed}"
    );
}

#[test]
fn many_processes_opening_a_new_history_at_once_all_get_in() {
    // Cron jobs and scripts start pushinst side by side; the first ones to open a new
    // history race to set it up (WAL, the schema). The losers wait, never fail.
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/history.db");
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_pushinst"))
                    .current_dir(dir.path())
                    .env("HOME", dir.path())
                    .env_remove("PUSHINST_INVENTORY")
                    .args(["status", "--state"])
                    .arg(&state)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn pushinst")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out.stderr));
        }
    }
}

fn listed(out: &std::process::Output) -> Vec<String> {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn to_at_file_reads_one_target_a_line_with_comments_and_exclusions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.toml"), good_inventory(2222)).unwrap();
    std::fs::write(
        dir.path().join("targets.txt"),
        "# tonight's batch\n\nweb   # the web tier\n  !web-02.example\n",
    )
    .unwrap();
    let out = pushinst(
        dir.path(),
        &[
            "-i",
            "inv.toml",
            "hosts",
            "--to",
            "10.0.0.2",
            "@targets.txt",
            "!127.0.0.1",
        ],
    );
    assert_eq!(listed(&out), ["10.0.0.2", "web-01.example", "web-03.example"]);
}

#[test]
fn to_dash_reads_the_targets_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.toml"), good_inventory(2222)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushinst"))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("PUSHINST_INVENTORY")
        .args(["-i", "inv.toml", "hosts", "--to", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"db\n# not this one\n!10.0.0.1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(listed(&out), ["10.0.0.2"]);
}

#[test]
fn a_bad_target_line_is_located_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (port, connections) = counting_listener();
    std::fs::write(dir.path().join("inv.toml"), good_inventory(port)).unwrap();
    std::fs::write(dir.path().join("install.sh"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        dir.path().join("targets.txt"),
        format!("127.0.0.1:{port}\n# fine so far\n   web-[03-01].example\n"),
    )
    .unwrap();
    let out = pushinst(
        dir.path(),
        &["-i", "inv.toml", "deploy", "agent", "--to", "@targets.txt"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("targets.txt:3:4"), "{err}");
    assert!(err.contains("web-[03-01].example"), "{err}");
    assert!(err.contains("write the smaller number first"), "{err}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // A name only the inventory can refuse is still shown at its line.
    std::fs::write(dir.path().join("typo.txt"), "db\n  !webb  # typo\n").unwrap();
    let out = pushinst(dir.path(), &["-i", "inv.toml", "hosts", "--to", "@typo.txt"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("typo.txt:2:3"), "{err}");
    assert!(err.contains("unknown target `webb`"), "{err}");
    assert!(err.contains("did you mean the group `web`?"), "{err}");

    let out = pushinst(dir.path(), &["-i", "inv.toml", "hosts", "--to", "@missing.txt"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read target list missing.txt"), "{err}");
}

#[test]
fn an_oversized_target_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.toml"), good_inventory(2222)).unwrap();
    std::fs::write(dir.path().join("big.txt"), "web\n".repeat(300_000)).unwrap();
    std::fs::write(dir.path().join("long.txt"), "\n".repeat(100_001)).unwrap();
    let out = pushinst(dir.path(), &["-i", "inv.toml", "hosts", "--to", "@big.txt"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("big.txt is larger than 1048576 bytes"), "{err}");
    let out = pushinst(dir.path(), &["-i", "inv.toml", "hosts", "--to", "@long.txt"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("long.txt has more than 100000 lines"), "{err}");
}

#[test]
fn the_dry_run_shows_each_windows_host_its_start_timeout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("setup.exe"), "MZ").unwrap();
    let inventory = r#"[credentials.admin]
user = 'CORP\deploy'
password = { env = "ADMIN_PW" }

[packages.agent]
windows = { file = "setup.exe" }

[groups.pcs]
hosts = ["pc-1", "pc-2"]
os = "windows"
credentials = ["admin"]
start_timeout = "2m"

[[hosts]]
name = "pc-2"
start_timeout = "15s"
"#;
    std::fs::write(dir.path().join("pushinst.toml"), inventory).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pushinst"))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("ADMIN_PW", "x")
        .args(["deploy", "agent", "--to", "pcs", "--dry-run", "--output", "json"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let timeouts: Vec<u64> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "planned")
        .filter_map(|v| v["data"]["start_timeout_ms"].as_u64())
        .collect();
    assert_eq!(timeouts, [120_000, 15_000], "{stdout}");
}
