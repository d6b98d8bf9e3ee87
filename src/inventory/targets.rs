//! `--to` resolution: groups, hosts, ranges, CIDR blocks and `!` exclusions become an
//! ordered, de-duplicated list of targets, each with its OS and credentials settled.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::ssh::algorithms::Algorithms;

use super::pattern::{self, HostAddr, PatternError};
use super::suggest::{list, nearest};
use super::{
    AlgorithmKind, Group, GroupEntry, HostOverride, Inventory, Os, SmbEncryption, SmbSigning, StagingDir,
    WindowsExec,
};

/// A host that is ready to plan: where to connect, what it runs, who to log in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name the admin knows it by (and known_hosts records).
    pub name: String,
    /// Where to connect: the name itself unless `[[hosts]]` gives an address.
    pub address: String,
    pub port: Option<u16>,
    pub os: Os,
    /// Credential names, tried in this order.
    pub credentials: Vec<String>,
    /// Windows hosts: service or scheduled task.
    pub exec: WindowsExec,
    pub smb_signing: SmbSigning,
    pub smb_encryption: SmbEncryption,
    /// Linux hosts: where staging directories go; `None` is the login home.
    pub staging_dir: Option<StagingDir>,
    /// Windows hosts: how long the wrapper may take to show it started.
    pub start_timeout: Duration,
    /// Linux hosts: the SSH algorithms offered, in order of preference; one copy per
    /// distinct set in the run, shared by its hosts (1000 hosts hold one or two).
    pub ssh_algorithms: Arc<Algorithms>,
}

impl Target {
    pub fn label(&self) -> String {
        HostAddr {
            name: self.name.clone(),
            port: self.port,
        }
        .to_string()
    }

    fn key(&self) -> (String, Option<u16>) {
        (self.name.to_ascii_lowercase(), self.port)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("unknown target `{name}`")]
    Unknown { name: String, hint: String },
    #[error("bad target `{name}`: {source}")]
    Pattern {
        name: String,
        #[source]
        source: PatternError,
    },
    #[error("host `{0}` has no os")]
    NoOs(String),
    #[error("host `{0}` has no credentials")]
    NoCredentials(String),
    #[error("no targets left after exclusions")]
    Empty,
}

impl TargetError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TargetError::Unknown { hint, .. } => Some(hint.clone()),
            TargetError::Pattern { source, .. } => source.hint().map(str::to_string),
            TargetError::NoOs(_) => Some(
                "put it in a group with `os = …`, give it a [[hosts]] entry, or set `os` in [settings]"
                    .into(),
            ),
            TargetError::NoCredentials(_) => Some(
                "list `credentials` on its group or [[hosts]] entry, or set `credentials` in [settings]"
                    .into(),
            ),
            TargetError::Empty => Some("check the `!` exclusions in --to".into()),
        }
    }
}

pub fn resolve_targets(inv: &Inventory, to: &[String]) -> Result<Vec<Target>, TargetError> {
    let mut targets: Vec<Target> = Vec::new();
    let mut seen: HashSet<(String, Option<u16>)> = HashSet::new();
    let mut algorithm_sets: Vec<Arc<Algorithms>> = Vec::new();
    let mut excluded: Vec<HostAddr> = Vec::new();
    for item in to
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if let Some(negated) = item.strip_prefix('!') {
            excluded.extend(members(inv, negated)?.into_iter().map(|(addr, _)| addr));
            continue;
        }
        for (addr, group) in members(inv, item)? {
            let target = settle(inv, addr, group, &mut algorithm_sets)?;
            if seen.insert(target.key()) {
                targets.push(target);
            }
        }
    }
    targets.retain(|t| {
        !excluded
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(&t.name) && (x.port.is_none() || x.port == t.port))
    });
    if targets.is_empty() {
        return Err(TargetError::Empty);
    }
    Ok(targets)
}

