//! The replication queue and replica rows on SQLite.

use sqlx::{Connection, Row};

use super::SqliteStore;
use crate::meta::{ReplRow, Replication, Result};

impl Replication for SqliteStore {
    async fn enqueue_replication(
        &self,
        fid: i64,
        nexttry: i64,
        fromdevid: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO file_to_replicate (fid, nexttry, fromdevid) VALUES (?, ?, ?)",
        )
        .bind(fid)
        .bind(nexttry)
        .bind(fromdevid)
        .execute(&mut *self.write().await)
        .await?;
        Ok(())
    }

    async fn due_replications(&self, now: i64, limit: i64) -> Result<Vec<ReplRow>> {
        let rows = sqlx::query(
            "SELECT fid, nexttry, fromdevid, failcount, flags FROM file_to_replicate \
             WHERE nexttry <= ? ORDER BY nexttry, fid LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *self.read().await)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReplRow {
                    fid: r.try_get("fid")?,
                    nexttry: r.try_get("nexttry")?,
                    fromdevid: r.try_get("fromdevid")?,
                    failcount: r.try_get("failcount")?,
                    flags: r.try_get("flags")?,
                })
            })
            .collect()
    }

    async fn claim_replication(&self, fid: i64, seen: i64, until: i64) -> Result<bool> {
        let r =
            sqlx::query("UPDATE file_to_replicate SET nexttry = ? WHERE fid = ? AND nexttry = ?")
                .bind(until)
                .bind(fid)
                .bind(seen)
                .execute(&mut *self.write().await)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_replications(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM file_to_replicate")
            .fetch_one(&mut *self.read().await)
            .await
    }

    async fn finish_replication(&self, fid: i64) -> Result<()> {
        sqlx::query("DELETE FROM file_to_replicate WHERE fid = ?")
            .bind(fid)
            .execute(&mut *self.write().await)
            .await?;
        Ok(())
    }

    async fn retry_replication(&self, fid: i64, nexttry: i64) -> Result<()> {
        sqlx::query(
            "UPDATE file_to_replicate SET nexttry = ?, failcount = MIN(failcount + 1, 255) \
             WHERE fid = ?",
        )
        .bind(nexttry)
        .bind(fid)
        .execute(&mut *self.write().await)
        .await?;
        Ok(())
    }

    async fn replicate_now(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("UPDATE file_to_replicate SET nexttry = ? WHERE nexttry > ?")
            .bind(now)
            .bind(now)
            .execute(&mut *self.write().await)
            .await?;
        Ok(r.rows_affected())
    }

    async fn add_replica(&self, fid: i64, devid: i64) -> Result<bool> {
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        // Only for a file that still exists (it may have been deleted
        // while it was being copied).
        sqlx::query(
            "INSERT OR IGNORE INTO file_on (fid, devid) SELECT fid, ? FROM file WHERE fid = ?",
        )
        .bind(devid)
        .bind(fid)
        .execute(&mut *tx)
        .await?;
        let there = sqlx::query("SELECT 1 FROM file WHERE fid = ?")
            .bind(fid)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        devcount(&mut tx, fid).await?;
        tx.commit().await?;
        Ok(there)
    }

    async fn remove_replica(&self, fid: i64, devid: i64) -> Result<()> {
        let mut conn = self.write().await;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM file_on WHERE fid = ? AND devid = ?")
            .bind(fid)
            .bind(devid)
            .execute(&mut *tx)
            .await?;
        devcount(&mut tx, fid).await?;
        tx.commit().await
    }

    async fn fids_on_device(&self, devid: i64, limit: i64) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT fid FROM file_on WHERE devid = ? ORDER BY fid LIMIT ?")
            .bind(devid)
            .bind(limit)
            .fetch_all(&mut *self.write().await)
            .await
    }
}

async fn devcount(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, fid: i64) -> Result<()> {
    sqlx::query(
        "UPDATE file SET devcount = MIN((SELECT COUNT(*) FROM file_on WHERE fid = ?), 255) \
         WHERE fid = ?",
    )
    .bind(fid)
    .bind(fid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
