//! The metadata store on an SQLite file (WAL): one writer connection, and
//! reader connections beside it for the statements that only read (in WAL
//! mode readers never wait for the writer, and each statement sees the last
//! commit).
//!
//! * the writer is a rusqlite connection ([`writer`]): each operation that
//!   writes runs whole, transaction included, in one closure on a blocking
//!   thread;
//! * the hottest look-ups (get_paths', create_close's) run in place on
//!   rusqlite connections ([`inplace`]);
//! * the other reads go to sqlx connections. Each sqlx SQLite connection is
//!   a thread and a statement a round trip to it; they are held here, each
//!   behind a lock, rather than in an sqlx pool, which pings a connection
//!   each time it is given back.
//!
//! rusqlite and sqlx link the same libsqlite3.

mod admin;
mod files;
mod inplace;
mod repl;
mod stats;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};
use tokio::sync::{Mutex, MutexGuard};

use super::{Class, Device, Domain, FileRow, Host, MetaError, Namespaces, Result, Topology};

const SCHEMA: &str = include_str!("../../../migrations/sqlite/v17.sql");

/// Reader connections beside the writer.
const READERS: usize = 3;

/// Open connections, each used by one caller at a time.
#[derive(Debug)]
struct Conns {
    conns: Vec<Mutex<SqliteConnection>>,
    next: AtomicUsize,
}

impl Conns {
    async fn open(opts: &SqliteConnectOptions, n: usize) -> Result<Conns> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            conns.push(Mutex::new(opts.connect().await?));
        }
        Ok(Conns {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// An idle connection, else the next one in turn once it is free.
    async fn get(&self) -> MutexGuard<'_, SqliteConnection> {
        for c in &self.conns {
            if let Ok(g) = c.try_lock() {
                return g;
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock().await
    }
}

/// The metadata in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The writer: transactions and every statement that writes.
    writer: Arc<writer::Writer>,
    /// Readers, for statements that only read.
    readers: Arc<Conns>,
    /// Readers for the hottest look-ups, run in place (see [`inplace`]).
    inplace: Option<Arc<inplace::InPlace>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the file and the v17 tables.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        if path.as_os_str() == ":memory:" {
            // One database per connection: the readers would see nothing.
            return Err(MetaError::Configuration(
                "an in-memory SQLite database cannot be shared by the tracker's connections".into(),
            ));
        }
        let file = path.to_path_buf();
        let writer = tokio::task::spawn_blocking(move || writer::Writer::open(&file, SCHEMA))
            .await
            .map_err(|_| MetaError::WorkerCrashed)?
            .map_err(writer::failure)?;
        let writer = Arc::new(writer);
        let readers = Arc::new(Conns::open(&opts, READERS).await?);
        let inplace = inplace::InPlace::open(path).map(Arc::new);
        Ok(SqliteStore {
            writer,
            readers,
            inplace,
        })
    }

    /// Runs `f` on the writer (one hand-off to a blocking thread).
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.writer.run(f).await
    }

    /// A reader connection.
    pub(super) async fn read(&self) -> MutexGuard<'_, SqliteConnection> {
        self.readers.get().await
    }
}

pub(super) fn class(r: &SqliteRow) -> Result<Class> {
    Ok(Class {
        dmid: r.try_get("dmid")?,
        classid: r.try_get("classid")?,
        classname: text(r, "classname")?,
        mindevcount: r.try_get("mindevcount")?,
        replpolicy: r.try_get("replpolicy")?,
        hashtype: r.try_get("hashtype")?,
    })
}

/// A text column, NULL read as empty.
pub(super) fn text(r: &SqliteRow, col: &str) -> Result<String> {
    Ok(r.try_get::<Option<String>, _>(col)?.unwrap_or_default())
}

pub(super) fn host(r: &SqliteRow) -> Result<Host> {
    Ok(Host {
        hostid: r.try_get("hostid")?,
        status: text(r, "status")?,
        hostname: text(r, "hostname")?,
        hostip: text(r, "hostip")?,
        http_port: r.try_get::<Option<i64>, _>("http_port")?.unwrap_or(7500),
        http_get_port: r.try_get("http_get_port")?,
        altip: r.try_get("altip")?,
        altmask: r.try_get("altmask")?,
    })
}

pub(super) fn device(r: &SqliteRow) -> Result<Device> {
    Ok(Device {
        devid: r.try_get("devid")?,
        hostid: r.try_get("hostid")?,
        status: text(r, "status")?,
        weight: r.try_get::<Option<i64>, _>("weight")?.unwrap_or(100),
        mb_total: r.try_get("mb_total")?,
        mb_used: r.try_get("mb_used")?,
        mb_asof: r.try_get("mb_asof")?,
    })
}

