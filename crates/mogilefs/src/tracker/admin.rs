//! The `!` admin lines on the tracker port (the original's
//! `MogileFS::Connection::Client::handle_admin_command`), each answered with
//! lines and a final `.`: `!version`, `!stats`, `!jobs`, `!queue` /
//! `!pending`, `!recent`, `!watch`, `!want N queryworker`, `!shutdown`; any
//! other word gets the original's help text.
//!
//! Commands run on tokio tasks, not forked workers: `query_jobs` is the
//! number of commands run at once (a semaphore), so `!stats`' queue
//! figures and `!queue` are real. The background jobs are supervised
//! tasks ([`super::jobs`]): `!jobs` names each one's process (or this
//! process), `!to <job> :shutdown` ends one and `!to <job> :wake_up` wakes
//! it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};

use super::jobs::Incarnation;
use super::{unix_now, Tracker, VERSION};
use crate::meta::MetaStore;

/// How many finished queries `!recent` remembers (the original's 50).
const RECENT: usize = 50;
/// Longest query text kept for `!recent` / `!queue`.
const MAX_JOB_TEXT: usize = 4096;
/// The most query workers `!want` grants (the original's cap).
const MAX_WANT: usize = 500;

/// The original's help text for an unknown `!` command.
const HELP: &str = "Mogilefsd admin commands:

    !version    Server version
    !recent     Recently executed queries and how long they took.
    !queue      Queries that are pending execution.
    !stats      General stats on what we're up to.
    !watch      Observe errors/messages from children.
    !jobs       Outstanding job counts, desired level, and pids.
    !shutdown   Immediately kill all of mogilefsd.

    !to <job class> <message>
                Send <message> to all workers of <job class>.
                Mostly used for debugging.

    !want <count> <job class>
                Alter the level of workers of this class desired.
                Example: !want 20 queryworker, !want 3 replicate.
                See !jobs for what jobs are available.

";

/// Counters and queues behind `!stats`, `!queue`, `!recent`.
#[derive(Debug)]
pub struct Stats {
    started: u64,
    queries: AtomicU64,
    out_of_workers: AtomicU64,
    next_id: AtomicU64,
    pending: Mutex<BTreeMap<u64, String>>,
    recent: Mutex<VecDeque<String>>,
    /// `work_sent_to_<job>` / `work_queue_for_<job>` figures.
    work: Mutex<BTreeMap<String, u64>>,
    workers: Arc<Semaphore>,
    desired: AtomicUsize,
    /// Messages `!watch` streams.
    notes: broadcast::Sender<String>,
    /// The background jobs' desired levels (`!want N <job>`), by name.
    jobs: Mutex<BTreeMap<&'static str, usize>>,
    /// Rung when a desired level changes, so paused jobs look again.
    jobs_changed: watch::Sender<u64>,
    /// Each background job's running incarnation.
    incarnations: Mutex<BTreeMap<&'static str, Incarnation>>,
}

/// The background jobs `!want` knows besides `queryworker`. `delete`,
/// `replicate` and `fsck` are handed work by `job_master` (as the
/// original's), so they run only while it does.
pub const JOBS: [&str; 6] = [
    "delete",
    "fsck",
    "job_master",
    "monitor",
    "reaper",
    "replicate",
];

/// The jobs that stop with `job_master`.
const UNDER_JOB_MASTER: [&str; 3] = ["delete", "fsck", "replicate"];

/// The most workers of one background job that run: each of ours is one
/// task that works or pauses, so a desired level above 1 runs as 1.
const MAX_JOB_RUNNING: usize = 1;

impl Stats {
    /// Stats for a tracker running `query_jobs` commands at once.
    pub fn new(query_jobs: usize) -> Stats {
        let n = query_jobs.clamp(1, MAX_WANT);
        Stats {
            started: unix_now(),
            queries: AtomicU64::new(0),
            out_of_workers: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            pending: Mutex::default(),
            recent: Mutex::default(),
            work: Mutex::default(),
            workers: Arc::new(Semaphore::new(n)),
            desired: AtomicUsize::new(n),
            notes: broadcast::channel(1024).0,
            jobs: Mutex::new(JOBS.iter().map(|j| (*j, 1)).collect()),
            jobs_changed: watch::channel(0).0,
            incarnations: Mutex::default(),
        }
    }

