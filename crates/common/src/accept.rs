//! The accept loop: a connection limit shared by all of a daemon's
//! listeners, the daemon's policy when the limit is reached, accept errors
//! backed off, and one tracked task per connection.
//!
//! Two policies exist because the originals differ:
//!
//! * memcached accepts the connection anyway, writes
//!   `ERROR Too many open connections`, closes it and counts it in
//!   `rejected_connections` ([`AtLimit::Reject`]);
//! * the others stop accepting until a slot frees; the kernel's backlog
//!   holds the newcomers meanwhile ([`AtLimit::Wait`]).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::listen::{Listener, PeerAddr, Stream};
use crate::shutdown::Shutdown;
use crate::stats::{Counter, Gauge, GaugeGuard, Registry};

/// What to do with a connection that arrives when all slots are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtLimit {
    /// Stop accepting until a connection closes.
    Wait,
    /// Accept, write this reply, close, and count a rejection.
    Reject {
        /// The bytes written before closing.
        reply: &'static [u8],
    },
}

/// The connection counters every daemon keeps (memcached's names).
#[derive(Clone, Debug)]
pub struct ConnStats {
    /// Connections open now.
    pub curr: Gauge,
    /// Connections accepted since start.
    pub total: Counter,
    /// Connections turned away at the limit.
    pub rejected: Counter,
}

impl ConnStats {
    /// Declares the three counters in `registry` (or joins them, when
    /// another acceptor of the process declared them already).
    pub fn register(registry: &Registry) -> Self {
        ConnStats {
            curr: registry.shared_gauge("curr_connections", "Number of open connections"),
            total: registry.shared_counter(
                "total_connections",
                "Total number of connections opened since the server started running",
            ),
            rejected: registry.shared_counter(
                "rejected_connections",
                "Connections turned away at the connection limit",
            ),
        }
    }
}

/// One accepted connection, holding its slot until dropped.
///
/// The fields are private on purpose: a handler written as
/// `|c| async move { c.stream... }` would otherwise capture only the fields
/// it names (Rust 2021 precise capture) and free the slot at once. Methods
/// borrow the whole `Conn`, so the slot lives as long as the handler.
#[derive(Debug)]
pub struct Conn {
    stream: Stream,
    peer: PeerAddr,
    id: u64,
    shutdown: Shutdown,
    slot: Slot,
}

/// Holds a connection's place under the limit; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _open: GaugeGuard,
}

impl Conn {
    /// The socket.
    pub fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Who connected.
    pub fn peer(&self) -> PeerAddr {
        self.peer
    }

    /// A number unique within this process, for logs.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The daemon's shutdown, for [`Shutdown::until_stopped`] around idle reads.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The socket and the slot, for code that must own the socket (an HTTP
    /// server library); keep the slot alive as long as the socket.
    pub fn into_parts(self) -> (Stream, Slot) {
        (self.stream, self.slot)
    }
}

/// Accepts connections for any number of listeners under one limit.
#[derive(Clone, Debug)]
pub struct Acceptor {
    slots: Arc<Semaphore>,
    max: usize,
    at_limit: AtLimit,
    stats: ConnStats,
    shutdown: Shutdown,
    next_id: Arc<AtomicU64>,
}

impl Acceptor {
    /// An acceptor allowing `max` connections at once (at least one).
    pub fn new(max: usize, at_limit: AtLimit, stats: ConnStats, shutdown: Shutdown) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Acceptor {
            slots: Arc::new(Semaphore::new(max)),
            max,
            at_limit,
            stats,
            shutdown,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The connection limit.
    pub fn max_connections(&self) -> usize {
        self.max
    }

    /// The counters this acceptor keeps.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// Starts [`Acceptor::run`] as a task of its own.
    pub fn spawn<H, F>(&self, listener: Listener, handler: H) -> tokio::task::JoinHandle<()>
    where
        H: Fn(Conn) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(self.clone().run(listener, handler))
    }

