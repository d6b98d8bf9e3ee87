//! `--to @FILE` and `--to -`: target lists read from a file or stdin, one target per
//! line, `#` comments and blank lines ignored. A bad line is reported at
//! `FILE:LINE:COL` the way inventory problems are, before any host is touched.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::diagnostic::{InventoryError, Problem};
use super::pattern::{self, PatternError};
use super::targets::TargetError;

/// A target list bigger than this is a mistake (a log piped in by accident), and it is
/// refused before it can fill memory.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// The most lines a target list may have: more than any fleet pushed to at once.
pub const MAX_LINES: usize = 100_000;

/// The name stdin goes by in messages.
const STDIN: &str = "<stdin>";

#[derive(Debug, thiserror::Error)]
pub enum TargetFileError {
    #[error("cannot read target list {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("target list {} is larger than {MAX_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("target list {} has more than {MAX_LINES} lines", path.display())]
    TooManyLines { path: PathBuf },
    #[error("target list {} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
    #[error("`--to -` is given more than once")]
    StdinTwice,
    #[error("`--to @` names no file")]
    NoFile,
    #[error(transparent)]
    Invalid(InventoryError),
}

impl TargetFileError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TargetFileError::Read { .. } => {
                Some("write `--to @FILE` with a readable file, one target per line")
            }
            TargetFileError::TooLarge { .. } | TargetFileError::TooManyLines { .. } => {
                Some("split the list, or put the hosts in a group with ranges or CIDR blocks")
            }
            TargetFileError::NotText { .. } => Some("a target list is plain text, one target per line"),
            TargetFileError::StdinTwice => Some("stdin can be read only once; put the lists in files"),
            TargetFileError::NoFile => Some("write `--to @hosts.txt`"),
            TargetFileError::Invalid(_) => None,
        }
    }

    /// The report: bad lines are located with their source line, the rest is one line.
    pub fn render(&self, color: bool) -> String {
        if let TargetFileError::Invalid(inner) = self {
            return inner.render(color);
        }
        let mut out = format!("pushinst: error: {self}\n");
        if let Some(hint) = self.hint() {
            out.push_str(&format!("  hint: {hint}\n"));
        }
        out
    }
}

/// The targets read from lists, remembered with their place so that a target only
/// the inventory can refuse (an unknown name) is still reported at its line.
#[derive(Debug, Default)]
pub struct TargetLists {
    lists: Vec<(PathBuf, String)>,
    /// Each target read: which list, and where in its text.
    lines: Vec<(usize, Range<usize>)>,
}

impl TargetLists {
    /// The located report for a `--to` error about a target read from a list.
    pub fn locate(&self, err: &TargetError) -> Option<TargetFileError> {
        let name = match err {
            TargetError::Unknown { name, .. } | TargetError::Pattern { name, .. } => name,
            _ => return None,
        };
        let (list, span) = self.lines.iter().find(|(list, span)| {
            let word = &self.lists[*list].1[span.clone()];
            word.split(',')
                .map(|w| w.trim().trim_start_matches('!'))
                .any(|w| w == name)
        })?;
        let (path, text) = &self.lists[*list];
        let mut problem = Problem::at(span.clone(), err.to_string());
        if let Some(hint) = err.hint() {
            problem = problem.hint(hint);
        }
        Some(TargetFileError::Invalid(InventoryError::Invalid {
            path: path.clone(),
            text: text.clone(),
            problems: vec![problem],
        }))
    }
}

/// Replace every `@FILE` and `-` in `to` by the targets its list holds, in place and in
/// order; other values are kept as they are. `stdin` is read only if `-` is given.
pub fn expand(to: &[String], stdin: &mut dyn Read) -> Result<(Vec<String>, TargetLists), TargetFileError> {
    let mut out = Vec::with_capacity(to.len());
    let mut read = TargetLists::default();
    let mut stdin_used = false;
    for value in to {
        let (path, text) = if value == "-" {
            if stdin_used {
                return Err(TargetFileError::StdinTwice);
            }
            stdin_used = true;
            let path = PathBuf::from(STDIN);
            let text = read_bounded(&path, stdin)?;
            (path, text)
        } else if let Some(file) = value.strip_prefix('@') {
            if file.is_empty() {
                return Err(TargetFileError::NoFile);
            }
            let path = PathBuf::from(file);
            let text = read_file(&path)?;
            (path, text)
        } else {
            out.push(value.clone());
            continue;
        };
        let spans = parse(&path, &text)?;
        let list = read.lists.len();
        out.extend(spans.iter().map(|span| text[span.clone()].to_string()));
        read.lines.extend(spans.into_iter().map(|span| (list, span)));
        read.lists.push((path, text));
    }
    Ok((out, read))
}

fn read_file(path: &Path) -> Result<String, TargetFileError> {
    let read = |source| TargetFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    // A directory opens on Unix but cannot be read; say so before reading.
    if file.metadata().map_err(read)?.is_dir() {
        return Err(read(std::io::Error::other("it is a directory")));
    }
    read_bounded(path, &mut file)
}

