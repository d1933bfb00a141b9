//! The reverse proxy: keep-alive on both sides, verify_backend, live pool
//! changes, dead nodes, forwarding headers, chunked replies.

use std::io::Write;
use std::process::Command;

use danga_testkit::{have_command, require, wait_for};

use super::{console, get, perlbal, proxy_conf, read_response, TestBackend};
use crate::version::stops_cleanly;
use crate::wire::connect;

#[test]
fn perlbal_proxies_with_keep_alive_on_both_sides() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(
        &[b.addr],
        "persist_client = on\npersist_backend = on",
    ));
    let web = d.addr("web");
    let mut s = connect(web);
    for i in 0..3 {
        s.write_all(format!("GET /k{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("write");
        let r = read_response(&mut s);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Connection: keep-alive\r\n"), "{r}");
        assert!(r.contains("Keep-Alive: timeout=30, max=100\r\n"), "{r}");
        assert!(r.ends_with(&format!("a GET /k{i} 0")), "{r}");
    }
    let seen = b.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|r| r.conn == seen[0].conn),
        "one backend connection: {seen:?}"
    );
    assert!(seen.iter().all(|r| r.version == "HTTP/1.0"));
    assert!(seen
        .iter()
        .all(|r| r.header("connection") == Some("keep-alive")));
    // A POST body goes through too.
    s.write_all(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .expect("write");
    assert!(read_response(&mut s).ends_with("a POST /p 5"));
    // curl reuses its connection across two URLs.
    if require("curl", have_command("curl")) {
        let out = Command::new("curl")
            .args([
                "-sv",
                &format!("http://{web}/c1"),
                &format!("http://{web}/c2"),
            ])
            .output()
            .expect("curl");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a GET /c1 0a GET /c2 0"
        );
        assert!(err.contains("Re-using existing connection"), "{err}");
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_verify_backend_sends_options_first_on_every_connection() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], "verify_backend = on"));
    for i in 0..3 {
        let r = get(d.addr("web"), &format!("/v{i}"), "");
        assert!(r.starts_with("HTTP/1.0 200 OK"), "{r}");
        assert!(r.contains("Connection: close\r\n"), "{r}");
    }
    let seen = b.seen();
    let conns: std::collections::BTreeSet<usize> = seen.iter().map(|r| r.conn).collect();
    assert!(
        conns.len() >= 3,
        "no persist_backend: a connection per request: {seen:?}"
    );
    for c in conns {
        let first = seen.iter().find(|r| r.conn == c).expect("request");
        if seen.iter().any(|r| r.conn == c && r.method == "GET") {
            assert_eq!(first.method, "OPTIONS", "conn {c}: {seen:?}");
            assert_eq!(first.path, "*");
        }
    }
    let nodes = console(d.addr("mgmt"), "nodes");
    assert!(nodes.contains(&format!("{} verifies ", b.addr)), "{nodes}");
    stops_cleanly(d);
}

#[test]
fn perlbal_live_pool_add_sends_traffic_to_the_new_node() {
    let a = TestBackend::start("a", false);
    let b = TestBackend::start("b", false);
    let d = perlbal(&proxy_conf(&[a.addr], ""));
    assert!(get(d.addr("web"), "/1", "").ends_with("a GET /1 0"));
    let mgmt = d.addr("mgmt");
    assert_eq!(
        console(mgmt, &format!("POOL pool ADD {}", b.addr)),
        "OK\r\n"
    );
    assert_eq!(
        console(mgmt, &format!("POOL pool REMOVE {}", a.addr)),
        "OK\r\n"
    );
    assert_eq!(
        console(mgmt, "SHOW POOL pool"),
        format!("{} 0\r\n.\r\n", b.addr)
    );
    for i in 0..3 {
        let r = get(d.addr("web"), &format!("/n{i}"), "");
        assert!(r.ends_with(&format!("b GET /n{i} 0")), "{r}");
    }
    assert_eq!(a.seen().len(), 1);
    stops_cleanly(d);
}

