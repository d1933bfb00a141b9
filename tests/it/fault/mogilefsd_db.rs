//! mogilefsd when its MariaDB goes away under load. Restarting the shared
//! MariaDB would disturb other tests, so the tracker reaches its database
//! through a proxy in the test that does to it what a restart does: every
//! connection is cut, and for a while new ones are closed at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danga_testkit::{wait_for, TestDb};

use super::CutProxy;
use crate::mogilefs::{get, line, Cluster};

/// One request line on `s` and its reply; `None` on a broken connection
/// (the test reconnects) or after 60 s.
fn try_call(s: &mut TcpStream, req: &str) -> Option<String> {
    s.write_all(format!("{req}\r\n").as_bytes()).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.ends_with(b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The files whose create_close said OK: key and content.
type Acked = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn arg<'a>(reply: &'a str, key: &str) -> Option<&'a str> {
    reply
        .trim_end()
        .strip_prefix("OK ")?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// create_open, PUT, create_close; true when the tracker said OK to the
/// close (the file is acknowledged).
fn try_store(s: &mut TcpStream, key: &str, data: &[u8]) -> bool {
    let Some(open) = try_call(
        s,
        &line(
            "create_open",
            &[("domain", "d"), ("key", key), ("class", "c")],
        ),
    ) else {
        return false;
    };
    let (Some(fid), Some(devid), Some(path)) =
        (arg(&open, "fid"), arg(&open, "devid"), arg(&open, "path"))
    else {
        return false;
    };
    let path = danga_mogilefs::proto::decode(path.as_bytes());
    let path = String::from_utf8_lossy(&path).into_owned();
    crate::mogilefs::put(&path, data);
    let close = line(
        "create_close",
        &[
            ("domain", "d"),
            ("key", key),
            ("fid", fid),
            ("devid", devid),
            ("path", &path),
            ("size", &data.len().to_string()),
        ],
    );
    try_call(s, &close).is_some_and(|r| r == "OK \r\n")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = crate::wire::connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s
}

/// Promise: when the tracker's MariaDB restarts under a store/get_paths
/// load (every connection cut, new ones refused for 3 s; then a second cut
/// with no pause, like `KILL`ing its connections), the tracker reconnects
/// by itself — a store succeeds again within 30 s of the database coming
/// back, with no restart of mogilefsd — and every file it acknowledged,
/// before, during or after, is listed by get_paths and readable; and
/// replication runs again (the last file gets its second copy).
#[test]
fn fault_mogilefsd_mariadb_restart_under_load_loses_no_acknowledged_file() {
    let Some(db) = TestDb::create("mogilefs_cut") else {
        return;
    };
    let url = db.url().trim_start_matches("mysql://").to_owned();
    let (auth, rest) = url.rsplit_once('@').expect("url with @");
    let hostport = rest.split('/').next().expect("host");
    let target: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .ok()
        .and_then(|mut a| a.next())
        .expect("MariaDB address");
    let proxy = CutProxy::start(target);
    let dsn = format!("--dsn=mysql://{auth}@{}/{}", proxy.addr, db.name());
    let c = Cluster::with_tracker(&[&dsn], 2);
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for t in 0..3 {
        let (acked, stop, failures, addr) = (acked.clone(), stop.clone(), failures.clone(), c.addr);
        load.push(std::thread::spawn(move || {
            let mut s = connect(addr);
            for i in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let key = format!("t{t}-{i}");
                let data = format!("data of {key}").into_bytes();
                if try_store(&mut s, &key, &data) {
                    acked.lock().expect("acked").push((key.clone(), data));
                } else {
                    failures.fetch_add(1, Ordering::SeqCst);
                    s = connect(addr);
                    std::thread::sleep(Duration::from_millis(100));
                }
                // A read of the file just stored (errors allowed now).
                if try_call(
                    &mut s,
                    &line("get_paths", &[("domain", "d"), ("key", &key)]),
                )
                .is_none()
                {
                    s = connect(addr);
                }
            }
        }));
    }
    let stored = || acked.lock().expect("acked").len();
    assert!(
        wait_for(Duration::from_secs(30), || stored() >= 30),
        "load never got going"
    );
    // A restart: cut, refused for 3 s, back.
    proxy.cut(true);
    std::thread::sleep(Duration::from_secs(3));
    proxy.up();
    let before = stored();
    assert!(
        wait_for(Duration::from_secs(30), || stored() >= before + 20),
        "no file stored within 30 s of the database coming back ({before} before, {} now)",
        stored()
    );
    // Connections killed with no pause.
    proxy.cut(false);
    let before = stored();
    assert!(
        wait_for(Duration::from_secs(30), || stored() >= before + 20),
        "no file stored within 30 s of the connections being killed"
    );
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().expect("load thread");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    eprintln!(
        "{} files acknowledged, {} attempts failed during the outages",
        acked.len(),
        failures.load(Ordering::SeqCst)
    );
    let mut s = connect(c.addr);
    for (key, data) in &acked {
        let r = try_call(&mut s, &line("get_paths", &[("domain", "d"), ("key", key)]))
            .expect("get_paths reply");
        let path = arg(&r, "path1").unwrap_or_else(|| panic!("{key}: get_paths {r:?}"));
        let path = danga_mogilefs::proto::decode(path.as_bytes());
        let path = String::from_utf8_lossy(&path).into_owned();
        assert_eq!(get(&path), (200, data.clone()), "{key} at {path}");
    }
    // The background workers came back too: the last file stored gets its
    // second copy (class c has mindevcount 2).
    let (last, _) = acked.last().expect("files stored");
    assert!(
        wait_for(Duration::from_secs(30), || try_call(
            &mut s,
            &line("get_paths", &[("domain", "d"), ("key", last)])
        )
        .is_some_and(|r| arg(&r, "paths") == Some("2"))),
        "{last} never replicated after the outages"
    );
}
