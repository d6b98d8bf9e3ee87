//! Issue 18: one TGT per credential per run — 500 hosts do not make 500 AS-REQs —
//! and keytab credentials. Against a real Active Directory domain controller
//! (Samba AD DC, `ntlm auth = disabled`; tests/common/kdc.rs) whose computer
//! account is given more SPNs (`cifs/aliasN.example.test`), so several hosts of
//! the inventory, each with a name of its own and so a service ticket of its own,
//! log on to it with Kerberos.
//!
//! The KDC is reached through a relay in this test that counts the requests by
//! kind (the first byte of each message: AS-REQ 0x6a, TGS-REQ 0x6c), so the count
//! is what the KDC was sent, whatever pushinst thinks it did.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Fleet;
use common::kdc::{Kdc, logged_on, rejection};

/// Requests the relay passed to the KDC.
#[derive(Default)]
struct Counts {
    as_req: AtomicUsize,
    tgs_req: AtomicUsize,
    /// The TGS-REQ (1 for the first) the relay answers itself with
    /// KRB_AP_ERR_TKT_EXPIRED, as a KDC does for a TGT past its end time.
    expire_tgs: Option<usize>,
    /// A real KRB-ERROR from the KDC (PREAUTH_REQUIRED), to forge that answer from.
    krb_error: std::sync::Mutex<Option<Vec<u8>>>,
}

/// A TCP relay on 127.0.0.1 to the DC's KDC that counts what goes through it:
/// its address (for `kdc = "…"`) and the counts.
fn counting_relay(kdc: &Kdc) -> (String, Arc<Counts>) {
    relay_with(kdc, Counts::default())
}

fn relay_with(kdc: &Kdc, counts: Counts) -> (String, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let counts = Arc::new(counts);
    let upstream = format!("{}:88", kdc.dc_addr);
    let c = counts.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (c, upstream) = (c.clone(), upstream.clone());
            std::thread::spawn(move || relay(client, &upstream, &c));
        }
    });
    (address, counts)
}

/// One KDC exchange (RFC 4120 7.2.2: a length, then the message), counted.
fn relay(mut client: TcpStream, upstream: &str, counts: &Counts) {
    let timeout = Some(Duration::from_secs(10));
    client.set_read_timeout(timeout).unwrap();
    let Some(request) = framed(&mut client) else {
        return;
    };
    match request.get(4) {
        Some(0x6a) => {
            counts.as_req.fetch_add(1, Ordering::SeqCst);
        }
        Some(0x6c) => {
            let n = counts.tgs_req.fetch_add(1, Ordering::SeqCst) + 1;
            if counts.expire_tgs == Some(n) {
                let _ = client.write_all(&expired(counts));
                return;
            }
        }
        _ => {}
    }
    let mut kdc = TcpStream::connect(upstream).unwrap();
    kdc.set_read_timeout(timeout).unwrap();
    kdc.write_all(&request).unwrap();
    if let Some(reply) = framed(&mut kdc) {
        if reply.get(4) == Some(&0x7e) {
            counts
                .krb_error
                .lock()
                .unwrap()
                .get_or_insert_with(|| reply.clone());
        }
        let _ = client.write_all(&reply);
    }
}

/// KRB_AP_ERR_TKT_EXPIRED (32): the KDC's own PREAUTH_REQUIRED (25) with its
/// error-code changed (`[6] INTEGER 25` → 32, the same length).
fn expired(counts: &Counts) -> Vec<u8> {
    let mut error = counts
        .krb_error
        .lock()
        .unwrap()
        .clone()
        .expect("a KRB-ERROR seen before");
    let at = error
        .windows(5)
        .position(|w| w == [0xa6, 0x03, 0x02, 0x01, 25])
        .expect("error-code 25 in the KDC's KRB-ERROR");
    error[at + 4] = 32;
    error
}

fn framed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let n = u32::from_be_bytes(len) as usize;
    let mut out = len.to_vec();
    out.resize(4 + n, 0);
    stream.read_exact(&mut out[4..]).ok()?;
    Some(out)
}

