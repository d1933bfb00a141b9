//! Pairing clients with backend connections, as 1.80's `Service` does: a
//! client takes a bored (idle, verified) backend if there is one, or
//! queues (high, normal or low) while `spawn_backends` opens connections:
//! to random nodes, at most one pending connect per node, at most 10 per
//! round, skipping nodes that refused a connection in the last second. A
//! backend that becomes free goes to the best waiting client, else stays
//! bored (up to `backend_persist_cache` / `connect_ahead`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use super::backend::{self, Backend, ConnectError, SockState, StateCounts};
use super::settings::Settings;
use super::{lock, now, Shared};
use crate::core::cache::ReproxyCache;
use crate::core::{Priority, Queues};

/// The most recently bored backend; under the per-thread layout the most
/// recent one opened on this thread, if any (its socket belongs to this
/// thread's runtime, so using it wakes no other thread).
fn take_bored(bored: &mut Vec<Backend>) -> Option<Backend> {
    if !danga_common::launch::workers().is_empty() {
        let me = std::thread::current().id();
        if let Some(i) = bored.iter().rposition(|b| b.home == me) {
            return Some(bored.remove(i));
        }
    }
    bored.pop()
}

/// A client waiting for a backend.
pub(crate) struct Waiter {
    tx: oneshot::Sender<Backend>,
    since: u64,
}

#[derive(Default)]
struct Dispatch {
    waiting: Queues<Waiter>,
    bored: Vec<Backend>,
    /// node -> when its pending connect started.
    pending: HashMap<SocketAddr, u64>,
    retry_armed: bool,
}

/// A reverse-proxy service at run time.
pub(crate) struct ServiceRt {
    pub name: String,
    /// The `X-REPROXY-CACHE-FOR` cache.
    pub cache: Mutex<ReproxyCache>,
    pub cache_requests: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Requests it answered (`perlbal_service_requests_total`).
    pub requests: AtomicU64,
    /// Responses it gave, by status class 1xx..5xx
    /// (`perlbal_service_responses_total`).
    pub responses: [AtomicU64; 5],
    /// From a request's head to its answer's end
    /// (`perlbal_service_request_duration_seconds`).
    pub latency: danga_common::metrics::Histogram,
    /// Its sockets by (class, state): its clients and backends (`STATES svc`).
    pub states: Arc<StateCounts>,
    settings: RwLock<Arc<Settings>>,
    /// Its settings' connect_ahead, read where a client takes a backend
    /// without taking the settings' lock.
    connect_ahead: AtomicUsize,
    state: Mutex<Dispatch>,
    shared: Weak<Shared>,
    me: Weak<ServiceRt>,
}

impl ServiceRt {
    pub fn new(name: &str, settings: Settings, shared: &Arc<Shared>) -> Arc<ServiceRt> {
        let mut cache = ReproxyCache::default();
        cache.set_max(settings.reproxy_cache_size);
        Arc::new_cyclic(|me| ServiceRt {
            name: name.to_owned(),
            cache: Mutex::new(cache),
            cache_requests: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            responses: Default::default(),
            latency: Default::default(),
            states: Arc::default(),
            connect_ahead: AtomicUsize::new(settings.connect_ahead),
            settings: RwLock::new(Arc::new(settings)),
            state: Mutex::new(Dispatch::default()),
            shared: Arc::downgrade(shared),
            me: me.clone(),
        })
    }

