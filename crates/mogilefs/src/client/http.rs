//! HTTP to storage nodes (hyper, HTTP/1.1, one connection per transfer):
//! PUT a reader's bytes with a Content-Length (mogstored refuses chunked
//! uploads), GET a file into a writer.
//!
//! Transfers have no overall deadline (files can be large) but an idle
//! one: no byte moved for [`super::Options::http_idle`] ends them.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1;
use hyper::{header, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Error, Progress};

/// Bytes read from the source per body frame.
const CHUNK: usize = 256 * 1024;

/// `http://host[:port]/path` split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// `host:port` to connect to (port 80 if the URL has none).
    pub connect: String,
    /// The Host header: the authority as written.
    pub host: String,
    /// The path and query.
    pub path: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::Http {
            url: url.to_owned(),
            reason: why.to_owned(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host in URL"));
        }
        // A port is digits after the last colon outside IPv6 brackets.
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty()
                && !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !p.contains(']')
        });
        let connect = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Url {
            connect,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// The request body: up to `remaining` bytes of a shared reader.
struct ReaderBody<R> {
    src: Arc<tokio::sync::Mutex<R>>,
    remaining: u64,
    sent: u64,
    buf: BytesMut,
    moved: Arc<AtomicU64>,
    progress: Option<Progress>,
}

impl<R: AsyncRead + Unpin + Send + 'static> Body for ReaderBody<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        // The store call holds the lock only between transfers.
        let Ok(mut src) = this.src.try_lock() else {
            return Poll::Ready(Some(Err(io::Error::other("upload source is busy"))));
        };
        let want = this.remaining.min(CHUNK as u64);
        this.buf.reserve(usize::try_from(want).unwrap_or(CHUNK));
        let mut limited = (&mut *src).take(want);
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut limited),
            cx,
            &mut this.buf
        ))?;
        if n == 0 {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("source ended {} bytes early", this.remaining),
            ))));
        }
        this.remaining -= n as u64;
        this.sent += n as u64;
        this.moved.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(p) = &this.progress {
            p(this.sent);
        }
        Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Connects and shakes hands (HTTP/1.1).
async fn open<B>(
    url: &Url,
    full: &str,
    timeout: Duration,
) -> Result<
    (
        http1::SendRequest<B>,
        http1::Connection<TokioIo<TcpStream>, B>,
    ),
    Error,
>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let fail = |reason: String| Error::Http {
        url: full.to_owned(),
        reason,
    };
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&url.connect)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(fail(format!("connect: {e}"))),
        Err(_) => return Err(fail("connect timed out".into())),
    };
    let _ = stream.set_nodelay(true);
    http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(chain(&e)))
}

/// Runs `work` while driving the connection `conn`; a connection that ends
/// first (the server closed after its reply) lets `work` finish with what
/// was read. Gives up when `moved` stays still for `idle`.
async fn drive<T, C>(
    url: &str,
    work: impl Future<Output = Result<T, Error>>,
    conn: C,
    moved: &AtomicU64,
    idle: Duration,
) -> Result<T, Error>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut work = pin!(work);
    let mut conn = pin!(conn);
    let mut conn_done = false;
    let mut last = moved.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            r = &mut work => return r,
            c = &mut conn, if !conn_done => {
                conn_done = true;
                if let Err(e) = c {
                    // The request future reports the same failure with more
                    // context; give it a moment to do so.
                    tracing::debug!(%url, error = %e, "storage connection ended");
                }
            }
            () = tokio::time::sleep(idle) => {
                let now = moved.load(Ordering::Relaxed);
                if now == last {
                    return Err(Error::Stalled { url: url.to_owned(), idle });
                }
                last = now;
            }
        }
    }
}

/// An error and its causes, `outer: inner: ...` (hyper keeps the reason a
/// body failed in the source chain).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

fn status_error(url: &str, status: StatusCode) -> Error {
    Error::Http {
        url: url.to_owned(),
        reason: format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
    }
}

