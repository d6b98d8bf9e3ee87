//! `pushinst check` on a Linux host: a tiny script staged and run exactly as an
//! installer would be (same staging checks, same wrapper, same sudo path), which
//! only prints facts. Whatever stops it is named with deploy's own words.

use sha2::{Digest, Sha256};

use super::SshError;
use crate::transport::{ExecOutput, HostFacts, Install, Payload, RemoteExit, TransportError};

/// The name the probe's staging directory carries where a package's name would be.
pub(super) const ITEM: &str = "check";
const NAME: &str = "pushinst-probe.sh";
/// The script prints a handful of lines; anything slower is a stuck host.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs as the installer's user (root under sudo), in the staging directory: `df .`
/// is the staging place's own file system. It changes nothing.
const SCRIPT: &str = r#"#!/bin/sh
echo "uid=$(id -u)"
echo "arch=$(uname -m)"
if [ -r /etc/os-release ]; then
    (. /etc/os-release && echo "os_id=${ID-}" && echo "os_version=${VERSION_ID-}")
fi
df -Pk . 2>/dev/null | awk 'NR == 2 { print "free_kib=" $4 }'
exit 0
"#;

pub(super) fn payload() -> Payload {
    Payload {
        file_name: NAME.to_string(),
        data: bytes::Bytes::from_static(SCRIPT.as_bytes()),
        sha256: Sha256::digest(SCRIPT.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        executable: true,
    }
}

pub(super) fn install() -> Install {
    Install {
        program: NAME.to_string(),
        args: Vec::new(),
        timeout: LIMIT,
    }
}

/// The facts from the probe's output; `free` (from SFTP) wins over `df`'s answer.
/// `sudo` is the login user when the probe ran through sudo: it must have run as root.
pub(super) fn facts(
    out: ExecOutput,
    free: Option<u64>,
    sudo: Option<&str>,
) -> Result<HostFacts, TransportError> {
    let text = out.output.text();
    if out.exit != RemoteExit::Code(0) {
        return Err(SshError::ProbeFailed {
            exit: out.exit,
            output: text.trim().to_string(),
        }
        .into());
    }
    if let Some(user) = sudo
        && value(&text, "uid").as_deref() != Some("0")
    {
        // sudo ran it, but not as root (a sudoers rule for another target user).
        return Err(SshError::SudoNotPermitted {
            user: user.to_string(),
        }
        .into());
    }
    Ok(parse(&text, free))
}

/// The first non-empty `KEY=value` answer a script printed for `key`.
pub(super) fn value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

fn parse(text: &str, free: Option<u64>) -> HostFacts {
    let value = |key: &str| value(text, key);
    let os_release = match (value("os_id"), value("os_version")) {
        (Some(id), Some(version)) => Some(format!("{id} {version}")),
        (Some(id), None) => Some(id),
        _ => None,
    };
    HostFacts {
        os: Some("linux".to_string()),
        arch: value("arch"),
        os_release,
        free_kib: free
            .map(|bytes| bytes / 1024)
            .or_else(|| value("free_kib").and_then(|v| v.parse().ok())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_read_back_and_a_missing_one_stays_unknown() {
        let facts = parse(
            "uid=0\narch=x86_64\nos_id=debian\nos_version=12\nfree_kib=2048\n",
            None,
        );
        assert_eq!(facts.arch.as_deref(), Some("x86_64"));
        assert_eq!(facts.os_release.as_deref(), Some("debian 12"));
        assert_eq!(facts.free_kib, Some(2048));
        let facts = parse("arch=aarch64\nfree_kib=\n", Some(4096 * 1024));
        assert_eq!(facts.os_release, None);
        assert_eq!(facts.free_kib, Some(4096));
    }

    #[test]
    fn through_sudo_the_probe_must_have_run_as_root() {
        let out = |text: &str| {
            let mut tail = crate::transport::OutputTail::new(1024);
            tail.push(text.as_bytes());
            ExecOutput {
                exit: RemoteExit::Code(0),
                output: tail,
            }
        };
        assert!(facts(out("uid=0\narch=x86_64\n"), None, Some("deploy")).is_ok());
        let err = facts(out("uid=1000\narch=x86_64\n"), None, Some("deploy")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("sudo refused: deploy may not run commands as root"),
            "{err}"
        );
        // Without sudo the login user's own uid is expected.
        assert!(facts(out("uid=1000\n"), None, None).is_ok());
    }

    /// The script itself, by the real `/bin/sh`: it prints every fact.
    #[test]
    fn the_script_prints_this_machines_facts() {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", SCRIPT])
            .output()
            .unwrap();
        let facts = parse(&String::from_utf8_lossy(&out.stdout), None);
        let arch = std::process::Command::new("uname").arg("-m").output().unwrap();
        assert_eq!(
            facts.arch.as_deref(),
            Some(String::from_utf8_lossy(&arch.stdout).trim())
        );
        assert!(facts.free_kib.is_some());
    }
}
