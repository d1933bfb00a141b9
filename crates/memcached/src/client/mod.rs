//! The client half of the original design's two-level hash: the client
//! picks the server for a key ([`select`]), each server is a plain cache.
//!
//! ```no_run
//! # async fn demo() -> Result<(), danga_memcached::client::Error> {
//! use danga_memcached::client::{Client, Config, Distribution};
//! let client = Client::new(Config::new(["10.0.0.1:11211", "10.0.0.2:11211"], Distribution::Ketama));
//! client.set(b"user:42", b"hello", 0, 300).await?;
//! let item = client.get(b"user:42").await?;
//! # Ok(()) }
//! ```
//!
//! Async (tokio), a small pool of connections per server, multi-gets fanned
//! out to the servers concurrently and merged, a timeout on every
//! operation, and dead servers skipped for a retry interval.

mod conn;
pub mod select;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use conn::Conn;
pub use select::{Distribution, Node, Selector};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not answer in time.
    #[error("timed out")]
    Timeout,
    /// Every server is dead (or none is configured).
    #[error("no server available")]
    NoServer,
    /// A key memcached would refuse (empty, over 250 bytes, spaces or
    /// control characters).
    #[error("invalid key")]
    BadKey,
    /// `ERROR` or `CLIENT_ERROR ...` from the server.
    #[error("client error: {0}")]
    Client(String),
    /// `SERVER_ERROR ...` from the server.
    #[error("server error: {0}")]
    Server(String),
    /// A reply this client does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A value with its flags (and CAS unique, from `gets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The bytes stored.
    pub value: Vec<u8>,
    /// The client flags.
    pub flags: u32,
    /// The CAS unique (`gets`/`gats` only).
    pub cas: Option<u64>,
}

/// The outcome of `cas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasResult {
    /// Stored.
    Stored,
    /// Someone changed it first.
    Exists,
    /// Not there.
    NotFound,
}

/// How the client is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` and weight of each server.
    pub servers: Vec<(String, u32)>,
    /// The key-to-server mapping.
    pub distribution: Distribution,
    /// Limit for one operation (connect + request + reply).
    pub timeout: Duration,
    /// How long a server that failed is left alone.
    pub retry_interval: Duration,
    /// Idle connections kept per server.
    pub pool_size: usize,
}

impl Config {
    /// Servers of weight 1, 1 s timeout, 30 s retry interval, 4 pooled
    /// connections per server.
    pub fn new<S: Into<String>>(
        servers: impl IntoIterator<Item = S>,
        distribution: Distribution,
    ) -> Self {
        Config {
            servers: servers.into_iter().map(|s| (s.into(), 1)).collect(),
            distribution,
            timeout: Duration::from_secs(1),
            retry_interval: Duration::from_secs(30),
            pool_size: 4,
        }
    }
}

#[derive(Debug)]
struct Server {
    addr: String,
    pool: Mutex<Vec<Conn>>,
    dead_until: Mutex<Option<Instant>>,
}

impl Server {
    fn alive(&self, now: Instant) -> bool {
        self.dead_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t <= now)
    }
}

#[derive(Debug)]
struct Inner {
    cfg: Config,
    servers: Vec<Server>,
    /// The mapping and the alive-set it was built for.
    selector: RwLock<(Selector, Vec<bool>)>,
}

/// A memcached client over a list of servers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.is_empty() || key.len() > 250 || key.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Error::BadKey);
    }
    Ok(())
}

fn stored(line: &str) -> Result<bool, Error> {
    match line {
        "STORED" => Ok(true),
        "NOT_STORED" => Ok(false),
        other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
    }
}

