//! Commands on the target: one session channel each, output bounded, exit code kept.

use std::time::Duration;

use russh::ChannelMsg;
use russh::client::{Handle, Msg};

use super::SshError;
use super::host_key::Client;
use super::quote::{join, quote};
use crate::transport::output::OUTPUT_LIMIT;
use crate::transport::{ExecOutput, Install, OutputTail, RemoteExit, Sudo, TransportError};

/// Printed by the shell that sudo starts: its absence after a failure means sudo
/// itself refused, which is not the installer's failure.
const SUDO_MARKER: &str = "pushinst: sudo ok";

fn lost(source: russh::Error) -> TransportError {
    SshError::ConnectionLost { source }.into()
}

async fn start(
    handle: &Handle<Client>,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<russh::Channel<Msg>, TransportError> {
    let channel = handle.channel_open_session().await.map_err(lost)?;
    channel.exec(true, command).await.map_err(lost)?;
    if let Some(input) = stdin {
        channel.data(input).await.map_err(lost)?;
    }
    channel.eof().await.map_err(lost)?;
    Ok(channel)
}

/// Read until the channel closes; the exit status may come before the last output.
async fn collect(channel: &mut russh::Channel<Msg>, tail: &mut OutputTail) -> Option<RemoteExit> {
    let mut exit = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => tail.push(&data),
            ChannelMsg::ExtendedData { data, .. } => tail.push(&data),
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
    let mut channel = start(handle, command, stdin).await?;
    let mut output = OutputTail::new(OUTPUT_LIMIT);
    let exit = collect(&mut channel, &mut output)
        .await
        .ok_or(SshError::ClosedDuringCommand)?;
    Ok(ExecOutput { exit, output })
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

pub(super) async fn install(
    handle: &Handle<Client>,
    dir: &str,
    install: &Install,
    sudo: Option<&Sudo>,
) -> Result<ExecOutput, TransportError> {
    let mut argv = vec![format!("./{}", install.program)];
    argv.extend(install.args.iter().cloned());
    let (line, stdin) = command_line(dir, &argv, sudo);
    let mut channel = start(handle, &line, stdin.as_deref()).await?;
    let mut output = OutputTail::new(OUTPUT_LIMIT);
    let exit = match tokio::time::timeout(install.timeout, collect(&mut channel, &mut output)).await {
        Ok(Some(exit)) => exit,
        Ok(None) => {
            return Err(SshError::ClosedDuringInstall.into());
        }
        Err(_) => {
            // sudo relays the signal to the installer; then let the channel go.
            let _ = channel.signal(russh::Sig::TERM).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), channel.close()).await;
            return Err(TransportError::ExecTimedOut {
                timeout: install.timeout,
                output,
            });
        }
    };
    if sudo.is_some() && !output.remove_line(SUDO_MARKER) {
        let said = output.text();
        let last = said
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output");
        return Err(SshError::SudoRefused {
            said: last.trim().to_string(),
        }
        .into());
    }
    Ok(ExecOutput { exit, output })
}

pub(super) async fn remove_dir(
    handle: &Handle<Client>,
    dir: &str,
    sudo: Option<&Sudo>,
) -> Result<(), TransportError> {
    // The installer may have left root-owned files in the directory: remove as root too.
    let argv = [
        "rm".to_string(),
        "-rf".to_string(),
        "--".to_string(),
        dir.to_string(),
    ];
    let (line, stdin) = command_line(".", &argv, sudo);
    let out = run(handle, &line, stdin.as_deref()).await?;
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
}
