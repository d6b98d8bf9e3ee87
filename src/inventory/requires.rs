//! `requires = { … }` of a package: what a host must offer before anything is
//! uploaded to it. Parsed and checked at load, so a typo is a located error, not a
//! requirement that silently never holds.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::outcome::Unmet;

/// Where `free_mib` is measured on Windows unless `path` says otherwise: the drive
/// Windows is on, which holds ADMIN$ (the staging place) and Program Files.
pub const SYSTEM_DRIVE: &str = "%SystemDrive%\\";

/// `C:`, `D:\\` or `D:\\Apps`: a path on a drive, which `dir` can be given quoted.
pub fn windows_drive_path(text: &str) -> bool {
    let mut chars = text.chars();
    let letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest: String = chars.collect();
    letter
        && rest.starts_with(':')
        && (rest.len() == 1 || rest[1..].starts_with('\\'))
        && !rest.contains(['"', '%', '/', '\n', '\r', '\0', '<', '>', '|', '*', '?'])
        && !rest[1..].contains(':')
}

/// One condition a host must meet; all of a package's must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// At least `mib` MiB free on the file system holding `path`.
    FreeMib { mib: u64, path: String },
    /// `uname -m` is one of these.
    Arch(Vec<String>),
    /// `/etc/os-release` ID is one of `ids` (any when empty) and VERSION_ID compares.
    Os {
        ids: Vec<String>,
        version: Option<VersionReq>,
    },
    /// A POSIX sh command (Linux) or a batch line run by cmd as SYSTEM (Windows)
    /// that must exit 0.
    Command(String),
    /// Windows: the build (`CurrentBuildNumber`, with `.UBR` when written with a
    /// dot) compares.
    Build(VersionReq),
    /// Windows: a registry value exists and, when `equals` is given, holds it.
    Registry {
        key: String,
        value: String,
        equals: Option<RegistryData>,
        /// `None` reads the native view.
        view: Option<crate::transport::RegistryView>,
    },
}

/// What a registry requirement compares a value with: a number compares as a
/// number (REG_DWORD and REG_QWORD, which `reg query` prints in hex, or text that
/// reads as one), text as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryData {
    Number(i64),
    Text(String),
}

impl fmt::Display for RegistryData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryData::Number(n) => write!(f, "{n}"),
            RegistryData::Text(t) => write!(f, "\"{t}\""),
        }
    }
}

impl RegistryData {
    /// Whether `reg query`'s data of type `kind` (`REG_DWORD`, `REG_SZ`, …) holds it.
    pub fn holds(&self, kind: &str, data: &str) -> bool {
        match self {
            RegistryData::Text(text) => data == text,
            RegistryData::Number(n) => registry_number(kind, data) == Some(*n),
        }
    }
}

/// `reg query` prints REG_DWORD and REG_QWORD as `0x1f`; text may hold a decimal.
fn registry_number(kind: &str, data: &str) -> Option<i64> {
    let data = data.trim();
    match (kind, data.strip_prefix("0x").or_else(|| data.strip_prefix("0X"))) {
        ("REG_DWORD" | "REG_QWORD" | "REG_DWORD_BIG_ENDIAN", Some(hex)) => {
            // A REG_DWORD is unsigned: 0xffffffff is 4294967295, never -1.
            u64::from_str_radix(hex, 16)
                .ok()
                .and_then(|n| i64::try_from(n).ok())
        }
        (_, Some(_)) => None,
        (_, None) => data.parse().ok(),
    }
}

/// A registry value as the host answered: absent, or its type and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAnswer {
    Absent,
    Found { kind: String, data: String },
}

/// `>=12`, `=22.04`, `<3`: an operator and a dotted number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReq {
    pub op: Cmp,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Lt => "<",
        }
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.op.symbol(), self.version)
    }
}

/// Why a comparison could not be read: said at load with the text's location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionReqError {
    #[error("`{0}` is not a dotted number")]
    NotDotted(String),
}

