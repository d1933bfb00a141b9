//! check_memcached: `stats` on memcached's port.
//!
//! * up: the server answers `stats` with `STAT` lines and `END`;
//! * connections: `curr_connections` as a percentage of `max_connections`
//!   (from `stats settings` `maxconns` on servers whose `stats` lacks it),
//!   judged by `-w`/`-c` (default 80 and 95);
//! * hit ratio: `get_hits / (get_hits + get_misses)` in percent, judged by
//!   `--hit-warning`/`--hit-critical` (e.g. `90:` alerts below 90 %); `U`
//!   before the first get;
//! * evictions: a single run cannot see a delta, so the check judges the
//!   eviction *rate averaged over the uptime* (`evictions / uptime`, per
//!   second) with `--evictions-warning`/`--evictions-critical`. A burst long
//!   ago fades as the uptime grows; steady eviction pressure keeps the rate
//!   up. The raw count is also in the perfdata as a counter (`c`), from
//!   which a grapher derives the current rate.

use std::collections::BTreeMap;

use clap::Parser;

use super::{one_decimal, percent};
use crate::cli::{Common, THRESHOLD_HELP};
use crate::net::{CheckError, LineConn, Target};
use crate::perfdata::{num, Perf};
use crate::range::Range;
use crate::report::Report;
use crate::run::Plugin;

/// check_memcached's arguments.
#[derive(Parser, Debug)]
#[command(
    name = "check_memcached",
    version,
    about = "Nagios plugin: memcached up, connections, hit ratio and evictions (stats)",
    after_help = THRESHOLD_HELP
)]
pub struct Memcached {
    #[command(flatten)]
    pub common: Common,
    /// Warning range for connections in use, in percent of max_connections
    #[arg(
        short = 'w',
        long = "warning",
        default_value = "80",
        allow_hyphen_values = true
    )]
    pub warning: Range,
    /// Critical range for connections in use, in percent of max_connections
    #[arg(
        short = 'c',
        long = "critical",
        default_value = "95",
        allow_hyphen_values = true
    )]
    pub critical: Range,
    /// Warning range for the hit ratio in percent (e.g. 90: alerts below 90)
    #[arg(long = "hit-warning", allow_hyphen_values = true)]
    pub hit_warning: Option<Range>,
    /// Critical range for the hit ratio in percent
    #[arg(long = "hit-critical", allow_hyphen_values = true)]
    pub hit_critical: Option<Range>,
    /// Warning range for evictions per second, averaged over the uptime
    #[arg(long = "evictions-warning", allow_hyphen_values = true)]
    pub evictions_warning: Option<Range>,
    /// Critical range for evictions per second, averaged over the uptime
    #[arg(long = "evictions-critical", allow_hyphen_values = true)]
    pub evictions_critical: Option<Range>,
}

/// `STAT name value` pairs.
pub type Stats = BTreeMap<String, String>;

/// Parses a `stats` reply (`STAT` lines, then `END`).
pub fn parse_stats(lines: &[String]) -> Result<Stats, String> {
    let mut stats = Stats::new();
    for l in lines {
        if l == "END" {
            return Ok(stats);
        }
        let mut parts = l.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("STAT"), Some(k), Some(v)) => {
                stats.insert(k.to_owned(), v.to_owned());
            }
            _ => return Err(format!("{l:?} in a stats reply")),
        }
    }
    Err("stats reply without END".into())
}

fn stats(conn: &mut LineConn, cmd: &str) -> Result<Stats, CheckError> {
    conn.send(&format!("{cmd}\r\n"))?;
    let lines = conn.lines_until(cmd, |l| {
        l == "END" || l == "ERROR" || l.starts_with("CLIENT_ERROR") || l.starts_with("SERVER_ERROR")
    })?;
    parse_stats(&lines).map_err(|e| conn.protocol(e))
}

fn int(stats: &Stats, key: &str) -> Option<u64> {
    stats.get(key).and_then(|v| v.trim().parse().ok())
}

