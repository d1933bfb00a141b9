//! The SQL: one table of background jobs, in SQLite or MySQL/MariaDB.
//! Runtime queries only (no compile-time checked macros, which would need
//! a database at build time).
//!
//! The table is this server's own (an `id` per row, so rows are deleted
//! one by one, whatever their unique id): it is not the C gearmand's
//! `gearman_queue` layout, and a database written by one is not replayed
//! by the other.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use crate::proto::{Priority, SubmitJob};

/// Where the rows live.
#[derive(Debug, Clone)]
pub enum Store {
    /// `-q libsqlite3`
    Sqlite {
        /// One connection: a single writer does all the work.
        pool: SqlitePool,
        /// Checked to be a plain identifier.
        table: String,
    },
    /// `-q mysql`
    MySql {
        /// The connection pool.
        pool: MySqlPool,
        /// Checked to be a plain identifier.
        table: String,
    },
}

/// MySQL connection settings (gearmand's `--mysql-*` flags).
#[derive(Debug, Clone, Default)]
pub struct MySqlSettings {
    /// `--mysql-host`
    pub host: String,
    /// `--mysql-port`
    pub port: u16,
    /// `--mysql-user`
    pub user: Option<String>,
    /// `--mysql-password`
    pub password: Option<String>,
    /// `--mysql-db`
    pub db: Option<String>,
}

/// A persisted job as read back.
pub type Replayed = (u64, SubmitJob);

fn check_table(table: &str) -> Result<(), sqlx::Error> {
    let ok = !table.is_empty()
        && table.len() <= 64
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("table name {table:?}: only letters, digits and _ are allowed").into(),
        ))
    }
}

fn priority_of(n: i64) -> Priority {
    match n {
        0 => Priority::High,
        2 => Priority::Low,
        _ => Priority::Normal,
    }
}

