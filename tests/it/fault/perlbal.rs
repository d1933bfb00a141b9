//! perlbal between hostile backends and a client that never reads.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{open_fds, rss_kib};
use crate::perlbal::{perlbal, proxy_conf, read_response};
use crate::wire::connect;

/// The service's idle_timeout in these tests (seconds).
const IDLE: u64 = 3;

/// How a `/big` reply ended on the backend's side: after how long, and
/// with what error kind.
type BigEnd = Arc<Mutex<Vec<(Duration, ErrorKind)>>>;

/// A backend that misbehaves by path: `/silent` reads the request and
/// never answers; `/half` sends half a response and closes; `/trickle-head`
/// sends its head a byte a second; `/trickle-body` a whole head and then
/// its 5-byte body a byte a second; `/big` a 1 GiB body as fast as it is
/// taken; anything else a small reply.
fn hostile_backend() -> (SocketAddr, BigEnd) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let big_end: BigEnd = Arc::default();
    let ends = big_end.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let ends = ends.clone();
            std::thread::spawn(move || serve(conn, &ends));
        }
    });
    (addr, big_end)
}

fn serve(conn: TcpStream, big_end: &BigEnd) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(60)));
    let mut out = conn.try_clone().expect("clone");
    let mut rd = BufReader::new(conn);
    let mut first = String::new();
    if rd.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    for _ in 0..100 {
        let mut h = String::new();
        if rd.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("").to_owned();
    match path.as_str() {
        "/stuck" => {
            // Never reads the request body; holds the connection.
            std::thread::sleep(Duration::from_secs(60));
        }
        "/silent" => {
            // Holds the connection until perlbal closes it (or 60 s).
            let mut b = [0u8; 1];
            let _ = rd.read(&mut b);
        }
        "/half" => {
            let _ = out.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n");
            let _ = out.write_all(&[b'h'; 1000]);
        }
        "/trickle-head" => {
            for b in b"HTTP/1.0 200 OK\r\nX-Slow: yes\r\nX-Slower: yes\r\nX-Slowest: yes\r\n" {
                if out.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "/trickle-body" => {
            let _ = out.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n");
            for b in b"slow!" {
                std::thread::sleep(Duration::from_secs(1));
                if out.write_all(&[*b]).is_err() {
                    return;
                }
            }
        }
        "/big" => {
            let start = Instant::now();
            let total: u64 = 1 << 30;
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {total}\r\n\r\n");
            let chunk = vec![b'z'; 64 * 1024];
            let mut sent = 0;
            let mut end = ErrorKind::Other;
            if out.write_all(head.as_bytes()).is_ok() {
                while sent < total {
                    if let Err(e) = out.write_all(&chunk) {
                        end = e.kind();
                        break;
                    }
                    sent += chunk.len() as u64;
                }
            }
            big_end.lock().expect("ends").push((start.elapsed(), end));
        }
        _ => {
            let _ = out.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    }
}

/// What a client saw: bytes received, and whether the connection ended
/// (closed or reset) rather than the 60 s read timeout expiring.
struct Seen {
    bytes: Vec<u8>,
    ended: bool,
    took: Duration,
}

fn fetch(addr: SocketAddr, path: &str) -> Seen {
    let start = Instant::now();
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: t\r\n\r\n").as_bytes())
        .expect("write");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    Seen {
        bytes,
        ended,
        took: start.elapsed(),
    }
}

/// POSTs a 32 MiB body to `/stuck` (whose backend never reads it) from a
/// writer thread, and reads until perlbal ends the connection.
fn upload_to_stuck(addr: SocketAddr) -> Seen {
    let start = Instant::now();
    let s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    std::thread::spawn(move || {
        let chunk = vec![b'u'; 64 * 1024];
        let head = format!(
            "POST /stuck HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
            512 * chunk.len()
        );
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        // Stops at the first error: the write timeout once blocked, or
        // perlbal gone.
        for _ in 0..512 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let mut s = s;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(_) => break true,
        }
    };
    Seen {
        bytes,
        ended,
        took: start.elapsed(),
    }
}

/// Promise: with `idle_timeout = 3`, perlbal bounds each bad peer in time
/// and memory while serving others: a backend that never answers,
/// trickles its head a byte a second, or never reads a 32 MiB request
/// body, costs its client at most
/// idle_timeout (+ slack) before the connection ends; one that sends half
/// a response and dies ends its client's connection at once, short of the
/// promised length; a body trickled a byte a second is relayed whole (each
/// byte is progress); a client that never reads a 1 GiB reply is dropped
/// (its backend sees a broken connection, not its own timeout) and costs
/// no more than socket buffers; meanwhile small requests are answered
/// within 3 s each, perlbal's RSS grows by less than 32 MiB, and its
/// open fds come back to where they were.
#[test]
fn fault_perlbal_hostile_backends_and_a_stalled_client_are_bounded() {
    let (backend, big_end) = hostile_backend();
    let d = perlbal(&proxy_conf(&[backend], &format!("idle_timeout = {IDLE}")));
    let web = d.addr("web");
    let pid = d.pid();
    for _ in 0..20 {
        assert!(crate::perlbal::get(web, "/warm", "").ends_with("ok"));
    }
    let base = rss_kib(pid);
    let base_fds = open_fds(pid);
    let mut clients = Vec::new();
    for (path, n) in [
        ("/silent", 20),
        ("/trickle-head", 20),
        ("/half", 5),
        ("/trickle-body", 5),
    ] {
        for _ in 0..n {
            clients.push((path, std::thread::spawn(move || fetch(web, path))));
        }
    }
    for _ in 0..3 {
        clients.push(("/stuck", std::thread::spawn(move || upload_to_stuck(web))));
    }
    // Clients that ask for 1 GiB and never read.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut s = connect(web);
        s.write_all(b"GET /big HTTP/1.0\r\nHost: t\r\n\r\n")
            .expect("write");
        stalled.push(s);
    }
    // Others are served meanwhile; RSS sampled.
    let mut peak = base;
    let start = Instant::now();
    let mut served = 0;
    while start.elapsed() < Duration::from_secs(8) {
        let t = Instant::now();
        let mut s = connect(web);
        s.write_all(b"GET /ok HTTP/1.0\r\nHost: t\r\n\r\n")
            .expect("write");
        let r = read_response(&mut s);
        assert!(r.ends_with("ok"), "a good request during the faults: {r:?}");
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a good request took {:?}",
            t.elapsed()
        );
        served += 1;
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served > 10, "{served} good requests in 8 s");
    let slack = Duration::from_secs(IDLE + 5);
    for (path, c) in clients {
        let seen = c.join().expect("client");
        assert!(seen.ended, "{path}: still open after {:?}", seen.took);
        let text = String::from_utf8_lossy(&seen.bytes);
        match path {
            "/silent" | "/trickle-head" | "/stuck" => {
                assert!(seen.took < slack, "{path}: held {:?}", seen.took);
                assert!(
                    !text.starts_with("HTTP/1.0 200"),
                    "{path}: answered {text:?}"
                );
            }
            "/half" => {
                assert!(seen.took < slack, "{path}: held {:?}", seen.took);
                let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                assert!(body.len() < 100_000, "{path}: {} body bytes", body.len());
            }
            _ => {
                assert!(text.ends_with("\r\n\r\nslow!"), "{path}: {text:?}");
            }
        }
    }
    // The stalled clients' backends see their connections dropped.
    assert!(
        danga_testkit::wait_for(Duration::from_secs(30), || big_end
            .lock()
            .expect("ends")
            .len()
            == 3),
        "a client that never reads holds its backend forever: {:?}",
        big_end.lock().expect("ends")
    );
    for (took, kind) in big_end.lock().expect("ends").iter() {
        assert!(
            !matches!(kind, ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the backend of a stalled client timed out itself after {took:?}"
        );
    }
    peak = peak.max(rss_kib(pid));
    drop(stalled);
    assert!(
        peak < base + 32 * 1024,
        "RSS grew from {base} KiB to {peak} KiB"
    );
    assert!(crate::perlbal::get(web, "/after", "").ends_with("ok"));
    // Every connection of the bad exchanges is closed again.
    assert!(
        danga_testkit::wait_for(Duration::from_secs(15), || open_fds(pid) <= base_fds + 2),
        "perlbal holds {} fds, {base_fds} before the faults",
        open_fds(pid)
    );
}
