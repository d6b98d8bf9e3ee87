//! Full Windows deploys against the Windows host EMULATOR (see tests/common/
//! emulator.rs): SMB2 upload into ADMIN$, MS-SCMR over \PIPE\svcctl, the wrapper
//! run as a local process, the exit code polled, everything removed. These prove
//! pushinst's wire protocol and flow, not Windows itself.

mod common;

use common::Fleet;
use common::emulator::Emulators;

/// An installer for the emulated hosts: it records its arguments, then exits with
/// `$EXIT_<hostname-less>`: the code is written where the emulator reads codes
/// above 255 from.
fn installer(fleet: &Fleet, body: &str) {
    fleet.write(
        "AcmeSetup.exe",
        &format!("#!/bin/sh\necho \"setup ran with: $*\"\n{body}\n"),
    );
}

fn inventory(win: &Emulators, settings: &str, package_extra: &str) -> String {
    let package = format!(
        r#"windows = {{ file = "AcmeSetup.exe", args = ["/quiet", "INSTALLDIR=C:\\Program Files\\Acme"]{package_extra} }}
success_codes = [0, 3010]
reboot_codes = [3010]"#
    );
    win.inventory(settings, &package)
}

#[test]
fn installs_report_ok_failed_and_reboot_required_and_leave_nothing_behind() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(3, "normal");
    // It also unpacks into its directory, as real installers do: cleanup removes that too.
    installer(
        &fleet,
        r#"mkdir -p unpacked/deeper && echo x > unpacked/deeper/file && echo y > unpacked/top
case "$PWD" in *win2*) echo 3 > "$PUSHINST_EXIT_FILE";; *win3*) echo 3010 > "$PUSHINST_EXIT_FILE";; esac"#,
    );
    fleet.write("pushinst.toml", &inventory(&win, "", ""));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "-j", "2", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let ok = run.outcome(&win.endpoints[0]);
    assert_eq!(
        (ok["status"].as_str(), ok["exit_code"].as_i64()),
        (Some("ok"), Some(0)),
        "{}",
        run.debug()
    );
    let failed = run.outcome(&win.endpoints[1]);
    assert_eq!(failed["exit_code"], 3);
    assert_eq!(failed["counts_as_attempt"], true);
    let reboot = run.outcome(&win.endpoints[2]);
    assert_eq!(reboot["exit_code"], 3010, "{}", run.debug());
    assert_eq!(reboot["reboot_required"], true, "{}", run.debug());
    let logs = fleet.all_logs();
    assert!(
        logs.contains(r#"setup ran with: /quiet INSTALLDIR=C:\Program Files\Acme"#),
        "{logs}"
    );
    for n in 1..=3 {
        assert!(
            win.leftovers(n).is_empty(),
            "host {n} left {:?}",
            win.leftovers(n)
        );
        let calls = win.calls(n);
        let created: Vec<&String> = calls.iter().filter(|c| c.starts_with("CreateServiceW")).collect();
        let deleted: Vec<&String> = calls.iter().filter(|c| c.starts_with("DeleteService")).collect();
        assert_eq!((created.len(), deleted.len()), (1, 1), "{calls:?}");
        assert!(
            created[0].contains("start=3 type=0x10"),
            "own process, demand start: {calls:?}"
        );
        assert!(!calls.iter().any(|c| c.contains("ERROR")), "{calls:?}");
        // One connection, each share connected once for the whole flow.
        let log = std::fs::read_to_string(win.root(n).join("emulator.log")).unwrap_or_default();
        for share in ["ADMIN$", "IPC$"] {
            let connects = log
                .lines()
                .filter(|l| l.contains("smb2TreeConnect") && l.ends_with(share))
                .count();
            assert_eq!(connects, 1, "{share} on host {n}:\n{log}");
        }
        let logons = log.lines().filter(|l| l.contains("AUTHENTICATE_MESSAGE")).count();
        assert_eq!(logons, 1, "one logon per host:\n{log}");
    }
}

