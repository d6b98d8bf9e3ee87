//! Commands on the target: one session channel each, output bounded, exit code kept.
//! Whatever the login shell is, it only ever parses a line without metacharacters:
//! `/bin/sh -s` (the script on standard input), `/bin/sh DIR/pushinst.sh`, `rm -rf
//! -- DIR`.

use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{ChannelMsg, Pty};

use super::host_key::Client;
use super::quote::{join, quote};
use super::wrapper::{self, Conf, Report, Status, SudoMode};
use super::{SshError, stage};
use crate::transport::output::OUTPUT_LIMIT;
use crate::transport::{ExecOutput, Install, OutputTail, Payload, RemoteExit, Sudo, TransportError};

/// Printed by the shell that sudo starts: its absence after a failure means sudo
/// itself refused (the reboot request only; the installer has its wrapper).
const SUDO_MARKER: &str = "pushinst: sudo ok";

/// How long past the installer's limit the wrapper gets to kill it and report.
const REPORT_GRACE: Duration = Duration::from_secs(7);

fn lost(source: russh::Error) -> TransportError {
    SshError::ConnectionLost { source }.into()
}

async fn start(
    handle: &Handle<Client>,
    command: &str,
    stdin: Option<&[u8]>,
    pty: bool,
) -> Result<russh::Channel<Msg>, TransportError> {
    let channel = open(handle, command, pty).await?;
    if let Some(input) = stdin {
        channel.data(input).await.map_err(lost)?;
    }
    channel.eof().await.map_err(lost)?;
    Ok(channel)
}

/// A channel running `command`, its standard input still open.
async fn open(
    handle: &Handle<Client>,
    command: &str,
    pty: bool,
) -> Result<russh::Channel<Msg>, TransportError> {
    let channel = handle.channel_open_session().await.map_err(lost)?;
    if pty {
        // sudo with `requiretty` wants a terminal. No echo (the password is typed
        // into it), no output processing (the log's tail comes through as it is).
        let modes = [(Pty::ECHO, 0), (Pty::OPOST, 0)];
        channel
            .request_pty(true, "dumb", 80, 24, 0, 0, &modes)
            .await
            .map_err(lost)?;
    }
    channel.exec(true, command).await.map_err(lost)?;
    Ok(channel)
}

/// Read until the channel closes; the exit status may come before the last output.
async fn collect(channel: &mut russh::Channel<Msg>, mut feed: impl FnMut(&[u8])) -> Option<RemoteExit> {
    let mut exit = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => feed(&data),
            ChannelMsg::ExtendedData { data, .. } => feed(&data),
            ChannelMsg::ExitStatus { exit_status } => exit = Some(RemoteExit::Code(exit_status as i32)),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exit = Some(RemoteExit::Signal(format!("{signal_name:?}")))
            }
            _ => {}
        }
    }
    exit
}

