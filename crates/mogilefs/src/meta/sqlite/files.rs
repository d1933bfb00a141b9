//! Files, replicas, the fid allocator and the delete queue on SQLite.

use rusqlite::{OptionalExtension, TransactionBehavior};
use sqlx::Row;

use super::{file, now, text, SqliteStore};
use crate::meta::{Closed, FileRow, Files, Renamed, Result, TempFile};

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
        if let Some(t) = self.inplace.as_ref().and_then(|p| p.tempfile(fid)) {
            return Ok(t);
        }
        let row = sqlx::query("SELECT * FROM tempfile WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.as_ref().map(temp_row).transpose()
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
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
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
        if let Some(f) = self.inplace.as_ref().and_then(|p| p.file(dmid, dkey)) {
            return Ok(f);
        }
        let row = sqlx::query("SELECT * FROM file WHERE dmid = ? AND dkey = ?")
            .bind(dmid)
            .bind(dkey)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.as_ref().map(file).transpose()
    }

    async fn file_devids(&self, fid: i64) -> Result<Vec<i64>> {
        if let Some(on) = self.inplace.as_ref().and_then(|p| p.file_devids(fid)) {
            return Ok(on);
        }
        sqlx::query_scalar("SELECT devid FROM file_on WHERE fid = ? ORDER BY devid")
            .bind(fid)
            .fetch_all(&mut *self.read().await)
            .await
    }

    async fn file_with_devids(&self, dmid: i64, dkey: &str) -> Result<Option<(FileRow, Vec<i64>)>> {
        if let Some(f) = self
            .inplace
            .as_ref()
            .and_then(|p| p.file_with_devids(dmid, dkey))
        {
            return Ok(f);
        }
        let rows = sqlx::query(
            "SELECT f.fid, f.dmid, f.dkey, f.length, f.classid, f.devcount, o.devid \
             FROM file f LEFT JOIN file_on o ON o.fid = f.fid \
             WHERE f.dmid = ? AND f.dkey = ? ORDER BY o.devid",
        )
        .bind(dmid)
        .bind(dkey)
        .fetch_all(&mut *self.read().await)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let devids = rows
            .iter()
            .filter_map(|r| r.try_get::<Option<i64>, _>("devid").transpose())
            .collect::<Result<Vec<i64>>>()?;
        Ok(Some((file(first)?, devids)))
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
        sqlx::query_scalar(
            "SELECT dkey FROM file WHERE dmid = ? AND substr(dkey, 1, length(?)) = ? \
             AND (? IS NULL OR dkey > ?) ORDER BY dkey LIMIT ?",
        )
        .bind(dmid)
        .bind(prefix)
        .bind(prefix)
        .bind(after)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.read().await)
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
                let mut st = tx.prepare(
                    "DELETE FROM tempfile WHERE fid IN (SELECT fid FROM tempfile \
                     WHERE createtime <= ?1 ORDER BY fid LIMIT ?2) \
                     RETURNING fid, createtime, classid, dmid, dkey, devids",
                )?;
                let rows = st.query_map([before, limit], |r| {
                    Ok(TempFile {
                        fid: r.get(0)?,
                        createtime: r.get(1)?,
                        classid: r.get(2)?,
                        dmid: r.get(3)?,
                        dkey: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        devids: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    })
                })?;
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
        sqlx::query_scalar(
            "SELECT fid FROM file_to_delete2 WHERE nexttry <= ? ORDER BY nexttry LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.read().await)
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

fn temp_row(r: &sqlx::sqlite::SqliteRow) -> Result<TempFile> {
    Ok(TempFile {
        fid: r.try_get("fid")?,
        createtime: r.try_get("createtime")?,
        classid: r.try_get("classid")?,
        dmid: r.try_get("dmid")?,
        dkey: text(r, "dkey")?,
        devids: text(r, "devids")?,
    })
}
