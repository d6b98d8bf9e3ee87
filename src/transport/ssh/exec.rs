//! Commands on the target: one session channel each, output bounded, exit code kept.
//! Whatever the login shell is, it only ever parses a line without metacharacters:
//! `/bin/sh -s` (the script on standard input), `/bin/sh DIR/pushinst.sh`, `rm -rf
//! -- DIR`.

use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{ChannelMsg, Pty};

use super::SshError;
use super::host_key::Client;
use super::quote::quote;
use super::wrapper::{self, Conf, Report, Status, SudoMode};
use crate::transport::output::OUTPUT_LIMIT;
use crate::transport::{ExecOutput, Install, OutputTail, Payload, RemoteExit, Sudo, TransportError};

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

/// A new session channel. OpenSSH frees a closed session only between two reads of
/// the connection: an open that came in the same read as the previous channel's close
/// is refused under `MaxSessions 1`. One round trip (a ping) later it is free; a
/// second refusal is the host's.
async fn session(handle: &Handle<Client>) -> Result<russh::Channel<Msg>, TransportError> {
    match handle.channel_open_session().await {
        Err(russh::Error::ChannelOpenFailure(_)) => {
            handle.send_ping().await.map_err(lost)?;
            handle
                .channel_open_session()
                .await
                .map_err(|source| SshError::SessionRefused { source }.into())
        }
        other => other.map_err(lost),
    }
}

