//! The one HTTP client that speaks to storage nodes (HTTP/1.1, written
//! against the socket; reply heads parsed by `httparse`), for the client
//! library's transfers and the tracker's requests alike: URL splitting,
//! connecting with a deadline, request heads, reply heads, bodies framed
//! by `Content-Length`, `Transfer-Encoding: chunked` or the end of the
//! connection, and a keep-alive [`Pool`] for the small bodiless exchanges
//! the tracker makes often (`HEAD` before get_paths names a replica,
//! `DELETE` of a replica), so they cost no handshake.
//!
//! Hand-written rather than hyper: on the tracker's hot path (the `HEAD`
//! of every verified get_paths) it was measured cheaper (see
//! docs/compat/mogilefsd.md, "Internals").
//!
//! Every read and write waits at most the connection's idle time; a peer
//! cannot make it allocate without bound (a reply head is at most
//! [`MAX_HEAD`] bytes, bodies go through a fixed buffer).

#[cfg(feature = "tracker")]
use std::collections::HashMap;
use std::io;
#[cfg(feature = "tracker")]
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;

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
    /// Splits `url`; the error says what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<Url, &'static str> {
        let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err("no host in URL");
        }
        if authority
            .bytes()
            .chain(path.bytes())
            .any(|b| b <= b' ' || b == 0x7f)
        {
            return Err("space or control character in URL");
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

/// Why [`Conn::open`] found no connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect: {0}")]
    Connect(io::Error),
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fail {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("no progress for {0:?}")]
    Stalled(Duration),
    #[error("reply head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("bad reply: {0}")]
    BadReply(&'static str),
    #[error("connection closed before the reply")]
    NoReply,
    #[error("body ended {0} bytes early")]
    ShortBody(u64),
    #[error("body longer than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The longest reply head (and chunked trailer section) read.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// The longest chunk-size line read.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// Reply headers looked at, at most.
const MAX_HEADERS: usize = 64;

/// The read buffer of a pooled connection (grown for a long head only).
const SMALL_BUF: usize = 2 * 1024;

/// The read buffer of a transfer.
pub(crate) const TRANSFER_BUF: usize = 64 * 1024;

/// A reply head: status and `Content-Length`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    pub length: Option<u64>,
}

/// How the reply body in flight ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body, or it was read whole.
    Done,
    /// This many bytes are left.
    Length(u64),
    /// Chunked: the next thing is a chunk-size line.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk are left.
    ChunkData(u64),
    /// Chunked: the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked: the trailer section after the last chunk.
    Trailers,
    /// Until the peer closes.
    Close,
}

/// One connection to a storage node: the socket and a bounded read buffer
/// (`buf[start..end]` read but not yet used).
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    idle: Duration,
    framing: Framing,
    /// The reply allows another request on this connection.
    reusable: bool,
}

