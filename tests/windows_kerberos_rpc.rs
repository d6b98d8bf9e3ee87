//! Issue 18: the DCE/RPC binds for SCMR and TSCH with Kerberos, when the SMB
//! session logged on with Kerberos. A real KDC (Samba AD DC, NTLM refused; see
//! tests/common/kdc.rs) issues the tickets; the Windows host EMULATOR takes them
//! with the keys of a computer account exported from that DC, and refuses NTLM
//! (EMULATOR_NTLM=disabled), SMB and RPC alike, as such a domain's hosts do. Without
//! Kerberos on the binds, the service or task cannot even be created there.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::Fleet;
use common::emulator::Emulators;
use common::kdc::Kdc;

/// An emulated domain member `name`.<realm>, holding the keys `keytab`.
fn member(kdc: &Kdc, keytab: &Path, name: &str) -> Emulators {
    let fqdn = format!("{name}.{}", kdc.realm.to_lowercase());
    Emulators::start_with(
        1,
        "normal",
        &[
            ("EMULATOR_KEYTAB", &keytab.display().to_string()),
            ("EMULATOR_REALM", &kdc.realm),
            ("EMULATOR_SPN_HOST", &fqdn),
            ("EMULATOR_NTLM", "disabled"),
        ],
    )
}

/// An inventory with the emulated host by its DNS name (at the emulator's address),
/// the domain admin as `user@REALM` and the DC as KDC, running by `exec`.
fn inventory(fleet: &Fleet, kdc: &Kdc, win: &Emulators, fqdn: &str, exec: &str) {
    let (address, port) = win.endpoints[0].rsplit_once(':').expect("address:port");
    let file = fleet.write("password", &kdc.password);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    fleet.write("AcmeSetup.exe", "#!/bin/sh\necho \"setup ran with: $*\"\n");
    fleet.write(
        "pushinst.toml",
        &format!(
            r#"[settings]
connect_timeout = "5s"
exec = "{exec}"

[credentials.domain]
user = '{user}@{realm}'
password = {{ file = "password" }}
kdc = "{dc}"

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"] }}

[[hosts]]
name = "{fqdn}"
address = "{address}"
port = {port}
os = "windows"
credentials = ["domain"]
"#,
            user = kdc.user,
            realm = kdc.realm,
            dc = kdc.dc_addr,
        ),
    );
}

fn deploy(fleet: &Fleet, fqdn: &str) -> common::Run {
    fleet.run(&["deploy", "agent", "--to", fqdn, "--output", "json"])
}

/// The host as the report names it: with the emulator's port.
fn reported(win: &Emulators, fqdn: &str) -> String {
    let (_, port) = win.endpoints[0].rsplit_once(':').expect("address:port");
    format!("{fqdn}:{port}")
}

/// Lines of the emulator's log that contain `text`.
fn logged(win: &Emulators, text: &str) -> Vec<String> {
    win.calls(1).into_iter().filter(|l| l.contains(text)).collect()
}