    /// Counts a response with status `code` (0: none was written).
    pub fn responded(&self, code: u16) {
        if let Some(c) = super::reply::class_index(code).and_then(|i| self.responses.get(i)) {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// New settings: bored backends to nodes no longer in the pool close.
    pub fn update(&self, s: Settings) {
        let nodes = s.nodes.clone();
        lock(&self.cache).set_max(s.reproxy_cache_size);
        self.connect_ahead.store(s.connect_ahead, Ordering::Relaxed);
        *self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(s);
        let mut d = lock(&self.state);
        d.bored.retain(|b| nodes.contains(&b.node));
        self.spawn_backends(&mut d);
    }

    /// Asks for a backend: a bored one at once, else a place in the queue
    /// whose answer arrives on the receiver.
    pub fn acquire(&self, prio: Priority) -> Result<Backend, oneshot::Receiver<Backend>> {
        loop {
            let mut d = lock(&self.state);
            let Some(be) = take_bored(&mut d.bored) else {
                return Err(self.enqueue(&mut d, prio));
            };
            if be.is_stale() {
                continue;
            }
            // Spares are topped up only when connect_ahead asks for them;
            // with none wanted and no one waiting there is nothing to open.
            if self.connect_ahead.load(Ordering::Relaxed) > 0 || !d.waiting.is_empty() {
                self.spawn_backends(&mut d);
            }
            drop(d);
            // Moved to this thread's runtime outside the lock; one that
            // cannot be is closed, and the next bored one tried.
            if let Ok(be) = be.here() {
                return Ok(be);
            }
        }
    }

    /// A place in the queue for a backend (`d` had no bored one).
    fn enqueue(&self, d: &mut Dispatch, prio: Priority) -> oneshot::Receiver<Backend> {
        let (tx, rx) = oneshot::channel();
        d.waiting.push(
            prio,
            Waiter {
                tx,
                since: now() as u64,
            },
        );
        self.spawn_backends(d);
        rx
    }

    /// A backend is free again (new, or done with a keep-alive request).
    pub fn release(&self, mut be: Backend) {
        let s = self.settings();
        let mut d = lock(&self.state);
        if !s.nodes.contains(&be.node) {
            return;
        }
        be.state.set(SockState::BACKEND_BORED);
        loop {
            let roll = fastrand::u32(0..100);
            let Some(w) = d.waiting.pop(s.relief_size, s.relief_chance, roll) else {
                break;
            };
            match w.tx.send(be) {
                Ok(()) => return,
                Err(back) => be = back,
            }
        }
        if d.bored.len() < s.backend_persist_cache.max(s.connect_ahead) {
            d.bored.push(be);
        }
    }

    /// Queue lengths and the age of each queue's oldest client.
    pub fn queue_stats(&self) -> [(Priority, usize, u64); 3] {
        let mut d = lock(&self.state);
        d.waiting.retain(|w| !w.tx.is_closed());
        let t = now() as u64;
        [Priority::Normal, Priority::High, Priority::Low].map(|p| {
            let q = d.waiting.queue(p);
            let age = q.front().map_or(0, |w| t.saturating_sub(w.since));
            (p, q.len(), age)
        })
    }

    /// (waiting clients, pending connects with their start, bored count)
    pub fn snapshot(&self) -> (usize, Vec<(SocketAddr, u64)>, usize) {
        let mut d = lock(&self.state);
        d.waiting.retain(|w| !w.tx.is_closed());
        let mut pend: Vec<_> = d.pending.iter().map(|(n, t)| (*n, *t)).collect();
        pend.sort();
        (d.waiting.len(), pend, d.bored.len())
    }

    fn spawn_backends(&self, d: &mut Dispatch) {
        let (Some(shared), Some(me)) = (self.shared.upgrade(), self.me.upgrade()) else {
            return;
        };
        d.waiting.retain(|w| !w.tx.is_closed());
        let s = self.settings();
        if s.nodes.is_empty() {
            return;
        }
        let created = d.bored.len() + d.pending.len();
        let needed = d.waiting.len() + s.connect_ahead;
        let max = s.nodes.len().saturating_sub(d.pending.len());
        let to_create = needed.saturating_sub(created).min(max).min(10);
        let t = now();
        let mut skipped_dead = false;
        for _ in 0..to_create {
            let node = s.nodes[fastrand::usize(..s.nodes.len())];
            if lock(&shared.nodes).is_dead(node, t) {
                skipped_dead = true;
                continue;
            }
            if d.pending.contains_key(&node) {
                continue;
            }
            d.pending.insert(node, t as u64);
            let me = me.clone();
            let shared = shared.clone();
            let verify = s.verify_backend.then(|| s.verify_path.clone());
            tokio::spawn(async move { me.open(shared, node, verify).await });
        }
        // Dead nodes come back after a second: look again then, if clients
        // still wait and nothing else will wake us.
        let idle = d.pending.is_empty();
        if (skipped_dead || idle) && !d.waiting.is_empty() && !d.retry_armed {
            let wait = lock(&shared.nodes)
                .next_revival(t)
                .map_or(0.2, |r| (r - t).max(0.05));
            d.retry_armed = true;
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                let mut d = lock(&me.state);
                d.retry_armed = false;
                me.spawn_backends(&mut d);
            });
        }
    }

    async fn open(self: Arc<Self>, shared: Arc<Shared>, node: SocketAddr, verify: Option<String>) {
        lock(&shared.nodes).attempt(node, now());
        let verify = verify.filter(|_| lock(&shared.nodes).needs_verify(node, now()));
        let result =
            backend::connect(&shared, (&self.name, &self.states), node, verify.as_deref()).await;
        {
            let mut d = lock(&self.state);
            d.pending.remove(&node);
            match &result {
                Ok(_) => {}
                Err(ConnectError::Dead) => lock(&shared.nodes).connect_failed(node, now()),
                Err(ConnectError::NoKeepAlive) => lock(&shared.nodes).mark_noverify(node, now()),
            }
            if result.is_err() {
                self.spawn_backends(&mut d);
            }
        }
        if let Ok(be) = result {
            self.release(be);
            let mut d = lock(&self.state);
            self.spawn_backends(&mut d);
        }
    }
}
