//! Durable before acknowledged (an extension; MogileFS-Server's PR #39
//! went this way and was never merged): a class with `durable=N`
//! (create_class / update_class, 0 turns it off, at most the class's
//! mindevcount) has create_close answer `OK` only once the file is on
//! devices of N distinct hosts: the copies the client wrote itself
//! (`devid_N`/`path_N`), then, for the rest, the replication done at once
//! by the command itself. Losing one storage node right after the `OK`
//! then loses nothing. When N hosts cannot be reached in time the answer
//! is `ERR not_durable`; the file stays stored and queued for replication.
//!
//! The setting is kept as the server setting `durable_class_<dmid>_<classid>`,
//! so the original's schema is unchanged and trackers sharing a database
//! share it.

use std::collections::HashSet;
use std::time::Duration;

use super::replicate::LEASE;
use super::{Fail, Tracker};
use crate::meta::MetaStore;
use crate::proto::ErrCode;

/// How long create_close may spend making copies before it gives up.
const DURABLE_WAIT: Duration = Duration::from_secs(60);
/// Pause between looks while another tracker works the fid.
const POLL: Duration = Duration::from_millis(200);

fn setting_key(dmid: i64, classid: i64) -> String {
    format!("durable_class_{dmid}_{classid}")
}

use danga_common::clock::unix_now_i64 as now;

impl<M: MetaStore> Tracker<M> {
    /// The class's `durable` setting (0: off).
    pub(super) async fn durable_copies(&self, dmid: i64, classid: i64) -> Result<i64, Fail> {
        Ok(self
            .meta
            .server_setting(&setting_key(dmid, classid))
            .await?
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Sets (0: removes) the class's `durable` setting.
    pub(super) async fn set_durable_copies(
        &self,
        dmid: i64,
        classid: i64,
        n: i64,
    ) -> Result<(), Fail> {
        let value = (n > 0).then(|| n.to_string());
        self.meta
            .set_server_setting(&setting_key(dmid, classid), value.as_deref())
            .await?;
        Ok(())
    }

    /// Distinct hosts holding `fid` on devices that count (not dead, not
    /// draining).
    async fn hosts_holding(&self, fid: i64) -> Result<usize, Fail> {
        let topo = self.topology().await?;
        let devids = self.meta.file_devids(fid).await?;
        let hosts: HashSet<i64> = topo
            .devices
            .iter()
            .filter(|d| devids.contains(&d.devid) && super::policy::should_have_files(d))
            .map(|d| d.hostid)
            .collect();
        Ok(hosts.len())
    }

    /// Returns once `fid` is on `n` distinct hosts, replicating it now if
    /// need be: `not_durable` when that cannot be done within
    /// [`DURABLE_WAIT`].
    pub(super) async fn make_durable(&self, fid: i64, n: i64) -> Result<(), Fail> {
        let want = usize::try_from(n).unwrap_or(0);
        if self.hosts_holding(fid).await? >= want {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + DURABLE_WAIT;
        // The fid's queue row (create_close wrote it) is taken so the
        // replicator leaves the fid to this command meanwhile.
        let mut row = self.meta.repl_row(fid).await?;
        if row.is_none() {
            self.meta.enqueue_replication(fid, now(), None).await?;
            row = self.meta.repl_row(fid).await?;
        }
        let mut taken = false;
        if let Some(r) = row {
            taken = self
                .meta
                .claim_replication(fid, r.nexttry, now().saturating_add(LEASE))
                .await?;
        }
        if taken {
            let outcome = tokio::time::timeout_at(deadline, self.replicate(fid)).await;
            match outcome {
                Ok(Ok(())) => self.meta.finish_replication(fid).await?,
                // Due again at once: the replicator goes on with it.
                Ok(Err(why)) => {
                    self.note("replicate", format!("fid {fid} (durable): {why}"));
                    self.meta.retry_replication(fid, now()).await?;
                    self.replications.notify_one();
                }
                Err(_) => {
                    self.meta.retry_replication(fid, now()).await?;
                    self.replications.notify_one();
                }
            }
        } else {
            // Another tracker works the fid: wait for its copies.
            self.replications.notify_one();
            while tokio::time::Instant::now() < deadline && self.hosts_holding(fid).await? < want {
                tokio::time::sleep(POLL).await;
            }
        }
        let have = self.hosts_holding(fid).await?;
        if have >= want {
            return Ok(());
        }
        Err(Fail::Text(
            ErrCode::NotDurable,
            format!("fid {fid} is on {have} of the {want} hosts its class wants before OK; replication goes on"),
        ))
    }
}