/// Run a short command and wait for it (the runner bounds the wait).
pub(super) async fn run(
    handle: &Handle<Client>,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<ExecOutput, TransportError> {
    let mut channel = start(handle, command, stdin, false).await?;
    let mut output = OutputTail::new(OUTPUT_LIMIT);
    let exit = collect(&mut channel, |d| output.push(d))
        .await
        .ok_or(SshError::ClosedDuringCommand)?;
    Ok(ExecOutput { exit, output })
}

/// Printed first by every `/bin/sh -s` pushinst runs: without it, the host's session
/// never got to the shell.
const SESSION_OK: &str = "pushinst: session ok";

/// Run a package's own shell command (`detect`) with `/bin/sh`, whatever the login
/// shell: the command travels on standard input, never on the command line. Its exit
/// code counts only when the shell was seen to run.
pub(super) async fn sh(
    handle: &Handle<Client>,
    user: &str,
    command: &str,
) -> Result<RemoteExit, TransportError> {
    // Parsed whole before it runs, and reading nothing more of the script.
    let script = format!("echo '{SESSION_OK}'\n{{\n{command}\n}} </dev/null\n");
    let out = run(handle, "/bin/sh -s", Some(script.as_bytes())).await?;
    session_ran(&out, user)?;
    Ok(out.exit)
}

/// Why a session ran nothing, when a check shows it did not.
fn session_ran(out: &ExecOutput, user: &str) -> Result<(), SshError> {
    let text = out.output.text();
    if text.contains(SESSION_OK) {
        return Ok(());
    }
    // sshd's own fixed words (not translated) when a password must be changed first.
    if text.contains("Password change required") || text.contains("password has expired") {
        return Err(SshError::PasswordExpired {
            user: user.to_string(),
        });
    }
    Err(SshError::SessionRunsNothing {
        user: user.to_string(),
        exit: Some(out.exit.clone()),
    })
}

/// After a failure that may come from the session rather than the step: a shell that
/// does not run names the real cause; `None` when it runs.
pub(super) async fn explain(handle: &Handle<Client>, user: &str) -> Option<TransportError> {
    let script = format!("echo '{SESSION_OK}'\n");
    let out = run(handle, "/bin/sh -s", Some(script.as_bytes())).await.ok()?;
    session_ran(&out, user).err().map(Into::into)
}

/// The shell line that runs `argv` in `dir`, through sudo when asked. Secrets never
/// appear here: a sudo password goes to standard input.
pub(super) fn command_line(dir: &str, argv: &[String], sudo: Option<&Sudo>) -> (String, Option<Vec<u8>>) {
    let argv = join(argv);
    match sudo {
        None => (format!("cd {} && exec {argv} </dev/null", quote(dir)), None),
        Some(sudo) => {
            let (flags, stdin) = match sudo {
                Sudo::Password(secret) => ("-S -p ''", Some(format!("{}\n", secret.expose()).into_bytes())),
                Sudo::NoPassword => ("-n", None),
            };
            let script = quote(&format!(
                "echo '{SUDO_MARKER}' >&2; exec \"$0\" \"$@\" </dev/null"
            ));
            (
                format!(
                    "cd {} && exec sudo {flags} -- /bin/sh -c {script} {argv}",
                    quote(dir)
                ),
                stdin,
            )
        }
    }
}

/// A staging path as pushinst names it: no character any shell would interpret.
fn plain_path(dir: &str) -> Result<&str, SshError> {
    let ok = !dir.is_empty()
        && dir.contains(".pushinst-")
        && dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    if ok {
        Ok(dir)
    } else {
        Err(SshError::UnsafeStagingPath { dir: dir.to_string() })
    }
}

/// What became of a run of the wrapper.
pub(super) struct Ran {
    pub result: Result<ExecOutput, TransportError>,
    /// The wrapper removed the staging directory itself.
    pub removed: bool,
}

/// Write the wrapper's settings, run it, and read its report.
pub(super) async fn install(
    handle: &Handle<Client>,
    dir: &str,
    install: &Install,
    payloads: &[Payload],
    user: &str,
    sudo: Option<&Sudo>,
) -> Ran {
    let not_removed = |result| Ran {
        result,
        removed: false,
    };
    let dir = match plain_path(dir) {
        Ok(dir) => dir,
        Err(e) => return not_removed(Err(e.into())),
    };
    let token = wrapper::token();
    let mode = match sudo {
        None => SudoMode::None,
        Some(Sudo::Password(_)) => SudoMode::Password,
        Some(Sudo::NoPassword) => SudoMode::NoPassword,
    };
    let conf = Conf {
        token: &token,
        sudo: mode,
        limit_secs: install.timeout.as_secs_f64().ceil() as u64,
        keep: OUTPUT_LIMIT,
        program: &install.program,
        payloads,
        args: &install.args,
    };
    let conf_path = format!("{dir}/{}", wrapper::CONF_NAME);
    if let Err(e) = stage::write(handle, &conf_path, conf.render().as_bytes()).await {
        return not_removed(Err(e));
    }
    let command = format!("/bin/sh {dir}/{}", wrapper::SCRIPT_NAME);
    let mut report = Report::new(&token, OUTPUT_LIMIT);
    let waited = install.timeout + REPORT_GRACE;
    let password = match sudo {
        Some(Sudo::Password(secret)) => Some(secret),
        _ => None,
    };
    let pty = sudo.is_some();
    let exit =
        match tokio::time::timeout(waited, converse(handle, &command, pty, password, &mut report)).await {
            Ok(Ok(exit)) => exit,
            Ok(Err(e)) => return not_removed(Err(e)),
            Err(_) => return not_removed(Err(SshError::NoReport { waited }.into())),
        };
    report.finish();
    let removed = report.removed;
    Ran {
        result: judge(report, exit, install, (mode, user), payloads),
        removed,
    }
}

/// Run the wrapper and read its report. sudo (on a terminal, for `requiretty`) gets
/// the password only when it asks with pushinst's own prompt, and end-of-file when
/// it asks again: a refused password ends sudo instead of waiting for another.
async fn converse(
    handle: &Handle<Client>,
    command: &str,
    pty: bool,
    password: Option<&crate::secrets::Secret>,
    report: &mut Report,
) -> Result<Option<RemoteExit>, TransportError> {
    let Some(password) = password else {
        let mut channel = start(handle, command, None, pty).await?;
        return Ok(collect(&mut channel, |d| report.feed(d)).await);
    };
    let mut channel = open(handle, command, true).await?;
    let mut answered = 0;
    let mut exit = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => report.feed(&data),
            ChannelMsg::ExitStatus { exit_status } => exit = Some(RemoteExit::Code(exit_status as i32)),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                exit = Some(RemoteExit::Signal(format!("{signal_name:?}")))
            }
            _ => {}
        }
        let prompts = report.prompts_so_far();
        if prompts > answered {
            answered = prompts;
            let reply = if prompts == 1 {
                format!("{}\n", password.expose()).into_bytes()
            } else {
                b"\x04".to_vec()
            };
            // A channel already closing has nothing left to ask.
            let _ = channel.data(&reply[..]).await;
        }
    }
    Ok(exit)
}

