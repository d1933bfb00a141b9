//! The demo app's routes: files in MogileFS, downloads by internal
//! redirect, paths cached in memcached, checksums by a Gearman job.

use std::time::Duration;

use bytes::Bytes;
use danga_gearman::client as gearman;
use danga_memcached::client as memcached;
use danga_mogilefs::client::{self as mogilefs, Options, Trackers};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::time::timeout;

use super::body::BodyReader;
use super::checksum;
use super::web::{content_type, key_list, key_of, query_arg};
use super::Args;

/// Seconds a key's paths stay in memcached.
pub const PATHS_TTL: i64 = 5;
/// Keys per page of the list.
const PAGE: u32 = 100;
/// The longest a `/md5/KEY` job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// Connecting to, and hearing back from, a storage node (direct GETs).
const NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// A response body: a small one of ours or a storage node's stream.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// The header perlbal reads.
const X_REPROXY_URL: HeaderName = HeaderName::from_static("x-reproxy-url");

/// The app's clients.
pub struct App {
    files: mogilefs::Client,
    class: Option<String>,
    cache: Option<memcached::Client>,
    jobs: Option<gearman::Client>,
}

impl App {
    /// Clients for the servers in `args` (connections are made on use).
    pub fn new(args: &Args) -> Result<App, mogilefs::Error> {
        let trackers = Trackers::new(args.trackers.iter().cloned(), Options::default())?;
        let cache = (!args.memcached.is_empty()).then(|| {
            memcached::Client::new(memcached::Config::new(
                args.memcached.iter().cloned(),
                memcached::Distribution::Ketama,
            ))
        });
        let jobs = (!args.gearman.is_empty())
            .then(|| gearman::Client::new(gearman::Config::new(args.gearman.iter().cloned())));
        Ok(App {
            files: mogilefs::Client::new(trackers, args.domain.clone()),
            class: args.class.clone(),
            cache,
            jobs,
        })
    }

    /// The MogileFS client.
    pub fn files(&self) -> &mogilefs::Client {
        &self.files
    }

    /// Routes one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if path == "/" {
            return match method {
                Method::GET | Method::HEAD => self.index(req.uri().query()).await,
                _ => not_allowed("GET, HEAD"),
            };
        }
        if let Some(raw) = path.strip_prefix("/files/") {
            let key = match key_of(raw) {
                Ok(k) => k,
                Err(why) => return text(StatusCode::BAD_REQUEST, format!("{why}\n")),
            };
            return match method {
                Method::GET | Method::HEAD => self.get(&method, req.headers(), &key).await,
                Method::PUT | Method::POST => self.put(req, &key).await,
                Method::DELETE => self.delete(&key).await,
                _ => not_allowed("GET, HEAD, PUT, POST, DELETE"),
            };
        }
        if let Some(raw) = path.strip_prefix("/md5/") {
            let key = match key_of(raw) {
                Ok(k) => k,
                Err(why) => return text(StatusCode::BAD_REQUEST, format!("{why}\n")),
            };
            return match method {
                Method::GET => self.md5(&key).await,
                _ => not_allowed("GET"),
            };
        }
        text(
            StatusCode::NOT_FOUND,
            "not found: try /, /files/KEY or /md5/KEY\n",
        )
    }

    async fn index(&self, query: Option<&str>) -> Response<Body> {
        let after = query_arg(query, "after").filter(|a| !a.is_empty());
        match self.files.list_keys("", after.as_deref(), PAGE).await {
            Ok(page) => {
                let html = key_list(self.files.domain(), &page.keys, page.next_after.as_deref());
                let mut r = text(StatusCode::OK, html);
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }
            Err(e) => failure(&e),
        }
    }

    async fn get(&self, method: &Method, headers: &HeaderMap, key: &str) -> Response<Body> {
        let paths = match self.paths(key).await {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return failure(&mogilefs::Error::NoPaths),
            Err(e) => return failure(&e),
        };
        if !can_reproxy(headers) {
            return direct(method, key, &paths).await;
        }
        let Ok(urls) = HeaderValue::from_str(&paths.join(" ")) else {
            return text(StatusCode::BAD_GATEWAY, "the tracker gave unusable paths\n");
        };
        let mut r = Response::new(empty());
        r.headers_mut().insert(X_REPROXY_URL, urls);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(key)),
        );
        r
    }

    async fn put(&self, req: Request<Incoming>, key: &str) -> Response<Body> {
        let Some(len) = content_length(req.headers()) else {
            return text(
                StatusCode::LENGTH_REQUIRED,
                "a Content-Length is required (storage nodes take no chunked uploads)\n",
            );
        };
        let body = BodyReader::new(req.into_body());
        let stored = self
            .files
            .store(key, self.class.as_deref(), body, len, None)
            .await;
        self.forget(key).await;
        match stored {
            Ok(fid) => text(
                StatusCode::CREATED,
                format!("stored {key}: fid {fid}, {len} bytes\n"),
            ),
            Err(e) => failure(&e),
        }
    }

    async fn delete(&self, key: &str) -> Response<Body> {
        let r = self.files.delete(key).await;
        self.forget(key).await;
        match r {
            Ok(()) => {
                let mut r = Response::new(empty());
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            Err(e) => failure(&e),
        }
    }

    async fn md5(&self, key: &str) -> Response<Body> {
        let Some(jobs) = &self.jobs else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no Gearman job server configured\n",
            );
        };
        let task = gearman::Task::new(checksum::FUNCTION, key).timeout(JOB_TIMEOUT);
        match jobs.submit(task).await {
            Ok(hex) => text(
                StatusCode::OK,
                format!("{}\n", String::from_utf8_lossy(&hex)),
            ),
            Err(gearman::Error::Exception(t)) if t.starts_with(b"unknown_key") => text(
                StatusCode::NOT_FOUND,
                format!("{}\n", String::from_utf8_lossy(&t)),
            ),
            Err(e) => text(
                StatusCode::BAD_GATEWAY,
                format!("the Gearman job failed: {e}\n"),
            ),
        }
    }

    /// The memcached key of a file's paths, if memcached can hold it.
    fn cache_key(&self, key: &str) -> Option<String> {
        let k = format!("paths:{}:{key}", self.files.domain());
        (k.len() <= 250 && !k.bytes().any(|b| b <= b' ' || b == 0x7f)).then_some(k)
    }

    /// A key's paths: from memcached, else from the tracker (then cached).
    async fn paths(&self, key: &str) -> Result<Vec<String>, mogilefs::Error> {
        let cached = self.cache.as_ref().zip(self.cache_key(key));
        if let Some((mc, ck)) = &cached {
            match mc.get(ck.as_bytes()).await {
                Ok(Some(item)) => {
                    let text = String::from_utf8_lossy(&item.value);
                    let paths: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
                    if !paths.is_empty() {
                        return Ok(paths);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "memcached get failed; asking the tracker"),
            }
        }
        let paths = self.files.get_paths(key, None).await?;
        if let Some((mc, ck)) = &cached {
            if !paths.is_empty() {
                let value = paths.join(" ");
                if let Err(e) = mc.set(ck.as_bytes(), value.as_bytes(), 0, PATHS_TTL).await {
                    tracing::debug!(error = %e, "memcached set failed");
                }
            }
        }
        Ok(paths)
    }

    /// Drops a key's cached paths (it was stored again or deleted).
    async fn forget(&self, key: &str) {
        if let (Some(mc), Some(ck)) = (&self.cache, self.cache_key(key)) {
            if let Err(e) = mc.delete(ck.as_bytes()).await {
                tracing::debug!(error = %e, "memcached delete failed");
            }
        }
    }
}

