//! A reverse-proxy client connection: read a request head (bounded),
//! queue for a backend, send the request as HTTP/1.0, relay the response
//! (Content-Length, chunked or until close), keep both sides alive when
//! they allow it, and retry an idempotent request on another backend when
//! the first one dies before answering.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use danga_common::{Conn, PeerAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backend::{read_head, Backend, StateGuard};
use super::dispatch::ServiceRt;
use super::{lock, now, Shared};
use crate::core::headers::high_priority;
use crate::core::Priority;
use crate::proto::chunked::Chunked;
use crate::proto::http::{parse_request, BodyLength, HeadError, RequestHead};

const CLASS: &str = "Perlbal::ClientProxy";
/// How often an idempotent request is tried on another backend.
const RETRIES: usize = 3;

/// Serves one client until it leaves or a request cannot keep it.
pub(crate) async fn serve(mut conn: Conn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
    let peer = match conn.peer() {
        PeerAddr::Tcp(a) => a.ip(),
        PeerAddr::Unix => IpAddr::from([127, 0, 0, 1]),
    };
    let mut state = StateGuard::new(&shared, CLASS, "reading_headers");
    let mut buf = BytesMut::with_capacity(4096);
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
        // 1.80 holds up to buffer_backend_connect bytes of the body before
        // asking for a backend, so slow uploads do not tie one up.
        let want = usize::try_from(head.content_length)
            .unwrap_or(usize::MAX)
            .min(s.buffer_backend_connect);
        while buf.len() < want {
            let read = tokio::time::timeout(s.idle_timeout, conn.stream().read_buf(&mut buf));
            match read.await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
        shared.reqs.fetch_add(1, Ordering::Relaxed);
        state.set("wait_backend");
        let prio = match &s.high_priority {
            Some((c, v)) if high_priority(&head, c, v) => Priority::High,
            _ => Priority::Normal,
        };
        match proxy(
            &mut conn, &mut buf, &head, peer, prio, &svc, &shared, &mut state,
        )
        .await
        {
            Ok(true) => state.set("persist_wait"),
            Ok(false) | Err(()) => {
                let _ = conn.stream().shutdown().await;
                return;
            }
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

/// Waits for a backend; gives up if the client leaves meanwhile.
async fn backend_for(
    conn: &mut Conn,
    buf: &mut BytesMut,
    svc: &ServiceRt,
    prio: Priority,
) -> Result<Backend, ()> {
    let mut rx = svc.acquire(prio);
    loop {
        tokio::select! {
            be = &mut rx => return be.map_err(|_| ()),
            r = conn.stream().read_buf(buf) => match r {
                Ok(n) if n > 0 && buf.len() <= crate::proto::http::MAX_HEAD => {}
                _ => return Err(()),
            },
        }
    }
}

/// One request; `Ok(true)` when the client connection stays open.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    conn: &mut Conn,
    buf: &mut BytesMut,
    req: &RequestHead,
    peer: IpAddr,
    prio: Priority,
    svc: &Arc<ServiceRt>,
    shared: &Arc<Shared>,
    state: &mut StateGuard,
) -> Result<bool, ()> {
    let mut tries = 0;
    loop {
        let s = svc.settings();
        let mut be = backend_for(conn, buf, svc, prio).await?;
        be.uses += 1;
        be.state.set("sending_req");
        state.set("backend_req_sent");
        let keep_backend =
            s.persist_backend && (s.max_backend_uses == 0 || be.uses < s.max_backend_uses);
        let head = s.rules.backend_head(req, peer, keep_backend);
        if be.stream.write_all(&head).await.is_err() {
            if req.idempotent() && tries < RETRIES {
                tries += 1;
                continue;
            }
            return Err(());
        }
        // The body: what is already buffered, then the rest from the socket.
        let mut left = req.content_length;
        while left > 0 {
            if buf.is_empty() {
                let read = tokio::time::timeout(s.idle_timeout, conn.stream().read_buf(buf));
                match read.await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return Err(()),
                }
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let chunk = buf.split_to(take);
            be.stream.write_all(&chunk).await.map_err(|_| ())?;
            left -= take as u64;
        }
        be.state.set("wait_res");
        let mut rbuf = BytesMut::with_capacity(8192);
        let resp = match read_head(&mut be.stream, &mut rbuf).await {
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
        let (resp, used) = resp;
        rbuf.advance(used);
        lock(&shared.nodes).responded(be.node, resp.status, now());
        let length = resp.body(req.method == "HEAD").map_err(|_| ())?;
        let client_keep = s.persist_client
            && req.wants_keep_alive()
            && match length {
                BodyLength::Empty | BodyLength::Length(_) => true,
                BodyLength::Chunked => req.minor >= 1,
                BodyLength::UntilClose => false,
            };
        let backend_keep = keep_backend && resp.keep_alive() && length != BodyLength::UntilClose;
        let mut h = resp.headers.clone();
        h.remove("Connection");
        h.remove("Keep-Alive");
        if client_keep {
            h.set("Connection", "keep-alive");
            let ka = format!("timeout={}, max=100", s.persist_idle_timeout.as_secs());
            h.set("Keep-Alive", ka);
        } else {
            h.set("Connection", "close");
        }
        let mut out = Vec::with_capacity(512 + rbuf.len());
        let status = format!(
            "HTTP/1.{} {} {}\r\n",
            req.minor.min(1),
            resp.status,
            resp.reason
        );
        out.extend_from_slice(status.as_bytes());
        h.write(&mut out);
        out.extend_from_slice(b"\r\n");
        state.set("xfer_res");
        be.state.set("xfer_res");
        let clean = relay(conn, &mut be, &mut rbuf, length, out, s.buffer_size).await?;
        if backend_keep && clean {
            svc.release(be);
        }
        return Ok(client_keep && clean);
    }
}

/// Relays the response body after `out` (the head); `Ok(true)` when it
/// ended exactly where its framing says.
async fn relay(
    conn: &mut Conn,
    be: &mut Backend,
    rbuf: &mut BytesMut,
    length: BodyLength,
    mut out: Vec<u8>,
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
            out.extend_from_slice(&rbuf.split_to(take));
        }
        if !out.is_empty() {
            conn.stream().write_all(&out).await.map_err(|_| ())?;
            out.clear();
        }
        if left == 0 {
            return Ok(rbuf.is_empty());
        }
        rbuf.reserve(buffer_size.min(64 * 1024));
        match be.stream.read_buf(rbuf).await {
            Ok(0) if length == BodyLength::UntilClose => return Ok(false),
            Ok(0) | Err(_) => return Err(()),
            Ok(_) => {}
        }
    }
}
