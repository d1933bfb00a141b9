//! `--metrics-listen`: the `stats` counters under the metric names of
//! prometheus/memcached_exporter, so its dashboards and alerts work
//! unchanged. Every value is read from the same `stats` reply a client
//! gets — one set of books.

use std::collections::HashMap;

use danga_common::metrics::{stat_lines, Exposition, Kind};
use danga_memcached::server::{unix_now, Server};

/// (stat, metric, kind, help) for the plain one-to-one metrics.
const PLAIN: &[(&str, &str, Kind, &str)] = &[
    (
        "uptime",
        "memcached_uptime_seconds",
        Kind::Counter,
        "Number of seconds since the server started.",
    ),
    (
        "time",
        "memcached_time_seconds",
        Kind::Gauge,
        "Current UNIX time according to the server.",
    ),
    (
        "rusage_user",
        "memcached_process_user_cpu_seconds_total",
        Kind::Counter,
        "Accumulated user time for this process.",
    ),
    (
        "rusage_system",
        "memcached_process_system_cpu_seconds_total",
        Kind::Counter,
        "Accumulated system time for this process.",
    ),
    (
        "bytes",
        "memcached_current_bytes",
        Kind::Gauge,
        "Current number of bytes used to store items.",
    ),
    (
        "limit_maxbytes",
        "memcached_limit_bytes",
        Kind::Gauge,
        "Number of bytes this server is allowed to use for storage.",
    ),
    (
        "curr_items",
        "memcached_current_items",
        Kind::Gauge,
        "Current number of items stored by this instance.",
    ),
    (
        "total_items",
        "memcached_items_total",
        Kind::Counter,
        "Total number of items stored during the life of this instance.",
    ),
    (
        "evictions",
        "memcached_items_evicted_total",
        Kind::Counter,
        "Total number of valid items removed from cache to free memory for new items.",
    ),
    (
        "reclaimed",
        "memcached_items_reclaimed_total",
        Kind::Counter,
        "Total number of times an entry was stored using memory from an expired entry.",
    ),
    (
        "expired_unfetched",
        "memcached_items_expired_unfetched_total",
        Kind::Counter,
        "Total number of items that expired before being fetched.",
    ),
    (
        "evicted_unfetched",
        "memcached_items_evicted_unfetched_total",
        Kind::Counter,
        "Total number of items evicted before being fetched.",
    ),
    (
        "curr_connections",
        "memcached_current_connections",
        Kind::Gauge,
        "Current number of open connections.",
    ),
    (
        "total_connections",
        "memcached_connections_total",
        Kind::Counter,
        "Total number of connections opened since the server started running.",
    ),
    (
        "rejected_connections",
        "memcached_connections_rejected_total",
        Kind::Counter,
        "Total number of connections rejected due to the connection limit.",
    ),
    (
        "max_connections",
        "memcached_max_connections",
        Kind::Gauge,
        "Maximum number of clients allowed.",
    ),
    (
        "conn_yields",
        "memcached_connections_yielded_total",
        Kind::Counter,
        "Total number of connections yielded running due to hitting the memcached's -R limit.",
    ),
    (
        "listen_disabled_num",
        "memcached_connections_listener_disabled_total",
        Kind::Counter,
        "Number of times that memcached has hit its connections limit and disabled its listener.",
    ),
    (
        "bytes_read",
        "memcached_read_bytes_total",
        Kind::Counter,
        "Total number of bytes read by this server from network.",
    ),
    (
        "bytes_written",
        "memcached_written_bytes_total",
        Kind::Counter,
        "Total number of bytes sent by this server to network.",
    ),
    (
        "threads",
        "memcached_threads",
        Kind::Gauge,
        "Number of worker threads.",
    ),
    (
        "slabs_moved",
        "memcached_slabs_moved_total",
        Kind::Counter,
        "Total slab pages moved.",
    ),
];

/// (command, status, stat) rows of `memcached_commands_total`.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("get", "hit", "get_hits"),
    ("get", "miss", "get_misses"),
    ("set", "hit", "cmd_set"),
    ("cas", "hit", "cas_hits"),
    ("cas", "miss", "cas_misses"),
    ("cas", "badval", "cas_badval"),
    ("incr", "hit", "incr_hits"),
    ("incr", "miss", "incr_misses"),
    ("decr", "hit", "decr_hits"),
    ("decr", "miss", "decr_misses"),
    ("delete", "hit", "delete_hits"),
    ("delete", "miss", "delete_misses"),
    ("touch", "hit", "touch_hits"),
    ("touch", "miss", "touch_misses"),
    ("flush", "hit", "cmd_flush"),
];

/// The exposition of `server`'s general stats.
pub fn render(server: &Server) -> String {
    let mut out = Vec::new();
    server.stats(b"", server.engine.rel_time(unix_now()), &mut out);
    let text = String::from_utf8_lossy(&out);
    let stats: HashMap<&str, &str> = stat_lines(&text).into_iter().collect();
    let num = |k: &str| stats.get(k).and_then(|v| v.parse::<f64>().ok());
    let mut e = Exposition::new();
    e.one(
        "memcached_up",
        Kind::Gauge,
        "Could the memcached server be reached.",
        1.0,
    );
    if let Some(v) = stats.get("version") {
        e.sample(
            "memcached_version",
            Kind::Gauge,
            "The version of this memcached server.",
            &[("version", v)],
            1.0,
        );
    }
    for (stat, name, kind, help) in PLAIN {
        if let Some(v) = num(stat) {
            e.one(name, *kind, help, v);
        }
    }
    for (command, status, stat) in COMMANDS {
        if let Some(v) = num(stat) {
            e.sample(
                "memcached_commands_total",
                Kind::Counter,
                "Total number of all requests broken down by command (get, set, etc.) and status.",
                &[("command", command), ("status", status)],
                v,
            );
        }
    }
    e.finish()
}
