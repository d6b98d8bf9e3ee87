//! `requires` against real sshd hosts of this machine: each requirement is built
//! from this machine's own answers (`uname -m`, /etc/os-release, `df`), once to hold
//! and once not to. An unmet one is a named skip: the installer never runs, no
//! attempt is counted and nothing is left in the home.

mod common;

use common::Fleet;

fn inventory(fleet: &Fleet, requires: &str) -> String {
    let package = format!("linux = {{ file = \"install.sh\" }}\nrequires = {requires}");
    fleet.agent_inventory("", &package, &fleet.hosts_list(), r#"["fleet"]"#)
}

fn deploy(fleet: &Fleet, requires: &str) -> common::Run {
    fleet.write("pushinst.toml", &inventory(fleet, requires));
    fleet.run(&["deploy", "agent", "--to", "fleet", "--output", "json"])
}

fn machine_arch() -> String {
    let out = std::process::Command::new("uname").arg("-m").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ID and VERSION_ID of this machine, which the fleet hosts share.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("{key} in /etc/os-release"))
    };
    (field("ID"), field("VERSION_ID"))
}

/// The skip on host 1, checked to be no attempt and to leave nothing; its reason.
fn skipped_untouched(fleet: &Fleet, run: &common::Run) -> String {
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(outcome["status"], "skipped", "{}", run.debug());
    assert!(fleet.timeline().is_empty(), "the installer never ran");
    assert!(
        fleet.leftovers(&run.run_id()).is_empty(),
        "nothing left in the home"
    );
    let status = fleet.run(&["status", "--output", "json", "agent"]);
    let rows: Vec<serde_json::Value> = status
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).expect("status JSON"))
        .collect();
    assert_eq!(rows.len(), 1, "{}", status.debug());
    assert_eq!(rows[0]["attempts"], 0, "a skip is no attempt: {}", rows[0]);
    assert_eq!(rows[0]["result"], "skipped", "{}", rows[0]);
    assert_eq!(rows[0]["reason"], outcome["reason"], "{}", rows[0]);
    outcome["reason"].as_str().expect("a reason").to_string()
}

#[test]
fn an_architecture_the_host_is_not_is_a_skip_naming_both() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let arch = machine_arch();
    let other = if arch == "aarch64" { "x86_64" } else { "aarch64" };
    let run = deploy(&fleet, &format!("{{ arch = [\"{other}\"] }}"));
    assert_eq!(
        skipped_untouched(&fleet, &run),
        format!("requires {other}, host is {arch}")
    );
}

#[test]
fn the_os_release_is_compared_and_a_newer_one_required_is_a_skip() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let (id, version) = os_release();
    let run = deploy(
        &fleet,
        &format!("{{ os = {{ id = [\"{id}\"], version_id = \">{version}\" }} }}"),
    );
    assert_eq!(
        skipped_untouched(&fleet, &run),
        format!("requires {id} >{version}, host is {id} {version}")
    );
    let run = deploy(
        &fleet,
        &format!("{{ os = {{ id = [\"other\", \"{id}\"], version_id = \">={version}\" }} }}"),
    );
    assert_eq!(
        run.outcome(&fleet.endpoints[0])["status"],
        "ok",
        "{}",
        run.debug()
    );
    assert_eq!(fleet.timeline().len(), 1);
}

#[test]
fn more_free_space_than_the_host_has_is_a_skip_with_both_numbers() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let out = std::process::Command::new("df")
        .args(["-Pk", "/"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kib: u64 = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    let free_mib = free_kib / 1024;
    let wanted = free_mib * 2 + 1024;
    let run = deploy(&fleet, &format!("{{ free_mib = {wanted} }}"));
    let reason = skipped_untouched(&fleet, &run);
    let prefix = format!("requires {wanted} MiB free on /, ");
    let told: u64 = reason
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(" MiB free"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{reason}"));
    // Other tests write to the same disk meanwhile.
    assert!(told.abs_diff(free_mib) < 512, "{reason} vs {free_mib} MiB");
}

#[test]
fn a_failing_command_is_a_skip_and_once_it_holds_with_the_rest_the_package_installs() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    // In /tmp: the fleet user cannot look into the test's own directory.
    let lock = std::path::PathBuf::from(format!("/tmp/pushinst-requires-{}.lock", std::process::id()));
    std::fs::write(&lock, "").unwrap();
    let (id, version) = os_release();
    let all = format!(
        "{{ free_mib = 1, arch = [\"{arch}\"], os = {{ id = [\"{id}\"], version_id = \"={version}\" }}, \
         command = \"test ! -e {lock}\" }}",
        arch = machine_arch(),
        lock = lock.display()
    );
    let run = deploy(&fleet, &all);
    assert_eq!(
        skipped_untouched(&fleet, &run),
        format!("requirement `test ! -e {}` not met (exit 1)", lock.display())
    );
    std::fs::remove_file(&lock).unwrap();
    let run = deploy(&fleet, &all);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(
        run.outcome(&fleet.endpoints[0])["status"],
        "ok",
        "{}",
        run.debug()
    );
    assert_eq!(fleet.timeline().len(), 1, "installed once all requirements held");
    assert!(fleet.leftovers(&run.run_id()).is_empty());
}

#[test]
fn a_bad_requirement_is_refused_at_load_with_its_place_and_dry_run_lists_good_ones() {
    let fleet = Fleet::workspace();
    fleet.installer("install.sh", "exit 0");
    let text = |requires: &str| {
        format!(
            "[packages.agent]\nlinux = {{ file = \"install.sh\" }}\nrequires = {requires}\n\n\
             [credentials.c]\nuser = \"u\"\npassword = {{ env = \"PW\" }}\n\n\
             [groups.g]\nhosts = [\"10.0.0.1\"]\nos = \"linux\"\ncredentials = [\"c\"]\n"
        )
    };
    fleet.write(
        "pushinst.toml",
        &text(r#"{ os = { id = ["debian"], version_id = "=>12" } }"#),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "g", "--dry-run"]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("pushinst.toml:3:51"), "{}", run.debug());
    assert!(
        run.stderr().contains("cannot compare with `=>12`"),
        "{}",
        run.debug()
    );

    fleet.write(
        "pushinst.toml",
        &text(r#"{ arch = ["x86_64"], free_mib = 500, path = "/opt" }"#),
    );
    let run = fleet.run_with(&["deploy", "agent", "--to", "g", "--dry-run"], |cmd| {
        cmd.env("PW", "x");
    });
    assert!(
        run.stdout()
            .contains("requires 500 MiB free on /opt, arch x86_64"),
        "{}",
        run.debug()
    );
}

#[test]
fn check_names_an_unmet_requirement_as_the_blocking_problem_and_installs_nothing() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let arch = machine_arch();
    let other = if arch == "aarch64" { "x86_64" } else { "aarch64" };
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, &format!("{{ arch = [\"{other}\"] }}")),
    );
    let run = fleet.run(&["check", "agent", "--output", "json", "--to", "fleet"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let row: serde_json::Value =
        serde_json::from_str(run.stdout().lines().next().expect("one row")).expect("JSON");
    assert_eq!(row["status"], "blocked", "{row}");
    assert_eq!(row["step"], "requires", "{row}");
    assert_eq!(
        row["problem"],
        format!("requires {other}, host is {arch}"),
        "{row}"
    );
    assert!(fleet.timeline().is_empty());

    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, &format!("{{ arch = [\"{arch}\"] }}")),
    );
    let run = fleet.run(&["check", "agent", "--output", "json", "--to", "fleet"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
}
