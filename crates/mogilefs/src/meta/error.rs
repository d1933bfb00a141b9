//! What a store operation fails with, whichever engine answered: the
//! drivers' errors sorted once, here, into the few kinds the tracker acts
//! on (it maps them to the protocol's `ERR` codes in one place).

/// A failed store operation. The text is the driver's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// A row the operation needed is missing.
    #[error("{0}")]
    NotFound(String),
    /// A unique or primary key is taken already.
    #[error("{0}")]
    Duplicate(String),
    /// The transaction lost a lock race (deadlock victim, lock wait timed
    /// out, database busy): the same operation may succeed if run again.
    #[error("{0}")]
    Retryable(String),
    /// The database cannot be reached, opened or used (connection lost or
    /// refused, pool closed, file unreadable, disk full).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: SQL, decoding, configuration.
    #[error("{0}")]
    Other(String),
}

impl MetaError {
    /// A unique-key violation.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, MetaError::Duplicate(_))
    }

    /// Worth running the same transaction again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MetaError::Retryable(_))
    }
}

impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        use rusqlite::ErrorCode as C;
        let text = e.to_string();
        match &e {
            rusqlite::Error::QueryReturnedNoRows => MetaError::NotFound(text),
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::ConstraintViolation
                    if matches!(
                        f.extended_code,
                        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
                {
                    MetaError::Duplicate(text)
                }
                C::DatabaseBusy | C::DatabaseLocked => MetaError::Retryable(text),
                C::CannotOpen
                | C::NotADatabase
                | C::DatabaseCorrupt
                | C::SystemIoFailure
                | C::DiskFull
                | C::PermissionDenied
                | C::ReadOnly
                | C::OutOfMemory => MetaError::Unavailable(text),
                _ => MetaError::Other(text),
            },
            _ => MetaError::Other(text),
        }
    }
}

impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        let text = e.to_string();
        match &e {
            sqlx::Error::RowNotFound => MetaError::NotFound(text),
            sqlx::Error::Database(d) => {
                if d.is_unique_violation() {
                    return MetaError::Duplicate(text);
                }
                let number = d
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|m| m.number());
                match number {
                    // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
                    Some(1213 | 1205) => MetaError::Retryable(text),
                    // ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN,
                    // ER_CONNECTION_KILLED, and the client's "server has
                    // gone away" / "lost connection" family.
                    Some(1040 | 1053 | 1927 | 2002 | 2003 | 2006 | 2013) => {
                        MetaError::Unavailable(text)
                    }
                    _ => MetaError::Other(text),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => MetaError::Unavailable(text),
            _ => MetaError::Other(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_errors_are_sorted() {
        let c = rusqlite::Connection::open_in_memory().expect("db");
        c.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE, n INT NOT NULL)")
            .expect("table");
        c.execute("INSERT INTO t VALUES (1, 'x', 0)", [])
            .expect("row");
        for sql in [
            "INSERT INTO t VALUES (1, 'y', 0)",
            "INSERT INTO t VALUES (2, 'x', 0)",
        ] {
            let e = MetaError::from(c.execute(sql, []).expect_err("duplicate"));
            assert!(crate::meta::is_unique_violation(&e), "{sql}: {e:?}");
        }
        let e = MetaError::from(
            c.execute("INSERT INTO t VALUES (3, 'z', NULL)", [])
                .expect_err("not null"),
        );
        assert!(matches!(e, MetaError::Other(_)), "{e:?}");
        let e = MetaError::from(
            c.execute("INSERT INTO nope VALUES (1)", [])
                .expect_err("no table"),
        );
        assert!(matches!(e, MetaError::Other(_)), "{e:?}");
        let e = MetaError::from(
            c.query_row("SELECT a FROM t WHERE a = 9", [], |r| r.get::<_, i64>(0))
                .expect_err("no row"),
        );
        assert!(matches!(e, MetaError::NotFound(_)), "{e:?}");
    }

    #[test]
    fn a_busy_sqlite_database_is_retryable() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("busy.db");
        let a = rusqlite::Connection::open(&path).expect("a");
        a.execute_batch("CREATE TABLE t (a INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
            .expect("lock");
        let b = rusqlite::Connection::open(&path).expect("b");
        b.busy_timeout(std::time::Duration::ZERO).expect("timeout");
        let e = MetaError::from(b.execute_batch("BEGIN IMMEDIATE").expect_err("locked by a"));
        assert!(e.is_retryable(), "{e:?}");
    }

    #[test]
    fn an_unopenable_sqlite_file_is_unavailable() {
        let dir = tempfile::tempdir().expect("dir");
        let e = MetaError::from(
            rusqlite::Connection::open_with_flags(
                dir.path().join("no/such/dir/m.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
            )
            .expect_err("no file"),
        );
        assert!(matches!(e, MetaError::Unavailable(_)), "{e:?}");
    }

    #[test]
    fn sqlx_errors_are_sorted() {
        assert!(matches!(
            MetaError::from(sqlx::Error::RowNotFound),
            MetaError::NotFound(_)
        ));
        assert!(matches!(
            MetaError::from(sqlx::Error::PoolTimedOut),
            MetaError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            MetaError::from(sqlx::Error::Io(io)),
            MetaError::Unavailable(_)
        ));
        assert!(matches!(
            MetaError::from(sqlx::Error::ColumnNotFound("x".into())),
            MetaError::Other(_)
        ));
    }
}
