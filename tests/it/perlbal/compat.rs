//! Issue 21: what Perlbal 1.80's own test suite expects, driven through
//! the binary and, where Debian's perlbal runs it too, compared with 1.80:
//! the AIO server settings, HTTP/1.0 `Expect: 100-continue` on a chunked
//! PUT, the 400s for a negative Content-Length and for requests pipelined
//! behind an HTTP/1.0 request, and the buffered-upload reason header.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use danga_testkit::wait_for;

use super::console::original;
use super::script::{respond, ScriptBackend};
use super::{console, perlbal, perlbal_env, proxy_conf, read_response, TestBackend};
use crate::version::stops_cleanly;
use crate::wire::connect;

/// Everything a peer sends until it closes.
fn reply_to(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = connect(addr);
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status line and the body (1.80 orders its own headers otherwise).
fn status_and_body(reply: &str) -> (String, String) {
    let status = reply.lines().next().unwrap_or("").to_owned();
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

const AIO: &str = "SERVER aio_mode = none\nSERVER aio_threads = 4\n";

const AIO_COMMANDS: &[&str] = &[
    "server aio_mode = none",
    "server aio_mode = linux",
    "server aio_mode = fast",
    "server aio_threads = 2",
    "server aio_threads = many",
];

#[test]
fn perlbal_issue_21_aio_settings_load_and_answer_as_1_80() {
    let b = TestBackend::start("a", false);
    let conf = format!("{AIO}{}", proxy_conf(&[b.addr], "persist_client = on"));
    let ours = perlbal(&conf);
    let mgmt = ours.addr("mgmt");
    // Any AIO mode means this build's blocking pool: ioaio is accepted
    // whether or not IO::AIO would be there.
    assert_eq!(console(mgmt, "server aio_mode = ioaio"), "OK\r\n");
    assert_eq!(
        console(mgmt, "server aio_mode = linux"),
        "ERROR: Linux::AIO no longer supported\r\n"
    );
    let Some((theirs, _web, t_mgmt, _dir)) = original(&conf) else {
        stops_cleanly(ours);
        return;
    };
    for cmd in AIO_COMMANDS {
        assert_eq!(console(mgmt, cmd), console(t_mgmt, cmd), "{cmd}");
    }
    let sorted = |s: String| {
        let mut l: Vec<String> = s
            .lines()
            .map(|l| l.replace(&b.addr.to_string(), "B"))
            .filter(|l| !l.contains("SET listen"))
            .collect();
        l.sort_unstable();
        l
    };
    assert_eq!(
        sorted(console(mgmt, "dumpconfig")),
        sorted(console(t_mgmt, "dumpconfig")),
        "the AIO settings stay out of DUMPCONFIG"
    );
    drop(theirs);
    stops_cleanly(ours);
}

/// The 400s of a reverse proxy at `web`, as (status line, body) pairs.
fn proxy_400s(web: SocketAddr) -> Vec<(String, String)> {
    [
        &b"GET /neg HTTP/1.0\r\nContent-Length: -20\r\n\r\n"[..],
        b"GET /p1 HTTP/1.0\r\n\r\nGET /p2 HTTP/1.0\r\n\r\n",
    ]
    .iter()
    .map(|req| status_and_body(&reply_to(web, req)))
    .collect()
}

#[test]
fn perlbal_issue_21_http10_refusals_as_1_80() {
    let b = TestBackend::start("a", false);
    let conf = proxy_conf(&[b.addr], "persist_client = on");
    let ours = perlbal(&conf);
    let got = proxy_400s(ours.addr("web"));
    let want = [
        "<h1>400 - Bad request</h1>\nInvalid request: Content-Length < 0",
        "<h1>400 - Bad request</h1>\nCan't pipeline to HTTP/1.0",
    ];
    for ((status, body), want) in got.iter().zip(want) {
        assert_eq!(status, "HTTP/1.0 400 Bad request");
        assert_eq!(body, want);
    }
    assert!(b.seen().is_empty(), "neither reached the backend");
    // Pipelining behind a keep-alive request still works.
    let mut s = connect(ours.addr("web"));
    s.write_all(
        b"GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .expect("write");
    let both = crate::wire::read_until(&mut s, b"a GET /k2 0");
    assert!(both.contains("a GET /k1 0HTTP/1.0 200 OK\r\n"), "{both}");
    if let Some((theirs, t_web, _m, _dir)) = original(&conf) {
        assert_eq!(proxy_400s(t_web), got, "Debian's perlbal answers the same");
        drop(theirs);
    }
    stops_cleanly(ours);
}

/// A chunked HTTP/1.0 PUT with `Expect: 100-continue` to a web server at
/// `web`: the interim answer, then the final status line.
fn chunked_put_10(web: SocketAddr) -> (String, String) {
    let mut s = connect(web);
    s.write_all(
        b"PUT /up.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("head");
    let interim = crate::wire::read_until(&mut s, b"\r\n\r\n");
    s.write_all(b"5\r\nhello\r\n0\r\n\r\n").expect("body");
    let fin = read_response(&mut s);
    (interim, fin.lines().next().unwrap_or("").to_owned())
}

#[test]
fn perlbal_issue_21_http10_chunked_put_gets_100_continue() {
    let conf_for = |root: &std::path::Path| {
        format!(
            "{AIO}CREATE SERVICE web\n  SET role = web_server\n  SET listen = LISTEN\n  SET docroot = {}\n  SET enable_put = 1\n  SET min_put_directory = 0\nENABLE web\n",
            root.display()
        )
    };
    let root = tempfile::tempdir().expect("docroot");
    let ours = perlbal(&conf_for(root.path()));
    let got = chunked_put_10(ours.addr("web"));
    assert_eq!(
        got,
        (
            "HTTP/1.1 100 Continue\r\n\r\n".to_owned(),
            "HTTP/1.0 200 OK".to_owned()
        )
    );
    assert_eq!(
        std::fs::read(root.path().join("up.txt")).expect("put"),
        b"hello"
    );
    let root2 = tempfile::tempdir().expect("docroot");
    if let Some((theirs, t_web, _m, _dir)) = original(&conf_for(root2.path())) {
        assert_eq!(chunked_put_10(t_web), got);
        drop(theirs);
    }
    stops_cleanly(ours);
}

/// A PUT without Content-MD5 is written in place, as 1.80 writes it: the
/// file exists while its body is still arriving (Perlbal's
/// `22-chunked-put.t`); a symlink at the name is not written through.
#[test]
fn perlbal_put_writes_in_place_and_not_through_a_symlink() {
    let root = tempfile::tempdir().expect("docroot");
    let outside = tempfile::tempdir().expect("outside");
    let conf = format!(
        "CREATE SERVICE web\n  SET role = web_server\n  SET listen = LISTEN\n  SET docroot = {}\n  SET enable_put = 1\n  SET min_put_directory = 0\nENABLE web\n",
        root.path().display()
    );
    let ours = perlbal(&conf);
    let mut s = connect(ours.addr("web"));
    s.write_all(
        b"PUT /slow.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    )
    .expect("head and a first chunk");
    let path = root.path().join("slow.txt");
    assert!(
        wait_for(Duration::from_secs(10), || path.exists()),
        "the file exists before the body ends"
    );
    s.write_all(b"6\r\n world\r\n0\r\n\r\n").expect("the rest");
    let fin = read_response(&mut s);
    assert!(
        fin.starts_with("HTTP/1.0 200") || fin.starts_with("HTTP/1.1 200"),
        "{fin}"
    );
    assert_eq!(std::fs::read(&path).expect("put"), b"hello world");

    let target = outside.path().join("victim");
    std::fs::write(&target, "keep").expect("victim");
    std::os::unix::fs::symlink(&target, root.path().join("link.txt")).expect("symlink");
    let mut s = connect(ours.addr("web"));
    s.write_all(b"PUT /link.txt HTTP/1.0\r\nContent-Length: 3\r\n\r\nbad")
        .expect("put");
    let reply = read_response(&mut s);
    assert!(reply.starts_with("HTTP/1.0 500"), "{reply}");
    assert_eq!(std::fs::read(&target).expect("victim"), b"keep");
    stops_cleanly(ours);
}

fn echo_reason() -> ScriptBackend {
    ScriptBackend::start(Duration::ZERO, |req, body| {
        let why = req
            .header("x-perlbal-buffered-upload-reason")
            .unwrap_or("-");
        let text = format!("got {} reason {why}", body.len());
        respond(req, "200 OK", &[], text.as_bytes())
    })
}

fn spool_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn perlbal_issue_21_buffered_upload_reason_and_chunked_spooling() {
    let spool = tempfile::tempdir().expect("spool");
    let b = echo_reason();
    let conf = proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}\nbuffer_upload_threshold_size = 1000\npersist_client = on",
            spool.path().display()
        ),
    );
    let post = |web: SocketAddr, n: usize| {
        let mut s = connect(web);
        s.write_all(format!("POST /p HTTP/1.0\r\nContent-Length: {n}\r\n\r\n").as_bytes())
            .expect("head");
        s.write_all(&vec![b'x'; n]).expect("body");
        read_response(&mut s)
    };
    let plain = perlbal(&conf);
    assert!(post(plain.addr("web"), 2000).ends_with("got 2000 reason -"));
    stops_cleanly(plain);
    let d = perlbal_env(&conf, &[("PERLBAL_DEBUG_BUFFERED_UPLOADS", "1")]);
    let web = d.addr("web");
    assert!(post(web, 2000).ends_with("got 2000 reason size"));
    assert!(post(web, 500).ends_with("got 500 reason -"), "not buffered");
    // A chunked body that does not come whole with its head goes to disk
    // at once, as 1.80 spools every chunked body (no reason header).
    let mut s = connect(web);
    s.write_all(b"POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("head");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"5\r\nhello\r\n").expect("chunk");
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool.path()) == 1),
        "spooled while the body comes in"
    );
    s.write_all(b"0\r\n\r\n").expect("end");
    assert!(read_response(&mut s).ends_with("got 5 reason -"));
    assert!(wait_for(Duration::from_secs(5), || spool_files(
        spool.path()
    ) == 0));
    stops_cleanly(d);
}

