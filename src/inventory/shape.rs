//! From the parsed TOML tree to the serde model, collecting every problem on the way.
//!
//! serde stops at the first problem, so the tree is checked in two passes: first every
//! table's keys against the keys its model struct knows (all unknown keys are reported,
//! then dropped), then each entry (`[credentials.X]`, `[packages.Y]`, one `[[hosts]]`
//! item …) is deserialized on its own, so a bad value in one entry does not hide the
//! problems of the next. The known keys are read from the serde derives themselves, so
//! the check cannot drift from the model.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostic::Problem;
use super::model::*;
use super::suggest::{list, nearest};

/// The names other tables may refer to, taken from the file even when an entry is
/// broken: a reference to a broken credential is not also "unknown".
#[derive(Debug, Default)]
pub struct Names {
    pub credentials: Vec<String>,
    pub packages: Vec<String>,
    pub groups: Vec<String>,
    /// Secrets that had unknown keys (already reported): an empty one is not reported
    /// again as naming no source.
    pub misspelt_secrets: Vec<std::ops::Range<usize>>,
}

pub fn read(mut doc: DeTable<'_>, problems: &mut Vec<Problem>) -> (RawInventory, Names) {
    let misspelt_secrets = check_keys(&mut doc, problems);
    let names = Names {
        misspelt_secrets,
        credentials: keys_of(&doc, "credentials"),
        packages: keys_of(&doc, "packages"),
        groups: keys_of(&doc, "groups"),
    };
    let settings = match doc.get("settings") {
        Some(value) => one::<RawSettings>(value, problems).unwrap_or_default(),
        None => RawSettings::default(),
    };
    let raw = RawInventory {
        settings,
        credentials: entries(&doc, "credentials", problems),
        packages: entries(&doc, "packages", problems),
        groups: entries(&doc, "groups", problems),
        hosts: items(&doc, "hosts", problems),
        jobs: entries(&doc, "jobs", problems),
    };
    (raw, names)
}

fn keys_of(doc: &DeTable<'_>, section: &str) -> Vec<String> {
    match doc.get(section).map(|v| v.get_ref()) {
        Some(DeValue::Table(table)) => table.keys().map(|k| k.get_ref().to_string()).collect(),
        _ => Vec::new(),
    }
}

fn one<T: for<'de> Deserialize<'de>>(value: &Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Option<T> {
    let mut value = value.clone();
    value.get_mut().make_owned();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(err) => {
            problems.push(super::load::syntax_problem(&err));
            None
        }
    }
}

