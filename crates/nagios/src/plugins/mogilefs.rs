//! check_mogilefs: the tracker port (`noop`, `get_hosts`, `get_devices`,
//! `!stats`).
//!
//! * up: `noop` answers `OK`;
//! * hosts not alive: status `down` or `dead`, judged by
//!   `--hosts-warning` (default 0: any warns) / `--hosts-critical`;
//! * devices not alive: status `down` or `dead`, or observed `unreachable`
//!   by the tracker's monitor, judged by `-w` (default 0) / `-c`. With
//!   `--ignore-dead`, hosts and devices marked `dead` (retired on purpose)
//!   do not count. No writable device left (alive, on an alive host, not
//!   observed unreachable or read-only) is CRITICAL: nothing can be stored;
//! * replication queue: `work_queue_for_replicate` from `!stats`, judged by
//!   `--repl-warning`/`--repl-critical`. A tracker whose `!stats` does not
//!   report it is said so in the text and gets no perfdata for it; asking
//!   for those thresholds anyway is UNKNOWN, since the check cannot judge.

use std::collections::BTreeMap;

use clap::Parser;
use danga_mogilefs::proto::{parse_reply, Args};

use crate::cli::{Common, THRESHOLD_HELP};
use crate::net::{CheckError, LineConn, Target};
use crate::perfdata::Perf;
use crate::range::Range;
use crate::report::{Report, Status};
use crate::run::Plugin;

/// check_mogilefs's arguments.
#[derive(Parser, Debug)]
#[command(
    name = "check_mogilefs",
    version,
    about = "Nagios plugin: MogileFS tracker up, hosts and devices not alive, replication queue",
    after_help = THRESHOLD_HELP
)]
pub struct Mogilefs {
    #[command(flatten)]
    pub common: Common,
    /// Warning range for devices not alive
    #[arg(
        short = 'w',
        long = "warning",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub warning: Range,
    /// Critical range for devices not alive
    #[arg(short = 'c', long = "critical", allow_hyphen_values = true)]
    pub critical: Option<Range>,
    /// Warning range for hosts not alive
    #[arg(
        long = "hosts-warning",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub hosts_warning: Range,
    /// Critical range for hosts not alive
    #[arg(long = "hosts-critical", allow_hyphen_values = true)]
    pub hosts_critical: Option<Range>,
    /// Warning range for the replication queue (from !stats)
    #[arg(long = "repl-warning", allow_hyphen_values = true)]
    pub repl_warning: Option<Range>,
    /// Critical range for the replication queue (from !stats)
    #[arg(long = "repl-critical", allow_hyphen_values = true)]
    pub repl_critical: Option<Range>,
    /// Hosts and devices marked dead are retired, not alerts
    #[arg(long = "ignore-dead")]
    pub ignore_dead: bool,
}

/// A storage host from `get_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// hostid
    pub id: String,
    /// hostname
    pub name: String,
    /// status: alive, down, dead, readonly
    pub status: String,
}

/// A device from `get_devices`.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// devid
    pub id: String,
    /// hostid
    pub host: String,
    /// status: alive, down, dead, readonly, drain
    pub status: String,
    /// What the monitor saw: writeable, readable, unreachable, or empty.
    pub observed: String,
    /// MB free, when the monitor has measured it.
    pub mb_free: Option<f64>,
    /// MB total, when the monitor has measured it.
    pub mb_total: Option<f64>,
}

/// Parses `get_hosts`' OK arguments.
pub fn parse_hosts(a: &Args) -> Result<Vec<Host>, String> {
    let n: usize = a
        .get("hosts")
        .and_then(|n| n.parse().ok())
        .ok_or("get_hosts without a host count")?;
    (1..=n.min(100_000))
        .map(|i| {
            let f = |k: &str| a.get(&format!("host{i}_{k}")).unwrap_or("").to_owned();
            Ok(Host {
                id: f("hostid"),
                name: f("hostname"),
                status: f("status"),
            })
        })
        .collect()
}

