//! The README's first command: `examples/demo.sh` deploys the stand-in agent to its
//! local fleet (five real sshd hosts, two emulated Windows hosts), and the same fleet
//! then takes `pushinst remove`, so the demo inventory stays a working example.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Stops the demo's fleet however the test ends.
struct Demo {
    state: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let _ = Command::new(root.join("examples/fleet/sshd-fleet.sh"))
            .arg("stop")
            .arg(&self.state)
            .status();
        let _ = Command::new(root.join("examples/fleet/windows-emulator.sh"))
            .arg("stop")
            .arg(self.state.join("windows"))
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn the_demo_deploys_to_its_fleet_and_removes_again() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("examples/demo.sh"))
        .env("KEEP", "1")
        .output()
        .expect("run examples/demo.sh");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let state = said
        .lines()
        .find_map(|l| l.strip_prefix("  export PUSHINST_INVENTORY="))
        .and_then(|rest| rest.split_once("/pushinst.toml"))
        .map(|(dir, _)| PathBuf::from(dir))
        .unwrap_or_else(|| panic!("no state dir in: {said}{}", String::from_utf8_lossy(&out.stderr)));
    let _demo = Demo { state: state.clone() };
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("7 host(s) in") && said.contains(": 7 ok (2 need a reboot)"),
        "{said}"
    );
    // What the stand-in installers leave on a Linux and a Windows host.
    let linux = state.join("host1/root/opt/acme/installed");
    let windows = state.join("windows/win1/c/Program Files/Acme/version.txt");
    assert!(linux.exists() && windows.exists(), "{said}");

    let remove = Command::new(env!("CARGO_BIN_EXE_pushinst"))
        .args(["remove", "acme-agent", "--to", "demo"])
        .env("PUSHINST_INVENTORY", state.join("pushinst.toml"))
        .env("PUSHINST_STATE", state.join("history.db"))
        .output()
        .expect("run pushinst remove");
    let said = String::from_utf8_lossy(&remove.stdout).into_owned();
    assert!(
        remove.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&remove.stderr)
    );
    assert!(said.contains("7 removed"), "{said}");
    assert!(!linux.exists() && !windows.exists(), "{said}");
}
