//! The metadata store on an SQLite file (WAL): one writer connection, and
//! a few reader connections beside it for the statements that only read
//! (in WAL mode readers never wait for the writer, and each statement sees
//! the last commit).
//!
//! Each sqlx SQLite connection is a thread, and a statement is a round trip
//! to it. The connections are held here, each behind a lock, rather than in
//! an sqlx pool: a pool pings a connection every time it is given back,
//! which doubles the round trips of a one-statement command.

mod admin;
mod files;
mod inplace;
mod repl;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use tokio::sync::{Mutex, MutexGuard};

use super::{Class, Device, Domain, FileRow, Host, Namespaces, Result, Topology};

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
    writer: Arc<Conns>,
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
        let writer = Arc::new(Conns::open(&opts, 1).await?);
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *writer.get().await)
            .await?;
        // An in-memory database is one per connection: it has no readers.
        let (readers, inplace) = if path.as_os_str() == ":memory:" {
            (writer.clone(), None)
        } else {
            (
                Arc::new(Conns::open(&opts, READERS).await?),
                inplace::InPlace::open(path).map(Arc::new),
            )
        };
        Ok(SqliteStore {
            writer,
            readers,
            inplace,
        })
    }

    /// The writer connection.
    pub(super) async fn write(&self) -> MutexGuard<'_, SqliteConnection> {
        self.writer.get().await
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
        classname: r
            .try_get::<Option<String>, _>("classname")?
            .unwrap_or_default(),
        mindevcount: r.try_get("mindevcount")?,
        replpolicy: r.try_get("replpolicy")?,
        hashtype: r.try_get("hashtype")?,
    })
}

pub(super) fn host(r: &SqliteRow) -> Result<Host> {
    Ok(Host {
        hostid: r.try_get("hostid")?,
        status: r
            .try_get::<Option<String>, _>("status")?
            .unwrap_or_default(),
        hostname: r
            .try_get::<Option<String>, _>("hostname")?
            .unwrap_or_default(),
        hostip: r
            .try_get::<Option<String>, _>("hostip")?
            .unwrap_or_default(),
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
        status: r
            .try_get::<Option<String>, _>("status")?
            .unwrap_or_default(),
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
        dkey: r.try_get::<Option<String>, _>("dkey")?.unwrap_or_default(),
        length: r.try_get::<Option<i64>, _>("length")?.unwrap_or(0),
        classid: r.try_get("classid")?,
        devcount: r.try_get("devcount")?,
    })
}

pub(super) fn now() -> i64 {
    i64::try_from(crate::storage::unix_now()).unwrap_or(i64::MAX)
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
                    namespace: r
                        .try_get::<Option<String>, _>("namespace")?
                        .unwrap_or_default(),
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
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM domain WHERE namespace = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let dmid: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(dmid), 0) + 1 FROM domain")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO domain (dmid, namespace) VALUES (?, ?)")
            .bind(dmid)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(dmid))
    }

    async fn delete_domain(&self, dmid: i64) -> Result<()> {
        sqlx::query("DELETE FROM domain WHERE dmid = ?")
            .bind(dmid)
            .execute(&mut *self.write().await)
            .await?;
        Ok(())
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
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM class WHERE dmid = ? AND classname = ?")
            .bind(c.dmid)
            .bind(&c.classname)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let classid: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(classid), 0) + 1 FROM class WHERE dmid = ?")
                .bind(c.dmid)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO class (dmid, classid, classname, mindevcount, replpolicy, hashtype) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(c.dmid)
        .bind(classid)
        .bind(&c.classname)
        .bind(c.mindevcount)
        .bind(&c.replpolicy)
        .bind(c.hashtype)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(classid))
    }

    async fn update_class(&self, c: &Class) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE class SET mindevcount = ?, replpolicy = ?, hashtype = ? \
             WHERE dmid = ? AND classname = ?",
        )
        .bind(c.mindevcount)
        .bind(&c.replpolicy)
        .bind(c.hashtype)
        .bind(c.dmid)
        .bind(&c.classname)
        .execute(&mut *self.write().await)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_class(&self, dmid: i64, classid: i64) -> Result<()> {
        sqlx::query("DELETE FROM class WHERE dmid = ? AND classid = ?")
            .bind(dmid)
            .bind(classid)
            .execute(&mut *self.write().await)
            .await?;
        Ok(())
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
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let hostid: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(hostid), 0) + 1 FROM host")
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO host (hostid, status, http_port, http_get_port, hostname, hostip, \
             altip, altmask) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(hostid)
        .bind(&h.status)
        .bind(h.http_port)
        .bind(h.http_get_port)
        .bind(&h.hostname)
        .bind(&h.hostip)
        .bind(&h.altip)
        .bind(&h.altmask)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(hostid)
    }

    async fn update_host(&self, h: &Host) -> Result<()> {
        sqlx::query(
            "UPDATE host SET status = ?, http_port = ?, http_get_port = ?, hostname = ?, \
             hostip = ?, altip = ?, altmask = ? WHERE hostid = ?",
        )
        .bind(&h.status)
        .bind(h.http_port)
        .bind(h.http_get_port)
        .bind(&h.hostname)
        .bind(&h.hostip)
        .bind(&h.altip)
        .bind(&h.altmask)
        .bind(h.hostid)
        .execute(&mut *self.write().await)
        .await?;
        Ok(())
    }

    async fn delete_host(&self, hostid: i64) -> Result<()> {
        sqlx::query("DELETE FROM host WHERE hostid = ?")
            .bind(hostid)
            .execute(&mut *self.write().await)
            .await?;
        Ok(())
    }

    async fn devices(&self) -> Result<Vec<Device>> {
        let rows = sqlx::query("SELECT * FROM device ORDER BY devid")
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter().map(device).collect()
    }

    async fn create_device(&self, d: &Device) -> Result<bool> {
        let r = sqlx::query(
            "INSERT OR IGNORE INTO device (devid, hostid, status, weight) VALUES (?, ?, ?, ?)",
        )
        .bind(d.devid)
        .bind(d.hostid)
        .bind(&d.status)
        .bind(d.weight)
        .execute(&mut *self.write().await)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_device(
        &self,
        devid: i64,
        status: Option<&str>,
        weight: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE device SET status = COALESCE(?, status), weight = COALESCE(?, weight) \
             WHERE devid = ?",
        )
        .bind(status)
        .bind(weight)
        .bind(devid)
        .execute(&mut *self.write().await)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Files, TempFile};

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
        assert_eq!(store.tempfile(fid).await.expect("db"), None);
    }
}
