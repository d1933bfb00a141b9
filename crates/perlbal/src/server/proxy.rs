//! One proxied request: the body (held, spooled or streamed, see
//! [`super::upload`]), the reproxy cache, a backend (waited for while the
//! client is watched), the request sent as HTTP/1.0, the response relayed
//! (Content-Length, chunked or until close) or the backend's internal
//! redirect followed ([`super::reproxy`]); an idempotent request is retried
//! on another backend when the first one dies before answering.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::backend::{Backend, SockState, StateGuard};
use super::client::{own_reply, own_reply_with, Bufs, Outcome};
use super::conn::ClientConn;
use super::dispatch::ServiceRt;
use super::sendfile::{send_file, Sock};
use super::settings::Settings;
use super::upload::Body;
use super::{lock, now, Shared};
use crate::core::Priority;
use crate::proto::chunked::Chunked;
use crate::proto::http::{parse_response, push_decimal, relay_response, BodyLength, RequestHead};
use crate::proto::reproxy::{directive, Directive};

/// How often an idempotent request is tried on another backend.
const RETRIES: usize = 3;

/// The room a response head is read into (a whole small response, head
/// and body, fits).
const RESP_ROOM: usize = 8192;

/// One request on a reverse_proxy service: the body (buffered, spooled or
/// streamed), the reproxy cache, then a backend.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn proxy_request(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    io: &mut Bufs,
    head: &RequestHead,
    peer: IpAddr,
    prio: Priority,
    svc: &Arc<ServiceRt>,
    s: &Arc<Settings>,
    shared: &Arc<Shared>,
    state: &mut StateGuard,
) -> Outcome {
    if head.chunked && s.uploads.is_none() {
        // De-chunking needs buffer_uploads (1.80's answer otherwise).
        let out = own_reply(400, "Bad request", s.server_tokens);
        let _ = conn.stream().write_all(out.as_bytes()).await;
        return Outcome::Close;
    }
    if !head.has_body() && !head.wants_keep_alive() && !buf.is_empty() {
        // More bytes behind a request that ends the connection: 1.80
        // refuses the lot rather than let a second request slip through.
        let out = own_reply_with(
            400,
            "Bad request",
            "Can't pipeline to HTTP/1.0",
            s.server_tokens,
        );
        let _ = conn.stream().write_all(out.as_bytes()).await;
        return Outcome::Close;
    }
    if !s.upload_listeners.is_empty() {
        let keep = (s.persist_client && head.wants_keep_alive() && !head.has_body())
            .then_some(s.persist_idle_timeout.as_secs());
        if let Some(out) = super::tracker::status_reply(head, shared, keep) {
            return super::tracker::send(conn, &out, keep).await.into();
        }
    }
    let continued = head.has_body() && head.expects_continue();
    if continued
        && conn
            .stream()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return Outcome::Close;
    }
    let mut progress = super::upload::Progress::new(s, head, now() as u64);
    let body = match &s.uploads {
        Some(up) if head.has_body() => {
            match super::upload::buffer(conn, buf, head, s, up, &mut progress).await {
                Ok(b) => b,
                Err(()) => return Outcome::Close,
            }
        }
        _ => {
            // 1.80 holds up to buffer_backend_connect bytes of the body
            // before asking for a backend, so slow uploads do not tie one up.
            let want = usize::try_from(head.content_length)
                .unwrap_or(usize::MAX)
                .min(s.buffer_backend_connect);
            while buf.len() < want {
                let read = tokio::time::timeout(s.idle_timeout, conn.stream().read_buf(buf));
                match read.await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Outcome::Close,
                }
                if let Some(p) = progress.as_mut() {
                    p.tick(buf.len() as u64);
                }
            }
            Body::Stream
        }
    };
    // The head as the backend gets it: rewritten only for a de-chunked
    // body, an Expect we answered ourselves, or the debugging reason
    // 1.80 gives a spooled body (not a chunked one).
    let reason = match &body {
        Body::Spool(f) if f.reason != "chunked" && super::upload::debug_reason() => Some(f.reason),
        _ => None,
    };
    let rewritten;
    let req = if continued || head.chunked || reason.is_some() {
        let mut r = head.clone();
        r.headers.remove("Expect");
        if let Some(why) = reason {
            r.headers.set("X-PERLBAL-BUFFERED-UPLOAD-REASON", why);
        }
        if let Some(n) = body.dechunked_len() {
            r.headers.remove("Transfer-Encoding");
            r.headers.put("Content-Length", n.to_string());
            r.content_length = n;
            r.chunked = false;
        }
        rewritten = r;
        &rewritten
    } else {
        head
    };
    shared.reqs.fetch_add(1, Ordering::Relaxed);
    state.set(SockState::CLIENT_WAIT_BACKEND);
    if s.reproxy && s.reproxy_cache_size > 0 && !req.has_body() {
        if let Some(done) = super::reproxy::from_cache(conn, req, s, svc, shared).await {
            return done.into();
        }
    }
    match proxy(
        conn,
        buf,
        io,
        req,
        &body,
        s,
        &mut progress,
        peer,
        prio,
        svc,
        shared,
        state,
    )
    .await
    {
        Ok(o) => o,
        Err(()) => Outcome::Close,
    }
}

