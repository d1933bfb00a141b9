//! mogilefsd's query commands over a [`MetaStore`], and its background
//! jobs.
//!
//! [`Tracker::answer`] turns one request line into its reply line; the
//! [`server`] loop feeds it a connection's lines in order. `dispatch`
//! decodes a query command into its typed request (`proto::command`) and
//! hands it to its handler, whose typed reply (`proto::reply`) is encoded
//! into the `OK` pairs. Handlers are grouped by subject: `namespace`
//! (domains, classes), `hosts` (hosts, devices), `files` (store, find,
//! rename, list, delete), `debug` (file_debug, list_fids), `settings`
//! (server settings), [`fsck`], [`rebalance`], [`replicate`]
//! (replicate_now, httpcopy) and [`admin`] (the `!` lines). `placement` decides where new files go and which
//! replica is read first.
//!
//! Background jobs ([`spawn_workers`], each supervised by [`jobs`]):
//! [`deleter`] removes deleted files' replicas, [`monitor`] watches the
//! storage nodes, [`replicate`] brings files to their class's [`policy`]
//! and reaps dead devices, [`fsck`] checks the fids the job master queues,
//! [`rebalance`] drains devices; [`durable`] makes create_close wait for a
//! `durable` class's copies.

pub mod admin;
pub mod cache;
mod debug;
pub mod deleter;
mod dispatch;
pub mod durable;
mod files;
pub mod fsck;
mod hosts;
pub mod http;
pub mod jobs;
pub mod monitor;
mod namespace;
mod placement;
pub mod policy;
pub mod rebalance;
pub mod replicate;
pub mod server;
mod settings;
pub mod sidechan;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use danga_common::Shutdown;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use admin::{Session, Stats};
pub use monitor::{Monitor, Observed};

use crate::meta::{Device, Domain, Host, MetaError, MetaStore};
use crate::proto::{self, ErrCode, Line, Pairs, Response};

/// The version `!version` reports (the original's).
pub const VERSION: &str = "2.73";

/// The longest `sleep` (seconds): a query worker is held meanwhile.
pub const MAX_SLEEP: u64 = 60;

/// Tracker settings from `mogilefsd.conf`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `default_mindevcount`: the implicit `default` class's mindevcount.
    pub default_mindevcount: i64,
    /// `node_timeout`: how long a storage node may take to answer.
    pub node_timeout: Duration,
    /// `conn_timeout`: how long the monitor waits for a storage node.
    pub conn_timeout: Duration,
    /// Age after which a tempfile never closed is abandoned and cleaned.
    pub tempfile_max_age: Duration,
    /// Time between monitor rounds (the original's 2.5 s).
    pub monitor_interval: Duration,
    /// `mogstored_stream_port`: the side channel of hosts without their
    /// own `mogstored_stream_port_<hostid>` server setting.
    pub mogstored_stream_port: u16,
    /// `min_free_space` (MB): a device with less gets no new files.
    pub min_free_space: i64,
    /// `query_jobs`: commands run at once.
    pub query_jobs: usize,
    /// `replicate_jobs`: fids the replicator copies at once (1, as the
    /// original's one replicate worker).
    pub replicate_jobs: usize,
    /// How long the reaper delays the replication of a dead device's
    /// files (the original's 16 s: every tracker must know it is dead).
    pub reaper_delay: Duration,
    /// Time between reaper rounds (the original's 5 s).
    pub reaper_interval: Duration,
    /// `job_master` (`--no-job_master` clears it): without it the delete,
    /// replicate and fsck jobs stay idle until `!want 1 job_master`.
    pub job_master: bool,
    /// The program each background job's companion process runs (with
    /// `--job-process <job>`), see [`jobs`]; `None`: no processes.
    pub job_process: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_mindevcount: 2,
            node_timeout: Duration::from_secs(2),
            conn_timeout: Duration::from_secs(2),
            tempfile_max_age: Duration::from_secs(3600),
            monitor_interval: Duration::from_millis(2500),
            mogstored_stream_port: 7501,
            min_free_space: 100,
            query_jobs: 20,
            replicate_jobs: 1,
            reaper_delay: Duration::from_secs(16),
            reaper_interval: Duration::from_secs(5),
            job_master: true,
            job_process: None,
        }
    }
}