/// The wrapper's report as a result: `ok` only for an exit status it saw.
fn judge(
    report: Report,
    exit: Option<RemoteExit>,
    install: &Install,
    (mode, user): (SudoMode, &str),
    payloads: &[Payload],
) -> Result<ExecOutput, TransportError> {
    if let Some((file, found)) = report.mismatches.first() {
        let expected = payloads
            .iter()
            .find(|p| &p.file_name == file)
            .map(|p| p.sha256.clone())
            .unwrap_or_default();
        return Err(match found {
            Some(found) => SshError::ChecksumMismatch {
                file: file.clone(),
                expected,
                found: Some(found.clone()),
            },
            None => SshError::NoChecksumTool,
        }
        .into());
    }
    if report.sudo_missing {
        return Err(SshError::SudoMissing {
            user: user.to_string(),
        }
        .into());
    }
    if report.sudo_refused {
        // From what pushinst controls, not from sudo's (localized) words: whether
        // it asked for the password pushinst gave, and how often.
        let user = user.to_string();
        return Err(match (mode, report.prompts) {
            (SudoMode::NoPassword, _) => SshError::SudoNeedsPassword { user },
            (_, 0) | (_, 1) => SshError::SudoNotPermitted { user },
            _ => SshError::SudoPasswordRefused { user },
        }
        .into());
    }
    match report.status {
        Some(Status::Exit(code)) => Ok(ExecOutput {
            exit: RemoteExit::Code(code),
            output: report.output,
        }),
        Some(Status::TimedOut) => Err(TransportError::ExecTimedOut {
            timeout: install.timeout,
            output: report.output,
        }),
        Some(Status::Noexec(parent)) => Err(SshError::StagingNoexec { dir: parent }.into()),
        None if report.lost => Err(SshError::InstallerLost.into()),
        // No exit status at all: the connection went, not the wrapper.
        None if exit.is_none() => Err(SshError::ClosedDuringInstall.into()),
        None => Err(SshError::WrapperSilent { exit }.into()),
    }
}

pub(super) async fn remove_dir(handle: &Handle<Client>, dir: &str) -> Result<(), TransportError> {
    // The login user owns the directory and, once the wrapper is done, all in it.
    let dir = plain_path(dir)?;
    let out = run(handle, &format!("rm -rf -- {dir}"), None).await?;
    match out.exit {
        RemoteExit::Code(0) => Ok(()),
        exit => Err(SshError::CleanupFailed {
            dir: dir.to_string(),
            exit,
            output: out.output.text().trim().to_string(),
        }
        .into()),
    }
}

/// `shutdown -r +MINUTES MESSAGE`: shutdown itself warns the logged-in users and
/// refuses new logins in the last minutes.
pub(super) async fn reboot(
    handle: &Handle<Client>,
    delay: Duration,
    message: &str,
    sudo: Option<&Sudo>,
) -> Result<(), TransportError> {
    let minutes = delay.as_secs().div_ceil(60);
    let mut argv = vec!["shutdown".to_string(), "-r".to_string(), format!("+{minutes}")];
    if !message.is_empty() {
        argv.push(message.to_string());
    }
    let (line, stdin) = command_line(".", &argv, sudo);
    let out = run(handle, &line, stdin.as_deref()).await?;
    match out.exit {
        RemoteExit::Code(0) => Ok(()),
        exit => Err(SshError::RebootFailed {
            exit,
            output: out.output.text().replace(SUDO_MARKER, "").trim().to_string(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    #[test]
    fn sudo_password_goes_to_stdin_not_the_command() {
        let argv = vec!["./setup.sh".to_string(), "--name=it's".to_string()];
        let (line, stdin) = command_line(
            ".pushinst-1",
            &argv,
            Some(&Sudo::Password(Secret::new("pw-XYZ".into()))),
        );
        assert!(!line.contains("pw-XYZ"));
        assert_eq!(stdin.unwrap(), b"pw-XYZ\n");
        assert!(
            line.starts_with("cd '.pushinst-1' && exec sudo -S -p '' -- /bin/sh -c "),
            "{line}"
        );
        assert!(line.ends_with("'./setup.sh' '--name=it'\\''s'"), "{line}");
        let (plain, none) = command_line("d", &argv, None);
        assert_eq!(plain, "cd 'd' && exec './setup.sh' '--name=it'\\''s' </dev/null");
        assert!(none.is_none());
    }

    #[test]
    fn only_plain_staging_paths_reach_a_command_line() {
        assert!(plain_path(".pushinst-r1-agent-web_01-22").is_ok());
        assert!(plain_path("/srv/stage/.pushinst-r1-a-h-22").is_ok());
        for bad in ["", ".pushinst-x;rm", "$(id)/.pushinst-x", "other", ".pushinst- x"] {
            assert!(plain_path(bad).is_err(), "{bad}");
        }
    }
}
