//! The `/devN/usage` files the tracker's monitor fetches over HTTP: one
//! `key: value` line per field, keys sorted as the original prints them,
//! sizes in KB (as `df -k`). Rewritten every [`INTERVAL`] and once at start.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use danga_common::Shutdown;

use super::{devices, unix_now};

/// How often the files are rewritten.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// One device's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// KB free for unprivileged users.
    pub available: u64,
    /// The filesystem's source (`/dev/sda1`), else the folder.
    pub device: String,
    /// The `devN` folder.
    pub disk: String,
    /// When measured, UNIX seconds.
    pub time: u64,
    /// KB in the filesystem.
    pub total: u64,
    /// KB in use.
    pub used: u64,
}

impl Usage {
    /// Percent used as `df` rounds it: up, over used + available.
    pub fn use_percent(&self) -> u64 {
        let room = self.used + self.available;
        if room == 0 {
            0
        } else {
            (self.used * 100).div_ceil(room)
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        format!(
            "available: {}\ndevice: {}\ndisk: {}\ntime: {}\ntotal: {}\nuse: {}%\nused: {}\n",
            self.available,
            self.device,
            self.disk,
            self.time,
            self.total,
            self.use_percent(),
            self.used
        )
    }
}

/// The source of the mount holding `path` (longest mount-point prefix) in a
/// `/proc/mounts` text.
pub fn mount_source(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let source = f.next()?;
            let point = f.next()?.replace("\\040", " ");
            path.starts_with(&point)
                .then(|| (point.len(), source.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, s)| s)
}

/// Measures one `devN` folder.
// statvfs field types differ between platforms (u32 on some 32-bit ones).
#[allow(clippy::useless_conversion)]
pub fn measure(dir: &Path, mounts: &str) -> io::Result<Usage> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(io::Error::from)?;
    let frag = u64::from(st.fragment_size()).max(1);
    let kb = |blocks: u64| blocks.saturating_mul(frag) / 1024;
    let total = kb(u64::from(st.blocks()));
    let free = kb(u64::from(st.blocks_free()));
    let available = kb(u64::from(st.blocks_available()));
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(Usage {
        available,
        device: mount_source(mounts, &real).unwrap_or_else(|| dir.display().to_string()),
        disk: dir.display().to_string(),
        time: unix_now(),
        total,
        used: total.saturating_sub(free),
    })
}

/// Rewrites `usage` in every `devN` folder under `root`; how many written.
pub fn write_all(root: &Path) -> usize {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut written = 0;
    for (_, dir) in devices(root) {
        let result = measure(&dir, &mounts).and_then(|u| {
            danga_common::listen::write_atomically(&dir.join("usage"), u.render().as_bytes())
        });
        match result {
            Ok(()) => written += 1,
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot write usage"),
        }
    }
    written
}

/// Keeps the usage files current until shutdown.
pub fn spawn(root: PathBuf, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    let stop = shutdown.clone();
    stop.spawn(async move {
        loop {
            let r = root.clone();
            let _ = tokio::task::spawn_blocking(move || write_all(&r)).await;
            if shutdown
                .until_stopped(tokio::time::sleep(INTERVAL))
                .await
                .is_none()
            {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_keys_in_kb() {
        let u = Usage {
            available: 300,
            device: "/dev/sda1".into(),
            disk: "/var/mogdata/dev1".into(),
            time: 1_700_000_000,
            total: 1000,
            used: 701,
        };
        assert_eq!(
            u.render(),
            "available: 300\ndevice: /dev/sda1\ndisk: /var/mogdata/dev1\ntime: 1700000000\n\
             total: 1000\nuse: 71%\nused: 701\n"
        );
    }

    #[test]
    fn longest_mount_wins() {
        let mounts =
            "/dev/root / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n/dev/sdb1 /tmp/x y rw 0 0\n";
        assert_eq!(
            mount_source(mounts, Path::new("/tmp/a/dev1")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            mount_source(mounts, Path::new("/var/dev1")).as_deref(),
            Some("/dev/root")
        );
        assert_eq!(mount_source("", Path::new("/x")), None);
    }

    #[test]
    fn measures_a_real_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("dev3")).expect("dev3");
        assert_eq!(write_all(dir.path()), 1);
        let text = std::fs::read_to_string(dir.path().join("dev3/usage")).expect("usage");
        let keys: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
        assert_eq!(
            keys,
            [
                "available",
                "device",
                "disk",
                "time",
                "total",
                "use",
                "used"
            ]
        );
    }
}
