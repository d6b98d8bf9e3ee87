//! Host patterns: `name`, `name:port`, ranges like `web-[01-20].example` and IPv4
//! and IPv6 CIDR blocks like `10.20.30.0/26` and `fd00::/120`.

use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv6Net};

/// Refuse patterns that would expand to more hosts than anyone pushes to at once;
/// a typo like `[1-100000]` should be an error, not a 100k-host queue.
pub const MAX_EXPANSION: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddr {
    pub name: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for HostAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) if self.name.contains(':') => write!(f, "[{}]:{port}", self.name),
            Some(port) => write!(f, "{}:{port}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("empty host name")]
    Empty,
    #[error("invalid port `{0}`")]
    Port(String),
    #[error("unclosed range `[` in `{0}`")]
    Unclosed(String),
    #[error("invalid range `[{0}]`")]
    Range(String),
    #[error("range `[{0}]` runs backwards")]
    Backwards(String),
    #[error("invalid CIDR block `{0}`")]
    Cidr(String),
    #[error("`{0}` expands to more than {MAX_EXPANSION} hosts")]
    TooMany(String),
    #[error("invalid character `{1}` in host name `{0}`")]
    Character(String, char),
}

impl PatternError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PatternError::Range(_) | PatternError::Unclosed(_) => {
                Some("a range is written `[FIRST-LAST]` with decimal numbers, e.g. `web-[01-20].example`")
            }
            PatternError::Backwards(_) => Some("write the smaller number first"),
            PatternError::Cidr(_) => Some(
                "write a block as `10.20.30.0/26` or `fd00::/120` (with a port: `fd00::/120` in brackets, `[fd00::/120]:2222`)",
            ),
            PatternError::Port(_) => Some("a port is a number from 1 to 65535, as in `host:2222`"),
            PatternError::TooMany(_) => {
                Some("split the block or use a narrower range (IPv4 blocks up to /16, IPv6 up to /112)")
            }
            _ => None,
        }
    }
}

/// Expand one pattern into the hosts it names, in order.
pub fn expand(pattern: &str) -> Result<Vec<HostAddr>, PatternError> {
    let pattern = pattern.trim();
    let (host, port) = split_port(pattern)?;
    if host.is_empty() {
        return Err(PatternError::Empty);
    }
    if host.contains('/') {
        return expand_cidr(host, port);
    }
    if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '[' | ']' | ':')))
    {
        return Err(PatternError::Character(host.to_string(), bad));
    }
    // One address has one spelling, so `fd00:0::1` and `fd00::1` are the same host.
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Ok(vec![HostAddr {
            name: ip.to_string(),
            port,
        }]);
    }
    let names = expand_ranges(host)?;
    Ok(names.into_iter().map(|name| HostAddr { name, port }).collect())
}

/// Split `host:port` and `[v6]:port`; a bare IPv6 address keeps its colons.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), PatternError> {
    if let Some(rest) = pattern.strip_prefix('[')
        && let Some((addr, tail)) = rest.split_once(']')
        && addr.contains(':')
    {
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if tail.is_empty() => None,
            None => return Err(PatternError::Port(tail.to_string())),
        };
        return Ok((addr, port));
    }
    match pattern.matches(':').count() {
        1 => {
            let (host, port) = pattern.split_once(':').unwrap_or((pattern, ""));
            Ok((host, Some(parse_port(port)?)))
        }
        _ => Ok((pattern, None)),
    }
}

fn parse_port(text: &str) -> Result<u16, PatternError> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(PatternError::Port(text.to_string())),
    }
}

fn expand_cidr(block: &str, port: Option<u16>) -> Result<Vec<HostAddr>, PatternError> {
    if block.contains(':') {
        return expand_cidr_v6(block, port);
    }
    let net: Ipv4Net = block.parse().map_err(|_| PatternError::Cidr(block.to_string()))?;
    if net.prefix_len() < 16 {
        return Err(PatternError::TooMany(block.to_string()));
    }
    // `hosts()` skips network and broadcast addresses, except in a /31 or /32.
    Ok(net
        .hosts()
        .map(|ip| HostAddr {
            name: ip.to_string(),
            port,
        })
        .collect())
}

/// An IPv6 block, limited like IPv4 blocks to 2^16 addresses (a /112), each written
/// in its canonical form. The all-zero address of a block is the subnet-router
/// anycast address (RFC 4291), no host, and is skipped except in a /127 or /128.
fn expand_cidr_v6(block: &str, port: Option<u16>) -> Result<Vec<HostAddr>, PatternError> {
    let net: Ipv6Net = block.parse().map_err(|_| PatternError::Cidr(block.to_string()))?;
    if net.prefix_len() < 128 - 16 {
        return Err(PatternError::TooMany(block.to_string()));
    }
    let skip = usize::from(net.prefix_len() < 127);
    Ok(net
        .trunc()
        .hosts()
        .skip(skip)
        .map(|ip| HostAddr {
            name: ip.to_string(),
            port,
        })
        .collect())
}

