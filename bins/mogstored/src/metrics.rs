//! `--metrics-listen`: each `devN` folder's space, measured as the `usage`
//! file the tracker's monitor reads (same statvfs figures, in bytes).

use std::path::Path;

use danga_common::metrics::{Exposition, Kind};
use danga_mogilefs::storage::{devices, usage};

/// A metric family: name, help, the figure (in KB).
type Family = (&'static str, &'static str, fn(&usage::Usage) -> u64);

/// The exposition of the devices under `root`.
pub fn render(root: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut rows = Vec::new();
    for (devid, dir) in devices(root) {
        if let Ok(u) = usage::measure(&dir, &mounts) {
            rows.push((format!("dev{devid}"), u));
        }
    }
    let mut e = Exposition::new();
    e.one(
        "mogstored_up",
        Kind::Gauge,
        "The storage node is serving.",
        1.0,
    );
    e.one(
        "mogstored_devices",
        Kind::Gauge,
        "devN folders under the docroot.",
        rows.len() as f64,
    );
    let families: [Family; 3] = [
        (
            "mogstored_device_total_bytes",
            "Size of the device's filesystem.",
            |u| u.total,
        ),
        (
            "mogstored_device_used_bytes",
            "Bytes in use on the device's filesystem.",
            |u| u.used,
        ),
        (
            "mogstored_device_available_bytes",
            "Bytes free for unprivileged writers on the device's filesystem.",
            |u| u.available,
        ),
    ];
    for (name, help, kb) in families {
        for (dev, u) in &rows {
            e.sample(
                name,
                Kind::Gauge,
                help,
                &[("device", dev)],
                (kb(u) * 1024) as f64,
            );
        }
    }
    e.finish()
}
