//! mogstats' counts on SQLite (the shared SQL of [`crate::meta::stats`]).

use super::{all, scalar, SqliteStore};
use crate::meta::stats::{CLASS_TOTALS, FILES_PER_DEVCOUNT, FILES_PER_DEVICE};
use crate::meta::{ClassTotals, DevcountCount, QueueCount, Result, StatQueue, Stats};

impl Stats for SqliteStore {
    async fn files_per_device(&self) -> Result<Vec<(i64, i64)>> {
        self.read(|c| {
            all(c, FILES_PER_DEVICE, [], |r| {
                Ok((r.get("devid")?, r.get("n")?))
            })
        })
        .await
    }

    async fn class_totals(&self) -> Result<Vec<ClassTotals>> {
        self.read(|c| {
            all(c, CLASS_TOTALS, [], |r| {
                Ok(ClassTotals {
                    dmid: r.get("dmid")?,
                    classid: r.get("classid")?,
                    files: r.get("files")?,
                    bytes: r.get("bytes")?,
                    fullbytes: r.get("fullbytes")?,
                })
            })
        })
        .await
    }

    async fn files_per_devcount(&self) -> Result<Vec<DevcountCount>> {
        self.read(|c| {
            all(c, FILES_PER_DEVCOUNT, [], |r| {
                Ok(DevcountCount {
                    dmid: r.get("dmid")?,
                    classid: r.get("classid")?,
                    devcount: r.get("devcount")?,
                    files: r.get("n")?,
                })
            })
        })
        .await
    }

    async fn queue_counts(&self, q: StatQueue) -> Result<Vec<QueueCount>> {
        self.read(move |c| {
            all(c, q.sql(), [], |r| {
                Ok(QueueCount {
                    qtype: r.get("qtype")?,
                    nexttry: r.get("nexttry")?,
                    rows: r.get("n")?,
                })
            })
        })
        .await
    }

    async fn db_time(&self) -> Result<i64> {
        self.read(|c| scalar(c, "SELECT CAST(strftime('%s', 'now') AS INTEGER)", []))
            .await
    }
}
