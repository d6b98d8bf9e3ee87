//! POSIX shell quoting for what `/bin/sh` reads from pushinst.conf: every value is
//! single-quoted, so nothing in a file name or an installer argument is interpreted.

pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_the_shell() {
        let args = ["plain", "with space", "it's", "$(rm -rf /)", "a\"b", ""];
        let quoted: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let line = format!("printf '%s\\n' {}", quoted.join(" "));
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
