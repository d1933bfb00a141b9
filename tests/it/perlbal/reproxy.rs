//! Internal redirects (`enable_reproxy`): X-REPROXY-URL with failover,
//! X-REPROXY-FILE with ranges, X-REPROXY-SERVICE, X-REPROXY-CACHE-FOR and
//! `SERVER max_reproxy_connections`; the client gets the bytes and never an
//! X-REPROXY header. Compared with Debian's perlbal 1.80 where observable.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use danga_testkit::{have_command, require};

use super::console::original;
use super::script::{file_server, respond, ScriptBackend};
use super::{console, perlbal, proxy_conf};
use crate::version::stops_cleanly;

fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn content() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// The application: answers every request with a reproxy header.
fn app(target: SocketAddr, dead: SocketAddr, file: String, size: usize) -> ScriptBackend {
    ScriptBackend::start(Duration::ZERO, move |req, _| {
        let url = |p: &str| format!("http://{target}{p}");
        let h: Vec<(&str, String)> = match req.path.as_str() {
            "/url" => vec![
                ("Content-Type", "image/png".into()),
                (
                    "X-REPROXY-URL",
                    format!("http://{dead}/data {}", url("/data")),
                ),
                ("X-REPROXY-EXPECTED-SIZE", size.to_string()),
            ],
            "/short-first" => vec![
                ("Content-Type", "image/png".into()),
                (
                    "X-REPROXY-URL",
                    format!("{} {}", url("/short"), url("/data")),
                ),
                ("X-REPROXY-EXPECTED-SIZE", size.to_string()),
            ],
            "/all-bad" => vec![(
                "X-REPROXY-URL",
                format!("http://{dead}/data {}", url("/nope")),
            )],
            "/file" => vec![
                ("Content-Type", "application/octet-stream".into()),
                ("X-REPROXY-FILE", file.clone()),
                ("X-REPROXY-EXPECTED-SIZE", size.to_string()),
            ],
            "/file-wrong-size" => vec![
                ("X-REPROXY-FILE", file.clone()),
                ("X-REPROXY-EXPECTED-SIZE", "3".into()),
            ],
            "/svc" => vec![("X-REPROXY-SERVICE", "files".into())],
            "/svc-missing" => vec![("X-REPROXY-SERVICE", "nosuch".into())],
            "/cached" => vec![
                ("Content-Type", "text/x-cached".into()),
                ("Last-Modified", "Tue, 01 Jan 2030 00:00:00 GMT".into()),
                ("X-REPROXY-URL", url("/data")),
                (
                    "X-REPROXY-CACHE-FOR",
                    "30; Content-Type Last-Modified".into(),
                ),
            ],
            _ => vec![("X-Plain", "1".into())],
        };
        respond(req, "200 OK", &h, b"")
    })
}

fn split(r: &[u8]) -> (String, Vec<u8>) {
    let end = r.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    (
        String::from_utf8_lossy(&r[..end]).into_owned(),
        r[end..].to_vec(),
    )
}

