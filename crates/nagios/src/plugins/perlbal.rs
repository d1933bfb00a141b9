//! check_perlbal: Perlbal's management console (`SHOW SERVICE`, `QUEUES`,
//! `SHOW SERVICE name`), plus a TCP probe of every pool node.
//!
//! * up: the console answers;
//! * queues: for each reverse proxy, the clients waiting in its normal,
//!   high and low priority queues (`svc-normal.count` ...) judged by
//!   `-w`/`-c`, and the oldest one's wait (`.age`, seconds) by
//!   `--age-warning`/`--age-critical`;
//! * dead backends: Perlbal 1.80 keeps no health state of its own (a node
//!   that refuses is skipped for a second and retried, clients wait), so
//!   the check connects to each pool node itself, from where the plugin
//!   runs (run it on the Perlbal host, e.g. through NRPE). Nodes not
//!   accepting within `--node-timeout` count as dead, judged by
//!   `--dead-warning` (default 0: any dead node warns) and
//!   `--dead-critical`; a service whose pool has no live node at all is
//!   CRITICAL, since its clients can only wait.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::cli::{Common, THRESHOLD_HELP};
use crate::net::{probe, CheckError, LineConn, Target};
use crate::perfdata::Perf;
use crate::range::Range;
use crate::report::{Report, Status};
use crate::run::Plugin;

/// check_perlbal's arguments.
#[derive(Parser, Debug)]
#[command(
    name = "check_perlbal",
    version,
    about = "Nagios plugin: Perlbal up, queue lengths and dead backends (management console)",
    after_help = THRESHOLD_HELP
)]
pub struct Perlbal {
    #[command(flatten)]
    pub common: Common,
    /// Warning range for clients waiting in any one queue
    #[arg(short = 'w', long = "warning", allow_hyphen_values = true)]
    pub warning: Option<Range>,
    /// Critical range for clients waiting in any one queue
    #[arg(short = 'c', long = "critical", allow_hyphen_values = true)]
    pub critical: Option<Range>,
    /// Warning range for the oldest waiting client's age, in seconds
    #[arg(long = "age-warning", allow_hyphen_values = true)]
    pub age_warning: Option<Range>,
    /// Critical range for the oldest waiting client's age, in seconds
    #[arg(long = "age-critical", allow_hyphen_values = true)]
    pub age_critical: Option<Range>,
    /// Warning range for dead backends per service
    #[arg(long = "dead-warning", default_value = "0", allow_hyphen_values = true)]
    pub dead_warning: Range,
    /// Critical range for dead backends per service (a pool with no live
    /// node is always critical)
    #[arg(long = "dead-critical", allow_hyphen_values = true)]
    pub dead_critical: Option<Range>,
    /// Check only this service
    #[arg(short = 's', long = "service")]
    pub service: Option<String>,
    /// Seconds a backend may take to accept a connection
    #[arg(long = "node-timeout", default_value = "2", value_parser = seconds)]
    pub node_timeout: Duration,
}

/// A positive number of seconds, at most an hour.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("{s:?} is not a number of seconds (0 < s <= 3600)")),
    }
}

/// A line of `SHOW SERVICE`: `name listen ENABLED|DISABLED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLine {
    /// The service name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// What `SHOW SERVICE name` says about a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInfo {
    /// `role:`
    pub role: String,
    /// `pool:`, if any.
    pub pool: Option<String>,
    /// The pool's nodes.
    pub nodes: Vec<SocketAddr>,
}

/// One queue of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queue {
    /// Clients waiting.
    pub count: u64,
    /// Seconds the oldest has waited.
    pub age: u64,
}

/// The three queues of a service: normal, high, low.
pub type Queues = BTreeMap<String, [Queue; 3]>;

/// Queue names in `QUEUES` order of importance, with perfdata labels.
const PRIORITIES: [(&str, &str); 3] =
    [("normal", "normal"), ("highpri", "high"), ("lowpri", "low")];

fn body(lines: &[String]) -> Result<&[String], String> {
    match lines.split_last() {
        Some((last, body)) if last == "." => Ok(body),
        Some((last, _)) => Err(last.clone()),
        None => Err("an empty reply".into()),
    }
}

