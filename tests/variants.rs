//! Variants by architecture and OS release, and folder packages (issue 15), against
//! real sshd servers: the variant is chosen by the host's real `uname -m` and
//! `/etc/os-release` answers, a folder arrives whole and verified.
//!
//! A host that "is" aarch64: a second fleet whose sshd sets, through
//! `SSHD_FLEET_EXTRA`, `SetEnv PATH=<shim dir>:…` for every session, where `uname`
//! is a script that answers `-m` with aarch64 and passes everything else to the real
//! one. A `SetEnv` line is no `Match` block, so placed first it swallows nothing;
//! sshd takes the first `SetEnv`, so the fleet's own (with the fixture variables) is
//! replaced and the line names the fixture host itself. No fleet user or setup step
//! is added, and pushinst asks exactly as it would ask a real ARM machine.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Fleet;

/// A directory anyone may read holding a `uname` that says aarch64 for `-m`.
fn arm_shim() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pushinst-uname-shim-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let uname = dir.path().join("uname");
    std::fs::write(
        &uname,
        "#!/bin/sh\nif [ \"$1\" = -m ]; then echo aarch64; else exec /usr/bin/uname \"$@\"; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// One sshd whose sessions find the aarch64 `uname` first.
fn arm_fleet(shim: &Path, marks: &Path) -> Fleet {
    let extra = format!(
        "SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin PUSHINST_FIXTURE_HOST=armhost PUSHINST_FIXTURE_DIR={}",
        shim.display(),
        marks.display()
    );
    Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", extra.as_str())])
}

/// The real `uname -m` of this machine (the fleet's x86 host answers with it).
fn real_arch() -> String {
    let out = std::process::Command::new("uname").arg("-m").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An inventory: `package` (its `[[packages.agent.linux]]` tables), one group per
/// endpoint (`g0`, `g1`, …) logging in as the fleet user with sudo.
fn inventory(fleet: &Fleet, endpoints: &[String], package: &str) -> PathBuf {
    let mut groups = String::new();
    for (i, e) in endpoints.iter().enumerate() {
        groups.push_str(&format!(
            "\n[groups.g{i}]\nhosts = [\"{e}\"]\nos = \"linux\"\ncredentials = [\"fleet\"]\n"
        ));
    }
    let text = format!(
        "{}\n[packages.agent]\nversion = \"1.0\"\n\n{package}\n{groups}",
        fleet.inventory_head("")
    );
    fleet.write("pushinst.toml", &text)
}

/// An installer that appends `word` to `$PUSHINST_FIXTURE_DIR/ran-$PUSHINST_FIXTURE_HOST`.
fn marking_installer(fleet: &Fleet, name: &str, word: &str) {
    fleet.installer(
        name,
        &format!("echo {word} >> \"$PUSHINST_FIXTURE_DIR/ran-$PUSHINST_FIXTURE_HOST\"\necho ran {word}"),
    );
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_default()
}

/// The steps the run started on `host`, in order.
fn steps(run: &common::Run, host: &str) -> Vec<String> {
    run.events()
        .into_iter()
        .filter(|e| e["type"] == "step_started" && e["data"]["host"] == host)
        .map(|e| e["data"]["step"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn world_writable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pushinst-marks-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

#[test]
fn each_host_gets_the_variant_for_its_arch() {
    let shim = arm_shim();
    let arm_marks = world_writable_dir();
    let fleet = Fleet::start(1);
    let arm = arm_fleet(shim.path(), arm_marks.path());
    // One known_hosts for both fleets.
    let known = read(fleet.path("known_hosts")) + &read(arm.path("known_hosts"));
    fleet.write("known_hosts", &known);
    marking_installer(&fleet, "agent-x86.sh", "x86");
    marking_installer(&fleet, "agent-arm.sh", "arm");
    marking_installer(&fleet, "remove-x86.sh", "remove-x86");
    marking_installer(&fleet, "remove-arm.sh", "remove-arm");
    let endpoints = vec![fleet.endpoints[0].clone(), arm.endpoints[0].clone()];
    inventory(
        &fleet,
        &endpoints,
        &format!(
            r#"[[packages.agent.linux]]
arch = ["aarch64"]
file = "agent-arm.sh"
uninstall = {{ file = "remove-arm.sh" }}

[[packages.agent.linux]]
arch = ["{}"]
file = "agent-x86.sh"
uninstall = {{ file = "remove-x86.sh" }}
"#,
            real_arch()
        ),
    );
    // `check` finds the variant each host would get, installing nothing.
    let check = fleet.run(&["check", "agent", "--output", "json", "--to", "g0", "g1"]);
    assert_eq!(check.code(), 0, "{}", check.debug());
    let rows = check.events();
    let variant_of = |host: &str| {
        let row = rows
            .iter()
            .find(|r| r["host"] == host)
            .unwrap_or_else(|| panic!("{}", check.debug()));
        (
            row["variant"].as_u64(),
            row["variant_file"].as_str().map(str::to_string),
        )
    };
    assert_eq!(variant_of(&endpoints[0]), (Some(2), Some("agent-x86.sh".into())));
    assert_eq!(variant_of(&endpoints[1]), (Some(1), Some("agent-arm.sh".into())));
    assert!(
        !fleet.host_root(1).join("ran-host1").exists(),
        "check installs nothing"
    );

    let run = fleet.run(&["deploy", "agent", "--to", "g0,g1", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&endpoints[0])["status"], "ok", "{}", run.debug());
    assert_eq!(run.outcome(&endpoints[1])["status"], "ok", "{}", run.debug());
    // Which installer ran where, as the hosts themselves wrote it.
    assert_eq!(read(fleet.host_root(1).join("ran-host1")), "x86\n");
    assert_eq!(read(arm_marks.path().join("ran-armhost")), "arm\n");
    // The choice is an event of its own, naming the variant.
    let chosen: Vec<(String, u64, String)> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "variant_chosen")
        .map(|e| {
            (
                e["data"]["host"].as_str().unwrap().to_string(),
                e["data"]["variant"].as_u64().unwrap(),
                e["data"]["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        chosen.contains(&(endpoints[0].clone(), 2, "agent-x86.sh".into())),
        "{chosen:?}"
    );
    assert!(
        chosen.contains(&(endpoints[1].clone(), 1, "agent-arm.sh".into())),
        "{chosen:?}"
    );
    assert!(fleet.leftovers(&run.run_id()).is_empty());
    assert_eq!(run.finished().iter().filter(|f| f["variant"].is_u64()).count(), 2);
    assert!(
        fleet.all_logs().contains("variant:    1 (agent-arm.sh)"),
        "{}",
        fleet.all_logs()
    );

    // `remove` chooses the same way: each host runs its own variant's uninstall.
    let remove = fleet.run(&["remove", "agent", "--output", "json", "--to", "g0", "g1"]);
    assert_eq!(remove.code(), 0, "{}", remove.debug());
    assert_eq!(read(fleet.host_root(1).join("ran-host1")), "x86\nremove-x86\n");
    assert_eq!(read(arm_marks.path().join("ran-armhost")), "arm\nremove-arm\n");
}

#[test]
fn a_host_no_variant_fits_is_a_named_skip_and_nothing_is_uploaded() {
    let fleet = Fleet::start(1);
    marking_installer(&fleet, "agent-arm.sh", "arm");
    marking_installer(&fleet, "agent-old.sh", "old");
    inventory(
        &fleet,
        &fleet.endpoints,
        r#"[[packages.agent.linux]]
arch = ["aarch64"]
file = "agent-arm.sh"

[[packages.agent.linux]]
os = { id = ["no-such-distro"], version_id = ">=1" }
file = "agent-old.sh"
"#,
    );
    let host = &fleet.endpoints[0];
    let check = fleet.run(&["check", "agent", "--to", "g0"]);
    assert_eq!(check.code(), 1, "{}", check.debug());
    assert!(
        check
            .stdout()
            .contains(&format!("no variant of agent for {}", real_arch())),
        "{}",
        check.debug()
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--output", "json"]);
    let outcome = run.outcome(host);
    assert_eq!(outcome["status"], "skipped", "{}", run.debug());
    let reason = outcome["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains(&format!("no variant of agent for {}", real_arch())),
        "{reason}\n{}",
        run.debug()
    );
    // Not an attempt: nothing ran, no file went over, nothing is left.
    assert!(!fleet.host_root(1).join("ran-host1").exists());
    let steps = steps(&run, host);
    assert!(
        steps.contains(&"requires".to_string()),
        "the facts were asked: {steps:?}"
    );
    assert!(
        !steps
            .iter()
            .any(|s| s == "detect" || s == "upload" || s == "execute"),
        "no step after the choice: {steps:?}"
    );
    assert!(fleet.leftovers(&run.run_id()).is_empty());
    let status = fleet.run(&["status", "agent"]);
    assert!(!status.stdout().contains("failed"), "{}", status.debug());
}

#[test]
fn a_folder_arrives_whole_and_its_entry_reads_a_sibling() {
    let fleet = Fleet::start(1);
    let folder = fleet.path("agent-folder");
    std::fs::create_dir_all(folder.join("lib/data")).unwrap();
    std::fs::write(folder.join("lib/data/answer.txt"), "forty-two\n").unwrap();
    std::fs::write(
        folder.join("setup.sh"),
        "#!/bin/sh\ncat lib/data/answer.txt > \"$PUSHINST_FIXTURE_DIR/folder-$PUSHINST_FIXTURE_HOST\"\n",
    )
    .unwrap();
    inventory(
        &fleet,
        &fleet.endpoints,
        "[packages.agent.linux]\nfile = \"agent-folder\"\nentry = \"setup.sh\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--output", "json"]);
    assert_eq!(
        run.outcome(&fleet.endpoints[0])["status"],
        "ok",
        "{}",
        run.debug()
    );
    assert_eq!(read(fleet.host_root(1).join("folder-host1")), "forty-two\n");
    // The control for the no-variant test: an upload is a step of its own.
    assert_eq!(
        steps(&run, &fleet.endpoints[0])
            .iter()
            .filter(|s| *s == "upload")
            .count(),
        1
    );
    assert!(fleet.leftovers(&run.run_id()).is_empty());
    // A changed file in the folder is caught by the checksum like the installer.
    let plan = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert!(
        plan.stdout().contains("upload folder agent-folder"),
        "{}",
        plan.debug()
    );
}

#[test]
fn a_folder_too_large_or_without_its_entry_is_refused_at_load_with_its_place() {
    let fleet = Fleet::start(1);
    let big = fleet.path("big");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("setup.sh"), "#!/bin/sh\n").unwrap();
    // Sparse: over the limit without writing a gigabyte.
    let file = std::fs::File::create(big.join("blob")).unwrap();
    file.set_len(1024 * 1024 * 1024 + 1).unwrap();
    inventory(
        &fleet,
        &fleet.endpoints,
        "[packages.agent.linux]\nfile = \"big\"\nentry = \"setup.sh\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert_ne!(run.code(), 0);
    let err = run.stderr();
    assert!(err.contains("pushinst.toml:"), "{err}");
    assert!(err.contains("folder `big` cannot be uploaded"), "{err}");
    assert!(err.contains("1024 MiB"), "{err}");

    let small = fleet.path("small");
    std::fs::create_dir_all(&small).unwrap();
    std::fs::write(small.join("install.sh"), "#!/bin/sh\n").unwrap();
    inventory(
        &fleet,
        &fleet.endpoints,
        "[packages.agent.linux]\nfile = \"small\"\nentry = \"setup.sh\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert_ne!(run.code(), 0);
    let err = run.stderr();
    assert!(err.contains("`setup.sh` is not a file in the folder"), "{err}");
    assert!(err.contains("install.sh"), "the hint names what is there: {err}");
    let text = read(fleet.path("pushinst.toml"));
    let line = text.lines().position(|l| l.starts_with("entry =")).unwrap() + 1;
    assert!(
        err.contains(&format!("pushinst.toml:{line}:")),
        "line {line}: {err}"
    );

    inventory(
        &fleet,
        &fleet.endpoints,
        "[packages.agent.linux]\nfile = \"small\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("a folder needs `entry`"), "{}", run.debug());
}

#[test]
fn dry_run_shows_the_variants_in_the_order_they_are_tried() {
    let fleet = Fleet::start(1);
    marking_installer(&fleet, "agent-arm.sh", "arm");
    marking_installer(&fleet, "agent-any.sh", "any");
    inventory(
        &fleet,
        &fleet.endpoints,
        r#"[[packages.agent.linux]]
arch = ["arm64"]
os = { id = ["debian"], version_id = ">=12" }
file = "agent-arm.sh"

[[packages.agent.linux]]
file = "agent-any.sh"
"#,
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let out = run.stdout();
    let arm = out
        .find("variant 1 `agent-arm.sh` for arch arm64, debian >=12")
        .unwrap_or_else(|| panic!("{out}"));
    let any = out
        .find("variant 2 `agent-any.sh` for any host")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(arm < any, "{out}");
    let json = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run", "--output", "json"]);
    let planned = json
        .events()
        .into_iter()
        .find(|e| e["type"] == "planned")
        .unwrap_or_else(|| panic!("{}", json.debug()));
    let variants = planned["data"]["variants"].as_array().unwrap().clone();
    assert_eq!(variants.len(), 2, "{planned}");
    assert_eq!(variants[0]["when"][0], "arch arm64");

    // A variant after one that takes every host could never run: refused where written.
    inventory(
        &fleet,
        &fleet.endpoints,
        "[[packages.agent.linux]]\nfile = \"agent-any.sh\"\n\n[[packages.agent.linux]]\narch = [\"aarch64\"]\nfile = \"agent-arm.sh\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g0", "--dry-run"]);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("this variant is never chosen"),
        "{}",
        run.debug()
    );
}
