//! SSH algorithms like OpenSSH's client (issue 13): hosts that offer only what a FIPS
//! build, a single-cipher or single-MAC policy, or a legacy appliance allows — each a
//! real sshd whose sshd_config limits it — are reached by default where OpenSSH
//! reaches them, and legacy ones only once a `+` setting allows them.

mod common;

use common::Fleet;

/// A fleet of one sshd whose config begins with `sshd`, and an inventory for it with
/// `settings` in [settings].
fn host(sshd: &str, settings: &str) -> Fleet {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", sshd)]);
    fleet.installer("install.sh", "echo installed");
    let inventory = format!(
        "{}\n[packages.agent]\nversion = \"1.0\"\n[packages.agent.linux]\nfile = \"install.sh\"\n\n[groups.odd]\nhosts = {}\nos = \"linux\"\ncredentials = [\"plain\"]\n",
        fleet.inventory_head(settings),
        fleet.hosts_list()
    );
    fleet.write("pushinst.toml", &inventory);
    fleet
}

fn deploy(fleet: &Fleet) -> (common::Run, serde_json::Value) {
    let run = fleet.run(&["deploy", "agent", "--to", "odd", "--output", "json"]);
    let outcome = run.outcome(&fleet.endpoints[0]);
    (run, outcome)
}

#[test]
fn hosts_openssh_reaches_by_default_are_reached() {
    let variants = [
        (
            "fips",
            "KexAlgorithms ecdh-sha2-nistp256,ecdh-sha2-nistp384\nCiphers aes128-ctr,aes256-ctr\nMACs hmac-sha2-256,hmac-sha2-512",
        ),
        ("aes128-gcm only", "Ciphers aes128-gcm@openssh.com"),
        ("hmac-sha1 only", "Ciphers aes128-ctr\nMACs hmac-sha1"),
        (
            "group14-sha256 only",
            "KexAlgorithms diffie-hellman-group14-sha256",
        ),
    ];
    for (name, sshd) in variants {
        let fleet = host(sshd, "");
        let (run, outcome) = deploy(&fleet);
        assert_eq!(
            outcome["status"],
            "ok",
            "{name}: {}\n{}",
            run.stdout(),
            run.stderr()
        );
    }
}

#[test]
fn a_legacy_host_is_refused_by_default_with_the_setting_that_reaches_it() {
    let legacy = "KexAlgorithms diffie-hellman-group14-sha1\nCiphers aes128-cbc";
    let fleet = host(legacy, "");
    let (run, outcome) = deploy(&fleet);
    assert_eq!(run.code(), 1);
    assert_eq!(outcome["status"], "failed", "{}", run.stdout());
    assert_eq!(outcome["detail"]["reason"]["class"], "negotiation", "{outcome}");
    let reason = outcome["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "no common key exchange: the host offers diffie-hellman-group14-sha1; allow it with kex_algorithms = \"+diffie-hellman-group14-sha1\""
        ),
        "{reason}"
    );
    // Nothing logged in: the handshake stopped before authentication.
    assert_eq!(fleet.logins(1), 0);

    // One step further: the next list that has nothing in common is named.
    let fleet = host(legacy, "kex_algorithms = \"+diffie-hellman-group14-sha1\"");
    let (_, outcome) = deploy(&fleet);
    let reason = outcome["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "no common cipher: the host offers aes128-cbc; allow it with ciphers = \"+aes128-cbc\""
        ),
        "{reason}"
    );

    let fleet = host(
        legacy,
        "kex_algorithms = \"+diffie-hellman-group14-sha1\"\nciphers = \"+aes128-cbc\"",
    );
    let (run, outcome) = deploy(&fleet);
    assert_eq!(outcome["status"], "ok", "{}\n{}", run.stdout(), run.stderr());
    // A weak algorithm allowed is shown in the plan, never only in the file.
    let plan = fleet.run(&["deploy", "agent", "--to", "odd", "--dry-run"]);
    assert!(
        plan.stdout()
            .contains("LEGACY-ALLOWED(diffie-hellman-group14-sha1,aes128-cbc)"),
        "{}",
        plan.stdout()
    );
}

#[test]
fn a_list_can_be_narrowed_per_group_and_per_host_as_openssh_does() {
    // The host offers only chacha20: removing it in the group leaves nothing in common,
    // and a [[hosts]] entry that sets the list again wins over the group.
    let fleet = Fleet::start_with(
        2,
        &[("SSHD_FLEET_EXTRA", "Ciphers chacha20-poly1305@openssh.com")],
    );
    fleet.installer("install.sh", "echo installed");
    let inventory = format!(
        "{}\n[packages.agent]\nversion = \"1.0\"\n[packages.agent.linux]\nfile = \"install.sh\"\n\n[groups.odd]\nhosts = {}\nos = \"linux\"\ncredentials = [\"plain\"]\nciphers = \"-chacha20*\"\n\n[[hosts]]\nname = \"{}\"\nciphers = \"^chacha20-poly1305@openssh.com\"\n",
        fleet.inventory_head(""),
        fleet.hosts_list(),
        fleet.endpoints[1]
    );
    fleet.write("pushinst.toml", &inventory);
    let run = fleet.run(&["deploy", "agent", "--to", "odd", "--output", "json"]);
    let first = run.outcome(&fleet.endpoints[0]);
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("no common cipher: the host offers chacha20-poly1305@openssh.com; allow it with ciphers = \"+chacha20-poly1305@openssh.com\""),
        "{first}"
    );
    assert_eq!(
        run.outcome(&fleet.endpoints[1])["status"],
        "ok",
        "{}",
        run.stdout()
    );
    let plan = fleet.run(&["deploy", "agent", "--to", "odd", "--dry-run", "--output", "json"]);
    let planned: Vec<serde_json::Value> = plan
        .events()
        .into_iter()
        .filter(|e| e["type"] == "planned")
        .map(|e| e["data"].clone())
        .collect();
    assert!(
        !planned[0]["ssh_algorithms"]["ciphers"]
            .as_str()
            .unwrap()
            .contains("chacha20"),
        "{planned:?}"
    );
    assert!(
        planned[1]["ssh_algorithms"]["ciphers"]
            .as_str()
            .unwrap()
            .starts_with("chacha20-poly1305@openssh.com,"),
        "{planned:?}"
    );
}

#[test]
fn a_name_pushinst_does_not_implement_is_refused_where_it_is_written() {
    let fleet = Fleet::workspace();
    fleet.write(
        "pushinst.toml",
        "[settings]\nciphers = \"+aes128-cbcc\"\nmacs = \"-hmac-*\"\n\n[packages.agent.linux]\nfile = \"x\"\n",
    );
    let run = fleet.run(&["deploy", "agent", "--to", "h", "--dry-run"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let err = run.stderr();
    assert!(err.contains("pushinst.toml:2:11"), "{err}");
    assert!(
        err.contains("ciphers: `aes128-cbcc` is not a cipher pushinst implements"),
        "{err}"
    );
    assert!(err.contains("did you mean `aes128-cbc`?"), "{err}");
    assert!(err.contains("pushinst.toml:3:8"), "{err}");
    assert!(err.contains("macs: this leaves no MAC to offer"), "{err}");
}
