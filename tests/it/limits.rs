//! The connection limit and each daemon's policy at it, while the first
//! connections keep working.

use std::io::Read;
use std::time::Duration;

use danga_testkit::Daemon;

use crate::version::stops_cleanly;
use crate::wire::{ask, connect, read_until};

#[test]
fn memcached_rejects_past_the_limit_and_keeps_serving() {
    let d = Daemon::start("memcached", &["-p", "-1", "-l", "127.0.0.1", "-c", "3"]);
    let addr = d.addr("memcached");
    let mut first: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    for s in &mut first {
        assert_eq!(ask(s, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    }
    let mut extra = connect(addr);
    assert_eq!(
        read_until(&mut extra, b"\r\n"),
        "ERROR Too many open connections\r\n"
    );
    let mut rest = Vec::new();
    assert_eq!(
        extra.read_to_end(&mut rest).expect("closed"),
        0,
        "then closed"
    );
    for s in &mut first {
        assert_eq!(ask(s, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    }
    let stats = ask(&mut first[0], "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT rejected_connections 1\r\n"), "{stats}");
    assert!(stats.contains("STAT curr_connections 3\r\n"), "{stats}");
    // A freed slot is usable again.
    drop(first.pop());
    let mut again = None;
    assert!(danga_testkit::wait_for(Duration::from_secs(5), || {
        let mut s = connect(addr);
        let ok = ask(&mut s, "version\r\n", "\r\n") == "VERSION 1.6.18\r\n";
        if ok {
            again = Some(s);
        }
        ok
    }));
    stops_cleanly(d);
}

#[test]
fn perlbal_waits_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        "SERVER max_connections = 1\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
    )
    .expect("conf");
    let d = Daemon::start("perlbal", &[&format!("--config={}", conf.display())]);
    let addr = d.addr("mgmt");
    let mut a = connect(addr);
    assert!(ask(&mut a, "version\r\n", ".\r\n").contains("version 1.80"));
    // The second connection lands in the backlog and gets no answer yet.
    let mut b = connect(addr);
    b.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    std::io::Write::write_all(&mut b, b"version\r\n").expect("write");
    let mut buf = [0u8; 64];
    assert!(
        b.read(&mut buf).is_err(),
        "no answer while the only slot is taken"
    );
    assert!(
        ask(&mut a, "version\r\n", ".\r\n").contains("version 1.80"),
        "the first keeps working"
    );
    drop(a);
    b.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert!(
        read_until(&mut b, b".\r\n").contains("version 1.80"),
        "answered once a slot frees"
    );
    stops_cleanly(d);
}