/// `[section.NAME]` tables, each read on its own.
fn entries<T: for<'de> Deserialize<'de>>(
    doc: &DeTable<'_>,
    section: &str,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Spanned<T>> {
    let Some(value) = doc.get(section) else {
        return BTreeMap::new();
    };
    match value.get_ref() {
        DeValue::Table(table) => table
            .iter()
            .filter_map(|(name, entry)| Some((name.get_ref().to_string(), one(entry, problems)?)))
            .collect(),
        _ => one(value, problems).unwrap_or_default(),
    }
}

/// `[[section]]` items, each read on its own.
fn items<T: for<'de> Deserialize<'de>>(
    doc: &DeTable<'_>,
    section: &str,
    problems: &mut Vec<Problem>,
) -> Vec<Spanned<T>> {
    let Some(value) = doc.get(section) else {
        return Vec::new();
    };
    match value.get_ref() {
        DeValue::Array(array) => array.iter().filter_map(|item| one(item, problems)).collect(),
        _ => one(value, problems).unwrap_or_default(),
    }
}

/// Report every unknown key of every table the model knows, and drop them.
fn check_keys(doc: &mut DeTable<'_>, problems: &mut Vec<Problem>) -> Vec<std::ops::Range<usize>> {
    let mut misspelt_secrets = Vec::new();
    strip(doc, fields_of::<RawInventory>(), "at the top level", problems);
    if let Some(settings) = table_mut(doc, "settings") {
        strip(settings, fields_of::<RawSettings>(), "in [settings]", problems);
    }
    for (name, credential) in named_tables(doc, "credentials") {
        strip(
            credential,
            fields_of::<RawCredential>(),
            &format!("in [credentials.{name}]"),
            problems,
        );
        for secret in ["password", "passphrase", "sudo_password"] {
            let span = credential.get(secret).map(|v| v.span());
            if let Some(source) = table_mut(credential, secret)
                && strip(source, fields_of::<RawSecretSource>(), "in a secret", problems)
            {
                misspelt_secrets.extend(span);
            }
        }
    }
    for (name, package) in named_tables(doc, "packages") {
        strip(
            package,
            fields_of::<RawPackage>(),
            &format!("in [packages.{name}]"),
            problems,
        );
        for os in ["linux", "windows"] {
            for variant in variant_tables(package, os) {
                strip(
                    variant,
                    fields_of::<RawVariant>(),
                    &format!("in the {os} installer of `{name}`"),
                    problems,
                );
                if let Some(detect) = table_mut(variant, "detect") {
                    strip(
                        detect,
                        fields_of::<RawRegistryDetect>(),
                        "in a registry check",
                        problems,
                    );
                }
                if let Some(uninstall) = table_mut(variant, "uninstall") {
                    strip(
                        uninstall,
                        fields_of::<RawUninstall>(),
                        &format!("in the {os} uninstall of `{name}`"),
                        problems,
                    );
                }
            }
        }
    }
    for (name, group) in named_tables(doc, "groups") {
        strip(
            group,
            fields_of::<RawGroup>(),
            &format!("in [groups.{name}]"),
            problems,
        );
    }
    if let Some(DeValue::Array(hosts)) = doc.get_mut("hosts").map(|v| v.get_mut()) {
        for host in hosts.iter_mut() {
            if let DeValue::Table(host) = host.get_mut() {
                strip(host, fields_of::<RawHost>(), "in [[hosts]]", problems);
            }
        }
    }
    for (name, job) in named_tables(doc, "jobs") {
        strip(job, fields_of::<RawJob>(), &format!("in [jobs.{name}]"), problems);
    }
    misspelt_secrets
}

/// `[packages.X.OS]` or each `[[packages.X.OS]]`.
fn variant_tables<'t, 'i>(package: &'t mut DeTable<'i>, os: &str) -> Vec<&'t mut DeTable<'i>> {
    match package.get_mut(os).map(|v| v.get_mut()) {
        Some(DeValue::Table(t)) => vec![t],
        Some(DeValue::Array(items)) => items
            .iter_mut()
            .filter_map(|item| match item.get_mut() {
                DeValue::Table(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn table_mut<'t, 'i>(table: &'t mut DeTable<'i>, key: &str) -> Option<&'t mut DeTable<'i>> {
    match table.get_mut(key)?.get_mut() {
        DeValue::Table(t) => Some(t),
        _ => None,
    }
}

fn named_tables<'t, 'i>(doc: &'t mut DeTable<'i>, section: &str) -> Vec<(String, &'t mut DeTable<'i>)> {
    let Some(section) = table_mut(doc, section) else {
        return Vec::new();
    };
    section
        .iter_mut()
        .filter_map(|(name, value)| match value.get_mut() {
            DeValue::Table(t) => Some((name.get_ref().to_string(), t)),
            _ => None,
        })
        .collect()
}

/// Whether any key was unknown.
fn strip(
    table: &mut DeTable<'_>,
    known: &'static [&'static str],
    place: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    let unknown: Vec<(String, std::ops::Range<usize>)> = table
        .keys()
        .filter(|k| !known.contains(&k.get_ref().as_ref()))
        .map(|k| (k.get_ref().to_string(), k.span()))
        .collect();
    for (key, span) in &unknown {
        let hint = match nearest(key, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("valid keys {place}: {}", list(known.iter().copied())),
        };
        problems.push(
            Problem::at(span.clone(), format!("unknown key `{key}`"))
                .label("not a key here")
                .hint(hint),
        );
    }
    for (key, _) in &unknown {
        table.remove(key.as_str());
    }
    !unknown.is_empty()
}

/// The field names serde's derive gives a struct: asked of the derive itself, by a
/// deserializer that only listens to `deserialize_struct`.
pub fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names read")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_derive() {
        assert!(fields_of::<RawInventory>().contains(&"packages"));
        assert!(fields_of::<RawSettings>().contains(&"smb_encryption"));
        assert!(fields_of::<RawVariant>().contains(&"config"));
        assert_eq!(
            fields_of::<RawRegistryDetect>(),
            ["registry", "value", "min_version", "view"]
        );
    }
}
