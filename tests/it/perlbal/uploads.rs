//! Buffered uploads (`buffer_uploads`): a slow 300 KB upload reaches the
//! backend only after its last byte, spooled in `buffer_uploads_path` and
//! removed afterwards; an aborted upload leaves no spool file and never
//! reaches a backend; chunked bodies are de-chunked and sent with a
//! Content-Length; `Expect: 100-continue` is answered; upload progress goes
//! to `upload_status_listeners` by UDP. The slow-upload check runs against
//! Debian's perlbal 1.80 too.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use danga_testkit::wait_for;

use super::console::original;
use super::script::{respond, ScriptBackend};
use super::{perlbal, proxy_conf, read_response};
use crate::version::stops_cleanly;
use crate::wire::connect;

/// Answers with the body's length and a checksum of it.
fn counter() -> ScriptBackend {
    ScriptBackend::start(Duration::ZERO, |req, body| {
        let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
        let text = format!("got {} sum {sum}", body.len());
        respond(req, "200 OK", &[], text.as_bytes())
    })
}

fn spool_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8).collect()
}

/// Sends a `len`-byte POST in pieces with pauses, all but `held` bytes;
/// returns the socket with the last `held` bytes unsent.
fn slow_post(addr: SocketAddr, data: &[u8], held: usize, path: &str) -> std::net::TcpStream {
    let mut s = connect(addr);
    s.write_all(
        format!(
            "POST {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    )
    .expect("head");
    let upto = data.len() - held;
    for piece in data[..upto].chunks(20_000) {
        s.write_all(piece).expect("piece");
        std::thread::sleep(Duration::from_millis(15));
    }
    s
}

/// The slow upload scenario against a perlbal at `addr` with backend `b`
/// and spool directory `spool`.
fn slow_upload_reaches_backend_after_last_byte(addr: SocketAddr, b: &ScriptBackend, spool: &Path) {
    let data = body(300 * 1024);
    let mut s = slow_post(addr, &data, 1000, "/up");
    // Everything but the last 1000 bytes is in: spooled, no backend yet.
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool) == 1),
        "a spool file while the upload runs"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.accepted.load(Ordering::SeqCst),
        0,
        "no backend connection before the last byte"
    );
    s.write_all(&data[data.len() - 1000..]).expect("last bytes");
    let r = read_response(&mut s);
    let sum: u64 = data.iter().map(|b| u64::from(*b)).sum();
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert!(r.ends_with(&format!("got {} sum {sum}", data.len())), "{r}");
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool) == 0),
        "the spool file is removed"
    );
}

#[test]
fn perlbal_buffered_upload_reaches_the_backend_after_its_last_byte() {
    let spool = tempfile::tempdir().expect("spool");
    let b = counter();
    let conf = proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}",
            spool.path().display()
        ),
    );
    let d = perlbal(&conf);
    slow_upload_reaches_backend_after_last_byte(d.addr("web"), &b, spool.path());
    // A small body stays in memory and goes through at once.
    let r = crate::wire::ask_once(
        d.addr("web"),
        "POST /small HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
        "sum 532",
    );
    assert!(r.starts_with("HTTP/1.0 200 OK"), "{r}");
    stops_cleanly(d);
    // The same with Debian's perlbal 1.80.
    let spool2 = tempfile::tempdir().expect("spool");
    let b2 = counter();
    let conf2 = proxy_conf(
        &[b2.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}",
            spool2.path().display()
        ),
    );
    if let Some((orig, addr, _m, _dir)) = original(&conf2) {
        slow_upload_reaches_backend_after_last_byte(addr, &b2, spool2.path());
        drop(orig);
    }
}

#[test]
fn perlbal_aborted_upload_leaves_no_spool_file() {
    let spool = tempfile::tempdir().expect("spool");
    let b = counter();
    let d = perlbal(&proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}",
            spool.path().display()
        ),
    ));
    let data = body(300 * 1024);
    let s = slow_post(d.addr("web"), &data, 150 * 1024, "/up");
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool.path()) == 1),
        "spooling"
    );
    drop(s);
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool.path()) == 0),
        "the spool file of an aborted upload is removed"
    );
    assert_eq!(
        b.accepted.load(Ordering::SeqCst),
        0,
        "the backend never heard of it"
    );
    // The rate threshold spools a slow client whose body is under the size
    // threshold too.
    let d2 = perlbal(&proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}\nbuffer_backend_connect = 10k\nbuffer_upload_threshold_rate = 100000000",
            spool.path().display()
        ),
    ));
    let small = body(100 * 1024);
    let mut s = slow_post(d2.addr("web"), &small, 1000, "/rate");
    assert!(
        wait_for(Duration::from_secs(5), || spool_files(spool.path()) == 1),
        "spooled by rate"
    );
    assert_eq!(b.accepted.load(Ordering::SeqCst), 0);
    s.write_all(&small[small.len() - 1000..]).expect("rest");
    assert!(read_response(&mut s).contains(&format!("got {}", small.len())));
    stops_cleanly(d2);
    stops_cleanly(d);
}

