//! Real Samba servers configured like current Windows (SMB3 only, signing
//! mandatory, encryption required, NTLMv2 only, ADMIN$ and C$), started for one
//! test by `examples/fleet/smbd-fleet.sh` on loopback addresses of their own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};

use super::smb_proxy::{Mode, SmbProxy};

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

    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// Everything in ADMIN$ of host `n` (paths relative to it, recursively) except
    /// the empty `Temp` directory the fleet script makes.
    pub fn admin_leftovers(&self, n: usize) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(root).unwrap_or(&path).display().to_string());
                if path.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let root = self.admin_share(n);
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.retain(|p| p != "Temp");
        out.sort();
        out
    }

    /// The NT security descriptor of `path` on host `n`'s ADMIN$ as Samba serves it
    /// over SMB, read by `smbcacls --numeric`.
    pub fn acl(&self, n: usize, path: &str) -> Result<Acl, String> {
        // smbcacls (4.17) only dials port 445: a forwarder on an address of its own
        // stands in for the server's port.
        let forward = forwarder(&self.endpoints[n - 1]);
        let host = forward
            .endpoint
            .rsplit_once(':')
            .map(|(a, _)| a)
            .unwrap_or_default();
        let auth = self.dir.path().join("smbcacls.auth");
        let password = std::fs::read_to_string(self.password_file()).map_err(|e| e.to_string())?;
        std::fs::write(
            &auth,
            format!("username = Administrator\npassword = {}\n", password.trim()),
        )
        .map_err(|e| e.to_string())?;
        let out = Command::new("smbcacls")
            .arg(format!("//{host}/ADMIN$"))
            .arg(path)
            .arg("--numeric")
            .arg("--authentication-file")
            .arg(&auth)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("smbcacls: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        }
        Acl::parse(&text)
    }
}

/// A pass-through proxy on port 445 of a loopback address nobody else uses.
fn forwarder(upstream: &str) -> SmbProxy {
    let pid = std::process::id();
    for k in 0..64u32 {
        let c = (pid + k) % 250 + 1;
        let listen = format!("127.251.{}.{c}:445", (pid / 250) % 250 + 1);
        if let Ok(proxy) = SmbProxy::try_start_on(&listen, upstream, Mode::Pass) {
            return proxy;
        }
    }
    panic!("no free loopback address for port 445");
}

/// A security descriptor as `smbcacls --numeric` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub control: u16,
    pub owner: String,
    pub group: String,
    pub aces: Vec<Ace>,
}

/// One ACE: type (0 = ACCESS_ALLOWED), flags, mask, SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub sid: String,
    pub kind: u8,
    pub flags: u8,
    pub mask: u32,
}

impl Acl {
    fn parse(text: &str) -> Result<Acl, String> {
        let hex =
            |v: &str| u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|e| format!("{v}: {e}"));
        let mut acl = Acl {
            control: 0,
            owner: String::new(),
            group: String::new(),
            aces: Vec::new(),
        };
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("CONTROL:") {
                acl.control = hex(v)? as u16;
            } else if let Some(v) = line.strip_prefix("OWNER:") {
                acl.owner = v.to_string();
            } else if let Some(v) = line.strip_prefix("GROUP:") {
                acl.group = v.to_string();
            } else if let Some(v) = line.strip_prefix("ACL:") {
                // SID:TYPE/FLAGS/MASK
                let (sid, rest) = v.rsplit_once(':').ok_or_else(|| format!("bad ACE {line:?}"))?;
                let parts: Vec<&str> = rest.split('/').collect();
                let [kind, flags, mask] = parts[..] else {
                    return Err(format!("bad ACE {line:?}"));
                };
                acl.aces.push(Ace {
                    sid: sid.to_string(),
                    kind: kind.parse().map_err(|_| format!("bad ACE type {line:?}"))?,
                    flags: hex(flags)? as u8,
                    mask: hex(mask)?,
                });
            }
        }
        Ok(acl)
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}
