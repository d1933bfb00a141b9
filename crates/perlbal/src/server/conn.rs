//! A client connection as the client code sees it: plain TCP or TLS
//! (rustls over the same TCP socket), read and written directly through
//! one stream type. The connection holds its place under the acceptor's
//! limit until dropped.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use danga_common::accept::Slot;
use danga_common::{Conn, PeerAddr, Stream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

/// The socket underneath a [`ClientStream`].
enum Inner {
    /// As accepted: TCP (or a unix socket).
    Plain(Stream),
    /// TLS, terminated here.
    Tls(Box<TlsStream<TcpStream>>),
}

/// The bytes of a client connection. Every write (flush, close) is
/// bounded: one the client takes no byte of for the idle time fails with
/// `TimedOut` (1.80's rule: a client is closed idle_timeout after its
/// last successful write), so no reply, however small, can hold a
/// connection whose client stopped reading.
pub(crate) struct ClientStream {
    inner: Inner,
    idle: Duration,
    /// Since when a write has been waiting for the client.
    stalled: Option<Pin<Box<Sleep>>>,
}

/// The idle time before the service's settings set it (1.80's default
/// idle_timeout).
const DEFAULT_IDLE: Duration = Duration::from_secs(30);

impl ClientStream {
    fn new(inner: Inner, idle: Duration) -> ClientStream {
        ClientStream {
            inner,
            idle,
            stalled: None,
        }
    }

    /// The TCP socket underneath (none for a unix socket).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match &self.inner {
            Inner::Plain(Stream::Tcp(t)) => Some(t),
            Inner::Plain(Stream::Unix(_)) => None,
            Inner::Tls(t) => Some(t.get_ref().0),
        }
    }

    /// The plain socket, when bytes may go to it directly (sendfile):
    /// not through TLS.
    pub fn plain(&self) -> Option<&Stream> {
        match &self.inner {
            Inner::Plain(s) => Some(s),
            Inner::Tls(_) => None,
        }
    }

    fn raw_fd(&self) -> RawFd {
        match &self.inner {
            Inner::Plain(Stream::Tcp(t)) => t.as_raw_fd(),
            Inner::Plain(Stream::Unix(u)) => u.as_raw_fd(),
            Inner::Tls(t) => t.get_ref().0.as_raw_fd(),
        }
    }

    /// A write step's result: progress disarms the stall timer; waiting
    /// arms it, and fails once the client has taken nothing for `idle`.
    fn bounded<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let idle = self.idle;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled = None;
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

// Every inner stream is `Unpin`: forwarding needs no unsafe pinning.
impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let r = match &mut me.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(t) => {
                // Records still held by rustls (the end of the last
                // response, written while the socket was full) go out
                // while the client is waited on: the task is woken when
                // the socket can take them.
                let _ = Pin::new(&mut **t).poll_flush(cx);
                Pin::new(&mut **t).poll_read(cx, buf)
            }
        };
        if r.is_ready() {
            // A client heard from is alive (1.80 counted reads too): a
            // write given up earlier does not start the next one's clock.
            me.stalled = None;
        }
        r
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        let r = match &mut me.inner {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(t) => {
                let written = Pin::new(&mut **t).poll_write(cx, buf);
                if matches!(written, Poll::Ready(Ok(_))) {
                    // Push the records out now rather than at the next
                    // write; what the socket cannot take yet is flushed by
                    // the next read or write.
                    let _ = Pin::new(&mut **t).poll_flush(cx);
                }
                written
            }
        };
        me.bounded(cx, r)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let r = match &mut me.inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(t) => Pin::new(&mut **t).poll_flush(cx),
        };
        me.bounded(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let r = match &mut me.inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(t) => Pin::new(&mut **t).poll_shutdown(cx),
        };
        me.bounded(cx, r)
    }
}

/// One client connection: its stream, who it is, and its slot.
pub(crate) struct ClientConn {
    stream: ClientStream,
    peer: Option<IpAddr>,
    id: u64,
    _slot: Slot,
}

