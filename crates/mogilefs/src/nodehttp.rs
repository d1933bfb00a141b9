//! The one HTTP client that speaks to storage nodes (hyper, HTTP/1.1), for
//! the client library's transfers and the tracker's requests alike: URL
//! splitting, connecting with a deadline, driving a connection while a
//! transfer watches for stalls, and a keep-alive [`Pool`] for the small
//! bodiless exchanges the tracker makes often (`HEAD` before get_paths
//! names a replica, `DELETE` of a replica), so they cost no handshake.

use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Body;
use hyper::client::conn::http1;
use hyper::{header, Method, Request, Response};
use hyper_util::rt::TokioIo;
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

    /// A request for this URL with its Host header.
    pub(crate) fn request(&self, method: Method) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(&self.path)
            .header(header::HOST, &self.host)
    }
}

/// One connection's request side and the connection future to drive.
pub(crate) type Conn<B> = (
    http1::SendRequest<B>,
    http1::Connection<TokioIo<TcpStream>, B>,
);

/// Why [`open`] found no connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Handshake(String),
}

/// Connects to `url` within `timeout` and shakes hands (HTTP/1.1).
pub(crate) async fn open<B>(url: &Url, timeout: Duration) -> Result<Conn<B>, OpenError>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&url.connect)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(OpenError::Connect(e)),
        Err(_) => return Err(OpenError::Timeout),
    };
    let _ = stream.set_nodelay(true);
    http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| OpenError::Handshake(chain(&e)))
}

/// Runs `work` while driving the connection `conn`; a connection that ends
/// first (the server closed after its reply) lets `work` finish with what
/// was read. `None` when `moved` stayed still for `idle`.
pub(crate) async fn drive<T, C>(
    url: &str,
    work: impl Future<Output = T>,
    conn: C,
    moved: &AtomicU64,
    idle: Duration,
) -> Option<T>
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
            r = &mut work => return Some(r),
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
                    return None;
                }
                last = now;
            }
        }
    }
}

/// An error and its causes, `outer: inner: ...` (hyper keeps the reason a
/// body failed in the source chain).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// A reply head without its body: status and `Content-Length`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    pub length: Option<u64>,
}

