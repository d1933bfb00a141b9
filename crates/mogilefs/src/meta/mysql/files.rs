//! Files, replicas, the fid allocator and the delete queue on MySQL.

use super::rows::{file, int, opt_int, opt_text, tempfile as temp_row};
use super::{now, MysqlStore};
use crate::meta::{Closed, FileRow, Files, Renamed, Result, TempFile};

impl Files for MysqlStore {
    async fn create_tempfile(&self, t: &TempFile, fid: Option<i64>) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        if let Some(fid) = fid {
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
        }
        let r = sqlx::query(
            "INSERT INTO tempfile (fid, createtime, classid, dmid, dkey, devids) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(fid)
        .bind(now())
        .bind(t.classid)
        .bind(t.dmid)
        .bind(&t.dkey)
        .bind(&t.devids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(i64::try_from(r.last_insert_id()).unwrap_or(i64::MAX)))
    }

    async fn tempfile(&self, fid: i64) -> Result<Option<TempFile>> {
        let row = sqlx::query("SELECT * FROM tempfile WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(temp_row).transpose()
    }

    async fn close_file(&self, fid: i64, length: i64, devids: &[i64]) -> Result<Closed> {
        super::retry(move || async move {
        let mut tx = self.pool.begin().await?;
        let Some(t) =
            sqlx::query("SELECT dmid, dkey, classid FROM tempfile WHERE fid = ? FOR UPDATE")
                .bind(fid)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(Closed::NoTempFile);
        };
        let (dmid, dkey, classid): (i64, String, i64) = (
            int(&t, "dmid")?,
            opt_text(&t, "dkey")?.unwrap_or_default(),
            int(&t, "classid")?,
        );
        sqlx::query("DELETE FROM tempfile WHERE fid = ?")
            .bind(fid)
            .execute(&mut *tx)
            .await?;
        let exists = sqlx::query("SELECT 1 FROM file WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(Closed::FidExists);
        }
        let replaced: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(fid AS SIGNED) FROM file WHERE dmid = ? AND dkey = ? FOR UPDATE",
        )
        .bind(dmid)
        .bind(&dkey)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(old) = replaced {
            sqlx::query("DELETE FROM file WHERE fid = ?")
                .bind(old)
                .execute(&mut *tx)
                .await?;
            enqueue_delete(&mut tx, old).await?;
        }
        sqlx::query(
            "INSERT INTO file (fid, dmid, dkey, length, classid, devcount) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(fid)
        .bind(dmid)
        .bind(&dkey)
        .bind(length)
        .bind(classid)
        .bind(i64::try_from(devids.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        for devid in devids {
            sqlx::query("INSERT IGNORE INTO file_on (fid, devid) VALUES (?, ?)")
                .bind(fid)
                .bind(devid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Closed::Stored { replaced })
        })
        .await
    }

    async fn file(&self, dmid: i64, dkey: &str) -> Result<Option<FileRow>> {
        let row = sqlx::query("SELECT * FROM file WHERE dmid = ? AND dkey = ?")
            .bind(dmid)
            .bind(dkey)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file).transpose()
    }

    async fn file_devids(&self, fid: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(devid AS SIGNED) FROM file_on WHERE fid = ? ORDER BY devid",
        )
        .bind(fid)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn file_with_devids(&self, dmid: i64, dkey: &str) -> Result<Option<(FileRow, Vec<i64>)>> {
        let rows = sqlx::query(
            "SELECT f.fid, f.dmid, f.dkey, f.length, f.classid, f.devcount, o.devid \
             FROM file f LEFT JOIN file_on o ON o.fid = f.fid \
             WHERE f.dmid = ? AND f.dkey = ? ORDER BY o.devid",
        )
        .bind(dmid)
        .bind(dkey)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let devids = rows
            .iter()
            .filter_map(|r| opt_int(r, "devid").transpose())
            .collect::<Result<Vec<i64>>>()?;
        Ok(Some((file(first)?, devids)))
    }

    async fn delete_file(&self, dmid: i64, dkey: &str) -> Result<Option<i64>> {
        super::retry(move || async move {
            let mut tx = self.pool.begin().await?;
            let fid: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(fid AS SIGNED) FROM file WHERE dmid = ? AND dkey = ? FOR UPDATE",
            )
            .bind(dmid)
            .bind(dkey)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(fid) = fid {
                sqlx::query("DELETE FROM file WHERE fid = ?")
                    .bind(fid)
                    .execute(&mut *tx)
                    .await?;
                enqueue_delete(&mut tx, fid).await?;
            }
            tx.commit().await?;
            Ok(fid)
        })
        .await
    }

    async fn rename(&self, dmid: i64, from: &str, to: &str) -> Result<Renamed> {
        super::retry(move || async move {
            let mut tx = self.pool.begin().await?;
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
        Ok(sqlx::query_scalar(
            "SELECT CAST(dkey AS CHAR) AS k FROM file WHERE dmid = ? AND LEFT(dkey, CHAR_LENGTH(?)) = ? \
             AND (? IS NULL OR dkey > ?) ORDER BY dkey LIMIT ?",
        )
        .bind(dmid)
        .bind(prefix)
        .bind(prefix)
        .bind(after)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_file_class(&self, fid: i64, classid: i64) -> Result<()> {
        sqlx::query("UPDATE file SET classid = ? WHERE fid = ?")
            .bind(classid)
            .bind(fid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn expire_tempfiles(&self, before: i64, limit: i64) -> Result<Vec<TempFile>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT fid, createtime, classid, dmid, dkey, devids FROM tempfile \
             WHERE createtime <= ? ORDER BY fid LIMIT ? FOR UPDATE",
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
        Ok(sqlx::query_scalar(
            "SELECT CAST(fid AS SIGNED) FROM file_to_delete2 WHERE nexttry <= ? ORDER BY nexttry LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn finish_delete(&self, fid: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM file_on WHERE fid = ?",
            "DELETE FROM checksum WHERE fid = ?",
            "DELETE FROM file_to_delete2 WHERE fid = ?",
        ] {
            sqlx::query(sql).bind(fid).execute(&mut *tx).await?;
        }
        Ok(tx.commit().await?)
    }

    async fn retry_delete(&self, fid: i64, nexttry: i64) -> Result<()> {
        sqlx::query(
            "UPDATE file_to_delete2 SET nexttry = ?, failcount = failcount + 1 WHERE fid = ?",
        )
        .bind(nexttry)
        .bind(fid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn enqueue_delete(tx: &mut sqlx::Transaction<'_, sqlx::MySql>, fid: i64) -> Result<()> {
    sqlx::query("INSERT IGNORE INTO file_to_delete2 (fid, nexttry) VALUES (?, 0)")
        .bind(fid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
