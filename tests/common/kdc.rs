//! A real Active Directory domain controller (Samba AD DC) for one test, started by
//! `examples/fleet/samba-ad-dc.sh` in a network namespace of its own: a KDC on port 88
//! and SMB on 445 for a domain that refuses every NTLM logon, signing mandatory, with
//! an ADMIN$ share and a domain admin to log on as. This machine reaches it over a veth
//! pair at an address in 10.81.0.0/16 derived from the test process's id, so tests in
//! parallel never share a namespace, an interface or an address.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Kdc {
    pub dir: tempfile::TempDir,
    /// The DC's address (KDC, DNS, LDAP, SMB), inside the namespace.
    pub dc_addr: String,
    /// This machine's end of the veth pair.
    pub host_addr: String,
    /// `EXAMPLE.TEST`.
    pub realm: String,
    /// The NetBIOS domain name, `EXAMPLE`.
    pub domain: String,
    /// The DC's DNS name, `dc1.example.test` (its SPNs are `cifs/` and `HOST/` that).
    pub fqdn: String,
    /// A domain admin and its password.
    pub user: String,
    pub password: String,
    /// What the DC's ADMIN$ holds, as a directory on this machine.
    pub share: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet/samba-ad-dc.sh")
}

impl Kdc {
    pub fn start() -> Kdc {
        let dir = tempfile::Builder::new()
            .prefix("pushinst-kdc-")
            .tempdir()
            .expect("temp dir");
        let pid = std::process::id();
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        // One /30 of 10.81.0.0/16 per (process, DC): 16384 of them.
        let block = (pid.wrapping_mul(4).wrapping_add(k)) % 16384;
        let (c, d) = (block / 64, (block % 64) * 4);
        let netns = format!("pik{pid}x{k}");
        let status = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .env("KDC_NETNS", &netns)
            .env("KDC_DC_ADDR", format!("10.81.{c}.{}", d + 1))
            .env("KDC_HOST_ADDR", format!("10.81.{c}.{}", d + 2))
            .status()
            .expect("run samba-ad-dc.sh");
        if !status.success() {
            let _ = Command::new(script()).arg("stop").arg(dir.path()).status();
            panic!(
                "samba-ad-dc.sh start failed; run `examples/fleet/samba-ad-dc.sh setup` as root first (tests/run.sh does)"
            );
        }
        let text = std::fs::read_to_string(dir.path().join("dc.env")).expect("dc.env");
        let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| env.get(k).unwrap_or_else(|| panic!("{k} in dc.env")).to_string();
        let realm = get("REALM");
        let kdc = Kdc {
            dc_addr: get("DC_ADDR"),
            host_addr: get("HOST_ADDR"),
            fqdn: format!("{}.{}", get("DC_NAME"), realm.to_lowercase()),
            domain: get("DOMAIN"),
            user: get("USER"),
            password: get("PASSWORD"),
            share: PathBuf::from(get("SHARE")),
            realm,
            dir,
        };
        kdc.wait_ready();
        kdc
    }