/// Full deploys by service (SCMR) and by task (TSCH) to a host that refuses NTLM:
/// the SMB session and both RPC binds take Kerberos tickets from the DC, the binds
/// at packet privacy with the ticket for host/<FQDN>, and the installer runs.
/// Before the binds spoke Kerberos, both failed at the first bind.
#[test]
fn deploys_by_service_and_by_task_bind_rpc_with_kerberos_where_ntlm_is_refused() {
    let kdc = Kdc::start();
    let keytab = kdc.add_host("win1", &[]);
    let fqdn = format!("win1.{}", kdc.realm.to_lowercase());
    let principal = format!("{}@{}", kdc.user, kdc.realm);
    for (exec, pipe, created, deleted) in [
        ("service", "svcctl", "CreateServiceW", "DeleteService"),
        ("task", "atsvc", "SchRpcRegisterTask", "SchRpcDelete"),
    ] {
        let fleet = Fleet::workspace();
        let win = member(&kdc, &keytab, "win1");
        inventory(&fleet, &kdc, &win, &fqdn, exec);
        let run = deploy(&fleet, &fqdn);
        let outcome = run.outcome(&reported(&win, &fqdn));
        assert_eq!(
            (outcome["status"].as_str(), outcome["exit_code"].as_i64()),
            (Some("ok"), Some(0)),
            "{exec}: {}\n{:#?}",
            run.debug(),
            win.calls(1)
        );
        assert_eq!(run.code(), 0, "{}", run.debug());
        assert!(fleet.all_logs().contains("setup ran with: /quiet"), "{exec}");
        let calls = win.calls(1);
        // Kerberos everywhere, NTLM nowhere.
        assert!(
            !logged(&win, &format!("KRB-OK smb client={principal} spn=cifs/{fqdn}@")).is_empty(),
            "{calls:#?}"
        );
        let binds = logged(
            &win,
            &format!("KRB-OK rpc {pipe} client={principal} spn=host/{fqdn}@"),
        );
        assert!(!binds.is_empty(), "{exec}: {calls:#?}");
        for bind in &binds {
            // Packet privacy, DCE style, RPC_C_AUTHN_GSS_KERBEROS.
            assert!(bind.contains("level=6 dce_style=True auth_type=16"), "{bind}");
        }
        assert_eq!(
            logged(&win, &format!("KRB-THIRD-LEG rpc {pipe} client={principal}")).len(),
            binds.len(),
            "every bind completed its third leg: {calls:#?}"
        );
        for refused in [
            "RPC-REFUSED",
            "RPC-SIGNATURE-BAD",
            "KRB-REFUSED",
            "RPC-AUTH",
            "LOGON-REFUSED",
        ] {
            assert!(logged(&win, refused).is_empty(), "{exec}: {calls:#?}");
        }
        assert_eq!(logged(&win, created).len(), 1, "{calls:#?}");
        assert!(!logged(&win, deleted).is_empty(), "{calls:#?}");
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    }
}

/// `samba-tool` on the test's DC.
fn samba_tool(kdc: &Kdc, args: &[&str]) {
    let conf = kdc.dir.path().join("dc/etc/smb.conf");
    let out = Command::new("samba-tool")
        .args(args)
        .arg("-s")
        .arg(&conf)
        .output()
        .expect("run samba-tool");
    assert!(
        out.status.success(),
        "samba-tool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The RPC SPN registered on another computer account (a classic after a rename
/// or a re-imaged host): the SMB logon works (cifs/ is the host's), but the ticket
/// for host/<FQDN> is sealed with the other account's key, which the host cannot
/// read: it refuses the bind. The host fails, named, before anything ran, and
/// nothing is left behind.
#[test]
fn a_bind_the_host_refuses_the_ticket_of_is_a_named_failure_and_leaves_nothing() {
    let kdc = Kdc::start();
    let keytab = kdc.add_host("win1", &[]);
    kdc.add_host("win9", &[]);
    let fqdn = format!("win1.{}", kdc.realm.to_lowercase());
    let spn = format!("host/{fqdn}");
    samba_tool(&kdc, &["spn", "delete", &spn, "win1$"]);
    samba_tool(&kdc, &["spn", "add", &spn, "win9$"]);
    for (exec, pipe) in [("service", "svcctl"), ("task", "atsvc")] {
        let fleet = Fleet::workspace();
        let win = member(&kdc, &keytab, "win1");
        inventory(&fleet, &kdc, &win, &fqdn, exec);
        let run = deploy(&fleet, &fqdn);
        assert_ne!(run.code(), 0, "{}", run.debug());
        let outcome = run.outcome(&reported(&win, &fqdn));
        assert_ne!(outcome["status"], "ok", "{}", run.debug());
        assert_eq!(outcome["counts_as_attempt"], false, "{}", run.debug());
        let problem = outcome.to_string();
        assert!(
            problem.contains(&format!("the host refused the Kerberos ticket for {spn}"))
                && problem.contains("setspn -Q"),
            "{exec}: {}",
            run.debug()
        );
        let calls = win.calls(1);
        // The SMB logon took cifs/; the bind's host/ ticket did not decrypt.
        assert!(!logged(&win, "KRB-OK smb").is_empty(), "{calls:#?}");
        assert!(
            !logged(&win, &format!("KRB-REFUSED rpc {pipe} KRB_AP_ERR_MODIFIED")).is_empty(),
            "{calls:#?}"
        );
        assert!(!fleet.all_logs().contains("setup ran with"), "{exec}");
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    }
}
