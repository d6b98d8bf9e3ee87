//! The Windows emulator's Kerberos is itself a test peer: it must accept what a real
//! Windows host accepts and refuse what it refuses, or the Kerberos tests of pushinst
//! prove nothing. tests/windows-emulator/krb_selftest.sh checks it with impacket's own
//! Kerberos client against a real KDC (a Samba AD DC); this runs it with the suite.

use std::path::Path;
use std::process::Command;

#[test]
fn the_emulator_takes_kerberos_as_windows_does_proven_with_impackets_client() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/windows-emulator/krb_selftest.sh");
    let out = Command::new(&script).output().expect("run krb_selftest.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
