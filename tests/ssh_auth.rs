//! Authentication and host keys against real OpenSSH servers configured as the hosts
//! of issue 13 are: keyboard-interactive only (FreeBSD, PAM), publickey only, user
//! certificates, host certificates, `@revoked` and hashed known_hosts.

mod common;

use std::path::Path;
use std::process::Command;

use common::{FLEET_USER, Fleet};

const AGENT: &str =
    r#"linux = { file = "install.sh", detect = "test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"" }"#;

/// sshd with PAM asking for the password through keyboard-interactive, and no
/// `password` method, as FreeBSD's default.
const KBD_ONLY: &str = "UsePAM yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes";

/// An inventory over the whole fleet with `credentials` (names from
/// `Fleet::inventory_head`, or `extra` ones), `settings` at the top.
fn inventory(fleet: &Fleet, settings: &str, extra: &str, credentials: &str) -> String {
    let inventory = fleet.agent_inventory(settings, AGENT, &fleet.hosts_list(), credentials);
    format!("{inventory}\n{extra}\n")
}

fn deploy(fleet: &Fleet) -> common::Run {
    fleet.run_with(&["deploy", "agent", "--to", "fleet", "--output", "json"], |c| {
        c.env("WRONG_PW", "not-the-password");
    })
}

fn reason_of(run: &common::Run, fleet: &Fleet) -> String {
    run.outcome(&fleet.endpoints[0])["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn keygen(args: &[&str], dir: &Path) {
    let status = Command::new("ssh-keygen")
        .args(args)
        .current_dir(dir)
        .status()
        .expect("ssh-keygen");
    assert!(status.success(), "ssh-keygen {args:?}");
}

/// The address (without port) the next `Fleet::start` gives its host `i` (1-based):
/// a host certificate names it, and must exist before sshd starts.
fn next_address(i: usize) -> String {
    let pid = std::process::id();
    let (a, b) = (((pid / 250) % 250) + 1, (pid % 250) + 1);
    format!("127.{a}.{b}.{i}")
}

#[test]
fn keyboard_interactive_only_takes_the_password_and_names_a_refusal() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", KBD_ONLY)]);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(fleet.timeline().len(), 1, "the installer ran");

    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["wrong"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.starts_with("every credential was refused (wrong: password refused")
            && reason.contains("the server accepts: publickey, keyboard-interactive")
            && reason.ends_with("tried: password, keyboard-interactive"),
        "{reason}"
    );
    // The same as data, for scripts reading the JSON.
    let rejected = &run.outcome(&fleet.endpoints[0])["detail"]["reason"]["rejected"][0];
    assert_eq!(
        rejected["tried"],
        serde_json::json!(["password", "keyboard-interactive"])
    );
    assert_eq!(fleet.timeline().len(), 1, "nothing more ran");
}

#[test]
fn an_expired_password_over_keyboard_interactive_is_named_and_no_new_one_is_given() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", KBD_ONLY)]);
    fleet.recording_installer("0", "");
    let expired = "[credentials.expired]\nuser = \"pushinst-expired\"\npassword = { file = \"password\" }\n";
    fleet.write("pushinst.toml", &inventory(&fleet, "", expired, r#"["expired"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.starts_with("the password of pushinst-expired has expired"),
        "{reason}"
    );
    assert!(fleet.timeline().is_empty());
    // The password still works (and is still expired): none was changed.
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap();
    let line = shadow
        .lines()
        .find(|l| l.starts_with("pushinst-expired:"))
        .unwrap();
    assert_eq!(line.split(':').nth(2), Some("0"), "still must change: {line}");
}

#[test]
fn publickey_only_with_a_password_credential_names_publickey() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", "AuthenticationMethods publickey")]);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.contains("the server accepts: publickey; tried: password"),
        "{reason}"
    );
    assert!(fleet.timeline().is_empty());
}

