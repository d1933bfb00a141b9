//! The monitor: every `monitor_interval` (2.5 s, as the original) it reads
//! each device's `/devN/usage` from its storage node, keeps `mb_total` /
//! `mb_used` in the `device` table (at most every 15 s per device), makes a
//! test write (PUT then GET of `/devN/test-write/test-write-<n>`) to tell a
//! `writeable` device from a merely `readable` one, probes once whether the
//! node refuses a body with a bad `Content-MD5` (`reject_bad_md5`), and reads
//! per-device utilisation from each node's side channel (`watch`).
//!
//! What it observes lives in memory ([`Monitor`]): get_devices shows it,
//! create_open only picks `writeable` devices on reachable hosts, get_paths
//! puts replicas on `unreachable` devices last.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use danga_common::Shutdown;
use md5::{Digest, Md5};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::sidechan::{self, STREAM_PORT_PREFIX};
use super::{http, random_u64, unix_now, Tracker};
use crate::meta::{Device, Host, MetaStore};

/// How often usage is written to the database, and a writeable device is
/// test-written again (the original's `UPDATE_DB_EVERY`).
const UPDATE_DB_EVERY: Duration = Duration::from_secs(15);
/// The largest `/devN/usage` body read.
const MAX_USAGE: usize = 64 * 1024;
/// Hosts checked at once.
const PARALLEL_HOSTS: usize = 32;

/// What the monitor saw of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The test write came back.
    Writeable,
    /// Usage could be read, the test write failed (or was not tried).
    Readable,
    /// Usage could not be read.
    Unreachable,
}

impl Observed {
    /// The name get_devices reports.
    pub fn name(self) -> &'static str {
        match self {
            Observed::Writeable => "writeable",
            Observed::Readable => "readable",
            Observed::Unreachable => "unreachable",
        }
    }
}

/// One device's observations.
#[derive(Debug, Clone, Default)]
pub struct DevObs {
    pub state: Option<Observed>,
    pub mb_total: Option<i64>,
    pub mb_used: Option<i64>,
    /// `%util` from the side channel's `watch`, as the node prints it.
    pub utilization: Option<String>,
    pub reject_bad_md5: Option<bool>,
    last_db: Option<Instant>,
    last_test: Option<Instant>,
}

/// The monitor's memory and its bells.
#[derive(Debug)]
pub struct Monitor {
    devs: RwLock<HashMap<i64, DevObs>>,
    unreachable_hosts: RwLock<HashSet<i64>>,
    /// Rounds asked for (each `refresh` takes a number).
    requested: AtomicU64,
    /// The highest request number a finished round had seen before it began.
    completed: watch::Sender<u64>,
    rounds: AtomicU64,
    wake: Notify,
    running: AtomicBool,
    watchers: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor {
            devs: RwLock::default(),
            unreachable_hosts: RwLock::default(),
            requested: AtomicU64::new(0),
            completed: watch::channel(0).0,
            rounds: AtomicU64::new(0),
            wake: Notify::new(),
            running: AtomicBool::new(false),
            watchers: Mutex::default(),
        }
    }
}