impl Conn {
    /// Connects to `url` within `connect_timeout`; each later read or
    /// write waits at most `idle`; `buf` bytes of read buffer.
    pub(crate) async fn open(
        url: &Url,
        connect_timeout: Duration,
        idle: Duration,
        buf: usize,
    ) -> Result<Conn, OpenError> {
        let stream =
            match tokio::time::timeout(connect_timeout, TcpStream::connect(&url.connect)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(OpenError::Connect(e)),
                Err(_) => return Err(OpenError::Timeout),
            };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: vec![0; buf.clamp(SMALL_BUF, MAX_HEAD)].into_boxed_slice(),
            start: 0,
            end: 0,
            idle,
            framing: Framing::Done,
            reusable: false,
        })
    }

    /// Writes a request head: `method`, the URL's path and Host, `headers`
    /// and, with `length`, a `Content-Length`. `false`: the peer spoke (or
    /// closed) first, see [`Conn::send`].
    pub(crate) async fn send_head(
        &mut self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        length: Option<u64>,
    ) -> Result<bool, Fail> {
        let mut head = String::with_capacity(64 + url.path.len() + url.host.len());
        head.push_str(method);
        head.push(' ');
        head.push_str(&url.path);
        head.push_str(" HTTP/1.1\r\nHost: ");
        head.push_str(&url.host);
        head.push_str("\r\n");
        for (k, v) in headers {
            if [k, v]
                .iter()
                .any(|s| s.bytes().any(|b| b == b'\r' || b == b'\n'))
            {
                return Err(Fail::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "line break in a request header",
                )));
            }
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        if let Some(n) = length {
            head.push_str("Content-Length: ");
            head.push_str(&n.to_string());
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        self.send(head.as_bytes()).await
    }

    /// Writes request bytes. `Ok(false)` when the peer spoke (or closed)
    /// before they were all written: a node refusing an upload early; the
    /// caller stops sending and reads the reply.
    pub(crate) async fn send(&mut self, mut data: &[u8]) -> Result<bool, Fail> {
        while !data.is_empty() {
            let ready = tokio::time::timeout(
                self.idle,
                self.stream.ready(Interest::READABLE | Interest::WRITABLE),
            )
            .await
            .map_err(|_| Fail::Stalled(self.idle))??;
            if ready.is_readable() || ready.is_read_closed() {
                // Readiness may be stale: the peer spoke only if a read
                // finds bytes or the end of the stream.
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                match self.stream.try_read(&mut self.buf[self.end..]) {
                    Ok(n) => {
                        self.end += n;
                        self.reusable = false;
                        return Ok(false);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if ready.is_writable() {
                match self.stream.try_write(data) {
                    Ok(n) => data = &data[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(true)
    }

    /// Reads more bytes into the buffer (moving what is left to its start,
    /// growing it up to `limit` when full); 0 at the end of the stream.
    async fn fill(&mut self, limit: usize) -> Result<usize, Fail> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= limit {
                return Err(Fail::HeadTooLarge);
            }
            let mut bigger = vec![0; (self.buf.len() * 2).min(limit)].into_boxed_slice();
            bigger[..self.end].copy_from_slice(&self.buf[..self.end]);
            self.buf = bigger;
        }
        let n = tokio::time::timeout(self.idle, self.stream.read(&mut self.buf[self.end..]))
            .await
            .map_err(|_| Fail::Stalled(self.idle))??;
        self.end += n;
        Ok(n)
    }

    /// Reads the reply head to a `method` request (interim `1xx` replies
    /// skipped) and sets up its body for [`Conn::chunk`].
    pub(crate) async fn read_head(&mut self, method: &str) -> Result<Head, Fail> {
        loop {
            let (used, status, framing, length, keep) = loop {
                let mut hdrs = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut hdrs);
                match resp.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = resp.code.ok_or(Fail::BadReply("no status"))?;
                        let (framing, length, keep) = framing(method, status, &resp)?;
                        break (n, status, framing, length, keep);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => {
                        return Err(Fail::BadReply("too many headers"))
                    }
                    Err(_) => return Err(Fail::BadReply("malformed head")),
                }
                if self.fill(MAX_HEAD).await? == 0 {
                    return Err(if self.end == self.start {
                        Fail::NoReply
                    } else {
                        Fail::BadReply("connection closed in the head")
                    });
                }
            };
            self.start += used;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            self.framing = framing;
            self.reusable = keep && framing != Framing::Close;
            return Ok(Head { status, length });
        }
    }

    /// The next piece of the reply body; `None` at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<&[u8]>, Fail> {
        loop {
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(0) => self.framing = Framing::Done,
                Framing::Length(left) => {
                    if self.start == self.end && self.fill(0).await? == 0 {
                        self.reusable = false;
                        return Err(Fail::ShortBody(left));
                    }
                    let n = take(left, self.end - self.start);
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(Some(self.consume(n)));
                }
                Framing::Close => {
                    if self.start == self.end && self.fill(0).await? == 0 {
                        self.framing = Framing::Done;
                        continue;
                    }
                    let n = self.end - self.start;
                    return Ok(Some(self.consume(n)));
                }
                Framing::ChunkSize => {
                    let line = self.line(MAX_CHUNK_LINE).await?;
                    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
                    let digits = std::str::from_utf8(digits)
                        .map_err(|_| Fail::BadReply("chunk size"))?
                        .trim();
                    let size = u64::from_str_radix(digits, 16)
                        .map_err(|_| Fail::BadReply("chunk size"))?;
                    self.framing = if size == 0 {
                        Framing::Trailers
                    } else {
                        Framing::ChunkData(size)
                    };
                }
                Framing::ChunkData(left) => {
                    if self.start == self.end && self.fill(0).await? == 0 {
                        self.reusable = false;
                        return Err(Fail::ShortBody(left));
                    }
                    let n = take(left, self.end - self.start);
                    self.framing = if n as u64 == left {
                        Framing::ChunkEnd
                    } else {
                        Framing::ChunkData(left - n as u64)
                    };
                    return Ok(Some(self.consume(n)));
                }
                Framing::ChunkEnd => {
                    if !self.line(2).await?.is_empty() {
                        return Err(Fail::BadReply("no CRLF after a chunk"));
                    }
                    self.framing = Framing::ChunkSize;
                }
                Framing::Trailers => {
                    let mut seen = 0;
                    loop {
                        let n = self.line(MAX_HEAD).await?.len();
                        if n == 0 {
                            break;
                        }
                        seen += n + 2;
                        if seen > MAX_HEAD {
                            return Err(Fail::HeadTooLarge);
                        }
                    }
                    self.framing = Framing::Done;
                }
            }
        }
    }

    #[cfg(feature = "tracker")]
    /// Reads the rest of the body, failing past `max` bytes.
    pub(crate) async fn drain(&mut self, max: u64) -> Result<(), Fail> {
        let mut seen = 0u64;
        while let Some(c) = self.chunk().await? {
            seen += c.len() as u64;
            if seen > max {
                self.reusable = false;
                return Err(Fail::TooLarge(max));
            }
        }
        Ok(())
    }

    /// Reads the rest of the body into memory: at most `max` bytes.
    pub(crate) async fn body(&mut self, max: usize) -> Result<Vec<u8>, Fail> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            if out.len() + c.len() > max {
                self.reusable = false;
                return Err(Fail::TooLarge(max as u64));
            }
            out.extend_from_slice(c);
        }
        Ok(out)
    }

    #[cfg(feature = "tracker")]
    /// Whether another request may follow on this connection: the reply
    /// said nothing against it, its body was read whole and nothing came
    /// after it.
    fn reusable(&self) -> bool {
        self.reusable && self.framing == Framing::Done && self.start == self.end
    }

    fn consume(&mut self, n: usize) -> &[u8] {
        let s = self.start;
        self.start += n;
        &self.buf[s..s + n]
    }

    /// One CRLF-ended line of at most `max` bytes, without its end.
    async fn line(&mut self, max: usize) -> Result<&[u8], Fail> {
        let mut searched = 0;
        loop {
            let have = &self.buf[self.start..self.end];
            if let Some(i) = have[searched..].windows(2).position(|w| w == b"\r\n") {
                let at = searched + i;
                let s = self.start;
                self.start += at + 2;
                return Ok(&self.buf[s..s + at]);
            }
            searched = have.len().saturating_sub(1);
            if have.len() > max + 2 {
                self.reusable = false;
                return Err(if max >= MAX_HEAD {
                    Fail::HeadTooLarge
                } else {
                    Fail::BadReply("line too long")
                });
            }
            if self.fill(MAX_HEAD).await? == 0 {
                self.reusable = false;
                return Err(Fail::BadReply("connection closed in chunked framing"));
            }
            // `fill` may move the unread bytes to the buffer's start.
            searched = searched.min(self.end - self.start);
        }
    }
}

