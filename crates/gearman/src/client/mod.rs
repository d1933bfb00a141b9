//! The other half of Gearman: the code that calls functions ([`Client`])
//! and the code that runs them ([`Worker`]), over several independent job
//! servers, as Gearman::Client and Gearman::Worker do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), danga_gearman::client::Error> {
//! use danga_gearman::client::{Client, Config, Task, Worker};
//! let servers = ["10.0.0.1:4730", "10.0.0.2:4730"];
//! let mut worker = Worker::new(servers);
//! worker.register("rev", |job| async move {
//!     Ok(job.data().iter().rev().copied().collect::<Vec<u8>>())
//! });
//! let running = worker.start();
//! let client = Client::new(Config::new(servers));
//! let result = client.submit(Task::new("rev", "hello").unique("greeting")).await?;
//! assert_eq!(&result[..], b"olleh");
//! running.stop().await;
//! # Ok(()) }
//! ```
//!
//! * the client picks a server by `crc32(unique) % n` when the task has a
//!   unique id (so coalescing works across the pool, as with the Perl
//!   client), else round robin; when that server is down (connect error,
//!   or the connection ends before `JOB_CREATED`) it tries the next one;
//! * a worker keeps one connection per server, registers its functions
//!   on each, and takes work from all of them (`GRAB_JOB_UNIQ`, sleeping
//!   with `PRE_SLEEP` until a `NOOP`); a lost server is reconnected;
//! * packets are built and parsed by [`crate::proto`], nothing else.
//!
//! This module depends on tokio but on neither `server` nor `queue`.

#[allow(clippy::module_inception)]
mod client;
mod conn;
pub mod dmap;
mod task;
mod worker;

pub use client::{Client, Config};
pub use task::{Event, JobHandle, Status, Task};
pub use worker::{Job, RunningWorker, WorkError, Worker};

pub use crate::proto::{Priority, Sched};

/// What went wrong talking to the job servers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Connecting, or the whole job, took longer than its timeout.
    #[error("timed out")]
    Timeout,
    /// No server is configured, or every one is down.
    #[error("no job server available (last error: {0})")]
    NoServer(String),
    /// The server closed the connection after accepting the job: its
    /// result is lost (it was not resubmitted, since it may have run).
    #[error("job server closed the connection while the job was running")]
    Disconnected,
    /// The worker sent `WORK_FAIL`.
    #[error("job failed")]
    Failed,
    /// The worker sent `WORK_EXCEPTION` (the client asked for exceptions).
    #[error("job raised an exception: {}", String::from_utf8_lossy(.0))]
    Exception(bytes::Bytes),
    /// An `ERROR` packet (`QUEUE_ERROR`, `ARGUMENT_TOO_LARGE`...).
    #[error("server error {}: {}", String::from_utf8_lossy(.code), String::from_utf8_lossy(.text))]
    Server {
        /// gearmand's code.
        code: bytes::Bytes,
        /// Its text.
        text: bytes::Bytes,
    },
    /// A packet this library does not expect.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether the job may be tried on another server: nothing reached a
    /// worker (the server was unreachable or went away before accepting).
    pub(crate) fn is_failover(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Timeout | Error::NoServer(_))
    }
}
