//! One backend connection: connecting, the `verify_backend` OPTIONS
//! exchange, reading response heads, and the bookkeeping `BACKENDS` and
//! `STATES` show.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{lock, Shared};
use crate::proto::http::{parse_response, BodyLength, ResponseHead};

/// How long a connect or a verification may take (1.80's 15 s).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A socket's (class, state), as `STATES` and `SOCKS` show it: an index
/// into [`SOCK_STATES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockState(usize);

const BACKEND: &str = "Perlbal::BackendHTTP";
const CLIENT: &str = "Perlbal::ClientProxy";
const WEB: &str = "Perlbal::ClientHTTP";

/// Every (class, state) a socket can be in, sorted (the `STATES` order).
pub(crate) const SOCK_STATES: [(&str, &str); 15] = [
    (BACKEND, "bored"),
    (BACKEND, "connecting"),
    (BACKEND, "sending_req"),
    (BACKEND, "verifying_backend"),
    (BACKEND, "wait_res"),
    (BACKEND, "xfer_res"),
    (WEB, "persist_wait"),
    (WEB, "reading_headers"),
    (WEB, "xfer_resp"),
    (CLIENT, "backend_req_sent"),
    (CLIENT, "persist_wait"),
    (CLIENT, "reading_headers"),
    (CLIENT, "wait_backend"),
    (CLIENT, "wait_res"),
    (CLIENT, "xfer_res"),
];

impl SockState {
    pub const BACKEND_BORED: SockState = SockState(0);
    pub const BACKEND_CONNECTING: SockState = SockState(1);
    pub const BACKEND_SENDING_REQ: SockState = SockState(2);
    pub const BACKEND_VERIFYING: SockState = SockState(3);
    pub const BACKEND_WAIT_RES: SockState = SockState(4);
    pub const BACKEND_XFER_RES: SockState = SockState(5);
    pub const WEB_PERSIST_WAIT: SockState = SockState(6);
    pub const WEB_READING_HEADERS: SockState = SockState(7);
    pub const WEB_XFER_RESP: SockState = SockState(8);
    pub const CLIENT_BACKEND_REQ_SENT: SockState = SockState(9);
    pub const CLIENT_PERSIST_WAIT: SockState = SockState(10);
    pub const CLIENT_READING_HEADERS: SockState = SockState(11);
    pub const CLIENT_WAIT_BACKEND: SockState = SockState(12);
    pub const CLIENT_WAIT_RES: SockState = SockState(13);
    pub const CLIENT_XFER_RES: SockState = SockState(14);
}

/// Live sockets by (class, state): atomic counters, so the hot path takes
/// no lock to move a socket between states, split in [`SHARDS`] shards on
/// cache lines of their own: each thread moves its sockets in its own
/// shard (a request moves its client and backend through ten states),
/// so runtime threads do not pass the same lines back and forth; a read
/// adds the shards up (a socket may enter a state in one shard and leave
/// it in another: the sum is what counts).
#[derive(Debug, Default)]
pub(crate) struct StateCounts([Shard; SHARDS]);

/// How many ways [`StateCounts`] is split.
const SHARDS: usize = 8;

/// One shard of [`StateCounts`], alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard([AtomicI64; SOCK_STATES.len()]);

/// Gives each thread its shard, in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard of every [`StateCounts`].
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

impl StateCounts {
    fn add(&self, s: SockState, n: i64) {
        let shard = MY_SHARD.try_with(|i| *i).unwrap_or(0);
        if let Some(c) = self.0.get(shard).and_then(|sh| sh.0.get(s.0)) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// ((class, state), count) for every state, in `SOCK_STATES` order.
    pub fn iter(&self) -> impl Iterator<Item = ((&'static str, &'static str), i64)> + '_ {
        SOCK_STATES.iter().enumerate().map(|(i, k)| {
            let n = self
                .0
                .iter()
                .filter_map(|sh| sh.0.get(i))
                .map(|c| c.load(Ordering::Relaxed))
                .sum();
            (*k, n)
        })
    }
}

/// One open client or backend socket, as `SOCKS` lists it.
#[derive(Debug)]
pub(crate) struct SockEntry {
    pub fd: i32,
    /// When it opened (seconds, [`super::now`]).
    pub created: u64,
    /// Who is at the other end and for which service.
    pub desc: String,
    /// Its [`SockState`] index now.
    state: AtomicUsize,
}

impl SockEntry {
    /// Its (class, state) now.
    pub fn class_state(&self) -> (&'static str, &'static str) {
        SOCK_STATES
            .get(self.state.load(Ordering::Relaxed))
            .copied()
            .unwrap_or(("?", "?"))
    }
}

