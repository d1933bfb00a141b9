//! The reader connections: rusqlite, read-only, beside the writer. In WAL
//! mode a reader sees the last commit and never waits for the writer.
//!
//! * [`Readers::quick`]: the hottest look-ups (get_paths', create_close's,
//!   the replicator's) run in place, on the calling thread, on connections
//!   of their own, and never wait: when none is free, or SQLite answers
//!   anything but rows (busy, a decoding surprise), the caller reads as
//!   below instead. A warm look-up takes a few microseconds; handing it to
//!   another thread costs two thread wake-ups, several times that on a busy
//!   two-core machine. The bet is a database that mostly sits in the page
//!   cache, as a tracker's SQLite one does; on one much larger than memory
//!   a look-up here would wait for the disk on a runtime thread.
//! * [`Readers::read`]: every other read, on a blocking thread, on one of a
//!   few connections (callers beyond that wait as futures).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::meta::{MetaError, Result};

/// Connections for reads in place (the tracker's runtime has one worker
/// per core).
const QUICK: usize = 2;
/// Connections for reads on blocking threads.
const POOLED: usize = 3;
/// Prepared statements kept per connection (the store has a few dozen).
pub(super) const STATEMENTS: usize = 64;

/// The reader connections.
#[derive(Debug)]
pub(super) struct Readers {
    quick: Vec<Mutex<Connection>>,
    pooled: Vec<Mutex<Connection>>,
    /// One permit per pooled connection.
    free: Arc<Semaphore>,
}

impl Readers {
    /// Opens the connections on the database the writer created; `quick`
    /// of them for reads in place.
    pub(super) fn open(path: &Path, quick: usize) -> rusqlite::Result<Readers> {
        let open = |busy: Duration| -> rusqlite::Result<Mutex<Connection>> {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let c = Connection::open_with_flags(path, flags)?;
            c.busy_timeout(busy)?;
            c.set_prepared_statement_cache_capacity(STATEMENTS);
            Ok(Mutex::new(c))
        };
        Ok(Readers {
            // Never wait long in place: a busy database is read off the
            // runtime's threads.
            quick: (0..quick)
                .map(|_| open(Duration::from_millis(20)))
                .collect::<rusqlite::Result<_>>()?,
            pooled: (0..POOLED)
                .map(|_| open(Duration::from_secs(10)))
                .collect::<rusqlite::Result<_>>()?,
            free: Arc::new(Semaphore::new(POOLED)),
        })
    }

    /// The default number of in-place connections.
    pub(super) const QUICK: usize = QUICK;

    /// Runs `f` in place on a free connection; `None` when none is free or
    /// `f` fails (the caller then uses [`Readers::read`]).
    pub(super) fn quick<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let conn = self.quick.iter().find_map(try_lock)?;
        f(&conn)
            .map_err(|e| tracing::debug!(error = %e, "in-place read failed; reading on a thread"))
            .ok()
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    pub(super) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = Arc::clone(&self.free)
            .acquire_owned()
            .await
            .map_err(|_| MetaError::Unavailable("the database readers are closed".into()))?;
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held until `f` is done, even if the caller went away.
            let _permit = permit;
            let conn = match me.pooled.iter().find_map(try_lock) {
                Some(c) => c,
                None => lock(&me.pooled[0]),
            };
            f(&conn)
        })
        .await
        .map_err(|e| MetaError::Other(format!("a database read failed: {e}")))?
        .map_err(MetaError::from)
    }
}

/// A connection left by a panicking closure is still good: its statements
/// are reset when dropped.
pub(super) fn lock(c: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

fn try_lock(c: &Mutex<Connection>) -> Option<MutexGuard<'_, Connection>> {
    match c.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