/// One tracker process: the store, its settings, what the monitor saw, the
/// admin figures and the delete queue's bell.
#[derive(Debug)]
pub struct Tracker<M> {
    meta: M,
    settings: Settings,
    deletes: Notify,
    replications: Notify,
    /// Wakes the fsck worker (the job master queued fids, `!to fsck
    /// :wake_up`).
    fsck_wake: Notify,
    /// Rung by fsck_start: the job master queues fids.
    fsck_inject: Notify,
    /// Rung by rebalance_start / rebalance_stop.
    rebal_wake: Notify,
    monitor: Monitor,
    stats: Stats,
    shutdown: Shutdown,
    /// Keep-alive connections for get_paths' checks.
    pool: http::Pool,
    /// Domains, classes, hosts and devices, as last read.
    cache: cache::Cache,
}

/// Why a command failed: a protocol error code (with its own text or
/// another) or a database error.
#[derive(Debug)]
enum Fail {
    Code(ErrCode),
    Text(ErrCode, String),
    Db(MetaError),
}

impl From<ErrCode> for Fail {
    fn from(c: ErrCode) -> Self {
        Fail::Code(c)
    }
}

impl From<MetaError> for Fail {
    fn from(e: MetaError) -> Self {
        Fail::Db(e)
    }
}

/// The one place a store error becomes a protocol error. Every kind is
/// `ERR db` with the driver's message, as the original answers; the kinds a
/// command acts on (a duplicate host name) are matched where they arise.
fn db_error(e: &MetaError) -> Response {
    let kind = match e {
        MetaError::NotFound(_)
        | MetaError::Duplicate(_)
        | MetaError::Retryable(_)
        | MetaError::Unavailable(_)
        | MetaError::Other(_) => ErrCode::Db,
    };
    Response::Err(kind, Some(format!("Database error: {e}")))
}

/// A command's outcome: the `OK` pairs, or why not.
type Outcome = Result<Pairs, Fail>;

/// A handler's outcome: its typed reply (see `proto::reply`), or why not.
type Done<R = ()> = Result<R, Fail>;

impl<M: MetaStore> Tracker<M> {
    /// A tracker over `meta`; `!shutdown` stops nothing but this tracker's
    /// own token (see [`Tracker::with_shutdown`]).
    pub fn new(meta: M, settings: Settings) -> Arc<Self> {
        Self::with_shutdown(meta, settings, Shutdown::new())
    }

    /// A tracker whose `!shutdown` triggers `shutdown`.
    pub fn with_shutdown(meta: M, settings: Settings, shutdown: Shutdown) -> Arc<Self> {
        let stats = Stats::new(settings.query_jobs);
        if !settings.job_master {
            stats.set_job_level("job_master", 0);
        }
        Arc::new(Tracker {
            meta,
            stats,
            settings,
            deletes: Notify::new(),
            replications: Notify::new(),
            fsck_wake: Notify::new(),
            fsck_inject: Notify::new(),
            rebal_wake: Notify::new(),
            monitor: Monitor::default(),
            shutdown,
            pool: http::Pool::default(),
            cache: cache::Cache::default(),
        })
    }

    /// The metadata store.
    pub fn meta(&self) -> &M {
        &self.meta
    }

    /// What the monitor observed.
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The admin figures.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The reply to one request line; `None` for an empty line.
    pub async fn answer(&self, line: &[u8], session: &mut Session) -> Option<String> {
        let req = match proto::parse_line(line) {
            Line::Empty => return None,
            Line::Admin(cmd) if !cmd.is_empty() => return Some(self.admin(&cmd, session)),
            Line::Admin(_) | Line::Garbage => {
                return Some(Response::err(ErrCode::UnknownCommand).encode(None))
            }
            Line::Command(req) => req,
        };
        let job = admin::job_text(&session.peer, line);
        let t0 = Instant::now();
        let permit = self.stats.worker(&job).await;
        let t1 = Instant::now();
        let resp = match self.run(&req).await {
            Ok(pairs) => Response::Ok(pairs),
            Err(Fail::Code(c)) => Response::err(c),
            Err(Fail::Text(c, text)) => Response::Err(c, Some(text)),
            Err(Fail::Db(e)) => {
                tracing::warn!(error = %e, cmd = %req.cmd, "database error");
                db_error(&e)
            }
        };
        drop(permit);
        let (total, work) = (t0.elapsed(), t1.elapsed());
        self.stats.finished(format!(
            "{job} {:.4} {:.4}",
            total.as_secs_f64(),
            work.as_secs_f64()
        ));
        Some(resp.encode(req.callid()))
    }

