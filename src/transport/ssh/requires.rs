//! A package's `requires` on a Linux host: one `/bin/sh -s` script that prints the
//! facts the requirements need and the required command's exit status, read back
//! and judged here. It runs as the login user (no sudo: it only reads) and changes
//! nothing.

use super::probe::value;
use super::quote::quote;
use crate::inventory::Requirement;
use crate::inventory::requires::HostAnswers;

/// The script for these requirements: only the facts they need are asked for, and the
/// command runs last in a subshell with its output discarded, so whatever it prints
/// cannot be mistaken for a fact line.
pub(super) fn script(requires: &[Requirement]) -> String {
    let mut s = String::new();
    for req in requires {
        match req {
            Requirement::Arch(_) => s.push_str("echo \"arch=$(uname -m)\"\n"),
            Requirement::Os { .. } => s.push_str(
                "if [ -r /etc/os-release ]; then\n\
                 (. /etc/os-release && echo \"os_id=${ID-}\" && echo \"os_version=${VERSION_ID-}\")\n\
                 fi\n",
            ),
            Requirement::FreeMib { path, .. } => s.push_str(&format!(
                "df -Pk {} 2>/dev/null | awk 'NR == 2 {{ print \"free_kib=\" $4 }}'\n",
                quote(path)
            )),
            Requirement::Command(command) => s.push_str(&format!(
                "(\n{command}\n) </dev/null >/dev/null 2>&1\necho \"command_exit=$?\"\n"
            )),
            // Refused at load on a Linux installer.
            Requirement::Build(_) | Requirement::Registry { .. } => {}
        }
    }
    s
}

/// The answers in the script's output. The command's status is kept as the shell
/// gives it (a signal shows as 128 + its number, as for installers); no status at
/// all means the command never finished (it did not parse, or the script died).
pub(super) fn answers(text: &str) -> HostAnswers {
    HostAnswers {
        arch: value(text, "arch"),
        os_id: value(text, "os_id"),
        os_version: value(text, "os_version"),
        free_kib: value(text, "free_kib").and_then(|v| v.parse().ok()),
        command_exit: value(text, "command_exit").and_then(|v| v.parse().ok()),
        ..HostAnswers::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::VersionReq;

    /// The script by the real `/bin/sh`, against this machine's own answers.
    #[test]
    fn the_script_reports_this_machines_facts_and_the_commands_exit() {
        let requires = [
            Requirement::Arch(vec!["x".into()]),
            Requirement::Os {
                ids: vec!["x".into()],
                version: Some(VersionReq::parse(">=1").unwrap()),
            },
            Requirement::FreeMib {
                mib: 1,
                path: "/".into(),
            },
            Requirement::Command("echo arch=fake; exit 3".into()),
        ];
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&requires))
            .output()
            .unwrap();
        let got = answers(&String::from_utf8_lossy(&out.stdout));
        let arch = std::process::Command::new("uname").arg("-m").output().unwrap();
        assert_eq!(
            got.arch.as_deref(),
            Some(String::from_utf8_lossy(&arch.stdout).trim())
        );
        assert!(got.free_kib.is_some());
        assert_eq!(
            got.command_exit,
            Some(3),
            "the command's exit, its output ignored"
        );
        if std::path::Path::new("/etc/os-release").exists() {
            assert!(got.os_id.is_some());
        }
    }

    /// A command that does not parse stops `/bin/sh -s` (fed on standard input, as the
    /// host's is): the facts before it still arrive, the command gets no exit status.
    #[test]
    fn a_command_that_does_not_parse_has_no_exit_status() {
        use std::io::Write;
        let requires = [
            Requirement::Arch(vec!["x".into()]),
            Requirement::Command("if then fi (".into()),
        ];
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-s")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script(&requires).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let got = answers(&String::from_utf8_lossy(&out.stdout));
        assert!(got.arch.is_some());
        assert_eq!(got.command_exit, None);
    }

    #[test]
    fn a_path_with_spaces_is_one_argument() {
        let s = script(&[Requirement::FreeMib {
            mib: 1,
            path: "/a b".into(),
        }]);
        assert!(s.contains("df -Pk '/a b'"), "{s}");
    }
}
