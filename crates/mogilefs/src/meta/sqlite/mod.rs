//! The metadata store on an SQLite file (WAL), all through rusqlite: one
//! writer connection, and read-only connections beside it for the
//! statements that only read (in WAL mode readers never wait for the
//! writer, and each statement sees the last commit).
//!
//! * the writer ([`writer`]): each operation that writes runs whole,
//!   transaction included, in one closure on a blocking thread;
//! * the readers ([`readers`]): the hottest look-ups run in place on the
//!   caller's thread, the other reads on a blocking thread;
//! * the rows are mapped once, in [`rows`].

mod admin;
mod files;
mod readers;
mod repl;
mod rows;
mod stats;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Params, Row, TransactionBehavior};

use super::{Class, Device, Domain, Host, MetaError, Namespaces, Result, Topology};
use rows::cols;

const SCHEMA: &str = include_str!("../../../migrations/sqlite/v17.sql");

/// The metadata in an SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The writer: transactions and every statement that writes.
    writer: Arc<writer::Writer>,
    /// Readers, for statements that only read.
    readers: Arc<readers::Readers>,
}

impl SqliteStore {
    /// Opens (creating if needed) the file and the v17 tables.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(path, readers::Readers::QUICK).await
    }

    /// [`SqliteStore::open`] with `quick` connections for reads in place.
    async fn open_with(path: &Path, quick: usize) -> Result<SqliteStore> {
        if path.as_os_str() == ":memory:" {
            // One database per connection: the readers would see nothing.
            return Err(MetaError::Other(
                "an in-memory SQLite database cannot be shared by the tracker's connections".into(),
            ));
        }
        let file = path.to_path_buf();
        let (writer, readers) = tokio::task::spawn_blocking(move || {
            let writer = writer::Writer::open(&file, SCHEMA)?;
            let readers = readers::Readers::open(&file, quick)?;
            Ok::<_, rusqlite::Error>((writer, readers))
        })
        .await
        .map_err(|e| MetaError::Other(format!("opening the database failed: {e}")))??;
        Ok(SqliteStore {
            writer: Arc::new(writer),
            readers: Arc::new(readers),
        })
    }

    /// Runs `f` on the writer (one hand-off to a blocking thread).
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.writer.run(f).await
    }

    /// Runs `f` on a reader on a blocking thread.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        self.readers.read(f).await
    }

    /// Runs a hot look-up in place when a reader is free for it, else as
    /// [`SqliteStore::read`] does.
    pub(super) async fn look_up<T: Send + 'static>(
        &self,
        f: impl Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        if let Some(v) = self.readers.quick(&f) {
            return Ok(v);
        }
        self.readers.read(move |c| f(c)).await
    }
}

/// The row `sql` finds, mapped.
pub(super) fn one<T>(
    c: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    c.prepare_cached(sql)?.query_row(params, map).optional()
}

/// Every row `sql` finds, mapped.
pub(super) fn all<T>(
    c: &Connection,
    sql: &str,
    params: impl Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params, map)?.collect();
    rows
}

