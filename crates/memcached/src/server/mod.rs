//! The tokio glue: one task per connection reads into a buffer, parses
//! every complete request, executes it against the [`Engine`], and writes
//! the replies once per batch. A value still arriving is only bytes in that
//! connection's buffer: no lock is held and no other client waits for it.

mod binary;
mod cachedump;
mod conns;
mod graceful;
mod metadump;
mod negotiate;
mod stats;
mod tls;
mod udp;

pub use conns::{addr_text, ConnState, ConnTable};
pub use graceful::hold_sigusr1;
pub use negotiate::{Access, Protocol};
pub use stats::StatsSettings;
pub use tls::{Tls, TlsError, TlsSettings, HANDSHAKE_TIMEOUT};

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use danga_common::listen::Stream;
use danga_common::{Conn, Registry, Shutdown};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::exec::{logger, Engine, Outcome, Tally};
use crate::proto::{self, ErrorKind, Keys, Limits, Request};
use crate::store::RelTime;

/// Flush replies mid-batch once this much is pending.
const OUT_HIGH_WATER: usize = 256 * 1024;

/// Response objects in one of the original's 16 KB response bundles
/// (its `mc_resp` is about 1.2 KB, most of it a 1 KB write buffer).
const RESP_PER_BUNDLE: usize = 13;

/// The original's read buffer and response bundle size.
const READ_BUFFER_SIZE: usize = 16 * 1024;

/// Per-connection limits from the command line.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// `-R`: requests served in one turn before the connection yields to
    /// the others (`conn_yields`).
    pub reqs_per_event: usize,
    /// `-o read_buf_mem_limit`, as the number of replies a connection may
    /// hold unwritten (0: no limit). The original draws replies from a
    /// per-thread pool of 16 KB bundles capped at the limit split over
    /// the worker threads; a request that finds the pool empty is
    /// refused (`response_obj_oom`).
    pub resp_limit: usize,
    /// `-o idle_timeout`: a connection silent this long is closed
    /// (`idle_kicks`).
    pub idle_timeout: Option<Duration>,
    /// `!-W`: the `watch` command is allowed.
    pub watch_enabled: bool,
    /// `-o watcher_logbuf_size` in bytes: each watcher's queue.
    pub watcher_logbuf: usize,
}

impl ConnConfig {
    /// From `-R`, `-o read_buf_mem_limit` (megabytes, 0 = none), `-t`
    /// and `-o idle_timeout` (seconds, 0 = none).
    pub fn new(reqs_per_event: u32, read_buf_mem_mb: u64, threads: usize, idle_secs: u64) -> Self {
        let resp_limit = if read_buf_mem_mb == 0 {
            0
        } else {
            let per_thread = usize::try_from(read_buf_mem_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX)
                / threads.max(1);
            (per_thread / READ_BUFFER_SIZE).max(1) * RESP_PER_BUNDLE
        };
        ConnConfig {
            reqs_per_event: usize::try_from(reqs_per_event).unwrap_or(usize::MAX).max(1),
            resp_limit,
            idle_timeout: (idle_secs > 0).then(|| Duration::from_secs(idle_secs)),
            watch_enabled: true,
            watcher_logbuf: 256 * 1024,
        }
    }
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig::new(20, 0, 4, 0)
    }
}

/// Everything a connection needs, shared.
#[derive(Debug)]
pub struct Server {
    /// The cache.
    pub engine: Engine,
    /// Parser limits.
    pub limits: Limits,
    /// Per-connection limits.
    pub conn: ConnConfig,
    /// The common connection counters (curr/total/rejected connections).
    pub registry: Registry,
    /// What `stats settings` shows.
    pub settings: StatsSettings,
    /// Unix time at start (for `uptime`).
    pub started: u64,
    /// Stops the process (`shutdown` with `-A`).
    pub shutdown: Shutdown,
    /// Which protocols a connection may speak, and ASCII authentication.
    pub access: Access,
    /// Listeners and connections, for `stats conns`.
    pub conns: ConnTable,
    /// `-Z`: the TLS configuration and its counters.
    pub tls: Option<Tls>,
}

