//! Rebalance and drain: the `rebalance_*` commands and the mover.
//!
//! A policy (`rebalance_set_policy policy="k=v k=v"`, 2.73's keys) picks
//! source devices and destination devices. `rebalance_start` records the
//! run's state (server setting `rebal_state`, `k=v` words) and
//! `rebal_host`; the mover then works one source device at a time: marks
//! it `drain` (no new files; reads go on), moves its files one by one (a
//! copy to a destination, recorded, then the source copy deleted and
//! forgotten) up to the policy's limit, and puts the device back to
//! `alive` unless `leave_in_drain_mode=1`. A stopped run (`rebalance_stop`)
//! resumes from its state on the next start; `rebalance_reset` forgets it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use danga_common::Shutdown;

use super::files::dev_url;
use super::{http, placement, random_u64, Done, Fail, Tracker};
use crate::meta::{Device, MetaStore};
use crate::proto::reply::{RebalanceDevs, RebalanceState};
use crate::proto::ErrCode;

/// Files moved per step (state saved after each step).
const STEP: i64 = 20;

/// List keys of the policy (comma-separated ids).
const LIST_KEYS: [&str; 6] = [
    "from_hosts",
    "from_devices",
    "to_hosts",
    "to_devices",
    "not_to_hosts",
    "not_to_devices",
];
/// Number keys of the policy.
const NUMBER_KEYS: [&str; 10] = [
    "from_percent_used",
    "from_percent_free",
    "from_space_used",
    "from_space_free",
    "to_percent_used",
    "to_percent_free",
    "to_space_used",
    "to_space_free",
    "from_all_devs",
    "to_all_devs",
];

use danga_common::clock::unix_now_i64 as now;

/// A parsed rebalance policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    lists: BTreeMap<&'static str, Vec<i64>>,
    numbers: BTreeMap<&'static str, f64>,
    /// `fid_age`: `old` (default) or `new` (accepted; fids are taken in
    /// the device's order).
    pub fid_age: String,
    /// `limit_type`: `device` (default) or `global`.
    pub limit_type: String,
    /// `limit_by`: `none` (default), `count`, `size`.
    pub limit_by: String,
    /// `limit`: a count, or a size with an optional `b/k/m/g/t/p` suffix.
    pub limit: Option<u64>,
    /// `use_dest_devs`: `all` or N.
    pub use_dest_devs: Option<usize>,
    /// `leave_in_drain_mode`.
    pub leave_in_drain_mode: bool,
}

impl Policy {
    /// Parses `k=v` words; an unknown key or a bad value is refused with
    /// the reason.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut p = Policy {
            fid_age: "old".into(),
            limit_type: "device".into(),
            limit_by: "none".into(),
            ..Policy::default()
        };
        let mut limit_text = None;
        for word in text.split_whitespace() {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| format!("bad policy word {word:?} (want key=value)"))?;
            let bad = || format!("bad value for {k}: {v:?}");
            if let Some(key) = LIST_KEYS.iter().find(|x| **x == k) {
                let ids = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim().parse::<i64>().map_err(|_| bad()))
                    .collect::<Result<Vec<_>, _>>()?;
                p.lists.insert(key, ids);
            } else if let Some(key) = NUMBER_KEYS.iter().find(|x| **x == k) {
                let n: f64 = v
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(bad)?;
                p.numbers.insert(key, n);
            } else {
                match k {
                    "fid_age" if matches!(v, "old" | "new") => p.fid_age = v.into(),
                    "limit_type" if matches!(v, "global" | "device") => p.limit_type = v.into(),
                    "limit_by" if matches!(v, "none" | "count" | "size") => p.limit_by = v.into(),
                    "limit" => limit_text = Some(v.to_owned()),
                    "use_dest_devs" if v == "all" => p.use_dest_devs = None,
                    "use_dest_devs" => p.use_dest_devs = Some(v.parse().map_err(|_| bad())?),
                    "leave_in_drain_mode" => {
                        p.leave_in_drain_mode = match v {
                            "0" => false,
                            "1" => true,
                            _ => return Err(bad()),
                        }
                    }
                    _ => return Err(format!("unknown policy key {k:?} (or bad value {v:?})")),
                }
            }
        }
        if let Some(v) = limit_text {
            p.limit = Some(match p.limit_by.as_str() {
                "size" => human_bytes(&v).ok_or_else(|| format!("bad size limit {v:?}"))?,
                _ => v.parse().map_err(|_| format!("bad limit {v:?}"))?,
            });
        }
        if p.limit_by != "none" && p.limit.is_none() {
            return Err(format!("limit_by={} needs a limit", p.limit_by));
        }
        Ok(p)
    }

    fn list(&self, k: &str) -> &[i64] {
        self.lists.get(k).map_or(&[], Vec::as_slice)
    }

    fn number(&self, k: &str) -> Option<f64> {
        self.numbers.get(k).copied().filter(|n| *n != 0.0)
    }

    /// Whether `d` passes the `from_*`/`to_*` usage filters (`side` is
    /// `from` or `to`): percent and MB used / free, as last measured.
    fn usage_ok(&self, side: &str, view: &placement::View, d: &Device) -> bool {
        let (used, total) = view.mb(d);
        let free = view.mb_free(d);
        if let Some(min) = self.number(&format!("{side}_percent_used")) {
            match (used, total) {
                (Some(u), Some(t)) if t > 0 && (u as f64) * 100.0 / (t as f64) > min => {}
                _ => return false,
            }
        }
        if let Some(min) = self.number(&format!("{side}_percent_free")) {
            match (free, total) {
                (Some(f), Some(t)) if t > 0 && (f as f64) * 100.0 / (t as f64) > min => {}
                _ => return false,
            }
        }
        if let Some(min) = self.number(&format!("{side}_space_used")) {
            if !used.is_some_and(|u| u as f64 > min) {
                return false;
            }
        }
        if let Some(min) = self.number(&format!("{side}_space_free")) {
            if !free.is_some_and(|f| f as f64 > min) {
                return false;
            }
        }
        true
    }
}

