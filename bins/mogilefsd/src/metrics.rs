//! `--metrics-listen`: the tracker's `!stats` figures, the replication
//! backlog, files per domain and each device's space and state — read from
//! the same `!stats` reply and metadata rows `mogadm` and the admin lines
//! show.

use std::collections::HashMap;

use danga_common::metrics::{Exposition, Kind};
use danga_mogilefs::meta::MetaStore;
use danga_mogilefs::tracker::{Session, Tracker};

/// The exposition of `t`.
pub async fn render<M: MetaStore>(t: &Tracker<M>) -> String {
    let mut e = Exposition::new();
    e.one("mogilefs_up", Kind::Gauge, "The tracker is serving.", 1.0);
    let stats = t
        .answer(b"!stats", &mut Session::new("metrics"))
        .await
        .unwrap_or_default();
    let mut sent = Vec::new();
    let mut queued = Vec::new();
    for line in stats.lines() {
        let Some((k, v)) = line.trim_end().split_once(' ') else {
            continue;
        };
        let Ok(v) = v.trim().parse::<f64>() else {
            continue;
        };
        match k {
            "uptime" => {
                e.one(
                    "mogilefs_tracker_uptime_seconds",
                    Kind::Counter,
                    "Seconds since the tracker started.",
                    v,
                );
            }
            "queries" => {
                e.one(
                    "mogilefs_tracker_queries_total",
                    Kind::Counter,
                    "Tracker commands answered.",
                    v,
                );
            }
            "pending_queries" => {
                e.one(
                    "mogilefs_tracker_pending_queries",
                    Kind::Gauge,
                    "Commands waiting for a query worker.",
                    v,
                );
            }
            "processing_queries" => {
                e.one(
                    "mogilefs_tracker_processing_queries",
                    Kind::Gauge,
                    "Commands being answered now.",
                    v,
                );
            }
            "bored_queryworkers" => {
                e.one(
                    "mogilefs_tracker_idle_queryworkers",
                    Kind::Gauge,
                    "Query workers with nothing to do.",
                    v,
                );
            }
            _ => {
                if let Some(job) = k.strip_prefix("work_sent_to_") {
                    sent.push((job.to_owned(), v));
                } else if let Some(job) = k.strip_prefix("work_queue_for_") {
                    queued.push((job.to_owned(), v));
                }
            }
        }
    }
    for (job, v) in &sent {
        e.sample(
            "mogilefs_tracker_work_sent_total",
            Kind::Counter,
            "Work items handed to a background job.",
            &[("job", job)],
            *v,
        );
    }
    for (job, v) in &queued {
        e.sample(
            "mogilefs_tracker_work_queue",
            Kind::Gauge,
            "Work items waiting for a background job.",
            &[("job", job)],
            *v,
        );
    }
    let meta = t.meta();
    if let Ok(n) = meta.count_replications().await {
        e.one(
            "mogilefs_replication_queue",
            Kind::Gauge,
            "Files waiting to reach their class's mindevcount.",
            n as f64,
        );
    }
    if let Ok(domains) = meta.domains().await {
        let mut counts = Vec::new();
        for d in domains {
            if let Ok(n) = meta.count_files(d.dmid, None).await {
                counts.push((d.namespace, n as f64));
            }
        }
        e.one(
            "mogilefs_files_stored_total",
            Kind::Gauge,
            "Files stored, all domains.",
            counts.iter().map(|c| c.1).sum(),
        );
        for (domain, n) in &counts {
            e.sample(
                "mogilefs_files",
                Kind::Gauge,
                "Files stored per domain.",
                &[("domain", domain)],
                *n,
            );
        }
    }
    let hosts: HashMap<i64, String> = meta
        .hosts()
        .await
        .map(|hs| hs.into_iter().map(|h| (h.hostid, h.hostname)).collect())
        .unwrap_or_default();
    if let Ok(devs) = meta.devices().await {
        let rows: Vec<_> = devs
            .iter()
            .map(|d| {
                let host = hosts.get(&d.hostid).cloned().unwrap_or_default();
                (format!("dev{}", d.devid), host, d)
            })
            .collect();
        for (dev, host, d) in &rows {
            if let Some(mb) = d.mb_total {
                e.sample(
                    "mogilefs_device_total_bytes",
                    Kind::Gauge,
                    "Device size as its storage node last reported it.",
                    &[("device", dev), ("host", host)],
                    (mb as f64) * 1048576.0,
                );
            }
        }
        for (dev, host, d) in &rows {
            if let Some(mb) = d.mb_used {
                e.sample(
                    "mogilefs_device_used_bytes",
                    Kind::Gauge,
                    "Bytes used on the device as its storage node last reported it.",
                    &[("device", dev), ("host", host)],
                    (mb as f64) * 1048576.0,
                );
            }
        }
        for (dev, host, d) in &rows {
            e.sample(
                "mogilefs_device_state",
                Kind::Gauge,
                "The device's state (alive, down, drain, readonly, dead): 1 for the one it is in.",
                &[("device", dev), ("host", host), ("state", &d.status)],
                1.0,
            );
        }
    }
    fsck(t, &mut e).await;
    e.finish()
}

/// The codes fsck logs (MogileFS 2.73's), each a `num_<CODE>` in
/// `fsck_status`.
const FSCK_CODES: [&str; 11] = [
    "NOPA", "MISS", "BLEN", "BCNT", "REPL", "GONE", "SRCH", "FOND", "POVI", "BSUM", "NSUM",
];

/// fsck progress, from the same `fsck_status` reply `mogadm fsck status`
/// prints.
async fn fsck<M: MetaStore>(t: &Tracker<M>, e: &mut Exposition) {
    let Some(reply) = t.answer(b"fsck_status", &mut Session::new("metrics")).await else {
        return;
    };
    let Some(Ok(args)) = danga_mogilefs::proto::parse_reply(reply.as_bytes()) else {
        return;
    };
    let num = |k: &str| args.get(k).and_then(|v| v.parse::<f64>().ok());
    let running = num("running").unwrap_or(0.0);
    e.one(
        "mogilefs_fsck_running",
        Kind::Gauge,
        "1 while an fsck run is going on.",
        running,
    );
    let checked = num("max_fid_checked").unwrap_or(0.0);
    e.one(
        "mogilefs_fsck_checked_fid",
        Kind::Gauge,
        "The highest fid the current (or last) fsck run has checked.",
        checked,
    );
    let end = num("end_fid").unwrap_or(0.0);
    e.one(
        "mogilefs_fsck_end_fid",
        Kind::Gauge,
        "The fid the current (or last) fsck run ends at.",
        end,
    );
    if end > 0.0 {
        e.one(
            "mogilefs_fsck_progress_ratio",
            Kind::Gauge,
            "Share of the fid range the fsck run has checked (0 to 1).",
            (checked / end).clamp(0.0, 1.0),
        );
    }
    for code in FSCK_CODES {
        e.sample(
            "mogilefs_fsck_events",
            Kind::Gauge,
            "Problems fsck logged since its last reset, by event code.",
            &[("code", code)],
            num(&format!("num_{code}")).unwrap_or(0.0),
        );
    }
}
