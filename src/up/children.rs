//! The daemons `danga up` runs: started with their output in a log file
//! each, waited for until they accept connections, watched, and stopped
//! in the reverse order of their start.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

/// How long a daemon has after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One running daemon.
#[derive(Debug)]
struct Running {
    name: String,
    pid: u32,
    child: Child,
    log: PathBuf,
}

/// The daemons started so far, in start order.
#[derive(Debug, Default)]
pub struct Children {
    list: Vec<Running>,
}

/// How one daemon ended when the stack stopped.
#[derive(Debug)]
pub struct Ended {
    pub name: String,
    pub pid: u32,
    /// `None`: it had to be killed after [`STOP_GRACE`].
    pub status: Option<ExitStatus>,
}

impl Ended {
    /// Exited by itself with status 0.
    pub fn clean(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl Children {
    /// Starts `program` as `name`, its stdout and stderr appended to `log`
    /// (in `cwd`); returns its pid.
    pub fn spawn(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        cwd: &Path,
        log: PathBuf,
    ) -> anyhow::Result<u32> {
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        // Logs are kept across runs: mark where this one starts.
        writeln!(
            out,
            "--- danga up: {} {}",
            program.display(),
            args.join(" ")
        )
        .with_context(|| format!("writing {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        // The daemon arms PR_SET_PDEATHSIG when it sees this: it ends with
        // the launcher, even when the launcher is SIGKILLed.
        let child = Command::new(program)
            .env(
                danga_common::process::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("a child without a pid")?;
        self.list.push(Running {
            name: name.to_owned(),
            pid,
            child,
            log,
        });
        Ok(pid)
    }

    /// Waits until `name` accepts connections on every address in `addrs`;
    /// fails if it exits first or `limit` passes.
    pub async fn wait_listening(
        &mut self,
        name: &str,
        addrs: &[SocketAddr],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let mut pending: Vec<SocketAddr> = addrs.to_vec();
        loop {
            let r = self
                .list
                .iter_mut()
                .find(|r| r.name == name)
                .with_context(|| format!("{name} was not started"))?;
            if let Some(status) = r.child.try_wait()? {
                anyhow::bail!(
                    "{name} exited during start-up ({status}); the end of {}:\n{}",
                    r.log.display(),
                    tail(&r.log, 15)
                );
            }
            let mut still = Vec::new();
            for a in pending {
                let ok = matches!(
                    timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(a)).await,
                    Ok(Ok(_))
                );
                if !ok {
                    still.push(a);
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "{name} is not listening on {pending:?} after {limit:?}; see {}",
                    r.log.display()
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first daemon found to have exited, with its status and the end
    /// of its log.
    pub fn exited(&mut self) -> Option<(String, ExitStatus, String)> {
        self.list.iter_mut().find_map(|r| {
            let status = r.child.try_wait().ok().flatten()?;
            Some((r.name.clone(), status, tail(&r.log, 15)))
        })
    }

    /// SIGTERM to every daemon, the last started first; SIGKILL for any
    /// still running after [`STOP_GRACE`]. Every child is reaped.
    pub async fn stop_all(self) -> Vec<Ended> {
        let mut list = self.list;
        list.reverse();
        for r in &mut list {
            if r.child.try_wait().ok().flatten().is_some() {
                continue;
            }
            if let Ok(pid) = i32::try_from(r.pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        let mut ended = Vec::new();
        for mut r in list {
            let left = deadline.saturating_duration_since(Instant::now());
            let status = match timeout(left, r.child.wait()).await {
                Ok(Ok(s)) => Some(s),
                _ => {
                    eprintln!("danga: {} did not stop in time; killing it", r.name);
                    let _ = r.child.kill().await;
                    None
                }
            };
            ended.push(Ended {
                name: r.name,
                pid: r.pid,
                status,
            });
        }
        ended
    }
}

/// The last `n` lines of a log file (for error messages).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
