//! Replication policies (a class's `replpolicy`), pure: where a file's next
//! copy goes, or that it has enough (or too many) copies.
//!
//! * `MultipleHosts(N)` (the default, N = the class mindevcount when
//!   omitted): N copies on N distinct hosts. Content with fewer hosts than
//!   N once it is on every host with at least N copies, or with two copies
//!   when those are all the disks there are. Destinations on hosts the file
//!   is not on yet are "ideal", the others "desperate".
//! * `MultipleDevices(N)`: N copies on N devices, hosts ignored.
//!
//! Copies on dead or draining devices do not count; destinations are
//! devices that may get new files, drawn weighted by share free.

use std::collections::HashSet;

use super::placement::{self, View};
use crate::meta::{Device, Host};

/// A class's replication policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    MultipleHosts(Option<i64>),
    MultipleDevices(Option<i64>),
}

impl Policy {
    /// Parses `replpolicy` (NULL or unknown: `MultipleHosts()`).
    pub fn parse(s: Option<&str>) -> Policy {
        let s = s.unwrap_or("").trim();
        let arg = |pre: &str| -> Option<Option<i64>> {
            let inner = s.strip_prefix(pre)?.strip_suffix(')')?;
            Some(inner.trim().parse().ok())
        };
        if let Some(n) = arg("MultipleDevices(") {
            Policy::MultipleDevices(n)
        } else {
            Policy::MultipleHosts(arg("MultipleHosts(").flatten())
        }
    }

    /// The copies wanted, given the class mindevcount.
    pub fn min(self, mindevcount: i64) -> i64 {
        let n = match self {
            Policy::MultipleHosts(n) | Policy::MultipleDevices(n) => n,
        };
        n.unwrap_or(mindevcount).max(1)
    }
}

/// What to do with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It has what it should.
    AllGood,
    /// It has more than it should: a copy can go.
    TooGood,
    /// It needs a copy but no device can take one now.
    NoAnswer,
    /// Copy to the first that works: `ideal` ones, then `desperate` ones.
    Copy {
        ideal: Vec<Device>,
        desperate: Vec<Device>,
    },
}

/// Whether a replica on `d` counts (the original's `should_have_files`:
/// not on a dead or draining device).
pub fn should_have_files(d: &Device) -> bool {
    !matches!(d.status.as_str(), "dead" | "drain")
}

/// Decides for a file on `on` (its counting replicas), given every device.
#[allow(clippy::too_many_arguments)]
pub fn replicate_to(
    policy: Policy,
    min: i64,
    on: &[Device],
    all: &[Device],
    hosts: &[Host],
    view: &View,
    min_free: i64,
    failed: &HashSet<i64>,
    rnd: impl FnMut() -> u64,
) -> Decision {
    let already = i64::try_from(on.len()).unwrap_or(i64::MAX);
    let on_devs: HashSet<i64> = on.iter().map(|d| d.devid).collect();
    let on_hosts: HashSet<i64> = on.iter().map(|d| d.hostid).collect();
    let skip_hosts = match policy {
        Policy::MultipleDevices(_) => {
            if already > min {
                return Decision::TooGood;
            }
            if already == min {
                return Decision::AllGood;
            }
            HashSet::new()
        }
        Policy::MultipleHosts(_) => {
            if min == 1 && already > 0 {
                return if already > 1 {
                    Decision::TooGood
                } else {
                    Decision::AllGood
                };
            }
            let total_disks = all.iter().filter(|d| should_have_files(d)).count() as i64;
            if already >= 2 && already == total_disks {
                return Decision::AllGood;
            }
            let uniq_on = on_hosts.len() as i64;
            let total_hosts = all
                .iter()
                .filter(|d| d.status == "alive")
                .map(|d| d.hostid)
                .collect::<HashSet<_>>()
                .len() as i64;
            if uniq_on > min || (uniq_on == min && already > min) {
                return Decision::TooGood;
            }
            if uniq_on == min || (uniq_on >= total_hosts && already >= min) {
                return Decision::AllGood;
            }
            if uniq_on < total_hosts {
                on_hosts.clone()
            } else {
                HashSet::new()
            }
        }
    };
    let dests: Vec<(Device, f64)> = all
        .iter()
        .filter(|d| !on_devs.contains(&d.devid) && !failed.contains(&d.devid))
        .filter(|d| placement::should_get_new_files(hosts, view, min_free, d))
        .map(|d| {
            let w = 100.0 * view.percent_free(d) * d.weight as f64 / 100.0;
            (d.clone(), w.max(1e-6))
        })
        .collect();
    if dests.is_empty() {
        return Decision::NoAnswer;
    }
    let (ideal, desperate) = placement::weighted_order(dests, rnd)
        .into_iter()
        .partition(|d| !skip_hosts.contains(&d.hostid));
    Decision::Copy { ideal, desperate }
}

