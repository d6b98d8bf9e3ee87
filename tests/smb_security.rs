//! Issue 11: a Windows push that a man in the middle, a local user or a hostile
//! server cannot turn against the admin.
//!
//! - A tampering proxy (tests/common/smb_proxy.rs) between pushinst and real Samba
//!   strips signatures, flips bytes and downgrades the NEGOTIATE answer: each attack
//!   must cost the host ("possible tampering on the path to HOST") before anything
//!   is uploaded, while the same path untouched carries a deploy as far as Samba
//!   goes (Samba cannot create services: the upload lands, execute fails).
//! - Samba hardened to AES-256 ciphers, or capped at SMB 3.0.2, is reached encrypted.
//! - The staging directory is a new one in ADMIN$ created with FILE_CREATE and a
//!   security descriptor for SYSTEM and Administrators only (emulator's record,
//!   the proxy's record and Samba's own ACL read back by smbcacls).
//! - A hostile server (the emulator's hostile modes: lying lengths and counts,
//!   correctly signed) costs a failed host: no panic, no hang, bounded memory.

mod common;

use std::path::Path;
use std::time::Duration;

use common::emulator::Emulators;
use common::samba::{Ace, Acl, Samba};
use common::smb_proxy::{self, Mode, SmbProxy, Stats, Tamper};
use common::{Fleet, Run};

/// SYSTEM and Administrators: the only principals the staging directory admits.
const SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";
const FULL_CONTROL: u32 = 0x001F_01FF;
const OBJECT_AND_CONTAINER_INHERIT: u8 = 0x03;
const SE_DACL_PRESENT: u16 = 0x0004;
const SE_DACL_PROTECTED: u16 = 0x1000;
const FILE_CREATE: u32 = 2;
const FILE_OPEN: u32 = 1;
const FILE_DIRECTORY_FILE: u32 = 1;
/// A pushinst that trusts a hostile server's lengths is killed past this, so the
/// test fails without taking the shared machine's memory with it.
const KILL_ABOVE_KIB: u64 = 400 * 1024;
/// What a run against a hostile server may cost at most.
const RSS_BOUND_KIB: u64 = 150 * 1024;
const HOSTILE_REFUSED_WITHIN: Duration = Duration::from_secs(15);

/// An inventory of Windows hosts `hosts`, all logging on as Administrator with the
/// password in `password`.
fn inventory(password: &Path, settings: &str, hosts: &[String], package_extra: &str) -> String {
    let quoted: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        r#"[settings]
connect_timeout = "3s"
{settings}

[credentials.admin]
user = 'Administrator'
password = {{ file = "{password}" }}

[packages.agent]
version = "7.2"
windows = {{ file = "AcmeSetup.exe", args = ["/quiet"]{package_extra} }}

[groups.branch]
hosts = [{hosts}]
os = "windows"
credentials = ["admin"]
"#,
        password = password.display(),
        hosts = quoted.join(", ")
    )
}

