//! Bad input never crashes the server, never makes it allocate what a peer
//! declares, and never disturbs other connections.

use std::io::{Read, Write};
use std::time::Duration;

use super::ours;
use crate::wire::{ask, connect, read_until};

#[test]
fn garbage_huge_lengths_and_half_requests_leave_others_unharmed() {
    let mc = ours(&["-m", "16"]);
    let mut bystander = connect(mc.addr);
    assert_eq!(
        ask(&mut bystander, "set keep 0 0 4\r\nsafe\r\n", "\r\n"),
        "STORED\r\n"
    );

    // Garbage bytes: errors, and the connection keeps working.
    let mut g = connect(mc.addr);
    g.write_all(b"\x00\x01\x02\xff\xfe garbage\r\n")
        .expect("write");
    assert_eq!(read_until(&mut g, b"\r\n"), "ERROR\r\n");
    assert_eq!(ask(&mut g, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");

    // A declared 4 GB value is a bad command line (as the original: more
    // than INT_MAX); 2 GB is too large and swallowed, never allocated.
    let mut huge = connect(mc.addr);
    huge.write_all(b"set h 0 0 4294967295\r\n").expect("write");
    assert_eq!(
        read_until(&mut huge, b"\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    huge.write_all(b"set h 0 0 2147483000\r\nabc")
        .expect("write");
    assert_eq!(
        read_until(&mut huge, b"\r\n"),
        "SERVER_ERROR object too large for cache\r\n"
    );
    huge.write_all(&vec![b'z'; 4 << 20]).expect("write");
    drop(huge);

    // A value announced but only half sent, then the peer vanishes.
    let mut half = connect(mc.addr);
    half.write_all(b"set half 0 0 100000\r\nonly a little")
        .expect("write");
    drop(half);

    // A line past 2048 bytes without a newline closes that connection only.
    let mut long = connect(mc.addr);
    long.write_all(&vec![b'a'; 4096]).expect("write");
    let mut buf = [0u8; 16];
    assert_eq!(long.read(&mut buf).unwrap_or(0), 0, "closed");

    // Keys with control characters.
    let mut ctl = connect(mc.addr);
    // (The original accepts control characters in keys; so do we.)
    assert_eq!(
        ask(&mut ctl, "get a\x01b\r\nmn\r\n", "MN\r\n"),
        "END\r\nMN\r\n"
    );

    // Many connections at once, each half-way through a command.
    let stalled: Vec<_> = (0..50)
        .map(|i| {
            let mut s = connect(mc.addr);
            s.write_all(format!("set s{i} 0 0 10\r\n12345").as_bytes())
                .expect("write");
            s
        })
        .collect();
    assert_eq!(
        ask(&mut bystander, "get keep half\r\n", "END\r\n"),
        "VALUE keep 0 4\r\nsafe\r\nEND\r\n"
    );
    drop(stalled);
    let stats = ask(&mut bystander, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT curr_items 1\r\n"), "{stats}");
}

#[test]
fn a_slow_sender_does_not_hold_the_cache() {
    let mc = ours(&[]);
    let mut slow = connect(mc.addr);
    slow.write_all(b"set slow 0 0 1000000\r\n").expect("write");
    slow.write_all(&vec![b's'; 500_000]).expect("write");
    // While that value is half-way, everyone else is served at once.
    let mut other = connect(mc.addr);
    other
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    for i in 0..100 {
        assert_eq!(
            ask(&mut other, &format!("set o{i} 0 0 1\r\nx\r\n"), "\r\n"),
            "STORED\r\n"
        );
    }
    slow.write_all(&vec![b's'; 500_000]).expect("write");
    slow.write_all(b"\r\n").expect("write");
    assert_eq!(read_until(&mut slow, b"\r\n"), "STORED\r\n");
}

#[test]
fn a_set_may_reuse_the_memory_of_the_value_it_replaces() {
    // -m 2: two pages. Two 900 KB values fill them; setting the first key
    // again must evict its old value rather than fail for lack of memory.
    let mc = ours(&["-m", "2", "-I", "1m"]);
    let mut s = connect(mc.addr);
    let value = "w".repeat(900_000);
    for key in ["a", "b", "a", "a"] {
        let reply = ask(
            &mut s,
            &format!("set {key} 0 0 {}\r\n{value}\r\n", value.len()),
            "\r\n",
        );
        assert_eq!(reply, "STORED\r\n", "set {key}");
    }
    let got = ask(&mut s, "get a\r\n", "END\r\n");
    assert!(
        got.starts_with("VALUE a 0 900000\r\n"),
        "{}",
        &got[..got.len().min(40)]
    );
}
