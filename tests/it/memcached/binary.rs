//! The binary protocol, SASL, ASCII authentication, UDP and
//! `stats cachedump`: real clients (libmemcached's memccapable, pylibmc)
//! where they exist, raw packets for every error status otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use danga_testkit::{have_command, require, Spawn};

use super::{ours, Mc};
use crate::wire::{ask, connect};

/// A request packet.
fn packet(op: u8, key: &[u8], extras: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    let body = (extras.len() + key.len() + value.len()) as u32;
    let mut p = vec![0x80, op];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&opaque.to_be_bytes());
    p.extend_from_slice(&cas.to_be_bytes());
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// A response: opcode, status, opaque, cas, extras, key, value.
#[derive(Debug)]
struct Resp {
    opcode: u8,
    status: u16,
    opaque: u32,
    cas: u64,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn parse_resp(b: &[u8]) -> (Resp, usize) {
    assert!(b.len() >= 24, "short response {b:?}");
    assert_eq!(b[0], 0x81, "response magic in {b:?}");
    let keylen = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let extlen = usize::from(b[4]);
    let body = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
    let end = 24 + body;
    assert!(b.len() >= end, "response body cut short");
    let resp = Resp {
        opcode: b[1],
        status: u16::from_be_bytes([b[6], b[7]]),
        opaque: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
        cas: u64::from_be_bytes(b[16..24].try_into().expect("8 bytes")),
        extras: b[24..24 + extlen].to_vec(),
        key: b[24 + extlen..24 + extlen + keylen].to_vec(),
        value: b[24 + extlen + keylen..end].to_vec(),
    };
    (resp, end)
}

fn read_resp(s: &mut TcpStream) -> Resp {
    let mut head = [0u8; 24];
    s.read_exact(&mut head).expect("response header");
    let body = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let mut all = head.to_vec();
    all.resize(24 + body, 0);
    s.read_exact(&mut all[24..]).expect("response body");
    parse_resp(&all).0
}

fn call(s: &mut TcpStream, p: &[u8]) -> Resp {
    s.write_all(p).expect("write");
    read_resp(s)
}

fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

fn incr_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// True when the peer has closed (read returns 0 within the timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(s.read(&mut b), Ok(0))
}

fn run_memccapable(mc: &Mc, mode: &str) {
    if !require(
        "memccapable (libmemcached-tools)",
        have_command("memccapable"),
    ) {
        return;
    }
    let out = Command::new("memccapable")
        .args([
            mode,
            "-t",
            "5",
            "-h",
            "127.0.0.1",
            "-p",
            &mc.addr.port().to_string(),
        ])
        .output()
        .expect("memccapable");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("[FAIL]") && text.contains("All tests passed"),
        "memccapable {mode}: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if mode == "-b" {
        assert_eq!(text.matches("[pass]").count(), 27, "{text}");
    }
}

