//! Slow peers and big files: one stalled upload holds up nobody, and a
//! 10 MB transfer does not pass through memory whole.

use std::io::Write;
use std::time::Duration;

use tokio::time::Instant;

use super::{once, pattern, perl_put, read_reply, Node};
use crate::wire::connect;

#[test]
fn mogstored_half_sent_put_blocks_nobody() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000005.fid";
    let mut slow = connect(node.http);
    slow.write_all(format!("PUT {uri} HTTP/1.0\r\nContent-length: 10\r\n\r\nhalf").as_bytes())
        .expect("half a PUT");
    let mut half_head = connect(node.http);
    half_head
        .write_all(b"GET /dev1/usage HTTP/1.1\r\nHo")
        .expect("half a head");

    let started = Instant::now();
    assert_eq!(
        perl_put(node.http, "/dev1/0/000/000/0000000006.fid", b"quick").status,
        200
    );
    assert_eq!(
        once(
            node.http,
            "GET /dev1/0/000/000/0000000006.fid HTTP/1.0\r\n\r\n",
            b""
        )
        .body,
        b"quick"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "others waited {:?}",
        started.elapsed()
    );
    assert!(
        !node.file(uri).exists(),
        "an unfinished upload is not visible"
    );

    slow.write_all(b" done!").expect("rest of the PUT");
    let reply = read_reply(&mut slow, false);
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(
        std::fs::read(node.file(uri)).expect("stored"),
        b"half done!"
    );
}

#[test]
fn mogstored_abandoned_put_leaves_nothing() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000008.fid";
    {
        let mut s = connect(node.http);
        s.write_all(
            format!("PUT {uri} HTTP/1.0\r\nContent-length: 1000\r\n\r\nonly this").as_bytes(),
        )
        .expect("write");
    }
    let dir = node.file("/dev1/0/000/000");
    let clean = danga_testkit::wait_for(Duration::from_secs(5), || {
        std::fs::read_dir(&dir).map_or(true, |d| d.count() == 0)
    });
    assert!(clean, "temporary file left behind");
    assert!(!node.file(uri).exists());
}

/// Peak resident memory of `pid`, in KB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

#[test]
fn mogstored_10mb_transfers_stream() {
    let node = Node::start();
    let uri = "/dev7/0/000/000/0000000007.fid";
    let body = pattern(10 * 1024 * 1024, 7);
    // Warm up the code paths with a small file first.
    assert_eq!(perl_put(node.http, "/dev7/warm.fid", b"warm").status, 200);
    assert_eq!(
        once(node.http, "GET /dev7/warm.fid HTTP/1.0\r\n\r\n", b"").status,
        200
    );
    let before = peak_rss_kb(node.daemon.pid());

    assert_eq!(perl_put(node.http, uri, &body).status, 200);
    let reply = once(node.http, &format!("GET {uri} HTTP/1.0\r\n\r\n"), b"");
    assert!(reply.body == body, "10 MB GET differs");
    let grew = peak_rss_kb(node.daemon.pid()).saturating_sub(before);
    assert!(
        grew < 6 * 1024,
        "peak RSS grew {grew} KB for a 10 MB PUT + GET"
    );
}
