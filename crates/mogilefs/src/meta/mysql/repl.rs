//! The replication queue and replica rows on MySQL.

use super::{rows, MysqlStore};
use crate::meta::{ReplRow, Replication, Result};

impl Replication for MysqlStore {
    async fn enqueue_replication(
        &self,
        fid: i64,
        nexttry: i64,
        fromdevid: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT IGNORE INTO file_to_replicate (fid, nexttry, fromdevid) VALUES (?, ?, ?)",
        )
        .bind(fid)
        .bind(nexttry)
        .bind(fromdevid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn due_replications(&self, now: i64, limit: i64) -> Result<Vec<ReplRow>> {
        let found = sqlx::query(
            "SELECT fid, nexttry, fromdevid, failcount, flags FROM file_to_replicate \
             WHERE nexttry <= ? ORDER BY nexttry, fid LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::repl).collect()
    }

    async fn claim_replication(&self, fid: i64, seen: i64, until: i64) -> Result<bool> {
        let r =
            sqlx::query("UPDATE file_to_replicate SET nexttry = ? WHERE fid = ? AND nexttry = ?")
                .bind(until)
                .bind(fid)
                .bind(seen)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn count_replications(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM file_to_replicate")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn finish_replication(&self, fid: i64) -> Result<()> {
        sqlx::query("DELETE FROM file_to_replicate WHERE fid = ?")
            .bind(fid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn retry_replication(&self, fid: i64, nexttry: i64) -> Result<()> {
        sqlx::query(
            "UPDATE file_to_replicate SET nexttry = ?, failcount = LEAST(failcount + 1, 255) \
             WHERE fid = ?",
        )
        .bind(nexttry)
        .bind(fid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn replicate_now(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("UPDATE file_to_replicate SET nexttry = ? WHERE nexttry > ?")
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn add_replica(&self, fid: i64, devid: i64) -> Result<bool> {
        super::retry(move || async move {
            let mut tx = self.pool.begin().await?;
            // Only for a file that still exists (it may have been deleted
            // while it was being copied). The file row is locked for writing
            // first: a shared lock upgraded later would deadlock with renames.
            let there = sqlx::query("SELECT 1 FROM file WHERE fid = ? FOR UPDATE")
                .bind(fid)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !there {
                return Ok(false);
            }
            sqlx::query("INSERT IGNORE INTO file_on (fid, devid) VALUES (?, ?)")
                .bind(fid)
                .bind(devid)
                .execute(&mut *tx)
                .await?;
            devcount(&mut tx, fid).await?;
            tx.commit().await?;
            Ok(there)
        })
        .await
    }

    async fn remove_replica(&self, fid: i64, devid: i64) -> Result<()> {
        super::retry(move || async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM file_on WHERE fid = ? AND devid = ?")
                .bind(fid)
                .bind(devid)
                .execute(&mut *tx)
                .await?;
            devcount(&mut tx, fid).await?;
            Ok(tx.commit().await?)
        })
        .await
    }

    async fn fids_on_device(&self, devid: i64, limit: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(fid AS SIGNED) FROM file_on WHERE devid = ? ORDER BY fid LIMIT ?",
        )
        .bind(devid)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

pub(super) async fn devcount(tx: &mut sqlx::Transaction<'_, sqlx::MySql>, fid: i64) -> Result<()> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM file_on WHERE fid = ?")
        .bind(fid)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("UPDATE file SET devcount = ? WHERE fid = ?")
        .bind(n.min(255))
        .bind(fid)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
