//! Real Samba servers configured like current Windows (SMB3 only, signing
//! mandatory, encryption required, NTLMv2 only, ADMIN$ and C$), started for one
//! test by `examples/fleet/smbd-fleet.sh` on loopback addresses of their own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

static NEXT: AtomicU16 = AtomicU16::new(0);

pub struct Samba {
    pub dir: tempfile::TempDir,
    pub endpoints: Vec<String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/smbd-fleet.sh")
}

impl Samba {
    /// `n` smbd processes; `env` loosens them (SMBD_ENCRYPT=off, SMBD_ADMIN_SHARE=off).
    pub fn start(n: usize, env: &[(&str, &str)]) -> Samba {
        let dir = tempfile::Builder::new()
            .prefix("pushinst-smb-")
            .tempdir()
            .expect("temp dir");
        let pid = std::process::id();
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let (a, b) = (200 + (pid % 50), ((pid / 50) % 250) + 1);
        let endpoints: Vec<String> = (1..=n)
            .map(|i| format!("127.{a}.{b}.{}:{}", i, 4400 + k))
            .collect();
        let status = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args(&endpoints)
            .envs(env.iter().copied())
            .status()
            .expect("run smbd-fleet.sh");
        assert!(
            status.success(),
            "smbd-fleet.sh start failed; run `examples/fleet/smbd-fleet.sh setup` as root first"
        );
        Samba { dir, endpoints }
    }

    /// What ADMIN$ of host `n` (1-based) holds, as a directory on this machine.
    pub fn admin_share(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("smb{n}/windows"))
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
        let root = self.admin_share(n);
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

    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}