/// Parses `SHOW SERVICE`.
pub fn parse_services(lines: &[String]) -> Result<Vec<ServiceLine>, String> {
    body(lines)?
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [name, _, state] => Ok(ServiceLine {
                    name: (*name).to_owned(),
                    enabled: *state == "ENABLED",
                }),
                _ => Err(format!("{l:?} in SHOW SERVICE")),
            }
        })
        .collect()
}

/// Parses `QUEUES`: `svc-normal.age N`, `svc-normal.count N`, ...
pub fn parse_queues(lines: &[String]) -> Result<Queues, String> {
    let mut out = Queues::new();
    for l in body(lines)? {
        let bad = || format!("{l:?} in QUEUES");
        let (key, value) = l.split_once(' ').ok_or_else(bad)?;
        let value: u64 = value.trim().parse().map_err(|_| bad())?;
        let (queue, field) = key.rsplit_once('.').ok_or_else(bad)?;
        let (svc, prio) = queue.rsplit_once('-').ok_or_else(bad)?;
        let i = PRIORITIES
            .iter()
            .position(|(p, _)| *p == prio)
            .ok_or_else(bad)?;
        let q = &mut out.entry(svc.to_owned()).or_default()[i];
        match field {
            "count" => q.count = value,
            "age" => q.age = value,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Parses `SHOW SERVICE name`.
pub fn parse_service(lines: &[String]) -> Result<ServiceInfo, String> {
    let mut info = ServiceInfo::default();
    let mut in_nodes = false;
    for l in body(lines)? {
        let t = l.trim();
        if in_nodes {
            if let Some(addr) = t.split_whitespace().next().and_then(|a| a.parse().ok()) {
                info.nodes.push(addr);
                continue;
            }
        }
        match t.split_once(':') {
            Some(("role", v)) => info.role = v.trim().to_owned(),
            Some(("pool", v)) => info.pool = Some(v.trim().to_owned()),
            Some(("nodes", _)) => in_nodes = true,
            _ => {}
        }
    }
    Ok(info)
}

/// What the check learnt about one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// Its `SHOW SERVICE name` facts.
    pub info: ServiceInfo,
    /// Pool nodes that did not accept a connection.
    pub dead: Vec<SocketAddr>,
    /// Its queues, if it has any (reverse proxies).
    pub queues: Option<[Queue; 3]>,
}

/// Judges the reverse proxies found.
pub fn judge(cli: &Perlbal, services: &[Service], disabled: &[String]) -> Report {
    let mut r = Report::new("PERLBAL");
    let (w, c) = (cli.warning.as_ref(), cli.critical.as_ref());
    let (aw, ac) = (cli.age_warning.as_ref(), cli.age_critical.as_ref());
    let (dw, dc) = (Some(&cli.dead_warning), cli.dead_critical.as_ref());
    for name in disabled {
        r.raise(Status::Critical, format!("service {name} is disabled"));
    }
    let proxies: Vec<&Service> = services
        .iter()
        .filter(|s| s.info.role == "reverse_proxy")
        .collect();
    for s in &proxies {
        let n = s.info.nodes.len();
        let dead = s.dead.len();
        let pool = s.info.pool.as_deref().unwrap_or("(none)");
        if n == 0 {
            r.raise(
                Status::Critical,
                format!("{}: pool {pool} has no nodes", s.name),
            );
        } else if dead == n {
            r.raise(
                Status::Critical,
                format!("{}: all {n} backends of pool {pool} dead", s.name),
            );
        } else {
            r.judge(dead as f64, dw, dc, || {
                let list: Vec<String> = s.dead.iter().map(ToString::to_string).collect();
                format!(
                    "{}: {dead} of {n} backends dead ({})",
                    s.name,
                    list.join(" ")
                )
            });
        }
        r.perf(Perf::new(&format!("{} backends", s.name), n as u64).min(0.0));
        r.perf(
            Perf::new(&format!("{} dead", s.name), dead as u64)
                .thresholds(dw, dc)
                .min(0.0)
                .max(n as f64),
        );
        let queues = s.queues.unwrap_or_default();
        let mut waiting = 0;
        for (q, (_, label)) in queues.iter().zip(PRIORITIES) {
            waiting += q.count;
            r.judge(q.count as f64, w, c, || {
                format!(
                    "{}: {} clients waiting in the {label} queue",
                    s.name, q.count
                )
            });
            r.judge(q.age as f64, aw, ac, || {
                format!(
                    "{}: {label} queue's oldest client waiting {}s",
                    s.name, q.age
                )
            });
            r.perf(
                Perf::new(&format!("{} {label}", s.name), q.count)
                    .thresholds(w, c)
                    .min(0.0),
            );
            r.perf(
                Perf::new(&format!("{} {label} age", s.name), q.age)
                    .uom("s")
                    .thresholds(aw, ac)
                    .min(0.0),
            );
        }
        r.info(format!(
            "{}: {}/{n} backends up, {waiting} waiting",
            s.name,
            n - dead
        ));
        if cli.common.verbose > 0 {
            for node in &s.info.nodes {
                let state = if s.dead.contains(node) { "dead" } else { "up" };
                r.long(format!("{} pool {pool} node {node} {state}", s.name));
            }
        }
    }
    if proxies.is_empty() {
        r.info(format!("{} services, no reverse proxy", services.len()));
    }
    r
}

/// One console command; its reply up to `.` or `ERROR:`.
fn ask(conn: &mut LineConn, cmd: &str) -> Result<Vec<String>, CheckError> {
    conn.send(&format!("{cmd}\r\n"))?;
    conn.lines_until(cmd, |l| l == "." || l.starts_with("ERROR:"))
}

/// Probes `nodes` in parallel; returns the ones that did not accept.
fn dead_nodes(nodes: &[SocketAddr], limit: Duration) -> Vec<SocketAddr> {
    let mut dead = Vec::new();
    for chunk in nodes.chunks(64) {
        std::thread::scope(|scope| {
            let probes: Vec<_> = chunk
                .iter()
                .map(|&n| scope.spawn(move || (n, probe(n, limit).is_ok())))
                .collect();
            for p in probes {
                if let Ok((n, false)) = p.join() {
                    dead.push(n);
                }
            }
        });
    }
    dead
}

impl Plugin for Perlbal {
    const SERVICE: &'static str = "PERLBAL";
    /// Debian's perlbal.conf puts the management console on 16000.
    const DEFAULT_PORT: u16 = 16000;

    fn common(&self) -> &Common {
        &self.common
    }

    fn check(&self, target: &Target) -> Result<Report, CheckError> {
        let mut conn = LineConn::open(target)?;
        let listed = ask(&mut conn, "SHOW SERVICE")?;
        let listed = parse_services(&listed).map_err(|e| conn.protocol(e))?;
        let mut disabled = Vec::new();
        let wanted: Vec<&ServiceLine> = match &self.service {
            Some(name) => match listed.iter().find(|s| &s.name == name) {
                Some(s) => vec![s],
                None => {
                    return Ok(Report::failed(
                        Self::SERVICE,
                        Status::Critical,
                        format!("service {name} is not configured"),
                    ))
                }
            },
            None => listed.iter().collect(),
        };
        let queues = ask(&mut conn, "QUEUES")?;
        let queues = parse_queues(&queues).map_err(|e| conn.protocol(e))?;
        let mut services = Vec::new();
        for s in wanted {
            if !s.enabled {
                if self.service.is_some() {
                    disabled.push(s.name.clone());
                }
                continue;
            }
            let reply = ask(&mut conn, &format!("SHOW SERVICE {}", s.name))?;
            let info = parse_service(&reply).map_err(|e| conn.protocol(e))?;
            services.push(Service {
                name: s.name.clone(),
                queues: queues.get(&s.name).copied(),
                info,
                dead: Vec::new(),
            });
        }
        let _ = conn.send("QUIT\r\n");
        let mut nodes: Vec<SocketAddr> = services
            .iter()
            .filter(|s| s.info.role == "reverse_proxy")
            .flat_map(|s| s.info.nodes.iter().copied())
            .collect();
        nodes.sort();
        nodes.dedup();
        let limit = self.node_timeout.min(target.left("probing backends")?);
        let dead = dead_nodes(&nodes, limit);
        for s in &mut services {
            s.dead = s
                .info
                .nodes
                .iter()
                .filter(|n| dead.contains(n))
                .copied()
                .collect();
        }
        Ok(judge(self, &services, &disabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn cli(args: &[&str]) -> Perlbal {
        Perlbal::parse_from(std::iter::once("check_perlbal").chain(args.iter().copied()))
    }

    #[test]
    fn console_replies_parse() {
        let s = parse_services(&lines(
            "web 127.0.0.1:80 ENABLED\nmgmt 127.0.0.1:16000 ENABLED\nold 127.0.0.1:81 DISABLED\n.",
        ))
        .expect("services");
        assert_eq!(s.len(), 3);
        assert!(!s[2].enabled);
        let q = parse_queues(&lines(
            "my-web-normal.age 3\nmy-web-normal.count 2\nmy-web-highpri.age 0\nmy-web-highpri.count 0\nmy-web-lowpri.age 0\nmy-web-lowpri.count 1\n.",
        ))
        .expect("queues");
        assert_eq!(q["my-web"][0], Queue { count: 2, age: 3 });
        assert_eq!(q["my-web"][2].count, 1);
        let info = parse_service(&lines(
            "SERVICE web\n     listening: 127.0.0.1:80\n          role: reverse_proxy\n  pend clients: 0\n  pend backend: 0\n connect-ahead: 0/0\n          pool: p\n         nodes:\n                10.0.0.1:8080              3\n                10.0.0.2:8080              0\n.",
        ))
        .expect("service");
        assert_eq!(info.role, "reverse_proxy");
        assert_eq!(info.pool.as_deref(), Some("p"));
        assert_eq!(info.nodes.len(), 2);
        assert!(parse_service(&lines("ERROR: Unknown service")).is_err());
        assert!(parse_queues(&lines("web-odd.count 1\n.")).is_err());
        for bad in ["nan", "inf", "0", "-1", "x"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
    }

    fn svc(nodes: usize, dead: usize, waiting: u64) -> Service {
        let nodes: Vec<SocketAddr> = (0..nodes)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 8000 + i as u16)))
            .collect();
        Service {
            name: "web".into(),
            dead: nodes[..dead].to_vec(),
            info: ServiceInfo {
                role: "reverse_proxy".into(),
                pool: Some("p".into()),
                nodes,
            },
            queues: Some([
                Queue {
                    count: waiting,
                    age: waiting,
                },
                Queue::default(),
                Queue::default(),
            ]),
        }
    }

    #[test]
    fn dead_backends_and_queues() {
        let ok = judge(&cli(&[]), &[svc(2, 0, 0)], &[]);
        assert_eq!(ok.status(), Status::Ok, "{}", ok.render());
        assert!(
            ok.render().contains("'web dead'=0;0;;0;2"),
            "{}",
            ok.render()
        );
        let one = judge(&cli(&[]), &[svc(2, 1, 0)], &[]);
        assert_eq!(one.status(), Status::Warning);
        assert!(
            one.render()
                .contains("web: 1 of 2 backends dead (10.0.0.1:8000)"),
            "{}",
            one.render()
        );
        assert_eq!(
            judge(&cli(&[]), &[svc(2, 2, 0)], &[]).status(),
            Status::Critical
        );
        assert_eq!(
            judge(&cli(&[]), &[svc(0, 0, 0)], &[]).status(),
            Status::Critical
        );
        let q = judge(&cli(&["-w", "2", "-c", "5"]), &[svc(1, 0, 3)], &[]);
        assert_eq!(q.status(), Status::Warning);
        assert!(
            q.render()
                .contains("'web normal'=3;2;5;0 'web normal age'=3s;;;0"),
            "{}",
            q.render()
        );
        assert_eq!(
            judge(&cli(&["--age-critical", "2"]), &[svc(1, 0, 3)], &[]).status(),
            Status::Critical
        );
        assert_eq!(
            judge(&cli(&[]), &[], &["web".to_owned()]).status(),
            Status::Critical
        );
    }
}
