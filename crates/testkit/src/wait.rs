//! Bounded waiting: poll a condition until it holds or a deadline passes.
//! This is how tests wait for readiness: never a fixed sleep.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Polls `cond` every few milliseconds for up to `timeout`; true if it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Waits for `path` to exist (ready files are renamed into place whole).
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    wait_for(timeout, || path.exists())
}

/// Reads a ready file: `NAME address` per line.
pub fn parse_ready(path: &Path) -> std::io::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, a)| (n.to_owned(), a.to_owned()))
        .collect())
}
