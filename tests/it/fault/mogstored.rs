//! mogstored when a device's disk fills during a PUT.

use std::io::{Read, Write};
use std::time::Duration;

use super::Tmpfs;
use crate::mogilefs::{call, line, ok, Cluster};
use crate::wire::connect;

/// PUTs `body` at `url` and returns the status line's code (`None`: the
/// connection ended without a reply). Writing may fail midway once the
/// server has answered and closed: the reply is still read.
fn put_status(url: &str, body: &[u8]) -> Option<u16> {
    let rest = url.strip_prefix("http://").expect("http url");
    let slash = rest.find('/').expect("path");
    let mut s = connect(rest[..slash].parse().expect("addr"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "PUT {} HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        &rest[slash..],
        body.len()
    );
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
}

/// Names in `dir` (recursively) that are not mogstored's `usage` file.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n != "usage") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// Promise: when a device's disk fills during a PUT (a body streamed to
/// disk, and a small body written in one go), the client gets no 2xx (a
/// 5xx when it is still listening), nothing is left on the device —
/// neither under the fid's name nor as a temporary file — and a
/// `create_close` for that upload fails, so the tracker records no copy;
/// the node then still stores a file that fits.
#[test]
fn fault_mogstored_disk_full_during_put_leaves_nothing_recorded() {
    let c = Cluster::start(1);
    // Both devices of the node on small tmpfs mounts (the node resolves
    // paths through its docroot, so mounts made now are seen).
    let root = c.nodes[0].docroot.path().to_path_buf();
    let Some(_dev1) = Tmpfs::on(&root.join("dev1"), 256) else {
        return;
    };
    let Some(_dev2) = Tmpfs::on(&root.join("dev2"), 256) else {
        return;
    };
    let mut s = c.conn();
    let big = vec![b'B'; 1024 * 1024];
    // A small body: the disk is nearly full first.
    let small = vec![b's'; 48 * 1024];
    for (key, body, fill) in [("big", &big, false), ("small", &small, true)] {
        // Opened first: a device the monitor already saw full is not handed out.
        let open = ok(&call(
            &mut s,
            &line(
                "create_open",
                &[("domain", "d"), ("key", key), ("class", "c")],
            ),
        ));
        let (fid, devid, path) = (
            open.get("fid").expect("fid").to_owned(),
            open.get("devid").expect("devid").to_owned(),
            open.get("path").expect("path").to_owned(),
        );
        if fill {
            for dev in ["dev1", "dev2"] {
                // Leaves well under 48 KiB free.
                let mut f = std::fs::File::create(root.join(dev).join("filler")).expect("filler");
                let chunk = vec![0u8; 4096];
                for _ in 0..1024 {
                    if f.write_all(&chunk).is_err() {
                        break;
                    }
                }
                drop(f);
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .open(root.join(dev).join("filler"))
                    .and_then(|f| {
                        let len = f.metadata()?.len();
                        f.set_len(len.saturating_sub(16 * 1024))
                    });
            }
        }
        let status = put_status(&path, body);
        assert!(
            status.is_none_or(|s| s >= 500),
            "{key}: PUT on a full disk answered {status:?}"
        );
        if key == "small" {
            assert_eq!(status, Some(500), "a body sent whole gets its reply");
        }
        let on_disk = c.file_of(&path);
        assert!(!on_disk.exists(), "{key}: {} left", on_disk.display());
        let leftovers: Vec<String> = files_under(&root)
            .into_iter()
            .filter(|p| !p.ends_with("filler"))
            .collect();
        assert!(leftovers.is_empty(), "{key}: left {leftovers:?}");
        // A client that closes anyway: refused, nothing recorded.
        let close = call(
            &mut s,
            &line(
                "create_close",
                &[
                    ("domain", "d"),
                    ("key", key),
                    ("fid", &fid),
                    ("devid", &devid),
                    ("path", &path),
                    ("size", &body.len().to_string()),
                ],
            ),
        );
        assert!(close.starts_with("ERR "), "{key}: create_close {close:?}");
        let r = call(&mut s, &line("get_paths", &[("domain", "d"), ("key", key)]));
        assert!(r.starts_with("ERR unknown_key"), "{key}: {r:?}");
    }
    // Room again: the node stores and serves.
    for dev in ["dev1", "dev2"] {
        std::fs::remove_file(root.join(dev).join("filler")).expect("rm filler");
    }
    let (_, path) = crate::mogilefs::store(&mut s, "after", b"fits");
    assert_eq!(crate::mogilefs::get(&path), (200, b"fits".to_vec()));
}
