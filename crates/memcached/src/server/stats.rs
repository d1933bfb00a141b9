//! `stats` and its sub-commands, with the original's names in the
//! original's order (dashboards and Nagios checks parse them).

use std::fmt::Write as _;

use crate::exec::VERSION;
use crate::store::RelTime;

use super::{unix_now, Server};

/// What `stats settings` reports (from the command line).
#[derive(Debug, Clone, Default)]
pub struct StatsSettings {
    /// `-m` in bytes.
    pub maxbytes: u64,
    /// `-c`.
    pub maxconns: u64,
    /// `-p`.
    pub tcpport: i64,
    /// `-U`.
    pub udpport: u64,
    /// `-l` (or `NULL`).
    pub inter: String,
    /// `-v` count.
    pub verbosity: u32,
    /// `-M` off.
    pub evictions: bool,
    /// `-s` (or `NULL`).
    pub domain_socket: String,
    /// `-a`.
    pub umask: String,
    /// `-A`.
    pub shutdown_command: bool,
    /// `-f`.
    pub growth_factor: f64,
    /// `-n`.
    pub chunk_size: u64,
    /// `-t`.
    pub num_threads: u64,
    /// `-R`.
    pub reqs_per_event: u64,
    /// `-C` off.
    pub cas_enabled: bool,
    /// `-b`.
    pub tcp_backlog: u64,
    /// `-B`.
    pub binding_protocol: String,
    /// `-S`.
    pub auth_enabled_sasl: bool,
    /// `-Y` (the file, or `no`).
    pub auth_enabled_ascii: String,
    /// `-I`.
    pub item_size_max: u64,
    /// `slab_chunk_max`.
    pub slab_chunk_max: u64,
    /// `-F` off.
    pub flush_enabled: bool,
    /// `-X` off.
    pub dump_enabled: bool,
    /// `-o lru_crawler` (on unless `no_lru_crawler`).
    pub lru_crawler: bool,
    /// `-o lru_maintainer` (on unless `no_lru_maintainer`).
    pub lru_maintainer: bool,
    /// The `-o ssl_*` settings (shown whether or not `-Z` is given).
    pub ssl: super::TlsSettings,
    /// `-e`: the restart file (`(null)` without one, as the original
    /// prints it).
    pub memory_file: String,
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl Server {
    /// Renders `stats [args]` into `out`.
    pub fn stats(&self, args: &[u8], now: RelTime, out: &mut Vec<u8>) {
        let mut s = String::new();
        match args {
            b"" => self.general(&mut s, now),
            b"settings" => self.settings_stats(&mut s),
            b"items" => self.items(&mut s, now),
            b"slabs" => self.slabs(&mut s, now),
            b"sizes" => s.push_str("STAT sizes_status disabled\r\n"),
            b"conns" => self.conns.render(now, &mut s),
            b"detail dump" => {
                self.engine.detail.dump(out);
                return;
            }
            b"reset" => {
                self.engine.counters.reset();
                self.engine.detail.clear();
                self.engine.store.reset_stats();
                self.registry.reset_counters();
                if let Some(tls) = &self.tls {
                    tls.reset_counters();
                }
                out.extend_from_slice(b"RESET\r\n");
                return;
            }
            _ if args.starts_with(b"cachedump") => {
                self.cachedump(args, out);
                return;
            }
            b"detail on" | b"detail off" => {
                self.engine.detail.set_enabled(args == b"detail on");
                out.extend_from_slice(b"OK\r\n");
                return;
            }
            _ if args == b"detail" || args.starts_with(b"detail ") => {
                out.extend_from_slice(b"CLIENT_ERROR usage: stats detail on|off|dump\r\n");
                return;
            }
            _ => {
                out.extend_from_slice(b"ERROR\r\n");
                return;
            }
        }
        s.push_str("END\r\n");
        out.extend_from_slice(s.as_bytes());
    }

    fn general(&self, s: &mut String, now: RelTime) {
        let c = self.engine.counters.snapshot();
        let st = self.engine.store.stats(now);
        let conn = |name: &str| {
            self.registry
                .get(name)
                .map_or_else(|| "0".to_owned(), |v| v.to_string())
        };
        let wall = unix_now();
        let (user, sys) = rusage();
        let mut put = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(s, "STAT {k} {v}\r\n");
        };
        put("pid", &std::process::id());
        put("uptime", &wall.saturating_sub(self.started));
        put("time", &wall);
        put("version", &VERSION);
        put("libevent", &"tokio");
        put("pointer_size", &(usize::BITS));
        put("rusage_user", &user);
        put("rusage_system", &sys);
        put("max_connections", &self.settings.maxconns);
        let curr = conn("curr_connections");
        put("curr_connections", &curr);
        put("total_connections", &conn("total_connections"));
        put("rejected_connections", &conn("rejected_connections"));
        put("connection_structures", &curr);
        put("response_obj_oom", &c.response_obj_oom);
        for k in [
            "response_obj_count",
            "response_obj_bytes",
            "read_buf_count",
            "read_buf_bytes",
            "read_buf_bytes_free",
            "read_buf_oom",
        ] {
            put(k, &0);
        }
        put("reserved_fds", &20);
        let counters: [(&str, u64); 22] = [
            ("cmd_get", c.cmd_get),
            ("cmd_set", c.cmd_set),
            ("cmd_flush", c.cmd_flush),
            ("cmd_touch", c.cmd_touch),
            ("cmd_meta", c.cmd_meta),
            ("get_hits", c.get_hits),
            ("get_misses", c.get_misses),
            ("get_expired", c.get_expired),
            ("get_flushed", c.get_flushed),
            ("delete_misses", c.delete_misses),
            ("delete_hits", c.delete_hits),
            ("incr_misses", c.incr_misses),
            ("incr_hits", c.incr_hits),
            ("decr_misses", c.decr_misses),
            ("decr_hits", c.decr_hits),
            ("cas_misses", c.cas_misses),
            ("cas_hits", c.cas_hits),
            ("cas_badval", c.cas_badval),
            ("touch_hits", c.touch_hits),
            ("touch_misses", c.touch_misses),
            ("store_too_large", c.store_too_large),
            ("store_no_memory", c.store_no_memory),
        ];
        for (k, v) in counters {
            put(k, &v);
        }
        put("auth_cmds", &c.auth_cmds);
        put("auth_errors", &c.auth_errors);
        if self.conn.idle_timeout.is_some() {
            put("idle_kicks", &c.idle_kicks);
        }
        put("bytes_read", &c.bytes_read);
        put("bytes_written", &c.bytes_written);
        put("limit_maxbytes", &self.engine.store.mem_limit());
        put("accepting_conns", &1);
        put("listen_disabled_num", &0);
        put("time_in_listen_disabled_us", &0);
        put("threads", &self.settings.num_threads);
        put("conn_yields", &c.conn_yields);
        put("hash_power_level", &st.hash_power_level);
        put("hash_bytes", &st.hash_bytes);
        put("hash_is_expanding", &0);
        {
            use std::sync::atomic::Ordering::Relaxed;
            let m = self.engine.store.mover_stats();
            put("slab_reassign_rescues", &m.rescues.load(Relaxed));
            put(
                "slab_reassign_chunk_rescues",
                &m.chunk_rescues.load(Relaxed),
            );
            put(
                "slab_reassign_evictions_nomem",
                &m.evictions_nomem.load(Relaxed),
            );
            put(
                "slab_reassign_inline_reclaim",
                &m.inline_reclaim.load(Relaxed),
            );
            put("slab_reassign_busy_items", &m.busy_items.load(Relaxed));
            // A move holds its shard's lock from start to end, and readers
            // copy values out under that lock: no item is ever in use by a
            // connection while its page moves, so none is deleted for being
            // busy (docs/compat/memcached.md).
            put("slab_reassign_busy_deletes", &0);
            put(
                "slab_reassign_running",
                &u32::from(m.running.load(Relaxed) > 0),
            );
            put("slabs_moved", &m.slabs_moved.load(Relaxed));
        }
        if self
            .engine
            .crawler_on
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            put("lru_crawler_running", &0);
            put("lru_crawler_starts", &1);
        }
        if self.settings.lru_maintainer {
            put(
                "lru_maintainer_juggles",
                &self
                    .engine
                    .store
                    .juggles
                    .load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        for k in [
            "malloc_fails",
            "log_worker_dropped",
            "log_worker_written",
            "log_watcher_skipped",
            "log_watcher_sent",
        ] {
            put(k, &0);
        }
        put("log_watchers", &self.engine.log.count());
        if let Some(tls) = &self.tls {
            if let Some(n) = tls.new_sessions() {
                put("ssl_new_sessions", &n);
            }
            put("ssl_handshake_errors", &tls.handshake_errors());
            put("time_since_server_cert_refresh", &tls.since_refresh(wall));
        }
        put("unexpected_napi_ids", &0);
        put("round_robin_fallback", &0);
        put("bytes", &st.bytes);
        put("curr_items", &st.curr_items);
        put("total_items", &st.total_items);
        put("slab_global_page_pool", &st.pages_returned);
        put("expired_unfetched", &st.expired_unfetched);
        put("evicted_unfetched", &st.evicted_unfetched);
        let maintainer = self.settings.lru_maintainer;
        if maintainer {
            put("evicted_active", &st.evicted_active);
        }
        put("evictions", &st.evictions);
        put("reclaimed", &st.reclaimed);
        put("crawler_reclaimed", &st.crawler_reclaimed);
        put("crawler_items_checked", &st.crawler_items_checked);
        put("lrutail_reflocked", &0);
        if maintainer {
            put("moves_to_cold", &st.moves_to_cold);
            put("moves_to_warm", &st.moves_to_warm);
            put("moves_within_lru", &st.moves_within_lru);
            put("direct_reclaims", &st.direct_reclaims);
            // A fetch that marks a COLD item ACTIVE moves it to WARM there
            // and then, under the shard lock: there is no bump queue to
            // fill up and drop from (docs/compat/memcached.md).
            put("lru_bumps_dropped", &0);
        }
    }

    fn settings_stats(&self, s: &mut String) {
        let st = &self.settings;
        let mut put = |k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(s, "STAT {k} {v}\r\n");
        };
        put("maxbytes", &self.engine.store.mem_limit());
        put("maxconns", &st.maxconns);
        put("tcpport", &st.tcpport);
        put("udpport", &st.udpport);
        put("inter", &st.inter);
        put("verbosity", &st.verbosity);
        put("oldest", &0);
        put("evictions", &if st.evictions { "on" } else { "off" });
        put("domain_socket", &st.domain_socket);
        put("umask", &st.umask);
        put("shutdown_command", &yes(st.shutdown_command));
        put("growth_factor", &format!("{:.2}", st.growth_factor));
        put("chunk_size", &st.chunk_size);
        put("num_threads", &st.num_threads);
        put("num_threads_per_udp", &st.num_threads);
        put(
            "stat_key_prefix",
            &char::from(self.engine.detail.delimiter()),
        );
        put("detail_enabled", &yes(self.engine.detail.enabled()));
        put("reqs_per_event", &st.reqs_per_event);
        put("cas_enabled", &yes(st.cas_enabled));
        put("tcp_backlog", &st.tcp_backlog);
        put("binding_protocol", &st.binding_protocol);
        put("auth_enabled_sasl", &yes(st.auth_enabled_sasl));
        put("auth_enabled_ascii", &st.auth_enabled_ascii);
        put("item_size_max", &st.item_size_max);
        put("maxconns_fast", &"yes");
        put("hashpower_init", &0);
        let store = &self.engine.store;
        put("slab_reassign", &yes(store.config().slab_reassign));
        put(
            "slab_automove",
            &store.automove.load(std::sync::atomic::Ordering::Relaxed),
        );
        put(
            "slab_automove_ratio",
            &format!("{:.2}", store.automove_ratio()),
        );
        put("slab_automove_window", &store.config().slab_automove_window);
        put("slab_chunk_max", &st.slab_chunk_max);
        put(
            "lru_crawler",
            &yes(self
                .engine
                .crawler_on
                .load(std::sync::atomic::Ordering::Relaxed)),
        );
        put("flush_enabled", &yes(st.flush_enabled));
        put("dump_enabled", &yes(st.dump_enabled));
        let lru = self.engine.store.lru_tuning().snapshot();
        put("lru_maintainer_thread", &yes(st.lru_maintainer));
        put("lru_segmented", &yes(lru.segmented));
        put("hot_lru_pct", &lru.hot_pct);
        put("warm_lru_pct", &lru.warm_pct);
        put("hot_max_factor", &format!("{:.2}", lru.hot_max_factor));
        put("warm_max_factor", &format!("{:.2}", lru.warm_max_factor));
        put("temp_lru", &yes(lru.temp_lru));
        put("temporary_ttl", &lru.temporary_ttl);
        put(
            "idle_timeout",
            &self.conn.idle_timeout.map_or(0, |d| d.as_secs()),
        );
        put("track_sizes", &"no");
        let ssl = &st.ssl;
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map_or_else(|| "(null)".to_owned(), |p| p.display().to_string())
        };
        put("ssl_enabled", &yes(self.tls.is_some()));
        put("ssl_chain_cert", &path(&ssl.chain_cert));
        put("ssl_key", &path(&ssl.key));
        put("ssl_verify_mode", &ssl.verify_flags());
        put("ssl_keyformat", &ssl.keyformat);
        put("ssl_ciphers", &ssl.ciphers.as_deref().unwrap_or("NULL"));
        put(
            "ssl_ca_cert",
            &ssl.ca_cert
                .as_ref()
                .map_or_else(|| "NULL".to_owned(), |p| p.display().to_string()),
        );
        put("ssl_wbuf_size", &ssl.wbuf_size);
        put("ssl_session_cache", &yes(ssl.session_cache));
        put("ssl_kernel_tls", &yes(ssl.kernel_tls));
        put("ssl_min_version", &ssl.min_version_text());
        put("memory_file", &st.memory_file);
    }

    fn items(&self, s: &mut String, now: RelTime) {
        let maintainer = self.settings.lru_maintainer;
        let temp = self.engine.store.lru_tuning().snapshot().temp_lru;
        for c in self.engine.store.stats(now).classes {
            if c.number == 0 {
                continue;
            }
            let id = c.id;
            let mut put = |k: &str, v: u64| {
                let _ = write!(s, "STAT items:{id}:{k} {v}\r\n");
            };
            put("number", c.number);
            if maintainer {
                put("number_hot", c.number_seg[0]);
                put("number_warm", c.number_seg[1]);
                put("number_cold", c.number_seg[2]);
                if temp {
                    put("number_temp", c.number_seg[3]);
                }
                put("age_hot", u64::from(c.age_hot));
                put("age_warm", u64::from(c.age_warm));
            }
            // Our items have no reference counts: an eviction never meets a
            // tail item held by a connection (`lrutail_reflocked`) nor one
            // leaked by one (`tailrepairs`), so both stay 0
            // (docs/compat/memcached.md).
            let head: [(&str, u64); 8] = [
                ("age", u64::from(c.age)),
                ("mem_requested", c.bytes),
                ("evicted", c.evicted),
                ("evicted_nonzero", c.evicted_nonzero),
                ("evicted_time", u64::from(c.evicted_time)),
                ("outofmemory", c.outofmemory),
                ("tailrepairs", 0),
                ("reclaimed", c.reclaimed),
            ];
            for (k, v) in head {
                put(k, v);
            }
            put("expired_unfetched", c.expired_unfetched);
            put("evicted_unfetched", c.evicted_unfetched);
            if maintainer {
                put("evicted_active", c.evicted_active);
            }
            put("crawler_reclaimed", c.crawler_reclaimed);
            put("crawler_items_checked", c.crawler_items_checked);
            put("lrutail_reflocked", 0);
            if maintainer {
                let moves: [(&str, u64); 8] = [
                    ("moves_to_cold", c.moves_to_cold),
                    ("moves_to_warm", c.moves_to_warm),
                    ("moves_within_lru", c.moves_within_lru),
                    ("direct_reclaims", c.direct_reclaims),
                    ("hits_to_hot", c.hits[0]),
                    ("hits_to_warm", c.hits[1]),
                    ("hits_to_cold", c.hits[2]),
                    ("hits_to_temp", c.hits[3]),
                ];
                for (k, v) in moves {
                    put(k, v);
                }
            }
        }
    }

    fn slabs(&self, s: &mut String, now: RelTime) {
        let st = self.engine.store.stats(now);
        let mut active = 0;
        for c in &st.classes {
            if c.total_pages == 0 {
                continue;
            }
            active += 1;
            let id = c.id;
            let fields: [(&str, u64); 5] = [
                ("chunk_size", u64::from(c.chunk_size)),
                ("chunks_per_page", u64::from(c.per_page)),
                ("total_pages", c.total_pages),
                ("total_chunks", c.total_pages * u64::from(c.per_page)),
                ("used_chunks", c.used_chunks),
            ];
            for (k, v) in fields {
                let _ = write!(s, "STAT {id}:{k} {v}\r\n");
            }
            let _ = write!(
                s,
                "STAT {id}:free_chunks {}\r\nSTAT {id}:free_chunks_end 0\r\n",
                c.free_chunks
            );
        }
        let _ = write!(
            s,
            "STAT active_slabs {active}\r\nSTAT total_malloced {}\r\n",
            st.total_malloced
        );
    }
}

/// User and system CPU time as `seconds.micros`.
fn rusage() -> (String, String) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let f = |t: nix::sys::time::TimeVal| format!("{}.{:06}", t.tv_sec(), t.tv_usec());
            (f(u.user_time()), f(u.system_time()))
        }
        Err(_) => ("0.000000".into(), "0.000000".into()),
    }
}
