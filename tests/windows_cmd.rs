//! The wrapper `.cmd` against the Windows host EMULATOR's model of cmd.exe (see
//! tests/windows-emulator/emulator.py): a batch installer's exit code, arguments
//! that cmd and CommandLineToArgvW would mangle, a service that antivirus blocks,
//! `shutdown`'s own exit code, the 32-bit registry view, and the inventory limits
//! `shutdown` sets. An emulator, not Windows: it models the rules named here only.

mod common;

use std::time::Duration;

use common::Fleet;
use common::emulator::Emulators;

/// An inventory for `win`'s hosts; `variant` is the inside of `windows = { … }`.
fn inventory(win: &Emulators, settings: &str, variant: &str, package_extra: &str) -> String {
    let package = format!(
        "windows = {{ {variant} }}\nsuccess_codes = [0, 3010]\nreboot_codes = [3010]\n{package_extra}"
    );
    win.inventory(settings, &package)
}

/// The failed installer runs on record for `host` (`status --output json`).
fn attempts(fleet: &Fleet, host: &str) -> i64 {
    let run = fleet.run(&["status", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    run.stdout()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("status JSON"))
        .find(|row| row["host"] == host)
        .and_then(|row| row["attempts"].as_i64())
        .unwrap_or_else(|| panic!("{host} not in status: {}", run.debug()))
}

/// Arguments Windows mangles unless quoted and escaped exactly: a trailing
/// backslash in quotes, non-ASCII (OEM code page), a lone `%` (eaten by cmd).
const TRICKY: [&str; 3] = [r"C:\Program Files\Acme\", "Zürich-日本", "50%"];

fn tricky_args_toml() -> String {
    let quoted: Vec<String> = TRICKY.iter().map(|a| format!("'{a}'")).collect();
    format!("args = [{}]", quoted.join(", "))
}

#[test]
fn a_cmd_installer_ending_exit_b_7_is_reported_as_exit_7_and_counted_as_an_attempt() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    fleet.write("setup.cmd", "@echo off\r\necho installing\r\nexit /b 7\r\n");
    fleet.write(
        "pushinst.toml",
        // A wrapper that never gets back from the batch file writes no exit code:
        // a short timeout makes that a quick failure.
        &inventory(
            &win,
            "exec_timeout = \"30s\"",
            r#"file = "setup.cmd", args = ["/S"]"#,
            "",
        ),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["exit_code"], 7, "{}", run.debug());
    assert_eq!(outcome["installer_ran"], true, "{outcome}");
    let calls = win.calls(1);
    assert!(
        !calls.iter().any(|c| c.starts_with("NO-RETURN")),
        "the batch installer returned to the wrapper: {calls:?}"
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    // The failure counts against the attempt limit.
    assert_eq!(attempts(&fleet, &win.endpoints[0]), 1);
}

#[test]
fn tricky_arguments_arrive_verbatim_at_a_program_and_at_a_batch_installer() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    fleet.write("setup.cmd", "@echo off\r\nexit /b 0\r\n");
    for file in ["AcmeSetup.exe", "setup.cmd"] {
        let variant = format!("file = \"{file}\", {}", tricky_args_toml());
        fleet.write(
            "pushinst.toml",
            &inventory(&win, "exec_timeout = \"30s\"", &variant, ""),
        );
        let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
        assert_eq!(run.code(), 0, "{file}: {}", run.debug());
    }
    let runs = win.installer_argv(1);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for (program, args) in runs {
        let got: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let want: Vec<&[u8]> = TRICKY.iter().map(|a| a.as_bytes()).collect();
        assert_eq!(got, want, "{program} got {args:?}");
    }
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn a_blocked_service_fails_fast_naming_antivirus_not_as_an_attempt_and_leaves_nothing() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "blocked");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    // The default start_timeout, against an exec timeout of ten minutes.
    fleet.write(
        "pushinst.toml",
        &inventory(&win, "exec_timeout = \"10m\"", r#"file = "AcmeSetup.exe""#, ""),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(run.elapsed < Duration::from_secs(90), "took {:?}", run.elapsed);
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["step"], "execute", "{outcome}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the installer never started") && reason.contains("antivirus or EDR"),
        "{reason}"
    );
    assert_eq!(outcome["installer_ran"], false, "{outcome}");
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    assert!(win.calls(1).iter().any(|c| c.starts_with("BLOCKED")));
    assert_eq!(
        attempts(&fleet, &win.endpoints[0]),
        0,
        "nothing ran: not an attempt"
    );
}

