//! The little HTTP the tracker speaks to storage nodes, over the crate's
//! one hyper client ([`crate::nodehttp`]): `HEAD` to check an upload's
//! size or a replica before get_paths names it, `DELETE` to remove a
//! replica (both over the keep-alive [`Pool`], so the commands that make
//! them cost no TCP handshake), and, one request per connection, `GET` of
//! a small file (`/devN/usage`, the monitor's test file), `PUT` of a small
//! body (the monitor's test write), the replicator's streamed copy (`GET`
//! piped into a `PUT`), and a `GET` streamed through a digest (checksum
//! verification when the side channel cannot be reached).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{header, Method};
use md5::{Digest, Md5};
use sha1::Sha1;

use crate::nodehttp::{self, chain, Head, OpenError, Url};

/// Why a storage node could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not an http://host:port/path URL")]
    BadUrl,
    #[error("timed out")]
    Timeout,
    #[error("bad reply")]
    BadReply,
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Node(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A storage node's answer: status and `Content-Length`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub length: Option<u64>,
}

impl From<Head> for Answer {
    fn from(h: Head) -> Answer {
        Answer {
            status: h.status,
            length: h.length,
        }
    }
}

/// Splits `http://host:port/path` into `host:port` and `/path`.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let slash = rest.find('/')?;
    let (hostport, path) = rest.split_at(slash);
    (!hostport.is_empty()).then_some((hostport, path))
}

/// `url` for a request, if it is `http://host:port/path`.
fn node_url(url: &str) -> Result<Url, HttpError> {
    split_url(url).ok_or(HttpError::BadUrl)?;
    Url::parse(url).map_err(|_| HttpError::BadUrl)
}

/// Idle keep-alive connections per storage node (`host:port`), so the
/// HEAD that get_paths makes costs no TCP handshake.
#[derive(Debug, Default)]
pub struct Pool(nodehttp::Pool);

impl Pool {
    /// `HEAD url` over HTTP/1.1 keep-alive: a pooled connection if one is
    /// idle (once more on a fresh one if that fails: the node may have
    /// closed it), the connection pooled again when the node keeps it.
    pub async fn head(&self, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
        self.call("HEAD", url, timeout).await
    }

    /// A request without a body (`HEAD`, `DELETE`) as [`Pool::head`] sends
    /// it.
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<Answer, HttpError> {
        let u = node_url(url)?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::BadUrl)?;
        tokio::time::timeout(timeout, self.0.call(method, &u, timeout))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map(Answer::from)
            .map_err(HttpError::Node)
    }
}

/// Sends `method url` with extra `headers` and `body` on a connection of
/// its own (closed after the reply): the reply head and its body to read.
async fn once<B>(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: B,
    timeout: Duration,
) -> Result<(Answer, Incoming), HttpError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let u = node_url(url)?;
    let mut req = u.request(method).header(header::CONNECTION, "close");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body).map_err(|e| HttpError::Node(e.to_string()))?;
    let (mut send, conn) = nodehttp::open(&u, timeout)
        .await
        .map_err(|e| HttpError::Node(e.to_string()))?;
    tokio::spawn(async move {
        // Ends when the reply is read (or dropped); nothing to report.
        let _ = conn.await;
    });
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| HttpError::Node(chain(&e)))?;
    Ok((Head::of(&resp).into(), resp.into_body()))
}

