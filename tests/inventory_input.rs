//! Inventory input that must never crash and must be reported in one pass: huge lines,
//! empty files, several problems at once, a directory where a file belongs, and the
//! shipped example as a new user runs it.

use std::path::Path;
use std::process::Command;

#[path = "common/offline.rs"]
mod offline;
use offline::{pushinst, text};

/// Exit 2, no panic, and the report on stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = pushinst(dir, args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_line_of_100000_characters_is_a_located_error_shown_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(100_000);
    // A huge string under a misspelt key, and a huge garbage line.
    std::fs::write(
        dir.path().join("value.toml"),
        format!("[settings]\nconcurrency = 4\ndescription = \"{huge}\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("garbage.toml"), format!("[settings]\n{huge}\n")).unwrap();

    let err = refused(dir.path(), &["-i", "value.toml", "hosts", "--to", "web"]);
    assert!(err.contains("unknown key `description`"), "{err}");
    assert!(err.contains("value.toml:3:1"), "{err}");
    assert!(err.contains("more bytes)"), "the line is clipped: {err}");
    assert!(
        err.len() < 5_000,
        "the report is not flooded: {} bytes",
        err.len()
    );

    let err = refused(dir.path(), &["-i", "garbage.toml", "hosts", "--to", "web"]);
    assert!(err.contains("garbage.toml:2:100001"), "{err}");
    assert!(
        err.len() < 5_000,
        "the report is not flooded: {} bytes",
        err.len()
    );
}

#[test]
fn an_empty_inventory_is_named_with_what_a_minimal_one_needs() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty.toml", ""),
        ("blank.toml", "  \n\t\n"),
        ("comments.toml", "# nothing yet\n\n# still nothing\n"),
    ] {
        std::fs::write(dir.path().join(name), content).unwrap();
        let err = refused(dir.path(), &["-i", name, "hosts", "--to", "web"]);
        assert!(err.contains(&format!("{name} is empty")), "{err}");
        assert!(
            err.contains("[packages.NAME]") && err.contains("[groups.NAME]"),
            "{err}"
        );
    }
}

#[test]
fn every_problem_is_reported_in_one_run_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.sh"), "#!/bin/sh\n").unwrap();
    let inventory = r#"[settings]
concurency = 4
colour = "blue"

[credentials.deploy]
user = "deploy"
agent = true

[packages.agent]
linux = { file = "missing-install.sh" }

[packages.tool]
linux = { file = "ok.sh", confg = "tool.conf" }

[groups.web]
hosts = ["web-[01-03].example"]
os = "linx"
credentials = ["deplyo"]

[jobs.all]
package = "agnet"
targets = ["web"]
reboot = "alway"
"#;
    std::fs::write(dir.path().join("pushinst.toml"), inventory).unwrap();
    let err = refused(dir.path(), &["deploy", "agent", "--to", "web", "--dry-run"]);
    for expected in [
        "pushinst.toml:2:1",
        "unknown key `concurency`",
        "did you mean `concurrency`?",
        "pushinst.toml:3:1",
        "unknown key `colour`",
        "pushinst.toml:10:18",
        "installer `missing-install.sh` does not exist",
        "pushinst.toml:13:27",
        "unknown key `confg`",
        "did you mean `config`?",
        "pushinst.toml:17:6",
        "unknown os `linx`",
        "did you mean `linux`?",
        "pushinst.toml:18:16",
        "unknown credential `deplyo`",
        "did you mean `deploy`?",
        "pushinst.toml:21:11",
        "unknown package `agnet`",
        "did you mean `agent`?",
        "pushinst.toml:23:10",
        "unknown reboot policy `alway`",
        "did you mean `always`?",
        "has 8 problem(s); nothing was touched",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    // Top to bottom, as the file reads.
    let at = |s: &str| err.find(s).unwrap();
    assert!(at("concurency") < at("linx") && at("linx") < at("agnet"), "{err}");
}

#[test]
fn an_installer_path_that_is_a_directory_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("agent.conf"), "x\n").unwrap();
    let inventory = r#"[credentials.deploy]
user = "deploy"
agent = true

[packages.agent]
linux = { file = "dist", config = "agent.conf" }