fn raw(addr: SocketAddr, req: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = crate::wire::connect(addr);
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// A head as a comparable text: the status line, then the header lines
/// sorted, without Date and without 1.80's leftover X-REPROXY-* lines
/// (1.80 leaks X-REPROXY-EXPECTED-SIZE on FILE reproxies; we strip all).
fn comparable(head: &str) -> String {
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status = lines.next().unwrap_or("").to_owned();
    let mut rest: Vec<&str> = lines
        .filter(|l| !l.starts_with("Date: ") && !l.to_ascii_lowercase().starts_with("x-reproxy-"))
        .collect();
    rest.sort_unstable();
    format!("{status}\n{}", rest.join("\n"))
}

#[test]
fn perlbal_reproxy_url_fails_over_to_a_working_url() {
    let data = content();
    let target = file_server(data.clone(), Duration::ZERO);
    let dead = dead_addr();
    let a = app(target.addr, dead, String::new(), data.len());
    let conf = proxy_conf(&[a.addr], "enable_reproxy = on\npersist_client = on");
    let d = perlbal(&conf);
    let web = d.addr("web");
    let (head, body) = split(&raw(
        web,
        "GET /url HTTP/1.0\r\nHost: files.example\r\n\r\n",
    ));
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert_eq!(body, data, "the second URL's bytes");
    assert!(
        head.contains("Content-Type: image/png\r\n"),
        "the application's headers: {head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", data.len())),
        "{head}"
    );
    assert!(!head.to_ascii_lowercase().contains("x-reproxy"), "{head}");
    assert!(
        !head.contains("X-Target"),
        "the target's own headers stay behind: {head}"
    );
    // The application was told it may reproxy; the target got the Host.
    let (seen, _) = &a.seen()[0];
    assert_eq!(seen.header("x-proxy-capabilities"), Some("reproxy-file"));
    let (t, _) = target.seen().last().cloned().expect("target asked");
    assert_eq!((t.method.as_str(), t.version.as_str()), ("GET", "HTTP/1.0"));
    assert_eq!(t.header("host"), Some("files.example"));
    // A range goes through to the target; its 206 and Content-Range come back.
    let (head, body) = split(&raw(
        web,
        "GET /url HTTP/1.0\r\nHost: h\r\nRange: bytes=10-19\r\n\r\n",
    ));
    assert!(
        head.starts_with("HTTP/1.0 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Range: bytes 10-19/{}\r\n", data.len())),
        "{head}"
    );
    assert_eq!(body, &data[10..20]);
    // A target whose size is not the expected one is skipped.
    let (head, body) = split(&raw(web, "GET /short-first HTTP/1.0\r\nHost: h\r\n\r\n"));
    assert!(
        head.starts_with("HTTP/1.0 200 OK\r\n") && body == data,
        "{head}"
    );
    // Nothing works: 503.
    let r = raw(web, "GET /all-bad HTTP/1.0\r\nHost: h\r\n\r\n");
    assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.0 503 Service Unavailable\r\n"));
    // curl on one kept-alive connection, HEAD too.
    if require("curl", have_command("curl")) {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download} %{num_connects}\n",
            ])
            .args([format!("http://{web}/url"), format!("http://{web}/url")])
            .output()
            .expect("curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{} 1\n{} 0\n", data.len(), data.len()),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("curl")
            .args(["-sSI", "--max-time", "20", &format!("http://{web}/url")])
            .output()
            .expect("curl");
        let h = String::from_utf8_lossy(&out.stdout);
        assert!(
            h.contains(&format!("Content-Length: {}", data.len())),
            "{h}"
        );
        assert_eq!(target.seen().last().expect("head").0.method, "HEAD");
    }
    // Byte for byte what 1.80 sends (Date aside).
    if let Some((orig, addr, _m, _dir)) = original(&conf) {
        // (With X-REPROXY-EXPECTED-SIZE a Range is a 503 in 1.80: it held
        // the range's length against the file's size.)
        for req in [
            "GET /url HTTP/1.0\r\nHost: h\r\n\r\n",
            "GET /short-first HTTP/1.0\r\nHost: h\r\n\r\n",
            "GET /all-bad HTTP/1.0\r\nHost: h\r\n\r\n",
        ] {
            let (mh, mb) = split(&raw(web, req));
            let (th, tb) = split(&raw(addr, req));
            assert_eq!(comparable(&mh), comparable(&th), "{req:?}");
            assert!(mb == tb, "{req:?}: same body");
        }
        drop(orig);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_reproxy_file_serves_the_local_file_with_ranges() {
    let data = content();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blob.bin");
    std::fs::write(&path, &data).expect("file");
    let a = app(
        dead_addr(),
        dead_addr(),
        path.display().to_string(),
        data.len(),
    );
    let conf = proxy_conf(&[a.addr], "enable_reproxy = on");
    let d = perlbal(&conf);
    let web = d.addr("web");
    let (head, body) = split(&raw(web, "GET /file HTTP/1.0\r\n\r\n"));
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n"), "{head}");
    assert!(body == data);
    assert!(
        head.contains("Content-Type: application/octet-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("Accept-Ranges: bytes\r\n"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("x-reproxy"), "{head}");
    let (head, body) = split(&raw(
        web,
        "GET /file HTTP/1.0\r\nRange: bytes=100-199\r\n\r\n",
    ));
    assert!(
        head.starts_with("HTTP/1.0 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Range: bytes 100-199/{}\r\n", data.len()))
            && head.contains("Content-Length: 100\r\n"),
        "{head}"
    );
    assert_eq!(body, &data[100..200]);
    let (head, body) = split(&raw(web, "GET /file HTTP/1.0\r\nRange: bytes=-10\r\n\r\n"));
    assert!(
        head.contains(&format!(
            "Content-Range: bytes {}-{}/{}\r\n",
            data.len() - 10,
            data.len() - 1,
            data.len()
        )),
        "{head}"
    );
    assert_eq!(body, &data[data.len() - 10..]);
    let (head, _) = split(&raw(
        web,
        "GET /file HTTP/1.0\r\nRange: bytes=999999-\r\n\r\n",
    ));
    assert!(head.starts_with("HTTP/1.0 416 "), "{head}");
    let (head, body) = split(&raw(web, "HEAD /file HTTP/1.0\r\n\r\n"));
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", data.len())) && body.is_empty(),
        "{head}"
    );
    let r = raw(web, "GET /file-wrong-size HTTP/1.0\r\n\r\n");
    assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.0 404 Not Found\r\n"));
    if let Some((orig, addr, _m, _dir)) = original(&conf) {
        for req in [
            "GET /file HTTP/1.0\r\n\r\n",
            "GET /file HTTP/1.0\r\nRange: bytes=100-199\r\n\r\n",
            "GET /file-wrong-size HTTP/1.0\r\n\r\n",
        ] {
            let (mh, mb) = split(&raw(web, req));
            let (th, tb) = split(&raw(addr, req));
            assert_eq!(comparable(&mh), comparable(&th), "{req:?}");
            assert!(mb == tb, "{req:?}: same body");
        }
        drop(orig);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_reproxy_service_cache_and_per_host_limit() {
    let data = content();
    let target = file_server(data.clone(), Duration::from_millis(300));
    let a = app(target.addr, dead_addr(), String::new(), data.len());
    let docroot = tempfile::tempdir().expect("docroot");
    std::fs::write(docroot.path().join("svc"), "from the files service").expect("file");
    let conf = format!(
        "SERVER max_reproxy_connections = 1\n{}CREATE SERVICE files\n  SET role = web_server\n  SET docroot = {}\n",
        proxy_conf(&[a.addr], "enable_reproxy = on\nreproxy_cache_maxsize = 10"),
        docroot.path().display()
    );
    let d = perlbal(&conf);
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    // X-REPROXY-SERVICE: the web_server answers.
    let r = String::from_utf8_lossy(&raw(web, "GET /svc HTTP/1.0\r\n\r\n")).into_owned();
    assert!(
        r.starts_with("HTTP/1.0 200 OK\r\n") && r.ends_with("from the files service"),
        "{r}"
    );
    let r = String::from_utf8_lossy(&raw(web, "GET /svc-missing HTTP/1.0\r\n\r\n")).into_owned();
    assert!(
        r.starts_with("HTTP/1.0 404 Not Found\r\n")
            && r.ends_with("Vhost twiddling not configured for requested pair."),
        "{r}"
    );
    // Two clients at once, one target connection allowed: both served,
    // never two requests at the target together.
    let clients: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || split(&raw(web, "GET /url HTTP/1.0\r\nHost: h\r\n\r\n")))
        })
        .collect();
    for c in clients {
        let (head, body) = c.join().expect("client");
        assert!(
            head.starts_with("HTTP/1.0 200 OK\r\n") && body.len() == data.len(),
            "{head}"
        );
    }
    assert_eq!(
        target.peak.load(Ordering::SeqCst),
        1,
        "max_reproxy_connections = 1"
    );
    assert!(console(mgmt, "REPROXY_STATE").ends_with("SERVER max_reproxy_connections = 1\r\n.\r\n"));
    // X-REPROXY-CACHE-FOR: the second request skips the application.
    let asked = a.seen().len();
    for i in 0..2 {
        let (head, body) = split(&raw(web, "GET /cached HTTP/1.0\r\nHost: c\r\n\r\n"));
        assert!(
            head.starts_with("HTTP/1.0 200 OK\r\n") && body == data,
            "{i}: {head}"
        );
        assert!(
            head.contains("Content-Type: text/x-cached\r\n"),
            "{i}: {head}"
        );
    }
    assert_eq!(a.seen().len(), asked + 1, "the second came from the cache");
    let (head, body) = split(&raw(
        web,
        "GET /cached HTTP/1.0\r\nHost: c\r\nIf-Modified-Since: Tue, 01 Jan 2030 00:00:00 GMT\r\n\r\n",
    ));
    assert!(
        head.starts_with("HTTP/1.0 304 Not Modified\r\n") && body.is_empty(),
        "{head}"
    );
    let svc = console(mgmt, "SHOW SERVICE web");
    assert!(
        svc.contains("    cache size: 1/10 (10.00%)\r\n    cache hits: 2\r\n"),
        "{svc}"
    );
    stops_cleanly(d);
}