/// An inventory of `hosts` (all at the DC's address), one credential `domain`
/// made of `credential` (its `user` and how it logs on).
fn inventory(kdc: &Kdc, fleet: &Fleet, credential: &str, hosts: &[String]) {
    fleet.write("AcmeSetup.exe", "#!/bin/sh\nexit 0\n");
    let mut text = format!(
        r#"[settings]
connect_timeout = "5s"
exec = "task"

[credentials.domain]
{credential}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"] }}
"#
    );
    for host in hosts {
        text.push_str(&format!(
            "\n[[hosts]]\nname = \"{host}\"\naddress = \"{}\"\nos = \"windows\"\ncredentials = [\"domain\"]\n",
            kdc.dc_addr
        ));
    }
    fleet.write("pushinst.toml", &text);
}

fn check(kdc: &Kdc, fleet: &Fleet, hosts: &[String]) -> common::Run {
    let mut args = vec!["check", "--output", "json", "--to"];
    args.extend(hosts.iter().map(String::as_str));
    let conf = kdc.krb5_conf();
    fleet.run_with(&args, |c| {
        c.env("KRB5_CONFIG", Path::new(&conf));
    })
}

#[test]
fn many_hosts_make_one_as_exchange_and_one_tgs_exchange_each() {
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let mut hosts = vec![kdc.fqdn.clone()];
    for n in 1..=5 {
        hosts.push(kdc.alias(&format!("alias{n}")));
    }
    let (relay, counts) = counting_relay(&kdc);
    let password = fleet.write("password", &kdc.password);
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    inventory(
        &kdc,
        &fleet,
        &format!(
            "user = '{}@{}'\npassword = {{ file = \"password\" }}\nkdc = \"{relay}\"",
            kdc.user, kdc.realm
        ),
        &hosts,
    );

    let run = check(&kdc, &fleet, &hosts);
    for host in &hosts {
        logged_on(&run, host);
    }
    let (as_req, tgs_req) = (
        counts.as_req.load(Ordering::SeqCst),
        counts.tgs_req.load(Ordering::SeqCst),
    );
    eprintln!("{} hosts: {as_req} AS-REQs, {tgs_req} TGS-REQs", hosts.len());
    // One AS exchange: the request without pre-authentication (answered
    // PREAUTH_REQUIRED, with the salt) and the one with it. Without the run's
    // cache, each host makes both: 12 here.
    assert_eq!(as_req, 2, "AS-REQs for {} hosts", hosts.len());
    // One service ticket per host.
    assert_eq!(tgs_req, hosts.len(), "TGS-REQs for {} hosts", hosts.len());

    // A host whose name has no SPN fails on its own (the KDC: no such principal)
    // and costs no AS exchange. A TGT the KDC calls expired (the relay says so to
    // the second TGS-REQ, one with the run's TGT) is got again, once, and the host
    // logs on: the cache never costs a host its logon.
    let nospn = format!("nospn.{}", kdc.realm.to_lowercase());
    let mut all = hosts.clone();
    all.push(nospn.clone());
    let (relay, counts) = relay_with(
        &kdc,
        Counts {
            expire_tgs: Some(2),
            ..Counts::default()
        },
    );
    inventory(
        &kdc,
        &fleet,
        &format!(
            "user = '{}@{}'\npassword = {{ file = \"password\" }}\nkdc = \"{relay}\"\nauth = \"kerberos\"",
            kdc.user, kdc.realm
        ),
        &all,
    );
    let run = check(&kdc, &fleet, &all);
    for host in &hosts {
        logged_on(&run, host);
    }
    let reason = rejection(&run, &nospn);
    assert!(reason.contains(&format!("no SPN cifs/{nospn}")), "{reason}");
    let (as_req, tgs_req) = (
        counts.as_req.load(Ordering::SeqCst),
        counts.tgs_req.load(Ordering::SeqCst),
    );
    eprintln!(
        "{} hosts, one TGT called expired: {as_req} AS-REQs, {tgs_req} TGS-REQs",
        all.len()
    );
    // The first AS exchange, and one more after the TGT was called expired: the
    // host refused leads it from the moment the old answers are dropped, and the
    // others wait for it, also one that had the PREAUTH_REQUIRED answer already.
    // Never one exchange per host (14 here), nor one per host caught in between
    // (4 to 7 when machine was busy, before the wait).
    assert_eq!(as_req, 4, "AS-REQs");
    // One per host, and the one answered "expired" asked again.
    assert_eq!(tgs_req, all.len() + 1, "TGS-REQs");
    assert!(
        kdc.share_contents().is_empty(),
        "pushinst left something in ADMIN$: {:?}",
        kdc.share_contents()
    );
}