#[test]
fn memccapable_binary_and_ascii_suites_pass_on_one_port() {
    let mc = ours(&[]);
    run_memccapable(&mc, "-b");
    run_memccapable(&mc, "-a");
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn python(script: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn pylibmc_binary_round_trips() {
    if !require("python3 with pylibmc (pip)", python_has("pylibmc")) {
        return;
    }
    let mc = ours(&[]);
    let script = r#"
import sys, pylibmc
c = pylibmc.Client([sys.argv[1]], binary=True, behaviors={"cas": True})
assert c.set("py:a", "hello")
assert c.get("py:a") == "hello"
assert c.add("py:a", "x") is False
assert c.replace("py:a", "bye")
assert c.append("py:a", "!") and c.prepend("py:a", "<")
assert c.get("py:a") == "<bye!"
c.set("py:n", 10)
assert c.incr("py:n", 5) == 15 and c.decr("py:n", 20) == 0
assert c.get_multi(["py:a", "py:n", "py:none"]) == {"py:a": "<bye!", "py:n": 0}
v, cas = c.gets("py:a")
assert c.cas("py:a", "new", cas) is True
assert c.cas("py:a", "newer", cas) is False
c.set_multi({"py:x": 1, "py:y": 2})
assert c.get_multi(["py:x", "py:y"]) == {"py:x": 1, "py:y": 2}
assert c.delete("py:a") and c.get("py:a") is None
big = b"v" * 500000
c.set("py:big", big)
assert c.get("py:big") == big
stats = c.get_stats()[0][1]
assert int(stats["cmd_get"]) >= 5, stats
assert c.flush_all()
assert c.get("py:x") is None
print("ok")
"#;
    assert_eq!(python(script, &[&mc.addr.to_string()], &[]), "ok");
}

/// The directory of Debian's Cyrus SASL client plugins (libsasl2-modules):
/// the pylibmc wheel's own libsasl2 looks elsewhere.
fn sasl_plugin_dir() -> Option<String> {
    let dir = std::fs::read_dir("/usr/lib").ok()?;
    dir.flatten()
        .map(|e| e.path().join("sasl2"))
        .find(|p| p.join("libplain.so").exists())
        .map(|p| p.display().to_string())
}

fn sasl_server() -> (Mc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pwdb = dir.path().join("pwdb");
    std::fs::write(&pwdb, "testuser:testpass\nother:secret\n").expect("pwdb");
    let daemon = Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-S"])
        .env("MEMCACHED_SASL_PWDB", &pwdb)
        .start();
    let addr = daemon.addr("memcached");
    (Mc { daemon, addr }, dir)
}

#[test]
fn pylibmc_authenticates_with_sasl() {
    let plugins = sasl_plugin_dir();
    if !require("python3 with pylibmc (pip)", python_has("pylibmc"))
        || !require(
            "Cyrus SASL PLAIN client plugin (libsasl2-modules)",
            plugins.is_some(),
        )
    {
        return;
    }
    let plugins = plugins.unwrap_or_default();
    let (mc, _dir) = sasl_server();
    let script = r#"
import sys, pylibmc
assert pylibmc.support_sasl
good = pylibmc.Client([sys.argv[1]], binary=True, username="testuser", password="testpass")
assert good.set("sasl:k", "v")
assert good.get("sasl:k") == "v"
bad = pylibmc.Client([sys.argv[1]], binary=True, username="testuser", password="wrong")
try:
    bad.set("sasl:k", "x")
    print("unauthenticated set accepted")
except pylibmc.Error as e:
    assert "AUTHENTICATION FAILURE" in str(e), e
    print("ok")
"#;
    assert_eq!(
        python(script, &[&mc.addr.to_string()], &[("SASL_PATH", &plugins)]),
        "ok"
    );
}

#[test]
fn every_error_status_byte_for_byte() {
    let mc = ours(&["-M", "-m", "2"]);
    let mut s = connect(mc.addr);
    let set = |k: &[u8], v: &[u8]| packet(0x01, k, &set_extras(0, 0), v, 1, 0);
    // 0x01 not found, with its text.
    let r = call(&mut s, &packet(0x00, b"nope", &[], &[], 7, 0));
    assert_eq!(
        (r.status, r.opaque, r.value.as_slice()),
        (0x01, 7, &b"Not found"[..])
    );
    // getk misses carry the key instead.
    let r = call(&mut s, &packet(0x0c, b"nope", &[], &[], 8, 0));
    assert_eq!(
        (r.status, r.key.as_slice(), r.value.len()),
        (0x01, &b"nope"[..], 0)
    );
    // 0x02 key exists: add over a live item, and a wrong CAS.
    assert_eq!(call(&mut s, &set(b"k", b"v")).status, 0);
    let r = call(&mut s, &packet(0x02, b"k", &set_extras(0, 0), b"w", 2, 0));
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x02, &b"Data exists for key."[..])
    );
    let r = call(
        &mut s,
        &packet(0x01, b"k", &set_extras(0, 0), b"w", 2, 12345),
    );
    assert_eq!(r.status, 0x02);
    // 0x03 too large.
    let big = vec![b'x'; (1 << 20) + 1];
    let r = call(&mut s, &set(b"big", &big));
    assert_eq!((r.status, r.value.as_slice()), (0x03, &b"Too large."[..]));
    // 0x05 not stored: append to nothing.
    let r = call(&mut s, &packet(0x0e, b"none", &[], b"x", 3, 0));
    assert_eq!((r.status, r.value.as_slice()), (0x05, &b"Not stored."[..]));
    // 0x06 non-numeric.
    assert_eq!(call(&mut s, &set(b"text", b"abc")).status, 0);
    let r = call(
        &mut s,
        &packet(0x05, b"text", &incr_extras(1, 0, 0), &[], 4, 0),
    );
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x06, &b"Non-numeric server-side value for incr or decr"[..])
    );
    // 0x81 unknown command (verbosity is not served by 1.6.18 either).
    let r = call(&mut s, &packet(0x1b, b"", &[0, 0, 0, 1], &[], 5, 0));
    assert_eq!((r.status, r.opcode), (0x81, 0x1b));
    assert_eq!(call(&mut s, &packet(0x0a, b"", &[], &[], 6, 0)).status, 0);
    // 0x20 auth error: SASL opcodes answer unknown without -S, and
    // flush with -F answers auth error (checked below on its own server).
    let r = call(&mut s, &packet(0x20, b"", &[], &[], 6, 0));
    assert_eq!(r.status, 0x81);
    // 0x82 out of memory: -M with 2 MB fills up.
    let value = vec![b'v'; 100_000];
    let mut saw_oom = None;
    for i in 0..100 {
        let r = call(&mut s, &set(format!("fill{i}").as_bytes(), &value));
        if r.status != 0 {
            saw_oom = Some(r);
            break;
        }
    }
    let r = saw_oom.expect("-M -m 2 never ran out of memory");
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x82, &b"Out of memory allocating item"[..])
    );
    // 0x04 invalid arguments (a get with extras), and the connection closes.
    let r = call(&mut s, &packet(0x00, b"k", &[0; 4], &[], 9, 0));
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x04, &b"Invalid arguments"[..])
    );
    assert!(closed(&mut s), "still open after a protocol error");

    let flushless = ours(&["-F"]);
    let mut s = connect(flushless.addr);
    let r = call(&mut s, &packet(0x08, b"", &[], &[], 1, 0));
    assert_eq!(
        (r.status, r.value.as_slice()),
        (0x20, &b"Auth failure."[..])
    );
}

