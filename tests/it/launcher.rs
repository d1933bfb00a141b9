//! `danga up` through the real `danga` binary: it starts the whole stack,
//! prints where everything listens, survives a second start on the same
//! data folder, refuses taken ports, and stops every daemon on SIGINT (or
//! when one of them dies).
//!
//! Ports: the stack listens on fixed ports moved by `--base-port`, so these
//! tests cannot use port 0. They pick a base in 1000..=5535: every port of
//! the stack then lies below the kernel's ephemeral range (32768-60999,
//! where port-0 tests and outgoing connections live) except perlbal's
//! management port, which lands above it (61000-65535), and none is a
//! standard port (a real memcached on 11211 is never hit). The base starts
//! at a place derived from the test's pid, every port of that stack is
//! probed free by binding it, and if `danga up` still loses a race for a
//! port (another test probed the same ports at the same time) the start is
//! retried on another base.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use danga_testkit::bin_path;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wire::ask_once;

/// The stack's default ports (see src/up/ports.rs).
pub const PORTS: [u16; 18] = [
    11211, 4730, 7001, 7500, 7501, 7502, 7503, 8080, 8081, 8090, 60000, 8088, 9150, 9418, 9410,
    9411, 9412, 9413,
];

/// The daemons `danga up` starts, in order.
pub const NAMES: [&str; 7] = [
    "memcached",
    "gearmand",
    "mogilefsd",
    "mogstored1",
    "mogstored2",
    "demo-app",
    "perlbal",
];

/// How long a start may take (debug builds on a shared machine).
const START: Duration = Duration::from_secs(120);

/// One row of the table: a daemon, its pid and its addresses in order.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub pid: i32,
    pub addrs: Vec<SocketAddr>,
}

/// A running `danga up`.
pub struct Stack {
    child: Option<Child>,
    pub base: u16,
    pub rows: Vec<Row>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

/// How `danga up` ended.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    /// stdout after the table (the stop report).
    pub report: Vec<String>,
    pub stderr: String,
}

/// Whether every port of the stack at `base` can be bound now.
fn all_free(base: u16) -> bool {
    PORTS
        .iter()
        .all(|p| TcpListener::bind(("127.0.0.1", p + base)).is_ok())
}

/// A base whose ports are all free, trying from a pid-derived start.
pub fn free_base(attempt: u32) -> u16 {
    let span = 4536u32; // 1000..=5535
    let start = (std::process::id().wrapping_mul(7919) + attempt * 997) % span;
    (0..span)
        .map(|i| 1000 + ((start + i * 13) % span) as u16)
        .find(|b| all_free(*b))
        .expect("some base port with every stack port free")
}

/// Splits the table into rows (a line with `pid N` starts one; a line of
/// only an address continues it).
fn parse_rows(table: &[String]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in table {
        let words: Vec<&str> = line.split_whitespace().collect();
        let addrs = || -> Vec<SocketAddr> { words.iter().filter_map(|w| w.parse().ok()).collect() };
        if words.len() >= 4 && words[1] == "pid" {
            rows.push(Row {
                name: words[0].to_owned(),
                pid: words[2].parse().expect("pid"),
                addrs: addrs().into_iter().take(1).collect(),
            });
        } else if line.starts_with("    ") {
            if let (Some(r), Some(a)) =
                (rows.last_mut(), words.first().and_then(|w| w.parse().ok()))
            {
                r.addrs.push(a);
            }
        }
    }
    rows
}

impl Stack {
    /// `danga up --data DATA` on a free base port, once its table is out.
    pub fn up(data: &Path) -> Stack {
        Stack::up_from(data, 0)
    }

    /// As [`Stack::up`], the search for a base starting elsewhere (a
    /// second stack in one test gets other ports than the first).
    pub fn up_from(data: &Path, first: u32) -> Stack {
        let mut last = String::new();
        for attempt in first..first + 5 {
            let base = free_base(attempt);
            match Stack::try_up(data, base) {
                Ok(s) => return s,
                Err(stderr) if stderr.contains("not free") || stderr.contains("in use") => {
                    eprintln!("base {base} lost a port race; trying another: {stderr}");
                    last = stderr;
                }
                Err(stderr) => panic!("danga up --base-port {base} failed:\n{stderr}"),
            }
        }
        panic!("danga up lost every port race:\n{last}");
    }

