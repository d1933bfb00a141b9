//! Replication and the reaper, as tokio tasks beside the query path.
//!
//! * The replicator works `file_to_replicate` (filled by create_close,
//!   updateclass and the reaper; the original's job_master + replicate
//!   workers in one task): for each due fid it asks the class's policy
//!   ([`super::policy`]) for a destination, copies the file there from a
//!   readable replica (HTTP GET streamed into a PUT, with `Content-MD5`
//!   when an MD5 is on record), records the replica, and repeats until the
//!   policy is content; a file with too many copies loses one (HTTP DELETE
//!   of the copy on the most crowded host). A fid that cannot be helped now
//!   is retried later (5 s, doubling per failure, at most an hour).
//! * The reaper: replicas on devices marked `dead` are queued for
//!   replication (after `reaper_delay`, 16 s as the original, so every
//!   tracker knows the device is dead) and forgotten, 1000 per device per
//!   round (every `reaper_interval`, 5 s).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use danga_common::Shutdown;
use futures_util::stream::{self, StreamExt};

use super::cache::Snapshot;
use super::files::dev_url;
use super::placement;
use super::policy::{self, Decision, Policy};
use super::sidechan::hex;
use super::{http, random_u64, Done, Tracker};
use crate::meta::{Checksum, Device, MetaStore, Result};
use crate::proto::command::HttpCopy;
use crate::proto::reply::ReplicateNow;

/// How often the queue is looked at without being woken.
const PERIOD: Duration = Duration::from_secs(1);
/// Fids taken from the queue per pass.
const BATCH: i64 = 100;
/// Replicas the reaper moves per dead device per round (the original's).
const REAP_BATCH: i64 = 1000;
/// First retry delay; doubles per failure up to [`MAX_RETRY`].
const FIRST_RETRY: u64 = 5;
/// How long a tracker holds a fid it works on (seconds).
pub(super) const LEASE: i64 = 600;
const MAX_RETRY: u64 = 3600;

use danga_common::clock::unix_now_i64 as now;

