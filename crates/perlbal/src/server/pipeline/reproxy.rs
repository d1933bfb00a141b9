//! Phase 4, reproxy (the other way to answer): internal redirects
//! (`enable_reproxy`). A backend answers with
//! `X-REPROXY-FILE`, `X-REPROXY-URL` or `X-REPROXY-SERVICE` and perlbal
//! serves the content itself; the client sees the backend's status and
//! headers (without any `X-REPROXY-*`) over the new body, never a redirect.
//!
//! * FILE: the local file, with the client's Range and
//!   `X-REPROXY-EXPECTED-SIZE` (a missing, empty or wrongly sized file is a
//!   404, as in 1.80), sent with sendfile.
//! * URL: each URL in turn (GET, or HEAD for a HEAD, with the client's
//!   Range and Host) until one answers 2xx or 416 with the expected size;
//!   none does: 503. Content-Length (and a 206/416's Content-Range) come
//!   from the target. Connections per target host are limited and reused
//!   ([`super::super::reproxy_pool`]); the target is read at most
//!   `buffer_size_reproxy_url` ahead of the client.
//! * `X-REPROXY-CACHE-FOR: secs; Header ...` with a URL list: the answer is
//!   cached per Host and URI (`reproxy_cache_maxsize` entries), so later
//!   requests skip the backend.
//! * SERVICE: the request is handed to the named service ([`super::route`]
//!   does that).
//!
//! A URL's body goes through the same [`relay`] as a backend's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::backend::{read_head, Backend, SockState};
use super::super::conn::ClientConn;
use super::super::dispatch::ServiceRt;
use super::super::reply::{reason, simple, Head};
use super::super::settings::Settings;
use super::super::{lock, now, Shared};
use super::error::{ProxyError, Side};
use super::exchange::{Answer, Client, Exchange, Outcome};
use super::relay::{relay, Framing};
use crate::core::cache::{parse_cache_for, Entry};
use crate::proto::date::http_date;
use crate::proto::http::{BodyLength, Headers, RequestHead, ResponseHead};
use crate::proto::range::{self, ByteRange};
use crate::proto::reproxy::{is_reproxy_header, targets, Directive, Target};

/// How long connecting to a reproxy target may take (1.80: 5 s).
const CONNECT: Duration = Duration::from_secs(5);

/// Follows a backend's internal redirect (`full`: its head, `d`: what it
/// asks for): the backend's own (small) body is read first and the
/// backend reused when it can be.
pub(crate) async fn serve(
    c: &mut Client,
    ex: &Exchange,
    a: Answer,
    (full, d): (ResponseHead, Directive),
) -> Result<Outcome, ProxyError> {
    let rbuf = &mut c.io.resp;
    rbuf.advance(a.used);
    let reusable = a.keep_backend && a.keep_alive;
    finish_backend(a.be, rbuf, a.length, reusable, &ex.svc).await;
    c.state.set(SockState::CLIENT_XFER_RES);
    let req = ex.backend_head();
    match d {
        Directive::File(path) => file(&mut c.conn, req, &full, &path, &ex.s)
            .await
            .map(Outcome::keep_if),
        Directive::Url(urls) => {
            if ex.s.reproxy_cache_size > 0 {
                remember(&ex.svc, req, &full, &urls);
            }
            url(c, ex, &full, &urls).await.map(Outcome::keep_if)
        }
        Directive::Service(name) => Ok(Outcome::Handoff(name)),
    }
}

/// Whether the client connection may stay open after a response with
/// these headers (1.80's `req_keep_alive`).
fn client_keep(req: &RequestHead, s: &Settings, code: u16, has_length: bool) -> Option<u64> {
    let ok = has_length || req.method == "HEAD" || matches!(code, 204 | 304);
    (s.persist_client && req.wants_keep_alive() && ok).then_some(s.persist_idle_timeout.as_secs())
}

