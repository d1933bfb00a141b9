//! The Stats plugin's console output: `STATS` and `RECENT`.

use std::sync::Arc;

use crate::core::Plugin;
use crate::server::counters::{StatsStore, STAT_KEYS};
use crate::server::{lock, Shared};

/// The services Stats is on now, with their counters.
fn stats_services(shared: &Shared) -> Vec<(String, Arc<StatsStore>)> {
    let on: Vec<String> = lock(&shared.config)
        .services
        .values()
        .filter(|s| s.plugins.contains(&Plugin::Stats))
        .map(|s| s.name.clone())
        .collect();
    on.into_iter()
        .filter_map(|n| Some((n.clone(), shared.plugins.stats.get(&n)?)))
        .collect()
}

/// `STATS`' lines (1.80's `%-15s %-25s %12d`, per service then `total`).
pub(crate) fn stats_lines(shared: &Shared) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = [0u64; 5];
    for (name, st) in stats_services(shared) {
        for ((key, n), sum) in STAT_KEYS.iter().zip(st.values()).zip(&mut total) {
            *sum += n;
            out.push(format!("{name:<15} {key:<25} {n:>12}"));
        }
    }
    for (key, n) in STAT_KEYS.iter().zip(total) {
        out.push(format!("{:<15} {key:<25} {n:>12}", "total"));
    }
    out
}

/// `RECENT`'s lines: `service secs http://host/uri`.
pub(crate) fn recent_lines(shared: &Shared) -> Vec<String> {
    let mut out = Vec::new();
    for (name, st) in stats_services(shared) {
        out.extend(st.recent_lines().iter().map(|l| format!("{name} {l}")));
    }
    out
}
