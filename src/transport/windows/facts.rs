//! What a Windows host says about itself for a package's `requires` and variants:
//! one line of cmd, run by the wrapper as SYSTEM like every other command, that
//! prints each fact under a marker of its own. Only the facts asked for are
//! printed; the required command runs last (its own batch file, its output
//! discarded), so the wrapper's exit code is the command's.
//!
//! - arch: `%PROCESSOR_ARCHITECTURE%` of the SYSTEM context, as the 64-bit cmd the
//!   service starts sees it (AMD64, ARM64, x86), named as `uname -m` names it.
//! - build: `CurrentBuildNumber` and `UBR` under `HKLM\SOFTWARE\Microsoft\Windows
//!   NT\CurrentVersion`, read with `reg query` (`17763.5329`).
//! - free space: `fsutil volume diskfree` of the drive; its first line is the
//!   free bytes, whatever the language and the digit grouping.
//! - a registry value: `reg query KEY /v VALUE`, its type and data.

use super::{WindowsError, registry, wrapper};
use crate::inventory::Requirement;
use crate::inventory::requires::{HostAnswers, RegistryAnswer, SYSTEM_DRIVE, windows_drive_path};

const CURRENT_VERSION: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// The required command's batch file, beside the wrapper in the staging directory.
pub const COMMAND_FILE: &str = "pushinst-require.cmd";

/// The lines of [`COMMAND_FILE`]: the admin's command as one line of a batch file.
pub fn command_file(command: &str) -> String {
    format!("@echo off\r\n{command}\r\n")
}

/// Where free space is measured on Windows: the drive of `path` when it names
/// one (`D:\Apps`), else the system drive (a Linux `/` on a package for both).
pub fn free_path(path: &str) -> String {
    match windows_drive_path(path) {
        true => path.to_string(),
        false => SYSTEM_DRIVE.to_string(),
    }
}

/// `fsutil volume diskfree` takes a volume: `D:` of `D:\Apps`, `%SystemDrive%` as is.
fn volume(path: &str) -> String {
    match windows_drive_path(path) {
        true => path[..2].to_string(),
        false => "%SystemDrive%".to_string(),
    }
}

/// One cmd line printing the facts `asked` needs; the command, when asked, last.
pub fn command(asked: &[Requirement]) -> Result<wrapper::Command, WindowsError> {
    let mut parts: Vec<String> = Vec::new();
    let section = |name: &str, lines: Vec<String>, parts: &mut Vec<String>| {
        if parts.iter().any(|p| p == &format!("echo [pushinst-{name}]")) {
            return;
        }
        parts.push(format!("echo [pushinst-{name}]"));
        parts.extend(lines);
    };
    for req in asked {
        match req {
            Requirement::Arch(_) => section("arch", vec!["echo %PROCESSOR_ARCHITECTURE%".into()], &mut parts),
            Requirement::Build(_) => section(
                "build",
                vec![
                    wrapper::reg_query(CURRENT_VERSION, "CurrentBuildNumber", None)?.line,
                    wrapper::reg_query(CURRENT_VERSION, "UBR", None)?.line,
                ],
                &mut parts,
            ),
            Requirement::FreeMib { path, .. } => section(
                "free",
                vec![format!("fsutil volume diskfree {}", volume(path))],
                &mut parts,
            ),
            Requirement::Registry { key, value, view, .. } => section(
                "registry",
                vec![wrapper::reg_query(key, value, *view)?.line],
                &mut parts,
            ),
            // Refused at load on a Windows installer.
            Requirement::Os { .. } | Requirement::Command(_) => {}
        }
    }
    if asked.iter().any(|r| matches!(r, Requirement::Command(_))) {
        parts.push(format!(r#"cmd /d /c "%~dp0{COMMAND_FILE}" >nul 2>&1"#));
    }
    Ok(wrapper::Command::plain(format!("({})", parts.join(" & "))))
}

/// The text under each marker, by name.
fn section<'t>(text: &'t str, name: &str) -> Option<Vec<&'t str>> {
    let marker = format!("[pushinst-{name}]");
    let mut lines = text.lines().skip_while(|l| l.trim() != marker);
    lines.next()?;
    Some(
        lines
            .take_while(|l| !l.trim_start().starts_with("[pushinst-"))
            .collect(),
    )
}

/// `AMD64` is x86_64 and `ARM64` aarch64, as Linux names them; `x86` stays.
pub fn arch_name(windows: &str) -> Option<String> {
    let word = windows.trim();
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(match word.to_ascii_uppercase().as_str() {
        "AMD64" => "x86_64".to_string(),
        "ARM64" => "aarch64".to_string(),
        "X86" => "x86".to_string(),
        other => other.to_ascii_lowercase(),
    })
}

