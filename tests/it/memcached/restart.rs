//! Warm restart (`-e FILE`, issue 18): a graceful stop saves the cache, the
//! next start with the same settings serves it again; anything doubtful
//! starts empty and says why.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use danga_testkit::{require, wait_for, Daemon, Spawn};
use nix::sys::signal::Signal;

use super::Mc;
use crate::wire::{ask, connect};

/// Our memcached with `-e file` and `extra`.
fn start(file: &Path, extra: &[&str]) -> Mc {
    let file = file.to_str().expect("utf-8 path");
    let mut args = vec!["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-e", file];
    args.extend_from_slice(extra);
    let daemon = Spawn::new("memcached").args(&args).start();
    let addr = daemon.addr("memcached");
    Mc { daemon, addr }
}

/// Sends `sig` and waits for a clean exit.
fn stop(mc: &mut Mc, sig: Signal) {
    mc.daemon.signal(sig);
    wait_exit(&mut mc.daemon);
}

fn wait_exit(d: &mut Daemon) {
    let mut status = None;
    wait_for(Duration::from_secs(20), || {
        status = d.try_exit();
        status.is_some()
    });
    let status = status.unwrap_or_else(|| panic!("still running; stderr:\n{}", d.stderr()));
    assert!(status.success(), "{status}; stderr:\n{}", d.stderr());
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn save_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("mc")
}

fn meta_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".meta");
    PathBuf::from(s)
}

/// `ms` with a CAS in the reply: the item's CAS, or None if not stored.
fn meta_set(s: &mut BufReader<TcpStream>, key: &str, value: &[u8], flags: u32) -> Option<u64> {
    // One write per request: split writes meet Nagle and delayed ACKs.
    let mut req = format!("ms {key} {} F{flags} c\r\n", value.len()).into_bytes();
    req.extend_from_slice(value);
    req.extend_from_slice(b"\r\n");
    s.get_mut().write_all(&req).ok()?;
    let mut line = String::new();
    if s.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let cas = line.strip_prefix("HD c")?.trim_end();
    cas.parse().ok()
}

/// `mg key v f c`: (value, flags, cas), or None on a miss.
fn meta_get(s: &mut BufReader<TcpStream>, key: &str) -> Option<(Vec<u8>, u32, u64)> {
    s.get_mut()
        .write_all(format!("mg {key} v f c\r\n").as_bytes())
        .expect("write");
    let mut line = String::new();
    s.read_line(&mut line).expect("read");
    if line == "EN\r\n" {
        return None;
    }
    let mut words = line.trim_end().split(' ');
    assert_eq!(words.next(), Some("VA"), "{line:?}");
    let len: usize = words.next().and_then(|n| n.parse().ok()).expect("length");
    let (mut flags, mut cas) = (None, None);
    for w in words {
        if let Some(f) = w.strip_prefix('f') {
            flags = f.parse().ok();
        } else if let Some(c) = w.strip_prefix('c') {
            cas = c.parse().ok();
        }
    }
    let mut value = vec![0u8; len + 2];
    s.read_exact(&mut value).expect("value");
    assert!(value.ends_with(b"\r\n"));
    value.truncate(len);
    Some((value, flags.expect("flags"), cas.expect("cas")))
}

fn client(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(connect(addr))
}

