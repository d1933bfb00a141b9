//! Where new files go and which replica is read first (pure: no I/O).
//!
//! * New files (create_open): devices that should get new files (device
//!   `alive`, weight > 0, host `alive`, observed `writeable` on a reachable
//!   host, at least `min_free_space` MB free), the 20 with the largest
//!   share free, in a random order weighted by that share (and, unlike
//!   2.73, by the device weight, so `set_weight` steers new files), one
//!   device per host.
//! * Reads (get_paths): replicas on readable devices (alive, readonly,
//!   drain) of readable hosts (alive, readonly) not observed unreachable,
//!   in a random order weighted by `102 - utilization` (else the device
//!   weight); the rest are kept as a last resort.

use std::collections::{HashMap, HashSet};

use super::monitor::{DevObs, Observed};
use crate::meta::{Device, Host};

/// How many of the freest devices take part in the draw (the original's).
const TOP: usize = 20;

/// What the monitor saw, for choosing.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub obs: HashMap<i64, DevObs>,
    pub down_hosts: HashSet<i64>,
    /// A monitor runs; without one nothing is observed and nothing is
    /// excluded for it.
    pub watched: bool,
}

impl View {
    /// Observed writeable on a reachable host.
    pub fn writeable(&self, d: &Device) -> bool {
        !self.watched
            || (!self.down_hosts.contains(&d.hostid)
                && self.obs.get(&d.devid).and_then(|o| o.state) == Some(Observed::Writeable))
    }

    /// Not observed unreachable (unknown counts as reachable).
    pub fn reachable(&self, d: &Device) -> bool {
        !self.down_hosts.contains(&d.hostid)
            && self.obs.get(&d.devid).and_then(|o| o.state) != Some(Observed::Unreachable)
    }

    /// (mb_total, mb_used): the monitor's latest, else the database's.
    pub fn mb(&self, d: &Device) -> (Option<i64>, Option<i64>) {
        match self.obs.get(&d.devid) {
            Some(o) if o.mb_total.is_some() => (o.mb_total, o.mb_used),
            _ => (d.mb_total, d.mb_used),
        }
    }

    /// MB free, if known.
    pub fn mb_free(&self, d: &Device) -> Option<i64> {
        match self.mb(d) {
            (Some(t), Some(u)) if t > 0 => Some(t - u),
            _ => None,
        }
    }

    /// Share free in [0, 1] (0 when unknown, as the original).
    pub fn percent_free(&self, d: &Device) -> f64 {
        match self.mb(d) {
            (Some(t), Some(u)) if t > 0 => (1.0 - u as f64 / t as f64).clamp(0.0, 1.0),
            _ => 0.0,
        }
    }

    /// `%util` from the side channel, if known. With `TESTING=1` in the
    /// environment, `T_FAKE_IO_DEV<devid>` stands in for it (the original
    /// tracker's test hook, which its `t/10-weighting.t` drives).
    pub fn utilization(&self, d: &Device) -> Option<f64> {
        if let Some(fake) = fake_utilization(d.devid) {
            return Some(fake);
        }
        self.obs
            .get(&d.devid)
            .and_then(|o| o.utilization.as_deref())
            .and_then(|u| u.parse().ok())
    }
}

/// `T_FAKE_IO_DEV<devid>` when `TESTING` is set (read once per process
/// for `TESTING`; the per-device value only then).
fn fake_utilization(devid: i64) -> Option<f64> {
    static TESTING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let on = *TESTING.get_or_init(|| testing_on(std::env::var("TESTING").ok().as_deref()));
    fake_from(on, devid, |name| std::env::var(name).ok())
}

/// Whether a `TESTING` value turns the hook on (set, not empty, not `0`).
fn testing_on(v: Option<&str>) -> bool {
    v.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The fake utilization of `devid` from `var` (the environment).
fn fake_from(on: bool, devid: i64, var: impl Fn(&str) -> Option<String>) -> Option<f64> {
    if !on {
        return None;
    }
    var(&format!("T_FAKE_IO_DEV{devid}")).and_then(|v| v.trim().parse().ok())
}

fn host_of<'a>(hosts: &'a [Host], d: &Device) -> Option<&'a Host> {
    hosts.iter().find(|h| h.hostid == d.hostid)
}

