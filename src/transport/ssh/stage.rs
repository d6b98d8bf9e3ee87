//! Files onto the target over SFTP: the payloads and the wrapper into a fresh private
//! directory, after checking the file system has room for them. The wrapper checks
//! their SHA-256 on the target before it runs anything.

use futures::StreamExt;
use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

use super::error::Exposure;
use super::host_key::Client;
use super::{SshError, wrapper};
use crate::transport::{Payload, TransportError};

/// Large enough to fill the pipe, small enough for every sftp-server's limits.
const CHUNK: usize = 64 * 1024;
const IN_FLIGHT: usize = 16;
/// Room left beyond the files themselves: the wrapper's log and status files.
const MARGIN: u64 = 1024 * 1024;

fn attrs(mode: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(mode),
        ..FileAttributes::empty()
    }
}

async fn session(handle: &Handle<Client>) -> Result<RawSftpSession, TransportError> {
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
    Ok(sftp)
}

/// The directory's parent as the host names it, and the bytes free there (when the
/// server can say).
async fn room(sftp: &RawSftpSession, dir: &str) -> (String, Option<u64>) {
    let parent = match dir.rsplit_once('/') {
        Some(("", _)) => "/",
        Some((parent, _)) => parent,
        None => ".",
    };
    // One round trip for both.
    let (real, vfs) = futures::join!(sftp.realpath(parent), sftp.statvfs(parent));
    let shown = match real {
        Ok(name) => name
            .files
            .first()
            .map(|f| f.filename.clone())
            .unwrap_or_else(|| parent.to_string()),
        Err(_) => parent.to_string(),
    };
    let free = vfs
        .ok()
        .map(|s| s.blocks_avail.saturating_mul(s.fragment_size.max(1)));
    (shown, free)
}

async fn no_space(sftp: &RawSftpSession, dir: &str, needs: u64) -> Option<SshError> {
    let (parent, free) = room(sftp, dir).await;
    let free = free?;
    (free < needs).then_some(SshError::NoSpace {
        dir: parent,
        needs,
        free,
    })
}

async fn put(sftp: &RawSftpSession, path: &str, data: &[u8], mode: u32) -> Result<(), SshError> {
    let flags = OpenFlags::CREATE | OpenFlags::WRITE | OpenFlags::EXCLUDE;
    let handle = sftp
        .open(path, flags, attrs(mode))
        .await
        .map_err(|source| SshError::SftpOpen {
            path: path.to_string(),
            source,
        })?
        .handle;
    let writes = (0..data.len()).step_by(CHUNK).map(|offset| {
        let chunk = data[offset..data.len().min(offset + CHUNK)].to_vec();
        sftp.write(handle.clone(), offset as u64, chunk)
    });
    let mut pending = futures::stream::iter(writes).buffer_unordered(IN_FLIGHT);
    while let Some(result) = pending.next().await {
        result.map_err(|source| SshError::SftpWrite {
            path: path.to_string(),
            source,
        })?;
    }
    drop(pending);
    sftp.close(handle).await.map_err(|source| SshError::SftpWrite {
        path: path.to_string(),
        source,
    })?;
    Ok(())
}

/// Whether someone other than root and the login user could rename entries in a
/// directory on the way to `dir` (`parent` is its parent, resolved): then the files
/// staged there, which sudo may run as root, could be swapped between upload and run.
/// Sticky directories (/tmp, /var/tmp) let only an entry's owner rename it. What the
/// server cannot tell (no attributes) is not held against it.
async fn exposure(sftp: &RawSftpSession, dir: &str, parent: &str) -> Option<Exposure> {
    if !parent.starts_with('/') {
        return None;
    }
    let mut paths = vec!["/".to_string()];
    let mut at = String::new();
    for step in parent.split('/').filter(|s| !s.is_empty()) {
        at.push('/');
        at.push_str(step);
        paths.push(at.clone());
    }
    // One round trip: the new directory (whose owner is the login user) and every
    // ancestor at once.
    let (ours, ancestors) = futures::join!(
        sftp.stat(dir),
        futures::future::join_all(paths.iter().map(|p| sftp.stat(p.as_str())))
    );
    let ours = ours.ok()?.attrs;
    for (path, found) in paths.into_iter().zip(ancestors) {
        let Ok(found) = found else { continue };
        let a = found.attrs;
        let (Some(mode), Some(uid)) = (a.permissions, a.uid) else {
            continue;
        };
        // A directory's owner may rename anything in it, sticky or not.
        if uid != 0 && Some(uid) != ours.uid {
            return Some(Exposure::Owner { path, uid });
        }
        if mode & 0o1000 != 0 {
            continue;
        }
        if mode & 0o002 != 0 {
            return Some(Exposure::WorldWritable { path });
        }
        // The login user's own group is usually a group of one.
        if mode & 0o020 != 0 && a.gid != ours.gid {
            return Some(Exposure::GroupWritable {
                path,
                gid: a.gid.unwrap_or_default(),
            });
        }
    }
    None
}

