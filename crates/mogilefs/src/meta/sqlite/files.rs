//! Files, replicas, the fid allocator and the delete queue on SQLite.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::rows::{self, cols};
use super::{all, now, one, SqliteStore};
use crate::meta::{Closed, FileRow, Files, Renamed, Result, TempFile};

/// A tempfile row.
pub(super) fn tempfile_on(c: &Connection, fid: i64) -> rusqlite::Result<Option<TempFile>> {
    one(
        c,
        concat!("SELECT ", cols!(temp), " FROM tempfile WHERE fid = ?1"),
        [fid],
        rows::tempfile,
    )
}

/// A file by key.
pub(super) fn file_on(c: &Connection, dmid: i64, dkey: &str) -> rusqlite::Result<Option<FileRow>> {
    one(
        c,
        concat!(
            "SELECT ",
            cols!(file),
            " FROM file WHERE dmid = ?1 AND dkey = ?2"
        ),
        (dmid, dkey),
        rows::file,
    )
}

/// A file by fid.
pub(super) fn file_by_fid_on(c: &Connection, fid: i64) -> rusqlite::Result<Option<FileRow>> {
    one(
        c,
        concat!("SELECT ", cols!(file), " FROM file WHERE fid = ?1"),
        [fid],
        rows::file,
    )
}

/// The devices holding a fid, by devid.
pub(super) fn devids_on(c: &Connection, fid: i64) -> rusqlite::Result<Vec<i64>> {
    all(
        c,
        "SELECT devid FROM file_on WHERE fid = ?1 ORDER BY devid",
        [fid],
        |r| r.get(0),
    )
}

/// A file by key and the devices holding it, in one query.
pub(super) fn file_with_devids_on(
    c: &Connection,
    dmid: i64,
    dkey: &str,
) -> rusqlite::Result<Option<(FileRow, Vec<i64>)>> {
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
            None => found.insert((rows::file(r)?, Vec::new())),
        };
        entry.1.extend(devid);
    }
    Ok(found)
}