/// Counts a socket under its state while it lives there, in the
/// process's counts and in its service's (`STATES svc`), and lists it
/// (`SOCKS`).
pub(crate) struct StateGuard {
    shared: Arc<Shared>,
    service: Arc<StateCounts>,
    state: SockState,
    id: u64,
    entry: Arc<SockEntry>,
}

impl StateGuard {
    /// `fd` and `desc` are what `SOCKS` shows of it.
    pub fn new(
        shared: &Arc<Shared>,
        service: &Arc<StateCounts>,
        state: SockState,
        fd: i32,
        desc: String,
    ) -> Self {
        shared.states.add(state, 1);
        service.add(state, 1);
        let entry = Arc::new(SockEntry {
            fd,
            created: super::now() as u64,
            desc,
            state: AtomicUsize::new(state.0),
        });
        let id = shared.sock_ids.fetch_add(1, Ordering::Relaxed);
        lock(&shared.socks).insert(id, entry.clone());
        StateGuard {
            shared: shared.clone(),
            service: service.clone(),
            state,
            id,
            entry,
        }
    }

    /// Moves the socket to another state.
    pub fn set(&mut self, state: SockState) {
        if self.state == state {
            return;
        }
        self.shared.states.add(self.state, -1);
        self.service.add(self.state, -1);
        self.state = state;
        self.shared.states.add(state, 1);
        self.service.add(state, 1);
        self.entry.state.store(state.0, Ordering::Relaxed);
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        self.shared.states.add(self.state, -1);
        self.service.add(self.state, -1);
        lock(&self.shared.socks).remove(&self.id);
    }
}

/// Counts a backend connection under its node while it is open,
/// connecting included (`BACKENDS`).
pub(crate) struct NodeGuard {
    shared: Arc<Shared>,
    node: SocketAddr,
}

impl NodeGuard {
    fn new(shared: &Arc<Shared>, node: SocketAddr) -> Self {
        *lock(&shared.backends).entry(node).or_default() += 1;
        NodeGuard {
            shared: shared.clone(),
            node,
        }
    }
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let mut all = lock(&self.shared.backends);
        if let Some(n) = all.get_mut(&self.node) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                all.remove(&self.node);
            }
        }
    }
}

/// A connected (and, if asked, verified) backend.
pub(crate) struct Backend {
    pub stream: TcpStream,
    pub node: SocketAddr,
    pub uses: u64,
    pub state: StateGuard,
    /// The thread it was opened on: under the per-thread layout its socket
    /// is that thread's runtime's, so clients there are served it first.
    pub home: std::thread::ThreadId,
    /// Counted under its node while open.
    _counted: NodeGuard,
}

impl Backend {
    /// The backend, its socket moved to this thread's runtime when it
    /// was opened on another one (under the per-thread layout; a no-op
    /// otherwise). Until moved, each of its events would be taken by its
    /// home thread's runtime and passed on here: a wake-up of that
    /// thread per read. Moving costs two `epoll_ctl` calls once, and the
    /// connection stays here for its next clients. `Err`: it could not be
    /// moved, and is closed.
    pub fn here(self) -> std::io::Result<Backend> {
        if danga_common::launch::workers().is_empty() {
            return Ok(self);
        }
        self.moved_here()
    }

    /// [`Backend::here`] whatever the layout: the socket is registered
    /// with the current runtime's reactor unless it was opened on this
    /// thread.
    fn moved_here(self) -> std::io::Result<Backend> {
        let me = std::thread::current().id();
        if self.home == me {
            return Ok(self);
        }
        let Backend {
            stream,
            node,
            uses,
            state,
            home: _,
            _counted,
        } = self;
        // Out of the home runtime's reactor (non-blocking still), into ours.
        let stream = TcpStream::from_std(stream.into_std()?)?;
        Ok(Backend {
            stream,
            node,
            uses,
            state,
            home: me,
            _counted,
        })
    }

