//! Per-connection bounds: a multi-get is written out as it goes (memory
//! stays flat whatever the key count), `-o read_buf_mem_limit` refuses
//! what would not fit, `-R` makes a pipelining connection yield, and
//! `-o idle_timeout` closes silent connections. Where Debian's 1.6.18 is
//! installed, the same checks run against it.

use std::io::{Read, Write};
use std::time::Duration;

use tokio::time::Instant;

use super::{original, ours, Mc};
use crate::wire::{ask, connect, read_until};

/// The value of `STAT name` in a `stats` reply.
fn stat(s: &mut std::net::TcpStream, name: &str) -> u64 {
    let all = ask(s, "stats\r\n", "END\r\n");
    all.lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {all}"))
}

/// The resident set of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_multiget_of_a_large_value_is_streamed_in_flat_memory() {
    let mc = ours(&["-m", "64"]);
    let mut s = connect(mc.addr);
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let value = vec![b'v'; 500_000];
    s.write_all(b"set k 0 0 500000\r\n").expect("write");
    s.write_all(&value).expect("write");
    s.write_all(b"\r\n").expect("write");
    assert_eq!(read_until(&mut s, b"\r\n"), "STORED\r\n");
    let before = rss_kb(mc.daemon.pid());

    // One small line, 4,000 keys: a 2 GB reply if built whole.
    let keys = 4000usize;
    let mut line = b"get".to_vec();
    for _ in 0..keys {
        line.extend_from_slice(b" k");
    }
    line.extend_from_slice(b"\r\n");
    s.write_all(&line).expect("write");
    let block = b"VALUE k 0 500000\r\n".len() + value.len() + 2;
    let total = keys * block + b"END\r\n".len();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    let mut peak = before;
    let mut tail = Vec::new();
    let started = Instant::now();
    while got < total {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "slow: {got} of {total}"
        );
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {got} of {total} bytes");
        got += n;
        if got > total - 16 {
            tail.extend_from_slice(&buf[..n]);
        }
        if got % (64 << 20) < n {
            peak = peak.max(rss_kb(mc.daemon.pid()));
        }
    }
    assert_eq!(got, total);
    assert!(tail.ends_with(b"\r\nEND\r\n"));
    // Flat: the reply is never held whole (it was ~2 GB before).
    assert!(
        peak < before + 32 * 1024,
        "RSS grew from {before} kB to {peak} kB"
    );
    assert_eq!(stat(&mut s, "get_hits"), keys as u64);
}

fn refuses_what_the_reply_objects_cannot_hold(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let line = format!("get{}\r\n", " foo".repeat(500));
    assert_eq!(
        ask(&mut s, &line, "\r\n"),
        "SERVER_ERROR out of memory writing get response\r\n",
        "{who}"
    );
    // The connection stays usable; the refusal is counted.
    assert!(stat(&mut s, "response_obj_oom") >= 1, "{who}");

    // Replies stacked by pipelined requests: the connection is dropped.
    let mut p = connect(mc.addr);
    p.write_all("mg foo v\r\n".repeat(500).as_bytes())
        .expect("write");
    let mut buf = [0u8; 64];
    assert_eq!(p.read(&mut buf).unwrap_or(0), 0, "{who}: closed, no reply");
    assert!(stat(&mut s, "response_obj_oom") >= 2, "{who}");
}

#[test]
fn read_buf_mem_limit_refuses_oversized_replies() {
    let flags = ["-o", "read_buf_mem_limit=1", "-t", "32", "-R", "500"];
    refuses_what_the_reply_objects_cannot_hold(&ours(&flags), "ours");
    if let Some(orig) = original(&flags) {
        refuses_what_the_reply_objects_cannot_hold(&orig, "original");
    }
}

fn yields_between_pipelined_requests(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let req = "set foobar 0 0 5\r\nBubba\r\n".repeat(6);
    assert_eq!(
        ask(&mut s, &req, &"STORED\r\n".repeat(6)),
        "STORED\r\n".repeat(6),
        "{who}"
    );
    assert!(stat(&mut s, "conn_yields") >= 5, "{who}");
}

#[test]
fn r_makes_a_pipelining_connection_yield() {
    yields_between_pipelined_requests(&ours(&["-R", "1"]), "ours");
    if let Some(orig) = original(&["-R", "1"]) {
        yields_between_pipelined_requests(&orig, "original");
    }
}

fn kicks_idle_connections(mc: &Mc, who: &str) {
    let mut idle = connect(mc.addr);
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut active = connect(mc.addr);
    assert_eq!(stat(&mut active, "idle_kicks"), 0, "{who}");
    let started = Instant::now();
    // Kept busy, a connection stays.
    while started.elapsed() < Duration::from_millis(2500) {
        assert_eq!(
            ask(&mut active, "version\r\n", "\r\n"),
            "VERSION 1.6.18\r\n"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Silent, it is closed.
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(1), 0, "{who}: closed");
    assert!(started.elapsed() < Duration::from_secs(15), "{who}");
    assert_eq!(stat(&mut active, "idle_kicks"), 1, "{who}");
}

#[test]
fn idle_timeout_closes_silent_connections() {
    kicks_idle_connections(&ours(&["-o", "idle_timeout=2"]), "ours");
    if let Some(orig) = original(&["-o", "idle_timeout=2"]) {
        kicks_idle_connections(&orig, "original");
    }
}
