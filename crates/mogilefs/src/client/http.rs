//! HTTP to storage nodes (hyper, HTTP/1.1, one connection per transfer):
//! PUT a reader's bytes with a Content-Length (mogstored refuses chunked
//! uploads), GET a file into a writer.
//!
//! Transfers have no overall deadline (files can be large) but an idle
//! one: no byte moved for [`super::Options::http_idle`] ends them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Frame, SizeHint};
use hyper::{header, Request, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Error, Progress};
use crate::nodehttp::{self, chain, Conn, Url};

/// Bytes read from the source per body frame.
const CHUNK: usize = 256 * 1024;

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

/// Splits `url`, as this module's errors say it.
fn parse(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|why| Error::Http {
        url: url.to_owned(),
        reason: why.to_owned(),
    })
}

/// Connects and shakes hands (HTTP/1.1).
async fn open<B>(url: &Url, full: &str, timeout: Duration) -> Result<Conn<B>, Error>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    nodehttp::open(url, timeout).await.map_err(|e| Error::Http {
        url: full.to_owned(),
        reason: e.to_string(),
    })
}

/// Runs `work` while driving `conn`, giving up when `moved` stays still
/// for `idle` (see [`nodehttp::drive`]).
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
    nodehttp::drive(url, work, conn, moved, idle)
        .await
        .unwrap_or_else(|| {
            Err(Error::Stalled {
                url: url.to_owned(),
                idle,
            })
        })
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
    let u = parse(url)?;
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
    let u = parse(url).map_err(before)?;
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
    let u = parse(url)?;
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