    /// Records (or, with `None`, forgets) the running incarnation of `job`.
    pub(super) fn set_incarnation(&self, job: &'static str, inc: Option<Incarnation>) {
        if let Ok(mut m) = self.incarnations.lock() {
            match inc {
                Some(i) => m.insert(job, i),
                None => m.remove(job),
            };
        }
    }

    /// The running incarnation of `job`.
    pub(super) fn incarnation(&self, job: &str) -> Option<Incarnation> {
        self.incarnations.lock().ok()?.get(job).cloned()
    }

    /// Sets a background job's desired level (`--no-job_master`, `!want`);
    /// `false` for a job name this tracker does not know.
    pub fn set_job_level(&self, job: &str, n: usize) -> bool {
        let Some(name) = JOBS.iter().find(|j| **j == job) else {
            return false;
        };
        if let Ok(mut j) = self.jobs.lock() {
            j.insert(name, n.min(MAX_WANT));
        }
        self.jobs_changed.send_modify(|g| *g = g.wrapping_add(1));
        true
    }

    /// How many workers of `job` run now: its desired level, or 0 for the
    /// jobs under `job_master` while that is stopped.
    pub fn job_running(&self, job: &str) -> usize {
        let Ok(j) = self.jobs.lock() else { return 0 };
        let level = j.get(job).copied().unwrap_or(0);
        if UNDER_JOB_MASTER.contains(&job) && j.get("job_master").copied().unwrap_or(0) == 0 {
            return 0;
        }
        level.min(MAX_JOB_RUNNING)
    }

    /// The desired level of `job`.
    fn job_desired(&self, job: &str) -> usize {
        self.jobs
            .lock()
            .map(|j| j.get(job).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Waits until `job` may run (see [`Stats::job_running`]), at most
    /// `limit`: `true` if it may.
    pub async fn job_may_run(&self, job: &str, limit: std::time::Duration) -> bool {
        let mut rx = self.jobs_changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.job_running(job) > 0 {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.job_running(job) > 0,
            }
        }
    }

    /// Waits for a query worker; `job` is shown by `!queue` meanwhile.
    pub(super) async fn worker(&self, job: &str) -> Option<OwnedSemaphorePermit> {
        let permit = match self.workers.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                self.out_of_workers.fetch_add(1, Ordering::Relaxed);
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut p) = self.pending.lock() {
                    p.insert(id, job.to_owned());
                }
                let permit = self.workers.clone().acquire_owned().await.ok();
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&id);
                }
                permit
            }
        };
        self.queries.fetch_add(1, Ordering::Relaxed);
        permit
    }

    /// Remembers a finished query for `!recent`.
    pub(super) fn finished(&self, line: String) {
        if let Ok(mut r) = self.recent.lock() {
            r.push_back(line);
            while r.len() > RECENT {
                r.pop_front();
            }
        }
    }

    /// Adds to a `work_*` figure.
    pub fn add_work(&self, name: &str, n: u64) {
        if let Ok(mut w) = self.work.lock() {
            *w.entry(name.to_owned()).or_default() += n;
        }
    }

    /// Sets a `work_*` figure.
    pub fn set_work(&self, name: &str, n: u64) {
        if let Ok(mut w) = self.work.lock() {
            w.insert(name.to_owned(), n);
        }
    }

    /// Notes that a background job's task started (for the log).
    pub fn job_started(&self, name: &'static str) {
        tracing::debug!(job = name, "background job started");
    }

    /// Sends a message to the `!watch`ers.
    pub(super) fn note(&self, msg: String) {
        let _ = self.notes.send(msg);
    }

    /// The `!stats` lines.
    fn lines(&self, now: u64) -> Vec<String> {
        let desired = self.desired.load(Ordering::Relaxed);
        let idle = self.workers.available_permits();
        let pending = self.pending.lock().map(|p| p.len()).unwrap_or(0);
        let mut stats: BTreeMap<String, u64> =
            self.work.lock().map(|w| w.clone()).unwrap_or_default();
        stats.insert("queries".into(), self.queries.load(Ordering::Relaxed));
        let out = self.out_of_workers.load(Ordering::Relaxed);
        if out > 0 {
            stats.insert("times_out_of_qworkers".into(), out);
        }
        let mut lines = vec![
            format!("uptime {}", now.saturating_sub(self.started)),
            format!("pending_queries {pending}"),
            format!("processing_queries {}", desired.saturating_sub(idle)),
            format!("bored_queryworkers {idle}"),
        ];
        lines.extend(stats.iter().map(|(k, v)| format!("{k} {v}")));
        lines
    }

    /// `!want N queryworker`: grows or shrinks the worker semaphore.
    fn want(&self, n: usize) {
        let n = n.min(MAX_WANT);
        let old = self.desired.swap(n, Ordering::SeqCst);
        if n > old {
            self.workers.add_permits(n - old);
        } else if n < old {
            let (sem, less) = (self.workers.clone(), n.abs_diff(old));
            tokio::spawn(async move {
                if let Ok(p) = sem
                    .acquire_many_owned(u32::try_from(less).unwrap_or(u32::MAX))
                    .await
                {
                    p.forget();
                }
            });
        }
    }
}

