//! A client connection's requests, each one [`Exchange`] passed through
//! the phases in order (docs/perlbal-pipeline.md draws them):
//!
//! ```text
//! read ─▶ admit ─▶ route ─┬─▶ web_server files (server/web.rs)
//!                         └─▶ dispatch ─▶ relay | reproxy
//!                                   ▲          │ X-REPROXY-SERVICE
//!                                   └── route ◀┘
//! ─▶ finish (error answer, 5xx log, counts) ─▶ next request or close
//! ```
//!
//! * [`read`]: a request head, bounded in size and time.
//! * [`admit`]: plugins' hooks, access (403) and priority, Cgilike.
//! * [`route`]: web_server or proxy; body (held, spooled, streamed),
//!   the upload tracker's page, the reproxy cache; hand-offs.
//! * [`dispatch`]: a backend, the request sent, the response head read;
//!   retries.
//! * [`relay`]: the response body to the client (backend or reproxy target).
//! * [`reproxy`]: `X-REPROXY-FILE` / `-URL` / `-SERVICE`, the cache.
//! * [`finish`]: a failure's answer and its one log line, the counts.
//!
//! [`exchange`] holds what they share, [`error`] the one error type.

mod admit;
mod dispatch;
mod error;
mod exchange;
mod finish;
mod read;
mod relay;
mod reproxy;
mod route;

use std::sync::Arc;

use super::backend::{SockState, StateGuard};
use super::conn::ClientConn;
use super::dispatch::ServiceRt;
use super::reply::{take_failure, take_status, with_status_cell};
use super::settings::Role;
use super::Shared;
use exchange::{Bufs, Client, Exchange};

/// Serves one client until it leaves or a request cannot keep it.
pub(crate) async fn serve(conn: ClientConn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
    with_status_cell(serve_in_cell(conn, svc, shared)).await
}

/// [`serve`], with the connection's status cell in place.
async fn serve_in_cell(conn: ClientConn, svc: Arc<ServiceRt>, shared: Arc<Shared>) {
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
    let desc = format!("open from {peer} for service '{}'", svc.name);
    let state = StateGuard::new(&shared, &svc.states, reading, conn.raw_fd(), desc);
    let mut c = Client {
        conn,
        buf: bytes::BytesMut::with_capacity(read::HEAD_ROOM),
        io: Bufs::new(),
        state,
        shared,
    };
    let mut reader = read::HeadReader::new();
    loop {
        let s = svc.settings();
        c.conn.set_idle(s.idle_timeout);
        if let Some(t) = c.conn.stream().tcp() {
            if s.client_sndbuf > 0 {
                let _ = socket2::SockRef::from(t).set_send_buffer_size(s.client_sndbuf);
            }
        }
        let Some(req) = read::head(&mut c, &mut reader, &svc, &s).await else {
            return;
        };
        let started = tokio::time::Instant::now();
        // Whatever status is noted from here on answers this request.
        take_status();
        take_failure();
        // The settings as they are now: a console change made while this
        // connection waited applies to its next request.
        let mut ex = Exchange::new(req, peer, svc.clone(), started);
        let result = match admit::run(&mut c, &mut ex).await {
            Some(keep) => Ok(keep),
            None => route::run(&mut c, &mut ex).await,
        };
        if !finish::run(&mut c, &ex, result).await {
            c.conn.close(ex.svc.settings().idle_timeout).await;
            return;
        }
        c.state.set(persist);
        reader.reuse(ex.req);
        c.io.trim();
    }
}
