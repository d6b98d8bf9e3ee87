//! `pushinst creds set|delete|list` against a real Secret Service: GNOME Keyring in
//! a private D-Bus session, as the keyring test of tests/deploy_ssh.rs uses it. The
//! password is typed on a real terminal (a Python `pty` driver types at the prompts).

use std::process::Command;

#[path = "common/offline.rs"]
mod offline;
use offline::{pushinst, text};

/// Types each password once its prompt is on the terminal and echo is off, as a
/// person does, and prints everything the terminal showed.
const DRIVE: &str = r#"
import os, pty, sys, termios, time
bin, name, answers = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(bin, [bin, "creds", "set", name])
seen = b""
prompts = [b"password for keyring entry", b"the same again"]
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if prompts and prompts[0] in seen and answers:
        prompts.pop(0)
        # Type only once the program has turned echo off; if it never does, that is
        # the failure this test is for.
        deadline = time.monotonic() + 20
        while termios.tcgetattr(fd)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                sys.stdout.write("ECHO STAYED ON\n")
                sys.exit(99)
            time.sleep(0.01)
        os.write(fd, answers.pop(0).encode() + b"\n")
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"#;

#[test]
fn a_password_set_twice_without_echo_is_listed_by_name_read_by_secret_tool_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_pushinst");
    let script = format!(
        r#"set -u
echo -n unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null
python3 drive.py {bin} alpha 'Tr0ub4dor&3' 'Tr0ub4dor&3' > set.out; echo $? > set.rc
python3 drive.py {bin} beta one two > mismatch.out; echo $? > mismatch.rc
{bin} creds list > list.out
secret-tool lookup service pushinst credential alpha > lookup.out
{bin} creds delete alpha > delete.out; echo $? > delete.rc
{bin} creds list > list2.out
{bin} creds delete alpha 2> again.err; echo $? > again.rc
"#
    );
    std::fs::write(dir.path().join("drive.py"), DRIVE).unwrap();
    let status = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .status()
        .expect("dbus-run-session (apt: dbus gnome-keyring libsecret-tools)");
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert_eq!(read("set.rc").trim(), "0", "{}", read("set.out"));
    assert!(read("set.out").contains("stored; use it as password = { keyring = \"alpha\" }"));
    // Typed on a terminal whose echo the program had turned off (the driver waits
    // for that and exits 99 if it never happens).
    assert!(!read("set.out").contains("ECHO STAYED ON"), "{}", read("set.out"));
    assert!(!read("set.out").contains("Tr0ub4dor"), "{}", read("set.out"));
    assert_ne!(read("mismatch.rc").trim(), "0");
    assert!(read("mismatch.out").contains("the two passwords differ; nothing was stored"));
    assert_eq!(read("list.out"), "alpha\n", "only the stored name, no password");
    assert_eq!(read("lookup.out"), "Tr0ub4dor&3");
    assert_eq!(read("delete.rc").trim(), "0");
    assert_eq!(read("list2.out"), "");
    assert_eq!(read("again.rc").trim(), "2");
    assert!(read("again.err").contains("no keyring entry `alpha`"));
}

#[test]
fn set_without_a_terminal_is_refused_rather_than_read_from_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let out = pushinst(dir.path(), &["creds", "set", "alpha"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("standard input is not a terminal"),
        "{}",
        text(&out.stderr)
    );
}
