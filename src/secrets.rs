//! Where secrets come from, and the `Secret` type that cannot be printed.
//!
//! A secret is read once, before any host is touched, and then only handed to a
//! transport. Its `Debug` and `Display` print a placeholder, and `Redactor` scrubs
//! resolved values out of anything captured from a target before it is shown or logged.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

/// A secret value. Cloning shares it; it is wiped when the last clone drops.
#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Arc::new(Zeroizing::new(value)))
    }

    /// The one way to read the value: callers must hand it to a protocol, never a formatter.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the inventory says a secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Prompt,
    Keyring(String),
    /// A program and its arguments (`pass show corp/deploy`), run without a shell;
    /// the first line it prints is the secret.
    Command(Vec<String>),
    /// Written in the inventory itself; only accepted with `allow_plaintext_secrets`.
    Inline(InlineSecret),
}

/// An inline secret keeps its value out of `Debug` output too.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineSecret(pub String);

impl fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<inline>")
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "env {var}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Prompt => f.write_str("prompt"),
            SecretSource::Keyring(name) => write!(f, "keyring {name}"),
            // The program only: its arguments may name more than the admin wants shown.
            SecretSource::Command(argv) => write!(f, "command `{}`", argv.first().map_or("", String::as_str)),
            SecretSource::Inline(_) => f.write_str("inline"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {source}")]
    FileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")]
    FileMode { path: PathBuf, mode: u32 },
    #[error("cannot prompt for {what}: standard input is not a terminal (use `env` or `file` instead)")]
    NoTerminal { what: String },
    #[error("prompt for {what} failed: {source}")]
    Prompt {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("keyring entry `{name}`: {reason}")]
    Keyring { name: String, reason: String },
    #[error("the secret from {0} is empty")]
    Empty(String),
    #[error("the two passwords differ; nothing was stored")]
    Mismatch,
    #[error("cannot run `{program}` for a secret: {source}")]
    CommandStart {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` gave no secret within {}s; it was stopped (does it ask for something on a terminal?)", .limit.as_secs())]
    CommandTimedOut { program: String, limit: Duration },
    #[error("`{program}` failed ({status}){}", if .said.is_empty() { String::new() } else { format!(": {}", .said) })]
    CommandFailed {
        program: String,
        status: std::process::ExitStatus,
        /// The first line of its standard error (never its output, which may be the secret).
        said: String,
    },
}

impl SecretSource {
    /// Read the secret. `what` names it in a prompt ("password for linux-deploy").
    pub fn resolve(&self, what: &str) -> Result<Secret, SecretError> {
        match self.read(what, true)? {
            Some(secret) => Ok(secret),
            None => Err(SecretError::NoTerminal {
                what: what.to_string(),
            }),
        }
    }

    /// Would `resolve` succeed? Checked by the same code, without prompting: a
    /// `prompt` source is fine here (it is asked for at run start). The value read is
    /// dropped (and wiped) at once, and never shown.
    pub fn check(&self) -> Result<(), SecretError> {
        self.read("", false).map(drop)
    }

    fn read(&self, what: &str, ask: bool) -> Result<Option<Secret>, SecretError> {
        let mut value = Zeroizing::new(match self {
            SecretSource::Env(var) => std::env::var(var).map_err(|_| SecretError::EnvMissing(var.clone()))?,
            SecretSource::File(path) => read_private_file(path)?,
            SecretSource::Prompt if !ask => return Ok(None),
            SecretSource::Prompt => prompt(what)?,
            SecretSource::Keyring(name) => keyring_lookup(name)?,
            SecretSource::Command(argv) => run_command(argv, COMMAND_LIMIT)?,
            SecretSource::Inline(InlineSecret(value)) => value.clone(),
        });
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(Some(Secret::new(std::mem::take(&mut *value))))
    }
}

fn read_private_file(path: &Path) -> Result<String, SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| SecretError::FileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::FileMode {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::FileRead {
        path: path.to_path_buf(),
        source,
    })?;
    // Editors add a trailing newline; it is never part of a password.
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

fn prompt(what: &str) -> Result<String, SecretError> {
    // Under cron there is nobody to answer: fail now rather than hang.
    if !std::io::stdin().is_terminal() {
        return Err(SecretError::NoTerminal {
            what: what.to_string(),
        });
    }
    rpassword::prompt_password(format!("{what}: ")).map_err(|source| SecretError::Prompt {
        what: what.to_string(),
        source,
    })
}

/// How long a secret command may take: `pass` or a vault client answering from a
/// cache takes well under a second; one waiting for a prompt nobody sees never ends.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);
/// More than any password; a command printing more is cut, not buffered.
const COMMAND_OUTPUT_LIMIT: u64 = 64 * 1024;

/// Runs `argv` without a shell (nothing in it is interpreted), with no terminal and
/// no input, and takes the first line it prints.
fn run_command(argv: &[String], limit: Duration) -> Result<String, SecretError> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let program = argv.first().cloned().unwrap_or_default();
    let mut child = Command::new(&program)
        .args(argv.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SecretError::CommandStart {
            program: program.clone(),
            source,
        })?;
    // Read both pipes on their own threads, bounded, so a chatty command can neither
    // block on a full pipe nor fill our memory.
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Zeroizing::new(Vec::new());
            if let Some(pipe) = pipe {
                let _ = pipe.take(COMMAND_OUTPUT_LIMIT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SecretError::CommandTimedOut { program, limit });
            }
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    if !status.success() {
        let said = String::from_utf8_lossy(&err)
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return Err(SecretError::CommandFailed {
            program,
            status,
            said,
        });
    }
    let text = String::from_utf8_lossy(&out);
    Ok(text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r')
        .to_string())
}

/// The OS keyring, through libsecret's `secret-tool` (the Secret Service that GNOME
/// Keyring and KWallet provide). Entries are stored with attributes
/// `service=pushinst credential=NAME`.
fn keyring_lookup(name: &str) -> Result<String, SecretError> {
    let output = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "pushinst", "credential", name])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| SecretError::Keyring {
            name: name.to_string(),
            reason: format!("cannot run secret-tool ({e}); install libsecret-tools"),
        })?;
    if !output.status.success() || output.stdout.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = if stderr.trim().is_empty() {
            format!(
                "not found; store it with `secret-tool store --label=pushinst service pushinst credential {name}`"
            )
        } else {
            format!("secret service unavailable: {}", stderr.trim())
        };
        return Err(SecretError::Keyring {
            name: name.to_string(),
            reason,
        });
    }
    String::from_utf8(output.stdout).map_err(|_| SecretError::Keyring {
        name: name.to_string(),
        reason: "the stored value is not UTF-8".to_string(),
    })
}

/// `pushinst creds set NAME`: asked twice without echo, on the terminal only.
pub fn prompt_new(name: &str) -> Result<Secret, SecretError> {
    let what = format!("password for keyring entry {name}");
    let first = Zeroizing::new(prompt(&what)?);
    let again = Zeroizing::new(prompt("the same again")?);
    if *first != *again {
        return Err(SecretError::Mismatch);
    }
    if first.is_empty() {
        return Err(SecretError::Empty("the prompt".into()));
    }
    Ok(Secret::new(first.to_string()))
}

fn secret_tool(
    name: &str,
    args: &[&str],
    input: Option<&Secret>,
) -> Result<std::process::Output, SecretError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let unavailable = |e: std::io::Error| SecretError::Keyring {
        name: name.to_string(),
        reason: format!("cannot run secret-tool ({e}); install libsecret-tools"),
    };
    let mut child = Command::new("secret-tool")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(unavailable)?;
    if let (Some(secret), Some(mut stdin)) = (input, child.stdin.take()) {
        // On standard input, never on a command line another user could read.
        stdin.write_all(secret.expose().as_bytes()).map_err(unavailable)?;
    }
    child.wait_with_output().map_err(unavailable)
}

fn keyring_failed(name: &str, stderr: &[u8]) -> SecretError {
    SecretError::Keyring {
        name: name.to_string(),
        reason: format!(
            "secret service unavailable: {}",
            String::from_utf8_lossy(stderr).trim()
        ),
    }
}

/// Stores `secret` where `{ keyring = "NAME" }` finds it.
pub fn keyring_store(name: &str, secret: &Secret) -> Result<(), SecretError> {
    let label = format!("--label=pushinst {name}");
    let args = ["store", &label, "service", "pushinst", "credential", name];
    let output = secret_tool(name, &args, Some(secret))?;
    if !output.status.success() {
        return Err(keyring_failed(name, &output.stderr));
    }
    Ok(())
}

/// Removes NAME's entry; `false` when there was none.
pub fn keyring_clear(name: &str) -> Result<bool, SecretError> {
    if keyring_lookup(name).is_err() {
        return Ok(false);
    }
    let output = secret_tool(name, &["clear", "service", "pushinst", "credential", name], None)?;
    if !output.status.success() {
        return Err(keyring_failed(name, &output.stderr));
    }
    Ok(true)
}

/// The names stored for pushinst. `secret-tool search` prints each secret on
/// standard output (wiped here, never read) and the attributes on standard error.
pub fn keyring_names() -> Result<Vec<String>, SecretError> {
    let std::process::Output {
        status,
        stdout,
        stderr,
    } = secret_tool("*", &["search", "--all", "service", "pushinst"], None)?;
    drop(Zeroizing::new(stdout));
    let said = String::from_utf8_lossy(&stderr);
    let mut names: Vec<String> = said
        .lines()
        .filter_map(|l| l.trim().strip_prefix("attribute.credential = "))
        .map(str::to_string)
        .collect();
    if !status.success() && names.is_empty() && !said.trim().is_empty() {
        return Err(keyring_failed("*", &stderr));
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Replaces every known secret value in text captured from targets.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    pub fn add(&mut self, secret: &Secret) {
        // Very short values would shred ordinary output and protect nothing.
        if secret.expose().len() >= 4 {
            self.secrets.push(secret.clone());
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), "<redacted>");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2-very-secret".into());
        assert!(!format!("{s} {s:?}").contains("hunter2"));
        let src = SecretSource::Inline(InlineSecret("hunter2-very-secret".into()));
        assert!(!format!("{src} {src:?}").contains("hunter2"));
    }

    #[test]
    fn file_secret_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret-pass\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretSource::File(path.clone()).resolve("pw").unwrap_err();
        assert!(matches!(err, SecretError::FileMode { mode: 0o644, .. }), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = SecretSource::File(path).resolve("pw").unwrap();
        assert_eq!(secret.expose(), "s3cret-pass");
    }

    #[test]
    fn missing_env_is_named() {
        let err = SecretSource::Env("PUSHINST_TEST_UNSET_VAR".into())
            .resolve("pw")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable `PUSHINST_TEST_UNSET_VAR` is not set"
        );
    }

    #[test]
    fn check_reads_without_prompting_or_revealing() {
        use std::os::unix::fs::PermissionsExt;
        assert!(SecretSource::Prompt.check().is_ok(), "a prompt is not asked");
        let err = SecretSource::Env("PUSHINST_TEST_UNSET_VAR".into())
            .check()
            .unwrap_err();
        assert!(matches!(err, SecretError::EnvMissing(_)), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret-pass\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = SecretSource::File(path.clone()).check().unwrap_err();
        assert!(matches!(err, SecretError::FileMode { mode: 0o640, .. }), "{err}");
        assert!(!err.to_string().contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(SecretSource::File(path).check().is_ok());
        assert!(SecretSource::Inline(InlineSecret("x".into())).check().is_ok());
        let err = SecretSource::Inline(InlineSecret(String::new()))
            .check()
            .unwrap_err();
        assert!(matches!(err, SecretError::Empty(_)), "{err}");
    }

    #[test]
    fn redactor_scrubs_values() {
        let mut r = Redactor::default();
        r.add(&Secret::new("pa55word!".into()));
        assert_eq!(r.redact("sudo: pa55word! rejected"), "sudo: <redacted> rejected");
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn a_command_secret_is_its_first_line_and_nothing_is_interpreted() {
        let got = run_command(
            &argv(&["sh", "-c", "printf 's3cret\\r\\nsecond\\n'"]),
            COMMAND_LIMIT,
        )
        .unwrap();
        assert_eq!(got, "s3cret");
        // No shell of ours: `$HOME` and `;` arrive as written.
        let echo = run_command(&argv(&["echo", "$HOME;", "x"]), COMMAND_LIMIT).unwrap();
        assert_eq!(echo, "$HOME; x");
        let source = SecretSource::Command(argv(&["printf", ""]));
        assert!(matches!(source.resolve("password"), Err(SecretError::Empty(_))));
    }

    #[test]
    fn a_failing_slow_or_missing_command_is_named_without_its_output() {
        let failed = run_command(
            &argv(&["sh", "-c", "echo the-secret; echo 'vault: sealed' >&2; exit 3"]),
            COMMAND_LIMIT,
        )
        .unwrap_err()
        .to_string();
        assert!(
            failed.starts_with("`sh` failed (exit status: 3): vault: sealed"),
            "{failed}"
        );
        assert!(!failed.contains("the-secret"), "{failed}");
        let started = std::time::Instant::now();
        let slow = run_command(&argv(&["sleep", "10"]), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(slow, SecretError::CommandTimedOut { .. }), "{slow}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let missing = run_command(&argv(&["/nonexistent/pass"]), COMMAND_LIMIT).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot run `/nonexistent/pass` for a secret"),
            "{missing}"
        );
    }
}
