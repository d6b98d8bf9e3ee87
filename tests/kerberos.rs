//! Issue 18: Windows domains that refuse NTLM. Against a real Active Directory domain
//! controller (Samba AD DC, `ntlm auth = disabled`, signing mandatory; see
//! tests/common/kdc.rs), in a network namespace of its own.
//!
//! The environment itself is proved (Samba's own client uploads to the DC's ADMIN$
//! with Kerberos, from a password and from a `kinit` ticket cache, and is refused
//! with NTLM); pushinst logs on with Kerberos from a password (`user@REALM` first,
//! `DOMAIN\user` once NTLM is refused), and names each way that fails: wrong
//! password (once per run), unknown principal, KDC down, a host known by address
//! only, and the NTLM refusal itself when `auth = "ntlm"`.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::Fleet;
use common::kdc::{Kdc, logged_on, rejection};

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
/// As an admin types it (the DC's defaults make the TGT renewable, which
/// pushinst's Kerberos client needs).
fn kinit(kdc: &Kdc) {
    kinit_with(kdc, &[]);
}

#[test]
fn domain_refusing_ntlm_takes_kerberos_and_pushinst_falls_back_to_it_or_names_the_refusal() {
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

    // pushinst with `DOMAIN\user` tries NTLM first, is refused by the domain, and
    // logs on with Kerberos instead (the realm and KDC from KRB5_CONFIG's krb5.conf).
    let run = check_as(
        &kdc,
        &fleet,
        &format!(r"{}\{}", kdc.domain, kdc.user),
        "",
        &kdc.fqdn,
    );
    logged_on(&run, &kdc.fqdn);
    // With `auth = "ntlm"` it is refused in words that say why and what the way out is.
    let run = check_as(
        &kdc,
        &fleet,
        &format!(r"{}\{}", kdc.domain, kdc.user),
        r#"auth = "ntlm""#,
        &kdc.fqdn,
    );
    let reason = rejection(&run, &kdc.fqdn);
    for words in [
        "STATUS_NTLM_BLOCKED",
        "C0000418",
        "refuses NTLM",
        "Kerberos",
        "user@REALM",
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

/// An inventory with one Windows host, named `name` (at the DC's address), logging
/// on as `user` with the DC's password or `password`, plus `extra` credential lines.
fn inventory(kdc: &Kdc, fleet: &Fleet, user: &str, password: &str, extra: &str, name: &str) {
    let file = fleet.write("password", password);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lines = format!("password = {{ file = \"password\" }}\n{extra}");
    write_inventory(kdc, fleet, user, &lines, name);
}

/// The inventory of one Windows host named `name` at the DC's address, whose
/// credential `domain` is `user` with `lines` (how it logs on).
fn write_inventory(kdc: &Kdc, fleet: &Fleet, user: &str, lines: &str, name: &str) {
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    fleet.write(
        "pushinst.toml",
        &format!(
            r#"[settings]
connect_timeout = "5s"
exec = "task"

[credentials.domain]
user = '{user}'
{lines}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"] }}

[[hosts]]
name = "{name}"
address = "{dc}"
os = "windows"
credentials = ["domain"]
"#,
            dc = kdc.dc_addr,
        ),
    );
}

/// `pushinst check --output json` on the DC (ADMIN$ writable: SMB only, as `exec =
/// "task"` needs no service manager), with krb5.conf from KRB5_CONFIG.
fn check_as(kdc: &Kdc, fleet: &Fleet, user: &str, extra: &str, name: &str) -> common::Run {
    check_with(kdc, fleet, user, &kdc.password, extra, name)
}

fn check_with(kdc: &Kdc, fleet: &Fleet, user: &str, password: &str, extra: &str, name: &str) -> common::Run {
    inventory(kdc, fleet, user, password, extra, name);
    run_with_krb5(kdc, fleet, &["check", "--output", "json", "--to", name])
}

fn run_with_krb5(kdc: &Kdc, fleet: &Fleet, args: &[&str]) -> common::Run {
    let conf = kdc.krb5_conf();
    fleet.run_with(args, |c| {
        c.env("KRB5_CONFIG", Path::new(&conf));
    })
}

#[test]
fn kerberos_logs_on_with_a_password_and_names_each_failure() {
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let upn = format!("{}@{}", kdc.user, kdc.realm);

    // user@REALM: Kerberos first; check makes and removes a directory in ADMIN$.
    let run = check_as(&kdc, &fleet, &upn, "", &kdc.fqdn);
    logged_on(&run, &kdc.fqdn);
    // The KDC named on the credential, no krb5.conf at all.
    inventory(
        &kdc,
        &fleet,
        &upn,
        &kdc.password,
        &format!(r#"kdc = "{}""#, kdc.dc_addr),
        &kdc.fqdn,
    );
    let run = fleet.run_with(&["check", "--output", "json", "--to", &kdc.fqdn], |c| {
        c.env("KRB5_CONFIG", "/nonexistent/krb5.conf");
    });
    logged_on(&run, &kdc.fqdn);

    // A deploy uploads over the Kerberos session; Samba cannot run it (no task
    // scheduler), so the host fails after the logon, never at it.
    inventory(&kdc, &fleet, &upn, &kdc.password, "", &kdc.fqdn);
    let run = run_with_krb5(
        &kdc,
        &fleet,
        &["deploy", "agent", "--to", &kdc.fqdn, "--output", "json"],
    );
    assert!(
        !run.events().iter().any(|e| e["type"] == "credential_rejected"),
        "{}",
        run.debug()
    );
    assert_eq!(
        steps_started(&run),
        ["connect", "authenticate", "upload", "execute", "cleanup"],
        "{}",
        run.debug()
    );
    assert!(
        run.stdout().contains("atsvc"),
        "fails at the task scheduler: {}",
        run.debug()
    );

    // Wrong password: named, and sent once.
    let run = check_with(&kdc, &fleet, &upn, "not-the-password", "", &kdc.fqdn);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("wrong password"), "{reason}");
    assert!(reason.contains(&upn), "{reason}");

    // Two hosts, one wrong password: the KDC sees it once in the run.
    inventory(&kdc, &fleet, &upn, "not-the-password", "", &kdc.fqdn);
    let text = std::fs::read_to_string(fleet.path("pushinst.toml")).unwrap();
    fleet.write(
        "pushinst.toml",
        &format!(
            "{text}\n[[hosts]]\nname = \"dc1-again.example.test\"\naddress = \"{}\"\nos = \"windows\"\ncredentials = [\"domain\"]\n",
            kdc.dc_addr
        ),
    );
    let run = run_with_krb5(
        &kdc,
        &fleet,
        &[
            "check",
            "--output",
            "json",
            "--to",
            &kdc.fqdn,
            "dc1-again.example.test",
        ],
    );
    let reasons = [
        rejection(&run, &kdc.fqdn),
        rejection(&run, "dc1-again.example.test"),
    ];
    assert!(
        reasons.iter().all(|r| r.contains("wrong password")),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| r.contains("not tried again")).count(),
        1,
        "{reasons:?}"
    );

    // Unknown user.
    let run = check_as(&kdc, &fleet, &format!("nobody@{}", kdc.realm), "", &kdc.fqdn);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("unknown principal"), "{reason}");
    assert!(reason.contains(&format!("nobody@{}", kdc.realm)), "{reason}");

    // KDC down: the address tried is named.
    let down = format!("{}:89", kdc.dc_addr);
    let run = check_as(&kdc, &fleet, &upn, &format!(r#"kdc = "{down}""#), &kdc.fqdn);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("cannot be reached"), "{reason}");
    assert!(reason.contains(&down), "{reason}");

    // A host known only by its address: Kerberos cannot name it, NTLM is refused.
    let run = check_as(&kdc, &fleet, &upn, "", &kdc.dc_addr);
    let reason = rejection(&run, &kdc.dc_addr);
    assert!(reason.contains("DNS name"), "{reason}");
    assert!(
        reason.contains(&format!(r#"address = "{}""#, kdc.dc_addr)),
        "{reason}"
    );
    assert!(reason.contains("STATUS_NTLM_BLOCKED"), "{reason}");

    // `auth = "kerberos"` never falls back to NTLM.
    let run = check_as(&kdc, &fleet, &upn, r#"auth = "kerberos""#, &kdc.dc_addr);
    let reason = rejection(&run, &kdc.dc_addr);
    assert!(reason.contains("DNS name"), "{reason}");
    assert!(!reason.contains("NTLM"), "{reason}");

    assert!(
        kdc.share_contents().is_empty(),
        "pushinst left something in ADMIN$: {:?}",
        kdc.share_contents()
    );
}

/// `kinit` with `options` (`-l 5s`, `-r 1d`).
fn kinit_with(kdc: &Kdc, options: &[&str]) {
    let mut child = Command::new("kinit")
        .args(options)
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

/// An inventory whose credential names a domain user and nothing else: it logs on
/// with the TGT `kinit` left in KRB5CCNAME.
fn cache_inventory(kdc: &Kdc, fleet: &Fleet, user: &str) {
    write_inventory(kdc, fleet, user, "", &kdc.fqdn);
}

fn run_with_cache(kdc: &Kdc, fleet: &Fleet, ccname: &str, args: &[&str]) -> common::Run {
    let conf = kdc.krb5_conf();
    fleet.run_with(args, |c| {
        c.env("KRB5_CONFIG", Path::new(&conf)).env("KRB5CCNAME", ccname);
    })
}

#[test]
fn a_domain_user_without_a_password_logs_on_with_the_kinit_ticket_cache() {
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let upn = format!("{}@{}", kdc.user, kdc.realm);
    let check = ["check", "--output", "json", "--to", kdc.fqdn.as_str()];

    // No cache yet: said at load, before any host is touched, with what to do.
    cache_inventory(&kdc, &fleet, &upn);
    let run = run_with_cache(&kdc, &fleet, &ccache(&kdc), &check);
    assert_eq!(run.code(), 2, "{}", run.debug());
    assert!(run.stderr().contains("no ticket cache at"), "{}", run.debug());
    assert!(
        run.stderr().contains(&format!("run `kinit {upn}` first")),
        "{}",
        run.debug()
    );
    // A cache type pushinst cannot read is named, not guessed at.
    let run = run_with_cache(&kdc, &fleet, "KEYRING:persistent:0", &check);
    assert!(run.stderr().contains("KEYRING"), "{}", run.debug());

    // A TGT that is not renewable: the KDC refuses the renewable service ticket
    // asked for, and the reason says how to kinit.
    // (`kinit -l` without `-r` gets one: the flags in the cache say so.)
    kinit_with(&kdc, &["-l", "10h"]);
    let run = run_with_cache(&kdc, &fleet, &ccache(&kdc), &check);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("not renewable"), "{reason}");
    assert!(reason.contains(&format!("kinit -r 7d {upn}")), "{reason}");

    // After kinit (KRB5CCNAME with and without `FILE:`): Kerberos with the cache's
    // TGT; check makes and removes a directory in the DC's ADMIN$.
    kinit(&kdc);
    let bare = ccache(&kdc).trim_start_matches("FILE:").to_string();
    for (user, ccname) in [(upn.clone(), ccache(&kdc)), (upn.clone(), bare)] {
        cache_inventory(&kdc, &fleet, &user);
        let run = run_with_cache(&kdc, &fleet, &ccname, &check);
        logged_on(&run, &kdc.fqdn);
        // Kerberos only: no password for NTLM to fall back to, and check says so.
        assert!(
            run.stdout().contains(r#""mechanism":"kerberos""#),
            "{}",
            run.debug()
        );
    }
    // A deploy uploads to ADMIN$ over the session the cache's TGT opened (Samba
    // then has no task scheduler to run it: the host fails after the upload).
    let deploy = ["deploy", "agent", "--to", kdc.fqdn.as_str(), "--output", "json"];
    let run = run_with_cache(&kdc, &fleet, &ccache(&kdc), &deploy);
    assert_eq!(
        steps_started(&run),
        ["connect", "authenticate", "upload", "execute", "cleanup"],
        "{}",
        run.debug()
    );

    // Another user's cache: named, with what it holds.
    cache_inventory(&kdc, &fleet, &format!("someone@{}", kdc.realm));
    let run = run_with_cache(&kdc, &fleet, &ccache(&kdc), &check);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("holds no TGT for someone@"), "{reason}");
    assert!(reason.contains(&format!("for {upn}")), "{reason}");

    // A TGT that has expired: named, with kinit to run again.
    kinit_with(&kdc, &["-r", "1d", "-l", "5s"]);
    std::thread::sleep(std::time::Duration::from_secs(6));
    cache_inventory(&kdc, &fleet, &upn);
    let run = run_with_cache(&kdc, &fleet, &ccache(&kdc), &check);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("expired"), "{reason}");
    assert!(reason.contains(&format!("run `kinit {upn}` again")), "{reason}");
}

/// The steps the run started on its host, in order.
fn steps_started(run: &common::Run) -> Vec<String> {
    run.events()
        .iter()
        .filter(|e| e["type"] == "step_started")
        .filter_map(|e| e["data"]["step"].as_str().map(str::to_string))
        .collect()
}
