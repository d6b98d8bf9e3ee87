//! `pushinst check` (issue 15) against the real sshd fleet (`examples/fleet/sshd-fleet.sh`):
//! each host's first blocking problem in deploy's words, the facts learned, and
//! afterwards nothing on any host, no installer run, and no attempt on record.

mod common;

use common::{FLEET_HOME, Fleet};

/// One group per (fleet host, fleet user): `[groups.gN]` holds endpoint N only and
/// tries the credentials `names` (defined in `credentials`) in order.
struct Setup<'a> {
    fleet: &'a Fleet,
    package: String,
    credentials: String,
    groups: String,
}

impl<'a> Setup<'a> {
    fn new(fleet: &'a Fleet, package: &str) -> Self {
        Setup {
            fleet,
            package: package.to_string(),
            credentials: String::new(),
            groups: String::new(),
        }
    }

    /// Host `n` logs in as `pushinst-USER` (credential `cN`, with `extra` lines),
    /// after the credentials listed in `before`.
    fn host(&mut self, n: usize, user: &str, extra: &str, before: &[&str]) -> &mut Self {
        self.credentials.push_str(&format!(
            "\n[credentials.c{n}]\nuser = \"pushinst-{user}\"\npassword = {{ file = \"password\" }}\n{extra}\n"
        ));
        let mut names: Vec<String> = before.iter().map(|b| format!("\"{b}\"")).collect();
        names.push(format!("\"c{n}\""));
        self.groups.push_str(&format!(
            "\n[groups.g{n}]\nhosts = [\"{}\"]\nos = \"linux\"\ncredentials = [{}]\n",
            self.fleet.endpoints[n],
            names.join(", ")
        ));
        self
    }

    fn write(&self) {
        let text = format!(
            "[settings]\nknown_hosts = \"known_hosts\"\n\n[credentials.wrong]\nuser = \"{}\"\npassword = {{ env = \"WRONG_PW\" }}\n{}\n[packages.agent]\nversion = \"1.0\"\n{}\n{}",
            common::FLEET_USER,
            self.credentials,
            self.package,
            self.groups
        );
        self.fleet.write("pushinst.toml", &text);
    }
}

fn check(fleet: &Fleet, args: &[&str]) -> common::Run {
    fleet.run_with(args, |c| {
        c.env("WRONG_PW", "not-the-password");
    })
}

/// The JSON object `check --output json` gave for `host`.
fn row(run: &common::Run, host: &str) -> serde_json::Value {
    run.events()
        .into_iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("no row for {host}:\n{}", run.debug()))
}

/// Whatever a check of `endpoint` left in `home`: its staging directory names end
/// in `-HOST-PORT`, unique to this test's fleet.
fn left_in(home: &str, endpoint: &str) -> Vec<String> {
    let (ip, port) = endpoint.rsplit_once(':').expect("host:port");
    let tail = format!("-{ip}-{port}");
    std::fs::read_dir(home)
        .unwrap_or_else(|e| panic!("{home}: {e}; run examples/fleet/sshd-fleet.sh setup"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".pushinst-") && name.ends_with(&tail))
        .collect()
}

fn home(user: &str) -> String {
    if user == "fleet" {
        FLEET_HOME.to_string()
    } else {
        format!("/var/lib/pushinst-{user}")
    }
}

/// A check that ended struck from the journal all it created: `cleanup` has
/// nothing to do.
fn assert_nothing_journaled(fleet: &Fleet) {
    let clean = fleet.run(&["cleanup"]);
    assert_eq!(clean.code(), 0, "{}", clean.debug());
    assert!(
        clean.stdout().contains("nothing to clean up"),
        "{}",
        clean.debug()
    );
}