/// A connection's bytes: the accepted socket itself, or TLS over it. The
/// loops are generic over it, so a plain connection reads and writes its
/// socket directly, with no extra indirection per call.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub use danga_common::clock::unix_now;

/// What a retrieval command asks for.
struct GetArgs<'a> {
    keys: Keys<'a>,
    cas: bool,
    exptime: Option<RelTime>,
}

impl Server {
    /// Serves a text-protocol connection (starting with what is already in
    /// `input`) until it quits, breaks the protocol beyond repair, or the
    /// server stops while it is idle.
    async fn serve_text<S: Io>(
        &self,
        io: &mut S,
        shutdown: &Shutdown,
        mut input: BytesMut,
        guard: &conns::ConnGuard<'_>,
        closing: &mut CloseLog<'_>,
    ) {
        let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut tally = Tally::default();
        // Bytes of an over-long value still to be discarded.
        let mut swallow = 0usize;
        let resp_limit = self.conn.resp_limit;
        let row = &guard.entry;
        let fd = guard.fd();
        loop {
            let now = self.engine.rel_time(unix_now());
            if !input.is_empty() {
                row.set_state(ConnState::ParseCmd);
                row.touch(now);
            }
            let mut close = false;
            // Requests served this turn, and replies held unwritten.
            let mut served = 0usize;
            let mut held = 0usize;
            loop {
                if swallow > 0 {
                    let n = swallow.min(input.len());
                    input.advance(n);
                    swallow -= n;
                    if swallow > 0 {
                        break;
                    }
                }
                if served >= self.conn.reqs_per_event && !input.is_empty() {
                    // -R: let the other connections have a turn.
                    if write_out(io, &mut out, &mut tally).await.is_err() {
                        return self.engine.counters.absorb(&mut tally);
                    }
                    held = 0;
                    served = 0;
                    tally.conn_yields += 1;
                    self.engine.counters.absorb(&mut tally);
                    tokio::task::yield_now().await;
                }
                let (consumed, outcome) = match proto::parse(&input, &self.limits) {
                    Ok(None) => break,
                    Ok(Some((req, consumed))) => {
                        served += 1;
                        logger::set_cfd(fd);
                        if let Request::Admin { line } = req {
                            let verb = line.split(|b| *b == b' ').next();
                            if verb == Some(&b"refresh_certs"[..]) {
                                self.refresh_certs(line, &mut out);
                                input.advance(consumed.min(input.len()));
                                continue;
                            }
                            // A dump goes out in batches as it is made.
                            let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
                            if words.next() == Some(&b"lru_crawler"[..])
                                && words.next() == Some(&b"metadump"[..])
                            {
                                let args: Vec<&[u8]> = words.collect();
                                if self
                                    .metadump(io, &args, &mut tally, &mut out)
                                    .await
                                    .is_err()
                                {
                                    return self.engine.counters.absorb(&mut tally);
                                }
                                // Sent, or refused with a reply held.
                                held = if out.is_empty() { 0 } else { held + 1 };
                                input.advance(consumed.min(input.len()));
                                continue;
                            }
                            if verb == Some(&b"watch"[..]) {
                                match self.watch_request(line, &out) {
                                    Ok(flags) => {
                                        out.extend_from_slice(b"OK\r\n");
                                        if write_out(io, &mut out, &mut tally).await.is_ok() {
                                            self.engine.counters.absorb(&mut tally);
                                            row.set_state(ConnState::Watch);
                                            self.run_watch(io, flags, shutdown).await;
                                        }
                                        return self.engine.counters.absorb(&mut tally);
                                    }
                                    Err(reply) => {
                                        out.extend_from_slice(reply);
                                        input.advance(consumed.min(input.len()));
                                        continue;
                                    }
                                }
                            }
                        }
                        let get = match req {
                            Request::Get { keys, cas } => Some(GetArgs {
                                keys,
                                cas,
                                exptime: None,
                            }),
                            Request::Gat { exptime, keys, cas } => Some(GetArgs {
                                keys,
                                cas,
                                exptime: Some(self.engine.realtime(exptime, now)),
                            }),
                            _ => None,
                        };
                        if let Some(get) = get {
                            let r = self
                                .stream_get(io, get, now, &mut tally, &mut out, &mut held)
                                .await;
                            match r {
                                Ok(true) => (consumed, Outcome::Continue),
                                Ok(false) => (consumed, Outcome::Close),
                                Err(_) => return self.engine.counters.absorb(&mut tally),
                            }
                        } else {
                            held += 1;
                            if resp_limit > 0 && held > resp_limit {
                                // No reply object left: the original drops
                                // the connection with what it held.
                                tally.response_obj_oom += 1;
                                out.clear();
                                (consumed, Outcome::Close)
                            } else {
                                if let Request::TooLarge { swallow: s, .. }
                                | Request::MetaTooLarge { swallow: s, .. }
                                | Request::MetaRefused { swallow: s, .. } = req
                                {
                                    swallow = s;
                                }
                                let outcome = self.engine.execute(&req, now, &mut tally, &mut out);
                                if outcome == Outcome::Stats {
                                    let args = match req {
                                        Request::Stats { args } => args.to_vec(),
                                        _ => Vec::new(),
                                    };
                                    self.stats(&args, now, &mut out);
                                }
                                (consumed, outcome)
                            }
                        }
                    }
                    Err(e) => {
                        served += 1;
                        if matches!(e.kind, ErrorKind::TooLong | ErrorKind::Hangup) {
                            closing.reason = "error";
                            (e.consumed, Outcome::Close)
                        } else {
                            out.extend_from_slice(&e.kind.reply());
                            (e.consumed, Outcome::Continue)
                        }
                    }
                };
                input.advance(consumed.min(input.len()));
                match outcome {
                    Outcome::Close => {
                        close = true;
                        break;
                    }
                    Outcome::Shutdown => {
                        shutdown.trigger();
                        close = true;
                        break;
                    }
                    Outcome::Continue | Outcome::Stats => {}
                }
                if out.len() >= OUT_HIGH_WATER {
                    if write_out(io, &mut out, &mut tally).await.is_err() {
                        return self.engine.counters.absorb(&mut tally);
                    }
                    held = 0;
                }
            }
            // Counted before the replies go out: a client that has its answer
            // sees it in `stats` (and /metrics) from any connection.
            self.engine.counters.absorb(&mut tally);
            let wrote = write_out(io, &mut out, &mut tally).await;
            self.engine.counters.absorb(&mut tally);
            if close || wrote.is_err() {
                let _ = io.shutdown().await;
                return;
            }
            if input.capacity() - input.len() < 4096 {
                input.reserve(16 * 1024);
            }
            let idle = input.is_empty() && swallow == 0;
            row.set_state(if swallow > 0 {
                ConnState::Swallow
            } else if idle {
                ConnState::Waiting
            } else if input.contains(&b'\n') {
                ConnState::NRead
            } else {
                ConnState::Read
            });
            let read = async {
                let read = io.read_buf(&mut input);
                match self.conn.idle_timeout {
                    Some(d) => tokio::time::timeout(d, read).await.ok(),
                    None => Some(read.await),
                }
            };
            let n = if idle {
                match shutdown.until_stopped(read).await {
                    Some(r) => r,
                    None => {
                        closing.reason = "shutdown";
                        return;
                    }
                }
            } else {
                read.await
            };
            match n {
                Some(Ok(0) | Err(_)) => return,
                Some(Ok(n)) => tally.bytes_read += n as u64,
                None => {
                    closing.reason = "idle_timeout";
                    tally.idle_kicks += 1;
                    self.engine.counters.absorb(&mut tally);
                    let _ = io.shutdown().await;
                    return;
                }
            }
        }
    }

