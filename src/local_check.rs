//! What `--dry-run` can check on this machine without touching a host: the files a
//! plan uploads, the keys and secrets its credentials use, and the known_hosts file.
//!
//! Nothing here prompts, and no secret value is ever put into a problem: a secret is
//! read by the same code a run uses (`SecretSource::check`) and dropped at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::inventory::{CredentialDef, HostKeyPolicy, Inventory};
use crate::secrets::{SecretError, SecretSource};

#[derive(Debug, Default)]
pub struct LocalCheck {
    pub problems: Vec<LocalProblem>,
    /// Credential names whose secret will be asked for at run start.
    pub prompts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProblem {
    /// What the problem is about: "credential `deploy`", "package `agent`", "known_hosts".
    pub subject: String,
    pub problem: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for LocalProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// Everything that can be checked without touching a host, for the credentials and packages a plan uses.
pub fn check(inv: &Inventory, credentials: &[String], packages: &[String], uses_ssh: bool) -> LocalCheck {
    let mut out = LocalCheck::default();
    for name in dedup(packages) {
        let subject = format!("package `{name}`");
        let Some(package) = inv.packages.get(name) else {
            out.problem(&subject, "not in the inventory", None);
            continue;
        };
        for variant in package.linux.iter().chain(&package.windows) {
            // A folder was walked and bounded at load; its files are read at upload.
            if variant.entry.is_none() {
                out.upload_file(&subject, "installer", &variant.file);
            }
            if let Some(config) = &variant.config {
                out.upload_file(&subject, "config file", config);
            }
        }
    }
    for name in dedup(credentials) {
        let subject = format!("credential `{name}`");
        let Some(credential) = inv.credentials.get(name) else {
            out.problem(&subject, "not in the inventory", None);
            continue;
        };
        out.credential(&subject, credential);
    }
    if uses_ssh {
        out.known_hosts(inv);
    }
    out
}

fn dedup(names: &[String]) -> impl Iterator<Item = &String> {
    names
        .iter()
        .enumerate()
        .filter(|(i, n)| !names[..*i].contains(n))
        .map(|(_, n)| n)
}

impl LocalCheck {
    fn problem(&mut self, subject: &str, problem: impl Into<String>, hint: Option<String>) {
        self.problems.push(LocalProblem {
            subject: subject.to_string(),
            problem: problem.into(),
            hint,
        });
    }

    /// An installer or config file: a regular file this user can read.
    fn upload_file(&mut self, subject: &str, what: &str, path: &Path) {
        let shown = path.display();
        match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => self.problem(
                subject,
                format!("{what} {shown} does not exist"),
                Some("paths in the inventory are relative to the inventory file".to_string()),
            ),
            Err(err) => self.problem(subject, format!("cannot read {what} {shown}: {err}"), None),
            Ok(meta) if meta.is_dir() => self.problem(
                subject,
                format!("{what} {shown} is a directory"),
                Some("name the file itself".to_string()),
            ),
            Ok(meta) if !meta.is_file() => {
                self.problem(subject, format!("{what} {shown} is not a regular file"), None)
            }
            Ok(_) => {
                if let Err(err) = std::fs::File::open(path) {
                    self.problem(subject, format!("cannot read {what} {shown}: {err}"), None);
                }
            }
        }
    }

    fn credential(&mut self, subject: &str, credential: &CredentialDef) {
        if let Some(key) = &credential.key {
            self.key_file(subject, key);
        }
        if let Some(keytab) = &credential.keytab {
            self.upload_file(subject, "keytab", keytab);
        }
        let secrets = [
            ("password", &credential.password),
            ("key passphrase", &credential.passphrase),
            ("sudo password", &credential.sudo_password),
        ];
        for (what, source) in secrets {
            match source {
                None => {}
                Some(SecretSource::Prompt) if self.prompts.contains(&credential.name) => {}
                Some(SecretSource::Prompt) => self.prompts.push(credential.name.clone()),
                Some(source) => {
                    if let Err(err) = source.check() {
                        let hint = secret_hint(&err);
                        self.problem(subject, format!("{what} from {source}: {err}"), hint);
                    }
                }
            }
        }
    }

    /// A private key: a file this user can read and nobody else can (OpenSSH refuses
    /// an "UNPROTECTED PRIVATE KEY FILE" too).
    fn key_file(&mut self, subject: &str, path: &Path) {
        let shown = path.display();
        let meta = match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return self.problem(
                    subject,
                    format!("key file {shown} does not exist"),
                    Some(format!(
                        "create it with `ssh-keygen -t ed25519 -f {shown}` and put the .pub on the hosts, or fix the path"
                    )),
                );
            }
            Err(err) => return self.problem(subject, format!("cannot read key file {shown}: {err}"), None),
            Ok(meta) => meta,
        };
        if !meta.is_file() {
            return self.problem(subject, format!("key file {shown} is not a regular file"), None);
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            self.problem(
                subject,
                format!("key file {shown} is readable by others (mode {mode:o})"),
                Some(format!("chmod 600 {shown}")),
            );
        }
        if let Err(err) = std::fs::File::open(path) {
            self.problem(subject, format!("cannot read key file {shown}: {err}"), None);
        }
    }

    fn known_hosts(&mut self, inv: &Inventory) {
        // The file a run would read, by the run's own rule.
        let path = crate::wiring::known_hosts(inv);
        let shown = path.display();
        let subject = "known_hosts";
        match std::fs::metadata(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                if inv.settings.host_key_policy == HostKeyPolicy::Strict {
                    self.problem(
                        subject,
                        format!("{shown} does not exist, so with host_key_policy = \"strict\" every host would be refused"),
                        Some(format!(
                            "add the hosts' keys with `ssh-keyscan HOST >> {shown}` (and check them), or set host_key_policy = \"accept-new\" to record them on first contact"
                        )),
                    );
                }
            }
            Err(err) => self.problem(subject, format!("cannot read {shown}: {err}"), None),
            Ok(meta) if !meta.is_file() => {
                self.problem(subject, format!("{shown} is not a regular file"), None)
            }
            Ok(_) => {
                if let Err(err) = std::fs::File::open(&path) {
                    self.problem(subject, format!("cannot read {shown}: {err}"), None);
                }
            }
        }
    }
}

