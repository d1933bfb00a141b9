//! What the commands mean: memcached 1.6's semantics on top of the
//! [`crate::store`], writing the original's reply bytes.
//!
//! [`Engine::execute`] takes one parsed request, the current time and the
//! connection's counters, and appends the reply to `out`. It does no I/O:
//! the server module reads, parses, calls this, and writes.

mod arith;
mod auth;
mod binary;
mod counters;
mod detail;
pub mod logger;
mod lru;
mod meta;
mod metadump;
mod storage;

pub use auth::{Passwords, PasswordsError};
pub use binary::{BinOutcome, BinSession};
pub use counters::{Counters, Tally};
pub use metadump::Metadump;
pub use storage::Stored;

pub use detail::Detail;
use std::sync::Arc;

use crate::proto::{Keys, Request};
use crate::store::{Lookup, RelTime, Shard, Store, StoreConfig};

/// The version this server speaks for.
pub const VERSION: &str = "1.6.18";

/// Thirty days: larger expiry values are absolute unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// How often a fetched item's LRU position is refreshed (seconds).
pub const ITEM_UPDATE_INTERVAL: RelTime = 60;

/// Settings that change what commands do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `!-C`: items carry CAS uniques.
    pub cas_enabled: bool,
    /// `!-F`: `flush_all` allowed.
    pub flush_enabled: bool,
    /// `-A`: `shutdown` allowed.
    pub shutdown_enabled: bool,
    /// `-S`: the users SASL PLAIN accepts (from `MEMCACHED_SASL_PWDB`);
    /// with it, binary commands need authentication first.
    pub sasl: Option<Arc<Passwords>>,
    /// The LRU crawler runs at start (`-o lru_crawler`, off with
    /// `no_lru_crawler` or `no_modern`); `lru_crawler enable|disable`
    /// switches it later ([`Engine::crawler_on`]).
    pub lru_crawler: bool,
    /// `!-X`: `lru_crawler metadump` allowed.
    pub dump_enabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cas_enabled: true,
            flush_enabled: true,
            shutdown_enabled: false,
            sasl: None,
            lru_crawler: true,
            dump_enabled: true,
        }
    }
}

/// What the connection should do after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read the next request.
    Continue,
    /// Close the connection (`quit`).
    Close,
    /// Stop the server (`shutdown`, with `-A`).
    Shutdown,
    /// The caller renders `stats` (it knows the connection-level figures).
    Stats,
}

/// The cache: the store, the settings, the global counters, the clock base.
#[derive(Debug)]
pub struct Engine {
    /// The items.
    pub store: Store,
    /// Behaviour switches.
    pub settings: Settings,
    /// Command counters, summed over connections.
    pub counters: Counters,
    /// Unix time that `RelTime` 0 stands for (the original's
    /// `process_started`: start time minus 62 s, so that relative time 1,
    /// used for "already expired", is always in the past).
    pub process_started: u64,
    /// `stats detail`: per-prefix counts.
    pub detail: Detail,
    /// The `watch` log.
    pub log: std::sync::Arc<logger::Logger>,
    /// Whether the LRU crawler runs now.
    pub crawler_on: std::sync::atomic::AtomicBool,
    /// The stop under way is graceful (SIGUSR1, `shutdown graceful`): with
    /// `-e`, the cache is saved once the connections are gone.
    pub graceful_stop: std::sync::atomic::AtomicBool,
}

