//! `danga-loadgen gearman`: background-job throughput (`--mode bg`) and
//! foreground round trips (`--mode fg`) over the binary protocol, with the
//! generator's own echo workers draining the jobs.
//!
//! Workers connect first, register, drain anything an earlier run left
//! queued and go to sleep; then the clients connect and the clock starts.
//! The whole run, connecting included, is bounded by `--timeout`: at the
//! deadline every task is aborted and the counts so far are reported.

mod client;
mod conn;
mod proto;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _, Result};
use clap::{Args, ValueEnum};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use crate::net::Target;
use crate::Report;
use conn::Conn;
use proto::ty;
use worker::Worker;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// SUBMIT_JOB_BG pipelined; measures until the workers completed all
    Bg,
    /// SUBMIT_JOB round trips, one at a time per client
    Fg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Grab {
    /// GRAB_JOB, answered with JOB_ASSIGN (the Perl worker's way)
    Job,
    /// GRAB_JOB_UNIQ, answered with JOB_ASSIGN_UNIQ (libgearman's way)
    Uniq,
}

/// Options of the `gearman` subcommand.
#[derive(Args, Debug)]
pub struct GmArgs {
    /// Server to load, HOST:PORT (loopback only)
    #[arg(long, default_value = "127.0.0.1:4730")]
    pub server: String,
    /// bg: pipelined background jobs; fg: foreground round trips
    #[arg(long, value_enum, default_value_t = Mode::Bg)]
    pub mode: Mode,
    /// Client connections [default: 4 with --mode bg, 16 with --mode fg]
    #[arg(long)]
    pub clients: Option<usize>,
    /// Worker connections (echo workers)
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// bg: jobs in all, split across the clients
    #[arg(long, default_value_t = 50_000)]
    pub jobs: u64,
    /// bg: JOB_CREATED replies outstanding per client
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// fg: round trips per client
    #[arg(long, default_value_t = 2000)]
    pub jobs_per_client: u64,
    /// Payload bytes per job (the workers echo it back)
    #[arg(long, default_value_t = 16)]
    pub payload: usize,
    /// Function name
    #[arg(long, default_value = "bench")]
    pub function: String,
    /// How the workers grab
    #[arg(long, value_enum, default_value_t = Grab::Job)]
    pub grab: Grab,
    /// Seconds for the whole run, connecting included
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Tokio worker threads of the generator
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

impl GmArgs {
    fn clients(&self) -> usize {
        self.clients.unwrap_or(match self.mode {
            Mode::Bg => 4,
            Mode::Fg => 16,
        })
    }