/// Create `dir` (mode 0700; fails if it exists, so nobody can plant it) and put the
/// payloads and the wrapper in it.
pub(super) async fn upload(
    handle: &Handle<Client>,
    dir: &str,
    payloads: &[Payload],
) -> Result<(), TransportError> {
    let sftp = session(handle).await?;
    let needs =
        payloads.iter().map(|p| p.data.len() as u64).sum::<u64>() + wrapper::SCRIPT.len() as u64 + MARGIN;
    let (parent, free) = room(&sftp, dir).await;
    if let Some(free) = free
        && free < needs
    {
        return Err(SshError::NoSpace {
            dir: parent,
            needs,
            free,
        }
        .into());
    }
    sftp.mkdir(dir, attrs(0o700))
        .await
        .map_err(|source| SshError::SftpMkdir {
            dir: dir.to_string(),
            source,
        })?;
    if let Some(exposure) = exposure(&sftp, dir, &parent).await {
        // Empty still: nothing of ours is there for anyone to swap.
        let _ = sftp.rmdir(dir).await;
        return Err(SshError::StagingExposed {
            dir: parent,
            exposure,
        }
        .into());
    }
    // A folder's files carry their path in it (`lib/x/data`): its directories first.
    let mut subdirs: Vec<&str> = payloads
        .iter()
        .flat_map(|p| p.file_name.match_indices('/').map(|(i, _)| &p.file_name[..i]))
        .collect();
    subdirs.sort_unstable();
    subdirs.dedup();
    for sub in subdirs {
        let path = format!("{dir}/{sub}");
        sftp.mkdir(&path, attrs(0o700))
            .await
            .map_err(|source| SshError::SftpMkdir { dir: path, source })?;
    }
    let mut files: Vec<(String, &[u8], u32)> = payloads
        .iter()
        .map(|p| {
            let mode = if p.executable { 0o700 } else { 0o600 };
            (format!("{dir}/{}", p.file_name), &p.data[..], mode)
        })
        .collect();
    files.push((
        format!("{dir}/{}", wrapper::SCRIPT_NAME),
        wrapper::SCRIPT.as_bytes(),
        0o600,
    ));
    for (path, data, mode) in files {
        if let Err(e) = put(&sftp, &path, data, mode).await {
            // A write refused because the disk filled up says only "Failure".
            return Err(no_space(&sftp, dir, data.len() as u64 + MARGIN)
                .await
                .unwrap_or(e)
                .into());
        }
    }
    Ok(())
}

/// `pushinst check`: whether a package of `bytes` would fit beside the wrapper in
/// `dir` (by the rule `upload` applies), and the bytes free there when the server says.
pub(super) async fn room_for(
    handle: &Handle<Client>,
    dir: &str,
    bytes: u64,
) -> Result<Option<u64>, TransportError> {
    let sftp = session(handle).await?;
    let needs = bytes + wrapper::SCRIPT.len() as u64 + MARGIN;
    let (parent, free) = room(&sftp, dir).await;
    match free {
        Some(free) if free < needs => Err(SshError::NoSpace {
            dir: parent,
            needs,
            free,
        }
        .into()),
        free => Ok(free),
    }
}

/// Write one small file into the staged directory.
pub(super) async fn write(handle: &Handle<Client>, path: &str, data: &[u8]) -> Result<(), TransportError> {
    let sftp = session(handle).await?;
    put(&sftp, path, data, 0o600).await?;
    Ok(())
}
