//! The bundled plugins beyond AccessControl and Highpri, each showing its
//! effect: Redirect's 301, MaxContentLength's 413, NotModified's 304,
//! XFFExtras' headers, AutoRemoveLeadingDir's paths, Stats' counters;
//! perlbal's own answers compared byte for byte with Debian's 1.80.

use std::io::Write;
use std::net::SocketAddr;

use super::console::original;
use super::{console, perlbal, proxy_conf, read_response, TestBackend};
use crate::version::stops_cleanly;
use crate::wire::connect;

/// Sends `req` on a new connection and reads one response.
fn one(addr: SocketAddr, req: &str) -> String {
    let mut s = connect(addr);
    s.write_all(req.as_bytes()).expect("write");
    read_response(&mut s)
}

const ANSWERS: &[(&str, &str)] = &[
    (
        "GET /a.txt?x=1 HTTP/1.0\r\nHost: Old.Example:80\r\n\r\n",
        "HTTP/1.0 301 Permanent Redirect\r\nLocation: http://www.example.net/a.txt?x=1\r\nContent-Length: 0\r\nServer: Perlbal\r\nConnection: close\r\n\r\n",
    ),
    (
        "HEAD /a HTTP/1.0\r\nHost: deep.x.old.org\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.0 301 Permanent Redirect\r\nLocation: http://new.org/a\r\nContent-Length: 0\r\nServer: Perlbal\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30, max=100\r\n\r\n",
    ),
    (
        "POST /a HTTP/1.0\r\nHost: t\r\nContent-Length: 11\r\n\r\n01234567890",
        "HTTP/1.0 413 \r\nContent-Type: text/html\r\nContent-Length: 31\r\nServer: Perlbal\r\nConnection: close\r\n\r\n<h1>413</h1>\nContent too long.\n",
    ),
    (
        "GET /a.txt HTTP/1.0\r\nHost: nm.example\r\nIf-Modified-Since: whenever\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.0 304 Not Modified\r\nServer: Perlbal\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30, max=100\r\n\r\n",
    ),
];

