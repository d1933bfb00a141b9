//! Priority queues: with verify_backend in front of a busy one-at-a-time
//! backend, clients queue; a high-priority cookie overtakes them.

use std::time::Duration;

use danga_testkit::wait_for;

use super::{console, get, perlbal, proxy_conf, TestBackend};
use crate::version::stops_cleanly;

#[test]
fn perlbal_high_priority_request_overtakes_queued_ones() {
    let b = TestBackend::start("a", true);
    let d = perlbal(&proxy_conf(
        &[b.addr],
        "verify_backend = on\npersist_backend = on\nhigh_priority_cookie = vip\nhigh_priority_cookie_contents = yes",
    ));
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    let queues = move || console(mgmt, "QUEUES");
    let mut clients = vec![std::thread::spawn(move || get(web, "/hold", ""))];
    assert!(wait_for(Duration::from_secs(10), || b
        .seen()
        .iter()
        .any(|r| r.path == "/hold")));
    for (i, path) in ["/n1", "/n2"].into_iter().enumerate() {
        clients.push(std::thread::spawn(move || get(web, path, "")));
        let want = format!("web-normal.count {}\r\n", i + 1);
        assert!(
            wait_for(Duration::from_secs(10), || queues().contains(&want)),
            "{}",
            queues()
        );
    }
    clients.push(std::thread::spawn(move || {
        get(web, "/h", "Cookie: a=b; vip=yes\r\n")
    }));
    assert!(
        wait_for(Duration::from_secs(10), || queues()
            .contains("web-highpri.count 1\r\n")),
        "{}",
        queues()
    );
    let q = queues();
    for line in [
        "web-normal.count 2",
        "web-lowpri.count 0",
        "web-highpri.age ",
        "web-normal.age ",
    ] {
        assert!(q.contains(line), "{q}");
    }
    assert!(q.ends_with(".\r\n"));
    let svc = console(mgmt, "SHOW SERVICE web");
    assert!(svc.contains("  pend clients: 3\r\n"), "{svc}");
    b.release();
    for c in clients {
        assert!(c.join().expect("client").starts_with("HTTP/1.0 200 OK"));
    }
    let order: Vec<String> = b
        .seen()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect();
    assert_eq!(order, ["/hold", "/h", "/n1", "/n2"]);
    stops_cleanly(d);
}