/// A value of `len` bytes from a counter: every byte value appears.
fn value(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

type Acked = HashMap<String, (Vec<u8>, u32, u64)>;

#[test]
fn issue_18_restart_under_load_keeps_every_acknowledged_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    // -m 1024: the store must not evict (what is checked is the restart).
    let mut mc = start(&file, &["-m", "1024", "-v"]);
    let addr = mc.addr;
    let enough = Arc::new(AtomicBool::new(false));
    let enough_in = Arc::clone(&enough);
    // One request at a time: whatever got its reply is acknowledged; the one
    // cut by the stop (if any) is `pending` and may go either way.
    let writer = std::thread::spawn(move || {
        let mut s = client(addr);
        let mut acked = Acked::new();
        let mut pending = None;
        for i in 0..200_000u64 {
            let key = format!("load:{}", i % 400);
            let len = if i % 97 == 0 {
                600_000
            } else {
                (i % 3000) as usize
            };
            let v = value(i, len);
            let flags = (i as u32).wrapping_mul(2_654_435_761);
            pending = Some((key.clone(), v.clone(), flags));
            match meta_set(&mut s, &key, &v, flags) {
                Some(cas) => {
                    acked.insert(key, (v, flags, cas));
                    pending = None;
                }
                None => break,
            }
            if i == 2_000 {
                enough_in.store(true, Ordering::Release);
            }
        }
        (acked, pending)
    });
    assert!(
        wait_for(Duration::from_secs(30), || enough.load(Ordering::Acquire)),
        "the writer never got going"
    );
    stop(&mut mc, Signal::SIGUSR1);
    let (acked, pending) = writer.join().expect("writer");
    assert!(acked.len() > 300, "only {} keys written", acked.len());
    assert!(meta_path(&file).exists(), "no save after SIGUSR1");

    let mc = start(&file, &["-m", "1024", "-v"]);
    let mut s = client(mc.addr);
    let mut max_cas = 0;
    for (key, want) in &acked {
        let got = meta_get(&mut s, key).unwrap_or_else(|| panic!("{key} lost"));
        max_cas = max_cas.max(want.2);
        if got != *want {
            let (pk, pv, pf) = pending.as_ref().expect("a mismatch needs a cut request");
            assert!(
                pk == key && got.0 == *pv && got.1 == *pf,
                "{key}: neither the acknowledged nor the cut value"
            );
        }
    }
    let cas = meta_set(&mut s, "after", b"x", 0).expect("set after restart");
    assert!(cas > max_cas, "CAS {cas} not above the saved {max_cas}");
    assert!(
        !meta_path(&file).exists() && !file.exists(),
        "save not consumed"
    );
}

#[test]
fn issue_18_items_that_expired_while_down_are_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    let mut mc = start(&file, &[]);
    let mut s = connect(mc.addr);
    let now = unix_now();
    // Absolute expiry two seconds ahead, and one far ahead.
    let soon = now + 2;
    assert_eq!(
        ask(&mut s, &format!("set soon 1 {soon} 1\r\na\r\n"), "\r\n"),
        "STORED\r\n"
    );
    assert_eq!(
        ask(&mut s, "set later 2 3600 1\r\nb\r\n", "\r\n"),
        "STORED\r\n"
    );
    assert_eq!(
        ask(&mut s, "set never 3 0 1\r\nc\r\n", "\r\n"),
        "STORED\r\n"
    );
    drop(s);
    stop(&mut mc, Signal::SIGUSR1);
    assert!(
        wait_for(Duration::from_secs(5), || { unix_now() > soon }),
        "clock did not move"
    );
    let mc = start(&file, &[]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "get soon\r\n", "END\r\n"), "END\r\n");
    assert_eq!(
        ask(&mut s, "get later never\r\n", "END\r\n"),
        "VALUE later 2 1\r\nb\r\nVALUE never 3 1\r\nc\r\nEND\r\n"
    );
}

#[test]
fn issue_18_another_memory_limit_starts_empty_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    let mut mc = start(&file, &["-m", "64"]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "set k 0 0 1\r\nv\r\n", "\r\n"), "STORED\r\n");
    drop(s);
    stop(&mut mc, Signal::SIGUSR1);
    let mc = start(&file, &["-m", "32"]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "get k\r\n", "END\r\n"), "END\r\n");
    let log = mc.daemon.stderr();
    assert!(
        log.contains("saved cache not used") && log.contains("maxbytes 67108864"),
        "no clear log line:\n{log}"
    );
    assert!(!meta_path(&file).exists(), "the save must be consumed");
}