/// Which copy to drop from a file with too many: one on a host holding
/// several copies if any, else the one on the fullest device.
pub fn extra_copy(on: &[Device], view: &View) -> Option<Device> {
    let mut per_host = std::collections::HashMap::new();
    for d in on {
        *per_host.entry(d.hostid).or_insert(0) += 1;
    }
    on.iter()
        .max_by(|a, b| {
            let crowded = |d: &Device| per_host.get(&d.hostid).copied().unwrap_or(0) > 1;
            crowded(a)
                .cmp(&crowded(b))
                .then(view.percent_free(b).total_cmp(&view.percent_free(a)))
                .then(a.devid.cmp(&b.devid))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(devid: i64, hostid: i64) -> Device {
        Device {
            devid,
            hostid,
            status: "alive".into(),
            weight: 100,
            mb_total: Some(1000),
            mb_used: Some(100),
            mb_asof: None,
        }
    }

    fn host(id: i64) -> Host {
        Host {
            hostid: id,
            status: "alive".into(),
            hostname: format!("h{id}"),
            hostip: "127.0.0.1".into(),
            http_port: 7500,
            http_get_port: None,
            altip: None,
            altmask: None,
        }
    }

    fn decide(policy: Policy, min: i64, on: &[i64], all: &[Device]) -> Decision {
        let hosts: Vec<Host> = (1..=4).map(host).collect();
        let on: Vec<Device> = all
            .iter()
            .filter(|d| on.contains(&d.devid))
            .cloned()
            .collect();
        replicate_to(
            policy,
            min,
            &on,
            all,
            &hosts,
            &View::default(),
            0,
            &HashSet::new(),
            || 7,
        )
    }

    #[test]
    fn policies_parse() {
        assert_eq!(Policy::parse(None), Policy::MultipleHosts(None));
        assert_eq!(
            Policy::parse(Some("MultipleHosts(3)")),
            Policy::MultipleHosts(Some(3))
        );
        assert_eq!(
            Policy::parse(Some("MultipleDevices(2)")),
            Policy::MultipleDevices(Some(2))
        );
        assert_eq!(Policy::parse(Some("MultipleHosts()")).min(2), 2);
        assert_eq!(Policy::MultipleHosts(Some(3)).min(2), 3);
    }

    #[test]
    fn multiple_hosts() {
        // Three hosts, two devices each.
        let all: Vec<Device> = (1..=6).map(|d| dev(d, (d + 1) / 2)).collect();
        let mh = Policy::MultipleHosts(None);
        let Decision::Copy { ideal, desperate } = decide(mh, 2, &[1], &all) else {
            panic!("wants a copy");
        };
        assert!(ideal.iter().all(|d| d.hostid != 1) && ideal.len() == 4);
        assert_eq!(desperate.iter().map(|d| d.devid).collect::<Vec<_>>(), [2]);
        assert_eq!(decide(mh, 2, &[1, 3], &all), Decision::AllGood);
        assert_eq!(decide(mh, 2, &[1, 3, 5], &all), Decision::TooGood);
        assert_eq!(decide(mh, 2, &[1, 2, 3], &all), Decision::TooGood);
        assert_eq!(decide(mh, 1, &[1], &all), Decision::AllGood);
        assert_eq!(decide(mh, 1, &[1, 3], &all), Decision::TooGood);
        // More copies wanted than hosts: every host and min copies is enough.
        assert_eq!(decide(mh, 4, &[1, 2, 3, 5], &all), Decision::AllGood);
        assert!(matches!(
            decide(mh, 4, &[1, 3, 5], &all),
            Decision::Copy { .. }
        ));
        // Dead devices do not take copies.
        let mut some_dead = all.clone();
        for d in some_dead.iter_mut().filter(|d| d.hostid != 1) {
            d.status = "dead".into();
        }
        assert_eq!(decide(mh, 2, &[1, 2], &some_dead), Decision::AllGood);
        assert_eq!(decide(mh, 3, &[1], &some_dead[..1]), Decision::NoAnswer);
    }

    #[test]
    fn multiple_devices() {
        let all: Vec<Device> = (1..=3).map(|d| dev(d, 1)).collect();
        let md = Policy::MultipleDevices(Some(2));
        let Decision::Copy { ideal, desperate } = decide(md, md.min(1), &[1], &all) else {
            panic!("wants a copy");
        };
        assert_eq!((ideal.len(), desperate.len()), (2, 0));
        assert_eq!(decide(md, md.min(1), &[1, 2], &all), Decision::AllGood);
        assert_eq!(decide(md, md.min(1), &[1, 2, 3], &all), Decision::TooGood);
    }

    #[test]
    fn extra_copies_leave_crowded_hosts_first() {
        let on = [dev(1, 1), dev(2, 1), dev(3, 2)];
        assert_eq!(extra_copy(&on, &View::default()).map(|d| d.hostid), Some(1));
    }
}