impl Client {
    /// A client; connections are made on first use.
    pub fn new(cfg: Config) -> Client {
        let nodes = cfg
            .servers
            .iter()
            .map(|(a, w)| Node {
                addr: a.clone(),
                weight: *w,
            })
            .collect();
        let selector = Selector::new(cfg.distribution, nodes);
        let alive = vec![true; cfg.servers.len()];
        let servers = cfg
            .servers
            .iter()
            .map(|(a, _)| Server {
                addr: a.clone(),
                pool: Mutex::new(Vec::new()),
                dead_until: Mutex::new(None),
            })
            .collect();
        Client {
            inner: Arc::new(Inner {
                cfg,
                servers,
                selector: RwLock::new((selector, alive)),
            }),
        }
    }

    /// The index and address of the server that owns `key` now.
    pub fn owner(&self, key: &[u8]) -> Option<(usize, &str)> {
        let now = Instant::now();
        let alive: Vec<bool> = self.inner.servers.iter().map(|s| s.alive(now)).collect();
        {
            let guard = self
                .inner
                .selector
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if guard.1 == alive {
                return guard
                    .0
                    .owner(key, |i| alive[i])
                    .map(|i| (i, self.inner.servers[i].addr.as_str()));
            }
        }
        let mut guard = self
            .inner
            .selector
            .write()
            .unwrap_or_else(|p| p.into_inner());
        guard.0.rebuild(&alive);
        guard.1 = alive.clone();
        guard
            .0
            .owner(key, |i| alive[i])
            .map(|i| (i, self.inner.servers[i].addr.as_str()))
    }

    /// Runs `op` on a pooled connection to server `i`, within the timeout;
    /// a failure marks the server dead for the retry interval.
    async fn with_conn<T>(
        &self,
        i: usize,
        op: impl AsyncFnOnce(&mut Conn) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let server = &self.inner.servers[i];
        let pooled = server.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let run = async {
            let mut conn = match pooled {
                Some(c) => c,
                None => Conn::connect(&server.addr).await?,
            };
            let r = op(&mut conn).await;
            Ok::<_, Error>((conn, r))
        };
        match tokio::time::timeout(self.inner.cfg.timeout, run).await {
            Ok(Ok((conn, r))) => {
                // The server's own error lines leave the connection in sync;
                // a broken socket or a garbled reply means the server is
                // gone or confused: leave it alone for a while.
                if matches!(r, Ok(_) | Err(Error::Client(_) | Error::Server(_))) {
                    let mut pool = server.pool.lock().unwrap_or_else(|p| p.into_inner());
                    if pool.len() < self.inner.cfg.pool_size {
                        pool.push(conn);
                    }
                } else {
                    self.mark_dead(i);
                }
                r
            }
            Ok(Err(e)) => {
                self.mark_dead(i);
                Err(e)
            }
            Err(_) => {
                self.mark_dead(i);
                Err(Error::Timeout)
            }
        }
    }

    fn mark_dead(&self, i: usize) {
        let server = &self.inner.servers[i];
        *server.dead_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + self.inner.cfg.retry_interval);
        server
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn route(&self, key: &[u8]) -> Result<usize, Error> {
        check_key(key)?;
        self.owner(key).map(|(i, _)| i).ok_or(Error::NoServer)
    }

    async fn fetch(&self, cmd: &str, key: &[u8]) -> Result<Option<Item>, Error> {
        let i = self.route(key)?;
        self.with_conn(i, async |c: &mut Conn| {
            c.send(&[cmd.as_bytes(), b" ", key, b"\r\n"]).await?;
            let mut out = None;
            c.values(|_, item| out = Some(item)).await?;
            Ok(out)
        })
        .await
    }

