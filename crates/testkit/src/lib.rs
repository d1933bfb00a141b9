//! danga-testkit (dev-only): what the integration tests need to drive real
//! daemon binaries.
//!
//! * [`Daemon`]: start a workspace binary on 127.0.0.1 with port 0 and a
//!   `--ready-file`, learn its ports from that file (no sleeps), stop it
//!   with SIGTERM or kill it on drop, and print its stderr when the test
//!   that owned it fails.
//! * [`TestDb`]: one MariaDB database per test, dropped afterwards.
//! * [`require`]: the rule for optional third-party tools and services:
//!   missing under `CI=true` fails the test, elsewhere skips it with a reason.

// Test helpers block on std time: they run no tokio runtime.
#![allow(clippy::disallowed_types)]

mod daemon;
mod db;
mod wait;

pub use daemon::{bin_path, Daemon, Spawn};
pub use db::TestDb;
pub use wait::{parse_ready, wait_for, wait_for_file};

/// True when the tests run in CI (`CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Checks that something a test needs is there. Missing: under CI the test
/// fails (panics) naming it; elsewhere it returns false after saying why, so
/// the test can return early.
pub fn require(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if in_ci() {
        panic!("{what} is required under CI=true but is missing (does .ci/test.sh install it?)");
    }
    eprintln!("SKIPPED: {what} is missing (run .ci/test.sh to install it)");
    false
}

/// Whether `cmd` is an executable on `PATH` (or an existing path).
pub fn have_command(cmd: &str) -> bool {
    if cmd.contains('/') {
        return std::path::Path::new(cmd).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(cmd);
            p.is_file()
                && std::fs::metadata(&p)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                    .unwrap_or(false)
        })
    })
}