/// Parses `get_devices`' OK arguments.
pub fn parse_devices(a: &Args) -> Result<Vec<Device>, String> {
    let n: usize = a
        .get("devices")
        .and_then(|n| n.parse().ok())
        .ok_or("get_devices without a device count")?;
    Ok((1..=n.min(1_000_000))
        .map(|i| {
            let f = |k: &str| a.get(&format!("dev{i}_{k}")).unwrap_or("").to_owned();
            let mb = |k: &str| f(k).trim().parse::<f64>().ok();
            Device {
                id: f("devid"),
                host: f("hostid"),
                status: f("status"),
                observed: f("observed_state"),
                mb_free: mb("mb_free"),
                mb_total: mb("mb_total"),
            }
        })
        .collect())
}

/// Parses a `!stats` reply: `name value` lines up to `.`; anything else
/// (a tracker without `!stats` answers with other text) is skipped.
pub fn parse_stats(lines: &[String]) -> BTreeMap<String, u64> {
    lines
        .iter()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Judges what the tracker said; `stats` is empty when `!stats` gave
/// nothing usable.
pub fn judge(
    cli: &Mogilefs,
    hosts: &[Host],
    devices: &[Device],
    stats: &BTreeMap<String, u64>,
) -> Report {
    let mut r = Report::new("MOGILEFS");
    let counts = |status: &str| status == "down" || (status == "dead" && !cli.ignore_dead);
    let considered = |status: &str| !(cli.ignore_dead && status == "dead");
    // Hosts.
    let host_total = hosts.iter().filter(|h| considered(&h.status)).count();
    let bad_hosts: Vec<&Host> = hosts.iter().filter(|h| counts(&h.status)).collect();
    let (hw, hc) = (Some(&cli.hosts_warning), cli.hosts_critical.as_ref());
    r.judge(bad_hosts.len() as f64, hw, hc, || {
        let list: Vec<String> = bad_hosts
            .iter()
            .map(|h| format!("{} {}", h.name, h.status))
            .collect();
        format!("{} hosts not alive ({})", bad_hosts.len(), list.join(", "))
    });
    r.info(format!(
        "{}/{host_total} hosts alive",
        host_total - bad_hosts.len()
    ));
    r.perf(Perf::new("hosts", host_total as u64).min(0.0));
    r.perf(
        Perf::new("hosts_not_alive", bad_hosts.len() as u64)
            .thresholds(hw, hc)
            .min(0.0)
            .max(host_total as f64),
    );
    // Devices.
    let host_alive = |id: &str| hosts.iter().any(|h| h.id == id && h.status == "alive");
    let dev_total = devices.iter().filter(|d| considered(&d.status)).count();
    let bad_devs: Vec<&Device> = devices
        .iter()
        .filter(|d| counts(&d.status) || (considered(&d.status) && d.observed == "unreachable"))
        .collect();
    let writable = devices
        .iter()
        .filter(|d| {
            d.status == "alive"
                && host_alive(&d.host)
                && d.observed != "unreachable"
                && d.observed != "readable"
        })
        .count();
    let (w, c) = (Some(&cli.warning), cli.critical.as_ref());
    r.judge(bad_devs.len() as f64, w, c, || {
        let list: Vec<String> = bad_devs
            .iter()
            .map(|d| {
                let why = if counts(&d.status) {
                    &d.status
                } else {
                    &d.observed
                };
                format!("dev{} {why}", d.id)
            })
            .collect();
        format!("{} devices not alive ({})", bad_devs.len(), list.join(", "))
    });
    if devices.is_empty() {
        r.raise(Status::Critical, "no devices registered");
    } else if writable == 0 {
        r.raise(Status::Critical, "no writable device");
    }
    r.info(format!(
        "{}/{dev_total} devices alive ({writable} writable)",
        dev_total - bad_devs.len()
    ));
    r.perf(Perf::new("devices", dev_total as u64).min(0.0));
    r.perf(
        Perf::new("devices_not_alive", bad_devs.len() as u64)
            .thresholds(w, c)
            .min(0.0)
            .max(dev_total as f64),
    );
    r.perf(
        Perf::new("devices_writable", writable as u64)
            .min(0.0)
            .max(dev_total as f64),
    );
    let measured: Vec<(f64, f64)> = devices
        .iter()
        .filter_map(|d| d.mb_free.zip(d.mb_total))
        .collect();
    if !measured.is_empty() {
        let free: f64 = measured.iter().map(|m| m.0).sum();
        let total: f64 = measured.iter().map(|m| m.1).sum();
        r.perf(Perf::new("free", free).uom("MB").min(0.0).max(total));
    }
    // Replication queue.
    let (rw, rc) = (cli.repl_warning.as_ref(), cli.repl_critical.as_ref());
    match stats.get("work_queue_for_replicate") {
        Some(&q) => {
            r.judge(q as f64, rw, rc, || format!("replication queue {q}"));
            r.info(format!("replication queue {q}"));
            r.perf(
                Perf::new("replication_queue", q)
                    .thresholds(rw, rc)
                    .min(0.0),
            );
        }
        None => {
            let why = if stats.contains_key("uptime") {
                "replication queue not reported by !stats"
            } else {
                "replication queue unknown (tracker has no !stats)"
            };
            if rw.is_some() || rc.is_some() {
                r.raise(Status::Unknown, why);
            } else {
                r.info(why);
            }
        }
    }
    for key in [
        "pending_queries",
        "processing_queries",
        "bored_queryworkers",
    ] {
        if let Some(&v) = stats.get(key) {
            r.perf(Perf::new(key, v).min(0.0));
        }
    }
    if cli.common.verbose > 0 {
        for h in hosts {
            r.long(format!("host {} ({}) {}", h.name, h.id, h.status));
        }
        for d in devices {
            r.long(format!(
                "dev{} on host {} {} observed {}",
                d.id,
                d.host,
                d.status,
                if d.observed.is_empty() {
                    "-"
                } else {
                    &d.observed
                }
            ));
        }
    }
    r
}

/// One tracker command; its OK arguments.
fn call(conn: &mut LineConn, cmd: &str) -> Result<Args, CheckError> {
    conn.send(&format!("{cmd}\r\n"))?;
    let line = conn.line(cmd)?;
    match parse_reply(line.as_bytes()) {
        Some(Ok(args)) => Ok(args),
        Some(Err((code, text))) => Err(conn.protocol(format!("{cmd}: ERR {code} {text}"))),
        None => Err(conn.protocol(format!("{cmd}: {line:?}"))),
    }
}

impl Plugin for Mogilefs {
    const SERVICE: &'static str = "MOGILEFS";
    const DEFAULT_PORT: u16 = 7001;

    fn common(&self) -> &Common {
        &self.common
    }

    fn check(&self, target: &Target) -> Result<Report, CheckError> {
        let mut conn = LineConn::open(target)?;
        call(&mut conn, "noop")?;
        let hosts = call(&mut conn, "get_hosts")?;
        let hosts = parse_hosts(&hosts).map_err(|e| conn.protocol(e))?;
        let devices = call(&mut conn, "get_devices")?;
        let devices = parse_devices(&devices).map_err(|e| conn.protocol(e))?;
        conn.send("!stats\r\n")?;
        let lines = conn.lines_until("!stats", |l| l == "." || l.starts_with("ERR"))?;
        Ok(judge(self, &hosts, &devices, &parse_stats(&lines)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Mogilefs {
        Mogilefs::parse_from(std::iter::once("check_mogilefs").chain(args.iter().copied()))
    }

    fn host(id: &str, status: &str) -> Host {
        Host {
            id: id.into(),
            name: format!("s{id}"),
            status: status.into(),
        }
    }

    fn dev(id: &str, host: &str, status: &str, observed: &str) -> Device {
        Device {
            id: id.into(),
            host: host.into(),
            status: status.into(),
            observed: observed.into(),
            mb_free: None,
            mb_total: None,
        }
    }

    fn healthy() -> (Vec<Host>, Vec<Device>) {
        (
            vec![host("1", "alive"), host("2", "alive")],
            vec![
                dev("1", "1", "alive", ""),
                dev("2", "1", "alive", "writeable"),
                dev("3", "2", "alive", ""),
            ],
        )
    }

    #[test]
    fn replies_parse() {
        let a = Args::parse(b"hosts=1&host1_hostid=4&host1_hostname=s&host1_status=down");
        assert_eq!(
            parse_hosts(&a).expect("hosts"),
            [Host {
                id: "4".into(),
                name: "s".into(),
                status: "down".into()
            }]
        );
        let a = Args::parse(b"devices=1&dev1_devid=7&dev1_hostid=4&dev1_status=alive&dev1_observed_state=&dev1_mb_free=10&dev1_mb_total=20");
        let d = parse_devices(&a).expect("devices");
        assert_eq!(d[0].mb_free, Some(10.0));
        assert!(parse_devices(&Args::parse(b"x=1")).is_err());
        let s = parse_stats(&[
            "uptime 5".into(),
            "work_queue_for_replicate 3".into(),
            ".".into(),
        ]);
        assert_eq!(s["work_queue_for_replicate"], 3);
        assert!(parse_stats(&[
            "Admin commands known:".into(),
            "  !version".into(),
            ".".into()
        ])
        .is_empty());
    }

    #[test]
    fn healthy_cluster_is_ok_and_says_what_it_cannot_see() {
        let (h, d) = healthy();
        let r = judge(&cli(&[]), &h, &d, &BTreeMap::new());
        assert_eq!(r.status(), Status::Ok, "{}", r.render());
        let line = r.render();
        assert!(line.starts_with("MOGILEFS OK - 2/2 hosts alive, 3/3 devices alive (3 writable), replication queue unknown (tracker has no !stats) | "), "{line}");
        assert!(line.contains("'devices_not_alive'=0;0;;0;3"), "{line}");
        let r = judge(&cli(&["--repl-warning", "10"]), &h, &d, &BTreeMap::new());
        assert_eq!(r.status(), Status::Unknown);
        let stats: BTreeMap<String, u64> = [
            ("uptime".to_owned(), 1),
            ("work_queue_for_replicate".to_owned(), 50),
        ]
        .into();
        let r = judge(
            &cli(&["--repl-warning", "10", "--repl-critical", "100"]),
            &h,
            &d,
            &stats,
        );
        assert_eq!(r.status(), Status::Warning);
        assert!(
            r.render().contains("'replication_queue'=50;10;100;0"),
            "{}",
            r.render()
        );
    }

    #[test]
    fn down_dead_and_unwritable() {
        let (h, mut d) = healthy();
        d[0].status = "dead".into();
        let none = BTreeMap::new();
        let r = judge(&cli(&[]), &h, &d, &none);
        assert_eq!(r.status(), Status::Warning);
        assert!(
            r.render().contains("1 devices not alive (dev1 dead)"),
            "{}",
            r.render()
        );
        assert_eq!(
            judge(&cli(&["--ignore-dead"]), &h, &d, &none).status(),
            Status::Ok
        );
        assert_eq!(
            judge(&cli(&["-c", "0"]), &h, &d, &none).status(),
            Status::Critical
        );
        d[1].observed = "unreachable".into();
        d[2].status = "down".into();
        let r = judge(&cli(&[]), &h, &d, &none);
        assert_eq!(r.status(), Status::Critical);
        assert!(r.render().contains("no writable device"), "{}", r.render());
        let hosts = vec![host("1", "down"), host("2", "alive")];
        let r = judge(&cli(&[]), &hosts, &healthy().1, &none);
        assert_eq!(r.status(), Status::Warning, "{}", r.render());
        assert!(r.render().contains("1 hosts not alive (s1 down)"));
        assert_eq!(
            judge(&cli(&[]), &hosts, &[], &none).status(),
            Status::Critical
        );
    }
}
