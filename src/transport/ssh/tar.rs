//! The files of one upload as a ustar archive, written as it is sent: a header
//! before each file, zeros to the next 512-byte block after it, two zero blocks at
//! the end. Every tar there is (GNU, busybox, bsdtar) reads ustar, and it carries
//! each file's length, so the host's shell never has to count bytes itself.

use super::SshError;

pub(super) const BLOCK: usize = 512;
/// The archive's end: two empty blocks.
pub(super) const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];
/// ustar's name field (a NUL ends a shorter name).
const NAME_MAX: usize = 100;
/// ustar's prefix field: a longer path is split at a `/` between the two.
const PREFIX_MAX: usize = 155;

/// A relative path tar puts inside the staging directory and nowhere else: plain
/// steps (no `..`, `.`, empty or absolute ones), no NUL, split into ustar's prefix
/// and name fields.
fn split(path: &str) -> Option<(&str, &str)> {
    let plain = !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|step| !step.is_empty() && step != "." && step != "..");
    if !plain {
        return None;
    }
    if path.len() < NAME_MAX {
        return Some(("", path));
    }
    // The longest prefix that fits, so the name part is as short as it can be.
    path.rmatch_indices('/')
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .find(|(prefix, name)| prefix.len() <= PREFIX_MAX && name.len() < NAME_MAX)
}

/// The header of a regular file at `path` (relative to the archive's top directory)
/// of `size` bytes and permission bits `mode`, owned by uid/gid 0 (tar ignores that
/// unless it runs as root, and then root is the login user).
pub(super) fn header(path: &str, mode: u32, size: u64) -> Result<[u8; BLOCK], SshError> {
    entry(path, mode, size, b'0')
}

/// The header of a directory at `path`, so tar makes it with `mode` rather than
/// making it on the way to a file with whatever the umask leaves.
pub(super) fn directory(path: &str, mode: u32) -> Result<[u8; BLOCK], SshError> {
    entry(path, mode, 0, b'5')
}

fn entry(path: &str, mode: u32, size: u64, kind: u8) -> Result<[u8; BLOCK], SshError> {
    let Some((prefix, name)) = split(path) else {
        return Err(SshError::FileNameNotStageable {
            name: path.to_string(),
        });
    };
    let mut h = [0u8; BLOCK];
    let mut put = |at: usize, text: &[u8]| h[at..at + text.len()].copy_from_slice(text);
    put(0, name.as_bytes());
    put(345, prefix.as_bytes());
    put(100, format!("{:07o}\0", mode & 0o7777).as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, b"00000000000\0");
    put(156, &[kind]);
    put(257, b"ustar\0");
    put(263, b"00");
    // The checksum is computed with its own field as spaces.
    put(148, b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// Zeros after a file of `size` bytes, up to the next block.
pub(super) fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 { 0 } else { BLOCK - rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive as the host's tar reads it: this machine's GNU tar and busybox tar
    /// unpack it byte for byte with the modes asked for.
    #[test]
    fn every_tar_unpacks_the_files_with_their_modes() {
        let long = format!("{}/{}/leaf.txt", "d".repeat(90), "e".repeat(90));
        let files: [(&str, u32, Vec<u8>); 5] = [
            ("setup.sh", 0o700, b"#!/bin/sh\necho hi\n".to_vec()),
            ("lib/data/answer.txt", 0o600, b"42\n".to_vec()),
            (&long, 0o600, b"deep\n".to_vec()),
            ("empty", 0o600, Vec::new()),
            (
                "blocks.bin",
                0o600,
                (0..2048u32).map(|i| (i % 251) as u8).collect(),
            ),
        ];
        let mut archive = Vec::new();
        for dir in [
            "lib",
            "lib/data",
            &"d".repeat(90),
            &format!("{}/{}", "d".repeat(90), "e".repeat(90)),
        ] {
            archive.extend_from_slice(&directory(dir, 0o700).unwrap());
        }
        for (name, mode, data) in &files {
            archive.extend_from_slice(&header(name, *mode, data.len() as u64).unwrap());
            archive.extend_from_slice(data);
            archive.extend(std::iter::repeat_n(0, padding(data.len() as u64)));
        }
        archive.extend_from_slice(&END);
        let mut tars = vec![vec!["tar"]];
        if std::process::Command::new("busybox").arg("true").status().is_ok() {
            tars.push(vec!["busybox", "tar"]);
        }
        for tar in tars {
            let dir = tempfile::tempdir().unwrap();
            let mut child = std::process::Command::new(tar[0])
                .args(&tar[1..])
                .args(["-xf", "-"])
                .current_dir(dir.path())
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&archive).unwrap();
            assert!(child.wait().unwrap().success(), "{tar:?}");
            use std::os::unix::fs::PermissionsExt;
            let lib = std::fs::metadata(dir.path().join("lib/data")).unwrap();
            assert_eq!(lib.permissions().mode() & 0o777, 0o700, "{tar:?}");
            for (name, mode, data) in &files {
                let path = dir.path().join(name);
                assert_eq!(&std::fs::read(&path).unwrap(), data, "{tar:?} {name}");
                let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                // As a user, tar takes the mode less the umask; 0700/0600 survive any usual umask.
                assert_eq!(got & 0o700, mode & 0o700, "{tar:?} {name}");
            }
        }
    }

    #[test]
    fn a_name_tar_cannot_carry_is_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            &"x".repeat(100),
            &format!("{}/y", "x".repeat(160)),
        ] {
            assert!(header(bad, 0o600, 1).is_err(), "{bad}");
        }
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