#[test]
fn issue_18_a_corrupt_or_cut_save_starts_empty() {
    for damage in ["flip", "cut"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = save_path(&dir);
        let mut mc = start(&file, &[]);
        let mut s = connect(mc.addr);
        for i in 0..100 {
            let req = format!("set k{i} 0 0 5\r\nvalue\r\n");
            assert_eq!(ask(&mut s, &req, "\r\n"), "STORED\r\n");
        }
        drop(s);
        stop(&mut mc, Signal::SIGUSR1);
        let mut bytes = std::fs::read(&file).expect("saved items");
        match damage {
            "flip" => {
                let at = bytes.len() / 2;
                bytes[at] ^= 0x40;
            }
            _ => bytes.truncate(bytes.len() - 7),
        }
        std::fs::write(&file, &bytes).expect("write");
        let mc = start(&file, &[]);
        let mut s = connect(mc.addr);
        let stats = super::stats(&mut s, "");
        assert_eq!(stats["curr_items"], "0", "{damage}: items were loaded");
        let log = mc.daemon.stderr();
        assert!(log.contains("saved cache not used"), "{damage}: {log}");
    }
}

#[test]
fn issue_18_shutdown_graceful_saves_and_sigterm_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    let mut mc = start(&file, &["-A"]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "set k 0 0 1\r\nv\r\n", "\r\n"), "STORED\r\n");
    let settings = super::stats(&mut s, " settings");
    assert_eq!(settings["memory_file"], file.display().to_string());
    s.write_all(b"shutdown graceful\r\n").expect("write");
    wait_exit(&mut mc.daemon);
    assert!(meta_path(&file).exists());

    let mut mc = start(&file, &["-A"]);
    let mut s = connect(mc.addr);
    assert_eq!(
        ask(&mut s, "get k\r\n", "END\r\n"),
        "VALUE k 0 1\r\nv\r\nEND\r\n"
    );
    drop(s);
    // SIGTERM is not a graceful stop: nothing saved, and the load consumed
    // the previous save, so the next start is empty.
    stop(&mut mc, Signal::SIGTERM);
    assert!(!meta_path(&file).exists());
    let mc = start(&file, &["-A"]);
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "get k\r\n", "END\r\n"), "END\r\n");
}

#[test]
fn issue_18_an_empty_meta_file_stops_the_start_as_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    std::fs::write(meta_path(&file), b"").expect("write");
    let mut d = Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-e"])
        .arg(&file)
        .without_ready_file()
        .start();
    let mut status = None;
    wait_for(Duration::from_secs(10), || {
        status = d.try_exit();
        status.is_some()
    });
    let status = status.expect("it should exit");
    assert!(!status.success());
    assert!(d.stderr().contains("not a metadata file"), "{}", d.stderr());
}

#[test]
fn issue_18_pymemcache_values_and_cas_survive_a_restart() {
    if !require(
        "python3 with pymemcache (pip)",
        super::clients::python_has("pymemcache"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = save_path(&dir);
    let mut mc = start(&file, &[]);
    let script = r#"
import sys, json
from pymemcache.client.base import Client
c = Client((sys.argv[1], int(sys.argv[2])), timeout=5, default_noreply=False)
if sys.argv[3] == "write":
    out = {}
    for i in range(50):
        k = "py:%d" % i
        c.set(k, b"v" * (i * 1000 + 1), expire=3600)
        out[k] = c.gets(k)[1].decode()
    print(json.dumps(out))
else:
    want = json.loads(sys.stdin.read())
    got = c.gets_many(list(want))
    for k, cas in want.items():
        i = int(k.split(":")[1])
        assert got[k][0] == b"v" * (i * 1000 + 1), k
        assert got[k][1].decode() == cas, (k, got[k][1], cas)
    print("ok")
"#;
    let run = |addr: SocketAddr, mode: &str, input: &[u8]| -> String {
        let mut child = Command::new("python3")
            .args([
                "-c",
                script,
                &addr.ip().to_string(),
                &addr.port().to_string(),
                mode,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("stdin");
        let out = child.wait_with_output().expect("python3");
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cas = run(mc.addr, "write", b"");
    stop(&mut mc, Signal::SIGUSR1);
    let mc = start(&file, &[]);
    assert_eq!(run(mc.addr, "read", cas.as_bytes()).trim(), "ok");
}