#[test]
fn a_blocked_task_fails_within_the_hosts_own_start_timeout() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "blocked");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    let text = inventory(&win, "exec_timeout = \"10m\"", r#"file = "AcmeSetup.exe""#, "")
        + &format!(
            "\n[[hosts]]\nname = \"{}\"\nexec = \"task\"\nstart_timeout = \"3s\"\n",
            win.endpoints[0]
        );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(run.elapsed < Duration::from_secs(20), "took {:?}", run.elapsed);
    let reason = run.outcome(&win.endpoints[0])["reason"].to_string();
    assert!(reason.contains("no start marker within 3s"), "{reason}");
    let calls = win.calls(1);
    assert!(calls.iter().any(|c| c.starts_with("SchRpcDelete")), "{calls:?}");
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn antivirus_taking_the_installer_on_upload_is_named_not_an_attempt_and_leaves_nothing() {
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_VIRUS", "AcmeSetup")]);
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    fleet.write(
        "pushinst.toml",
        &inventory(&win, "", r#"file = "AcmeSetup.exe""#, ""),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["step"], "upload", "{outcome}");
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("antivirus on the host took the installer as it was copied to ADMIN$\\pushinst-")
            && reason.contains("AcmeSetup.exe (STATUS_VIRUS_INFECTED)"),
        "{reason}"
    );
    assert_eq!(outcome["counts_as_attempt"], false, "{outcome}");
    assert!(win.calls(1).iter().any(|c| c.starts_with("VIRUS AcmeSetup.exe")));
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

/// Host 1 needs a reboot (3010) under `ask`; `shutdown` exits with `shutdown_exit`.
fn reboot_run(shutdown_exit: &str) -> (Fleet, Emulators, common::Run) {
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_SHUTDOWN_EXIT", shutdown_exit)]);
    fleet.write(
        "AcmeSetup.exe",
        "#!/bin/sh\necho 3010 > \"$PUSHINST_EXIT_FILE\"\n",
    );
    let settings = "reboot_delay = \"2m\"\nreboot_message = \"Patching: 100% done, save your work\"";
    fleet.write(
        "pushinst.toml",
        &inventory(&win, settings, r#"file = "AcmeSetup.exe""#, "reboot = \"ask\""),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch"]);
    (fleet, win, run)
}

#[test]
fn a_failing_shutdown_is_not_reported_as_a_scheduled_reboot() {
    let (_fleet, win, run) = reboot_run("1190");
    let out = run.stdout() + &run.stderr();
    assert!(!out.contains("reboot requested in"), "{}", run.debug());
    assert!(
        out.contains("reboot request failed") && out.contains("exited with 1190"),
        "{}",
        run.debug()
    );
    assert!(win.calls(1).iter().any(|c| c.starts_with("SHUTDOWN ")));
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn a_working_shutdown_gets_the_delay_and_the_message_verbatim() {
    let (_fleet, win, run) = reboot_run("0");
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert!(run.stdout().contains("reboot requested in 2m"), "{}", run.debug());
    let calls = win.calls(1);
    let asked: Vec<&String> = calls.iter().filter(|c| c.starts_with("SHUTDOWN ")).collect();
    assert_eq!(asked.len(), 1, "{calls:?}");
    let argv: Vec<String> = serde_json::from_str(&asked[0]["SHUTDOWN ".len()..]).unwrap();
    assert_eq!(
        argv,
        ["/r", "/t", "120", "/c", "Patching: 100% done, save your work"],
        "{calls:?}"
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn a_registry_check_reads_the_32_bit_view_and_a_value_name_with_spaces() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(2, "normal");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    // Host 1: the 32-bit installer's key, redirected under WOW6432Node. Host 2: the
    // same value in the 64-bit view only, which `view = 32` must not see.
    std::fs::write(
        win.root(1).join("registry.json"),
        r#"{"HKLM\\Software\\WOW6432Node\\Acme Corp\\Agent": {"Display Version": "7.2.10"}}"#,
    )
    .unwrap();
    std::fs::write(
        win.root(2).join("registry.json"),
        r#"{"HKLM\\Software\\Acme Corp\\Agent": {"Display Version": "7.2.10"}}"#,
    )
    .unwrap();
    let variant = r#"file = "AcmeSetup.exe", detect = { registry = 'HKLM\Software\Acme Corp\Agent', value = "Display Version", min_version = "7.2.9", view = 32 }"#;
    fleet.write("pushinst.toml", &inventory(&win, "", variant, ""));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(
        run.outcome(&win.endpoints[0])["status"],
        "already-installed",
        "{}",
        run.debug()
    );
    assert_eq!(run.outcome(&win.endpoints[1])["status"], "ok", "{}", run.debug());
    assert!(
        win.calls(1)
            .iter()
            .any(|c| c.contains(r#"/v "Display Version" /reg:32"#)),
        "{:?}",
        win.calls(1)
    );
}

#[test]
fn shutdown_limits_and_the_registry_view_are_refused_at_load_with_line_and_column() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    let long = "x".repeat(513);
    let settings = format!("reboot_delay = \"3651d\"\nreboot_message = \"{long}\"");
    let variant = r#"file = "AcmeSetup.exe", detect = { registry = 'HKLM\Software\Acme', value = "Version", view = 48 }"#;
    fleet.write("pushinst.toml", &inventory(&win, &settings, variant, ""));
    let run = fleet.run(&["deploy", "agent", "--to", "branch"]);
    assert_eq!(run.code(), 2, "{}", run.debug());
    let err = run.stderr();
    assert!(err.contains("pushinst.toml:3:16"), "reboot_delay: {err}");
    assert!(err.contains("at most 315360000 seconds"), "{err}");
    assert!(err.contains("pushinst.toml:4:18"), "reboot_message: {err}");
    assert!(err.contains("reboot_message is 513 characters long"), "{err}");
    assert!(err.contains("at most 512 characters"), "{err}");
    assert!(err.contains("unknown registry view 48"), "{err}");
    assert!(err.contains("pushinst.toml:12:"), "view: {err}");
    assert!(win.calls(1).is_empty(), "no host touched: {:?}", win.calls(1));
}

#[test]
fn an_msi_package_runs_with_a_verbose_log_whose_utf16_tail_is_the_output() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    fleet.write("agent.msi", "#!/bin/sh\necho 3010 > \"$PUSHINST_EXIT_FILE\"\n");
    fleet.write(
        "pushinst.toml",
        &inventory(
            &win,
            "exec_timeout = \"30s\"",
            r#"file = "agent.msi", args = ["/qn"]"#,
            "",
        ),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(
        run.outcome(&win.endpoints[0])["exit_code"],
        3010,
        "{}",
        run.debug()
    );
    let calls = win.calls(1);
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("RUN msiexec /i agent.msi /l*v ") && c.ends_with("pushinst-msi.log\" /qn")),
        "{calls:?}"
    );
    // msiexec's own words, decoded from UTF-16LE, are what the log shows.
    let logs = fleet.all_logs();
    assert!(
        logs.contains("Product: agent.msi -- Installation completed with status: 3010."),
        "{logs}"
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}