/// Read at most one byte past the limit, so a huge file or an endless pipe is
/// refused without being held in memory.
fn read_bounded(path: &Path, input: &mut dyn Read) -> Result<String, TargetFileError> {
    let mut bytes = Vec::new();
    input
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TargetFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(TargetFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|_| TargetFileError::NotText {
        path: path.to_path_buf(),
    })
}

/// Where the targets of one list are, every bad line reported at once.
fn parse(path: &Path, text: &str) -> Result<Vec<Range<usize>>, TargetFileError> {
    if text.lines().nth(MAX_LINES).is_some() {
        return Err(TargetFileError::TooManyLines {
            path: path.to_path_buf(),
        });
    }
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(span) = target_span(line) else {
            continue;
        };
        let word = &line[span.clone()];
        let span = start + span.start..start + span.end;
        match check(word) {
            Ok(()) => targets.push(span),
            Err(problem) => problems.push(problem(span)),
        }
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(TargetFileError::Invalid(InventoryError::Invalid {
            path: path.to_path_buf(),
            text: text.to_string(),
            problems,
        }))
    }
}

/// Where the target on this line is, with comments and surrounding blanks left out:
/// `#` starts a comment at the start of a line or after whitespace (so `#` inside a
/// word stays part of it, and is then refused by the pattern check).
fn target_span(line: &str) -> Option<Range<usize>> {
    let mut end = line.len();
    let mut previous_blank = true;
    for (i, c) in line.char_indices() {
        if c == '#' && previous_blank {
            end = i;
            break;
        }
        previous_blank = c.is_whitespace();
    }
    let kept = &line[..end];
    let start = kept.len() - kept.trim_start().len();
    let end = kept.trim_end().len();
    (start < end).then_some(start..end)
}

type MakeProblem = Box<dyn FnOnce(Range<usize>) -> Problem>;

/// A line must be one target: a host pattern, a group name or an `!` exclusion of one.
/// A word that is no valid host name may still be a group's name, which only the
/// inventory knows, so that case is left to `--to` resolution; everything else that
/// fails as a pattern (a bad range, CIDR block or port) is reported here.
fn check(word: &str) -> Result<(), MakeProblem> {
    let bare = word.strip_prefix('!').unwrap_or(word);
    if bare.chars().any(char::is_whitespace) {
        return Err(Box::new(|span| {
            Problem::at(span, "more than one target on a line")
                .hint("write one target per line; a comment starts with `#` after a blank")
        }));
    }
    match pattern::expand(bare) {
        Ok(_) | Err(PatternError::Character(..)) => Ok(()),
        Err(err) => {
            let message = format!("bad target `{word}`: {err}");
            let hint = err.hint();
            Err(Box::new(move |span| {
                let problem = Problem::at(span, message);
                match hint {
                    Some(hint) => problem.hint(hint),
                    None => problem,
                }
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Result<Vec<String>, TargetFileError> {
        let spans = parse(Path::new("t.txt"), text)?;
        Ok(spans.into_iter().map(|s| text[s].to_string()).collect())
    }

    #[test]
    fn comments_blanks_and_exclusions() {
        let text = "# the web tier\nweb\n\n  db-1.example   # primary\n!web-02.example\nhost#1\n";
        assert_eq!(
            list(text).unwrap(),
            ["web", "db-1.example", "!web-02.example", "host#1"]
        );
    }

    #[test]
    fn values_keep_their_order_around_a_list() {
        let to = ["a".to_string(), "-".to_string(), "z".to_string()];
        let (got, _) = expand(&to, &mut "b\nc\n".as_bytes()).unwrap();
        assert_eq!(got, ["a", "b", "c", "z"]);
        let twice = ["-".to_string(), "-".to_string()];
        assert!(matches!(
            expand(&twice, &mut "b\n".as_bytes()),
            Err(TargetFileError::StdinTwice)
        ));
    }

    #[test]
    fn a_bad_line_is_located() {
        let Err(TargetFileError::Invalid(err)) = list("web\n\n  web-[1-x]\n") else {
            panic!("accepted");
        };
        let shown = err.render(false);
        assert!(shown.contains("t.txt:3:3"), "{shown}");
        assert!(shown.contains("web-[1-x]"), "{shown}");
        assert!(shown.contains("decimal numbers"), "{shown}");
    }

    #[test]
    fn oversized_input_is_refused_unread() {
        let big = "a\n".repeat(MAX_BYTES as usize);
        assert!(matches!(
            read_bounded(Path::new("-"), &mut big.as_bytes()),
            Err(TargetFileError::TooLarge { .. })
        ));
        let many = "\n".repeat(MAX_LINES + 1);
        assert!(matches!(list(&many), Err(TargetFileError::TooManyLines { .. })));
    }
}