    /// One start; `Err(stderr)` if `danga up` ended before its table.
    pub fn try_up(data: &Path, base: u16) -> Result<Stack, String> {
        let mut child = Command::new(bin_path("danga"))
            .args(["up", "--base-port", &base.to_string(), "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning danga up");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                eprint!("{text}");
                sink.lock().expect("lock").push_str(&text);
            }
        });
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                eprintln!("danga> {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START;
        let mut table = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.starts_with("Ctrl-C") => break,
                Ok(line) => table.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    // Let the stderr thread drain what the process wrote.
                    std::thread::sleep(Duration::from_millis(200));
                    return Err(stderr.lock().expect("lock").clone());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("no table from danga up after {START:?}; stdout so far: {table:#?}");
                }
            }
        }
        let rows = parse_rows(&table);
        Ok(Stack {
            child: Some(child),
            base,
            rows,
            lines,
            stderr,
        })
    }

    /// The row of `name`.
    pub fn row(&self, name: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:#?}", self.rows))
    }

    /// The `i`-th address of `name`'s row.
    pub fn addr(&self, name: &str, i: usize) -> SocketAddr {
        self.row(name).addrs[i]
    }

    /// The pid of `danga up` itself.
    pub fn pid(&self) -> i32 {
        let c = self.child.as_ref().expect("running");
        i32::try_from(c.id()).expect("pid")
    }

    /// Waits (bounded) for `danga up` to end by itself.
    pub fn wait(mut self, limit: Duration) -> Stopped {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("danga up still running {limit:?} after it was asked to stop");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut report = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            report.push(line);
        }
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().expect("lock").clone();
        Stopped {
            status,
            report,
            stderr,
        }
    }

    /// SIGINT (Ctrl-C), then waits for the end.
    pub fn interrupt(self) -> Stopped {
        self.signal(Signal::SIGINT)
    }

    /// Sends `sig` to `danga up`, then waits for the end.
    pub fn signal(self, sig: Signal) -> Stopped {
        kill(Pid::from_raw(self.pid()), sig).expect("signal");
        self.wait(Duration::from_secs(60))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A failed test must not leave a stack behind: SIGTERM stops it all.
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether a process is gone: no /proc entry, or a zombie nobody reaped
/// yet (it has exited all the same).
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Err(_) => true,
        Ok(s) => s
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
    }
}

/// Asserts a clean stop: exit 0, every daemon reported as exited with
/// status 0, and none of them still running.
pub fn assert_clean_stop(rows: &[Row], stopped: &Stopped) {
    assert!(
        stopped.status.success(),
        "danga up: {} ({})",
        stopped.status,
        stopped.stderr
    );
    for r in rows {
        let line = stopped
            .report
            .iter()
            .find(|l| l.split_whitespace().next() == Some(r.name.as_str()))
            .unwrap_or_else(|| panic!("{} missing from {:#?}", r.name, stopped.report));
        assert!(line.ends_with("exited: exit status: 0"), "{line}");
        assert!(gone(r.pid), "{} (pid {}) still running", r.name, r.pid);
    }
}

/// The data folder of a test.
pub fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

#[test]
fn up_starts_the_stack_and_ctrl_c_stops_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::up(&data_dir(&tmp));
    let names: Vec<&str> = stack.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, NAMES, "{:#?}", stack.rows);
    let b = stack.base;
    let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p + b));
    let want: [(&str, Vec<SocketAddr>); 7] = [
        ("memcached", vec![at(11211), at(9150)]),
        ("gearmand", vec![at(4730), at(9418)]),
        ("mogilefsd", vec![at(7001), at(9410)]),
        ("mogstored1", vec![at(7500), at(7501), at(9411)]),
        ("mogstored2", vec![at(7502), at(7503), at(9412)]),
        ("demo-app", vec![at(8090)]),
        ("perlbal", vec![at(8080), at(8081), at(60000), at(9413)]),
    ];
    for (name, addrs) in &want {
        assert_eq!(&stack.row(name).addrs, addrs, "{name}");
        for a in addrs {
            assert!(
                std::net::TcpStream::connect(a).is_ok(),
                "{name} accepts on {a}"
            );
        }
    }
    // Each one answers its own protocol.
    assert_eq!(
        ask_once(at(11211), "version\r\n", "\r\n"),
        "VERSION 1.6.18\r\n"
    );
    assert!(ask_once(at(4730), "version\n", "\n").starts_with("OK "));
    assert_eq!(
        ask_once(at(7001), "noop\r\n", "\r\n"),
        "OK \r\n",
        "the tracker"
    );
    let domains = crate::mogilefs::ok(&ask_once(at(7001), "get_domains\r\n", "\r\n"));
    assert_eq!(domains.get("domain1"), Some("danga"));
    let class = (1..=2)
        .find(|i| domains.get(&format!("domain1class{i}name")) == Some("files"))
        .expect("class files");
    assert_eq!(
        domains.get(&format!("domain1class{class}mindevcount")),
        Some("2")
    );
    let services = crate::perlbal::console(at(60000), "show service site");
    assert!(services.contains("reverse_proxy"), "{services}");
    let rows = stack.rows.clone();
    let stopped = stack.interrupt();
    assert_clean_stop(&rows, &stopped);
}

#[test]
fn up_refuses_a_port_that_is_taken_and_starts_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = free_base(7);
    // Someone else holds the tracker's port.
    let holder = TcpListener::bind(("127.0.0.1", 7001 + base)).expect("bind");
    let out = Command::new(bin_path("danga"))
        .args(["up", "--base-port", &base.to_string(), "--data"])
        .arg(data_dir(&tmp))
        .output()
        .expect("danga up");
    drop(holder);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "127.0.0.1:{} (mogilefsd) is not free",
            7001 + base
        )),
        "{err}"
    );
    assert!(err.contains("--base-port"), "says how to move: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(" pid "), "nothing started: {stdout}");
    let over = Command::new(bin_path("danga"))
        .args(["up", "--base-port", "6000", "--data"])
        .arg(data_dir(&tmp))
        .output()
        .expect("danga up");
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("past 65535"));
}

