//! Logon and RPC security as patched Windows enforces them, against the Windows host
//! EMULATOR (see tests/common/emulator.rs and tests/windows-emulator/rpcauth.py):
//! `\PIPE\atsvc` only at packet privacy, SPN target name hardening with a MIC,
//! logon statuses by name, and the three account forms. These prove pushinst's
//! side of the protocol against an emulator that checks what Windows checks; they
//! do not prove Windows itself.

mod common;

use std::path::Path;
use std::process::Command;

use common::Fleet;
use common::emulator::Emulators;

fn installer(fleet: &Fleet) {
    fleet.write(
        "AcmeSetup.exe",
        "#!/bin/sh\necho \"setup ran with: $*\"\nexit 0\n",
    );
}

/// One package and one group, whose credentials are tried in the order given:
/// each `(name, user)` uses the emulators' password.
fn inventory(win: &Emulators, credentials: &[(&str, &str)]) -> String {
    win.inventory_as(
        credentials,
        "",
        r#"windows = { file = "AcmeSetup.exe", args = ["/quiet"] }"#,
    )
}

/// The address an emulator listens on: the name pushinst was told, and so the
/// one its NTLM target name must carry.
fn address(endpoint: &str) -> &str {
    endpoint.rsplit_once(':').map_or(endpoint, |(addr, _)| addr)
}

/// impacket's client (tests/windows-emulator/probe.py) calling `pipe` with RPC
/// authentication at `level` (0: none, 6: packet privacy): whether the call got
/// through, and what the probe said.
fn probe(win: &Emulators, pipe: &str, level: u8) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/windows-emulator");
    let (addr, port) = win.endpoints[0].rsplit_once(':').expect("ADDR:PORT");
    let password = std::fs::read_to_string(win.password_file()).expect("password");
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("probe.py"))
        .args([addr, port, password.trim(), pipe, &level.to_string()])
        .output()
        .expect("run the venv's python");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn exec_task_against_hardened_atsvc_succeeds_sealed_signed_and_named() {
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_TARGET_NAME_HARDENING", "1")]);
    installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&win, &[("admin", r".\Administrator")]),
    );
    let run = fleet.run(&[
        "deploy", "agent", "--to", "branch", "--exec", "task", "--output", "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(run.outcome(&win.endpoints[0])["status"], "ok", "{}", run.debug());
    let calls = win.calls(1);
    let target = format!("target=cifs/{}", address(&win.endpoints[0]));
    // The SMB logon and every atsvc binding: NTLM with our target name and a MIC
    // the emulator verified, the binding at packet privacy (level 6).
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("NTLM-OK smb") && c.contains(&target) && c.contains("mic=True")),
        "{calls:?}"
    );
    let bindings: Vec<&String> = calls.iter().filter(|c| c.starts_with("RPC-AUTH atsvc")).collect();
    assert!(
        bindings.len() >= 2,
        "register and delete bind separately: {calls:?}"
    );
    assert!(
        bindings
            .iter()
            .all(|c| c.contains("level=6") && c.contains(&target) && c.contains("mic=True")),
        "{calls:?}"
    );
    for call in ["SchRpcRegisterTask", "SchRpcRun", "SchRpcDelete"] {
        assert!(calls.iter().any(|c| c.starts_with(call)), "{call}: {calls:?}");
    }
    for refusal in [
        "RPC-REFUSED",
        "RPC-SIGNATURE-BAD",
        "TARGET-NAME-REFUSED",
        "RPCAUTH-ERROR",
    ] {
        assert!(
            !calls.iter().any(|c| c.starts_with(refusal)),
            "{refusal}: {calls:?}"
        );
    }
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

#[test]
fn the_service_path_binds_svcctl_at_packet_privacy_too() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&win, &[("admin", r".\Administrator")]),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let calls = win.calls(1);
    assert!(
        calls.iter().any(|c| c.starts_with("RPC-AUTH svcctl level=6")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("RPC-BIND svcctl level=0")),
        "{calls:?}"
    );
}

