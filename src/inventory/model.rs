//! The TOML shape of an inventory, as serde sees it.
//!
//! Every table refuses unknown keys so a typo is an error with a location, not a
//! silently ignored setting. Names that other tables refer to keep their spans, so
//! validation can point at the exact reference that is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    #[serde(default)]
    pub settings: RawSettings,
    #[serde(default)]
    pub credentials: BTreeMap<String, Spanned<RawCredential>>,
    #[serde(default)]
    pub packages: BTreeMap<String, Spanned<RawPackage>>,
    #[serde(default)]
    pub groups: BTreeMap<String, Spanned<RawGroup>>,
    #[serde(default)]
    pub hosts: Vec<Spanned<RawHost>>,
    #[serde(default)]
    pub jobs: BTreeMap<String, Spanned<RawJob>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub concurrency: Option<Spanned<i64>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub auth_timeout: Option<Spanned<String>>,
    pub upload_timeout: Option<Spanned<String>>,
    pub exec_timeout: Option<Spanned<String>>,
    pub cleanup_timeout: Option<Spanned<String>>,
    pub host_timeout: Option<Spanned<String>>,
    pub host_key_policy: Option<Spanned<String>>,
    pub known_hosts: Option<Spanned<String>>,
    pub allow_plaintext_secrets: Option<bool>,
    pub log_dir: Option<Spanned<String>>,
    /// The history database.
    pub state: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub reboot_delay: Option<Spanned<String>>,
    pub reboot_message: Option<Spanned<String>>,
    /// Windows: how the installer is run, "service" or "task".
    pub exec: Option<Spanned<String>>,
    /// Windows: how long the wrapper may take to show it started.
    pub start_timeout: Option<Spanned<String>>,
    /// Windows: "required" (default) or "allow-tampering".
    pub smb_signing: Option<Spanned<String>>,
    /// Windows: "when-supported" (default), "required" or "off".
    pub smb_encryption: Option<Spanned<String>>,
    /// Linux: where staging directories are made instead of the login home.
    pub staging_dir: Option<Spanned<String>>,
    /// SSH algorithm lists in OpenSSH's syntax (`a,b`, `+a`, `-a`, `^a`).
    pub kex_algorithms: Option<Spanned<String>>,
    pub host_key_algorithms: Option<Spanned<String>>,
    pub ciphers: Option<Spanned<String>>,
    pub macs: Option<Spanned<String>>,
    pub pubkey_algorithms: Option<Spanned<String>>,
    /// For hosts named on the command line that no group or `[[hosts]]` entry knows.
    pub os: Option<Spanned<String>>,
    pub credentials: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredential {
    pub user: Spanned<String>,
    pub password: Option<Spanned<RawSecret>>,
    pub key: Option<Spanned<String>>,
    pub passphrase: Option<Spanned<RawSecret>>,
    /// An OpenSSH user certificate for `key` (`id_ed25519-cert.pub`).
    pub certificate: Option<Spanned<String>>,
    #[serde(default)]
    pub agent: bool,
    #[serde(default)]
    pub sudo: bool,
    pub sudo_password: Option<Spanned<RawSecret>>,
    /// Windows: "negotiate" (default), "kerberos" or "ntlm".
    pub auth: Option<Spanned<String>>,
    /// Windows: the Kerberos KDC, `host` or `host:port`.
    pub kdc: Option<Spanned<String>>,
    /// Windows: the Kerberos realm when the user is written `DOMAIN\user`.
    pub realm: Option<Spanned<String>>,
    /// Windows: a keytab file holding the user's Kerberos key (instead of a password).
    pub keytab: Option<Spanned<String>>,
}

/// A secret is either written inline (refused unless allowed) or names where to get it.
#[derive(Debug)]
pub enum RawSecret {
    Plain(String),
    Source(RawSecretSource),
}

/// Said when a secret is neither a string nor a table: our own words, so nobody
/// has to recognise serde's.
pub const SECRET_HINT: &str = "write one of { env = \"VAR\" }, { file = \"path\" } (mode 0600), { prompt = true }, { keyring = \"name\" }, { command = [\"pass\", \"show\", \"NAME\"] }";

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawSecret;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a secret source: {SECRET_HINT}")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSecret, E> {
                Ok(RawSecret::Plain(v.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawSecret, A::Error> {
                RawSecretSource::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawSecret::Source)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecretSource {
    pub env: Option<String>,
    pub file: Option<String>,
    pub prompt: Option<bool>,
    pub keyring: Option<String>,
    /// A program and its arguments, run without a shell; its first line is the secret.
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    pub version: Option<String>,
    pub windows: Option<Spanned<RawVariants>>,
    pub linux: Option<Spanned<RawVariants>>,
    pub success_codes: Option<Vec<i32>>,
    pub reboot_codes: Option<Vec<i32>>,
    pub timeout: Option<Spanned<String>>,
    pub reboot: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub requires: Option<Spanned<RawRequires>>,
}

/// `requires = { free_mib = 500, path = "/opt", arch = […], os = { … }, command = "…" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequires {
    pub free_mib: Option<Spanned<i64>>,
    pub path: Option<Spanned<String>>,
    pub arch: Option<Spanned<Vec<String>>>,
    pub os: Option<Spanned<RawOsRequires>>,
    pub command: Option<Spanned<String>>,
    /// Windows: `registry = { key = 'HKLM\…', value = "IsLocked", equals = 0 }`.
    pub registry: Option<Spanned<RawRegistryRequires>>,
}

/// A registry value a Windows host must have (and hold, with `equals`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistryRequires {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
    pub equals: Option<Spanned<RawRegistryData>>,
    pub view: Option<Spanned<i64>>,
}