/// PUTs `len` bytes of `src` (from where it stands) at `url`.
pub(crate) async fn put<R>(
    url: &str,
    src: &Arc<tokio::sync::Mutex<R>>,
    len: u64,
    progress: Option<Progress>,
    connect_timeout: Duration,
    idle: Duration,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let u = Url::parse(url)?;
    let moved = Arc::new(AtomicU64::new(0));
    let body = ReaderBody {
        src: Arc::clone(src),
        remaining: len,
        sent: 0,
        buf: BytesMut::new(),
        moved: Arc::clone(&moved),
        progress,
    };
    let req = Request::put(&u.path)
        .header(header::HOST, &u.host)
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .map_err(|e| Error::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let (mut send, conn) = open(&u, url, connect_timeout).await?;
    let work = async {
        let resp = send.send_request(req).await.map_err(|e| Error::Http {
            url: url.to_owned(),
            reason: chain(&e),
        })?;
        if !resp.status().is_success() {
            return Err(status_error(url, resp.status()));
        }
        Ok(())
    };
    drive(url, work, conn, &moved, idle).await
}

/// Why a GET failed, and whether the writer already got part of the body
/// (then another copy cannot simply be appended).
#[derive(Debug)]
pub(crate) struct GetError {
    pub wrote: bool,
    pub err: Error,
}

/// GETs `url` into `out`; returns the body length.
pub(crate) async fn get<W>(
    url: &str,
    out: &mut W,
    progress: Option<Progress>,
    connect_timeout: Duration,
    idle: Duration,
) -> Result<u64, GetError>
where
    W: AsyncWrite + Unpin,
{
    let before = |err| GetError { wrote: false, err };
    let u = Url::parse(url).map_err(before)?;
    let req = Request::get(&u.path)
        .header(header::HOST, &u.host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| {
            before(Error::Http {
                url: url.to_owned(),
                reason: e.to_string(),
            })
        })?;
    let (mut send, conn) = open(&u, url, connect_timeout).await.map_err(before)?;
    let moved = AtomicU64::new(0);
    let mut wrote = false;
    let work = async {
        let resp = send.send_request(req).await.map_err(|e| Error::Http {
            url: url.to_owned(),
            reason: chain(&e),
        })?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(url, resp.status()));
        }
        let mut body = resp.into_body();
        let mut got = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::Http {
                url: url.to_owned(),
                reason: format!("body: {}", chain(&e)),
            })?;
            if let Ok(data) = frame.into_data() {
                wrote = true;
                out.write_all(&data).await?;
                got += data.len() as u64;
                moved.fetch_add(data.len() as u64, Ordering::Relaxed);
                if let Some(p) = &progress {
                    p(got);
                }
            }
        }
        out.flush().await?;
        Ok(got)
    };
    let r = drive(url, work, conn, &moved, idle).await;
    r.map_err(|err| GetError { wrote, err })
}

/// GETs a small text document (a `/devN/usage` file, `/`): status and body,
/// at most `max` bytes.
pub(crate) async fn get_small(
    url: &str,
    max: usize,
    timeout: Duration,
) -> Result<(StatusCode, Vec<u8>), Error> {
    let u = Url::parse(url)?;
    let req = Request::get(&u.path)
        .header(header::HOST, &u.host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let all = async {
        let (mut send, conn) = open(&u, url, timeout).await?;
        let moved = AtomicU64::new(0);
        let work = async {
            let resp = send.send_request(req).await.map_err(|e| Error::Http {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            let status = resp.status();
            let limited = http_body_util::Limited::new(resp.into_body(), max);
            let body = limited.collect().await.map_err(|e| Error::Http {
                url: url.to_owned(),
                reason: format!("body: {}", chain(&*e)),
            })?;
            Ok((status, body.to_bytes().to_vec()))
        };
        drive(url, work, conn, &moved, timeout).await
    };
    match tokio::time::timeout(timeout, all).await {
        Ok(r) => r,
        Err(_) => Err(Error::Http {
            url: url.to_owned(),
            reason: format!("no answer within {timeout:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn urls_split() {
        let u = Url::parse("http://127.0.0.1:7500/dev1/0/000/000/0000000001.fid").unwrap();
        assert_eq!(u.connect, "127.0.0.1:7500");
        assert_eq!(u.host, "127.0.0.1:7500");
        assert_eq!(u.path, "/dev1/0/000/000/0000000001.fid");
        let u = Url::parse("http://store.example").unwrap();
        assert_eq!(
            (u.connect.as_str(), u.path.as_str()),
            ("store.example:80", "/")
        );
        let u = Url::parse("http://[::1]:7500/x").unwrap();
        assert_eq!(u.connect, "[::1]:7500");
        let u = Url::parse("http://[::1]/x").unwrap();
        assert_eq!(u.connect, "[::1]:80");
        assert!(Url::parse("https://x/").is_err());
        assert!(Url::parse("http:///x").is_err());
    }
}
