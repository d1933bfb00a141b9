//! HTTP to storage nodes (the crate's one client, [`crate::nodehttp`], one
//! connection per transfer): PUT a reader's bytes with a Content-Length
//! (mogstored refuses chunked uploads), GET a file into a writer.
//!
//! Transfers have no overall deadline (files can be large) but an idle
//! one: no byte moved for [`super::Options::http_idle`] ends them.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Error, Progress};
use crate::nodehttp::{self, Conn, Fail, Url};

/// Bytes read from the source per write.
const CHUNK: usize = 64 * 1024;

/// Splits `url`, as this module's errors say it.
fn parse(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|why| Error::Http {
        url: url.to_owned(),
        reason: why.to_owned(),
    })
}

/// A failed exchange as this module's errors say it.
fn fail(url: &str, e: Fail) -> Error {
    match e {
        Fail::Stalled(idle) => Error::Stalled {
            url: url.to_owned(),
            idle,
        },
        e => Error::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        },
    }
}

/// `op` within `idle`, a stall otherwise.
async fn within<T>(
    url: &str,
    idle: Duration,
    op: impl Future<Output = io::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(idle, op).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(Error::Stalled {
            url: url.to_owned(),
            idle,
        }),
    }
}

fn status_error(url: &str, status: u16) -> Error {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    Error::Http {
        url: url.to_owned(),
        reason: format!("HTTP {status} {reason}").trim_end().to_owned(),
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
    let mut conn = Conn::open(&u, connect_timeout, idle, nodehttp::TRANSFER_BUF)
        .await
        .map_err(|e| fail(url, e.into()))?;
    let mut src = src.lock().await;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    let mut sending = conn
        .send_head("PUT", &u, &[], Some(len))
        .await
        .map_err(|e| fail(url, e))?;
    while sending && sent < len {
        let want = usize::try_from(len - sent).map_or(CHUNK, |l| l.min(CHUNK));
        let n = within(url, idle, src.read(&mut buf[..want])).await?;
        if n == 0 {
            return Err(Error::Http {
                url: url.to_owned(),
                reason: format!("source ended {} bytes early", len - sent),
            });
        }
        sending = conn.send(&buf[..n]).await.map_err(|e| fail(url, e))?;
        sent += n as u64;
        if let Some(p) = &progress {
            p(sent);
        }
    }
    let head = conn.read_head("PUT").await.map_err(|e| fail(url, e))?;
    if !(200..300).contains(&head.status) {
        return Err(status_error(url, head.status));
    }
    Ok(())
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
    let (head, mut conn) = nodehttp::request("GET", &u, &[], &[], connect_timeout, idle)
        .await
        .map_err(|e| before(fail(url, e)))?;
    if head.status != 200 {
        return Err(before(status_error(url, head.status)));
    }
    let mut wrote = false;
    let mut got = 0u64;
    let r = async {
        loop {
            let data = match conn.chunk().await {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(Fail::Stalled(idle)) => return Err(fail(url, Fail::Stalled(idle))),
                Err(e) => {
                    return Err(Error::Http {
                        url: url.to_owned(),
                        reason: format!("body: {e}"),
                    })
                }
            };
            wrote = true;
            within(url, idle, out.write_all(data)).await?;
            got += data.len() as u64;
            if let Some(p) = &progress {
                p(got);
            }
        }
        within(url, idle, out.flush()).await?;
        Ok(got)
    }
    .await;
    r.map_err(|err| GetError { wrote, err })
}

/// GETs a small text document (a `/devN/usage` file, `/`): status and body,
/// at most `max` bytes.
pub(crate) async fn get_small(
    url: &str,
    max: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), Error> {
    let u = parse(url)?;
    let all = async {
        let (head, mut conn) = nodehttp::request("GET", &u, &[], &[], timeout, timeout)
            .await
            .map_err(|e| fail(url, e))?;
        let body = conn.body(max).await.map_err(|e| Error::Http {
            url: url.to_owned(),
            reason: format!("body: {e}"),
        })?;
        Ok((head.status, body))
    };
    match tokio::time::timeout(timeout, all).await {
        Ok(r) => r,
        Err(_) => Err(Error::Http {
            url: url.to_owned(),
            reason: format!("no answer within {timeout:?}"),
        }),
    }
}