#[test]
fn quiet_commands_cas_and_opaque() {
    let mc = ours(&[]);
    let mut s = connect(mc.addr);
    // setq, getq miss, getkq hit, then noop: only the hit and the noop answer.
    let mut batch = packet(0x11, b"q", &set_extras(42, 0), b"quiet", 1, 0);
    batch.extend(packet(0x09, b"missing", &[], &[], 2, 0));
    batch.extend(packet(0x0d, b"q", &[], &[], 3, 0));
    batch.extend(packet(0x0a, b"", &[], &[], 4, 0));
    s.write_all(&batch).expect("write");
    let hit = read_resp(&mut s);
    assert_eq!(
        (hit.opcode, hit.status, hit.opaque),
        (0x0d, 0, 3),
        "{hit:?}"
    );
    assert_eq!(hit.extras, 42u32.to_be_bytes());
    assert_eq!(
        (hit.key.as_slice(), hit.value.as_slice()),
        (&b"q"[..], &b"quiet"[..])
    );
    let noop = read_resp(&mut s);
    assert_eq!((noop.opcode, noop.opaque), (0x0a, 4));
    // The CAS a set returns is the one a get shows; a matching CAS stores.
    let r = call(&mut s, &packet(0x01, b"c", &set_extras(0, 0), b"1", 5, 0));
    let got = call(&mut s, &packet(0x00, b"c", &[], &[], 6, 0));
    assert!(r.cas != 0 && r.cas == got.cas, "{r:?} {got:?}");
    let r2 = call(
        &mut s,
        &packet(0x01, b"c", &set_extras(0, 0), b"2", 7, r.cas),
    );
    assert_eq!(r2.status, 0);
    assert_ne!(r2.cas, r.cas);
    // incr with an initial value creates, then counts; its CAS moves.
    let a = call(
        &mut s,
        &packet(0x05, b"n", &incr_extras(5, 100, 0), &[], 8, 0),
    );
    assert_eq!(a.value, 100u64.to_be_bytes());
    let b = call(
        &mut s,
        &packet(0x05, b"n", &incr_extras(5, 100, 0), &[], 9, 0),
    );
    assert_eq!(b.value, 105u64.to_be_bytes());
    assert_ne!(a.cas, b.cas);
    // An expiry of 0xffffffff means "do not create".
    let r = call(
        &mut s,
        &packet(0x06, b"none", &incr_extras(1, 0, u32::MAX), &[], 10, 0),
    );
    assert_eq!(r.status, 0x01);
    // touch answers the flags alone, gat the value too, gatk the key too;
    // a quiet gat miss says nothing.
    let t = call(
        &mut s,
        &packet(0x1c, b"q", &100u32.to_be_bytes(), &[], 12, 0),
    );
    assert_eq!(
        (t.status, t.extras.as_slice(), t.value.len()),
        (0, &42u32.to_be_bytes()[..], 0)
    );
    let g = call(
        &mut s,
        &packet(0x1d, b"q", &100u32.to_be_bytes(), &[], 13, 0),
    );
    assert_eq!(g.value, b"quiet");
    let mut batch = packet(0x1e, b"missing", &100u32.to_be_bytes(), &[], 14, 0);
    batch.extend(packet(0x23, b"q", &100u32.to_be_bytes(), &[], 15, 0));
    s.write_all(&batch).expect("write");
    let gk = read_resp(&mut s);
    assert_eq!(
        (gk.opaque, gk.key.as_slice(), gk.value.as_slice()),
        (15, &b"q"[..], &b"quiet"[..])
    );
    // stat: one packet per statistic, then an empty one.
    s.write_all(&packet(0x10, b"", &[], &[], 11, 0))
        .expect("write");
    let mut names = Vec::new();
    loop {
        let r = read_resp(&mut s);
        assert_eq!((r.opcode, r.opaque), (0x10, 11));
        if r.key.is_empty() {
            break;
        }
        names.push(String::from_utf8_lossy(&r.key).into_owned());
    }
    assert!(
        names.iter().any(|n| n == "cmd_get") && names.len() > 40,
        "{names:?}"
    );
    // The text protocol still works on another connection.
    let mut t = connect(mc.addr);
    assert_eq!(
        ask(&mut t, "get q\r\n", "END\r\n"),
        "VALUE q 42 5\r\nquiet\r\nEND\r\n"
    );
    // quitq closes without a word.
    s.write_all(&packet(0x17, b"", &[], &[], 12, 0))
        .expect("write");
    assert!(closed(&mut s));
}