/// Why no backend came for a client.
enum NoBackend {
    /// The client left (or broke the connection) while it waited.
    Gone,
    /// None came within idle_timeout of the client's last activity.
    TimedOut,
}

/// Waits for a backend; gives up if the client leaves meanwhile, or when
/// neither a backend nor a byte from the client came for `idle` (1.80
/// closed a waiting client `idle_timeout` after its last read: a pool
/// whose nodes never accept, or never pass verification, cannot hold it
/// longer). What the client sends meanwhile (more body, a pipelined
/// request) is kept, up to `cap` bytes; past that the client is no longer
/// read until a backend comes.
async fn backend_for(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    svc: &ServiceRt,
    prio: Priority,
    cap: usize,
    idle: Duration,
) -> Result<Backend, NoBackend> {
    let mut rx = match svc.acquire(prio) {
        Ok(be) => return Ok(be),
        Err(rx) => rx,
    };
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        if buf.len() >= cap {
            return match tokio::time::timeout_at(deadline, &mut rx).await {
                Ok(be) => be.map_err(|_| NoBackend::Gone),
                Err(_) => Err(NoBackend::TimedOut),
            };
        }
        tokio::select! {
            be = &mut rx => return be.map_err(|_| NoBackend::Gone),
            r = conn.stream().read_buf(buf) => match r {
                Ok(n) if n > 0 => deadline = tokio::time::Instant::now() + idle,
                _ => return Err(NoBackend::Gone),
            },
            () = tokio::time::sleep_until(deadline) => return Err(NoBackend::TimedOut),
        }
    }
}

/// A 502 for a backend that failed before answering: logged, written,
/// and the client closed.
async fn bad_gateway(
    conn: &mut ClientConn,
    service: &str,
    node: SocketAddr,
    s: &Settings,
    cause: &str,
) -> Result<Outcome, ()> {
    log_failure(service, node, 502, cause);
    let out = own_reply(502, "Bad Gateway", s.server_tokens);
    let _ = write_idle(conn.stream(), out.as_bytes(), s.idle_timeout).await;
    Err(())
}

/// Logs a failure perlbal answers with a 5xx of its own (`status`), or
/// that cuts a response short (`status` 0), naming the service, the
/// backend (`none` when no connection was made) and the cause.
pub(crate) fn log_failure(
    service: &str,
    backend: impl std::fmt::Display,
    status: u16,
    cause: &str,
) {
    tracing::warn!(service, backend = %backend, status, cause, "backend failure");
    // Logged: the client loop does not log it again.
    let _ = super::reply::take_failure();
}