pub(super) fn file(r: &SqliteRow) -> Result<FileRow> {
    Ok(FileRow {
        fid: r.try_get("fid")?,
        dmid: r.try_get("dmid")?,
        dkey: text(r, "dkey")?,
        length: r.try_get::<Option<i64>, _>("length")?.unwrap_or(0),
        classid: r.try_get("classid")?,
        devcount: r.try_get("devcount")?,
    })
}

pub(super) fn now() -> i64 {
    danga_common::clock::unix_now_i64()
}

impl Namespaces for SqliteStore {
    async fn domains(&self) -> Result<Vec<Domain>> {
        let rows = sqlx::query("SELECT dmid, namespace FROM domain ORDER BY dmid")
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Domain {
                    dmid: r.try_get("dmid")?,
                    namespace: text(r, "namespace")?,
                })
            })
            .collect()
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let row = sqlx::query("SELECT dmid FROM domain WHERE namespace = ?")
            .bind(name)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.map(|r| {
            Ok(Domain {
                dmid: r.try_get("dmid")?,
                namespace: name.to_owned(),
            })
        })
        .transpose()
    }

    async fn create_domain(&self, name: &str) -> Result<Option<i64>> {
        let name = name.to_owned();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM domain WHERE namespace = ?1")?
                .query_row([&name], |_| Ok(()))
                .optional()?;
            if exists.is_some() {
                return Ok(None);
            }
            let dmid: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(dmid), 0) + 1 FROM domain")?
                .query_row([], |r| r.get(0))?;
            tx.prepare_cached("INSERT INTO domain (dmid, namespace) VALUES (?1, ?2)")?
                .execute((dmid, &name))?;
            tx.commit()?;
            Ok(Some(dmid))
        })
        .await
    }

    async fn delete_domain(&self, dmid: i64) -> Result<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM class WHERE dmid = ?1")?
                .execute([dmid])?;
            tx.prepare_cached("DELETE FROM domain WHERE dmid = ?1")?
                .execute([dmid])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn count_files(&self, dmid: i64, classid: Option<i64>) -> Result<i64> {
        let q = match classid {
            Some(c) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM file WHERE dmid = ? AND classid = ?")
                    .bind(dmid)
                    .bind(c)
            }
            None => sqlx::query_scalar("SELECT COUNT(*) FROM file WHERE dmid = ?").bind(dmid),
        };
        q.fetch_one(&mut *self.read().await).await
    }

    async fn classes(&self, dmid: Option<i64>) -> Result<Vec<Class>> {
        let sql = "SELECT dmid, classid, classname, mindevcount, replpolicy, hashtype FROM class";
        let rows = match dmid {
            Some(d) => {
                sqlx::query(&format!("{sql} WHERE dmid = ? ORDER BY classid"))
                    .bind(d)
                    .fetch_all(&mut *self.read().await)
                    .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY dmid, classid"))
                    .fetch_all(&mut *self.read().await)
                    .await?
            }
        };
        rows.iter().map(class).collect()
    }

    async fn create_class(&self, c: &Class) -> Result<Option<i64>> {
        let class = c.clone();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM class WHERE dmid = ?1 AND classname = ?2")?
                .query_row((class.dmid, &class.classname), |_| Ok(()))
                .optional()?;
            if exists.is_some() {
                return Ok(None);
            }
            let classid: i64 = if class.classname == super::DEFAULT_CLASS {
                0
            } else {
                tx.prepare_cached(
                    "SELECT COALESCE(MAX(classid), 0) + 1 FROM class WHERE dmid = ?1",
                )?
                .query_row([class.dmid], |r| r.get(0))?
            };
            tx.prepare_cached(
                "INSERT INTO class (dmid, classid, classname, mindevcount, replpolicy, hashtype) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute((
                class.dmid,
                classid,
                &class.classname,
                class.mindevcount,
                &class.replpolicy,
                class.hashtype,
            ))?;
            tx.commit()?;
            Ok(Some(classid))
        })
        .await
    }

    async fn update_class(&self, c: &Class) -> Result<bool> {
        let class = c.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE class SET mindevcount = ?1, replpolicy = ?2, hashtype = ?3 \
                 WHERE dmid = ?4 AND classname = ?5",
                )?
                .execute((
                    class.mindevcount,
                    &class.replpolicy,
                    class.hashtype,
                    class.dmid,
                    &class.classname,
                ))?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_class(&self, dmid: i64, classid: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM class WHERE dmid = ?1 AND classid = ?2")?
                .execute([dmid, classid])?;
            Ok(())
        })
        .await
    }
}

impl Topology for SqliteStore {
    async fn hosts(&self) -> Result<Vec<Host>> {
        let rows = sqlx::query("SELECT * FROM host ORDER BY hostid")
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter().map(host).collect()
    }