/// Sends `METHOD url` with no body and reads the reply head.
pub async fn request(method: &str, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HttpError::BadUrl)?;
    let exchange = async {
        Ok(once(method, url, &[], Empty::<Bytes>::new(), timeout)
            .await?
            .0)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// `GET url`: status and a body of at most `max` bytes.
pub async fn get(url: &str, max: usize, timeout: Duration) -> Result<(u16, Vec<u8>), HttpError> {
    let exchange = async {
        let (a, body) = once(Method::GET, url, &[], Empty::<Bytes>::new(), timeout).await?;
        let want = a.length.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if want.is_some_and(|n| n > max) {
            return Err(HttpError::TooLarge(max));
        }
        let body = Limited::new(body, max).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpError::TooLarge(max)
            } else {
                HttpError::Node(chain(&*e))
            }
        })?;
        Ok((a.status, body.to_bytes().to_vec()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// `PUT url` with `body` and extra `headers`: the reply status.
pub async fn put(
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, HttpError> {
    let len = body.len().to_string();
    let mut all = headers.to_vec();
    all.push(("Content-Length", &len));
    let body = Full::new(Bytes::copy_from_slice(body));
    let exchange = async { Ok(once(Method::PUT, url, &all, body, timeout).await?.0.status) };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// The source's reply body as the destination's request body: exactly
/// `remaining` bytes, hashed and counted on the way.
struct Relay {
    src: Incoming,
    remaining: u64,
    hasher: Arc<Mutex<Option<Hasher>>>,
    moved: Arc<AtomicU64>,
}

impl Body for Relay {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.remaining == 0 {
                return Poll::Ready(None);
            }
            let Some(frame) = ready!(Pin::new(&mut this.src).poll_frame(cx)) else {
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("source ended {} bytes early", this.remaining),
                ))));
            };
            let frame = frame.map_err(|e| std::io::Error::other(chain(&e)))?;
            // Trailers have nothing to copy.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let n = data.len() as u64;
            if n > this.remaining {
                return Poll::Ready(Some(Err(std::io::Error::other("source sent too much"))));
            }
            this.remaining -= n;
            this.moved.fetch_add(n, Ordering::Relaxed);
            if let Ok(mut h) = this.hasher.lock() {
                if let Some(h) = h.as_mut() {
                    h.update(&data);
                }
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Copies `src` (GET) to `dst` (PUT), streaming, as the replicator does:
/// the source must answer 200 with `length` bytes; each step may take
/// `timeout` (no byte moving for that long ends the copy).
/// `content_md5` (base64) lets the destination check the body; with
/// `digest`, the bytes copied are hashed and their digest returned.
pub async fn copy(
    src: &str,
    dst: &str,
    length: u64,
    content_md5: Option<&str>,
    digest: Option<Alg>,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, HttpError> {
    let step =
        |what: &'static str| HttpError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, what));
    let (a, from) = tokio::time::timeout(
        timeout,
        once(Method::GET, src, &[], Empty::<Bytes>::new(), timeout),
    )
    .await
    .map_err(|_| step("source head"))??;
    if a.status != 200 || a.length != Some(length) {
        return Err(HttpError::BadReply);
    }
    let u = node_url(dst)?;
    let hasher = Arc::new(Mutex::new(digest.map(Hasher::new)));
    let moved = Arc::new(AtomicU64::new(0));
    let body = Relay {
        src: from,
        remaining: length,
        hasher: Arc::clone(&hasher),
        moved: Arc::clone(&moved),
    };
    let mut req = u
        .request(Method::PUT)
        .header(header::CONNECTION, "close")
        .header(header::CONTENT_LENGTH, length);
    if let Some(md5) = content_md5 {
        req = req.header("Content-MD5", md5);
    }
    let req = req.body(body).map_err(|e| HttpError::Node(e.to_string()))?;
    let (mut send, conn) = nodehttp::open(&u, timeout).await.map_err(|e| match e {
        OpenError::Timeout => step("destination connect"),
        e => HttpError::Node(e.to_string()),
    })?;
    let work = async {
        send.send_request(req)
            .await
            .map_err(|e| HttpError::Node(chain(&e)))
    };
    let resp = nodehttp::drive(dst, work, conn, &moved, timeout)
        .await
        .ok_or_else(|| step("copy stalled"))??;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    let h = hasher.lock().ok().and_then(|mut h| h.take());
    Ok(h.map(Hasher::finish))
}

/// A digest algorithm the tracker verifies (`hashtype` 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Md5,
    Sha1,
}

impl Alg {
    /// The class `hashtype` number.
    pub fn hashtype(self) -> i64 {
        match self {
            Alg::Md5 => 1,
            Alg::Sha1 => 2,
        }
    }

    /// From a `hashtype` number.
    pub fn from_hashtype(h: i64) -> Option<Alg> {
        match h {
            1 => Some(Alg::Md5),
            2 => Some(Alg::Sha1),
            _ => None,
        }
    }

    /// The name (`MD5`, `SHA-1`), as the protocol and the side channel say.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Md5 => "MD5",
            Alg::Sha1 => "SHA-1",
        }
    }

    /// From a name, as `MogileFS::Checksum` knows them.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "MD5" => Some(Alg::Md5),
            "SHA-1" => Some(Alg::Sha1),
            _ => None,
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Alg::Md5 => 16,
            Alg::Sha1 => 20,
        }
    }
}

/// A running digest of one [`Alg`].
pub enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
}

impl Hasher {
    /// An empty digest of `alg`.
    pub fn new(alg: Alg) -> Hasher {
        match alg {
            Alg::Md5 => Hasher::Md5(Md5::new()),
            Alg::Sha1 => Hasher::Sha1(Sha1::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(b),
            Hasher::Sha1(h) => h.update(b),
        }
    }

    /// The digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
        }
    }
}

/// The digest of the file at `url`, streamed (`None`: not a 200 reply).
pub async fn digest(url: &str, alg: Alg, timeout: Duration) -> Result<Option<Vec<u8>>, HttpError> {
    let exchange = async {
        let (a, mut body) = once(Method::GET, url, &[], Empty::<Bytes>::new(), timeout).await?;
        if a.status != 200 {
            return Ok(None);
        }
        let mut h = Hasher::new(alg);
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(HttpError::BadReply);
            };
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                h.update(&data);
            }
        }
        if a.length.is_some_and(|n| seen != n) {
            return Err(HttpError::BadReply);
        }
        Ok(Some(h.finish()))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:7500/dev1/0/000/000/0000000001.fid"),
            Some(("127.0.0.1:7500", "/dev1/0/000/000/0000000001.fid"))
        );
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(split_url("ftp://h/x"), None);
        assert_eq!(split_url("http://h"), None);
    }

    #[test]
    fn algs() {
        for alg in [Alg::Md5, Alg::Sha1] {
            assert_eq!(Alg::from_name(alg.name()), Some(alg));
            assert_eq!(Alg::from_hashtype(alg.hashtype()), Some(alg));
        }
        assert_eq!(Alg::from_name("md5"), None);
    }
}
