//! What the phases share: the client connection ([`Client`], one per
//! connection, kept across its requests), one request's exchange
//! ([`Exchange`]: its head, body, service, priority), a backend's answer
//! ([`Answer`]) and how a phase ended ([`Outcome`]). Every phase takes
//! these; none imports from another phase's module.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::time::Instant;

use super::super::backend::{Backend, StateGuard};
use super::super::conn::ClientConn;
use super::super::dispatch::ServiceRt;
use super::super::settings::Settings;
use super::super::throttle::InProgress;
use super::super::upload::{Body, Progress};
use super::super::Shared;
use crate::core::Priority;
use crate::proto::http::{BodyLength, RequestHead, ResponseHead};
use crate::proto::reproxy::Directive;

/// A client connection as the phases use it.
pub(crate) struct Client {
    pub conn: ClientConn,
    /// What the client sent and no phase has used yet (the next head,
    /// body bytes).
    pub buf: BytesMut,
    /// The buffers for the backend side, kept across requests.
    pub io: Bufs,
    /// The connection's place in `STATES` and `SOCKS`.
    pub state: StateGuard,
    pub shared: Arc<Shared>,
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
pub(crate) const KEEP_BUF: usize = 32 * 1024;

impl Bufs {
    pub fn new() -> Bufs {
        Bufs {
            resp: BytesMut::with_capacity(8192),
            out: Vec::with_capacity(8192),
        }
    }

    /// An idle keep-alive client holds no large buffers.
    pub fn trim(&mut self) {
        if self.resp.capacity() > KEEP_BUF || self.out.capacity() > KEEP_BUF {
            *self = Bufs::new();
        }
    }
}

/// One request, from its head to its answer.
pub(crate) struct Exchange {
    /// The request as the client sent it (a hand-off drops its body).
    pub req: RequestHead,
    /// The head as a backend gets it, when it differs from `req` (a
    /// de-chunked body, an Expect answered here, the upload reason).
    pub to_backend: Option<RequestHead>,
    pub peer: IpAddr,
    /// The service answering: the listening one, or the one a selector
    /// or an `X-REPROXY-SERVICE` hand-off chose.
    pub svc: Arc<ServiceRt>,
    /// Its settings as they were when it took the request.
    pub s: Arc<Settings>,
    /// Its place in the queue for a backend.
    pub prio: Priority,
    /// Where the body is.
    pub body: Body,
    /// Upload progress reports (`upload_status_listeners`).
    pub progress: Option<Progress>,
    /// Throttle counts the request as in progress until this drops.
    pub in_progress: Option<InProgress>,
    /// When its head was complete.
    pub started: Instant,
}

impl Exchange {
    pub fn new(req: RequestHead, peer: IpAddr, svc: Arc<ServiceRt>, started: Instant) -> Exchange {
        Exchange {
            req,
            to_backend: None,
            peer,
            s: svc.settings(),
            svc,
            prio: Priority::Normal,
            body: Body::Stream,
            progress: None,
            in_progress: None,
            started,
        }
    }

    /// The head a backend gets.
    pub fn backend_head(&self) -> &RequestHead {
        self.to_backend.as_ref().unwrap_or(&self.req)
    }
}

/// A backend's answer, its head read into the client's `io.resp`.
pub(crate) struct Answer {
    pub be: Backend,
    pub status: u16,
    /// How its body ends.
    pub length: BodyLength,
    /// Whether the backend keeps the connection.
    pub keep_alive: bool,
    /// Whether we asked it to (`persist_backend`, `max_backend_uses`).
    pub keep_backend: bool,
    /// The length of its head at the front of `io.resp`; the client's
    /// head is in `io.out`, unfinished (no Connection line yet).
    pub used: usize,
    /// An internal redirect, with the head read again in full.
    pub reproxy: Option<(ResponseHead, Directive)>,
}

/// How a phase left the exchange.
pub(crate) enum Outcome {
    /// Answered; the client connection stays open for the next request.
    Keep,
    /// Answered (or not); it closes.
    Close,
    /// Run the request on this service (X-REPROXY-SERVICE).
    Handoff(String),
}

impl Outcome {
    /// [`Outcome::Keep`] when `keep`, else [`Outcome::Close`].
    pub fn keep_if(keep: bool) -> Outcome {
        if keep {
            Outcome::Keep
        } else {
            Outcome::Close
        }
    }
}
