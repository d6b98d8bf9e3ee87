//! Reading an inventory file: parse, then check every cross-reference, collecting
//! every problem before refusing the file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::{InventoryError, Problem};
use super::folder;
use super::model::*;
use super::nesting;
use super::requires::{self, SYSTEM_DRIVE, windows_drive_path};
use super::shape::Names;
use super::suggest::{list, nearest};
use super::*;
use crate::secrets::{InlineSecret, SecretSource};
use crate::transport::ssh::algorithms;
use crate::transport::windows::smb::ccache;

pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, text)
}

pub fn parse(path: &Path, text: String) -> Result<Inventory, InventoryError> {
    let invalid = |mut problems: Vec<Problem>| {
        // Top to bottom, the way the file is read; problems without a place last.
        problems.sort_by_key(|p| p.span.as_ref().map_or(usize::MAX, |s| s.start));
        problems.dedup();
        InventoryError::Invalid {
            path: path.to_path_buf(),
            text: text.clone(),
            problems,
        }
    };
    let (doc, errors) = toml::de::DeTable::parse_recoverable(&text);
    if !errors.is_empty() {
        return Err(invalid(errors.iter().map(syntax_problem).collect()));
    }
    let doc = doc.into_inner();
    if doc.is_empty() {
        return Err(InventoryError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut problems = Vec::new();
    let (raw, names) = super::shape::read(doc, &mut problems);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut check = Checker {
        origin: Origin::new(path, &text),
        base,
        problems,
        missing: Vec::new(),
        misspelt_secrets: names.misspelt_secrets.clone(),
    };
    let inventory = check.inventory(raw, &names);
    if check.problems.is_empty() {
        // A missing file alone does not refuse the inventory: `hosts`, `status` and a
        // deploy of another package do not need it, and the run (or `--dry-run`'s
        // local check) reports it for the packages and credentials it uses.
        Ok(inventory)
    } else {
        // The file is refused anyway: say everything that is wrong, in one pass.
        check.problems.append(&mut check.missing);
        Err(invalid(check.problems))
    }
}

/// Turn a toml/serde error into a problem with a hint a human can act on.
pub(super) fn syntax_problem(err: &toml::de::Error) -> Problem {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().to_string();
    if let Some(rest) = message.strip_prefix("missing field ") {
        return Problem::at(span, format!("missing key {rest}")).label("in this table");
    }
    Problem::at(span, message).label("here")
}

/// Kaspersky's default: three failed installer runs, then the host waits for an admin.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// How long a Windows wrapper may take to write its start marker: a service or
/// task starts in seconds, so a minute without it means something blocked it.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

/// `shutdown /t` refuses more (ten years, in seconds).
const MAX_REBOOT_DELAY: u64 = 315_360_000;

/// `shutdown /c` refuses a longer comment.
const MAX_REBOOT_MESSAGE: usize = 512;

use super::model::SECRET_HINT;

/// Turns a byte offset into `file:line:col` for what is reported after loading.
struct Origin {
    file: String,
    /// Where each line starts.
    lines: Vec<usize>,
}

impl Origin {
    fn new(path: &Path, text: &str) -> Self {
        let lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Origin {
            file: path.display().to_string(),
            lines,
        }
    }

    fn locate(&self, offset: usize) -> String {
        let line = self.lines.partition_point(|start| *start <= offset).max(1);
        let col = offset - self.lines[line - 1] + 1;
        format!("{}:{line}:{col}", self.file)
    }
}

struct Checker {
    origin: Origin,
    base: PathBuf,
    problems: Vec<Problem>,
    /// Files that do not exist (yet): reported only with other problems.
    missing: Vec<Problem>,
    misspelt_secrets: Vec<Range<usize>>,
}

impl Checker {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn inventory(&mut self, raw: RawInventory, names: &Names) -> Inventory {
        let allow_plain = raw.settings.allow_plaintext_secrets.unwrap_or(false);
        let credential_names = &names.credentials;
        let settings = self.settings(raw.settings, credential_names);
        let credentials = raw
            .credentials
            .into_iter()
            .filter_map(|(name, c)| self.credential(&name, c, allow_plain).map(|c| (name, c)))
            .collect();
        let packages = raw
            .packages
            .into_iter()
            .filter_map(|(name, p)| self.package(&name, p).map(|p| (name, p)))
            .collect::<BTreeMap<_, _>>();
        let mut groups = raw
            .groups
            .into_iter()
            .filter_map(|(name, g)| {
                self.group(&name, g, credential_names, &names.groups)
                    .map(|g| (name, g))
            })
            .collect::<BTreeMap<_, _>>();
        // Nested groups are expanded once every group is known; a cycle is refused.
        self.problems.extend(nesting::expand(&mut groups));
        let hosts = raw
            .hosts
            .into_iter()
            .filter_map(|h| self.host(h, credential_names))
            .collect();
        let jobs = raw
            .jobs
            .into_iter()
            .filter_map(|(name, j)| self.job(&name, j, names).map(|j| (name, j)))
            .collect();
        Inventory {
            settings,
            credentials,
            packages,
            groups,
            hosts,
            jobs,
        }
    }

    fn settings(&mut self, mut raw: RawSettings, credentials: &[String]) -> Settings {
        let ssh_algorithms = self.ssh_algorithms(take_algorithms!(raw));
        let defaults = Timeouts::default();
        let timeouts = Timeouts {
            connect: self.duration(raw.connect_timeout, defaults.connect),
            auth: self.duration(raw.auth_timeout, defaults.auth),
            upload: self.duration(raw.upload_timeout, defaults.upload),
            exec: self.duration(raw.exec_timeout, defaults.exec),
            cleanup: self.duration(raw.cleanup_timeout, defaults.cleanup),
            host: self.duration(raw.host_timeout, defaults.host),
        };
        let concurrency = match raw.concurrency {
            Some(c) if !(1..=10_000).contains(c.get_ref()) => {
                self.push(
                    Problem::at(c.span(), "concurrency must be between 1 and 10000")
                        .hint("ESET's push install uses 20; the default is 20"),
                );
                20
            }
            Some(c) => *c.get_ref() as usize,
            None => 20,
        };
        let host_key_policy = match raw.host_key_policy {
            None => HostKeyPolicy::Strict,
            Some(p) => match p.get_ref().as_str() {
                "strict" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                other => {
                    self.push(
                        Problem::at(p.span(), format!("unknown host_key_policy `{other}`")).hint(
                            choice_hint(
                                other,
                                &["strict", "accept-new"],
                                "use \"strict\" or \"accept-new\"",
                            ),
                        ),
                    );
                    HostKeyPolicy::Strict
                }
            },
        };
        let max_attempts = self
            .count(raw.max_attempts, "max_attempts")
            .unwrap_or(DEFAULT_MAX_ATTEMPTS);
        let reboot = RebootNotice {
            delay: self.reboot_delay(raw.reboot_delay),
            message: self.reboot_message(raw.reboot_message),
        };
        Settings {
            windows_exec: self.exec(raw.exec).unwrap_or_default(),
            smb_signing: self.smb_signing(raw.smb_signing).unwrap_or_default(),
            smb_encryption: self.smb_encryption(raw.smb_encryption).unwrap_or_default(),
            staging_dir: self.staging_dir(raw.staging_dir),
            ssh_algorithms,
            start_timeout: self.duration(raw.start_timeout, DEFAULT_START_TIMEOUT),
            max_attempts,
            reboot,
            state: raw.state.map(|p| self.path(p.get_ref())),
            concurrency,
            timeouts,
            host_key_policy,
            known_hosts: raw.known_hosts.map(|p| self.path(p.get_ref())),
            log_dir: raw.log_dir.map(|p| self.path(p.get_ref())),
            default_os: raw.os.and_then(|os| self.os(&os)),
            default_credentials: raw
                .credentials
                .map(|list| self.references(list, credentials, "credential"))
                .unwrap_or_default(),
        }
    }

    /// `reboot_delay`, within what `shutdown /t` accepts.
    fn reboot_delay(&mut self, raw: Option<Spanned<String>>) -> Duration {
        let default = Duration::from_secs(5 * 60);
        let delay = match &raw {
            Some(d) if d.get_ref().trim() == "0s" || d.get_ref().trim() == "0" => return Duration::ZERO,
            Some(_) => self.duration(raw.clone(), default),
            None => return default,
        };
        if let Some(raw) = raw
            && delay.as_secs() > MAX_REBOOT_DELAY
        {
            self.push(
                Problem::at(
                    raw.span(),
                    format!("reboot_delay `{}` is too long", raw.get_ref()),
                )
                .label("more than 10 years")
                .hint(format!(
                    "Windows' `shutdown /t` accepts at most {MAX_REBOOT_DELAY} seconds (10 years)"
                )),
            );
            return default;
        }
        delay
    }

    /// `reboot_message`, within what `shutdown /c` accepts.
    fn reboot_message(&mut self, raw: Option<Spanned<String>>) -> String {
        let default =
            "Software was installed on this computer; it will restart to finish. Please save your work.";
        let Some(raw) = raw else {
            return default.to_string();
        };
        // `shutdown` counts UTF-16 characters, as Windows does.
        let length = raw.get_ref().encode_utf16().count();
        if length > MAX_REBOOT_MESSAGE {
            self.push(
                Problem::at(raw.span(), format!("reboot_message is {length} characters long"))
                    .label("too long for `shutdown /c`")
                    .hint(format!(
                        "Windows' `shutdown /c` accepts at most {MAX_REBOOT_MESSAGE} characters; shorten it"
                    )),
            );
        }
        raw.into_inner()
    }

    /// A duration that may be left out, such as a group's `start_timeout`.
    fn optional_duration(&mut self, raw: Option<Spanned<String>>) -> Option<Duration> {
        raw.map(|t| self.duration(Some(t), Duration::ZERO))
    }

    /// A positive count such as `max_attempts`.
    fn count(&mut self, raw: Option<Spanned<i64>>, what: &str) -> Option<u32> {
        let raw = raw?;
        match u32::try_from(*raw.get_ref()) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.push(
                    Problem::at(raw.span(), format!("{what} must be a whole number of at least 1"))
                        .hint(format!("the default is {DEFAULT_MAX_ATTEMPTS}; `pushinst reset` sets a host's counter back to 0")),
                );
                None
            }
        }
    }

    /// `kex_algorithms`, `ciphers`, … as OpenSSH reads them, each resolved here so
    /// a name pushinst does not implement is found before any host is touched.
    fn ssh_algorithms(&mut self, raw: RawAlgorithms) -> AlgorithmSettings {
        let mut settings = AlgorithmSettings::default();
        for (kind, raw) in AlgorithmKind::ALL.into_iter().zip(raw) {
            let Some(raw) = raw else { continue };
            match algorithms::resolve(kind, raw.get_ref()) {
                Ok(list) => settings.set(kind, list),
                Err(err) => {
                    let implemented = kind.implemented();
                    let hint = match &err {
                        algorithms::ListError::Unknown { name, .. } => {
                            let name = name.trim_start_matches(['+', '-', '^']);
                            match nearest(name, implemented.iter().copied()) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => format!("pushinst implements: {}", implemented.join(", ")),
                            }
                        }
                        _ => format!(
                            "write names separated by commas: `a,b` replaces pushinst's list, `+a` adds to it, `-a` removes from it, `^a` puts it first (as in OpenSSH); it implements: {}",
                            implemented.join(", ")
                        ),
                    };
                    self.push(Problem::at(raw.span(), format!("{}: {err}", kind.setting())).hint(hint));
                }
            }
        }
        settings
    }

    fn staging_dir(&mut self, raw: Option<Spanned<String>>) -> Option<StagingDir> {
        let raw = raw?;
        match StagingDir::parse(raw.get_ref()) {
            Ok(dir) => Some(dir),
            Err(err) => {
                self.push(Problem::at(raw.span(), err.to_string()).hint(
                    "name a directory on the target where the login user may create directories \
                     and run programs, such as \"/var/tmp\"",
                ));
                None
            }
        }
    }

    fn smb_signing(&mut self, raw: Option<Spanned<String>>) -> Option<SmbSigning> {
        let raw = raw?;
        match raw.get_ref().as_str() {
            "required" => Some(SmbSigning::Required),
            "allow-tampering" => Some(SmbSigning::AllowTampering),
            other => {
                self.push(
                    Problem::at(raw.span(), format!("unknown smb_signing `{other}`")).hint(choice_hint(
                        other,
                        &["required", "allow-tampering"],
                        "use \"required\" (the default); \"allow-tampering\" accepts unsigned answers, \
                         so anyone on the network path can change what is installed",
                    )),
                );
                None
            }
        }
    }

    fn windows_auth(&mut self, raw: Option<Spanned<String>>) -> Option<WindowsAuth> {
        let raw = raw?;
        match raw.get_ref().as_str() {
            "negotiate" => Some(WindowsAuth::Negotiate),
            "kerberos" => Some(WindowsAuth::Kerberos),
            "ntlm" => Some(WindowsAuth::Ntlm),
            other => {
                self.push(
                    Problem::at(raw.span(), format!("unknown auth `{other}`")).hint(choice_hint(
                        other,
                        &["negotiate", "kerberos", "ntlm"],
                        "use \"negotiate\" (the default: Kerberos when it can, NTLM otherwise), \
                         \"kerberos\" (never NTLM) or \"ntlm\"",
                    )),
                );
                None
            }
        }
    }

    fn smb_encryption(&mut self, raw: Option<Spanned<String>>) -> Option<SmbEncryption> {
        let raw = raw?;
        match raw.get_ref().as_str() {
            "when-supported" => Some(SmbEncryption::WhenSupported),
            "required" => Some(SmbEncryption::Required),
            // "if-asked" was the name of "off" before encryption became the default.
            "off" | "if-asked" => Some(SmbEncryption::Off),
            other => {
                self.push(
                    Problem::at(raw.span(), format!("unknown smb_encryption `{other}`")).hint(choice_hint(
                        other,
                        &["when-supported", "required", "off"],
                        "use \"when-supported\" (the default), \"required\" (refuse unencrypted sessions) or \
                         \"off\" (only when the host demands it)",
                    )),
                );
                None
            }
        }
    }

    fn exec(&mut self, raw: Option<Spanned<String>>) -> Option<WindowsExec> {
        let raw = raw?;
        match raw.get_ref().as_str() {
            "service" => Some(WindowsExec::Service),
            "task" => Some(WindowsExec::Task),
            other => {
                self.push(
                    Problem::at(raw.span(), format!("unknown exec `{other}`")).hint(choice_hint(
                        other,
                        &["service", "task"],
                        "use \"service\" (a temporary service, the default) or \"task\" (a scheduled task)",
                    )),
                );
                None
            }
        }
    }

    fn reboot(&mut self, raw: Option<Spanned<String>>) -> Option<RebootPolicy> {
        let raw = raw?;
        let policy = RebootPolicy::parse(raw.get_ref());
        if policy.is_none() {
            self.push(
                Problem::at(raw.span(), format!("unknown reboot policy `{}`", raw.get_ref())).hint(
                    choice_hint(
                        raw.get_ref(),
                        RebootPolicy::NAMES,
                        &format!("use one of: {}", RebootPolicy::NAMES.join(", ")),
                    ),
                ),
            );
        }
        policy
    }

    fn duration(&mut self, raw: Option<Spanned<String>>, default: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                self.push(
                    Problem::at(raw.span(), format!("invalid duration `{}`", raw.get_ref()))
                        .label("not a duration")
                        .hint("write a duration such as \"10s\", \"5m\" or \"1h 30m\""),
                );
                default
            }
        }
    }

    fn os(&mut self, raw: &Spanned<String>) -> Option<Os> {
        match raw.get_ref().as_str() {
            "linux" => Some(Os::Linux),
            "windows" => Some(Os::Windows),
            other => {
                self.push(
                    Problem::at(raw.span(), format!("unknown os `{other}`")).hint(choice_hint(
                        other,
                        &["linux", "windows"],
                        "use \"linux\" or \"windows\"",
                    )),
                );
                None
            }
        }
    }

    /// Paths in the inventory are relative to the inventory file; `~/` is $HOME.
    fn path(&self, raw: &str) -> PathBuf {
        if let Some(rest) = raw.strip_prefix("~/")
            && let Some(home) = std::env::var_os("HOME")
        {
            return PathBuf::from(home).join(rest);
        }
        self.base.join(raw)
    }

    /// A file the inventory names, relative to the inventory. One that exists but is a
    /// directory (or, where `regular`, anything but a plain file) can never work and is
    /// refused; a missing one is reported only alongside other problems.
    fn file(&mut self, raw: &str, span: Range<usize>, what: &str, regular: bool) -> PathBuf {
        let path = self.path(raw);
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let shown = absolute.display();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(meta) if meta.is_dir() => self.push(
                Problem::at(span, format!("{what} `{raw}` is a directory"))
                    .label("not a file")
                    .hint(format!("name the file itself; {shown} is a directory")),
            ),
            Ok(_) if regular => self.push(
                Problem::at(span, format!("{what} `{raw}` is not a regular file"))
                    .label("not a plain file")
                    .hint(format!(
                        "{shown} is a device, socket or pipe; name the file itself"
                    )),
            ),
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => self.missing.push(
                Problem::at(span, format!("{what} `{raw}` does not exist"))
                    .label("no such file")
                    .hint(format!(
                        "looked for {shown} (paths are relative to the inventory file)"
                    )),
            ),
            Err(err) => self.missing.push(
                Problem::at(span, format!("cannot read {what} `{raw}`: {err}"))
                    .label("here")
                    .hint(format!("looked for {shown}")),
            ),
        }
        path
    }

    /// A user certificate: beside a `key`, and a file that holds an OpenSSH
    /// certificate (its first word a `…-cert-v01@openssh.com` type).
    fn certificate(&mut self, raw: Spanned<String>, has_key: bool) -> PathBuf {
        let span = raw.span();
        if !has_key {
            self.push(
                Problem::at(span.clone(), "`certificate` without a `key`")
                    .label("certificate of which key?")
                    .hint("add the private key the certificate was made for: key = \"id_ed25519\" beside certificate = \"id_ed25519-cert.pub\""),
            );
        }
        let path = self.file(raw.get_ref(), span.clone(), "certificate file", true);
        // Only the first word is needed; a certificate is a few KiB.
        let mut head = Vec::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 256), &mut head));
        let kind = String::from_utf8_lossy(&head);
        let kind = kind.split_whitespace().next().unwrap_or("");
        if read.is_ok() && !kind.ends_with("-cert-v01@openssh.com") {
            self.push(
                Problem::at(span, format!("`{}` is not an OpenSSH certificate", raw.get_ref()))
                    .label("not a certificate")
                    .hint("name the `-cert.pub` file ssh-keygen -s wrote for the key (ssh-keygen -s CA -I ID -n USER id_ed25519.pub)"),
            );
        }
        path
    }

    fn references(&mut self, list: Vec<Spanned<String>>, known: &[String], kind: &str) -> Vec<String> {
        let mut out = Vec::new();
        for name in list {
            if known.iter().any(|k| k == name.get_ref()) {
                out.push(name.into_inner());
            } else {
                let hint = match nearest(name.get_ref(), known.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("defined {kind}s: {}", list_owned(known)),
                };
                self.push(
                    Problem::at(name.span(), format!("unknown {kind} `{}`", name.get_ref()))
                        .label(format!("no [{kind}s.{}] table", name.get_ref()))
                        .hint(hint),
                );
            }
        }
        out
    }

    fn secret(&mut self, raw: Spanned<RawSecret>, allow_plain: bool) -> Option<SecretSource> {
        let span = raw.span();
        match raw.into_inner() {
            RawSecret::Plain(value) if allow_plain => Some(SecretSource::Inline(InlineSecret(value))),
            RawSecret::Plain(_) => {
                self.push(
                    Problem::at(span, "plain-text secret refused")
                        .label("a secret written into the inventory")
                        .hint(format!(
                            "{SECRET_HINT}; or set `allow_plaintext_secrets = true` in [settings] if you accept the risk"
                        )),
                );
                None
            }
            RawSecret::Source(src) => self.secret_source(span, src),
        }
    }

    fn secret_source(&mut self, span: Range<usize>, src: RawSecretSource) -> Option<SecretSource> {
        let mut found = Vec::new();
        if let Some(var) = src.env {
            found.push(SecretSource::Env(var));
        }
        if let Some(file) = src.file {
            found.push(SecretSource::File(self.file(
                &file,
                span.clone(),
                "secret file",
                false,
            )));
        }
        match src.prompt {
            Some(true) => found.push(SecretSource::Prompt),
            Some(false) => {
                self.push(Problem::at(span.clone(), "`prompt = false` names no source").hint(SECRET_HINT));
                return None;
            }
            None => {}
        }
        if let Some(name) = src.keyring {
            found.push(SecretSource::Keyring(name));
        }
        if let Some(argv) = src.command {
            if argv.first().is_none_or(|program| program.trim().is_empty()) {
                self.push(
                    Problem::at(span.clone(), "`command` names no program")
                        .hint("write the program and its arguments, e.g. command = [\"pass\", \"show\", \"corp/deploy\"]"),
                );
                return None;
            }
            found.push(SecretSource::Command(argv));
        }
        if found.len() == 1 {
            found.pop()
        } else {
            if !(found.is_empty() && self.misspelt_secrets.contains(&span)) {
                self.push(Problem::at(span, "a secret needs exactly one source").hint(SECRET_HINT));
            }
            None
        }
    }

    fn credential(
        &mut self,
        name: &str,
        raw: Spanned<RawCredential>,
        allow_plain: bool,
    ) -> Option<CredentialDef> {
        let span = raw.span();
        let raw = raw.into_inner();
        let auth = self.windows_auth(raw.auth).unwrap_or_default();
        let no_secret = raw.password.is_none() && raw.key.is_none() && !raw.agent && raw.keytab.is_none();
        // A domain user (`user@REALM`, `DOMAIN\user`) with nothing else logs on with
        // the TGT `kinit` left, as smbclient -k and impacket -k do.
        let domain_user = raw.user.get_ref().contains('@') || raw.user.get_ref().contains('\\');
        let mut ticket_cache = None;
        if no_secret && domain_user && auth != WindowsAuth::Ntlm {
            ticket_cache = self.ticket_cache(name, &raw.user);
        } else if no_secret {
            self.push(
                Problem::at(span, format!("credential `{name}` has no way to log in"))
                    .hint("give it a `password`, a `key` file, `agent = true`, or (Windows) a `keytab`"),
            );
        }
        if raw.user.get_ref().is_empty() {
            self.push(Problem::at(raw.user.span(), "empty user name"));
        }
        if let Some(keytab) = &raw.keytab
            && auth == WindowsAuth::Ntlm
        {
            self.push(
                Problem::at(
                    keytab.span(),
                    "a keytab logs on with Kerberos, and this credential says `auth = \"ntlm\"`",
                )
                .label("Kerberos only")
                .hint("remove `auth = \"ntlm\"` (or the keytab, and give a password for NTLM)"),
            );
        }
        let password = raw.password.and_then(|p| self.secret(p, allow_plain));
        let passphrase = raw.passphrase.and_then(|p| self.secret(p, allow_plain));
        let sudo_password = raw.sudo_password.and_then(|p| self.secret(p, allow_plain));
        let certificate = raw.certificate.map(|c| self.certificate(c, raw.key.is_some()));
        Some(CredentialDef {
            name: name.to_string(),
            user: raw.user.into_inner(),
            password,
            key: raw
                .key
                .map(|k| self.file(k.get_ref(), k.span(), "key file", false)),
            passphrase,
            certificate,
            agent: raw.agent,
            sudo: raw.sudo,
            sudo_password,
            auth,
            kdc: raw.kdc.map(Spanned::into_inner),
            realm: raw.realm.map(|r| r.into_inner().to_uppercase()),
            keytab: raw
                .keytab
                .map(|k| self.file(k.get_ref(), k.span(), "keytab", true)),
            ticket_cache,
        })
    }

    /// The ticket cache a credential without a secret uses: `KRB5CCNAME` (a path,
    /// with or without `FILE:`), else MIT's default `/tmp/krb5cc_UID`. It must be
    /// there now: a missing one is said before any host is touched.
    fn ticket_cache(&mut self, name: &str, user: &Spanned<String>) -> Option<PathBuf> {
        let named = std::env::var("KRB5CCNAME").ok().filter(|v| !v.is_empty());
        let path = match &named {
            Some(ccname) => match ccache::path_of(ccname) {
                Ok(path) => path,
                Err(e) => {
                    self.push(
                        Problem::at(user.span(), format!("credential `{name}`: {e}"))
                            .label("no password: the kinit ticket cache")
                            .hint("point KRB5CCNAME at a FILE: cache (`export KRB5CCNAME=FILE:/tmp/krb5cc_pushinst`, then kinit), or give the credential a password or keytab"),
                    );
                    return None;
                }
            },
            // SAFETY: getuid cannot fail and touches no memory.
            None => PathBuf::from(format!("/tmp/krb5cc_{}", unsafe { libc::getuid() })),
        };
        if !path.is_file() {
            self.push(
                Problem::at(
                    user.span(),
                    format!(
                        "credential `{name}` has no password, key or keytab, and there is no ticket cache at {}{}",
                        path.display(),
                        if named.is_some() { " (KRB5CCNAME)" } else { "" }
                    ),
                )
                .label("no password: the kinit ticket cache")
                .hint(format!("run `kinit {}` first, or give the credential a `password` or `keytab`", user.get_ref())),
            );
            return None;
        }
        Some(path)
    }

    fn package(&mut self, name: &str, raw: Spanned<RawPackage>) -> Option<Package> {
        let span = raw.span();
        let raw = raw.into_inner();
        if raw.linux.is_none() && raw.windows.is_none() {
            self.push(
                Problem::at(span, format!("package `{name}` has no installer"))
                    .hint("add `linux = { file = \"…\" }` and/or `windows = { file = \"…\" }`"),
            );
        }
        let timeout = raw.timeout.map(|t| self.duration(Some(t), Duration::ZERO));
        let requires = raw
            .requires
            .map(|r| self.requires(r, raw.linux.is_some(), raw.windows.is_some()))
            .unwrap_or_default();
        Some(Package {
            name: name.to_string(),
            version: raw.version,
            linux: raw.linux.map(|v| self.variants(v, Os::Linux)).unwrap_or_default(),
            windows: raw
                .windows
                .map(|v| self.variants(v, Os::Windows))
                .unwrap_or_default(),
            success_codes: raw.success_codes.unwrap_or_else(|| vec![0]),
            reboot_codes: raw.reboot_codes.unwrap_or_default(),
            timeout,
            reboot: self.reboot(raw.reboot).unwrap_or_default(),
            max_attempts: self.count(raw.max_attempts, "max_attempts"),
            requires,
        })
    }

    /// Every key checked where it is written. `linux` and `windows` say which hosts
    /// the requirements are checked on (the package's installers): a key that means
    /// nothing on one of them is refused rather than silently not checked there.
    fn requires(&mut self, raw: Spanned<RawRequires>, linux: bool, windows: bool) -> Vec<Requirement> {
        let span = raw.span();
        let raw = raw.into_inner();
        let before = self.problems.len();
        let mut out = Vec::new();
        if let (Some(path), None) = (&raw.path, &raw.free_mib) {
            self.push(
                Problem::at(path.span(), "`path` says where `free_mib` is measured")
                    .hint("add free_mib = N beside it, or remove path"),
            );
        }
        if let Some(mib) = raw.free_mib {
            let path = self.free_path(raw.path, linux, windows);
            match u64::try_from(*mib.get_ref()) {
                Ok(n) if n > 0 => out.push(Requirement::FreeMib { mib: n, path }),
                _ => self.push(
                    Problem::at(mib.span(), "free_mib must be a positive number of MiB")
                        .hint("write free_mib = 500"),
                ),
            }
        }
        if let Some(arch) = raw.arch {
            let list: Vec<String> = arch.get_ref().iter().map(|a| a.trim().to_string()).collect();
            if list.is_empty() || list.iter().any(String::is_empty) {
                self.push(Problem::at(arch.span(), "arch names no architecture").hint(
                    "write arch = [\"x86_64\", \"aarch64\"] as `uname -m` prints them \
                         (Windows' AMD64 is x86_64, ARM64 is aarch64, x86 is x86)",
                ));
            } else {
                out.push(Requirement::Arch(list));
            }
        }
        if let Some(os) = raw.os {
            self.os_requires(os, linux, windows, &mut out);
        }
        if let Some(registry) = raw.registry {
            if linux {
                self.push(
                    Problem::at(registry.span(), "a registry requirement is for Windows hosts")
                        .label(self.other_os(windows, "Linux"))
                        .hint(
                            "on Linux write command = \"…\" (POSIX sh, must exit 0); \
                             keep registry for a package whose installers are all for Windows",
                        ),
                );
            } else if let Some(req) = self.registry_requires(registry) {
                out.push(req);
            }
        }
        if let Some(command) = raw.command {
            // On Windows it becomes one line of a batch file; sh takes several.
            let spans_lines = windows && command.get_ref().contains(['\n', '\r', '\0']);
            if command.get_ref().trim().is_empty() || spans_lines {
                let example = match windows {
                    true => {
                        "command = \"if exist C:\\\\acme.lock exit /b 1\" (one cmd line run as SYSTEM, must exit 0)"
                    }
                    false => "command = \"test ! -e /var/run/acme.lock\" (POSIX sh, must exit 0)",
                };
                let message = match command.get_ref().trim().is_empty() {
                    true => "the required command is empty",
                    false => "the required command spans lines",
                };
                self.push(Problem::at(command.span(), message).hint(format!("write {example}")));
            } else if linux && windows {
                self.push(
                    Problem::at(
                        command.span(),
                        "one command cannot be required on Linux and Windows",
                    )
                    .label("POSIX sh on Linux, cmd on Windows")
                    .hint("move the Windows installer to a package of its own, with its own requires"),
                );
            } else {
                out.push(Requirement::Command(command.into_inner()));
            }
        }
        if out.is_empty() && self.problems.len() == before {
            self.push(
                Problem::at(span, "requires is empty")
                    .hint("name free_mib, arch, os, registry or command, or remove requires"),
            );
        }
        out
    }

    /// The label of a key refused because the package also installs on another OS.
    fn other_os(&self, both: bool, os: &str) -> String {
        match both {
            true => format!("this package also has a {os} installer"),
            false => format!("this package installs on {os}"),
        }
    }

    /// Where `free_mib` is measured: an absolute path on Linux (`/` unless written),
    /// a drive path on Windows (the system drive unless written).
    fn free_path(&mut self, raw: Option<Spanned<String>>, linux: bool, windows: bool) -> String {
        let default = match linux {
            true => "/",
            false => SYSTEM_DRIVE,
        };
        let Some(p) = raw else {
            return default.to_string();
        };
        let text = p.get_ref();
        if linux && windows {
            self.push(
                Problem::at(p.span(), "`path` cannot name a place on Linux and Windows alike")
                    .label("this package has installers for both")
                    .hint("remove path (Linux measures /, Windows the system drive), or split the package"),
            );
            return default.to_string();
        }
        let ok = match linux {
            true => text.starts_with('/') && !text.contains('\n'),
            false => windows_drive_path(text),
        };
        if !ok {
            let hint = match linux {
                true => "write path = \"/opt\": free space is measured on the file system holding it",
                false => "write path = 'D:\\': free space is measured on that drive",
            };
            self.push(Problem::at(p.span(), format!("`{text}` is not an absolute path")).hint(hint));
            return default.to_string();
        }
        text.clone()
    }

    /// `os = { id, version_id }` on Linux, `os = { build }` on Windows.
    fn os_requires(
        &mut self,
        os: Spanned<RawOsRequires>,
        linux: bool,
        windows: bool,
        out: &mut Vec<Requirement>,
    ) {
        let os_span = os.span();
        let os = os.into_inner();
        let os_before = self.problems.len();
        if windows {
            for span in [
                os.id.as_ref().map(|i| i.span()),
                os.version_id.as_ref().map(|v| v.span()),
            ]
            .into_iter()
            .flatten()
            {
                self.push(
                    Problem::at(
                        span,
                        "`id` and `version_id` are for Linux hosts (/etc/os-release)",
                    )
                    .label(self.other_os(linux, "Windows"))
                    .hint(match linux {
                        true => "move the Windows installer to a package of its own",
                        false => "on Windows write os = { build = \">=17763\" } (the Windows build number)",
                    }),
                );
            }
        }
        if let (Some(build), true) = (&os.build, linux) {
            self.push(
                Problem::at(build.span(), "`build` is for Windows hosts")
                    .label(self.other_os(windows, "Linux"))
                    .hint(match windows {
                        true => "move the Windows installer to a package of its own",
                        false => "on Linux write os = { id = [\"debian\"], version_id = \">=12\" }",
                    }),
            );
        }
        if self.problems.len() != os_before {
            return;
        }
        if let Some(build) = os.build {
            match VersionReq::parse(build.get_ref()) {
                Ok(req) => out.push(Requirement::Build(req)),
                Err(e) => self.push(
                    Problem::at(
                        build.span(),
                        format!("cannot compare with `{}`: {e}", build.get_ref()),
                    )
                    .label("an operator (=, >=, <=, >, <) and a build number")
                    .hint(match build.get_ref().to_ascii_uppercase().contains('H') {
                        // 22H2 is what winver shows first; the build is what compares.
                        true => {
                            "a release name like 22H2 is no build number: write the build, e.g. \
                             build = \">=19045\" (Windows 10 22H2) or \">=22621\" (Windows 11 22H2)"
                        }
                        false => "write build = \">=17763\" (Windows Server 2019), or \">=17763.5329\" with the UBR",
                    }),
                ),
            }
            return;
        }
        let ids = match os.id {
            None => Vec::new(),
            Some(ids) if ids.get_ref().is_empty() || ids.get_ref().iter().any(|i| i.trim().is_empty()) => {
                self.push(
                    Problem::at(ids.span(), "id names no distribution").hint(
                        "write id = [\"debian\", \"ubuntu\"] as ID= in /etc/os-release, or leave id out",
                    ),
                );
                Vec::new()
            }
            Some(ids) => ids.into_inner(),
        };
        let version = os.version_id.and_then(|v| match VersionReq::parse(v.get_ref()) {
            Ok(req) => Some(req),
            Err(e) => {
                self.push(
                    Problem::at(v.span(), format!("cannot compare with `{}`: {e}", v.get_ref()))
                        .label("an operator (=, >=, <=, >, <) and a dotted number")
                        .hint("write version_id = \">=12\" or \"=22.04\""),
                );
                None
            }
        });
        if ids.is_empty() && version.is_none() && self.problems.len() == os_before {
            let hint = match windows {
                true => "write os = { build = \">=17763\" }",
                false => "write os = { id = [\"debian\"], version_id = \">=12\" }",
            };
            self.push(Problem::at(os_span, "os requires nothing").hint(hint));
        } else if !ids.is_empty() || version.is_some() {
            out.push(Requirement::Os { ids, version });
        }
    }

    /// `registry = { key, value, equals, view }`: names `reg query` can be given.
    fn registry_requires(&mut self, raw: Spanned<RawRegistryRequires>) -> Option<Requirement> {
        let span = raw.span();
        let raw = raw.into_inner();
        let before = self.problems.len();
        for (name, what) in [(&raw.key, "key"), (&raw.value, "value")] {
            let text = name.get_ref();
            if text.trim().is_empty() || text.contains(['"', '\n', '\r', '\0']) {
                self.push(
                    Problem::at(name.span(), format!("this registry {what} cannot be queried"))
                        .label("empty, or holds a double quote or a line break")
                        .hint("write key = 'HKLM\\SOFTWARE\\VMware, Inc.\\VCM', value = \"IsLocked\""),
                );
            }
        }
        let key = raw.key.get_ref();
        let hive = key.split('\\').next().unwrap_or_default().to_ascii_uppercase();
        if self.problems.len() == before
            && ![
                "HKLM",
                "HKEY_LOCAL_MACHINE",
                "HKU",
                "HKEY_USERS",
                "HKCR",
                "HKEY_CLASSES_ROOT",
                "HKCC",
                "HKEY_CURRENT_CONFIG",
            ]
            .contains(&hive.as_str())
        {
            self.push(
                Problem::at(
                    raw.key.span(),
                    format!("`{key}` is not under a machine-wide hive"),
                )
                .label("the requirement is read as SYSTEM, whose HKCU is not a user's")
                .hint("start the key with HKLM\\ (HKEY_LOCAL_MACHINE)"),
            );
        }
        let view = match raw.view.as_ref().map(|v| *v.get_ref()) {
            None => None,
            Some(32) => Some(crate::transport::RegistryView::Bits32),
            Some(64) => Some(crate::transport::RegistryView::Bits64),
            Some(other) => {
                self.push(
                    Problem::at(span, format!("unknown registry view {other}"))
                        .label("view must be 32 or 64")
                        .hint(
                            "write view = 32 for what 32-bit programs write on 64-bit Windows (WOW6432Node)",
                        ),
                );
                None
            }
        };
        let equals = raw.equals.map(|e| match e.into_inner() {
            RawRegistryData::Number(n) => requires::RegistryData::Number(n),
            RawRegistryData::Text(t) => requires::RegistryData::Text(t),
        });
        if self.problems.len() != before {
            return None;
        }
        Some(Requirement::Registry {
            key: raw.key.into_inner(),
            value: raw.value.into_inner(),
            equals,
            view,
        })
    }

    /// One installer, or variants in order. A variant after one that takes every
    /// host could never be chosen: refused where it is written.
    fn variants(&mut self, raw: Spanned<RawVariants>, os: Os) -> Vec<Variant> {
        let span = raw.span();
        let list = match raw.into_inner() {
            RawVariants::One(one) => vec![Spanned::new(span.clone(), *one)],
            RawVariants::Many(many) => many,
        };
        if list.is_empty() {
            self.push(
                Problem::at(span, format!("no {os} installer in this list"))
                    .hint("write [[packages.NAME.OS]] tables, each with file = \"…\""),
            );
            return Vec::new();
        }
        let mut out: Vec<Variant> = Vec::new();
        for raw in list {
            let at = raw.span();
            let variant = self.variant(raw, os);
            if let Some(catch_all) = out.iter().find(|v| v.when.is_empty()) {
                self.push(
                    Problem::at(at, "this variant is never chosen")
                        .label("an earlier variant takes every host")
                        .hint(format!(
                            "the first matching variant wins: give the one at {} `arch` or `os`, or move it last",
                            catch_all.location
                        )),
                );
            }
            out.push(variant);
        }
        out
    }

    /// `arch` and `os` of a variant, read as `requires` reads them.
    fn variant_when(&mut self, raw: &mut RawVariant, span: Range<usize>, os: Os) -> Vec<Requirement> {
        let (arch, os_keys) = (raw.arch.take(), raw.os.take());
        if arch.is_none() && os_keys.is_none() {
            return Vec::new();
        }
        let keys = RawRequires {
            free_mib: None,
            path: None,
            arch,
            os: os_keys,
            command: None,
            registry: None,
        };
        self.requires(Spanned::new(span, keys), os == Os::Linux, os == Os::Windows)
    }

    /// A folder's files, bounded, and its `entry` among them; `None` (with the
    /// problem pushed) when it cannot be uploaded.
    fn folder(&mut self, file: &Spanned<String>, entry: Option<&Spanned<String>>, os: Os) -> Option<String> {
        let path = self.path(file.get_ref());
        let Some(entry) = entry else {
            self.push(
                Problem::at(
                    file.span(),
                    format!("installer `{}` is a directory", file.get_ref()),
                )
                .label("a folder needs `entry`")
                .hint(
                    "name the file itself, or add entry = \"setup.sh\" (the file in the folder to run) \
                         to upload the folder whole",
                ),
            );
            return None;
        };
        let walked = folder::walk(&path).and_then(|files| match os {
            Os::Windows => folder::windows_names(&files).map(|()| files),
            Os::Linux => Ok(files),
        });
        let files = match walked {
            Ok(files) => files,
            Err(e) => {
                self.push(
                    Problem::at(
                        file.span(),
                        format!("folder `{}` cannot be uploaded: {e}", file.get_ref()),
                    )
                    .label("this folder")
                    .hint(format!(
                        "pushinst uploads regular files only, at most {} MiB and {} files in all; \
                             remove links and special files, or split the package",
                        folder::MAX_BYTES / (1024 * 1024),
                        folder::MAX_FILES
                    )),
                );
                return None;
            }
        };
        let wanted = entry.get_ref().trim_start_matches("./");
        if !files.iter().any(|f| f.relative == wanted) {
            let near = files.iter().map(|f| f.relative.as_str());
            let hint = match nearest(wanted, near) {
                Some(n) => format!("did you mean `{n}`?"),
                None => {
                    let shown: Vec<&str> = files.iter().take(10).map(|f| f.relative.as_str()).collect();
                    let more = if files.len() > 10 { ", …" } else { "" };
                    format!(
                        "name a file in the folder, relative to it; it holds {}{more}",
                        shown.join(", ")
                    )
                }
            };
            self.push(
                Problem::at(
                    entry.span(),
                    format!("`{}` is not a file in the folder", entry.get_ref()),
                )
                .label("no such file in the folder")
                .hint(hint),
            );
            return None;
        }
        Some(wanted.to_string())
    }

    fn variant(&mut self, raw: Spanned<RawVariant>, os: Os) -> Variant {
        let span = raw.span();
        let mut raw = raw.into_inner();
        let when = self.variant_when(&mut raw, span.clone(), os);
        let is_dir = std::fs::metadata(self.path(raw.file.get_ref())).is_ok_and(|m| m.is_dir());
        let entry = if is_dir {
            self.folder(&raw.file, raw.entry.as_ref(), os)
        } else {
            if let Some(entry) = &raw.entry {
                self.push(
                    Problem::at(entry.span(), "`entry` is for a folder")
                        .label("the installer is a file")
                        .hint("remove entry, or set file = \"FOLDER\" to upload a folder whole"),
                );
            }
            None
        };
        let has_detect = raw.detect.is_some();
        let detect = raw.detect.and_then(|d| {
            let span = d.span();
            match d.into_inner() {
                RawDetect::Command(command) => Some(Detect::Command(command)),
                RawDetect::Registry(r) if os == Os::Windows => {
                    let view = match r.view {
                        None => None,
                        Some(32) => Some(RegistryView::Bits32),
                        Some(64) => Some(RegistryView::Bits64),
                        Some(other) => {
                            self.push(
                                Problem::at(span.clone(), format!("unknown registry view {other}"))
                                    .label("view must be 32 or 64")
                                    .hint(
                                        "write view = 32 for what 32-bit installers write on 64-bit Windows \
                                         (WOW6432Node), view = 64 for the native view",
                                    ),
                            );
                            None
                        }
                    };
                    Some(Detect::Registry {
                        key: r.registry,
                        value: r.value,
                        min_version: r.min_version,
                        view,
                    })
                }
                RawDetect::Registry(_) => {
                    self.push(
                        Problem::at(span, "a registry check is for Windows installers")
                            .hint("on Linux write a command: detect = \"test -x /opt/acme/bin/agent\""),
                    );
                    None
                }
            }
        });
        Variant {
            file: if is_dir {
                self.path(raw.file.get_ref())
            } else {
                self.file(raw.file.get_ref(), raw.file.span(), "installer", true)
            },
            args: raw.args,
            config: raw
                .config
                .map(|c| self.file(c.get_ref(), c.span(), "config file", true)),
            detect,
            timeout: raw.timeout.map(|t| self.duration(Some(t), Duration::ZERO)),
            uninstall: raw.uninstall.and_then(|u| self.uninstall(u, os, has_detect)),
            location: self.origin.locate(span.start),
            when,
            entry,
        }
    }

    /// `[packages.X.OS.uninstall]`: one program to run, `command` or `file`; `verify`
    /// only where there is a detect to verify with.
    fn uninstall(&mut self, raw: Spanned<RawUninstall>, os: Os, has_detect: bool) -> Option<Uninstall> {
        let span = raw.span();
        let raw = raw.into_inner();
        let example = match os {
            Os::Linux => {
                "command = \"/opt/acme/uninstall.sh\" (a program on the host) or file = \"uninstall.sh\" (uploaded)"
            }
            Os::Windows => {
                "command = \"msiexec\", args = [\"/x\", \"{GUID}\", \"/qn\"] or file = \"uninstall.exe\" (uploaded)"
            }
        };
        let program = match (raw.command, raw.file) {
            (Some(_), Some(file)) => {
                self.push(
                    Problem::at(
                        file.span(),
                        "an uninstall has either `command` or `file`, not both",
                    )
                    .label("second program")
                    .hint(format!("keep one: {example}")),
                );
                return None;
            }
            (None, None) => {
                self.push(
                    Problem::at(span, "this uninstall names nothing to run")
                        .label("no `command` or `file`")
                        .hint(format!("write {example}")),
                );
                return None;
            }
            (Some(command), None) => {
                let text = command.get_ref();
                let bad = match os {
                    Os::Linux => text.contains(['\0', '\n', '\r']),
                    // It becomes one line of a batch file: nothing cmd would act on.
                    Os::Windows => text.contains(['\0', '\n', '\r', '"', '%', '^', '&', '|', '<', '>']),
                };
                if text.trim().is_empty() || bad {
                    self.push(
                        Problem::at(command.span(), "this uninstall command cannot be run as written")
                            .label("empty, or has a line break or a character the shell acts on")
                            .hint(
                                "name the program only (a path or a name on PATH) and put its \
                                 arguments in `args = [...]`",
                            ),
                    );
                    return None;
                }
                UninstallProgram::Command(text.clone())
            }
            (None, Some(file)) => {
                UninstallProgram::File(self.file(file.get_ref(), file.span(), "uninstaller", true))
            }
        };
        if raw.verify == Some(true) && !has_detect {
            self.push(
                Problem::at(span, "`verify = true` needs a detect to verify with")
                    .label("no detect in this installer")
                    .hint("add `detect = \"…\"` to the installer, or drop `verify`"),
            );
        }
        Some(Uninstall {
            program,
            args: raw.args,
            success_codes: raw.success_codes.unwrap_or_else(|| vec![0]),
            timeout: raw.timeout.map(|t| self.duration(Some(t), Duration::ZERO)),
            verify: raw.verify.unwrap_or(has_detect),
        })
    }

    fn group(
        &mut self,
        own: &str,
        raw: Spanned<RawGroup>,
        credentials: &[String],
        groups: &[String],
    ) -> Option<Group> {
        let mut raw = raw.into_inner();
        let ssh_algorithms = self.ssh_algorithms(take_algorithms!(raw));
        let mut hosts = Vec::new();
        let mut entries = Vec::new();
        for pattern in &raw.hosts {
            // Another group's name means that group, as in `--to`; a group's own name
            // is its host of that name (`[groups.nas] hosts = ["nas"]`), never itself.
            let name = pattern.get_ref().trim();
            if name != own && groups.iter().any(|g| g == name) {
                entries.push(GroupEntry::Group {
                    name: name.to_string(),
                    span: pattern.span(),
                });
                continue;
            }
            match pattern::expand(pattern.get_ref()) {
                Ok(expanded) => {
                    entries.extend(expanded.iter().cloned().map(GroupEntry::Host));
                    hosts.extend(expanded);
                }
                Err(err) => {
                    let mut problem = Problem::at(pattern.span(), format!("bad host pattern: {err}"));
                    if let Some(hint) = err.hint() {
                        problem = problem.hint(hint);
                    }
                    self.push(problem);
                }
            }
        }
        Some(Group {
            hosts,
            entries,
            os: raw.os.as_ref().and_then(|os| self.os(os)),
            credentials: self.references(raw.credentials, credentials, "credential"),
            exec: self.exec(raw.exec),
            smb_signing: self.smb_signing(raw.smb_signing),
            smb_encryption: self.smb_encryption(raw.smb_encryption),
            staging_dir: self.staging_dir(raw.staging_dir),
            start_timeout: self.optional_duration(raw.start_timeout),
            ssh_algorithms,
        })
    }

    fn host(&mut self, raw: Spanned<RawHost>, credentials: &[String]) -> Option<HostOverride> {
        let mut raw = raw.into_inner();
        let ssh_algorithms = self.ssh_algorithms(take_algorithms!(raw));
        let name = raw.name.get_ref().clone();
        let (name, port) = match pattern::expand(&name) {
            Ok(mut one) if one.len() == 1 => {
                let addr = one.remove(0);
                (addr.name, addr.port)
            }
            Ok(_) => {
                self.push(
                    Problem::at(raw.name.span(), "a [[hosts]] entry names one host")
                        .hint("put ranges and CIDR blocks in a group's `hosts`"),
                );
                return None;
            }
            Err(err) => {
                self.push(Problem::at(raw.name.span(), format!("bad host name: {err}")));
                return None;
            }
        };
        Some(HostOverride {
            name,
            address: raw.address,
            port: raw.port.or(port),
            os: raw.os.as_ref().and_then(|os| self.os(os)),
            credentials: raw
                .credentials
                .map(|list| self.references(list, credentials, "credential")),
            exec: self.exec(raw.exec),
            smb_signing: self.smb_signing(raw.smb_signing),
            smb_encryption: self.smb_encryption(raw.smb_encryption),
            staging_dir: self.staging_dir(raw.staging_dir),
            start_timeout: self.optional_duration(raw.start_timeout),
            ssh_algorithms,
        })
    }

    fn job(&mut self, name: &str, raw: Spanned<RawJob>, names: &Names) -> Option<Job> {
        let span = raw.span();
        let raw = raw.into_inner();
        let mut packages: Vec<Spanned<String>> = raw.package.into_iter().collect();
        packages.extend(raw.packages);
        if packages.is_empty() {
            self.push(
                Problem::at(span, format!("job `{name}` names no package")).hint("add `package = \"NAME\"`"),
            );
        }
        let packages = self.references(packages, &names.packages, "package");
        let targets = raw
            .targets
            .into_iter()
            .filter_map(|t| {
                let text = t.get_ref().trim_start_matches('!');
                if names.groups.iter().any(|g| g == text) || pattern::expand(text).is_ok() {
                    Some(t.into_inner())
                } else {
                    self.push(
                        Problem::at(t.span(), format!("unknown target `{text}`"))
                            .hint(format!("name a group ({}) or a host", list_owned(&names.groups))),
                    );
                    None
                }
            })
            .collect();
        Some(Job {
            name: name.to_string(),
            packages,
            targets,
            reboot: self.reboot(raw.reboot),
        })
    }
}

