//! mogstored, the storage node: files under a docroot of `devN` folders,
//! laid out as the original (`dev7/0/000/000/0000000123.fid` for fid 123
//! on device 7), served over HTTP, measured into `/devN/usage`, and checked
//! through the side channel.
//!
//! * [`path`]: request path → file under the docroot, never outside it;
//! * [`http`]: GET/HEAD (single Range), PUT (temp file + rename,
//!   Content-MD5), DELETE, keep-alive; files stream in bounded chunks;
//! * [`usage`]: the `/devN/usage` writer (every 10 s);
//! * [`side`]: the side channel (`size`, `MD5`/`SHA-1`, `watch`, console).

pub mod http;
pub mod path;
pub mod side;
pub mod usage;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Size of the buffer each transfer streams through.
pub const CHUNK: usize = 64 * 1024;

/// One storage node's shared state.
#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    /// The docroot opened, for look-ups beneath it ([`path::open_beneath`]).
    root_fd: Option<Arc<OwnedFd>>,
    started: u64,
    /// How long an HTTP keep-alive connection may sit idle between
    /// requests (Perlbal's `persist_client_idle_timeout`, 30 s).
    keepalive_idle: std::time::Duration,
}

/// Perlbal's `persist_client_idle_timeout` default.
pub const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

impl Storage {
    /// Opens the docroot, which must exist (as the original requires).
    pub fn open(docroot: &Path) -> io::Result<Self> {
        let root = path::canonical_root(docroot)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("docroot {} is not a directory", docroot.display()),
            ));
        }
        Ok(Storage {
            root_fd: path::open_root(&root).map(Arc::new),
            root,
            started: unix_now(),
            keepalive_idle: KEEPALIVE_IDLE,
        })
    }

    /// Sets the keep-alive idle limit (at least 1 s).
    pub fn with_keepalive_idle(mut self, idle: std::time::Duration) -> Self {
        self.keepalive_idle = idle.max(std::time::Duration::from_secs(1));
        self
    }

    /// How long a keep-alive connection may sit idle.
    pub fn keepalive_idle(&self) -> std::time::Duration {
        self.keepalive_idle
    }

    /// The docroot, canonical.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The docroot opened as a directory handle, if that worked.
    pub fn root_fd(&self) -> Option<&Arc<OwnedFd>> {
        self.root_fd.as_ref()
    }

    /// Start time, UNIX seconds.
    pub fn started(&self) -> u64 {
        self.started
    }
}

pub use danga_common::clock::unix_now;

/// The device number of a docroot entry named `devN`.
pub fn devid_of(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("dev")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The `devN` folders under `root`, sorted by N.
pub fn devices(root: &Path) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(devid_of) else {
                continue;
            };
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push((id, entry.path()));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!(devid_of("dev7"), Some(7));
        assert_eq!(devid_of("dev"), None);
        assert_eq!(devid_of("dev7x"), None);
        assert_eq!(devid_of("de7"), None);
    }
}