/// Judges a `stats` reply. `maxconns` stands in for a missing
/// `max_connections`.
pub fn judge(cli: &Memcached, stats: &Stats, maxconns: Option<u64>) -> Report {
    let mut r = Report::new("MEMCACHED");
    if let Some(v) = stats.get("version") {
        r.info(format!("memcached {v}"));
    }
    let uptime = int(stats, "uptime");
    if let Some(up) = uptime {
        r.info(format!("up {up}s"));
        r.perf(Perf::new("uptime", up).uom("s").min(0.0));
    }
    // Connections.
    let curr = int(stats, "curr_connections");
    let max = int(stats, "max_connections").or(maxconns);
    match (curr, max) {
        (Some(curr), Some(max)) => {
            let pct = percent(curr as f64, max as f64);
            let used = pct.map_or("?".to_owned(), one_decimal);
            let text = format!("{curr}/{max} connections ({used}%)");
            if let Some(p) = pct {
                r.judge(p, Some(&cli.warning), Some(&cli.critical), || text.clone());
            }
            r.info(text);
            r.perf(Perf::new("connections", curr).min(0.0).max(max as f64));
            r.perf(
                Perf::new("connections_used", pct)
                    .uom("%")
                    .thresholds(Some(&cli.warning), Some(&cli.critical))
                    .min(0.0)
                    .max(100.0),
            );
        }
        (Some(curr), None) => {
            r.info(format!("{curr} connections (limit unknown)"));
            r.perf(Perf::new("connections", curr).min(0.0));
        }
        _ => r.info("connections not reported"),
    }
    if let Some(rej) = int(stats, "rejected_connections") {
        r.perf(Perf::new("rejected_connections", rej).uom("c").min(0.0));
    }
    // Hit ratio.
    let (hits, misses) = (int(stats, "get_hits"), int(stats, "get_misses"));
    if let (Some(h), Some(m)) = (hits, misses) {
        let ratio = percent(h as f64, (h + m) as f64);
        let (hw, hc) = (cli.hit_warning.as_ref(), cli.hit_critical.as_ref());
        match ratio {
            Some(p) => {
                let text = format!("hit ratio {}% ({h} of {} gets)", one_decimal(p), h + m);
                r.judge(p, hw, hc, || text.clone());
                r.info(text);
            }
            None => r.info("no gets yet"),
        }
        r.perf(
            Perf::new("hit_ratio", ratio)
                .uom("%")
                .thresholds(hw, hc)
                .min(0.0)
                .max(100.0),
        );
        r.perf(Perf::new("get_hits", h).uom("c").min(0.0));
        r.perf(Perf::new("get_misses", m).uom("c").min(0.0));
    }
    // Evictions.
    if let Some(ev) = int(stats, "evictions") {
        let (ew, ec) = (
            cli.evictions_warning.as_ref(),
            cli.evictions_critical.as_ref(),
        );
        let rate = ev as f64 / uptime.unwrap_or(1).max(1) as f64;
        let text = format!("{ev} evictions ({}/s since start)", num(rate));
        r.judge(rate, ew, ec, || text.clone());
        r.info(text);
        r.perf(Perf::new("evictions", ev).uom("c").min(0.0));
        r.perf(Perf::new("eviction_rate", rate).thresholds(ew, ec).min(0.0));
    }
    if let Some(items) = int(stats, "curr_items") {
        r.info(format!("{items} items"));
        r.perf(Perf::new("curr_items", items).min(0.0));
    }
    if let Some(bytes) = int(stats, "bytes") {
        let mut p = Perf::new("bytes", bytes).uom("B").min(0.0);
        if let Some(limit) = int(stats, "limit_maxbytes") {
            p = p.max(limit as f64);
        }
        r.perf(p);
    }
    if cli.common.verbose > 0 {
        for (k, v) in stats {
            r.long(format!("{k} {v}"));
        }
    }
    r
}

impl Plugin for Memcached {
    const SERVICE: &'static str = "MEMCACHED";
    const DEFAULT_PORT: u16 = 11211;