/// Expand every `[a-b]` in `host`, left to right, keeping zero padding.
fn expand_ranges(host: &str) -> Result<Vec<String>, PatternError> {
    let Some(open) = host.find('[') else {
        if host.contains(']') {
            return Err(PatternError::Range(host.to_string()));
        }
        return Ok(vec![host.to_string()]);
    };
    let close = host[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| PatternError::Unclosed(host.to_string()))?;
    let body = &host[open + 1..close];
    let (first, last) = body
        .split_once('-')
        .ok_or_else(|| PatternError::Range(body.to_string()))?;
    let (lo, hi) = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(lo), Ok(hi)) if !first.is_empty() && !last.is_empty() => (lo, hi),
        _ => return Err(PatternError::Range(body.to_string())),
    };
    if lo > hi {
        return Err(PatternError::Backwards(body.to_string()));
    }
    if hi - lo >= MAX_EXPANSION as u64 {
        return Err(PatternError::TooMany(host.to_string()));
    }
    let width = if first.starts_with('0') { first.len() } else { 0 };
    let tails = expand_ranges(&host[close + 1..])?;
    let prefix = &host[..open];
    let mut out = Vec::new();
    for n in lo..=hi {
        for tail in &tails {
            out.push(format!("{prefix}{n:0width$}{tail}"));
            if out.len() > MAX_EXPANSION {
                return Err(PatternError::TooMany(host.to_string()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand(p).unwrap().iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn plain_name_and_port() {
        assert_eq!(names("web-01.example"), ["web-01.example"]);
        assert_eq!(names("web-01.example:2222"), ["web-01.example:2222"]);
        assert_eq!(names("[::1]:2222"), ["[::1]:2222"]);
        assert_eq!(names("::1"), ["::1"]);
    }

    #[test]
    fn ranges_keep_padding_and_nest() {
        assert_eq!(
            names("ws-[008-011].corp"),
            ["ws-008.corp", "ws-009.corp", "ws-010.corp", "ws-011.corp"]
        );
        assert_eq!(names("r[1-2]n[1-2]"), ["r1n1", "r1n2", "r2n1", "r2n2"]);
        assert_eq!(
            names("127.0.80.[1-2]:2222"),
            ["127.0.80.1:2222", "127.0.80.2:2222"]
        );
    }

    #[test]
    fn cidr_skips_network_and_broadcast() {
        let hosts = names("10.0.0.0/30");
        assert_eq!(hosts, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(names("10.20.30.0/26").len(), 62);
        assert_eq!(names("10.0.0.7/32"), ["10.0.0.7"]);
        assert_eq!(names("10.0.0.0/30:2222"), ["10.0.0.1:2222", "10.0.0.2:2222"]);
    }

    #[test]
    fn ipv6_blocks_expand_canonically_with_the_ipv4_size_limit() {
        assert_eq!(names("fd00::/126"), ["fd00::1", "fd00::2", "fd00::3"]);
        assert_eq!(names("FD00:0:0::4/127"), ["fd00::4", "fd00::5"]);
        assert_eq!(names("fd00::1/128"), ["fd00::1"]);
        assert_eq!(names("[fd00::/127]:2222"), ["[fd00::]:2222", "[fd00::1]:2222"]);
        assert_eq!(names("[FD00:0::1]:2222"), ["[fd00::1]:2222"]);
        assert_eq!(names("fd00::/112").len(), 65_535);
        assert_eq!(
            expand("fd00::/111"),
            Err(PatternError::TooMany("fd00::/111".into()))
        );
        assert_eq!(expand("fd00::/129"), Err(PatternError::Cidr("fd00::/129".into())));
        assert_eq!(
            expand("fd00::g/120"),
            Err(PatternError::Cidr("fd00::g/120".into()))
        );
        assert!(
            expand("fd00::/129")
                .unwrap_err()
                .hint()
                .unwrap()
                .contains("fd00::/120")
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            expand("web-[20-01]"),
            Err(PatternError::Backwards("20-01".into()))
        );
        assert_eq!(expand("web-[1-x]"), Err(PatternError::Range("1-x".into())));
        assert_eq!(expand("web-[1-3"), Err(PatternError::Unclosed("web-[1-3".into())));
        assert_eq!(expand("web:0"), Err(PatternError::Port("0".into())));
        assert_eq!(
            expand("10.0.0.0/33"),
            Err(PatternError::Cidr("10.0.0.0/33".into()))
        );
        assert_eq!(
            expand("h-[1-100000]"),
            Err(PatternError::TooMany("h-[1-100000]".into()))
        );
        assert_eq!(
            expand("bad name"),
            Err(PatternError::Character("bad name".into(), ' '))
        );
    }
}
