//! A tiny blocking client: send bytes, read until the reply is complete.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connects with timeouts, so a silent daemon fails the test instead of
/// hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

/// Reads until the bytes received end with `end` (or the peer closes).
pub fn read_until<S: Read>(s: &mut S, end: &[u8]) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(end) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading reply (have {:?}): {e}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `req` and reads the reply up to and including `end`.
pub fn ask<S: Read + Write>(s: &mut S, req: &str, end: &str) -> String {
    s.write_all(req.as_bytes()).expect("write");
    read_until(s, end.as_bytes())
}

/// One request on a fresh connection.
pub fn ask_once(addr: SocketAddr, req: &str, end: &str) -> String {
    ask(&mut connect(addr), req, end)
}