#[test]
fn perlbal_reproxies_files_from_our_mogstored() {
    // The MogileFS way: the application answers with the paths the tracker
    // gave it (the first on a dead host), perlbal fetches from mogstored.
    let docroot = tempfile::tempdir().expect("docroot");
    let fid = "dev1/0/000/000/0000000001.fid";
    let data = content();
    std::fs::create_dir_all(docroot.path().join("dev1/0/000/000")).expect("dirs");
    std::fs::write(docroot.path().join(fid), &data).expect("fid");
    let store = danga_testkit::Daemon::start(
        "mogstored",
        &[
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            &format!("--docroot={}", docroot.path().display()),
        ],
    );
    let (http, dead, size) = (store.addr("http"), dead_addr(), data.len());
    let a = ScriptBackend::start(Duration::ZERO, move |req, _| {
        let urls = format!("http://{dead}/{fid} http://{http}/{fid}");
        let h = [
            ("Content-Type", "image/jpeg".to_owned()),
            ("X-REPROXY-URL", urls),
            ("X-REPROXY-EXPECTED-SIZE", size.to_string()),
        ];
        respond(req, "200 OK", &h, b"")
    });
    let d = perlbal(&proxy_conf(
        &[a.addr],
        "enable_reproxy = on\npersist_client = on",
    ));
    let web = d.addr("web");
    let (head, body) = split(&raw(web, "GET /photo/1 HTTP/1.0\r\nHost: pics\r\n\r\n"));
    assert!(
        head.starts_with("HTTP/1.0 200 OK\r\n") && head.contains("Content-Type: image/jpeg\r\n"),
        "{head}"
    );
    assert!(body == data, "mogstored's bytes");
    let (head, body) = split(&raw(
        web,
        "GET /photo/1 HTTP/1.0\r\nHost: pics\r\nRange: bytes=-5\r\n\r\n",
    ));
    assert!(
        head.starts_with("HTTP/1.0 206 Partial Content\r\n"),
        "{head}"
    );
    assert_eq!(body, &data[data.len() - 5..]);
    stops_cleanly(d);
    stops_cleanly(store);
}