/// The one value of a one-row query (a count, a maximum).
pub(super) fn scalar(c: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<i64> {
    c.prepare_cached(sql)?.query_row(params, |r| r.get(0))
}

pub(super) fn now() -> i64 {
    danga_common::clock::unix_now_i64()
}

impl Namespaces for SqliteStore {
    async fn domains(&self) -> Result<Vec<Domain>> {
        self.read(|c| {
            all(
                c,
                "SELECT dmid, namespace FROM domain ORDER BY dmid",
                [],
                |r| {
                    Ok(Domain {
                        dmid: r.get(0)?,
                        namespace: rows::text(r, 1)?,
                    })
                },
            )
        })
        .await
    }

    async fn domain(&self, name: &str) -> Result<Option<Domain>> {
        let name = name.to_owned();
        self.look_up(move |c| {
            one(
                c,
                "SELECT dmid FROM domain WHERE namespace = ?1",
                [&name],
                |r| {
                    Ok(Domain {
                        dmid: r.get(0)?,
                        namespace: name.clone(),
                    })
                },
            )
        })
        .await
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
        self.read(move |c| match classid {
            Some(classid) => scalar(
                c,
                "SELECT COUNT(*) FROM file WHERE dmid = ?1 AND classid = ?2",
                [dmid, classid],
            ),
            None => scalar(c, "SELECT COUNT(*) FROM file WHERE dmid = ?1", [dmid]),
        })
        .await
    }

    async fn classes(&self, dmid: Option<i64>) -> Result<Vec<Class>> {
        self.read(move |c| match dmid {
            Some(d) => all(
                c,
                concat!(
                    "SELECT ",
                    cols!(class),
                    " FROM class WHERE dmid = ?1 ORDER BY classid"
                ),
                [d],
                rows::class,
            ),
            None => all(
                c,
                concat!(
                    "SELECT ",
                    cols!(class),
                    " FROM class ORDER BY dmid, classid"
                ),
                [],
                rows::class,
            ),
        })
        .await
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
        self.read(|c| {
            all(
                c,
                concat!("SELECT ", cols!(host), " FROM host ORDER BY hostid"),
                [],
                rows::host,
            )
        })
        .await
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
        self.read(|c| {
            all(
                c,
                concat!("SELECT ", cols!(device), " FROM device ORDER BY devid"),
                [],
                rows::device,
            )
        })
        .await
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
    async fn reads_in_place_and_on_threads_alike() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("m.db");
        let store = SqliteStore::open(&path).await.expect("open");
        // The same file with no in-place readers: every read on a thread.
        let on_threads = SqliteStore::open_with(&path, 0).await.expect("open");
        assert_eq!(on_threads.readers.quick(|_| Ok(())), None);
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
        for s in [&store, &on_threads] {
            let t = s.tempfile(fid).await.expect("db").expect("tempfile");
            assert_eq!((t.dkey.as_str(), t.devids.as_str()), ("k", "1,2"));
        }
        store.close_file(fid, 4, &[2, 1]).await.expect("db");
        // The in-place readers answer themselves (no fallback).
        let quick = &store.readers;
        assert_eq!(quick.quick(|c| files::tempfile_on(c, fid)), Some(None));
        assert!(matches!(
            quick.quick(|c| files::file_on(c, 1, "k")),
            Some(Some(f)) if f.fid == fid
        ));
        assert!(matches!(
            quick.quick(|c| files::file_with_devids_on(c, 1, "k")),
            Some(Some((_, on))) if on == [1, 2]
        ));
        // Seen at once, in place as on a thread.
        let a = store.file_with_devids(1, "k").await.expect("db");
        let b = on_threads.file_with_devids(1, "k").await.expect("db");
        assert_eq!(a, b);
        assert_eq!(
            a.map(|(f, on)| (f.fid, f.length, on)),
            Some((fid, 4, vec![1, 2]))
        );
        assert_eq!(
            store.file(1, "k").await.expect("db"),
            on_threads.file(1, "k").await.expect("db")
        );
        assert_eq!(store.file(1, "none").await.expect("db"), None);
        assert_eq!(quick.quick(|c| files::devids_on(c, fid)), Some(vec![1, 2]));
        assert!(matches!(
            quick.quick(|c| files::file_by_fid_on(c, fid)),
            Some(Some(f)) if f.length == 4
        ));
        let sum = Checksum {
            fid,
            hashtype: 1,
            checksum: vec![7; 16],
        };
        store.set_checksum(&sum).await.expect("db");
        assert_eq!(
            quick.quick(|c| admin::checksum_on(c, fid)),
            Some(Some(sum.clone()))
        );
        for s in [&store, &on_threads] {
            assert_eq!(s.checksum(fid).await.expect("db"), Some(sum.clone()));
            assert_eq!(s.file_devids(fid).await.expect("db"), vec![1, 2]);
            assert_eq!(
                s.file_by_fid(fid).await.expect("db").map(|f| f.dkey),
                Some("k".to_owned())
            );
        }
        assert_eq!(store.tempfile(fid).await.expect("db"), None);
    }

    #[tokio::test]
    async fn a_failed_look_up_in_place_is_read_again_on_a_thread() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("m.db"))
            .await
            .expect("open");
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        // Fails the first time (as a busy database would), then reads.
        let n = store
            .look_up(move |c| {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err(rusqlite::Error::QueryReturnedNoRows);
                }
                scalar(c, "SELECT COUNT(*) FROM file", [])
            })
            .await
            .expect("read on a thread");
        assert_eq!(n, 0);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A reader never writes.
        let e = store
            .read(|c| c.execute("DELETE FROM file", []))
            .await
            .expect_err("read-only");
        assert!(matches!(e, MetaError::Unavailable(_)), "{e:?}");
    }
}
