//! Fault injection (issue 25): each daemon under the failures a site
//! meets — a crash mid-burst, a full disk, a database that goes away,
//! hostile backends and clients, memory pressure — with the promise each
//! test checks written in its doc comment.
//!
//! Disk-full tests mount a small tmpfs (they need root): outside `CI=true`
//! a refused mount skips the test with the reason, under CI it fails.

mod gearman;
mod memcached;
mod mogilefsd_db;
mod mogstored;
mod perlbal;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tmpfs of a fixed size mounted on a fresh temporary directory (or on a
/// given one), unmounted on drop.
pub struct Tmpfs {
    at: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// A `size_kib` KiB tmpfs on a new directory; `None` (after saying
    /// why) when mounting is refused outside CI.
    pub fn new(size_kib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().to_path_buf();
        let mut t = Tmpfs::on(&at, size_kib)?;
        t._dir = Some(dir);
        Some(t)
    }

    /// Mounts a `size_kib` KiB tmpfs over the existing directory `at`.
    pub fn on(at: &Path, size_kib: u64) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(at)
            .output();
        let refused = match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => Some(format!("running mount: {e}")),
        };
        if let Some(why) = refused {
            danga_testkit::require(&format!("mounting a tmpfs (needs root): {why}"), false);
            return None;
        }
        Some(Tmpfs {
            at: at.to_path_buf(),
            _dir: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.at
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a daemon killed a moment ago may still hold a file open.
        let _ = Command::new("umount").arg("-l").arg(&self.at).output();
    }
}

/// Resident set size of process `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Open file descriptors of process `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A TCP proxy on 127.0.0.1 in front of `target` that the test can cut:
/// every open connection is shut down, and while it is `down` new ones are
/// closed as soon as they are accepted (a server restarting).
pub struct CutProxy {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl CutProxy {
    pub fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, d, s) = (conns.clone(), down.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut all = c.lock().expect("conns");
                    all.retain(|s| s.peer_addr().is_ok());
                    for s in [&client, &server] {
                        if let Ok(s) = s.try_clone() {
                            all.push(s);
                        }
                    }
                }
                pump(&client, &server);
                pump(&server, &client);
            }
        });
        CutProxy {
            addr,
            conns,
            down,
            stop,
        }
    }

    /// Shuts every open connection down; while `stay_down`, refuses new ones.
    pub fn cut(&self, stay_down: bool) {
        self.down.store(stay_down, Ordering::SeqCst);
        for s in self.conns.lock().expect("conns").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts and forwards again.
    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut(true);
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Copies `from` to `to` on a thread until either side ends.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