impl ClientConn {
    /// A connection served as accepted.
    pub fn plain(conn: Conn) -> ClientConn {
        let (peer, id) = (conn.peer(), conn.id());
        let (stream, slot) = conn.into_parts();
        ClientConn {
            stream: ClientStream::new(Inner::Plain(stream), DEFAULT_IDLE),
            peer: match peer {
                PeerAddr::Tcp(a) => Some(a.ip()),
                PeerAddr::Unix => None,
            },
            id,
            _slot: slot,
        }
    }

    /// A connection whose TLS handshake is done; `idle` bounds its writes
    /// until [`ClientConn::set_idle`].
    pub fn tls(
        stream: TlsStream<TcpStream>,
        (peer, id): (IpAddr, u64),
        slot: Slot,
        idle: Duration,
    ) -> ClientConn {
        ClientConn {
            stream: ClientStream::new(Inner::Tls(Box::new(stream)), idle),
            peer: Some(peer),
            id,
            _slot: slot,
        }
    }

    /// The stream to read and write.
    pub fn stream(&mut self) -> &mut ClientStream {
        &mut self.stream
    }

    /// The client's address (none on a unix socket).
    pub fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    /// A number unique within this process, for spool file names.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the client came through TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream.inner, Inner::Tls(_))
    }

    /// How long a write may wait for the client to take a byte (the
    /// service's idle_timeout).
    pub fn set_idle(&mut self, idle: Duration) {
        self.stream.idle = idle;
    }

    /// The socket's descriptor (`SOCKS`).
    pub fn raw_fd(&self) -> RawFd {
        self.stream.raw_fd()
    }

    /// Ends the connection: what is buffered (TLS records) and the
    /// close go out, for at most `idle` (a client that reads nothing
    /// cannot hold it).
    pub async fn close(&mut self, idle: Duration) {
        self.set_idle(idle);
        let _ = self.stream.shutdown().await;
    }
}

/// Writes all of `bytes` to `w` (a client or a backend), giving up when
/// the peer takes none of them for `idle` (each partial write is
/// progress, as 1.80 counted it): then `TimedOut`.
pub(crate) async fn write_idle<W>(w: &mut W, mut bytes: &[u8], idle: Duration) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    while !bytes.is_empty() {
        // Most writes are taken at once: only one that waits gets a timer
        // (reading the clock and arming it cost more than the try).
        let at_once = std::future::poll_fn(|cx| match Pin::new(&mut *w).poll_write(cx, bytes) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Ready(None),
        });
        let written = match at_once.await {
            Some(r) => r,
            None => match tokio::time::timeout(idle, w.write(bytes)).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::debug!("peer took nothing for idle_timeout: closing");
                    return Err(io::ErrorKind::TimedOut.into());
                }
            },
        };
        match written {
            Ok(n) if n > 0 => bytes = &bytes[n..],
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_write_the_peer_takes_nothing_of_fails_after_the_idle_time() {
        let (ours, mut peer) = tokio::net::UnixStream::pair().expect("pair");
        let idle = Duration::from_millis(200);
        let mut s = ClientStream::new(Inner::Plain(Stream::Unix(ours)), idle);
        let chunk = vec![b'x'; 64 * 1024];
        // Fills the socket buffers, then waits on the peer: the write
        // fails with TimedOut about `idle` after it stopped moving.
        let started = tokio::time::Instant::now();
        let err = loop {
            if let Err(e) = s.write_all(&chunk).await {
                break e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "writes never blocked"
            );
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // A peer that reads lets writes go on (the timer is disarmed).
        let mut sink = vec![0u8; 1 << 20];
        let drained = tokio::spawn(async move {
            let mut total = 0;
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(500), peer.read(&mut sink)).await
            {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        });
        for _ in 0..8 {
            s.write_all(&chunk).await.expect("a reading peer takes it");
        }
        drop(s);
        assert!(drained.await.expect("reader") >= 8 * chunk.len());
    }
}
