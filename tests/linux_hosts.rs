//! Linux hosts unlike a stock Debian + bash one (issue 12), against real sshd, real
//! login shells and real sudoers (the fleet users of `examples/fleet/sshd-fleet.sh`):
//! each result must be true, and nothing may be left in the staging location.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Fleet;

/// A TOML basic string holding `text` exactly.
fn toml_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One group per (fleet host, credential): `[groups.gN]` holds endpoint N only.
struct Setup<'a> {
    fleet: &'a Fleet,
    package: String,
    credentials: String,
    groups: String,
    names: Vec<String>,
}

impl<'a> Setup<'a> {
    fn new(fleet: &'a Fleet, package: &str) -> Self {
        Setup {
            fleet,
            package: package.to_string(),
            credentials: String::new(),
            groups: String::new(),
            names: Vec::new(),
        }
    }

    /// Host `n` (0-based) logs in as `pushinst-USER`, with `extra` credential lines.
    fn host(&mut self, n: usize, user: &str, extra: &str) -> &mut Self {
        let name = format!("g{n}");
        self.credentials.push_str(&format!(
            "\n[credentials.{name}]\nuser = \"pushinst-{user}\"\npassword = {{ file = \"password\" }}\n{extra}\n"
        ));
        self.groups.push_str(&format!(
            "\n[groups.{name}]\nhosts = [\"{}\"]\nos = \"linux\"\ncredentials = [\"{name}\"]\n",
            self.fleet.endpoints[n]
        ));
        self.names.push(name);
        self
    }

    fn write(&self) {
        let text = format!(
            "[settings]\nknown_hosts = \"known_hosts\"\n{}\n[packages.agent]\nversion = \"1.0\"\n{}\n{}",
            self.credentials, self.package, self.groups
        );
        self.fleet.write("pushinst.toml", &text);
    }

    fn deploy(&self, extra: &[&str]) -> common::Run {
        let mut args = vec!["deploy", "agent", "--output", "json", "--to"];
        args.extend(self.names.iter().map(String::as_str));
        args.extend_from_slice(extra);
        self.fleet.run(&args)
    }
}

/// Staging directories of `run_id` left in a fleet user's home.
fn leftovers(user: &str, run_id: &str) -> Vec<String> {
    let home = if user == "fleet" {
        common::FLEET_HOME.to_string()
    } else {
        format!("/var/lib/pushinst-{user}")
    };
    std::fs::read_dir(&home)
        .unwrap_or_else(|e| panic!("{home}: {e}; run examples/fleet/sshd-fleet.sh setup"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!(".pushinst-{run_id}")))
        .collect()
}