#[test]
fn an_installer_that_outlives_its_timeout_and_a_silent_host_fail_with_the_reason() {
    let fleet = Fleet::workspace();
    let slow = Emulators::start(1, "normal");
    let silent = Emulators::start(1, "silent");
    installer(&fleet, "sleep 20");
    let mut text = inventory(&slow, "", r#", timeout = "2s""#);
    text = text.replace(
        &format!("hosts = [\"{}\"]", slow.endpoints[0]),
        &format!("hosts = [\"{}\", \"{}\"]", slow.endpoints[0], silent.endpoints[0]),
    );
    text += &format!(
        "\n[credentials.silent-admin]\nuser = 'Administrator'\npassword = {{ file = \"{}\" }}\n\n[[hosts]]\nname = \"{}\"\ncredentials = [\"silent-admin\"]\n",
        silent.password_file().display(),
        silent.endpoints[0]
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(run.elapsed.as_secs() < 15, "took {:?}", run.elapsed);
    for host in [&slow.endpoints[0], &silent.endpoints[0]] {
        let outcome = run.outcome(host);
        assert_eq!(outcome["step"], "execute", "{}", run.debug());
        assert!(
            outcome["reason"]
                .as_str()
                .unwrap()
                .contains("no exit code after 2s")
                && outcome["reason"].as_str().unwrap().contains("antivirus"),
            "{outcome}"
        );
    }
    assert!(silent.leftovers(1).is_empty(), "{:?}", silent.leftovers(1));
    assert!(silent.calls(1).iter().any(|c| c.starts_with("DeleteService")));
}

#[test]
fn scm_access_denied_and_a_taken_service_name_are_explained_and_nothing_is_left() {
    let fleet = Fleet::workspace();
    let denied = Emulators::start(1, "deny-scm");
    installer(&fleet, "exit 0");
    fleet.write("pushinst.toml", &inventory(&denied, "", ""));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    let reason = run.outcome(&denied.endpoints[0])["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("access denied to the Service Control Manager")
            && reason.contains("LocalAccountTokenFilterPolicy"),
        "{reason}"
    );
    assert!(denied.leftovers(1).is_empty());

    let taken = Emulators::start(1, "service-exists");
    fleet.write("pushinst.toml", &inventory(&taken, "", ""));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    let reason = run.outcome(&taken.endpoints[0])["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("already exists") && reason.contains("never touches"),
        "{reason}"
    );
    assert!(taken.leftovers(1).is_empty());
    let calls = taken.calls(1);
    assert!(!calls.iter().any(|c| c.starts_with("DeleteService")), "{calls:?}");
}

#[test]
fn detect_through_the_registry_skips_an_installed_host() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(2, "normal");
    installer(&fleet, "exit 0");
    std::fs::write(
        win.root(1).join("registry.json"),
        r#"{"HKLM\\Software\\Acme\\Agent": {"Version": "7.2.1"}}"#,
    )
    .unwrap();
    let detect = r#", detect = 'reg query "HKLM\Software\Acme\Agent" /v Version'"#;
    fleet.write("pushinst.toml", &inventory(&win, "", detect));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&win.endpoints[0])["status"], "already-installed");
    assert_eq!(run.outcome(&win.endpoints[1])["status"], "ok");
    assert!(
        !win.calls(1).iter().any(|c| c.starts_with("RUN AcmeSetup")),
        "{:?}",
        win.calls(1)
    );
    assert!(
        win.calls(2).iter().any(|c| c.starts_with("RUN AcmeSetup")),
        "{:?}",
        win.calls(2)
    );
    for n in 1..=2 {
        assert!(win.leftovers(n).is_empty(), "{:?}", win.leftovers(n));
    }
}

