//! The one writer connection (rusqlite), and how its work is run: each
//! store operation that writes is one closure on a blocking thread, its
//! statements and its transaction included, so it costs one hand-off
//! however many statements it has (an sqlx statement is a round trip to
//! the connection's own thread each). Write transactions begin
//! `IMMEDIATE`: the write lock is taken first, so a reader's snapshot never
//! has to be upgraded.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sqlx::error::{DatabaseError, ErrorKind};

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
        .map_err(|_| MetaError::WorkerCrashed)?
        .map_err(failure)
    }
}

/// A rusqlite error as the store's error type.
pub(super) fn failure(e: rusqlite::Error) -> MetaError {
    MetaError::Database(Box::new(SqliteFailure {
        message: e.to_string(),
        extended: match &e {
            rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
            _ => None,
        },
        code: e.sqlite_error_code(),
    }))
}

/// An SQLite error with the kind sqlx would give it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(super) struct SqliteFailure {
    message: String,
    extended: Option<i32>,
    code: Option<ErrorCode>,
}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.extended.map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // SQLITE_CONSTRAINT_{UNIQUE, PRIMARYKEY, FOREIGNKEY, NOTNULL, CHECK}
        match (self.code, self.extended) {
            (Some(ErrorCode::ConstraintViolation), Some(2067 | 1555)) => ErrorKind::UniqueViolation,
            (Some(ErrorCode::ConstraintViolation), Some(787)) => ErrorKind::ForeignKeyViolation,
            (Some(ErrorCode::ConstraintViolation), Some(1299)) => ErrorKind::NotNullViolation,
            (Some(ErrorCode::ConstraintViolation), Some(275)) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_are_seen_as_such() {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)")
            .expect("table");
        c.execute("INSERT INTO t VALUES (1, 'x')", []).expect("row");
        for sql in [
            "INSERT INTO t VALUES (1, 'y')",
            "INSERT INTO t VALUES (2, 'x')",
        ] {
            let e = failure(c.execute(sql, []).expect_err("duplicate"));
            assert!(crate::meta::is_unique_violation(&e), "{sql}: {e}");
        }
        let e = failure(
            c.execute("INSERT INTO nope VALUES (1)", [])
                .expect_err("no table"),
        );
        assert!(!crate::meta::is_unique_violation(&e));
    }
}
