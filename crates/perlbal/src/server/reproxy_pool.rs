//! Connections to reproxy targets (1.80's `ReproxyManager`): per
//! `host:port`, at most `SERVER max_reproxy_connections[(host:port)]` open
//! at once (0: no limit; a request over the limit waits its turn), and
//! idle keep-alive connections kept a few seconds for the next request.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::lock;

/// How long an idle connection is kept (1.80 dropped them after 5 s).
const IDLE: Duration = Duration::from_secs(5);
/// The most idle connections kept per host.
const MAX_IDLE: usize = 16;

#[derive(Default)]
struct Host {
    idle: Vec<(TcpStream, Instant)>,
    active: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
}

/// Every reproxy target's connections.
#[derive(Default)]
pub(crate) struct ReproxyPool {
    hosts: Mutex<HashMap<String, Host>>,
    /// (global limit, per host limits)
    limits: Mutex<(u64, BTreeMap<String, u64>)>,
}

/// The right to one connection to a host; gives it back on drop.
pub(crate) struct Lease {
    pool: Arc<ReproxyPool>,
    host: String,
    /// An idle connection handed over, if there was one.
    pub idle: Option<TcpStream>,
}

impl ReproxyPool {
    /// New limits (after `SERVER max_reproxy_connections`).
    pub fn set_limits(&self, global: u64, per_host: &BTreeMap<String, u64>) {
        *lock(&self.limits) = (global, per_host.clone());
    }

    fn limit(&self, host: &str) -> u64 {
        let l = lock(&self.limits);
        l.1.get(host).copied().unwrap_or(l.0)
    }

    /// Waits for a turn on `host` (`ip:port` as the URL wrote it).
    pub async fn acquire(self: &Arc<Self>, host: &str) -> Lease {
        loop {
            let max = self.limit(host);
            let rx = {
                let mut hosts = lock(&self.hosts);
                let h = hosts.entry(host.to_owned()).or_default();
                let now = Instant::now();
                h.idle
                    .retain(|(_, since)| now.duration_since(*since) < IDLE);
                if let Some((s, _)) = h.idle.pop() {
                    h.active += 1;
                    return self.lease(host, Some(s));
                }
                if max == 0 || (h.active as u64) < max {
                    h.active += 1;
                    return self.lease(host, None);
                }
                let (tx, rx) = oneshot::channel();
                h.waiting.push_back(tx);
                rx
            };
            let _ = rx.await;
        }
    }

    fn lease(self: &Arc<Self>, host: &str, idle: Option<TcpStream>) -> Lease {
        Lease {
            pool: self.clone(),
            host: host.to_owned(),
            idle,
        }
    }

    /// Closes idle connections older than [`IDLE`] (run every few seconds,
    /// so targets no longer asked keep nothing open).
    pub fn prune(&self) {
        let now = Instant::now();
        let mut hosts = lock(&self.hosts);
        hosts.retain(|_, h| {
            h.idle
                .retain(|(_, since)| now.duration_since(*since) < IDLE);
            h.active > 0 || !h.idle.is_empty() || !h.waiting.is_empty()
        });
    }

    /// `REPROXY_STATE`'s lines (1.80's, sorted).
    pub fn state_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let hosts = lock(&self.hosts);
        let mut names: Vec<&String> = hosts.keys().collect();
        names.sort();
        for n in &names {
            let h = &hosts[*n];
            if !h.idle.is_empty() {
                out.push(format!("bored {n} {}", h.idle.len()));
            }
            if !h.waiting.is_empty() {
                out.push(format!("clients_queued {n} {}", h.waiting.len()));
            }
            if h.active > 0 {
                out.push(format!("backends {n} {}", h.active));
            }
        }
        let l = lock(&self.limits);
        for (host, n) in &l.1 {
            out.push(format!("SERVER max_reproxy_connections({host}) = {n}"));
        }
        out.push(format!("SERVER max_reproxy_connections = {}", l.0));
        out
    }
}

impl Lease {
    /// Keeps `stream` for the next request to this host.
    pub fn keep(self, stream: TcpStream) {
        let mut hosts = lock(&self.pool.hosts);
        if let Some(h) = hosts.get_mut(&self.host) {
            if h.idle.len() < MAX_IDLE {
                h.idle.push((stream, Instant::now()));
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut hosts = lock(&self.pool.hosts);
        if let Some(h) = hosts.get_mut(&self.host) {
            h.active = h.active.saturating_sub(1);
            while let Some(w) = h.waiting.pop_front() {
                if w.send(()).is_ok() {
                    break;
                }
            }
            if h.active == 0 && h.idle.is_empty() && h.waiting.is_empty() {
                hosts.remove(&self.host);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stream() -> TcpStream {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (c, _) = tokio::join!(TcpStream::connect(addr), l.accept());
        c.expect("connect")
    }

    #[tokio::test]
    async fn the_per_host_limit_makes_the_next_request_wait() {
        let pool = Arc::new(ReproxyPool::default());
        pool.set_limits(0, &BTreeMap::from([("h:1".to_owned(), 1)]));
        let first = pool.acquire("h:1").await;
        let other = pool.acquire("h:2").await;
        let p2 = pool.clone();
        let mut second = tokio::spawn(async move { p2.acquire("h:1").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "over the limit: it waits");
        assert!(pool
            .state_lines()
            .contains(&"clients_queued h:1 1".to_owned()));
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), &mut second)
            .await
            .expect("its turn came")
            .expect("task");
        drop((second, other));
        assert_eq!(
            pool.state_lines(),
            [
                "SERVER max_reproxy_connections(h:1) = 1",
                "SERVER max_reproxy_connections = 0"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_are_reused_then_closed() {
        let pool = Arc::new(ReproxyPool::default());
        let lease = pool.acquire("h:1").await;
        assert!(lease.idle.is_none());
        lease.keep(stream().await);
        let mut again = pool.acquire("h:1").await;
        assert!(
            again.idle.take().is_some(),
            "the kept connection is handed out"
        );
        again.keep(stream().await);
        assert!(pool.state_lines().contains(&"bored h:1 1".to_owned()));
        tokio::time::advance(IDLE + Duration::from_secs(1)).await;
        pool.prune();
        assert_eq!(pool.state_lines(), ["SERVER max_reproxy_connections = 0"]);
    }
}