impl Files for SqliteStore {
    async fn create_tempfile(&self, t: &TempFile, fid: Option<i64>) -> Result<Option<i64>> {
        let t = t.clone();
        self.write(move |c| {
            let insert = "INSERT INTO tempfile (fid, createtime, classid, dmid, dkey, devids) \
                          VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
            let row = (fid, now(), t.classid, t.dmid, &t.dkey, &t.devids);
            if fid.is_none() {
                // A new fid: one statement, no transaction around it.
                c.prepare_cached(insert)?.execute(row)?;
                return Ok(Some(c.last_insert_rowid()));
            }
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(fid) = fid {
                let used = tx
                    .prepare_cached(
                        "SELECT 1 FROM tempfile WHERE fid = ?1 UNION ALL \
                         SELECT 1 FROM file WHERE fid = ?1",
                    )?
                    .query_row([fid], |_| Ok(()))
                    .optional()?;
                if used.is_some() {
                    return Ok(None);
                }
            }
            tx.prepare_cached(insert)?.execute(row)?;
            let fid = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Some(fid))
        })
        .await
    }

    async fn tempfile(&self, fid: i64) -> Result<Option<TempFile>> {
        self.look_up(move |c| tempfile_on(c, fid)).await
    }

    async fn close_file(&self, fid: i64, length: i64, devids: &[i64]) -> Result<Closed> {
        let devids = devids.to_vec();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((dmid, dkey, classid)) = tx
                .prepare_cached(
                    "DELETE FROM tempfile WHERE fid = ?1 RETURNING dmid, dkey, classid",
                )?
                .query_row([fid], |r| {
                    Ok((r.get::<_, i64>(0)?, rows::text(r, 1)?, r.get::<_, i64>(2)?))
                })
                .optional()?
            else {
                return Ok(Closed::NoTempFile);
            };
            let taken = tx
                .prepare_cached("SELECT 1 FROM file WHERE fid = ?1")?
                .query_row([fid], |_| Ok(()))
                .optional()?;
            if taken.is_some() {
                return Ok(Closed::FidExists);
            }
            let replaced: Option<i64> = tx
                .prepare_cached("DELETE FROM file WHERE dmid = ?1 AND dkey = ?2 RETURNING fid")?
                .query_row((dmid, &dkey), |r| r.get(0))
                .optional()?;
            if let Some(old) = replaced {
                enqueue_delete(&tx, old)?;
            }
            tx.prepare_cached(
                "INSERT INTO file (fid, dmid, dkey, length, classid, devcount) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute((
                fid,
                dmid,
                &dkey,
                length,
                classid,
                i64::try_from(devids.len()).unwrap_or(i64::MAX),
            ))?;
            {
                let mut on = tx
                    .prepare_cached("INSERT OR IGNORE INTO file_on (fid, devid) VALUES (?1, ?2)")?;
                for devid in &devids {
                    on.execute([fid, *devid])?;
                }
            }
            tx.commit()?;
            Ok(Closed::Stored { replaced })
        })
        .await
    }

    async fn file(&self, dmid: i64, dkey: &str) -> Result<Option<FileRow>> {
        let dkey = dkey.to_owned();
        self.look_up(move |c| file_on(c, dmid, &dkey)).await
    }

    async fn file_devids(&self, fid: i64) -> Result<Vec<i64>> {
        self.look_up(move |c| devids_on(c, fid)).await
    }

    async fn file_with_devids(&self, dmid: i64, dkey: &str) -> Result<Option<(FileRow, Vec<i64>)>> {
        let dkey = dkey.to_owned();
        self.look_up(move |c| file_with_devids_on(c, dmid, &dkey))
            .await
    }

    async fn delete_file(&self, dmid: i64, dkey: &str) -> Result<Option<i64>> {
        let dkey = dkey.to_owned();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let fid: Option<i64> = tx
                .prepare_cached("DELETE FROM file WHERE dmid = ?1 AND dkey = ?2 RETURNING fid")?
                .query_row((dmid, &dkey), |r| r.get(0))
                .optional()?;
            if let Some(fid) = fid {
                enqueue_delete(&tx, fid)?;
            }
            tx.commit()?;
            Ok(fid)
        })
        .await
    }

    async fn rename(&self, dmid: i64, from: &str, to: &str) -> Result<Renamed> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken = tx
                .prepare_cached("SELECT 1 FROM file WHERE dmid = ?1 AND dkey = ?2")?
                .query_row((dmid, &to), |_| Ok(()))
                .optional()?;
            if taken.is_some() {
                return Ok(Renamed::KeyExists);
            }
            let n = tx
                .prepare_cached("UPDATE file SET dkey = ?1 WHERE dmid = ?2 AND dkey = ?3")?
                .execute((&to, dmid, &from))?;
            if n == 0 {
                return Ok(Renamed::UnknownKey);
            }
            tx.commit()?;
            Ok(Renamed::Done)
        })
        .await
    }

    async fn list_keys(
        &self,
        dmid: i64,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>> {
        let (prefix, after) = (prefix.to_owned(), after.map(str::to_owned));
        self.read(move |c| {
            all(
                c,
                "SELECT dkey FROM file WHERE dmid = ?1 AND substr(dkey, 1, length(?2)) = ?2 \
                 AND (?3 IS NULL OR dkey > ?3) ORDER BY dkey LIMIT ?4",
                (dmid, &prefix, &after, limit),
                |r| rows::text(r, 0),
            )
        })
        .await
    }

    async fn set_file_class(&self, fid: i64, classid: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("UPDATE file SET classid = ?1 WHERE fid = ?2")?
                .execute([classid, fid])?;
            Ok(())
        })
        .await
    }

    async fn expire_tempfiles(&self, before: i64, limit: i64) -> Result<Vec<TempFile>> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stale = {
                let mut st = tx.prepare(concat!(
                    "DELETE FROM tempfile WHERE fid IN (SELECT fid FROM tempfile \
                         WHERE createtime <= ?1 ORDER BY fid LIMIT ?2) RETURNING ",
                    cols!(temp)
                ))?;
                let rows = st.query_map([before, limit], rows::tempfile)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            let mut stale = stale;
            stale.sort_by_key(|t| t.fid);
            Ok(stale)
        })
        .await
    }

    async fn due_deletes(&self, now: i64, limit: i64) -> Result<Vec<i64>> {
        self.read(move |c| {
            all(
                c,
                "SELECT fid FROM file_to_delete2 WHERE nexttry <= ?1 ORDER BY nexttry LIMIT ?2",
                [now, limit],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn finish_delete(&self, fid: i64) -> Result<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for sql in [
                "DELETE FROM file_on WHERE fid = ?1",
                "DELETE FROM checksum WHERE fid = ?1",
                "DELETE FROM file_to_delete2 WHERE fid = ?1",
            ] {
                tx.execute(sql, [fid])?;
            }
            tx.commit()
        })
        .await
    }

    async fn retry_delete(&self, fid: i64, nexttry: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE file_to_delete2 SET nexttry = ?1, failcount = failcount + 1 WHERE fid = ?2",
            )?
            .execute([nexttry, fid])?;
            Ok(())
        })
        .await
    }
}

fn enqueue_delete(tx: &rusqlite::Transaction<'_>, fid: i64) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO file_to_delete2 (fid, nexttry) VALUES (?1, 0)")?
        .execute([fid])?;
    Ok(())
}
