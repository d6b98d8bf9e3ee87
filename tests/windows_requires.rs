//! `requires`, variants and folders on Windows hosts (issue 15), against the
//! Windows host EMULATOR: the facts (PROCESSOR_ARCHITECTURE of the SYSTEM context,
//! the build from the registry, the free space from `fsutil`, a registry value, a
//! command's exit) are learned by pushinst's wrapper run as SYSTEM through a
//! service, and each emulated host answers what its ROOT/facts.json and
//! ROOT/registry.json say. An unmet requirement is a named skip: no attempt, the
//! installer never uploaded, nothing left in ADMIN$.

mod common;

use common::Fleet;
use common::emulator::Emulators;

fn inventory(win: &Emulators, package: &str) -> String {
    win.inventory("", package)
}

fn installer(fleet: &Fleet, name: &str) {
    fleet.write(
        name,
        &format!("#!/bin/sh\necho \"{name} ran with: $*\"\nexit 0\n"),
    );
}

/// What host `n` says about itself from now on (read at every run).
fn facts(win: &Emulators, n: usize, json: &str) {
    std::fs::write(win.root(n).join("facts.json"), json).unwrap();
}

fn registry(win: &Emulators, n: usize, json: &str) {
    std::fs::write(win.root(n).join("registry.json"), json).unwrap();
}

/// Every file host `n` was asked to create in its shares, as the emulator logged it.
fn created(win: &Emulators, n: usize) -> Vec<String> {
    win.calls(n)
        .into_iter()
        .filter(|c| c.starts_with("CREATE "))
        .collect()
}

/// A deploy of `agent` to every host, its outcome on host 1.
fn deploy(fleet: &Fleet, win: &Emulators) -> (common::Run, serde_json::Value) {
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    let outcome = run.outcome(&win.endpoints[0]);
    (run, outcome)
}

