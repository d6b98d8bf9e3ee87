//! Getting the files there on every sshd OpenSSH's own client reaches (issue 13):
//! no SFTP subsystem, a subsystem path that does not exist, dropbear without
//! sftp-server, `MaxSessions 1`, a slow link and one that stops, a login script that
//! prints text, hosts without `sha256sum`. Real servers from the fleet each time.

mod common;

use std::time::{Duration, Instant};

use common::Fleet;
use common::relay::Relay;

/// An installer that records where it ran: the host's fixture directory gets
/// `opt/agent/installed`. `pad` bytes of filler after its `exit` make it large.
fn installer(fleet: &Fleet, pad: usize) {
    let mut body = String::from(
        "mkdir -p \"$PUSHINST_FIXTURE_DIR/opt/agent\" && touch \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"\nexit 0\n",
    );
    // Incompressible-looking filler the shell never reads (it stops at `exit`).
    let mut x: u32 = 12345;
    body.extend((0..pad).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        char::from(b'a' + ((x >> 16) % 26) as u8)
    }));
    fleet.installer("install.sh", &body);
}

/// One host (`host`, as `hosts = [...]` names it) logging in as `pushinst-USER`
/// (`fleet` is pushinst-fleet) with the fleet password; `package` lines extra.
fn inventory(fleet: &Fleet, settings: &str, host: &str, user: &str, package: &str) {
    let user = if user == "fleet" {
        common::FLEET_USER.to_string()
    } else {
        format!("pushinst-{user}")
    };
    fleet.write(
        "pushinst.toml",
        &format!(
            r#"[settings]
known_hosts = "known_hosts"
{settings}

[credentials.c]
user = "{user}"
password = {{ file = "password" }}

[packages.agent]
version = "1.0"
linux = {{ file = "install.sh", detect = "test -e \"$PUSHINST_FIXTURE_DIR/opt/agent/installed\"" }}
{package}

[groups.g]
hosts = ["{host}"]
os = "linux"
credentials = ["c"]
"#
        ),
    );
}

fn deploy(fleet: &Fleet) -> common::Run {
    fleet.run(&["deploy", "agent", "--to", "g", "--output", "json"])
}

fn home(user: &str) -> String {
    if user == "fleet" {
        common::FLEET_HOME.to_string()
    } else {
        format!("/var/lib/pushinst-{user}")
    }
}

/// Staging directories of `run_id` left in a fleet user's home.
fn leftovers(user: &str, run_id: &str) -> Vec<String> {
    std::fs::read_dir(home(user))
        .unwrap_or_else(|e| panic!("{}: {e}; run examples/fleet/sshd-fleet.sh setup", home(user)))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!(".pushinst-{run_id}")))
        .collect()
}

/// The deploy went through: the installer ran once, nothing is left staged.
fn assert_installed(fleet: &Fleet, run: &common::Run, user: &str) {
    assert_eq!(run.code(), 0, "{}", run.debug());
    let host = fleet.endpoints[0].clone();
    let finished = run.finished();
    assert_eq!(finished.len(), 1, "{}", run.debug());
    assert_eq!(finished[0]["outcome"]["status"], "ok", "{host}: {}", run.debug());
    assert!(fleet.host_root(1).join("opt/agent/installed").exists());
    assert!(leftovers(user, &run.run_id()).is_empty());
}

/// A hardened host without `Subsystem sftp`: staged at once, no timeout waited out.
#[test]
fn a_host_without_an_sftp_subsystem_is_reached_at_once() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_SFTP", "")]);
    installer(&fleet, 64 * 1024);
    inventory(&fleet, "", &fleet.endpoints[0], "fleet", "");
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "fleet");
    assert!(run.elapsed < Duration::from_secs(4), "took {:?}", run.elapsed);
}

/// A subsystem line naming a server that is not there (a RHEL path on Debian).
#[test]
fn a_subsystem_path_that_does_not_exist_is_no_obstacle() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_SFTP", "/usr/lib/openssh/no-such-sftp-server")]);
    installer(&fleet, 1024);
    inventory(&fleet, "", &fleet.endpoints[0], "fleet", "");
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "fleet");
    assert!(run.elapsed < Duration::from_secs(4), "took {:?}", run.elapsed);
}

