//! The replication queue and replica rows on SQLite.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::rows::{self, cols};
use super::{all, scalar, SqliteStore};
use crate::meta::{ReplRow, Replication, Result};

impl Replication for SqliteStore {
    async fn enqueue_replication(
        &self,
        fid: i64,
        nexttry: i64,
        fromdevid: Option<i64>,
    ) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO file_to_replicate (fid, nexttry, fromdevid) \
                 VALUES (?1, ?2, ?3)",
            )?
            .execute((fid, nexttry, fromdevid))?;
            Ok(())
        })
        .await
    }

    async fn due_replications(&self, now: i64, limit: i64) -> Result<Vec<ReplRow>> {
        self.read(move |c| {
            all(
                c,
                concat!(
                    "SELECT ",
                    cols!(repl),
                    " FROM file_to_replicate WHERE nexttry <= ?1 ORDER BY nexttry, fid LIMIT ?2"
                ),
                [now, limit],
                rows::repl,
            )
        })
        .await
    }

    async fn claim_replication(&self, fid: i64, seen: i64, until: i64) -> Result<bool> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE file_to_replicate SET nexttry = ?1 WHERE fid = ?2 AND nexttry = ?3",
                )?
                .execute([until, fid, seen])?;
            Ok(n == 1)
        })
        .await
    }

    async fn count_replications(&self) -> Result<i64> {
        self.read(|c| scalar(c, "SELECT COUNT(*) FROM file_to_replicate", []))
            .await
    }

    async fn finish_replication(&self, fid: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM file_to_replicate WHERE fid = ?1")?
                .execute([fid])?;
            Ok(())
        })
        .await
    }

    async fn retry_replication(&self, fid: i64, nexttry: i64) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE file_to_replicate SET nexttry = ?1, failcount = MIN(failcount + 1, 255) \
                 WHERE fid = ?2",
            )?
            .execute([nexttry, fid])?;
            Ok(())
        })
        .await
    }

    async fn replicate_now(&self, now: i64) -> Result<u64> {
        self.write(move |c| {
            let n = c
                .prepare_cached("UPDATE file_to_replicate SET nexttry = ?1 WHERE nexttry > ?1")?
                .execute([now])?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn add_replica(&self, fid: i64, devid: i64) -> Result<bool> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only for a file that still exists (it may have been deleted
            // while it was being copied).
            tx.prepare_cached("INSERT OR IGNORE INTO file_on (fid, devid) SELECT fid, ?1 FROM file WHERE fid = ?2")?.execute([devid, fid],
            )?;
            let there = tx.prepare_cached("SELECT 1 FROM file WHERE fid = ?1")?.query_row([fid], |_| Ok(()))
                .optional()?
                .is_some();
            devcount(&tx, fid)?;
            tx.commit()?;
            Ok(there)
        })
        .await
    }

    async fn remove_replica(&self, fid: i64, devid: i64) -> Result<()> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("DELETE FROM file_on WHERE fid = ?1 AND devid = ?2")?
                .execute([fid, devid])?;
            devcount(&tx, fid)?;
            tx.commit()
        })
        .await
    }

    async fn fids_on_device(&self, devid: i64, limit: i64) -> Result<Vec<i64>> {
        self.read(move |c| {
            all(
                c,
                "SELECT fid FROM file_on WHERE devid = ?1 ORDER BY fid LIMIT ?2",
                [devid, limit],
                |r| r.get(0),
            )
        })
        .await
    }
}

pub(super) fn devcount(tx: &rusqlite::Transaction<'_>, fid: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE file SET devcount = MIN((SELECT COUNT(*) FROM file_on WHERE fid = ?1), 255) \
         WHERE fid = ?1",
    )?
    .execute([fid])?;
    Ok(())
}
