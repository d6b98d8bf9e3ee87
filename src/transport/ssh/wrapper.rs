//! The POSIX `sh` wrapper pushinst uploads beside the installer, its settings file,
//! and what it reports back. No logic travels on the command line: the login shell
//! (fish, tcsh, anything) only ever sees `/bin/sh DIR/pushinst.sh`.

use super::error::Exposure;
use super::quote::quote;
use crate::transport::{OutputTail, Payload};

/// The wrapper itself; the same bytes for every host.
pub(super) const SCRIPT: &str = include_str!("wrapper.sh");
pub(super) const SCRIPT_NAME: &str = "pushinst.sh";
pub(super) const CONF_NAME: &str = "pushinst.conf";

/// How the wrapper becomes the installer's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SudoMode {
    None,
    Password,
    NoPassword,
}

impl SudoMode {
    fn word(self) -> &'static str {
        match self {
            SudoMode::None => "none",
            SudoMode::Password => "password",
            SudoMode::NoPassword => "nopassword",
        }
    }
}

/// What the wrapper needs to know, as a file `/bin/sh` sources: every value
/// single-quoted, so arguments arrive byte for byte whatever they hold.
pub(super) struct Conf<'a> {
    pub token: &'a str,
    pub sudo: SudoMode,
    pub limit_secs: u64,
    pub keep: usize,
    pub program: &'a str,
    pub payloads: &'a [Payload],
    pub args: &'a [String],
}

impl Conf<'_> {
    pub fn render(&self) -> String {
        let mut text = format!(
            "token={}\nsudo={}\nlimit={}\nkeep={}\nprogram={}\n",
            quote(self.token),
            self.sudo.word(),
            self.limit_secs.max(1),
            self.keep,
            quote(self.program)
        );
        for p in self.payloads {
            text.push_str(&format!(
                "check {} {} {}\n",
                quote(&p.sha256),
                p.data.len(),
                quote(&p.file_name)
            ));
        }
        text.push_str("set --");
        for arg in self.args {
            text.push(' ');
            text.push_str(&quote(arg));
        }
        text.push('\n');
        text
    }
}

