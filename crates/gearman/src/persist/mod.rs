//! Durable background jobs (`-q libsqlite3`, `-q mysql`).
//!
//! A background job's row is written, and committed, before its
//! `JOB_CREATED` is sent; it is deleted when the job completes, fails or
//! throws an exception (or is dropped: `-j`, `cancel job`, `drop
//! function`); at start-up every row is submitted again. Foreground jobs
//! are never stored, as in gearmand.
//!
//! One writer task owns the database. Connections hand it the background
//! jobs of a batch and wait for their row ids; it gathers whatever requests
//! are waiting into one transaction (group commit), so many clients cost
//! one commit, not one each. Deletes ride along in the next transaction;
//! one lost in a crash only means the job runs again after the restart (at
//! least once, never lost).

mod store;

pub use sqlx::Error as DbError;
pub use store::{MySqlSettings, Store};

use tokio::sync::{mpsc, oneshot};

use crate::proto::SubmitJob;

/// At most this many jobs per transaction.
const BATCH: usize = 4096;

enum Op {
    Insert(Vec<SubmitJob>, oneshot::Sender<Result<Vec<u64>, String>>),
    Delete(Vec<u64>),
    Flush(oneshot::Sender<()>),
}

/// A handle on the writer task.
#[derive(Debug, Clone)]
pub struct Persist {
    tx: mpsc::UnboundedSender<Op>,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Insert(j, _) => write!(f, "Insert({} jobs)", j.len()),
            Op::Delete(ids) => write!(f, "Delete({ids:?})"),
            Op::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl Persist {
    /// Starts the writer task on `store`.
    pub fn start(store: Store) -> Persist {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(store, rx));
        Persist { tx }
    }

    /// Stores background jobs; their row ids, in order, once committed.
    pub async fn insert(&self, jobs: Vec<SubmitJob>) -> Result<Vec<u64>, String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Op::Insert(jobs, done))
            .map_err(|_| "the persistent queue writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the persistent queue writer stopped".to_owned())?
    }

    /// Deletes rows of jobs that ended (does not wait).
    pub fn delete(&self, ids: Vec<u64>) {
        if !ids.is_empty() && self.tx.send(Op::Delete(ids)).is_err() {
            tracing::warn!("persistent queue writer stopped: rows of finished jobs stay");
        }
    }
}

impl Persist {
    /// Resolves once everything sent before is committed (or failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Op::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::UnboundedReceiver<Op>) {
    let mut ops = Vec::new();
    while let Some(first) = rx.recv().await {
        ops.push(first);
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let mut jobs = Vec::new();
        let mut waiters = Vec::new();
        let mut done = Vec::new();
        let mut flushed = Vec::new();
        for op in ops.drain(..) {
            match op {
                Op::Insert(j, w) => {
                    waiters.push((j.len(), w));
                    jobs.extend(j);
                }
                Op::Delete(ids) => done.extend(ids),
                Op::Flush(w) => flushed.push(w),
            }
        }
        if jobs.is_empty() && done.is_empty() {
            for w in flushed {
                let _ = w.send(());
            }
            continue;
        }
        match store.write(&jobs, &done).await {
            Ok(ids) => {
                let mut ids = ids.into_iter();
                for (n, w) in waiters {
                    let _ = w.send(Ok(ids.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = jobs.len(), deletes = done.len(), "persistent queue write failed");
                for (_, w) in waiters {
                    let _ = w.send(Err(e.to_string()));
                }
            }
        }
        for w in flushed {
            let _ = w.send(());
        }
    }
}