impl Head {
    pub(crate) fn of<B>(resp: &Response<B>) -> Head {
        Head {
            status: resp.status().as_u16(),
            length: resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// A pooled connection's two halves: the request side and the connection
/// itself, boxed so that taking it from the pool and giving it back moves
/// a pointer. It has no task of its own: whichever call uses it drives it.
struct Pooled {
    send: http1::SendRequest<Empty<Bytes>>,
    conn: Pin<Box<http1::Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
}

/// Idle connections kept per storage node.
const POOL_PER_NODE: usize = 16;

/// The longest reply body read to keep a connection (an error page).
const MAX_DRAIN: usize = 64 * 1024;

/// Idle keep-alive connections per storage node (`host:port`).
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<Pooled>>>,
}

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

impl Pool {
    fn take(&self, node: &str) -> Option<Pooled> {
        self.idle.lock().ok()?.get_mut(node)?.pop()
    }

    fn give(&self, node: &str, p: Pooled) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        // The node's key is allocated once, not per request.
        if let Some(list) = idle.get_mut(node) {
            if list.len() < POOL_PER_NODE {
                list.push(p);
            }
        } else {
            idle.insert(node.to_owned(), vec![p]);
        }
    }

    /// Sends a request without a body (`HEAD`, `DELETE`) and reads the
    /// reply: on an idle pooled connection if there is one (once more on a
    /// fresh one if that fails: the node may have closed it), the
    /// connection pooled again once its reply is read whole. The request
    /// and its connection are driven in the caller's task. Only the
    /// connect has a deadline: the caller sets one for the whole call.
    pub(crate) async fn call(
        &self,
        method: Method,
        url: &Url,
        connect_timeout: Duration,
    ) -> Result<Head, String> {
        let build = || {
            url.request(method.clone())
                .body(Empty::new())
                .map_err(|e| e.to_string())
        };
        if let Some(p) = self.take(&url.connect) {
            if let Ok(head) = self.exchange(&url.connect, p, build()?, true).await {
                return Ok(head);
            }
        }
        let (send, conn) = open::<Empty<Bytes>>(url, connect_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let p = Pooled {
            send,
            conn: Box::pin(conn),
        };
        self.exchange(&url.connect, p, build()?, false).await
    }

    /// One request on `p` (waiting until it is ready if it was pooled), its
    /// reply's head, and `p` back in the pool when the reply's body (none
    /// for `HEAD`, a short page at most otherwise) is read whole and
    /// neither side closes.
    async fn exchange(
        &self,
        node: &str,
        p: Pooled,
        req: Request<Empty<Bytes>>,
        pooled: bool,
    ) -> Result<Head, String> {
        let Pooled { mut send, conn } = p;
        let work = async {
            if pooled {
                send.ready().await.map_err(|e| chain(&e))?;
            }
            let resp = send.send_request(req).await.map_err(|e| chain(&e))?;
            let head = Head::of(&resp);
            let close = resp.headers().get(header::CONNECTION).is_some_and(|v| {
                v.to_str()
                    .is_ok_and(|v| v.trim().eq_ignore_ascii_case("close"))
            });
            let drained = Limited::new(resp.into_body(), MAX_DRAIN)
                .collect()
                .await
                .is_ok();
            Ok::<_, String>((head, drained && !close))
        };
        let (result, conn) = along(work, conn).await;
        let (head, keep) = result?;
        if let Some(conn) = conn.filter(|_| keep) {
            self.give(node, Pooled { send, conn });
        }
        Ok(head)
    }
}

/// Runs `work` in this task while driving `conn`: `work` is polled again
/// right after the connection moved, so a reply the connection has just
/// read is taken in the same wake-up. A connection that ends is dropped at
/// once (which fails a request still waiting on it); it comes back with
/// `work`'s output if it is still open.
async fn along<T, C>(work: impl Future<Output = T>, conn: Pin<Box<C>>) -> (T, Option<Pin<Box<C>>>)
where
    C: Future<Output = Result<(), hyper::Error>> + ?Sized,
{
    let mut work = pin!(work);
    let mut conn = Some(conn);
    let out = std::future::poll_fn(|cx| {
        if let Poll::Ready(t) = work.as_mut().poll(cx) {
            return Poll::Ready(t);
        }
        let Some(c) = conn.as_mut() else {
            return Poll::Pending;
        };
        if let Poll::Ready(r) = c.as_mut().poll(cx) {
            if let Err(e) = r {
                tracing::debug!(error = %e, "storage connection ended");
            }
            conn = None;
        }
        work.as_mut().poll(cx)
    })
    .await;
    (out, conn)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use hyper::Method;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::{Head, Pool, Url};

    /// How the test node treats a connection after each reply.
    #[derive(Clone, Copy)]
    enum After {
        /// Keeps it open for the next request.
        Keep,
        /// Closes it without saying so (an idle keep-alive timeout).
        Close,
        /// Says `Connection: close` and closes it.
        SayClose,
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

    #[tokio::test]
    async fn pooled_connection_is_reused() {
        let (url, accepts) = node(After::Keep).await;
        let pool = Pool::default();
        for _ in 0..20 {
            let h = pool.call(Method::HEAD, &url, Duration::from_secs(5)).await;
            assert_eq!(h, Ok(HEAD_OK));
        }
        // A reply with a body is read whole and its connection kept too.
        for _ in 0..5 {
            let h = pool
                .call(Method::DELETE, &url, Duration::from_secs(5))
                .await;
            assert_eq!(h, Ok(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn node_closing_idle_connection_fails_no_request() {
        let (url, accepts) = node(After::Close).await;
        let pool = Pool::default();
        for _ in 0..10 {
            let h = pool.call(Method::HEAD, &url, Duration::from_secs(5)).await;
            assert_eq!(h, Ok(HEAD_OK));
            // Let the node's close arrive while the connection is pooled.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 10);
        // Back to back too: a close racing the next request.
        for _ in 0..10 {
            let h = pool.call(Method::HEAD, &url, Duration::from_secs(5)).await;
            assert_eq!(h, Ok(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn connection_close_is_not_pooled() {
        let (url, accepts) = node(After::SayClose).await;
        let pool = Pool::default();
        for _ in 0..5 {
            let h = pool.call(Method::HEAD, &url, Duration::from_secs(5)).await;
            assert_eq!(h, Ok(HEAD_OK));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 5);
        assert!(format!("{pool:?}").contains("idle: 0"));
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
    }
}
