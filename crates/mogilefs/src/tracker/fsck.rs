//! fsck: the `fsck_*` commands, the job master's part that queues the
//! fids to check, and the fsck worker that checks them.
//!
//! As the original: while `fsck_host` names this machine, the job master
//! ([`run_injector`]) puts the next `queue_rate_for_fsck` fids (1000) above
//! `fsck_highest_fid_checked` into `file_to_queue` (type 1), while fewer
//! than `queue_size_for_fsck` (20000) are queued, and moves
//! `fsck_highest_fid_checked` to the last; with none left it clears
//! `fsck_host`. The fsck worker ([`run`]) takes due rows (leasing each
//! for 1000 s), checks each fid and deletes its row; a fid whose devices
//! cannot be asked keeps its row until the lease runs out.
//!
//! State lives in server settings, as the original keeps it, so a tracker
//! restart resumes where the checker stopped: `fsck_host` (set while it
//! runs), `fsck_highest_fid_checked`, `fsck_fid_at_end` (the last fid when
//! the run was reset), `fsck_fids_checked`, `fsck_start_time`,
//! `fsck_stop_time`, `fsck_start_fid`, `fsck_start_maxlogid` (the log rows
//! of this run come after it), `fsck_opt_policy_only`.
//!
//! Per fid, the checker logs to `fsck_log` with the original's codes, in
//! its order: `NOPA` (no replica on record) or `POVI` (the recorded
//! replicas do not meet the class's policy); then, repairing, `MISS` (a
//! replica absent on its device), `BLEN` (one of the wrong length), `SRCH`
//! (no good replica left: every device is searched), `FOND` (found by the
//! search) or `GONE` (found nowhere); the digests against the stored
//! checksum: `NSUM` (none stored while the class wants one: stored now),
//! `BSUM` (every replica differs from it), `BALG` (it is of another
//! algorithm than the class's), `MSUM` (replicas disagree, none stored);
//! replicas that differ from a checksum other replicas match are forgotten
//! silently, as the original does; `REPL` (replication requested) when the
//! replicas left do not meet the policy, and the replicator copies a good
//! one.

use std::sync::Arc;
use std::time::Duration;

use danga_common::Shutdown;

use super::files::dev_url;
use super::http::{self, Alg};
use super::{Done, Fail, Tracker};
use crate::meta::{Device, FileRow, MetaStore};
use crate::proto::command::FsckReset;
use crate::proto::reply::{FsckLog, FsckLogEntry, FsckStatus};
use crate::proto::{fid_path, ErrCode};

/// Rows the fsck worker takes per round.
const BATCH: i64 = 100;
/// Rows `fsck_getlog` returns at most (the original's 100).
const LOG_ROWS: i64 = 100;
/// How long a taken row is the worker's (the original's 1000 s): a fid
/// that stalls is tried again after it.
const LEASE: i64 = 1000;
/// `queue_size_for_fsck` default: the job master queues no more while this
/// many rows wait.
const QUEUE_MAX: i64 = 20_000;
/// `queue_rate_for_fsck` default: fids queued per round.
const QUEUE_INJECT: i64 = 1000;
/// The most fids queued per round whatever the setting says.
const QUEUE_INJECT_CAP: i64 = 10_000;