/// Whether a device may get new files (or replicas).
pub fn should_get_new_files(hosts: &[Host], view: &View, min_free: i64, d: &Device) -> bool {
    d.status == "alive"
        && d.weight > 0
        && host_of(hosts, d).is_some_and(|h| h.status == "alive")
        && view.writeable(d)
        && view.mb_free(d).is_none_or(|free| free >= min_free)
}

/// Whether a replica on `d` may be read.
pub fn should_read_from(hosts: &[Host], view: &View, d: &Device) -> bool {
    matches!(d.status.as_str(), "alive" | "readonly" | "drain")
        && host_of(hosts, d).is_some_and(|h| matches!(h.status.as_str(), "alive" | "readonly"))
        && view.reachable(d)
}

/// Orders `items` by repeated weighted draws (the original's
/// `weighted_list`); `rnd` gives random numbers.
pub fn weighted_order<T>(mut items: Vec<(T, f64)>, mut rnd: impl FnMut() -> u64) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    while !items.is_empty() {
        let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
        let idx = if total <= 0.0 {
            0
        } else {
            let mut x = (rnd() % 1_000_000) as f64 / 1_000_000.0 * total;
            let mut pick = items.len() - 1;
            for (i, (_, w)) in items.iter().enumerate() {
                let w = w.max(0.0);
                if x < w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            pick
        };
        out.push(items.remove(idx).0);
    }
    out
}

/// Devices for a new file of `size` bytes (if known): up to `want`, one
/// per host.
pub fn choose_devices(
    hosts: &[Host],
    devices: &[Device],
    view: &View,
    min_free: i64,
    want: usize,
    size: Option<u64>,
    rnd: impl FnMut() -> u64,
) -> Vec<Device> {
    let mut cands: Vec<&Device> = devices
        .iter()
        .filter(|d| should_get_new_files(hosts, view, min_free, d))
        .collect();
    if let Some(size) = size.filter(|&s| s > 0) {
        let fits = |d: &&Device| {
            view.mb_free(d)
                .is_some_and(|f| u64::try_from(f).unwrap_or(0).saturating_mul(1 << 20) > size)
        };
        let big: Vec<&Device> = cands.iter().copied().filter(fits).collect();
        cands = if big.is_empty() {
            cands
                .into_iter()
                .filter(|d| view.mb_free(d).is_none())
                .collect()
        } else {
            big
        };
    }
    cands.sort_by(|a, b| view.percent_free(b).total_cmp(&view.percent_free(a)));
    cands.truncate(TOP);
    let weighted = cands
        .into_iter()
        .map(|d| {
            let w = 100.0 * view.percent_free(d) * d.weight as f64 / 100.0;
            (d, w.max(1e-6))
        })
        .collect();
    let mut out: Vec<Device> = Vec::new();
    for d in weighted_order(weighted, rnd) {
        if out.len() < want && !out.iter().any(|o| o.hostid == d.hostid) {
            out.push(d.clone());
        }
    }
    out
}