/// An installer of `mib` MiB for Samba (never run: Samba creates no services).
fn samba_installer(fleet: &Fleet, mib: usize) {
    let installer: Vec<u8> = (0..mib * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    std::fs::write(fleet.path("AcmeSetup.exe"), installer).unwrap();
}

/// An installer for the emulator: a shell script it runs.
fn emulator_installer(fleet: &Fleet) {
    fleet.write("AcmeSetup.exe", "#!/bin/sh\necho \"setup ran with: $*\"\n");
}

fn deploy(fleet: &Fleet, extra: &[&str]) -> Run {
    let mut args = vec!["deploy", "agent", "--to", "branch", "-j", "8", "--output", "json"];
    args.extend_from_slice(extra);
    fleet.run(&args)
}

fn reason(run: &Run, host: &str) -> String {
    run.outcome(host)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The host failed because what came back was not what the server sent.
fn assert_tampering_refused(run: &Run, host: &str, what: &str) {
    let outcome = run.outcome(host);
    assert_ne!(outcome["status"], "ok", "{what}: {}", run.debug());
    let reason = reason(run, host);
    assert!(
        reason.contains(&format!("possible tampering on the path to {host}")),
        "{what}: the reason should name tampering on the path to {host}, got {reason:?}\n{}",
        run.debug()
    );
}

/// The untouched path carried the deploy as far as Samba lets it: past logon and
/// the upload, into execute (where Samba refuses CreateServiceW).
fn assert_control_reached_execute(run: &Run, host: &str) {
    let outcome = run.outcome(host);
    assert_eq!(
        outcome["step"],
        "execute",
        "the control run should get past logon and upload: {}",
        run.debug()
    );
}

/// Samba fleets with `env`, one smbd per mode, each behind a proxy in that mode;
/// one deploy to all of them. Returns the run, the proxies and Samba.
fn through_proxies(
    fleet: &Fleet,
    env: &[(&str, &str)],
    settings: &str,
    modes: &[Mode],
) -> (Run, Vec<SmbProxy>, Samba) {
    let samba = Samba::start(modes.len(), env);
    let proxies: Vec<SmbProxy> = modes
        .iter()
        .zip(&samba.endpoints)
        .map(|(mode, server)| SmbProxy::start(server, mode.clone()))
        .collect();
    let hosts: Vec<String> = proxies.iter().map(|p| p.endpoint.clone()).collect();
    samba_installer(fleet, 3);
    fleet.write(
        "pushinst.toml",
        &inventory(&samba.password_file(), settings, &hosts, ""),
    );
    let run = deploy(fleet, &[]);
    (run, proxies, samba)
}

/// Each attack in `modes[1..]` (`modes[0]` is the untouched control) was refused
/// before any WRITE reached Samba, and nothing is left in its ADMIN$.
fn assert_attacks_refused(run: &Run, proxies: &[SmbProxy], samba: &Samba, modes: &[Mode]) {
    assert_ne!(run.code(), 0, "{}", run.debug());
    let control = &proxies[0];
    assert_control_reached_execute(run, &control.endpoint);
    assert_eq!(control.changed(), 0);
    assert!(
        control.requests(smb_proxy::WRITE) > 0,
        "the control run's upload went through the proxy in plaintext WRITEs"
    );
    for (n, (proxy, mode)) in proxies.iter().zip(modes).enumerate().skip(1) {
        assert!(
            proxy.changed() >= 1,
            "{mode:?}: the proxy never found what to tamper with: the attack did not happen"
        );
        assert_tampering_refused(run, &proxy.endpoint, &format!("{mode:?}"));
        assert_eq!(
            proxy.requests(smb_proxy::WRITE),
            0,
            "{mode:?}: nothing may be uploaded over a tampered session"
        );
        assert_eq!(
            samba.admin_leftovers(n + 1),
            Vec::<String>::new(),
            "{mode:?}: ADMIN$ must be left as it was"
        );
    }
    for n in 1..=proxies.len() {
        assert!(
            !samba.admin_leftovers(n).iter().any(|p| p.contains("pushinst-")),
            "host {n}: {:?}",
            samba.admin_leftovers(n)
        );
    }
}

#[test]
fn stripped_and_flipped_answers_are_refused_by_a_signing_mandatory_samba_client() {
    let fleet = Fleet::workspace();
    let modes = [
        Mode::Pass,
        Mode::StripFinalSessionSetupSignature,
        Mode::StripLaterSignature,
        Mode::FlipByte,
    ];
    let (run, proxies, samba) = through_proxies(
        &fleet,
        &[("SMBD_SIGNING", "mandatory"), ("SMBD_ENCRYPT", "off")],
        "smb_encryption = \"off\"",
        &modes,
    );
    assert_attacks_refused(&run, &proxies, &samba, &modes);
}

#[test]
fn stripped_and_flipped_answers_are_refused_even_where_samba_makes_signing_optional() {
    let fleet = Fleet::workspace();
    let modes = [
        Mode::Pass,
        Mode::StripFinalSessionSetupSignature,
        Mode::StripLaterSignature,
        Mode::FlipByte,
    ];
    let (run, proxies, samba) = through_proxies(
        &fleet,
        &[("SMBD_SIGNING", "auto"), ("SMBD_ENCRYPT", "off")],
        "smb_encryption = \"off\"",
        &modes,
    );
    assert_attacks_refused(&run, &proxies, &samba, &modes);
    // The server only signs when the client asks: pushinst must have asked, or a
    // man in the middle would have had nothing to strip.
    assert_eq!(
        proxies[0].count(|s| &s.unsigned_after_logon),
        0,
        "Samba answered unsigned after logon: pushinst did not require signing"
    );
}

/// `smb_signing = "allow-tampering"` is the admin's explicit, announced choice: a
/// server that does not require signing is then reached even unsigned, while one
/// that requires it is still held to its signature.
#[test]
fn allow_tampering_lets_unsigned_answers_through_only_where_the_server_does_not_require_signing() {
    let fleet = Fleet::workspace();
    let settings = "smb_encryption = \"off\"\nsmb_signing = \"allow-tampering\"";
    let modes = [Mode::Pass, Mode::StripLaterSignature];
    let (run, proxies, _samba) = through_proxies(
        &fleet,
        &[("SMBD_SIGNING", "auto"), ("SMBD_ENCRYPT", "off")],
        settings,
        &modes,
    );
    assert_eq!(proxies[1].changed(), 1, "the signature was stripped");
    for proxy in &proxies {
        assert_control_reached_execute(&run, &proxy.endpoint);
    }
    assert!(
        run.stderr().contains("smb_signing = \"allow-tampering\" for")
            && run.stderr().contains("anyone on the network path"),
        "the run must say the rule is relaxed: {}",
        run.debug()
    );

    let fleet = Fleet::workspace();
    let (run, proxies, _samba) = through_proxies(
        &fleet,
        &[("SMBD_SIGNING", "mandatory"), ("SMBD_ENCRYPT", "off")],
        settings,
        &modes,
    );
    assert_control_reached_execute(&run, &proxies[0].endpoint);
    assert_tampering_refused(
        &run,
        &proxies[1].endpoint,
        "StripLaterSignature (signing mandatory)",
    );
}

#[test]
fn a_flipped_ciphertext_byte_on_an_encrypted_session_is_refused() {
    let fleet = Fleet::workspace();
    let modes = [Mode::Pass, Mode::FlipByte];
    let (run, proxies, samba) = through_proxies(&fleet, &[], "", &modes);
    assert_ne!(run.code(), 0, "{}", run.debug());
    assert_control_reached_execute(&run, &proxies[0].endpoint);
    assert!(
        proxies[0].count(|s| &s.transform_frames) > 0,
        "the control session was encrypted"
    );
    assert_eq!(
        proxies[0].requests(smb_proxy::WRITE),
        0,
        "no plaintext WRITE on an encrypted session"
    );
    let flipped = &proxies[1];
    assert_eq!(flipped.changed(), 1, "one ciphertext byte was flipped");
    assert_tampering_refused(&run, &flipped.endpoint, "FlipByte (encrypted)");
    assert!(
        reason(&run, &flipped.endpoint).contains("integrity check"),
        "an encrypted answer that fails to open is an integrity failure: {}",
        reason(&run, &flipped.endpoint)
    );
    assert_eq!(samba.admin_leftovers(2), Vec::<String>::new());
}

#[test]
fn a_negotiate_downgrade_to_signing_optional_breaks_the_3_1_1_session() {
    let fleet = Fleet::workspace();
    let modes = [Mode::Pass, Mode::ClearSigningRequired];
    let (run, proxies, samba) = through_proxies(
        &fleet,
        &[("SMBD_SIGNING", "mandatory"), ("SMBD_ENCRYPT", "off")],
        "smb_encryption = \"off\"",
        &modes,
    );
    // Pre-authentication integrity: the signing key covers the NEGOTIATE answer,
    // so the final SESSION_SETUP answer cannot verify.
    assert_attacks_refused(&run, &proxies, &samba, &modes);
}

/// A deploy through an untouched proxy to one Samba started with `env`, at -vv.
fn encrypted_deploy(env: &[(&str, &str)]) -> (Fleet, Samba, SmbProxy, Run) {
    let fleet = Fleet::workspace();
    let samba = Samba::start(1, env);
    let proxy = SmbProxy::start(&samba.endpoints[0], Mode::Pass);
    samba_installer(&fleet, 3);
    fleet.write(
        "pushinst.toml",
        &inventory(
            &samba.password_file(),
            "",
            std::slice::from_ref(&proxy.endpoint),
            "",
        ),
    );
    let run = deploy(&fleet, &["-vv"]);
    (fleet, samba, proxy, run)
}

fn assert_encrypted_upload(run: &Run, proxy: &SmbProxy, cipher_line: &str) {
    assert_control_reached_execute(run, &proxy.endpoint);
    assert!(proxy.count(|s| &s.transform_frames) > 0, "{}", run.debug());
    assert_eq!(proxy.requests(smb_proxy::WRITE), 0, "the upload went encrypted");
    assert!(
        run.stderr().contains(cipher_line),
        "-vv should log {cipher_line:?}:\n{}",
        run.stderr()
    );
}

#[test]
fn samba_limited_to_aes_256_gcm_is_reached_encrypted() {
    let (_fleet, samba, proxy, run) = encrypted_deploy(&[("SMBD_ENCRYPTION_ALGORITHMS", "AES-256-GCM")]);
    assert_encrypted_upload(&run, &proxy, "SMB 3.1.1 session, cipher AES-256-GCM");
    assert_eq!(samba.admin_leftovers(1), Vec::<String>::new());
}

#[test]
fn samba_limited_to_aes_256_ccm_is_reached_encrypted() {
    let (_fleet, samba, proxy, run) = encrypted_deploy(&[("SMBD_ENCRYPTION_ALGORITHMS", "AES-256-CCM")]);
    assert_encrypted_upload(&run, &proxy, "SMB 3.1.1 session, cipher AES-256-CCM");
    assert_eq!(samba.admin_leftovers(1), Vec::<String>::new());
}

#[test]
fn samba_capped_at_smb_3_0_2_is_reached_signed_and_encrypted() {
    let (_fleet, samba, proxy, run) = encrypted_deploy(&[("SMBD_MAX_PROTOCOL", "SMB3_02")]);
    // 3.0.2 knows one cipher, AES-128-CCM.
    assert_encrypted_upload(&run, &proxy, "SMB 3.0.2 session, cipher AES-128-CCM");
    assert_eq!(samba.admin_leftovers(1), Vec::<String>::new());
}

#[test]
fn a_negotiate_downgrade_on_smb_3_0_2_is_caught_by_validate_negotiate() {
    let fleet = Fleet::workspace();
    let modes = [Mode::Pass, Mode::ClearSigningRequired];
    let (run, proxies, samba) = through_proxies(
        &fleet,
        &[
            ("SMBD_MAX_PROTOCOL", "SMB3_02"),
            ("SMBD_SIGNING", "mandatory"),
            ("SMBD_ENCRYPT", "off"),
        ],
        "smb_encryption = \"off\"",
        &modes,
    );
    assert_attacks_refused(&run, &proxies, &samba, &modes);
}

/// What the staging directory's descriptor must say, group aside.
fn admin_only(acl: &Acl) {
    assert_eq!(
        acl.control & (SE_DACL_PRESENT | SE_DACL_PROTECTED),
        SE_DACL_PRESENT | SE_DACL_PROTECTED,
        "DACL present and protected from inheritance: {acl:?}"
    );
    assert_eq!(acl.owner, ADMINISTRATORS, "{acl:?}");
    let mut aces = acl.aces.clone();
    aces.sort_by(|a, b| a.sid.cmp(&b.sid));
    let allowed = |sid: &str| Ace {
        sid: sid.to_string(),
        kind: 0,
        flags: OBJECT_AND_CONTAINER_INHERIT,
        mask: FULL_CONTROL,
    };
    assert_eq!(aces, vec![allowed(SYSTEM), allowed(ADMINISTRATORS)], "{acl:?}");
}

fn is_staging_name(name: &str) -> bool {
    name.strip_prefix("pushinst-").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Every file and directory under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_emulator_records_an_admin_only_staging_directory_in_the_admin_share_root() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    emulator_installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&win.password_file(), "", &win.endpoints, ""),
    );
    let run = deploy(&fleet, &[]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let creates: Vec<serde_json::Value> = win
        .calls(1)
        .iter()
        .filter_map(|l| l.strip_prefix("CREATE "))
        .map(|j| serde_json::from_str(j).expect("CREATE line is JSON"))
        .collect();
    let on_admin: Vec<&serde_json::Value> = creates.iter().filter(|c| c["share"] == "ADMIN$").collect();
    let staging: Vec<&&serde_json::Value> = on_admin
        .iter()
        .filter(|c| c["path"].as_str().is_some_and(is_staging_name))
        .filter(|c| c["disposition"] == FILE_CREATE)
        .collect();
    assert_eq!(
        staging.len(),
        1,
        "one staging directory, named pushinst-<32 hex>, directly in ADMIN$, created with FILE_CREATE: {on_admin:#?}"
    );
    let dir = staging[0];
    let name = dir["path"].as_str().unwrap();
    assert_eq!(dir["status"], 0, "{dir}");
    assert_ne!(
        dir["options"].as_u64().unwrap() & u64::from(FILE_DIRECTORY_FILE),
        0,
        "{dir}"
    );
    assert!(
        dir["contexts"].as_array().unwrap().contains(&"SecD".into()),
        "{dir}"
    );
    let sd = &dir["sd"];
    let acl = Acl {
        control: sd["control"].as_u64().unwrap() as u16,
        owner: sd["owner"].as_str().unwrap_or_default().to_string(),
        group: sd["group"].as_str().unwrap_or_default().to_string(),
        aces: sd["dacl"]["aces"]
            .as_array()
            .expect("a DACL")
            .iter()
            .map(|a| Ace {
                sid: a["sid"].as_str().unwrap().to_string(),
                kind: a["type"].as_u64().unwrap() as u8,
                flags: a["flags"].as_u64().unwrap() as u8,
                mask: a["mask"].as_u64().unwrap() as u32,
            })
            .collect(),
    };
    admin_only(&acl);
    // The installer and the wrapper go inside it, and pushinst touches nothing else
    // in ADMIN$.
    let installer = format!(r"{name}\AcmeSetup.exe");
    assert!(
        on_admin.iter().any(|c| c["path"] == installer.as_str()),
        "the installer is created inside {name}: {on_admin:#?}"
    );
    assert!(
        on_admin.iter().any(|c| c["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(&format!(r"{name}\")) && p.ends_with(".cmd"))),
        "the wrapper is created inside {name}: {on_admin:#?}"
    );
    for c in &on_admin {
        let path = c["path"].as_str().unwrap_or_default();
        assert!(
            path == name || path.starts_with(&format!(r"{name}\")),
            "pushinst touched {path:?} outside its staging directory"
        );
    }
    assert_eq!(
        tree(&win.root(1).join("windows")),
        ["Temp"],
        "nothing of pushinst is left on the host"
    );
}

#[test]
fn samba_stores_the_staging_descriptor_exactly_and_is_left_clean() {
    let fleet = Fleet::workspace();
    let samba = Samba::start(1, &[("SMBD_ENCRYPT", "off")]);
    let proxy = SmbProxy::start(&samba.endpoints[0], Mode::Pass);
    // The upload (48 WRITEs) lasts seconds: smbcacls reads the directory's ACL while
    // it is there, before cleanup removes it.
    proxy.slow_writes(Duration::from_millis(60));
    samba_installer(&fleet, 3);
    fleet.write(
        "pushinst.toml",
        &inventory(
            &samba.password_file(),
            "smb_encryption = \"off\"",
            std::slice::from_ref(&proxy.endpoint),
            "",
        ),
    );
    // Its output is a few lines: the pipes cannot fill while it is polled.
    let mut child = fleet
        .pushinst()
        .args(["deploy", "agent", "--to", "branch", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pushinst");
    let started = std::time::Instant::now();
    let mut stored = None;
    while stored.is_none() && child.try_wait().expect("pushinst").is_none() {
        let staged = samba.admin_leftovers(1).into_iter().find(|p| is_staging_name(p));
        if let Some(dir) = staged {
            stored = Some((dir.clone(), samba.acl(1, &dir)));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = Run::wait(child, started);
    let (dir, acl) = stored.unwrap_or_else(|| {
        panic!(
            "no pushinst-<32 hex> directory ever appeared in ADMIN$: {:?}\n{}",
            samba.admin_leftovers(1),
            run.debug()
        )
    });
    let acl = acl.unwrap_or_else(|e| panic!("smbcacls on {dir}: {e}"));
    // acl_xattr keeps what was sent; the group (none sent) is Samba's to fill.
    admin_only(&acl);
    let opens: Vec<smb_proxy::CreateRequest> = proxy
        .creates()
        .iter()
        .filter_map(|f| smb_proxy::create_request(f))
        .filter(|c| c.path == dir)
        .collect();
    // Created once; every later CREATE of it (cleanup's listing and delete) only opens.
    let sent: Vec<_> = opens.iter().filter(|c| c.disposition != FILE_OPEN).collect();
    assert_eq!(sent.len(), 1, "one CREATE of {dir}: {opens:?}");
    assert_eq!(sent[0].disposition, FILE_CREATE);
    assert_ne!(sent[0].options & FILE_DIRECTORY_FILE, 0);
    admin_only(&sent[0].security_descriptor().expect("a SecD create context"));
    assert_control_reached_execute(&run, &proxy.endpoint);
    assert_eq!(
        samba.admin_leftovers(1),
        Vec::<String>::new(),
        "cleanup removed it"
    );
}

/// What a hostile answer must cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cost {
    /// The host fails, with a reason.
    Host,
    /// The install stands; the cleanup (where pushinst lists the staging directory)
    /// fails, with a reason in the host's log.
    Cleanup,
    /// Nothing need fail (generous credits are no error).
    Nothing,
}

/// Deploy to an emulator in hostile `mode` under the memory watchdog, and check the
/// attack happened and cost no more than `cost`: no panic, no hang, bounded memory.
fn against_hostile(mode: &str, cost: Cost) {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, mode);
    emulator_installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(&win.password_file(), "", &win.endpoints, r#", timeout = "20s""#),
    );
    let bounded = fleet.run_bounded(
        &["deploy", "agent", "--to", "branch", "--output", "json"],
        Duration::from_secs(60),
        KILL_ABOVE_KIB,
    );
    let run = &bounded.run;
    // For the record in the test's output: what the attack cost.
    eprintln!(
        "{mode}: peak RSS {} KiB, {:?}, killed: {:?}, exit {}",
        bounded.peak_rss_kib,
        bounded.elapsed,
        bounded.killed,
        run.code()
    );
    assert!(
        win.calls(1)
            .iter()
            .any(|c| c.starts_with(&format!("HOSTILE {mode}"))),
        "{mode}: the emulator never sent its hostile answer (pushinst never asked): {:?}\n{}",
        win.calls(1),
        run.debug()
    );
    assert_eq!(bounded.killed, None, "{mode}: {}", run.debug());
    assert!(!run.stderr().contains("panicked"), "{mode}: {}", run.debug());
    assert!(
        bounded.peak_rss_kib < RSS_BOUND_KIB,
        "{mode}: peak resident set {} KiB, bound {RSS_BOUND_KIB} KiB",
        bounded.peak_rss_kib
    );
    // The emulator answers at once; a client that needs long to give up has been
    // taking what it was sent (a step timeout is no defence).
    assert!(
        bounded.elapsed < HOSTILE_REFUSED_WITHIN,
        "{mode}: took {:?}: {}",
        bounded.elapsed,
        run.debug()
    );
    let outcome = run.outcome(&win.endpoints[0]);
    match cost {
        Cost::Host => {
            assert_eq!(run.code(), 1, "{mode}: {}", run.debug());
            assert_eq!(outcome["status"], "failed", "{mode}: {}", run.debug());
            assert!(
                !outcome["reason"].as_str().unwrap_or_default().is_empty(),
                "{mode}: {outcome}"
            );
        }
        Cost::Cleanup => {
            let logs = fleet.all_logs();
            assert!(
                outcome["status"] == "failed" || logs.contains("cleanup:    FAILED: "),
                "{mode}: the host's cleanup should have failed with a reason:\n{logs}\n{}",
                run.debug()
            );
        }
        Cost::Nothing => {}
    }
}

#[test]
fn hostile_read_that_never_ends_costs_only_the_host() {
    against_hostile("hostile-read", Cost::Host);
}

#[test]
fn hostile_read_length_beyond_the_message_costs_only_the_host() {
    against_hostile("hostile-read-length", Cost::Host);
}

#[test]
fn hostile_listing_of_ten_million_names_costs_only_the_cleanup() {
    against_hostile("hostile-listing", Cost::Cleanup);
}

#[test]
fn hostile_listing_whose_offsets_loop_costs_only_the_cleanup() {
    against_hostile("hostile-listing-offsets", Cost::Cleanup);
}

#[test]
fn hostile_rpc_answer_without_a_last_fragment_costs_only_the_host() {
    against_hostile("hostile-rpc", Cost::Host);
}

#[test]
fn hostile_rpc_fragment_length_costs_only_the_host() {
    against_hostile("hostile-rpc-length", Cost::Host);
}

#[test]
fn hostile_ioctl_output_count_costs_only_the_host() {
    against_hostile("hostile-ioctl-length", Cost::Host);
}

#[test]
fn a_server_granting_0xffff_credits_on_every_answer_is_survived() {
    against_hostile("hostile-credits", Cost::Nothing);
}

#[test]
fn the_emulator_signs_every_answer_after_logon_like_windows() {
    let fleet = Fleet::workspace();
    let win = Emulators::start(1, "normal");
    let proxy = SmbProxy::start(&win.endpoints[0], Mode::Pass);
    emulator_installer(&fleet);
    fleet.write(
        "pushinst.toml",
        &inventory(
            &win.password_file(),
            "",
            std::slice::from_ref(&proxy.endpoint),
            "",
        ),
    );
    let run = deploy(&fleet, &[]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let finals = proxy.count(|s| &s.final_session_setups);
    assert!(finals >= 1, "{}", run.debug());
    assert_eq!(
        proxy.count(|s| &s.final_session_setups_signed),
        finals,
        "the final SESSION_SETUP answer is signed"
    );
    assert_eq!(proxy.count(|s| &s.unsigned_after_logon), 0);
    assert!(proxy.count(|s| &s.frames) > 10);
}

// The proxy's own logic, on synthetic frames.

fn answer(command: u16, status: u32, flags: u32) -> Vec<u8> {
    let mut frame = vec![0u8; smb_proxy::HEADER_LEN + 16];
    frame[..4].copy_from_slice(&smb_proxy::PROTOCOL_ID);
    frame[8..12].copy_from_slice(&status.to_le_bytes());
    frame[12..14].copy_from_slice(&command.to_le_bytes());
    frame[16..20].copy_from_slice(&flags.to_le_bytes());
    frame[48..64].fill(0xAA);
    frame
}

fn tamper(mode: Mode) -> Tamper {
    Tamper::new(mode, std::sync::Arc::new(Stats::default()), 0)
}

fn changed(t: &Tamper) -> usize {
    t.stats.changed.load(std::sync::atomic::Ordering::SeqCst)
}

const RESPONSE_SIGNED: u32 = smb_proxy::FLAG_RESPONSE | smb_proxy::FLAG_SIGNED;

#[test]
fn proxy_strips_only_the_successful_final_session_setup() {
    let mut t = tamper(Mode::StripFinalSessionSetupSignature);
    let mut challenge = answer(smb_proxy::SESSION_SETUP, 0xC000_0016, RESPONSE_SIGNED);
    t.apply(&mut challenge);
    assert_eq!(changed(&t), 0);
    let mut last = answer(smb_proxy::SESSION_SETUP, 0, RESPONSE_SIGNED);
    t.apply(&mut last);
    assert_eq!(
        smb_proxy::Header::parse(&last).unwrap().flags,
        smb_proxy::FLAG_RESPONSE
    );
    assert_eq!(&last[48..64], &[0u8; 16]);
    assert_eq!(changed(&t), 1);
}

#[test]
fn proxy_flips_the_first_tree_connect_or_the_first_sealed_frame_after_logon() {
    let mut t = tamper(Mode::FlipByte);
    let mut sealed = smb_proxy::TRANSFORM_ID.to_vec();
    sealed.resize(smb_proxy::TRANSFORM_HEADER_LEN + 8, 0);
    let before = sealed.clone();
    t.apply(&mut sealed);
    assert_eq!(sealed, before, "nothing is flipped before logon");
    t.apply(&mut answer(smb_proxy::SESSION_SETUP, 0, RESPONSE_SIGNED));
    t.apply(&mut sealed);
    assert_eq!(sealed[smb_proxy::TRANSFORM_HEADER_LEN], 1);
    assert_eq!(
        sealed[..smb_proxy::TRANSFORM_HEADER_LEN],
        before[..smb_proxy::TRANSFORM_HEADER_LEN]
    );
    let mut tree = answer(smb_proxy::TREE_CONNECT, 0, RESPONSE_SIGNED);
    t.apply(&mut tree);
    assert_eq!(tree[smb_proxy::HEADER_LEN + 4], 0, "one change per connection");
    assert_eq!(changed(&t), 1);
}

#[test]
fn proxy_clears_signing_required_in_negotiate() {
    let mut t = tamper(Mode::ClearSigningRequired);
    let mut negotiate = answer(smb_proxy::NEGOTIATE, 0, smb_proxy::FLAG_RESPONSE);
    negotiate[smb_proxy::HEADER_LEN + 2] = 0x03;
    t.apply(&mut negotiate);
    assert_eq!(negotiate[smb_proxy::HEADER_LEN + 2], 0x01);
    assert_eq!(changed(&t), 1);
}

#[test]
fn proxy_decodes_a_security_descriptor_impacket_encoded() {
    // SYSTEM and Administrators, full control, OI|CI, protected: as impacket's
    // ldaptypes.SR_SECURITY_DESCRIPTOR encodes it.
    let hex = "0100049048000000000000000000000014000000020034000200000000031400ff011f00010100000000000512000000\
               00031800ff011f000102000000000005200000002002000001020000000000052000000020020000";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let acl = smb_proxy::security_descriptor(&bytes).expect("decodes");
    assert_eq!(acl.control, 0x9004);
    admin_only(&acl);
}

/// DCE/RPC PDUs carried in a plaintext pipe answer: an IOCTL's output or a READ's
/// data, split by frag_length.
fn rpc_pdus(frame: &[u8]) -> Vec<Vec<u8>> {
    let Some(header) = smb_proxy::Header::parse(frame) else {
        return Vec::new();
    };
    let le32 = |at: usize| {
        frame
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let body = smb_proxy::HEADER_LEN;
    let data = match header.command {
        smb_proxy::IOCTL => le32(body + 32).zip(le32(body + 36)),
        smb_proxy::READ => frame.get(body + 2).map(|&o| usize::from(o)).zip(le32(body + 4)),
        _ => None,
    };
    let Some(mut data) = data.and_then(|(offset, len)| frame.get(offset..offset + len)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // Version 5.0 response (2), fault (3), bind_ack (12) or bind_nak (13).
    while data.len() >= 16 && data[0] == 5 && data[1] == 0 && [2, 3, 12, 13].contains(&data[2]) {
        let len = usize::from(u16::from_le_bytes([data[8], data[9]])).min(data.len());
        out.push(data[..len].to_vec());
        data = &data[len..];
    }
    out
}

/// Keep at most `limit` of `candidates` (each at most 64 KiB), one per kind first so
/// that every kind is seeded, then more of each in turn; named by content hash.
fn write_corpus(dir: &Path, candidates: Vec<(String, Vec<u8>)>, limit: usize) -> usize {
    use sha2::Digest;
    use std::collections::{BTreeMap, HashSet};
    let mut kinds: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for (kind, data) in candidates {
        if data.len() <= 64 * 1024 && seen.insert(data.clone()) {
            kinds.entry(kind).or_default().push(data);
        }
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut written = 0;
    for round in 0.. {
        let mut any = false;
        for list in kinds.values() {
            if written == limit {
                return written;
            }
            if let Some(data) = list.get(round) {
                let name: String = sha2::Sha256::digest(data)[..20]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                std::fs::write(dir.join(name), data).unwrap();
                written += 1;
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    written
}

#[test]
#[ignore = "rewrites fuzz/corpus/{smb_response,smb_transform,rpc_pdu}: run by hand, then commit"]
fn record_seed_corpus() {
    let record = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut recorded_deploy =
        |password: &Path, server: &str, settings: &str, extra: &[&str], installer: &str| {
            n += 1;
            let fleet = Fleet::workspace();
            let proxy = SmbProxy::start(server, Mode::Record(record.path().join(format!("run{n}"))));
            match installer {
                "samba" => samba_installer(&fleet, 1),
                _ => emulator_installer(&fleet),
            }
            // A refused credential first: its logon failure is traffic too.
            let text = inventory(password, settings, std::slice::from_ref(&proxy.endpoint), "").replace(
                r#"credentials = ["admin"]"#,
                r#"credentials = ["wrong", "admin"]"#,
            ) + "\n[credentials.wrong]\nuser = 'Administrator'\npassword = { env = \"WRONG_PW\" }\n";
            fleet.write("pushinst.toml", &text);
            let mut args = vec!["deploy", "agent", "--to", "branch", "--output", "json"];
            args.extend_from_slice(extra);
            let run = fleet.run_with(&args, |c| {
                c.env("WRONG_PW", "not-it");
            });
            eprintln!("recorded run {n}: {}", run.outcome(&proxy.endpoint));
        };
    let signing = Samba::start(1, &[("SMBD_ENCRYPT", "off")]);
    recorded_deploy(&signing.password_file(), &signing.endpoints[0], "", &[], "samba");
    let encrypted = Samba::start(1, &[]);
    recorded_deploy(
        &encrypted.password_file(),
        &encrypted.endpoints[0],
        "",
        &[],
        "samba",
    );
    let aes256 = Samba::start(1, &[("SMBD_ENCRYPTION_ALGORITHMS", "AES-256-GCM")]);
    recorded_deploy(&aes256.password_file(), &aes256.endpoints[0], "", &[], "samba");
    let smb302 = Samba::start(1, &[("SMBD_MAX_PROTOCOL", "SMB3_02")]);
    recorded_deploy(&smb302.password_file(), &smb302.endpoints[0], "", &[], "samba");
    let win = Emulators::start(1, "normal");
    recorded_deploy(&win.password_file(), &win.endpoints[0], "", &[], "emulator");
    recorded_deploy(
        &win.password_file(),
        &win.endpoints[0],
        "",
        &["--exec", "task"],
        "emulator",
    );
    let denied = Emulators::start(1, "deny-scm");
    recorded_deploy(&denied.password_file(), &denied.endpoints[0], "", &[], "emulator");

    let mut responses = Vec::new();
    let mut transforms = Vec::new();
    let mut pdus = Vec::new();
    for run in std::fs::read_dir(record.path()).unwrap().flatten() {
        for frame in smb_proxy::recorded(&run.path()) {
            if frame.starts_with(&smb_proxy::TRANSFORM_ID) {
                // Sizes tell the commands apart well enough behind encryption.
                transforms.push((format!("{:06}", frame.len() / 64), frame));
            } else if let Some(h) = smb_proxy::Header::parse(&frame) {
                for pdu in rpc_pdus(&frame) {
                    pdus.push((format!("{}-{}", pdu[2], pdu.len()), pdu));
                }
                let signed = h.flags & smb_proxy::FLAG_SIGNED != 0;
                responses.push((format!("{:02}-{:08x}-{signed}", h.command, h.status), frame));
            }
        }
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    // Replace what an earlier recording wrote (content-hash names), keep hand-made seeds.
    for dir in ["smb_response", "smb_transform", "rpc_pdu"] {
        for entry in std::fs::read_dir(corpus.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
    let counts = [
        write_corpus(&corpus.join("smb_response"), responses, 40),
        write_corpus(&corpus.join("smb_transform"), transforms, 40),
        write_corpus(&corpus.join("rpc_pdu"), pdus, 40),
    ];
    eprintln!("corpus files written (smb_response, smb_transform, rpc_pdu): {counts:?}");
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}
