//! One backend connection: connecting, the `verify_backend` OPTIONS
//! exchange, reading response heads, and the bookkeeping `BACKENDS` and
//! `STATES` show.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{lock, Shared};
use crate::proto::http::{parse_response, BodyLength, ResponseHead};

/// How long a connect or a verification may take (1.80's 15 s).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Counts a socket under (class, state) while it lives there.
pub(crate) struct StateGuard {
    shared: Arc<Shared>,
    key: (&'static str, &'static str),
}

impl StateGuard {
    pub fn new(shared: &Arc<Shared>, class: &'static str, state: &'static str) -> Self {
        *lock(&shared.states).entry((class, state)).or_default() += 1;
        StateGuard {
            shared: shared.clone(),
            key: (class, state),
        }
    }

    /// Moves the socket to another state.
    pub fn set(&mut self, state: &'static str) {
        if self.key.1 == state {
            return;
        }
        let mut m = lock(&self.shared.states);
        *m.entry(self.key).or_default() -= 1;
        self.key.1 = state;
        *m.entry(self.key).or_default() += 1;
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        *lock(&self.shared.states).entry(self.key).or_default() -= 1;
    }
}

/// A connected (and, if asked, verified) backend.
pub(crate) struct Backend {
    pub stream: TcpStream,
    pub node: SocketAddr,
    pub uses: u64,
    pub state: StateGuard,
}

impl Backend {
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
    node: SocketAddr,
    verify: Option<&str>,
) -> Result<Backend, ConnectError> {
    let state = StateGuard::new(shared, "Perlbal::BackendHTTP", "connecting");
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(node)).await {
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
    };
    if let Some(path) = verify {
        be.state.set("verifying_backend");
        lock(&shared.nodes).verified(node);
        match tokio::time::timeout(CONNECT_TIMEOUT, verify_options(&mut be.stream, path)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return Err(ConnectError::NoKeepAlive),
            Ok(Err(_)) | Err(_) => return Err(ConnectError::Dead),
        }
    }
    be.state.set("bored");
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