#[test]
fn a_keytab_logs_on_and_one_for_another_principal_is_named() {
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let hosts = vec![kdc.fqdn.clone()];
    let upn = format!("{}@{}", kdc.user, kdc.realm);

    // The user's own keys, exported from the domain: no password anywhere.
    let keytab = kdc.export_keytab(&kdc.user);
    std::fs::copy(&keytab, fleet.path("deployer.keytab")).unwrap();
    inventory(
        &kdc,
        &fleet,
        &format!("user = '{upn}'\nkeytab = \"deployer.keytab\""),
        &hosts,
    );
    let run = check(&kdc, &fleet, &hosts);
    logged_on(&run, &kdc.fqdn);

    // A keytab of another account (a computer's): named, with what it holds.
    let other = kdc.add_host("other", &[]);
    std::fs::copy(&other, fleet.path("other.keytab")).unwrap();
    inventory(
        &kdc,
        &fleet,
        &format!("user = '{upn}'\nkeytab = \"other.keytab\""),
        &hosts,
    );
    let run = check(&kdc, &fleet, &hosts);
    let reason = rejection(&run, &kdc.fqdn);
    for words in [
        "keytab",
        "other.keytab",
        "no AES key for",
        &upn,
        "other$@EXAMPLE.TEST",
    ] {
        assert!(reason.contains(words), "{words:?} missing from: {reason}");
    }

    // A keytab that is not there: named for the host, with its path (a missing
    // file is named by the run that needs it, as a missing key file is).
    inventory(
        &kdc,
        &fleet,
        &format!("user = '{upn}'\nkeytab = \"missing.keytab\""),
        &hosts,
    );
    let run = check(&kdc, &fleet, &hosts);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("cannot read the keytab"), "{reason}");
    assert!(reason.contains("missing.keytab"), "{reason}");
    // A file that is not a keytab is named as such, for the host.
    fleet.write("not.keytab", "hello\n");
    inventory(
        &kdc,
        &fleet,
        &format!("user = '{upn}'\nkeytab = \"not.keytab\""),
        &hosts,
    );
    let run = check(&kdc, &fleet, &hosts);
    let reason = rejection(&run, &kdc.fqdn);
    assert!(reason.contains("is not a keytab"), "{reason}");
}

/// libfaketime, for a clock that is off (Debian's `libfaketime`).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[test]
fn a_clock_the_kdc_calls_skewed_keeps_nothing_and_each_host_logs_on() {
    let kdc = Kdc::start();
    let fleet = Fleet::workspace();
    let hosts = vec![kdc.fqdn.clone(), kdc.alias("alias1"), kdc.alias("alias2")];
    let (relay, counts) = counting_relay(&kdc);
    let password = fleet.write("password", &kdc.password);
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    inventory(
        &kdc,
        &fleet,
        &format!(
            "user = '{}@{}'\npassword = {{ file = \"password\" }}\nkdc = \"{relay}\"",
            kdc.user, kdc.realm
        ),
        &hosts,
    );
    let mut args = vec!["check", "--output", "json", "--to"];
    args.extend(hosts.iter().map(String::as_str));
    let conf = kdc.krb5_conf();
    // Ten minutes ahead: more than the five the domain allows.
    let run = fleet.run_with(&args, |c| {
        c.env("KRB5_CONFIG", Path::new(&conf))
            .env("LD_PRELOAD", FAKETIME)
            .env("FAKETIME", "+10m")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    });
    for host in &hosts {
        logged_on(&run, host);
    }
    let (as_req, tgs_req) = (
        counts.as_req.load(Ordering::SeqCst),
        counts.tgs_req.load(Ordering::SeqCst),
    );
    eprintln!(
        "{} hosts, clock 10 min ahead: {as_req} AS-REQs, {tgs_req} TGS-REQs",
        hosts.len()
    );
    // sspi learns the offset only from the KDC's KRB_AP_ERR_SKEW, so each host
    // makes its own pre-authenticated AS exchange (refused for the skew, then
    // taken); only the salt answer is shared: 3 + 2 + 2. An AS-REP kept across
    // the skew would have each later host's TGS-REQ refused, and asked again.
    assert_eq!(as_req, 7, "AS-REQs");
    assert_eq!(tgs_req, hosts.len(), "TGS-REQs");
}
