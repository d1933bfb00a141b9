//! Phase 4, relay: a response's body from a backend (or a reproxy
//! target) to the client, framed by Content-Length, chunked or until
//! close. [`response`] finishes a backend's head for the client (the
//! Connection line, FlvStreaming's rewrite) and relays its body; [`relay`]
//! is the loop both it and [`super::reproxy`] run. Either side idle for
//! idle_timeout ends it.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::super::backend::SockState;
use super::super::conn::{write_idle, ClientConn};
use super::super::plugins;
use super::super::reply::note_status;
use super::error::{ProxyError, Side};
use super::exchange::{Answer, Client, Exchange, Outcome};
use crate::proto::chunked::Chunked;
use crate::proto::http::{push_decimal, BodyLength};

/// How a body is relayed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// How it ends.
    pub length: BodyLength,
    /// The most read ahead of the client (buffer_size, at most 64 KiB).
    pub room: usize,
    /// How long either side may be idle.
    pub idle: Duration,
}

/// The backend's answer to the client: its head finished with our
/// Connection line, then its body; the backend kept for the next client
/// when both ends allow it.
pub(crate) async fn response(
    c: &mut Client,
    ex: &Exchange,
    a: Answer,
) -> Result<Outcome, ProxyError> {
    let (s, req) = (&ex.s, ex.backend_head());
    let Answer {
        mut be,
        status,
        length,
        keep_alive,
        keep_backend,
        used,
        ..
    } = a;
    let (rbuf, out) = (&mut c.io.resp, &mut c.io.out);
    let head_request = req.method == "HEAD";
    // FlvStreaming: a ranged .flv answer becomes a whole FLV file.
    let flv = match length {
        BodyLength::Length(n) if plugins::flv_start(s, &req.uri).is_some() => {
            plugins::flv_head(&rbuf[..used], n, out).map(|()| n)
        }
        _ => None,
    };
    rbuf.advance(used);
    // The status the client gets (FlvStreaming's head is a 200).
    note_status(if flv.is_some() { 200 } else { status });
    let client_keep = s.persist_client
        && req.wants_keep_alive()
        && match length {
            BodyLength::Empty | BodyLength::Length(_) => true,
            BodyLength::Chunked => req.minor >= 1,
            BodyLength::UntilClose => false,
        };
    let backend_keep = keep_backend && keep_alive && length != BodyLength::UntilClose;
    if client_keep {
        out.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
        push_decimal(out, s.persist_idle_timeout.as_secs());
        out.extend_from_slice(b", max=100\r\n\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n\r\n");
    }
    if flv.is_some() && !head_request {
        out.extend_from_slice(&plugins::FLV_HEADER);
    }
    c.state.set(SockState::CLIENT_XFER_RES);
    be.state.set(SockState::BACKEND_XFER_RES);
    let how = Framing {
        length,
        room: s.buffer_size,
        idle: s.idle_timeout,
    };
    let clean = relay(&mut c.conn, &mut be.stream, (rbuf, out), how)
        .await
        .map_err(|e| e.at(be.node))?;
    if backend_keep && clean {
        ex.svc.release(be);
    }
    Ok(Outcome::keep_if(client_keep && clean))
}

/// Relays the body after `out` (the head) from `src`; `Ok(true)` when it
/// ended exactly where its framing says. The head goes out in one write
/// with the first body bytes (a head that came alone waits for them when
/// the body has a Content-Length, so a source that writes its head and
/// body apart costs no extra write and client wake-up); later body bytes
/// are written straight from `rbuf`. Either side idle for `how.idle` (no
/// byte from the source, or none taken by the client) ends it: a source
/// that stalls mid-body, or a client that stops reading, holds a
/// connection and its buffer no longer than that.
pub(crate) async fn relay(
    conn: &mut ClientConn,
    src: &mut TcpStream,
    (rbuf, out): (&mut BytesMut, &mut Vec<u8>),
    how: Framing,
) -> Result<bool, ProxyError> {
    let length = how.length;
    let to_client = |_| ProxyError::client_gone();
    let mid = |cause: &'static str| ProxyError::cut_short(Side::Backend, cause);
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
                    .map_err(|_| mid("bad chunked framing from the backend"))?;
                if c.done() {
                    left = 0;
                }
            } else if length != BodyLength::UntilClose {
                left -= take as u64;
            }
            if out.is_empty() {
                write_idle(conn.stream(), &rbuf[..take], how.idle)
                    .await
                    .map_err(to_client)?;
            } else {
                out.extend_from_slice(&rbuf[..take]);
            }
            rbuf.advance(take);
            hold = false;
        }
        if !out.is_empty() && !hold {
            write_idle(conn.stream(), out, how.idle)
                .await
                .map_err(to_client)?;
            out.clear();
        }
        if left == 0 {
            return Ok(rbuf.is_empty());
        }
        // Room for what is left of the body, up to `room` (64 KiB at
        // most): a small body grows no buffer.
        let room = usize::try_from(left).unwrap_or(usize::MAX);
        rbuf.reserve(room.min(how.room).min(64 * 1024));
        match tokio::time::timeout(how.idle, src.read_buf(rbuf)).await {
            Ok(Ok(0)) if length == BodyLength::UntilClose => return Ok(false),
            Ok(Ok(0)) => return Err(mid("the backend closed mid-response")),
            Ok(Err(_)) => return Err(mid("a read error mid-response")),
            Ok(Ok(_)) => {}
            Err(_) => return Err(mid("the backend was idle mid-response for idle_timeout")),
        }
    }
}
