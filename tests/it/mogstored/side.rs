//! The side channel and `/devN/usage`.

use std::io::Write;
use std::time::Duration;

use danga_testkit::{have_command, require};

use super::{digest_of, once, pattern, perl_put, Node};
use crate::wire::{ask, connect, read_until};

#[test]
fn mogstored_side_channel_size_and_digests() {
    let node = Node::start();
    let uri = "/dev7/0/000/000/0000000123.fid";
    let body = pattern(3 * 1024 * 1024 + 17, 9);
    assert_eq!(perl_put(node.http, uri, &body).status, 200);
    let mut s = connect(node.mgmt);
    assert_eq!(
        ask(&mut s, &format!("size {uri}\r\n"), "\r\n"),
        format!("{uri} {}\r\n", body.len())
    );
    let missing = "/dev7/0/000/000/0000000999.fid";
    assert_eq!(
        ask(&mut s, &format!("size {missing}\r\n"), "\r\n"),
        format!("{missing} -1\r\n")
    );
    assert_eq!(
        ask(&mut s, &format!("MD5 {missing}\r\n"), "\r\n"),
        format!("{missing} MD5=-1\r\n")
    );
    if require(
        "md5sum and sha1sum",
        have_command("md5sum") && have_command("sha1sum"),
    ) {
        let md5 = digest_of("md5sum", &node.file(uri));
        assert_eq!(
            ask(&mut s, &format!("MD5 {uri} fsck\r\n"), "\r\n"),
            format!("{uri} MD5={md5}\r\n")
        );
        let sha1 = digest_of("sha1sum", &node.file(uri));
        assert_eq!(
            ask(&mut s, &format!("SHA-1 {uri}\r\n"), "\r\n"),
            format!("{uri} SHA-1={sha1}\r\n")
        );
    }
    // Same path safety as HTTP.
    let reply = ask(&mut s, "size /dev1/../../etc/passwd\r\n", "\r\n");
    assert!(reply.starts_with("ERROR: uri invalid"), "{reply:?}");
    assert_eq!(
        ask(&mut s, "frobnicate\r\n", "\r\n"),
        "ERROR: unknown command: frobnicate\r\n"
    );
    let version = ask(&mut s, "version\r\n", ".\r\n");
    assert!(version.ends_with("version 1.80\r\n.\r\n"), "{version:?}");
}

#[test]
fn mogstored_watch_streams_device_lines() {
    let node = Node::start();
    let mut s = connect(node.mgmt);
    s.write_all(b"watch\r\n").expect("write");
    let batch = read_until(&mut s, b"\n.\n");
    let lines: Vec<&str> = batch.lines().collect();
    assert_eq!(lines.len(), 3, "{batch:?}");
    for (line, dev) in lines.iter().zip(["1", "7"]) {
        let (id, util) = line.split_once('\t').expect("tab");
        assert_eq!(id, dev);
        let util: f64 = util.parse().expect("number");
        assert!((0.0..=100.0).contains(&util), "{line}");
    }
    // A watcher does not hold up other side-channel clients.
    assert_eq!(
        ask(&mut connect(node.mgmt), "size /dev1/none\r\n", "\r\n"),
        "/dev1/none -1\r\n"
    );
}

#[test]
fn mogstored_usage_files() {
    let node = Node::start();
    let path = node.file("/dev7/usage");
    let ok = danga_testkit::wait_for(Duration::from_secs(5), || path.exists());
    assert!(ok, "usage written at start");
    let reply = once(node.http, "GET /dev7/usage HTTP/1.0\r\n\r\n", b"");
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body).expect("text");
    let mut keys = Vec::new();
    for line in text.lines() {
        let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("{line:?}"));
        match k {
            "available" | "total" | "used" | "time" => {
                v.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
            }
            "use" => {
                let pct: u64 = v.trim_end_matches('%').parse().expect("percent");
                assert!(v.ends_with('%') && pct <= 100, "{line:?}");
            }
            "disk" => assert!(v.ends_with("dev7"), "{line:?}"),
            _ => assert!(!v.is_empty(), "{line:?}"),
        }
        keys.push(k.to_string());
    }
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
    assert!(node.file("/dev1/usage").exists());
}

#[test]
fn mogstored_side_channel_shutdown_stops_the_daemon() {
    use danga_testkit::wait_for;
    use std::io::Read;
    let mut node = Node::start();
    let mut s = connect(node.mgmt);
    s.write_all(b"shutdown\r\n").expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The connection closes (readable at EOF), then the process ends.
    let mut rest = Vec::new();
    assert!(s.read_to_end(&mut rest).is_ok(), "closed");
    let mut status = None;
    let stopped = wait_for(Duration::from_secs(10), || {
        status = node.daemon.try_exit();
        status.is_some()
    });
    assert!(stopped, "still running: {}", node.daemon.stderr());
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