#[test]
fn a_user_certificate_logs_in_where_the_key_alone_is_not_authorized() {
    let ca = tempfile::tempdir().unwrap();
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "user_ca"], ca.path());
    let trusted = format!(
        "TrustedUserCAKeys {}\nAuthenticationMethods publickey",
        ca.path().join("user_ca.pub").display()
    );
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", &trusted)]);
    fleet.recording_installer("0", "");
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "user"], fleet.dir.path());
    let ca_key = ca.path().join("user_ca");
    keygen(
        &[
            "-q",
            "-s",
            ca_key.to_str().unwrap(),
            "-I",
            "test",
            "-n",
            FLEET_USER,
            "user.pub",
        ],
        fleet.dir.path(),
    );
    let with_cert = format!(
        "[credentials.cert]\nuser = \"{FLEET_USER}\"\nkey = \"user\"\ncertificate = \"user-cert.pub\"\n\n[credentials.bare]\nuser = \"{FLEET_USER}\"\nkey = \"user\"\n"
    );
    // The key alone is not in authorized_keys: refused.
    fleet.write("pushinst.toml", &inventory(&fleet, "", &with_cert, r#"["bare"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(
        reason_of(&run, &fleet).contains("bare: key refused"),
        "{}",
        run.debug()
    );

    fleet.write("pushinst.toml", &inventory(&fleet, "", &with_cert, r#"["cert"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(fleet.timeline().len(), 1);

    // `pubkey_algorithms` rules a certificate as it rules its key: without ed25519
    // neither is offered, and the reason names the setting.
    let narrowed = inventory(
        &fleet,
        "pubkey_algorithms = \"-ssh-ed25519\"",
        &with_cert,
        r#"["cert"]"#,
    );
    fleet.write("pushinst.toml", &narrowed);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.contains("certificate not offered") && reason.contains("pubkey_algorithms"),
        "{reason}"
    );
    assert_eq!(fleet.timeline().len(), 1);

    // A file that is not a certificate is an inventory error, where it is written.
    let not_cert = with_cert.replace("user-cert.pub", "user.pub");
    fleet.write("pushinst.toml", &inventory(&fleet, "", &not_cert, r#"["cert"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 2, "{}", run.debug());
    let err = run.stderr();
    assert!(
        err.contains("`user.pub` is not an OpenSSH certificate") && err.contains("pushinst.toml:"),
        "{err}"
    );
    // Nor is a certificate without the key it certifies, or one that does not exist.
    let keyless = format!("[credentials.cert]\nuser = \"{FLEET_USER}\"\ncertificate = \"gone-cert.pub\"\n");
    fleet.write("pushinst.toml", &inventory(&fleet, "", &keyless, r#"["cert"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 2, "{}", run.debug());
    let err = run.stderr();
    assert!(
        err.contains("`certificate` without a `key`")
            && err.contains("certificate file `gone-cert.pub` does not exist"),
        "{err}"
    );
}

/// A fleet of one whose sshd also has an ECDSA host key with a certificate signed by
/// `host_ca` for the host's address; returns the fleet and the CA's public key line.
fn fleet_with_host_certificate(ca_dir: &Path) -> Fleet {
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "host_ca"], ca_dir);
    keygen(&["-q", "-t", "ecdsa", "-N", "", "-f", "host_key"], ca_dir);
    keygen(
        &[
            "-q",
            "-s",
            "host_ca",
            "-h",
            "-I",
            "host1",
            "-n",
            &next_address(1),
            "host_key.pub",
        ],
        ca_dir,
    );
    let extra = format!(
        "HostKey {dir}/host_key\nHostCertificate {dir}/host_key-cert.pub",
        dir = ca_dir.display()
    );
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", &extra)]);
    assert!(fleet.endpoints[0].starts_with(&format!("{}:", next_address(1))));
    fleet
}

fn public(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn known_name(endpoint: &str) -> String {
    let (host, port) = endpoint.rsplit_once(':').unwrap();
    format!("[{host}]:{port}")
}

#[test]
fn a_host_certificate_from_a_listed_authority_is_accepted_and_any_other_refused() {
    let ca = tempfile::tempdir().unwrap();
    let fleet = fleet_with_host_certificate(ca.path());
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let name = known_name(&fleet.endpoints[0]);

    // Only the authority is listed: the certificate is the only way to trust the host.
    let authority = format!(
        "@cert-authority {name} {}\n",
        public(&ca.path().join("host_ca.pub"))
    );
    fleet.write("known_hosts", &authority);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 0, "{}", run.debug());

    // Another authority: refused by name, and nothing ran.
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "other_ca"], ca.path());
    let other = format!(
        "@cert-authority {name} {}\n",
        public(&ca.path().join("other_ca.pub"))
    );
    fleet.write("known_hosts", &other);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(reason.starts_with("untrusted host certificate"), "{reason}");
    assert_eq!(fleet.timeline().len(), 1);

    // The right authority, but for another host pattern: not trusted either, and as
    // no authority is listed for the host, its key is simply unknown.
    let elsewhere = format!(
        "@cert-authority *.example.com {}\n",
        public(&ca.path().join("host_ca.pub"))
    );
    fleet.write("known_hosts", &elsewhere);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(
        reason_of(&run, &fleet).starts_with("unknown host key"),
        "{}",
        run.debug()
    );

    // The authority's key revoked: refused although it is listed.
    let revoked = format!(
        "@revoked * {}\n{authority}",
        public(&ca.path().join("host_ca.pub"))
    );
    fleet.write("known_hosts", &revoked);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(
        reason_of(&run, &fleet).starts_with("REVOKED HOST KEY"),
        "{}",
        run.debug()
    );
    assert_eq!(fleet.timeline().len(), 1);
}

#[test]
fn a_host_certificate_for_another_name_is_refused_with_the_reason() {
    let ca = tempfile::tempdir().unwrap();
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "host_ca"], ca.path());
    keygen(&["-q", "-t", "ecdsa", "-N", "", "-f", "host_key"], ca.path());
    keygen(
        &[
            "-q",
            "-s",
            "host_ca",
            "-h",
            "-I",
            "x",
            "-n",
            "other.example.com",
            "host_key.pub",
        ],
        ca.path(),
    );
    let extra = format!(
        "HostKey {dir}/host_key\nHostCertificate {dir}/host_key-cert.pub",
        dir = ca.path().display()
    );
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", &extra)]);
    fleet.recording_installer("0", "");
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let authority = format!("@cert-authority * {}\n", public(&ca.path().join("host_ca.pub")));
    fleet.write("known_hosts", &authority);
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.starts_with("bad host certificate") && reason.contains("other.example.com"),
        "{reason}"
    );
    assert!(fleet.timeline().is_empty());
}