#[test]
fn perlbal_redirect_max_content_length_and_not_modified_answer_as_1_80() {
    let docs = tempfile::tempdir().expect("docroot");
    std::fs::write(docs.path().join("a.txt"), "hi\n").expect("write");
    let conf = format!(
        "LOAD redirect
LOAD MaxContentLength
LOAD NotModified
CREATE SERVICE ws
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {}
  SET persist_client = on
  SET plugins = redirect, maxcontentlength, notmodified
  SET max_content_length = 10
  REDIRECT HOST old.example www.example.net
  REDIRECT HOST *.old.org new.org
  SET ws.notmodified.host_pattern = ^nm\\.
ENABLE ws
",
        docs.path().display()
    );
    let d = perlbal(&conf);
    let ws = d.addr("ws");
    for (req, want) in ANSWERS {
        assert_eq!(one(ws, req), *want, "{req}");
    }
    // What no plugin takes is served: a small POST, another host's IMS.
    let ok = one(
        ws,
        "GET /a.txt HTTP/1.0\r\nHost: other\r\nIf-Modified-Since: whenever\r\n\r\n",
    );
    assert!(
        ok.starts_with("HTTP/1.0 200 OK\r\n") && ok.ends_with("\r\n\r\nhi\n"),
        "{ok}"
    );
    let small = one(
        ws,
        "POST /a.txt HTTP/1.0\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    assert!(!small.contains(" 413 "), "{small}");
    // A REDIRECT line says nothing; a bad one gets the usage.
    let mgmt = d.addr("mgmt");
    let mut s = connect(mgmt);
    s.write_all(b"use ws\r\nredirect host new.example x.example\r\nredirect\r\n")
        .expect("write");
    let got = crate::wire::read_until(&mut s, b"target_host>\r\n");
    assert_eq!(
        got,
        "OK\r\nERROR: usage: REDIRECT HOST <match_host> <target_host>\r\n"
    );
    assert!(one(ws, "GET / HTTP/1.0\r\nHost: new.example\r\n\r\n")
        .contains("Location: http://x.example/\r\n"));
    if let Some((theirs, t_ws, _m, _dir)) = original(&conf) {
        for (req, want) in ANSWERS {
            assert_eq!(one(t_ws, req), *want, "1.80: {req}");
        }
        drop(theirs);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_xffextras_tells_backends_the_port_and_protocol() {
    let b = TestBackend::start("a", false);
    let conf = format!(
        "LOAD XFFExtras\n{}",
        proxy_conf(
            &[b.addr],
            "plugins = XFFExtras\nsend_backend_port = yes\nsend_backend_proto = on"
        )
    );
    let d = perlbal(&conf);
    let web = d.addr("web");
    let r = one(
        web,
        "GET /x HTTP/1.0\r\nHost: t\r\nX-Forwarded-Proto: https\r\n\r\n",
    );
    assert!(r.ends_with("a GET /x 0"), "{r}");
    let seen = b.seen().remove(0);
    assert_eq!(
        seen.header("x-forwarded-port"),
        Some(web.port().to_string().as_str())
    );
    // The client's own claim is replaced.
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    let dump = console(d.addr("mgmt"), "DUMPCONFIG");
    assert!(
        dump.contains("  SET send_backend_port = on\r\n  SET send_backend_proto = on\r\n"),
        "{dump}"
    );
    if let Some((theirs, t_web, _m, _dir)) = original(&conf) {
        let r = one(t_web, "GET /y HTTP/1.0\r\nHost: t\r\n\r\n");
        assert!(r.ends_with("a GET /y 0"), "{r}");
        let seen = b.seen().pop().expect("seen");
        assert_eq!(
            seen.header("x-forwarded-port"),
            Some(t_web.port().to_string().as_str())
        );
        assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
        drop(theirs);
    }
    stops_cleanly(d);
}

const BOGUS: &str = "HTTP/1.0 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 34\r\nServer: Perlbal\r\nConnection: close\r\n\r\n<h1>403 - Forbidden</h1>\nBogus URL";

#[test]
fn perlbal_stats_count_and_auto_remove_leading_dir() {
    let b = TestBackend::start("a", false);
    let docs = tempfile::tempdir().expect("docroot");
    let stc = docs.path().join("stc");
    std::fs::create_dir_all(stc.join("img")).expect("mkdir");
    std::fs::write(stc.join("img/x.txt"), "img\n").expect("write");
    let conf = format!(
        "LOAD stats
LOAD AutoRemoveLeadingDir
CREATE POOL pool
  POOL pool ADD {}
CREATE SERVICE rp
  SET role = reverse_proxy
  SET listen = LISTEN
  SET pool = pool
  SET plugins = stats
ENABLE rp
CREATE SERVICE ws
  SET role = web_server
  SET listen = 127.0.0.1:0
  SET docroot = {}/
  SET plugins = stats, AutoRemoveLeadingDir
ENABLE ws
",
        b.addr,
        stc.display()
    );
    let d = perlbal(&conf);
    let (rp, ws, mgmt) = (d.addr("rp"), d.addr("ws"), d.addr("mgmt"));
    for p in ["/p1", "/p2?q=1"] {
        assert!(
            one(rp, &format!("GET {p} HTTP/1.0\r\nHost: h.example\r\n\r\n"))
                .ends_with(&format!("a GET {p} 0"))
        );
    }
    // /stc/img/x.txt is /img/x.txt under a docroot named stc.
    for p in ["/stc/img/x.txt", "/img/x.txt"] {
        let r = one(ws, &format!("GET {p} HTTP/1.0\r\n\r\n"));
        assert!(r.ends_with("\r\n\r\nimg\n"), "{p}: {r}");
    }
    // 1.80 strips the name without looking for a `/` after it.
    assert_eq!(one(ws, "GET /stcimg/x.txt HTTP/1.0\r\n\r\n"), BOGUS);
    assert!(one(ws, "GET /nope HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
    let stats = console(mgmt, "STATS");
    assert_eq!(
        stats,
        [
            "rp              files_reproxied                      0",
            "rp              files_sent                           0",
            "rp              proxy_requests                       2",
            "rp              proxy_requests_highpri               0",
            "rp              web_requests                         0",
            "ws              files_reproxied                      0",
            "ws              files_sent                           2",
            "ws              proxy_requests                       0",
            "ws              proxy_requests_highpri               0",
            "ws              web_requests                         4",
            "total           files_reproxied                      0",
            "total           files_sent                           2",
            "total           proxy_requests                       2",
            "total           proxy_requests_highpri               0",
            "total           web_requests                         4",
            ".",
            "",
        ]
        .join("\r\n")
    );
    let recent = console(mgmt, "RECENT");
    let lines: Vec<&str> = recent.lines().collect();
    assert_eq!(lines.len(), 3, "{recent}");
    for (line, url) in lines
        .iter()
        .zip(["http://h.example/p1", "http://h.example/p2?q=1"])
    {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!((parts[0], parts[2]), ("rp", url), "{line}");
        assert!(
            parts[1].len() == 6 && parts[1].parse::<f64>().is_ok(),
            "{line}"
        );
    }
    // 1.80 counts the same requests the same way (services in its hash
    // order: compared sorted) and strips the same way.
    if let Some((theirs, t_rp, t_mgmt, _dir)) = original(&conf.replace("127.0.0.1:0", &free())) {
        let t_ws: SocketAddr = console(t_mgmt, "SHOW SERVICE ws")
            .lines()
            .find_map(|l| l.trim().strip_prefix("listening: ").map(str::to_owned))
            .and_then(|a| a.parse().ok())
            .expect("ws address");
        for p in ["/p1", "/p2?q=1"] {
            one(
                t_rp,
                &format!("GET {p} HTTP/1.0\r\nHost: h.example\r\n\r\n"),
            );
        }
        for p in ["/stc/img/x.txt", "/img/x.txt"] {
            assert!(one(t_ws, &format!("GET {p} HTTP/1.0\r\n\r\n")).ends_with("\r\n\r\nimg\n"));
        }
        assert_eq!(one(t_ws, "GET /stcimg/x.txt HTTP/1.0\r\n\r\n"), BOGUS);
        one(t_ws, "GET /nope HTTP/1.0\r\n\r\n");
        let sorted = |s: String| {
            let mut l: Vec<String> = s.lines().map(str::to_owned).collect();
            l.sort();
            l
        };
        assert_eq!(sorted(console(t_mgmt, "STATS")), sorted(stats));
        drop(theirs);
    }
    stops_cleanly(d);
}

/// A free loopback port (for 1.80, which has no port-0 ready file).
fn free() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}