/// dropbear with no sftp-server (an embedded host).
#[test]
fn dropbear_without_sftp_server_is_deployed_to() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_SERVER", "dropbear")]);
    installer(&fleet, 256 * 1024);
    inventory(&fleet, "", &fleet.endpoints[0], "fleet", "");
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "fleet");
    // The second time, detect (one more channel) says so.
    let again = deploy(&fleet);
    assert_eq!(
        again.finished()[0]["outcome"]["status"],
        "already-installed",
        "{}",
        again.debug()
    );
}

/// `MaxSessions 1`: requires, detect, upload, settings, run and cleanup each take the
/// one channel in turn.
#[test]
fn max_sessions_one_carries_every_step_one_channel_at_a_time() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", "MaxSessions 1")]);
    installer(&fleet, 1024);
    inventory(
        &fleet,
        "",
        &fleet.endpoints[0],
        "fleet",
        r#"requires = { free_mib = 1, path = "/", command = "true" }"#,
    );
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "fleet");
    let again = deploy(&fleet);
    assert_eq!(
        again.finished()[0]["outcome"]["status"],
        "already-installed",
        "{}",
        again.debug()
    );
}

/// A login script that prints a banner breaks an external sftp-server; the files get
/// there all the same.
#[test]
fn a_chatty_login_script_does_not_stop_the_upload() {
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_SFTP", "/usr/lib/openssh/sftp-server")]);
    installer(&fleet, 64 * 1024);
    inventory(&fleet, "", &fleet.endpoints[0], "chatty", "");
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "chatty");
}

/// No sha256sum, shasum or openssl: busybox checks the upload. No tool at all: the
/// sizes are checked, nothing runs, and the words say what was and was not checked.
#[test]
fn uploads_are_verified_without_sha256sum_or_said_plainly_unverified() {
    let fleet = Fleet::start(1);
    installer(&fleet, 1024);
    inventory(&fleet, "", &fleet.endpoints[0], "nosha", "");
    let run = deploy(&fleet);
    assert_installed(&fleet, &run, "nosha");

    std::fs::remove_dir_all(fleet.host_root(1).join("opt")).unwrap();
    inventory(&fleet, "", &fleet.endpoints[0], "nosum", "");
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(outcome["status"], "failed", "{outcome}");
    assert_eq!(outcome["counts_as_attempt"], false, "{outcome}");
    assert_eq!(
        outcome["reason"],
        "cannot verify the upload: the host has none of sha256sum, shasum, sha256, openssl, busybox; each file's size was checked and matched, its contents were not, so nothing was run; install one of them (coreutils, perl or openssl) on the host",
        "{outcome}"
    );
    assert!(!fleet.host_root(1).join("opt/agent/installed").exists());
    assert!(leftovers("nosum", &run.run_id()).is_empty());
}

/// The fleet's known_hosts entry for host 1, also under the relay's address.
fn trust_relay(fleet: &Fleet, relay: &Relay) {
    let key = std::fs::read_to_string(fleet.path("host1/ssh_host_ed25519_key.pub")).unwrap();
    let key: Vec<&str> = key.split_whitespace().take(2).collect();
    let mut known = std::fs::read_to_string(fleet.path("known_hosts")).unwrap();
    known.push_str(&format!("[127.0.0.1]:{} {}\n", relay.addr.port(), key.join(" ")));
    fleet.write("known_hosts", &known);
}

/// 5 MiB over a 64 KiB/s link takes well over a minute: no per-request limit cuts
/// it, only upload_timeout could.
#[test]
fn a_slow_link_carries_a_large_installer_within_upload_timeout() {
    let fleet = Fleet::start(1);
    let relay = Relay::start(&fleet.endpoints[0], Some(64 * 1024));
    trust_relay(&fleet, &relay);
    installer(&fleet, 5 * 1024 * 1024);
    inventory(
        &fleet,
        "connect_timeout = \"5s\"\nupload_timeout = \"120s\"",
        &relay.endpoint(),
        "fleet",
        "",
    );
    let run = deploy(&fleet);
    let finished = run.finished();
    assert_eq!(finished.len(), 1, "{}", run.debug());
    assert_eq!(finished[0]["outcome"]["status"], "ok", "{}", run.debug());
    assert!(fleet.host_root(1).join("opt/agent/installed").exists());
    assert!(leftovers("fleet", &run.run_id()).is_empty());
    assert!(run.elapsed > Duration::from_secs(30), "took {:?}", run.elapsed);
}

