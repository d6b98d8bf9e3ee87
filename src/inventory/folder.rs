//! A variant whose `file` is a folder: every regular file under it, uploaded with
//! its path relative to the folder. Walked at load (to refuse what could not be
//! uploaded, with the inventory's location) and again when the files are read.

use std::path::{Path, PathBuf};

/// A folder larger than this is refused at load: pushinst reads an upload into memory.
pub const MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// More files than this is refused: each is one SFTP open and one checksum line.
pub const MAX_FILES: usize = 10_000;
/// Deeper than this is refused (and no walk can loop).
pub const MAX_DEPTH: usize = 32;

/// One file of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFile {
    /// `sub/dir/file`, `/`-separated, as it is placed on the target.
    pub relative: String,
    pub path: PathBuf,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("{path} is not a regular file")]
    Special { path: PathBuf },
    #[error("the name of {path} is not plain text")]
    Name { path: PathBuf },
    #[error("{relative} would overwrite pushinst's own files on the target")]
    Reserved { relative: String },
    #[error("the folder holds more than {} MiB", MAX_BYTES / (1024 * 1024))]
    TooLarge { bytes: u64 },
    #[error("the folder holds more than {MAX_FILES} files")]
    TooManyFiles,
    #[error("the folder is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the folder holds no file")]
    Empty,
    #[error("Windows cannot hold `{relative}`: {reason}")]
    WindowsName { relative: String, reason: &'static str },
    #[error("`{first}` and `{second}` are one file on Windows, which ignores case")]
    CaseClash { first: String, second: String },
}

/// Names cmd and Windows' file systems refuse (CON, NUL, COM1 … as a name or a stem).
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
    "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A folder for a Windows host: every part of every name one Windows can create
/// over SMB, and no two that differ only in case (the second would overwrite the
/// first). Checked at load, so the upload never fails half-way on a name.
pub fn windows_names(files: &[FolderFile]) -> Result<(), FolderError> {
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for file in files {
        let refuse = |reason| FolderError::WindowsName {
            relative: file.relative.clone(),
            reason,
        };
        for part in file.relative.split('/') {
            if part.contains(['<', '>', ':', '"', '|', '?', '*']) || part.chars().any(char::is_control) {
                return Err(refuse(
                    "a name holds one of < > : \" | ? * or a control character",
                ));
            }
            if part.ends_with(['.', ' ']) {
                return Err(refuse("a name ends in a dot or a space"));
            }
            let stem = part
                .split('.')
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_ascii_uppercase();
            if RESERVED.contains(&stem.as_str()) {
                return Err(refuse("a name is a device name (CON, NUL, COM1, …)"));
            }
        }
        // Directories clash too: `Lib/a` and `lib/b` are in one directory there.
        let mut prefix = String::new();
        for part in file.relative.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let folded = prefix.to_lowercase();
            let end = prefix.len();
            let written = &file.relative[..end];
            match seen.get(&folded) {
                Some(other) if *other != written => {
                    return Err(FolderError::CaseClash {
                        first: other.to_string(),
                        second: written.to_string(),
                    });
                }
                Some(_) => {}
                None => {
                    seen.insert(folded, written);
                }
            }
        }
    }
    Ok(())
}

/// Every regular file under `dir`, sorted by relative path. Symbolic links are
/// refused, not followed: one could point anywhere on this machine.
pub fn walk(dir: &Path) -> Result<Vec<FolderFile>, FolderError> {
    let mut files = Vec::new();
    let mut total = 0u64;
    visit(dir, "", 0, &mut files, &mut total)?;
    if files.is_empty() {
        return Err(FolderError::Empty);
    }
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

fn visit(
    dir: &Path,
    prefix: &str,
    depth: usize,
    files: &mut Vec<FolderFile>,
    total: &mut u64,
) -> Result<(), FolderError> {
    if depth > MAX_DEPTH {
        return Err(FolderError::TooDeep);
    }
    let read = |source| FolderError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|source| FolderError::Read {
            path: path.clone(),
            source,
        })?;
        // Plain names only: they reach the target's shell (quoted) and its SFTP server.
        let name = match entry.file_name().into_string() {
            Ok(n) if !n.contains(['\n', '\r', '\0', '\\']) => n,
            _ => return Err(FolderError::Name { path }),
        };
        let relative = format!("{prefix}{name}");
        if meta.file_type().is_symlink() {
            return Err(FolderError::Symlink { path });
        }
        if meta.is_dir() {
            visit(&path, &format!("{relative}/"), depth + 1, files, total)?;
        } else if meta.is_file() {
            if prefix.is_empty() && name.starts_with("pushinst") {
                return Err(FolderError::Reserved { relative });
            }
            *total += meta.len();
            if *total > MAX_BYTES {
                return Err(FolderError::TooLarge { bytes: *total });
            }
            if files.len() >= MAX_FILES {
                return Err(FolderError::TooManyFiles);
            }
            files.push(FolderFile {
                relative,
                path,
                size: meta.len(),
            });
        } else {
            return Err(FolderError::Special { path });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_with_relative_paths_and_links_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/x")).unwrap();
        std::fs::write(dir.path().join("setup.sh"), "a").unwrap();
        std::fs::write(dir.path().join("lib/x/data"), "bb").unwrap();
        let files = walk(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|f| (f.relative.as_str(), f.size)).collect();
        assert_eq!(names, [("lib/x/data", 2), ("setup.sh", 1)]);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("lib/pw")).unwrap();
        assert!(matches!(walk(dir.path()), Err(FolderError::Symlink { .. })));
    }

    #[test]
    fn names_windows_cannot_hold_are_refused() {
        let file = |relative: &str| FolderFile {
            relative: relative.into(),
            path: PathBuf::new(),
            size: 0,
        };
        assert!(windows_names(&[file("setup.exe"), file("lib/x/data.bin")]).is_ok());
        for bad in ["a:b", "con.txt", "lib/NUL", "dir./x", "x ", "a?b"] {
            assert!(
                matches!(windows_names(&[file(bad)]), Err(FolderError::WindowsName { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            windows_names(&[file("Lib/a"), file("lib/b")]),
            Err(FolderError::CaseClash { .. })
        ));
        assert!(matches!(
            windows_names(&[file("A.txt"), file("a.txt")]),
            Err(FolderError::CaseClash { .. })
        ));
    }

    #[test]
    fn pushinsts_own_names_are_refused_at_the_top() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pushinst.conf"), "a").unwrap();
        assert!(matches!(walk(dir.path()), Err(FolderError::Reserved { .. })));
    }
}
