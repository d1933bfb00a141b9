//! `danga up`'s dashboard in headless Chromium: after some load through
//! memcached, the page (drawn by its own script from `/api/series`) has
//! SVG polylines with several points for the memcached charts, and every
//! chart of the stack is on the page.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use danga_testkit::{have_command, require};

use crate::launcher::{data_dir, Stack};
use crate::wire::{ask, connect};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = connect(addr);
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// The number of points of `series` in `chart` of `/api/series`.
fn points(json: &serde_json::Value, chart: &str, series: &str) -> usize {
    json["charts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["title"] == chart)
        .flat_map(|c| c["series"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["name"] == series)
        .map(|s| s["points"].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn dashboard_draws_live_plots_in_chromium() {
    if !require(
        "chromium (Debian package chromium)",
        have_command("chromium"),
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::up(&data_dir(&tmp));
    let dash = SocketAddr::from(([127, 0, 0, 1], 8088 + stack.base));
    let mc = stack.addr("memcached", 0);
    let mut c = connect(mc);
    assert_eq!(ask(&mut c, "set k 0 0 2\r\nhi\r\n", "\r\n"), "STORED\r\n");
    // Load across at least three scrapes (every 2 s), bounded at 30 s.
    let mut api = serde_json::Value::Null;
    for _ in 0..60 {
        for _ in 0..20 {
            ask(&mut c, "get k\r\n", "END\r\n");
        }
        ask(&mut c, "get missing\r\n", "END\r\n");
        std::thread::sleep(Duration::from_millis(500));
        let reply = get(dash, "/api/series");
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        api = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        if points(&api, "memcached hit ratio", "hits / gets") >= 2
            && points(&api, "memcached items and evictions", "items") >= 3
        {
            break;
        }
    }
    assert!(
        points(&api, "memcached hit ratio", "hits / gets") >= 2,
        "no hit-ratio points after 30 s: {api}"
    );
    let page = get(dash, "/");
    assert!(
        page.starts_with("HTTP/1.1 200") || page.starts_with("HTTP/1.0 200"),
        "{page}"
    );
    // Nothing fetched from elsewhere: no external script, style or font.
    assert!(
        !page.contains("src=") && !page.contains("<link") && !page.contains("@import"),
        "{page}"
    );

    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("http://{dash}/"));
    let out = cmd.output().expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for title in [
        "memcached hit ratio",
        "memcached items and evictions",
        "Gearman jobs per function",
        "perlbal requests",
        "perlbal queues",
        "MogileFS stores",
        "MogileFS replication backlog",
        "MogileFS device fill",
    ] {
        assert!(
            dom.contains(&format!("data-title=\"{title}\"")),
            "chart {title} missing:\n{dom}"
        );
    }
    // The script drew the series: a polyline with several points each.
    for series in ["hits / gets", "items"] {
        let at = dom
            .find(&format!("data-series=\"{series}\""))
            .unwrap_or_else(|| panic!("no polyline for {series}:\n{dom}"));
        let tag_start = dom[..at].rfind("<polyline").expect("polyline tag");
        let tag = &dom[tag_start..dom[at..].find('>').map_or(dom.len(), |e| at + e)];
        let count: usize = tag
            .split("data-count=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(count >= 2, "{series}: {tag}");
        let pts = tag
            .split("points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        assert!(
            pts.split(' ').filter(|p| p.contains(',')).count() >= 2,
            "{tag}"
        );
    }
    if let Some(path) = std::env::var_os("DANGA_DASHBOARD_SCREENSHOT") {
        let shot = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--virtual-time-budget=5000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!(
                "--screenshot={}",
                std::path::Path::new(&path).display()
            ))
            .arg(format!("http://{dash}/"))
            .status()
            .expect("screenshot");
        assert!(shot.success());
    }
    let _ = c.write_all(b"quit\r\n");
    let rows = stack.rows.clone();
    let stopped = stack.interrupt();
    crate::launcher::assert_clean_stop(&rows, &stopped);
}
