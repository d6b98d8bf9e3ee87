//! pushinst run by hand in a directory, touching no host: for tests of the command
//! line and the inventory, which need no fleet (included with `#[path]`, not through
//! `common`, so those tests build without the fleet's helpers).

use std::path::Path;
use std::process::{Command, Output};

/// pushinst in `dir`, with `dir` as its home and no inventory from the environment.
pub fn pushinst(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pushinst"))
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("PUSHINST_INVENTORY")
        .args(args)
        .output()
        .expect("run pushinst")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
