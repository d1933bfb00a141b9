//! Server settings, device usage, checksums and debugging rows on SQLite.

use super::files::file_by_fid_on;
use super::rows::{self, cols};
use super::{all, one, scalar, SqliteStore};
use crate::meta::{
    Admin, Checksum, DeleteRow, FileRow, FsckLog, FsckLogRow, QueueRow, ReplRow, Result, FSCK_QUEUE,
};

impl Admin for SqliteStore {
    async fn server_settings(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            all(
                c,
                "SELECT field, value FROM server_settings ORDER BY field",
                [],
                |r| Ok((rows::text(r, 0)?, rows::text(r, 1)?)),
            )
        })
        .await
    }

    async fn server_setting(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        let v = self
            .look_up(move |c| {
                one(
                    c,
                    "SELECT value FROM server_settings WHERE field = ?1",
                    [&key],
                    |r| rows::opt_text(r, 0),
                )
            })
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
        self.look_up(move |c| checksum_on(c, fid)).await
    }

    async fn file_by_fid(&self, fid: i64) -> Result<Option<FileRow>> {
        self.look_up(move |c| file_by_fid_on(c, fid)).await
    }

    async fn list_fids(&self, after: i64, limit: i64) -> Result<Vec<FileRow>> {
        self.read(move |c| {
            all(
                c,
                concat!(
                    "SELECT ",
                    cols!(file),
                    " FROM file WHERE fid > ?1 ORDER BY fid LIMIT ?2"
                ),
                [after, limit],
                rows::file,
            )
        })
        .await
    }

    async fn repl_row(&self, fid: i64) -> Result<Option<ReplRow>> {
        self.read(move |c| {
            one(
                c,
                concat!(
                    "SELECT ",
                    cols!(repl),
                    " FROM file_to_replicate WHERE fid = ?1"
                ),
                [fid],
                rows::repl,
            )
        })
        .await
    }

    async fn delete_row(&self, fid: i64) -> Result<Option<DeleteRow>> {
        self.read(move |c| {
            one(
                c,
                concat!(
                    "SELECT ",
                    cols!(delete),
                    " FROM file_to_delete2 WHERE fid = ?1"
                ),
                [fid],
                rows::delete,
            )
        })
        .await
    }

    async fn queue_row(&self, fid: i64, qtype: i64) -> Result<Option<QueueRow>> {
        self.read(move |c| {
            one(
                c,
                concat!(
                    "SELECT ",
                    cols!(queue),
                    " FROM file_to_queue WHERE fid = ?1 AND type = ?2"
                ),
                [fid, qtype],
                rows::queue,
            )
        })
        .await
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
        self.read(move |c| {
            all(
                c,
                concat!(
                    "SELECT ",
                    cols!(fsck),
                    " FROM fsck_log WHERE logid > ?1 ORDER BY logid LIMIT ?2"
                ),
                [after, limit],
                rows::fsck,
            )
        })
        .await
    }

    async fn fsck_event_counts(&self, after: i64) -> Result<Vec<(String, i64)>> {
        self.read(move |c| {
            all(
                c,
                "SELECT evcode, COUNT(*) FROM fsck_log WHERE logid > ?1 \
                 GROUP BY evcode ORDER BY evcode",
                [after],
                |r| Ok((rows::text(r, 0)?, r.get(1)?)),
            )
        })
        .await
    }

    async fn max_fsck_logid(&self) -> Result<i64> {
        self.read(|c| scalar(c, "SELECT COALESCE(MAX(logid), 0) FROM fsck_log", []))
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
        self.read(|c| scalar(c, "SELECT COALESCE(MAX(fid), 0) FROM file", []))
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
        self.read(move |c| {
            all(
                c,
                "SELECT fid FROM file WHERE fid > ?1 AND fid <= ?2 ORDER BY fid LIMIT ?3",
                [after, upto, limit],
                |r| r.get(0),
            )
        })
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
        self.read(|c| {
            scalar(
                c,
                "SELECT COUNT(*) FROM file_to_queue WHERE type = ?1",
                [FSCK_QUEUE],
            )
        })
        .await
    }

    async fn due_fsck(&self, now: i64, limit: i64) -> Result<Vec<(i64, i64)>> {
        self.read(move |c| {
            all(
                c,
                "SELECT fid, nexttry FROM file_to_queue WHERE type = ?1 AND nexttry <= ?2 \
                 ORDER BY nexttry, fid LIMIT ?3",
                [FSCK_QUEUE, now, limit],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
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

/// A file's checksum row.
pub(super) fn checksum_on(
    c: &rusqlite::Connection,
    fid: i64,
) -> rusqlite::Result<Option<Checksum>> {
    one(
        c,
        concat!("SELECT ", cols!(checksum), " FROM checksum WHERE fid = ?1"),
        [fid],
        rows::checksum,
    )
}
