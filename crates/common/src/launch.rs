//! The start-up and shutdown sequence every daemon shares, in the only order
//! that is safe:
//!
//! 1. logging, so later failures are reported;
//! 2. bind every listener (as root, if privileged ports are asked for);
//! 3. daemonize (fork) while the process still has one thread;
//! 4. the pid file, written by the process that will serve;
//! 5. any extra announcement (memcached's `MEMCACHED_PORT_FILENAME`), then
//!    the ready file (`NAME address` per listener), so a test that sees the
//!    ready file can rely on everything else being written;
//! 6. drop root;
//! 7. build the tokio runtime, install signal handlers, run the daemon
//!    (SIGTERM, SIGINT and SIGHUP are held pending from step 1 until their
//!    handlers are installed, so a test that stops a daemon the moment its
//!    ready file appears still gets a clean exit);
//! 8. on SIGINT/SIGTERM (or a shutdown command): stop accepting, close idle
//!    connections, let in-flight requests finish within the drain period,
//!    then return so `main` exits 0.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::listen::{bind_all, bind_spread, write_ready_file, Bound, ListenSpec, Listener};
use crate::logging::{self, LogFormat, LogTarget};
use crate::process;
use crate::shutdown::{Shutdown, DEFAULT_DRAIN};

/// The name of the metrics listener (in the ready file too).
pub const METRICS_LISTENER: &str = "metrics";

/// How the daemon's work is laid out on threads.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One multi-thread tokio runtime (work stealing) for everything.
    #[default]
    Shared,
    /// One single-threaded runtime per thread, each accepting on its own
    /// `SO_REUSEPORT` socket of every listener named in
    /// [`Launch::spread`] (the kernel spreads connections over them, as
    /// nginx's workers share the listening port); everything else (other
    /// listeners, timers, signals) runs on a single-threaded runtime of the
    /// main thread. State stays shared (behind the daemon's own locks).
    PerThread,
}

/// The per-thread runtimes of [`Layout::PerThread`] (empty otherwise).
static WORKERS: OnceLock<Vec<tokio::runtime::Handle>> = OnceLock::new();

/// The extra sockets of spread listeners, by name, until taken.
static SPREAD: Mutex<Option<HashMap<String, Vec<Bound>>>> = Mutex::new(None);

/// The runtimes of [`Layout::PerThread`], one per thread; empty under
/// [`Layout::Shared`]. A daemon spawns a spread listener's accept loop on
/// each (inside [`tokio::runtime::Handle::enter`], so its connections'
/// tasks and sockets stay on that thread).
pub fn workers() -> &'static [tokio::runtime::Handle] {
    WORKERS.get().map_or(&[], Vec::as_slice)
}

/// Takes the sockets bound for spread listener `name` besides the one
/// handed to the daemon (one per worker after the first); empty when
/// there are none (other layouts, or already taken).
pub fn take_spread(name: &str) -> Vec<Bound> {
    SPREAD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_mut()
        .and_then(|m| m.remove(name))
        .unwrap_or_default()
}

/// Hands the extra sockets of a spread listener bound later (a live
/// enable) to the daemon's [`take_spread`].
pub fn put_spread(name: &str, sockets: Vec<Bound>) {
    SPREAD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(name.to_owned(), sockets);
}

/// Measurement knobs read from the environment (documented in
/// benches/README.md): `DANGA_RT_EVENT_INTERVAL` and
/// `DANGA_RT_GLOBAL_QUEUE_INTERVAL` set tokio's ticks between polls of
/// the I/O driver and of the global queue.
fn tune(rt: &mut tokio::runtime::Builder) {
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    if let Some(n) = knob("DANGA_RT_EVENT_INTERVAL") {
        rt.event_interval(n.max(1));
    }
    if let Some(n) = knob("DANGA_RT_GLOBAL_QUEUE_INTERVAL") {
        rt.global_queue_interval(n.max(1));
    }
}

