//! Files, replicas, the fid allocator and the delete queue on SQLite.

use sqlx::{Connection, Row};

use super::{file, now, SqliteStore};
use crate::meta::{Closed, FileRow, Files, Renamed, Result, TempFile};

impl Files for SqliteStore {
    async fn create_tempfile(&self, t: &TempFile, fid: Option<i64>) -> Result<Option<i64>> {
        let insert = sqlx::query(
            "INSERT INTO tempfile (fid, createtime, classid, dmid, dkey, devids) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(fid)
        .bind(now())
        .bind(t.classid)
        .bind(t.dmid)
        .bind(&t.dkey)
        .bind(&t.devids);
        let Some(fid) = fid else {
            // A new fid: one statement, no transaction around it.
            return Ok(Some(
                insert
                    .execute(&mut *self.write().await)
                    .await?
                    .last_insert_rowid(),
            ));
        };
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let used = sqlx::query(
            "SELECT 1 FROM tempfile WHERE fid = ? UNION ALL SELECT 1 FROM file WHERE fid = ?",
        )
        .bind(fid)
        .bind(fid)
        .fetch_optional(&mut *tx)
        .await?;
        if used.is_some() {
            return Ok(None);
        }
        let r = insert.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(r.last_insert_rowid()))
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
        // Four round trips to the writer's thread: begin, take the tempfile
        // (learning whether the fid is taken and which fid the key had),
        // write the rest in one batch, commit.
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let Some(t) = sqlx::query(
            "DELETE FROM tempfile WHERE fid = ? RETURNING dmid, dkey, classid, \
             (SELECT 1 FROM file WHERE fid = tempfile.fid) AS taken, \
             (SELECT f.fid FROM file f WHERE f.dmid = tempfile.dmid AND f.dkey = tempfile.dkey) \
             AS old",
        )
        .bind(fid)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(Closed::NoTempFile);
        };
        let (dmid, dkey, classid): (i64, String, i64) = (
            t.try_get("dmid")?,
            t.try_get("dkey")?,
            t.try_get("classid")?,
        );
        if t.try_get::<Option<i64>, _>("taken")?.is_some() {
            return Ok(Closed::FidExists);
        }
        let replaced: Option<i64> = t.try_get("old")?;
        let mut sql = String::with_capacity(256);
        if replaced.is_some() {
            sql.push_str(
                "DELETE FROM file WHERE fid = ?; \
                 INSERT OR IGNORE INTO file_to_delete2 (fid, nexttry) VALUES (?, 0); ",
            );
        }
        sql.push_str(
            "INSERT INTO file (fid, dmid, dkey, length, classid, devcount) \
             VALUES (?, ?, ?, ?, ?, ?)",
        );
        if !devids.is_empty() {
            sql.push_str("; INSERT OR IGNORE INTO file_on (fid, devid) VALUES (?, ?)");
            for _ in 1..devids.len() {
                sql.push_str(", (?, ?)");
            }
        }
        let mut q = sqlx::query(&sql);
        if let Some(old) = replaced {
            q = q.bind(old).bind(old);
        }
        q = q
            .bind(fid)
            .bind(dmid)
            .bind(&dkey)
            .bind(length)
            .bind(classid)
            .bind(i64::try_from(devids.len()).unwrap_or(i64::MAX));
        for devid in devids {
            q = q.bind(fid).bind(devid);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Closed::Stored { replaced })
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
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let fid: Option<i64> =
            sqlx::query_scalar("DELETE FROM file WHERE dmid = ? AND dkey = ? RETURNING fid")
                .bind(dmid)
                .bind(dkey)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(fid) = fid {
            enqueue_delete(&mut tx, fid).await?;
        }
        tx.commit().await?;
        Ok(fid)
    }

    async fn rename(&self, dmid: i64, from: &str, to: &str) -> Result<Renamed> {
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM file WHERE dmid = ? AND dkey = ?")
            .bind(dmid)
            .bind(to)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Ok(Renamed::KeyExists);
        }
        let r = sqlx::query("UPDATE file SET dkey = ? WHERE dmid = ? AND dkey = ?")
            .bind(to)
            .bind(dmid)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(Renamed::UnknownKey);
        }
        tx.commit().await?;
        Ok(Renamed::Done)
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
        sqlx::query("UPDATE file SET classid = ? WHERE fid = ?")
            .bind(classid)
            .bind(fid)
            .execute(&mut *self.write().await)
            .await?;
        Ok(())
    }

    async fn expire_tempfiles(&self, before: i64, limit: i64) -> Result<Vec<TempFile>> {
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        let rows = sqlx::query(
            "SELECT fid, createtime, classid, dmid, dkey, devids FROM tempfile \
             WHERE createtime <= ? ORDER BY fid LIMIT ?",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let t = temp_row(r)?;
            sqlx::query("DELETE FROM tempfile WHERE fid = ?")
                .bind(t.fid)
                .execute(&mut *tx)
                .await?;
            out.push(t);
        }
        tx.commit().await?;
        Ok(out)
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
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        for sql in [
            "DELETE FROM file_on WHERE fid = ?",
            "DELETE FROM checksum WHERE fid = ?",
            "DELETE FROM file_to_delete2 WHERE fid = ?",
        ] {
            sqlx::query(sql).bind(fid).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    async fn retry_delete(&self, fid: i64, nexttry: i64) -> Result<()> {
        sqlx::query(
            "UPDATE file_to_delete2 SET nexttry = ?, failcount = failcount + 1 WHERE fid = ?",
        )
        .bind(nexttry)
        .bind(fid)
        .execute(&mut *self.write().await)
        .await?;
        Ok(())
    }
}

async fn enqueue_delete(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, fid: i64) -> Result<()> {
    sqlx::query("INSERT OR IGNORE INTO file_to_delete2 (fid, nexttry) VALUES (?, 0)")
        .bind(fid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn temp_row(r: &sqlx::sqlite::SqliteRow) -> Result<TempFile> {
    Ok(TempFile {
        fid: r.try_get("fid")?,
        createtime: r.try_get("createtime")?,
        classid: r.try_get("classid")?,
        dmid: r.try_get("dmid")?,
        dkey: r.try_get::<Option<String>, _>("dkey")?.unwrap_or_default(),
        devids: r
            .try_get::<Option<String>, _>("devids")?
            .unwrap_or_default(),
    })
}
