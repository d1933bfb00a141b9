//! One job.

use bytes::Bytes;

use super::function::FuncId;
use super::ConnId;
use crate::proto::Priority;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// An epoch job that is not due yet.
    Scheduled,
    /// In its function's queue for its priority.
    Queued,
    /// A worker has it; `attempt` tells this assignment from a later one.
    Running {
        /// The worker's connection.
        worker: ConnId,
        /// Counts assignments, so a stale timeout is ignored.
        attempt: u32,
    },
}

/// A job and everything the server remembers about it.
#[derive(Debug, Clone)]
pub struct Job {
    /// `<prefix>:<n>`.
    pub handle: Bytes,
    pub function: FuncId,
    /// As submitted (`-` stays `-`).
    pub unique: Bytes,
    /// The coalescing key, when the job is in the unique index: (is `-`, key).
    pub key: Option<(bool, Bytes)>,
    /// Empty unless a reduce job.
    pub reducer: Bytes,
    pub data: Bytes,
    pub priority: Priority,
    /// Submitted (also) as a background job: it outlives its clients.
    pub background: bool,
    pub state: JobState,
    /// Foreground clients waiting for the result (one entry per submit).
    pub listeners: Vec<ConnId>,
    pub numerator: u32,
    pub denominator: u32,
    /// Times a worker lost it (disconnect, timeout).
    pub retries: u32,
    /// Assignments so far.
    pub attempts: u32,
    /// Persistent-queue rows to delete when it ends.
    pub rows: Vec<u64>,
}
