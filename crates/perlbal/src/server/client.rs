//! A client connection: read a request head (bounded), apply the
//! service's plugins, then per role serve it from disk ([`super::web`]) or
//! proxy it ([`super::proxy`]); keep the connection for the next request
//! when both sides allow it. An `X-REPROXY-SERVICE` answer runs the
//! request again on the named service.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::admit::{denied, Admit};
use super::backend::{SockState, StateGuard};
use super::conn::ClientConn;
use super::dispatch::ServiceRt;
use super::settings::Role;
use super::{lock, Shared};
use crate::proto::http::{parse_request_reusing, HeadError, RequestHead};

/// Serves one client until it leaves or a request cannot keep it.
pub(crate) async fn serve(conn: ClientConn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
    super::reply::with_status_cell(serve_in_cell(conn, svc, shared)).await
}

/// [`serve`], with the connection's status cell in place.
async fn serve_in_cell(mut conn: ClientConn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
    // Clients come over TCP (plain or TLS).
    let Some(peer) = conn.peer() else { return };
    // A web_server's clients count as 1.80's ClientHTTP, others as ClientProxy.
    let web = svc.settings().role == Role::WebServer;
    let (reading, persist) = if web {
        (SockState::WEB_READING_HEADERS, SockState::WEB_PERSIST_WAIT)
    } else {
        (
            SockState::CLIENT_READING_HEADERS,
            SockState::CLIENT_PERSIST_WAIT,
        )
    };
    let fd = conn.raw_fd();
    let desc = format!("open from {peer} for service '{}'", svc.name);
    let mut state = StateGuard::new(&shared, &svc.states, reading, fd, desc);
    let mut buf = BytesMut::with_capacity(HEAD_ROOM);
    // Reused by every request on this connection.
    let mut io = Bufs::new();
    // The last request's head, whose allocations the next one reuses.
    let mut spare: Option<RequestHead> = None;
    let mut first = true;
    let mut head_started: Option<tokio::time::Instant> = None;
    loop {
        let s = svc.settings();
        conn.set_idle(s.idle_timeout);
        if let Some(t) = conn.stream().tcp() {
            if s.client_sndbuf > 0 {
                let _ = socket2::SockRef::from(t).set_send_buffer_size(s.client_sndbuf);
            }
        }
        // Wait for a complete head; idle keep-alive waits end at shutdown.
        let head = loop {
            match parse_request_reusing(&buf, &mut spare) {
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
                    let detail = format!("Invalid request: {why}");
                    let out = own_reply_with(400, "Bad request", &detail, s.server_tokens);
                    let _ = conn.stream().write_all(out.as_bytes()).await;
                    // No request was read: a response, not a request.
                    svc.responded(super::reply::take_status());
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
            if idle {
                // All its room again (`advance` leaves the front unused
                // until a reserve reclaims it), so a head comes in one read.
                buf.reserve(HEAD_ROOM);
            }
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
        let started = tokio::time::Instant::now();
        // Whatever status is noted from here on answers this request.
        super::reply::take_status();
        super::reply::take_failure();
        // The settings as they are now: a console change made while this
        // connection waited applies to its next request.
        let s = svc.settings();
        // Plugins beyond AccessControl/Highpri, and selectors (which pick
        // the service in `cur`): none on the plain path.
        let (mut head, mut cur, mut s) = (head, svc.clone(), s);
        // Throttle counts the request as in progress until this drops.
        let mut in_progress = None;
        if s.plugins.is_some() {
            use super::plugins::{start, Start};
            match start(
                &mut conn,
                &mut head,
                &mut cur,
                &mut s,
                peer,
                &shared,
                &mut in_progress,
            )
            .await
            {
                Start::Go => {}
                Start::Done(true) => {
                    answered(&cur, started);
                    state.set(persist);
                    continue;
                }
                Start::Done(false) => {
                    answered(&cur, started);
                    conn.close(s.idle_timeout).await;
                    return;
                }
            }
        }
        let prio = match s.admit(&head, peer) {
            Admit::Queue(p) => p,
            Admit::Deny => {
                // The body is unread: keep the client only without one.
                let keep = s.persist_client && head.wants_keep_alive() && head.content_length == 0;
                let timeout = s.persist_idle_timeout.as_secs();
                let out = denied(&head, keep, timeout, s.server_tokens);
                let sent = conn.stream().write_all(out.as_bytes()).await;
                answered(&cur, started);
                if sent.is_err() || !keep {
                    conn.close(s.idle_timeout).await;
                    return;
                }
                state.set(persist);
                continue;
            }
        };
        // Cgilike: a program answers, and the connection closes.
        if let Some(cgi) = s.plugins.as_ref().and_then(|p| p.cgi_for(&head.uri)) {
            shared.reqs.fetch_add(1, Ordering::Relaxed);
            super::cgi::serve(&mut conn, &mut buf, &head, peer, &s, &cgi).await;
            // Cgilike logs its own failures.
            super::reply::take_failure();
            answered(&cur, started);
            conn.close(s.idle_timeout).await;
            return;
        }
        // Hand-offs (X-REPROXY-SERVICE) run the request again elsewhere.
        let mut req = head;
        let mut hops = 0;
        // The listening service's settings serve the first round.
        let mut next_s = Some(s);
        let keep = loop {
            let s = next_s.take().unwrap_or_else(|| cur.settings());
            let outcome = if s.role == Role::WebServer {
                shared.reqs.fetch_add(1, Ordering::Relaxed);
                state.set(SockState::WEB_XFER_RESP);
                match super::web::serve(&mut conn, &mut buf, &req, &s).await {
                    Ok(true) => Outcome::Keep,
                    _ => Outcome::Close,
                }
            } else {
                super::proxy::proxy_request(
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
        answered(&cur, started);
        if keep {
            state.set(persist);
            if req.heap_size() <= KEEP_BUF {
                spare = Some(req);
            }
            // An idle keep-alive client holds no large buffers.
            if io.resp.capacity() > KEEP_BUF || io.out.capacity() > KEEP_BUF {
                io = Bufs::new();
            }
        } else {
            conn.close(cur.settings().idle_timeout).await;
            return;
        }
    }
}

/// Counts a request under the service that answered it (the last one,
/// after hand-offs): the request, its latency, and the status class of
/// the response written for it, if one was.
///
/// A 5xx perlbal made itself that nobody logged yet (a web_server's
/// docroot or disk error, a selector that cannot route) is logged here.
fn answered(svc: &ServiceRt, started: tokio::time::Instant) {
    svc.requests.fetch_add(1, Ordering::Relaxed);
    svc.latency.observe(started.elapsed());
    let status = super::reply::take_status();
    if let Some(cause) = super::reply::take_failure() {
        tracing::warn!(service = %svc.name, backend = "none", status, cause, "request failed");
    }
    svc.responded(status);
}

/// The room a request head is read into.
const HEAD_ROOM: usize = 4096;

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

/// A client's buffers for the backend side, kept across its requests.
pub(crate) struct Bufs {
    /// What the backend sent and has not been relayed yet.
    pub resp: BytesMut,
    /// What goes out next: the request head to the backend, then the
    /// response head (and the first part of the body) to the client.
    pub out: Vec<u8>,
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
pub(crate) fn own_reply(code: u16, msg: &str, server_tokens: bool) -> String {
    own_reply_with(code, msg, "", server_tokens)
}

/// As [`own_reply`], with `detail` after the heading (1.80's
/// `_simple_response` message).
pub(crate) fn own_reply_with(code: u16, msg: &str, detail: &str, server_tokens: bool) -> String {
    super::reply::local_status(code);
    let body = format!("<h1>{code} - {msg}</h1>\n{detail}");
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
