//! Phase 3, dispatch: a backend for the request and its answer's head.
//! A backend is waited for (queued by priority: [`ServiceRt::acquire`])
//! while the client is watched; the request goes as HTTP/1.0 with its
//! body; the response head is read within idle_timeout (interim 1xx
//! skipped). An idempotent request goes to another backend when one
//! fails before it could have acted on it ([`ProxyError::may_retry`]);
//! a 500 to a GET or HEAD is retried as `error_retry_schedule` says.
//!
//! [`ServiceRt::acquire`]: super::super::dispatch::ServiceRt::acquire

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use super::super::backend::{Backend, SockState};
use super::super::conn::{write_idle, ClientConn};
use super::super::dispatch::ServiceRt;
use super::super::plugins;
use super::super::sendfile::{send_file, Sock};
use super::super::upload::Body;
use super::super::{lock, now};
use super::error::ProxyError;
use super::exchange::{Answer, Client, Exchange};
use crate::core::Priority;
use crate::proto::http::{parse_response, relay_response, RelayHead, MAX_HEAD};
use crate::proto::reproxy::directive;

/// The room a response head is read into (a whole small response, head
/// and body, fits).
const RESP_ROOM: usize = 8192;

/// A backend's answer to the request (its head read), or why none came.
pub(crate) async fn run(c: &mut Client, ex: &mut Exchange) -> Result<Answer, ProxyError> {
    let mut tries = 0;
    // Retries after a 500 (enable_error_retries), as 1.80 counts them.
    let mut error_retries = 0;
    loop {
        let mut be = backend_for(c, ex).await?;
        let s = ex.s.clone();
        let assigned = plugins::backend_assigned(&s, ex.prio);
        be.uses += 1;
        be.state.set(SockState::BACKEND_SENDING_REQ);
        c.state.set(SockState::CLIENT_BACKEND_REQ_SENT);
        let keep_backend =
            s.persist_backend && (s.max_backend_uses == 0 || be.uses < s.max_backend_uses);
        let sent = match send(c, ex, &mut be, keep_backend).await {
            Ok(()) => read_head(c, ex, &mut be).await,
            Err(e) => Err(e),
        };
        let head = match sent {
            Ok(head) => head,
            Err(e) => {
                let e = e.at(be.node);
                if e.may_retry(ex.backend_head().idempotent(), tries) {
                    tracing::debug!(service = %ex.svc.name, node = %be.node, cause = &*e.cause, "retrying on another backend");
                    tries += 1;
                    continue;
                }
                return Err(e);
            }
        };
        let (resp, used) = head;
        let req = ex.backend_head();
        // The clock read before the lock: both threads take this one.
        let t = now();
        lock(&c.shared.nodes).responded(be.node, resp.status, t);
        plugins::response_received(&s, assigned, req);
        let Ok(length) = resp.length.clone() else {
            let cause = "backend sent a bad body length";
            return Err(ProxyError::cut_short(super::error::Side::Backend, cause).at(be.node));
        };
        let rbuf = &c.io.resp;
        if s.reproxy && resp.reproxy {
            // An internal redirect: the head read again, owned.
            let full = parse_response(&rbuf[..used]).ok().flatten().map(|(f, _)| f);
            if let Some((full, d)) = full.and_then(|f| directive(&f).map(|d| (f, d))) {
                return Ok(answer(
                    be,
                    &resp,
                    (length, used),
                    keep_backend,
                    Some((full, d)),
                ));
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
        return Ok(answer(be, &resp, (length, used), keep_backend, None));
    }
}

fn answer(
    be: Backend,
    resp: &RelayHead,
    (length, used): (crate::proto::http::BodyLength, usize),
    keep_backend: bool,
    reproxy: Option<(
        crate::proto::http::ResponseHead,
        crate::proto::reproxy::Directive,
    )>,
) -> Answer {
    Answer {
        be,
        status: resp.status,
        length,
        keep_alive: resp.keep_alive,
        keep_backend,
        used,
        reproxy,
    }
}

/// Waits for a backend; gives up if the client leaves meanwhile, or when
/// neither a backend nor a byte from the client came for idle_timeout
/// (1.80 closed a waiting client `idle_timeout` after its last read: a
/// pool whose nodes never accept, or never pass verification, cannot
/// hold it longer). What the client sends meanwhile (more body, a
/// pipelined request) is kept, up to a head and buffer_backend_connect
/// bytes; past that the client is no longer read until a backend comes.
async fn backend_for(c: &mut Client, ex: &Exchange) -> Result<Backend, ProxyError> {
    let idle = ex.s.idle_timeout;
    let cap = MAX_HEAD + ex.s.buffer_backend_connect;
    let waited = wait(&mut c.conn, &mut c.buf, &ex.svc, ex.prio, (cap, idle)).await;
    waited.map_err(|gone| {
        if gone {
            ProxyError::client_gone()
        } else {
            ProxyError::no_backend(idle)
        }
    })
}

/// [`backend_for`]'s wait; `Err(true)`: the client left, `Err(false)`:
/// timed out.
async fn wait(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    svc: &ServiceRt,
    prio: Priority,
    (cap, idle): (usize, Duration),
) -> Result<Backend, bool> {
    let mut rx = match svc.acquire(prio) {
        Ok(be) => return Ok(be),
        Err(rx) => rx,
    };
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        let handed = if buf.len() >= cap {
            match tokio::time::timeout_at(deadline, &mut rx).await {
                Ok(be) => be,
                Err(_) => return Err(false),
            }
        } else {
            tokio::select! {
                be = &mut rx => be,
                r = conn.stream().read_buf(buf) => match r {
                    Ok(n) if n > 0 => {
                        deadline = tokio::time::Instant::now() + idle;
                        continue;
                    }
                    _ => return Err(true),
                },
                () = tokio::time::sleep_until(deadline) => return Err(false),
            }
        };
        let be = handed.map_err(|_| true)?;
        // Handed over from another thread's client: moved to this
        // thread's runtime; one that cannot be is closed, and the client
        // asks again.
        match be.here() {
            Ok(be) => return Ok(be),
            Err(_) => match svc.acquire(prio) {
                Ok(be) => return Ok(be),
                Err(next) => rx = next,
            },
        }
    }
}

/// Sends the request head (HTTP/1.0, with the Queues plugin's headers)
/// and the body: what is buffered, then the rest from the client; held
/// in memory; or the spool file with sendfile.
async fn send(
    c: &mut Client,
    ex: &mut Exchange,
    be: &mut Backend,
    keep_backend: bool,
) -> Result<(), ProxyError> {
    let Exchange {
        req,
        to_backend,
        s,
        svc,
        body,
        progress,
        peer,
        ..
    } = ex;
    let req = to_backend.as_ref().unwrap_or(req);
    let idle = s.idle_timeout;
    let out = &mut c.io.out;
    out.clear();
    let with_queues;
    let head = match plugins::queue_headers(s, svc) {
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
    s.rules.write_backend_head(head, *peer, keep_backend, out);
    if write_idle(&mut be.stream, out, idle).await.is_err() {
        return Err(ProxyError::bad_gateway(
            "the backend took no request head",
            true,
        ));
    }
    let refused = || ProxyError::bad_gateway("the backend stopped taking the request body", false);
    match body {
        Body::Stream => {
            let buf = &mut c.buf;
            let mut left = req.content_length;
            while left > 0 {
                if buf.is_empty() {
                    let read = tokio::time::timeout(idle, c.conn.stream().read_buf(buf));
                    match read.await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return Err(ProxyError::client_gone()),
                    }
                }
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                // A backend that stops reading the body holds the client
                // no longer than idle_timeout either.
                if write_idle(&mut be.stream, &buf[..take], idle)
                    .await
                    .is_err()
                {
                    return Err(refused());
                }
                buf.advance(take);
                left -= take as u64;
                if let Some(p) = progress.as_mut() {
                    p.tick(req.content_length - left);
                }
            }
        }
        Body::Memory(v) => {
            if write_idle(&mut be.stream, v, idle).await.is_err() {
                return Err(refused());
            }
        }
        Body::Spool(f) => {
            let sent = send_file(Sock::Tcp(&be.stream), &f.file, 0, f.len, idle).await;
            if sent.is_err() {
                return Err(refused());
            }
            f.unlink();
        }
    }
    Ok(())
}

/// Reads the response head into `io.resp`, writing the client's head
/// into `io.out` (status line and the backend's headers minus its
/// Connection and Keep-Alive; the relay adds ours). The whole head within
/// idle_timeout: the client sees no progress meanwhile (1.80 closed it
/// idle_timeout after its last activity), so a backend that never
/// answers, or trickles its head, cannot hold it longer.
async fn read_head(
    c: &mut Client,
    ex: &Exchange,
    be: &mut Backend,
) -> Result<(RelayHead, usize), ProxyError> {
    be.state.set(SockState::BACKEND_WAIT_RES);
    c.state.set(SockState::CLIENT_WAIT_RES);
    let req = ex.backend_head();
    let (rbuf, out) = (&mut c.io.resp, &mut c.io.out);
    // Empty, and with all its room again: `advance` leaves the space
    // before the read position unused until a reserve reclaims it (a
    // short buffer would split a response into two reads and writes).
    rbuf.clear();
    rbuf.reserve(RESP_ROOM);
    let head_request = req.method == "HEAD";
    let mut interim = false;
    let head_by = tokio::time::Instant::now() + ex.s.idle_timeout;
    loop {
        out.clear();
        // Nothing to parse before the first read.
        let parsed = if rbuf.is_empty() {
            Ok(None)
        } else {
            relay_response(rbuf, head_request, req.minor, out)
        };
        match parsed {
            // Interim 1xx answers (a backend's own 100 Continue) are
            // not ours to relay.
            Ok(Some((r, used))) if (100..200).contains(&r.status) && r.status != 101 => {
                rbuf.advance(used);
                interim = true;
                continue;
            }
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            Err(_) => break,
        }
        match tokio::time::timeout_at(head_by, be.stream.read_buf(rbuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => break,
            // Not retried (another wait as long). 1.80 closed the client
            // without a word; a 504 says why.
            Err(_) => return Err(ProxyError::timeout(ex.s.idle_timeout)),
        }
    }
    let cause = if rbuf.is_empty() {
        "backend closed the connection without a response"
    } else {
        "backend sent a bad response head"
    };
    Err(if interim {
        // An interim answer came: nothing more is said to the client.
        ProxyError::cut_short(super::error::Side::Backend, cause)
    } else {
        ProxyError::bad_gateway(cause, rbuf.is_empty())
    })
}
