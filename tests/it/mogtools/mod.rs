//! mogadm, the MogileFS client library and the file tools (mogupload,
//! mogfetch, ...) against a live tracker and storage nodes: a cluster set
//! up from nothing with mogadm alone, then files through the tools.

mod files;
mod mogadm;
mod mogstats;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use danga_testkit::{bin_path, wait_for, Daemon};
use tempfile::TempDir;

/// How long one tool run may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A tracker on SQLite and storage nodes that nobody has registered yet.
pub struct Bare {
    pub tracker: Daemon,
    pub nodes: Vec<(Daemon, TempDir)>,
    /// HOME for the tools: no stray ~/.mogilefs.conf.
    pub home: TempDir,
    _db: TempDir,
}

impl Bare {
    /// One tracker and `n` mogstored, node `i` serving dev{2i+1}, dev{2i+2}.
    pub fn start(n: u32) -> Bare {
        let db = tempfile::tempdir().expect("db dir");
        let dsn = format!(
            "--dsn=DBI:SQLite:dbname={}",
            db.path().join("mogilefs.sqlite3").display()
        );
        let tracker = Daemon::start("mogilefsd", &["-s", "-l", "127.0.0.1:0", &dsn]);
        let nodes = (0..n)
            .map(|i| {
                let docroot = tempfile::tempdir().expect("docroot");
                for d in [2 * i + 1, 2 * i + 2] {
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
                (daemon, docroot)
            })
            .collect();
        Bare {
            tracker,
            nodes,
            home: tempfile::tempdir().expect("home"),
            _db: db,
        }
    }

    /// `127.0.0.1:port` of the tracker.
    pub fn tracker_addr(&self) -> String {
        self.tracker.addr("mogilefsd").to_string()
    }

    /// `--trackers=...` for the tools.
    pub fn trackers(&self) -> String {
        format!("--trackers={}", self.tracker_addr())
    }

    /// The HTTP port of node `i`.
    pub fn http_port(&self, i: usize) -> u16 {
        self.nodes[i].0.addr("http").port()
    }

    /// Runs `mogadm --trackers=<ours> args...`.
    pub fn mogadm(&self, args: &[&str]) -> Out {
        let t = self.trackers();
        let mut all = vec![t.as_str()];
        all.extend_from_slice(args);
        tool(self.home.path(), "mogadm", &all)
    }

    /// Runs a file tool with `--trackers` and `--domain=d`.
    pub fn file_tool(&self, bin: &str, args: &[&str]) -> Out {
        let t = self.trackers();
        let mut all = vec![t.as_str(), "--domain=d"];
        all.extend_from_slice(args);
        tool(self.home.path(), bin, &all)
    }

    /// Registers every node with mogadm (hosts s0.., two devices each),
    /// domain `d` and class `c`; every step must succeed.
    pub fn setup_with_mogadm(&self) {
        for i in 0..self.nodes.len() {
            let (host, port) = (format!("s{i}"), format!("--port={}", self.http_port(i)));
            self.mogadm(&[
                "host",
                "add",
                &host,
                "--ip=127.0.0.1",
                &port,
                "--status=alive",
            ])
            .ok();
            for d in [2 * i + 1, 2 * i + 2] {
                self.mogadm(&["device", "add", &host, &d.to_string()]).ok();
            }
        }
        self.mogadm(&["domain", "add", "d"]).ok();
        self.mogadm(&["class", "add", "d", "c", "--mindevcount=2"])
            .ok();
    }
}

/// What a tool printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts a non-zero exit and returns stderr.
    pub fn failed(&self) -> &str {
        assert_ne!(self.code, 0, "expected failure: {self:#?}");
        &self.stderr
    }
}

/// Runs workspace binary `bin` with `args`, HOME at `home`, no stdin;
/// fails the test if it runs longer than [`TOOL_TIMEOUT`].
pub fn tool(home: &Path, bin: &str, args: &[&str]) -> Out {
    run(Command::new(bin_path(bin))
        .args(args)
        .env("HOME", home)
        .stdin(Stdio::null()))
}

/// Runs `cmd` to its end (bounded), capturing both outputs; stdin as the
/// caller set it.
pub fn run(cmd: &mut Command) -> Out {
    let mut child = cmd
        .env_remove("MOGUTILSCONF")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tool");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = so.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = se.read_to_end(&mut s);
        s
    });
    let mut status = None;
    let ended = wait_for(TOOL_TIMEOUT, || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} ran longer than {TOOL_TIMEOUT:?}");
    }
    let status = status.expect("ended");
    let stdout = String::from_utf8_lossy(&out_t.join().expect("stdout reader")).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().expect("stderr reader")).into_owned();
    Out {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// `127.0.0.1:port` where nothing listens (bound, then closed).
pub fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}