    /// Logs a worker's message and shows it to `!watch`ers, as the
    /// original's `error()` from a child: `[job(pid)] message`.
    pub fn note(&self, job: &str, msg: String) {
        tracing::info!(job, "{msg}");
        self.stats
            .note(format!("[{job}({})] {msg}", std::process::id()));
    }

    /// The domain named by a request's `domain=`: `unreg_domain` if none
    /// is. From the cached copy; a name missing there is asked of the
    /// database (another tracker may have just created it).
    async fn domain_arg(&self, name: &str) -> Result<Domain, Fail> {
        if let Some(d) = self.cached().await?.domains.get(name) {
            return Ok(d.clone());
        }
        let d = self.meta.domain(name).await?.ok_or(ErrCode::UnregDomain)?;
        self.cache.invalidate();
        Ok(d)
    }

    /// Domains, classes, hosts and devices as last read (see [`cache`]).
    async fn cached(&self) -> Result<Arc<cache::Snapshot>, Fail> {
        Ok(self.cache.get(&self.meta).await?)
    }

    /// Hosts and devices as last read (see [`cache`]): for the file
    /// commands and background jobs.
    async fn topology(&self) -> Result<Arc<cache::Snapshot>, Fail> {
        self.cached().await
    }

    /// Hosts and devices read now: for commands that change them.
    async fn fresh_topology(&self) -> Result<(Vec<Host>, Vec<Device>), Fail> {
        Ok((self.meta.hosts().await?, self.meta.devices().await?))
    }

    /// This tracker changed a domain, class, host or device.
    fn changed(&self) {
        self.cache.invalidate();
    }

    /// Wakes the delete queue's worker.
    fn deletes_pending(&self) {
        self.deletes.notify_one();
    }

    /// How long a command waits for a monitor round.
    fn round_limit(&self) -> Duration {
        self.settings.conn_timeout * 4 + Duration::from_secs(1)
    }

    /// A fresh monitor round (the original's `clear_cache`): after host and
    /// device changes, so the next command sees them observed.
    async fn refresh_monitor(&self) {
        self.monitor.refresh(self.round_limit()).await;
    }
}

/// Starts the background jobs (delete, monitor, replicate, reaper, fsck,
/// and the job master: rebalance and fsck queueing), each supervised (see
/// [`jobs`]), through the shutdown tracker, so a stop waits (up to the
/// drain period) for the work each has in hand.
pub fn spawn_workers<M: MetaStore>(tracker: &Arc<Tracker<M>>, shutdown: &Shutdown) {
    let t = || tracker.clone();
    let sd = shutdown.clone();
    shutdown.spawn(jobs::supervise(t(), "delete", sd.clone(), deleter::run));
    shutdown.spawn(jobs::supervise(t(), "monitor", sd.clone(), monitor::run));
    shutdown.spawn(jobs::supervise(
        t(),
        "replicate",
        sd.clone(),
        replicate::run,
    ));
    shutdown.spawn(jobs::supervise(
        t(),
        "reaper",
        sd.clone(),
        replicate::run_reaper,
    ));
    shutdown.spawn(jobs::supervise(t(), "fsck", sd.clone(), fsck::run));
    shutdown.spawn(jobs::supervise(t(), "job_master", sd, |t, s| async move {
        tokio::join!(
            rebalance::run(t.clone(), s.clone()),
            fsck::run_injector(t, s)
        );
    }));
}

/// Waits while `!want 0 <job>` (or a stopped `job_master`) holds `job`,
/// then passes a heartbeat through the job's process (pending while that
/// is stopped): `false` once the incarnation or the tracker stops.
async fn job_may_run<M: MetaStore>(tracker: &Tracker<M>, job: &str, shutdown: &Shutdown) -> bool {
    loop {
        if shutdown.is_triggered() {
            return false;
        }
        let wait = tracker.stats.job_may_run(job, Duration::from_secs(1));
        match shutdown.until_stopped(wait).await {
            Some(true) => break,
            Some(false) => {}
            None => return false,
        }
    }
    let Some(inc) = tracker.stats.incarnation(job) else {
        return true;
    };
    matches!(shutdown.until_stopped(inc.heartbeat(job)).await, Some(true))
}

pub use danga_common::clock::unix_now;

/// A random number (not for secrets): weighted choices, test-file names.
pub fn random_u64() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests;