#[test]
fn perlbal_dechunks_uploads_and_answers_100_continue() {
    let spool = tempfile::tempdir().expect("spool");
    let b = counter();
    let d = perlbal(&proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}\nbuffer_backend_connect = 50k\npersist_client = on",
            spool.path().display()
        ),
    ));
    let web = d.addr("web");
    let mut s = connect(web);
    s.write_all(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        .expect("head");
    assert_eq!(
        crate::wire::read_until(&mut s, b"\r\n\r\n"),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    s.write_all(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        .expect("body");
    let r = read_response(&mut s);
    assert!(r.ends_with("got 11 sum 1116"), "{r}");
    // A big chunked body (over buffer_backend_connect) is spooled first.
    let data = body(200 * 1024);
    s.write_all(b"POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("head");
    for piece in data.chunks(30_000) {
        s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .expect("size");
        s.write_all(piece).expect("data");
        s.write_all(b"\r\n").expect("crlf");
    }
    s.write_all(b"0\r\n\r\n").expect("end");
    let sum: u64 = data.iter().map(|b| u64::from(*b)).sum();
    let r = read_response(&mut s);
    assert!(r.ends_with(&format!("got {} sum {sum}", data.len())), "{r}");
    let seen = b.seen();
    for (req, _) in &seen {
        assert_eq!(req.header("transfer-encoding"), None);
        assert_eq!(req.header("expect"), None);
    }
    assert_eq!(seen[0].0.header("content-length"), Some("11"));
    assert_eq!(
        seen[1].0.header("content-length"),
        Some(data.len().to_string().as_str())
    );
    assert!(wait_for(Duration::from_secs(5), || spool_files(
        spool.path()
    ) == 0));
    // Over max_chunked_request_size: the connection closes, nothing is sent on.
    let d2 = perlbal(&proxy_conf(
        &[b.addr],
        &format!(
            "buffer_uploads = on\nbuffer_uploads_path = {}\nmax_chunked_request_size = 1k",
            spool.path().display()
        ),
    ));
    let before = b.seen().len();
    let mut s = connect(d2.addr("web"));
    s.write_all(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n")
        .expect("head");
    s.write_all(&[b'x'; 0x800]).expect("data");
    let _ = s.write_all(b"\r\n0\r\n\r\n");
    assert_eq!(read_response(&mut s), "", "closed");
    assert_eq!(b.seen().len(), before);
    stops_cleanly(d2);
    stops_cleanly(d);
}

#[test]
fn perlbal_100_continue_and_upload_progress_without_buffering() {
    let b = counter();
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let d = perlbal(&proxy_conf(
        &[b.addr],
        &format!(
            "upload_status_listeners = {}",
            udp.local_addr().expect("addr")
        ),
    ));
    let mut s = connect(d.addr("web"));
    s.write_all(b"POST /up?client_up_sess=abc123 HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\nExpect: 100-continue\r\n\r\n")
        .expect("head");
    assert_eq!(
        crate::wire::read_until(&mut s, b"\r\n\r\n"),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    let data = body(200_000);
    s.write_all(&data[..50_000]).expect("part");
    let mut pkt = [0u8; 512];
    let (n, _) = udp.recv_from(&mut pkt).expect("a progress packet");
    let text = String::from_utf8_lossy(&pkt[..n]).into_owned();
    let f: Vec<&str> = text.split(':').collect();
    assert_eq!(f.len(), 6, "{text}");
    assert_eq!((f[0], f[1], f[3]), ("UPLOAD", "abc123", "200000"), "{text}");
    let done: u64 = f[2].parse().expect("done");
    assert!(done > 0 && done < 200_000, "{text}");
    let (start, now): (u64, u64) = (f[4].parse().expect("start"), f[5].parse().expect("now"));
    assert!(start <= now, "{text}");
    s.write_all(&data[50_000..]).expect("rest");
    let r = read_response(&mut s);
    assert!(r.contains("got 200000"), "{r}");
    assert_eq!(b.seen()[0].0.header("expect"), None, "answered by perlbal");
    stops_cleanly(d);
}

#[test]
fn perlbal_upload_tracker_answers_upload_status() {
    let b = counter();
    let conf = format!(
        "CREATE SERVICE tracker\n  SET role = upload_tracker\n  SET listen = 127.0.0.1:0\nENABLE tracker\n{}",
        proxy_conf(&[b.addr], "persist_client = on")
    );
    let d = perlbal(&conf);
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    let show = super::console(mgmt, "SHOW SERVICE tracker");
    let udp = show
        .lines()
        .find_map(|l| l.trim().strip_prefix("listening: "))
        .expect("listening")
        .to_owned();
    assert!(show.contains("role: upload_tracker"), "{show}");
    assert_eq!(
        super::console(mgmt, &format!("SET web.upload_status_listeners = {udp}")),
        "OK\r\n"
    );
    let status = |sess: &str| {
        let r = crate::wire::ask_once(
            web,
            &format!("GET /__upload_status?client_up_sess={sess} HTTP/1.0\r\n\r\n"),
            "}",
        );
        r.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
    };
    assert_eq!(status("nobody"), "{}");
    let data = body(300 * 1024);
    let mut s = slow_post(web, &data, 1000, "/up?client_up_sess=sess_1");
    let mut seen = String::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            seen = status("sess_1");
            seen.starts_with("{done:")
        }),
        "progress reached the tracker: {seen}"
    );
    assert!(
        seen.contains(&format!(",total:{},starttime:", data.len())),
        "{seen}"
    );
    let done: u64 = seen["{done:".len()..seen.find(',').expect("comma")]
        .parse()
        .expect("done");
    assert!(done > 0 && done < data.len() as u64, "{seen}");
    s.write_all(&data[data.len() - 1000..]).expect("rest");
    assert!(read_response(&mut s).contains(&format!("got {}", data.len())));
    assert!(b
        .seen()
        .iter()
        .all(|(r, _)| !r.path.starts_with("/__upload_status")));
    stops_cleanly(d);
}
