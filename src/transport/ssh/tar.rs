//! The files of one upload as a ustar archive, written as it is sent: a header
//! before each file, zeros to the next 512-byte block after it, two zero blocks at
//! the end. Every tar there is (GNU, busybox, bsdtar) reads ustar, and it carries
//! each file's length, so the host's shell never has to count bytes itself.

use super::SshError;

pub(super) const BLOCK: usize = 512;
/// The archive's end: two empty blocks.
pub(super) const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];
/// ustar's name field; pushinst's own names are far shorter.
const NAME_MAX: usize = 100;

/// The header of a regular file `name` (in the archive's top directory) of `size`
/// bytes and permission bits `mode`, owned by uid/gid 0 (tar ignores that unless it
/// runs as root, and then root is the login user).
pub(super) fn header(name: &str, mode: u32, size: u64) -> Result<[u8; BLOCK], SshError> {
    if name.is_empty() || name.len() >= NAME_MAX || name.contains('/') || name.contains('\0') {
        return Err(SshError::FileNameNotStageable {
            name: name.to_string(),
        });
    }
    let mut h = [0u8; BLOCK];
    let mut put = |at: usize, text: &[u8]| h[at..at + text.len()].copy_from_slice(text);
    put(0, name.as_bytes());
    put(100, format!("{:07o}\0", mode & 0o7777).as_bytes());
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, b"00000000000\0");
    put(156, b"0");
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
        let files: [(&str, u32, Vec<u8>); 3] = [
            ("setup.sh", 0o700, b"#!/bin/sh\necho hi\n".to_vec()),
            ("empty", 0o600, Vec::new()),
            (
                "blocks.bin",
                0o600,
                (0..2048u32).map(|i| (i % 251) as u8).collect(),
            ),
        ];
        let mut archive = Vec::new();
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
            for (name, mode, data) in &files {
                let path = dir.path().join(name);
                assert_eq!(&std::fs::read(&path).unwrap(), data, "{tar:?} {name}");
                use std::os::unix::fs::PermissionsExt;
                let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                // As a user, tar takes the mode less the umask; 0700/0600 survive any usual umask.
                assert_eq!(got & 0o700, mode & 0o700, "{tar:?} {name}");
            }
        }
    }

    #[test]
    fn a_name_tar_cannot_carry_is_refused() {
        for bad in ["", "a/b", &"x".repeat(100)] {
            assert!(header(bad, 0o600, 1).is_err(), "{bad}");
        }
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
    }
}