#[test]
fn perlbal_waits_out_a_dead_pool_then_uses_a_live_node() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let live = TestBackend::start("live", false);
    let d = perlbal(&proxy_conf(&[dead_addr], ""));
    let web = d.addr("web");
    // No 502: the client waits while the only node refuses connections.
    let waiting = std::thread::spawn(move || get(web, "/wait", ""));
    let mgmt = d.addr("mgmt");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || {
            console(mgmt, &format!("nodes {dead_addr}"))
                .lines()
                .any(|l| l.starts_with(&format!("{dead_addr} attempts ")) && !l.ends_with(" 1"))
        }),
        "the dead node is retried (after its 1 s)"
    );
    assert_eq!(
        console(mgmt, &format!("POOL pool ADD {}", live.addr)),
        "OK\r\n"
    );
    let r = waiting.join().expect("client");
    assert!(r.ends_with("live GET /wait 0"), "{r}");
    for i in 0..4 {
        let r = get(web, &format!("/d{i}"), "");
        assert!(r.ends_with(&format!("live GET /d{i} 0")), "{r}");
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_x_forwarded_for_and_header_rules() {
    let b = TestBackend::start("a", false);
    let mut conf = proxy_conf(&[b.addr], "");
    conf.push_str("HEADER web INSERT X-Proxy: perlbal\nHEADER web REMOVE X-Secret\n");
    conf.push_str("CREATE SERVICE trusting\n  SET role = reverse_proxy\n  SET listen = LISTEN\n  SET pool = pool\n  SET trusted_upstream_proxies = 127.0.0.0/8\nENABLE trusting\n");
    let d = perlbal(&conf);
    let spoof =
        "X-Forwarded-For: 6.6.6.6\r\nX-Host: evil\r\nX-Forwarded-Host: evil\r\nX-Secret: 1\r\n";
    get(d.addr("web"), "/u", spoof);
    get(d.addr("trusting"), "/t", spoof);
    let seen = b.seen();
    let u = seen
        .iter()
        .find(|r| r.path == "/u")
        .expect("untrusted request");
    assert_eq!(u.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(u.header("x-host"), None);
    assert_eq!(u.header("x-forwarded-host"), None);
    assert_eq!(u.header("x-secret"), None);
    assert_eq!(u.header("x-proxy"), Some("perlbal"));
    let t = seen
        .iter()
        .find(|r| r.path == "/t")
        .expect("trusted request");
    assert_eq!(t.header("x-forwarded-for"), Some("6.6.6.6, 127.0.0.1"));
    assert_eq!(t.header("x-host"), Some("evil"));
    stops_cleanly(d);
}

#[test]
fn perlbal_relays_chunked_replies_and_keeps_1_1_clients() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(
        &[b.addr],
        "persist_client = on\npersist_backend = on",
    ));
    let mut s = connect(d.addr("web"));
    s.write_all(b"GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("write");
    let r = crate::wire::read_until(&mut s, b"0\r\n\r\n");
    assert!(r.contains("Transfer-Encoding: chunked\r\n"), "{r}");
    assert!(
        r.ends_with("5\r\nhello\r\n7\r\n chunks\r\n0\r\n\r\n"),
        "{r}"
    );
    s.write_all(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("write");
    assert!(read_response(&mut s).ends_with("a GET /after 0"));
    assert!(wait_for(std::time::Duration::from_secs(2), || b
        .seen()
        .len()
        == 2));
    stops_cleanly(d);
}

#[test]
fn perlbal_rereads_the_nodefile_while_running() {
    let a = TestBackend::start("a", false);
    let b = TestBackend::start("b", false);
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = dir.path().join("nodes");
    std::fs::write(&nodes, format!("# the pool\n{}\n", a.addr)).expect("nodefile");
    let conf = format!(
        "CREATE POOL pool\n  SET nodefile = {}\nCREATE SERVICE web\n  SET role = reverse_proxy\n  SET listen = LISTEN\n  SET pool = pool\nENABLE web\n",
        nodes.display()
    );
    let d = perlbal(&conf);
    let web = d.addr("web");
    assert!(get(web, "/1", "").ends_with("a GET /1 0"));
    std::fs::write(&nodes, format!("{}\n", b.addr)).expect("nodefile");
    assert!(
        wait_for(std::time::Duration::from_secs(10), || get(web, "/2", "")
            .ends_with("b GET /2 0")),
        "the new nodefile is read within a few seconds"
    );
    assert_eq!(
        console(d.addr("mgmt"), "SHOW POOL pool"),
        format!("{} 1\r\n.\r\n", b.addr)
    );
    stops_cleanly(d);
}

#[test]
fn perlbal_retries_an_idempotent_request_whose_backend_died() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], ""));
    let r = get(d.addr("web"), "/drop-once", "");
    assert!(
        r.starts_with("HTTP/1.0 200 OK"),
        "the client sees no error: {r}"
    );
    assert!(r.ends_with("a GET /drop-once 0"), "{r}");
    let tries: Vec<usize> = b
        .seen()
        .iter()
        .filter(|s| s.path == "/drop-once")
        .map(|s| s.conn)
        .collect();
    assert_eq!(tries.len(), 2, "sent twice, on two connections: {tries:?}");
    assert_ne!(tries[0], tries[1]);
    stops_cleanly(d);
}

