//! Talking to a set of trackers: one request line out, one reply line in,
//! with failover.
//!
//! As the Perl client's `MogileFS::Backend`: start at a random tracker,
//! on a refused or timed-out connect move to the next one, and skip a
//! tracker that failed for [`Options::dead_retry`] (it is tried again only
//! when every tracker is marked dead). Idle connections are kept for reuse;
//! a reused connection that turns out closed (nothing came back) is retried
//! once on a fresh connection.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use danga_common::framing::FrameError;
use danga_common::lines::{LineError, LineSession};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Error;
use crate::proto::{encode_pairs, parse_reply, Args};

/// A reply line may be long (`list_keys` of 1000 keys, `get_domains` of a
/// big cluster), but not unbounded.
const MAX_REPLY: usize = 16 << 20;

/// How many idle connections are kept.
const MAX_IDLE: usize = 4;

/// Commands that change nothing: after a broken reply they are asked again
/// of another tracker.
const READ_ONLY: &[&str] = &[
    "get_paths",
    "file_info",
    "list_keys",
    "get_hosts",
    "get_devices",
    "get_domains",
    "server_settings",
    "server_setting",
    "noop",
    "file_debug",
    "list_fids",
];

/// Timeouts and failover settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a connect to one tracker may take before the next is tried.
    pub connect_timeout: Duration,
    /// How long a tracker may take to answer one request.
    pub timeout: Duration,
    /// How long a tracker that failed is skipped.
    pub dead_retry: Duration,
    /// Start at a random tracker (as the Perl client); `false` starts at the
    /// first one given.
    pub shuffle: bool,
    /// How long a storage transfer may make no progress.
    pub http_idle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            dead_retry: Duration::from_secs(5),
            shuffle: true,
            http_idle: Duration::from_secs(30),
        }
    }
}

/// A set of trackers, shared by [`super::Client`] and [`super::Admin`]
/// (cheap to clone).
#[derive(Debug, Clone)]
pub struct Trackers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addrs: Vec<String>,
    opts: Options,
    idle: Mutex<Vec<Conn>>,
    dead: Mutex<Vec<Option<Instant>>>,
    next: AtomicUsize,
}

/// How one attempt on a connection went wrong.
struct AskError {
    /// Whether any reply byte arrived (if not, a reused connection was
    /// probably closed by the tracker while idle).
    got_reply: bool,
    err: Error,
}

