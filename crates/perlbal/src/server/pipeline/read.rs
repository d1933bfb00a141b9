//! Phase 0, read: a request head off the client connection, bounded in
//! size (the parser's limit) and in time: a new head within idle_timeout
//! (the first) or persist_idle_timeout (keep-alive), and a started head
//! whole within idle_timeout of its first byte (slowloris). An idle
//! keep-alive wait ends at shutdown. A malformed head gets 1.80's 400.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::super::dispatch::ServiceRt;
use super::super::reply::take_status;
use super::super::settings::Settings;
use super::error::own_reply_with;
use super::exchange::{Client, KEEP_BUF};
use crate::proto::http::{parse_request_reusing, HeadError, RequestHead};

/// The room a request head is read into.
pub(crate) const HEAD_ROOM: usize = 4096;

/// What reading keeps between a connection's requests.
pub(crate) struct HeadReader {
    /// The last request's head, whose allocations the next one reuses.
    spare: Option<RequestHead>,
    /// No request has been read yet.
    first: bool,
}

impl HeadReader {
    pub fn new() -> HeadReader {
        HeadReader {
            spare: None,
            first: true,
        }
    }

    /// Keeps a finished request's head for its allocations, unless large.
    pub fn reuse(&mut self, req: RequestHead) {
        if req.heap_size() <= KEEP_BUF {
            self.spare = Some(req);
        }
    }
}

/// The next request head; `None`: the connection ends (the client left,
/// timed out, sent a bad head, or perlbal is stopping).
pub(crate) async fn head(
    c: &mut Client,
    r: &mut HeadReader,
    svc: &ServiceRt,
    s: &Settings,
) -> Option<RequestHead> {
    let buf: &mut BytesMut = &mut c.buf;
    let mut head_started: Option<Instant> = None;
    let head = loop {
        match parse_request_reusing(buf, &mut r.spare) {
            Ok(Some((head, used))) => {
                buf.advance(used);
                break head;
            }
            Ok(None) => {}
            Err(HeadError::Close(why)) => {
                tracing::debug!(why, "closing client");
                return None;
            }
            Err(HeadError::BadRequest(why)) => {
                tracing::debug!(why, "400");
                let detail = format!("Invalid request: {why}");
                let out = own_reply_with(400, "Bad request", &detail, s.server_tokens);
                let _ = c.conn.stream().write_all(out.as_bytes()).await;
                // No request was read: a response, not a request.
                svc.responded(take_status());
                return None;
            }
        }
        let idle = buf.is_empty();
        // A head must arrive whole within idle_timeout of its first
        // byte (slowloris), a new one within the keep-alive timeout.
        let deadline = if idle {
            let wait = if r.first {
                s.idle_timeout
            } else {
                s.persist_idle_timeout
            };
            head_started = None;
            Instant::now() + wait
        } else {
            *head_started.get_or_insert_with(|| Instant::now() + s.idle_timeout)
        };
        if idle {
            // All its room again (`advance` leaves the front unused
            // until a reserve reclaims it), so a head comes in one read.
            buf.reserve(HEAD_ROOM);
        }
        let read = tokio::time::timeout_at(deadline, c.conn.stream().read_buf(buf));
        let got = if idle {
            c.shared.shutdown.until_stopped(read).await?
        } else {
            read.await
        };
        match got {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
    };
    r.first = false;
    Some(head)
}