/// Processes whose command line contains `marker`.
fn processes(marker: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-af", marker])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

fn kill_all(marker: &str) {
    let _ = std::process::Command::new("pkill").args(["-f", marker]).status();
}

const ARGS: &[&str] = &[
    "with space",
    "it's",
    "\"double\"",
    "!bang !! !$",
    "back\\slash",
    "100%",
    "%PATH%",
    "$(touch /tmp/pushinst-pwned)",
    "`id`",
    "trailing\\",
    "line\nnext",
    "ünïcødé ✓",
    "",
];

#[test]
fn every_login_shell_gets_the_arguments_byte_for_byte_and_a_posix_detect() {
    let shells = ["fish", "tcsh", "zsh", "dash", "ash"];
    let fleet = Fleet::start(shells.len() * 2);
    // Writes its arguments NUL-separated, under the login user's name and its own uid.
    fleet.installer(
        "install.sh",
        r#"who=${SUDO_USER:-$(id -un)}
printf '%s\0' "$@" > "$PUSHINST_FIXTURE_DIR/args-$who-$(id -u)"
touch "$PUSHINST_FIXTURE_DIR/installed-$who"
echo "done for $who""#,
    );
    let args: Vec<String> = ARGS.iter().map(|a| toml_str(a)).collect();
    // POSIX only: fish cannot parse `if …; then … fi` and would exit 0 ("installed").
    let detect = r#"if [ -e "$PUSHINST_FIXTURE_DIR/installed-$(id -un)" ]; then exit 0; else exit 1; fi"#;
    let package = format!(
        "linux = {{ file = \"install.sh\", args = [{}], detect = {} }}",
        args.join(", "),
        toml_str(detect)
    );
    let mut setup = Setup::new(&fleet, &package);
    for (i, shell) in shells.iter().enumerate() {
        setup.host(2 * i, shell, "");
        setup.host(2 * i + 1, shell, "sudo = true");
    }
    setup.write();
    let _ = std::fs::remove_file("/tmp/pushinst-pwned");

    let run = setup.deploy(&[]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    let expected: Vec<u8> = ARGS.iter().flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
    for (i, shell) in shells.iter().enumerate() {
        let user = format!("pushinst-{shell}");
        let uid = String::from_utf8(
            std::process::Command::new("id")
                .args(["-u", &user])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        for (n, as_uid) in [(2 * i, uid.trim()), (2 * i + 1, "0")] {
            let outcome = run.outcome(&fleet.endpoints[n]);
            assert_eq!(outcome["status"], "ok", "{shell}: {outcome}");
            let file = fleet.host_root(n + 1).join(format!("args-{user}-{as_uid}"));
            let got = std::fs::read(&file).unwrap_or_else(|e| panic!("{shell}: {}: {e}", file.display()));
            assert_eq!(got, expected, "{shell} (uid {as_uid}) changed the arguments");
        }
        assert!(leftovers(shell, &run.run_id()).is_empty(), "{shell}");
    }
    assert!(!Path::new("/tmp/pushinst-pwned").exists(), "an argument was run");
    assert!(fleet.all_logs().contains("done for pushinst-fish"));

    // Now detect, run by /bin/sh whatever the login shell, finds each one installed.
    let again = setup.deploy(&[]);
    assert_eq!(again.code(), 0, "{}", again.debug());
    for endpoint in &fleet.endpoints {
        assert_eq!(
            again.outcome(endpoint)["status"],
            "already-installed",
            "{endpoint}"
        );
    }
}

#[test]
fn sudo_refusals_are_named_do_not_count_and_leave_nothing() {
    let fleet = Fleet::start(7);
    fleet.recording_installer("0", "");
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup
        .host(6, "ttynp", "sudo = true")
        .host(0, "tty", "sudo = true")
        .host(1, "nosudo", "sudo = true")
        .host(2, "targetpw", "sudo = true")
        .host(3, "nopath", "sudo = true")
        .host(4, "fleet", "sudo = true\nsudo_password = { env = \"WRONG_PW\" }")
        .host(5, "dash", "sudo = true\nsudo_password = { env = \"NO_PW\" }");
    setup.write();
    // `sudo -n` for hosts 5 and 6: a key login without a sudo password.
    let text = std::fs::read_to_string(fleet.path("pushinst.toml"))
        .unwrap()
        .replace("sudo = true\nsudo_password = { env = \"NO_PW\" }", "sudo = true");
    let text = text.replace(
        "[credentials.g5]\nuser = \"pushinst-dash\"\npassword = { file = \"password\" }",
        "[credentials.g5]\nuser = \"pushinst-dash\"\nkey = \"id_ed25519\"",
    );
    let text = text.replace(
        "[credentials.g6]\nuser = \"pushinst-ttynp\"\npassword = { file = \"password\" }",
        "[credentials.g6]\nuser = \"pushinst-ttynp\"\nkey = \"id_ed25519\"",
    );
    fleet.write("pushinst.toml", &text);
    let run = fleet.run_with(
        &[
            "deploy", "agent", "--output", "json", "--to", "g0", "g1", "g2", "g3", "g4", "g5", "g6",
        ],
        |c| {
            c.env("WRONG_PW", "not-the-sudo-password");
        },
    );
    assert_eq!(run.code(), 1, "{}", run.debug());
    // requiretty: pushinst gives sudo a terminal, and the installer runs as root.
    assert_eq!(
        run.outcome(&fleet.endpoints[0])["status"],
        "ok",
        "{}",
        run.debug()
    );
    assert!(fleet.all_logs().contains("as root"), "{}", fleet.all_logs());
    let cases = [
        (
            1,
            "nosudo",
            "sudo refused: pushinst-nosudo may not run commands as root",
        ),
        (2, "targetpw", "sudo refused the password for pushinst-targetpw"),
        (3, "nopath", "sudo is not installed on the host"),
        (4, "fleet", "sudo refused the password for pushinst-fleet"),
        (5, "dash", "sudo -n refused pushinst-dash: sudo wants a password"),
    ];
    for (n, user, words) in cases {
        let outcome = run.outcome(&fleet.endpoints[n]);
        let reason = outcome["reason"].as_str().unwrap();
        assert!(reason.starts_with(words), "{user}: {reason}");
        assert_eq!(outcome["status"], "failed", "{user}: {outcome}");
        assert_eq!(outcome["counts_as_attempt"], false, "{user}: not an attempt");
        assert_eq!(outcome["detail"]["reason"]["class"], "target-setup", "{user}");
        assert!(leftovers(user, &run.run_id()).is_empty(), "{user}: staging left");
    }
    assert_eq!(fleet.timeline().len(), 2, "only the requiretty hosts ran it");
    // Nothing is on record for `pushinst cleanup` to retry through sudo.
    let cleanup = fleet.run(&["cleanup", "--output", "json"]);
    assert_eq!(cleanup.code(), 0, "{}", cleanup.debug());
    assert!(cleanup.finished().is_empty(), "{}", cleanup.debug());
}

#[test]
fn an_installer_that_leaves_a_daemon_on_its_output_is_ok_at_once() {
    let fleet = Fleet::start(2);
    let marker = format!("sleep 31{}", std::process::id() % 1000);
    fleet.installer("install.sh", &format!("{marker} &\necho daemon started\nexit 0"));
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh", timeout = "5m" }"#);
    setup.host(0, "fleet", "").host(1, "fleet", "sudo = true");
    setup.write();
    let run = setup.deploy(&[]);
    let running = processes(&marker);
    kill_all(&marker);
    assert_eq!(run.code(), 0, "{}", run.debug());
    for endpoint in &fleet.endpoints {
        assert_eq!(run.outcome(endpoint)["status"], "ok", "{}", run.debug());
    }
    assert!(run.elapsed < Duration::from_secs(20), "took {:?}", run.elapsed);
    assert_eq!(running.len(), 2, "the daemons run on, as intended: {running:?}");
    assert!(fleet.all_logs().contains("daemon started"));
    assert!(leftovers("fleet", &run.run_id()).is_empty());
}

#[test]
fn two_hundred_mib_of_output_keep_the_exit_code_and_the_end_with_and_without_sudo() {
    let fleet = Fleet::start(2);
    fleet.installer(
        "install.sh",
        "head -c 209715200 /dev/zero | tr '\\0' 'x'\necho\necho LAST-LINE-OF-OUTPUT\nexit 4",
    );
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup.host(0, "fleet", "").host(1, "fleet", "sudo = true");
    setup.write();
    // GNU time reports the controller's peak memory.
    let cmd = fleet.pushinst();
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kib=%M", "-o"])
        .arg(fleet.path("time.txt"))
        .arg(env!("CARGO_BIN_EXE_pushinst"))
        .args(["deploy", "agent", "--output", "json", "--to", "g0", "g1"])
        .current_dir(fleet.dir.path())
        .envs(
            cmd.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("/usr/bin/time (apt: time)");
    let run = common::Run {
        output,
        elapsed: Duration::ZERO,
    };
    assert_eq!(run.code(), 1, "{}", run.debug());
    for endpoint in &fleet.endpoints {
        let outcome = run.outcome(endpoint);
        assert_eq!(outcome["status"], "failed", "{outcome}");
        assert_eq!(outcome["exit_code"], 4, "{outcome}");
        assert_eq!(outcome["counts_as_attempt"], true, "{outcome}");
    }
    assert!(fleet.all_logs().contains("LAST-LINE-OF-OUTPUT"));
    assert!(leftovers("fleet", &run.run_id()).is_empty());
    let time = std::fs::read_to_string(fleet.path("time.txt")).unwrap();
    let kib: u64 = time
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{time}"));
    assert!(
        kib < 100 * 1024,
        "the controller held {kib} KiB for 400 MiB of output"
    );
}

#[test]
fn a_timeout_under_sudo_kills_the_installer_and_its_children() {
    let fleet = Fleet::start(1);
    let id = std::process::id() % 1000;
    let (child, main) = (format!("sleep 32{id}"), format!("sleep 33{id}"));
    fleet.installer(
        "install.sh",
        &format!("sh -c 'trap \"\" TERM; {child}' &\n{main}\nexit 0"),
    );
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh", timeout = "2s" }"#);
    setup.host(0, "fleet", "sudo = true");
    setup.write();
    let run = setup.deploy(&[]);
    let left = [processes(&child), processes(&main)].concat();
    kill_all(&child);
    kill_all(&main);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let outcome = run.outcome(&fleet.endpoints[0]);
    assert_eq!(
        outcome["detail"]["reason"]["kind"], "installer-timed-out",
        "{outcome}"
    );
    assert_eq!(outcome["counts_as_attempt"], true, "a timeout is an attempt");
    assert!(
        outcome["reason"].as_str().unwrap().contains("were killed"),
        "{outcome}"
    );
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(leftovers("fleet", &run.run_id()).is_empty());
    assert!(run.elapsed < Duration::from_secs(20), "took {:?}", run.elapsed);
}

#[test]
fn noexec_full_and_unwritable_staging_places_are_named_and_not_attempts() {
    let fleet = Fleet::start(3);
    // 3 MiB: more than the 2 MiB file system of pushinst-full holds.
    let filler = "#".repeat(3 * 1024 * 1024);
    fleet.installer("install.sh", &format!("{filler}\nexit 0"));
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup
        .host(0, "noexec", "")
        .host(1, "full", "")
        .host(2, "readonly", "");
    setup.write();
    let run = setup.deploy(&[]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    let noexec = run.outcome(&fleet.endpoints[0]);
    assert_eq!(
        noexec["reason"],
        "/var/lib/pushinst-noexec is mounted noexec, so the installer cannot run from it; nothing was installed (set staging_dir to a directory where programs may run)",
        "{noexec}"
    );
    let full = run.outcome(&fleet.endpoints[1]);
    let reason = full["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no space left on /var/lib/pushinst-full: needs 4.0 MiB, ")
            && reason.contains(" MiB free"),
        "{full}"
    );
    let readonly = run.outcome(&fleet.endpoints[2]);
    let reason = readonly["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("upload failed: cannot create the staging directory ~/.pushinst-")
            && reason.ends_with(
                "(permission denied); the login user cannot write there: set staging_dir to a directory it can write to"
            ),
        "{readonly}"
    );
    for (outcome, user) in [(noexec, "noexec"), (full, "full"), (readonly, "readonly")] {
        assert_eq!(outcome["status"], "failed");
        assert_eq!(outcome["counts_as_attempt"], false, "{user}: not an attempt");
        assert!(leftovers(user, &run.run_id()).is_empty(), "{user}");
    }
}

/// Entries named `.pushinst-RUN_ID…` in `dir`.
fn staged_in(dir: &Path, run_id: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!(".pushinst-{run_id}")))
        .collect()
}

/// A directory made for one test, removed when it ends.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(name: &str, mode: u32, owner: Option<&str>) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("pushinst-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("mkdir");
        if let Some(user) = owner {
            let status = std::process::Command::new("chown")
                .arg(user)
                .arg(&path)
                .status()
                .expect("chown");
            assert!(status.success());
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        ScratchDir(path)
    }

    fn text(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn staging_dir_moves_staging_off_a_noexec_or_full_home_and_refuses_a_place_others_control() {
    let fleet = Fleet::start(4);
    // 3 MiB: more than the 2 MiB home of pushinst-full holds.
    let filler = "#".repeat(3 * 1024 * 1024);
    fleet.installer("install.sh", &format!("{filler}\nexit 0"));
    // Writable by every user and not sticky: anyone could rename pushinst's directory.
    let open = ScratchDir::new("open", 0o777, None);
    // Sticky, but its owner (another user) may rename anything in it.
    let theirs = ScratchDir::new("theirs", 0o1777, Some("pushinst-dash"));
    let mut setup = Setup::new(&fleet, r#"linux = { file = "install.sh" }"#);
    setup
        .host(0, "noexec", "")
        .host(1, "full", "")
        .host(2, "fleet", "sudo = true")
        .host(3, "fleet", "sudo = true");
    // Per host for the first three, per group for the last.
    setup.groups.push_str(&format!(
        "\n[[hosts]]\nname = \"{}\"\nstaging_dir = \"/var/tmp/\"\n\n[[hosts]]\nname = \"{}\"\nstaging_dir = \"/var/tmp\"\n\n[[hosts]]\nname = \"{}\"\nstaging_dir = \"{}\"\n",
        fleet.endpoints[0],
        fleet.endpoints[1],
        fleet.endpoints[2],
        open.text()
    ));
    setup.write();
    let text = std::fs::read_to_string(fleet.path("pushinst.toml"))
        .unwrap()
        .replace(
            "credentials = [\"g3\"]\n",
            &format!("credentials = [\"g3\"]\nstaging_dir = \"{}\"\n", theirs.text()),
        );
    fleet.write("pushinst.toml", &text);

    let plan = setup.deploy(&["--dry-run"]);
    assert_eq!(plan.code(), 0, "{}", plan.debug());
    assert!(
        plan.stdout().contains("\"staging\":\"/var/tmp/.pushinst-RUN-"),
        "{}",
        plan.stdout()
    );

    let run = setup.deploy(&[]);
    assert_eq!(run.code(), 1, "{}", run.debug());
    for n in [0, 1] {
        let outcome = run.outcome(&fleet.endpoints[n]);
        assert_eq!(outcome["status"], "ok", "{}", run.debug());
    }
    let cases = [
        (2, &open, format!("{0} is writable by every user", open.text())),
        (3, &theirs, format!("{0} belongs to user ", theirs.text())),
    ];
    for (n, dir, words) in cases {
        let outcome = run.outcome(&fleet.endpoints[n]);
        let reason = outcome["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("refusing to stage in {}: {words}", dir.text())),
            "{reason}\n{}",
            run.debug()
        );
        assert_eq!(outcome["counts_as_attempt"], false, "not an attempt: {outcome}");
        assert_eq!(outcome["detail"]["reason"]["class"], "target-setup");
        assert!(staged_in(&dir.0, &run.run_id()).is_empty(), "{n}: staging left");
    }
    assert!(staged_in(Path::new("/var/tmp"), &run.run_id()).is_empty());
    for user in ["noexec", "full"] {
        assert!(leftovers(user, &run.run_id()).is_empty(), "{user}");
    }
}

#[test]
fn an_expired_password_is_named_as_such_not_as_an_upload_failure() {
    let fleet = Fleet::start(1);
    fleet.recording_installer("0", "");
    for package in [
        r#"linux = { file = "install.sh", detect = "false" }"#,
        r#"linux = { file = "install.sh" }"#,
    ] {
        let mut setup = Setup::new(&fleet, package);
        setup.host(0, "expired", "");
        setup.write();
        let run = setup.deploy(&[]);
        assert_eq!(run.code(), 1, "{}", run.debug());
        let outcome = run.outcome(&fleet.endpoints[0]);
        let reason = outcome["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("the password of pushinst-expired has expired"),
            "{package}: {outcome}"
        );
        assert_eq!(outcome["counts_as_attempt"], false);
        assert!(leftovers("expired", &run.run_id()).is_empty());
    }
    assert!(fleet.timeline().is_empty());
}

#[test]
fn a_reboot_request_reaches_shutdown_intact_through_any_shell_and_requiretty() {
    let fleet = Fleet::start(3);
    fleet.recording_installer("0", "exit 100");
    let package = "linux = { file = \"install.sh\" }\nreboot_codes = [100]\nreboot = \"ask\"";
    let mut setup = Setup::new(&fleet, package);
    setup
        .host(0, "fish", "sudo = true")
        .host(1, "tcsh", "sudo = true")
        .host(2, "tty", "sudo = true");
    let message = "Patch day! Save your work: it's $(id) time \\ 100%";
    setup.credentials = format!(
        "reboot_delay = \"2m\"\nreboot_message = {}\n{}",
        toml_str(message),
        setup.credentials
    );
    setup.write();
    let run = setup.deploy(&[]);
    assert_eq!(run.code(), 0, "{}", run.debug());
    for n in 0..3 {
        let asked = std::fs::read_to_string(fleet.host_root(n + 1).join("shutdown"))
            .unwrap_or_else(|e| panic!("host {n} was not asked to reboot ({e}): {}", run.debug()));
        assert_eq!(asked, format!("-r +2 {message}\n"), "host {n}");
    }
    assert!(run.stdout().contains("reboot requested in 2m"), "{}", run.debug());
}
