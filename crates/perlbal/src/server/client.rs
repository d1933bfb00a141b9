//! A client connection: read a request head (bounded), then per service
//! role either serve it from disk ([`super::web`]) or proxy it: hold or
//! spool the body ([`super::upload`]), queue for a backend, send the
//! request as HTTP/1.0, relay the response (Content-Length, chunked or
//! until close) or follow the backend's internal redirect
//! ([`super::reproxy`]), keep both sides alive when they allow it, and
//! retry an idempotent request on another backend when the first one dies
//! before answering. An `X-REPROXY-SERVICE` answer runs the request again
//! on the named service.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use danga_common::{Conn, PeerAddr};
use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::admit::{denied, Admit};
use super::backend::{read_head, Backend, SockState, StateGuard};
use super::dispatch::ServiceRt;
use super::sendfile::{send_file, Sock};
use super::settings::{Role, Settings};
use super::upload::Body;
use super::{lock, now, Shared};
use crate::core::Priority;
use crate::proto::chunked::Chunked;
use crate::proto::http::{parse_request, BodyLength, HeadError, RequestHead};
use crate::proto::reproxy::{directive, Directive};
use tokio::net::TcpStream;

/// How often an idempotent request is tried on another backend.
const RETRIES: usize = 3;

/// Serves one client until it leaves or a request cannot keep it.
pub(crate) async fn serve(mut conn: Conn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
    let peer = match conn.peer() {
        PeerAddr::Tcp(a) => a.ip(),
        PeerAddr::Unix => IpAddr::from([127, 0, 0, 1]),
    };
    let mut state = StateGuard::new(&shared, SockState::CLIENT_READING_HEADERS);
    let mut buf = BytesMut::with_capacity(4096);
    // Reused by every request on this connection.
    let mut io = Bufs::new();
    let mut first = true;
    let mut head_started: Option<tokio::time::Instant> = None;
    loop {
        let s = svc.settings();
        if let danga_common::Stream::Tcp(t) = conn.stream() {
            if s.client_sndbuf > 0 {
                let _ = socket2::SockRef::from(&*t).set_send_buffer_size(s.client_sndbuf);
            }
        }
        // Wait for a complete head; idle keep-alive waits end at shutdown.
        let head = loop {
            match parse_request(&buf) {
                Ok(Some((head, used))) => {
                    buf.advance(used);
                    break head;
                }
                Ok(None) => {}
                Err(HeadError::Close(why)) => {
                    tracing::debug!(why, "closing client");
                    return;
                }
                Err(HeadError::BadRequest(why)) => {
                    tracing::debug!(why, "400");
                    let out = own_reply(400, "Bad request", s.server_tokens);
                    let _ = conn.stream().write_all(out.as_bytes()).await;
                    return;
                }
            }
            let idle = buf.is_empty();
            // A head must arrive whole within idle_timeout of its first
            // byte (slowloris), a new one within the keep-alive timeout.
            let deadline = if idle {
                let wait = if first {
                    s.idle_timeout
                } else {
                    s.persist_idle_timeout
                };
                head_started = None;
                tokio::time::Instant::now() + wait
            } else {
                *head_started.get_or_insert_with(|| tokio::time::Instant::now() + s.idle_timeout)
            };
            let read = tokio::time::timeout_at(deadline, conn.stream().read_buf(&mut buf));
            let got = if idle {
                match shared.shutdown.until_stopped(read).await {
                    Some(r) => r,
                    None => return,
                }
            } else {
                read.await
            };
            match got {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        };
        first = false;
        head_started = None;
        let prio = match s.admit(&head, peer) {
            Admit::Queue(p) => p,
            Admit::Deny => {
                // The body is unread: keep the client only without one.
                let keep = s.persist_client && head.wants_keep_alive() && head.content_length == 0;
                let timeout = s.persist_idle_timeout.as_secs();
                let out = denied(&head, keep, timeout, s.server_tokens);
                if conn.stream().write_all(out.as_bytes()).await.is_err() || !keep {
                    let _ = conn.stream().shutdown().await;
                    return;
                }
                state.set(SockState::CLIENT_PERSIST_WAIT);
                continue;
            }
        };
        // Hand-offs (X-REPROXY-SERVICE) run the request again elsewhere.
        let mut cur = svc.clone();
        let mut req = head;
        let mut hops = 0;
        // The listening service's settings serve the first round.
        let mut next_s = Some(s);
        let keep = loop {
            let s = next_s.take().unwrap_or_else(|| cur.settings());
            let outcome = if s.role == Role::WebServer {
                shared.reqs.fetch_add(1, Ordering::Relaxed);
                state.set(SockState::CLIENT_XFER_RES);
                match super::web::serve(&mut conn, &mut buf, &req, &s).await {
                    Ok(true) => Outcome::Keep,
                    _ => Outcome::Close,
                }
            } else {
                proxy_request(
                    &mut conn, &mut buf, &mut io, &req, peer, prio, &cur, &s, &shared, &mut state,
                )
                .await
            };
            match outcome {
                Outcome::Keep => break true,
                Outcome::Close => break false,
                Outcome::Handoff(name) => {
                    let next = lock(&shared.services).get(&name).cloned();
                    match next {
                        Some(rt) if hops < MAX_HANDOFFS => {
                            hops += 1;
                            cur = rt;
                            // Its body (if any) went to the first backend.
                            req.headers.remove("Content-Length");
                            req.content_length = 0;
                        }
                        _ => {
                            let keep = (s.persist_client && req.wants_keep_alive())
                                .then_some(s.persist_idle_timeout.as_secs());
                            let out = super::reply::simple(
                                404,
                                "Vhost twiddling not configured for requested pair.",
                                req.method == "HEAD",
                                keep,
                                s.server_tokens,
                            );
                            let sent = conn.stream().write_all(&out).await.is_ok();
                            break sent && keep.is_some();
                        }
                    }
                }
            }
        };
        if keep {
            state.set(SockState::CLIENT_PERSIST_WAIT);
            // An idle keep-alive client holds no large buffers.
            if io.resp.capacity() > KEEP_BUF || io.out.capacity() > KEEP_BUF {
                io = Bufs::new();
            }
        } else {
            let _ = conn.stream().shutdown().await;
            return;
        }
    }
}

/// How many X-REPROXY-SERVICE hand-offs one request may take.
const MAX_HANDOFFS: usize = 4;

/// How a request ended.
pub(crate) enum Outcome {
    /// The client connection stays open for the next request.
    Keep,
    /// It closes.
    Close,
    /// Run the request on this service (X-REPROXY-SERVICE).
    Handoff(String),
}

impl From<Result<bool, ()>> for Outcome {
    fn from(r: Result<bool, ()>) -> Self {
        match r {
            Ok(true) => Outcome::Keep,
            _ => Outcome::Close,
        }
    }
}

/// One request on a reverse_proxy service: the body (buffered, spooled or
/// streamed), the reproxy cache, then a backend.
#[allow(clippy::too_many_arguments)]
async fn proxy_request(
    conn: &mut Conn,
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
    // body or an Expect we answered ourselves.
    let rewritten;
    let req = if continued || head.chunked {
        let mut r = head.clone();
        r.headers.remove("Expect");
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

/// A client's buffers for the backend side, kept across its requests.
struct Bufs {
    /// What the backend sent and has not been relayed yet.
    resp: BytesMut,
    /// What goes out next: the request head to the backend, then the
    /// response head (and the first part of the body) to the client.
    out: Vec<u8>,
}

/// The most buffer space an idle client keeps.
const KEEP_BUF: usize = 32 * 1024;

impl Bufs {
    fn new() -> Bufs {
        Bufs {
            resp: BytesMut::with_capacity(8192),
            out: Vec::with_capacity(8192),
        }
    }
}

/// A response perlbal makes itself (1.80's `send_response`).
fn own_reply(code: u16, msg: &str, server_tokens: bool) -> String {
    let body = format!("<h1>{code} - {msg}</h1>\n");
    let server = if server_tokens {
        "Server: Perlbal\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.0 {code} {msg}\r\n{server}Content-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Waits for a backend; gives up if the client leaves meanwhile. What
/// the client sends meanwhile (more body, a pipelined request) is kept, up
/// to `cap` bytes; past that the client is no longer read until a backend
/// comes.
async fn backend_for(
    conn: &mut Conn,
    buf: &mut BytesMut,
    svc: &ServiceRt,
    prio: Priority,
    cap: usize,
) -> Result<Backend, ()> {
    let mut rx = svc.acquire(prio);
    loop {
        if buf.len() >= cap {
            return (&mut rx).await.map_err(|_| ());
        }
        tokio::select! {
            be = &mut rx => return be.map_err(|_| ()),
            r = conn.stream().read_buf(buf) => match r {
                Ok(n) if n > 0 => {}
                _ => return Err(()),
            },
        }
    }
}

/// One request to a backend.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    conn: &mut Conn,
    buf: &mut BytesMut,
    io: &mut Bufs,
    req: &RequestHead,
    body: &Body,
    progress: &mut Option<super::upload::Progress>,
    peer: IpAddr,
    prio: Priority,
    svc: &Arc<ServiceRt>,
    shared: &Arc<Shared>,
    state: &mut StateGuard,
) -> Result<Outcome, ()> {
    let mut tries = 0;
    loop {
        let s = svc.settings();
        let cap = crate::proto::http::MAX_HEAD + s.buffer_backend_connect;
        let mut be = backend_for(conn, buf, svc, prio, cap).await?;
        be.uses += 1;
        be.state.set(SockState::BACKEND_SENDING_REQ);
        state.set(SockState::CLIENT_BACKEND_REQ_SENT);
        let keep_backend =
            s.persist_backend && (s.max_backend_uses == 0 || be.uses < s.max_backend_uses);
        io.out.clear();
        s.rules
            .write_backend_head(req, peer, keep_backend, &mut io.out);
        if be.stream.write_all(&io.out).await.is_err() {
            if req.idempotent() && tries < RETRIES {
                tries += 1;
                continue;
            }
            return Err(());
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
                    be.stream.write_all(&buf[..take]).await.map_err(|_| ())?;
                    buf.advance(take);
                    left -= take as u64;
                    if let Some(p) = progress.as_mut() {
                        p.tick(req.content_length - left);
                    }
                }
            }
            Body::Memory(v) => be.stream.write_all(v).await.map_err(|_| ())?,
            Body::Spool(f) => send_file(Sock::Tcp(&be.stream), &f.file, 0, f.len)
                .await
                .map_err(|_| ())?,
        }
        be.state.set(SockState::BACKEND_WAIT_RES);
        let rbuf = &mut io.resp;
        rbuf.clear();
        let resp = match read_head(&mut be.stream, rbuf).await {
            Ok(Some(r)) => r,
            _ if rbuf.is_empty() && req.idempotent() && tries < RETRIES => {
                tries += 1;
                continue;
            }
            _ => {
                let out = own_reply(502, "Bad Gateway", s.server_tokens);
                let _ = conn.stream().write_all(out.as_bytes()).await;
                return Err(());
            }
        };
        let (mut resp, used) = resp;
        rbuf.advance(used);
        // Interim 1xx answers (a backend's own 100 Continue) are not ours
        // to relay.
        while (100..200).contains(&resp.status) && resp.status != 101 {
            match read_head(&mut be.stream, rbuf).await {
                Ok(Some((r, used))) => {
                    rbuf.advance(used);
                    resp = r;
                }
                _ => return Err(()),
            }
        }
        lock(&shared.nodes).responded(be.node, resp.status, now());
        let length = resp.body(req.method == "HEAD").map_err(|_| ())?;
        if s.reproxy {
            if let Some(d) = directive(&resp) {
                let reusable = keep_backend && resp.keep_alive();
                super::reproxy::finish_backend(be, rbuf, length, reusable, svc).await;
                state.set(SockState::CLIENT_XFER_RES);
                return Ok(match d {
                    Directive::File(path) => super::reproxy::file(conn, req, &resp, &path, &s)
                        .await
                        .into(),
                    Directive::Url(urls) => {
                        if s.reproxy_cache_size > 0 {
                            super::reproxy::remember(svc, req, &resp, &urls);
                        }
                        super::reproxy::url(conn, req, &resp, &urls, &s, shared)
                            .await
                            .into()
                    }
                    Directive::Service(name) => Outcome::Handoff(name),
                });
            }
        }
        let client_keep = s.persist_client
            && req.wants_keep_alive()
            && match length {
                BodyLength::Empty | BodyLength::Length(_) => true,
                BodyLength::Chunked => req.minor >= 1,
                BodyLength::UntilClose => false,
            };
        let backend_keep = keep_backend && resp.keep_alive() && length != BodyLength::UntilClose;
        // The head, written straight into the output buffer (writing to a
        // Vec cannot fail): the backend's headers minus its Connection and
        // Keep-Alive, then ours.
        let out = &mut io.out;
        out.clear();
        let _ = write!(
            out,
            "HTTP/1.{} {} {}\r\n",
            req.minor.min(1),
            resp.status,
            resp.reason
        );
        for h in &resp.headers.0 {
            if h.name.eq_ignore_ascii_case("Connection")
                || h.name.eq_ignore_ascii_case("Keep-Alive")
            {
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
        if client_keep {
            let _ = write!(
                out,
                "Connection: keep-alive\r\nKeep-Alive: timeout={}, max=100\r\n\r\n",
                s.persist_idle_timeout.as_secs()
            );
        } else {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
        }
        state.set(SockState::CLIENT_XFER_RES);
        be.state.set(SockState::BACKEND_XFER_RES);
        let clean = relay(conn, &mut be.stream, rbuf, length, out, s.buffer_size).await?;
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
/// with the body bytes that came with it; later body bytes are written
/// straight from `rbuf`.
pub(crate) async fn relay(
    conn: &mut Conn,
    be: &mut TcpStream,
    rbuf: &mut BytesMut,
    length: BodyLength,
    out: &mut Vec<u8>,
    buffer_size: usize,
) -> Result<bool, ()> {
    let mut left = match length {
        BodyLength::Empty => 0,
        BodyLength::Length(n) => n,
        _ => u64::MAX,
    };
    let mut chunked = (length == BodyLength::Chunked).then(Chunked::default);
    loop {
        // Move what we have into `out`, as far as the body goes.
        if !rbuf.is_empty() && left > 0 {
            let mut take = usize::try_from(left).unwrap_or(usize::MAX).min(rbuf.len());
            if let Some(c) = chunked.as_mut() {
                take = c.feed(&rbuf[..take]).map_err(|_| ())?;
                if c.done() {
                    left = 0;
                }
            } else if length != BodyLength::UntilClose {
                left -= take as u64;
            }
            if out.is_empty() {
                conn.stream()
                    .write_all(&rbuf[..take])
                    .await
                    .map_err(|_| ())?;
            } else {
                out.extend_from_slice(&rbuf[..take]);
            }
            rbuf.advance(take);
        }
        if !out.is_empty() {
            conn.stream().write_all(out).await.map_err(|_| ())?;
            out.clear();
        }
        if left == 0 {
            return Ok(rbuf.is_empty());
        }
        rbuf.reserve(buffer_size.min(64 * 1024));
        match be.read_buf(rbuf).await {
            Ok(0) if length == BodyLength::UntilClose => return Ok(false),
            Ok(0) | Err(_) => return Err(()),
            Ok(_) => {}
        }
    }
}