#[test]
fn a_revoked_host_key_is_refused_even_under_accept_new_and_never_recorded() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let host_key = public(&fleet.path("host1/ssh_host_ed25519_key.pub"));
    let known = std::fs::read_to_string(fleet.path("known_hosts")).unwrap();
    // Revoked, although the next line lists the same key for the host.
    let revoked = format!("# revoked after the incident\n@revoked * {host_key}\n{known}");
    fleet.write("known_hosts", &revoked);
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let reason = reason_of(&run, &fleet);
    assert!(
        reason.starts_with("REVOKED HOST KEY") && reason.contains("line 2"),
        "{reason}"
    );

    // accept-new with only the revocation: refused, and nothing written.
    let only = format!("@revoked * {host_key}\n");
    fleet.write("known_hosts", &only);
    fleet.write(
        "pushinst.toml",
        &inventory(&fleet, "host_key_policy = \"accept-new\"", "", r#"["plain"]"#),
    );
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    assert!(
        reason_of(&run, &fleet).starts_with("REVOKED HOST KEY"),
        "{}",
        run.debug()
    );
    assert_eq!(std::fs::read_to_string(fleet.path("known_hosts")).unwrap(), only);
    assert!(fleet.timeline().is_empty());
}

#[test]
fn a_hashed_known_hosts_file_still_knows_the_host() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    keygen(&["-q", "-H", "-f", "known_hosts"], fleet.dir.path());
    let hashed = std::fs::read_to_string(fleet.path("known_hosts")).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    fleet.write("pushinst.toml", &inventory(&fleet, "", "", r#"["plain"]"#));
    let run = deploy(&fleet);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(fleet.timeline().len(), 1);
}
