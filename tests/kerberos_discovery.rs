//! Issue 18, what Kerberos finds by itself: the KDC from DNS (`_kerberos._tcp.REALM`
//! SRV) when neither the credential nor krb5.conf names one, the name of a host known
//! only by its address from its PTR record, what `check` and `--dry-run` say each
//! Windows host will use, and a clock off from the domain's.
//!
//! Against a real Active Directory domain controller (Samba AD DC, tests/common/kdc.rs)
//! and its own DNS: pushinst runs in a network namespace of its own whose resolver is
//! the DC (`ip netns exec` puts /etc/netns/NS/resolv.conf over /etc/resolv.conf), as
//! a controller joined to the domain would be configured.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use common::Fleet;
use common::kdc::{Kdc, logged_on, rejection, row};

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// An inventory of Windows hosts (name, address), logging on as `user` with the DC's
/// password, plus `extra` credential lines, and a krb5.conf with only the default
/// realm (no [realms]: no KDC in it).
fn inventory(kdc: &Kdc, fleet: &Fleet, user: &str, extra: &str, hosts: &[(&str, &str)]) {
    let file = fleet.write("password", &kdc.password);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    fleet.write(
        "krb5.conf",
        &format!(
            "[libdefaults]\n\tdefault_realm = {}\n\tdns_lookup_kdc = true\n",
            kdc.realm
        ),
    );
    let hosts: String = hosts
        .iter()
        .map(|(name, address)| {
            format!(
                "\n[[hosts]]\nname = \"{name}\"\naddress = \"{address}\"\nos = \"windows\"\ncredentials = [\"domain\"]\n"
            )
        })
        .collect();
    fleet.write(
        "pushinst.toml",
        &format!(
            r#"[settings]
connect_timeout = "5s"
exec = "task"

[credentials.domain]
user = '{user}'
password = {{ file = "password" }}
{extra}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"] }}
{hosts}"#
        ),
    );
}