/// Nothing installed, nothing on record: `status` knows no host, the journal
/// holds nothing.
fn assert_no_trace(fleet: &Fleet, hosts: &[(usize, &str)]) {
    assert_nothing_journaled(fleet);
    assert!(
        fleet.timeline().is_empty(),
        "an installer ran: {:?}",
        fleet.timeline()
    );
    for (n, user) in hosts {
        let endpoint = &fleet.endpoints[*n];
        assert!(left_in(&home(user), endpoint).is_empty(), "{user}: staging left");
        assert!(
            !fleet.host_root(n + 1).join("opt/agent/installed").exists(),
            "{user}: installed"
        );
    }
    let status = fleet.run(&["status", "--output", "json"]);
    for (n, _) in hosts {
        assert!(
            !status.stdout().contains(&fleet.endpoints[*n]),
            "an attempt is on record:\n{}",
            status.debug()
        );
    }
}

fn uname_m() -> String {
    let out = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .expect("uname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ID and VERSION_ID of this machine (the fleet's sshd runs here).
fn os_release() -> String {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", ". /etc/os-release && echo \"$ID ${VERSION_ID-}\""])
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_ready_host_names_the_credential_that_works_and_its_facts() {
    let fleet = Fleet::start(2);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(
        &fleet,
        r#"linux = { file = "install.sh", detect = "test -r /etc/passwd" }"#,
    );
    // Host 0 as deploy would log in: sudo with a password, the wrong credential first.
    setup
        .host(0, "fleet", "sudo = true", &["wrong"])
        .host(1, "fleet", "", &[]);
    setup.write();
    let run = check(
        &fleet,
        &["check", "agent", "--output", "json", "--to", "g0", "g1"],
    );
    assert_eq!(run.code(), 0, "{}", run.debug());
    for n in [0, 1] {
        let row = row(&run, &fleet.endpoints[n]);
        assert_eq!(row["status"], "ready", "{row}");
        assert_eq!(row["problem"], serde_json::Value::Null, "{row}");
        assert_eq!(row["credential"], format!("c{n}"), "{row}");
        assert_eq!(row["os"], "linux", "{row}");
        assert_eq!(row["arch"], uname_m(), "{row}");
        let release = os_release();
        if !release.is_empty() {
            assert_eq!(row["os_release"], release.as_str(), "{row}");
        }
        assert!(row["free_mib"].as_u64().is_some_and(|f| f > 0), "{row}");
        assert_eq!(row["installed"], true, "detect ran: {row}");
    }
    // The refused credential is named, and the next one was tried.
    let first = row(&run, &fleet.endpoints[0]);
    assert_eq!(first["rejected"][0]["credential"], "wrong", "{first}");
    // Without a package: no detect, nothing installed said either way.
    let run = check(&fleet, &["check", "--to", "g1"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let line = run.stdout();
    assert!(
        line.starts_with(&format!(
            "{}  ready (credential c1; linux {}",
            fleet.endpoints[1],
            uname_m()
        )),
        "{line}"
    );
    assert!(
        !line.lines().next().unwrap_or_default().contains("installed"),
        "{line}"
    );
    assert!(line.contains("1 ready, 0 blocked, 0 unreachable"), "{line}");
    // -q: a ready host is not listed.
    let quiet = check(&fleet, &["check", "-q", "--to", "g1"]);
    assert_eq!(quiet.code(), 0, "{}", quiet.debug());
    assert!(!quiet.stdout().contains("ready ("), "{}", quiet.debug());
    assert_no_trace(&fleet, &[(0, "fleet"), (1, "fleet")]);
}

#[test]
fn detect_false_is_not_installed_and_does_not_block() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(
        &fleet,
        r#"linux = { file = "install.sh", detect = "test -e /nonexistent/pushinst-agent" }"#,
    );
    setup.host(0, "fleet", "", &[]);
    setup.write();
    let run = check(&fleet, &["check", "agent", "--output", "json", "--to", "g0"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_eq!(row(&run, &fleet.endpoints[0])["installed"], false);
    assert_no_trace(&fleet, &[(0, "fleet")]);
}

#[test]
fn sudo_problems_are_named_as_deploy_names_them() {
    let fleet = Fleet::start(4);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup
        .host(0, "nosudo", "sudo = true", &[])
        .host(1, "nopath", "sudo = true", &[])
        .host(2, "targetpw", "sudo = true", &[])
        .host(3, "tty", "sudo = true", &[]);
    setup.write();
    let run = check(
        &fleet,
        &[
            "check", "agent", "--output", "json", "--to", "g0", "g1", "g2", "g3",
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.debug());
    let cases = [
        (
            0,
            "sudo refused: pushinst-nosudo may not run commands as root on this host",
            "allow it in sudoers (it runs /bin/sh)",
        ),
        (
            1,
            "sudo is not installed on the host (not in pushinst-nopath's PATH)",
            "install it, or use a credential without `sudo = true`",
        ),
        (
            2,
            "sudo refused the password for pushinst-targetpw",
            "check sudo_password (with `targetpw` or `rootpw` in sudoers, sudo wants root's password)",
        ),
    ];
    for (n, problem, fix) in cases {
        let row = row(&run, &fleet.endpoints[n]);
        assert_eq!(row["status"], "blocked", "{row}");
        assert_eq!(row["step"], "probe", "{row}");
        assert_eq!(row["problem"], problem, "{row}");
        assert_eq!(row["fix"], fix, "{row}");
        assert_eq!(row["credential"], format!("c{n}"), "logged in: {row}");
    }
    // requiretty: sudo gets its terminal, as in deploy.
    assert_eq!(
        row(&run, &fleet.endpoints[3])["status"],
        "ready",
        "{}",
        run.debug()
    );
    assert_no_trace(
        &fleet,
        &[(0, "nosudo"), (1, "nopath"), (2, "targetpw"), (3, "tty")],
    );
}

#[test]
fn noexec_full_and_unwritable_staging_places_block() {
    let fleet = Fleet::start(3);
    // 3 MiB: more than the 2 MiB file system of pushinst-full holds.
    let filler = "#".repeat(3 * 1024 * 1024);
    fleet.installer("install.sh", &format!("{filler}\nexit 0"));
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup
        .host(0, "noexec", "", &[])
        .host(1, "full", "", &[])
        .host(2, "readonly", "", &[]);
    setup.write();
    let run = check(
        &fleet,
        &["check", "agent", "--output", "json", "--to", "g0", "g1", "g2"],
    );
    assert_eq!(run.code(), 1, "{}", run.debug());
    let noexec = row(&run, &fleet.endpoints[0]);
    assert_eq!(
        noexec["problem"], "/var/lib/pushinst-noexec is mounted noexec, so the installer cannot run from it",
        "{noexec}"
    );
    assert_eq!(noexec["status"], "blocked");
    let full = row(&run, &fleet.endpoints[1]);
    let problem = full["problem"].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("no space left on /var/lib/pushinst-full: needs 4.0 MiB, ")
            && problem.ends_with(" MiB free"),
        "{full}"
    );
    assert_eq!(full["fix"], "free some space there or set staging_dir", "{full}");
    let readonly = row(&run, &fleet.endpoints[2]);
    let problem = readonly["problem"].as_str().unwrap_or_default();
    assert!(
        problem.starts_with("upload failed: cannot create the staging directory ~/.pushinst-"),
        "{readonly}"
    );
    for r in [&noexec, &full, &readonly] {
        assert_eq!(r["status"], "blocked", "{r}");
    }
    // Without the package the full home is big enough for the check's own files.
    let run = check(&fleet, &["check", "--output", "json", "--to", "g1"]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    assert_no_trace(&fleet, &[(0, "noexec"), (1, "full"), (2, "readonly")]);
}

#[test]
fn refused_credentials_and_a_dead_host_are_named_and_bad_input_touches_nothing() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let port = common::closed_port();
    let text = format!(
        "[settings]\nknown_hosts = \"known_hosts\"\nconnect_timeout = \"3s\"\n\n[credentials.wrong]\nuser = \"{}\"\npassword = {{ env = \"WRONG_PW\" }}\n\n[packages.agent]\nlinux = {{ file = \"install.sh\" }}\n\n[groups.bad]\nhosts = [\"{}\"]\nos = \"linux\"\ncredentials = [\"wrong\"]\n\n[groups.dead]\nhosts = [\"127.0.0.1:{port}\"]\nos = \"linux\"\ncredentials = [\"wrong\"]\n",
        common::FLEET_USER,
        fleet.endpoints[0]
    );
    fleet.write("pushinst.toml", &text);
    let run = check(&fleet, &["check", "--output", "json", "--to", "bad", "dead"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let bad = row(&run, &fleet.endpoints[0]);
    assert_eq!(bad["status"], "blocked", "{bad}");
    assert_eq!(bad["step"], "authenticate", "{bad}");
    assert!(
        bad["problem"]
            .as_str()
            .is_some_and(|p| p.starts_with("every credential was refused (wrong: ")),
        "{bad}"
    );
    assert_eq!(bad["credential"], serde_json::Value::Null);
    let dead = row(&run, &format!("127.0.0.1:{port}"));
    assert_eq!(dead["status"], "unreachable", "{dead}");
    assert_eq!(dead["step"], "connect", "{dead}");
    // Human rows carry the fix.
    let human = check(&fleet, &["check", "--to", "bad"]);
    assert_eq!(human.code(), 1);
    assert!(
        human
            .stdout()
            .contains("\n    fix: fix the user, password or key of a credential for this host"),
        "{}",
        human.debug()
    );
    // Bad input: exit 2, no host touched.
    let logins = fleet.all_logins();
    let unknown = check(&fleet, &["check", "nosuch", "--to", "bad"]);
    assert_eq!(unknown.code(), 2, "{}", unknown.debug());
    let nowhere = check(&fleet, &["check", "--to", "nosuchgroup"]);
    assert_eq!(nowhere.code(), 2, "{}", nowhere.debug());
    assert_eq!(fleet.all_logins(), logins);
    assert_no_trace(&fleet, &[(0, "fleet")]);
}

#[test]
fn an_unknown_host_key_blocks_under_strict_as_in_deploy() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup.host(0, "fleet", "", &[]);
    setup.write();
    // An empty known_hosts: the fleet's key is unknown, and the policy is strict.
    let text = std::fs::read_to_string(fleet.path("pushinst.toml"))
        .expect("inventory")
        .replace(
            "known_hosts = \"known_hosts\"",
            "known_hosts = \"empty_known_hosts\"",
        );
    fleet.write("pushinst.toml", &text);
    fleet.write("empty_known_hosts", "");
    let run = check(&fleet, &["check", "--output", "json", "--to", "g0"]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let row = row(&run, &fleet.endpoints[0]);
    assert_eq!(row["status"], "blocked", "{row}");
    assert_eq!(row["step"], "connect", "{row}");
    let deploy = check(&fleet, &["deploy", "agent", "--output", "json", "--to", "g0"]);
    let reason = deploy.outcome(&fleet.endpoints[0])["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The same words as deploy's, split into the problem and its fix.
    let problem = row["problem"].as_str().unwrap_or_default();
    assert!(
        !problem.is_empty() && reason.starts_with(problem),
        "{row}\n{reason}"
    );
    assert_eq!(fleet.logins(1), 0, "no login was tried");
    assert_eq!(
        std::fs::read_to_string(fleet.path("empty_known_hosts")).unwrap_or_default(),
        ""
    );
}

/// A Linux check killed while its probe runs leaves its staging directory on
/// record: `cleanup` removes it (whether the probe's wrapper, which outlives a lost
/// connection, has already removed it or not).
#[test]
fn what_a_killed_check_left_on_a_linux_host_is_removed_by_cleanup() {
    use std::os::unix::fs::PermissionsExt;
    // An `uname` that takes its time (only the probe script asks it), first on the
    // PATH of this fleet's logins only.
    let slow = tempfile::Builder::new()
        .prefix("pushinst-slowbin-")
        .tempdir()
        .expect("temp dir");
    let marker = slow.path().join("uname-started");
    let uname = slow.path().join("uname");
    std::fs::write(
        &uname,
        format!(
            "#!/bin/sh\ntouch {}\nsleep 8\nexec /bin/uname \"$@\"\n",
            marker.display()
        ),
    )
    .expect("uname");
    std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(slow.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let path = format!("SetEnv PATH={}:/usr/bin:/bin", slow.path().display());
    let fleet = Fleet::start_with(1, &[("SSHD_FLEET_EXTRA", path.as_str())]);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup.host(0, "fleet", "", &[]);
    setup.write();
    let mut child = fleet
        .pushinst()
        .args(["check", "agent", "--to", "g0"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "the probe never ran uname");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let left = left_in(FLEET_HOME, &fleet.endpoints[0]);
    assert_eq!(left.len(), 1, "the probe's directory, while it runs: {left:?}");

    let clean = fleet.run(&["cleanup"]);
    assert_eq!(clean.code(), 0, "{}", clean.debug());
    assert!(
        clean.stdout().contains(&format!("removed directory {}", left[0])),
        "{}",
        clean.debug()
    );
    assert!(left_in(FLEET_HOME, &fleet.endpoints[0]).is_empty());
    assert_nothing_journaled(&fleet);
}

mod windows {
    use super::common::Fleet;
    use super::common::emulator::Emulators;

    fn inventory(win: &Emulators, package_extra: &str) -> String {
        win.inventory(
            "",
            &format!("windows = {{ file = \"AcmeSetup.exe\", args = [\"/quiet\"]{package_extra} }}"),
        )
    }

    fn installer(fleet: &Fleet) {
        fleet.write(
            "AcmeSetup.exe",
            "#!/bin/sh\necho \"setup ran with: $*\"\nexit 0\n",
        );
    }

    fn row(run: &super::common::Run, host: &str) -> serde_json::Value {
        super::row(run, host)
    }

    #[test]
    fn a_windows_host_is_ready_when_admin_share_and_service_manager_allow_and_nothing_is_left() {
        let fleet = Fleet::workspace();
        let win = Emulators::start(1, "normal");
        installer(&fleet);
        std::fs::write(
            win.root(1).join("registry.json"),
            r#"{"HKLM\\Software\\Acme\\Agent": {"Version": "7.2.1"}}"#,
        )
        .expect("registry");
        let detect = r#", detect = 'reg query "HKLM\Software\Acme\Agent" /v Version'"#;
        fleet.write("pushinst.toml", &inventory(&win, detect));
        let run = fleet.run(&["check", "agent", "--to", "branch", "--output", "json"]);
        assert_eq!(run.code(), 0, "{}", run.debug());
        let row = row(&run, &win.endpoints[0]);
        assert_eq!(row["status"], "ready", "{row}");
        assert_eq!(row["credential"], "admin", "{row}");
        assert_eq!(row["os"], "windows", "{row}");
        // Learned as SYSTEM, as deploy learns them (the emulator's defaults).
        assert_eq!(row["arch"], "x86_64", "{row}");
        assert_eq!(row["os_release"], "build 20348.2700", "{row}");
        assert!(row["free_mib"].as_u64().is_some_and(|f| f > 0), "{row}");
        assert_eq!(row["installed"], true, "{row}");
        let calls = win.calls(1);
        // ADMIN$ proved writable the way staging writes: a new directory with the
        // staging descriptor, then removed (leftovers below).
        assert!(
            calls.iter().any(|c| c.starts_with("CREATE ")
                && c.contains("pushinst-")
                && c.contains("-c\"")
                && !c.contains("\"sd\": null")),
            "{calls:?}"
        );
        // The service manager opened with create-service rights (CONNECT | CREATE_SERVICE).
        assert!(
            calls.iter().any(|c| c == "OpenSCManagerW access=0x3"),
            "{calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("RUN AcmeSetup")),
            "the installer ran: {calls:?}"
        );
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
        let status = fleet.run(&["status", "--output", "json"]);
        assert!(!status.stdout().contains(&win.endpoints[0]), "{}", status.debug());
        super::assert_nothing_journaled(&fleet);
    }

    /// A check killed while its facts run's directory and service exist on the host
    /// (kill -9, a power cut) leaves them on record: `cleanup` removes them.
    #[test]
    fn what_a_killed_check_left_on_a_windows_host_is_removed_by_cleanup() {
        let fleet = Fleet::workspace();
        // StartServiceW hangs: the check is stuck in its facts run. (The emulator's
        // SCM then answers cleanup's calls once it is over.)
        let win = Emulators::start_with(1, "normal", &[("EMULATOR_START_DELAY", "10")]);
        installer(&fleet);
        fleet.write("pushinst.toml", &inventory(&win, ""));
        let mut child = fleet
            .pushinst()
            .args(["check", "--to", "branch"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let started = |c: &String| c.starts_with("StartServiceW pushinst-") && c.ends_with("-f");
        while !win.calls(1).iter().any(started) {
            assert!(
                std::time::Instant::now() < deadline,
                "the facts service never started: {:?}",
                win.calls(1)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        let service = win
            .calls(1)
            .into_iter()
            .find(started)
            .and_then(|c| c.strip_prefix("StartServiceW ").map(str::to_string))
            .expect("the service's name");
        let left = win.leftovers(1);
        assert!(
            left.len() == 1 && left[0].starts_with("pushinst-") && left[0].ends_with("-f"),
            "the killed check left its facts directory: {left:?}"
        );
        assert!(
            !win.calls(1)
                .iter()
                .any(|c| c == &format!("DeleteService {service}")),
            "the check deleted its service before it was killed: {:?}",
            win.calls(1)
        );

        let clean = fleet.run(&["cleanup"]);
        assert_eq!(clean.code(), 0, "{}", clean.debug());
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
        assert!(
            win.calls(1)
                .iter()
                .any(|c| c == &format!("DeleteService {service}")),
            "{:?}",
            win.calls(1)
        );
        assert!(
            clean.stdout().contains(&format!("removed directory {}", left[0])),
            "{}",
            clean.debug()
        );
        assert!(
            clean.stdout().contains(&format!("removed service {service}")),
            "{}",
            clean.debug()
        );
        // Struck once gone: nothing more to do.
        super::assert_nothing_journaled(&fleet);
        // A check is nobody's last run: `retry` does not take it for one.
        let retry = fleet.run(&["retry"]);
        assert!(
            retry.stderr().contains("no run in the history yet"),
            "{}",
            retry.debug()
        );
    }

    #[test]
    fn a_windows_host_that_denies_the_service_manager_is_blocked_naming_it() {
        let fleet = Fleet::workspace();
        let win = Emulators::start(1, "deny-scm");
        installer(&fleet);
        fleet.write("pushinst.toml", &inventory(&win, ""));
        let run = fleet.run(&["check", "--to", "branch", "--output", "json"]);
        assert_eq!(run.code(), 1, "{}", run.debug());
        let row = row(&run, &win.endpoints[0]);
        assert_eq!(row["status"], "blocked", "{row}");
        assert_eq!(row["step"], "probe", "{row}");
        let text = format!("{} {}", row["problem"], row["fix"]);
        assert!(
            text.contains("access denied to the Service Control Manager")
                && text.contains("LocalAccountTokenFilterPolicy"),
            "{row}"
        );
        let calls = win.calls(1);
        assert!(
            !calls.iter().any(|c| c.starts_with("CreateServiceW")),
            "{calls:?}"
        );
        assert!(win.leftovers(1).is_empty(), "{:?}", win.leftovers(1));
        // Nothing it never made stays on record for a cleanup that could not remove it.
        super::assert_nothing_journaled(&fleet);
    }
}
