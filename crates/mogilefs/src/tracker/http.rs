//! The little HTTP the tracker speaks to storage nodes: `HEAD` to check an
//! upload's size or a replica before get_paths names it, `DELETE` to remove
//! a replica (both over the HTTP/1.1 keep-alive [`Pool`], so the commands
//! that make them cost no TCP handshake), and, one request per connection
//! as the original's tracker does (HTTP/1.0), `GET` of a small file
//! (`/devN/usage`, the monitor's test file), `PUT` of a small body (the
//! monitor's test write), and a `GET` streamed through a digest (checksum
//! verification when the side channel cannot be reached).

use std::time::Duration;

use md5::{Digest, Md5};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A storage node's answer: status and `Content-Length`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub length: Option<u64>,
}

/// The longest reply head read.
const MAX_HEAD: usize = 16 * 1024;

/// Splits `http://host:port/path` into `host:port` and `/path`.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let slash = rest.find('/')?;
    let (hostport, path) = rest.split_at(slash);
    (!hostport.is_empty()).then_some((hostport, path))
}

/// Sends `METHOD url` with optional extra headers and body; returns the
/// connection, the reply head and the body bytes read past it.
async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(TcpStream, Answer, Vec<u8>), HttpError> {
    let (hostport, path) = split_url(url).ok_or(HttpError::BadUrl)?;
    let mut s = TcpStream::connect(hostport).await?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut buf = Vec::with_capacity(512);
    loop {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut hdrs);
        if let Ok(httparse::Status::Complete(n)) = resp.parse(&buf) {
            let status = resp.code.ok_or(HttpError::BadReply)?;
            let length = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse().ok());
            let rest = buf.split_off(n);
            return Ok((s, Answer { status, length }, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::BadReply);
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Err(HttpError::BadReply);
        }
    }
}

/// Idle keep-alive connections per storage node (`host:port`), so the
/// HEAD that get_paths makes costs no TCP handshake.
#[derive(Debug, Default)]
pub struct Pool {
    idle: std::sync::Mutex<std::collections::HashMap<String, Vec<TcpStream>>>,
}

/// Idle connections kept per storage node.
const POOL_PER_NODE: usize = 16;

impl Pool {
    fn take(&self, hostport: &str) -> Option<TcpStream> {
        self.idle.lock().ok()?.get_mut(hostport)?.pop()
    }

    fn give(&self, hostport: &str, s: TcpStream) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(hostport.to_owned()).or_default();
            if list.len() < POOL_PER_NODE {
                list.push(s);
            }
        }
    }

    /// `HEAD url` over HTTP/1.1 keep-alive: a pooled connection if one is
    /// idle (once more on a fresh one if that fails: the node may have
    /// closed it), the connection pooled again when the node keeps it.
    pub async fn head(&self, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
        self.call("HEAD", url, timeout).await
    }

    /// A request without a body (`HEAD`, `DELETE`) as [`Pool::head`] sends
    /// it; a connection whose reply has a body is not kept.
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        timeout: Duration,
    ) -> Result<Answer, HttpError> {
        let (hostport, path) = split_url(url).ok_or(HttpError::BadUrl)?;
        let exchange = async {
            if let Some(s) = self.take(hostport) {
                if let Ok(a) = self.call_on(s, method, hostport, path).await {
                    return Ok(a);
                }
            }
            let s = TcpStream::connect(hostport).await?;
            self.call_on(s, method, hostport, path).await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout)?
    }

    async fn call_on(
        &self,
        mut s: TcpStream,
        method: &str,
        hostport: &str,
        path: &str,
    ) -> Result<Answer, HttpError> {
        s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\n\r\n").as_bytes())
            .await?;
        let mut buf = Vec::with_capacity(512);
        loop {
            let mut hdrs = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut hdrs);
            if let Ok(httparse::Status::Complete(n)) = resp.parse(&buf) {
                let status = resp.code.ok_or(HttpError::BadReply)?;
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                };
                let length = header("content-length").and_then(|v| v.trim().parse().ok());
                let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
                let bodiless = method == "HEAD" || status == 204 || length == Some(0);
                if resp.version == Some(1) && !close && n == buf.len() && bodiless {
                    self.give(hostport, s);
                }
                return Ok(Answer { status, length });
            }
            if buf.len() > MAX_HEAD || s.read_buf(&mut buf).await? == 0 {
                return Err(HttpError::BadReply);
            }
        }
    }
}

