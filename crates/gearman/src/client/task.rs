//! What a client submits ([`Task`]) and hears back ([`Event`],
//! [`JobHandle`], [`Status`]).

use std::time::Duration;

use bytes::Bytes;

use crate::proto::Priority;

/// A function call to submit (Gearman::Task).
#[derive(Debug, Clone)]
pub struct Task {
    pub(crate) function: Bytes,
    pub(crate) data: Bytes,
    pub(crate) unique: Option<Bytes>,
    pub(crate) priority: Priority,
    pub(crate) timeout: Option<Duration>,
}

impl Task {
    /// Calls `function` with `data`, normal priority, no unique id.
    pub fn new(function: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Task {
        Task {
            function: Bytes::copy_from_slice(function.as_ref()),
            data: Bytes::copy_from_slice(data.as_ref()),
            unique: None,
            priority: Priority::Normal,
            timeout: None,
        }
    }

    /// A unique id: picks the server (crc32) and coalesces equal tasks.
    pub fn unique(mut self, unique: impl AsRef<[u8]>) -> Task {
        self.unique = Some(Bytes::copy_from_slice(unique.as_ref()));
        self
    }

    /// High, normal or low.
    pub fn priority(mut self, priority: Priority) -> Task {
        self.priority = priority;
        self
    }

    /// The time limit of this foreground job.
    pub fn timeout(mut self, timeout: Duration) -> Task {
        self.timeout = Some(timeout);
        self
    }
}

/// A job a server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHandle {
    /// The server holding it.
    pub server: String,
    /// Its handle there (`H:host:n`).
    pub handle: Bytes,
}

/// A `STATUS_RES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The server has the job.
    pub known: bool,
    /// A worker has it.
    pub running: bool,
    /// From the worker's last `WORK_STATUS`.
    pub numerator: u32,
    /// From the worker's last `WORK_STATUS`.
    pub denominator: u32,
}

/// What happens to a foreground job before its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A server accepted it.
    Created(JobHandle),
    /// `WORK_DATA`: a piece of the result.
    Data(Bytes),
    /// `WORK_WARNING`
    Warning(Bytes),
    /// `WORK_STATUS`
    Status {
        /// Done so far.
        numerator: u32,
        /// Out of.
        denominator: u32,
    },
}
