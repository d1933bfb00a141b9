//! The protocol's framing and errors against a running tracker.

use std::io::Write;

use super::{call, err, Cluster};
use crate::wire::read_until;

#[test]
fn mogilefs_bad_input_gets_the_right_err_and_the_tracker_keeps_serving() {
    let c = Cluster::start(1);
    let mut s = c.conn();
    assert_eq!(
        call(&mut s, "\u{1}\u{2}garbage"),
        "ERR unknown_command Unknown+server+command\r\n"
    );
    assert_eq!(
        call(&mut s, "stats"),
        "ERR unknown_command Unknown+server+command\r\n"
    );
    assert_eq!(call(&mut s, "NoOp callid=42"), "OK callid=42\r\n");
    assert_eq!(
        call(&mut s, "get_paths key=k&callid=7"),
        "ERR no_domain No+domain+provided 7\r\n"
    );
    for (req, code) in [
        ("get_paths domain=nope&key=k", "unreg_domain"),
        ("get_paths domain=d", "no_key"),
        ("create_open domain=d&class=nope", "unreg_class"),
        (
            "create_close domain=d&key=k&fid=99&devid=1&path=http://x/",
            "no_temp_file",
        ),
        ("create_close domain=d&key=k&devid=1&path=x", "no_fid"),
        ("create_close domain=d&key=k&fid=1&path=x", "no_devid"),
        ("create_close domain=d&key=k&fid=1&devid=1", "no_path"),
        ("delete domain=d", "no_key"),
        ("create_domain domain=d", "domain_exists"),
        ("create_host host=s0&ip=127.0.0.1&port=1", "host_exists"),
        ("create_device hostname=s0&devid=1", "existing_devid"),
        ("set_state host=s0&device=1&state=bogus", "invalid_state"),
    ] {
        assert_eq!(err(&call(&mut s, req)), code, "{req}");
    }
    let big = format!("noop pad={}", "x".repeat(1 << 20));
    assert_eq!(call(&mut s, &big), "OK \r\n");
    // Another client is served meanwhile.
    assert_eq!(call(&mut c.conn(), "noop"), "OK \r\n");
}

#[test]
fn mogilefs_pipelined_requests_are_answered_in_order() {
    let c = Cluster::start(1);
    let mut s = c.conn();
    s.write_all(
        b"noop callid=1\r\n\r\nbogus\nget_domains callid=2\r\n!version\r\nnoop callid=3\r\n",
    )
    .expect("write");
    let all = read_until(&mut s, b"OK callid=3\r\n");
    let lines: Vec<&str> = all.split("\r\n").collect();
    assert_eq!(lines[0], "OK callid=1");
    assert_eq!(lines[1], "ERR unknown_command Unknown+server+command");
    assert!(
        lines[2].starts_with("OK domains=1&domain1=d&"),
        "{}",
        lines[2]
    );
    assert!(lines[2].ends_with("&callid=2"), "{}", lines[2]);
    assert_eq!(&lines[3..6], ["2.73", ".", "OK callid=3"]);
}

#[test]
fn mogilefs_hosts_share_one_ip() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let hosts = call(&mut s, "get_hosts");
    assert!(hosts.starts_with("OK hosts=3&"), "{hosts}");
    let devs = call(&mut s, "get_devices");
    assert!(devs.starts_with("OK devices=6&"), "{devs}");
}

/// An 8 MiB line written 1 KiB at a time: the tracker's line reader goes
/// on from where its newline search stopped, so this costs about what one
/// large write does (a rescan from the start on every read took seconds).
#[test]
fn mogilefs_long_line_in_small_writes_is_read_in_linear_time() {
    let c = Cluster::start(0);
    let mut s = c.conn();
    let t0 = tokio::time::Instant::now();
    s.write_all(b"noop pad=").expect("write");
    let piece = vec![b'a'; 1024];
    for _ in 0..8 * 1024 {
        s.write_all(&piece).expect("write");
    }
    s.write_all(b"\r\n").expect("write");
    assert_eq!(read_until(&mut s, b"\r\n"), "OK \r\n");
    let took = t0.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    assert_eq!(call(&mut s, "noop"), "OK \r\n");
}