#[test]
fn sasl_plain_over_raw_packets() {
    let (mc, _dir) = sasl_server();
    let mut s = connect(mc.addr);
    // Before authenticating: version works, anything else is refused and
    // the connection closes.
    assert_eq!(call(&mut s, &packet(0x0b, b"", &[], &[], 1, 0)).status, 0);
    let r = call(&mut s, &packet(0x00, b"k", &[], &[], 2, 0));
    assert_eq!(r.status, 0x20);
    assert!(closed(&mut s));
    let mut s = connect(mc.addr);
    let r = call(&mut s, &packet(0x20, b"", &[], &[], 3, 0));
    assert_eq!((r.status, r.value.as_slice()), (0, &b"PLAIN"[..]));
    let r = call(
        &mut s,
        &packet(0x21, b"PLAIN", &[], b"\0testuser\0bad", 4, 0),
    );
    assert_eq!(r.status, 0x20);
    // PLAIN with an empty initial response continues; the step completes.
    let r = call(&mut s, &packet(0x21, b"PLAIN", &[], &[], 5, 0));
    assert_eq!(r.status, 0x21);
    let r = call(
        &mut s,
        &packet(0x22, b"PLAIN", &[], b"\0testuser\0testpass", 6, 0),
    );
    assert_eq!((r.status, r.value.as_slice()), (0, &b"Authenticated"[..]));
    let r = call(&mut s, &packet(0x01, b"k", &set_extras(0, 0), b"v", 7, 0));
    assert_eq!(r.status, 0);
    let r = call(&mut s, &packet(0x00, b"k", &[], &[], 8, 0));
    assert_eq!((r.status, r.value.as_slice()), (0, &b"v"[..]));
    // The text protocol is not spoken with -S.
    let mut t = connect(mc.addr);
    t.write_all(b"get k\r\n").expect("write");
    assert!(closed(&mut t));
}