/// A channel running `command`, its standard input still open.
pub(super) async fn open(
    handle: &Handle<Client>,
    command: &str,
    pty: bool,
) -> Result<russh::Channel<Msg>, TransportError> {
    let channel = session(handle).await?;
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

/// Run a script of pushinst's own with `/bin/sh -s` and return what it printed,
/// once the shell was seen to run (the `requires` facts).
pub(super) async fn sh_output(
    handle: &Handle<Client>,
    user: &str,
    script: &str,
) -> Result<String, TransportError> {
    let script = format!("echo '{SESSION_OK}'\n{script}exit 0\n");
    let out = run(handle, "/bin/sh -s", Some(script.as_bytes())).await?;
    session_ran(&out, user)?;
    Ok(out.output.text())
}

/// Why a session ran nothing, when a check shows it did not.
fn session_ran(out: &ExecOutput, user: &str) -> Result<(), SshError> {
    let text = out.output.text();
    if text.contains(SESSION_OK) {
        return Ok(());
    }
    Err(nothing_ran(&text, user, Some(out.exit.clone())))
}

/// Why a session whose shell said nothing of pushinst's ran nothing, from what it said.
pub(super) fn nothing_ran(text: &str, user: &str, exit: Option<RemoteExit>) -> SshError {
    // sshd's own fixed words (not translated) when a password must be changed first.
    if text.contains("Password change required") || text.contains("password has expired") {
        return SshError::PasswordExpired {
            user: user.to_string(),
        };
    }
    SshError::SessionRunsNothing {
        user: user.to_string(),
        exit,
    }
}

/// Write the wrapper's settings into `dir` with one `/bin/sh -s` whose script carries
/// them as a here-document (the shell reads it, nothing competes for standard input).
/// The end marker holds the run's random token, so no settings line can be it.
async fn write_conf(
    handle: &Handle<Client>,
    dir: &str,
    token: &str,
    conf: &str,
) -> Result<(), TransportError> {
    let end = format!("pushinst-{token}-end");
    let path = format!("{dir}/{}", wrapper::CONF_NAME);
    let script = format!(
        "{{\numask 077\ncat >{} <<'{end}'\n{conf}{end}\n}}\n",
        quote(&path)
    );
    if conf.lines().any(|l| l == end) {
        // Only a forged argument could hold the token: it would end the document early.
        return Err(SshError::ConfNotWritten {
            dir: dir.to_string(),
            exit: RemoteExit::Code(-1),
            output: "an installer argument holds the end marker".to_string(),
        }
        .into());
    }
    let out = run(handle, "/bin/sh -s", Some(script.as_bytes())).await?;
    if out.exit == RemoteExit::Code(0) {
        return Ok(());
    }
    Err(SshError::ConfNotWritten {
        dir: dir.to_string(),
        exit: out.exit,
        output: out.output.text().trim().to_string(),
    }
    .into())
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

/// The wrapper's settings as staged with the files: valid for an `Install` with the
/// same time limit (the host's deadline may have shortened it since).
pub(super) struct StagedConf {
    pub token: String,
    pub timeout: std::time::Duration,
    pub text: String,
}

impl StagedConf {
    pub fn new(install: &Install, payloads: &[Payload], sudo: Option<&Sudo>) -> StagedConf {
        let token = wrapper::token();
        let text = conf_text(&token, install, payloads, sudo);
        StagedConf {
            token,
            timeout: install.timeout,
            text,
        }
    }
}

fn sudo_mode(sudo: Option<&Sudo>) -> SudoMode {
    match sudo {
        None => SudoMode::None,
        Some(Sudo::Password(_)) => SudoMode::Password,
        Some(Sudo::NoPassword) => SudoMode::NoPassword,
    }
}

fn conf_text(token: &str, install: &Install, payloads: &[Payload], sudo: Option<&Sudo>) -> String {
    Conf {
        token,
        sudo: sudo_mode(sudo),
        limit_secs: install.timeout.as_secs_f64().ceil() as u64,
        keep: OUTPUT_LIMIT,
        program: &install.program,
        payloads,
        args: &install.args,
    }
    .render()
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
    staged: Option<&StagedConf>,
) -> Ran {
    let not_removed = |result| Ran {
        result,
        removed: false,
    };
    let dir = match plain_path(dir) {
        Ok(dir) => dir,
        Err(e) => return not_removed(Err(e.into())),
    };
    let mode = sudo_mode(sudo);
    // The settings staged with the files hold, unless the time limit has shrunk since.
    let token = match staged.filter(|s| s.timeout == install.timeout) {
        Some(staged) => staged.token.clone(),
        None => {
            let token = wrapper::token();
            let text = conf_text(&token, install, payloads, sudo);
            if let Err(e) = write_conf(handle, dir, &token, &text).await {
                return not_removed(Err(e));
            }
            token
        }
    };
    let command = format!("/bin/sh {dir}/{}", wrapper::SCRIPT_NAME);
    let mut report = Report::new(&token, OUTPUT_LIMIT);
    let waited = install.timeout + REPORT_GRACE;
    let password = match sudo {
        Some(Sudo::Password(secret)) => Some(secret),
        _ => None,
    };
    let pty = sudo.is_some();
    let exit = match tokio::time::timeout(
        waited,
        converse(handle, &command, pty, None, password, &mut report),
    )
    .await
    {
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
    stdin: Option<&[u8]>,
    password: Option<&crate::secrets::Secret>,
    report: &mut Report,
) -> Result<Option<RemoteExit>, TransportError> {
    let Some(password) = password else {
        let mut channel = start(handle, command, stdin, pty).await?;
        return Ok(collect(&mut channel, |d| report.feed(d)).await);
    };
    let mut channel = open(handle, command, true).await?;
    if let Some(input) = stdin {
        channel.data(input).await.map_err(lost)?;
    }
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
    if let Some((file, found)) = report.short.first() {
        let expected = payloads
            .iter()
            .find(|p| &p.file_name == file)
            .map_or(0, |p| p.data.len() as u64);
        return Err(SshError::SizeMismatch {
            file: file.clone(),
            expected,
            found: *found,
        }
        .into());
    }
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
        return Err(refusal(mode, report.prompts, user).into());
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
/// refuses new logins in the last minutes. The command is a script `/bin/sh -s` reads
/// (on a terminal under sudo, for `requiretty`); the message travels in it as octal
/// escapes, so no shell interprets any of it.
pub(super) async fn reboot(
    handle: &Handle<Client>,
    delay: Duration,
    message: &str,
    user: &str,
    sudo: Option<&Sudo>,
) -> Result<(), TransportError> {
    let token = wrapper::token();
    let script = reboot_script(&token, delay, message, sudo);
    let password = match sudo {
        Some(Sudo::Password(secret)) => Some(secret),
        _ => None,
    };
    let mut report = Report::new(&token, 4096);
    let exit = converse(
        handle,
        "/bin/sh -s",
        sudo.is_some(),
        Some(script.as_bytes()),
        password,
        &mut report,
    )
    .await?;
    report.finish();
    let mode = match sudo {
        None => SudoMode::None,
        Some(Sudo::Password(_)) => SudoMode::Password,
        Some(Sudo::NoPassword) => SudoMode::NoPassword,
    };
    match (report.started, exit) {
        (true, Some(RemoteExit::Code(0))) => Ok(()),
        (true, exit) => Err(SshError::RebootFailed {
            exit: exit.unwrap_or(RemoteExit::Code(-1)),
            output: report.said.text().trim().to_string(),
        }
        .into()),
        (false, exit) if mode == SudoMode::None => Err(SshError::SessionRunsNothing {
            user: user.to_string(),
            exit,
        }
        .into()),
        // `exec sudo` not found: the shell's 127.
        (false, Some(RemoteExit::Code(127))) => Err(SshError::SudoMissing {
            user: user.to_string(),
        }
        .into()),
        (false, _) => Err(refusal(mode, report.prompts, user).into()),
    }
}

fn reboot_script(token: &str, delay: Duration, message: &str, sudo: Option<&Sudo>) -> String {
    let minutes = delay.as_secs().div_ceil(60);
    let octal: String = message.bytes().map(|b| format!("\\{b:03o}")).collect();
    let message_arg = if message.is_empty() { "" } else { " \"$1\"" };
    let run = format!(
        "/bin/sh -c 'echo; echo pushinst-{token} started; exec shutdown -r +{minutes}{message_arg} </dev/null' sh \"$msg\""
    );
    let sudo = match sudo {
        None => String::new(),
        Some(Sudo::Password(_)) => format!("sudo -S -p 'pushinst-{token} password:' -- "),
        Some(Sudo::NoPassword) => "sudo -n -- ".to_string(),
    };
    // sudo reads the password from standard input: the terminal, still.
    format!("msg=$(printf '{octal}')\nexec {sudo}{run}\n")
}

/// A sudo that did not start pushinst's shell, named from what pushinst controls.
fn refusal(mode: SudoMode, prompts: usize, user: &str) -> SshError {
    let user = user.to_string();
    match (mode, prompts) {
        (SudoMode::NoPassword, _) | (SudoMode::None, _) => SshError::SudoNeedsPassword { user },
        (_, 0) | (_, 1) => SshError::SudoNotPermitted { user },
        _ => SshError::SudoPasswordRefused { user },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    #[test]
    fn the_reboot_message_travels_as_octal_and_the_password_never_in_the_script() {
        let script = reboot_script(
            "t",
            Duration::from_secs(120),
            "it's done! $(id)",
            Some(&Sudo::Password(Secret::new("pw-XYZ".into()))),
        );
        assert!(!script.contains("pw-XYZ") && !script.contains("done") && !script.contains('!'));
        let out = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &format!("{}\nprintf %s \"$msg\"", script.lines().next().unwrap()),
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "it's done! $(id)");
        assert!(
            script.contains("exec sudo -S -p 'pushinst-t password:' -- /bin/sh -c"),
            "{script}"
        );
        assert!(
            script.contains("shutdown -r +2 \"$1\" </dev/null' sh \"$msg\""),
            "{script}"
        );
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
