//! The `.cmd` files the temporary service runs. One command per line: cmd expands
//! `%errorlevel%` once per parsed line, so `setup.exe & echo %errorlevel%` on one
//! line would record the code from before the installer ran. The exit code goes to
//! a temporary file first and is then renamed, so a poller never reads half of it.

use super::WindowsError;

/// A script that runs `command` in its own directory, its output to `NAME.log`, its
/// exit code to `NAME.rc`.
pub fn script(name: &str, command: &str) -> String {
    let lines = [
        "@echo off".to_string(),
        r#"cd /d "%~dp0""#.to_string(),
        format!(r#"{command} > "%~dp0{name}.log" 2>&1"#),
        format!(r#"> "%~dp0{name}.rc.tmp" echo %errorlevel%"#),
        format!(r#"move /y "%~dp0{name}.rc.tmp" "%~dp0{name}.rc" > nul"#),
    ];
    lines.join("\r\n") + "\r\n"
}

/// The installer's command line: an `.msi` goes through msiexec.
pub fn install_command(program: &str, args: &[String]) -> Result<String, WindowsError> {
    let mut parts = Vec::new();
    if program.to_ascii_lowercase().ends_with(".msi") {
        parts.push("msiexec".to_string());
        parts.push("/i".to_string());
    }
    parts.push(quote(program)?);
    for arg in args {
        parts.push(quote(arg)?);
    }
    Ok(parts.join(" "))
}

/// Quote one argument for a batch file: inside double quotes cmd's special
/// characters are literal, except `%`, which is doubled. A double quote itself
/// cannot be passed safely, so it is refused.
fn quote(arg: &str) -> Result<String, WindowsError> {
    if arg.contains('"') {
        return Err(WindowsError::UnquotableArgument { arg: arg.to_string() });
    }
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/\\-_.:=+,".contains(c));
    Ok(if plain {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('%', "%%"))
    })
}

/// The service's command line: start the script detached, so it keeps running past
/// the Service Control Manager's 30-second start timeout (a plain program is not a
/// service and is reported as timed out; we do not depend on it staying alive).
pub fn service_command(script_path: &str) -> String {
    format!(r#"%COMSPEC% /Q /c start "pushinst" /b %COMSPEC% /Q /c "{script_path}""#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_command_per_line_and_the_code_is_renamed_into_place() {
        let text = script("pushinst", r#"setup.exe /quiet"#);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[2], r#"setup.exe /quiet > "%~dp0pushinst.log" 2>&1"#);
        assert_eq!(lines[3], r#"> "%~dp0pushinst.rc.tmp" echo %errorlevel%"#);
        assert!(lines[4].starts_with("move /y"));
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn arguments_are_quoted_for_cmd_and_msi_goes_through_msiexec() {
        let args = vec![
            "/quiet".to_string(),
            "INSTALLDIR=C:\\Program Files\\Acme".to_string(),
            "100%".to_string(),
        ];
        assert_eq!(
            install_command("AcmeSetup.exe", &args).unwrap(),
            r#"AcmeSetup.exe /quiet "INSTALLDIR=C:\Program Files\Acme" "100%%""#
        );
        assert_eq!(install_command("agent.msi", &[]).unwrap(), "msiexec /i agent.msi");
        assert!(install_command("x.exe", &["a\"b".to_string()]).is_err());
    }
}