/// `fsutil volume diskfree`'s first line: `Total free bytes : 95,531,196,416 (89.0
/// GB)` (Windows 10 1903 on) or `Total # of free bytes : 95531196416`, its label in
/// the host's language and its digits grouped by its locale.
fn free_bytes(lines: &[&str]) -> Option<u64> {
    let first = lines.iter().find(|l| !l.trim().is_empty())?;
    let (_, number) = first.split_once(':')?;
    let number = number.split('(').next().unwrap_or_default();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.parse().ok()
}

/// What the host printed, read back: a fact that is missing or garbled is `None`
/// (not said), never a guess. `exit` is the wrapper's exit code: the command's.
pub fn answers(text: &str, asked: &[Requirement], exit: i32) -> HostAnswers {
    let arch = section(text, "arch").and_then(|lines| lines.iter().find_map(|l| arch_name(l)));
    let build = section(text, "build").and_then(|lines| {
        let out = lines.join("\n");
        let number = registry::data(&out, "CurrentBuildNumber")?;
        number.parse::<u64>().ok()?;
        // UBR is a REG_DWORD, printed in hex; older builds have none.
        let ubr = registry::data(&out, "UBR")
            .and_then(|u| u64::from_str_radix(u.trim_start_matches("0x"), 16).ok());
        Some(match ubr {
            Some(ubr) => format!("{number}.{ubr}"),
            None => number,
        })
    });
    let free_kib = section(text, "free")
        .and_then(|lines| free_bytes(&lines))
        .map(|b| b / 1024);
    let registry = asked.iter().find_map(|r| match r {
        Requirement::Registry { value, .. } => {
            let lines = section(text, "registry")?;
            Some(match registry::typed(&lines.join("\n"), value) {
                Some((kind, data)) => RegistryAnswer::Found { kind, data },
                None => RegistryAnswer::Absent,
            })
        }
        _ => None,
    });
    let command_exit = asked
        .iter()
        .any(|r| matches!(r, Requirement::Command(_)))
        .then_some(exit);
    HostAnswers {
        arch,
        free_kib,
        command_exit,
        build,
        registry,
        ..HostAnswers::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::VersionReq;
    use crate::inventory::requires::RegistryData;

    #[test]
    fn only_the_asked_facts_are_printed_and_the_command_runs_last() {
        let asked = [
            Requirement::Command("exit 0".into()),
            Requirement::Arch(vec!["x86_64".into()]),
            Requirement::FreeMib {
                mib: 1,
                path: r"D:\Apps".into(),
            },
        ];
        let line = command(&asked).unwrap().line;
        assert_eq!(
            line,
            r#"(echo [pushinst-arch] & echo %PROCESSOR_ARCHITECTURE% & echo [pushinst-free] & fsutil volume diskfree D: & cmd /d /c "%~dp0pushinst-require.cmd" >nul 2>&1)"#
        );
        let build = command(&[Requirement::Build(VersionReq::parse(">=1").unwrap())])
            .unwrap()
            .line;
        assert!(
            build.contains(r#"reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v UBR"#),
            "{build}"
        );
    }

    #[test]
    fn the_facts_are_read_in_any_language_and_grouping() {
        let key = r"HKLM\SOFTWARE\VMware, Inc.\VCM";
        let asked = [
            Requirement::Registry {
                key: key.into(),
                value: "IsLocked".into(),
                equals: Some(RegistryData::Number(0)),
                view: None,
            },
            Requirement::Command("x".into()),
        ];
        let text = "[pushinst-arch]\r\nARM64 \r\n[pushinst-build]\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\r\n    CurrentBuildNumber    REG_SZ    17763\r\n\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\r\n    UBR    REG_DWORD    0x14c1\r\n\r\n[pushinst-free]\r\nGesamtanzahl freier Bytes       : 95.531.196.416 ( 89,0 GB)\r\nGesamtanzahl Bytes              : 255.381.913.600 (237,8 GB)\r\n[pushinst-registry]\r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\VMware, Inc.\\VCM\r\n    IsLocked    REG_DWORD    0x1\r\n\r\n";
        let got = answers(text, &asked, 3);
        assert_eq!(got.arch.as_deref(), Some("aarch64"));
        assert_eq!(got.build.as_deref(), Some("17763.5313"));
        assert_eq!(got.free_kib, Some(95_531_196_416 / 1024));
        assert_eq!(
            got.registry,
            Some(RegistryAnswer::Found {
                kind: "REG_DWORD".into(),
                data: "0x1".into()
            })
        );
        assert_eq!(got.command_exit, Some(3));
        let old = "[pushinst-free]\r\nTotal # of free bytes        : 1048576\r\n";
        assert_eq!(answers(old, &[], 0).free_kib, Some(1024));
        // Not printed is not said; an unset variable is no architecture.
        let silent = answers("[pushinst-arch]\r\nECHO is off.\r\n", &asked, 0);
        assert_eq!(
            (silent.arch, silent.registry, silent.free_kib),
            (None, None, None)
        );
        let absent = answers("[pushinst-registry]\r\nERROR: not found\r\n", &asked, 0);
        assert_eq!(absent.registry, Some(RegistryAnswer::Absent));
    }
}
