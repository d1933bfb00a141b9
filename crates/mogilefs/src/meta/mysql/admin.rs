//! Server settings, device usage, checksums and debugging rows on MySQL.

use super::rows::{self, file, int, opt_text};
use super::MysqlStore;
use crate::meta::{
    Admin, Checksum, DeleteRow, FileRow, FsckLog, FsckLogRow, QueueRow, ReplRow, Result, FSCK_QUEUE,
};

impl Admin for MysqlStore {
    async fn server_settings(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT field, value FROM server_settings ORDER BY field")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    opt_text(r, "field")?.unwrap_or_default(),
                    opt_text(r, "value")?.unwrap_or_default(),
                ))
            })
            .collect()
    }

    async fn server_setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM server_settings WHERE field = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => opt_text(&r, "value")?,
            None => None,
        })
    }

    async fn set_server_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let q = match value {
            Some(v) => sqlx::query("REPLACE INTO server_settings (field, value) VALUES (?, ?)")
                .bind(key)
                .bind(v),
            None => sqlx::query("DELETE FROM server_settings WHERE field = ?").bind(key),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    async fn incr_server_setting(&self, key: &str, by: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO server_settings (field, value) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE value = CAST(value AS SIGNED) + VALUES(value)",
        )
        .bind(key)
        .bind(by.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_device_usage(
        &self,
        devid: i64,
        mb_total: i64,
        mb_used: i64,
        mb_asof: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE device SET mb_total = ?, mb_used = ?, mb_asof = ? WHERE devid = ?")
            .bind(mb_total)
            .bind(mb_used)
            .bind(mb_asof)
            .bind(devid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_checksum(&self, c: &Checksum) -> Result<()> {
        sqlx::query("REPLACE INTO checksum (fid, hashtype, checksum) VALUES (?, ?, ?)")
            .bind(c.fid)
            .bind(c.hashtype)
            .bind(&c.checksum)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn checksum(&self, fid: i64) -> Result<Option<Checksum>> {
        let row = sqlx::query("SELECT fid, hashtype, checksum FROM checksum WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::checksum).transpose()
    }

    async fn file_by_fid(&self, fid: i64) -> Result<Option<FileRow>> {
        let row = sqlx::query("SELECT * FROM file WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(file).transpose()
    }

    async fn list_fids(&self, after: i64, limit: i64) -> Result<Vec<FileRow>> {
        let rows = sqlx::query("SELECT * FROM file WHERE fid > ? ORDER BY fid LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(file).collect()
    }

    async fn repl_row(&self, fid: i64) -> Result<Option<ReplRow>> {
        let row = sqlx::query(
            "SELECT fid, nexttry, fromdevid, failcount, flags FROM file_to_replicate WHERE fid = ?",
        )
        .bind(fid)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::repl).transpose()
    }

    async fn delete_row(&self, fid: i64) -> Result<Option<DeleteRow>> {
        let row = sqlx::query("SELECT fid, nexttry, failcount FROM file_to_delete2 WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::delete).transpose()
    }

    async fn queue_row(&self, fid: i64, qtype: i64) -> Result<Option<QueueRow>> {
        let row = sqlx::query(
            "SELECT fid, devid, type, nexttry, failcount, flags, arg FROM file_to_queue \
             WHERE fid = ? AND type = ?",
        )
        .bind(fid)
        .bind(qtype)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::queue).transpose()
    }
}

impl FsckLog for MysqlStore {
    async fn add_fsck_event(
        &self,
        utime: i64,
        fid: Option<i64>,
        evcode: &str,
        devid: Option<i64>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO fsck_log (utime, fid, evcode, devid) VALUES (?, ?, ?, ?)")
            .bind(utime)
            .bind(fid)
            .bind(evcode)
            .bind(devid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn fsck_events(&self, after: i64, limit: i64) -> Result<Vec<FsckLogRow>> {
        let found = sqlx::query(
            "SELECT logid, utime, fid, evcode, devid FROM fsck_log WHERE logid > ? \
             ORDER BY logid LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::fsck).collect()
    }

    async fn fsck_event_counts(&self, after: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT evcode, CAST(COUNT(*) AS SIGNED) AS n FROM fsck_log WHERE logid > ? \
             GROUP BY evcode ORDER BY evcode",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((opt_text(r, "evcode")?.unwrap_or_default(), int(r, "n")?)))
            .collect()
    }

    async fn max_fsck_logid(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(logid), 0) AS SIGNED) AS n FROM fsck_log")
            .fetch_one(&self.pool)
            .await?;
        int(&row, "n")
    }

    async fn clear_fsck_log(&self) -> Result<()> {
        sqlx::query("DELETE FROM fsck_log")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn max_fid(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(fid), 0) AS SIGNED) AS n FROM file")
            .fetch_one(&self.pool)
            .await?;
        int(&row, "n")
    }

    async fn recount_devcount(&self, fid: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        super::repl::devcount(&mut tx, fid).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn fids_between(&self, after: i64, upto: i64, limit: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT CAST(fid AS SIGNED) AS fid FROM file WHERE fid > ? AND fid <= ? \
             ORDER BY fid LIMIT ?",
        )
        .bind(after)
        .bind(upto)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| int(r, "fid")).collect()
    }

    async fn enqueue_fsck(&self, fids: Vec<i64>, nexttry: i64) -> Result<()> {
        if fids.is_empty() {
            return Ok(());
        }
        let mut q =
            sqlx::QueryBuilder::new("INSERT IGNORE INTO file_to_queue (fid, type, nexttry) ");
        q.push_values(&fids, |mut b, fid| {
            b.push_bind(fid).push_bind(FSCK_QUEUE).push_bind(nexttry);
        });
        q.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn fsck_queue_len(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM file_to_queue WHERE type = ?")
                .bind(FSCK_QUEUE)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn due_fsck(&self, now: i64, limit: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT fid, nexttry FROM file_to_queue WHERE type = ? AND nexttry <= ? \
             ORDER BY nexttry, fid LIMIT ?",
        )
        .bind(FSCK_QUEUE)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((int(r, "fid")?, int(r, "nexttry")?)))
            .collect()
    }

    async fn claim_fsck(&self, fid: i64, seen: i64, until: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE file_to_queue SET nexttry = ? WHERE fid = ? AND type = ? AND nexttry = ?",
        )
        .bind(until)
        .bind(fid)
        .bind(FSCK_QUEUE)
        .bind(seen)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn finish_fsck(&self, fid: i64) -> Result<()> {
        sqlx::query("DELETE FROM file_to_queue WHERE fid = ? AND type = ?")
            .bind(fid)
            .bind(FSCK_QUEUE)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