impl Trackers {
    /// Trackers at `host:port` addresses.
    pub fn new<I, S>(addrs: I, opts: Options) -> Result<Trackers, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let addrs: Vec<String> = addrs.into_iter().map(Into::into).collect();
        if addrs.is_empty() {
            return Err(Error::NoTrackers);
        }
        let start = if opts.shuffle {
            // RandomState is seeded per process: enough to spread clients.
            let h = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            usize::try_from(h % addrs.len() as u64).unwrap_or(0)
        } else {
            0
        };
        Ok(Trackers {
            inner: Arc::new(Inner {
                dead: Mutex::new(vec![None; addrs.len()]),
                addrs,
                opts,
                idle: Mutex::new(Vec::new()),
                next: AtomicUsize::new(start),
            }),
        })
    }

    /// The tracker addresses, as given.
    pub fn addrs(&self) -> &[String] {
        &self.inner.addrs
    }

    /// The settings.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Trackers currently skipped because they failed recently.
    pub fn dead(&self) -> Vec<String> {
        let now = Instant::now();
        let dead = self
            .inner
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        dead.iter()
            .zip(&self.inner.addrs)
            .filter(|(t, _)| t.is_some_and(|t| now < t + self.inner.opts.dead_retry))
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// Sends `cmd k=v&...` and returns the `OK` reply's arguments; an `ERR`
    /// reply is [`Error::Tracker`].
    pub async fn call(&self, cmd: &str, args: &[(&str, &str)]) -> Result<Args, Error> {
        let line = format!("{cmd} {}\r\n", encode_pairs(args));
        if let Some(mut conn) = self.take_idle() {
            match conn.ask(&line, self.inner.opts.timeout).await {
                Ok(reply) => return self.finish(conn, reply),
                Err(e) if !e.got_reply => {
                    tracing::debug!(tracker = %self.addr(conn.tracker), "idle connection closed; reconnecting");
                }
                Err(e) => {
                    self.mark_dead(conn.tracker);
                    return Err(e.err);
                }
            }
        }
        let retries = if READ_ONLY.contains(&cmd) {
            self.inner.addrs.len().min(3)
        } else {
            1
        };
        let mut last = None;
        for _ in 0..retries {
            let mut conn = self.connect().await?;
            match conn.ask(&line, self.inner.opts.timeout).await {
                Ok(reply) => return self.finish(conn, reply),
                Err(e) => {
                    self.mark_dead(conn.tracker);
                    last = Some(e.err);
                }
            }
        }
        Err(last.unwrap_or(Error::NoTrackers))
    }

    /// Keeps the connection for reuse and turns the reply into a result.
    fn finish(&self, conn: Conn, reply: Vec<u8>) -> Result<Args, Error> {
        let tracker = conn.tracker;
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        drop(idle);
        match parse_reply(&reply) {
            Some(Ok(args)) => Ok(args),
            Some(Err((code, text))) => Err(Error::Tracker { code, text }),
            None => Err(Error::Protocol {
                tracker: self.addr(tracker).to_owned(),
                line: String::from_utf8_lossy(&reply[..reply.len().min(200)]).into_owned(),
            }),
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn addr(&self, i: usize) -> &str {
        &self.inner.addrs[i]
    }

    fn mark_dead(&self, i: usize) {
        tracing::debug!(tracker = %self.addr(i), "tracker marked dead");
        let mut dead = self
            .inner
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        dead[i] = Some(Instant::now());
    }

    /// A new connection: trackers in turn from the rotating start, those
    /// marked dead last.
    async fn connect(&self) -> Result<Conn, Error> {
        let n = self.inner.addrs.len();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut order: Vec<(bool, usize)> = {
            let dead = self
                .inner
                .dead
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (0..n)
                .map(|k| (start + k) % n)
                .map(|i| {
                    let is_dead = dead[i].is_some_and(|t| now < t + self.inner.opts.dead_retry);
                    (is_dead, i)
                })
                .collect()
        };
        // Stable: live trackers first, each group in rotation order.
        order.sort_by_key(|&(is_dead, _)| is_dead);
        let mut why = Vec::new();
        for (_, i) in order {
            let addr = self.addr(i);
            let attempt =
                tokio::time::timeout(self.inner.opts.connect_timeout, TcpStream::connect(addr))
                    .await;
            match attempt {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    self.inner
                        .dead
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)[i] = None;
                    return Ok(Conn {
                        tracker: i,
                        addr: addr.to_owned(),
                        lines: LineSession::new(stream, MAX_REPLY),
                    });
                }
                Ok(Err(e)) => why.push(format!("{addr}: {e}")),
                Err(_) => why.push(format!("{addr}: connect timed out")),
            }
            self.mark_dead(i);
        }
        Err(Error::Unreachable(why.join("; ")))
    }
}

/// One tracker connection and what it has read past the last reply.
#[derive(Debug)]
struct Conn {
    tracker: usize,
    addr: String,
    lines: LineSession<TcpStream>,
}

impl Conn {
    /// Writes `line`, reads one reply line (without its terminator).
    async fn ask(&mut self, line: &str, timeout: Duration) -> Result<Vec<u8>, AskError> {
        match tokio::time::timeout(timeout, self.exchange(line)).await {
            Ok(r) => r,
            Err(_) => Err(self.fail(true, format!("no reply within {timeout:?}"))),
        }
    }

    fn fail(&self, got_reply: bool, reason: String) -> AskError {
        AskError {
            got_reply,
            err: Error::TrackerIo {
                tracker: self.addr.clone(),
                reason,
            },
        }
    }

    async fn exchange(&mut self, line: &str) -> Result<Vec<u8>, AskError> {
        // Bytes left from an earlier reply would put the stream out of step.
        self.lines.discard_input();
        self.lines.send(line.as_bytes());
        match self.lines.next_line().await {
            Ok(Some(reply)) => Ok(reply.to_vec()),
            Ok(None) => Err(self.fail(false, "connection closed".into())),
            Err(LineError::Frame(FrameError::TooLong { limit })) => {
                Err(self.fail(true, format!("reply longer than {limit} bytes")))
            }
            Err(e) => {
                let got_any = self.lines.has_input();
                Err(self.fail(got_any, e.to_string()))
            }
        }
    }
}