/// A GET on a fresh connection with only this Host.
fn get_with_host(addr: SocketAddr, path: &str, host: &str) -> String {
    reply_to(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
}

/// One keep-alive GET on `s` with this Host; the whole response.
fn keep_alive_get(s: &mut std::net::TcpStream, path: &str, host: &str) -> String {
    s.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n").as_bytes(),
    )
    .expect("write");
    read_response(s)
}

/// The client-facing `Connection:` value of a response.
fn connection_of(resp: &str) -> String {
    resp.lines()
        .find_map(|l| l.strip_prefix("Connection: "))
        .unwrap_or("")
        .to_owned()
}

/// A client kept alive across console changes: persist_backend off
/// reaches the backend on its next request, persist_client off closes it
/// after its next response. `mgmt` is the console, `web` the proxy.
fn live_settings_on_open_connection(
    web: SocketAddr,
    mgmt: SocketAddr,
    b: &TestBackend,
) -> Vec<String> {
    let mut s = connect(web);
    let mut seen = Vec::new();
    let r = keep_alive_get(&mut s, "/one", "t");
    seen.push(connection_of(&r));
    assert_eq!(console(mgmt, "SET web.persist_backend = 0"), "OK\r\n");
    let r = keep_alive_get(&mut s, "/two", "t");
    seen.push(connection_of(&r));
    assert_eq!(console(mgmt, "SET web.persist_client = 0"), "OK\r\n");
    let r = keep_alive_get(&mut s, "/three", "t");
    seen.push(connection_of(&r));
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the response");
    for req in b.seen() {
        seen.push(format!(
            "{} {}",
            req.path,
            req.header("connection").unwrap_or("-")
        ));
    }
    seen
}