    fn common(&self) -> &Common {
        &self.common
    }

    fn check(&self, target: &Target) -> Result<Report, CheckError> {
        let mut conn = LineConn::open(target)?;
        let general = stats(&mut conn, "stats")?;
        if general.is_empty() {
            return Err(conn.protocol("an empty stats reply"));
        }
        let maxconns = if general.contains_key("max_connections") {
            None
        } else {
            stats(&mut conn, "stats settings")
                .ok()
                .and_then(|s| int(&s, "maxconns"))
        };
        let _ = conn.send("quit\r\n");
        Ok(judge(self, &general, maxconns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn cli(args: &[&str]) -> Memcached {
        Memcached::parse_from(std::iter::once("check_memcached").chain(args.iter().copied()))
    }

    fn stats(pairs: &[(&str, &str)]) -> Stats {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("version", "1.6.18"),
            ("uptime", "100"),
            ("curr_connections", "10"),
            ("max_connections", "1024"),
            ("get_hits", "90"),
            ("get_misses", "10"),
            ("evictions", "0"),
            ("curr_items", "5"),
            ("bytes", "500"),
            ("limit_maxbytes", "67108864"),
        ]
    }

    #[test]
    fn stats_replies_parse() {
        let lines: Vec<String> = ["STAT pid 1", "STAT version 1.6.18", "END"]
            .map(String::from)
            .to_vec();
        let s = parse_stats(&lines).expect("parse");
        assert_eq!(s["version"], "1.6.18");
        assert!(parse_stats(&["ERROR".to_owned()]).is_err());
        assert!(parse_stats(&["STAT a 1".to_owned()]).is_err());
    }

    #[test]
    fn healthy_is_ok_with_all_perfdata() {
        let r = judge(&cli(&[]), &stats(&base()), None);
        assert_eq!(r.status(), Status::Ok);
        let line = r.render();
        assert!(line.starts_with("MEMCACHED OK - memcached 1.6.18, up 100s, 10/1024 connections (1%), hit ratio 90% (90 of 100 gets), 0 evictions (0/s since start), 5 items | "), "{line}");
        for item in [
            "'connections_used'=0.977%;80;95;0;100",
            "'hit_ratio'=90%;;;0;100",
            "'evictions'=0c;;;0",
            "'eviction_rate'=0;;;0",
            "'bytes'=500B;;;0;67108864",
        ] {
            assert!(line.contains(item), "{item} in {line}");
        }
    }

    #[test]
    fn each_threshold_alerts() {
        let mut s = base();
        s.push(("curr_connections", "1000"));
        let r = judge(&cli(&[]), &stats(&s), None);
        assert_eq!(r.status(), Status::Critical, "{}", r.render());
        let r = judge(
            &cli(&["--hit-warning", "95:", "--hit-critical", "50:"]),
            &stats(&base()),
            None,
        );
        assert_eq!(r.status(), Status::Warning);
        assert!(
            r.render().contains("WARNING - hit ratio 90%"),
            "{}",
            r.render()
        );
        let mut s = base();
        s.push(("evictions", "500"));
        let r = judge(
            &cli(&["--evictions-warning", "1", "--evictions-critical", "10"]),
            &stats(&s),
            None,
        );
        assert_eq!(r.status(), Status::Warning, "5/s: {}", r.render());
    }

    #[test]
    fn no_gets_and_old_servers() {
        let s = stats(&[
            ("curr_connections", "3"),
            ("get_hits", "0"),
            ("get_misses", "0"),
        ]);
        let r = judge(&cli(&["--hit-critical", "90:"]), &s, Some(100));
        assert_eq!(r.status(), Status::Ok, "{}", r.render());
        let line = r.render();
        assert!(
            line.contains("no gets yet") && line.contains("'hit_ratio'=U;;90:;0;100"),
            "{line}"
        );
        assert!(line.contains("3/100 connections"), "{line}");
    }
}