impl VersionReq {
    /// `>=12`, `= 22.04`, `9` (meaning `=9`). Two-character operators are tried first
    /// so `>=` is never read as `>` followed by `=12`.
    pub fn parse(text: &str) -> Result<Self, VersionReqError> {
        let text = text.trim();
        let (op, rest) = [
            (">=", Cmp::Ge),
            ("<=", Cmp::Le),
            ("=", Cmp::Eq),
            (">", Cmp::Gt),
            ("<", Cmp::Lt),
        ]
        .iter()
        .find_map(|(sym, op)| text.strip_prefix(sym).map(|rest| (*op, rest)))
        .unwrap_or((Cmp::Eq, text));
        let version = rest.trim();
        if dotted(version).is_none() {
            return Err(VersionReqError::NotDotted(version.to_string()));
        }
        Ok(VersionReq {
            op,
            version: version.to_string(),
        })
    }

    /// `None` when the host's version is not a dotted number: it cannot be compared,
    /// so the caller treats the requirement as not met rather than guessing.
    pub fn matches(&self, host: &str) -> Option<bool> {
        let ord = compare(&dotted(host)?, &dotted(&self.version)?);
        Some(match self.op {
            Cmp::Eq => ord == Ordering::Equal,
            Cmp::Ge => ord != Ordering::Less,
            Cmp::Le => ord != Ordering::Greater,
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Lt => ord == Ordering::Less,
        })
    }
}

impl VersionReq {
    /// Like [`VersionReq::matches`], comparing only as many parts as the requirement
    /// has: `=17763` holds on build 17763.5329, `>=17763.5000` looks at the UBR too.
    pub fn matches_as_written(&self, host: &str) -> Option<bool> {
        let parts = self.version.split('.').count();
        let host: Vec<&str> = host.split('.').take(parts).collect();
        self.matches(&host.join("."))
    }
}

fn dotted(text: &str) -> Option<Vec<u64>> {
    if text.is_empty() {
        return None;
    }
    text.split('.').map(|part| part.parse::<u64>().ok()).collect()
}

/// Missing parts count as 0, so `12` equals `12.0`.
fn compare(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// What one Linux host answered to the requirements script; `None` is "not said".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAnswers {
    pub arch: Option<String>,
    pub os_id: Option<String>,
    pub os_version: Option<String>,
    pub free_kib: Option<u64>,
    /// The required command's exit status; `None` when none was reported (a syntax
    /// error stops `/bin/sh -s` before the line, or a signal ended the command).
    pub command_exit: Option<i32>,
    /// Windows: `CurrentBuildNumber`, with `.UBR` when the host has one (`17763.5329`).
    pub build: Option<String>,
    /// Windows: the required registry value, when one was asked.
    pub registry: Option<RegistryAnswer>,
}

impl HostAnswers {
    /// `debian 12`, `arch` (no VERSION_ID), or `None` when the host did not say.
    pub fn os_release(&self) -> Option<String> {
        if let Some(build) = &self.build {
            return Some(format!("build {build}"));
        }
        let id = self.os_id.clone()?;
        Some(match &self.os_version {
            Some(v) => format!("{id} {v}"),
            None => id,
        })
    }
}

/// The facts a package's variants are chosen by (their `arch` and `os`), each
/// asked once, as a script of [`Requirement`]s to send the host.
pub fn facts_for<'a>(whens: impl IntoIterator<Item = &'a [Requirement]>) -> Vec<Requirement> {
    let mut asked = Vec::new();
    for when in whens.into_iter().flatten() {
        let fact = match when {
            Requirement::Arch(_) => Requirement::Arch(Vec::new()),
            Requirement::Os { .. } => Requirement::Os {
                ids: Vec::new(),
                version: None,
            },
            Requirement::Build(_) => Requirement::Build(VersionReq {
                op: Cmp::Ge,
                version: "0".into(),
            }),
            _ => continue,
        };
        if !asked.contains(&fact) {
            asked.push(fact);
        }
    }
    asked
}