#[test]
fn perlbal_issue_21_console_changes_reach_open_connections() {
    let b = TestBackend::start("a", false);
    let conf = proxy_conf(&[b.addr], "persist_client = on\npersist_backend = on");
    let d = perlbal(&conf);
    let got = live_settings_on_open_connection(d.addr("web"), d.addr("mgmt"), &b);
    assert_eq!(
        got,
        [
            "keep-alive",
            "keep-alive",
            "close",
            "/one keep-alive",
            "/two close",
            "/three close"
        ]
    );
    let b2 = TestBackend::start("a", false);
    let conf2 = proxy_conf(&[b2.addr], "persist_client = on\npersist_backend = on");
    if let Some((theirs, t_web, t_mgmt, _dir)) = original(&conf2) {
        assert_eq!(live_settings_on_open_connection(t_web, t_mgmt, &b2), got);
        drop(theirs);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_live_vhost_reaches_a_kept_alive_selector_client() {
    let (a, b) = (
        TestBackend::start("a", false),
        TestBackend::start("b", false),
    );
    let conf = format!(
        "LOAD vhosts
CREATE POOL pa
  POOL pa ADD {}
CREATE POOL pb
  POOL pb ADD {}
CREATE SERVICE alpha
  SET role = reverse_proxy
  SET pool = pa
  SET persist_client = on
CREATE SERVICE beta
  SET role = reverse_proxy
  SET pool = pb
  SET persist_client = on
CREATE SERVICE sel
  SET role = selector
  SET listen = LISTEN
  SET persist_client = on
  SET plugins = vhosts
  VHOST a.example = alpha
ENABLE sel
",
        a.addr, b.addr
    );
    let d = perlbal(&conf);
    let (sel, mgmt) = (d.addr("sel"), d.addr("mgmt"));
    let r = get_with_host(sel, "/0", "new.example");
    assert!(r.starts_with("HTTP/1.0 404 "), "no VHOST yet: {r}");
    let mut s = connect(sel);
    assert!(keep_alive_get(&mut s, "/1", "a.example").ends_with("a GET /1 0"));
    assert_eq!(console(mgmt, "VHOST sel new.example = beta"), "OK\r\n");
    let r = keep_alive_get(&mut s, "/2", "new.example");
    assert!(
        r.ends_with("b GET /2 0"),
        "the live VHOST on an open connection: {r}"
    );
    assert_eq!(console(mgmt, "VHOST sel a.example = beta"), "OK\r\n");
    let r = keep_alive_get(&mut s, "/3", "a.example");
    assert!(r.ends_with("b GET /3 0"), "{r}");
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_console_include_does_not_quote_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "root:x:0:0:root:/root:/bin/bash\nsecond line\n").expect("write");
    let b = TestBackend::start("a", false);
    let d = perlbal(&format!("LOAD include\n{}", proxy_conf(&[b.addr], "")));
    let got = console(d.addr("mgmt"), &format!("INCLUDE = {}", secret.display()));
    assert_eq!(
        got,
        format!(
            "ERROR: {}: line 1 is not a valid config line\r\n",
            secret.display()
        )
    );
    stops_cleanly(d);
}

/// The management web pages 1.80 serves whatever the traffic; `/socks`
/// is checked apart (its counts depend on the sockets open).
const PAGES: &[&str] = &[
    "/",
    "/obj",
    "/service?web",
    "/service?mgmt",
    "/service?nope",
    "/service?",
    "/nope",
];

/// `curl -si` of a management page, ports replaced by names.
fn curl_page(mgmt: SocketAddr, web: SocketAddr, path: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-si", "--max-time", "5", "--http1.0"])
        .arg(format!("http://{mgmt}{path}"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .replace(&mgmt.to_string(), "MGMT")
        .replace(&web.to_string(), "WEB")
}

#[test]
fn perlbal_issue_21_management_web_interface_as_1_80() {
    if !danga_testkit::require("curl", danga_testkit::have_command("curl")) {
        return;
    }
    let b = TestBackend::start("a", false);
    let conf = proxy_conf(&[b.addr], "persist_client = on");
    let d = perlbal(&format!("LOAD vhosts\n{conf}"));
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    let home = curl_page(mgmt, web, "/");
    assert!(home.starts_with("HTTP/1.0 200 OK\r\n"), "{home}");
    assert!(
        home.contains("<li><a href='/service?web'>web</a> - reverse_proxy (WEB)</li>\n"),
        "{home}"
    );
    assert!(home.contains("<li><a href='/service?mgmt'>mgmt</a> - management (MGMT)</li>\n"));
    let socks = curl_page(mgmt, web, "/socks");
    for part in [
        "<b>socks summary</b></div>",
        "Aggregate write buffer: ",
        "<b>socks</b></div>   fd    age\n",
    ] {
        assert!(socks.contains(part), "{part}: {socks}");
    }
    assert!(curl_page(mgmt, web, "/nope").starts_with("HTTP/1.0 404 Not found\r\n"));
    // The console still works on the same port.
    assert_eq!(
        console(mgmt, "reload vhosts"),
        "ERROR: Plugin Perlbal::Plugin::Vhosts doesn't support reloading\r\n"
    );
    let ours: Vec<String> = PAGES.iter().map(|p| curl_page(mgmt, web, p)).collect();
    if let Some((theirs, t_web, t_mgmt, _dir)) = original(&format!("LOAD vhosts\n{conf}")) {
        for (page, got) in PAGES.iter().zip(&ours) {
            assert_eq!(got, &curl_page(t_mgmt, t_web, page), "page {page}");
        }
        assert_eq!(
            console(t_mgmt, "reload vhosts"),
            console(mgmt, "reload vhosts")
        );
        drop(theirs);
    }
    stops_cleanly(d);
}

/// A backend whose `/fail<n>` answers 500 to its first `n` requests, then
/// 200; anything else is a 200.
fn flaky() -> ScriptBackend {
    let counts = std::sync::Mutex::new(std::collections::HashMap::<String, usize>::new());
    ScriptBackend::start(Duration::ZERO, move |req, _| {
        let n = {
            let mut c = counts.lock().expect("counts");
            let n = c.entry(req.path.clone()).or_default();
            *n += 1;
            *n
        };
        let fails: usize = req
            .path
            .strip_prefix("/fail")
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        if n <= fails {
            respond(req, "500 Internal Server Error", &[], b"oops")
        } else {
            respond(req, "200 OK", &[], format!("ok {n}").as_bytes())
        }
    })
}

/// Status lines of GET /fail1, GET /fail2, GET /fail9 and POST /fail1
/// through a proxy at `web`, and how many requests the backend saw.
fn error_retry_round(web: SocketAddr, b: &ScriptBackend) -> (Vec<String>, usize) {
    let mut got = Vec::new();
    for path in ["/fail1", "/fail2", "/fail9"] {
        let r = reply_to(web, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
        got.push(status_and_body(&r).0 + " " + &status_and_body(&r).1);
    }
    let r = reply_to(web, b"POST /post1 HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    got.push(status_and_body(&r).0);
    (got, b.seen().len())
}

#[test]
fn perlbal_issue_21_error_retries_hide_a_500_from_get_and_head() {
    let b = flaky();
    let conf = proxy_conf(
        &[b.addr],
        "enable_error_retries = on\nerror_retry_schedule = 0,0.1",
    );
    let d = perlbal(&conf);
    let (got, seen) = error_retry_round(d.addr("web"), &b);
    assert_eq!(
        got,
        [
            "HTTP/1.0 200 OK ok 2",
            "HTTP/1.0 200 OK ok 3",
            // Two retries, then the third 500 reaches the client.
            "HTTP/1.0 500 Internal Server Error oops",
            "HTTP/1.0 200 OK",
        ]
    );
    assert_eq!(seen, 2 + 3 + 3 + 1);
    // Off (the default): the first 500 is the answer.
    let b2 = flaky();
    let d2 = perlbal(&proxy_conf(&[b2.addr], ""));
    let r = reply_to(d2.addr("web"), b"GET /fail1 HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 500 "), "{r}");
    assert_eq!(b2.seen().len(), 1);
    stops_cleanly(d2);
    let b3 = flaky();
    let conf3 = proxy_conf(
        &[b3.addr],
        "enable_error_retries = on\nerror_retry_schedule = 0,0.1",
    );
    if let Some((theirs, t_web, _m, _dir)) = original(&conf3) {
        assert_eq!(error_retry_round(t_web, &b3), (got, seen));
        drop(theirs);
    }
    stops_cleanly(d);
}

/// With one request held at `web`'s backend: STATES of each service,
/// STATES of an unknown one, and BACKENDS (the backend named B).
fn states_while_held(web: SocketAddr, mgmt: SocketAddr, held: &TestBackend) -> Vec<String> {
    let mut s = connect(web);
    s.write_all(b"GET /hold HTTP/1.0\r\n\r\n").expect("write");
    assert!(
        wait_for(Duration::from_secs(5), || held.seen().len() == 1),
        "the request reached the backend"
    );
    let out: Vec<String> = ["states web", "states other", "states nope", "backends"]
        .iter()
        .map(|c| console(mgmt, c).replace(&held.addr.to_string(), "B"))
        .collect();
    held.release();
    assert!(read_response(&mut s).ends_with("a GET /hold 0"));
    out
}

#[test]
fn perlbal_issue_21_states_of_one_service_and_backends_per_node() {
    let (a, idle) = (
        TestBackend::start("a", false),
        TestBackend::start("b", false),
    );
    let conf = format!(
        "{}CREATE POOL quiet\n  POOL quiet ADD {}\nCREATE SERVICE other\n  SET role = reverse_proxy\n  SET listen = 127.0.0.1:0\n  SET pool = quiet\nENABLE other\n",
        proxy_conf(&[a.addr], ""),
        idle.addr
    );
    let d = perlbal(&conf);
    let got = states_while_held(d.addr("web"), d.addr("mgmt"), &a);
    assert_eq!(
        got,
        [
            "Perlbal::BackendHTTP wait_res 1\r\nPerlbal::ClientProxy wait_res 1\r\n.\r\n",
            ".\r\n",
            "ERROR: Service not found.\r\n",
            "B 1\r\n.\r\n",
        ]
    );
    let a2 = TestBackend::start("a", false);
    let conf2 = conf.replace(&a.addr.to_string(), &a2.addr.to_string());
    if let Some((theirs, t_web, t_mgmt, _dir)) = original(&conf2) {
        assert_eq!(states_while_held(t_web, t_mgmt, &a2), got);
        drop(theirs);
    }
    stops_cleanly(d);
}

/// The X-*Queue-* headers a backend got for one request through `web`
/// (which sends its own `X-Queue-Count: 99`).
fn queue_headers_seen(web: SocketAddr, b: &TestBackend) -> Vec<String> {
    let r = reply_to(web, b"GET /q HTTP/1.0\r\nX-Queue-Count: 99\r\n\r\n");
    assert!(r.ends_with("a GET /q 0"), "{r}");
    let seen = b.seen();
    let last = seen.last().expect("a request");
    let mut lines: Vec<String> = last
        .headers
        .iter()
        .filter(|(n, _)| n.contains("queue"))
        .map(|(n, v)| format!("{n}: {v}"))
        .collect();
    lines.sort();
    lines
}

#[test]
fn perlbal_issue_21_queues_plugin_tells_backends_the_queues() {
    let b = TestBackend::start("a", false);
    let conf = format!("LOAD Queues\n{}", proxy_conf(&[b.addr], "plugins = Queues"));
    let d = perlbal(&conf);
    let got = queue_headers_seen(d.addr("web"), &b);
    assert_eq!(
        got,
        [
            "x-hp-queue-age: 0",
            "x-hp-queue-count: 0",
            "x-queue-age: 0",
            "x-queue-count: 0"
        ]
    );
    assert_eq!(console(d.addr("mgmt"), "plugins"), "web Queues\r\n.\r\n");
    let b2 = TestBackend::start("a", false);
    let conf2 = format!(
        "LOAD Queues\n{}",
        proxy_conf(&[b2.addr], "plugins = Queues")
    );
    if let Some((theirs, t_web, _m, _dir)) = original(&conf2) {
        assert_eq!(queue_headers_seen(t_web, &b2), got);
        drop(theirs);
    }
    stops_cleanly(d);
}

const ECHO_CONF: &str = "LOAD EchoService
CREATE SERVICE e
  SET role = echo
  SET listen = LISTEN
  SET echo_delay = 1
ENABLE e
";

/// Lines to an echo service at `addr`: what comes back (and how long the
/// first byte took) once the whole reply (`want` bytes) is in.
fn echo_round(addr: SocketAddr, want: usize) -> (String, Duration) {
    let mut s = connect(addr);
    let started = tokio::time::Instant::now();
    s.write_all(b"hello\r\nworld\nx\r\r\n").expect("write");
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 256];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                first.get_or_insert_with(|| started.elapsed());
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        first.unwrap_or_default(),
    )
}

const ECHO_COMMANDS: &[&str] = &[
    "show service e",
    "set e.echo_delay = x",
    "set mgmt.echo_delay = 1",
    "create service f",
    "set f.role = echo",
    "unload EchoService",
    "create service g",
    "set g.role = echo",
];

#[test]
fn perlbal_issue_21_echo_service_plugin() {
    const REPLY: &str = "hello\r\nworld\r\nx\r\r\n";
    let d = perlbal(ECHO_CONF);
    let (e, mgmt) = (d.addr("e"), d.addr("mgmt"));
    let (got, took) = echo_round(e, REPLY.len());
    assert_eq!(got, REPLY);
    assert!(
        took >= Duration::from_millis(900),
        "echo_delay = 1: {took:?}"
    );
    assert_eq!(console(mgmt, "set e.echo_delay = 0"), "OK\r\n");
    let (got, took) = echo_round(e, REPLY.len());
    assert_eq!(got, REPLY);
    assert!(took < Duration::from_millis(900), "no delay now: {took:?}");
    let dump = console(mgmt, "dumpconfig");
    assert!(
        dump.contains("CREATE SERVICE e\r\n  SET role = echo\r\n"),
        "{dump}"
    );
    let ours: Vec<String> = ECHO_COMMANDS
        .iter()
        .map(|c| console(mgmt, c).replace(&e.to_string(), "E"))
        .collect();
    assert_eq!(
        ours[0],
        "SERVICE e\r\n     listening: E\r\n          role: echo\r\n.\r\n"
    );
    if let Some((theirs, t_e, t_mgmt, _dir)) = original(ECHO_CONF) {
        assert_eq!(echo_round(t_e, REPLY.len()).0, REPLY);
        let theirs_out: Vec<String> = ECHO_COMMANDS
            .iter()
            .map(|c| console(t_mgmt, c).replace(&t_e.to_string(), "E"))
            .collect();
        assert_eq!(theirs_out, ours);
        drop(theirs);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_socks_lists_each_client_and_backend() {
    let a = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[a.addr], ""));
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    let mut s = connect(web);
    s.write_all(b"GET /hold HTTP/1.0\r\n\r\n").expect("write");
    assert!(wait_for(Duration::from_secs(5), || a.seen().len() == 1));
    let socks = console(mgmt, "socks");
    let lines: Vec<&str> = socks.lines().collect();
    assert_eq!(lines[0], "   fd    age", "{socks}");
    assert_eq!(lines.last(), Some(&"."), "{socks}");
    let mut rows: Vec<String> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            // "   fd   ages class: desc; state": fd and age are numbers.
            let mut parts = l.split_whitespace();
            let fd: i32 = parts.next().and_then(|f| f.parse().ok()).expect("fd");
            let age = parts.next().expect("age");
            assert!(fd > 2 && age.ends_with('s'), "{l}");
            parts.collect::<Vec<_>>().join(" ")
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            format!(
                "Perlbal::BackendHTTP: open to {} for service 'web'; wait_res",
                a.addr
            ),
            "Perlbal::ClientProxy: open from 127.0.0.1 for service 'web'; wait_res".to_owned(),
        ]
    );
    // As 1.80 counts: both listeners, and console connections (this one,
    // and earlier ones whose close may not be seen yet).
    let summary = console(mgmt, "socks summary");
    let (consoles, rest): (Vec<&str>, Vec<&str>) = summary
        .lines()
        .partition(|l| l.ends_with(" Perlbal::ClientManage"));
    assert_eq!(consoles.len(), 1, "{summary}");
    assert_eq!(
        rest,
        [
            "    1 Perlbal::BackendHTTP",
            "    1 Perlbal::ClientProxy",
            "    2 Perlbal::TCPListener",
            "Aggregate write buffer: 0.0k",
            "            Open files: 0",
            "."
        ]
    );
    a.release();
    assert!(read_response(&mut s).ends_with("a GET /hold 0"));
    drop(s);
    assert!(
        wait_for(Duration::from_secs(5), || console(mgmt, "socks")
            .lines()
            .count()
            == 2),
        "closed sockets leave the list"
    );
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_fd_shows_the_limit_and_open_descriptors() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], ""));
    let mgmt = d.addr("mgmt");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).expect("limits");
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .expect("the hard limit")
        .to_owned();
    let fd = console(mgmt, "fd");
    let lines: Vec<&str> = fd.lines().collect();
    assert_eq!(lines[0], format!("max {hard}"), "{fd}");
    let cur: usize = lines[1]
        .strip_prefix("cur ")
        .and_then(|n| n.parse().ok())
        .expect("cur n");
    // Two listeners, the console connection, the standard streams...
    assert!(cur >= 6, "{fd}");
    assert_eq!(lines[2], ".");
    // One more client connection shows up.
    let _held = connect(d.addr("web"));
    let now = || -> usize {
        console(mgmt, "fd")
            .lines()
            .find_map(|l| l.strip_prefix("cur ").and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    assert!(
        wait_for(Duration::from_secs(5), || now() > cur),
        "{}",
        console(mgmt, "fd")
    );
    stops_cleanly(d);
}

/// A GET through `web`, and the Range header its backend got.
fn flv_get(web: SocketAddr, b: &TestBackend, path: &str) -> (Vec<u8>, Option<String>) {
    let mut s = connect(web);
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let range = b
        .seen()
        .last()
        .and_then(|r| r.header("range").map(str::to_owned));
    (out, range)
}

#[test]
fn perlbal_issue_21_flv_streaming_plugin() {
    let b = TestBackend::start("a", false);
    let conf = format!(
        "LOAD FlvStreaming\n{}",
        proxy_conf(&[b.addr], "plugins = FlvStreaming")
    );
    let d = perlbal(&conf);
    let web = d.addr("web");
    let paths = [
        "/v/clip.flv?start=5",
        "/v/clip.flv?start=0",
        "/v/clip.flv",
        "/v/clip.mp4?start=5",
    ];
    let got: Vec<_> = paths.iter().map(|p| flv_get(web, &b, p)).collect();
    let body = "a GET /v/clip.flv?start=5 0";
    let mut want = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: video/x-flv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 13
    )
    .into_bytes();
    want.extend_from_slice(b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x09");
    want.extend_from_slice(body.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&got[0].0),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(got[0].1.as_deref(), Some("bytes=5-"));
    for (p, (out, range)) in paths.iter().zip(&got).skip(1) {
        assert_eq!(range, &None, "{p}");
        assert!(
            out.starts_with(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"),
            "{p}"
        );
    }
    // Only on a reverse proxy, as 1.80 says.
    assert_eq!(
        console(d.addr("mgmt"), "SET mgmt.plugins = FlvStreaming"),
        "ERROR: You can't load the flvstreaming plugin on a service not of role reverse_proxy.\r\n"
    );
    let b2 = TestBackend::start("a", false);
    let conf2 = format!(
        "LOAD FlvStreaming\n{}",
        proxy_conf(&[b2.addr], "plugins = FlvStreaming")
    );
    if let Some((theirs, t_web, _m, _dir)) = original(&conf2) {
        let theirs_got: Vec<_> = paths.iter().map(|p| flv_get(t_web, &b2, p)).collect();
        assert_eq!(
            String::from_utf8_lossy(&theirs_got[0].0),
            String::from_utf8_lossy(&got[0].0)
        );
        for (t, o) in theirs_got.iter().zip(&got) {
            assert_eq!(t.1, o.1);
        }
        drop(theirs);
    }
    stops_cleanly(d);
}

/// A GET on `web`, the whole reply.
fn get_all(web: SocketAddr, path: &str) -> String {
    reply_to(web, format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
}

#[test]
fn perlbal_issue_21_lazy_cdn_plugin_falls_back() {
    let root = tempfile::tempdir().expect("docroot");
    std::fs::write(root.path().join("here.js"), "local").expect("write");
    let mtime = std::fs::metadata(root.path().join("here.js"))
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let origin = TestBackend::start("origin", false);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let conf = format!(
        "LOAD LazyCDN
CREATE POOL o
  POOL o ADD {}
CREATE SERVICE origin
  SET role = reverse_proxy
  SET pool = o
CREATE SERVICE cdn
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {}
  SET plugins = LazyCDN
  SET fallback_service = origin
  SET fallback_udp_ping_addr = {}
ENABLE cdn
",
        origin.addr,
        root.path().display(),
        udp.local_addr().expect("addr")
    );
    let d = perlbal(&conf);
    let cdn = d.addr("cdn");
    // Present and not older than v=: served locally.
    let r = get_all(cdn, &format!("/here.js?v={mtime}"));
    assert!(
        r.starts_with("HTTP/1.0 200 OK") && r.ends_with("\r\n\r\nlocal"),
        "{r}"
    );
    assert!(get_all(cdn, "/here.js").ends_with("\r\n\r\nlocal"));
    assert!(origin.seen().is_empty());
    // Newer than the file, or missing: the origin answers.
    let newer = format!("/here.js?v={}", mtime + 100);
    let r = get_all(cdn, &newer);
    assert!(r.ends_with(&format!("origin GET {newer} 0")), "{r}");
    let mut ping = [0u8; 256];
    let (n, _) = udp.recv_from(&mut ping).expect("the URI pinged");
    assert_eq!(&ping[..n], newer.as_bytes());
    let r = get_all(cdn, "/gone.js");
    assert!(r.ends_with("origin GET /gone.js 0"), "{r}");
    let (n, _) = udp.recv_from(&mut ping).expect("pinged again");
    assert_eq!(&ping[..n], b"/gone.js");
    // A ping address 1.80 refuses.
    assert_eq!(
        console(d.addr("mgmt"), "SET cdn.fallback_udp_ping_addr = nowhere"),
        "ERROR: Expecting IP:port of form a.b.c.d:port.\r\n"
    );
    let root2 = tempfile::tempdir().expect("docroot");
    std::fs::write(root2.path().join("here.js"), "local").expect("write");
    let origin2 = TestBackend::start("origin", false);
    let conf2 = conf
        .replace(&origin.addr.to_string(), &origin2.addr.to_string())
        .replace(
            &root.path().display().to_string(),
            &root2.path().display().to_string(),
        );
    if let Some((theirs, t_cdn, t_mgmt, _dir)) = original(&conf2) {
        assert!(get_all(t_cdn, "/gone.js").ends_with("origin GET /gone.js 0"));
        assert!(get_all(t_cdn, "/here.js").ends_with("\r\n\r\nlocal"));
        assert_eq!(
            console(t_mgmt, "SET cdn.fallback_udp_ping_addr = nowhere"),
            "ERROR: Expecting IP:port of form a.b.c.d:port.\r\n"
        );
        drop(theirs);
    }
    stops_cleanly(d);
}

/// One GET through `web`: its status line ("closed" for none) and
/// whether it waited a second or more.
fn timed_get(web: SocketAddr, path: &str) -> (String, bool) {
    let started = tokio::time::Instant::now();
    let r = get_all(web, path);
    let status = r.lines().next().unwrap_or("closed").to_owned();
    (status, started.elapsed() >= Duration::from_millis(900))
}

/// A started perlbal's proxy address, and what keeps it running.
type Started = Option<(SocketAddr, Box<dyn std::any::Any>)>;

/// Throttle scenarios against a perlbal started by `start` (our binary or
/// 1.80), each with its own settings.
fn throttle_rounds(start: &dyn Fn(&str) -> Started) -> Vec<(String, bool)> {
    let mut got = Vec::new();
    let list = tempfile::tempdir().expect("dir");
    let white = list.path().join("white.txt");
    std::fs::write(&white, "# us\n127.0.0.1\n").expect("write");
    for extra in [
        String::new(),
        format!("whitelist_file = {}", white.display()),
        "default_action = allow".to_owned(),
        "max_concurrent = 0".to_owned(),
        "ban_threshold = 1\nban_expiration = 60".to_owned(),
    ] {
        let Some((web, _keep)) = start(&format!(
            "initial_delay = 1\nmax_delay = 8\nthrottle_threshold_seconds = 60\n{extra}"
        )) else {
            return got;
        };
        for path in ["/1", "/2", "/3"] {
            got.push(timed_get(web, path));
        }
    }
    got
}

fn throttle_conf(b: SocketAddr, extra: &str) -> String {
    format!(
        "LOAD Throttle\n{}",
        // The plugin last, as 1.80 reads the list files when it is set.
        proxy_conf(&[b], &format!("{extra}\nplugins = Throttle"))
    )
}

#[test]
fn perlbal_issue_21_throttle_plugin_as_1_80() {
    let b = TestBackend::start("a", false);
    let ours = throttle_rounds(&|extra| {
        let d = perlbal(&throttle_conf(b.addr, extra));
        Some((d.addr("web"), Box::new(d) as Box<dyn std::any::Any>))
    });
    let ok = ("HTTP/1.0 200 OK".to_owned(), false);
    let slow = ("HTTP/1.0 200 OK".to_owned(), true);
    let denied = ("HTTP/1.0 403 Forbidden".to_owned(), false);
    let closed = ("closed".to_owned(), false);
    assert_eq!(
        ours,
        [
            // Seen again within the threshold: a second's wait; the record
            // then lasts only that second, so the third passes (1.80).
            ok.clone(),
            slow.clone(),
            ok.clone(),
            // Whitelisted, or allowed by default: never slowed.
            ok.clone(),
            ok.clone(),
            ok.clone(),
            ok.clone(),
            ok.clone(),
            ok.clone(),
            // More than max_concurrent in progress: refused.
            denied.clone(),
            denied.clone(),
            denied.clone(),
            // One violation bans: closed, then refused.
            ok,
            closed,
            denied,
        ]
    );
    let r = get_all(
        perlbal(&throttle_conf(b.addr, "max_concurrent = 0")).addr("web"),
        "/x",
    );
    assert!(r.ends_with("<h1>403 - Forbidden</h1>\nForbidden.\n"), "{r}");
    let b2 = TestBackend::start("a", false);
    let theirs = throttle_rounds(&|extra| {
        let (d, web, _m, dir) = original(&throttle_conf(b2.addr, extra))?;
        Some((web, Box::new((d, dir)) as Box<dyn std::any::Any>))
    });
    if !theirs.is_empty() {
        assert_eq!(theirs, ours, "Debian's perlbal decides the same");
    }
}

const THROTTLE_COMMANDS: &[&str] = &[
    "SET web.default_action = maybe",
    "SET web.default_action = allow",
    "SET web.blacklist_action = x",
    "SET web.log_events = foo",
    "SET web.log_events = ban, unban,throttled",
    "SET web.whitelist_file = /nonexistent/white.txt",
    "SET web.max_concurrent = many",
    "SET web.instance_name = shop",
];

#[test]
fn perlbal_issue_21_throttle_settings_answer_as_1_80() {
    let b = TestBackend::start("a", false);
    let conf = throttle_conf(b.addr, "");
    let d = perlbal(&conf);
    let ours: Vec<String> = THROTTLE_COMMANDS
        .iter()
        .map(|c| console(d.addr("mgmt"), c))
        .collect();
    assert_eq!(
        ours[0],
        "ERROR: Value of 'default_action' must be one of: allow, throttle\r\n"
    );
    assert_eq!(ours[1], "OK\r\n");
    if let Some((theirs, _web, t_mgmt, _dir)) = original(&conf) {
        let t: Vec<String> = THROTTLE_COMMANDS
            .iter()
            .map(|c| console(t_mgmt, c))
            .collect();
        assert_eq!(t, ours);
        drop(theirs);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_throttle_reload_answers_as_1_80() {
    let b = TestBackend::start("a", false);
    let conf = throttle_conf(b.addr, "");
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nobody\n").expect("write");
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "127.0.0.1\n").expect("write");
    let script = [
        "throttle".to_owned(),
        "throttle reload frob".to_owned(),
        "throttle reload whitelist".to_owned(),
        "use web".to_owned(),
        "throttle reload whitelist".to_owned(),
        "THROTTLE RELOAD config".to_owned(),
        format!("set web.whitelist_file = {}", empty.display()),
        "throttle reload whitelist".to_owned(),
        format!("set web.blacklist_file = {}", good.display()),
        "throttle reload blacklist".to_owned(),
    ];
    // One console session (USE sets its context), lines trimmed: 1.80
    // ends its list error with a newline of its own.
    let session = |mgmt: SocketAddr| -> Vec<String> {
        use std::io::BufRead;
        let mut s = connect(mgmt);
        let mut rd = std::io::BufReader::new(s.try_clone().expect("clone"));
        script
            .iter()
            .map(|cmd| {
                s.write_all(format!("{cmd}\r\n").as_bytes()).expect("write");
                let mut line = String::new();
                rd.read_line(&mut line).expect("a reply");
                line.trim_end().to_owned()
            })
            .collect()
    };
    let d = perlbal(&conf);
    let ours = session(d.addr("mgmt"));
    assert_eq!(
        ours[0],
        "ERROR: usage: throttle reload <config|whitelist|blacklist>"
    );
    assert_eq!(ours[4], "ERROR: no whitelist file configured");
    assert_eq!(ours[5], "OK");
    assert_eq!(
        ours[7],
        format!(
            "ERROR: Couldn't load {0}: {0} contains no recognizable CIDRs",
            empty.display()
        )
    );
    assert_eq!(ours[9], "OK");
    if let Some((theirs, _web, t_mgmt, _dir)) = original(&conf) {
        assert_eq!(session(t_mgmt), ours);
        drop(theirs);
    }
    stops_cleanly(d);
}
