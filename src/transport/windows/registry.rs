//! Reading `reg query KEY /v VALUE` output, and comparing versions the way
//! installers number them (`7.2.10` is newer than `7.2.9`).

use std::cmp::Ordering;

/// The data of `value` in `reg query` output (`    Version    REG_SZ    7.2.1`).
/// reg separates name, type and data by four spaces; a name may hold spaces itself.
pub fn data(output: &str, value: &str) -> Option<String> {
    typed(output, value).map(|(_, data)| data)
}

/// The type (`REG_DWORD`) and data (`0x1`) of `value` in `reg query` output.
pub fn typed(output: &str, value: &str) -> Option<(String, String)> {
    output.lines().find_map(|line| {
        let rest = line.strip_prefix("    ")?;
        let (name, typed) = rest.split_once("    REG_")?;
        if !name.eq_ignore_ascii_case(value) {
            return None;
        }
        // An empty value has a type and no data.
        let (kind, data) = typed.split_once("    ").unwrap_or((typed, ""));
        Some((format!("REG_{}", kind.trim_end()), data.trim_end().to_string()))
    })
}

/// Compare dotted versions part by part, numerically where both parts are numbers.
pub fn at_least(found: &str, min: &str) -> bool {
    let parts = |v: &str| v.trim().split(['.', '-']).map(str::to_string).collect::<Vec<_>>();
    let (a, b) = (parts(found), parts(min));
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).map_or("0", String::as_str);
        let y = b.get(i).map_or("0", String::as_str);
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order == Ordering::Greater;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_read_from_reg_query_output() {
        let out = "\r\nHKEY_LOCAL_MACHINE\\Software\\Acme\\Agent\r\n    Version    REG_SZ    7.2.10\r\n\r\n";
        assert_eq!(data(out, "Version").as_deref(), Some("7.2.10"));
        assert_eq!(data(out, "Other"), None);
        let spaced =
            "\r\nHKEY_LOCAL_MACHINE\\Software\\Acme\r\n    Display Version    REG_SZ    7.2 build 10\r\n";
        assert_eq!(data(spaced, "display version").as_deref(), Some("7.2 build 10"));
        assert_eq!(data(spaced, "Display"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(at_least("7.2.10", "7.2.9"));
        assert!(at_least("7.2", "7.2.0"));
        assert!(!at_least("7.2.1", "7.3"));
        assert!(at_least("10.0", "9.9.9"));
    }
}