    /// `get`.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Item>, Error> {
        self.fetch("get", key).await
    }

    /// `gets` (the item carries its CAS unique).
    pub async fn gets(&self, key: &[u8]) -> Result<Option<Item>, Error> {
        self.fetch("gets", key).await
    }

    /// `gat`: get and set a new expiry.
    pub async fn gat(&self, exptime: i64, key: &[u8]) -> Result<Option<Item>, Error> {
        self.fetch(&format!("gat {exptime}"), key).await
    }

    /// `gats`: get with the CAS unique and set a new expiry.
    pub async fn gats(&self, exptime: i64, key: &[u8]) -> Result<Option<Item>, Error> {
        self.fetch(&format!("gats {exptime}"), key).await
    }

    /// `verbosity` on every server.
    pub async fn verbosity(&self, level: u32) -> Vec<(String, Result<(), Error>)> {
        self.each_server(&format!("verbosity {level}"), None)
            .await
            .into_iter()
            .map(|(s, r)| (s, r.map(|_| ())))
            .collect()
    }

    /// Gets many keys: one pipelined `get` per server, all servers at once,
    /// merged. Keys whose server is down are missing from the result.
    pub async fn get_multi<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
    ) -> Result<HashMap<Vec<u8>, Item>, Error> {
        let mut by_server: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
        for k in keys {
            let k = k.as_ref();
            match self.route(k) {
                Ok(i) => by_server.entry(i).or_default().push(k.to_vec()),
                Err(Error::NoServer) => {}
                Err(e) => return Err(e),
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, keys) in by_server {
            let me = self.clone();
            tasks.spawn(async move {
                me.with_conn(i, async |c: &mut Conn| {
                    let mut found = Vec::new();
                    // Keep each line well under the server's limits.
                    for chunk in keys.chunks(100) {
                        let mut line = b"get".to_vec();
                        for k in chunk {
                            line.push(b' ');
                            line.extend_from_slice(k);
                        }
                        line.extend_from_slice(b"\r\n");
                        c.send(&[&line]).await?;
                        c.values(|k, item| found.push((k, item))).await?;
                    }
                    Ok(found)
                })
                .await
            });
        }
        let mut out = HashMap::new();
        while let Some(done) = tasks.join_next().await {
            // A dead server's keys are simply missing, as with any cache miss.
            if let Ok(Ok(found)) = done {
                out.extend(found);
            }
        }
        Ok(out)
    }

    async fn store(
        &self,
        cmd: &str,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        cas: Option<u64>,
    ) -> Result<String, Error> {
        let i = self.route(key)?;
        let head = match cas {
            Some(c) => format!(" {flags} {exptime} {} {c}\r\n", value.len()),
            None => format!(" {flags} {exptime} {}\r\n", value.len()),
        };
        self.with_conn(i, async |c: &mut Conn| {
            c.send(&[cmd.as_bytes(), b" ", key, head.as_bytes(), value, b"\r\n"])
                .await?;
            Ok(c.line().await?.to_owned())
        })
        .await
    }

    /// `set`.
    pub async fn set(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool, Error> {
        stored(&self.store("set", key, value, flags, exptime, None).await?)
    }

    /// `add`: false if the key exists.
    pub async fn add(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool, Error> {
        stored(&self.store("add", key, value, flags, exptime, None).await?)
    }

    /// `replace`: false if the key is missing.
    pub async fn replace(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<bool, Error> {
        stored(
            &self
                .store("replace", key, value, flags, exptime, None)
                .await?,
        )
    }

    /// `append`.
    pub async fn append(&self, key: &[u8], value: &[u8]) -> Result<bool, Error> {
        stored(&self.store("append", key, value, 0, 0, None).await?)
    }

    /// `prepend`.
    pub async fn prepend(&self, key: &[u8], value: &[u8]) -> Result<bool, Error> {
        stored(&self.store("prepend", key, value, 0, 0, None).await?)
    }

    /// `cas`.
    pub async fn cas(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
        unique: u64,
    ) -> Result<CasResult, Error> {
        match self
            .store("cas", key, value, flags, exptime, Some(unique))
            .await?
            .as_str()
        {
            "STORED" => Ok(CasResult::Stored),
            "EXISTS" => Ok(CasResult::Exists),
            "NOT_FOUND" => Ok(CasResult::NotFound),
            other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    async fn simple(&self, key: &[u8], parts: &[&[u8]]) -> Result<String, Error> {
        let i = self.route(key)?;
        self.with_conn(i, async |c: &mut Conn| {
            c.send(parts).await?;
            Ok(c.line().await?.to_owned())
        })
        .await
    }

    /// `delete`: false if it was not there.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, Error> {
        match self
            .simple(key, &[b"delete ", key, b"\r\n"])
            .await?
            .as_str()
        {
            "DELETED" => Ok(true),
            "NOT_FOUND" => Ok(false),
            other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    /// `touch`: false if it was not there.
    pub async fn touch(&self, key: &[u8], exptime: i64) -> Result<bool, Error> {
        let t = format!(" {exptime}\r\n");
        match self
            .simple(key, &[b"touch ", key, t.as_bytes()])
            .await?
            .as_str()
        {
            "TOUCHED" => Ok(true),
            "NOT_FOUND" => Ok(false),
            other => Err(Error::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    async fn arith(&self, cmd: &[u8], key: &[u8], delta: u64) -> Result<Option<u64>, Error> {
        let d = format!(" {delta}\r\n");
        match self.simple(key, &[cmd, key, d.as_bytes()]).await?.as_str() {
            "NOT_FOUND" => Ok(None),
            n => n
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::Protocol(format!("unexpected reply {n:?}"))),
        }
    }

    /// `incr`: the new value, or None if the key is missing.
    pub async fn incr(&self, key: &[u8], delta: u64) -> Result<Option<u64>, Error> {
        self.arith(b"incr ", key, delta).await
    }

    /// `decr`: the new value, or None if the key is missing.
    pub async fn decr(&self, key: &[u8], delta: u64) -> Result<Option<u64>, Error> {
        self.arith(b"decr ", key, delta).await
    }

    /// Runs a one-line command on every server, collecting reply lines up to
    /// (and without) `end`, or just the first line when `end` is None.
    async fn each_server(
        &self,
        cmd: &str,
        end: Option<&str>,
    ) -> Vec<(String, Result<Vec<String>, Error>)> {
        let mut out = Vec::new();
        for (i, s) in self.inner.servers.iter().enumerate() {
            let r = self
                .with_conn(i, async |c: &mut Conn| {
                    c.send(&[cmd.as_bytes(), b"\r\n"]).await?;
                    let mut lines = Vec::new();
                    loop {
                        let l = c.line().await?.to_owned();
                        if end.is_none_or(|e| l == e) {
                            if end.is_none() {
                                lines.push(l);
                            }
                            return Ok(lines);
                        }
                        lines.push(l);
                    }
                })
                .await;
            out.push((s.addr.clone(), r));
        }
        out
    }

    /// `stats [args]` on every server: `(server, [(name, value)])`.
    pub async fn stats(&self, args: &str) -> Vec<(String, Result<Vec<(String, String)>, Error>)> {
        let cmd = if args.is_empty() {
            "stats".to_owned()
        } else {
            format!("stats {args}")
        };
        self.each_server(&cmd, Some("END"))
            .await
            .into_iter()
            .map(|(s, r)| {
                let r = r.map(|lines| {
                    lines
                        .iter()
                        .filter_map(|l| l.strip_prefix("STAT ")?.split_once(' '))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect()
                });
                (s, r)
            })
            .collect()
    }

    /// `version` of every server.
    pub async fn version(&self) -> Vec<(String, Result<String, Error>)> {
        self.each_server("version", None)
            .await
            .into_iter()
            .map(|(s, r)| {
                (
                    s,
                    r.map(|l| l.concat().trim_start_matches("VERSION ").to_owned()),
                )
            })
            .collect()
    }

    /// `flush_all` on every server.
    pub async fn flush_all(&self) -> Vec<(String, Result<(), Error>)> {
        self.each_server("flush_all", None)
            .await
            .into_iter()
            .map(|(s, r)| (s, r.map(|_| ())))
            .collect()
    }
}
