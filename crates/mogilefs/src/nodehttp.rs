//! The hyper (HTTP/1.1) client that speaks to storage nodes, for the
//! client library's transfers and the tracker's one-shot requests alike:
//! URL splitting, connecting with a deadline, driving a connection while a
//! transfer watches for stalls, and a reply's head. (The tracker's
//! keep-alive HEAD/DELETE pool is written against the socket: see
//! `tracker::http::Pool`.)

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Body;
use hyper::client::conn::http1;
use hyper::{header, Method, Request};
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