#[test]
fn ascii_auth_as_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("authfile");
    std::fs::write(&file, "foo:bar\nbaaaz:quux\n").expect("authfile");
    let file = file.display().to_string();
    let mc = ours(&["-Y", &file]);
    let mut s = connect(mc.addr);
    let line = |s: &mut TcpStream, req: &str| ask(s, req, "\r\n");
    // Any `set` line starts the handshake: "hi" is not "user pass".
    assert_eq!(
        line(&mut s, "set foo 0 0 2\r\nhi\r\n"),
        "CLIENT_ERROR bad authentication token format\r\n"
    );
    assert_eq!(
        line(&mut s, "get foo\r\n"),
        "CLIENT_ERROR unauthenticated\r\n"
    );
    assert_eq!(
        line(&mut s, "set foo 0 0 7\r\nfoo bab\r\n"),
        "CLIENT_ERROR authentication failure\r\n"
    );
    assert_eq!(line(&mut s, "set foo 0 0 7\r\nfoo bar\r\n"), "STORED\r\n");
    assert_eq!(line(&mut s, "set toast 0 0 2\r\nhi\r\n"), "STORED\r\n");
    assert_eq!(
        ask(&mut s, "get toast\r\n", "END\r\n"),
        "VALUE toast 0 2\r\nhi\r\nEND\r\n"
    );
    let mut s2 = connect(mc.addr);
    assert_eq!(
        line(&mut s2, "set foo 0 0 10\r\nbaaaz quux\r\n"),
        "STORED\r\n"
    );
    let stats = ask(&mut s2, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT auth_cmds 3\r\n"), "{stats}");
    assert!(stats.contains("STAT auth_errors 1\r\n"), "{stats}");
}

/// A free UDP port on loopback (released just before the server binds it).
pub(super) fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    s.local_addr().expect("addr").port()
}

fn udp_ask(sock: &UdpSocket, id: u16, req: &[u8]) -> (Vec<u8>, usize) {
    let mut d = id.to_be_bytes().to_vec();
    d.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
    d.extend_from_slice(req);
    sock.send(&d).expect("send");
    let mut parts: Vec<Option<Vec<u8>>> = Vec::new();
    let mut total = None;
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while total.is_none_or(|t| got < t) {
        let n = sock.recv(&mut buf).expect("udp reply in time");
        assert!(n <= 1400, "datagram of {n} bytes");
        let h = &buf[..8];
        assert_eq!(u16::from_be_bytes([h[0], h[1]]), id);
        assert_eq!(&h[6..8], &[0, 0]);
        let seq = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let t = usize::from(u16::from_be_bytes([h[4], h[5]]));
        assert!(total.is_none_or(|x| x == t));
        total = Some(t);
        parts.resize(t, None);
        parts[seq] = Some(buf[8..n].to_vec());
        got += 1;
    }
    let count = parts.len();
    (parts.into_iter().flatten().flatten().collect(), count)
}

