//! mogstats' counts on SQLite (the shared SQL of [`crate::meta::stats`]).

use sqlx::Row;

use super::SqliteStore;
use crate::meta::stats::{CLASS_TOTALS, FILES_PER_DEVCOUNT, FILES_PER_DEVICE};
use crate::meta::{ClassTotals, DevcountCount, QueueCount, Result, StatQueue, Stats};

impl Stats for SqliteStore {
    async fn files_per_device(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(FILES_PER_DEVICE)
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("devid")?, r.try_get("n")?)))
            .collect()
    }

    async fn class_totals(&self) -> Result<Vec<ClassTotals>> {
        let rows = sqlx::query(CLASS_TOTALS)
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ClassTotals {
                    dmid: r.try_get("dmid")?,
                    classid: r.try_get("classid")?,
                    files: r.try_get("files")?,
                    bytes: r.try_get("bytes")?,
                    fullbytes: r.try_get("fullbytes")?,
                })
            })
            .collect()
    }

    async fn files_per_devcount(&self) -> Result<Vec<DevcountCount>> {
        let rows = sqlx::query(FILES_PER_DEVCOUNT)
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DevcountCount {
                    dmid: r.try_get("dmid")?,
                    classid: r.try_get("classid")?,
                    devcount: r.try_get("devcount")?,
                    files: r.try_get("n")?,
                })
            })
            .collect()
    }

    async fn queue_counts(&self, q: StatQueue) -> Result<Vec<QueueCount>> {
        let rows = sqlx::query(q.sql())
            .fetch_all(&mut *self.read().await)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueCount {
                    qtype: r.try_get("qtype")?,
                    nexttry: r.try_get("nexttry")?,
                    rows: r.try_get("n")?,
                })
            })
            .collect()
    }

    async fn db_time(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT CAST(strftime('%s', 'now') AS INTEGER)")
            .fetch_one(&mut *self.read().await)
            .await
    }
}
