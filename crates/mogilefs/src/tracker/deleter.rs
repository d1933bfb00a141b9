//! The delete queue's worker: removes every replica of the fids in
//! `file_to_delete2` from the storage nodes (HTTP DELETE), then forgets
//! them; a replica that cannot be removed is retried a minute later.
//! Tempfiles never closed are dropped after `tempfile_max_age` (1 h).

use std::sync::Arc;
use std::time::Duration;

use danga_common::Shutdown;

use super::files::dev_url;
use super::Tracker;
use crate::meta::{MetaStore, Result};

/// How often the queue is looked at without being woken.
const PERIOD: Duration = Duration::from_secs(5);
/// Delay before retrying a fid whose replicas could not all be removed.
const RETRY_SECS: i64 = 60;

use danga_common::clock::unix_now_i64 as now;

impl<M: MetaStore> Tracker<M> {
    /// Drops tempfiles older than `tempfile_max_age` (uploads never
    /// closed) and deletes whatever reached their devices; returns how many.
    pub async fn expire_tempfiles(&self) -> Result<usize> {
        let age = i64::try_from(self.settings.tempfile_max_age.as_secs()).unwrap_or(i64::MAX);
        let stale = self
            .meta
            .expire_tempfiles(now().saturating_sub(age), 100)
            .await?;
        if stale.is_empty() {
            return Ok(0);
        }
        let topo = self.cache.get(&self.meta).await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        for t in &stale {
            let devids = t
                .devids
                .split(',')
                .filter_map(|d| d.trim().parse::<i64>().ok());
            for devid in devids {
                let dev = devices.iter().find(|d| d.devid == devid);
                let Some(url) = dev.and_then(|d| dev_url(hosts, d, t.fid, false, false)) else {
                    continue;
                };
                // Best effort: most abandoned uploads never reached the node.
                let r = self
                    .pool
                    .call("DELETE", &url, self.settings.node_timeout)
                    .await;
                tracing::debug!(fid = t.fid, devid, ?r, "abandoned tempfile");
            }
        }
        Ok(stale.len())
    }

    /// Works the queue once; returns how many fids were finished.
    pub async fn sweep_deletes(&self) -> Result<usize> {
        let due = self.meta.due_deletes(now(), 100).await?;
        self.stats
            .set_work("work_queue_for_delete", due.len() as u64);
        if due.is_empty() {
            return Ok(0);
        }
        let topo = self.cache.get(&self.meta).await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let mut done = 0;
        for fid in due {
            let mut all_gone = true;
            for devid in self.meta.file_devids(fid).await? {
                let Some(dev) = devices.iter().find(|d| d.devid == devid) else {
                    continue;
                };
                let Some(url) = dev_url(hosts, dev, fid, false, false) else {
                    continue;
                };
                match self
                    .pool
                    .call("DELETE", &url, self.settings.node_timeout)
                    .await
                {
                    Ok(a) if (200..300).contains(&a.status) || a.status == 404 => {}
                    other => {
                        let why = match other {
                            Ok(a) => format!("HTTP {}", a.status),
                            Err(e) => e.to_string(),
                        };
                        self.note("delete", format!("Error deleting {url}: {why}"));
                        all_gone = false;
                    }
                }
            }
            self.stats.add_work("work_sent_to_delete", 1);
            if all_gone {
                self.meta.finish_delete(fid).await?;
                done += 1;
            } else {
                self.meta.retry_delete(fid, now() + RETRY_SECS).await?;
            }
        }
        Ok(done)
    }
}

/// Runs the worker until shutdown: woken by deletes, or every few seconds.
pub async fn run<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    tracker.stats.job_started("delete");
    loop {
        if !super::job_may_run(&tracker, "delete", &shutdown).await {
            return;
        }
        let busy = match tracker.sweep_deletes().await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "delete queue");
                false
            }
        };
        if let Err(e) = tracker.expire_tempfiles().await {
            tracing::warn!(error = %e, "abandoned tempfiles");
        }
        // Work was done: more may be due now (a pass takes at most 100).
        if busy && !shutdown.is_triggered() {
            tokio::task::yield_now().await;
            continue;
        }
        let wait = async {
            tokio::select! {
                _ = tracker.deletes.notified() => {}
                _ = tokio::time::sleep(PERIOD) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}