/// `equals = 0` or `equals = "yes"`.
#[derive(Debug)]
pub enum RawRegistryData {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawRegistryData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = RawRegistryData;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number (a REG_DWORD or REG_QWORD: equals = 0) or a string (equals = \"yes\")")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawRegistryData, E> {
                Ok(RawRegistryData::Number(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawRegistryData, E> {
                i64::try_from(v)
                    .map(RawRegistryData::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawRegistryData, E> {
                Ok(RawRegistryData::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOsRequires {
    pub id: Option<Spanned<Vec<String>>>,
    pub version_id: Option<Spanned<String>>,
    /// Windows: `build = ">=17763"` (CurrentBuildNumber, `.UBR` when written).
    pub build: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVariant {
    pub file: Spanned<String>,
    #[serde(default)]
    pub args: Vec<String>,
    pub config: Option<Spanned<String>>,
    pub detect: Option<Spanned<RawDetect>>,
    pub timeout: Option<Spanned<String>>,
    /// How `pushinst remove` takes this variant off a host again.
    pub uninstall: Option<Spanned<RawUninstall>>,
    /// Which hosts this variant is for: `uname -m` values.
    pub arch: Option<Spanned<Vec<String>>>,
    /// Which hosts this variant is for: `/etc/os-release` ID and VERSION_ID.
    pub os: Option<Spanned<RawOsRequires>>,
    /// When `file` is a folder: the file in it to run.
    pub entry: Option<Spanned<String>>,
}

/// `[packages.X.linux]` (one installer) or `[[packages.X.linux]]` (variants, the
/// first whose `arch`/`os` match a host is used).
#[derive(Debug)]
pub enum RawVariants {
    One(Box<RawVariant>),
    Many(Vec<Spanned<RawVariant>>),
}

impl<'de> Deserialize<'de> for RawVariants {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawVariants;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "an installer table `{ file = \"…\" }`, or an array of them ([[packages.X.linux]])",
                )
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawVariants, A::Error> {
                RawVariant::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|v| RawVariants::One(Box::new(v)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RawVariants, A::Error> {
                Vec::<Spanned<RawVariant>>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RawVariants::Many)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `[packages.X.linux.uninstall]`: `command` (a program already on the host) or
/// `file` (uploaded and run like the installer), never both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUninstall {
    pub command: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub args: Vec<String>,
    pub success_codes: Option<Vec<i32>>,
    pub timeout: Option<Spanned<String>>,
    /// Run `detect` again afterwards (default true when the variant has a detect).
    pub verify: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub hosts: Vec<Spanned<String>>,
    pub os: Option<Spanned<String>>,
    #[serde(default)]
    pub credentials: Vec<Spanned<String>>,
    /// Windows: "service" (default) or "task".
    pub exec: Option<Spanned<String>>,
    pub smb_signing: Option<Spanned<String>>,
    pub smb_encryption: Option<Spanned<String>>,
    pub staging_dir: Option<Spanned<String>>,
    pub start_timeout: Option<Spanned<String>>,
    /// SSH algorithm lists in OpenSSH's syntax (`a,b`, `+a`, `-a`, `^a`).
    pub kex_algorithms: Option<Spanned<String>>,
    pub host_key_algorithms: Option<Spanned<String>>,
    pub ciphers: Option<Spanned<String>>,
    pub macs: Option<Spanned<String>>,
    pub pubkey_algorithms: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Spanned<String>,
    /// Where to connect when the name does not resolve (or should not be used).
    pub address: Option<String>,
    pub port: Option<u16>,
    pub os: Option<Spanned<String>>,
    pub credentials: Option<Vec<Spanned<String>>>,
    pub exec: Option<Spanned<String>>,
    pub smb_signing: Option<Spanned<String>>,
    pub smb_encryption: Option<Spanned<String>>,
    pub staging_dir: Option<Spanned<String>>,
    pub start_timeout: Option<Spanned<String>>,
    /// SSH algorithm lists in OpenSSH's syntax (`a,b`, `+a`, `-a`, `^a`).
    pub kex_algorithms: Option<Spanned<String>>,
    pub host_key_algorithms: Option<Spanned<String>>,
    pub ciphers: Option<Spanned<String>>,
    pub macs: Option<Spanned<String>>,
    pub pubkey_algorithms: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    #[serde(default)]
    pub package: Option<Spanned<String>>,
    #[serde(default)]
    pub packages: Vec<Spanned<String>>,
    pub targets: Vec<Spanned<String>>,
    pub reboot: Option<Spanned<String>>,
}

/// `detect = "command"`, or on Windows `detect = { registry = 'HKLM\…', value = "…",
/// min_version = "…" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDetect {
    Command(String),
    Registry(RawRegistryDetect),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistryDetect {
    pub registry: String,
    pub value: String,
    pub min_version: Option<String>,
    /// 32 or 64: which registry view on 64-bit Windows.
    pub view: Option<i64>,
}

/// The five SSH algorithm settings of one level, in `algorithms::Kind::ALL` order.
pub type RawAlgorithms = [Option<Spanned<String>>; 5];

macro_rules! take_algorithms {
    ($raw:expr) => {
        [
            $raw.kex_algorithms.take(),
            $raw.host_key_algorithms.take(),
            $raw.ciphers.take(),
            $raw.macs.take(),
            $raw.pubkey_algorithms.take(),
        ]
    };
}
pub(crate) use take_algorithms;
