//! The one writer connection (rusqlite), and how its work is run: each
//! store operation that writes is one closure on a blocking thread, its
//! statements and its transaction included, so it costs one hand-off
//! however many statements it has. Write transactions begin
//! `IMMEDIATE`: the write lock is taken first, so a reader's snapshot never
//! has to be upgraded.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::meta::{MetaError, Result};

/// The writer connection.
#[derive(Debug)]
pub(super) struct Writer {
    conn: Mutex<Connection>,
    /// Whose turn it is: callers wait here, as futures, rather than as
    /// blocking threads parked on `conn`.
    turn: tokio::sync::Mutex<()>,
}

impl Writer {
    /// Opens (creating) the database file in WAL mode and runs `schema`.
    pub(super) fn open(path: &Path, schema: &str) -> rusqlite::Result<Writer> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(super::readers::STATEMENTS);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(schema)?;
        Ok(Writer {
            conn: Mutex::new(conn),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `f` on the connection on a blocking thread.
    pub(super) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        let _turn = self.turn.lock().await;
        tokio::task::spawn_blocking(move || {
            // A closure that panicked left no transaction open (rusqlite's
            // rolls back on drop): the connection is still good.
            let mut conn = me.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| MetaError::Other(format!("a database write failed: {e}")))?
        .map_err(MetaError::from)
    }
}