/// Delay before the next try of a fid that failed `failcount` times.
pub fn backoff(failcount: i64) -> u64 {
    let shift = u32::try_from(failcount.clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY.saturating_mul(1 << shift).min(MAX_RETRY)
}

impl<M: MetaStore> Tracker<M> {
    /// `replicate_now`: every queued fid is due now; `count` of them.
    pub(super) async fn replicate_now(&self) -> Done<ReplicateNow> {
        let count = self.meta.replicate_now(now()).await?;
        self.replications.notify_one();
        Ok(ReplicateNow { count })
    }

    /// `httpcopy sdevid= ddevid= fid=`: the original's operations hack,
    /// one copy made and recorded by hand (`copy_err` on failure).
    pub(super) async fn httpcopy(&self, c: HttpCopy) -> Done {
        use super::Fail;
        use crate::proto::ErrCode;
        let copy_err = |t: String| Fail::Text(ErrCode::CopyErr, t);
        let HttpCopy {
            sdevid,
            ddevid,
            fid,
        } = c;
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let url = |devid: i64, get: bool| {
            devices
                .iter()
                .find(|d| d.devid == devid)
                .and_then(|d| dev_url(hosts, d, fid, get, false))
        };
        let (Some(src), Some(dst)) = (url(sdevid, true), url(ddevid, false)) else {
            return Err(copy_err("unknown device".into()));
        };
        let length = match http::request("HEAD", &src, self.settings.node_timeout).await {
            Ok(http::Answer {
                status: 200,
                length: Some(n),
            }) => n,
            other => return Err(copy_err(format!("source {src}: {other:?}"))),
        };
        http::copy(&src, &dst, length, None, None, self.settings.node_timeout)
            .await
            .map_err(|e| copy_err(format!("{src} -> {dst}: {e}")))?;
        if !self.meta.add_replica(fid, ddevid).await? {
            return Err(copy_err("failed to add link to database".into()));
        }
        Ok(())
    }

    /// Whether a file of class (`dmid`, `classid`) just stored on `devids`
    /// already has what its class's policy wants: then the replicator
    /// would only drop its queue row, and create_close need not write one.
    /// Unsure (a class not in the copy): no.
    pub(super) fn content_on(
        &self,
        topo: &Snapshot,
        dmid: i64,
        classid: i64,
        devids: &[i64],
    ) -> bool {
        self.meets_policy(topo, dmid, classid, devids, false)
    }

    /// Whether replicas on `devids` meet the class's policy; with
    /// `as_recorded`, every device counts whatever its state (fsck's first
    /// look, the original's `devids_meet_policy`: a copy on a dead device
    /// is found by the length check instead).
    pub(super) fn meets_policy(
        &self,
        topo: &Snapshot,
        dmid: i64,
        classid: i64,
        devids: &[i64],
        as_recorded: bool,
    ) -> bool {
        let (pol, mindevcount) = match (classid, topo.class(dmid, classid)) {
            (_, Some(c)) => (Policy::parse(c.replpolicy.as_deref()), c.mindevcount),
            (0, None) => (
                Policy::MultipleHosts(None),
                self.settings.default_mindevcount,
            ),
            _ => return false,
        };
        let on: Vec<Device> = topo
            .devices
            .iter()
            .filter(|d| devids.contains(&d.devid) && (as_recorded || policy::should_have_files(d)))
            .cloned()
            .collect();
        let decision = policy::replicate_to(
            pol,
            pol.min(mindevcount),
            &on,
            &topo.devices,
            &topo.hosts,
            &self.view(),
            self.settings.min_free_space,
            &HashSet::new(),
            random_u64,
        );
        decision == Decision::AllGood
    }

    /// Queues `fid` for replication now and wakes the replicator.
    pub(super) async fn enqueue_replication(&self, fid: i64) -> Result<()> {
        self.meta.enqueue_replication(fid, now(), None).await?;
        self.replications.notify_one();
        Ok(())
    }

    /// Works the queue once; returns how many fids were settled.
    pub async fn sweep_replication(&self) -> Result<usize> {
        let due = self.meta.due_replications(now(), BATCH).await?;
        let queued = self.meta.count_replications().await?;
        self.stats.set_work(
            "work_queue_for_replicate",
            u64::try_from(queued).unwrap_or(0),
        );
        // `replicate_jobs` fids at a time (the original's replicate
        // workers); each is claimed before it is worked.
        let mut settled = stream::iter(due)
            .map(|row| self.work_replication(row))
            .buffer_unordered(self.settings.replicate_jobs.max(1));
        let (mut done, mut failed) = (0, None);
        while let Some(r) = settled.next().await {
            match r {
                Ok(true) => done += 1,
                Ok(false) => {}
                // The others in flight are finished first.
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        failed.map_or(Ok(done), Err)
    }

    /// Claims and works one queued fid; whether it was settled.
    async fn work_replication(&self, row: crate::meta::ReplRow) -> Result<bool> {
        // Several trackers may share the queue: one works a fid at a time
        // (a lease, in case this one dies meanwhile).
        let lease = now().saturating_add(LEASE);
        if !self
            .meta
            .claim_replication(row.fid, row.nexttry, lease)
            .await?
        {
            return Ok(false);
        }
        self.stats.add_work("work_sent_to_replicate", 1);
        match self.replicate(row.fid).await {
            Ok(()) => {
                self.meta.finish_replication(row.fid).await?;
                Ok(true)
            }
            Err(why) => {
                let wait = backoff(row.failcount);
                self.note(
                    "replicate",
                    format!("fid {}: {why}; retrying in {wait} s", row.fid),
                );
                let next = now().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                self.meta.retry_replication(row.fid, next).await?;
                Ok(false)
            }
        }
    }

    /// A file's policy and the copies it wants (its class may be gone:
    /// then the default class's); `None` when the file is gone.
    async fn policy_of(&self, fid: i64) -> Result<Option<(Policy, i64)>> {
        let Some(f) = self.meta.file_by_fid(fid).await? else {
            return Ok(None);
        };
        let class = match self.cache.get(&self.meta).await?.class(f.dmid, f.classid) {
            Some(c) => Some(c.clone()),
            None => self
                .meta
                .classes(Some(f.dmid))
                .await?
                .into_iter()
                .find(|c| c.classid == f.classid),
        };
        let (pol, mindevcount) = match &class {
            Some(c) => (Policy::parse(c.replpolicy.as_deref()), c.mindevcount),
            None => (
                Policy::MultipleHosts(None),
                self.settings.default_mindevcount,
            ),
        };
        Ok(Some((pol, pol.min(mindevcount))))
    }

    /// Brings one fid to its class's policy (a deleted fid is done).
    pub(super) async fn replicate(&self, fid: i64) -> std::result::Result<(), String> {
        let db = |e: crate::meta::MetaError| format!("database error: {e}");
        let Some(f) = self.meta.file_by_fid(fid).await.map_err(db)? else {
            return Ok(());
        };
        let known = self.meta.checksum(fid).await.map_err(db)?;
        let md5 = match &known {
            Some(c) if c.hashtype == 1 => {
                Some(base64::engine::general_purpose::STANDARD.encode(&c.checksum))
            }
            _ => None,
        };
        // The digest copies are checked against: the stored one's; or, when
        // the class wants one and the file has none, the copy's, which is
        // then stored (as the original does on replication).
        let class_alg = self
            .class_hashtype(f.dmid, f.classid)
            .await
            .map_err(|e| format!("{e:?}"))?
            .and_then(http::Alg::from_hashtype);
        let check = match &known {
            Some(c) => http::Alg::from_hashtype(c.hashtype),
            None => class_alg,
        };
        let topo = self.topology().await.map_err(|e| format!("{e:?}"))?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let by_id: HashMap<i64, &Device> = devices.iter().map(|d| (d.devid, d)).collect();
        let mut failed = HashSet::new();
        for _ in 0..devices.len() * 2 + 2 {
            // Read each time: updateclass may change it meanwhile.
            let Some((pol, min)) = self.policy_of(fid).await.map_err(db)? else {
                return Ok(());
            };
            let view = self.view();
            let devids = self.meta.file_devids(fid).await.map_err(db)?;
            let holding: Vec<Device> = devids
                .iter()
                .filter_map(|id| by_id.get(id).map(|d| (*d).clone()))
                .collect();
            let on: Vec<Device> = holding
                .iter()
                .filter(|d| policy::should_have_files(d))
                .cloned()
                .collect();
            let decision = policy::replicate_to(
                pol,
                min,
                &on,
                devices,
                hosts,
                &view,
                self.settings.min_free_space,
                &failed,
                random_u64,
            );
            match decision {
                Decision::AllGood => return Ok(()),
                Decision::NoAnswer => {
                    return Err(format!(
                        "no device can take a copy ({} of {min} wanted)",
                        on.len()
                    ))
                }
                Decision::TooGood => {
                    let Some(extra) = policy::extra_copy(&on, &view) else {
                        return Ok(());
                    };
                    let Some(url) = dev_url(hosts, &extra, fid, false, false) else {
                        return Ok(());
                    };
                    match http::request("DELETE", &url, self.settings.node_timeout).await {
                        Ok(a) if (200..300).contains(&a.status) || a.status == 404 => {
                            self.meta
                                .remove_replica(fid, extra.devid)
                                .await
                                .map_err(db)?;
                        }
                        // Too many copies is no harm: leave it for now.
                        _ => return Ok(()),
                    }
                }
                Decision::Copy { ideal, desperate } => {
                    let Some(dest) = ideal.into_iter().chain(desperate).next() else {
                        return Err("no destination".into());
                    };
                    let (sources, _) =
                        placement::order_for_reading(hosts, &holding, &view, random_u64);
                    let Some(src) = sources
                        .iter()
                        .find_map(|d| dev_url(hosts, d, fid, true, false))
                    else {
                        return Err("no readable copy to copy from".into());
                    };
                    let Some(dst) = dev_url(hosts, &dest, fid, false, false) else {
                        failed.insert(dest.devid);
                        continue;
                    };
                    let length = u64::try_from(f.length).unwrap_or(0);
                    let copied = http::copy(
                        &src,
                        &dst,
                        length,
                        md5.as_deref(),
                        check,
                        self.settings.node_timeout,
                    )
                    .await;
                    let copied = match (copied, &known) {
                        (Ok(Some(got)), Some(c)) if got != c.checksum => {
                            let gone = http::request("DELETE", &dst, self.settings.node_timeout);
                            let _ = gone.await;
                            Err(format!(
                                "checksum mismatch: expected {}, copied {}",
                                hex(&c.checksum),
                                hex(&got)
                            ))
                        }
                        (Ok(got), _) => Ok(got),
                        (Err(e), _) => Err(e.to_string()),
                    };
                    match copied {
                        Ok(got) => {
                            if let (Some(got), None, Some(alg)) = (got, &known, check) {
                                let row = Checksum {
                                    fid,
                                    hashtype: alg.hashtype(),
                                    checksum: got,
                                };
                                self.meta.set_checksum(&row).await.map_err(db)?;
                            }
                            if !self.meta.add_replica(fid, dest.devid).await.map_err(db)? {
                                // Deleted meanwhile: the new copy goes too.
                                let gone =
                                    http::request("DELETE", &dst, self.settings.node_timeout);
                                let _ = gone.await;
                                return Ok(());
                            }
                        }
                        Err(e) => {
                            self.note(
                                "replicate",
                                format!("copy of fid {fid} from {src} to {dst} failed: {e}"),
                            );
                            failed.insert(dest.devid);
                        }
                    }
                }
            }
        }
        Err("gave up after too many attempts".into())
    }

    /// One reaper round: replicas on dead devices are queued and forgotten;
    /// returns how many.
    pub async fn reap(&self) -> Result<usize> {
        let delay = i64::try_from(self.settings.reaper_delay.as_secs()).unwrap_or(16);
        let mut n = 0;
        for d in self.meta.devices().await? {
            if d.status != "dead" {
                continue;
            }
            for fid in self.meta.fids_on_device(d.devid, REAP_BATCH).await? {
                // Queued before forgotten: a crash between the two leaves
                // the fid queued, never stranded.
                self.meta
                    .enqueue_replication(fid, now().saturating_add(delay), Some(d.devid))
                    .await?;
                self.meta.remove_replica(fid, d.devid).await?;
                n += 1;
            }
        }
        if n > 0 {
            self.replications.notify_one();
        }
        Ok(n)
    }
}

/// Runs the replicator until shutdown: woken by new work, or every second.
pub async fn run<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    tracker.stats.job_started("replicate");
    loop {
        if !super::job_may_run(&tracker, "replicate", &shutdown).await {
            return;
        }
        match tracker.sweep_replication().await {
            // Work was done: more may be due now (a pass takes at most a
            // batch), so look again at once rather than after a pause.
            Ok(n) if n > 0 => {
                if shutdown.is_triggered() {
                    return;
                }
                tokio::task::yield_now().await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracker.note("replicate", format!("database error: {e}")),
        }
        let wait = async {
            tokio::select! {
                _ = tracker.replications.notified() => {}
                _ = tokio::time::sleep(PERIOD) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}

/// Runs the reaper until shutdown, every `reaper_interval`.
pub async fn run_reaper<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    tracker.stats.job_started("reaper");
    loop {
        if !super::job_may_run(&tracker, "reaper", &shutdown).await {
            return;
        }
        match tracker.reap().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(replicas = n, "reaper queued replicas of dead devices"),
            Err(e) => tracker.note("reaper", format!("database error: {e}")),
        }
        let wait = tokio::time::sleep(tracker.settings.reaper_interval);
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_an_hour() {
        assert_eq!(backoff(0), 5);
        assert_eq!(backoff(1), 10);
        assert_eq!(backoff(3), 40);
        assert_eq!(backoff(100), 3600);
        assert_eq!(backoff(-1), 5);
    }
}