    /// Whether the backend closed it (or sent something unasked) while
    /// it sat idle; such a connection is not handed out.
    pub fn is_stale(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// Why connecting or verifying failed.
pub(crate) enum ConnectError {
    /// Refused, unreachable or timed out: the node is skipped for a while.
    Dead,
    /// The OPTIONS reply would not keep the connection: use the node
    /// unverified.
    NoKeepAlive,
}

/// Reads a response head from `stream` into `buf`; returns it and its length.
pub(crate) async fn read_head(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<Option<(ResponseHead, usize)>> {
    loop {
        match parse_response(buf) {
            Ok(Some(done)) => return Ok(Some(done)),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// Connects to `node` and verifies it when `verify` names a path.
pub(crate) async fn connect(
    shared: &Arc<Shared>,
    (service_name, service): (&str, &Arc<StateCounts>),
    node: SocketAddr,
    verify: Option<&str>,
) -> Result<Backend, ConnectError> {
    let counted = NodeGuard::new(shared, node);
    let socket = if node.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    let socket = match socket {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%node, error = %e, "cannot create a backend socket");
            return Err(ConnectError::Dead);
        }
    };
    // Counted (and listed) from the connect on, as 1.80's `connecting`.
    let desc = format!("open to {node} for service '{service_name}'");
    let state = StateGuard::new(
        shared,
        service,
        SockState::BACKEND_CONNECTING,
        socket.as_raw_fd(),
        desc,
    );
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(node)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%node, error = %e, "backend connect failed");
            return Err(ConnectError::Dead);
        }
        Err(_) => return Err(ConnectError::Dead),
    };
    let _ = stream.set_nodelay(true);
    lock(&shared.nodes).connected(node, super::now());
    let mut be = Backend {
        stream,
        node,
        uses: 0,
        state,
        home: std::thread::current().id(),
        _counted: counted,
    };
    if let Some(path) = verify {
        be.state.set(SockState::BACKEND_VERIFYING);
        lock(&shared.nodes).verified(node);
        match tokio::time::timeout(CONNECT_TIMEOUT, verify_options(&mut be.stream, path)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(ConnectError::NoKeepAlive),
            Ok(Err(_)) | Err(_) => return Err(ConnectError::Dead),
        }
    }
    be.state.set(SockState::BACKEND_BORED);
    Ok(be)
}

/// Sends `OPTIONS path HTTP/1.0` and reads the reply; `Ok(true)` when the
/// backend will keep the connection.
async fn verify_options(stream: &mut TcpStream, path: &str) -> std::io::Result<bool> {
    let req = format!("OPTIONS {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(1024);
    let Some((head, used)) = read_head(stream, &mut buf).await? else {
        return Ok(false);
    };
    let _ = buf.split_to(used);
    match head.body(false) {
        Ok(BodyLength::Empty) => {}
        Ok(BodyLength::Length(n)) if n <= 64 * 1024 => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            while buf.len() < n {
                if stream.read_buf(&mut buf).await? == 0 {
                    return Ok(false);
                }
            }
            if buf.len() > n {
                return Ok(false);
            }
        }
        _ => return Ok(false),
    }
    Ok(head.keep_alive())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend opened on one thread's runtime serves on another's after
    /// the move, even once the first runtime is gone (its socket is no
    /// longer that runtime's).
    #[test]
    fn a_backend_moved_to_another_runtime_works_there_alone() {
        let server =
            super::super::Server::new(crate::Config::default(), danga_common::Shutdown::new());
        let shared = server.shared.clone();
        let counts = Arc::new(StateCounts::default());
        let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let node = peer.local_addr().expect("addr");
        let opened = std::thread::spawn({
            let (shared, counts) = (shared.clone(), counts.clone());
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let be = rt
                    .block_on(connect(&shared, ("svc", &counts), node, None))
                    .ok()
                    .expect("connects");
                // This runtime ends with its thread.
                (be, std::thread::current().id())
            }
        });
        let (be, home) = opened.join().expect("thread");
        assert_eq!(be.home, home);
        let (mut theirs, _) = peer.accept().expect("accept");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut be = be.moved_here().expect("moves");
            assert_eq!(be.home, std::thread::current().id());
            be.stream.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            std::io::Read::read_exact(&mut theirs, &mut got).expect("peer reads");
            assert_eq!(&got, b"ping");
            std::io::Write::write_all(&mut theirs, b"pong").expect("peer writes");
            let mut back = [0u8; 4];
            let read =
                tokio::time::timeout(Duration::from_secs(5), be.stream.read_exact(&mut back));
            read.await.expect("in time").expect("read");
            assert_eq!(&back, b"pong");
        });
        assert_eq!(
            counts.iter().map(|(_, n)| n).sum::<i64>(),
            0,
            "the guards counted it out when it closed"
        );
    }

    #[test]
    fn state_counts_add_up_across_threads() {
        let counts = Arc::new(StateCounts::default());
        // Sockets enter a state on some threads and leave it on others.
        let threads: Vec<_> = (0..12)
            .map(|i| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        counts.add(SockState::CLIENT_XFER_RES, if i % 3 == 0 { -1 } else { 1 });
                        counts.add(SockState::BACKEND_BORED, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let got: Vec<_> = counts.iter().filter(|(_, n)| *n != 0).collect();
        assert_eq!(
            got,
            vec![
                (SOCK_STATES[SockState::BACKEND_BORED.0], 1200),
                (SOCK_STATES[SockState::CLIENT_XFER_RES.0], 400),
            ]
        );
    }
}