    /// Checks a `watch [names]` line: the flags, or the reply refusing it.
    fn watch_request(&self, line: &[u8], out: &[u8]) -> Result<u16, &'static [u8]> {
        if !self.conn.watch_enabled {
            return Err(b"CLIENT_ERROR watch commands not allowed\r\n");
        }
        if !out.is_empty() {
            return Err(b"ERROR cannot pipeline other commands before watch\r\n");
        }
        let names = line.split(|b| *b == b' ').filter(|w| !w.is_empty()).skip(1);
        logger::parse_flags(names).ok_or(b"ERROR\r\n")
    }

    /// The connection has become a watcher: it receives log lines until
    /// it closes or the server stops (what it sends is ignored).
    async fn run_watch<S: Io>(&self, io: &mut S, flags: u16, shutdown: &Shutdown) {
        let notify = Arc::new(tokio::sync::Notify::new());
        let wake = Arc::clone(&notify);
        let w = self.engine.log.add(
            flags,
            self.conn.watcher_logbuf,
            Box::new(move || wake.notify_one()),
        );
        let mut buf = Vec::new();
        let mut scratch = [0u8; 512];
        loop {
            w.take(&mut buf);
            if !buf.is_empty() {
                let wrote = shutdown.until_stopped(io.write_all(&buf)).await;
                if !matches!(wrote, Some(Ok(()))) {
                    break;
                }
                continue;
            }
            let event = async {
                tokio::select! {
                    () = notify.notified() => true,
                    r = io.read(&mut scratch) => matches!(r, Ok(n) if n > 0),
                }
            };
            if shutdown.until_stopped(event).await != Some(true) {
                break;
            }
        }
        self.engine.log.remove(&w);
    }

    /// Adds the connection to the `stats conns` table.
    pub(super) fn register(&self, conn: &mut Conn) -> conns::ConnGuard<'_> {
        use std::os::fd::AsRawFd;
        let now = self.engine.rel_time(unix_now());
        let (fd, addr, local) = match conn.stream() {
            Stream::Tcp(s) => (
                s.as_raw_fd(),
                s.peer_addr()
                    .map_or_else(|_| "tcp:?".into(), |a| addr_text("tcp", a)),
                s.local_addr()
                    .map_or_else(|_| "tcp:?".into(), |a| addr_text("tcp", a)),
            ),
            Stream::Unix(s) => {
                let path = s
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .unwrap_or_default();
                (s.as_raw_fd(), "unix:<AF 1>".into(), format!("unix:{path}"))
            }
        };
        self.conns.add_client(fd, addr, local, now)
    }

    /// A retrieval command, written out as it goes: the reply never grows
    /// much past [`OUT_HIGH_WATER`] plus one value, however many keys the
    /// line names. With a reply-object limit, a command that needs more
    /// than what is left answers `SERVER_ERROR out of memory writing get
    /// response` instead (and closes if part of it was already sent).
    /// Ok(false): close the connection.
    async fn stream_get<S: Io>(
        &self,
        io: &mut S,
        get: GetArgs<'_>,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
        held: &mut usize,
    ) -> std::io::Result<bool> {
        let limit = self.conn.resp_limit;
        let held_before = *held;
        // Where this reply starts in `out`, until part of it is sent.
        let mut start = Some(out.len());
        for key in get.keys.iter() {
            *held += 1;
            if limit > 0 && *held > limit {
                t.response_obj_oom += 1;
                let Some(s) = start else {
                    return Ok(false);
                };
                out.truncate(s);
                *held = held_before + 1;
                out.extend_from_slice(b"SERVER_ERROR out of memory writing get response\r\n");
                return Ok(true);
            }
            self.engine.get_key(key, get.cas, get.exptime, now, t, out);
            if out.len() >= OUT_HIGH_WATER {
                write_out(io, out, t).await?;
                start = None;
            }
        }
        out.extend_from_slice(b"END\r\n");
        Ok(true)
    }

    /// Starts the background LRU maintainer and crawler. The maintainer
    /// ([`crate::store::Store::maintain`]) runs every 100 ms to 1 s: twice
    /// as often after a pass that moved or freed items, half as often
    /// after an idle one (the original's thread sleeps the same way). Once
    /// a second the crawler looks for expired items in the rest of the
    /// LRUs (`crawler_reclaimed`) and a lowered memory limit sheds pages.
    pub fn spawn_crawler(self: &Arc<Self>) {
        const MIN_SLEEP: Duration = Duration::from_millis(100);
        const MAX_SLEEP: Duration = Duration::from_secs(1);
        let me = Arc::clone(self);
        let flat = self.engine.store.config().flat_lru;
        // Tracked: the drain at shutdown waits for a pass in progress.
        self.shutdown.spawn(async move {
            let mut sleep = MAX_SLEEP;
            let mut last_crawl = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(sleep) => {}
                    _ = me.shutdown.triggered() => return,
                }
                let now = me.engine.rel_time(unix_now());
                let store = &me.engine.store;
                // The maintainer first: expired items at the LRU tails go
                // back to their class (`reclaimed`).
                if !flat {
                    let moved = store.automove(now);
                    sleep = if store.maintain(now) > 0 || moved {
                        (sleep / 2).max(MIN_SLEEP)
                    } else {
                        (sleep * 2).min(MAX_SLEEP)
                    };
                }
                if last_crawl.elapsed() < MAX_SLEEP {
                    continue;
                }
                last_crawl = tokio::time::Instant::now();
                let crawl = me
                    .engine
                    .crawler_on
                    .load(std::sync::atomic::Ordering::Relaxed);
                store.shed(now);
                if crawl {
                    store.for_each_shard(|shard| {
                        shard.crawl(now, &store.flush, 2_000);
                    });
                }
            }
        });
    }
}

