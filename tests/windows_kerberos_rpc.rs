//! Issue 18: the DCE/RPC binds for SCMR and TSCH with Kerberos, when the SMB
//! session logged on with Kerberos. A real KDC (Samba AD DC, NTLM refused; see
//! tests/common/kdc.rs) issues the tickets; the Windows host EMULATOR takes them
//! with the keys of a computer account exported from that DC, and refuses NTLM
//! (EMULATOR_NTLM=disabled), SMB and RPC alike, as such a domain's hosts do. Without
//! Kerberos on the binds, the service or task cannot even be created there.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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

        // `check` takes the same way: the service manager opened (by service) and
        // the facts learnt as SYSTEM, over Kerberos binds.
        let run = fleet.run(&["check", "--output", "json", "--to", &fqdn]);
        let host = reported(&win, &fqdn);
        let row = run
            .events()
            .into_iter()
            .find(|r| r["host"] == host.as_str())
            .unwrap_or_else(|| panic!("no row for {host}: {}", run.debug()));
        assert_eq!(row["status"], "ready", "{exec}: {row}");
        assert_eq!(row["problem"], serde_json::Value::Null, "{row}");
        assert_eq!(row["os"], "windows", "{row}");
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
    }

    // A sealed answer changed on the way (one byte of its wrap token): refused as
    // tampering, before anything in it is believed.
    let fleet = Fleet::workspace();
    let keytab_env = keytab.display().to_string();
    let win = Emulators::start_with(
        1,
        "normal",
        &[
            ("EMULATOR_KEYTAB", keytab_env.as_str()),
            ("EMULATOR_REALM", &kdc.realm),
            ("EMULATOR_SPN_HOST", &fqdn),
            ("EMULATOR_NTLM", "disabled"),
            ("EMULATOR_RPC_BAD_SIGNATURE", "1"),
        ],
    );
    inventory(&fleet, &kdc, &win, &fqdn, "service");
    let run = deploy(&fleet, &fqdn);
    let outcome = run.outcome(&reported(&win, &fqdn));
    assert_eq!(outcome["status"], "failed", "{}", run.debug());
    assert!(
        outcome
            .to_string()
            .contains("possible tampering on the path to the host"),
        "{}",
        run.debug()
    );
    assert!(logged(&win, "CreateServiceW").is_empty(), "{:#?}", win.calls(1));
    assert!(!fleet.all_logs().contains("setup ran with"));
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