/// The emulator must refuse what Windows refuses, or the tests above prove
/// nothing: impacket's client binding atsvc without authentication is turned
/// away, and the same client at packet privacy gets through.
#[test]
fn atsvc_refuses_a_binding_below_packet_privacy() {
    let win = Emulators::start(1, "normal");
    let (through, said) = probe(&win, "atsvc", 0);
    assert!(!through, "an unauthenticated atsvc binding was served: {said}");
    assert!(said.contains("access_denied"), "{said}");
    assert!(
        win.calls(1).iter().any(|c| c.starts_with("RPC-REFUSED atsvc")),
        "{:?}",
        win.calls(1)
    );
    let (through, said) = probe(&win, "atsvc", 6);
    assert!(through, "impacket at packet privacy was refused: {said}");
    // svcctl takes both, as Windows does.
    let (through, said) = probe(&win, "svcctl", 0);
    assert!(through, "{said}");
}

/// Under hardening, impacket's client (target name from the server's challenge,
/// no MIC) is refused where ours is accepted: the check is real.
#[test]
fn target_name_hardening_refuses_a_logon_without_our_target_name_and_mic() {
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_TARGET_NAME_HARDENING", "1")]);
    let (through, said) = probe(&win, "svcctl", 0);
    assert!(!through, "hardening let impacket's logon through: {said}");
    assert!(
        win.calls(1)
            .iter()
            .any(|c| c.starts_with("TARGET-NAME-REFUSED smb")),
        "{:?}",
        win.calls(1)
    );
}

/// Each injected logon status: its plain reason, the status by name and number,
/// the next credential tried, and never an attempt.
#[test]
fn every_logon_status_is_named_and_the_next_credential_is_tried() {
    let table: &[(&str, &str, &str, &str)] = &[
        (
            "badpw",
            "0xC000006D",
            "STATUS_LOGON_FAILURE",
            "wrong user name or password",
        ),
        (
            "wrongpw",
            "0xC000006A",
            "STATUS_WRONG_PASSWORD",
            "wrong user name or password",
        ),
        ("locked", "0xC0000234", "STATUS_ACCOUNT_LOCKED_OUT", "locked out"),
        ("disabled", "0xC0000072", "STATUS_ACCOUNT_DISABLED", "disabled"),
        (
            "expired",
            "0xC0000193",
            "STATUS_ACCOUNT_EXPIRED",
            "account has expired",
        ),
        (
            "pwexpired",
            "0xC0000071",
            "STATUS_PASSWORD_EXPIRED",
            "password has expired",
        ),
        (
            "mustchange",
            "0xC0000224",
            "STATUS_PASSWORD_MUST_CHANGE",
            "must change its password",
        ),
        ("hours", "0xC000006F", "STATUS_INVALID_LOGON_HOURS", "logon hours"),
        (
            "workstation",
            "0xC0000070",
            "STATUS_INVALID_WORKSTATION",
            "log on from this computer",
        ),
        (
            "nettype",
            "0xC000015B",
            "STATUS_LOGON_TYPE_NOT_GRANTED",
            "denies this account network logon",
        ),
        (
            "ntlmblocked",
            "0xC0000418",
            "STATUS_NTLM_BLOCKED",
            "refuses NTLM logons",
        ),
        (
            "firewall",
            "0xC0000413",
            "STATUS_AUTHENTICATION_FIREWALL_FAILED",
            "authentication firewall",
        ),
    ];
    let statuses: Vec<String> = table
        .iter()
        .map(|(user, code, ..)| format!("{user}={code}"))
        .collect();
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_LOGON_STATUS", &statuses.join(","))]);
    installer(&fleet);
    let credentials: Vec<(&str, &str)> = table.iter().map(|(user, ..)| (*user, *user)).collect();
    fleet.write("pushinst.toml", &inventory(&win, &credentials));
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["status"], "failed", "{}", run.debug());
    assert_eq!(
        outcome["installer_ran"], false,
        "a refused logon is not an attempt"
    );
    let rejected: Vec<serde_json::Value> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "credential_rejected")
        .map(|e| e["data"].clone())
        .collect();
    assert_eq!(
        rejected.len(),
        table.len(),
        "every credential tried: {}",
        run.debug()
    );
    for (user, code, name, words) in table {
        let reason = rejected
            .iter()
            .find(|r| r["credential"] == *user)
            .and_then(|r| r["reason"].as_str())
            .unwrap_or_else(|| panic!("{user} not rejected: {rejected:?}"));
        assert!(reason.contains(words), "{user}: {reason}");
        assert!(reason.contains(name), "{user}: {reason}");
        assert!(reason.contains(&code[2..].to_uppercase()), "{user}: {reason}");
        assert!(
            win.calls(1)
                .iter()
                .any(|c| c.starts_with("LOGON-REFUSED smb") && c.contains(&format!("user={user} "))),
            "{user}: the emulator never saw it"
        );
    }
    // And the history does not count it against the host.
    let status = fleet.run(&["status", "--output", "json"]);
    assert_eq!(status.code(), 0, "{}", status.debug());
    let row: serde_json::Value = status
        .stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["host"] == win.endpoints[0].as_str())
        .unwrap_or_else(|| panic!("{}", status.stdout()));
    assert_eq!(row["attempts"], 0, "{row}");
}

