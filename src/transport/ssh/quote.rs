//! POSIX shell quoting for the commands we send: every argument is single-quoted,
//! so nothing in a file name or an installer argument is ever interpreted.

pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

pub fn join(args: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    args.into_iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_the_shell() {
        let args = ["plain", "with space", "it's", "$(rm -rf /)", "a\"b", ""];
        let line = format!("printf '%s\\n' {}", join(args));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "plain\nwith space\nit's\n$(rm -rf /)\na\"b\n\n"
        );
    }
}