/// Whether a proxy in front serves `X-REPROXY-*` answers itself.
fn can_reproxy(h: &HeaderMap) -> bool {
    h.get_all("x-proxy-capabilities").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(|c: char| c == ',' || c.is_whitespace())
                .any(|t| t.eq_ignore_ascii_case("reproxy-file"))
        })
    })
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Without a reproxying proxy in front: streams the first copy a storage
/// node serves.
async fn direct(method: &Method, key: &str, paths: &[String]) -> Response<Body> {
    for url in paths {
        match node_get(method, url).await {
            Ok(resp) if resp.status() == StatusCode::OK => {
                let len = resp.headers().get(header::CONTENT_LENGTH).cloned();
                let mut r = Response::new(resp.into_body().boxed());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(key)),
                );
                if let Some(len) = len {
                    r.headers_mut().insert(header::CONTENT_LENGTH, len);
                }
                return r;
            }
            Ok(resp) => tracing::debug!(%url, status = %resp.status(), "copy not served"),
            Err(e) => tracing::debug!(%url, error = %e, "copy not served"),
        }
    }
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "no storage node served a copy\n",
    )
}

/// GET (or HEAD) of a storage node's `http://host:port/path`.
async fn node_get(method: &Method, url: &str) -> Result<Response<Incoming>, String> {
    let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let stream = timeout(NODE_TIMEOUT, tokio::net::TcpStream::connect(host))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    // Ends with the response body (or when the client drops it).
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "storage node connection");
        }
    });
    let req = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    timeout(NODE_TIMEOUT, send.send_request(req))
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|e| e.to_string())
}

/// An HTTP status for a MogileFS failure, with its text as the body.
fn failure(e: &mogilefs::Error) -> Response<Body> {
    use mogilefs::Error as E;
    let status = match e {
        E::Tracker { code, .. } if code == "unknown_key" => StatusCode::NOT_FOUND,
        E::Tracker { code, .. } if code == "no_devices" => StatusCode::SERVICE_UNAVAILABLE,
        E::NoTrackers | E::Unreachable(_) | E::TrackerIo { .. } | E::NoPaths => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        E::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    let body = match e {
        E::Tracker { code, .. } if code == "unknown_key" => "no file has this key\n".to_owned(),
        e => format!("{e}\n"),
    };
    text(status, body)
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A plain-text response.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproxy_capability_is_read_from_any_list() {
        let mut h = HeaderMap::new();
        assert!(!can_reproxy(&h));
        h.insert(
            "x-proxy-capabilities",
            HeaderValue::from_static("gzip, Reproxy-File"),
        );
        assert!(can_reproxy(&h));
        h.insert(
            "x-proxy-capabilities",
            HeaderValue::from_static("reproxy-files"),
        );
        assert!(!can_reproxy(&h));
    }

    #[test]
    fn failures_map_to_statuses() {
        let unknown = mogilefs::Error::Tracker {
            code: "unknown_key".into(),
            text: "unknown key".into(),
        };
        assert_eq!(failure(&unknown).status(), StatusCode::NOT_FOUND);
        let down = mogilefs::Error::Unreachable("x".into());
        assert_eq!(failure(&down).status(), StatusCode::SERVICE_UNAVAILABLE);
        let http = mogilefs::Error::Http {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(failure(&http).status(), StatusCode::BAD_GATEWAY);
    }
}