/// The hosts one `--to` word names, each with the groups it came through: the one
/// listing it first, then the groups nesting that one, out to the group named.
fn members<'a>(inv: &'a Inventory, item: &str) -> Result<Vec<(HostAddr, Vec<&'a Group>)>, TargetError> {
    if let Some(group) = inv.groups.get(item) {
        let mut out = Vec::new();
        walk(inv, group, &mut vec![group], &mut out);
        return Ok(out);
    }
    let hosts = pattern::expand(item).map_err(|source| TargetError::Pattern {
        name: item.to_string(),
        source,
    })?;
    let mut out = Vec::new();
    for addr in hosts {
        let grouped = inv
            .groups
            .values()
            .any(|g| g.hosts.iter().any(|h| same_host(h, &addr)));
        let known = grouped || override_for(inv, &addr).is_some();
        if !known && (inv.settings.default_os.is_none() || looks_like_group(inv, item)) {
            return Err(unknown(inv, item));
        }
        out.push((addr, Vec::new()));
    }
    Ok(out)
}

/// A group's hosts in the order written, nested groups expanded in place. `chain` is
/// the path from the group named down to `group`; load refused cycles, and a group
/// already on the path is skipped all the same.
fn walk<'a>(
    inv: &'a Inventory,
    group: &'a Group,
    chain: &mut Vec<&'a Group>,
    out: &mut Vec<(HostAddr, Vec<&'a Group>)>,
) {
    for entry in &group.entries {
        match entry {
            GroupEntry::Host(addr) => out.push((addr.clone(), chain.iter().rev().copied().collect())),
            GroupEntry::Group { name, .. } => {
                let Some(inner) = inv.groups.get(name) else {
                    continue;
                };
                if chain.iter().any(|g| std::ptr::eq(*g, inner)) {
                    continue;
                }
                chain.push(inner);
                walk(inv, inner, chain, out);
                chain.pop();
            }
        }
    }
}

fn same_host(member: &HostAddr, wanted: &HostAddr) -> bool {
    member.name.eq_ignore_ascii_case(&wanted.name) && (wanted.port.is_none() || member.port == wanted.port)
}

/// A dot-free word one typo away from a group name is a misspelt group, not a host.
fn looks_like_group(inv: &Inventory, item: &str) -> bool {
    !item.contains('.') && nearest(item, inv.groups.keys().map(String::as_str)).is_some()
}

fn unknown(inv: &Inventory, item: &str) -> TargetError {
    let groups = inv.groups.keys().map(String::as_str);
    let hint = match nearest(item, groups.clone()) {
        // `--to` takes every word after it: a package written last lands here.
        None if inv.packages.contains_key(item) => format!(
            "`{item}` is a package: name packages before `--to` (pushinst COMMAND {item} --to TARGET…)"
        ),
        Some(near) => format!("did you mean the group `{near}`?"),
        None => format!(
            "it is in no group and no [[hosts]] entry; groups: {}",
            list(groups)
        ),
    };
    TargetError::Unknown {
        name: item.to_string(),
        hint,
    }
}

/// The `[[hosts]]` entry for this host: one naming its port wins; one naming another
/// port is about another host on the same machine.
fn override_for<'a>(inv: &'a Inventory, addr: &HostAddr) -> Option<&'a HostOverride> {
    let named = || {
        inv.hosts
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(&addr.name))
    };
    named()
        .find(|h| h.port.is_some() && h.port == addr.port)
        .or_else(|| named().find(|h| h.port.is_none() || addr.port.is_none()))
}