/// The backend's headers as the client gets them: no connection headers,
/// no `X-REPROXY-*`.
fn client_headers(h: &Headers) -> Headers {
    Headers(
        h.0.iter()
            .filter(|l| {
                !is_reproxy_header(&l.name)
                    && !l.name.eq_ignore_ascii_case("Connection")
                    && !l.name.eq_ignore_ascii_case("Keep-Alive")
            })
            .cloned()
            .collect(),
    )
}

fn head_bytes(code: u16, reason_text: &str, h: &Headers, keep: Option<u64>) -> Vec<u8> {
    super::super::reply::note_status(code);
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "HTTP/1.0 {code} {reason_text}\r\n");
    h.write(&mut out);
    Head(out).finish(keep)
}

/// `X-REPROXY-EXPECTED-SIZE`, if given.
fn expected_size(h: &Headers) -> Option<u64> {
    h.get_str("X-REPROXY-EXPECTED-SIZE")
        .and_then(|v| v.trim().parse().ok())
}

/// Serves `path` for `X-REPROXY-FILE`; `Ok(keep-alive)`.
async fn file(
    conn: &mut ClientConn,
    req: &RequestHead,
    primary: &ResponseHead,
    path: &str,
    s: &Settings,
) -> Result<bool, ProxyError> {
    let gone = |_| ProxyError::client_gone();
    super::super::plugins::file_reproxied(s);
    let head_req = req.method == "HEAD";
    let expected = expected_size(&primary.headers);
    let p = std::path::PathBuf::from(path);
    let opened = tokio::task::spawn_blocking(move || super::super::web::open_regular(&p))
        .await
        .ok()
        .flatten();
    let (file, size) = match opened {
        Some((f, m)) if m.len() > 0 && expected.is_none_or(|e| e == m.len()) => (f, m.len()),
        _ => {
            let keep = client_keep(req, s, 404, true);
            let out = simple(404, "", head_req, keep, s.server_tokens);
            conn.stream().write_all(&out).await.map_err(gone)?;
            return Ok(keep.is_some());
        }
    };
    let range = range::parse(req.headers.get("Range"), size);
    if range == ByteRange::Unsatisfiable {
        let keep = client_keep(req, s, 416, true);
        let mut h = Head::new(416);
        h.header(
            "Content-Range",
            range.content_range(size).unwrap_or_default(),
        )
        .header("Content-Length", 0);
        conn.stream()
            .write_all(&h.finish(keep))
            .await
            .map_err(gone)?;
        return Ok(keep.is_some());
    }
    let mut h = client_headers(&primary.headers);
    h.put("Accept-Ranges", "bytes");
    let mut code = if primary.status == 204 {
        200
    } else {
        primary.status
    };
    let (start, len) = match range {
        ByteRange::Partial { start, end } => {
            h.put("Content-Range", format!("bytes {start}-{end}/{size}"));
            code = 206;
            (start, end - start + 1)
        }
        _ => (0, size),
    };
    h.put("Content-Length", len.to_string());
    let text = if code == primary.status {
        primary.reason.as_str()
    } else {
        reason(code)
    };
    let keep = client_keep(req, s, code, true);
    let out = head_bytes(code, text, &h, keep);
    if head_req {
        conn.stream().write_all(&out).await.map_err(gone)?;
        return Ok(keep.is_some());
    }
    super::super::plugins::file_sent(s);
    let parts = [(file, start, len)];
    super::super::web::body_after(conn, &out, &parts, s.idle_timeout)
        .await
        .map_err(|_| ProxyError::client_gone())?;
    Ok(keep.is_some())
}

