//! mogilefsd with three mogstored nodes on loopback (one IP, different
//! ports), hosts and devices registered over the tracker protocol: raw wire
//! tests and pymogilefs.

mod admin;
mod commands;
mod durable;
mod files;
mod fsck;
mod jobs;
mod mariadb;
mod monitor;
mod pymogilefs;
mod rebalance;
mod replication;
mod wire;
mod workers;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use danga_mogilefs::proto::{encode, parse_reply, Args};
use danga_testkit::Daemon;
use tempfile::TempDir;

use crate::wire::{connect, read_until};

/// A storage node with two devices.
pub struct Node {
    pub daemon: Daemon,
    pub docroot: TempDir,
}

/// A tracker, its database and its storage nodes.
pub struct Cluster {
    pub tracker: Daemon,
    pub addr: SocketAddr,
    pub nodes: Vec<Node>,
    _db: Option<TempDir>,
}

impl Cluster {
    /// One tracker on SQLite, `n` storage nodes, domain `d` with class `c`.
    pub fn start(n: u32) -> Cluster {
        Cluster::with_tracker_on_sqlite(&[], n)
    }

    /// As [`Cluster::start`], the tracker started with `args` too.
    pub fn with_tracker_on_sqlite(args: &[&str], n: u32) -> Cluster {
        let db = tempfile::tempdir().expect("db dir");
        let path = db.path().join("mogilefs.sqlite3");
        let dsn = format!("--dsn=DBI:SQLite:dbname={}", path.display());
        let mut all = vec![dsn.as_str()];
        all.extend_from_slice(args);
        let mut c = Cluster::with_tracker(&all, n);
        c._db = Some(db);
        c
    }

    /// One tracker started with `args`, then `n` storage nodes registered.
    pub fn with_tracker(args: &[&str], n: u32) -> Cluster {
        let mut all = vec!["-s", "-l", "127.0.0.1:0", "--monitor_interval=0.5"];
        all.extend_from_slice(args);
        let tracker = Daemon::start("mogilefsd", &all);
        let addr = tracker.addr("mogilefsd");
        let mut c = Cluster {
            tracker,
            addr,
            nodes: Vec::new(),
            _db: None,
        };
        let mut s = c.conn();
        assert_eq!(call(&mut s, "create_domain domain=d"), "OK domain=d\r\n");
        assert!(call(&mut s, "create_class domain=d&class=c&mindevcount=2").starts_with("OK "));
        for i in 0..n {
            let docroot = tempfile::tempdir().expect("docroot");
            let devids = [2 * i + 1, 2 * i + 2];
            for d in devids {
                std::fs::create_dir(docroot.path().join(format!("dev{d}"))).expect("devN");
            }
            let daemon = Daemon::start(
                "mogstored",
                &[
                    "-s",
                    "--httplisten=127.0.0.1:0",
                    "--mgmtlisten=127.0.0.1:0",
                    &format!("--docroot={}", docroot.path().display()),
                ],
            );
            let port = daemon.addr("http").port();
            let r = call(
                &mut s,
                &format!("create_host host=s{i}&ip=127.0.0.1&port={port}&status=alive"),
            );
            let hostid = ok(&r).get("hostid").expect("hostid").to_owned();
            // The side channel's port, per host (hosts share one IP).
            let side = daemon.addr("mgmt").port();
            assert_eq!(
                call(
                    &mut s,
                    &format!("set_server_setting key=mogstored_stream_port_{hostid}&value={side}")
                ),
                "OK \r\n"
            );
            for d in devids {
                assert_eq!(
                    call(&mut s, &format!("create_device hostname=s{i}&devid={d}")),
                    "OK \r\n"
                );
            }
            c.nodes.push(Node { daemon, docroot });
        }
        c
    }