/// Bumped by every fsck_start/stop/reset/clearlog: a fid whose check began
/// before one of them logs nothing (its run is over, its log was cleared).
static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The [`RUN`] the checker's current fid belongs to.
static CHECKING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn new_run() {
    RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

use danga_common::clock::unix_now_i64 as now;

/// This machine's name, as `fsck_host` records it.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// What checking one fid came to.
enum Checked {
    /// Done (whatever was found is logged).
    Done,
    /// A device could not be asked: try this fid again later.
    Stalled(String),
}

impl<M: MetaStore> Tracker<M> {
    async fn setting_int(&self, key: &str) -> Result<i64, Fail> {
        Ok(self
            .meta
            .server_setting(key)
            .await?
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    async fn set(&self, key: &str, value: Option<String>) -> Result<(), Fail> {
        Ok(self.meta.set_server_setting(key, value.as_deref()).await?)
    }

    async fn fsck_do_reset(&self) -> Result<(), Fail> {
        self.set("fsck_start_time", None).await?;
        self.set("fsck_stop_time", None).await?;
        self.set("fsck_fids_checked", Some("0".into())).await?;
        let end = self.meta.max_fid().await?;
        self.set("fsck_fid_at_end", Some(end.to_string())).await?;
        let logid = self.meta.max_fsck_logid().await?;
        self.set("fsck_start_maxlogid", Some(logid.to_string()))
            .await
    }

    /// `fsck_start`: `fsck_running` if it runs, `rebal_running` while a
    /// rebalance does; a finished (or never started) run starts afresh.
    pub(super) async fn fsck_start(&self) -> Done {
        if self.meta.server_setting("fsck_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::FsckRunning,
                "fsck is already running".into(),
            ));
        }
        if self.meta.server_setting("rebal_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::RebalRunning,
                "rebalance running; cannot run fsck at same time".into(),
            ));
        }
        let checked = self.setting_int("fsck_highest_fid_checked").await?;
        let end = self.setting_int("fsck_fid_at_end").await?;
        if (checked > 0 && end > 0 && checked >= end) || (checked == 0 && end == 0) {
            self.fsck_do_reset().await?;
        }
        self.set("fsck_start_time", Some(now().to_string())).await?;
        self.set("fsck_stop_time", None).await?;
        self.set("fsck_fids_checked", Some("0".into())).await?;
        let start = self.setting_int("fsck_highest_fid_checked").await?;
        self.set("fsck_start_fid", Some(start.to_string())).await?;
        self.set("fsck_host", Some(hostname())).await?;
        self.fsck_inject.notify_one();
        Ok(())
    }

    /// `fsck_stop`.
    pub(super) async fn fsck_stop(&self) -> Done {
        new_run();
        self.set("fsck_host", None).await?;
        self.set("fsck_stop_time", Some(now().to_string())).await?;
        Ok(())
    }

    /// `fsck_reset [policy_only=1] [startpos=FID]`.
    pub(super) async fn fsck_reset(&self, c: FsckReset) -> Done {
        new_run();
        self.set("fsck_opt_policy_only", c.policy_only.then(|| "1".into()))
            .await?;
        self.set("fsck_highest_fid_checked", Some(c.startpos.to_string()))
            .await?;
        self.fsck_do_reset().await?;
        Ok(())
    }

    /// `fsck_clearlog`.
    pub(super) async fn fsck_clearlog(&self) -> Done {
        new_run();
        self.meta.clear_fsck_log().await?;
        Ok(())
    }

    /// `fsck_getlog [after_logid=N]`: `row_N_{logid,utime,fid,evcode,devid}`
    /// and `row_count`.
    pub(super) async fn fsck_getlog(&self, after_logid: i64) -> Done<FsckLog> {
        let rows = self.meta.fsck_events(after_logid, LOG_ROWS).await?;
        let rows = rows
            .into_iter()
            .map(|r| FsckLogEntry {
                logid: r.logid,
                utime: r.utime,
                fid: r.fid,
                evcode: r.evcode,
                devid: r.devid,
            })
            .collect();
        Ok(FsckLog { rows })
    }

    /// `fsck_status`: the run's settings, the time, and `num_<CODE>` for
    /// each event code logged since the run was reset.
    pub(super) async fn fsck_status(&self) -> Done<FsckStatus> {
        let host = self.meta.server_setting("fsck_host").await?;
        let max_fid_checked = self.setting_int("fsck_highest_fid_checked").await?;
        let policy_only = self.setting_int("fsck_opt_policy_only").await?;
        let end_fid = self.setting_int("fsck_fid_at_end").await?;
        let start_time = self.setting_int("fsck_start_time").await?;
        let stop_time = self.setting_int("fsck_stop_time").await?;
        let current_time = now();
        let max_logid = self.meta.max_fsck_logid().await?;
        let since = self.setting_int("fsck_start_maxlogid").await?;
        let counts = self.meta.fsck_event_counts(since).await?;
        Ok(FsckStatus {
            host,
            max_fid_checked,
            policy_only,
            end_fid,
            start_time,
            stop_time,
            current_time,
            max_logid,
            counts,
        })
    }

    async fn log_event(&self, fid: i64, code: &str, devid: Option<i64>) -> Result<(), Fail> {
        use std::sync::atomic::Ordering;
        if CHECKING.load(Ordering::SeqCst) != RUN.load(Ordering::SeqCst) {
            // Stopped, reset or cleared while this fid was being checked.
            return Ok(());
        }
        self.meta
            .add_fsck_event(now(), Some(fid), code, devid)
            .await?;
        Ok(())
    }

    /// The `fsck_checksum` setting as an algorithm to check every file
    /// with (`MD5`, `SHA-1`), `Some(None)` for `off`, `None` when unset or
    /// `class` (the class's hashtype decides).
    async fn fsck_checksum_opt(&self) -> Result<Option<Option<Alg>>, Fail> {
        Ok(
            match self.meta.server_setting("fsck_checksum").await?.as_deref() {
                Some("off") => Some(None),
                Some(name) => Alg::from_name(name).map(Some),
                None => None,
            },
        )
    }

    /// HEAD of `fid` on `dev`: `Ok(Some(len))`, `Ok(None)` when absent,
    /// `Err` when the node could not be asked.
    async fn replica_length(&self, dev: &Device, fid: i64) -> Result<Option<u64>, String> {
        let topo = self.topology().await.map_err(|e| format!("{e:?}"))?;
        let url = dev_url(&topo.hosts, dev, fid, true, false)
            .ok_or_else(|| format!("no host for device {}", dev.devid))?;
        match self.pool.head(&url, self.settings.node_timeout).await {
            Ok(http::Answer {
                status: 200,
                length,
            }) => Ok(Some(length.unwrap_or(0))),
            Ok(http::Answer { status: 404, .. }) => Ok(None),
            Ok(a) => Err(format!("HEAD {url}: status {}", a.status)),
            Err(e) => Err(format!("HEAD {url}: {e}")),
        }
    }

    /// The digest of `fid` on `dev` (side channel, else over HTTP).
    async fn replica_digest(&self, dev: &Device, fid: i64, alg: Alg) -> Result<Vec<u8>, String> {
        let topo = self.topology().await.map_err(|e| format!("{e:?}"))?;
        let wait = self.settings.node_timeout.max(Duration::from_secs(30));
        if let Some(h) = topo.hosts.iter().find(|h| h.hostid == dev.hostid) {
            let addr = self.stream_addr(h).await;
            let uri = fid_path(dev.devid, fid);
            if let Ok(Some(d)) = super::sidechan::digest(&addr, alg, &uri, wait).await {
                return Ok(d);
            }
        }
        let url = dev_url(&topo.hosts, dev, fid, true, false)
            .ok_or_else(|| format!("no host for device {}", dev.devid))?;
        match http::digest(&url, alg, wait).await {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(format!("{url} vanished while digested")),
            Err(e) => Err(format!("digest of {url}: {e}")),
        }
    }

    /// Checks one fid, in the original's order: no replica on record
    /// (`NOPA`) or the class's policy not met by the recorded replicas
    /// (`POVI`) goes straight to the repair; so does a class hashtype
    /// without a stored checksum, or a `fsck_checksum` algorithm; else
    /// each replica's length is checked and any problem goes to the
    /// repair, which logs what it finds.
    async fn fsck_fid(&self, f: &FileRow, policy_only: bool) -> Result<Checked, Fail> {
        let fid = f.fid;
        let topo = self.topology().await?;
        let devids = self.meta.file_devids(fid).await?;
        if devids.is_empty() {
            self.log_event(fid, "NOPA", None).await?;
            return self.fsck_fix(f).await;
        }
        if !self.meets_policy(&topo, f.dmid, f.classid, &devids, true) {
            self.log_event(fid, "POVI", None).await?;
            return self.fsck_fix(f).await;
        }
        self.fsck_fix_devcount(f, devids.len()).await?;
        if policy_only {
            return Ok(Checked::Done);
        }
        let class_alg = self
            .class_hashtype(f.dmid, f.classid)
            .await?
            .and_then(Alg::from_hashtype);
        let opt = self.fsck_checksum_opt().await?;
        // `fsck_checksum=off` turns checksums off whatever the class says:
        // a missing one is no reason to repair then.
        let off = opt == Some(None);
        if !off && class_alg.is_some() && self.meta.checksum(fid).await?.is_none() {
            return self.fsck_fix(f).await;
        }
        if let Some(Some(_)) = opt {
            return self.fsck_fix(f).await;
        }
        for devid in &devids {
            let Some(dev) = topo.devices.iter().find(|d| d.devid == *devid) else {
                return self.fsck_fix(f).await;
            };
            if dev.status == "dead" {
                return self.fsck_fix(f).await;
            }
            match self.replica_length(dev, fid).await {
                Ok(Some(n)) if i64::try_from(n).is_ok_and(|n| n == f.length) => {}
                Ok(_) => return self.fsck_fix(f).await,
                Err(e) => {
                    return Ok(Checked::Stalled(format!(
                        "Connectivity problem reaching device {devid}: {e}"
                    )))
                }
            }
        }
        // Lengths agree; a class with a hashtype has its digests checked
        // too, unless `fsck_checksum` is `off`.
        if class_alg.is_some() && !off {
            return self.fsck_fix(f).await;
        }
        Ok(Checked::Done)
    }

    /// The repair: every recorded replica checked (length, then digest
    /// when an algorithm applies), `MISS`/`BLEN` logged for the bad ones;
    /// with none good, the search (`SRCH`, then `FOND` or `GONE`); the bad
    /// ones forgotten; the digests compared with the stored checksum
    /// (`NSUM`, `BSUM`, `BALG`, `MSUM`); `REPL` and a replication when the
    /// policy is not met.
    async fn fsck_fix(&self, f: &FileRow) -> Result<Checked, Fail> {
        let fid = f.fid;
        let topo = self.topology().await?;
        let class_alg = self
            .class_hashtype(f.dmid, f.classid)
            .await?
            .and_then(Alg::from_hashtype);
        let opt = self.fsck_checksum_opt().await?.flatten();
        let alg = class_alg.or(opt);
        let devids = self.meta.file_devids(fid).await?;
        let mut good: Vec<i64> = Vec::new();
        let mut bad: Vec<i64> = Vec::new();
        // digest -> devices with it
        let mut sums: Vec<(Vec<u8>, Vec<i64>)> = Vec::new();
        let mut checked = std::collections::HashSet::new();
        let candidates: Vec<Device> = devids
            .iter()
            .filter_map(|id| topo.devices.iter().find(|d| d.devid == *id))
            .cloned()
            .collect();
        let search: Vec<Device> = topo
            .devices
            .iter()
            .filter(|d| matches!(d.status.as_str(), "alive" | "readonly" | "drain"))
            .cloned()
            .collect();
        for (i, round) in [candidates, search].into_iter().enumerate() {
            let desperate = i == 1;
            if desperate {
                if !good.is_empty() {
                    break;
                }
                self.log_event(fid, "SRCH", None).await?;
            }
            for dev in round {
                if !checked.insert(dev.devid) {
                    continue;
                }
                if dev.status == "dead" {
                    bad.push(dev.devid);
                    continue;
                }
                let unreachable = |e: String| {
                    Checked::Stalled(format!(
                        "Connectivity problem reaching device {}: {e}",
                        dev.devid
                    ))
                };
                let len = match self.replica_length(&dev, fid).await {
                    Ok(l) => l,
                    Err(e) => return Ok(unreachable(e)),
                };
                let right = len.and_then(|n| i64::try_from(n).ok()) == Some(f.length);
                if right {
                    if let Some(alg) = alg {
                        match self.replica_digest(&dev, fid, alg).await {
                            Ok(d) => match sums.iter_mut().find(|(s, _)| *s == d) {
                                Some((_, on)) => on.push(dev.devid),
                                None => sums.push((d, vec![dev.devid])),
                            },
                            Err(e) => return Ok(unreachable(e)),
                        }
                    }
                    good.push(dev.devid);
                    if desperate {
                        break;
                    }
                    continue;
                }
                if !desperate {
                    let code = if len.is_none() { "MISS" } else { "BLEN" };
                    self.log_event(fid, code, Some(dev.devid)).await?;
                    bad.push(dev.devid);
                }
            }
            if desperate {
                if good.is_empty() {
                    for devid in &bad {
                        self.meta.remove_replica(fid, *devid).await?;
                    }
                    self.log_event(fid, "GONE", None).await?;
                    return Ok(Checked::Done);
                }
                self.meta.add_replica(fid, good[0]).await?;
                self.log_event(fid, "FOND", None).await?;
            }
        }
        for devid in &bad {
            self.meta.remove_replica(fid, *devid).await?;
        }
        if let Some(alg) = alg {
            self.fsck_fix_checksums(f, alg, class_alg.is_some(), opt.is_some(), sums)
                .await?;
        }
        let topo = self.topology().await?;
        let now_on: Vec<i64> = self
            .meta
            .file_devids(fid)
            .await?
            .into_iter()
            .filter(|id| {
                topo.devices
                    .iter()
                    .any(|d| d.devid == *id && crate::tracker::policy::should_have_files(d))
            })
            .collect();
        if !self.content_on(&topo, f.dmid, f.classid, &now_on) {
            self.enqueue_replication(fid).await?;
            self.log_event(fid, "REPL", None).await?;
            return Ok(Checked::Done);
        }
        let on = self.meta.file_devids(fid).await?.len();
        if let Some(fresh) = self.meta.file_by_fid(fid).await? {
            self.fsck_fix_devcount(&fresh, on).await?;
        }
        Ok(Checked::Done)
    }

    /// `BCNT`: the file's `devcount` differs from its replicas on record;
    /// it is recounted (unless the `skip_devcount` setting is on).
    async fn fsck_fix_devcount(&self, f: &FileRow, on_record: usize) -> Result<(), Fail> {
        if i64::try_from(on_record).is_ok_and(|n| n == f.devcount) {
            return Ok(());
        }
        let skip = self.meta.server_setting("skip_devcount").await?;
        if skip.as_deref().is_some_and(|v| v != "0") {
            return Ok(());
        }
        self.log_event(f.fid, "BCNT", None).await?;
        self.meta.recount_devcount(f.fid).await?;
        Ok(())
    }

    /// Compares the replicas' digests with the stored checksum (the
    /// original's `fix_checksums`).
    async fn fsck_fix_checksums(
        &self,
        f: &FileRow,
        alg: Alg,
        class_has_one: bool,
        forced: bool,
        mut sums: Vec<(Vec<u8>, Vec<i64>)>,
    ) -> Result<(), Fail> {
        let fid = f.fid;
        let stored = self.meta.checksum(fid).await?;
        match (sums.len(), stored) {
            (0, _) => {}
            (1, Some(c)) => {
                if sums[0].0 != c.checksum {
                    let same_alg = c.hashtype == alg.hashtype();
                    let code = if same_alg { "BSUM" } else { "BALG" };
                    self.log_event(fid, code, None).await?;
                }
            }
            (1, None) => {
                if class_has_one {
                    let row = crate::meta::Checksum {
                        fid,
                        hashtype: alg.hashtype(),
                        checksum: sums.remove(0).0,
                    };
                    self.log_event(fid, "NSUM", None).await?;
                    self.meta.set_checksum(&row).await?;
                }
            }
            (_, Some(c)) => {
                let good = sums
                    .iter()
                    .any(|(d, on)| *d == c.checksum && !on.is_empty());
                if good {
                    // The copies that differ are forgotten; the policy
                    // check then asks for new ones.
                    for (d, on) in &sums {
                        if *d != c.checksum {
                            for devid in on {
                                self.meta.remove_replica(fid, *devid).await?;
                            }
                        }
                    }
                } else {
                    self.log_event(fid, "BSUM", None).await?;
                }
            }
            (_, None) => {
                let code = if forced { "MSUM" } else { "BSUM" };
                self.log_event(fid, code, None).await?;
            }
        }
        Ok(())
    }

    /// The job master's part: queues the next fids of the run when one is
    /// on here and the queue has room; `true` if it queued any.
    async fn fsck_inject(&self) -> Result<bool, Fail> {
        let Some(host) = self.meta.server_setting("fsck_host").await? else {
            return Ok(false);
        };
        if host != hostname() {
            return Ok(false);
        }
        let max_queue = self
            .positive_setting("queue_size_for_fsck", QUEUE_MAX)
            .await?;
        if self.meta.fsck_queue_len().await? >= max_queue {
            return Ok(false);
        }
        let rate = self
            .positive_setting("queue_rate_for_fsck", QUEUE_INJECT)
            .await?
            .min(QUEUE_INJECT_CAP);
        let checked = self.setting_int("fsck_highest_fid_checked").await?;
        let end = self.setting_int("fsck_fid_at_end").await?;
        let fids = self.meta.fids_between(checked, end, rate).await?;
        let Some(&last) = fids.last() else {
            self.set("fsck_highest_fid_checked", Some(checked.to_string()))
                .await?;
            // Last, as the original: scripts take a cleared fsck_host as
            // the end of the queueing.
            self.set("fsck_host", None).await?;
            self.set("fsck_stop_time", Some(now().to_string())).await?;
            self.note(
                "job_master",
                format!("fsck queued every fid up to {checked}"),
            );
            return Ok(false);
        };
        self.meta.enqueue_fsck(fids, now()).await?;
        self.set("fsck_highest_fid_checked", Some(last.to_string()))
            .await?;
        Ok(true)
    }

    /// A positive integer setting, else `default`.
    async fn positive_setting(&self, key: &str, default: i64) -> Result<i64, Fail> {
        Ok(Some(self.setting_int(key).await?)
            .filter(|n| *n > 0)
            .unwrap_or(default))
    }

    /// One round of the fsck worker: the due queue rows, each taken, its
    /// fid checked and its row deleted (kept when the fid stalled); `true`
    /// if there were rows.
    async fn fsck_work(&self, shutdown: &Shutdown) -> Result<bool, Fail> {
        let due = self.meta.due_fsck(now(), BATCH).await?;
        if due.is_empty() {
            return Ok(false);
        }
        let policy_only = self.setting_int("fsck_opt_policy_only").await? != 0;
        for (fid, seen) in due {
            if shutdown.is_triggered() || self.stats.job_running("fsck") == 0 {
                break;
            }
            if !self.meta.claim_fsck(fid, seen, now() + LEASE).await? {
                continue;
            }
            let Some(f) = self.meta.file_by_fid(fid).await? else {
                // Deleted before it was checked.
                self.meta.finish_fsck(fid).await?;
                continue;
            };
            CHECKING.store(
                RUN.load(std::sync::atomic::Ordering::SeqCst),
                std::sync::atomic::Ordering::SeqCst,
            );
            match self.fsck_fid(&f, policy_only).await? {
                Checked::Done => {
                    self.meta.finish_fsck(fid).await?;
                    self.meta
                        .incr_server_setting("fsck_fids_checked", 1)
                        .await?;
                }
                // The row stays, taken, until its lease runs out (or
                // someone moves its `nexttry`).
                Checked::Stalled(why) => self.note("fsck", why),
            }
        }
        Ok(true)
    }
}