#[test]
fn udp_get_and_set_split_over_datagrams() {
    let port = free_udp_port();
    let daemon = Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", &port.to_string()])
        .start();
    let tcp = daemon.addr("memcached");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("connect");
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let value: String = (0..20_000)
        .map(|i| (b'C' + (i % 24) as u8) as char)
        .collect();
    let mut s = connect(tcp);
    let req = format!("set big 0 0 {}\r\n{value}\r\n", value.len());
    assert_eq!(ask(&mut s, &req, "\r\n"), "STORED\r\n");
    let (reply, count) = udp_ask(&udp, 53, b"get big\r\n");
    let expect = format!("VALUE big 0 20000\r\n{value}\r\nEND\r\n");
    assert_eq!(String::from_utf8_lossy(&reply), expect);
    assert_eq!(count, expect.len().div_ceil(1392));
    assert_eq!(udp_ask(&udp, 54, b"set u 0 0 1\r\nx\r\n").0, b"STORED\r\n");
    assert_eq!(udp_ask(&udp, 55, b"incr nope 1\r\n").0, b"NOT_FOUND\r\n");
    // Binary over UDP.
    let (reply, _) = udp_ask(
        &udp,
        56,
        &packet(0x01, b"b", &set_extras(3, 0), b"bin", 1, 0),
    );
    assert_eq!(parse_resp(&reply).0.status, 0);
    let (reply, _) = udp_ask(&udp, 57, &packet(0x00, b"u", &[], &[], 2, 0));
    let (r, _) = parse_resp(&reply);
    assert_eq!((r.status, r.value.as_slice()), (0, &b"x"[..]));
    // A request spread over several datagrams is dropped; the server goes on.
    let mut multi = vec![0, 60, 0, 0, 0, 2, 0, 0];
    multi.extend_from_slice(b"get big\r\n");
    udp.send(&multi).expect("send");
    assert_eq!(
        udp_ask(&udp, 61, b"get u\r\n").0,
        b"VALUE u 0 1\r\nx\r\nEND\r\n"
    );
    // One small datagram asking for a 1 MB value 500 times: the reply is
    // cut at 16 MB instead of growing to 500 MB.
    let mega = "m".repeat(1_000_000);
    let req = format!("set mega 0 0 {}\r\n{mega}\r\n", mega.len());
    assert_eq!(ask(&mut s, &req, "\r\n"), "STORED\r\n");
    let before = rss_kb(daemon.pid());
    let mut flood = vec![0, 70, 0, 0, 0, 1, 0, 0];
    flood.extend_from_slice(b"get");
    for _ in 0..500 {
        flood.extend_from_slice(b" mega");
    }
    flood.extend_from_slice(b"\r\n");
    udp.send(&flood).expect("send");
    let other = UdpSocket::bind("127.0.0.1:0").expect("bind");
    other
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("connect");
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!(
        udp_ask(&other, 71, b"get u\r\n").0,
        b"VALUE u 0 1\r\nx\r\nEND\r\n"
    );
    let after = rss_kb(daemon.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_header_announcing_a_huge_body_is_refused_with_bounded_memory() {
    let mc = ours(&[]);
    let mut s = connect(mc.addr);
    // Warm up, then measure.
    assert_eq!(
        call(&mut s, &packet(0x01, b"k", &set_extras(0, 0), b"v", 1, 0)).status,
        0
    );
    let before = rss_kb(mc.daemon.pid());
    // A set announcing a 64 MB value: refused at once, before any of it.
    let body: u32 = 64 << 20;
    let mut head = packet(0x01, b"huge", &set_extras(0, 0), &[], 2, 0);
    head[8..12].copy_from_slice(&(body + 12).to_be_bytes());
    let r = call(&mut s, &head);
    assert_eq!((r.status, r.opaque), (0x03, 2));
    // The announced bytes are discarded as they come, not held.
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..64 {
        s.write_all(&chunk).expect("write body");
    }
    let r = call(&mut s, &packet(0x00, b"k", &[], &[], 3, 0));
    assert_eq!((r.status, r.value.as_slice()), (0, &b"v"[..]));
    let after = rss_kb(mc.daemon.pid());
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    // A header saying the key and extras outrun the body: unknown command,
    // then the connection closes.
    let mut bad = packet(0x00, b"key", &[], &[], 4, 0);
    bad[8..12].copy_from_slice(&1u32.to_be_bytes());
    let r = call(&mut s, &bad);
    assert_eq!(r.status, 0x81);
    assert!(closed(&mut s));
}

#[test]
fn stats_cachedump_as_the_original() {
    let mc = ours(&[]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "stats cachedump 1 1\r\n", "END\r\n"), "END\r\n");
    assert_eq!(ask(&mut s, "set a 0 0 3\r\nabc\r\n", "\r\n"), "STORED\r\n");
    assert_eq!(
        ask(&mut s, "stats cachedump 1 0\r\n", "END\r\n"),
        "ITEM a [3 b; 0 s]\r\nEND\r\n"
    );
    assert_eq!(
        ask(&mut s, "stats cachedump 1\r\n", "\r\n"),
        "CLIENT_ERROR bad command line\r\n"
    );
    assert_eq!(
        ask(&mut s, "stats cachedump 64 1\r\n", "\r\n"),
        "CLIENT_ERROR Illegal slab id\r\n"
    );
    let locked = ours(&["-X"]);
    let mut s = connect(locked.addr);
    assert_eq!(
        ask(&mut s, "stats cachedump 1 1\r\n", "\r\n"),
        "CLIENT_ERROR stats cachedump not allowed\r\n"
    );
}