/// `100g` → bytes (no suffix: bytes).
fn human_bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s.as_str(), ""),
    };
    let n: u64 = digits.parse().ok()?;
    let power = match unit {
        "" | "b" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    n.checked_mul(1024u64.checked_pow(power)?)
}

/// A run's progress, kept in `rebal_state` as `k=v` words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    source_devs: Vec<i64>,
    completed_devs: Vec<i64>,
    sdev_current: Option<i64>,
    sdev_moved: u64,
    sdev_bytes: u64,
    fids_queued: u64,
    bytes_queued: u64,
    time_started: i64,
    time_finished: i64,
    time_stopped: i64,
}

fn ids(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl State {
    fn encode(&self) -> String {
        format!(
            "source_devs={} completed_devs={} sdev_current={} sdev_moved={} sdev_bytes={} \
             fids_queued={} bytes_queued={} time_started={} time_finished={} time_stopped={}",
            ids(&self.source_devs),
            ids(&self.completed_devs),
            self.sdev_current.unwrap_or(0),
            self.sdev_moved,
            self.sdev_bytes,
            self.fids_queued,
            self.bytes_queued,
            self.time_started,
            self.time_finished,
            self.time_stopped
        )
    }

    fn decode(s: &str) -> State {
        let mut st = State::default();
        for (k, v) in s.split_whitespace().filter_map(|w| w.split_once('=')) {
            let list = || v.split(',').filter_map(|x| x.parse().ok()).collect();
            let n = || v.parse::<u64>().unwrap_or(0);
            let t = || v.parse::<i64>().unwrap_or(0);
            match k {
                "source_devs" => st.source_devs = list(),
                "completed_devs" => st.completed_devs = list(),
                "sdev_current" => st.sdev_current = v.parse().ok().filter(|&d: &i64| d > 0),
                "sdev_moved" => st.sdev_moved = n(),
                "sdev_bytes" => st.sdev_bytes = n(),
                "fids_queued" => st.fids_queued = n(),
                "bytes_queued" => st.bytes_queued = n(),
                "time_started" => st.time_started = t(),
                "time_finished" => st.time_finished = t(),
                "time_stopped" => st.time_stopped = t(),
                _ => {}
            }
        }
        st
    }
}

impl<M: MetaStore> Tracker<M> {
    async fn rebal_policy(&self) -> Result<Option<Policy>, Fail> {
        match self.meta.server_setting("rebal_policy").await? {
            None => Ok(None),
            Some(text) => Policy::parse(&text)
                .map(Some)
                .map_err(|e| Fail::Text(ErrCode::BadRebalPol, e)),
        }
    }

    /// Devices the policy moves files from (`can_delete_from`: not dead).
    fn source_devices(&self, p: &Policy, devices: &[Device]) -> Vec<i64> {
        let view = self.view();
        devices
            .iter()
            .filter(|d| d.status != "dead")
            .filter(|d| {
                p.list("from_devices").is_empty() || p.list("from_devices").contains(&d.devid)
            })
            .filter(|d| p.list("from_hosts").is_empty() || p.list("from_hosts").contains(&d.hostid))
            .filter(|d| p.usage_ok("from", &view, d))
            .map(|d| d.devid)
            .collect()
    }

    /// Devices the policy moves files to: those that may get new files,
    /// not a source of this run, through the `to_*`/`not_to_*` filters.
    fn dest_devices(&self, p: &Policy, st: &State, topo: &super::cache::Snapshot) -> Vec<Device> {
        let view = self.view();
        let skip: HashSet<i64> = st
            .source_devs
            .iter()
            .chain(&st.completed_devs)
            .chain(st.sdev_current.as_ref())
            .copied()
            .collect();
        let mut out: Vec<Device> = topo
            .devices
            .iter()
            .filter(|d| !skip.contains(&d.devid))
            .filter(|d| {
                placement::should_get_new_files(&topo.hosts, &view, self.settings.min_free_space, d)
            })
            .filter(|d| p.list("to_devices").is_empty() || p.list("to_devices").contains(&d.devid))
            .filter(|d| p.list("to_hosts").is_empty() || p.list("to_hosts").contains(&d.hostid))
            .filter(|d| !p.list("not_to_devices").contains(&d.devid))
            .filter(|d| !p.list("not_to_hosts").contains(&d.hostid))
            .filter(|d| p.usage_ok("to", &view, d))
            .cloned()
            .collect();
        if let Some(n) = p.use_dest_devs {
            out.truncate(n.max(1));
        }
        out
    }

    /// `rebalance_set_policy policy=...`.
    pub(super) async fn rebalance_set_policy(&self, text: &str) -> Done {
        if self.meta.server_setting("rebal_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::NoSetRebal,
                "cannot change rebalance policy while rebalance is running".into(),
            ));
        }
        Policy::parse(text).map_err(|e| Fail::Text(ErrCode::BadRebalPol, e))?;
        self.meta
            .set_server_setting("rebal_policy", Some(text))
            .await?;
        self.meta.set_server_setting("rebal_state", None).await?;
        Ok(())
    }

    /// `rebalance_test`: `sdevs` and `ddevs` the policy picks now.
    pub(super) async fn rebalance_test(&self) -> Done<RebalanceDevs> {
        let p = self.rebal_policy().await?.ok_or(ErrCode::NoRebalPolicy)?;
        let topo = self.topology().await?;
        let st = State {
            source_devs: self.source_devices(&p, &topo.devices),
            ..State::default()
        };
        let ddevs: Vec<i64> = self
            .dest_devices(&p, &st, &topo)
            .iter()
            .map(|d| d.devid)
            .collect();
        Ok(RebalanceDevs {
            sdevs: st.source_devs,
            ddevs,
        })
    }

    /// `rebalance_start`: `state=` of the run (new or resumed).
    pub(super) async fn rebalance_start(&self) -> Done<RebalanceState> {
        if self.meta.server_setting("rebal_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::RebalRunning,
                "rebalance is already running".into(),
            ));
        }
        if self.meta.server_setting("fsck_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::FsckRunning,
                "fsck running; cannot run rebalance at same time".into(),
            ));
        }
        let state = match self.meta.server_setting("rebal_state").await? {
            Some(s) => s,
            None => {
                let p = self.rebal_policy().await?.ok_or(ErrCode::NoRebalPolicy)?;
                let topo = self.topology().await?;
                let st = State {
                    source_devs: self.source_devices(&p, &topo.devices),
                    time_started: now(),
                    ..State::default()
                };
                let s = st.encode();
                self.meta
                    .set_server_setting("rebal_state", Some(&s))
                    .await?;
                s
            }
        };
        self.meta.set_server_setting("rebal_signal", None).await?;
        self.meta
            .set_server_setting("rebal_host", Some(&super::fsck::hostname()))
            .await?;
        self.rebal_wake.notify_one();
        Ok(RebalanceState { state })
    }

    /// `rebalance_stop`: `rebal_not_started` when none runs.
    pub(super) async fn rebalance_stop(&self) -> Done {
        if self.meta.server_setting("rebal_host").await?.is_none() {
            return Err(ErrCode::RebalNotStarted.into());
        }
        self.meta
            .set_server_setting("rebal_signal", Some("stop"))
            .await?;
        self.rebal_wake.notify_one();
        Ok(())
    }

    /// `rebalance_status`: `state=`, or `no_rebal_state`.
    pub(super) async fn rebalance_status(&self) -> Done<RebalanceState> {
        let state = self
            .meta
            .server_setting("rebal_state")
            .await?
            .ok_or(ErrCode::NoRebalState)?;
        Ok(RebalanceState { state })
    }

    /// `rebalance_reset`: forgets the run's state (`rebal_running` while
    /// one runs).
    pub(super) async fn rebalance_reset(&self) -> Done {
        if self.meta.server_setting("rebal_host").await?.is_some() {
            return Err(Fail::Text(
                ErrCode::RebalRunning,
                "rebalance is running".into(),
            ));
        }
        self.meta.set_server_setting("rebal_state", None).await?;
        Ok(())
    }

    /// Ends the run: `rebal_host` cleared, the time recorded.
    async fn rebal_end(&self, st: &mut State, stopped: bool, p: &Policy) -> Result<(), Fail> {
        if stopped {
            st.time_stopped = now();
            if let (Some(dev), false) = (st.sdev_current, p.leave_in_drain_mode) {
                self.meta.set_device(dev, Some("alive"), None).await?;
                self.changed();
            }
        } else {
            st.time_finished = now();
        }
        self.meta
            .set_server_setting("rebal_state", Some(&st.encode()))
            .await?;
        self.meta.set_server_setting("rebal_signal", None).await?;
        self.meta.set_server_setting("rebal_host", None).await?;
        Ok(())
    }

    /// Moves `fid` off `sdev`: copied to a destination first (unless a
    /// destination already holds it), then deleted there and forgotten.
    async fn move_fid(&self, fid: i64, sdev: i64, dests: &[Device]) -> Result<u64, String> {
        let db = |e: crate::meta::MetaError| format!("database error: {e}");
        let Some(f) = self.meta.file_by_fid(fid).await.map_err(db)? else {
            return Ok(0);
        };
        let topo = self.topology().await.map_err(|e| format!("{e:?}"))?;
        let on = self.meta.file_devids(fid).await.map_err(db)?;
        let holding: Vec<Device> = topo
            .devices
            .iter()
            .filter(|d| on.contains(&d.devid))
            .cloned()
            .collect();
        let view = self.view();
        let used_hosts: HashSet<i64> = holding
            .iter()
            .filter(|d| d.devid != sdev)
            .map(|d| d.hostid)
            .collect();
        let mut choices: Vec<&Device> = dests.iter().filter(|d| !on.contains(&d.devid)).collect();
        // Other hosts first (the class policy wants distinct hosts), then
        // the freest.
        choices.sort_by_key(|d| {
            (
                used_hosts.contains(&d.hostid),
                std::cmp::Reverse(view.mb_free(d).unwrap_or(0)),
                random_u64() % 16,
            )
        });
        let Some(dest) = choices.first() else {
            return Err("no destination device can take it".into());
        };
        let (sources, _) = placement::order_for_reading(&topo.hosts, &holding, &view, random_u64);
        let src = sources
            .iter()
            .find_map(|d| dev_url(&topo.hosts, d, fid, true, false))
            .ok_or("no readable copy")?;
        let dst = dev_url(&topo.hosts, dest, fid, false, false).ok_or("no host for destination")?;
        let length = u64::try_from(f.length).unwrap_or(0);
        http::copy(&src, &dst, length, None, None, self.settings.node_timeout)
            .await
            .map_err(|e| format!("copy {src} -> {dst}: {e}"))?;
        if !self.meta.add_replica(fid, dest.devid).await.map_err(db)? {
            let _ = http::request("DELETE", &dst, self.settings.node_timeout).await;
            return Ok(0);
        }
        if let Some(d) = topo.devices.iter().find(|d| d.devid == sdev) {
            if let Some(url) = dev_url(&topo.hosts, d, fid, false, false) {
                // The copy is recorded first, so a failed DELETE leaves a
                // stray file, never a missing one.
                let _ = http::request("DELETE", &url, self.settings.node_timeout).await;
            }
        }
        self.meta.remove_replica(fid, sdev).await.map_err(db)?;
        Ok(length)
    }

    /// One step of a run, if one is on: `true` if there is more to do.
    async fn rebalance_step(&self, failed: &mut HashSet<i64>) -> Result<bool, Fail> {
        if self.meta.server_setting("rebal_host").await?.is_none() {
            return Ok(false);
        }
        let Some(p) = self.rebal_policy().await? else {
            return Ok(false);
        };
        let mut st = State::decode(
            &self
                .meta
                .server_setting("rebal_state")
                .await?
                .unwrap_or_default(),
        );
        if self.meta.server_setting("rebal_signal").await?.as_deref() == Some("stop") {
            self.rebal_end(&mut st, true, &p).await?;
            return Ok(false);
        }
        let sdev = match st.sdev_current {
            Some(d) => d,
            None => {
                let next = st
                    .source_devs
                    .iter()
                    .copied()
                    .find(|d| !st.completed_devs.contains(d));
                let Some(d) = next else {
                    self.rebal_end(&mut st, false, &p).await?;
                    self.note("rebalance", "rebalance done".into());
                    return Ok(false);
                };
                st.sdev_current = Some(d);
                st.sdev_moved = 0;
                st.sdev_bytes = 0;
                self.meta.set_device(d, Some("drain"), None).await?;
                self.changed();
                failed.clear();
                d
            }
        };
        let topo = self.topology().await?;
        let dests = self.dest_devices(&p, &st, &topo);
        let fids: Vec<i64> = self
            .meta
            .fids_on_device(sdev, STEP + i64::try_from(failed.len()).unwrap_or(0))
            .await?
            .into_iter()
            .filter(|f| !failed.contains(f))
            .take(usize::try_from(STEP).unwrap_or(20))
            .collect();
        let (moved, bytes) = match p.limit_type.as_str() {
            "global" => (st.fids_queued, st.bytes_queued),
            _ => (st.sdev_moved, st.sdev_bytes),
        };
        let limit_hit = match (p.limit_by.as_str(), p.limit) {
            ("count", Some(n)) => moved >= n,
            ("size", Some(n)) => bytes >= n,
            _ => false,
        };
        if fids.is_empty() || limit_hit {
            if !fids.is_empty() || failed.is_empty() || limit_hit {
                if !p.leave_in_drain_mode {
                    self.meta.set_device(sdev, Some("alive"), None).await?;
                    self.changed();
                }
                st.completed_devs.push(sdev);
                st.sdev_current = None;
            } else {
                // Only files that could not be moved are left: stop here.
                self.note(
                    "rebalance",
                    format!(
                        "{} files could not be moved off device {sdev}",
                        failed.len()
                    ),
                );
                self.rebal_end(&mut st, true, &p).await?;
                return Ok(false);
            }
            self.meta
                .set_server_setting("rebal_state", Some(&st.encode()))
                .await?;
            return Ok(true);
        }
        for fid in fids {
            match self.move_fid(fid, sdev, &dests).await {
                Ok(n) => {
                    st.sdev_moved += 1;
                    st.fids_queued += 1;
                    st.sdev_bytes += n;
                    st.bytes_queued += n;
                }
                Err(e) => {
                    self.note(
                        "rebalance",
                        format!("fid {fid} stays on device {sdev}: {e}"),
                    );
                    failed.insert(fid);
                }
            }
        }
        self.meta
            .set_server_setting("rebal_state", Some(&st.encode()))
            .await?;
        Ok(true)
    }
}