#[test]
fn up_stops_the_stack_when_a_daemon_dies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::up(&data_dir(&tmp));
    let rows = stack.rows.clone();
    let victim = stack.row("gearmand").pid;
    kill(Pid::from_raw(victim), Signal::SIGKILL).expect("SIGKILL gearmand");
    let stopped = stack.wait(Duration::from_secs(60));
    assert!(!stopped.status.success(), "a dead daemon is a failure");
    assert!(
        stopped.stderr.contains("gearmand exited (signal: 9"),
        "{}",
        stopped.stderr
    );
    for r in rows.iter().filter(|r| r.name != "gearmand") {
        let line = stopped
            .report
            .iter()
            .find(|l| l.split_whitespace().next() == Some(r.name.as_str()))
            .unwrap_or_else(|| panic!("{} missing from {:#?}", r.name, stopped.report));
        assert!(line.ends_with("exited: exit status: 0"), "{line}");
    }
    for r in &rows {
        assert!(gone(r.pid), "{} (pid {}) still running", r.name, r.pid);
    }
}

#[test]
fn up_stops_cleanly_on_sigterm_and_on_sighup() {
    for sig in [Signal::SIGTERM, Signal::SIGHUP] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let stack = Stack::up(&data_dir(&tmp));
        let rows = stack.rows.clone();
        let stopped = stack.signal(sig);
        assert_clean_stop(&rows, &stopped);
    }
}

/// Every admin interface of the stack answers a plain telnet session: one
/// connection, commands typed one after another, replies in the daemons'
/// own formats.
#[test]
fn up_admin_ports_answer_a_telnet_session() {
    use crate::wire::{ask, connect};
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = Stack::up(&data_dir(&tmp));
    let b = stack.base;
    let at = |p: u16| SocketAddr::from(([127, 0, 0, 1], p + b));

    let mut mc = connect(at(11211));
    let stats = ask(&mut mc, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT curr_connections "), "{stats}");
    let slabs = ask(&mut mc, "stats settings\r\n", "END\r\n");
    assert!(slabs.contains("STAT maxconns "), "{slabs}");

    let mut gm = connect(at(4730));
    assert!(ask(&mut gm, "version\n", "\n").starts_with("OK "));
    let workers = ask(&mut gm, "workers\n", ".\n");
    assert!(workers.ends_with(".\n"), "{workers}");
    let status = ask(&mut gm, "status\n", ".\n");
    // The demo app's worker has registered its function.
    assert!(status.contains("danga_demo_md5\t"), "{status}");

    let services = crate::perlbal::console(at(60000), "show service");
    assert!(services.contains("site"), "{services}");
    let mut pb = connect(at(60000));
    let version = ask(&mut pb, "version\r\n", "\r\n");
    assert!(!version.trim().is_empty());

    let mut tr = connect(at(7001));
    let v = ask(&mut tr, "!version\r\n", ".\r\n");
    assert!(v.starts_with("2.73\r\n"), "{v}");
    let s = ask(&mut tr, "!stats\r\n", ".\r\n");
    assert!(s.contains("uptime "), "{s}");
    let jobs = ask(&mut tr, "!jobs\r\n", ".\r\n");
    assert!(jobs.contains("queryworker"), "{jobs}");
    assert_eq!(ask(&mut tr, "noop\r\n", "\r\n"), "OK \r\n");

    for side in [at(7501), at(7503)] {
        let mut ms = connect(side);
        let size = ask(&mut ms, "size /dev1/nothing.fid\r\n", "\r\n");
        assert!(size.ends_with(" -1\r\n"), "{size}");
        let v = ask(&mut ms, "version\r\n", ".\r\n");
        assert!(v.contains("uptime "), "{v}");
    }
    let rows = stack.rows.clone();
    let stopped = stack.interrupt();
    assert_clean_stop(&rows, &stopped);
}

#[test]
fn a_sigkilled_launcher_leaves_no_daemon_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = data_dir(&tmp);
    let stack = Stack::up(&data);
    let rows = stack.rows.clone();
    assert_eq!(rows.len(), NAMES.len());
    let killed_at = Instant::now();
    let stopped = stack.signal(Signal::SIGKILL);
    assert!(!stopped.status.success(), "{}", stopped.status);
    // Every daemon ends with the launcher (PR_SET_PDEATHSIG), within 2 s.
    let deadline = killed_at + Duration::from_secs(2);
    while Instant::now() < deadline && !rows.iter().all(|r| gone(r.pid)) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left: Vec<&str> = rows
        .iter()
        .filter(|r| !gone(r.pid))
        .map(|r| r.name.as_str())
        .collect();
    assert!(left.is_empty(), "still running 2 s after SIGKILL: {left:?}");
    // The same data folder starts again (no stale pid or port in the way).
    let again = Stack::up(&data);
    let rows = again.rows.clone();
    let stopped = again.interrupt();
    assert_clean_stop(&rows, &stopped);
}