/// One client connection's admin state: its address and whether it
/// `!watch`es.
#[derive(Debug)]
pub struct Session {
    pub peer: String,
    watch: Option<broadcast::Receiver<String>>,
}

impl Session {
    /// A connection from `peer` (an IP, as `!recent` shows it).
    pub fn new(peer: impl Into<String>) -> Session {
        Session {
            peer: peer.into(),
            watch: None,
        }
    }

    /// The next `!watch` message as a `:: ` line; pending forever when the
    /// connection does not watch.
    pub async fn next_note(&mut self) -> String {
        let Some(rx) = self.watch.as_mut() else {
            return std::future::pending().await;
        };
        match rx.recv().await {
            Ok(msg) => format!(":: {msg}\r\n"),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                format!(":: [watch] {n} messages dropped (this connection read too slowly)\r\n")
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.watch = None;
                std::future::pending().await
            }
        }
    }
}

/// Shortens a query line for `!recent` / `!queue`.
pub(super) fn job_text(peer: &str, line: &[u8]) -> String {
    let line = String::from_utf8_lossy(line.trim_ascii());
    let mut s = format!("{peer} {line}");
    if s.len() > MAX_JOB_TEXT {
        let mut cut = MAX_JOB_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

impl<M: MetaStore> Tracker<M> {
    /// A `!` command's reply: lines, then `.`.
    pub(super) fn admin(&self, cmd: &str, session: &mut Session) -> String {
        let (name, args) = cmd
            .split_once(char::is_whitespace)
            .map_or((cmd, ""), |(n, a)| (n, a.trim()));
        let stats = &self.stats;
        let mut out: Vec<String> = Vec::new();
        if name.starts_with("stats") {
            out = stats.lines(unix_now());
        } else if name.starts_with("shutdown") {
            tracing::info!(args, "User requested shutdown");
            self.shutdown.trigger();
        } else if name.starts_with("jobs") {
            let pid = std::process::id();
            let desired = stats.desired.load(Ordering::Relaxed);
            for (job, count, want) in self.jobs(desired) {
                out.push(format!("{job} count {count}"));
                out.push(format!("{job} desired {want}"));
                let pids = match (count, stats.incarnation(job)) {
                    (0, _) => String::new(),
                    (_, Some(inc)) => inc.pid.to_string(),
                    (_, None) => pid.to_string(),
                };
                out.push(format!("{job} pids {pids}"));
            }
        } else if name.starts_with("want") {
            let mut w = args.split_whitespace();
            match (w.next().and_then(|n| n.parse::<usize>().ok()), w.next()) {
                (Some(n), Some("queryworker")) => {
                    let n = n.min(MAX_WANT);
                    stats.want(n);
                    out.push(format!("Now desiring {n} children doing 'queryworker'."));
                }
                (Some(n), Some(job)) if stats.set_job_level(job, n) => {
                    out.push(format!("Now desiring {n} children doing '{job}'."));
                }
                (Some(_), Some(job)) => out.push(format!(
                    "ERROR: Invalid class '{job}'.  Valid classes: queryworker {}",
                    JOBS.join(" ")
                )),
                _ => out.push("ERROR: usage: !want <count> <jobclass>".into()),
            }
        } else if name.starts_with("to") {
            match args.split_once(char::is_whitespace) {
                Some((job, msg)) if !msg.trim().is_empty() => {
                    let n = self.send_to_job(job, msg.trim());
                    out.push(format!("Message sent to {n} children."));
                }
                _ => out.push("ERROR: usage: !to <jobclass> <message>".into()),
            }
        } else if name.starts_with("queue") || name.starts_with("pend") {
            if let Ok(p) = stats.pending.lock() {
                out.extend(p.values().cloned());
            }
        } else if name.starts_with("watch") {
            if session.watch.take().is_some() {
                out.push("Removed you from watcher list.".into());
            } else {
                session.watch = Some(stats.notes.subscribe());
                out.push("Added you to watcher list.".into());
            }
        } else if name.starts_with("recent") {
            if let Ok(r) = stats.recent.lock() {
                out.extend(r.iter().cloned());
            }
        } else if name.starts_with("version") {
            out.push(VERSION.into());
        } else {
            let mut reply = HELP.to_owned();
            reply.push_str(".\r\n");
            return reply;
        }
        let mut reply = String::new();
        if !out.is_empty() {
            reply = out.join("\r\n");
            reply.push_str("\r\n");
        }
        reply.push_str(".\r\n");
        reply
    }

    /// `!to <job> <message>`: `:shutdown` ends the job's incarnation (the
    /// supervisor starts another), `:wake_up` wakes it; other messages are
    /// ignored by the worker, as the original's. The number of workers the
    /// message reached (0 for the query workers, which are not separate
    /// workers here, and for a job not running).
    fn send_to_job(&self, job: &str, msg: &str) -> usize {
        let Some(inc) = self.stats.incarnation(job) else {
            return 0;
        };
        if self.stats.job_running(job) == 0 {
            return 0;
        }
        if msg.starts_with(":shutdown") {
            inc.stop.trigger();
        } else if msg.starts_with(":wake_up") {
            match job {
                "fsck" => self.fsck_wake.notify_one(),
                "replicate" => self.replications.notify_one(),
                "delete" => self.deletes.notify_one(),
                "job_master" => {
                    self.fsck_inject.notify_one();
                    self.rebal_wake.notify_one();
                }
                _ => {}
            }
        }
        1
    }

    /// The jobs this tracker runs: name, workers running, desired level;
    /// sorted by name.
    fn jobs(&self, queryworkers: usize) -> Vec<(&'static str, usize, usize)> {
        let mut jobs = vec![("queryworker", queryworkers, queryworkers)];
        for job in JOBS {
            let s = &self.stats;
            jobs.push((job, s.job_running(job), s.job_desired(job)));
        }
        jobs.sort_unstable();
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_are_unique_and_in_the_original_order() {
        let s = Stats::new(4);
        s.add_work("work_sent_to_delete", 2);
        s.set_work("work_queue_for_delete", 1);
        let lines = s.lines(s.started + 7);
        let names: Vec<&str> = lines
            .iter()
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names[..4],
            [
                "uptime",
                "pending_queries",
                "processing_queries",
                "bored_queryworkers"
            ]
        );
        assert_eq!(lines[0], "uptime 7");
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{lines:?}");
        let rest = &names[4..];
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "{rest:?}");
    }

    #[test]
    fn job_text_is_bounded() {
        let long = vec![b'x'; 10_000];
        let t = job_text("127.0.0.1", &long);
        assert!(t.len() <= MAX_JOB_TEXT + 3 && t.ends_with("..."));
        assert_eq!(job_text("1.2.3.4", b" noop \r"), "1.2.3.4 noop");
    }
}
