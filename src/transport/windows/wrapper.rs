//! The `.cmd` files the temporary service runs, written for cmd.exe as it is:
//!
//! - One command per line: cmd expands `%errorlevel%` once per parsed line, so
//!   `setup.exe & echo %errorlevel%` on one line would record the code from before
//!   the installer ran. The exit code goes to a temporary file first and is then
//!   renamed, so a poller never reads half of it.
//! - The first act writes a "started" marker: when antivirus or EDR blocks the
//!   service nothing runs at all, and the marker's absence says so in seconds.
//! - `chcp 65001` before any argument is read: cmd decodes each batch line in the
//!   console code page (OEM 850/437 by default), which would mangle the UTF-8 we write.
//! - A `.bat`/`.cmd` installer is run with `call`: a batch file started from a batch
//!   file without it never returns, and its exit code is lost with the rest of ours.
//! - Arguments are quoted for the program that parses them: CommandLineToArgvW rules
//!   for programs, cmd's own for batch files (see [`quote_for_program`]).

use std::time::Duration;

use super::WindowsError;
use crate::transport::RegistryView;

/// A script that runs `command` in its own directory, its output to `NAME.log`, its
/// exit code to `NAME.rc`, having first written `NAME.started`.
pub fn script(name: &str, command: &Command) -> String {
    let run = match command.batch {
        true => format!("call {}", command.line),
        false => command.line.clone(),
    };
    let lines = [
        "@echo off".to_string(),
        format!(r#"> "%~dp0{name}.started" echo started"#),
        "chcp 65001 >nul".to_string(),
        r#"cd /d "%~dp0""#.to_string(),
        format!(r#"{run} > "%~dp0{name}.log" 2>&1"#),
        format!(r#"> "%~dp0{name}.rc.tmp" echo %errorlevel%"#),
        format!(r#"move /y "%~dp0{name}.rc.tmp" "%~dp0{name}.rc" > nul"#),
    ];
    lines.join("\r\n") + "\r\n"
}

/// One line for the wrapper to run, already quoted and `%`-escaped for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub line: String,
    /// A batch file: run with `call`, so that it returns to the wrapper.
    pub batch: bool,
}

impl Command {
    /// A command pushinst wrote itself (`reg query …`, `shutdown …`), already quoted.
    pub fn plain(line: String) -> Command {
        Command { line, batch: false }
    }
}

/// Where the verbose msiexec log goes, beside the wrapper's own files.
pub const MSI_LOG: &str = "pushinst-msi.log";

/// Which parser reads an argument on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// A program: the C runtime's CommandLineToArgvW rules.
    Program,
    /// A batch file run by `call`: cmd's own splitting (`%~1` strips the quotes),
    /// after `call` has expanded `%` a second time.
    Batch,
}

/// The installer's command line: an `.msi` goes through msiexec with a verbose log
/// in the staging directory, a `.bat`/`.cmd` through `call`.
pub fn install_command(program: &str, args: &[String]) -> Result<Command, WindowsError> {
    let lower = program.to_ascii_lowercase();
    let batch = lower.ends_with(".bat") || lower.ends_with(".cmd");
    let reader = if batch { Reader::Batch } else { Reader::Program };
    let mut parts = Vec::new();
    if lower.ends_with(".msi") {
        parts.extend(["msiexec".to_string(), "/i".to_string()]);
    }
    parts.push(quote(program, reader)?);
    if lower.ends_with(".msi") {
        parts.extend(["/l*v".to_string(), format!(r#""%~dp0{MSI_LOG}""#)]);
    }
    for arg in args {
        parts.push(quote(arg, reader)?);
    }
    Ok(Command {
        line: parts.join(" "),
        batch,
    })
}

/// `reg query KEY /v VALUE`, in the given view; names with spaces quoted.
pub fn reg_query(key: &str, value: &str, view: Option<RegistryView>) -> Result<Command, WindowsError> {
    let mut line = format!(
        "reg query {} /v {}",
        quote(key, Reader::Program)?,
        quote(value, Reader::Program)?
    );
    if let Some(view) = view {
        line.push_str(&format!(" /reg:{}", view.bits()));
    }
    Ok(Command::plain(line))
}

/// `shutdown /r /t N /c MESSAGE`. The message is the admin's text shown to users:
/// quotes and line breaks, which cannot be passed, become what reads the same.
pub fn shutdown(delay: Duration, message: &str) -> Result<Command, WindowsError> {
    let mut line = format!("shutdown /r /t {}", delay.as_secs());
    if !message.is_empty() {
        let message = message.replace('"', "'").replace(['\r', '\n', '\0'], " ");
        line.push_str(&format!(" /c {}", quote(&message, Reader::Program)?));
    }
    Ok(Command::plain(line))
}

/// Quote one argument for a line of the wrapper, or refuse it with the reason.
fn quote(arg: &str, reader: Reader) -> Result<String, WindowsError> {
    let refuse = |reason: &'static str| WindowsError::UnquotableArgument {
        arg: arg.to_string(),
        reason,
    };
    // An odd number of quotes turns cmd's quoting inside out: `&` and `>` in the
    // rest of the line would run as commands.
    if arg.contains('"') {
        return Err(refuse("a double quote"));
    }
    if arg.contains(['\r', '\n', '\0']) {
        return Err(refuse("a line break or NUL"));
    }
    // `call` doubles every caret, quoted or not: the batch file would get two.
    if reader == Reader::Batch && arg.contains('^') {
        return Err(refuse("a caret, which `call` doubles"));
    }
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/\\-_.:=+,".contains(c));
    if plain {
        return Ok(arg.to_string());
    }
    let quoted = match reader {
        Reader::Program => quote_for_program(arg),
        // A batch file reads `"…"` literally: a backslash escapes nothing there.
        Reader::Batch => format!("\"{arg}\""),
    };
    // cmd expands `%` in every batch line, quoted or not; `call` expands once more.
    Ok(match reader {
        Reader::Program => quoted.replace('%', "%%"),
        Reader::Batch => quoted.replace('%', "%%%%"),
    })
}

/// Quote `arg` so that CommandLineToArgvW gives it back unchanged: inside double
/// quotes, backslashes are literal except before a quote, so a run of them before
/// a quote (and before the closing quote) is doubled. Assumes no `"` in `arg`.
fn quote_for_program(arg: &str) -> String {
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        out.extend(std::iter::repeat_n('\\', backslashes));
        backslashes = 0;
        out.push(c);
    }
    // Before the closing quote: doubled, so that the quote still closes.
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
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

    /// CommandLineToArgvW for arguments after the program name (MSVCRT 2008+ rules).
    fn command_line_to_argv(line: &str) -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        let (mut args, mut i) = (Vec::new(), 0);
        while i < chars.len() {
            while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
                i += 1;
            }
            if i == chars.len() {
                break;
            }
            let (mut arg, mut quoted) = (String::new(), false);
            while i < chars.len() && (quoted || (chars[i] != ' ' && chars[i] != '\t')) {
                match chars[i] {
                    '\\' => {
                        let start = i;
                        while i < chars.len() && chars[i] == '\\' {
                            i += 1;
                        }
                        let n = i - start;
                        if i < chars.len() && chars[i] == '"' {
                            arg.extend(std::iter::repeat_n('\\', n / 2));
                            if n % 2 == 1 {
                                arg.push('"');
                                i += 1;
                            }
                        } else {
                            arg.extend(std::iter::repeat_n('\\', n));
                        }
                    }
                    '"' if quoted && chars.get(i + 1) == Some(&'"') => {
                        arg.push('"');
                        i += 2;
                    }
                    '"' => {
                        quoted = !quoted;
                        i += 1;
                    }
                    c => {
                        arg.push(c);
                        i += 1;
                    }
                }
            }
            args.push(arg);
        }
        args
    }

    /// cmd's percent expansion of one batch line (`%%` is `%`; no variables here).
    fn expand_percent(line: &str) -> String {
        line.replace("%%", "%")
    }

    #[test]
    fn the_marker_comes_first_then_utf8_then_one_command_per_line() {
        let text = script("pushinst", &Command::plain("setup.exe /quiet".into()));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], "@echo off");
        assert_eq!(lines[1], r#"> "%~dp0pushinst.started" echo started"#);
        assert_eq!(lines[2], "chcp 65001 >nul");
        assert_eq!(lines[4], r#"setup.exe /quiet > "%~dp0pushinst.log" 2>&1"#);
        assert_eq!(lines[5], r#"> "%~dp0pushinst.rc.tmp" echo %errorlevel%"#);
        assert!(lines[6].starts_with("move /y"));
        assert!(text.ends_with("\r\n"));
    }

    #[test]
    fn a_batch_installer_is_called_so_that_it_returns() {
        let command = install_command("setup.CMD", &["/S".to_string()]).unwrap();
        assert!(command.batch);
        let text = script("pushinst", &command);
        assert!(
            text.contains("\r\ncall setup.CMD /S > \"%~dp0pushinst.log\" 2>&1\r\n"),
            "{text}"
        );
        assert!(!install_command("setup.exe", &[]).unwrap().batch);
    }

    #[test]
    fn program_arguments_survive_cmd_and_command_line_to_argv() {
        let tricky = [
            r"C:\Program Files\Acme\",
            r"C:\Program Files\Acme\\",
            r"INSTALLDIR=C:\Program Files\Acme",
            r"\\server\share\",
            r"a\\b c",
            "Zürich-日本",
            "50%",
            "%PATH%",
            "100%%",
            "",
            " ",
            "a & b | c > d",
            "tab\there",
            "^caret!",
            r"trailing\",
            "plain",
        ];
        for arg in tricky {
            let line = install_command("setup.exe", &[arg.to_string()]).unwrap().line;
            let after_cmd = expand_percent(&line);
            let argv = command_line_to_argv(&after_cmd);
            assert_eq!(argv, vec!["setup.exe".to_string(), arg.to_string()], "{line}");
        }
    }

    #[test]
    fn batch_arguments_are_quoted_without_backslash_doubling_and_percent_twice() {
        let line = install_command("setup.cmd", &[r"C:\Program Files\Acme\".into(), "50%".into()])
            .unwrap()
            .line;
        assert_eq!(line, r#"setup.cmd "C:\Program Files\Acme\" "50%%%%""#);
        // cmd expands the line, `call` expands it again.
        assert_eq!(
            expand_percent(&expand_percent(&line)),
            r#"setup.cmd "C:\Program Files\Acme\" "50%""#
        );
        assert!(install_command("setup.bat", &["a^b".into()]).is_err());
        assert!(install_command("setup.exe", &["a^b".into()]).is_ok());
    }

    #[test]
    fn registry_checks_quote_names_with_spaces_and_pick_the_view() {
        let command = reg_query(
            r"HKLM\Software\Acme Corp\Agent",
            "Display Version",
            Some(RegistryView::Bits32),
        )
        .unwrap();
        assert_eq!(
            command.line,
            r#"reg query "HKLM\Software\Acme Corp\Agent" /v "Display Version" /reg:32"#
        );
        assert_eq!(
            reg_query(r"HKLM\Software\Acme", "Version", None).unwrap().line,
            r"reg query HKLM\Software\Acme /v Version"
        );
    }

    #[test]
    fn the_reboot_message_keeps_its_percent_and_loses_only_quotes() {
        let command = shutdown(Duration::from_secs(120), "Save \"now\": 100% done").unwrap();
        assert_eq!(command.line, r#"shutdown /r /t 120 /c "Save 'now': 100%% done""#);
        assert_eq!(shutdown(Duration::ZERO, "").unwrap().line, "shutdown /r /t 0");
    }

    #[test]
    fn what_cannot_be_passed_is_refused_with_the_reason() {
        for (arg, reason) in [("a\"b", "double quote"), ("a\nb", "line break")] {
            let e = install_command("x.exe", &[arg.to_string()]).unwrap_err();
            assert!(e.to_string().contains(reason), "{e}");
        }
    }

    #[test]
    fn msi_goes_through_msiexec_with_a_verbose_log_beside_the_wrapper() {
        let command = install_command("agent.msi", &["/qn".into()]).unwrap();
        assert_eq!(
            command.line,
            r#"msiexec /i agent.msi /l*v "%~dp0pushinst-msi.log" /qn"#
        );
        let args = vec![
            "/quiet".to_string(),
            "INSTALLDIR=C:\\Program Files\\Acme".to_string(),
            "100%".to_string(),
        ];
        assert_eq!(
            install_command("AcmeSetup.exe", &args).unwrap().line,
            r#"AcmeSetup.exe /quiet "INSTALLDIR=C:\Program Files\Acme" "100%%""#
        );
    }
}
