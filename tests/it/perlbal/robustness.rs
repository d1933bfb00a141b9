//! Bad input is refused (closed, or a 400) while a well-behaved client on
//! a keep-alive connection keeps working.

use std::io::{Read, Write};

use super::{perlbal, proxy_conf, read_response, TestBackend};
use crate::version::stops_cleanly;
use crate::wire::connect;

fn reply_to(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = connect(addr);
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn perlbal_rejects_bad_requests_without_disturbing_others() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(
        &[b.addr],
        "persist_client = on\npersist_backend = on",
    ));
    let web = d.addr("web");
    let mut good = connect(web);
    let mut ask = |path: &str| {
        good.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("write");
        read_response(&mut good)
    };
    assert!(ask("/before").ends_with("a GET /before 0"));
    // Closed without a reply, as 1.80 does.
    assert_eq!(
        reply_to(web, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        ""
    );
    assert_eq!(reply_to(web, b"NOT HTTP AT ALL\r\n\r\n"), "");
    assert_eq!(
        reply_to(web, b"GET / HTTP/1.1\r\n\r\n"),
        "",
        "HTTP/1.1 without Host"
    );
    let big = format!(
        "GET / HTTP/1.0\r\nX-Big: {}\r\n\r\n",
        "a".repeat(101 * 1024)
    );
    assert_eq!(reply_to(web, big.as_bytes()), "", "head over 100 KiB");
    // 400s: no request smuggling through disagreeing lengths.
    for bad in [
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        "POST / HTTP/1.0\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let r = reply_to(web, bad.as_bytes());
        assert!(r.starts_with("HTTP/1.0 400 Bad request\r\n"), "{bad:?} -> {r:?}");
    }
    assert!(ask("/after").ends_with("a GET /after 0"));
    let paths: Vec<String> = b.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/before", "/after"],
        "nothing bad reached the backend"
    );
    stops_cleanly(d);
}

#[test]
fn perlbal_closes_a_slowloris_client_after_idle_timeout() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], "idle_timeout = 1"));
    let web = d.addr("web");
    let mut slow = connect(web);
    slow.write_all(b"GET / HTTP/1.0\r\nX-Slow: ")
        .expect("write");
    let mut closed = false;
    let mut rounds = 0;
    for _ in 0..20 {
        rounds += 1;
        std::thread::sleep(std::time::Duration::from_millis(200));
        if slow.write_all(b"a").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 16];
        slow.set_nonblocking(true).expect("nonblocking");
        let r = slow.read(&mut buf);
        slow.set_nonblocking(false).expect("blocking");
        if matches!(r, Ok(0)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a head trickling in is cut off");
    assert!(
        rounds < 15,
        "cut off within about idle_timeout ({rounds} rounds of 200 ms)"
    );
    let r = super::get(web, "/ok", "");
    assert!(r.ends_with("a GET /ok 0"), "{r}");
    stops_cleanly(d);
}