/// A connection to `t` carrying our request, and the target's head.
async fn fetch(
    shared: &Arc<Shared>,
    t: &Target,
    req: &RequestHead,
    rbuf: &mut BytesMut,
    idle: Duration,
) -> Option<(TcpStream, super::super::reproxy_pool::Lease, ResponseHead)> {
    // A place under max_reproxy_connections, waited for no longer than
    // idle_timeout (then the next URL, or the 503).
    let Ok(mut lease) = tokio::time::timeout(idle, shared.reproxy.acquire(&t.ipport())).await
    else {
        tracing::debug!(target = %t.ipport(), "no reproxy connection free within idle_timeout");
        return None;
    };
    let method = if req.method == "HEAD" { "HEAD" } else { "GET" };
    let mut ask = format!("{method} {} HTTP/1.0\r\nConnection: keep-alive\r\n", t.path);
    if let Some(r) = req.headers.get_str("Range") {
        ask.push_str(&format!("Range: {r}\r\n"));
    }
    if let Some(h) = req.headers.get_str("Host") {
        ask.push_str(&format!("Host: {h}\r\n"));
    }
    ask.push_str("\r\n");
    // An idle connection may have been closed by the target meanwhile:
    // then one fresh try.
    let mut reused = lease.idle.take();
    loop {
        let was_reused = reused.is_some();
        let mut stream = match reused.take() {
            Some(s) => s,
            None => {
                match tokio::time::timeout(CONNECT, TcpStream::connect((t.host.as_str(), t.port)))
                    .await
                {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        s
                    }
                    _ => {
                        tracing::debug!(target = %t.ipport(), "reproxy connect failed");
                        return None;
                    }
                }
            }
        };
        rbuf.clear();
        let got = async {
            stream.write_all(ask.as_bytes()).await?;
            read_head(&mut stream, rbuf).await
        };
        match tokio::time::timeout(idle, got).await {
            Ok(Ok(Some((head, used)))) => {
                rbuf.advance(used);
                return Some((stream, lease, head));
            }
            _ if was_reused => continue,
            _ => return None,
        }
    }
}

/// Serves the first working URL of `urls`; `Ok(keep-alive)`.
async fn url(
    c: &mut Client,
    ex: &Exchange,
    primary: &ResponseHead,
    urls: &str,
) -> Result<bool, ProxyError> {
    let (req, s, shared) = (ex.backend_head(), &ex.s, &c.shared);
    let head_req = req.method == "HEAD";
    let expected = expected_size(&primary.headers);
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    for t in targets(urls) {
        let Some((mut stream, lease, resp)) =
            fetch(shared, &t, req, &mut rbuf, s.idle_timeout).await
        else {
            continue;
        };
        let good_code = (200..300).contains(&resp.status) || resp.status == 416;
        let cl = resp
            .headers
            .get_str("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        // The size to hold against X-REPROXY-EXPECTED-SIZE: the whole
        // file's, also for a 206 (1.80 compared a range's length, so every
        // ranged request failed over to a 503).
        let size = match resp.status {
            206 => resp
                .headers
                .get_str("Content-Range")
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse::<u64>().ok()),
            416 => expected,
            _ => cl,
        };
        if !good_code || expected.is_some_and(|e| Some(e) != size) {
            tracing::debug!(target = %t.ipport(), status = resp.status, "reproxy target refused");
            continue;
        }
        let Ok(length) = resp.body(head_req) else {
            continue;
        };
        let mut h = client_headers(&primary.headers);
        let mut code = primary.status;
        match resp.headers.get("Content-Length") {
            Some(v) => h.put("Content-Length", v.to_vec()),
            None => h.remove("Content-Length"),
        }
        if matches!(resp.status, 206 | 416) {
            code = resp.status;
            for name in ["Accept-Ranges", "Content-Range"] {
                if let Some(v) = resp.headers.get(name) {
                    h.put(name, v.to_vec());
                }
            }
        }
        if code == 204 {
            code = 200;
        }
        if length == BodyLength::Chunked {
            h.put("Transfer-Encoding", "chunked");
        }
        let framed = matches!(length, BodyLength::Empty | BodyLength::Length(_));
        let keep = client_keep(req, s, code, cl.is_some() && framed);
        let text = if code == primary.status {
            primary.reason.as_str()
        } else {
            reason(code)
        };
        let mut out = head_bytes(code, text, &h, keep);
        let how = Framing {
            length,
            room: s.buffer_size_reproxy_url,
            idle: s.idle_timeout,
        };
        let relayed = relay(&mut c.conn, &mut stream, (&mut rbuf, &mut out), how).await;
        let clean = relayed.map_err(|mut e| {
            if e.side == Side::Backend {
                e.cause = format!("reproxy target: {}", e.cause).into();
            }
            e.at(t.ipport())
        })?;
        if clean && resp.keep_alive() && length != BodyLength::UntilClose {
            lease.keep(stream);
        }
        return Ok(keep.is_some() && clean);
    }
    let keep = client_keep(req, s, 503, true);
    Err(ProxyError::no_target(keep).at(urls))
}

