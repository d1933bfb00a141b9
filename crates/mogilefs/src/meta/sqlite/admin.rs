//! Server settings, device usage, checksums and debugging rows on SQLite.

use sqlx::Row;

use super::{file, text, SqliteStore};
use crate::meta::{
    Admin, Checksum, DeleteRow, FileRow, FsckLog, FsckLogRow, QueueRow, ReplRow, Result, FSCK_QUEUE,
};

impl Admin for SqliteStore {
    async fn server_settings(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT field, value FROM server_settings ORDER BY field")
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("field")?, text(r, "value")?)))
            .collect()
    }

    async fn server_setting(&self, key: &str) -> Result<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT value FROM server_settings WHERE field = ?")
                .bind(key)
                .fetch_optional(&mut *self.read().await)
                .await?;
        Ok(v.flatten())
    }

    async fn set_server_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let (key, value) = (key.to_owned(), value.map(str::to_owned));
        self.write(move |c| {
            match value {
                Some(v) => c
                    .prepare_cached("REPLACE INTO server_settings (field, value) VALUES (?1, ?2)")?
                    .execute([&key, &v])?,
                None => c
                    .prepare_cached("DELETE FROM server_settings WHERE field = ?1")?
                    .execute([&key])?,
            };
            Ok(())
        })
        .await
    }

    async fn incr_server_setting(&self, key: &str, by: i64) -> Result<()> {
        let key = key.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO server_settings (field, value) VALUES (?1, ?2) \
                 ON CONFLICT (field) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
            )?
            .execute((&key, by))?;
            Ok(())
        })
        .await
    }

    async fn set_device_usage(
        &self,
        devid: i64,
        mb_total: i64,
        mb_used: i64,
        mb_asof: i64,
    ) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE device SET mb_total = ?1, mb_used = ?2, mb_asof = ?3 WHERE devid = ?4",
            )?
            .execute([mb_total, mb_used, mb_asof, devid])?;
            Ok(())
        })
        .await
    }

    async fn set_checksum(&self, c: &Checksum) -> Result<()> {
        let sum = c.clone();
        self.write(move |c| {
            c.prepare_cached(
                "REPLACE INTO checksum (fid, hashtype, checksum) VALUES (?1, ?2, ?3)",
            )?
            .execute((sum.fid, sum.hashtype, &sum.checksum))?;
            Ok(())
        })
        .await
    }

    async fn checksum(&self, fid: i64) -> Result<Option<Checksum>> {
        if let Some(c) = self.inplace.as_ref().and_then(|p| p.checksum(fid)) {
            return Ok(c);
        }
        let row = sqlx::query("SELECT fid, hashtype, checksum FROM checksum WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.map(|r| {
            Ok(Checksum {
                fid: r.try_get("fid")?,
                hashtype: r.try_get("hashtype")?,
                checksum: r.try_get("checksum")?,
            })
        })
        .transpose()
    }

    async fn file_by_fid(&self, fid: i64) -> Result<Option<FileRow>> {
        if let Some(f) = self.inplace.as_ref().and_then(|p| p.file_by_fid(fid)) {
            return Ok(f);
        }
        let row = sqlx::query("SELECT * FROM file WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.as_ref().map(file).transpose()
    }

    async fn list_fids(&self, after: i64, limit: i64) -> Result<Vec<FileRow>> {
        let rows = sqlx::query("SELECT * FROM file WHERE fid > ? ORDER BY fid LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter().map(file).collect()
    }

    async fn repl_row(&self, fid: i64) -> Result<Option<ReplRow>> {
        let row = sqlx::query(
            "SELECT fid, nexttry, fromdevid, failcount, flags FROM file_to_replicate WHERE fid = ?",
        )
        .bind(fid)
        .fetch_optional(&mut *self.read().await)
        .await?;
        row.map(|r| {
            Ok(ReplRow {
                fid: r.try_get("fid")?,
                nexttry: r.try_get("nexttry")?,
                fromdevid: r.try_get("fromdevid")?,
                failcount: r.try_get("failcount")?,
                flags: r.try_get("flags")?,
            })
        })
        .transpose()
    }

    async fn delete_row(&self, fid: i64) -> Result<Option<DeleteRow>> {
        let row = sqlx::query("SELECT fid, nexttry, failcount FROM file_to_delete2 WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *self.read().await)
            .await?;
        row.map(|r| {
            Ok(DeleteRow {
                fid: r.try_get("fid")?,
                nexttry: r.try_get("nexttry")?,
                failcount: r.try_get("failcount")?,
            })
        })
        .transpose()
    }

    async fn queue_row(&self, fid: i64, qtype: i64) -> Result<Option<QueueRow>> {
        let row = sqlx::query(
            "SELECT fid, devid, type, nexttry, failcount, flags, arg FROM file_to_queue \
             WHERE fid = ? AND type = ?",
        )
        .bind(fid)
        .bind(qtype)
        .fetch_optional(&mut *self.read().await)
        .await?;
        row.map(|r| {
            Ok(QueueRow {
                fid: r.try_get("fid")?,
                devid: r.try_get("devid")?,
                qtype: r.try_get("type")?,
                nexttry: r.try_get("nexttry")?,
                failcount: r.try_get("failcount")?,
                flags: r.try_get("flags")?,
                arg: r.try_get("arg")?,
            })
        })
        .transpose()
    }
}

impl FsckLog for SqliteStore {
    async fn add_fsck_event(
        &self,
        utime: i64,
        fid: Option<i64>,
        evcode: &str,
        devid: Option<i64>,
    ) -> Result<()> {
        let evcode = evcode.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO fsck_log (utime, fid, evcode, devid) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((utime, fid, &evcode, devid))?;
            Ok(())
        })
        .await
    }

    async fn fsck_events(&self, after: i64, limit: i64) -> Result<Vec<FsckLogRow>> {
        let rows = sqlx::query(
            "SELECT logid, utime, fid, evcode, devid FROM fsck_log WHERE logid > ? \
             ORDER BY logid LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.read().await)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FsckLogRow {
                    logid: r.try_get("logid")?,
                    utime: r.try_get("utime")?,
                    fid: r.try_get("fid")?,
                    evcode: text(r, "evcode")?,
                    devid: r.try_get("devid")?,
                })
            })
            .collect()
    }

    async fn fsck_event_counts(&self, after: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT evcode, COUNT(*) AS n FROM fsck_log WHERE logid > ? \
             GROUP BY evcode ORDER BY evcode",
        )
        .bind(after)
        .fetch_all(&mut *self.read().await)
        .await?;
        rows.iter()
            .map(|r| Ok((text(r, "evcode")?, r.try_get("n")?)))
            .collect()
    }

    async fn max_fsck_logid(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(logid), 0) FROM fsck_log")
            .fetch_one(&mut *self.read().await)
            .await
    }

    async fn clear_fsck_log(&self) -> Result<()> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM fsck_log")?.execute([])?;
            Ok(())
        })
        .await
    }

    async fn max_fid(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(fid), 0) FROM file")
            .fetch_one(&mut *self.read().await)
            .await
    }

    async fn recount_devcount(&self, fid: i64) -> Result<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            super::repl::devcount(&tx, fid)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn fids_between(&self, after: i64, upto: i64, limit: i64) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT fid FROM file WHERE fid > ? AND fid <= ? ORDER BY fid LIMIT ?")
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(&mut *self.read().await)
            .await
    }

    async fn enqueue_fsck(&self, fids: Vec<i64>, nexttry: i64) -> Result<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO file_to_queue (fid, type, nexttry) VALUES (?1, ?2, ?3)",
                )?;
                for fid in &fids {
                    st.execute((fid, FSCK_QUEUE, nexttry))?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn fsck_queue_len(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM file_to_queue WHERE type = ?")
            .bind(FSCK_QUEUE)
            .fetch_one(&mut *self.read().await)
            .await
    }

    async fn due_fsck(&self, now: i64, limit: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT fid, nexttry FROM file_to_queue WHERE type = ? AND nexttry <= ? \
             ORDER BY nexttry, fid LIMIT ?",
        )
        .bind(FSCK_QUEUE)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.read().await)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("fid")?, r.try_get("nexttry")?)))
            .collect()
    }

    async fn claim_fsck(&self, fid: i64, seen: i64, until: i64) -> Result<bool> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE file_to_queue SET nexttry = ?1 \
                     WHERE fid = ?2 AND type = ?3 AND nexttry = ?4",
                )?
                .execute([until, fid, FSCK_QUEUE, seen])?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_fsck(&self, fid: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM file_to_queue WHERE fid = ?1 AND type = ?2")?
                .execute([fid, FSCK_QUEUE])?;
            Ok(())
        })
        .await
    }
}
