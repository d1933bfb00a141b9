//! mogstored through the network: files in and out over HTTP (raw sockets
//! and curl), the on-disk layout, path safety, `/devN/usage`, the side
//! channel, and bounded memory.

mod files;
mod hostile;
mod safety;
mod side;
mod stress;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use danga_testkit::Daemon;
use tempfile::TempDir;

use crate::wire::connect;

/// A running storage node with `dev1` and `dev7` in its docroot.
pub struct Node {
    pub daemon: Daemon,
    pub http: SocketAddr,
    pub mgmt: SocketAddr,
    pub docroot: TempDir,
}

impl Node {
    pub fn start() -> Node {
        Node::start_with(&[])
    }

    /// As [`Node::start`], mogstored started with `args` too.
    pub fn start_with(args: &[&str]) -> Node {
        let docroot = tempfile::tempdir().expect("docroot");
        for dev in ["dev1", "dev7"] {
            std::fs::create_dir(docroot.path().join(dev)).expect("devN");
        }
        let root = format!("--docroot={}", docroot.path().display());
        let mut all = vec![
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            root.as_str(),
        ];
        all.extend_from_slice(args);
        let daemon = Daemon::start("mogstored", &all);
        Node {
            http: daemon.addr("http"),
            mgmt: daemon.addr("mgmt"),
            daemon,
            docroot,
        }
    }

    /// Where `uri` lives on disk.
    pub fn file(&self, uri: &str) -> PathBuf {
        self.docroot.path().join(uri.trim_start_matches('/'))
    }

    pub fn url(&self, uri: &str) -> String {
        format!("http://{}{uri}", self.http)
    }
}

/// A parsed HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `head` + `body` on `s` and reads one reply (`HEAD` replies have no body).
pub fn exchange(s: &mut TcpStream, head: &str, body: &[u8]) -> Reply {
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    read_reply(s, head.starts_with("HEAD "))
}

/// Reads one reply: head, then Content-Length bytes.
pub fn read_reply(s: &mut TcpStream, no_body: bool) -> Reply {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            other => panic!(
                "reply head cut short ({other:?}): {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let head = String::from_utf8(raw).expect("ASCII head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let mut reply = Reply {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = reply
        .header("content-length")
        .map_or(0, |v| v.parse().expect("length"));
    if !no_body {
        reply.body = vec![0u8; len];
        s.read_exact(&mut reply.body).expect("reply body");
    }
    reply
}

/// One request on a fresh connection.
pub fn once(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    exchange(&mut connect(addr), head, body)
}

/// The Perl client's PUT: HTTP/1.0, no Host, `Content-length`.
pub fn perl_put(addr: SocketAddr, uri: &str, body: &[u8]) -> Reply {
    once(
        addr,
        &format!(
            "PUT {uri} HTTP/1.0\r\nContent-length: {}\r\n\r\n",
            body.len()
        ),
        body,
    )
}

/// Deterministic bytes that are not all alike.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Output of a shell tool's first word (`md5sum`, `sha1sum`).
pub fn digest_of(tool: &str, path: &Path) -> String {
    let out = std::process::Command::new(tool)
        .arg(path)
        .output()
        .expect(tool);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}
