//! mogstats' counts on MySQL (the shared SQL of [`crate::meta::stats`]).

use super::rows::int;
use super::MysqlStore;
use crate::meta::stats::{CLASS_TOTALS, FILES_PER_DEVCOUNT, FILES_PER_DEVICE};
use crate::meta::{ClassTotals, DevcountCount, QueueCount, Result, StatQueue, Stats};

impl Stats for MysqlStore {
    async fn files_per_device(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(FILES_PER_DEVICE).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((int(r, "devid")?, int(r, "n")?)))
            .collect()
    }

    async fn class_totals(&self) -> Result<Vec<ClassTotals>> {
        let rows = sqlx::query(CLASS_TOTALS).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ClassTotals {
                    dmid: int(r, "dmid")?,
                    classid: int(r, "classid")?,
                    files: int(r, "files")?,
                    bytes: int(r, "bytes")?,
                    fullbytes: int(r, "fullbytes")?,
                })
            })
            .collect()
    }

    async fn files_per_devcount(&self) -> Result<Vec<DevcountCount>> {
        let rows = sqlx::query(FILES_PER_DEVCOUNT)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DevcountCount {
                    dmid: int(r, "dmid")?,
                    classid: int(r, "classid")?,
                    devcount: int(r, "devcount")?,
                    files: int(r, "n")?,
                })
            })
            .collect()
    }

    async fn queue_counts(&self, q: StatQueue) -> Result<Vec<QueueCount>> {
        let rows = sqlx::query(q.sql()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(QueueCount {
                    qtype: int(r, "qtype")?,
                    nexttry: int(r, "nexttry")?,
                    rows: int(r, "n")?,
                })
            })
            .collect()
    }

    async fn db_time(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(UNIX_TIMESTAMP() AS SIGNED) AS n")
            .fetch_one(&self.pool)
            .await?;
        int(&row, "n")
    }
}