async fn write_out<S: Io>(io: &mut S, out: &mut Vec<u8>, tally: &mut Tally) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let r = io.write_all(out).await;
    tally.bytes_written += out.len() as u64;
    out.clear();
    // Don't keep a huge buffer around after one big multi-get.
    if out.capacity() > 4 * OUT_HIGH_WATER {
        out.shrink_to(16 * 1024);
    }
    r
}

/// Logs `conn_new` now and `conn_close` (with its reason) when dropped.
pub(super) struct CloseLog<'a> {
    log: &'a logger::Logger,
    rip: String,
    rport: u16,
    transport: &'static str,
    fd: i32,
    pub(super) reason: &'static str,
}

impl<'a> CloseLog<'a> {
    pub(super) fn new(log: &'a logger::Logger, conn: &Conn, fd: i32) -> Self {
        let (rip, rport, transport) = match conn.peer() {
            danga_common::PeerAddr::Tcp(a) => (a.ip().to_string(), a.port(), "tcp"),
            danga_common::PeerAddr::Unix => (String::new(), 0, "local"),
        };
        let me = CloseLog {
            log,
            rip,
            rport,
            transport,
            fd,
            reason: "normal",
        };
        me.event("conn_new", None);
        me
    }

    fn event(&self, kind: &str, reason: Option<&str>) {
        self.log.log(logger::CONNEVENTS, |s| {
            use std::fmt::Write as _;
            let _ = write!(
                s,
                "type={kind} rip={} rport={} transport={}",
                self.rip, self.rport, self.transport
            );
            if let Some(r) = reason {
                let _ = write!(s, " reason={r}");
            }
            let _ = write!(s, " cfd={}", self.fd);
        });
    }
}

impl Drop for CloseLog<'_> {
    fn drop(&mut self) {
        self.event("conn_close", Some(self.reason));
    }
}
