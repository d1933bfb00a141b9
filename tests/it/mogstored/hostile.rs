//! What a hostile or careless client must not do to a storage node: wedge
//! it with a FIFO, hold every connection slot by idling, or make device
//! folders appear with a PUT.

use std::io::{Read, Write};
use std::time::Duration;

use tokio::time::Instant;

use super::{exchange, once, perl_put, Node};
use crate::wire::{ask, connect};

#[test]
fn mogstored_fifo_under_the_docroot_is_refused_without_blocking() {
    let mut node = Node::start();
    let fifo = node.file("/dev1/pipe.fid");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    for method in ["HEAD", "GET"] {
        let t0 = Instant::now();
        let r = once(
            node.http,
            &format!("{method} /dev1/pipe.fid HTTP/1.0\r\n\r\n"),
            b"",
        );
        assert_eq!(r.status, 403, "{method}: {r:?}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{method} waited");
    }
    // The side channel does not wait on it either.
    let mut side = connect(node.mgmt);
    assert_eq!(
        ask(&mut side, "MD5 /dev1/pipe.fid\r\n", "\r\n"),
        "/dev1/pipe.fid MD5=-1\r\n"
    );
    // Still serving, and it stops on SIGTERM.
    assert_eq!(perl_put(node.http, "/dev1/x.fid", b"ok").status, 200);
    node.daemon.signal(nix::sys::signal::Signal::SIGTERM);
    let stopped =
        danga_testkit::wait_for(Duration::from_secs(10), || node.daemon.try_exit().is_some());
    assert!(stopped, "{}", node.daemon.stderr());
}

#[test]
fn mogstored_put_for_a_missing_device_is_404() {
    let node = Node::start();
    let r = perl_put(node.http, "/dev77/0/000/000/0000000001.fid", b"x");
    assert_eq!(r.status, 404, "{r:?}");
    assert!(!node.file("/dev77").exists(), "no device folder made");
    // Deeper folders of an existing device are still made.
    let r = perl_put(node.http, "/dev7/0/000/001/0000001001.fid", b"x");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn mogstored_idle_keep_alive_connections_time_out_and_spare_the_side_channel() {
    let node = Node::start_with(&["--maxconns=2", "--persist_client_idle_timeout=2"]);
    let put = "PUT /dev1/k.fid HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(node.http);
        assert_eq!(exchange(&mut s, put, b"k").status, 200);
        held.push(s);
    }
    // Every HTTP slot is held by an idle client: the side channel answers.
    let mut side = connect(node.mgmt);
    let t0 = Instant::now();
    let v = ask(&mut side, "version\r\n", ".\r\n");
    assert!(v.contains("version "), "{v:?}");
    // A third HTTP client is served once the idle ones are dropped.
    let mut third = connect(node.http);
    let r = exchange(&mut third, "HEAD /dev1/k.fid HTTP/1.0\r\n\r\n", b"");
    assert_eq!(r.status, 200);
    let waited = t0.elapsed();
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    for mut s in held {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut b = [0u8; 16];
        assert!(matches!(s.read(&mut b), Ok(0)), "closed by the server");
        let _ = s.write_all(b"x");
    }
}