impl Store {
    /// Opens (creating) the SQLite file and its table. WAL with
    /// `synchronous=FULL`: a commit is on disk before `JOB_CREATED` goes out.
    pub async fn sqlite(path: &Path, table: &str) -> Result<Store, sqlx::Error> {
        check_table(table)?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (\
             id INTEGER PRIMARY KEY AUTOINCREMENT, \
             unique_key BLOB NOT NULL, function_name BLOB NOT NULL, \
             priority INTEGER NOT NULL, data BLOB NOT NULL, \
             when_to_run INTEGER NOT NULL, reducer BLOB)"
        );
        sqlx::query(&sql).execute(&pool).await?;
        Ok(Store::Sqlite {
            pool,
            table: table.to_owned(),
        })
    }

    /// Connects to MySQL/MariaDB and creates the table if needed.
    pub async fn mysql(s: &MySqlSettings, table: &str) -> Result<Store, sqlx::Error> {
        check_table(table)?;
        let mut opts = MySqlConnectOptions::new().host(&s.host).port(s.port);
        if let Some(u) = &s.user {
            opts = opts.username(u);
        }
        if let Some(p) = &s.password {
            opts = opts.password(p);
        }
        if let Some(db) = &s.db {
            opts = opts.database(db);
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS `{table}` (\
             id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             unique_key VARBINARY(64) NOT NULL, function_name BLOB NOT NULL, \
             priority INT NOT NULL, data LONGBLOB NOT NULL, \
             when_to_run BIGINT NOT NULL, reducer BLOB NULL) ENGINE=InnoDB"
        );
        sqlx::query(&sql).execute(&pool).await?;
        Ok(Store::MySql {
            pool,
            table: table.to_owned(),
        })
    }

    /// In one transaction: writes `jobs` (returning their row ids, in
    /// order) and deletes the rows `done`.
    pub async fn write(&self, jobs: &[SubmitJob], done: &[u64]) -> Result<Vec<u64>, sqlx::Error> {
        let mut ids = Vec::with_capacity(jobs.len());
        match self {
            Store::Sqlite { pool, table } => {
                let mut conn = pool.acquire().await?;
                let r = Self::write_sqlite(&mut conn, table, jobs, done, &mut ids).await;
                if r.is_err() {
                    // A failed write (a full disk) can leave SQLite's own
                    // transaction state and sqlx's idea of it apart: the
                    // next BEGIN became a SAVEPOINT inside a transaction
                    // nobody commits, so later jobs were acknowledged
                    // without being on disk. The connection is closed,
                    // not reused; the next write opens a fresh one.
                    let _ = conn.close().await;
                }
                r?;
            }
            Store::MySql { pool, table } => {
                let mut conn = pool.acquire().await?;
                let r = Self::write_mysql(&mut conn, table, jobs, done, &mut ids).await;
                if r.is_err() {
                    // As above: a connection whose write failed is not
                    // trusted with the next transaction.
                    let _ = conn.close().await;
                }
                r?;
            }
        }
        Ok(ids)
    }

    async fn write_sqlite(
        conn: &mut sqlx::SqliteConnection,
        table: &str,
        jobs: &[SubmitJob],
        done: &[u64],
        ids: &mut Vec<u64>,
    ) -> Result<(), sqlx::Error> {
        use sqlx::Connection as _;
        let mut tx = conn.begin().await?;
        let insert = format!(
            "INSERT INTO \"{table}\" (unique_key, function_name, priority, data, when_to_run, reducer) VALUES (?, ?, ?, ?, ?, ?)"
        );
        for j in jobs {
            let r = sqlx::query(&insert)
                .bind(&j.unique[..])
                .bind(&j.function[..])
                .bind(j.priority.index() as i64)
                .bind(&j.data[..])
                .bind(j.when.unwrap_or(0))
                .bind(j.reducer.as_deref())
                .execute(&mut *tx)
                .await?;
            ids.push(u64::try_from(r.last_insert_rowid()).unwrap_or(0));
        }
        let delete = format!("DELETE FROM \"{table}\" WHERE id = ?");
        for &id in done {
            let id = i64::try_from(id).unwrap_or(i64::MAX);
            sqlx::query(&delete).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn write_mysql(
        conn: &mut sqlx::MySqlConnection,
        table: &str,
        jobs: &[SubmitJob],
        done: &[u64],
        ids: &mut Vec<u64>,
    ) -> Result<(), sqlx::Error> {
        use sqlx::Connection as _;
        let mut tx = conn.begin().await?;
        let insert = format!(
            "INSERT INTO `{table}` (unique_key, function_name, priority, data, when_to_run, reducer) VALUES (?, ?, ?, ?, ?, ?)"
        );
        for j in jobs {
            let r = sqlx::query(&insert)
                .bind(&j.unique[..])
                .bind(&j.function[..])
                .bind(j.priority.index() as i64)
                .bind(&j.data[..])
                .bind(j.when.unwrap_or(0))
                .bind(j.reducer.as_deref())
                .execute(&mut *tx)
                .await?;
            ids.push(r.last_insert_id());
        }
        let delete = format!("DELETE FROM `{table}` WHERE id = ?");
        for &id in done {
            sqlx::query(&delete).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every stored job, oldest first.
    pub async fn load(&self) -> Result<Vec<Replayed>, sqlx::Error> {
        fn job<R: Row>(r: &R) -> Result<Replayed, sqlx::Error>
        where
            for<'a> &'a str: sqlx::ColumnIndex<R>,
            for<'a> Vec<u8>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> Option<Vec<u8>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        {
            let id: i64 = r.try_get("id")?;
            let when: i64 = r.try_get("when_to_run")?;
            let reducer: Option<Vec<u8>> = r.try_get("reducer")?;
            Ok((
                u64::try_from(id).unwrap_or(0),
                SubmitJob {
                    function: Bytes::from(r.try_get::<Vec<u8>, _>("function_name")?),
                    unique: Bytes::from(r.try_get::<Vec<u8>, _>("unique_key")?),
                    data: Bytes::from(r.try_get::<Vec<u8>, _>("data")?),
                    priority: priority_of(r.try_get("priority")?),
                    background: true,
                    when: (when != 0).then_some(when),
                    reducer: reducer.map(Bytes::from),
                },
            ))
        }
        match self {
            Store::Sqlite { pool, table } => {
                let sql = format!(
                    "SELECT id, unique_key, function_name, priority, data, when_to_run, reducer FROM \"{table}\" ORDER BY id"
                );
                let rows = sqlx::query(&sql).fetch_all(pool).await?;
                rows.iter().map(job).collect()
            }
            Store::MySql { pool, table } => {
                let sql = format!(
                    "SELECT CAST(id AS SIGNED) AS id, unique_key, function_name, CAST(priority AS SIGNED) AS priority, data, when_to_run, reducer FROM `{table}` ORDER BY id"
                );
                let rows = sqlx::query(&sql).fetch_all(pool).await?;
                rows.iter().map(job).collect()
            }
        }
    }
}