    async fn create_host(&self, h: &Host) -> Result<i64> {
        let h = h.clone();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let hostid: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(hostid), 0) + 1 FROM host")?
                .query_row([], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO host (hostid, status, http_port, http_get_port, hostname, hostip, \
                 altip, altmask) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute((
                hostid,
                &h.status,
                h.http_port,
                h.http_get_port,
                &h.hostname,
                &h.hostip,
                &h.altip,
                &h.altmask,
            ))?;
            tx.commit()?;
            Ok(hostid)
        })
        .await
    }

    async fn update_host(&self, h: &Host) -> Result<()> {
        let h = h.clone();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE host SET status = ?1, http_port = ?2, http_get_port = ?3, hostname = ?4, \
                 hostip = ?5, altip = ?6, altmask = ?7 WHERE hostid = ?8",
            )?
            .execute((
                &h.status,
                h.http_port,
                h.http_get_port,
                &h.hostname,
                &h.hostip,
                &h.altip,
                &h.altmask,
                h.hostid,
            ))?;
            Ok(())
        })
        .await
    }

    async fn delete_host(&self, hostid: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM host WHERE hostid = ?1")?
                .execute([hostid])?;
            Ok(())
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        let rows = sqlx::query("SELECT * FROM device ORDER BY devid")
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter().map(device).collect()
    }

    async fn create_device(&self, d: &Device) -> Result<bool> {
        let d = d.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO device (devid, hostid, status, weight) \
                 VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute((d.devid, d.hostid, &d.status, d.weight))?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_device(
        &self,
        devid: i64,
        status: Option<&str>,
        weight: Option<i64>,
    ) -> Result<()> {
        let status = status.map(str::to_owned);
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE device SET status = COALESCE(?1, status), weight = COALESCE(?2, weight) \
                 WHERE devid = ?3",
            )?
            .execute((status, weight, devid))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Admin, Checksum, Files, TempFile};

    #[tokio::test]
    async fn reads_in_place_and_through_sqlx_alike() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("m.db"))
            .await
            .expect("open");
        assert!(store.inplace.is_some(), "in-place readers open");
        let through_sqlx = SqliteStore {
            inplace: None,
            ..store.clone()
        };
        let temp = TempFile {
            fid: 0,
            createtime: 0,
            classid: 0,
            dmid: 1,
            dkey: "k".into(),
            devids: "1,2".into(),
        };
        let fid = store
            .create_tempfile(&temp, None)
            .await
            .expect("db")
            .expect("fid");
        for s in [&store, &through_sqlx] {
            let t = s.tempfile(fid).await.expect("db").expect("tempfile");
            assert_eq!((t.dkey.as_str(), t.devids.as_str()), ("k", "1,2"));
        }
        store.close_file(fid, 4, &[2, 1]).await.expect("db");
        // The in-place readers answer themselves (no fallback).
        let inplace = store.inplace.as_ref().expect("in place");
        assert_eq!(inplace.tempfile(fid), Some(None));
        assert!(matches!(inplace.file(1, "k"), Some(Some(f)) if f.fid == fid));
        assert!(matches!(inplace.file_with_devids(1, "k"), Some(Some((_, on))) if on == [1, 2]));
        // Seen at once, in place as through sqlx.
        let a = store.file_with_devids(1, "k").await.expect("db");
        let b = through_sqlx.file_with_devids(1, "k").await.expect("db");
        assert_eq!(a, b);
        assert_eq!(
            a.map(|(f, on)| (f.fid, f.length, on)),
            Some((fid, 4, vec![1, 2]))
        );
        assert_eq!(
            store.file(1, "k").await.expect("db"),
            through_sqlx.file(1, "k").await.expect("db")
        );
        assert_eq!(store.file(1, "none").await.expect("db"), None);
        assert_eq!(inplace.file_devids(fid), Some(vec![1, 2]));
        assert!(matches!(inplace.file_by_fid(fid), Some(Some(f)) if f.length == 4));
        let sum = Checksum {
            fid,
            hashtype: 1,
            checksum: vec![7; 16],
        };
        store.set_checksum(&sum).await.expect("db");
        assert_eq!(inplace.checksum(fid), Some(Some(sum.clone())));
        for s in [&store, &through_sqlx] {
            assert_eq!(s.checksum(fid).await.expect("db"), Some(sum.clone()));
            assert_eq!(s.file_devids(fid).await.expect("db"), vec![1, 2]);
            assert_eq!(
                s.file_by_fid(fid).await.expect("db").map(|f| f.dkey),
                Some("k".to_owned())
            );
        }
        assert_eq!(store.tempfile(fid).await.expect("db"), None);
    }
}