/// Runs the mover until shutdown (under `job_master`, as the original's
/// job master drives rebalancing).
pub async fn run<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    let mut failed = HashSet::new();
    loop {
        if !super::job_may_run(&tracker, "job_master", &shutdown).await {
            return;
        }
        let more = match tracker.rebalance_step(&mut failed).await {
            Ok(more) => more,
            Err(e) => {
                tracker.note("rebalance", format!("error: {e:?}"));
                false
            }
        };
        if more && !shutdown.is_triggered() {
            tokio::task::yield_now().await;
            continue;
        }
        let wait = async {
            tokio::select! {
                _ = tracker.rebal_wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let p = Policy::parse(
            "from_hosts=1 fid_age=old limit_type=device limit_by=none to_all_devs=0 \
             to_hosts=3 leave_in_drain_mode=0",
        )
        .expect("2.73's test policy");
        assert_eq!(p.list("from_hosts"), [1]);
        assert_eq!(p.list("to_hosts"), [3]);
        assert!(!p.leave_in_drain_mode);
        let p = Policy::parse("from_devices=1,2 limit_by=size limit=2k").expect("size");
        assert_eq!(p.limit, Some(2048));
        assert!(Policy::parse("from_devices=x").is_err());
        assert!(Policy::parse("bogus=1").is_err());
        assert!(Policy::parse("limit_by=count").is_err());
        assert!(Policy::parse("leave_in_drain_mode=2").is_err());
    }

    #[test]
    fn state_round_trips() {
        let st = State {
            source_devs: vec![1, 2],
            completed_devs: vec![1],
            sdev_current: Some(2),
            sdev_moved: 3,
            sdev_bytes: 40,
            fids_queued: 5,
            bytes_queued: 60,
            time_started: 7,
            time_finished: 0,
            time_stopped: 8,
        };
        assert_eq!(State::decode(&st.encode()), st);
        assert_eq!(State::decode("junk"), State::default());
    }
}
