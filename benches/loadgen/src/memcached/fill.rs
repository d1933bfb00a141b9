//! `--fill-until-evict`: how many 14-byte-key items a server holds before
//! its first eviction. One connection sets new keys in order (`--depth` in
//! flight), reads `stats` after every 10,000 sets, and stops at the first
//! reading with `evictions` > 0.

use anyhow::{anyhow, Result};
use tokio::time::Instant;

use super::conn::{Conn, Limits, Workload};
use super::proto::{Counts, Encoder, StatsReading};
use super::{McArgs, GRACE};
use crate::net::Target;
use crate::Report;

const BATCH: u64 = 10_000;
const DEFAULT_MAX_SETS: u64 = 2_000_000;

pub async fn run(target: &Target, a: &McArgs) -> Result<Report> {
    let enc = Encoder::new(a.value_size);
    let mut conn = Conn::connect(target, a.depth).await?;
    let max_sets = a.requests.unwrap_or(DEFAULT_MAX_SETS);
    let start = Instant::now();
    let stop_at = start + a.send_time();
    let lim = Limits {
        depth: a.depth,
        stop_at,
        give_up_at: stop_at + GRACE,
    };
    let mut c = Counts::default();
    let mut sent = 0;
    let mut prev = StatsReading::default();
    let mut first_evicting = None;
    let mut failure = None;
    while sent < max_sets && Instant::now() < stop_at {
        let end = (sent + BATCH).min(max_sets);
        let mut w = Workload::Sequential { next: sent, end };
        let res = match conn.drive(&mut w, &enc, &lim, &mut c).await {
            Ok(()) => conn.stats(&enc, lim.give_up_at, &mut c).await,
            Err(e) => Err(e),
        };
        sent = end;
        match res {
            Ok(s) if s.evictions > 0 => {
                first_evicting = Some(s);
                break;
            }
            Ok(s) => prev = s,
            Err(e) => {
                c.errors += conn.in_flight();
                failure = Some(e);
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut report = Report::from_counts(&c, secs, failure);
    match first_evicting {
        Some(s) => {
            report.push("items_held", s.curr_items);
            report.push("items_held_prev", prev.curr_items);
            report.push("evictions", s.evictions);
        }
        None => {
            report.push("items_held", "none");
            report.push("items_held_prev", prev.curr_items);
            if report.failure.is_none() {
                report.failure = Some(anyhow!(
                    "no eviction after {} sets ({secs:.1} s); curr_items={}",
                    c.sets,
                    prev.curr_items
                ));
            }
        }
    }
    report.push("stats_reads", c.stats);
    Ok(report)
}