/// pushinst in the network namespace `ns`, with the workspace's krb5.conf (or `krb5`).
fn run_in(ns: &str, fleet: &Fleet, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let base = fleet.pushinst();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(base.get_program()).args(args);
    if let Some(dir) = base.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("KRB5_CONFIG", fleet.path("krb5.conf"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let started = Instant::now();
    let output = cmd.output().expect("run pushinst in its namespace");
    common::Run {
        output,
        elapsed: started.elapsed(),
    }
}

/// `1.0.81.10.in-addr.arpa` for 10.81.0.1.
fn reverse(address: &str) -> String {
    let mut octets: Vec<&str> = address.split('.').collect();
    octets.reverse();
    format!("{}.in-addr.arpa", octets.join("."))
}

#[test]
fn kdc_from_dns_srv_host_name_from_ptr_and_check_and_dry_run_say_which() {
    let kdc = Kdc::start();
    let ns = kdc.controller();
    let fleet = Fleet::workspace();
    let upn = format!("{}@{}", kdc.user, kdc.realm);
    let srv = format!("_kerberos._tcp.{}", kdc.realm);
    let found = format!("{srv} → {}:88", kdc.fqdn);

    // No `kdc`, a krb5.conf without [realms]: the KDC comes from the SRV record, and
    // check says so with the row of a host it logged on to.
    inventory(&kdc, &fleet, &upn, "", &[(&kdc.fqdn, &kdc.dc_addr)]);
    let run = run_in(
        &ns,
        &fleet,
        &["check", "--output", "json", "--to", &kdc.fqdn],
        &[],
    );
    logged_on(&run, &kdc.fqdn);
    let logon = &row(&run, &kdc.fqdn)["logon"][0];
    assert_eq!(logon["credential"], "domain", "{}", run.debug());
    assert_eq!(logon["mechanism"], "negotiate", "{}", run.debug());
    assert_eq!(logon["kerberos_first"], true, "{}", run.debug());
    assert_eq!(logon["principal"], upn.as_str(), "{}", run.debug());
    assert_eq!(logon["kdc"], format!("{}:88", kdc.fqdn), "{}", run.debug());
    assert_eq!(logon["kdc_from"]["source"], "dns", "{}", run.debug());
    assert_eq!(logon["kdc_from"]["name"], srv.as_str(), "{}", run.debug());
    let run = run_in(&ns, &fleet, &["check", "--to", &kdc.fqdn], &[]);
    assert!(
        run.stdout().contains(&format!(
            "logon domain: negotiate: kerberos first (as {upn}, KDC from DNS {found})"
        )),
        "{}",
        run.debug()
    );

    // A host known only by its address, no PTR record yet: Kerberos cannot name it,
    // and the reason says what reverse DNS was asked.
    inventory(
        &kdc,
        &fleet,
        &upn,
        r#"auth = "kerberos""#,
        &[(&kdc.dc_addr, &kdc.dc_addr)],
    );
    let run = run_in(
        &ns,
        &fleet,
        &["check", "--output", "json", "--to", &kdc.dc_addr],
        &[],
    );
    let reason = rejection(&run, &kdc.dc_addr);
    assert!(reason.contains("DNS name"), "{reason}");
    assert!(reason.contains(&reverse(&kdc.dc_addr)), "{reason}");
    assert!(
        reason.contains(&format!(r#"address = "{}""#, kdc.dc_addr)),
        "{reason}"
    );

    // With its PTR record, it is logged on to by that name (cifs/<name>).
    kdc.add_ptr(&kdc.dc_addr, &kdc.fqdn);
    let run = run_in(
        &ns,
        &fleet,
        &["check", "--output", "json", "--to", &kdc.dc_addr],
        &[],
    );
    logged_on(&run, &kdc.dc_addr);
    let logon = &row(&run, &kdc.dc_addr)["logon"][0];
    assert_eq!(logon["host_name"], kdc.fqdn.as_str(), "{}", run.debug());
    assert_eq!(logon["name_from_reverse_dns"], true, "{}", run.debug());
    assert_eq!(logon["mechanism"], "kerberos", "{}", run.debug());

    // --dry-run shows the same decision for each Windows host, touching none.
    inventory(
        &kdc,
        &fleet,
        &upn,
        "",
        &[(&kdc.fqdn, &kdc.dc_addr), (&kdc.dc_addr, &kdc.dc_addr)],
    );
    let run = run_in(
        &ns,
        &fleet,
        &["deploy", "agent", "--dry-run", "--to", &kdc.fqdn, &kdc.dc_addr],
        &[],
    );
    assert!(run.output.status.success(), "{}", run.debug());
    let text = run.stdout();
    assert!(text.contains("windows logons:"), "{text}");
    assert!(
        text.contains(&format!(
            "logon domain: negotiate: kerberos first (as {upn}, KDC from DNS {found}), NTLM if kerberos cannot be used"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "KDC from DNS {found}, name {} from the PTR record of {})",
            kdc.fqdn, kdc.dc_addr
        )),
        "{text}"
    );
    let run = run_in(
        &ns,
        &fleet,
        &[
            "deploy",
            "agent",
            "--dry-run",
            "--output",
            "json",
            "--to",
            &kdc.fqdn,
        ],
        &[],
    );
    let planned = run
        .events()
        .into_iter()
        .find(|e| e["type"] == "planned")
        .unwrap_or_else(|| panic!("no planned line: {}", run.debug()));
    assert_eq!(
        planned["data"]["logon"][0]["kdc_from"]["source"],
        "dns",
        "{}",
        run.debug()
    );
    // The order of the sources: the credential's `kdc`, then krb5.conf, then DNS.
    inventory(
        &kdc,
        &fleet,
        &upn,
        &format!(r#"kdc = "{}""#, kdc.dc_addr),
        &[(&kdc.fqdn, &kdc.dc_addr)],
    );
    let run = run_in(
        &ns,
        &fleet,
        &["deploy", "agent", "--dry-run", "--to", &kdc.fqdn],
        &[],
    );
    assert!(
        run.stdout()
            .contains(&format!("KDC {}:88 (the credential's kdc)", kdc.dc_addr)),
        "{}",
        run.debug()
    );
    inventory(&kdc, &fleet, &upn, "", &[(&kdc.fqdn, &kdc.dc_addr)]);
    let run = run_in(
        &ns,
        &fleet,
        &["deploy", "agent", "--dry-run", "--to", &kdc.fqdn],
        &[("KRB5_CONFIG", &kdc.krb5_conf().display().to_string())],
    );
    assert!(
        run.stdout().contains(&format!(
            "KDC {}:88 (krb5.conf {})",
            kdc.dc_addr,
            kdc.krb5_conf().display()
        )),
        "{}",
        run.debug()
    );
    inventory(
        &kdc,
        &fleet,
        &upn,
        r#"auth = "ntlm""#,
        &[(&kdc.fqdn, &kdc.dc_addr)],
    );
    let run = run_in(
        &ns,
        &fleet,
        &["deploy", "agent", "--dry-run", "--to", &kdc.fqdn],
        &[],
    );
    assert!(run.stdout().contains("logon domain: ntlm"), "{}", run.debug());

    // A realm DNS has no SRV record for: the failure names the name asked.
    let other = format!("{}@ELSEWHERE.TEST", kdc.user);
    inventory(
        &kdc,
        &fleet,
        &other,
        r#"auth = "kerberos""#,
        &[(&kdc.fqdn, &kdc.dc_addr)],
    );
    let run = run_in(
        &ns,
        &fleet,
        &["check", "--output", "json", "--to", &kdc.fqdn],
        &[],
    );
    let reason = rejection(&run, &kdc.fqdn);
    for words in [
        "no KDC known for the realm ELSEWHERE.TEST",
        "SRV record _kerberos._tcp.ELSEWHERE.TEST",
        &kdc.dc_addr,
        "set `kdc` on the credential",
    ] {
        assert!(reason.contains(words), "{words:?} missing from: {reason}");
    }

    assert!(
        kdc.share_contents().is_empty(),
        "pushinst left something in ADMIN$: {:?}",
        kdc.share_contents()
    );
}

#[test]
fn a_clock_an_hour_off_is_taken_from_the_kdc_and_one_that_keeps_running_off_is_named() {
    assert!(
        std::path::Path::new(FAKETIME).is_file(),
        "{FAKETIME} missing: examples/fleet/samba-ad-dc.sh setup installs libfaketime"
    );
    let kdc = Kdc::start();
    let ns = kdc.controller();
    let fleet = Fleet::workspace();
    let upn = format!("{}@{}", kdc.user, kdc.realm);
    inventory(&kdc, &fleet, &upn, "", &[(&kdc.fqdn, &kdc.dc_addr)]);
    let check = ["check", "--output", "json", "--to", kdc.fqdn.as_str()];

    // An hour ahead: the KDC's skew error carries its time, and the logon uses it
    // (as kinit and Windows do), so a controller with a wrong clock still logs on.
    let run = run_in(
        &ns,
        &fleet,
        &check,
        &[
            ("LD_PRELOAD", FAKETIME),
            ("FAKETIME", "+1h"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    logged_on(&run, &kdc.fqdn);

    // A clock that runs 2000000 times too fast is off again by the time the retry
    // arrives (0.15 ms later is 5 minutes on it, the domain's limit): the skew is
    // named, with how far ahead this machine is.
    let run = run_in(
        &ns,
        &fleet,
        &check,
        &[
            ("LD_PRELOAD", FAKETIME),
            ("FAKETIME", "+1h x2000000"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let reason = rejection(&run, &kdc.fqdn);
    for words in [
        "clock skew: this machine's clock is ",
        " ahead of the clock of the KDC at ",
        "synchronise this machine's clock",
        "(NTP)",
    ] {
        assert!(reason.contains(words), "{words:?} missing from: {reason}");
    }
    assert!(kdc.share_contents().is_empty(), "{:?}", kdc.share_contents());
}
