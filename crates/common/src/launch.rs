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

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::listen::{bind_all, write_ready_file, Bound, ListenSpec, Listener};
use crate::logging::{self, LogFormat, LogTarget};
use crate::process;
use crate::shutdown::{Shutdown, DEFAULT_DRAIN};

/// The name of the metrics listener (in the ready file too).
pub const METRICS_LISTENER: &str = "metrics";

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
        let mut bound = bind_all(&self.listen, self.backlog)?;
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
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = self.threads {
            rt.worker_threads(n.max(1));
        }
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
        rt.shutdown_timeout(Duration::from_millis(500));
        result
    }
}

fn ctx(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
