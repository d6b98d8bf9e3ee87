//! `pushinst remove` against real OpenSSH servers: detect first, the uninstaller run
//! as root through the same wrapper as an installer, detect again, and the history
//! that keeps `sync` from putting a removed package back unless asked.

mod common;

use common::Fleet;
use common::emulator::Emulators;

/// Validates a JUnit file against junit-10.xsd (tests/junit, as tests/junit_report.rs).
fn validate_junit(file: &std::path::Path) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/junit");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists() && dir.join("junit-10.xsd").exists(),
        "run tests/junit/setup.sh first (tests/run.sh does)"
    );
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg("import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])")
        .arg(dir.join("junit-10.xsd"))
        .arg(file)
        .output()
        .expect("run the validator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

const DETECT: &str = r#"detect = "test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"""#;

/// An uninstaller on the hosts themselves (the fleet shares this machine's files):
/// it records who ran it where with which arguments, then takes the marker away.
fn host_uninstaller(fleet: &Fleet) -> String {
    let log = fleet.path("uninstall.log");
    fleet
        .installer(
            "host-uninstall.sh",
            &format!(
                r#"echo "$(id -un) $PUSHINST_FIXTURE_HOST $*" >> {log}
rm -f "$PUSHINST_FIXTURE_DIR/opt/agent/installed"
exit 0"#,
                log = log.display()
            ),
        )
        .display()
        .to_string()
}

/// The fleet as one group, `package` as the `agent` package, and a sync job.
fn inventory(fleet: &Fleet, package: &str) -> String {
    let inventory = fleet.agent_inventory("", package, &fleet.hosts_list(), r#"["fleet"]"#);
    format!("{inventory}\n[jobs.protect]\npackage = \"agent\"\ntargets = [\"fleet\"]\n")
}

fn uninstall_runs(fleet: &Fleet) -> Vec<String> {
    std::fs::read_to_string(fleet.path("uninstall.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn installed(fleet: &Fleet, n: usize) -> bool {
    fleet.host_root(n).join("opt/agent/installed").exists()
}

/// `status --output json`: host → result.
fn status(fleet: &Fleet) -> Vec<(String, String)> {
    let run = fleet.run(&["status", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("status JSON"))
        .map(|r| {
            (
                r["host"].as_str().unwrap_or_default().to_string(),
                r["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn result_of(rows: &[(String, String)], host: &str) -> String {
    rows.iter()
        .find(|(h, _)| h == host)
        .unwrap_or_else(|| panic!("{host} not in status: {rows:?}"))
        .1
        .clone()
}

#[test]
fn a_removed_host_runs_the_uninstaller_as_root_shows_removed_and_sync_leaves_it_until_asked() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    let uninstaller = host_uninstaller(&fleet);
    let package = format!(
        "[packages.agent.linux]\nfile = \"install.sh\"\n{DETECT}\n\n\
         [packages.agent.linux.uninstall]\ncommand = \"{uninstaller}\"\nargs = [\"--purge\", \"it's gone\"]\n"
    );
    fleet.write("pushinst.toml", &inventory(&fleet, &package));
    let deploy = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(deploy.code(), 0, "{}", deploy.debug());
    assert!(installed(&fleet, 1) && installed(&fleet, 2));

    let host1 = fleet.endpoints[0].clone();
    let remove = fleet.run(&["remove", "agent", "--to", &host1, "--output", "json"]);
    assert_eq!(remove.code(), 0, "{}", remove.debug());
    let outcome = remove.outcome(&host1);
    assert_eq!(outcome["kind"], "removed", "{}", remove.debug());
    assert_eq!(outcome["exit_code"], 0);
    // Root through sudo, the arguments as written, on host1 alone.
    assert_eq!(uninstall_runs(&fleet), ["root host1 --purge it's gone"]);
    assert!(!installed(&fleet, 1) && installed(&fleet, 2));
    // The same wrapper as an install: nothing is left in the login's home.
    assert!(fleet.leftovers(&remove.run_id()).is_empty());

    let rows = status(&fleet);
    assert_eq!(result_of(&rows, &host1), "removed");
    assert_eq!(result_of(&rows, &fleet.endpoints[1]), "ok");

    // Removed on purpose: sync installs nothing and visits no host.
    let logins = fleet.all_logins();
    let sync = fleet.run(&["sync"]);
    assert_eq!(sync.code(), 0, "{}", sync.debug());
    assert!(
        sync.stdout()
            .contains("or removed on purpose (1; `sync --include-removed`"),
        "{}",
        sync.debug()
    );
    assert_eq!(fleet.all_logins(), logins);
    assert_eq!(fleet.timeline().len(), 2, "no reinstall");
    let dry = fleet.run(&["sync", "--dry-run"]);
    assert!(
        dry.stdout().contains("leave: removed on purpose"),
        "{}",
        dry.debug()
    );

    // Asked: host1 gets it again, host2 (installed) is still left alone.
    let again = fleet.run(&["sync", "--include-removed", "--output", "json"]);
    assert_eq!(again.code(), 0, "{}", again.debug());
    assert_eq!(again.outcome(&host1)["kind"], "installed");
    assert_eq!(again.finished().len(), 1, "{}", again.debug());
    assert!(installed(&fleet, 1));
    assert_eq!(result_of(&status(&fleet), &host1), "ok");

    // A deploy after a removal clears it: sync counts the host as installed again.
    let remove = fleet.run(&["remove", "agent", "--to", &host1]);
    assert_eq!(remove.code(), 0, "{}", remove.debug());
    // The run's header says it removes; a deploy's says what it puts on.
    let header = |run: &common::Run| run.stdout().lines().next().unwrap_or_default().to_string();
    let said = header(&remove);
    assert!(
        said.contains(": removing agent from 1 host(s), "),
        "{}",
        remove.debug()
    );
    let deploy = fleet.run(&["deploy", "agent", "--to", &host1]);
    assert_eq!(deploy.code(), 0, "{}", deploy.debug());
    assert!(
        header(&deploy).contains(": agent on 1 host(s), "),
        "{}",
        deploy.debug()
    );
    let installs = fleet.timeline().len();
    let sync = fleet.run(&["sync"]);
    assert!(sync.stdout().contains("nothing to do"), "{}", sync.debug());
    assert_eq!(fleet.timeline().len(), installs);
    assert_eq!(result_of(&status(&fleet), &host1), "ok");
}

#[test]
fn remove_where_detect_finds_nothing_is_a_skip_and_runs_nothing() {
    let fleet = Fleet::start(1);
    let uninstaller = host_uninstaller(&fleet);
    fleet.installer("install.sh", "exit 0");
    let package = format!(
        "linux = {{ file = \"install.sh\", {DETECT}, uninstall = {{ command = \"{uninstaller}\" }} }}"
    );
    fleet.write("pushinst.toml", &inventory(&fleet, &package));
    let run = fleet.run(&["remove", "agent", "--to", "fleet", "--output", "json"]);
    assert_eq!(run.code(), 0, "not there is what was asked: {}", run.debug());
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(outcome["kind"], "skipped", "{}", run.debug());
    assert_eq!(outcome["detail"]["reason"]["kind"], "not-installed");
    assert_eq!(outcome["installer_ran"], false);
    assert!(uninstall_runs(&fleet).is_empty(), "no attempt was made");

    let human = fleet.run(&["remove", "agent", "--to", "fleet"]);
    assert_eq!(human.code(), 0, "{}", human.debug());
    assert!(human.stdout().contains("1 not installed"), "{}", human.debug());
    assert!(uninstall_runs(&fleet).is_empty());
}

#[test]
fn a_failing_uninstaller_fails_with_its_exit_code_and_one_that_leaves_the_package_fails_verify() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("0", "");
    // Uploaded like an installer: host1's exits 3, host2's says 0 but removes
    // nothing, host3's works.
    fleet.installer(
        "uninstall.sh",
        r#"echo "uninstalling as $(id -un)"
case $PUSHINST_FIXTURE_HOST in
host1) echo "cannot stop the agent" >&2; exit 3 ;;
host2) exit 0 ;;
esac
rm -f "$PUSHINST_FIXTURE_DIR/opt/agent/installed""#,
    );
    let package = format!(
        "[packages.agent.linux]\nfile = \"install.sh\"\n{DETECT}\nuninstall = {{ file = \"uninstall.sh\" }}\n"
    );
    fleet.write("pushinst.toml", &inventory(&fleet, &package));
    let deploy = fleet.run(&["deploy", "agent", "--to", "fleet"]);
    assert_eq!(deploy.code(), 0, "{}", deploy.debug());

    let junit = fleet.path("remove.xml");
    let run = fleet.run(&[
        "remove",
        "agent",
        "--to",
        "fleet",
        "--output",
        "json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let failed = run.outcome(&fleet.endpoints[0]);
    assert_eq!(failed["kind"], "failed", "{}", run.debug());
    assert_eq!(failed["detail"]["reason"]["kind"], "uninstaller-exit-code");
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["step"], "execute");
    // Not an installer failure: the package's attempt limit is for installing.
    assert_eq!(failed["counts_as_attempt"], false);
    assert_eq!(failed["installer_ran"], true);
    let kept = run.outcome(&fleet.endpoints[1]);
    assert_eq!(
        kept["detail"]["reason"]["kind"],
        "still-installed",
        "{}",
        run.debug()
    );
    assert_eq!(kept["step"], "detect");
    assert_eq!(kept["exit_code"], 0);
    assert!(
        kept["reason"]
            .as_str()
            .unwrap()
            .contains("detect still finds the package"),
        "{kept}"
    );
    assert_eq!(run.outcome(&fleet.endpoints[2])["kind"], "removed");
    assert!(installed(&fleet, 1) && installed(&fleet, 2) && !installed(&fleet, 3));

    let rows = status(&fleet);
    assert_eq!(result_of(&rows, &fleet.endpoints[0]), "failed");
    assert_eq!(result_of(&rows, &fleet.endpoints[1]), "failed");
    assert_eq!(result_of(&rows, &fleet.endpoints[2]), "removed");
    let xml = std::fs::read_to_string(&junit).expect("junit file");
    assert!(xml.contains("failures=\"2\""), "{xml}");
    assert!(xml.contains("uninstaller exited with code 3"), "{xml}");
    validate_junit(&junit);

    // `retry` repeats installs: on a removal it would put the package back.
    let logins = fleet.all_logins();
    let retry = fleet.run(&["retry"]);
    assert_eq!(retry.code(), 2, "{}", retry.debug());
    assert!(
        retry.stderr().contains("was a `pushinst remove`"),
        "{}",
        retry.debug()
    );
    assert_eq!(fleet.all_logins(), logins, "retry touched no host");

    // A failed removal is not a removal: sync leaves the installed hosts alone and
    // puts the package back only where it was removed, when asked.
    let sync = fleet.run(&["sync", "--include-removed", "--output", "json"]);
    assert_eq!(sync.code(), 0, "{}", sync.debug());
    let reinstalled: Vec<String> = sync
        .finished()
        .iter()
        .map(|f| f["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reinstalled, [fleet.endpoints[2].clone()]);
}

#[test]
fn a_package_without_an_uninstall_is_refused_where_it_is_written_before_any_host_is_touched() {
    let fleet = Fleet::start(1);
    fleet.installer("install.sh", "exit 0");
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, &format!("linux = {{ file = \"install.sh\", {DETECT} }}")),
    );
    let text = std::fs::read_to_string(fleet.path("pushinst.toml")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("linux = "))
        .expect("the linux line")
        + 1;
    let run = fleet.run(&["remove", "agent", "--to", "fleet"]);
    assert_eq!(run.code(), 2, "{}", run.debug());
    let err = run.stderr();
    assert!(err.contains("package `agent` has no linux uninstall"), "{err}");
    assert!(err.contains(&format!("pushinst.toml:{line}:")), "{err}");
    assert!(err.contains("[packages.agent.linux.uninstall]"), "{err}");
    assert_eq!(fleet.all_logins(), [0], "no host was touched");
    assert!(!fleet.path(".local/state/pushinst/history.db").exists() || status(&fleet).is_empty());

    // Both programs at once is refused when the inventory is read, with its place.
    fleet.write(
        "pushinst.toml",
        &inventory(
            &fleet,
            "linux = { file = \"install.sh\", uninstall = { command = \"/bin/true\", file = \"install.sh\" } }",
        ),
    );
    let run = fleet.run(&["remove", "agent", "--to", "fleet"]);
    assert_eq!(run.code(), 2, "{}", run.debug());
    assert!(
        run.stderr().contains("either `command` or `file`, not both"),
        "{}",
        run.debug()
    );
    assert_eq!(fleet.all_logins(), [0]);
}

#[test]
fn dry_run_shows_the_uninstall_plan_and_touches_nothing() {
    let fleet = Fleet::start(1);
    fleet.installer("install.sh", "exit 0");
    let uninstaller = host_uninstaller(&fleet);
    let package = format!(
        "[packages.agent.linux]\nfile = \"install.sh\"\n{DETECT}\n\n\
         [packages.agent.linux.uninstall]\ncommand = \"{uninstaller}\"\nargs = [\"--purge\"]\n\
         success_codes = [0, 7]\ntimeout = \"2m\"\n"
    );
    fleet.write("pushinst.toml", &inventory(&fleet, &package));
    let run = fleet.run(&["remove", "agent", "--to", "fleet", "--dry-run"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let out = run.stdout();
    assert!(out.contains("plan: remove agent 1.0 on 1 host(s)"), "{out}");
    for step in [
        "detect `test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"` (not installed: skip)",
        "upload pushinst-uninstall.sh + verify sha256",
        &format!("uninstall `{uninstaller} --purge` via sudo (timeout 2m)"),
        "classify (ok: [0, 7])",
        "detect again (still installed: failed)",
    ] {
        assert!(out.contains(step), "{step:?} not in:\n{out}");
    }
    let json = fleet.run(&[
        "remove",
        "agent",
        "--to",
        "fleet",
        "--dry-run",
        "--output",
        "json",
    ]);
    assert_eq!(json.code(), 0, "{}", json.debug());
    let lines = json.events();
    assert_eq!(lines[0]["data"]["operation"], "remove");
    assert_eq!(lines[1]["data"]["decision"], "remove", "{}", json.stdout());
    assert_eq!(fleet.all_logins(), [0]);
    assert!(uninstall_runs(&fleet).is_empty());

    // Removing needs no installer on this machine: its absence is no problem here.
    std::fs::remove_file(fleet.path("install.sh")).unwrap();
    let run = fleet.run(&["remove", "agent", "--to", "fleet", "--dry-run"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
}

#[test]
fn a_windows_host_runs_the_uninstall_command_as_system_and_verifies_it_in_the_registry() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(3, "normal");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    // A program "on the host": the emulator runs the uploaded batch script's line
    // under /bin/sh. win1's works, win2's fails with 3, win3 never had the package.
    let uninstaller = fleet
        .installer(
            "win-uninstall.sh",
            r#"echo "uninstall $*" >> "$PUSHINST_EMULATOR_ROOT/uninstall.log"
case "$PUSHINST_EMULATOR_ROOT" in *win2) exit 3 ;; esac
echo '{}' > "$PUSHINST_EMULATOR_ROOT/registry.json""#,
        )
        .display()
        .to_string();
    for n in 1..=2 {
        std::fs::write(
            win.root(n).join("registry.json"),
            r#"{"HKLM\\Software\\Acme\\Agent": {"Version": "7.2.1"}}"#,
        )
        .unwrap();
    }
    let package = format!(
        r#"
[packages.agent.windows]
file = "AcmeSetup.exe"
detect = {{ registry = 'HKLM\Software\Acme\Agent', value = "Version" }}

[packages.agent.windows.uninstall]
command = "{uninstaller}"
args = ["/S", "REMOVE=ALL"]"#
    );
    fleet.write("pushinst.toml", &win.inventory("", &package));
    let run = fleet.run(&["remove", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let removed = run.outcome(&win.endpoints[0]);
    assert_eq!(removed["kind"], "removed", "{}", run.debug());
    assert_eq!(removed["exit_code"], 0);
    let failed = run.outcome(&win.endpoints[1]);
    assert_eq!(
        failed["detail"]["reason"]["kind"],
        "uninstaller-exit-code",
        "{}",
        run.debug()
    );
    assert_eq!(failed["exit_code"], 3);
    let absent = run.outcome(&win.endpoints[2]);
    assert_eq!(
        absent["detail"]["reason"]["kind"],
        "not-installed",
        "{}",
        run.debug()
    );
    let log = |n: usize| std::fs::read_to_string(win.root(n).join("uninstall.log")).unwrap_or_default();
    assert_eq!(log(1), "uninstall /S REMOVE=ALL\n");
    assert_eq!(log(2), "uninstall /S REMOVE=ALL\n");
    assert_eq!(log(3), "", "nothing runs where nothing is installed");
    for n in 1..=3 {
        assert!(
            win.leftovers(n).is_empty(),
            "host {n} left {:?}",
            win.leftovers(n)
        );
    }
    // As SYSTEM: through a temporary service, as an install is.
    let calls = win.calls(1);
    assert!(
        calls.iter().any(|c| c.starts_with("CreateServiceW"))
            && calls.iter().any(|c| c.starts_with("DeleteService")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("RUN ") && c.contains("pushinst-uninstall.cmd")),
        "{calls:?}"
    );
    let rows = status(&fleet);
    assert_eq!(result_of(&rows, &win.endpoints[0]), "removed");
    assert_eq!(result_of(&rows, &win.endpoints[1]), "failed");
}
