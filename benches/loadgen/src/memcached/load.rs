//! The get/set load: `--conns` connections, each a task keeping `--depth`
//! requests in flight, for `--duration` seconds or `--requests` in all.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::conn::{Conn, Limits, Workload};
use super::proto::{Counts, Encoder};
use super::{McArgs, GRACE};
use crate::net::Target;
use crate::Report;

pub async fn run(target: &Target, a: &McArgs) -> Result<Report> {
    let enc = Arc::new(Encoder::new(a.value_size));
    let mut conns = Vec::with_capacity(a.conns);
    for _ in 0..a.conns {
        conns.push(Conn::connect(target, a.depth).await?);
    }
    if a.prefill {
        conns = prefill(conns, &enc, a).await?;
    }

    let start = Instant::now();
    let stop_at = start + a.send_time();
    let lim = Limits {
        depth: a.depth,
        stop_at,
        give_up_at: stop_at + GRACE,
    };
    let n = a.conns as u64;
    let mut tasks = JoinSet::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let i = i as u64;
        let left = a.requests.map(|r| r / n + u64::from(i < r % n));
        let mut w = Workload::mixed(a.seed.wrapping_mul(1 << 20) + i, a.keys, a.get_ratio, left);
        let enc = Arc::clone(&enc);
        tasks.spawn(async move {
            let mut c = Counts::default();
            let res = conn.drive(&mut w, &enc, &lim, &mut c).await;
            if res.is_err() {
                c.errors += conn.in_flight();
            }
            (c, res)
        });
    }
    let (total, failure) = join(tasks).await?;
    let secs = start.elapsed().as_secs_f64();
    Ok(Report::from_counts(&total, secs, failure))
}

/// Set every key once, the key space split across the connections.
async fn prefill(conns: Vec<Conn>, enc: &Arc<Encoder>, a: &McArgs) -> Result<Vec<Conn>> {
    let start = Instant::now();
    let stop_at = start + std::time::Duration::from_secs(300);
    let lim = Limits {
        depth: a.depth,
        stop_at,
        give_up_at: stop_at + GRACE,
    };
    let n = conns.len() as u64;
    let mut tasks = JoinSet::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let i = i as u64;
        let mut w = Workload::Sequential {
            next: a.keys * i / n,
            end: a.keys * (i + 1) / n,
        };
        let enc = Arc::clone(enc);
        tasks.spawn(async move {
            let mut c = Counts::default();
            let res = conn.drive(&mut w, &enc, &lim, &mut c).await;
            (c, res.map(|()| conn))
        });
    }
    let mut total = Counts::default();
    let mut conns = Vec::with_capacity(n as usize);
    while let Some(r) = tasks.join_next().await {
        let (c, conn) = r?;
        total.add(&c);
        conns.push(conn.map_err(|e| e.context("prefill"))?);
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "prefill: sets={} errors={} secs={secs:.3}",
        total.sets, total.errors
    );
    if total.errors > 0 || total.sets < a.keys {
        return Err(anyhow!("prefill stored {} of {} keys", total.sets, a.keys));
    }
    Ok(conns)
}

/// Sum the connections' counts; keep the first failure (the others are
/// printed).
async fn join(mut tasks: JoinSet<(Counts, Result<()>)>) -> Result<(Counts, Option<anyhow::Error>)> {
    let mut total = Counts::default();
    let mut failure = None;
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        let (c, res) = r?;
        total.add(&c);
        if let Err(e) = res {
            failed += 1;
            if failure.is_none() {
                failure = Some(e);
            } else {
                eprintln!("danga-loadgen: connection failed: {e:#}");
            }
        }
    }
    Ok((
        total,
        failure.map(|e| e.context(format!("{failed} connection(s) failed"))),
    ))
}
