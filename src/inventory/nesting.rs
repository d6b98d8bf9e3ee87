//! Groups inside groups: a group's `hosts` may name another group, which stands for
//! that group's hosts in its place. Cycles are refused at load, with the path.

use std::collections::{BTreeMap, HashSet};

use super::diagnostic::Problem;
use super::{Group, GroupEntry, HostAddr};

/// Deeper nesting is a mistake, and refusing it keeps the walks below off a deep stack.
pub const MAX_DEPTH: usize = 32;

/// Expand every group's nested groups into its `hosts`, in the order written, each
/// host once. Returns one problem per cycle, at the entry that closes it; the groups
/// are left as written then (the inventory is refused anyway).
pub fn expand(groups: &mut BTreeMap<String, Group>) -> Vec<Problem> {
    let problems = cycles(groups);
    if !problems.is_empty() {
        return problems;
    }
    let mut done: BTreeMap<String, Vec<HostAddr>> = BTreeMap::new();
    let names: Vec<String> = groups.keys().cloned().collect();
    for name in &names {
        flatten(groups, name, &mut done);
    }
    for (name, hosts) in done {
        if let Some(group) = groups.get_mut(&name) {
            group.hosts = hosts;
        }
    }
    Vec::new()
}

/// Depth first, in entry order; a group already on the path closes a cycle. A group
/// whose every path was followed is not followed again, so this is linear.
fn cycles(groups: &BTreeMap<String, Group>) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut finished = HashSet::new();
    for start in groups.keys() {
        let mut path = vec![start.as_str()];
        visit(groups, &mut path, &mut finished, &mut problems);
    }
    problems
}

fn visit<'a>(
    groups: &'a BTreeMap<String, Group>,
    path: &mut Vec<&'a str>,
    finished: &mut HashSet<&'a str>,
    problems: &mut Vec<Problem>,
) {
    let Some(&here) = path.last() else {
        return;
    };
    let Some(current) = groups.get(here).filter(|_| !finished.contains(here)) else {
        return;
    };
    for entry in &current.entries {
        let GroupEntry::Group { name, span } = entry else {
            continue;
        };
        if let Some(at) = path.iter().position(|p| p == name) {
            let mut cycle: Vec<&str> = path[at..].to_vec();
            cycle.push(name);
            problems.push(
                Problem::at(
                    span.clone(),
                    format!("group `{name}` includes itself: {}", cycle.join(" → ")),
                )
                .label("closes the cycle")
                .hint(
                    "a group's name in `hosts` means that group; remove this entry, \
                     or name the host by its full name",
                ),
            );
            continue;
        }
        if path.len() >= MAX_DEPTH {
            problems.push(
                Problem::at(span.clone(), format!("groups nested more than {MAX_DEPTH} deep"))
                    .hint("name the hosts in a shallower group"),
            );
            continue;
        }
        path.push(name);
        visit(groups, path, finished, problems);
        path.pop();
    }
    finished.insert(here);
}

/// A group's hosts with nested groups expanded, memoised so a group nested in many
/// places is expanded once. Only called on an inventory without cycles.
fn flatten(groups: &BTreeMap<String, Group>, name: &str, done: &mut BTreeMap<String, Vec<HostAddr>>) {
    if done.contains_key(name) {
        return;
    }
    let Some(group) = groups.get(name) else {
        return;
    };
    let mut hosts = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |hosts: &mut Vec<HostAddr>, h: &HostAddr| {
        if seen.insert((h.name.to_ascii_lowercase(), h.port)) {
            hosts.push(h.clone());
        }
    };
    for entry in &group.entries {
        match entry {
            GroupEntry::Host(h) => add(&mut hosts, h),
            GroupEntry::Group { name: inner, .. } => {
                flatten(groups, inner, done);
                for h in done.get(inner).into_iter().flatten() {
                    add(&mut hosts, h);
                }
            }
        }
    }
    done.insert(name.to_string(), hosts);
}
