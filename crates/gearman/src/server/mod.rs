//! The tokio glue: one task per connection on danga-common's accept loop,
//! and one timer task for epoch jobs and `CAN_DO_TIMEOUT`.
//!
//! # Why a mutex around the engine, not an engine task
//!
//! Every request touches shared state (a submit wakes a worker, a
//! `WORK_COMPLETE` goes to clients on other connections), so the engine is
//! one [`Queue`] shared by all connections. It sits behind a
//! `std::sync::Mutex`: the task that read a batch of packets locks it once,
//! runs the whole batch through the engine, encodes the resulting packets
//! into the destination connections' output buffers ([`peer::Peer`]) and
//! unlocks; then it writes those buffers itself, without blocking (on plain
//! sockets; a full socket or TLS leaves it to the connection's own task).
//! Nothing awaits while the lock is held, and a batch costs microseconds,
//! so on few cores contention is low. A dedicated engine task would instead
//! add two channel hops and two task wake-ups to every request, and a
//! writer task per connection one wake-up per packet it sends: most of the
//! cost of a small job.
//!
//! Delivering under the lock is also what keeps each connection's packets
//! in engine order (see [`peer`]).
//!
//! # Durable background jobs
//!
//! With a persistent queue (`Server::with_persist`, feature `persist`),
//! the background jobs of a batch are written (one commit, shared with
//! other connections' batches) before the batch reaches the engine, so
//! `JOB_CREATED` is only sent for a stored job. The engine's `done_rows`
//! are deleted after each locked run; at shutdown the pending deletes are
//! flushed.
//!
//! # Bounded memory per connection
//!
//! * input: at most one packet (`max_packet`) or admin line plus a read;
//!   each packet's data is copied out of the read buffer, so a long-lived
//!   job never pins a whole read buffer;
//! * output: `max_pending` bytes; a connection whose own replies pile up
//!   stops being read until its writer catches up; one that does not read
//!   what other connections send it overflows and is closed.

mod conn;
mod metrics;
pub mod peer;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use danga_common::{Conn, Shutdown};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::proto::{Limits, HEADER_LEN};
use crate::queue::{ConnId, IdMap, Now, Outbox, Queue};
use peer::Peer;

/// The largest `max_packet` the server accepts: 1 GiB.
pub const MAX_PACKET_CAP: u32 = 1 << 30;

/// Server settings (the engine has its own, [`crate::queue::Config`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Packet and admin line limits.
    pub limits: Limits,
    /// Most bytes queued for one connection before it is closed (raised to
    /// hold at least two of the largest packets).
    pub max_pending: usize,
    /// `--keepalive`: TCP keepalive on every connection.
    pub keepalive: Option<Keepalive>,
    /// The admin `shutdown` command works, from loopback and Unix-socket
    /// peers only; otherwise it is an unknown command, as gearmand 1.1.20.
    pub admin_shutdown: bool,
    /// `--ssl`: every connection speaks TLS (plaintext is refused).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// TCP keepalive settings (`None`: the system's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keepalive {
    /// `TCP_KEEPIDLE`
    pub idle: Option<Duration>,
    /// `TCP_KEEPINTVL`
    pub interval: Option<Duration>,
    /// `TCP_KEEPCNT`
    pub count: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_pending: 64 << 20,
            keepalive: None,
            admin_shutdown: false,
            tls: None,
        }
    }
}

struct Shared {
    queue: Queue,
    peers: IdMap<Arc<Peer>>,
    out: Outbox,
}

/// The running job server.
pub struct Server {
    shared: Mutex<Shared>,
    timer: Notify,
    cfg: Config,
    shutdown: Shutdown,
    started: Instant,
    #[cfg(feature = "persist")]
    persist: Option<crate::persist::Persist>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("cfg", &self.cfg).finish()
    }
}

/// What one locked run of the engine asks the caller to do afterwards.
#[derive(Debug, Default)]
struct After {
    shutdown: bool,
    timers_changed: bool,
}

impl Server {
    /// A server around `queue`; `shutdown` is the daemon's.
    pub fn new(queue: Queue, cfg: Config, shutdown: Shutdown) -> Arc<Server> {
        Arc::new(Self::build(queue, cfg, shutdown))
    }

