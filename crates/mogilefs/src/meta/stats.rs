//! The slow, read-only counts `mogstats` shows (MogileFS-Utils 2.30): files
//! per device, per domain and class, per replica count, and the queues by
//! `nexttry`. The SQL is shared by both engines (each decodes its rows).

use std::future::Future;

use super::Result;

/// Per device: `(devid, rows in file_on)`.
pub(super) const FILES_PER_DEVICE: &str =
    "SELECT devid, COUNT(*) AS n FROM file_on GROUP BY devid ORDER BY devid";

/// Per (domain, class): files, their bytes, and bytes times replicas.
/// `CAST(... AS SIGNED)`: MySQL's SUM is a DECIMAL; SQLite keeps integers.
pub(super) const CLASS_TOTALS: &str = "SELECT dmid, classid, COUNT(*) AS files, \
     CAST(COALESCE(SUM(length), 0) AS SIGNED) AS bytes, \
     CAST(COALESCE(SUM(length * devcount), 0) AS SIGNED) AS fullbytes \
     FROM file GROUP BY dmid, classid";

/// Per (domain, class, devcount): files.
pub(super) const FILES_PER_DEVCOUNT: &str = "SELECT dmid, classid, devcount, COUNT(*) AS n \
     FROM file GROUP BY dmid, classid, devcount";

/// One of the queues counted by `nexttry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatQueue {
    /// `file_to_replicate`.
    Replicate,
    /// `file_to_delete2`.
    Delete,
    /// `file_to_queue` (fsck, rebalance), by type.
    General,
}

impl StatQueue {
    /// Rows as `qtype, nexttry, n` (qtype 0 for the single-type queues).
    pub(super) fn sql(self) -> &'static str {
        match self {
            StatQueue::Replicate => {
                "SELECT 0 AS qtype, nexttry, COUNT(*) AS n FROM file_to_replicate GROUP BY nexttry"
            }
            StatQueue::Delete => {
                "SELECT 0 AS qtype, nexttry, COUNT(*) AS n FROM file_to_delete2 GROUP BY nexttry"
            }
            StatQueue::General => {
                "SELECT type AS qtype, nexttry, COUNT(*) AS n FROM file_to_queue \
                 GROUP BY type, nexttry"
            }
        }
    }
}

/// Files of one (domain, class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTotals {
    pub dmid: i64,
    pub classid: i64,
    pub files: i64,
    /// Sum of the lengths.
    pub bytes: i64,
    /// Sum of length times devcount (what the replicas take).
    pub fullbytes: i64,
}

/// Files of one (domain, class) with one replica count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevcountCount {
    pub dmid: i64,
    pub classid: i64,
    pub devcount: i64,
    pub files: i64,
}

/// Queue rows of one type with one `nexttry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    /// `file_to_queue.type`; 0 for the replication and delete queues.
    pub qtype: i64,
    pub nexttry: i64,
    pub rows: i64,
}

/// Whole-table counts for reporting; nothing here writes.
pub trait Stats: Send + Sync {
    /// `(devid, files)` for each device holding any, by devid.
    fn files_per_device(&self) -> impl Future<Output = Result<Vec<(i64, i64)>>> + Send;
    fn class_totals(&self) -> impl Future<Output = Result<Vec<ClassTotals>>> + Send;
    fn files_per_devcount(&self) -> impl Future<Output = Result<Vec<DevcountCount>>> + Send;
    fn queue_counts(&self, q: StatQueue) -> impl Future<Output = Result<Vec<QueueCount>>> + Send;
    /// The database's clock, in Unix seconds (what `nexttry` is compared to).
    fn db_time(&self) -> impl Future<Output = Result<i64>> + Send;
}
