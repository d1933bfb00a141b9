//! memcached through the network: wire conformance against Debian's
//! memcached 1.6.18, real clients, bad input, stats, memory.

mod binary;
mod chunked;
mod client;
mod clients;
mod conformance;
mod conn_limits;
mod flags;
mod introspection;
mod lru;
mod memory;
mod refusals;
mod restart;
mod robustness;
mod stats;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use danga_testkit::{have_command, require, wait_for_file, Daemon, Spawn};

/// A running server and its address.
pub struct Mc {
    pub daemon: Daemon,
    pub addr: SocketAddr,
}

/// Our memcached on an ephemeral loopback port.
pub fn ours(extra: &[&str]) -> Mc {
    let mut args = vec!["-p", "-1", "-l", "127.0.0.1", "-U", "0"];
    args.extend_from_slice(extra);
    let daemon = Daemon::start("memcached", &args);
    let addr = daemon.addr("memcached");
    Mc { daemon, addr }
}

/// The path of Debian's memcached.
pub const ORIGINAL: &str = "/usr/bin/memcached";

/// Debian's memcached 1.6.18 with the same flags (None outside CI when it
/// is not installed).
pub fn original(extra: &[&str]) -> Option<Mc> {
    if !require(
        "Debian's memcached (/usr/bin/memcached)",
        have_command(ORIGINAL),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port_file = dir.path().join("port");
    let mut args = vec!["-p", "-1", "-l", "127.0.0.1", "-U", "0"];
    if nix::unistd::Uid::effective().is_root() {
        args.extend_from_slice(&["-u", "root"]);
    }
    args.extend_from_slice(extra);
    let daemon = Spawn::external(ORIGINAL)
        .args(&args)
        .env("MEMCACHED_PORT_FILENAME", &port_file)
        .start();
    assert!(
        wait_for_file(&port_file, Duration::from_secs(10)),
        "the original never wrote its port file"
    );
    let text = std::fs::read_to_string(&port_file).expect("port file");
    let port: u16 = text
        .lines()
        .find_map(|l| l.strip_prefix("TCP INET: "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("port file {text:?}"));
    Some(Mc {
        daemon,
        addr: ([127, 0, 0, 1], port).into(),
    })
}

/// `stats[ which]` as a map of name to value.
pub fn stats(
    s: &mut std::net::TcpStream,
    which: &str,
) -> std::collections::HashMap<String, String> {
    let reply = crate::wire::ask(s, &format!("stats{which}\r\n"), "END\r\n");
    reply
        .lines()
        .filter_map(|l| l.strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One numeric stat of a [`stats`] map (the test fails naming it if absent).
pub fn num(m: &std::collections::HashMap<String, String>, k: &str) -> i64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no stat {k} in {m:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("stat {k} not a number"))
}