#[test]
fn perlbal_buffers_the_body_before_asking_for_a_backend() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], "buffer_backend_connect = 100k"));
    let mut s = connect(d.addr("web"));
    s.write_all(b"POST /up HTTP/1.0\r\nContent-Length: 10\r\n\r\nhello")
        .expect("write");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        console(d.addr("mgmt"), "NODES"),
        ".\r\n",
        "no backend connection while the body is incomplete"
    );
    s.write_all(b"world").expect("write");
    let r = read_response(&mut s);
    assert!(r.ends_with("a POST /up 10"), "{r}");
    stops_cleanly(d);
}

#[test]
fn perlbal_per_thread_layout_proxies_and_binds_live() {
    let b = TestBackend::start("a", false);
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    let text = format!(
        "{}\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
        proxy_conf(&[b.addr], "persist_client = on\npersist_backend = on")
            .replace("LISTEN", "127.0.0.1:0")
    );
    std::fs::write(&conf, text).expect("conf");
    let d = danga_testkit::Spawn::new("perlbal")
        .arg(format!("--config={}", conf.display()))
        .arg("--runtime-layout=per-thread")
        .start();
    let web = d.addr("web");
    // Several connections, so the kernel spreads them over the sockets.
    for c in 0..6 {
        let mut s = connect(web);
        for i in 0..2 {
            s.write_all(format!("GET /t{c}-{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .expect("write");
            let r = read_response(&mut s);
            assert!(r.ends_with(&format!("a GET /t{c}-{i} 0")), "{r}");
        }
    }
    assert_eq!(b.seen().len(), 12);
    // A service enabled from the console gets its sockets bound live.
    let mgmt = d.addr("mgmt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    for cmd in [
        "CREATE SERVICE w2".to_owned(),
        "SET w2.role = reverse_proxy".to_owned(),
        format!("SET w2.listen = 127.0.0.1:{port}"),
        "SET w2.pool = pool".to_owned(),
        "ENABLE w2".to_owned(),
    ] {
        let out = console(mgmt, &cmd);
        assert!(out.starts_with("OK"), "{cmd}: {out}");
    }
    let w2: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for i in 0..4 {
        assert!(get(w2, &format!("/w{i}"), "").ends_with(&format!("a GET /w{i} 0")));
    }
    assert!(console(mgmt, "DISABLE w2").starts_with("OK"));
    assert!(
        wait_for(std::time::Duration::from_secs(5), || {
            std::net::TcpStream::connect(w2).is_err()
        }),
        "w2 still accepts after DISABLE"
    );
    stops_cleanly(d);
}
