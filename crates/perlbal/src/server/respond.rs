//! The one writer of the answers perlbal makes itself from files or bytes
//! (web_server GETs, concatenations, PUT/DELETE, Palimg, the plugins'
//! early answers): a head from [`super::reply`], then nothing (a HEAD
//! request, a 304, a 416), bytes, or file parts sent with `sendfile(2)`
//! ([`super::sendfile`]) — read and written here through TLS — corked so
//! the head and the first body bytes share packets.

use std::fs::File;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::conn::{write_idle, ClientConn, ClientStream};
use super::reply::{simple, Head};
use super::sendfile::{send_file, Sock};
use super::settings::Settings;
use crate::core::route;
use crate::proto::http::RequestHead;

/// Why an answer could not be completed: the connection closes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplyError {
    /// The client could not be written to (gone, or it took nothing for
    /// `idle_timeout`), or a file ended before its Content-Length.
    #[error("writing to the client: {0}")]
    Write(#[from] std::io::Error),
    /// The request's body could not be read (the client left or went
    /// quiet, or its chunks were bad or too large).
    #[error("reading the request body: {0:?}")]
    Body(super::body::BodyError),
    /// A chunked PUT went past `max_put_size`.
    #[error("a chunked PUT went past max_put_size")]
    TooLarge,
    /// The service is not (any more) a web_server.
    #[error("not a web_server")]
    NotWeb,
    /// The blocking task reading a file was lost.
    #[error("reading a file: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// `Ok(keep-alive)` or why not.
pub(crate) type Replied = Result<bool, ReplyError>;

/// What follows a head.
pub(crate) enum Body<'a> {
    /// Nothing (also what a HEAD request gets in any case).
    Empty,
    /// These bytes.
    Bytes(&'a [u8]),
    /// These bytes, then parts of files: (file, offset, length).
    Files(&'a [u8], Vec<(File, u64, u64)>),
}

/// An answer to one request on a client connection.
pub(crate) struct Reply<'c> {
    conn: &'c mut ClientConn,
    /// A HEAD request: the head alone goes out.
    pub head_req: bool,
    /// The keep-alive the answer offers (`None`: `Connection: close`).
    pub keep: Option<u64>,
    /// `server_tokens`.
    pub tokens: bool,
    /// `idle_timeout`: how long the client may take nothing.
    idle: Duration,
}

impl<'c> Reply<'c> {
    pub(crate) fn new(
        conn: &'c mut ClientConn,
        req: &RequestHead,
        s: &Settings,
        keep: Option<u64>,
    ) -> Reply<'c> {
        Reply {
            conn,
            head_req: req.method == "HEAD",
            keep,
            tokens: s.server_tokens,
            idle: s.idle_timeout,
        }
    }

    /// Writes a complete response made elsewhere.
    pub(crate) async fn raw(&mut self, out: &[u8]) -> Replied {
        self.conn.stream().write_all(out).await?;
        Ok(self.keep.is_some())
    }

    /// 1.80's `_simple_response(code, msg)` ([`simple`]).
    pub(crate) async fn simple(&mut self, code: u16, msg: &str) -> Replied {
        let out = simple(code, msg, self.head_req, self.keep, self.tokens);
        self.raw(&out).await
    }

    /// `head` with the connection lines, then `body` (none for HEAD).
    pub(crate) async fn send(&mut self, head: Head, body: Body<'_>) -> Replied {
        let mut out = head.finish(self.keep);
        match body {
            _ if self.head_req => {}
            Body::Empty => {}
            Body::Bytes(b) => out.extend_from_slice(b),
            Body::Files(prefix, parts) => {
                out.extend_from_slice(prefix);
                write_with_files(self.conn, &out, &parts, self.idle).await?;
                return Ok(self.keep.is_some());
            }
        }
        self.raw(&out).await
    }
}

/// The keep-alive of a request whose body (if any) this server does not
/// read: kept only without one.
pub(crate) fn keep_for(req: &RequestHead, s: &Settings) -> Option<u64> {
    route::keep_alive(req, s.persist_client, s.persist_idle_timeout)
}

/// Writes `head`, then the file parts (file, offset, length), corked so
/// the head and the first bytes of the body share packets; a client that
/// takes nothing for `idle` is dropped.
pub(crate) async fn write_with_files(
    conn: &mut ClientConn,
    head: &[u8],
    parts: &[(File, u64, u64)],
    idle: Duration,
) -> Result<(), ReplyError> {
    let cork = |st: &ClientStream, on: bool| {
        if let Some(t) = st.tcp() {
            let _ = socket2::SockRef::from(t).set_tcp_cork(on);
        }
    };
    cork(conn.stream(), true);
    let result = async {
        tokio::time::timeout(idle, conn.stream().write_all(head))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        for (file, start, len) in parts {
            match conn.stream().plain() {
                Some(plain) => send_file(Sock::from(plain), file, *start, *len, idle).await?,
                // Through TLS: read and encrypted here.
                None => copy_file(conn.stream(), file, *start, *len, idle).await?,
            }
        }
        std::io::Result::Ok(())
    }
    .await;
    cork(conn.stream(), false);
    result.map_err(|e| {
        tracing::debug!(error = %e, "sending a file");
        ReplyError::Write(e)
    })
}

/// Bytes read per step when a file goes out through TLS.
const COPY_WINDOW: u64 = 64 * 1024;

/// Sends `len` bytes of `file` from `start` by reading them (a TLS
/// client: no sendfile), a window at a time on the blocking pool; a
/// client that takes nothing for `idle` is dropped.
async fn copy_file(
    out: &mut ClientStream,
    file: &File,
    start: u64,
    len: u64,
    idle: Duration,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::sync::Arc::new(file.try_clone()?);
    let (mut off, end) = (start, start.saturating_add(len));
    while off < end {
        let want = usize::try_from((end - off).min(COPY_WINDOW)).unwrap_or(0);
        let f = file.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            let mut b = vec![0u8; want];
            let n = f.read_at(&mut b, off)?;
            b.truncate(n);
            std::io::Result::Ok(b)
        })
        .await
        .map_err(std::io::Error::other)??;
        if chunk.is_empty() {
            // Shorter than its Content-Length said: the connection closes.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        write_idle(out, &chunk, idle).await?;
        off += chunk.len() as u64;
    }
    Ok(())
}