/// A hook that sees the bound listeners before the runtime starts.
pub type AfterBind = Box<dyn FnOnce(&[Bound]) -> io::Result<()>>;

/// How to start a daemon.
pub struct Launch {
    /// The daemon's name, for logs.
    pub name: &'static str,
    /// Its listeners.
    pub listen: Vec<ListenSpec>,
    /// The listen backlog.
    pub backlog: u32,
    /// Fork into the background.
    pub daemonize: bool,
    /// Write the pid here.
    pub pidfile: Option<PathBuf>,
    /// Switch to this user after binding.
    pub user: Option<String>,
    /// The test-only ready file.
    pub ready_file: Option<PathBuf>,
    /// Called with the bound listeners (before the ready file).
    pub after_bind: Option<AfterBind>,
    /// Runtime worker threads (`None`: one per core).
    pub threads: Option<usize>,
    /// The thread layout.
    pub layout: Layout,
    /// Listeners served on every thread under [`Layout::PerThread`].
    pub spread: Vec<String>,
    /// Grace period for in-flight requests at shutdown.
    pub drain: Duration,
    /// `-v` count.
    pub verbosity: u8,
    /// Where logs go.
    pub log: LogTarget,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Serve `GET /metrics` here (what the daemon [`crate::metrics::publish`]es).
    pub metrics_listen: Option<SocketAddr>,
}

impl Launch {
    /// A launch with the defaults: no fork, no pid file, stderr logging.
    pub fn new(name: &'static str, listen: Vec<ListenSpec>) -> Self {
        Launch {
            name,
            listen,
            backlog: 1024,
            daemonize: false,
            pidfile: None,
            user: None,
            ready_file: None,
            after_bind: None,
            threads: None,
            layout: Layout::Shared,
            spread: Vec::new(),
            drain: DEFAULT_DRAIN,
            verbosity: 0,
            log: LogTarget::Stderr,
            log_format: LogFormat::Text,
            metrics_listen: None,
        }
    }

    /// Takes the flags every daemon shares: the ready file, the log format,
    /// the metrics address and the drain period.
    pub fn common(&mut self, c: &crate::cli::CommonArgs) -> &mut Self {
        self.ready_file = c.ready_file.clone();
        self.log_format = c.log_format;
        self.metrics_listen = c.metrics_listen;
        self.drain = c.drain();
        self.layout = c.runtime_layout;
        self
    }

