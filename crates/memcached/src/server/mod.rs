//! The tokio glue: one task per connection reads into a buffer, parses
//! every complete request, executes it against the [`Engine`], and writes
//! the replies once per batch. A value still arriving is only bytes in that
//! connection's buffer: no lock is held and no other client waits for it.

mod binary;
mod cachedump;
mod negotiate;
mod stats;
mod udp;

pub use negotiate::{Access, Protocol};
pub use stats::StatsSettings;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use danga_common::{Conn, Registry, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::exec::{Engine, Outcome, Tally};
use crate::proto::{self, Limits, Request};

/// Flush replies mid-batch once this much is pending.
const OUT_HIGH_WATER: usize = 256 * 1024;

/// Everything a connection needs, shared.
#[derive(Debug)]
pub struct Server {
    /// The cache.
    pub engine: Engine,
    /// Parser limits.
    pub limits: Limits,
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
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Server {
    /// Serves a text-protocol connection (starting with what is already in
    /// `input`) until it quits, breaks the protocol beyond repair, or the
    /// server stops while it is idle.
    async fn serve_text(self: Arc<Self>, mut conn: Conn, mut input: BytesMut) {
        let shutdown = conn.shutdown().clone();
        let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut tally = Tally::default();
        // Bytes of an over-long value still to be discarded.
        let mut swallow = 0usize;
        loop {
            let now = self.engine.rel_time(unix_now());
            let mut close = false;
            loop {
                if swallow > 0 {
                    let n = swallow.min(input.len());
                    input.advance(n);
                    swallow -= n;
                    if swallow > 0 {
                        break;
                    }
                }
                let (consumed, outcome) = match proto::parse(&input, &self.limits) {
                    Ok(None) => break,
                    Ok(Some((req, consumed))) => {
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
                    Err(e) => {
                        if e.kind.closes() {
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
                if out.len() >= OUT_HIGH_WATER
                    && write_out(&mut conn, &mut out, &mut tally).await.is_err()
                {
                    return self.engine.counters.absorb(&mut tally);
                }
            }
            let wrote = write_out(&mut conn, &mut out, &mut tally).await;
            self.engine.counters.absorb(&mut tally);
            if close || wrote.is_err() {
                let _ = conn.stream().shutdown().await;
                return;
            }
            if input.capacity() - input.len() < 4096 {
                input.reserve(16 * 1024);
            }
            let idle = input.is_empty() && swallow == 0;
            let read = conn.stream().read_buf(&mut input);
            let n = if idle {
                match shutdown.until_stopped(read).await {
                    Some(r) => r,
                    None => return,
                }
            } else {
                read.await
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(n) => tally.bytes_read += n as u64,
            }
        }
    }

    /// Starts the background crawler that reclaims expired items.
    pub fn spawn_crawler(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = me.shutdown.triggered() => return,
                }
                let now = me.engine.rel_time(unix_now());
                me.engine.store.for_each_shard(|shard| {
                    shard.crawl(now, &me.engine.store.flush, 2_000);
                });
            }
        });
    }
}

async fn write_out(conn: &mut Conn, out: &mut Vec<u8>, tally: &mut Tally) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let r = conn.stream().write_all(out).await;
    tally.bytes_written += out.len() as u64;
    out.clear();
    // Don't keep a huge buffer around after one big multi-get.
    if out.capacity() > 4 * OUT_HIGH_WATER {
        out.shrink_to(16 * 1024);
    }
    r
}