    /// A new tracker connection.
    pub fn conn(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Where a `http://.../devN/...` URL lives on disk.
    pub fn file_of(&self, url: &str) -> PathBuf {
        let port: u16 = url
            .trim_start_matches("http://127.0.0.1:")
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        let path = url.splitn(4, '/').nth(3).expect("path in url");
        let node = self
            .nodes
            .iter()
            .find(|n| n.daemon.addr("http").port() == port)
            .expect("node of url");
        node.docroot.path().join(path)
    }
}

/// Sends one request line, returns the reply line.
pub fn call(s: &mut TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    read_until(s, b"\r\n")
}

/// Sends a `!` admin line, returns its lines up to (without) the `.` line.
pub fn admin(s: &mut TcpStream, line: &str) -> Vec<String> {
    use std::io::Read;
    s.write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !(out == b".\r\n" || out.ends_with(b"\n.\r\n")) {
        match s.read(&mut buf) {
            Ok(0) => panic!("closed after {:?}", String::from_utf8_lossy(&out)),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading {line}: {e} after {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    lines.truncate(lines.len().saturating_sub(2));
    lines
}

/// The MD5 of `data` in hex (coreutils `md5sum`).
pub fn md5_hex(data: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("data");
    std::fs::write(&path, data).expect("write");
    let out = std::process::Command::new("md5sum")
        .arg(&path)
        .output()
        .expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
}

/// A request line from pairs (URL-encoded).
pub fn line(cmd: &str, pairs: &[(&str, &str)]) -> String {
    let args: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes())))
        .collect();
    format!("{cmd} {}", args.join("&"))
}

/// The arguments of an `OK` reply (panics on `ERR`).
pub fn ok(reply: &str) -> Args {
    match parse_reply(reply.as_bytes()) {
        Some(Ok(a)) => a,
        other => panic!("expected OK, got {reply:?} ({other:?})"),
    }
}

/// The code of an `ERR` reply (panics on `OK`).
pub fn err(reply: &str) -> String {
    match parse_reply(reply.as_bytes()) {
        Some(Err((code, _))) => code,
        other => panic!("expected ERR, got {reply:?} ({other:?})"),
    }
}

/// The decoded text of an `ERR` reply.
pub fn err_text(reply: &str) -> String {
    match parse_reply(reply.as_bytes()) {
        Some(Err((_, text))) => text,
        other => panic!("expected ERR, got {reply:?} ({other:?})"),
    }
}

/// Stores `data` under `key` over raw HTTP and the protocol; returns the fid.
pub fn store(s: &mut TcpStream, key: &str, data: &[u8]) -> (i64, String) {
    let open = ok(&call(
        s,
        &line(
            "create_open",
            &[("domain", "d"), ("key", key), ("class", "c")],
        ),
    ));
    let fid = open.get("fid").expect("fid").to_owned();
    let devid = open.get("devid").expect("devid").to_owned();
    let path = open.get("path").expect("path").to_owned();
    put(&path, data);
    let size = data.len().to_string();
    let close = line(
        "create_close",
        &[
            ("domain", "d"),
            ("key", key),
            ("fid", &fid),
            ("devid", &devid),
            ("path", &path),
            ("size", &size),
        ],
    );
    assert_eq!(call(s, &close), "OK \r\n", "close {key}");
    (fid.parse().expect("fid number"), path)
}

/// PUTs `data` at `url`.
pub fn put(url: &str, data: &[u8]) {
    let (host, path) = split(url);
    let mut s = connect(host);
    let head = format!(
        "PUT {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).expect("put head");
    s.write_all(data).expect("put body");
    let reply = read_until(&mut s, b"\r\n\r\n");
    assert!(
        reply.starts_with("HTTP/1.") && reply.contains(" 20"),
        "PUT {url}: {reply}"
    );
}

/// GETs `url`: status and body.
pub fn get(url: &str) -> (u16, Vec<u8>) {
    use std::io::Read;
    let (host, path) = split(url);
    let mut s = connect(host);
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .expect("get");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, all[end + 4..].to_vec())
}

fn split(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http url");
    let slash = rest.find('/').expect("path");
    (
        rest[..slash].parse().expect("addr"),
        rest[slash..].to_owned(),
    )
}