/// Whether a variant's `arch`/`os` hold on the host (an empty list holds everywhere;
/// a fact the host did not say does not hold).
pub fn fits(when: &[Requirement], host: &HostAnswers) -> bool {
    evaluate(when, host).is_none()
}

/// `uname -m` says x86_64 and aarch64 where Debian and Apple say amd64 and arm64:
/// either name matches either answer.
pub fn same_arch(a: &str, b: &str) -> bool {
    fn canonical(s: &str) -> &str {
        match s {
            "amd64" | "x64" => "x86_64",
            "arm64" => "aarch64",
            other => other,
        }
    }
    canonical(a) == canonical(b)
}

/// The first requirement the host does not meet, in the order they are written
/// above (cheapest facts first, the command last), or `None` when all hold.
pub fn evaluate(requires: &[Requirement], host: &HostAnswers) -> Option<Unmet> {
    requires.iter().find_map(|req| unmet(req, host))
}

fn unmet(req: &Requirement, host: &HostAnswers) -> Option<Unmet> {
    let unknown = |what: String| Some(Unmet::Unknown { what });
    match req {
        Requirement::FreeMib { mib, path } => match host.free_kib {
            None => unknown(format!("{mib} MiB free on {path}")),
            Some(kib) if kib / 1024 >= *mib => None,
            Some(kib) => Some(Unmet::FreeSpace {
                path: path.clone(),
                wanted_mib: *mib,
                free_mib: kib / 1024,
            }),
        },
        Requirement::Arch(wanted) => match &host.arch {
            None => unknown(format!("arch {}", wanted.join(" or "))),
            Some(arch) if wanted.iter().any(|w| same_arch(w, arch)) => None,
            Some(arch) => Some(Unmet::Arch {
                wanted: wanted.clone(),
                host: arch.clone(),
            }),
        },
        Requirement::Os { ids, version } => {
            let wanted = crate::report::words::os_wanted(ids, version.as_ref());
            let Some(id) = &host.os_id else {
                return unknown(wanted);
            };
            let id_ok = ids.is_empty() || ids.iter().any(|w| w == id);
            // A host without VERSION_ID (Arch, Debian testing) cannot satisfy a comparison.
            let version_ok = match (version, &host.os_version) {
                (None, _) => true,
                (Some(req), Some(v)) => req.matches(v).unwrap_or(false),
                (Some(_), None) => false,
            };
            if id_ok && version_ok {
                return None;
            }
            let host = match &host.os_version {
                Some(v) => format!("{id} {v}"),
                None => id.clone(),
            };
            Some(Unmet::Os { wanted, host })
        }
        Requirement::Build(req) => {
            let wanted = format!("Windows build {req}");
            let Some(build) = &host.build else {
                return unknown(wanted);
            };
            match req.matches_as_written(build) {
                Some(true) => None,
                _ => Some(Unmet::Os {
                    wanted,
                    host: format!("build {build}"),
                }),
            }
        }
        Requirement::Registry {
            key, value, equals, ..
        } => {
            let found = match &host.registry {
                None => return unknown(format!("registry {key}\\{value}")),
                Some(RegistryAnswer::Absent) => None,
                Some(RegistryAnswer::Found { kind, data }) => Some((kind, data)),
            };
            let holds = match (equals, found) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(wanted), Some((kind, data))) => wanted.holds(kind, data),
            };
            match holds {
                true => None,
                false => Some(Unmet::Registry {
                    key: key.clone(),
                    value: value.clone(),
                    wanted: equals.as_ref().map(ToString::to_string),
                    found: found.map(|(_, data)| data.clone()),
                }),
            }
        }
        Requirement::Command(command) => match host.command_exit {
            Some(0) => None,
            exit => Some(Unmet::Command {
                command: command.clone(),
                exit,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_unmet_requirement_names_the_hosts_answer() {
        let host = HostAnswers {
            arch: Some("aarch64".into()),
            os_id: Some("ubuntu".into()),
            os_version: Some("22.04".into()),
            free_kib: Some(120 * 1024 + 5),
            command_exit: Some(1),
            ..HostAnswers::default()
        };
        let arch = Requirement::Arch(vec!["x86_64".into()]);
        assert_eq!(
            evaluate(&[arch], &host),
            Some(Unmet::Arch {
                wanted: vec!["x86_64".into()],
                host: "aarch64".into()
            })
        );
        let os = Requirement::Os {
            ids: vec!["debian".into()],
            version: Some(VersionReq::parse(">=12").unwrap()),
        };
        assert_eq!(
            evaluate(&[os], &host),
            Some(Unmet::Os {
                wanted: "debian >=12".into(),
                host: "ubuntu 22.04".into()
            })
        );
        let ubuntu = Requirement::Os {
            ids: vec!["debian".into(), "ubuntu".into()],
            version: Some(VersionReq::parse(">=22.04").unwrap()),
        };
        assert_eq!(evaluate(std::slice::from_ref(&ubuntu), &host), None);
        let space = Requirement::FreeMib {
            mib: 500,
            path: "/".into(),
        };
        assert_eq!(
            evaluate(&[ubuntu.clone(), space], &host),
            Some(Unmet::FreeSpace {
                path: "/".into(),
                wanted_mib: 500,
                free_mib: 120
            })
        );
        let cmd = Requirement::Command("test ! -e /x".into());
        assert!(matches!(
            evaluate(&[ubuntu, cmd], &host),
            Some(Unmet::Command { exit: Some(1), .. })
        ));
        // Not told is not met: no guessing.
        let silent = HostAnswers::default();
        assert!(matches!(
            evaluate(&[Requirement::Arch(vec!["x86_64".into()])], &silent),
            Some(Unmet::Unknown { .. })
        ));
    }

    #[test]
    fn arch_names_match_their_aliases() {
        let host = |arch: &str| HostAnswers {
            arch: Some(arch.into()),
            ..HostAnswers::default()
        };
        let arm = [Requirement::Arch(vec!["arm64".into()])];
        assert_eq!(evaluate(&arm, &host("aarch64")), None);
        let x86 = [Requirement::Arch(vec!["x86_64".into()])];
        assert_eq!(evaluate(&x86, &host("amd64")), None);
        assert!(evaluate(&x86, &host("aarch64")).is_some());
    }

    #[test]
    fn operators_read_longest_first_and_a_bare_number_is_equality() {
        let r = VersionReq::parse(">=12").unwrap();
        assert_eq!((r.op, r.version.as_str()), (Cmp::Ge, "12"));
        assert_eq!(VersionReq::parse("< 22.04").unwrap().op, Cmp::Lt);
        assert_eq!(VersionReq::parse("9").unwrap().op, Cmp::Eq);
        assert_eq!(VersionReq::parse("<=1.2.3").unwrap().to_string(), "<=1.2.3");
        assert!(VersionReq::parse("=>12").is_err());
        assert!(VersionReq::parse(">=").is_err());
        assert!(VersionReq::parse("~12").is_err());
        assert!(VersionReq::parse(">=12.x").is_err());
    }

    #[test]
    fn dotted_numbers_compare_part_by_part() {
        let m = |req: &str, host: &str| VersionReq::parse(req).unwrap().matches(host);
        assert_eq!(m(">=12", "12"), Some(true));
        assert_eq!(m(">=12", "11"), Some(false));
        assert_eq!(m(">=9.10", "9.9"), Some(false), "10 > 9, not text order");
        assert_eq!(m("=12", "12.0"), Some(true));
        assert_eq!(m(">22.04", "22.10"), Some(true));
        assert_eq!(m("<22.04", "20.04"), Some(true));
        assert_eq!(m("<=3", "3.1"), Some(false));
        assert_eq!(m(">=12", "bookworm"), None);
        assert_eq!(m(">=12", ""), None);
    }
}