/// The cache key of a request.
fn cache_key(req: &RequestHead) -> String {
    format!("{}|{}", req.headers.get_str("Host").unwrap_or(""), req.uri)
}

/// Remembers a URL reproxy answer when the backend asked for it.
fn remember(svc: &ServiceRt, req: &RequestHead, resp: &ResponseHead, urls: &str) {
    let Some((secs, names)) = resp
        .headers
        .get_str("X-REPROXY-CACHE-FOR")
        .and_then(parse_cache_for)
    else {
        return;
    };
    if secs == 0 {
        return;
    }
    let headers = names
        .iter()
        .filter_map(|n| Some((n.clone(), resp.headers.get_str(n)?.to_owned())))
        .collect();
    lock(&svc.cache).set(
        &cache_key(req),
        Entry {
            expires: now() + secs as f64,
            headers,
            urls: urls.to_owned(),
        },
    );
}

/// Answers from the reproxy cache, if it holds this request; `None`: ask
/// a backend.
pub(crate) async fn from_cache(c: &mut Client, ex: &Exchange) -> Option<Result<bool, ProxyError>> {
    let (req, s, svc) = (ex.backend_head(), &ex.s, &ex.svc);
    svc.cache_requests.fetch_add(1, Ordering::Relaxed);
    let hit = lock(&svc.cache).get(&cache_key(req), now())?;
    svc.cache_hits.fetch_add(1, Ordering::Relaxed);
    if let Some(ims) = req.headers.get_str("If-Modified-Since") {
        let ims = ims.split("; length=").next().unwrap_or(ims);
        let lm = hit
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Last-Modified"))
            .map_or("", |(_, v)| v.as_str());
        if ims == lm {
            let keep = client_keep(req, s, 304, true);
            let mut h = Head::new(304);
            h.header("Content-Length", 0);
            let sent = c.conn.stream().write_all(&h.finish(keep)).await;
            return Some(
                sent.map(|()| keep.is_some())
                    .map_err(|_| ProxyError::client_gone()),
            );
        }
    }
    let mut headers = Headers::default();
    headers.put("Date", http_date(now() as i64));
    for (n, v) in &hit.headers {
        headers.put(n, v.as_bytes().to_vec());
    }
    let primary = ResponseHead {
        status: 200,
        reason: "OK".into(),
        minor: 0,
        headers,
    };
    Some(url(c, ex, &primary, &hit.urls).await)
}

/// After a reproxy answer: the backend's own (small) body is read and the
/// connection reused when it can be, else closed.
async fn finish_backend(
    mut be: Backend,
    rbuf: &mut BytesMut,
    length: BodyLength,
    reusable: bool,
    svc: &ServiceRt,
) {
    let n = match length {
        BodyLength::Empty => 0,
        BodyLength::Length(n) if n <= 64 * 1024 => n as usize,
        _ => return,
    };
    while rbuf.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), be.stream.read_buf(rbuf)).await {
            Ok(Ok(m)) if m > 0 => {}
            _ => return,
        }
    }
    if reusable && rbuf.len() == n {
        svc.release(be);
    }
}
