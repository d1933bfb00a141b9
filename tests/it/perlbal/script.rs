//! A scripted HTTP backend for the reproxy and upload tests: it counts
//! connections as they are accepted (so a test can tell that nothing
//! reached it yet), records each request with its body, tracks how many
//! requests it serves at once, and answers with whatever the test's
//! closure returns.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Seen;

type Reply = dyn Fn(&Seen, &[u8]) -> Vec<u8> + Send + Sync;
/// The requests served, with their bodies.
type Served = Arc<Mutex<Vec<(Seen, Vec<u8>)>>>;

/// The backend.
pub struct ScriptBackend {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Requests served at once, at most.
    pub peak: Arc<AtomicUsize>,
    seen: Served,
}

impl ScriptBackend {
    /// Starts it; `reply` makes the whole response (head and body).
    /// `delay` is waited before each reply.
    pub fn start(
        delay: Duration,
        reply: impl Fn(&Seen, &[u8]) -> Vec<u8> + Send + Sync + 'static,
    ) -> ScriptBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let seen: Served = Arc::new(Mutex::new(Vec::new()));
        let reply: Arc<Reply> = Arc::new(reply);
        let (a, p, s) = (accepted.clone(), peak.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let id = a.fetch_add(1, Ordering::SeqCst) + 1;
                let (p, s, now, reply) = (p.clone(), s.clone(), now.clone(), reply.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut out = stream.try_clone().expect("clone");
                    let mut rd = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if rd.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let mut req = Seen {
                            conn: id,
                            method: parts.next().unwrap_or("").to_owned(),
                            path: parts.next().unwrap_or("").to_owned(),
                            version: parts.next().unwrap_or("").to_owned(),
                            headers: Vec::new(),
                        };
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
                                req.headers
                                    .push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
                            }
                        }
                        let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                        p.fetch_max(in_flight, Ordering::SeqCst);
                        let len: usize = req
                            .header("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        if rd.read_exact(&mut body).is_err() {
                            now.fetch_sub(1, Ordering::SeqCst);
                            return;
                        }
                        std::thread::sleep(delay);
                        let keep = req.header("connection") == Some("keep-alive");
                        let answer = reply(&req, &body);
                        s.lock().expect("seen").push((req, body));
                        let ok = out.write_all(&answer).is_ok();
                        now.fetch_sub(1, Ordering::SeqCst);
                        if !ok || !keep {
                            return;
                        }
                    }
                });
            }
        });
        ScriptBackend {
            addr,
            accepted,
            peak,
            seen,
        }
    }

    /// The requests served so far, with their bodies.
    pub fn seen(&self) -> Vec<(Seen, Vec<u8>)> {
        self.seen.lock().expect("seen").clone()
    }
}

/// A response with a Content-Length body, keeping the connection when
/// the request asked.
pub fn respond(req: &Seen, status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.0 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    let conn = if req.header("connection") == Some("keep-alive") {
        "keep-alive"
    } else {
        "close"
    };
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: {conn}\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A static file server for reproxy targets: `/data` is `content` (with
/// single `bytes=a-b` ranges), `/short` is one byte shorter, anything else
/// a 404.
pub fn file_server(content: Vec<u8>, delay: Duration) -> ScriptBackend {
    ScriptBackend::start(delay, move |req, _| {
        let data: &[u8] = match req.path.as_str() {
            "/data" => &content,
            "/short" => &content[..content.len() - 1],
            _ => return respond(req, "404 Not Found", &[], b"nope"),
        };
        let range = req
            .header("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
        let body = if req.method == "HEAD" { &[][..] } else { data };
        match range {
            Some((a, b)) if a <= b && b < data.len() => {
                let part = if req.method == "HEAD" {
                    &[][..]
                } else {
                    &data[a..=b]
                };
                let mut r = respond(
                    req,
                    "206 Partial Content",
                    &[
                        ("Content-Range", format!("bytes {a}-{b}/{}", data.len())),
                        ("Accept-Ranges", "bytes".into()),
                        ("X-Target", "yes".into()),
                    ],
                    part,
                );
                if req.method == "HEAD" {
                    let text = String::from_utf8_lossy(&r).replace(
                        "Content-Length: 0",
                        &format!("Content-Length: {}", b - a + 1),
                    );
                    r = text.into_bytes();
                }
                r
            }
            _ => {
                let mut r = respond(req, "200 OK", &[("X-Target", "yes".into())], body);
                if req.method == "HEAD" {
                    let text = String::from_utf8_lossy(&r).replace(
                        "Content-Length: 0",
                        &format!("Content-Length: {}", data.len()),
                    );
                    r = text.into_bytes();
                }
                r
            }
        }
    })
}