/// `min(left, have)` as a buffer length.
fn take(left: u64, have: usize) -> usize {
    usize::try_from(left).map_or(have, |l| l.min(have))
}

/// The body's framing, its `Content-Length`, and whether the connection
/// may be kept (RFC 9112 section 6.3).
fn framing(
    method: &str,
    status: u16,
    resp: &httparse::Response<'_, '_>,
) -> Result<(Framing, Option<u64>, bool), Fail> {
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = resp.version != Some(1);
    for h in resp.headers.iter() {
        let value = || std::str::from_utf8(h.value).map_err(|_| Fail::BadReply("header value"));
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value()?
                .trim()
                .parse()
                .map_err(|_| Fail::BadReply("Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(Fail::BadReply("two Content-Lengths"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value()?.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value()?.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && resp.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    let bodiless =
        method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if bodiless {
        Framing::Done
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::ChunkSize,
            (Some(false), _) | (None, None) => Framing::Close,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    // A reply with both framings may be smuggling; do not reuse it.
    let keep = !(close || (chunked.is_some() && length.is_some()));
    Ok((framing, length, keep))
}

/// Sends `method url` with extra `headers` and `body` (a `Content-Length`
/// when there is one, or when the method is `PUT` or `POST`) on a
/// connection of its own and reads the reply head; the connection comes
/// back to read the body with [`Conn::chunk`].
pub(crate) async fn request(
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    connect_timeout: Duration,
    idle: Duration,
) -> Result<(Head, Conn), Fail> {
    let mut conn = Conn::open(url, connect_timeout, idle, TRANSFER_BUF).await?;
    let length =
        (!body.is_empty() || method == "PUT" || method == "POST").then_some(body.len() as u64);
    if conn.send_head(method, url, headers, length).await? {
        conn.send(body).await?;
    }
    let head = conn.read_head(method).await?;
    Ok((head, conn))
}

#[cfg(feature = "tracker")]
/// Idle connections kept per storage node.
const POOL_PER_NODE: usize = 16;

#[cfg(feature = "tracker")]
/// The longest reply body read to keep a connection (an error page).
const MAX_DRAIN: u64 = 64 * 1024;

#[cfg(feature = "tracker")]
/// Idle keep-alive connections per storage node (`host:port`).
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
}

#[cfg(feature = "tracker")]
impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self
            .idle
            .lock()
            .map(|m| m.values().map(Vec::len).sum::<usize>())
            .unwrap_or(0);
        f.debug_struct("Pool").field("idle", &idle).finish()
    }
}

#[cfg(feature = "tracker")]
impl Pool {
    fn take(&self, node: &str) -> Option<Conn> {
        self.idle.lock().ok()?.get_mut(node)?.pop()
    }

    fn give(&self, node: &str, c: Conn) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        // The node's key is allocated once, not per request.
        if let Some(list) = idle.get_mut(node) {
            if list.len() < POOL_PER_NODE {
                list.push(c);
            }
        } else {
            idle.insert(node.to_owned(), vec![c]);
        }
    }

    /// Sends a request without a body (`HEAD`, `DELETE`) and reads the
    /// reply: on an idle pooled connection if there is one (once more on a
    /// fresh one if that fails: the node may have closed it), the
    /// connection pooled again once its reply is read whole and neither
    /// side closes. Each read and write waits at most `timeout`; the
    /// caller sets a deadline for the whole call.
    pub(crate) async fn call(
        &self,
        method: &str,
        url: &Url,
        timeout: Duration,
    ) -> Result<Head, Fail> {
        if let Some(c) = self.take(&url.connect) {
            if let Ok(head) = self.exchange(c, method, url, true).await {
                return Ok(head);
            }
        }
        let c = Conn::open(url, timeout, timeout, SMALL_BUF).await?;
        self.exchange(c, method, url, false).await
    }

    /// One request on `c`; a `pooled` connection on which the node spoke
    /// (or closed) before the request went out is stale: whatever it said
    /// (a keep-alive timeout's `408`) is no answer to this request.
    async fn exchange(
        &self,
        mut c: Conn,
        method: &str,
        url: &Url,
        pooled: bool,
    ) -> Result<Head, Fail> {
        if !c.send_head(method, url, &[], None).await? && pooled {
            return Err(Fail::NoReply);
        }
        let head = c.read_head(method).await?;
        if c.drain(MAX_DRAIN).await.is_ok() && c.reusable() {
            self.give(&url.connect, c);
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::{request, Fail, Head, Pool, Url, MAX_HEAD};

    /// How the test node treats a connection after each reply.
    #[derive(Clone, Copy)]
    enum After {
        /// Keeps it open for the next request.
        Keep,
        /// Closes it without saying so (an idle keep-alive timeout).
        Close,
        /// Says `Connection: close` and closes it.
        SayClose,
        /// Sends an unasked `408` (an idle keep-alive timeout) and closes.
        Say408,
    }

    /// A storage node on loopback answering every request with `200`,
    /// `Content-Length: 5` and, to a `DELETE`, a 5-byte body; the count
    /// is of connections accepted.
    async fn node(after: After) -> (Url, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/dev1/x.fid", l.local_addr().unwrap())).unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepts);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 1024];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let body = if buf.starts_with(b"DELETE ") {
                            "gone\n"
                        } else {
                            ""
                        };
                        buf.drain(..end + 4);
                        let close = match after {
                            After::SayClose => "Connection: close\r\n",
                            _ => "",
                        };
                        let reply =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n{close}\r\n{body}");
                        if s.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        if matches!(after, After::Say408) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            let _ = s
                                .write_all(
                                    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
                                )
                                .await;
                        }
                        if !matches!(after, After::Keep) {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepts)
    }

    const HEAD_OK: Head = Head {
        status: 200,
        length: Some(5),
    };

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn pooled_connection_is_reused() {
        let (url, accepts) = node(After::Keep).await;
        let pool = Pool::default();
        for _ in 0..20 {
            let h = pool.call("HEAD", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
        }
        // A reply with a body is read whole and its connection kept too.
        for _ in 0..5 {
            let h = pool.call("DELETE", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn node_closing_idle_connection_fails_no_request() {
        let (url, accepts) = node(After::Close).await;
        let pool = Pool::default();
        for _ in 0..10 {
            let h = pool.call("HEAD", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
            // Let the node's close arrive while the connection is pooled.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 10);
        // Back to back too: a close racing the next request.
        for _ in 0..10 {
            let h = pool.call("HEAD", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn stale_pooled_connection_is_no_answer() {
        let (url, accepts) = node(After::Say408).await;
        let pool = Pool::default();
        for _ in 0..5 {
            let h = pool.call("HEAD", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn connection_close_is_not_pooled() {
        let (url, accepts) = node(After::SayClose).await;
        let pool = Pool::default();
        for _ in 0..5 {
            let h = pool.call("HEAD", &url, T).await;
            assert_eq!(h.ok(), Some(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 5);
        assert!(format!("{pool:?}").contains("idle: 0"));
    }

    /// A node that reads one request head, then writes `reply` in pieces
    /// of `piece` bytes and closes (or, with `hang`, keeps the connection
    /// open without a word more).
    async fn scripted(reply: Vec<u8>, piece: usize, hang: bool) -> Url {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/f", l.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut chunk = [0u8; 1024];
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            for p in reply.chunks(piece.max(1)) {
                if s.write_all(p).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if hang {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        });
        url
    }

    async fn get(url: &Url, idle: Duration) -> Result<(Head, Vec<u8>), Fail> {
        let (head, mut c) = request("GET", url, &[], &[], T, idle).await?;
        Ok((head, c.body(1 << 20).await?))
    }

    #[tokio::test]
    async fn content_length_body() {
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n".to_vec();
        reply.extend_from_slice(b"hello world");
        let url = scripted(reply, 7, false).await;
        let (head, body) = get(&url, T).await.unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                length: Some(11)
            }
        );
        assert_eq!(body, b"hello world");
    }

    #[tokio::test]
    async fn short_content_length_body_fails() {
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n".to_vec();
        reply.extend_from_slice(b"hello world");
        let url = scripted(reply, 100, false).await;
        assert!(matches!(get(&url, T).await, Err(Fail::ShortBody(9))));
    }

    #[tokio::test]
    async fn chunked_body() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\nhello\r\n1;ext=1\r\n \r\nA\r\nworld, all\r\n0\r\nX-Trailer: y\r\n\r\n"
            .to_vec();
        for piece in [1, 3, 1000] {
            let url = scripted(reply.clone(), piece, true).await;
            let (head, body) = get(&url, T).await.unwrap();
            assert_eq!(
                head,
                Head {
                    status: 200,
                    length: None
                }
            );
            assert_eq!(body, b"hello world, all");
        }
    }

    #[tokio::test]
    async fn bad_chunk_size_fails() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec();
        let url = scripted(reply, 100, true).await;
        assert!(matches!(get(&url, T).await, Err(Fail::BadReply(_))));
    }

    #[tokio::test]
    async fn close_delimited_body() {
        let mut reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        reply.extend_from_slice(&[7u8; 100_000]);
        let url = scripted(reply, 4096, false).await;
        let (head, body) = get(&url, T).await.unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                length: None
            }
        );
        assert_eq!(body, vec![7u8; 100_000]);
    }

    #[tokio::test]
    async fn head_too_large_fails() {
        // A head longer than MAX_HEAD (one long header).
        let mut reply = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        reply.resize(MAX_HEAD + 100, b'a');
        reply.extend_from_slice(b"\r\n");
        reply.extend_from_slice(b"\r\n");
        let url = scripted(reply, 8192, true).await;
        assert!(matches!(get(&url, T).await, Err(Fail::HeadTooLarge)));
        // More headers than are looked at.
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..100 {
            reply.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
        }
        reply.extend_from_slice(b"\r\n");
        let url = scripted(reply, 8192, true).await;
        assert!(matches!(get(&url, T).await, Err(Fail::BadReply(_))));
    }

    #[tokio::test]
    async fn stalled_node_times_out() {
        let idle = Duration::from_millis(200);
        // Silent after the request.
        let url = scripted(Vec::new(), 1, true).await;
        assert!(matches!(get(&url, idle).await, Err(Fail::Stalled(_))));
        // Silent in the middle of a body.
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec();
        reply.extend_from_slice(b"hello");
        let url = scripted(reply, 100, true).await;
        assert!(matches!(get(&url, idle).await, Err(Fail::Stalled(_))));
    }

    #[tokio::test]
    async fn interim_reply_is_skipped() {
        let reply =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        let url = scripted(reply, 5, true).await;
        let (head, mut c) = request("PUT", &url, &[], b"abc", T, T).await.unwrap();
        assert_eq!(
            head,
            Head {
                status: 201,
                length: Some(0)
            }
        );
        assert!(c.chunk().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn early_reply_stops_the_upload() {
        // The node refuses after the head, reading no body: the sender
        // stops and reads the refusal instead of stalling.
        let reply = b"HTTP/1.1 507 Insufficient Storage\r\nContent-Length: 0\r\n\r\n".to_vec();
        let url = scripted(reply, 1000, true).await;
        let body = vec![1u8; 32 << 20];
        let idle = Duration::from_secs(2);
        let (head, _) = request("PUT", &url, &[], &body, T, idle).await.unwrap();
        assert_eq!(
            head,
            Head {
                status: 507,
                length: Some(0)
            }
        );
    }

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
        assert!(Url::parse("http://x/a b").is_err());
    }
}