/// Replicas in read order: readable ones (weighted by utilization or
/// weight), then the others as a last resort.
pub fn order_for_reading(
    hosts: &[Host],
    holding: &[Device],
    view: &View,
    rnd: impl FnMut() -> u64,
) -> (Vec<Device>, Vec<Device>) {
    let (up, down): (Vec<&Device>, Vec<&Device>) = holding
        .iter()
        .filter(|d| host_of(hosts, d).is_some())
        .partition(|d| should_read_from(hosts, view, d));
    let weighted = up
        .into_iter()
        .map(|d| {
            let w = match view.utilization(d) {
                Some(u) => 102.0 - u,
                None if d.weight > 0 => d.weight as f64,
                None => 100.0,
            };
            (d.clone(), w.max(1e-6))
        })
        .collect();
    (
        weighted_order(weighted, rnd),
        down.into_iter().cloned().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testing_hook_fakes_utilization_per_device() {
        let env = |name: &str| match name {
            "T_FAKE_IO_DEV1" => Some("95".to_owned()),
            "T_FAKE_IO_DEV2" => Some(" 5 ".to_owned()),
            _ => None,
        };
        assert!(testing_on(Some("1")));
        assert!(!testing_on(Some("0")) && !testing_on(Some("")) && !testing_on(None));
        assert_eq!(fake_from(true, 1, env), Some(95.0));
        assert_eq!(fake_from(true, 2, env), Some(5.0));
        assert_eq!(fake_from(true, 3, env), None);
        assert_eq!(fake_from(false, 1, env), None, "only with TESTING");
    }

    fn host(id: i64, status: &str) -> Host {
        Host {
            hostid: id,
            status: status.into(),
            hostname: format!("h{id}"),
            hostip: "127.0.0.1".into(),
            http_port: 7500 + id,
            http_get_port: None,
            altip: None,
            altmask: None,
        }
    }

    fn dev(devid: i64, hostid: i64, status: &str, total: i64, used: i64) -> Device {
        Device {
            devid,
            hostid,
            status: status.into(),
            weight: 100,
            mb_total: Some(total),
            mb_used: Some(used),
            mb_asof: None,
        }
    }

    fn seq() -> impl FnMut() -> u64 {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    fn watched(states: &[(i64, Observed)]) -> View {
        View {
            obs: states
                .iter()
                .map(|&(id, s)| {
                    let mut o = DevObs::default();
                    o.state = Some(s);
                    (id, o)
                })
                .collect(),
            down_hosts: HashSet::new(),
            watched: true,
        }
    }

    #[test]
    fn new_files_skip_what_should_not_get_them() {
        let hosts = [host(1, "alive"), host(2, "alive"), host(3, "readonly")];
        let devs = [
            dev(1, 1, "alive", 1000, 100),
            dev(2, 1, "alive", 1000, 100),
            dev(3, 2, "drain", 1000, 0),
            dev(4, 2, "alive", 1000, 950), // 50 MB free < 100
            dev(5, 3, "alive", 1000, 0),   // host readonly
            dev(6, 2, "alive", 1000, 0),   // not writeable
        ];
        let view = watched(&[
            (1, Observed::Writeable),
            (2, Observed::Writeable),
            (3, Observed::Writeable),
            (4, Observed::Writeable),
            (5, Observed::Writeable),
            (6, Observed::Readable),
        ]);
        for _ in 0..20 {
            let got = choose_devices(&hosts, &devs, &view, 100, 3, None, seq());
            assert_eq!(got.len(), 1, "one per host: {got:?}");
            assert!(matches!(got[0].devid, 1 | 2));
        }
    }

    #[test]
    fn freer_devices_win_more_often() {
        let hosts = [host(1, "alive"), host(2, "alive")];
        let devs = [dev(1, 1, "alive", 1000, 900), dev(2, 2, "alive", 1000, 0)];
        let view = View::default();
        let mut r = seq();
        let firsts = (0..1000)
            .filter(|_| choose_devices(&hosts, &devs, &view, 0, 1, None, &mut r)[0].devid == 2)
            .count();
        assert!(firsts > 800, "{firsts}");
        let both = choose_devices(&hosts, &devs, &view, 0, 3, None, seq());
        assert_eq!(both.len(), 2);
    }

    #[test]
    fn size_filters_devices_with_room() {
        let hosts = [host(1, "alive"), host(2, "alive")];
        let devs = [dev(1, 1, "alive", 1000, 995), dev(2, 2, "alive", 1000, 0)];
        let got = choose_devices(&hosts, &devs, &View::default(), 0, 3, Some(10 << 20), seq());
        assert_eq!(got.iter().map(|d| d.devid).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn unreachable_replicas_are_read_last() {
        let hosts = [host(1, "alive"), host(2, "alive"), host(3, "down")];
        let devs = [
            dev(1, 1, "alive", 1, 0),
            dev(2, 2, "alive", 1, 0),
            dev(3, 3, "alive", 1, 0),
        ];
        let view = watched(&[(1, Observed::Unreachable), (2, Observed::Writeable)]);
        let (up, rest) = order_for_reading(&hosts, &devs, &view, seq());
        assert_eq!(up.iter().map(|d| d.devid).collect::<Vec<_>>(), [2]);
        assert_eq!(rest.iter().map(|d| d.devid).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn weighted_order_keeps_everything() {
        let got = weighted_order(vec![(1, 0.0), (2, 5.0), (3, 1.0)], seq());
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3]);
    }
}