/// "did you mean `linux`?" for a near miss, else what the value may be.
fn choice_hint(got: &str, choices: &[&str], otherwise: &str) -> String {
    match nearest(got, choices.iter().copied()) {
        Some(near) => format!("did you mean `{near}`? ({otherwise})"),
        None => otherwise.to_string(),
    }
}

fn list_owned(items: &[String]) -> String {
    list(items.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        // The installer GOOD names exists: these tests are about other problems.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/install.sh"), "#!/bin/sh\n").unwrap();
        match parse(&dir.path().join("inv.toml"), text.to_string()) {
            Err(InventoryError::Invalid { problems, .. }) => problems,
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("inventory accepted"),
        }
    }

    const GOOD: &str = r#"
[settings]
concurrency = 5
connect_timeout = "3s"

[credentials.deploy]
user = "deploy"
password = { env = "DEPLOY_PW" }
sudo = true

[packages.agent]
version = "1.0"
linux = { file = "dist/install.sh", args = ["--quiet"], detect = "test -x /opt/agent" }
reboot_codes = [3010]

[groups.web]
hosts = ["web-[01-03].example", "10.0.0.0/30:2222"]
os = "linux"
credentials = ["deploy"]
"#;

    #[test]
    fn good_inventory_loads() {
        let inv = parse(Path::new("/etc/p/inv.toml"), GOOD.to_string()).unwrap();
        assert_eq!(inv.settings.concurrency, 5);
        assert_eq!(inv.settings.timeouts.connect, Duration::from_secs(3));
        let web = &inv.groups["web"];
        assert_eq!(web.hosts.len(), 5);
        assert_eq!(web.hosts[4].to_string(), "10.0.0.2:2222");
        let pkg = &inv.packages["agent"];
        assert_eq!(pkg.success_codes, [0]);
        assert_eq!(
            pkg.linux.first().unwrap().file,
            PathBuf::from("/etc/p/dist/install.sh")
        );
    }

    #[test]
    fn lifecycle_settings_load_and_bad_ones_are_located() {
        let text = GOOD.replace(
            "connect_timeout = \"3s\"",
            "connect_timeout = \"3s\"\nmax_attempts = 5\nstate = \"db/h.db\"\nreboot_delay = \"10m\"",
        ) + "[jobs.web]\npackage = \"agent\"\ntargets = [\"web\"]\nreboot = \"always\"\n";
        let text = text.replace(
            "reboot_codes = [3010]\n",
            "reboot_codes = [3010]\nreboot = \"ask\"\nmax_attempts = 2\n",
        );
        let inv = parse(Path::new("/etc/p/inv.toml"), text.clone()).unwrap();
        assert_eq!(inv.settings.max_attempts, 5);
        assert_eq!(inv.settings.state, Some(PathBuf::from("/etc/p/db/h.db")));
        assert_eq!(inv.settings.reboot.delay, Duration::from_secs(600));
        assert_eq!(inv.jobs["web"].reboot, Some(RebootPolicy::Always));
        let agent = &inv.packages["agent"];
        assert_eq!(
            (agent.reboot, agent.attempts_allowed(&inv.settings)),
            (RebootPolicy::Ask, 2)
        );

        let bad = text
            .replace("max_attempts = 5", "max_attempts = 0")
            .replace("reboot = \"always\"", "reboot = \"sometimes\"");
        let p = problems(&bad);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].message, "max_attempts must be a whole number of at least 1");
        assert_eq!(p[1].message, "unknown reboot policy `sometimes`");
        assert_eq!(
            p[1].hint.as_deref(),
            Some("use one of: never, if-required, always, ask")
        );
        assert!(p.iter().all(|p| p.span.is_some()));
    }

    #[test]
    fn an_uninstall_loads_with_its_defaults_and_a_bad_one_is_located() {
        let with = |uninstall: &str| {
            GOOD.replace(
                r#"detect = "test -x /opt/agent" }"#,
                &format!(r#"detect = "test -x /opt/agent", uninstall = {uninstall} }}"#),
            )
        };
        let inv = parse(
            Path::new("inv.toml"),
            with(r#"{ command = "/opt/agent/uninstall", args = ["--purge"] }"#),
        )
        .unwrap();
        let linux = inv.packages["agent"].linux.first().unwrap();
        assert_eq!(
            linux.uninstall,
            Some(Uninstall {
                program: UninstallProgram::Command("/opt/agent/uninstall".into()),
                args: vec!["--purge".into()],
                success_codes: vec![0],
                timeout: None,
                verify: true,
            })
        );
        assert_eq!(linux.location, "inv.toml:13:9");
        let text = with(r#"{ command = "/bin/true", file = "dist/install.sh" }"#);
        let p = problems(&text);
        assert_eq!(
            p[0].message,
            "an uninstall has either `command` or `file`, not both"
        );
        assert_eq!(line_col(&text, &p[0]), (13, 132), "the second program");
        let p = problems(&with(r#"{ args = ["x"] }"#));
        assert_eq!(p[0].message, "this uninstall names nothing to run");
        let p = problems(&with(r#"{ command = "/bin/true", arg = ["x"] }"#));
        assert!(p[0].message.contains("arg"), "{p:?}");
        assert!(p[0].hint.as_deref().unwrap_or_default().contains("args"), "{p:?}");
        // A missing uninstaller, like a missing installer, is named only beside other
        // problems: the plan refuses it when a `remove` needs it.
        let p = problems(&with(r#"{ file = "dist/missing.sh", timeout = "soon" }"#));
        assert!(
            p.iter()
                .any(|p| p.message == "uninstaller `dist/missing.sh` does not exist"),
            "{p:?}"
        );
        let no_detect = GOOD.replace(
            r#"detect = "test -x /opt/agent" }"#,
            r#"uninstall = { command = "/bin/true", verify = true } }"#,
        );
        assert_eq!(
            problems(&no_detect)[0].message,
            "`verify = true` needs a detect to verify with"
        );
        // A Windows command becomes a line of a batch file: nothing cmd acts on.
        let windows = GOOD.replace(
            r#"detect = "test -x /opt/agent" }"#,
            "}\nwindows = { file = \"dist/install.sh\", uninstall = { command = \"C:\\\\x.exe & calc\" } }",
        );
        assert_eq!(
            problems(&windows)[0].message,
            "this uninstall command cannot be run as written"
        );
    }

    #[test]
    fn a_registry_check_belongs_to_a_windows_installer() {
        let registry = r#"detect = { registry = 'HKLM\Software\Acme', value = "Version" }"#;
        let windows = GOOD.replace(
            r#"detect = "test -x /opt/agent" }"#,
            &format!("}}\nwindows = {{ file = \"a.exe\", {registry} }}"),
        );
        let inv = parse(Path::new("inv.toml"), windows).unwrap();
        assert!(matches!(
            inv.packages["agent"].windows.first().unwrap().detect,
            Some(Detect::Registry { .. })
        ));
        let linux = GOOD.replace(r#"detect = "test -x /opt/agent""#, registry);
        let p = problems(&linux);
        assert_eq!(p[0].message, "a registry check is for Windows installers");
    }

    #[test]
    fn unknown_key_suggests_nearest() {
        let p = problems("[settings]\nconcurency = 5\n");
        assert_eq!(p[0].message, "unknown key `concurency`");
        assert_eq!(p[0].hint.as_deref(), Some("did you mean `concurrency`?"));
        assert_eq!(p[0].span, Some(11..21));
    }

    #[test]
    fn unknown_references_list_what_exists() {
        let text = GOOD.replace(
            "credentials = [\"deploy\"]",
            "credentials = [\"deplyo\", \"root\"]",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].hint.as_deref(), Some("did you mean `deploy`?"));
        assert_eq!(p[1].hint.as_deref(), Some("defined credentials: `deploy`"));
    }

    /// 1-based line and column of a problem, as the rendered report shows them.
    fn line_col(text: &str, p: &Problem) -> (usize, usize) {
        let start = p.span.clone().unwrap().start;
        let line = text[..start].matches('\n').count() + 1;
        let col = start - text[..start].rfind('\n').map_or(0, |i| i + 1) + 1;
        (line, col)
    }

    /// GOOD with its one-table installer replaced by `variants`.
    fn with_variants(variants: &str) -> String {
        GOOD.replace(
            "linux = { file = \"dist/install.sh\", args = [\"--quiet\"], detect = \"test -x /opt/agent\" }\n",
            "",
        )
        .replace(
            "reboot_codes = [3010]\n",
            &format!("reboot_codes = [3010]\n{variants}"),
        )
    }

    #[test]
    fn variants_load_in_order_with_their_match_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/install.sh"), "#!/bin/sh\n").unwrap();
        let text = with_variants(
            "\n[[packages.agent.linux]]\narch = [\"arm64\"]\nos = { id = [\"debian\"], version_id = \">=12\" }\n\
             file = \"dist/install.sh\"\n\n[[packages.agent.linux]]\nfile = \"dist/install.sh\"\nargs = [\"-x\"]\n",
        );
        let inv = parse(&dir.path().join("inv.toml"), text).unwrap();
        let linux = &inv.packages["agent"].linux;
        assert_eq!(linux.len(), 2);
        assert_eq!(
            linux[0].when,
            [
                Requirement::Arch(vec!["arm64".into()]),
                Requirement::Os {
                    ids: vec!["debian".into()],
                    version: Some(VersionReq::parse(">=12").unwrap()),
                },
            ]
        );
        assert!(linux[1].when.is_empty());
        assert_eq!(linux[1].args, ["-x"]);
    }

    #[test]
    fn bad_variants_are_located_with_hints() {
        // A misspelt key inside an array-of-tables variant, where it is written.
        let text =
            with_variants("\n[[packages.agent.linux]]\nfile = \"dist/install.sh\"\narc = [\"x86_64\"]\n");
        let p = problems(&text);
        assert_eq!(p[0].message, "unknown key `arc`");
        assert_eq!(
            line_col(&text, &p[0]).0,
            text.lines().position(|l| l.starts_with("arc")).unwrap() + 1
        );
        // A variant after a catch-all could never run.
        let text = with_variants(
            "\n[[packages.agent.linux]]\nfile = \"dist/install.sh\"\n\n[[packages.agent.linux]]\narch = [\"aarch64\"]\nfile = \"dist/install.sh\"\n",
        );
        assert_eq!(problems(&text)[0].message, "this variant is never chosen");
        // `entry` on a plain file, and a Windows variant chosen by arch.
        let text = with_variants("\n[packages.agent.linux]\nfile = \"dist/install.sh\"\nentry = \"x\"\n");
        assert_eq!(problems(&text)[0].message, "`entry` is for a folder");
        // A Linux key on a Windows variant, and a Windows one on a Linux variant.
        let text = with_variants(
            "\n[[packages.agent.windows]]\nos = { id = [\"debian\"] }\nfile = \"dist/install.sh\"\n",
        );
        let p = problems(&text);
        assert_eq!(
            p[0].message,
            "`id` and `version_id` are for Linux hosts (/etc/os-release)"
        );
        assert!(p[0].hint.as_deref().unwrap().contains("build"), "{p:?}");
        let text = with_variants(
            "\n[[packages.agent.linux]]\nos = { build = \">=17763\" }\nfile = \"dist/install.sh\"\n",
        );
        assert_eq!(problems(&text)[0].message, "`build` is for Windows hosts");
        // A Windows folder holding a name Windows cannot.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dist/lib")).unwrap();
        std::fs::write(dir.path().join("dist/setup.cmd"), "exit /b 0\r\n").unwrap();
        std::fs::write(dir.path().join("dist/lib/aux.dll"), "x").unwrap();
        let text = with_variants("\n[packages.agent.windows]\nfile = \"dist\"\nentry = \"setup.cmd\"\n");
        match parse(&dir.path().join("inv.toml"), text.clone()) {
            Err(InventoryError::Invalid { problems, .. }) => {
                assert!(
                    problems[0].message.contains("Windows cannot hold `lib/aux.dll`"),
                    "{problems:?}"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        std::fs::remove_file(dir.path().join("dist/lib/aux.dll")).unwrap();
        std::fs::write(dir.path().join("dist/lib/agent.dll"), "x").unwrap();
        let inv = parse(&dir.path().join("inv.toml"), text).unwrap();
        assert_eq!(
            inv.packages["agent"].windows[0].entry.as_deref(),
            Some("setup.cmd")
        );
    }

    #[test]
    fn bad_windows_requirements_say_what_to_write() {
        let windows = |req: &str| {
            with_variants(&format!(
                "requires = {req}\n[packages.agent.windows]\nfile = \"dist/install.sh\"\n"
            ))
        };
        let p = problems(&windows("{ os = { build = \"22H2\" } }"));
        assert!(p[0].hint.as_deref().unwrap().contains("22621"), "{p:?}");
        let p = problems(&windows(
            "{ registry = { key = 'HKLM\\SOFTWARE\\Acme', value = \"On\", equals = true } }",
        ));
        assert!(p[0].message.contains("a number (a REG_DWORD"), "{p:?}");
        let p = problems(&windows(
            "{ registry = { key = 'HKCU\\Software\\Acme', value = \"On\" } }",
        ));
        assert_eq!(
            p[0].message,
            "`HKCU\\Software\\Acme` is not under a machine-wide hive"
        );
        let p = problems(&windows("{ command = \"a\\nb\" }"));
        assert_eq!(p[0].message, "the required command spans lines");
    }

    #[test]
    fn windows_requirements_and_variants_load() {
        let text = with_variants(
            "requires = { free_mib = 500, path = 'D:\\Apps', os = { build = \">=17763\" }, \
             registry = { key = 'HKLM\\SOFTWARE\\VMware, Inc.\\VCM', value = \"IsLocked\", equals = 0 }, \
             command = \"if exist C:\\\\x.lock exit /b 1\" }\n\
             [[packages.agent.windows]]\narch = [\"aarch64\"]\nos = { build = \">=22000\" }\nfile = \"dist/install.sh\"\n\n\
             [[packages.agent.windows]]\nfile = \"dist/install.sh\"\n",
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/install.sh"), "#!/bin/sh\n").unwrap();
        let inv = parse(&dir.path().join("inv.toml"), text).unwrap();
        let agent = &inv.packages["agent"];
        assert_eq!(
            agent.requires,
            [
                Requirement::FreeMib {
                    mib: 500,
                    path: r"D:\Apps".into()
                },
                Requirement::Build(VersionReq::parse(">=17763").unwrap()),
                Requirement::Registry {
                    key: r"HKLM\SOFTWARE\VMware, Inc.\VCM".into(),
                    value: "IsLocked".into(),
                    equals: Some(requires::RegistryData::Number(0)),
                    view: None,
                },
                Requirement::Command(r"if exist C:\x.lock exit /b 1".into()),
            ]
        );
        assert_eq!(
            agent.windows[0].when,
            [
                Requirement::Arch(vec!["aarch64".into()]),
                Requirement::Build(VersionReq::parse(">=22000").unwrap())
            ]
        );
        assert!(agent.windows[1].when.is_empty());
    }

    #[test]
    fn requirements_load_in_order_with_their_defaults() {
        let text = GOOD.replace(
            "reboot_codes = [3010]\n",
            "reboot_codes = [3010]\nrequires = { free_mib = 500, arch = [\"x86_64\", \"aarch64\"], \
             os = { id = [\"debian\"], version_id = \">= 12\" }, command = \"test ! -e /run/a.lock\" }\n",
        );
        let inv = parse(Path::new("/etc/p/inv.toml"), text).unwrap();
        assert_eq!(
            inv.packages["agent"].requires,
            [
                Requirement::FreeMib {
                    mib: 500,
                    path: "/".into()
                },
                Requirement::Arch(vec!["x86_64".into(), "aarch64".into()]),
                Requirement::Os {
                    ids: vec!["debian".into()],
                    version: Some(VersionReq::parse(">=12").unwrap())
                },
                Requirement::Command("test ! -e /run/a.lock".into()),
            ]
        );
    }

    #[test]
    fn bad_requirements_are_located_with_hints() {
        let with = |req: &str| {
            GOOD.replace(
                "reboot_codes = [3010]\n",
                &format!("reboot_codes = [3010]\nrequires = {req}\n"),
            )
        };
        let text = with(r#"{ os = { id = ["debian"], version_id = "=>12" } }"#);
        let p = problems(&text);
        assert_eq!(
            p[0].message,
            "cannot compare with `=>12`: `>12` is not a dotted number"
        );
        assert_eq!(line_col(&text, &p[0]), (15, 51));
        assert!(p[0].hint.as_deref().unwrap().contains(">=12"));

        let text = with("{ arch = [] }");
        let p = problems(&text);
        assert_eq!(
            (p[0].message.as_str(), line_col(&text, &p[0])),
            ("arch names no architecture", (15, 21))
        );

        let text = with("{ os = { id = [] } }");
        assert_eq!(problems(&text)[0].message, "id names no distribution");

        let text = with("{ free_mib = 0, path = \"opt\" }");
        let messages: Vec<String> = problems(&text).into_iter().map(|p| p.message).collect();
        assert_eq!(
            messages,
            [
                "free_mib must be a positive number of MiB",
                "`opt` is not an absolute path"
            ]
        );

        let text = with("{ arch = [\"x86_64\"], memory_mib = 4 }");
        let p = problems(&text);
        assert!(p[0].message.contains("memory_mib"), "{p:?}");
        assert_eq!(line_col(&text, &p[0]).0, 15);

        let text = with("{}");
        assert_eq!(problems(&text)[0].message, "requires is empty");

        // A package for both: arch and free space hold on both, a command cannot.
        let both = |req: &str| {
            with(req).replace(
                "reboot_codes = [3010]\n",
                "reboot_codes = [3010]\nwindows = { file = \"dist/install.sh\" }\n",
            )
        };
        let text = both("{ arch = [\"x86_64\"], free_mib = 10 }");
        parse(Path::new("inv.toml"), text)
            .map(|_| ())
            .unwrap_or_else(|e| {
                assert!(!e.to_string().contains("requires"), "{e}");
            });
        let text = both("{ command = \"true\" }");
        let p = problems(&text);
        assert_eq!(
            p[0].message,
            "one command cannot be required on Linux and Windows"
        );
        assert_eq!(line_col(&text, &p[0]), (16, 24));
        // A Windows-only key on a Linux package.
        let text = with("{ registry = { key = 'HKLM\\SOFTWARE\\Acme', value = \"Locked\" } }");
        let p = problems(&text);
        assert_eq!(p[0].message, "a registry requirement is for Windows hosts");
        assert_eq!(p[0].label, "this package installs on Linux");
    }

    #[test]
    fn plaintext_password_refused_unless_allowed() {
        let text = GOOD.replace("{ env = \"DEPLOY_PW\" }", "\"hunter2\"");
        assert_eq!(problems(&text)[0].message, "plain-text secret refused");
        let allowed = text.replace("[settings]", "[settings]\nallow_plaintext_secrets = true");
        assert!(parse(Path::new("inv.toml"), allowed).is_ok());
    }

    #[test]
    fn every_problem_is_collected() {
        let text = GOOD
            .replace("\"3s\"", "\"soon\"")
            .replace("os = \"linux\"", "os = \"solaris\"")
            .replace("web-[01-03]", "web-[03-01]");
        let messages: Vec<String> = problems(&text).into_iter().map(|p| p.message).collect();
        assert_eq!(
            messages,
            [
                "invalid duration `soon`",
                "bad host pattern: range `[03-01]` runs backwards",
                "unknown os `solaris`"
            ]
        );
    }

    #[test]
    fn every_unknown_key_is_reported_and_a_misspelt_secret_once() {
        let text = GOOD
            .replace("concurrency = 5", "concurency = 5\ncolour = 1")
            .replace("{ env = \"DEPLOY_PW\" }", "{ evn = \"DEPLOY_PW\" }")
            .replace("reboot_codes = [3010]", "reboot_code = [3010]");
        let messages: Vec<String> = problems(&text).into_iter().map(|p| p.message).collect();
        assert_eq!(
            messages,
            [
                "unknown key `concurency`",
                "unknown key `colour`",
                "unknown key `evn`",
                "unknown key `reboot_code`"
            ]
        );
    }

    #[test]
    fn a_bad_value_in_one_entry_does_not_hide_the_next() {
        let text = GOOD.replace("concurrency = 5", "concurrency = \"five\"")
            + "\n[groups.db]\nhosts = \"db-1\"\n\n[groups.app]\nhosts = [\"app-1\"]\ncredentials = [\"nobody\"]\n";
        let p = problems(&text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].message.contains("invalid type"), "{p:?}");
        assert!(p[1].message.contains("invalid type"), "{p:?}");
        assert_eq!(p[2].message, "unknown credential `nobody`");
    }

    #[test]
    fn an_empty_file_is_named() {
        for text in ["", "\n  \n", "# only a comment\n"] {
            let err = parse(Path::new("inv.toml"), text.to_string()).unwrap_err();
            assert!(matches!(err, InventoryError::Empty { .. }), "{err}");
            assert!(err.render(false).starts_with("error: inv.toml is empty"));
        }
    }

    #[test]
    fn rendered_report_has_file_line_column_and_hint() {
        let err = parse(Path::new("pushinst.toml"), "[settings]\nconcurency = 5\n".into()).unwrap_err();
        let text = err.render(false);
        assert!(text.contains("pushinst.toml:2:1"), "{text}");
        assert!(text.contains("concurency = 5"), "{text}");
        assert!(text.contains("did you mean `concurrency`?"), "{text}");
    }

    #[test]
    fn a_group_cycle_is_refused_where_it_closes_with_its_path() {
        let text = "[groups.a]\nhosts = [\"a-1\", \"b\"]\n\n[groups.b]\nhosts = [\"b-1\", \"a\"]\n\n[groups.c]\nhosts = [\"c\"]\n";
        let err = parse(Path::new("pushinst.toml"), text.into()).unwrap_err();
        let text = err.render(false);
        assert!(text.contains("group `a` includes itself: a → b → a"), "{text}");
        assert!(text.contains("pushinst.toml:5:17"), "{text}");
        assert!(text.contains("1 problem(s)"), "{text}");
        // A group named like its one host holds that host, not itself.
        let nas = "[groups.nas]\nhosts = [\"nas\"]\n";
        let inv = parse(Path::new("pushinst.toml"), nas.into()).unwrap();
        let hosts: Vec<String> = inv.groups["nas"].hosts.iter().map(|h| h.to_string()).collect();
        assert_eq!(hosts, ["nas"]);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut text = String::new();
        for level in 0..=nesting::MAX_DEPTH {
            text += &format!("[groups.g{level}]\nhosts = [\"g{}\"]\n", level + 1);
        }
        text += &format!("[groups.g{}]\nhosts = [\"leaf\"]\n", nesting::MAX_DEPTH + 1);
        let err = parse(Path::new("pushinst.toml"), text).unwrap_err();
        assert!(err.render(false).contains("nested more than 32 deep"));
    }

    #[test]
    fn a_misspelt_smb_rule_names_its_place_and_the_risk() {
        let text = "[groups.nas]\nhosts = [\"nas\"]\nsmb_signing = \"allow-tamper\"\n";
        let err = parse(Path::new("pushinst.toml"), text.into()).unwrap_err();
        let text = err.render(false);
        assert!(text.contains("pushinst.toml:3:15"), "{text}");
        assert!(text.contains("unknown smb_signing `allow-tamper`"), "{text}");
        assert!(text.contains("did you mean `allow-tampering`?"), "{text}");
        assert!(text.contains("anyone on the network path"), "{text}");
    }

    #[test]
    fn a_misspelt_windows_auth_names_its_place_and_the_choices() {
        let text = "[credentials.d]\nuser = 'D\\u'\npassword = { env = \"P\" }\nauth = \"kerberus\"\n";
        let err = parse(Path::new("pushinst.toml"), text.into()).unwrap_err();
        let text = err.render(false);
        assert!(text.contains("pushinst.toml:4:8"), "{text}");
        assert!(text.contains("unknown auth `kerberus`"), "{text}");
        assert!(text.contains("did you mean `kerberos`?"), "{text}");
    }

    #[test]
    fn a_keytab_is_a_way_to_log_in_and_kerberos_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u.keytab"), [5, 2]).unwrap();
        let text = "[credentials.d]\nuser = 'u@EX.TEST'\nkeytab = \"u.keytab\"\n";
        let inv = parse(&dir.path().join("pushinst.toml"), text.into()).unwrap();
        assert_eq!(inv.credentials["d"].keytab, Some(dir.path().join("u.keytab")));
        let err = parse(
            &dir.path().join("pushinst.toml"),
            format!("{text}auth = \"ntlm\"\n"),
        )
        .unwrap_err();
        let text = err.render(false);
        assert!(text.contains("pushinst.toml:3:10"), "{text}");
        assert!(text.contains("a keytab logs on with Kerberos"), "{text}");
    }

    #[test]
    fn a_staging_dir_must_be_a_plain_absolute_path() {
        for (value, words) in [
            ("tmp/pushinst", "must be an absolute path"),
            ("/srv/my dir", "letters, digits"),
            ("/srv/$(id)", "letters, digits"),
            ("/var/tmp/../etc", "`.` or `..` steps"),
        ] {
            let text = format!("[settings]\nstaging_dir = \"{value}\"\n");
            let err = parse(Path::new("pushinst.toml"), text).unwrap_err();
            let text = err.render(false);
            assert!(text.contains("pushinst.toml:2:15"), "{text}");
            assert!(text.contains(words), "{value}: {text}");
            assert!(text.contains("such as \"/var/tmp\""), "{text}");
        }
        let ok = parse(
            Path::new("pushinst.toml"),
            "[settings]\nstaging_dir = \"/var//tmp/\"\n".into(),
        )
        .unwrap();
        assert_eq!(
            ok.settings.staging_dir.as_ref().map(|d| d.as_str()),
            Some("/var/tmp")
        );
    }

    #[test]
    fn a_secret_command_must_name_a_program() {
        let text = "[credentials.a]\nuser = \"u\"\npassword = { command = [] }\n";
        let err = parse(Path::new("pushinst.toml"), text.into()).unwrap_err();
        let text = err.render(false);
        assert!(text.contains("pushinst.toml:3:12"), "{text}");
        assert!(text.contains("`command` names no program"), "{text}");
        let ok = "[credentials.a]\nuser = \"u\"\npassword = { command = [\"pass\", \"show\", \"x\"] }\n";
        let inv = parse(Path::new("pushinst.toml"), ok.into()).unwrap();
        assert_eq!(
            inv.credentials["a"].password,
            Some(SecretSource::Command(vec![
                "pass".into(),
                "show".into(),
                "x".into()
            ]))
        );
    }
}
