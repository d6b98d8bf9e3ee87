//! Issue 18: Windows domains that refuse NTLM. Against a real Active Directory domain
//! controller (Samba AD DC, `ntlm auth = disabled`, signing mandatory; see
//! tests/common/kdc.rs), in a network namespace of its own.
//!
//! First step: the environment itself is proved (Samba's own client uploads to the
//! DC's ADMIN$ with Kerberos and is refused with NTLM), and pushinst, which logs on
//! with NTLM only today, fails there with a reason that says the domain refuses NTLM
//! and that pushinst cannot log on with Kerberos yet — not a bare status number.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use common::Fleet;
use common::kdc::Kdc;

/// `smbclient` against the DC's ADMIN$ with `--use-kerberos=MODE`, running `command`:
/// whether it succeeded, and what it said.
fn smbclient(kdc: &Kdc, mode: &str, command: &str) -> (bool, String) {
    let out = Command::new("smbclient")
        .arg(format!("//{}/ADMIN$", kdc.fqdn))
        .args(["-I", &kdc.dc_addr])
        .arg(format!("--use-kerberos={mode}"))
        .arg("-U")
        .arg(format!("{}@{}%{}", kdc.user, kdc.realm, kdc.password))
        .args(["-c", command])
        .env("KRB5_CONFIG", kdc.krb5_conf())
        // A ticket cache of this test's own, so no ticket of the machine's is used
        // and none is left behind.
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", kdc.dir.path().join("ccache").display()),
        )
        .output()
        .expect("run smbclient (examples/fleet/samba-ad-dc.sh setup installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn domain_refusing_ntlm_takes_kerberos_uploads_and_pushinst_names_the_ntlm_refusal() {
    let started = Instant::now();
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let provisioned = started.elapsed();

    // The environment: Kerberos logs on and uploads, NTLM is refused by the domain.
    let sample = fleet.write("sample.txt", "uploaded with Kerberos\n");
    let (ok, said) = smbclient(
        &kdc,
        "required",
        &format!("put {} kerberos-upload.txt", sample.display()),
    );
    assert!(ok, "smbclient with Kerberos: {said}");
    assert_eq!(
        std::fs::read_to_string(kdc.share.join("kerberos-upload.txt")).unwrap(),
        "uploaded with Kerberos\n"
    );
    let (ok, said) = smbclient(&kdc, "off", "ls");
    assert!(!ok, "the DC must refuse NTLM: {said}");
    assert!(said.contains("NT_STATUS_NTLM_BLOCKED"), "{said}");

    // pushinst, which logs on with NTLM, is refused in words that say why and what
    // the way out is; a refused logon is not an attempt and nothing is uploaded.
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    let password = fleet.write("password", &kdc.password);
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    fleet.write(
        "pushinst.toml",
        &format!(
            r#"[settings]
connect_timeout = "5s"

[credentials.domain]
user = '{domain}\{user}'
password = {{ file = "password" }}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"] }}

[groups.dcs]
hosts = ["{dc}"]
os = "windows"
credentials = ["domain"]
"#,
            domain = kdc.domain,
            user = kdc.user,
            dc = kdc.dc_addr,
        ),
    );
    let run = fleet.run(&["deploy", "agent", "--to", "dcs", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&kdc.dc_addr);
    assert_eq!(outcome["status"], "failed", "{}", run.debug());
    assert_eq!(outcome["installer_ran"], false, "{}", run.debug());
    let reason = run
        .events()
        .into_iter()
        .find(|e| e["type"] == "credential_rejected")
        .and_then(|e| e["data"]["reason"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no credential_rejected event: {}", run.debug()));
    for words in [
        "STATUS_NTLM_BLOCKED",
        "C0000418",
        "refuses NTLM",
        "Kerberos",
        "not yet",
    ] {
        assert!(reason.contains(words), "{words:?} missing from: {reason}");
    }
    assert_eq!(
        kdc.share_contents(),
        vec!["kerberos-upload.txt".to_string()],
        "pushinst left something in ADMIN$"
    );
    eprintln!(
        "DC provisioned and serving in {provisioned:?}, test done in {:?}",
        started.elapsed()
    );
}