fn secret_hint(err: &SecretError) -> Option<String> {
    match err {
        SecretError::EnvMissing(var) => Some(format!("export {var} before the run, or name another source")),
        SecretError::FileRead { .. } => {
            Some("paths in the inventory are relative to the inventory file".to_string())
        }
        SecretError::FileMode { path, .. } => Some(format!("chmod 600 {}", path.display())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::path::PathBuf;

    /// An inventory in `dir` whose package and credential names the files given.
    fn inventory(dir: &Path, extra_settings: &str, credential: &str) -> Inventory {
        std::fs::create_dir_all(dir.join("dist")).unwrap();
        let text = format!(
            "[settings]\n{extra_settings}\n\n[credentials.deploy]\nuser = \"deploy\"\n{credential}\n\n\
             [packages.agent]\nlinux = {{ file = \"dist/install.sh\", config = \"dist/agent.conf\" }}\n\
             windows = {{ file = \"dist/Setup.exe\" }}\n\n\
             [groups.web]\nhosts = [\"web-1\"]\nos = \"linux\"\ncredentials = [\"deploy\"]\n"
        );
        let path = dir.join("inv.toml");
        std::fs::write(&path, text).unwrap();
        crate::inventory::load(&path).unwrap()
    }

    fn files(dir: &Path) {
        std::fs::create_dir_all(dir.join("dist")).unwrap();
        for f in [
            "dist/install.sh",
            "dist/agent.conf",
            "dist/Setup.exe",
            "known_hosts",
        ] {
            std::fs::write(dir.join(f), "x\n").unwrap();
        }
    }

    fn run(inv: &Inventory) -> LocalCheck {
        check(inv, &["deploy".into()], &["agent".into()], true)
    }

    fn key(dir: &Path, mode: u32) -> PathBuf {
        let path = dir.join("id_test");
        std::fs::write(&path, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_key_is_fine_and_a_shared_one_is_flagged() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let path = key(dir.path(), 0o600);
        let inv = inventory(dir.path(), "known_hosts = \"known_hosts\"", "key = \"id_test\"");
        let result = run(&inv);
        assert_eq!(result.problems, [], "everything is in place");
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let result = run(&inv);
        assert_eq!(result.problems.len(), 1, "{:?}", result.problems);
        let p = &result.problems[0];
        assert_eq!(p.subject, "credential `deploy`");
        assert!(p.problem.contains("readable by others (mode 644)"), "{p}");
        assert_eq!(p.hint, Some(format!("chmod 600 {}", path.display())));
        assert_eq!(
            p.to_string(),
            format!(
                "credential `deploy`: key file {} is readable by others (mode 644)",
                path.display()
            )
        );
    }

    #[test]
    fn a_directory_as_installer_and_a_missing_variant_file_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        key(dir.path(), 0o600);
        let inv = inventory(dir.path(), "known_hosts = \"known_hosts\"", "key = \"id_test\"");
        // Replaced after loading: the load would refuse a directory itself.
        std::fs::remove_file(dir.path().join("dist/install.sh")).unwrap();
        std::fs::create_dir(dir.path().join("dist/install.sh")).unwrap();
        std::fs::remove_file(dir.path().join("dist/Setup.exe")).unwrap();
        let problems: Vec<String> = run(&inv).problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("package `agent`: installer ") && problems[0].ends_with("is a directory")
        );
        assert!(
            problems[1].contains("Setup.exe does not exist"),
            "every OS variant is checked: {problems:?}"
        );
    }

    #[test]
    fn an_unset_env_var_is_flagged_and_a_prompt_is_listed_not_asked() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let inv = inventory(
            dir.path(),
            "known_hosts = \"known_hosts\"",
            "password = { prompt = true }\nsudo = true\nsudo_password = { env = \"PUSHINST_TEST_NEVER_SET\" }",
        );
        let result = run(&inv);
        assert_eq!(result.prompts, ["deploy"]);
        assert_eq!(result.problems.len(), 1, "{:?}", result.problems);
        let p = &result.problems[0];
        assert_eq!(
            p.to_string(),
            "credential `deploy`: sudo password from env PUSHINST_TEST_NEVER_SET: environment variable `PUSHINST_TEST_NEVER_SET` is not set"
        );
        assert!(
            p.hint
                .as_deref()
                .unwrap()
                .contains("export PUSHINST_TEST_NEVER_SET")
        );
    }

    #[test]
    fn a_shared_secret_file_is_flagged_without_its_value() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "s3cret-value\n").unwrap();
        std::fs::set_permissions(&secret, Permissions::from_mode(0o644)).unwrap();
        let inv = inventory(
            dir.path(),
            "known_hosts = \"known_hosts\"",
            "password = { file = \"pw\" }",
        );
        let result = run(&inv);
        assert_eq!(result.problems.len(), 1, "{:?}", result.problems);
        let shown = format!("{} {:?}", result.problems[0], result.problems[0]);
        assert!(shown.contains("mode 644") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn missing_known_hosts_is_a_problem_only_under_strict() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let credential = "password = { prompt = true }";
        let strict = inventory(dir.path(), "known_hosts = \"nowhere/known_hosts\"", credential);
        let result = run(&strict);
        assert_eq!(result.problems.len(), 1, "{:?}", result.problems);
        assert_eq!(result.problems[0].subject, "known_hosts");
        assert!(result.problems[0].problem.contains("every host would be refused"));
        assert!(
            result.problems[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("ssh-keyscan")
        );
        assert!(
            check(&strict, &["deploy".into()], &["agent".into()], false)
                .problems
                .is_empty(),
            "no SSH host in the plan, no known_hosts needed"
        );
        let accept_new = inventory(
            dir.path(),
            "known_hosts = \"nowhere/known_hosts\"\nhost_key_policy = \"accept-new\"",
            credential,
        );
        assert!(run(&accept_new).problems.is_empty());
    }

    #[test]
    fn the_shipped_example_needs_nothing_for_its_dry_run() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let inv = crate::inventory::load(&root.join("examples/inventory.toml")).unwrap();
        let credentials = &inv.groups["web-servers"].credentials;
        let result = check(&inv, credentials, &["acme-agent".into()], true);
        assert_eq!(result.problems, [], "the README's dry run is clean");
        assert_eq!(result.prompts, ["linux-fallback"]);
    }

    #[test]
    fn names_the_plan_does_not_know_are_problems_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let inv = inventory(dir.path(), "known_hosts = \"known_hosts\"", "agent = true");
        let result = check(&inv, &["ghost".into()], &["phantom".into()], false);
        let shown: Vec<String> = result.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "package `phantom`: not in the inventory",
                "credential `ghost`: not in the inventory"
            ]
        );
    }
}