    /// The DC answers on 445 before it can take a Kerberos logon (the first one
    /// meanwhile fails with STATUS_INTERNAL_ERROR): wait until Samba's own client
    /// logs on with Kerberos, so every test starts with a DC that serves.
    fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let ccache = format!("FILE:{}", self.dir.path().join("ready.ccache").display());
        loop {
            let ok = Command::new("smbclient")
                .arg(format!("//{}/ADMIN$", self.fqdn))
                .args(["-I", &self.dc_addr, "--use-kerberos=required", "-c", "ls"])
                .arg("-U")
                .arg(format!("{}@{}%{}", self.user, self.realm, self.password))
                .env("KRB5_CONFIG", self.krb5_conf())
                .env("KRB5CCNAME", &ccache)
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                let _ = std::fs::remove_file(self.dir.path().join("ready.ccache"));
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the DC took no Kerberos logon within 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    /// A krb5.conf naming this DC as the realm's KDC, for `KRB5_CONFIG`.
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// A computer account `NAME$` in this domain, with SPNs `cifs/` and `host/`
    /// NAME.<realm> (and `extra_spns`), its keys exported to a keytab
    /// (`samba-ad-dc.sh host`): the path of that keytab, for the Windows emulator's
    /// `EMULATOR_KEYTAB` (with `EMULATOR_REALM` and `EMULATOR_SPN_HOST`).
    pub fn add_host(&self, name: &str, extra_spns: &[&str]) -> PathBuf {
        let out = Command::new(script())
            .arg("host")
            .arg(self.dir.path())
            .arg(name)
            .args(extra_spns)
            .output()
            .expect("run samba-ad-dc.sh host");
        assert!(
            out.status.success(),
            "samba-ad-dc.sh host {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// A network namespace for pushinst whose resolver is the DC's DNS
    /// (`samba-ad-dc.sh controller`): its name, for `ip netns exec`. Removed with the DC.
    pub fn controller(&self) -> String {
        let out = Command::new(script())
            .arg("controller")
            .arg(self.dir.path())
            .output()
            .expect("run samba-ad-dc.sh controller");
        assert!(
            out.status.success(),
            "samba-ad-dc.sh controller failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A PTR record `address` -> `name` in the DC's DNS (after [`Kdc::controller`]).
    pub fn add_ptr(&self, address: &str, name: &str) {
        let out = Command::new(script())
            .arg("ptr")
            .arg(self.dir.path())
            .args([address, name])
            .output()
            .expect("run samba-ad-dc.sh ptr");
        assert!(
            out.status.success(),
            "samba-ad-dc.sh ptr failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The DC's smb.conf, for `samba-tool … -s`.
    fn smb_conf(&self) -> PathBuf {
        self.dir.path().join("dc/etc/smb.conf")
    }

    /// `samba-tool ARGS -s smb.conf`, which must succeed.
    fn samba_tool(&self, args: &[&str]) {
        let out = Command::new("samba-tool")
            .args(args)
            .arg("-s")
            .arg(self.smb_conf())
            .output()
            .expect("run samba-tool");
        assert!(
            out.status.success(),
            "samba-tool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One more name for the DC itself: the SPN `cifs/<name>.<realm>` on its
    /// computer account, so a host of that name (at the DC's address) takes a
    /// Kerberos logon as the DC does. Returns the name.
    pub fn alias(&self, name: &str) -> String {
        let fqdn = format!("{name}.{}", self.realm.to_lowercase());
        let account = format!("{}$", self.fqdn.split('.').next().unwrap_or("dc1").to_uppercase());
        self.samba_tool(&["spn", "add", &format!("cifs/{fqdn}"), &account]);
        fqdn
    }

    /// The keys of `principal` (`user` or `NAME$`) exported to a keytab: its path.
    pub fn export_keytab(&self, principal: &str) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("{}.export.keytab", principal.trim_end_matches('$')));
        let _ = std::fs::remove_file(&path);
        self.samba_tool(&[
            "domain",
            "exportkeytab",
            path.to_str().expect("a UTF-8 path"),
            &format!("--principal={principal}"),
        ]);
        path
    }

    /// Everything in ADMIN$ (names, recursively, sorted).
    pub fn share_contents(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(root).unwrap_or(&path).display().to_string());
                if path.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.share, &self.share, &mut out);
        out.sort();
        out
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).status();
    }
}

/// The `check --output json` row of `host`.
pub fn row(run: &super::Run, host: &str) -> serde_json::Value {
    run.events()
        .into_iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("no row for {host}:\n{}", run.debug()))
}

/// `check` logged on with Kerberos and made and removed its directory in ADMIN$;
/// it then stops where Samba ends: a check learns a Windows host's facts through a
/// scheduled task (`exec = "task"`), and Samba has no task scheduler.
pub fn logged_on(run: &super::Run, host: &str) {
    let row = row(run, host);
    assert_eq!(row["credential"], "domain", "{host}: {}", run.debug());
    assert_eq!(row["rejected"], serde_json::json!([]), "{host}: {}", run.debug());
    assert_eq!(row["step"], "probe", "{host}: {}", run.debug());
    let problem = row["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("atsvc"), "{host}: {}", run.debug());
}

/// What `check` said about the refused credential.
pub fn rejection(run: &super::Run, host: &str) -> String {
    row(run, host)["rejected"][0]["reason"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no rejected credential: {}", run.debug()))
}