    /// A server whose background jobs are stored by `persist`; the jobs
    /// `replay` (read from the store at start-up) are queued first.
    #[cfg(feature = "persist")]
    pub fn with_persist(
        queue: Queue,
        cfg: Config,
        shutdown: Shutdown,
        persist: crate::persist::Persist,
        replay: Vec<(u64, crate::proto::SubmitJob)>,
    ) -> Arc<Server> {
        let mut s = Self::build(queue, cfg, shutdown.clone());
        s.persist = Some(persist.clone());
        // At shutdown, once the connections are gone, commit the deletes
        // still waiting, so finished jobs do not run again after a restart.
        let sd = shutdown.clone();
        shutdown.spawn(async move {
            sd.triggered().await;
            while sd.tasks_running() > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            persist.flush().await;
        });
        let n = replay.len();
        s.run(|q, now, out| {
            for (id, job) in replay {
                q.submit(None, job, vec![id], now, out);
            }
        });
        if n > 0 {
            tracing::info!(jobs = n, "replayed the persistent queue");
        }
        Arc::new(s)
    }

    fn build(queue: Queue, mut cfg: Config, shutdown: Shutdown) -> Server {
        // Any packet we build holds at most two peer-sent pieces (function
        // and data), so with this cap every packet length fits its u32.
        cfg.limits.max_packet = cfg.limits.max_packet.min(MAX_PACKET_CAP);
        let packet = usize::try_from(cfg.limits.max_packet).unwrap_or(usize::MAX);
        let floor = packet.saturating_add(HEADER_LEN).saturating_mul(2);
        cfg.max_pending = cfg.max_pending.max(floor);
        Server {
            shared: Mutex::new(Shared {
                queue,
                peers: IdMap::default(),
                out: Outbox::default(),
            }),
            timer: Notify::new(),
            cfg,
            shutdown,
            started: Instant::now(),
            #[cfg(feature = "persist")]
            persist: None,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The engine's idea of the time.
    pub fn now(&self) -> Now {
        let unix = danga_common::clock::unix_now_i64();
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Now { unix, millis }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The engine keeps its counters with saturating arithmetic and
        // never panics on input; if a bug ever did panic mid-request, the
        // other connections keep being served rather than all failing.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the engine under the lock and delivers what it produced.
    fn run(&self, f: impl FnOnce(&mut Queue, Now, &mut Outbox)) -> After {
        self.run_sending(&mut Vec::new(), f)
    }

    /// [`Server::run`], with a list to reuse for the connections it sends
    /// to: their packets are appended under the lock, in engine order, and
    /// written once it is released.
    fn run_sending(
        &self,
        touched: &mut Vec<Arc<Peer>>,
        f: impl FnOnce(&mut Queue, Now, &mut Outbox),
    ) -> After {
        let now = self.now();
        let mut guard = self.lock();
        let Shared { queue, peers, out } = &mut *guard;
        out.clear();
        queue.tick(now, out);
        f(queue, now, out);
        // By reference: a message is encoded, never moved (a `Response`
        // is a few hundred bytes; moving each one out showed as memcpy).
        for (to, msg) in &out.msgs {
            if let Some(p) = peers.get(to) {
                p.push(msg);
                if touched.last().is_none_or(|t| !Arc::ptr_eq(t, p)) {
                    touched.push(Arc::clone(p));
                }
            }
        }
        let after = After {
            shutdown: out.shutdown.is_some(),
            timers_changed: out.timers_changed,
        };
        out.msgs.clear();
        let done_rows = std::mem::take(&mut out.done_rows);
        drop(guard);
        for p in touched.drain(..) {
            p.send();
        }
        #[cfg(feature = "persist")]
        if let Some(p) = &self.persist {
            p.delete(done_rows);
        }
        #[cfg(not(feature = "persist"))]
        drop(done_rows);
        if after.timers_changed {
            self.timer.notify_one();
        }
        if after.shutdown {
            tracing::info!("shutdown requested by an admin command");
            self.shutdown.trigger();
        }
        after
    }

    /// Starts the task that makes epoch jobs runnable when they come due
    /// and requeues jobs whose worker overran its `CAN_DO_TIMEOUT`.
    pub fn spawn_timer(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let mut wait = None;
                me.run(|q, now, _| wait = q.next_wakeup(now));
                // Re-read the wall clock at least once a minute.
                let wait = wait.map_or(Duration::from_secs(60), |ms| {
                    Duration::from_millis(ms).min(Duration::from_secs(60))
                });
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = me.timer.notified() => {}
                    _ = me.shutdown.triggered() => return,
                }
            }
        });
    }

    /// Serves one connection until it closes, breaks framing, overflows,
    /// or the server stops while it is idle.
    pub async fn serve(self: Arc<Self>, conn: Conn) {
        conn::serve(self, conn).await
    }

    fn register(&self, id: ConnId, label: String, peer: Arc<Peer>) {
        let mut g = self.lock();
        g.queue.connect(id, label);
        g.peers.insert(id, peer);
    }

    fn unregister(&self, id: ConnId) {
        self.run(|q, _, out| q.disconnect(id, out));
        self.lock().peers.remove(&id);
    }
}
