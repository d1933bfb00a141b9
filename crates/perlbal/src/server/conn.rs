//! A client connection as the client code sees it: plain TCP or TLS
//! (rustls over the same TCP socket), read and written directly through
//! one stream type. The connection holds its place under the acceptor's
//! limit until dropped.

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
use tokio_rustls::server::TlsStream;

/// The bytes of a client connection.
pub(crate) enum ClientStream {
    /// As accepted: TCP (or a unix socket).
    Plain(Stream),
    /// TLS, terminated here.
    Tls(Box<TlsStream<TcpStream>>),
}

impl ClientStream {
    /// The TCP socket underneath (none for a unix socket).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            ClientStream::Plain(Stream::Tcp(t)) => Some(t),
            ClientStream::Plain(Stream::Unix(_)) => None,
            ClientStream::Tls(t) => Some(t.get_ref().0),
        }
    }

    /// The plain socket, when bytes may go to it directly (sendfile):
    /// not through TLS.
    pub fn plain(&self) -> Option<&Stream> {
        match self {
            ClientStream::Plain(s) => Some(s),
            ClientStream::Tls(_) => None,
        }
    }

    fn raw_fd(&self) -> RawFd {
        match self {
            ClientStream::Plain(Stream::Tcp(t)) => t.as_raw_fd(),
            ClientStream::Plain(Stream::Unix(u)) => u.as_raw_fd(),
            ClientStream::Tls(t) => t.get_ref().0.as_raw_fd(),
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
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(t) => {
                // Records still held by rustls (the end of the last
                // response, written while the socket was full) go out
                // while the client is waited on: the task is woken when
                // the socket can take them.
                let _ = Pin::new(&mut **t).poll_flush(cx);
                Pin::new(&mut **t).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(t) => {
                let written = Pin::new(&mut **t).poll_write(cx, buf);
                if matches!(written, Poll::Ready(Ok(_))) {
                    // Push the records out now rather than at the next
                    // write; what the socket cannot take yet is flushed by
                    // the next read or write.
                    let _ = Pin::new(&mut **t).poll_flush(cx);
                }
                written
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(t) => Pin::new(&mut **t).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(t) => Pin::new(&mut **t).poll_shutdown(cx),
        }
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
            stream: ClientStream::Plain(stream),
            peer: match peer {
                PeerAddr::Tcp(a) => Some(a.ip()),
                PeerAddr::Unix => None,
            },
            id,
            _slot: slot,
        }
    }

    /// A connection whose TLS handshake is done.
    pub fn tls(stream: TlsStream<TcpStream>, peer: IpAddr, id: u64, slot: Slot) -> ClientConn {
        ClientConn {
            stream: ClientStream::Tls(Box::new(stream)),
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
        matches!(self.stream, ClientStream::Tls(_))
    }

    /// The socket's descriptor (`SOCKS`).
    pub fn raw_fd(&self) -> RawFd {
        self.stream.raw_fd()
    }

    /// Ends the connection: what is buffered (TLS records) and the
    /// close go out, for at most `idle` (a client that reads nothing
    /// cannot hold it).
    pub async fn close(&mut self, idle: Duration) {
        let _ = tokio::time::timeout(idle, self.stream.shutdown()).await;
    }
}