/// The fsck worker: a round at once after one that found rows, else every
/// 2 s (the original's) or when woken (`!to fsck :wake_up`).
pub async fn run<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    tracker.stats.job_started("fsck");
    loop {
        if !super::job_may_run(&tracker, "fsck", &shutdown).await {
            return;
        }
        let more = match tracker.fsck_work(&shutdown).await {
            Ok(more) => more,
            Err(e) => {
                tracker.note("fsck", format!("error: {e:?}"));
                false
            }
        };
        if more && !shutdown.is_triggered() {
            tokio::task::yield_now().await;
            continue;
        }
        let wait = async {
            tokio::select! {
                _ = tracker.fsck_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}

/// The job master's fsck queueing: again at once after a round that
/// queued fids, else every second or when fsck_start wakes it.
pub async fn run_injector<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    loop {
        if !super::job_may_run(&tracker, "job_master", &shutdown).await {
            return;
        }
        let more = match tracker.fsck_inject().await {
            Ok(more) => more,
            Err(e) => {
                tracker.note("job_master", format!("fsck queueing: {e:?}"));
                false
            }
        };
        if more {
            tracker.fsck_wake.notify_one();
            if !shutdown.is_triggered() {
                tokio::task::yield_now().await;
                continue;
            }
        }
        let wait = async {
            tokio::select! {
                _ = tracker.fsck_inject.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}