/// One request to a backend.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    io: &mut Bufs,
    req: &RequestHead,
    body: &Body,
    s: &Arc<Settings>,
    progress: &mut Option<super::upload::Progress>,
    peer: IpAddr,
    prio: Priority,
    svc: &Arc<ServiceRt>,
    shared: &Arc<Shared>,
    state: &mut StateGuard,
) -> Result<Outcome, ()> {
    let mut tries = 0;
    // Retries after a 500 (enable_error_retries), as 1.80 counts them.
    let mut error_retries = 0;
    loop {
        // The request's settings (a selector's persist_client included).
        let s = s.clone();
        let cap = crate::proto::http::MAX_HEAD + s.buffer_backend_connect;
        let mut be = match backend_for(conn, buf, svc, prio, cap, s.idle_timeout).await {
            Ok(be) => be,
            Err(NoBackend::Gone) => return Err(()),
            Err(NoBackend::TimedOut) => {
                let cause = format!(
                    "no backend connection within idle_timeout ({} s)",
                    s.idle_timeout.as_secs()
                );
                log_failure(&svc.name, "none", 503, &cause);
                let out = own_reply_with(503, "Service Unavailable", &cause, s.server_tokens);
                let _ = write_idle(conn.stream(), out.as_bytes(), s.idle_timeout).await;
                return Err(());
            }
        };
        let assigned = super::plugins::backend_assigned(&s, prio);
        be.uses += 1;
        be.state.set(SockState::BACKEND_SENDING_REQ);
        state.set(SockState::CLIENT_BACKEND_REQ_SENT);
        let keep_backend =
            s.persist_backend && (s.max_backend_uses == 0 || be.uses < s.max_backend_uses);
        io.out.clear();
        let with_queues;
        let head = match super::plugins::queue_headers(&s, svc) {
            Some(lines) => {
                let mut r = req.clone();
                for (name, n) in lines {
                    r.headers.put(name, n.to_string());
                }
                with_queues = r;
                &with_queues
            }
            None => req,
        };
        s.rules
            .write_backend_head(head, peer, keep_backend, &mut io.out);
        if write_idle(&mut be.stream, &io.out, s.idle_timeout)
            .await
            .is_err()
        {
            if req.idempotent() && tries < RETRIES {
                tries += 1;
                continue;
            }
            let cause = "the backend took no request head";
            return bad_gateway(conn, &svc.name, be.node, &s, cause).await;
        }
        match body {
            // The body: what is already buffered, then the rest from the socket.
            Body::Stream => {
                let mut left = req.content_length;
                while left > 0 {
                    if buf.is_empty() {
                        let read =
                            tokio::time::timeout(s.idle_timeout, conn.stream().read_buf(buf));
                        match read.await {
                            Ok(Ok(n)) if n > 0 => {}
                            _ => return Err(()),
                        }
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    // A backend that stops reading the body holds the
                    // client no longer than idle_timeout either.
                    if write_idle(&mut be.stream, &buf[..take], s.idle_timeout)
                        .await
                        .is_err()
                    {
                        let cause = "the backend stopped taking the request body";
                        return bad_gateway(conn, &svc.name, be.node, &s, cause).await;
                    }
                    buf.advance(take);
                    left -= take as u64;
                    if let Some(p) = progress.as_mut() {
                        p.tick(req.content_length - left);
                    }
                }
            }
            Body::Memory(v) => {
                if write_idle(&mut be.stream, v, s.idle_timeout).await.is_err() {
                    let cause = "the backend stopped taking the request body";
                    return bad_gateway(conn, &svc.name, be.node, &s, cause).await;
                }
            }
            Body::Spool(f) => {
                let sent =
                    send_file(Sock::Tcp(&be.stream), &f.file, 0, f.len, s.idle_timeout).await;
                if sent.is_err() {
                    let cause = "the backend stopped taking the request body";
                    return bad_gateway(conn, &svc.name, be.node, &s, cause).await;
                }
                f.unlink();
            }
        }
        be.state.set(SockState::BACKEND_WAIT_RES);
        state.set(SockState::CLIENT_WAIT_RES);
        let rbuf = &mut io.resp;
        // Empty, and with all its room again: `advance` leaves the space
        // before the read position unused until a reserve reclaims it (a
        // short buffer would split a response into two reads and writes).
        rbuf.clear();
        rbuf.reserve(RESP_ROOM);
        // The head is read in place and written straight into the client's
        // head in `out` (status line and the backend's headers minus its
        // Connection and Keep-Alive); ours are added below.
        let out = &mut io.out;
        let head_request = req.method == "HEAD";
        let mut interim = false;
        // The whole head within idle_timeout: the client sees no progress
        // meanwhile (1.80 closed it idle_timeout after its last activity),
        // so a backend that never answers, or trickles its head, cannot
        // hold it longer.
        let head_by = tokio::time::Instant::now() + s.idle_timeout;
        let mut timed_out = false;
        let got = loop {
            out.clear();
            match relay_response(rbuf, head_request, req.minor, out) {
                // Interim 1xx answers (a backend's own 100 Continue) are
                // not ours to relay.
                Ok(Some((r, used))) if (100..200).contains(&r.status) && r.status != 101 => {
                    rbuf.advance(used);
                    interim = true;
                    continue;
                }
                Ok(Some(done)) => break Some(done),
                Ok(None) => {}
                Err(_) => break None,
            }
            match tokio::time::timeout_at(head_by, be.stream.read_buf(rbuf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => break None,
                Err(_) => {
                    timed_out = true;
                    break None;
                }
            }
        };
        let Some((resp, used)) = got else {
            if timed_out {
                // Not retried (another wait as long). 1.80 closed the
                // client without a word; a 504 says why.
                let cause = format!(
                    "no response head within idle_timeout ({} s)",
                    s.idle_timeout.as_secs()
                );
                log_failure(&svc.name, be.node, 504, &cause);
                let out = own_reply_with(504, "Gateway Timeout", &cause, s.server_tokens);
                let _ = write_idle(conn.stream(), out.as_bytes(), s.idle_timeout).await;
                return Err(());
            }
            if rbuf.is_empty() && !interim && req.idempotent() && tries < RETRIES {
                tracing::debug!(service = %svc.name, node = %be.node, "backend closed before answering: retrying");
                tries += 1;
                continue;
            }
            let cause = if rbuf.is_empty() {
                "backend closed the connection without a response"
            } else {
                "backend sent a bad response head"
            };
            if interim {
                log_failure(&svc.name, be.node, 0, cause);
            } else {
                log_failure(&svc.name, be.node, 502, cause);
                let out = own_reply(502, "Bad Gateway", s.server_tokens);
                let _ = write_idle(conn.stream(), out.as_bytes(), s.idle_timeout).await;
            }
            return Err(());
        };
        lock(&shared.nodes).responded(be.node, resp.status, now());
        super::plugins::response_received(&s, assigned, req);
        let length = resp.length.clone().map_err(|_| ())?;
        if s.reproxy && resp.reproxy {
            // An internal redirect: the head read again, owned.
            let full = parse_response(&rbuf[..used]).ok().flatten().map(|(f, _)| f);
            if let Some((full, d)) = full.and_then(|f| directive(&f).map(|d| (f, d))) {
                rbuf.advance(used);
                let reusable = keep_backend && resp.keep_alive;
                super::reproxy::finish_backend(be, rbuf, length, reusable, svc).await;
                state.set(SockState::CLIENT_XFER_RES);
                return Ok(match d {
                    Directive::File(path) => super::reproxy::file(conn, req, &full, &path, &s)
                        .await
                        .into(),
                    Directive::Url(urls) => {
                        if s.reproxy_cache_size > 0 {
                            super::reproxy::remember(svc, req, &full, &urls);
                        }
                        super::reproxy::url(conn, req, &full, &urls, &s, (&svc.name, shared))
                            .await
                            .into()
                    }
                    Directive::Service(name) => Outcome::Handoff(name),
                });
            }
        }
        // 1.80 hides a 500 to a GET or HEAD from the client while the
        // retry schedule lasts: a new backend after the step's wait.
        let get_or_head = req.method.starts_with("GET") || req.method.ends_with("HEAD");
        if resp.status == 500 && get_or_head && !req.has_body() {
            if let Some(wait) = s.error_retries.get(error_retries) {
                error_retries += 1;
                tracing::debug!(node = %be.node, retry = error_retries, "500 from a backend: retrying");
                drop(be);
                tokio::time::sleep(*wait).await;
                continue;
            }
        }
        // FlvStreaming: a ranged .flv answer becomes a whole FLV file.
        let flv = match length {
            BodyLength::Length(n) if super::plugins::flv_start(&s, &req.uri).is_some() => {
                super::plugins::flv_head(&rbuf[..used], n, out).map(|()| n)
            }
            _ => None,
        };
        rbuf.advance(used);
        // The status the client gets (FlvStreaming's head is a 200).
        super::reply::note_status(if flv.is_some() { 200 } else { resp.status });
        let client_keep = s.persist_client
            && req.wants_keep_alive()
            && match length {
                BodyLength::Empty | BodyLength::Length(_) => true,
                BodyLength::Chunked => req.minor >= 1,
                BodyLength::UntilClose => false,
            };
        let backend_keep = keep_backend && resp.keep_alive && length != BodyLength::UntilClose;
        if client_keep {
            out.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
            push_decimal(out, s.persist_idle_timeout.as_secs());
            out.extend_from_slice(b", max=100\r\n\r\n");
        } else {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
        }
        if flv.is_some() && !head_request {
            out.extend_from_slice(&super::plugins::FLV_HEADER);
        }
        state.set(SockState::CLIENT_XFER_RES);
        be.state.set(SockState::BACKEND_XFER_RES);
        let clean = match relay(
            conn,
            &mut be.stream,
            rbuf,
            length,
            out,
            s.buffer_size,
            s.idle_timeout,
        )
        .await
        {
            Ok(clean) => clean,
            Err(RelayError::Client) => return Err(()),
            Err(RelayError::Backend(cause)) => {
                log_failure(&svc.name, be.node, 0, cause);
                return Err(());
            }
        };
        if backend_keep && clean {
            svc.release(be);
        }
        return Ok(if client_keep && clean {
            Outcome::Keep
        } else {
            Outcome::Close
        });
    }
}

/// Relays the response body after `out` (the head); `Ok(true)` when it
/// ended exactly where its framing says. The head goes out in one write
/// with the first body bytes (a head that came alone waits for them when
/// the body has a Content-Length, so a backend that writes its head and
/// body apart costs no extra write and client wake-up); later body bytes
/// are written straight from `rbuf`. Either side idle for `idle` (no byte
/// from the backend, or none taken by the client) ends it: a backend that
/// stalls mid-body, or a client that stops reading, holds a connection
/// and its buffer no longer than that.
pub(crate) async fn relay(
    conn: &mut ClientConn,
    be: &mut TcpStream,
    rbuf: &mut BytesMut,
    length: BodyLength,
    out: &mut Vec<u8>,
    buffer_size: usize,
    idle: Duration,
) -> Result<bool, RelayError> {
    let to_client = RelayError::Client;
    let mut left = match length {
        BodyLength::Empty => 0,
        BodyLength::Length(n) => n,
        _ => u64::MAX,
    };
    let mut chunked = (length == BodyLength::Chunked).then(Chunked::default);
    // Whether `out` holds the head alone, waiting for body bytes.
    let mut hold = matches!(length, BodyLength::Length(n) if n > 0);
    loop {
        // Move what we have into `out`, as far as the body goes.
        if !rbuf.is_empty() && left > 0 {
            let mut take = usize::try_from(left).unwrap_or(usize::MAX).min(rbuf.len());
            if let Some(c) = chunked.as_mut() {
                take = c
                    .feed(&rbuf[..take])
                    .map_err(|_| RelayError::Backend("bad chunked framing from the backend"))?;
                if c.done() {
                    left = 0;
                }
            } else if length != BodyLength::UntilClose {
                left -= take as u64;
            }
            if out.is_empty() {
                write_idle(conn.stream(), &rbuf[..take], idle)
                    .await
                    .map_err(|()| to_client)?;
            } else {
                out.extend_from_slice(&rbuf[..take]);
            }
            rbuf.advance(take);
            hold = false;
        }
        if !out.is_empty() && !hold {
            write_idle(conn.stream(), out, idle)
                .await
                .map_err(|()| to_client)?;
            out.clear();
        }
        if left == 0 {
            return Ok(rbuf.is_empty());
        }
        // Room for what is left of the body, up to buffer_size (64 KiB at
        // most): a small body grows no buffer.
        let room = usize::try_from(left).unwrap_or(usize::MAX);
        rbuf.reserve(room.min(buffer_size).min(64 * 1024));
        match tokio::time::timeout(idle, be.read_buf(rbuf)).await {
            Ok(Ok(0)) if length == BodyLength::UntilClose => return Ok(false),
            Ok(Ok(0)) => return Err(RelayError::Backend("the backend closed mid-response")),
            Ok(Err(_)) => return Err(RelayError::Backend("a read error mid-response")),
            Ok(Ok(_)) => {}
            Err(_) => {
                return Err(RelayError::Backend(
                    "the backend was idle mid-response for idle_timeout",
                ))
            }
        }
    }
}

/// Why [`relay`] stopped short.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RelayError {
    /// The client left, or took no byte for idle_timeout.
    Client,
    /// The backend (or reproxy target) failed, as said.
    Backend(&'static str),
}

/// Writes all of `bytes`, giving up when the peer takes none of them for
/// `idle` (each partial write is progress, as 1.80 counted it).
pub(crate) async fn write_idle<W>(w: &mut W, mut bytes: &[u8], idle: Duration) -> Result<(), ()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    while !bytes.is_empty() {
        match tokio::time::timeout(idle, w.write(bytes)).await {
            Ok(Ok(n)) if n > 0 => bytes = &bytes[n..],
            Ok(_) => return Err(()),
            Err(_) => {
                tracing::debug!("client took nothing for idle_timeout: closing");
                return Err(());
            }
        }
    }
    Ok(())
}