impl Monitor {
    /// A copy of every device's observations.
    pub fn devices(&self) -> HashMap<i64, DevObs> {
        self.devs.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Hosts whose storage node timed out in the last round.
    pub fn unreachable_hosts(&self) -> HashSet<i64> {
        self.unreachable_hosts
            .read()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Whether a monitor task runs (unit tests run none: then nothing is
    /// observed and nothing is excluded for it).
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Rounds finished since start.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    fn update(&self, devid: i64, f: impl FnOnce(&mut DevObs)) {
        if let Ok(mut d) = self.devs.write() {
            f(d.entry(devid).or_default());
        }
    }

    fn get(&self, devid: i64) -> DevObs {
        self.devs
            .read()
            .ok()
            .and_then(|d| d.get(&devid).cloned())
            .unwrap_or_default()
    }

    /// Asks for a round that starts after this call and waits (at most
    /// `limit`) for it to finish; the original's `clear_cache`.
    pub async fn refresh(&self, limit: Duration) {
        if !self.running() {
            return;
        }
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        let mut rx = self.completed.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|&done| done >= mine)).await;
    }

    /// Waits (at most `limit`) until one round has finished since start, so
    /// a fresh tracker does not refuse files before it looked at its devices.
    pub async fn first_round(&self, limit: Duration) {
        if !self.running() || self.rounds() > 0 {
            return;
        }
        let mut rx = self.completed.subscribe();
        let rounds = &self.rounds;
        let _ = tokio::time::timeout(limit, async {
            while rounds.load(Ordering::Relaxed) == 0 {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}

/// Parses a usage file into (used, total) KB.
pub fn parse_usage(text: &str) -> (Option<u64>, Option<u64>) {
    let mut used = None;
    let mut total = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().parse::<u64>().ok();
        match k.trim() {
            "used" => used = v,
            "total" => total = v,
            _ => {}
        }
    }
    (used, total)
}

impl<M: MetaStore> Tracker<M> {
    /// One pass over every device on a host that is not dead.
    pub async fn monitor_round(self: &Arc<Self>) {
        let (hosts, devices) = match self.fresh_topology().await {
            Ok(t) => t,
            Err(e) => {
                self.note("monitor", format!("database error: {e:?}"));
                return;
            }
        };
        let ports = self.stream_ports().await;
        let mut by_host: HashMap<i64, Vec<Device>> = HashMap::new();
        for d in devices.iter().filter(|d| d.status != "dead") {
            by_host.entry(d.hostid).or_default().push(d.clone());
        }
        let limit = Arc::new(Semaphore::new(PARALLEL_HOSTS));
        let mut set = JoinSet::new();
        let mut reachable = Vec::new();
        for h in hosts.iter().filter(|h| h.status != "dead") {
            let Some(devs) = by_host.remove(&h.hostid) else {
                continue;
            };
            let (t, h, limit) = (self.clone(), h.clone(), limit.clone());
            set.spawn(async move {
                let _permit = limit.acquire().await;
                let ok = t.check_host(&h, &devs).await;
                (h, ok)
            });
        }
        let mut down = HashSet::new();
        while let Some(r) = set.join_next().await {
            match r {
                Ok((h, true)) => reachable.push(h),
                Ok((h, false)) => {
                    down.insert(h.hostid);
                }
                Err(e) => tracing::warn!(error = %e, "monitor task failed"),
            }
        }
        if let Ok(mut u) = self.monitor.unreachable_hosts.write() {
            *u = down;
        }
        let known: HashSet<i64> = devices.iter().map(|d| d.devid).collect();
        if let Ok(mut d) = self.monitor.devs.write() {
            d.retain(|id, _| known.contains(id));
        }
        self.watch_utilization(&reachable, &ports);
    }

    /// Side-channel ports set per host (`mogstored_stream_port_<hostid>`).
    async fn stream_ports(&self) -> HashMap<i64, u16> {
        let all = self.meta.server_settings().await.unwrap_or_default();
        all.iter()
            .filter_map(|(k, v)| {
                let id = k.strip_prefix(STREAM_PORT_PREFIX)?.parse().ok()?;
                Some((id, v.trim().parse().ok()?))
            })
            .collect()
    }

    /// The side-channel address of a host.
    pub(super) async fn stream_addr(&self, h: &Host) -> String {
        let key = format!("{STREAM_PORT_PREFIX}{}", h.hostid);
        let port = match self.meta.server_setting(&key).await {
            Ok(Some(p)) => p.trim().parse().ok(),
            _ => None,
        };
        let port = port.unwrap_or(self.settings.mogstored_stream_port);
        format!("{}:{port}", h.hostip)
    }

    /// Checks a host's devices in turn; `false` if the host timed out.
    async fn check_host(&self, h: &Host, devs: &[Device]) -> bool {
        for d in devs {
            if !self.check_device(h, d).await {
                for rest in devs {
                    self.monitor
                        .update(rest.devid, |o| o.state = Some(Observed::Unreachable));
                }
                return false;
            }
        }
        true
    }

    /// Checks one device; `false` if its host timed out.
    async fn check_device(&self, h: &Host, d: &Device) -> bool {
        let timeout = self.settings.conn_timeout;
        let get_port = h.http_get_port.unwrap_or(h.http_port);
        let url = format!("http://{}:{get_port}/dev{}/usage", h.hostip, d.devid);
        let t0 = Instant::now();
        let body = match http::get(&url, MAX_USAGE, timeout).await {
            Ok((200, body)) => body,
            other => {
                let err = match other {
                    Ok((status, _)) => format!("HTTP {status}"),
                    Err(e) => e.to_string(),
                };
                let took = t0.elapsed();
                self.monitor
                    .update(d.devid, |o| o.state = Some(Observed::Unreachable));
                if took < Duration::from_millis(500) {
                    self.note(
                        "monitor",
                        format!(
                            "Port {get_port} not listening on {} ({url})?  Error was: {err}",
                            h.hostip
                        ),
                    );
                    return true;
                }
                self.note(
                    "monitor",
                    format!(
                        "Timeout contacting {} dev {} ({url}):  took {:.2} seconds out of {} allowed",
                        h.hostip,
                        d.devid,
                        took.as_secs_f64(),
                        timeout.as_secs()
                    ),
                );
                return false;
            }
        };
        let text = String::from_utf8_lossy(&body);
        let (Some(used), Some(total)) = parse_usage(&text) else {
            self.note(
                "monitor",
                format!(
                    "dev{} reports used = <undef>, total = <undef>, content-length: {}, error?",
                    d.devid,
                    body.len()
                ),
            );
            return true;
        };
        let (mb_total, mb_used) = (to_i64(total / 1024), to_i64(used / 1024));
        let now = Instant::now();
        let before = self.monitor.get(d.devid);
        self.monitor.update(d.devid, |o| {
            o.mb_total = Some(mb_total);
            o.mb_used = Some(mb_used);
        });
        if before.last_db.is_none_or(|t| now >= t + UPDATE_DB_EVERY) {
            let asof = to_i64(unix_now());
            match self
                .meta
                .set_device_usage(d.devid, mb_total, mb_used, asof)
                .await
            {
                Ok(()) => {
                    self.changed();
                    self.monitor.update(d.devid, |o| o.last_db = Some(now));
                }
                Err(e) => self.note("monitor", format!("dev{} usage: {e}", d.devid)),
            }
        }
        if !matches!(d.status.as_str(), "alive" | "drain") {
            // Readonly/down devices may be mounted read-only: never written.
            self.monitor
                .update(d.devid, |o| o.state = Some(Observed::Readable));
            return true;
        }
        // A writeable device is tested again every 15 s (the original);
        // one in any other state at once, so a node that comes back is
        // usable within a round.
        let due = before.state != Some(Observed::Writeable)
            || before.last_test.is_none_or(|t| now >= t + UPDATE_DB_EVERY);
        if !due {
            return true;
        }
        self.monitor.update(d.devid, |o| o.last_test = Some(now));
        let state = self.test_write(h, d.devid).await;
        self.monitor.update(d.devid, |o| o.state = Some(state));
        if before.reject_bad_md5.is_none() && state == Observed::Writeable {
            let probe = self.probe_bad_md5(h, d.devid).await;
            self.monitor.update(d.devid, |o| o.reject_bad_md5 = probe);
        }
        true
    }

    /// PUT a small file, GET it back through the get port.
    async fn test_write(&self, h: &Host, devid: i64) -> Observed {
        let timeout = self.settings.conn_timeout;
        let n = random_u64() % 100;
        let path = format!("/dev{devid}/test-write/test-write-{n}");
        let content = format!("time={} rand={n}", unix_now());
        let put = format!("http://{}:{}{path}", h.hostip, h.http_port);
        if !matches!(http::put(&put, &[], content.as_bytes(), timeout).await, Ok(s) if (200..300).contains(&s))
        {
            return Observed::Readable;
        }
        let get_port = h.http_get_port.unwrap_or(h.http_port);
        let get = format!("http://{}:{get_port}{path}", h.hostip);
        match http::get(&get, 1024, timeout).await {
            Ok((200, body)) if body == content.as_bytes() => Observed::Writeable,
            _ => Observed::Readable,
        }
    }

    /// PUT with a wrong `Content-MD5`: does the node refuse it?
    async fn probe_bad_md5(&self, h: &Host, devid: i64) -> Option<bool> {
        let url = format!(
            "http://{}:{}/dev{devid}/test-write/test-write-md5",
            h.hostip, h.http_port
        );
        let wrong = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"not this"));
        let status = http::put(
            &url,
            &[("Content-MD5", &wrong)],
            b"bad md5 probe",
            self.settings.conn_timeout,
        )
        .await
        .ok()?;
        Some(!(200..300).contains(&status))
    }

    /// Keeps one `watch` reader per reachable node with a side channel.
    fn watch_utilization(self: &Arc<Self>, hosts: &[Host], ports: &HashMap<i64, u16>) {
        let Ok(mut watchers) = self.monitor.watchers.lock() else {
            return;
        };
        let mut wanted = HashSet::new();
        for h in hosts {
            let port = ports
                .get(&h.hostid)
                .copied()
                .unwrap_or(self.settings.mogstored_stream_port);
            let addr = format!("{}:{port}", h.hostip);
            wanted.insert(addr.clone());
            if watchers.get(&addr).is_some_and(|w| !w.is_finished()) {
                continue;
            }
            let t = self.clone();
            let a = addr.clone();
            let handle = tokio::spawn(async move {
                let mon = &t.monitor;
                let r = sidechan::watch(&a, t.settings.conn_timeout, |batch| {
                    for (devid, util) in batch {
                        mon.update(devid, |o| o.utilization = Some(util));
                    }
                })
                .await;
                tracing::debug!(addr = %a, result = ?r, "side channel watch ended");
            });
            watchers.insert(addr, handle);
        }
        watchers.retain(|addr, w| {
            let keep = wanted.contains(addr);
            if !keep {
                w.abort();
            }
            keep
        });
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Runs rounds until shutdown: every `monitor_interval`, or at once when
/// a command asks (clear_cache, host and device changes).
pub async fn run<M: MetaStore>(tracker: Arc<Tracker<M>>, shutdown: Shutdown) {
    let mon = &tracker.monitor;
    mon.running.store(true, Ordering::Relaxed);
    tracker.stats.job_started("monitor");
    loop {
        if !super::job_may_run(&tracker, "monitor", &shutdown).await {
            break;
        }
        let asked = mon.requested.load(Ordering::SeqCst);
        tracker.monitor_round().await;
        mon.rounds.fetch_add(1, Ordering::Relaxed);
        mon.completed.send_replace(asked);
        let wait = async {
            tokio::select! {
                _ = mon.wake.notified() => {}
                _ = tokio::time::sleep(tracker.settings.monitor_interval) => {}
            }
        };
        if shutdown.until_stopped(wait).await.is_none() {
            break;
        }
    }
    if let Ok(mut w) = mon.watchers.lock() {
        for (_, h) in w.drain() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_files() {
        let text = "available: 10\ndevice: /dev/sda1\ndisk: /x/dev1\ntime: 1\ntotal: 2048000\nuse: 5%\nused: 102400\n";
        assert_eq!(parse_usage(text), (Some(102400), Some(2048000)));
        assert_eq!(parse_usage("junk"), (None, None));
        assert_eq!(parse_usage("used: x\ntotal: 5"), (None, Some(5)));
    }
}