impl Engine {
    /// An engine over a new store.
    pub fn new(cfg: StoreConfig, settings: Settings, unix_now: u64) -> Self {
        let log = std::sync::Arc::new(logger::Logger::default());
        let store = Store::new(cfg);
        let hook_log = std::sync::Arc::clone(&log);
        store.set_evict_hook(crate::store::EvictHook(std::sync::Arc::new(
            move |e: &crate::store::Evicted<'_>| {
                hook_log.log(logger::EVICTIONS, |s| {
                    s.push_str("type=eviction key=");
                    logger::uri_encode(e.key, s);
                    let ttl = if e.meta.exptime == 0 {
                        -1
                    } else {
                        i64::from(e.meta.exptime) - i64::from(e.now)
                    };
                    let fetched = e.meta.state & crate::store::ItemState::FETCHED != 0;
                    let _ = std::fmt::Write::write_fmt(
                        s,
                        format_args!(
                            " fetch={} ttl={ttl} la={} clsid={} size={}",
                            if fetched { "yes" } else { "no" },
                            e.now.saturating_sub(e.meta.time),
                            e.meta.class,
                            e.meta.nbytes
                        ),
                    );
                });
            },
        )));
        Engine {
            crawler_on: std::sync::atomic::AtomicBool::new(settings.lru_crawler),
            graceful_stop: std::sync::atomic::AtomicBool::new(false),
            log,
            store,
            settings,
            counters: Counters::default(),
            process_started: unix_now.saturating_sub(u64::from(ITEM_UPDATE_INTERVAL) + 2),
            detail: Detail::default(),
        }
    }

    /// The relative time for a unix time.
    pub fn rel_time(&self, unix_now: u64) -> RelTime {
        RelTime::try_from(unix_now.saturating_sub(self.process_started)).unwrap_or(RelTime::MAX)
    }

    /// A client's expiry as a relative time (the original's `realtime()`):
    /// 0 never; negative: already expired; up to 30 days: relative;
    /// larger: an absolute unix time.
    pub fn realtime(&self, exptime: i64, now: RelTime) -> RelTime {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            1
        } else if exptime > REALTIME_MAXDELTA {
            let started = i64::try_from(self.process_started).unwrap_or(i64::MAX);
            if exptime <= started {
                1
            } else {
                RelTime::try_from(exptime - started).unwrap_or(RelTime::MAX)
            }
        } else {
            let rel = i64::from(now) + exptime;
            RelTime::try_from(rel).unwrap_or(RelTime::MAX)
        }
    }

    fn cas(&self) -> u64 {
        if self.settings.cas_enabled {
            self.store.next_cas()
        } else {
            0
        }
    }

    /// Runs one request, appending its reply to `out`.
    pub fn execute(
        &self,
        req: &Request<'_>,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) -> Outcome {
        match req {
            Request::Get { keys, cas } => self.get(*keys, *cas, None, now, t, out),
            Request::Gat { exptime, keys, cas } => {
                self.get(*keys, *cas, Some(*exptime), now, t, out)
            }
            Request::Store {
                cmd,
                key,
                flags,
                exptime,
                data,
                cas,
                noreply,
            } => {
                if self.detail.enabled() {
                    self.detail.set(key);
                }
                if self.log.wants(logger::FETCHERS) {
                    // The original looks the key up (and logs it) first.
                    let hash = crate::store::hash_key(key);
                    let mut shard = self.store.shard(hash);
                    let (status, class, size) = match shard.find(key, hash, now, &self.store.flush)
                    {
                        Lookup::Hit(id) => ("found", shard.meta(id).class, shard.meta(id).nbytes),
                        Lookup::Miss => ("not_found", 0, 0),
                        Lookup::Expired => ("expired", 0, 0),
                        Lookup::Flushed => ("flushed", 0, 0),
                    };
                    drop(shard);
                    self.log_fetch(key, status, class, size);
                }
                let reply = self.store_item(*cmd, key, *flags, *exptime, data, *cas, now, t);
                if self.log.wants(logger::MUTATIONS) {
                    self.log_store(*cmd, key, *exptime, reply.text(), now);
                }
                if !noreply {
                    out.extend_from_slice(reply.text());
                }
            }
            Request::TooLarge {
                cmd, key, noreply, ..
            } => {
                t.store_too_large += 1;
                if *cmd == crate::proto::StoreCmd::Set {
                    self.remove(key, now);
                }
                if !noreply {
                    out.extend_from_slice(b"SERVER_ERROR object too large for cache\r\n");
                }
            }
            Request::BadDataChunk { noreply } => {
                if !noreply {
                    out.extend_from_slice(b"CLIENT_ERROR bad data chunk\r\n");
                }
            }
            Request::Delete { key, noreply } => {
                if self.detail.enabled() {
                    self.detail.delete(key);
                }
                let reply: &[u8] = if self.remove(key, now) {
                    t.delete_hits += 1;
                    b"DELETED\r\n"
                } else {
                    t.delete_misses += 1;
                    b"NOT_FOUND\r\n"
                };
                if !noreply {
                    out.extend_from_slice(reply);
                }
            }
            Request::Arith {
                key,
                delta,
                incr,
                noreply,
            } => {
                let mut reply = Vec::new();
                self.arith_text(key, *delta, *incr, now, t, &mut reply);
                if !noreply {
                    out.extend_from_slice(&reply);
                }
            }
            Request::Touch {
                key,
                exptime,
                noreply,
            } => {
                t.cmd_touch += 1;
                let reply: &[u8] = if self.touch(key, *exptime, now) {
                    t.touch_hits += 1;
                    b"TOUCHED\r\n"
                } else {
                    t.touch_misses += 1;
                    b"NOT_FOUND\r\n"
                };
                if !noreply {
                    out.extend_from_slice(reply);
                }
            }
            Request::FlushAll { delay, noreply } => {
                let reply: &[u8] = if self.settings.flush_enabled {
                    t.cmd_flush += 1;
                    self.flush_all(*delay, now);
                    b"OK\r\n"
                } else {
                    b"CLIENT_ERROR flush_all not allowed\r\n"
                };
                if !noreply {
                    out.extend_from_slice(reply);
                }
            }
            Request::Version => {
                out.extend_from_slice(b"VERSION ");
                out.extend_from_slice(VERSION.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Request::Verbosity { noreply, .. } => {
                if !noreply {
                    out.extend_from_slice(b"OK\r\n");
                }
            }
            Request::CacheMemlimit { mb, noreply } => {
                let reply: &[u8] = if *mb < 8 {
                    b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
                } else if *mb > 1_000_000_000 {
                    b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
                } else {
                    let bytes =
                        usize::try_from(*mb).map_or(usize::MAX, |m| m.saturating_mul(1 << 20));
                    self.store.set_mem_limit(bytes);
                    b"OK\r\n"
                };
                if !noreply {
                    out.extend_from_slice(reply);
                }
            }
            Request::Quit => return Outcome::Close,
            Request::Shutdown { graceful } => {
                if self.settings.shutdown_enabled {
                    if *graceful {
                        self.graceful_stop
                            .store(true, std::sync::atomic::Ordering::Release);
                    }
                    return Outcome::Shutdown;
                }
                out.extend_from_slice(b"ERROR: shutdown not enabled\r\n");
            }
            Request::Stats { .. } => return Outcome::Stats,
            Request::Meta(m) => self.meta(m, now, t, out),
            Request::MetaTooLarge { req, .. } => {
                t.store_too_large += 1;
                self.remove(&req.decoded_key(), now);
                out.extend_from_slice(b"SERVER_ERROR object too large for cache\r\n");
            }
            Request::MetaRefused { kind, .. } => out.extend_from_slice(&kind.reply()),
            Request::Admin { line } => self.admin(line, now, out),
        }
        Outcome::Continue
    }

    /// Looks a key up in its (locked) shard, counting expired/flushed misses.
    fn find(
        &self,
        shard: &mut Shard,
        key: &[u8],
        hash: u64,
        now: RelTime,
        t: &mut Tally,
    ) -> Option<u32> {
        match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => Some(id),
            Lookup::Miss => None,
            Lookup::Expired => {
                t.get_expired += 1;
                None
            }
            Lookup::Flushed => {
                t.get_flushed += 1;
                None
            }
        }
    }

    /// Marks a fetch ([`Shard::fetched`]): FETCHED, then ACTIVE on a
    /// second fetch; with a flat LRU the position moves at most once per
    /// `ITEM_UPDATE_INTERVAL`.
    fn fetched(shard: &mut Shard, id: u32, now: RelTime) {
        shard.fetched(id, now, ITEM_UPDATE_INTERVAL);
    }

    fn get(
        &self,
        keys: Keys<'_>,
        with_cas: bool,
        touch: Option<i64>,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        let exptime = touch.map(|e| self.realtime(e, now));
        for key in keys.iter() {
            self.get_key(key, with_cas, exptime, now, t, out);
        }
        out.extend_from_slice(b"END\r\n");
    }

    /// One key of `get`/`gets`/`gat`/`gats`: appends its `VALUE` block on
    /// a hit, nothing on a miss. `exptime` (already a relative time, see
    /// [`Engine::realtime`]) makes it a `gat`. The caller appends `END`;
    /// the server calls this key by key so that a long multi-get is
    /// written out as it goes instead of being built whole.
    pub fn get_key(
        &self,
        key: &[u8],
        with_cas: bool,
        exptime: Option<RelTime>,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        t.cmd_get += 1;
        if exptime.is_some() {
            t.cmd_touch += 1;
        }
        let (expired, flushed) = (t.get_expired, t.get_flushed);
        let found = self.find(&mut shard, key, hash, now, t);
        if self.detail.enabled() {
            self.detail.get(key, found.is_some());
        }
        if self.log.wants(logger::FETCHERS) {
            let status = match found {
                Some(_) => "found",
                None if t.get_expired != expired => "expired",
                None if t.get_flushed != flushed => "flushed",
                None => "not_found",
            };
            let (class, size) = found.map_or((0, 0), |id| {
                let m = shard.meta(id);
                (m.class, m.nbytes)
            });
            self.log_fetch(key, status, class, size);
        }
        let Some(id) = found else {
            t.get_misses += 1;
            if exptime.is_some() {
                t.touch_misses += 1;
            }
            return;
        };
        t.get_hits += 1;
        if let Some(e) = exptime {
            t.touch_hits += 1;
            shard.set_exptime(id, e);
        }
        Self::fetched(&mut shard, id, now);
        let meta = shard.meta(id);
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(key);
        push_num(out, b' ', u64::from(meta.flags));
        push_num(out, b' ', u64::from(meta.nbytes));
        if with_cas {
            push_num(out, b' ', meta.cas);
        }
        out.extend_from_slice(b"\r\n");
        for part in shard.value_parts(id) {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(b"\r\n");
    }

    /// An `item_get` log line.
    fn log_fetch(&self, key: &[u8], status: &str, class: u8, size: u32) {
        self.log.log(logger::FETCHERS, |s| {
            s.push_str("type=item_get key=");
            logger::uri_encode(key, s);
            let _ = std::fmt::Write::write_fmt(
                s,
                format_args!(
                    " status={status} clsid={class} cfd={} size={size}",
                    logger::cfd()
                ),
            );
        });
    }

    /// An `item_store` log line, the status read from the reply.
    fn log_store(
        &self,
        cmd: crate::proto::StoreCmd,
        key: &[u8],
        exptime: i64,
        reply: &[u8],
        now: RelTime,
    ) {
        use crate::proto::StoreCmd;
        let status = match reply {
            b"STORED\r\n" => "stored",
            b"NOT_STORED\r\n" => "not_stored",
            b"EXISTS\r\n" => "exists",
            b"NOT_FOUND\r\n" => "not_found",
            r if r.starts_with(b"SERVER_ERROR object") => "too_large",
            _ => "no_memory",
        };
        let cmd = match cmd {
            StoreCmd::Add => "add",
            StoreCmd::Set => "set",
            StoreCmd::Replace => "replace",
            StoreCmd::Append => "append",
            StoreCmd::Prepend => "prepend",
            StoreCmd::Cas => "cas",
        };
        let (class, size) = if status == "stored" {
            let hash = crate::store::hash_key(key);
            let mut shard = self.store.shard(hash);
            match shard.find(key, hash, now, &self.store.flush) {
                Lookup::Hit(id) => (shard.meta(id).class, shard.meta(id).nbytes),
                _ => (0, 0),
            }
        } else {
            (0, 0)
        };
        let ttl = self.realtime(exptime, now);
        let ttl = if ttl == 0 { 0 } else { ttl.saturating_sub(now) };
        self.log.log(logger::MUTATIONS, |s| {
            s.push_str("type=item_store key=");
            logger::uri_encode(key, s);
            let _ = std::fmt::Write::write_fmt(
                s,
                format_args!(
                    " status={status} cmd={cmd} ttl={ttl} clsid={class} cfd={} size={size}",
                    logger::cfd()
                ),
            );
        });
    }

    /// Unlinks `key` if it is there; true if it was.
    fn remove(&self, key: &[u8], now: RelTime) -> bool {
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => {
                shard.unlink(id);
                true
            }
            _ => false,
        }
    }

    fn touch(&self, key: &[u8], exptime: i64, now: RelTime) -> bool {
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => {
                shard.set_exptime(id, self.realtime(exptime, now));
                Self::fetched(&mut shard, id, now);
                true
            }
            _ => false,
        }
    }

    /// `flush_all [delay]`: O(1), by time marks (as the original).
    fn flush_all(&self, delay: i64, now: RelTime) {
        use std::sync::atomic::Ordering::Relaxed;
        let new_oldest = if delay > 0 {
            self.realtime(delay, now)
        } else {
            now
        };
        let flush = &self.store.flush;
        if self.settings.cas_enabled {
            let oldest_live = new_oldest.saturating_sub(1);
            flush.oldest_live.store(oldest_live, Relaxed);
            if oldest_live <= now {
                flush.oldest_cas.store(self.store.next_cas(), Relaxed);
            }
        } else {
            flush.oldest_live.store(new_oldest, Relaxed);
        }
    }

    /// Admin commands beyond the storage protocol.
    fn admin(&self, line: &[u8], now: RelTime, out: &mut Vec<u8>) {
        let words: Vec<&[u8]> = line
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            [b"lru_crawler", rest @ ..] => self.lru_crawler(rest, now, out),
            [b"shutdown", ..] => out.extend_from_slice(if self.settings.shutdown_enabled {
                b"CLIENT_ERROR invalid shutdown mode\r\n"
            } else {
                b"ERROR: shutdown not enabled\r\n"
            }),
            [b"slabs", b"automove", arg, rest @ ..] => {
                out.extend_from_slice(self.slabs_automove(arg, rest))
            }
            [b"slabs", b"reassign", src, dst] => {
                out.extend_from_slice(self.slabs_reassign(src, dst, now))
            }
            [b"lru", rest @ ..] => lru::lru_command(
                self.store.lru_tuning(),
                !self.store.config().flat_lru,
                rest,
                out,
            ),
            _ => out.extend_from_slice(b"ERROR\r\n"),
        }
    }

    /// `lru_crawler crawl|metadump <classes>`, `enable`, `disable`,
    /// `sleep N`, `tocrawl N`, with the original's checks and replies. A
    /// crawl runs at once, over every class (`lru_crawler_running` is
    /// never seen set).
    fn lru_crawler(&self, args: &[&[u8]], now: RelTime, out: &mut Vec<u8>) {
        use crate::proto::num::safe_strtoul;
        use std::sync::atomic::Ordering::Relaxed;
        let on = self.crawler_on.load(Relaxed);
        let classes_ok = |list: &[u8]| {
            list == b"all"
                || list == b"hash"
                || list
                    .split(|b| *b == b',')
                    .all(|c| safe_strtoul(c).is_some_and(|n| (1..=63).contains(&n)))
        };
        let reply: &[u8] = match args {
            [b"crawl", list] if !on => {
                let _ = list;
                b"CLIENT_ERROR lru crawler disabled\r\n"
            }
            [b"crawl", list] if !classes_ok(list) => b"BADCLASS invalid class id\r\n",
            [b"crawl", _] => {
                self.store.for_each_shard(|shard| {
                    shard.crawl(now, &self.store.flush, usize::MAX / 2);
                });
                b"OK\r\n"
            }
            [b"metadump", rest @ ..] => match self.metadump_start(rest, !out.is_empty()) {
                Ok(dump) => return self.metadump_inline(dump, now, out),
                Err(reply) => reply,
            },
            [b"tocrawl", n] if safe_strtoul(n).is_none() => {
                b"CLIENT_ERROR bad command line format\r\n"
            }
            [b"tocrawl", _] => b"OK\r\n",
            [b"sleep", n] => match safe_strtoul(n) {
                None => b"CLIENT_ERROR bad command line format\r\n",
                Some(n) if n > 1_000_000 => b"CLIENT_ERROR sleep must be one second or less\r\n",
                Some(_) => b"OK\r\n",
            },
            [b"enable"] => {
                self.crawler_on.store(true, Relaxed);
                b"OK\r\n"
            }
            [b"disable"] => {
                self.crawler_on.store(false, Relaxed);
                b"OK\r\n"
            }
            _ => b"ERROR\r\n",
        };
        out.extend_from_slice(reply);
    }

    /// `slabs automove <0|1|2>` or `slabs automove ratio <float>`: checked
    /// as the original checks them (this build has no page mover to tune).
    fn slabs_automove(&self, arg: &[u8], rest: &[&[u8]]) -> &'static [u8] {
        use crate::proto::num::safe_strtoul;
        if arg == b"ratio" {
            let ratio = rest
                .first()
                .and_then(|r| std::str::from_utf8(r).ok())
                .and_then(|r| r.parse::<f64>().ok());
            return match ratio {
                Some(r) => {
                    self.store.set_automove_ratio(r);
                    b"OK\r\n"
                }
                None => b"ERROR\r\n",
            };
        }
        match safe_strtoul(arg) {
            None => b"CLIENT_ERROR bad command line format\r\n",
            Some(n @ 0..=2) => {
                self.store
                    .automove
                    .store(n, std::sync::atomic::Ordering::Relaxed);
                b"OK\r\n"
            }
            Some(_) => b"ERROR\r\n",
        }
    }

    /// `slabs reassign <src> <dst>` (exactly those words), as the original.
    fn slabs_reassign(&self, src: &[u8], dst: &[u8], now: RelTime) -> &'static [u8] {
        use crate::proto::num::safe_strtol;
        if !self.store.config().slab_reassign {
            return b"CLIENT_ERROR slab reassignment disabled\r\n";
        }
        match (safe_strtol(src), safe_strtol(dst)) {
            (Some(s), Some(d)) => self.store.reassign(i64::from(s), i64::from(d), now).reply(),
            _ => b"CLIENT_ERROR bad command line format\r\n",
        }
    }
}

/// Appends `sep` and the decimal form of `n`.
pub(crate) fn push_num(out: &mut Vec<u8>, sep: u8, n: u64) {
    out.push(sep);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