/// The host's keys for its computer account go stale while pushinst is logged on:
/// the first package's installer resets the account's password at the DC, gives the
/// host the keys of that password only, and resets it once more at the DC (what a
/// host restored from a snapshot, or a failed machine password change, looks like
/// from the network). The SMB session goes on (its ticket was read before), but the
/// next bind brings a ticket for host/<FQDN> the host cannot read, be it the one
/// pushinst kept from the first bind (the old key) or a new one (the newest key):
/// it refuses the bind, and pushinst says so in words.
fn with_stale_key(kdc: &Kdc, name: &str, exec: &str) -> (Fleet, Emulators, common::Run) {
    let conf = kdc.dir.path().join("dc/etc/smb.conf");
    let keytab = kdc.add_host(name, &[]);
    let fqdn = format!("{name}.{}", kdc.realm.to_lowercase());
    let fleet = Fleet::workspace();
    let win = member(kdc, &keytab, name);
    inventory(&fleet, kdc, &win, &fqdn, exec);
    fleet.write(
        "Rotate.exe",
        &format!(
            "#!/bin/sh\nset -e\nconf='{conf}'\n\
             /usr/bin/samba-tool user setpassword '{name}$' --newpassword='Rotated-{name}-Kvno-9a' -s \"$conf\" >/dev/null 2>&1\n\
             rm -f '{keytab}.new'\n\
             /usr/bin/samba-tool domain exportkeytab '{keytab}.new' --principal='{name}$' -s \"$conf\" >/dev/null 2>&1\n\
             mv '{keytab}.new' '{keytab}'\n\
             /usr/bin/samba-tool user setpassword '{name}$' --newpassword='Rotated-{name}-Kvno-9b' -s \"$conf\" >/dev/null 2>&1\n",
            conf = conf.display(),
            keytab = keytab.display(),
        ),
    );
    let mut text = std::fs::read_to_string(fleet.path("pushinst.toml")).unwrap();
    text += &format!(
        "\n[packages.rotate]\nwindows = {{ file = \"Rotate.exe\" }}\n\n[jobs.both]\npackages = [\"rotate\", \"agent\"]\ntargets = [\"{fqdn}\"]\n"
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run(&["run", "both", "--output", "json"]);
    (fleet, win, run)
}

fn finished(run: &common::Run, host: &str, package: &str) -> serde_json::Value {
    run.finished()
        .into_iter()
        .find(|d| d["host"] == host && d["package"] == package)
        .unwrap_or_else(|| panic!("no {package} on {host}: {}", run.debug()))
}

/// The words of a refused Kerberos bind.
fn names_the_refusal(text: &str, spn: &str) -> bool {
    text.contains(&format!("the host refused the Kerberos ticket for {spn}")) && text.contains("setspn -Q")
}

/// By service: the second package's svcctl bind is refused. That package fails,
/// named, before its installer ran, not counted as an attempt; its staging
/// directory is removed (SMB still works), nothing is left.
#[test]
fn a_bind_the_host_refuses_the_ticket_of_is_a_named_failure_and_leaves_nothing() {
    let kdc = Kdc::start();
    let (fleet, win, run) = with_stale_key(&kdc, "win1", "service");
    let fqdn = format!("win1.{}", kdc.realm.to_lowercase());
    let host = reported(&win, &fqdn);
    assert_ne!(run.code(), 0, "{}", run.debug());
    assert_eq!(
        finished(&run, &host, "rotate")["outcome"]["status"],
        "ok",
        "{}",
        run.debug()
    );
    let agent = finished(&run, &host, "agent");
    assert_eq!(agent["outcome"]["status"], "failed", "{}", run.debug());
    assert_eq!(agent["outcome"]["counts_as_attempt"], false, "{}", run.debug());
    assert_eq!(
        agent["cleanup_failed"],
        serde_json::Value::Null,
        "{}",
        run.debug()
    );
    assert!(
        names_the_refusal(&agent["outcome"]["reason"].to_string(), &format!("host/{fqdn}")),
        "{}",
        run.debug()
    );
    let calls = win.calls(1);
    assert_eq!(
        logged(&win, "KRB-REFUSED rpc svcctl KRB_AP_ERR_MODIFIED").len(),
        1,
        "{calls:#?}"
    );
    assert_eq!(
        logged(&win, "CreateServiceW").len(),
        1,
        "only the first package's: {calls:#?}"
    );
    assert!(
        !fleet.all_logs().contains("setup ran with"),
        "the agent never ran"
    );
    assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
}

/// By task, the task of the package whose installer reset the key must be deleted
/// after it ran, over a new bind: that bind is refused. The package fails with the
/// refusal named, what could not be removed is on record for `pushinst cleanup`
/// with the same words, and the next package is not tried.
#[test]
fn by_task_a_refused_bind_after_the_installer_is_named_and_what_is_left_is_on_record() {
    let kdc = Kdc::start();
    let (fleet, win, run) = with_stale_key(&kdc, "win2", "task");
    let fqdn = format!("win2.{}", kdc.realm.to_lowercase());
    let spn = format!("host/{fqdn}");
    let host = reported(&win, &fqdn);
    assert_ne!(run.code(), 0, "{}", run.debug());
    let rotate = finished(&run, &host, "rotate");
    assert_eq!(rotate["outcome"]["status"], "failed", "{}", run.debug());
    assert!(
        names_the_refusal(&rotate["outcome"]["reason"].to_string(), &spn),
        "{}",
        run.debug()
    );
    assert!(
        names_the_refusal(&rotate["cleanup_failed"].to_string(), &spn),
        "{}",
        run.debug()
    );
    assert_eq!(
        finished(&run, &host, "agent")["outcome"]["status"],
        "skipped",
        "{}",
        run.debug()
    );
    assert!(run.stderr().contains("pushinst cleanup"), "{}", run.debug());
    let calls = win.calls(1);
    assert!(
        !logged(&win, "KRB-REFUSED rpc atsvc KRB_AP_ERR_MODIFIED").is_empty(),
        "{calls:#?}"
    );
    assert_eq!(logged(&win, "SchRpcRegisterTask").len(), 1, "{calls:#?}");
    assert!(
        !fleet.all_logs().contains("setup ran with"),
        "the agent never ran"
    );
}
