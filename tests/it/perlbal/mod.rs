//! perlbal through the network: Perlbal-syntax configs, tiny recording
//! backends, curl and raw sockets; console output compared with Debian's
//! perlbal 1.80.

mod bundled;
mod cgilike;
mod compat;
mod conn_budget;
mod console;
mod plugins;
mod proxy;
mod queues;
mod reproxy;
mod robustness;
pub(crate) mod script;
mod selector;
mod timeouts;
mod tls;
mod tls_stream;
mod uploads;
mod web;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use danga_testkit::{Daemon, Spawn};

use crate::wire::connect;

/// One request a test backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which backend connection (1, 2, ... in accept order).
    pub conn: usize,
    pub method: String,
    pub path: String,
    pub version: String,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A test HTTP backend on 127.0.0.1 that records what it receives.
/// `/hold` waits until [`TestBackend::release`]; the first `/drop-once`
/// gets its connection closed without a reply. Replies keep the
/// connection open when the request asks for it.
pub struct TestBackend {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl TestBackend {
    /// `serial`: one connection at a time (a busy process-per-request
    /// server); otherwise a thread per connection.
    pub fn start(name: &'static str, serial: bool) -> TestBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let conns = Arc::new(AtomicUsize::new(0));
        let (s, g) = (seen.clone(), gate.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let id = conns.fetch_add(1, Ordering::SeqCst) + 1;
                let (s, g) = (s.clone(), g.clone());
                if serial {
                    serve_conn(stream, id, name, &s, &g);
                } else {
                    std::thread::spawn(move || serve_conn(stream, id, name, &s, &g));
                }
            }
        });
        TestBackend { addr, seen, gate }
    }

    /// Lets every held request (and later ones) answer.
    pub fn release(&self) {
        let (m, c) = &*self.gate;
        *m.lock().expect("gate") = true;
        c.notify_all();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve_conn(
    stream: TcpStream,
    id: usize,
    name: &str,
    seen: &Mutex<Vec<Seen>>,
    gate: &(Mutex<bool>, Condvar),
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut out = stream.try_clone().expect("clone");
    let mut rd = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path, version) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if rd.read_exact(&mut body).is_err() {
            return;
        }
        let keep = headers
            .iter()
            .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("keep-alive"));
        let seen_req = Seen {
            conn: id,
            method: method.clone(),
            path: path.clone(),
            version,
            headers,
        };
        let first_time = {
            let mut seen = seen.lock().expect("seen");
            let first = !seen.iter().any(|r| r.path == path);
            seen.push(seen_req);
            first
        };
        // `/drop-once`: the first one dies without a reply.
        if path == "/drop-once" && first_time {
            return;
        }
        if path == "/hold" || path.starts_with("/hold?") {
            let (m, c) = gate;
            let mut open = m.lock().expect("gate");
            while !*open {
                open = c.wait(open).expect("gate");
            }
        }
        let conn_hdr = if keep { "keep-alive" } else { "close" };
        let reply = if path == "/chunked" {
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: {conn_hdr}\r\n\r\n5\r\nhello\r\n7\r\n chunks\r\n0\r\n\r\n")
        } else {
            let body = format!("{name} {method} {path} {}", body.len());
            format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {conn_hdr}\r\n\r\n{body}",
                body.len()
            )
        };
        if out.write_all(reply.as_bytes()).is_err() || !keep {
            return;
        }
    }
}

/// Starts our perlbal with `body` plus a `mgmt` console, both on port 0.
/// In `body`, `LISTEN` stands for `127.0.0.1:0`.
pub fn perlbal(body: &str) -> Daemon {
    perlbal_env(body, &[])
}

/// As [`perlbal`], with these environment variables set.
pub fn perlbal_env(body: &str, env: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    let text = format!(
        "{}\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
        body.replace("LISTEN", "127.0.0.1:0")
    );
    std::fs::write(&conf, text).expect("conf");
    let mut spawn = Spawn::new("perlbal").arg(format!("--config={}", conf.display()));
    for (k, v) in env {
        spawn = spawn.env(*k, *v);
    }
    let d = spawn.start();
    drop(dir);
    d
}

/// A reverse proxy `web` in front of `nodes`, with extra SET lines.
pub fn proxy_conf(nodes: &[SocketAddr], extra: &str) -> String {
    let mut c = String::from("CREATE POOL pool\n");
    for n in nodes {
        c.push_str(&format!("  POOL pool ADD {n}\n"));
    }
    c.push_str("CREATE SERVICE web\n  SET role = reverse_proxy\n  SET listen = LISTEN\n  SET pool = pool\n");
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        c.push_str(&format!("  SET {}\n", line.trim()));
    }
    c.push_str("ENABLE web\n");
    c
}

/// One console command; reads up to its end (`.`, `OK` or `ERROR:` line).
pub fn console(addr: SocketAddr, cmd: &str) -> String {
    let mut s = connect(addr);
    s.write_all(format!("{cmd}\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    let mut rd = BufReader::new(&mut s);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return out;
        }
        out.push_str(&line);
        if line == ".\r\n" || line == "OK\r\n" || line.starts_with("ERROR:") {
            return out;
        }
    }
}

/// Reads one HTTP response (head + Content-Length body) from `s`.
pub fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading a response (have {:?}): {e}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

/// A GET on a fresh connection, HTTP/1.0 without keep-alive.
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> String {
    let mut s = connect(addr);
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: t\r\n{extra}\r\n").as_bytes())
        .expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