#[test]
fn a_mixed_group_of_emulated_windows_and_sshd_hosts_installs_everywhere() {
    let fleet = Fleet::start(3);
    let win = Emulators::start(3, "normal");
    installer(&fleet, "exit 0");
    fleet.recording_installer("0.3", "");
    let mut all: Vec<String> = win.endpoints.clone();
    all.extend(fleet.endpoints.iter().cloned());
    let quoted: Vec<String> = all.iter().map(|h| format!("\"{h}\"")).collect();
    let win_hosts = format!("[{}]", quoted[..3].join(", "));
    let text = format!(
        "{head}\n[credentials.admin]\nuser = '.\\Administrator'\npassword = {{ file = \"{password}\" }}\n\n\
         [packages.agent]\nlinux = {{ file = \"install.sh\" }}\nwindows = {{ file = \"AcmeSetup.exe\" }}\n\n\
         [groups.windows]\nhosts = {win_hosts}\nos = \"windows\"\ncredentials = [\"admin\"]\n\n\
         [groups.linux]\nhosts = {linux_hosts}\nos = \"linux\"\ncredentials = [\"fleet\"]\n\n\
         [groups.everyone]\nhosts = [{all}]\n",
        head = fleet.inventory_head(""),
        password = win.password_file().display(),
        linux_hosts = fleet.hosts_list(),
        all = quoted.join(", ")
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&[
        "deploy", "agent", "--to", "everyone", "-j", "4", "--output", "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    for host in &all {
        assert_eq!(run.outcome(host)["status"], "ok", "{host}: {}", run.debug());
    }
    assert_eq!(fleet.timeline().len(), 3, "every Linux host installed once");
    for n in 1..=3 {
        assert!(
            win.calls(n).iter().any(|c| c.starts_with("RUN AcmeSetup.exe")),
            "{:?}",
            win.calls(n)
        );
        assert!(win.leftovers(n).is_empty());
    }
    let most = run
        .finished()
        .iter()
        .map(|d| d["stats"]["running"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    assert!(
        most < 4,
        "never more than 4 hosts at once (at most {most} still running when one ended)"
    );
}

#[test]
fn exec_task_runs_the_installer_through_a_scheduled_task_as_system() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(2, "normal");
    installer(&fleet, r#"echo 3010 > "$PUSHINST_EXIT_FILE""#);
    // One host asks for a task in the inventory, the other gets it from --exec.
    let text =
        inventory(&win, "", "") + &format!("\n[[hosts]]\nname = \"{}\"\nexec = \"task\"\n", win.endpoints[0]);
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", &win.endpoints[0], "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&win.endpoints[0])["exit_code"], 3010);
    let run = fleet.run(&[
        "deploy",
        "agent",
        "--to",
        &win.endpoints[1],
        "--exec",
        "task",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    for n in 1..=2 {
        let calls = win.calls(n);
        let registered: Vec<&String> = calls
            .iter()
            .filter(|c| c.starts_with("SchRpcRegisterTask"))
            .collect();
        assert_eq!(registered.len(), 1, "{calls:?}");
        assert!(
            registered[0].contains("system=True") && registered[0].contains("cmd.exe"),
            "{calls:?}"
        );
        assert!(calls.iter().any(|c| c.starts_with("SchRpcRun")), "{calls:?}");
        assert!(calls.iter().any(|c| c.starts_with("SchRpcDelete")), "{calls:?}");
        assert!(
            !calls.iter().any(|c| c.starts_with("CreateServiceW")),
            "no service: {calls:?}"
        );
        assert!(win.leftovers(n).is_empty());
    }
}

#[test]
fn a_registry_check_with_a_minimum_version_installs_only_where_older() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(3, "normal");
    installer(&fleet, "exit 0");
    for (n, version) in [(1, "7.2.10"), (2, "7.1.9")] {
        std::fs::write(
            win.root(n).join("registry.json"),
            format!(r#"{{"HKLM\\Software\\Acme\\Agent": {{"Version": "{version}"}}}}"#),
        )
        .unwrap();
    }
    let detect =
        r#", detect = { registry = 'HKLM\Software\Acme\Agent', value = "Version", min_version = "7.2.9" }"#;
    fleet.write("pushinst.toml", &inventory(&win, "", detect));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let status = |n: usize| run.outcome(&win.endpoints[n - 1])["status"].clone();
    assert_eq!(status(1), "already-installed", "7.2.10 is at least 7.2.9");
    assert_eq!(status(2), "ok", "7.1.9 is older: installed");
    assert_eq!(status(3), "ok", "no value at all: installed");
    let dry = fleet.run(&["deploy", "agent", "--to", "branch", "--dry-run"]);
    assert!(
        dry.stdout()
            .contains(r"detect registry HKLM\Software\Acme\Agent\Version >= 7.2.9"),
        "{}",
        dry.stdout()
    );
}

#[test]
fn cleanup_removes_what_a_killed_run_left_on_a_windows_host() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    installer(&fleet, "sleep 30");
    fleet.write("pushinst.toml", &inventory(&win, "", ""));
    let mut child = fleet
        .pushinst()
        .args(["deploy", "agent", "--to", "branch"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !win.calls(1).iter().any(|c| c.starts_with("RUN AcmeSetup")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the installer never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert_eq!(
        win.leftovers(1).len(),
        1,
        "the killed run left its staging directory"
    );

    let status = fleet.run(&["status", "--output", "json"]);
    assert!(
        status.stdout().contains(r#""result":"interrupted""#),
        "{}",
        status.debug()
    );
    let clean = fleet.run(&["cleanup"]);
    assert_eq!(clean.code(), 0, "{}", clean.debug());
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    assert!(
        clean.stdout().contains("removed directory pushinst-"),
        "{}",
        clean.debug()
    );
    assert!(
        clean.stdout().contains("removed service pushinst-"),
        "{}",
        clean.debug()
    );
}

#[test]
fn a_reboot_code_under_ask_warns_the_users_through_shutdown_r() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(2, "normal");
    installer(
        &fleet,
        r#"case "$PWD" in *win1*) echo 3010 > "$PUSHINST_EXIT_FILE";; esac"#,
    );
    let settings = "reboot_delay = \"2m\"\nreboot_message = \"Patching: save your work\"";
    let text = inventory(&win, settings, "")
        .replace("reboot_codes = [3010]", "reboot_codes = [3010]\nreboot = \"ask\"");
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", "branch"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert!(run.stdout().contains("reboot requested in 2m"), "{}", run.debug());
    // The request runs in the emulator after StartServiceW has answered.
    let asked = win.root(1).join("shutdown");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !asked.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let request = std::fs::read_to_string(&asked).expect("host 1 was asked to reboot");
    assert_eq!(
        request.trim(),
        r#"shutdown /r /t 120 /c "Patching: save your work""#
    );
    assert!(!win.root(2).join("shutdown").exists(), "host 2 needed no reboot");
    let calls = win.calls(1);
    let created = calls.iter().filter(|c| c.starts_with("CreateServiceW")).count();
    let deleted = calls.iter().filter(|c| c.starts_with("DeleteService")).count();
    assert_eq!(
        (created, deleted),
        (2, 2),
        "the reboot's service is deleted too: {calls:?}"
    );
}
