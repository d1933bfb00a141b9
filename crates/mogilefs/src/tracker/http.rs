//! The little HTTP the tracker speaks to storage nodes, over the crate's
//! one HTTP/1.1 client ([`crate::nodehttp`]): `HEAD` to check an upload's
//! size or a replica before get_paths names it, `DELETE` to remove a
//! replica (both over the keep-alive [`Pool`], so the commands that make
//! them cost no TCP handshake), and, one request per connection, `GET` of
//! a small file (`/devN/usage`, the monitor's test file), `PUT` of a small
//! body (the monitor's test write), the replicator's streamed copy (`GET`
//! piped into a `PUT`), and a `GET` streamed through a digest (checksum
//! verification when the side channel cannot be reached).

use std::time::Duration;

use md5::{Digest, Md5};
use sha1::Sha1;

use crate::nodehttp::{self, Conn, Fail, Head, OpenError, Url};

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

impl From<Fail> for HttpError {
    fn from(e: Fail) -> HttpError {
        match e {
            Fail::Stalled(_) => HttpError::Timeout,
            e => HttpError::Node(e.to_string()),
        }
    }
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

/// `method` if it is an HTTP method token.
fn token(method: &str) -> Result<&str, HttpError> {
    let ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(method).ok_or(HttpError::BadUrl)
}

/// Asks a node to close the connection after its reply.
const CLOSE: (&str, &str) = ("Connection", "close");

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
        let method = token(method)?;
        tokio::time::timeout(timeout, self.0.call(method, &u, timeout))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map(Answer::from)
            .map_err(HttpError::from)
    }
}

/// Sends `method url` with extra `headers` and `body` on a connection of
/// its own (closed after the reply): the reply head and the connection to
/// read its body from. Each step may take `timeout`.
async fn once(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(Answer, Conn), HttpError> {
    let u = node_url(url)?;
    let mut all = Vec::with_capacity(headers.len() + 1);
    all.push(CLOSE);
    all.extend_from_slice(headers);
    let (head, conn) = nodehttp::request(method, &u, &all, body, timeout, timeout).await?;
    Ok((head.into(), conn))
}

/// Sends `METHOD url` with no body and reads the reply head.
pub async fn request(method: &str, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
    let method = token(method)?;
    let exchange = async { Ok(once(method, url, &[], &[], timeout).await?.0) };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// `GET url`: status and a body of at most `max` bytes.
pub async fn get(url: &str, max: usize, timeout: Duration) -> Result<(u16, Vec<u8>), HttpError> {
    let exchange = async {
        let (a, mut conn) = once("GET", url, &[], &[], timeout).await?;
        let want = a.length.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if want.is_some_and(|n| n > max) {
            return Err(HttpError::TooLarge(max));
        }
        let body = conn.body(max).await.map_err(|e| match e {
            Fail::TooLarge(_) => HttpError::TooLarge(max),
            e => HttpError::from(e),
        })?;
        Ok((a.status, body))
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
    let exchange = async { Ok(once("PUT", url, headers, body, timeout).await?.0.status) };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
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
    let moving = |e: Fail| match e {
        Fail::Stalled(_) => step("copy stalled"),
        e => HttpError::Node(e.to_string()),
    };
    let (a, mut from) = tokio::time::timeout(timeout, once("GET", src, &[], &[], timeout))
        .await
        .map_err(|_| step("source head"))??;
    if a.status != 200 || a.length != Some(length) {
        return Err(HttpError::BadReply);
    }
    let u = node_url(dst)?;
    let mut to = Conn::open(&u, timeout, timeout, nodehttp::TRANSFER_BUF)
        .await
        .map_err(|e| match e {
            OpenError::Timeout => step("destination connect"),
            e => HttpError::Node(e.to_string()),
        })?;
    let mut headers = vec![CLOSE];
    if let Some(md5) = content_md5 {
        headers.push(("Content-MD5", md5));
    }
    let mut hasher = digest.map(Hasher::new);
    let mut sending = to
        .send_head("PUT", &u, &headers, Some(length))
        .await
        .map_err(moving)?;
    let mut remaining = length;
    while sending && remaining > 0 {
        let Some(data) = from.chunk().await.map_err(moving)? else {
            return Err(HttpError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("source ended {remaining} bytes early"),
            )));
        };
        let n = data.len() as u64;
        if n > remaining {
            return Err(HttpError::Io(std::io::Error::other("source sent too much")));
        }
        remaining -= n;
        if let Some(h) = hasher.as_mut() {
            h.update(data);
        }
        sending = to.send(data).await.map_err(moving)?;
    }
    let status = to.read_head("PUT").await.map_err(moving)?.status;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    if remaining > 0 {
        // The destination answered before it had the whole body.
        return Err(HttpError::BadReply);
    }
    Ok(hasher.map(Hasher::finish))
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
        let (a, mut conn) = once("GET", url, &[], &[], timeout).await?;
        if a.status != 200 {
            return Ok(None);
        }
        let mut h = Hasher::new(alg);
        let mut seen = 0u64;
        loop {
            match conn.chunk().await {
                Ok(Some(data)) => {
                    seen += data.len() as u64;
                    h.update(data);
                }
                Ok(None) => break,
                Err(Fail::Stalled(_)) => return Err(HttpError::Timeout),
                Err(_) => return Err(HttpError::BadReply),
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