#[test]
fn upn_and_local_account_logons_succeed() {
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(
        2,
        "normal",
        &[("EMULATOR_ACCOUNTS", "deploy@corp.example,localdeploy")],
    );
    installer(&fleet);
    // Host 1 through the UPN form, host 2 through a local account of the target.
    let text = inventory(&win, &[("upn", "deploy@corp.example")])
        .replace("[groups.branch]", "[groups.upn]")
        .replace(&format!(", \"{}\"]", win.endpoints[1]), "]")
        + &format!(
            "\n[credentials.local]\nuser = '.\\localdeploy'\npassword = {{ file = \"{}\" }}\n\n\
             [groups.local]\nhosts = [\"{}\"]\nos = \"windows\"\ncredentials = [\"local\"]\n",
            win.password_file().display(),
            win.endpoints[1]
        );
    fleet.write("pushinst.toml", &text);
    for group in ["upn", "local"] {
        let run = fleet.run(&[
            "deploy", "agent", "--to", group, "--exec", "task", "--output", "json",
        ]);
        assert_eq!(run.code(), 0, "{group}: {}", run.debug());
    }
    let upn = win.calls(1);
    // The UPN goes whole in the user field, with an empty domain, to SMB and RPC alike.
    assert!(
        upn.iter()
            .any(|c| c.starts_with("NTLM-OK smb user=deploy@corp.example domain= ")),
        "{upn:?}"
    );
    assert!(
        upn.iter()
            .any(|c| c.starts_with("RPC-AUTH atsvc level=6 user=deploy@corp.example domain= ")),
        "{upn:?}"
    );
    // `.\user` names the target's own computer as the domain.
    let local = win.calls(2);
    let logon = local
        .iter()
        .find(|c| c.starts_with("NTLM-OK smb user=localdeploy"))
        .unwrap_or_else(|| panic!("{local:?}"));
    assert!(
        !logon.contains("domain= "),
        "a local account names the host: {logon}"
    );
}

/// A response whose signature was changed on the way is tampering: the host
/// fails at once with that class, and nothing of the answer is used.
#[test]
fn a_badly_signed_rpc_answer_is_tampering() {
    let fleet = Fleet::workspace();
    let win = Emulators::start_with(1, "normal", &[("EMULATOR_RPC_BAD_SIGNATURE", "1")]);
    installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&win, &[("admin", r".\Administrator")]),
    );
    let run = fleet.run(&[
        "deploy", "agent", "--to", "branch", "--exec", "task", "--output", "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&win.endpoints[0]);
    assert_eq!(outcome["status"], "failed", "{}", run.debug());
    let reason = outcome["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("DCE/RPC response carries a bad signature") && reason.contains("tampering"),
        "{reason}"
    );
    assert_eq!(outcome["detail"]["reason"]["class"], "tampering", "{outcome}");
    assert_eq!(outcome["installer_ran"], false, "{outcome}");
    // The registration's answer was refused; nothing ran.
    assert!(
        !win.calls(1).iter().any(|c| c.starts_with("SchRpcRun")),
        "{:?}",
        win.calls(1)
    );
}
