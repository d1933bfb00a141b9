//! [`Client`]: submits tasks to a pool of job servers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use super::conn::Conn;
use super::task::{Event, JobHandle, Status, Task};
use super::Error;
use crate::proto::{parse_i64_lenient, Request, Response, Sched, SubmitJob};

/// When a background job may run.
#[derive(Debug, Clone, Copy)]
enum Due {
    Now,
    /// `SUBMIT_JOB_EPOCH`: unix seconds.
    At(i64),
    /// `SUBMIT_JOB_SCHED`
    Sched(Sched),
}

/// How the client is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Job servers, `host:port`.
    pub servers: Vec<String>,
    /// Connecting to one server.
    pub connect_timeout: Duration,
    /// The default time limit of a whole foreground job (submit to
    /// result); `None` = wait for ever. [`Task::timeout`] overrides it.
    pub timeout: Option<Duration>,
    /// Send `OPTION_REQ exceptions` so a worker's `WORK_EXCEPTION` reaches
    /// the client as [`Error::Exception`] (else gearmand turns it into a
    /// plain fail).
    pub exceptions: bool,
    /// Idle connections kept per server.
    pub pool: usize,
    /// Speak TLS to every server (see [`crate::tls::client_config`]).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Config {
    /// These servers, with a 1 s connect timeout, no job timeout,
    /// exceptions on.
    pub fn new<I, S>(servers: I) -> Config
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Config {
            servers: servers.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(1),
            timeout: None,
            exceptions: true,
            pool: 8,
            tls: None,
        }
    }
}

/// The client; cheap to clone, all clones share the connections.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: Config,
    pools: Vec<Mutex<Vec<Conn>>>,
    next: AtomicUsize,
}

/// The server for a task: `crc32(unique) % n` (as the Perl client), else
/// round robin from `rr`.
pub(crate) fn pick(unique: Option<&[u8]>, n: usize, rr: usize) -> usize {
    if n == 0 {
        return 0;
    }
    match unique {
        Some(u) => crc32fast::hash(u) as usize % n,
        None => rr % n,
    }
}

fn num(b: &[u8]) -> u32 {
    u32::try_from(parse_i64_lenient(b).max(0)).unwrap_or(u32::MAX)
}

