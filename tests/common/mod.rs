//! A fleet of real OpenSSH servers for one test, started by
//! `examples/fleet/sshd-fleet.sh` on addresses of its own in 127.0.0.0/8.

#![allow(dead_code)]

pub mod emulator;
pub mod kdc;
pub mod relay;
pub mod samba;
pub mod smb_proxy;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const FLEET_USER: &str = "pushinst-fleet";
pub const FLEET_HOME: &str = "/var/lib/pushinst-fleet";

static NEXT_FLEET: AtomicU16 = AtomicU16::new(0);

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub endpoints: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/sshd-fleet.sh")
}

impl Fleet {
    /// `n` sshd processes, each on its own loopback address. Addresses derive from the
    /// test process id, so tests running in parallel never collide.
    pub fn start(n: usize) -> Fleet {
        Fleet::start_with(n, &[])
    }

    /// `n` sshd processes started with `env` for sshd-fleet.sh: `SSHD_FLEET_EXTRA`
    /// (lines the sshd_config begins with; sshd takes the first value it reads for a
    /// keyword, so they replace the fleet's defaults), `SSHD_FLEET_SFTP` (the sftp
    /// subsystem; empty for none).
    pub fn start_with(n: usize, env: &[(&str, &str)]) -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("pushinst-test-")
            .tempdir()
            .expect("temp dir");
        let pid = std::process::id();
        let port = 2200 + NEXT_FLEET.fetch_add(1, Ordering::SeqCst);
        let (a, b) = (((pid / 250) % 250) + 1, (pid % 250) + 1);
        let endpoints: Vec<String> = (1..=n).map(|i| format!("127.{a}.{b}.{i}:{port}")).collect();
        let status = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args(&endpoints)
            .envs(env.iter().copied())
            .status()
            .expect("run sshd-fleet.sh");
        assert!(
            status.success(),
            "sshd-fleet.sh start failed; run `examples/fleet/sshd-fleet.sh setup` as root first (tests/run.sh does)"
        );
        Fleet { dir, endpoints }
    }

    /// A working directory for pushinst with no sshd in it (for Windows-only tests).
    pub fn workspace() -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("pushinst-test-")
            .tempdir()
            .expect("temp dir");
        Fleet {
            dir,
            endpoints: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn password(&self) -> String {
        std::fs::read_to_string(self.path("password"))
            .expect("fleet password")
            .trim()
            .to_string()
    }

    /// The `hosts = [...]` list for an inventory.
    pub fn hosts_list(&self) -> String {
        let quoted: Vec<String> = self.endpoints.iter().map(|e| format!("\"{e}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// The start of an inventory for this fleet: `settings`, then the credentials
    /// `wrong` (refused: its password comes from $WRONG_PW), `fleet` (the fleet
    /// password, with sudo) and `plain` (the same, without sudo).
    pub fn inventory_head(&self, settings: &str) -> String {
        format!(
            r#"[settings]
known_hosts = "known_hosts"
{settings}

[credentials.wrong]
user = "{FLEET_USER}"
password = {{ env = "WRONG_PW" }}

[credentials.fleet]
user = "{FLEET_USER}"
password = {{ file = "password" }}
sudo = true

[credentials.plain]
user = "{FLEET_USER}"
password = {{ file = "password" }}
"#
        )
    }

    /// A whole inventory: [`Fleet::inventory_head`] with `settings`, the package
    /// `agent` (version 1.0, then the `package` lines) and the group `fleet` of `hosts`
    /// (a TOML array), os linux, logging in with `credentials` (a TOML array).
    pub fn agent_inventory(&self, settings: &str, package: &str, hosts: &str, credentials: &str) -> String {
        format!(
            "{head}\n[packages.agent]\nversion = \"1.0\"\n{package}\n\n[groups.fleet]\nhosts = {hosts}\nos = \"linux\"\ncredentials = {credentials}\n",
            head = self.inventory_head(settings),
        )
    }

    /// An installer script, made executable.
    pub fn installer(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// A standard installer: records start/end in the shared timeline, sleeps, marks
    /// the host installed, and exits with `$EXIT_<host>` semantics given by `tail`.
    pub fn recording_installer(&self, sleep: &str, tail: &str) -> PathBuf {
        let timeline = self.path("timeline");
        self.installer(
            "install.sh",
            &format!(
                r#"echo "start $(date +%s.%N) $PUSHINST_FIXTURE_HOST" >> {t}
echo "installing on $PUSHINST_FIXTURE_HOST as $(id -un): $*"
sleep {sleep}
mkdir -p "$PUSHINST_FIXTURE_DIR/opt/agent" && touch "$PUSHINST_FIXTURE_DIR/opt/agent/installed"
echo "end $(date +%s.%N) $PUSHINST_FIXTURE_HOST" >> {t}
{tail}
exit 0"#,
                t = timeline.display()
            ),
        )
    }

    /// (host, start, end) for every installer run recorded in the timeline.
    pub fn timeline(&self) -> Vec<(String, f64, Option<f64>)> {
        let text = std::fs::read_to_string(self.path("timeline")).unwrap_or_default();
        let mut runs: Vec<(String, f64, Option<f64>)> = Vec::new();
        for line in text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [kind, at, host] = parts[..] else { continue };
            let at: f64 = at.parse().expect("timestamp");
            match kind {
                "start" => runs.push((host.to_string(), at, None)),
                "end" => {
                    if let Some(run) = runs.iter_mut().rev().find(|r| r.0 == host && r.2.is_none()) {
                        run.2 = Some(at);
                    }
                }
                _ => {}
            }
        }
        runs
    }

    /// Successful SSH logins host `n` (1-based) has seen, from its sshd log.
    pub fn logins(&self, n: usize) -> usize {
        std::fs::read_to_string(self.path(&format!("host{n}/sshd.log")))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted "))
            .count()
    }

    /// `logins` for every host, in order.
    pub fn all_logins(&self) -> Vec<usize> {
        (1..=self.endpoints.len()).map(|n| self.logins(n)).collect()
    }

    pub fn host_root(&self, n: usize) -> PathBuf {
        self.path(&format!("host{n}/root"))
    }

    pub fn pushinst(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushinst"));
        cmd.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("XDG_STATE_HOME")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("PUSHINST_INVENTORY")
            .env_remove("PUSHINST_STATE");
        cmd
    }

    /// Run pushinst with its memory and time watched: it is killed once its resident
    /// set passes `kill_above_kib` or `timeout` passes, so a client that trusts a
    /// hostile server's lengths fails the test without taking the machine with it.
    #[expect(
        clippy::zombie_processes,
        reason = "the child is reaped by wait4, which also gives its peak memory"
    )]
    pub fn run_bounded(&self, args: &[&str], timeout: Duration, kill_above_kib: u64) -> BoundedRun {
        let stdout = std::fs::File::create(self.path("bounded.stdout")).expect("stdout file");
        let stderr = std::fs::File::create(self.path("bounded.stderr")).expect("stderr file");
        let child = self
            .pushinst()
            .args(args)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn pushinst");
        let pid = child.id() as libc::pid_t;
        let started = Instant::now();
        let mut killed = None;
        let (status, peak_rss_kib) = loop {
            let mut status = 0;
            // SAFETY: plain syscalls on our own child; `usage` is a valid out-parameter.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            assert!(done >= 0, "wait4: {}", std::io::Error::last_os_error());
            if done == pid {
                // ru_maxrss is in KiB on Linux: the child's peak, measured by the kernel.
                break (status, usage.ru_maxrss as u64);
            }
            let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            if killed.is_none() && (rss > kill_above_kib || started.elapsed() > timeout) {
                killed = Some(if rss > kill_above_kib {
                    format!("resident set {rss} KiB passed {kill_above_kib} KiB")
                } else {
                    format!("still running after {timeout:?}")
                });
                // SAFETY: our own child, not reaped yet (wait4 above said so): the pid is its.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        BoundedRun {
            status,
            peak_rss_kib,
            killed,
            elapsed: started.elapsed(),
            run: Run {
                output: Output {
                    status: std::os::unix::process::ExitStatusExt::from_raw(status),
                    stdout: std::fs::read(self.path("bounded.stdout")).unwrap_or_default(),
                    stderr: std::fs::read(self.path("bounded.stderr")).unwrap_or_default(),
                },
                elapsed: started.elapsed(),
            },
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, |_| {})
    }

    pub fn run_with(&self, args: &[&str], setup: impl FnOnce(&mut Command)) -> Run {
        let mut cmd = self.pushinst();
        cmd.args(args);
        setup(&mut cmd);
        let started = Instant::now();
        let output = cmd.output().expect("run pushinst");
        Run {
            output,
            elapsed: started.elapsed(),
        }
    }

    /// Start pushinst in the background, return once an installer is running.
    pub fn spawn_until_installing(&self, args: &[&str]) -> std::process::Child {
        let child = self
            .pushinst()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn pushinst");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.timeline().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Every file under the log directory, concatenated.
    pub fn all_logs(&self) -> String {
        let mut out = String::new();
        let root = self.path(".local/state/pushinst/logs");
        for run in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for file in std::fs::read_dir(run.path()).into_iter().flatten().flatten() {
                out.push_str(&std::fs::read_to_string(file.path()).unwrap_or_default());
            }
        }
        out
    }

    /// Staging directories a run left in the fleet user's home.
    pub fn leftovers(&self, run_id: &str) -> Vec<String> {
        std::fs::read_dir(FLEET_HOME)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(&format!(".pushinst-{run_id}")))
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}

pub struct Run {
    pub output: Output,
    pub elapsed: Duration,
}

impl Run {
    /// Wait for a pushinst started in the background; `started` is when it began.
    pub fn wait(child: std::process::Child, started: Instant) -> Run {
        let output = child.wait_with_output().expect("wait for pushinst");
        Run {
            output,
            elapsed: started.elapsed(),
        }
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// JSON Lines events (for `--output json` runs).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    pub fn finished(&self) -> Vec<serde_json::Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == "host_finished")
            .map(|e| e["data"].clone())
            .collect()
    }

    /// The outcome recorded for `host` (label as shown, e.g. `127.1.2.1:2200`).
    pub fn outcome(&self, host: &str) -> serde_json::Value {
        self.finished()
            .into_iter()
            .find(|d| d["host"] == host)
            .unwrap_or_else(|| panic!("no result for {host} in:\n{}\n{}", self.stdout(), self.stderr()))["outcome"]
            .clone()
    }

    pub fn run_id(&self) -> String {
        self.events()
            .into_iter()
            .find(|e| e["type"] == "run_started")
            .and_then(|e| e["data"]["run_id"].as_str().map(str::to_string))
            .expect("run_started event")
    }

    pub fn debug(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// A pushinst run under `Fleet::run_bounded`.
pub struct BoundedRun {
    pub status: i32,
    /// The child's peak resident set (getrusage through wait4), in KiB.
    pub peak_rss_kib: u64,
    /// Why the watchdog killed it, if it did.
    pub killed: Option<String>,
    pub elapsed: Duration,
    pub run: Run,
}

/// Ctrl-C, as a terminal would send it.
pub fn interrupt(child: &std::process::Child) {
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
}

/// A port on which nothing listens.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A host that accepts TCP connections and then never says a word.
pub fn silent_host() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let clone = listener.try_clone().expect("clone listener");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in clone.incoming().flatten() {
            held.push(stream);
        }
    });
    (listener, port)
}