    /// Accepts on `listener` until shutdown, running `handler` on each
    /// connection in its own task. Returns once shutdown has started.
    pub async fn run<H, F>(self, listener: Listener, handler: H)
    where
        H: Fn(Conn) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!(listener = listener.name(), addr = %listener.local_addr(), "listening");
        let mut backoff = Backoff::default();
        loop {
            // Under the Wait policy a slot is taken before accepting.
            let early_slot = match self.at_limit {
                AtLimit::Wait => {
                    let acquire = self.slots.clone().acquire_owned();
                    match self.shutdown.until_stopped(acquire).await {
                        Some(Ok(p)) => Some(p),
                        Some(Err(_)) | None => break,
                    }
                }
                AtLimit::Reject { .. } => None,
            };
            let (stream, peer) = match self.shutdown.until_stopped(listener.accept()).await {
                None => break,
                Some(Ok(conn)) => {
                    backoff.reset();
                    conn
                }
                Some(Err(e)) => {
                    // EMFILE and friends: wait before trying again, never spin.
                    let pause = backoff.next();
                    tracing::warn!(error = %e, ?pause, "accept failed");
                    if self
                        .shutdown
                        .until_stopped(tokio::time::sleep(pause))
                        .await
                        .is_none()
                    {
                        break;
                    }
                    continue;
                }
            };
            let permit = match early_slot {
                Some(p) => p,
                None => match self.slots.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        self.reject(stream, peer);
                        continue;
                    }
                },
            };
            self.stats.total.incr();
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let conn = Conn {
                stream,
                peer,
                id,
                shutdown: self.shutdown.clone(),
                slot: Slot {
                    _permit: permit,
                    _open: self.stats.curr.hold(),
                },
            };
            let span = tracing::debug_span!("conn", %peer, conn = id);
            self.shutdown.spawn(handler(conn).instrument(span));
        }
        tracing::debug!(listener = listener.name(), "stopped accepting");
    }

    fn reject(&self, mut stream: Stream, peer: PeerAddr) {
        self.stats.rejected.incr();
        tracing::debug!(%peer, "connection limit reached; rejecting");
        if let AtLimit::Reject { reply } = self.at_limit {
            // Not tracked by shutdown: it is bounded by its own timeout.
            tokio::spawn(async move {
                let write = async {
                    stream.write_all(reply).await?;
                    stream.shutdown().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
            });
        }
    }
}

/// Exponential back-off for accept errors: 10 ms doubling up to 1 s.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let ms = 10u64 << self.failures.min(7);
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(ms.min(1000))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::{bind, ListenSpec};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    async fn start(max: usize, at_limit: AtLimit) -> (Acceptor, std::net::SocketAddr, Shutdown) {
        let spec = ListenSpec::tcp("t", "127.0.0.1:0".parse().expect("addr"));
        let listener = bind(&spec, 16).expect("bind").into_tokio().expect("tokio");
        let addr = match listener.local_addr() {
            crate::listen::LocalAddr::Tcp(a) => *a,
            other => panic!("unexpected {other}"),
        };
        let sd = Shutdown::new();
        let acc = Acceptor::new(
            max,
            at_limit,
            ConnStats::register(&Registry::new()),
            sd.clone(),
        );
        // An echo handler that closes idle connections at shutdown.
        tokio::spawn(acc.clone().run(listener, |mut c: Conn| async move {
            let mut buf = [0u8; 64];
            loop {
                let sd = c.shutdown().clone();
                match sd.until_stopped(c.stream().read(&mut buf)).await {
                    Some(Ok(n)) if n > 0 => {
                        if c.stream().write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        }));
        (acc, addr, sd)
    }

    async fn echo(s: &mut TcpStream) -> Vec<u8> {
        s.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.expect("read");
        buf.to_vec()
    }

    #[tokio::test]
    async fn reject_policy_answers_and_closes_while_others_keep_working() {
        let (acc, addr, sd) = start(2, AtLimit::Reject { reply: b"FULL\r\n" }).await;
        let mut a = TcpStream::connect(addr).await.expect("a");
        let mut b = TcpStream::connect(addr).await.expect("b");
        assert_eq!(echo(&mut a).await, b"ping");
        assert_eq!(echo(&mut b).await, b"ping");
        let mut c = TcpStream::connect(addr).await.expect("c");
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).await.expect("read to end");
        assert_eq!(reply, b"FULL\r\n");
        assert_eq!(acc.stats().rejected.get(), 1);
        assert_eq!(echo(&mut a).await, b"ping");
        drop(b);
        // The freed slot is usable again.
        let mut d = loop {
            let mut d = TcpStream::connect(addr).await.expect("d");
            d.write_all(b"ping").await.expect("write");
            let mut buf = [0u8; 6];
            let n = d.read(&mut buf).await.expect("read");
            if &buf[..n] == b"ping" {
                break d;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(echo(&mut d).await, b"ping");
        sd.trigger();
        assert_eq!(sd.drain(Duration::from_secs(2)).await, 0);
    }

    #[tokio::test]
    async fn wait_policy_holds_newcomers_until_a_slot_frees() {
        let (acc, addr, _sd) = start(1, AtLimit::Wait).await;
        let mut a = TcpStream::connect(addr).await.expect("a");
        assert_eq!(echo(&mut a).await, b"ping");
        let mut b = TcpStream::connect(addr).await.expect("b (backlog)");
        b.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        let early = tokio::time::timeout(Duration::from_millis(200), b.read_exact(&mut buf)).await;
        assert!(
            early.is_err(),
            "b must wait while a holds the only slot: {early:?} curr={}",
            acc.stats().curr.get()
        );
        drop(a);
        b.read_exact(&mut buf).await.expect("read after slot freed");
        assert_eq!(&buf, b"ping");
        assert_eq!(acc.stats().total.get(), 2);
        assert_eq!(acc.stats().rejected.get(), 0);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::default();
        let steps: Vec<u64> = (0..10).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(steps[..4], [10, 20, 40, 80]);
        assert_eq!(*steps.last().expect("step"), 1000);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(10));
    }
}
