//! Windows host EMULATORS (tests/windows-emulator/emulator.py on impacket's SMB
//! server): they speak SMB2 and MS-SCMR like Windows and run pushinst's wrapper
//! script as a local process. They prove our wire protocol and flow, not Windows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

static NEXT: AtomicU16 = AtomicU16::new(0);

pub struct Emulators {
    pub dir: tempfile::TempDir,
    pub endpoints: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/windows-emulator.sh")
}

impl Emulators {
    /// `n` hosts; `mode` is normal, deny-scm, service-exists, silent, blocked or hostile-….
    pub fn start(n: usize, mode: &str) -> Emulators {
        Emulators::start_with(n, mode, &[])
    }

    /// Host `n`'s (1-based) file system root.
    pub fn root(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("win{n}"))
    }

    /// What pushinst left in ADMIN$ of host `n`: `pushinst-*` directly in it,
    /// and anything at all in `Temp` (where staging used to go).
    pub fn leftovers(&self, n: usize) -> Vec<String> {
        let names = |dir: std::path::PathBuf| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let root = self.root(n).join("windows");
        let mut found: Vec<String> = names(root.clone())
            .into_iter()
            .filter(|name| name.starts_with("pushinst-"))
            .collect();
        found.extend(
            names(root.join("Temp"))
                .into_iter()
                .map(|name| format!("Temp\\{name}")),
        );
        found
    }

    /// The SCM calls host `n` received, one per line.
    pub fn calls(&self, n: usize) -> Vec<String> {
        std::fs::read_to_string(self.root(n).join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }
}

impl Emulators {
    /// Like `start`, with environment knobs for the emulators (listed in
    /// examples/fleet/windows-emulator.sh: EMULATOR_TARGET_NAME_HARDENING,
    /// EMULATOR_LOGON_STATUS, EMULATOR_SHUTDOWN_EXIT, EMULATOR_VIRUS, …).
    pub fn start_with(n: usize, mode: &str, env: &[(&str, &str)]) -> Emulators {
        let dir = tempfile::Builder::new()
            .prefix("pushinst-win-")
            .tempdir()
            .expect("temp dir");
        let pid = std::process::id();
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let (a, b) = (150 + (pid % 50), ((pid / 50) % 250) + 1);
        let endpoints: Vec<String> = (1..=n).map(|i| format!("127.{a}.{b}.{i}:{}", 4500 + k)).collect();
        let status = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args(&endpoints)
            .env("EMULATOR_MODE", mode)
            .envs(env.iter().copied())
            .status()
            .expect("run windows-emulator.sh");
        assert!(
            status.success(),
            "windows-emulator.sh start failed; run `examples/fleet/windows-emulator.sh setup` first"
        );
        Emulators { dir, endpoints }
    }
}

impl Drop for Emulators {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}

impl Emulators {
    /// What each installer run on host `n` received: (program, argv after it), as
    /// the emulator split the command line the way Windows does.
    pub fn installer_argv(&self, n: usize) -> Vec<(String, Vec<String>)> {
        std::fs::read_to_string(self.root(n).join("argv.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("argv.jsonl line");
                let args = v["args"]
                    .as_array()
                    .expect("args")
                    .iter()
                    .map(|a| a.as_str().expect("arg").to_string())
                    .collect();
                (v["program"].as_str().expect("program").to_string(), args)
            })
            .collect()
    }
}

impl Emulators {
    /// An inventory with these hosts as group `branch`, logging on as
    /// `.\Administrator` with the emulators' password. `settings` are lines under
    /// `[settings]` after `connect_timeout` (may be empty); `package` is what
    /// follows `version = "7.2"` in `[packages.agent]`.
    pub fn inventory(&self, settings: &str, package: &str) -> String {
        self.inventory_as(&[("admin", r".\Administrator")], settings, package)
    }

    /// Like `inventory`, with credentials `(name, user)`, each with the emulators'
    /// password, tried in the order given.
    pub fn inventory_as(&self, credentials: &[(&str, &str)], settings: &str, package: &str) -> String {
        let mut text = String::from("[settings]\nconnect_timeout = \"3s\"\n");
        if !settings.is_empty() {
            text.push_str(&format!("{settings}\n"));
        }
        text.push('\n');
        for (name, user) in credentials {
            text.push_str(&format!(
                "[credentials.{name}]\nuser = '{user}'\npassword = {{ file = \"{}\" }}\n\n",
                self.password_file().display()
            ));
        }
        let hosts: Vec<String> = self.endpoints.iter().map(|h| format!("\"{h}\"")).collect();
        let names: Vec<String> = credentials
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        text.push_str(&format!(
            "[packages.agent]\nversion = \"7.2\"\n{package}\n\n\
             [groups.branch]\nhosts = [{}]\nos = \"windows\"\ncredentials = [{}]\n",
            hosts.join(", "),
            names.join(", ")
        ));
        text
    }
}