[groups.web]
hosts = ["web-1.example"]
os = "linux"
credentials = ["deploy"]
"#;
    std::fs::write(dir.path().join("pushinst.toml"), inventory).unwrap();
    // Even `hosts`, which uploads nothing: such a path can never work.
    let err = refused(dir.path(), &["hosts", "--to", "web"]);
    assert!(err.contains("installer `dist` is a directory"), "{err}");
    assert!(err.contains("pushinst.toml:6:18"), "{err}");

    // The same for a config file.
    let inventory = inventory
        .replace("file = \"dist\"", "file = \"agent.conf\"")
        .replace("config = \"agent.conf\"", "config = \"dist\"");
    std::fs::write(dir.path().join("pushinst.toml"), inventory).unwrap();
    let err = refused(dir.path(), &["deploy", "agent", "--to", "web", "--dry-run"]);
    assert!(err.contains("config file `dist` is a directory"), "{err}");
}

#[test]
fn the_shipped_example_dry_runs_from_a_fresh_clone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A new user: an empty home, none of the example's variables set.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pushinst"))
        .current_dir(root)
        .env("HOME", home.path())
        .env_remove("PUSHINST_INVENTORY")
        .env_remove("DEPLOY_KEY_PASS")
        .env_remove("SSH_AUTH_SOCK")
        .args([
            "-i",
            "examples/inventory.toml",
            "deploy",
            "acme-agent",
            "--to",
            "web-servers",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.starts_with("plan: acme-agent 7.2.1 on 35 host(s)"), "{plan}");
    assert!(plan.contains("execute `acme-install.sh --unattended`"), "{plan}");
    assert!(!home.path().join(".local").exists(), "a dry run creates nothing");
}

const NESTED: &str = r#"[credentials.ops]
user = "ops"
agent = true

[groups.web]
hosts = ["web-[1-2]"]
os = "linux"
credentials = ["ops"]

[groups.db]
hosts = ["db-1", "web-2"]
os = "linux"
credentials = ["ops"]

[groups.site]
hosts = ["gw", "db", "web", "edge"]
os = "linux"
credentials = ["ops"]
"#;

#[test]
fn nested_groups_list_their_hosts_in_order_and_a_cycle_is_refused_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inv.toml"), NESTED).unwrap();
    let out = pushinst(dir.path(), &["-i", "inv.toml", "hosts", "--to", "site"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hosts: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(hosts, ["gw", "db-1", "web-2", "web-1", "edge"]);

    let cyclic = NESTED.replace(r#"hosts = ["web-[1-2]"]"#, r#"hosts = ["web-[1-2]", "site"]"#);
    std::fs::write(dir.path().join("cycle.toml"), cyclic).unwrap();
    let err = refused(dir.path(), &["-i", "cycle.toml", "hosts", "--to", "web-1"]);
    assert!(
        err.contains("group `site` includes itself: site → web → site"),
        "{err}"
    );
    assert!(err.contains("cycle.toml:6:23"), "{err}");
}

#[test]
fn ipv6_blocks_expand_in_canonical_form_and_keep_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let inv = format!(
        "{NESTED}\n[groups.v6]\nhosts = [\"FD00:0::/126\", \"[fd00:1::/127]:2222\"]\nos = \"linux\"\ncredentials = [\"ops\"]\n"
    );
    std::fs::write(dir.path().join("inv.toml"), &inv).unwrap();
    let out = pushinst(
        dir.path(),
        &["-i", "inv.toml", "hosts", "--to", "v6", "!fd00::2", "fd00::2/128"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let hosts: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        hosts,
        ["fd00::1", "fd00::3", "[fd00:1::]:2222", "[fd00:1::1]:2222"]
    );

    let err = refused(dir.path(), &["-i", "inv.toml", "hosts", "--to", "fd00::/111"]);
    assert!(
        err.contains("`fd00::/111` expands to more than 65536 hosts"),
        "{err}"
    );
    assert!(err.contains("IPv6 up to /112"), "{err}");

    std::fs::write(
        dir.path().join("big.toml"),
        inv.replace("FD00:0::/126", "fd00::/104"),
    )
    .unwrap();
    let err = refused(dir.path(), &["-i", "big.toml", "hosts", "--to", "v6"]);
    assert!(err.contains("big.toml:21:10"), "{err}");
    assert!(err.contains("expands to more than 65536 hosts"), "{err}");
}