impl Client {
    /// A client; connects lazily.
    pub fn new(cfg: Config) -> Client {
        let pools = cfg.servers.iter().map(|_| Mutex::new(Vec::new())).collect();
        Client {
            inner: Arc::new(Inner {
                cfg,
                pools,
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs a foreground job and returns its result.
    pub async fn submit(&self, task: Task) -> Result<Bytes, Error> {
        self.run(task, None).await
    }

    /// Runs a foreground job, sending what happens to it to `events`
    /// (drain it: a full channel holds up the job's connection).
    pub async fn submit_with_events(
        &self,
        task: Task,
        events: mpsc::Sender<Event>,
    ) -> Result<Bytes, Error> {
        self.run(task, Some(events)).await
    }

    /// Queues a background job; returns its handle.
    pub async fn submit_background(&self, task: Task) -> Result<JobHandle, Error> {
        self.background(task, Due::Now).await
    }

    /// Queues a background job that no worker gets before `unix` (seconds
    /// since the epoch; `SUBMIT_JOB_EPOCH`). The task's priority is not
    /// sent (the packet has none).
    pub async fn submit_at(&self, task: Task, unix: i64) -> Result<JobHandle, Error> {
        self.background(task, Due::At(unix)).await
    }

    /// Queues a background job due at the next minute `sched` matches, in
    /// UTC (`SUBMIT_JOB_SCHED`).
    pub async fn submit_sched(&self, task: Task, sched: Sched) -> Result<JobHandle, Error> {
        self.background(task, Due::Sched(sched)).await
    }

    async fn background(&self, task: Task, due: Due) -> Result<JobHandle, Error> {
        let (s, conn, handle) = self.create(&task, true, due).await?;
        self.put(s, conn);
        Ok(JobHandle {
            server: self.inner.cfg.servers[s].clone(),
            handle,
        })
    }

    /// `GET_STATUS` on the server holding the job.
    pub async fn status(&self, job: &JobHandle) -> Result<Status, Error> {
        let s = self.inner.cfg.servers.iter().position(|a| *a == job.server);
        let mut conn = match s.and_then(|s| self.take(s)) {
            Some(c) => c,
            None => {
                let cfg = &self.inner.cfg;
                Conn::connect(&job.server, cfg.connect_timeout, cfg.tls.as_ref()).await?
            }
        };
        conn.send(&Request::GetStatus(job.handle.clone())).await?;
        loop {
            match conn.recv().await? {
                Some(Response::StatusRes {
                    known,
                    running,
                    numerator,
                    denominator,
                    ..
                }) => {
                    if let Some(s) = s {
                        self.put(s, conn);
                    }
                    return Ok(Status {
                        known,
                        running,
                        numerator,
                        denominator,
                    });
                }
                Some(Response::Error { code, text }) => return Err(Error::Server { code, text }),
                Some(_) => {}
                None => return Err(Error::Disconnected),
            }
        }
    }

    async fn run(&self, task: Task, events: Option<mpsc::Sender<Event>>) -> Result<Bytes, Error> {
        let limit = task.timeout.or(self.inner.cfg.timeout);
        let job = self.run_fg(task, events);
        match limit {
            Some(t) => tokio::time::timeout(t, job)
                .await
                .unwrap_or(Err(Error::Timeout)),
            None => job.await,
        }
    }

    async fn run_fg(
        &self,
        task: Task,
        events: Option<mpsc::Sender<Event>>,
    ) -> Result<Bytes, Error> {
        let (s, mut conn, handle) = self.create(&task, false, Due::Now).await?;
        let send = |ev: Event| {
            let events = events.clone();
            async move {
                if let Some(tx) = events {
                    let _ = tx.send(ev).await;
                }
            }
        };
        send(Event::Created(JobHandle {
            server: self.inner.cfg.servers[s].clone(),
            handle: handle.clone(),
        }))
        .await;
        loop {
            let resp = match conn.recv().await {
                Ok(Some(r)) => r,
                Ok(None) | Err(Error::Io(_)) => return Err(Error::Disconnected),
                Err(e) => return Err(e),
            };
            let outcome = match resp {
                Response::WorkComplete { handle: h, data } if h == handle => Ok(data),
                Response::WorkFail { handle: h, .. } if h == handle => Err(Error::Failed),
                Response::WorkException { handle: h, data } if h == handle => {
                    Err(Error::Exception(data))
                }
                Response::WorkData { handle: h, data } if h == handle => {
                    send(Event::Data(data)).await;
                    continue;
                }
                Response::WorkWarning { handle: h, data } if h == handle => {
                    send(Event::Warning(data)).await;
                    continue;
                }
                Response::WorkStatus {
                    handle: h,
                    numerator,
                    denominator,
                } if h == handle => {
                    let (numerator, denominator) = (num(&numerator), num(&denominator));
                    send(Event::Status {
                        numerator,
                        denominator,
                    })
                    .await;
                    continue;
                }
                Response::Error { code, text } => return Err(Error::Server { code, text }),
                _ => continue,
            };
            self.put(s, conn);
            return outcome;
        }
    }

    /// Submits on the picked server, failing over to the next ones while
    /// the job has not been accepted.
    async fn create(
        &self,
        task: &Task,
        background: bool,
        due: Due,
    ) -> Result<(usize, Conn, Bytes), Error> {
        let n = self.inner.cfg.servers.len();
        if n == 0 {
            return Err(Error::NoServer("no server configured".into()));
        }
        let rr = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let first = pick(task.unique.as_deref(), n, rr);
        let job = SubmitJob {
            function: task.function.clone(),
            unique: task.unique.clone().unwrap_or_default(),
            data: task.data.clone(),
            priority: task.priority,
            background,
            when: None,
            reducer: None,
        };
        let req = match due {
            Due::Now => Request::Submit(job),
            Due::At(unix) => Request::Submit(SubmitJob {
                when: Some(unix),
                ..job
            }),
            Due::Sched(sched) => Request::SubmitSched { job, sched },
        };
        let mut last = String::new();
        for i in 0..n {
            let s = (first + i) % n;
            match self.create_on(s, &req).await {
                Ok((conn, handle)) => return Ok((s, conn, handle)),
                Err(e) if e.is_failover() => {
                    debug!(server = %self.inner.cfg.servers[s], error = %e, "failing over");
                    last = format!("{}: {e}", self.inner.cfg.servers[s]);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NoServer(last))
    }

    async fn create_on(&self, s: usize, req: &Request) -> Result<(Conn, Bytes), Error> {
        loop {
            let (mut conn, pooled) = match self.take(s) {
                Some(c) => (c, true),
                None => (self.connect(s).await?, false),
            };
            match submit_once(&mut conn, req).await {
                Ok(handle) => return Ok((conn, handle)),
                // A pooled connection to a server that restarted or died:
                // try the next one, then a fresh connect.
                Err(e) if pooled && e.is_failover() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect(&self, s: usize) -> Result<Conn, Error> {
        let cfg = &self.inner.cfg;
        let mut conn =
            Conn::connect(&cfg.servers[s], cfg.connect_timeout, cfg.tls.as_ref()).await?;
        if cfg.exceptions {
            let opt = Bytes::from_static(b"exceptions");
            conn.send(&Request::OptionReq(opt)).await?;
            match conn.recv().await? {
                Some(Response::OptionRes(_)) => {}
                Some(Response::Error { code, text }) => return Err(Error::Server { code, text }),
                Some(other) => return Err(Error::Protocol(format!("{other:?} to OPTION_REQ"))),
                None => return Err(eof()),
            }
        }
        Ok(conn)
    }

    fn take(&self, s: usize) -> Option<Conn> {
        let pool = self.inner.pools.get(s)?;
        pool.lock().ok()?.pop()
    }

    fn put(&self, s: usize, conn: Conn) {
        if let Some(Ok(mut pool)) = self.inner.pools.get(s).map(Mutex::lock) {
            if pool.len() < self.inner.cfg.pool {
                pool.push(conn);
            }
        }
    }
}

fn eof() -> Error {
    Error::Io(std::io::ErrorKind::UnexpectedEof.into())
}

/// Sends a submit packet and waits for `JOB_CREATED`.
async fn submit_once(conn: &mut Conn, req: &Request) -> Result<Bytes, Error> {
    conn.send(req).await?;
    loop {
        match conn.recv().await? {
            Some(Response::JobCreated(handle)) => return Ok(handle),
            Some(Response::Error { code, text }) => return Err(Error::Server { code, text }),
            Some(Response::Noop) => {}
            Some(other) => return Err(Error::Protocol(format!("{other:?} to a submit"))),
            None => return Err(eof()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn unique_ids_hash_with_crc32_like_the_perl_client() {
        // crc32("foo") = 0x8c736521 = 2356372769; % 3 = 2 (2356372769 = 3 * 785457589 + 2).
        assert_eq!(crc32fast::hash(b"foo"), 0x8c73_6521);
        assert_eq!(pick(Some(b"foo"), 3, 7), 2);
        assert_eq!(pick(Some(b"foo"), 1, 7), 0);
    }

    #[test]
    fn no_unique_goes_round_robin() {
        let got: Vec<usize> = (0..5).map(|rr| pick(None, 2, rr)).collect();
        assert_eq!(got, [0, 1, 0, 1, 0]);
        assert_eq!(pick(None, 0, 3), 0);
    }
}