/// A link that stops carrying anything mid-upload: "stalled" after connect_timeout,
/// not after upload_timeout; not an attempt; the host removes the partial upload once
/// the connection is gone.
#[test]
fn a_link_that_stops_is_named_stalled_after_connect_timeout() {
    let fleet = Fleet::start(1);
    let relay = Relay::start(&fleet.endpoints[0], None);
    // Handshake, login, detect and the staging script pass; the archive does not.
    relay.stop_after(256 * 1024);
    trust_relay(&fleet, &relay);
    installer(&fleet, 5 * 1024 * 1024);
    inventory(
        &fleet,
        "connect_timeout = \"5s\"\nupload_timeout = \"120s\"\ncleanup_timeout = \"5s\"",
        &relay.endpoint(),
        "fleet",
        "",
    );
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&relay.endpoint());
    let reason = outcome["reason"].as_str().unwrap_or_default().to_string();
    let message = outcome["message"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("upload stalled: no data moved for 5s")
            || message.contains("upload stalled: no data moved for 5s"),
        "{outcome}"
    );
    assert_eq!(outcome["counts_as_attempt"], false, "{outcome}");
    assert!(run.elapsed < Duration::from_secs(30), "took {:?}", run.elapsed);
    // The staging script removes what it got once sshd sees the connection go.
    let run_id = run.run_id();
    let started = Instant::now();
    while !leftovers("fleet", &run_id).is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(leftovers("fleet", &run_id).is_empty());
    assert!(!fleet.host_root(1).join("opt/agent/installed").exists());
}

/// The host deadline shortens the installer's limit while the upload runs: the
/// settings staged with the files carry the longer limit, so the wrapper must be told
/// the shorter one and stop the installer when that is reached.
#[test]
fn a_host_deadline_reached_during_the_upload_shortens_the_installers_limit() {
    let fleet = Fleet::start(1);
    // About 5 s of upload at 64 KiB/s: the limit left drops by as much meanwhile.
    let relay = Relay::start(&fleet.endpoints[0], Some(64 * 1024));
    trust_relay(&fleet, &relay);
    // Its start and the moment it is stopped, in the host's fixture directory.
    let mut body = String::from(
        "d=\"$PUSHINST_FIXTURE_DIR\"\ndate +%s > \"$d/started\"\ntrap 'date +%s > \"$d/stopped\"; exit 1' TERM\nsleep 60 & wait\ntouch \"$d/finished\"\nexit 0\n#",
    );
    body.push_str(&"x".repeat(300 * 1024));
    fleet.installer("install.sh", &body);
    inventory(
        &fleet,
        "connect_timeout = \"5s\"\nhost_timeout = \"10s\"",
        &relay.endpoint(),
        "fleet",
        "",
    );
    let run = deploy(&fleet);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&relay.endpoint());
    let reason = outcome["reason"].as_str().unwrap_or_default().to_string();
    let limit: u64 = reason
        .strip_prefix("timeout during execute (the installer did not finish within ")
        .and_then(|rest| rest.split_once("s;"))
        .and_then(|(secs, _)| secs.parse().ok())
        .unwrap_or_else(|| panic!("{outcome}"));
    assert!((1..=7).contains(&limit), "{outcome}");
    assert!(leftovers("fleet", &run.run_id()).is_empty());
    // Stopped by the wrapper at the shorter limit, not the one staged with the files
    // (about 10 s), and never left to finish.
    let read = |name: &str| -> u64 {
        let text =
            std::fs::read_to_string(fleet.host_root(1).join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        text.trim().parse().unwrap()
    };
    let ran = read("stopped") - read("started");
    assert!(
        ran <= limit + 1,
        "ran {ran}s against a limit of {limit}s: {outcome}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(!fleet.host_root(1).join("finished").exists());
}