/// Host 1 skipped for `reason`, the installer never sent nor run, nothing left.
fn skipped_untouched(win: &Emulators, run: &common::Run, outcome: &serde_json::Value, reason: &str) {
    assert_eq!(outcome["status"], "skipped", "{}", run.debug());
    assert_eq!(outcome["reason"], reason, "{}", run.debug());
    assert_eq!(outcome["counts_as_attempt"], false, "{outcome}");
    let created = created(win, 1);
    assert!(
        !created.iter().any(|c| c.contains("AcmeSetup.exe")),
        "the installer was uploaded: {created:?}"
    );
    assert!(
        !win.calls(1).iter().any(|c| c.starts_with("RUN AcmeSetup")),
        "the installer ran"
    );
    // The facts were asked of SYSTEM, through a service.
    assert!(
        win.calls(1).iter().any(|c| c.starts_with("RUN (echo [pushinst-")),
        "{:?}",
        win.calls(1)
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn each_windows_requirement_unmet_is_a_named_skip_and_met_they_let_the_installer_run() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    installer(&fleet, "AcmeSetup.exe");
    let key = r"HKLM\SOFTWARE\VMware, Inc.\VCM";
    let cases = [
        (
            r#"{ arch = ["x86_64"] }"#,
            r#"{"arch": "ARM64"}"#,
            "requires x86_64, host is aarch64".to_string(),
        ),
        (
            r#"{ os = { build = ">=20348" } }"#,
            r#"{"build": 17763, "ubr": 5329}"#,
            "requires Windows build >=20348, host is build 17763.5329".to_string(),
        ),
        (
            "{ free_mib = 500 }",
            r#"{"free_mib": 100}"#,
            r"requires 500 MiB free on %SystemDrive%\, 100 MiB free".to_string(),
        ),
        (
            &format!("{{ registry = {{ key = '{key}', value = \"IsLocked\", equals = 0 }} }}"),
            "{}",
            format!(r"requires registry {key}\IsLocked = 0, host has 0x1"),
        ),
        (
            r#"{ registry = { key = 'HKLM\SOFTWARE\Acme', value = "Ready" } }"#,
            "{}",
            r"requires registry HKLM\SOFTWARE\Acme\Ready, host has no such value".to_string(),
        ),
        (
            r#"{ command = "exit /b 3" }"#,
            "{}",
            "requirement `exit /b 3` not met (exit 3)".to_string(),
        ),
    ];
    registry(
        &win,
        1,
        &format!(
            r#"{{"{}": {{"IsLocked": {{"type": "REG_DWORD", "data": 1}}}}}}"#,
            key.replace('\\', "\\\\")
        ),
    );
    for (requires, told, reason) in &cases {
        facts(&win, 1, told);
        let package = format!("windows = {{ file = \"AcmeSetup.exe\" }}\nrequires = {requires}");
        fleet.write("pushinst.toml", &inventory(&win, &package));
        let (run, outcome) = deploy(&fleet, &win);
        skipped_untouched(&win, &run, &outcome, reason);
    }
    // No attempt was counted for any of them.
    let status = fleet.run(&["status", "--output", "json", "agent"]);
    let row: serde_json::Value = serde_json::from_str(status.stdout().lines().next().unwrap()).unwrap();
    assert_eq!(row["attempts"], 0, "{row}");

    // Every requirement met: the installer runs.
    facts(
        &win,
        1,
        r#"{"arch": "ARM64", "build": 22631, "ubr": 4460, "free_mib": 900}"#,
    );
    registry(
        &win,
        1,
        &format!(
            r#"{{"{}": {{"IsLocked": {{"type": "REG_DWORD", "data": 0}}}}, "HKLM\\SOFTWARE\\Acme": {{"Ready": "yes"}}}}"#,
            key.replace('\\', "\\\\")
        ),
    );
    let package = format!(
        "windows = {{ file = \"AcmeSetup.exe\" }}\nrequires = {{ arch = [\"aarch64\"], os = {{ build = \">=22000\" }}, \
         free_mib = 500, registry = {{ key = '{key}', value = \"IsLocked\", equals = 0 }}, command = \"exit /b 0\" }}"
    );
    fleet.write("pushinst.toml", &inventory(&win, &package));
    let (run, outcome) = deploy(&fleet, &win);
    assert_eq!(outcome["status"], "ok", "{}", run.debug());
    assert!(
        win.calls(1).iter().any(|c| c.starts_with("RUN AcmeSetup.exe")),
        "{:?}",
        win.calls(1)
    );
    // All facts in one wrapper run: one service for them, one for the installer.
    let services = win
        .calls(1)
        .iter()
        .filter(|c| c.starts_with("CreateServiceW"))
        .count();
    assert_eq!(services, cases.len() + 2, "{:?}", win.calls(1));
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn the_variant_is_chosen_by_the_hosts_arch_and_build_and_none_fitting_is_a_named_skip() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(2, "normal");
    installer(&fleet, "agent-arm.exe");
    installer(&fleet, "agent-x64.exe");
    facts(&win, 1, r#"{"arch": "AMD64", "build": 17763, "ubr": 5329}"#);
    facts(&win, 2, r#"{"arch": "ARM64", "build": 22631, "ubr": 4460}"#);
    // A package-level requirement too: the facts are asked twice in one directory.
    let package = r#"requires = { free_mib = 1 }

[[packages.agent.windows]]
arch = ["aarch64"]
file = "agent-arm.exe"

[[packages.agent.windows]]
arch = ["x86_64"]
os = { build = ">=17763" }
file = "agent-x64.exe"
"#;
    fleet.write("pushinst.toml", &inventory(&win, package));
    let plan = fleet.run(&["deploy", "agent", "--to", "branch", "--dry-run"]);
    assert_eq!(plan.code(), 0, "{}", plan.debug());
    assert!(
        plan.stdout()
            .contains("variant 2 `agent-x64.exe` for arch x86_64, Windows build >=17763"),
        "{}",
        plan.debug()
    );
    // `check` learns each host's facts and the variant it would get.
    let check = fleet.run(&["check", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(check.code(), 0, "{}", check.debug());
    let row = |host: &str| {
        check
            .events()
            .into_iter()
            .find(|r| r["host"] == host)
            .unwrap_or_else(|| panic!("{}", check.debug()))
    };
    let (x64, arm) = (row(&win.endpoints[0]), row(&win.endpoints[1]));
    assert_eq!(
        (&x64["arch"], &x64["os_release"], &x64["variant"]),
        (&"x86_64".into(), &"build 17763.5329".into(), &2.into()),
        "{x64}"
    );
    assert_eq!(
        (&arm["arch"], &arm["os_release"], &arm["variant"]),
        (&"aarch64".into(), &"build 22631.4460".into(), &1.into()),
        "{arm}"
    );
    assert!(x64["free_mib"].as_u64().is_some_and(|f| f > 0), "{x64}");
    for n in [1, 2] {
        assert!(win.leftovers(n).is_empty(), "check left {:?}", win.leftovers(n));
        assert!(!win.calls(n).iter().any(|c| c.starts_with("RUN agent-")));
    }

    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(win.installer_argv(1)[0].0, "agent-x64.exe");
    assert_eq!(win.installer_argv(2)[0].0, "agent-arm.exe");
    let chosen: Vec<(String, u64)> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "variant_chosen")
        .map(|e| {
            (
                e["data"]["host"].as_str().unwrap().to_string(),
                e["data"]["variant"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(chosen.contains(&(win.endpoints[0].clone(), 2)), "{chosen:?}");
    assert!(chosen.contains(&(win.endpoints[1].clone(), 1)), "{chosen:?}");

    // An x64 host older than the build the variant needs: no variant fits.
    facts(&win, 1, r#"{"arch": "AMD64", "build": 14393, "ubr": 7000}"#);
    let before = created(&win, 1).len();
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--force", "--output", "json"]);
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["status"], "skipped", "{}", run.debug());
    assert_eq!(
        outcome["reason"],
        "no variant of agent for x86_64 / build 14393.7000; nothing was uploaded",
        "{}",
        run.debug()
    );
    let since: Vec<String> = created(&win, 1).into_iter().skip(before).collect();
    assert!(
        !since.iter().any(|c| c.contains("agent-")),
        "an installer was uploaded: {since:?}"
    );
    assert_eq!(win.installer_argv(1).len(), 1, "it did not run again");
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn a_windows_folder_is_uploaded_whole_with_its_subdirectories_and_its_entry_run() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    let folder = fleet.path("agent-folder");
    std::fs::create_dir_all(folder.join("bin")).unwrap();
    std::fs::create_dir_all(folder.join("lib/conf")).unwrap();
    std::fs::write(
        folder.join("bin/setup.exe"),
        "#!/bin/sh\necho \"setup found: $(cat lib/conf/agent.ini)\"\ntest -f lib/agent.dll\n",
    )
    .unwrap();
    std::fs::write(folder.join("lib/conf/agent.ini"), "forty-two\n").unwrap();
    std::fs::write(folder.join("lib/agent.dll"), "MZ").unwrap();
    fleet.write(
        "pushinst.toml",
        &inventory(
            &win,
            "windows = { file = \"agent-folder\", entry = \"bin/setup.exe\", args = [\"/quiet\"] }",
        ),
    );
    let plan = fleet.run(&["deploy", "agent", "--to", "branch", "--dry-run"]);
    assert!(
        plan.stdout().contains("upload folder agent-folder"),
        "{}",
        plan.debug()
    );
    let (run, outcome) = deploy(&fleet, &win);
    assert_eq!(outcome["status"], "ok", "{}", run.debug());
    assert!(
        fleet.all_logs().contains("setup found: forty-two"),
        "{}",
        fleet.all_logs()
    );
    // The entry ran by its Windows path, as cmd needs it.
    assert_eq!(
        win.installer_argv(1),
        [(r"bin\setup.exe".to_string(), vec!["/quiet".to_string()])]
    );
    // Each subdirectory was created in the staging directory, then all removed.
    let created = created(&win, 1);
    for dir in [r"\bin", r"\lib", r"\lib\\conf"] {
        assert!(
            created.iter().any(|c| c.contains(&format!("{dir}\""))),
            "{dir}: {created:?}"
        );
    }
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn keys_of_the_other_system_are_located_load_errors_with_a_hint() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    installer(&fleet, "AcmeSetup.exe");
    for (requires, message, hint) in [
        (
            r#"{ os = { id = ["debian"], version_id = ">=12" } }"#,
            "`id` and `version_id` are for Linux hosts",
            "os = { build",
        ),
        (
            r#"{ free_mib = 10, path = "/opt" }"#,
            "`/opt` is not an absolute path",
            r"path = 'D:\'",
        ),
    ] {
        let package = format!("windows = {{ file = \"AcmeSetup.exe\" }}\nrequires = {requires}");
        let text = inventory(&win, &package);
        fleet.write("pushinst.toml", &text);
        let run = fleet.run(&["deploy", "agent", "--to", "branch", "--dry-run"]);
        assert_ne!(run.code(), 0, "{}", run.debug());
        let err = run.stderr();
        let line = text.lines().position(|l| l.starts_with("requires")).unwrap() + 1;
        assert!(err.contains(&format!("pushinst.toml:{line}:")), "{err}");
        assert!(err.contains(message), "{err}");
        assert!(err.contains(hint), "{err}");
    }
    assert!(win.calls(1).is_empty(), "a load error contacts no host");
}

#[test]
fn check_names_an_unmet_windows_requirement_and_a_task_run_deploy_learns_the_facts_too() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    installer(&fleet, "AcmeSetup.exe");
    facts(&win, 1, r#"{"build": 17763, "ubr": 5329}"#);
    let package = "windows = { file = \"AcmeSetup.exe\" }\nrequires = { os = { build = \">=20348\" }, command = \"exit /b 0\" }";
    fleet.write("pushinst.toml", &inventory(&win, package));
    // `check` asks before any package is prepared: a directory and service of its own.
    let check = fleet.run(&["check", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(check.code(), 1, "{}", check.debug());
    let row = check
        .events()
        .into_iter()
        .find(|r| r["host"] == win.endpoints[0].as_str())
        .unwrap_or_else(|| panic!("{}", check.debug()));
    assert_eq!(
        (&row["status"], &row["step"]),
        (&"blocked".into(), &"requires".into()),
        "{row}"
    );
    assert!(
        row["problem"]
            .as_str()
            .is_some_and(|p| p.contains("requires Windows build >=20348, host is build 17763.5329")),
        "{row}"
    );
    assert!(win.leftovers(1).is_empty(), "check left {:?}", win.leftovers(1));
    let calls = win.calls(1);
    let created = calls.iter().filter(|c| c.starts_with("CreateServiceW")).count();
    let deleted = calls.iter().filter(|c| c.starts_with("DeleteService")).count();
    assert_eq!(created, deleted, "every service deleted: {calls:?}");
    assert!(!calls.iter().any(|c| c.contains("AcmeSetup")), "{calls:?}");

    // Through a scheduled task instead of a service: the same facts, no service.
    facts(&win, 1, r#"{"build": 26100, "ubr": 1}"#);
    let before = win.calls(1).len();
    let run = fleet.run(&[
        "deploy", "agent", "--to", "branch", "--exec", "task", "--output", "json",
    ]);
    assert_eq!(run.outcome(&win.endpoints[0])["status"], "ok", "{}", run.debug());
    let calls: Vec<String> = win.calls(1).into_iter().skip(before).collect();
    let tasks = calls
        .iter()
        .filter(|c| c.starts_with("SchRpcRegisterTask"))
        .count();
    assert_eq!(tasks, 2, "one for the facts, one for the installer: {calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("CreateServiceW")),
        "{calls:?}"
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}
