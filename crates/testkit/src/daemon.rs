//! Spawning the workspace's own daemon binaries.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wait::{parse_ready, wait_for, wait_for_file};

/// How long a daemon may take to bind its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of a workspace binary: in the target directory that holds the
/// running test executable (`target/debug/deps/..` -> `target/debug`).
///
/// # Panics
/// When the binary is not built, naming the command that builds it.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("test executable has a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (the README's test command does)",
        path.display()
    );
    path
}

/// A daemon to start: the binary, its arguments and environment.
#[derive(Debug, Clone)]
pub struct Spawn {
    bin: String,
    program: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    ready_file: bool,
}

impl Spawn {
    /// The workspace binary `bin`, started with `--ready-file`.
    pub fn new(bin: &str) -> Self {
        Spawn {
            bin: bin.to_owned(),
            program: None,
            args: Vec::new(),
            env: Vec::new(),
            ready_file: true,
        }
    }

    /// A program outside the workspace (a reference daemon such as
    /// `/usr/bin/memcached`), started without `--ready-file`.
    pub fn external(path: impl Into<PathBuf>) -> Self {
        let program = path.into();
        Spawn {
            bin: program.display().to_string(),
            program: Some(program),
            args: Vec::new(),
            env: Vec::new(),
            ready_file: false,
        }
    }

    /// One argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Do not pass `--ready-file`: the caller waits in its own way.
    pub fn without_ready_file(mut self) -> Self {
        self.ready_file = false;
        self
    }

    /// Starts it and, unless told otherwise, waits for its ready file.
    ///
    /// # Panics
    /// When it cannot start, exits early, or is not ready in time; the
    /// message carries its stderr.
    pub fn start(self) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_path = dir.path().join("stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let ready_path = dir.path().join("ready");
        let program = self.program.clone().unwrap_or_else(|| bin_path(&self.bin));
        let mut cmd = Command::new(program);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if self.ready_file {
            cmd.arg("--ready-file").arg(&ready_path);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.bin));
        let mut d = Daemon {
            bin: self.bin,
            child: Some(child),
            dir,
            stderr_path,
            ready_path,
            addrs: HashMap::new(),
        };
        if self.ready_file {
            d.wait_ready();
        }
        d
    }
}

/// A running daemon, killed when dropped.
#[derive(Debug)]
pub struct Daemon {
    bin: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
    stderr_path: PathBuf,
    ready_path: PathBuf,
    addrs: HashMap<String, String>,
}

impl Daemon {
    /// Starts `bin` with `args` and waits until it is ready.
    pub fn start(bin: &str, args: &[&str]) -> Daemon {
        Spawn::new(bin).args(args).start()
    }

    fn wait_ready(&mut self) {
        let ready = wait_for(READY_TIMEOUT, || {
            self.ready_path.exists() || self.exited().is_some()
        });
        if let Some(status) = self.exited() {
            if !self.ready_path.exists() {
                panic!(
                    "{} exited with {status} before it was ready; stderr:\n{}",
                    self.bin,
                    self.stderr()
                );
            }
        }
        assert!(
            ready && wait_for_file(&self.ready_path, Duration::ZERO),
            "{} not ready within {READY_TIMEOUT:?}; stderr:\n{}",
            self.bin,
            self.stderr()
        );
        self.addrs = parse_ready(&self.ready_path).expect("ready file");
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// A temporary directory that lives as long as the daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The address of the listener called `name` in the ready file.
    ///
    /// # Panics
    /// When there is no such TCP listener.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs
            .get(name)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} has no TCP listener {name:?}: {:?}",
                    self.bin, self.addrs
                )
            })
    }

    /// Every line of the ready file.
    pub fn listeners(&self) -> &HashMap<String, String> {
        &self.addrs
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("daemon already reaped")
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid()).expect("pid fits i32"));
        kill(pid, sig).expect("kill");
    }

    /// Stops the process with SIGSTOP and returns once every one of its
    /// threads is stopped (a thread running on another core may otherwise
    /// still answer a request sent just after the signal). Panics if that
    /// takes over 2 s.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
        let tasks = format!("/proc/{}/task", self.pid());
        let all_stopped = || {
            let Ok(dir) = std::fs::read_dir(&tasks) else {
                return false;
            };
            dir.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat")).is_ok_and(|stat| {
                    // The state follows the parenthesised command name.
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('T'))
                })
            })
        };
        assert!(
            crate::wait_for(std::time::Duration::from_secs(2), all_stopped),
            "process {} did not stop",
            self.pid()
        );
    }

    /// The exit status if the process has ended by itself (it is reaped
    /// then, and no longer killed on drop).
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.exited()?;
        self.child = None;
        Some(status)
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns the
    /// status and how long it took, or panics with stderr on a time-out.
    pub fn terminate(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        self.signal(Signal::SIGTERM);
        let mut status = None;
        wait_for(timeout, || {
            status = self.exited();
            status.is_some()
        });
        match status {
            Some(s) => {
                self.child = None;
                (s, start.elapsed())
            }
            None => panic!(
                "{} still running {timeout:?} after SIGTERM; stderr:\n{}",
                self.bin,
                self.stderr()
            ),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("----- stderr of {} -----\n{}-----", self.bin, self.stderr());
        }
    }
}
