//! Phase 2, route: who answers. A web_server serves it from disk
//! ([`super::super::web`]). On a reverse_proxy: a request that cannot be
//! proxied gets a 400, `/__upload_status` the tracker's page, then the
//! body is read as `buffer_uploads` says (held, spooled or streamed:
//! [`super::super::upload`]) and the head the backend gets is settled;
//! the reproxy cache may answer; else a backend does ([`super::dispatch`]),
//! its answer relayed ([`super::relay`]) or its internal redirect
//! followed ([`super::reproxy`]). An `X-REPROXY-SERVICE` hand-off routes
//! the request again on the named service.

use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::super::backend::SockState;
use super::super::lock;
use super::super::settings::Role;
use super::super::upload::{self, Body, Progress, UploadError};
use super::error::ProxyError;
use super::exchange::{Client, Exchange, Outcome};
use super::{dispatch, relay, reproxy};

/// How many X-REPROXY-SERVICE hand-offs one request may take.
const MAX_HANDOFFS: usize = 4;

/// Routes the request until it is answered; `Ok(keep-alive)`.
pub(crate) async fn run(c: &mut Client, ex: &mut Exchange) -> Result<bool, ProxyError> {
    let mut hops = 0;
    loop {
        let outcome = if ex.s.role == Role::WebServer {
            c.shared.reqs.fetch_add(1, Ordering::Relaxed);
            c.state.set(SockState::WEB_XFER_RESP);
            let served = super::super::web::serve(&mut c.conn, &mut c.buf, &ex.req, &ex.s);
            Outcome::keep_if(matches!(served.await, Ok(true)))
        } else {
            proxy(c, ex).await?
        };
        let name = match outcome {
            Outcome::Keep => return Ok(true),
            Outcome::Close => return Ok(false),
            Outcome::Handoff(name) => name,
        };
        let next = lock(&c.shared.services).get(&name).cloned();
        match next {
            Some(rt) if hops < MAX_HANDOFFS => {
                hops += 1;
                ex.s = rt.settings();
                ex.svc = rt;
                // Its body (if any) went to the first backend.
                ex.req.headers.remove("Content-Length");
                ex.req.content_length = 0;
                (ex.to_backend, ex.body, ex.progress) = (None, Body::Stream, None);
            }
            _ => {
                let s = &ex.s;
                let keep = (s.persist_client && ex.req.wants_keep_alive())
                    .then_some(s.persist_idle_timeout.as_secs());
                let out = super::super::reply::simple(
                    404,
                    "Vhost twiddling not configured for requested pair.",
                    ex.req.method == "HEAD",
                    keep,
                    s.server_tokens,
                );
                let sent = c.conn.stream().write_all(&out).await.is_ok();
                return Ok(sent && keep.is_some());
            }
        }
    }
}

/// One request on a reverse_proxy service.
async fn proxy(c: &mut Client, ex: &mut Exchange) -> Result<Outcome, ProxyError> {
    let s = ex.s.clone();
    let head = &ex.req;
    if head.chunked && s.uploads.is_none() {
        // De-chunking needs buffer_uploads (1.80's answer otherwise).
        return Err(ProxyError::bad_request(
            "",
            "a chunked body without buffer_uploads",
        ));
    }
    if !head.has_body() && !head.wants_keep_alive() && !c.buf.is_empty() {
        // More bytes behind a request that ends the connection: 1.80
        // refuses the lot rather than let a second request slip through.
        return Err(ProxyError::bad_request(
            "Can't pipeline to HTTP/1.0",
            "bytes after a request that ends the connection",
        ));
    }
    if !s.upload_listeners.is_empty() {
        let keep = (s.persist_client && head.wants_keep_alive() && !head.has_body())
            .then_some(s.persist_idle_timeout.as_secs());
        if let Some(out) = super::super::tracker::status_reply(head, &c.shared, keep) {
            let sent = c.conn.stream().write_all(&out).await.is_ok();
            return Ok(Outcome::keep_if(sent && keep.is_some()));
        }
    }
    let continued = head.has_body() && head.expects_continue();
    if continued {
        let sent = c.conn.stream().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        sent.await.map_err(|_| ProxyError::client_gone())?;
    }
    ex.progress = Progress::new(&s, head);
    ex.body = read_body(c, ex).await?;
    ex.to_backend = backend_head(ex, continued);
    c.shared.reqs.fetch_add(1, Ordering::Relaxed);
    c.state.set(SockState::CLIENT_WAIT_BACKEND);
    if s.reproxy && s.reproxy_cache_size > 0 && !ex.backend_head().has_body() {
        if let Some(done) = reproxy::from_cache(c, ex).await {
            return done.map(Outcome::keep_if);
        }
    }
    let mut answer = dispatch::run(c, ex).await?;
    match answer.reproxy.take() {
        Some(redirect) => reproxy::serve(c, ex, answer, redirect).await,
        None => relay::response(c, ex, answer).await,
    }
}

/// The body before a backend is asked for: as buffer_uploads says, or
/// (without it) up to buffer_backend_connect bytes of it, as 1.80 holds
/// them so slow uploads do not tie a backend up.
async fn read_body(c: &mut Client, ex: &mut Exchange) -> Result<Body, ProxyError> {
    let (s, head) = (&ex.s, &ex.req);
    match &s.uploads {
        Some(up) if head.has_body() => {
            let read = upload::buffer(&mut c.conn, &mut c.buf, head, s, up, &mut ex.progress);
            read.await.map_err(|e| match e {
                UploadError::Client => ProxyError::client_gone(),
                UploadError::Spool(cause) => ProxyError::spool(cause),
                UploadError::Io(cause) => {
                    ProxyError::cut_short(super::error::Side::Internal, cause)
                }
            })
        }
        _ => {
            let want = usize::try_from(head.content_length)
                .unwrap_or(usize::MAX)
                .min(s.buffer_backend_connect);
            while c.buf.len() < want {
                let read =
                    tokio::time::timeout(s.idle_timeout, c.conn.stream().read_buf(&mut c.buf));
                match read.await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Err(ProxyError::client_gone()),
                }
                if let Some(p) = ex.progress.as_mut() {
                    p.tick(c.buf.len() as u64);
                }
            }
            Ok(Body::Stream)
        }
    }
}

/// The head as the backend gets it, when it is not the client's:
/// rewritten only for a de-chunked body, an Expect we answered ourselves,
/// or the debugging reason 1.80 gives a spooled body (not a chunked one).
fn backend_head(ex: &Exchange, continued: bool) -> Option<crate::proto::http::RequestHead> {
    let head = &ex.req;
    let reason = match &ex.body {
        Body::Spool(f) if f.reason != "chunked" && upload::debug_reason() => Some(f.reason),
        _ => None,
    };
    if !(continued || head.chunked || reason.is_some()) {
        return None;
    }
    let mut r = head.clone();
    r.headers.remove("Expect");
    if let Some(why) = reason {
        r.headers.set("X-PERLBAL-BUFFERED-UPLOAD-REASON", why);
    }
    if let Some(n) = ex.body.dechunked_len() {
        r.headers.remove("Transfer-Encoding");
        r.headers.put("Content-Length", n.to_string());
        r.content_length = n;
        r.chunked = false;
    }
    Some(r)
}
