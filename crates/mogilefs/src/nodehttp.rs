//! The one HTTP client that speaks to storage nodes (hyper, HTTP/1.1), for
//! the client library's transfers and the tracker's requests alike: URL
//! splitting, connecting with a deadline, driving a connection while a
//! transfer watches for stalls, and a keep-alive [`Pool`] for the small
//! bodiless exchanges the tracker makes often (`HEAD` before get_paths
//! names a replica, `DELETE` of a replica), so they cost no handshake.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Body, Incoming};
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

/// A pooled connection's request side.
type Sender = http1::SendRequest<Empty<Bytes>>;

/// Idle connections kept per storage node.
const POOL_PER_NODE: usize = 16;

/// The longest reply body read to keep a connection (an error page).
const MAX_DRAIN: usize = 64 * 1024;

/// Idle keep-alive connections per storage node (`host:port`).
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<Sender>>>,
}

impl Pool {
    fn take(&self, node: &str) -> Option<Sender> {
        self.idle.lock().ok()?.get_mut(node)?.pop()
    }

    fn give(&self, node: &str, s: Sender) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(node.to_owned()).or_default();
            if list.len() < POOL_PER_NODE {
                list.push(s);
            }
        }
    }

    /// Sends a request without a body (`HEAD`, `DELETE`) and reads the
    /// reply: on an idle pooled connection if there is one (once more on a
    /// fresh one if that fails: the node may have closed it), the
    /// connection pooled again once its reply is read whole. Only the
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
        while let Some(mut s) = self.take(&url.connect) {
            if s.ready().await.is_err() {
                continue;
            }
            if let Ok(resp) = s.send_request(build()?).await {
                return Ok(self.finish(&url.connect, s, resp).await);
            }
            break;
        }
        let (mut s, conn) = open::<Empty<Bytes>>(url, connect_timeout)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // Ends with an error when the node closes; nothing to report.
            let _ = conn.await;
        });
        let resp = s.send_request(build()?).await.map_err(|e| chain(&e))?;
        Ok(self.finish(&url.connect, s, resp).await)
    }

    /// The reply's head; the connection back in the pool when its body
    /// (none for `HEAD`, a short page at most otherwise) is read.
    async fn finish(&self, node: &str, s: Sender, resp: Response<Incoming>) -> Head {
        let head = Head::of(&resp);
        let keep = resp.headers().get(header::CONNECTION).is_none_or(|v| {
            !v.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("close"))
        });
        if Limited::new(resp.into_body(), MAX_DRAIN)
            .collect()
            .await
            .is_ok()
            && keep
        {
            self.give(node, s);
        }
        head
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