    fn check(&self) -> Result<()> {
        ensure!(
            (1..=1024).contains(&self.clients()),
            "--clients must be 1..=1024"
        );
        ensure!(
            (1..=1024).contains(&self.workers),
            "--workers must be 1..=1024"
        );
        ensure!(
            (1..=100_000_000).contains(&self.jobs),
            "--jobs must be 1..=100,000,000"
        );
        ensure!(
            (1..=100_000).contains(&self.window),
            "--window must be 1..=100,000"
        );
        ensure!(
            (1..=10_000_000).contains(&self.jobs_per_client),
            "--jobs-per-client must be 1..=10,000,000"
        );
        ensure!(
            self.payload <= 1024 * 1024,
            "--payload must be at most 1 MiB"
        );
        ensure!(
            !self.function.is_empty() && self.function.len() <= 64 && !self.function.contains('\0'),
            "--function must be 1..=64 bytes without NUL"
        );
        ensure!(
            self.timeout > 0.0 && self.timeout <= 3600.0,
            "--timeout must be in (0, 3600] seconds"
        );
        ensure!((1..=64).contains(&self.threads), "--threads must be 1..=64");
        Ok(())
    }
}

/// Counters every task updates (once per batch in the hot paths), read by
/// the coordinator and for the report.
#[derive(Default)]
pub struct Shared {
    /// When the clients started submitting.
    start: OnceLock<Instant>,
    /// bg: JOB_CREATED replies.
    created: AtomicU64,
    /// Jobs the workers completed (WORK_COMPLETE written) since `start`.
    completed: AtomicU64,
    /// bg: when `completed` reaches this, wake the coordinator.
    target: AtomicU64,
    /// Nanoseconds from `start` to the last completion.
    last_done_ns: AtomicU64,
    /// bg: nanoseconds from `start` to the last client's last JOB_CREATED.
    submits_done_ns: AtomicU64,
    /// fg: WORK_COMPLETE replies received by the clients.
    round_trips: AtomicU64,
    /// ERROR packets, to clients and workers.
    errors: AtomicU64,
    /// fg: WORK_FAIL / WORK_EXCEPTION results.
    fails: AtomicU64,
    /// NO_JOB replies (each followed by PRE_SLEEP).
    sleeps: AtomicU64,
    first_error: Mutex<Option<String>>,
    wake: Notify,
}

impl Shared {
    fn since_start_ns(&self) -> u64 {
        self.start.get().map_or(0, |s| {
            u64::try_from(s.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
    }

    fn completed(&self, n: u64) {
        let total = self.completed.fetch_add(n, SeqCst) + n;
        self.last_done_ns.fetch_max(self.since_start_ns(), SeqCst);
        if total >= self.target.load(SeqCst) {
            self.wake.notify_one();
        }
    }

    fn count_created(&self, n: u64) {
        self.created.fetch_add(n, SeqCst);
    }

    fn submits_done(&self) {
        self.submits_done_ns
            .fetch_max(self.since_start_ns(), SeqCst);
    }

    fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, SeqCst);
    }

    fn count_fail(&self) {
        self.fails.fetch_add(1, SeqCst);
    }

    fn count_sleep(&self) {
        self.sleeps.fetch_add(1, SeqCst);
    }

    fn count_error(&self, text: &str) {
        if self.errors.fetch_add(1, SeqCst) == 0 {
            *self.first_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.to_owned());
        }
    }
}

/// Check the options and whom to load; runs inside the runtime.
pub async fn run(a: GmArgs) -> Result<Report> {
    a.check()?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.timeout);
    let target = Target::resolve(Some(&a.server), None).await?;
    let sh = Arc::new(Shared {
        target: AtomicU64::new(u64::MAX),
        ..Shared::default()
    });
    let mut stale = 0;
    let failure = match timeout_at(deadline, drive(&target, &a, &sh, &mut stale)).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(anyhow!(
            "timed out after {} s (--timeout) with {} jobs completed",
            a.timeout,
            sh.completed.load(SeqCst)
        )),
    };
    let elapsed = sh.since_start_ns();
    Ok(report(&a, &sh, stale, elapsed, failure))
}

