//! What the taskset's tests share: running the binary as a user would, in a directory of
//! its own, with none of the test's environment but `PATH`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `acr-sync-taskset` in `dir` (also its `HOME`), with an empty environment but `PATH`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acr-sync-taskset"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir);
    cmd
}

/// Runs it with `args` and the environment variables `env`.
pub fn taskset(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("acr-sync-taskset runs")
}

/// Runs the shell `command` in `dir` on a terminal of its own (util-linux `script` gives
/// it a pty, as a person's terminal would), with an empty environment but `PATH`; what the
/// terminal showed is its stdout.
pub fn on_terminal(dir: &Path, command: &str) -> Output {
    Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .expect("script (util-linux) runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
