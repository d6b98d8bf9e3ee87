//! Upload over SFTP into a fresh private directory, then verify SHA-256 on the target.

use futures::StreamExt;
use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use super::host_key::Client;
use super::{SshError, exec};
use crate::transport::{Payload, RemoteExit, TransportError};

/// Large enough to fill the pipe, small enough for every sftp-server's limits.
const CHUNK: usize = 64 * 1024;
const IN_FLIGHT: usize = 16;

fn attrs(mode: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(mode),
        ..FileAttributes::empty()
    }
}

pub(super) async fn upload(
    handle: &Handle<Client>,
    dir: &str,
    payloads: &[Payload],
) -> Result<(), TransportError> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|source| SshError::ConnectionLost { source })?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|source| SshError::SftpSubsystem { source })?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.init()
        .await
        .map_err(|source| SshError::SftpInit { source })?;
    // mkdir fails if the path exists: nobody can pre-plant the directory for us.
    sftp.mkdir(dir, attrs(0o700))
        .await
        .map_err(|source| SshError::SftpMkdir {
            dir: dir.to_string(),
            source,
        })?;
    for payload in payloads {
        let path = format!("{dir}/{}", payload.file_name);
        let mode = if payload.executable { 0o700 } else { 0o600 };
        let flags = OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::EXCLUDE;
        let handle = sftp
            .open(path.as_str(), flags, attrs(mode))
            .await
            .map_err(|source| SshError::SftpOpen {
                path: path.clone(),
                source,
            })?
            .handle;
        let data = &payload.data;
        let writes = (0..data.len()).step_by(CHUNK).map(|offset| {
            let chunk = data[offset..data.len().min(offset + CHUNK)].to_vec();
            sftp.write(handle.clone(), offset as u64, chunk)
        });
        let mut pending = futures::stream::iter(writes).buffer_unordered(IN_FLIGHT);
        while let Some(result) = pending.next().await {
            result.map_err(|source| SshError::SftpWrite {
                path: path.clone(),
                source,
            })?;
        }
        drop(pending);
        sftp.close(handle)
            .await
            .map_err(|source| SshError::SftpWrite { path, source })?;
    }
    Ok(())
}

pub(super) async fn verify(
    handle: &Handle<Client>,
    dir: &str,
    payloads: &[Payload],
) -> Result<(), TransportError> {
    let mut argv = vec!["sha256sum".to_string(), "--".to_string()];
    argv.extend(payloads.iter().map(|p| p.file_name.clone()));
    let (line, _) = exec::command_line(dir, &argv, None);
    let out = exec::run(handle, &line, None).await?;
    let text = out.output.text();
    if out.exit != RemoteExit::Code(0) {
        return Err(SshError::VerifyFailed {
            exit: out.exit,
            output: text.trim().to_string(),
        }
        .into());
    }
    for payload in payloads {
        let seen = text.lines().find_map(|l| {
            let (hash, name) = l.split_once("  ")?;
            (name == payload.file_name).then_some(hash)
        });
        if seen != Some(payload.sha256.as_str()) {
            return Err(SshError::ChecksumMismatch {
                file: payload.file_name.clone(),
                expected: payload.sha256.clone(),
                found: seen.map(str::to_string),
            }
            .into());
        }
    }
    Ok(())
}
