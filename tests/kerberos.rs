//! Issue 18: Windows domains that refuse NTLM. Against a real Active Directory domain
//! controller (Samba AD DC, `ntlm auth = disabled`, signing mandatory; see
//! tests/common/kdc.rs), in a network namespace of its own.
//!
//! First step: the environment itself is proved (Samba's own client uploads to the
//! DC's ADMIN$ with Kerberos, from a password and from a `kinit` ticket cache, and is
//! refused with NTLM), and pushinst, which logs on
//! with NTLM only today, fails there with a reason that says the domain refuses NTLM
//! and that pushinst cannot log on with Kerberos yet — not a bare status number.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::Fleet;
use common::kdc::Kdc;

/// `smbclient` against the DC's ADMIN$ with `--use-kerberos=MODE`, logging on with
/// `logon` (`-U USER%PASSWORD`, or `-N` to take the ticket cache), running `command`:
/// whether it succeeded, and what it said.
fn smbclient(kdc: &Kdc, mode: &str, logon: &[&str], command: &str) -> (bool, String) {
    let out = Command::new("smbclient")
        .arg(format!("//{}/ADMIN$", kdc.fqdn))
        .args(["-I", &kdc.dc_addr])
        .arg(format!("--use-kerberos={mode}"))
        .args(logon)
        .args(["-c", command])
        .env("KRB5_CONFIG", kdc.krb5_conf())
        // A ticket cache of this test's own, so no ticket of the machine's is used
        // and none is left behind.
        .env("KRB5CCNAME", ccache(kdc))
        .output()
        .expect("run smbclient (examples/fleet/samba-ad-dc.sh setup installs it)");
    (out.status.success(), said(&out))
}

fn ccache(kdc: &Kdc) -> String {
    format!("FILE:{}", kdc.dir.path().join("ccache").display())
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `kinit` for the DC's admin, the password on stdin, into the test's ticket cache.
fn kinit(kdc: &Kdc) {
    let mut child = Command::new("kinit")
        .arg(format!("{}@{}", kdc.user, kdc.realm))
        .env("KRB5_CONFIG", kdc.krb5_conf())
        .env("KRB5CCNAME", ccache(kdc))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kinit (examples/fleet/samba-ad-dc.sh setup installs krb5-user)");
    writeln!(child.stdin.take().unwrap(), "{}", kdc.password).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kinit: {}", said(&out));
}

#[test]
fn domain_refusing_ntlm_takes_kerberos_uploads_and_pushinst_names_the_ntlm_refusal() {
    let started = Instant::now();
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let provisioned = started.elapsed();

    // The environment: Kerberos logs on and uploads, NTLM is refused by the domain.
    let sample = fleet.write("sample.txt", "uploaded with Kerberos\n");
    let with_password = format!("{}@{}%{}", kdc.user, kdc.realm, kdc.password);
    let (ok, out) = smbclient(
        &kdc,
        "required",
        &["-U", &with_password],
        &format!("put {} kerberos-upload.txt", sample.display()),
    );
    assert!(ok, "smbclient with Kerberos: {out}");
    assert_eq!(
        std::fs::read_to_string(kdc.share.join("kerberos-upload.txt")).unwrap(),
        "uploaded with Kerberos\n"
    );
    // A `kinit` ticket cache serves too (what a credential without a password will use).
    kinit(&kdc);
    let (ok, out) = smbclient(
        &kdc,
        "required",
        &["-N"],
        &format!("put {} from-ticket-cache.txt", sample.display()),
    );
    assert!(ok, "smbclient with the kinit ticket cache: {out}");
    assert!(kdc.share.join("from-ticket-cache.txt").is_file());
    let (ok, out) = smbclient(&kdc, "off", &["-U", &with_password], "ls");
    assert!(!ok, "the DC must refuse NTLM: {out}");
    assert!(out.contains("NT_STATUS_NTLM_BLOCKED"), "{out}");

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
        vec![
            "from-ticket-cache.txt".to_string(),
            "kerberos-upload.txt".to_string()
        ],
        "pushinst left something in ADMIN$"
    );
    eprintln!(
        "DC provisioned and serving in {provisioned:?}, test done in {:?}",
        started.elapsed()
    );
}