/// Sends `METHOD url` with no body and reads the reply head.
pub async fn request(method: &str, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
    let exchange = async { Ok(send(method, url, &[], b"").await?.1) };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// `GET url`: status and a body of at most `max` bytes.
pub async fn get(url: &str, max: usize, timeout: Duration) -> Result<(u16, Vec<u8>), HttpError> {
    let exchange = async {
        let (mut s, a, mut body) = send("GET", url, &[], b"").await?;
        let want = a.length.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if want.is_some_and(|n| n > max) {
            return Err(HttpError::TooLarge(max));
        }
        loop {
            if want.is_some_and(|n| body.len() >= n) {
                body.truncate(want.unwrap_or(body.len()));
                break;
            }
            if body.len() > max {
                return Err(HttpError::TooLarge(max));
            }
            if s.read_buf(&mut body).await? == 0 {
                break;
            }
        }
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
    let exchange = async { Ok(send("PUT", url, headers, body).await?.1.status) };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

/// Copies `src` (GET) to `dst` (PUT), streaming, as the replicator does:
/// the source must answer 200 with `length` bytes; each step may take
/// `timeout`. `content_md5` (base64) lets the destination check the body;
/// with `digest`, the bytes copied are hashed and their digest returned.
pub async fn copy(
    src: &str,
    dst: &str,
    length: u64,
    content_md5: Option<&str>,
    digest: Option<Alg>,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut hasher = digest.map(Hasher::new);
    let step = |what: &'static str| {
        move |_| HttpError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, what))
    };
    let (mut from, a, first) = tokio::time::timeout(timeout, send("GET", src, &[], b""))
        .await
        .map_err(step("source head"))??;
    if a.status != 200 || a.length != Some(length) {
        return Err(HttpError::BadReply);
    }
    let (hostport, path) = split_url(dst).ok_or(HttpError::BadUrl)?;
    let mut to = tokio::time::timeout(timeout, TcpStream::connect(hostport))
        .await
        .map_err(step("destination connect"))??;
    let mut head = format!(
        "PUT {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {length}\r\n"
    );
    if let Some(md5) = content_md5 {
        head.push_str(&format!("Content-MD5: {md5}\r\n"));
    }
    head.push_str("\r\n");
    let mut sent = first.len() as u64;
    if sent > length {
        return Err(HttpError::BadReply);
    }
    // Head and what came with the source's reply in one write: a small
    // file arrives whole at the node with its head.
    let mut out = head.into_bytes();
    out.extend_from_slice(&first);
    if let Some(h) = hasher.as_mut() {
        h.update(&first);
    }
    let write = to.write_all(&out);
    tokio::time::timeout(timeout, write)
        .await
        .map_err(step("destination write"))??;
    let mut chunk = vec![0u8; 64 * 1024];
    while sent < length {
        let n = tokio::time::timeout(timeout, from.read(&mut chunk))
            .await
            .map_err(step("source read"))??;
        if n == 0 {
            return Err(HttpError::BadReply);
        }
        let n = n.min(usize::try_from(length - sent).unwrap_or(n));
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk[..n]);
        }
        tokio::time::timeout(timeout, to.write_all(&chunk[..n]))
            .await
            .map_err(step("destination write"))??;
        sent += n as u64;
    }
    let mut reply = Vec::with_capacity(256);
    let status = tokio::time::timeout(timeout, async {
        loop {
            let mut hdrs = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut hdrs);
            if let Ok(httparse::Status::Complete(_)) = resp.parse(&reply) {
                return resp.code.ok_or(HttpError::BadReply);
            }
            if reply.len() > MAX_HEAD || to.read_buf(&mut reply).await? == 0 {
                return Err(HttpError::BadReply);
            }
        }
    })
    .await
    .map_err(step("destination reply"))??;
    if (200..300).contains(&status) {
        Ok(hasher.map(Hasher::finish))
    } else {
        Err(HttpError::Status(status))
    }
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
        let (mut s, a, first) = send("GET", url, &[], b"").await?;
        if a.status != 200 {
            return Ok(None);
        }
        let (mut md5, mut sha1) = (Md5::new(), Sha1::new());
        let mut feed = |b: &[u8]| match alg {
            Alg::Md5 => md5.update(b),
            Alg::Sha1 => sha1.update(b),
        };
        let mut seen = first.len() as u64;
        feed(&first);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if a.length.is_some_and(|n| seen >= n) {
                break;
            }
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            feed(&chunk[..n]);
        }
        if a.length.is_some_and(|n| seen != n) {
            return Err(HttpError::BadReply);
        }
        Ok(Some(match alg {
            Alg::Md5 => md5.finalize().to_vec(),
            Alg::Sha1 => sha1.finalize().to_vec(),
        }))
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
