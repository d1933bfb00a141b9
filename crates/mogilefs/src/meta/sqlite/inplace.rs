//! The hottest reads (get_paths' file and replicas, create_close's
//! tempfile, the replicator's file, replicas and checksum), run in place on
//! the calling thread through rusqlite.
//!
//! An sqlx SQLite statement is a round trip to the connection's own thread:
//! two thread wake-ups, which on a busy two-core machine cost several times
//! what the look-up itself does (a few microseconds on a warm database). A
//! read here never waits: if every in-place connection is in use, or SQLite
//! answers anything but rows (busy, a decoding surprise), the caller falls
//! back to the sqlx readers, which answer exactly as before. In WAL mode a
//! reader sees the last commit and never blocks the writer.
//!
//! The bet is a database that mostly sits in the page cache, as SQLite
//! ones for a tracker do; on one much larger than memory a look-up here
//! would wait for the disk on a runtime thread.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use crate::meta::{Checksum, FileRow, TempFile};

/// In-place connections (the tracker's runtime has one worker per core).
const CONNS: usize = 2;

/// Connections for reads in place, each used by one thread at a time.
#[derive(Debug)]
pub(super) struct InPlace {
    conns: Vec<Mutex<Connection>>,
}

impl InPlace {
    /// Opens the connections on the database the writer created (`None`
    /// when that fails: every read then goes through sqlx).
    pub(super) fn open(path: &Path) -> Option<InPlace> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let c = Connection::open_with_flags(path, flags)
                .map_err(|e| tracing::debug!(error = %e, "no in-place SQLite reader"))
                .ok()?;
            // Never wait long in place: a busy database is read through sqlx.
            c.busy_timeout(Duration::from_millis(20)).ok()?;
            conns.push(Mutex::new(c));
        }
        Some(InPlace { conns })
    }

    /// Runs `f` on a free connection; `None` when none is free or `f`
    /// fails (the caller then asks sqlx).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let conn = self.conns.iter().find_map(|c| c.try_lock().ok())?;
        f(&conn)
            .map_err(|e| tracing::debug!(error = %e, "in-place read failed; asking sqlx"))
            .ok()
    }

    /// A file by key and the devices holding it.
    pub(super) fn file_with_devids(
        &self,
        dmid: i64,
        dkey: &str,
    ) -> Option<Option<(FileRow, Vec<i64>)>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT f.fid, f.dmid, f.dkey, f.length, f.classid, f.devcount, o.devid \
                 FROM file f LEFT JOIN file_on o ON o.fid = f.fid \
                 WHERE f.dmid = ?1 AND f.dkey = ?2 ORDER BY o.devid",
            )?;
            let mut rows = st.query((dmid, dkey))?;
            let mut found: Option<(FileRow, Vec<i64>)> = None;
            while let Some(r) = rows.next()? {
                let devid: Option<i64> = r.get(6)?;
                let entry = match &mut found {
                    Some(e) => e,
                    None => found.insert((file(r)?, Vec::new())),
                };
                entry.1.extend(devid);
            }
            Ok(found)
        })
    }

    /// A file by key.
    pub(super) fn file(&self, dmid: i64, dkey: &str) -> Option<Option<FileRow>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT fid, dmid, dkey, length, classid, devcount FROM file \
                 WHERE dmid = ?1 AND dkey = ?2",
            )?
            .query_row((dmid, dkey), file)
            .optional()
        })
    }

    /// A file by fid.
    pub(super) fn file_by_fid(&self, fid: i64) -> Option<Option<FileRow>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT fid, dmid, dkey, length, classid, devcount FROM file WHERE fid = ?1",
            )?
            .query_row([fid], file)
            .optional()
        })
    }

    /// The devices holding a fid, by devid.
    pub(super) fn file_devids(&self, fid: i64) -> Option<Vec<i64>> {
        self.with(|c| {
            let mut st =
                c.prepare_cached("SELECT devid FROM file_on WHERE fid = ?1 ORDER BY devid")?;
            let rows = st.query_map([fid], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// A file's checksum row.
    pub(super) fn checksum(&self, fid: i64) -> Option<Option<Checksum>> {
        self.with(|c| {
            c.prepare_cached("SELECT fid, hashtype, checksum FROM checksum WHERE fid = ?1")?
                .query_row([fid], |r| {
                    Ok(Checksum {
                        fid: r.get(0)?,
                        hashtype: r.get(1)?,
                        checksum: r.get(2)?,
                    })
                })
                .optional()
        })
    }

    /// A tempfile row.
    pub(super) fn tempfile(&self, fid: i64) -> Option<Option<TempFile>> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT fid, createtime, classid, dmid, dkey, devids FROM tempfile WHERE fid = ?1",
            )?
            .query_row([fid], |r| {
                Ok(TempFile {
                    fid: r.get(0)?,
                    createtime: r.get(1)?,
                    classid: r.get(2)?,
                    dmid: r.get(3)?,
                    dkey: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    devids: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                })
            })
            .optional()
        })
    }
}

/// A `file` row from its first six columns (as `super::file` reads them).
fn file(r: &Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        fid: r.get(0)?,
        dmid: r.get(1)?,
        dkey: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        length: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
        classid: r.get(4)?,
        devcount: r.get(5)?,
    })
}
