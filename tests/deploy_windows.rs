//! Windows hosts against real Samba servers. Samba is the strict real SMB server
//! (SMB3, signing, encryption, NTLMv2): uploads, logons and the clear failures go
//! against it. Its Service Control Manager does not implement CreateServiceW, so
//! with Samba a deploy ends at execute; the full flow is tested against the
//! Windows emulator.

mod common;

use common::samba::Samba;
use common::{Fleet, closed_port};

/// An inventory for Windows hosts `hosts`, the runner's files in `fleet`'s directory.
fn inventory(samba: &Samba, settings: &str, hosts: &[String]) -> String {
    let quoted: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        r#"[settings]
connect_timeout = "3s"
{settings}

[credentials.wrong-admin]
user = '.\Administrator'
password = {{ env = "WRONG_PW" }}

[credentials.admin]
user = 'WIN1\Administrator'
password = {{ file = "{password}" }}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"], config = "acme.xml" }}

[groups.branch]
hosts = [{hosts}]
os = "windows"
credentials = ["wrong-admin", "admin"]
"#,
        password = samba.password_file().display(),
        hosts = quoted.join(", ")
    )
}

fn setup(fleet: &Fleet) {
    let installer: Vec<u8> = (0..3 * 1024 * 1024).map(|i: u32| (i % 253) as u8).collect();
    std::fs::write(fleet.path("AcmeSetup.exe"), installer).unwrap();
    fleet.write("acme.xml", "<config/>");
}

#[test]
fn samba_takes_the_upload_refuses_the_service_and_is_left_clean() {
    let fleet = Fleet::workspace();
    let samba = Samba::start(2, &[]);
    setup(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&samba, "smb_encryption = \"required\"", &samba.endpoints),
    );
    let run = fleet.run_with(&["deploy", "agent", "--to", "branch", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-it");
    });
    assert_eq!(run.code(), 1, "{}", run.debug());
    for (n, host) in samba.endpoints.iter().enumerate() {
        let outcome = run.outcome(host);
        assert_eq!(outcome["status"], "failed", "{}", run.debug());
        assert_eq!(outcome["step"], "execute");
        let reason = outcome["reason"].as_str().unwrap();
        assert!(
            reason.contains("would not create a service") && reason.contains("nca_s_op_rng_error"),
            "{reason}"
        );
        assert!(
            samba.admin_leftovers(n + 1).is_empty(),
            "ADMIN$\\Temp left: {:?}",
            samba.admin_leftovers(n + 1)
        );
    }
    let rejected: Vec<_> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "credential_rejected")
        .map(|e| e["data"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rejected.len(), 2, "{}", run.debug());
    assert!(rejected[0].contains("STATUS_LOGON_FAILURE"), "{rejected:?}");
    let steps: Vec<String> = run
        .events()
        .into_iter()
        .filter(|e| e["type"] == "step_started" && e["data"]["host"] == samba.endpoints[0].as_str())
        .map(|e| e["data"]["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps, ["connect", "authenticate", "upload", "execute", "cleanup"]);
    // The upload really arrived: the log shows how long it took and nothing remains.
    assert!(fleet.all_logs().contains("upload"), "{}", fleet.all_logs());
    let password = std::fs::read_to_string(samba.password_file())
        .unwrap()
        .trim()
        .to_string();
    let history = std::fs::read(fleet.path(".local/state/pushinst/history.db")).unwrap_or_default();
    for (what, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("logs", fleet.all_logs()),
        ("history", String::from_utf8_lossy(&history).into_owned()),
    ] {
        assert!(
            !text.contains(&password) && !text.contains("not-it"),
            "a password in {what}"
        );
    }
}

#[test]
fn closed_ports_missing_shares_and_unencrypted_servers_are_reasons() {
    let fleet = Fleet::workspace();
    let no_admin = Samba::start(1, &[("SMBD_ADMIN_SHARE", "off")]);
    let plain = Samba::start(1, &[("SMBD_ENCRYPT", "off")]);
    setup(&fleet);
    let closed = format!("127.0.0.1:{}", closed_port());
    let hosts = vec![
        no_admin.endpoints[0].clone(),
        plain.endpoints[0].clone(),
        closed.clone(),
    ];
    let text = inventory(&no_admin, "smb_encryption = \"required\"", &hosts).replace(
        r#"credentials = ["wrong-admin", "admin"]"#,
        r#"credentials = ["admin"]"#,
    );
    fleet.write("pushinst.toml", &text);
    // Both Samba fleets share no password: give the second host its own credential.
    let text = format!(
        "{text}\n[credentials.plain-admin]\nuser = 'Administrator'\npassword = {{ file = \"{}\" }}\n\n[[hosts]]\nname = \"{}\"\ncredentials = [\"plain-admin\"]\n",
        plain.password_file().display(),
        plain.endpoints[0]
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["deploy", "agent", "--to", "branch", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = |host: &str| run.outcome(host)["reason"].as_str().unwrap().to_string();
    assert!(
        reason(&no_admin.endpoints[0]).contains("no ADMIN$ share"),
        "{}",
        run.debug()
    );
    assert!(
        reason(&plain.endpoints[0]).contains("smb_encryption is required"),
        "{}",
        run.debug()
    );
    assert_eq!(run.outcome(&closed)["status"], "unreachable");
    assert!(
        reason(&closed).contains("connection refused on port"),
        "{}",
        run.debug()
    );
}

#[test]
fn a_mixed_group_of_linux_and_windows_hosts_runs_both_transports_at_once() {
    let fleet = Fleet::start(2);
    let samba = Samba::start(2, &[]);
    setup(&fleet);
    fleet.recording_installer("0", "");
    let mut hosts = samba.endpoints.clone();
    hosts.extend(fleet.endpoints.iter().cloned());
    let text = inventory(&samba, "", &samba.endpoints)
        .replace("windows = {", "linux = { file = \"install.sh\" }\nwindows = {")
        + &format!(
            "{}\n[groups.mixed]\nhosts = [{}]\n\n[groups.linux]\nhosts = {}\nos = \"linux\"\ncredentials = [\"fleet\"]\n",
            fleet
                .inventory_head("")
                .replace("[settings]\nknown_hosts = \"known_hosts\"\n", ""),
            hosts
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", "),
            fleet.hosts_list()
        );
    let text = format!(
        "[settings]\nknown_hosts = \"known_hosts\"\n{}",
        text.replacen("[settings]\n", "", 1)
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run_with(
        &["deploy", "agent", "--to", "mixed", "-j", "3", "--output", "json"],
        |c| {
            c.env("WRONG_PW", "not-it");
        },
    );
    assert_eq!(run.code(), 1, "{}", run.debug());
    for host in &fleet.endpoints {
        assert_eq!(run.outcome(host)["status"], "ok", "{}", run.debug());
    }
    for host in &samba.endpoints {
        assert_eq!(run.outcome(host)["step"], "execute", "{}", run.debug());
    }
}