/// Connect, prepare the workers, start the clients, and wait until the
/// jobs are done or a task fails. Dropping this future aborts every task.
async fn drive(target: &Target, a: &GmArgs, sh: &Arc<Shared>, stale: &mut u64) -> Result<()> {
    let func = a.function.as_bytes();
    let payload: Vec<u8> = (0..a.payload).map(|i| b'a' + (i % 26) as u8).collect();
    let grab = match a.grab {
        Grab::Job => ty::GRAB_JOB,
        Grab::Uniq => ty::GRAB_JOB_UNIQ,
    };
    let mut workers = Vec::with_capacity(a.workers);
    for _ in 0..a.workers {
        let mut w = Worker::connect(target, grab, Arc::clone(sh)).await?;
        *stale += w.prepare(func).await.context("registering a worker")?;
        workers.push(w);
    }
    if *stale > 0 {
        eprintln!("danga-loadgen: completed {stale} jobs left queued by an earlier run");
    }
    let n = a.clients();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(Conn::connect(target).await?);
    }
    let (submit, total) = match a.mode {
        Mode::Bg => (ty::SUBMIT_JOB_BG, a.jobs),
        Mode::Fg => (ty::SUBMIT_JOB, a.jobs_per_client * n as u64),
    };
    let packet = Arc::new(proto::template(submit, &[func, b"", &payload]));
    let payload = Arc::new(payload);

    sh.target.store(total, SeqCst);
    let _ = sh.start.set(Instant::now());
    let mut wset = JoinSet::new();
    for w in workers {
        wset.spawn(w.run());
    }
    let mut cset = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let sh = Arc::clone(sh);
        let packet = Arc::clone(&packet);
        match a.mode {
            Mode::Bg => {
                let jobs = a.jobs / n as u64 + u64::from((i as u64) < a.jobs % n as u64);
                cset.spawn(client::background(conn, jobs, a.window, packet, sh));
            }
            Mode::Fg => {
                let payload = Arc::clone(&payload);
                cset.spawn(client::foreground(
                    conn,
                    a.jobs_per_client,
                    packet,
                    payload,
                    sh,
                ));
            }
        }
    }

    let mut clients_left = n;
    loop {
        if clients_left == 0 {
            if a.mode == Mode::Fg {
                return Ok(());
            }
            // Every job the server accepted must be completed.
            let created = sh.created.load(SeqCst);
            sh.target.store(created, SeqCst);
            if sh.completed.load(SeqCst) >= created {
                return Ok(());
            }
        }
        tokio::select! {
            r = cset.join_next(), if clients_left > 0 => match r {
                Some(Ok(Ok(()))) => clients_left -= 1,
                Some(Ok(Err(e))) => return Err(e.context("a client failed")),
                Some(Err(e)) => return Err(anyhow!(e).context("a client task died")),
                None => clients_left = 0,
            },
            r = wset.join_next() => {
                return Err(match r {
                    Some(Ok(Err(e))) => e.context("a worker failed"),
                    Some(Err(e)) => anyhow!(e).context("a worker task died"),
                    Some(Ok(Ok(()))) | None => anyhow!("a worker stopped"),
                });
            }
            () = sh.wake.notified(), if clients_left == 0 => {}
        }
    }
}

fn report(
    a: &GmArgs,
    sh: &Shared,
    stale: u64,
    elapsed_ns: u64,
    failure: Option<anyhow::Error>,
) -> Report {
    let errors = sh.errors.load(SeqCst);
    let fails = sh.fails.load(SeqCst);
    let completed = sh.completed.load(SeqCst);
    let failure = failure.or_else(|| {
        let first = sh
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (errors > 0).then(|| {
            anyhow!(
                "the server answered {errors} ERROR packets; the first: {}",
                first.unwrap_or_default()
            )
        })
    });
    let failure = failure.or_else(|| (fails > 0).then(|| anyhow!("{fails} jobs failed")));
    let secs_of = |ns: u64| ns as f64 / 1e9;
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let mut r = Report::new(failure);
    match a.mode {
        Mode::Bg => {
            // Until the last completion, unless the run was cut short.
            let ns = if r.failed() {
                elapsed_ns
            } else {
                sh.last_done_ns.load(SeqCst)
            };
            let secs = secs_of(ns);
            r.push("jobs", completed);
            r.push("secs", format!("{secs:.3}"));
            r.push("jobs_per_sec", format!("{:.0}", rate(completed, secs)));
            r.push(
                "submit_secs",
                format!("{:.3}", secs_of(sh.submits_done_ns.load(SeqCst))),
            );
            r.push("created", sh.created.load(SeqCst));
        }
        Mode::Fg => {
            let secs = secs_of(elapsed_ns);
            let rts = sh.round_trips.load(SeqCst);
            r.push("round_trips", rts);
            r.push("secs", format!("{secs:.3}"));
            r.push("rt_per_sec", format!("{:.0}", rate(rts, secs)));
            r.push("completed", completed);
            r.push("fails", fails);
        }
    }
    r.push("errors", errors);
    r.push("sleeps", sh.sleeps.load(SeqCst));
    r.push("stale", stale);
    r.push("clients", a.clients());
    r.push("workers", a.workers);
    r
}