/// Decide address, port, OS and credentials: `[[hosts]]` beats the groups the host was
/// named through (innermost first: the group listing it, then each group nesting that
/// one), which beat any other group listing it directly, then any nesting it, which
/// beat `[settings]`.
fn settle(
    inv: &Inventory,
    addr: HostAddr,
    through: Vec<&Group>,
    algorithm_sets: &mut Vec<Arc<Algorithms>>,
) -> Result<Target, TargetError> {
    let over = override_for(inv, &addr);
    let label = addr.to_string();
    let lists = |g: &&Group| {
        g.entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Host(h) if same_host(h, &addr)))
    };
    let nests = |g: &&Group| !lists(g) && g.hosts.iter().any(|h| same_host(h, &addr));
    let groups: Vec<&Group> = through
        .into_iter()
        .chain(inv.groups.values().filter(lists))
        .chain(inv.groups.values().filter(nests))
        .collect();
    let os = over
        .and_then(|o| o.os)
        .or_else(|| groups.iter().find_map(|g| g.os))
        .or(inv.settings.default_os)
        .ok_or_else(|| TargetError::NoOs(label.clone()))?;
    let credentials = over
        .and_then(|o| o.credentials.clone())
        .or_else(|| {
            groups
                .iter()
                .map(|g| g.credentials.clone())
                .find(|c| !c.is_empty())
        })
        .unwrap_or_else(|| inv.settings.default_credentials.clone());
    if credentials.is_empty() {
        return Err(TargetError::NoCredentials(label));
    }
    let exec = over
        .and_then(|o| o.exec)
        .or_else(|| groups.iter().find_map(|g| g.exec))
        .unwrap_or(inv.settings.windows_exec);
    let smb_signing = over
        .and_then(|o| o.smb_signing)
        .or_else(|| groups.iter().find_map(|g| g.smb_signing))
        .unwrap_or(inv.settings.smb_signing);
    let smb_encryption = over
        .and_then(|o| o.smb_encryption)
        .or_else(|| groups.iter().find_map(|g| g.smb_encryption))
        .unwrap_or(inv.settings.smb_encryption);
    let staging_dir = over
        .and_then(|o| o.staging_dir.clone())
        .or_else(|| groups.iter().find_map(|g| g.staging_dir.clone()))
        .or_else(|| inv.settings.staging_dir.clone());
    let start_timeout = over
        .and_then(|o| o.start_timeout)
        .or_else(|| groups.iter().find_map(|g| g.start_timeout))
        .unwrap_or(inv.settings.start_timeout);
    // Each list on its own, as OpenSSH takes each directive from the first place
    // that sets it: the host, then its first group that does, then the settings.
    let mut ssh_algorithms = Algorithms::default();
    for kind in AlgorithmKind::ALL {
        let list = over
            .and_then(|o| o.ssh_algorithms.get(kind))
            .or_else(|| groups.iter().find_map(|g| g.ssh_algorithms.get(kind)))
            .or_else(|| inv.settings.ssh_algorithms.get(kind));
        if let Some(list) = list {
            ssh_algorithms.set(kind, list.to_vec());
        }
    }
    let ssh_algorithms = match algorithm_sets.iter().find(|a| ***a == ssh_algorithms) {
        Some(shared) => shared.clone(),
        None => {
            let new = Arc::new(ssh_algorithms);
            algorithm_sets.push(new.clone());
            new
        }
    };
    Ok(Target {
        exec,
        ssh_algorithms,
        staging_dir,
        start_timeout,
        smb_signing,
        smb_encryption,
        address: over
            .and_then(|o| o.address.clone())
            .unwrap_or_else(|| addr.name.clone()),
        port: addr.port.or(over.and_then(|o| o.port)),
        name: addr.name,
        os,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::load::parse;
    use std::path::Path;

    const INV: &str = r#"
[credentials.a]
user = "a"
agent = true
[credentials.b]
user = "b"
agent = true

[groups.web]
hosts = ["web-[01-04].example"]
os = "linux"
credentials = ["a", "b"]

[groups.db]
hosts = ["db-1.example", "web-02.example"]
os = "linux"
credentials = ["b"]

[[hosts]]
name = "web-03.example"
address = "127.0.0.3"
port = 2203
credentials = ["b"]
"#;

    fn resolve(to: &[&str]) -> Result<Vec<String>, TargetError> {
        let inv = parse(Path::new("inv.toml"), INV.to_string()).unwrap();
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        resolve_targets(&inv, &to).map(|ts| ts.iter().map(Target::label).collect())
    }

    #[test]
    fn a_package_written_after_to_is_named_as_one() {
        let text = format!("{INV}\n[packages.agent]\nversion = \"1\"\nlinux = {{ file = \"agent.sh\" }}\n");
        let inv = parse(Path::new("inv.toml"), text).unwrap();
        let err = resolve_targets(&inv, &["web".to_string(), "agent".to_string()]).unwrap_err();
        let hint = err.hint().unwrap_or_default();
        assert!(
            hint.contains("`agent` is a package: name packages before `--to`"),
            "{hint}"
        );
    }

    #[test]
    fn groups_dedupe_and_keep_order() {
        assert_eq!(
            resolve(&["db", "web"]).unwrap(),
            [
                "db-1.example",
                "web-02.example",
                "web-01.example",
                "web-03.example:2203",
                "web-04.example"
            ]
        );
    }

    #[test]
    fn exclusions_apply_to_hosts_and_groups() {
        assert_eq!(
            resolve(&["web", "!web-0[1-2].example"]).unwrap(),
            ["web-03.example:2203", "web-04.example"]
        );
        assert_eq!(
            resolve(&["web,!db"]).unwrap(),
            ["web-01.example", "web-03.example:2203", "web-04.example"]
        );
        assert!(matches!(resolve(&["web", "!web"]), Err(TargetError::Empty)));
    }

    #[test]
    fn overrides_win_over_the_group() {
        let inv = parse(Path::new("inv.toml"), INV.to_string()).unwrap();
        let t = &resolve_targets(&inv, &["web-03.example".to_string()]).unwrap()[0];
        assert_eq!(
            (t.address.as_str(), t.port, t.credentials.clone()),
            ("127.0.0.3", Some(2203), vec!["b".to_string()])
        );
        let t = &resolve_targets(&inv, &["web-04.example".to_string()]).unwrap()[0];
        assert_eq!(t.credentials, ["a", "b"]);
    }

    /// Host over group over settings, as for `exec`; the defaults are the safe ones.
    #[test]
    fn smb_signing_and_encryption_resolve_per_host_and_group() {
        let text = r#"
[settings]
smb_encryption = "required"
[credentials.a]
user = "a"
password = { env = "X" }
[groups.nas]
hosts = ["nas-1", "nas-2"]
os = "windows"
credentials = ["a"]
smb_signing = "allow-tampering"
[groups.pcs]
hosts = ["pc-1"]
os = "windows"
credentials = ["a"]
[[hosts]]
name = "nas-2"
smb_signing = "required"
smb_encryption = "off"
"#;
        let inv = parse(Path::new("inv.toml"), text.to_string()).unwrap();
        let all = resolve_targets(&inv, &["nas".to_string(), "pcs".to_string()]).unwrap();
        let got: Vec<_> = all
            .iter()
            .map(|t| (t.name.as_str(), t.smb_signing, t.smb_encryption))
            .collect();
        assert_eq!(
            got,
            [
                ("nas-1", SmbSigning::AllowTampering, SmbEncryption::Required),
                ("nas-2", SmbSigning::Required, SmbEncryption::Off),
                ("pc-1", SmbSigning::Required, SmbEncryption::Required),
            ]
        );
        let defaults = parse(Path::new("inv.toml"), INV.to_string()).unwrap();
        assert_eq!(defaults.settings.smb_signing, SmbSigning::Required);
        assert_eq!(defaults.settings.smb_encryption, SmbEncryption::WhenSupported);
    }

    #[test]
    fn staging_dir_comes_from_the_host_then_the_group_then_the_settings() {
        let text = format!(
            "[settings]\nstaging_dir = \"/var/tmp\"\n{INV}\n[groups.pair]\nhosts = [\"a1\", \"a2\", \"a3\"]\nos = \"linux\"\ncredentials = [\"a\"]\nstaging_dir = \"/srv/group\"\n\n[groups.solo]\nhosts = [\"b1\"]\nos = \"linux\"\ncredentials = [\"a\"]\n\n[[hosts]]\nname = \"a2\"\nstaging_dir = \"/srv/host\"\n"
        );
        let inv = parse(Path::new("inv.toml"), text).unwrap();
        let targets = resolve_targets(&inv, &["pair".to_string(), "solo".to_string()]).unwrap();
        let dirs: Vec<_> = targets
            .iter()
            .map(|t| t.staging_dir.as_ref().map(|d| d.as_str().to_string()))
            .collect();
        let want = ["/srv/group", "/srv/host", "/srv/group", "/var/tmp"];
        assert_eq!(dirs, want.map(|d| Some(d.to_string())));
    }

    #[test]
    fn an_override_naming_a_port_is_about_that_port_only() {
        let text = format!(
            "[settings]\nstaging_dir = \"/var/tmp\"\n{INV}\n[groups.pair]\nhosts = [\"twin:4400\", \"twin:4401\"]\nos = \"linux\"\ncredentials = [\"a\"]\n\n[[hosts]]\nname = \"twin:4401\"\ncredentials = [\"b\"]\n"
        );
        let inv = parse(Path::new("inv.toml"), text).unwrap();
        let targets = resolve_targets(&inv, &["pair".to_string()]).unwrap();
        let creds: Vec<Vec<String>> = targets.iter().map(|t| t.credentials.clone()).collect();
        assert_eq!(creds, [vec!["a".to_string()], vec!["b".to_string()]]);
    }

    #[test]
    fn facts_missing_from_one_group_come_from_another() {
        let text = format!("{INV}\n[groups.mixed]\nhosts = [\"db-1.example\"]\n");
        let inv = parse(Path::new("inv.toml"), text).unwrap();
        let t = &resolve_targets(&inv, &["mixed".to_string()]).unwrap()[0];
        assert_eq!((t.os, t.credentials.clone()), (Os::Linux, vec!["b".to_string()]));
    }

    /// Nested groups expand in place, in order, each host once; a host's settings come
    /// from the group listing it, then the groups nesting that one, then `[settings]`.
    #[test]
    fn nested_groups_expand_in_order_and_the_innermost_group_settles_a_host() {
        let text = format!(
            "[settings]\nstaging_dir = \"/var/tmp\"\n{INV}\n\
             [groups.site]\nhosts = [\"gw-1\", \"web\", \"inner\", \"web-01.example\"]\n\
             os = \"windows\"\ncredentials = [\"a\"]\nexec = \"task\"\nstaging_dir = \"/srv/site\"\n\n\
             [groups.inner]\nhosts = [\"db\", \"in-1\"]\nstaging_dir = \"/srv/inner\"\n"
        );
        let inv = parse(Path::new("inv.toml"), text).unwrap();
        let targets = resolve_targets(&inv, &["site".to_string()]).unwrap();
        let got: Vec<_> = targets
            .iter()
            .map(|t| {
                let dir = t.staging_dir.as_ref().map_or("", |d| d.as_str()).to_string();
                (t.label(), t.os, t.credentials.join("+"), dir, t.exec)
            })
            .collect();
        let want = |host: &str, os, creds: &str, dir: &str, exec| {
            (host.to_string(), os, creds.to_string(), dir.to_string(), exec)
        };
        use {Os::*, WindowsExec::*};
        assert_eq!(
            got,
            [
                want("gw-1", Windows, "a", "/srv/site", Task),
                // web's own os and credentials; the staging dir web lacks comes from site.
                want("web-01.example", Linux, "a+b", "/srv/site", Task),
                want("web-02.example", Linux, "a+b", "/srv/site", Task),
                want("web-03.example:2203", Linux, "b", "/srv/site", Task),
                want("web-04.example", Linux, "a+b", "/srv/site", Task),
                // db through inner through site: db, then inner, then site.
                want("db-1.example", Linux, "b", "/srv/inner", Task),
                want("in-1", Windows, "a", "/srv/inner", Task),
            ]
        );
        // Named on its own, a host nested in `site` still takes `site`'s settings
        // after those of the groups that list it directly.
        let t = &resolve_targets(&inv, &["in-1".to_string()]).unwrap()[0];
        assert_eq!((t.os, t.exec), (Windows, Task));
        let t = &resolve_targets(
            &inv,
            &[
                "gw-1".to_string(),
                "!site".to_string(),
                "db-1.example".to_string(),
            ],
        );
        assert!(matches!(t, Err(TargetError::Empty)), "{t:?}");
    }

    #[test]
    fn unknown_names_are_errors_with_hints() {
        let err = resolve(&["webs"]).unwrap_err();
        assert_eq!(err.hint().unwrap(), "did you mean the group `web`?");
        let err = resolve(&["mail.example"]).unwrap_err();
        assert!(
            err.hint().unwrap().contains("groups: `db`, `web`"),
            "{:?}",
            err.hint()
        );
    }
}