    /// Runs the daemon. `serve` gets the listeners and the shutdown handle,
    /// starts its tasks (accept loops via [`crate::Acceptor`], workers that
    /// watch the shutdown) and returns; this then waits for shutdown.
    pub fn run<F, Fut>(self, serve: F) -> io::Result<()>
    where
        F: FnOnce(Vec<Listener>, Shutdown) -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        let log_file = logging::init_with(self.verbosity, &self.log, self.log_format, self.name)?;
        // Signals wait until their handlers exist (see step 7). Runtime worker
        // threads inherit the mask and keep it: the main thread, which runs
        // `block_on`, takes the signals for the whole process.
        process::block_signals()?;
        // Started by a launcher that asks for it: end with it, even when it
        // is SIGKILLed (a forked daemon has left its parent on purpose).
        if !self.daemonize {
            process::die_with_parent()?;
        }
        let per_thread = match self.layout {
            Layout::PerThread => self
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            Layout::Shared => 0,
        };
        let (spread, single): (Vec<ListenSpec>, Vec<ListenSpec>) = self
            .listen
            .iter()
            .cloned()
            .partition(|s| per_thread > 0 && self.spread.contains(&s.name));
        let mut bound = bind_all(&single, self.backlog)?;
        let mut extra = HashMap::new();
        for spec in &spread {
            let mut all = bind_spread(spec, self.backlog, per_thread)
                .map_err(|e| ctx(e, &format!("binding {}", spec.name)))?;
            let first = all.remove(0);
            extra.insert(spec.name.clone(), all);
            bound.push(first);
        }
        // In the order asked for (the ready file lists them so).
        bound.sort_by_key(|b| self.listen.iter().position(|s| s.name == b.name()));
        *SPREAD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(extra);
        let metrics_bound = match self.metrics_listen {
            Some(addr) => Some(
                crate::listen::bind(&ListenSpec::tcp(METRICS_LISTENER, addr), self.backlog)
                    .map_err(|e| ctx(e, "binding --metrics-listen"))?,
            ),
            None => None,
        };
        if self.daemonize {
            process::daemonize().map_err(|e| ctx(e, "daemonizing"))?;
        }
        let _pidfile = match &self.pidfile {
            Some(p) => Some(process::write_pidfile(p)?),
            None => None,
        };
        // Other announcements first: the ready file says "all done".
        if let Some(hook) = self.after_bind {
            hook(&bound)?;
        }
        // The metrics listener is in the ready file, not in the hook's list.
        bound.extend(metrics_bound);
        if let Some(path) = &self.ready_file {
            write_ready_file(path, &bound).map_err(|e| ctx(e, "writing the ready file"))?;
        }
        if let Some(user) = &self.user {
            process::drop_user(user).map_err(|e| ctx(e, &format!("switching to user {user}")))?;
        }
        let mut rt = if per_thread > 0 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            tokio::runtime::Builder::new_multi_thread()
        };
        if let (Some(n), 0) = (self.threads, per_thread) {
            rt.worker_threads(n.max(1));
        }
        tune(&mut rt);
        let pool = WorkerPool::start(per_thread)?;
        let rt = rt
            .enable_all()
            .build()
            .map_err(|e| ctx(e, "building the runtime"))?;
        let name = self.name;
        let drain = self.drain;
        let metrics_wanted = self.metrics_listen.is_some();
        crate::metrics::set_namespace(name);
        let result = rt.block_on(async move {
            let shutdown = Shutdown::new();
            shutdown.on_signals()?;
            logging::on_sighup(log_file)?;
            process::unblock_signals()?;
            let (metrics, listeners): (Vec<_>, Vec<_>) = bound
                .into_iter()
                .map(Bound::into_tokio)
                .collect::<io::Result<Vec<_>>>()?
                .into_iter()
                .partition(|l| metrics_wanted && l.name() == METRICS_LISTENER);
            serve(listeners, shutdown.clone()).await?;
            for l in metrics {
                crate::metrics::serve(l, shutdown.clone());
            }
            tracing::info!(daemon = name, "running");
            let left = shutdown.drain(drain).await;
            if left > 0 {
                tracing::warn!(
                    daemon = name,
                    connections = left,
                    "drain period over; closing the rest"
                );
            }
            tracing::info!(daemon = name, "stopped");
            Ok(())
        });
        // Tasks still running after the drain are dropped here, promptly.
        pool.stop();
        rt.shutdown_timeout(Duration::from_millis(500));
        result
    }
}

/// The threads of [`Layout::PerThread`], each running a single-threaded
/// runtime until [`WorkerPool::stop`].
struct WorkerPool {
    threads: Vec<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
}

impl WorkerPool {
    /// Starts `n` threads (none for 0) and publishes their runtimes in
    /// [`workers`].
    fn start(n: usize) -> io::Result<WorkerPool> {
        let mut threads = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let mut b = tokio::runtime::Builder::new_current_thread();
            tune(&mut b);
            let rt = b
                .enable_all()
                .build()
                .map_err(|e| ctx(e, "building a runtime"))?;
            handles.push(rt.handle().clone());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let _ = rt.block_on(stopped);
                    rt.shutdown_timeout(Duration::from_millis(500));
                })?;
            threads.push((stop, thread));
        }
        if n > 0 && WORKERS.set(handles).is_err() {
            return Err(io::Error::other("runtime threads started twice"));
        }
        Ok(WorkerPool { threads })
    }

    /// Ends every thread's runtime (after the drain) and waits for them.
    fn stop(self) {
        for (stop, thread) in self.threads {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