/// A fresh token per run of the wrapper: its report lines cannot be confused with
/// anything sudo or a login script prints.
pub(super) fn token() -> String {
    let mut bytes = [0u8; 8];
    // Without randomness, a fixed token still works; it is only harder to forge.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the wrapper said, read from its standard output (which carries only its own
/// lines, sudo's prompts and messages, and the framed tail of the installer's log).
#[derive(Debug, Default)]
pub(super) struct Report {
    prefix: String,
    prompt: String,
    line: Vec<u8>,
    /// Bytes of the framed log tail still to come.
    tail_left: u64,
    pub prompts: usize,
    pub sudo_asked: bool,
    pub sudo_missing: bool,
    pub sudo_refused: bool,
    pub mismatches: Vec<(String, Option<String>)>,
    /// Files whose size on the host differs from what was sent, with that size.
    pub short: Vec<(String, u64)>,
    pub status: Option<Status>,
    pub lost: bool,
    pub removed: bool,
    /// The command pushinst's shell started has begun (the reboot request).
    pub started: bool,
    pub log_size: u64,
    pub output: OutputTail,
    /// The end of what was said outside the report lines (a command's complaint).
    pub said: OutputTail,
    /// Report lines seen, other than `progress` (which may repeat without news).
    pub events: usize,
    /// The staging script's findings (see stage.sh).
    pub stage: StageReport,
}

/// What the staging script said.
#[derive(Debug, Default)]
pub(super) struct StageReport {
    /// KiB free where the directory goes (when `df` could say), and that place resolved.
    pub room: Option<(Option<u64>, String)>,
    pub nospace: bool,
    pub mkdir: Option<MkdirFailure>,
    pub exposed: Option<Exposure>,
    pub notar: bool,
    pub ready: bool,
    /// Bytes unpacked so far.
    pub progress: u64,
    /// tar's exit status and the KiB free afterwards.
    pub failed: Option<(i32, Option<u64>)>,
    pub stored: bool,
}

/// Why the staging directory could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MkdirFailure {
    /// Its parent does not exist (or cannot be entered).
    Missing,
    Exists,
    Denied,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Status {
    Exit(i32),
    TimedOut,
    /// The file system the staging directory is on (its parent) is mounted noexec.
    Noexec(String),
}

/// Non-protocol text on one line longer than this is not kept whole.
const LINE_LIMIT: usize = 64 * 1024;

impl Report {
    pub fn new(token: &str, keep: usize) -> Self {
        Report {
            prefix: format!("pushinst-{token} "),
            prompt: format!("pushinst-{token} password:"),
            output: OutputTail::new(keep),
            said: OutputTail::new(4096),
            ..Report::default()
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.tail_left > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.tail_left).unwrap_or(usize::MAX));
                self.output.push(&data[..n]);
                self.tail_left -= n as u64;
                data = &data[n..];
                continue;
            }
            match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.line.extend_from_slice(&data[..end]);
                    data = &data[end + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.take_line(&String::from_utf8_lossy(&line));
                }
                None => {
                    self.line.extend_from_slice(data);
                    if self.line.len() > LINE_LIMIT {
                        let cut = self.line.len() - LINE_LIMIT;
                        self.line.drain(..cut);
                    }
                    data = &[];
                }
            }
        }
    }

    /// sudo's prompts seen, also one still on an unfinished line.
    pub fn prompts_so_far(&self) -> usize {
        self.prompts + String::from_utf8_lossy(&self.line).matches(&self.prompt).count()
    }

    /// The channel closed: a prompt may still be waiting on an unfinished line.
    pub fn finish(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.take_line(&String::from_utf8_lossy(&line));
    }

    fn take_line(&mut self, line: &str) {
        let line = line.trim_end_matches('\r');
        self.prompts += line.matches(&self.prompt).count();
        let Some(rest) = line.strip_prefix(&self.prefix) else {
            if !line.contains(&self.prompt) {
                self.said.push(line.as_bytes());
                self.said.push(b"\n");
            }
            return;
        };
        let words: Vec<&str> = rest.split(' ').collect();
        if words.first() != Some(&"progress") {
            self.events += 1;
        }
        let number = |w: &str| w.parse::<u64>().ok();
        let stage = &mut self.stage;
        match words[..] {
            ["room", free, ref dir @ ..] => stage.room = Some((number(free), dir.join(" "))),
            ["nospace"] => stage.nospace = true,
            ["mkdir", why] => {
                stage.mkdir = Some(match why {
                    "missing" => MkdirFailure::Missing,
                    "exists" => MkdirFailure::Exists,
                    "denied" => MkdirFailure::Denied,
                    _ => MkdirFailure::Other,
                })
            }
            ["exposed", kind, id, ref path @ ..] => {
                let path = path.join(" ");
                let id = id.parse::<u32>().unwrap_or_default();
                stage.exposed = match kind {
                    "owner" => Some(Exposure::Owner { path, uid: id }),
                    "group" => Some(Exposure::GroupWritable { path, gid: id }),
                    _ => Some(Exposure::WorldWritable { path }),
                }
            }
            ["notar"] => stage.notar = true,
            ["ready"] => stage.ready = true,
            ["progress", n] => stage.progress = stage.progress.max(number(n).unwrap_or(0)),
            ["failed", rc, free] => stage.failed = Some((rc.parse().unwrap_or(-1), number(free))),
            ["stored"] => stage.stored = true,
            ["checksum", found, ref file @ ..] => self
                .mismatches
                .push((file.join(" "), (found != "-").then(|| found.to_string()))),
            ["size", found, ref file @ ..] => self
                .short
                .push((file.join(" "), found.parse().unwrap_or_default())),
            ["sudo"] => self.sudo_asked = true,
            ["sudo-missing"] => self.sudo_missing = true,
            ["sudo-refused", ..] => self.sudo_refused = true,
            ["exit", code] => self.status = code.parse().ok().map(Status::Exit),
            ["timeout"] => self.status = Some(Status::TimedOut),
            ["noexec", ref parent @ ..] => self.status = Some(Status::Noexec(parent.join(" "))),
            ["tail", size, n] => {
                self.log_size = size.parse().unwrap_or(0);
                self.tail_left = n.parse().unwrap_or(0);
                let dropped = self.log_size.saturating_sub(self.tail_left);
                self.output.set_dropped(dropped);
            }
            ["lost"] => self.lost = true,
            ["removed"] => self.removed = true,
            ["started"] => self.started = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// The wrapper, run by the real `/bin/sh` in a scratch directory as the tests'
    /// own user: arguments arrive byte for byte, the report reads back.
    #[test]
    fn the_wrapper_runs_the_installer_with_every_argument_intact() {
        let dir = tempfile::tempdir().unwrap();
        let installer = b"#!/bin/sh\nfor a in \"$@\"; do printf '<%s>' \"$a\"; done\nexit 4\n".to_vec();
        let payload = Payload {
            file_name: "setup.sh".into(),
            sha256: {
                use sha2::Digest;
                sha2::Sha256::digest(&installer)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            },
            data: bytes::Bytes::from(installer.clone()),
            executable: true,
        };
        std::fs::write(dir.path().join("setup.sh"), &installer).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("setup.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(dir.path().join(SCRIPT_NAME), SCRIPT).unwrap();
        let args: Vec<String> = [
            "a b",
            "it's",
            "!x",
            "back\\",
            "line\nnext",
            "%s $(id) `id`",
            "ünï",
            "",
        ]
        .map(String::from)
        .to_vec();
        let conf = Conf {
            token: "t0k",
            sudo: SudoMode::None,
            // A limit no other process sleeps for: the watchdog's sleep must not outlive it.
            limit_secs: 4711,
            keep: 1024,
            program: "setup.sh",
            payloads: std::slice::from_ref(&payload),
            args: &args,
        };
        std::fs::write(dir.path().join(CONF_NAME), conf.render()).unwrap();
        let out = std::process::Command::new("/bin/sh")
            .arg(dir.path().join(SCRIPT_NAME))
            .current_dir("/")
            .output()
            .unwrap();
        let mut report = Report::new("t0k", 1024);
        report.feed(&out.stdout);
        report.finish();
        assert_eq!(report.status, Some(Status::Exit(4)), "{out:?}");
        assert!(report.removed && !dir.path().exists());
        let expected: String = args.iter().map(|a| format!("<{a}>")).collect();
        assert_eq!(report.output.text(), expected);
        let left = std::process::Command::new("pgrep")
            .args(["-f", "^sleep 4711$"])
            .output()
            .unwrap();
        assert!(left.stdout.is_empty(), "the watchdog's sleep was left running");
    }

    #[test]
    fn a_report_survives_any_split_and_counts_prompts() {
        let stream = b"motd\npushinst-ab password:\nSorry\npushinst-ab password:\n\npushinst-ab sudo-refused 1\n\npushinst-ab removed\n";
        for split in 1..stream.len() {
            let mut r = Report::new("ab", 100);
            r.feed(&stream[..split]);
            r.feed(&stream[split..]);
            r.finish();
            assert_eq!((r.prompts, r.sudo_refused, r.removed), (2, true, true));
        }
        let stream = b"\npushinst-ab exit 0\n\npushinst-ab tail 10 4\npushinst-ab x\n\npushinst-ab removed\n";
        let mut r = Report::new("ab", 100);
        r.feed(stream);
        assert_eq!(r.status, Some(Status::Exit(0)));
        assert_eq!(r.output.text(), "push");
        assert_eq!(r.output.dropped(), 6);
        assert!(r.removed);
    }
}
