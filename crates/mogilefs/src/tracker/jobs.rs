//! The background jobs as the original's parent process keeps its
//! workers: each job (`delete`, `fsck`, `job_master`, `monitor`, `reaper`,
//! `replicate`) runs as one supervised incarnation at a time, a tokio task
//! with its own stop handle; `!to <job> :shutdown` ends it and the
//! supervisor starts a fresh one (its in-memory state gone), saying so on
//! `!watch` as the original: `Job fsck has only 0, wants 1, making 1.`
//!
//! With [`Settings::job_process`](super::Settings::job_process) set (the
//! mogilefsd binary sets it to itself), each incarnation also has a small
//! companion process, `mogilefsd --job-process <job>`, whose pid `!jobs`
//! shows. The worker passes a heartbeat byte through it (echoed back)
//! before each round of work, so the process stands for the worker as the
//! original's forked child does: `kill -STOP` on it pauses the job until
//! `kill -CONT` (the original's suite pauses the reaper so), killing it
//! ends the incarnation and the supervisor starts another; a heartbeat
//! that takes longer than the job's watchdog period (the original's
//! 120 s, the reaper's 240 s) ends the incarnation too. Without it the
//! pid shown is the tracker's.

use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use danga_common::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Tracker;
use crate::meta::MetaStore;

/// The argument that makes mogilefsd a job's companion process.
pub const JOB_PROCESS_ARG: &str = "--job-process";

/// How long a stopped incarnation may take to finish the item in hand
/// when the tracker shuts down.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Pause between an incarnation's end and the next (a job that cannot
/// start does not spin).
const RESPAWN_PAUSE: Duration = Duration::from_millis(100);

/// How long a heartbeat may take before the job is restarted (the
/// original's watchdog periods).
fn watchdog(job: &str) -> Duration {
    match job {
        "reaper" => Duration::from_secs(240),
        _ => Duration::from_secs(120),
    }
}

/// A job's companion process and the pipes the heartbeat goes through.
#[derive(Debug)]
struct Companion {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// The running incarnation of a job: its stop handle, the pid `!jobs`
/// shows and its companion process, if any.
#[derive(Debug, Clone)]
pub(super) struct Incarnation {
    pub(super) stop: Shutdown,
    pub(super) pid: u32,
    companion: Option<Arc<tokio::sync::Mutex<Companion>>>,
}

impl Incarnation {
    /// One round's heartbeat through the companion process: `false` when
    /// it is gone or took longer than the job's watchdog period (the
    /// incarnation is then stopped). Pending while the process is stopped.
    pub(super) async fn heartbeat(&self, job: &str) -> bool {
        let Some(c) = &self.companion else {
            return true;
        };
        let beat = async {
            let mut c = c.lock().await;
            c.stdin.write_all(b".").await?;
            c.stdin.flush().await?;
            let mut b = [0u8; 1];
            c.stdout.read_exact(&mut b).await?;
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(watchdog(job), beat).await {
            Ok(Ok(())) => true,
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "watchdog timeout".to_owned(),
                };
                tracing::warn!(job, pid = self.pid, %why, "job process lost");
                if let Ok(mut c) = c.try_lock() {
                    let _ = c.child.start_kill();
                }
                self.stop.trigger();
                false
            }
        }
    }
}

/// Starts `program --job-process <job>` with piped stdin/stdout, killed
/// when dropped.
fn companion(program: &std::path::Path, job: &str) -> std::io::Result<Companion> {
    let mut child = Command::new(program)
        .arg(JOB_PROCESS_ARG)
        .arg(job)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("job process without pipes"));
    };
    Ok(Companion {
        child,
        stdin,
        stdout,
    })
}

/// The companion process's whole life: echoes each byte read on stdin to
/// stdout until stdin closes (the tracker ended or dropped it).
pub fn job_process_main() -> std::io::Result<()> {
    use std::io::{Read, Write};
    let (mut input, mut output) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut b = [0u8; 1];
    loop {
        match input.read(&mut b) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                output.write_all(&b)?;
                output.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs `job` until the tracker shuts down: one incarnation of `work` at
/// a time, a new one whenever the last ended (`!to <job> :shutdown`, its
/// process killed or lost).
pub(super) async fn supervise<M, F, Fut>(
    tracker: Arc<Tracker<M>>,
    job: &'static str,
    shutdown: Shutdown,
    work: F,
) where
    M: MetaStore,
    F: Fn(Arc<Tracker<M>>, Shutdown) -> Fut,
    Fut: Future<Output = ()>,
{
    while !shutdown.is_triggered() {
        let stop = Shutdown::new();
        let companion = match &tracker.settings.job_process {
            Some(program) => match companion(program, job) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracker.stats.note(format!(
                        "Cannot start the process of job {job}: {e}; it runs without one"
                    ));
                    None
                }
            },
            None => None,
        };
        let pid = companion
            .as_ref()
            .and_then(|c| c.child.id())
            .unwrap_or_else(std::process::id);
        let inc = Incarnation {
            stop: stop.clone(),
            pid,
            companion: companion.map(|c| Arc::new(tokio::sync::Mutex::new(c))),
        };
        tracker.stats.set_incarnation(job, Some(inc));
        tracker
            .stats
            .note(format!("Job {job} has only 0, wants 1, making 1."));
        let run = work(tracker.clone(), stop.clone());
        tokio::pin!(run);
        let ended = tokio::select! {
            _ = &mut run => true,
            _ = shutdown.triggered() => false,
        };
        if !ended {
            stop.trigger();
            let _ = tokio::time::timeout(STOP_GRACE, run).await;
        }
        // Dropping the incarnation kills its process.
        tracker.stats.set_incarnation(job, None);
        if shutdown.is_triggered() {
            return;
        }
        tracker
            .stats
            .note(format!("Child {pid} ({job}) died: 0 (UNEXPECTED)"));
        if shutdown
            .until_stopped(tokio::time::sleep(RESPAWN_PAUSE))
            .await
            .is_none()
        {
            return;
        }
    }
}
