//! Phase 1, admit: what the service makes of a request before anything
//! answers it. Its plugins' hooks run first (redirects, limits,
//! Throttle, a selector's choice of service: [`super::super::plugins`]);
//! then AccessControl and the high-priority rules decide between 1.80's
//! 403 and a place in the queue ([`super::super::admit`]); a Cgilike URI
//! is answered by its program, and the connection closes.

use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;

use super::super::admit::{denied, Admit};
use super::super::plugins::{start, Start};
use super::super::reply::take_failure;
use super::exchange::{Client, Exchange};

/// `None`: go on (with `ex.prio` set, and `ex.svc`/`ex.s` a selector's
/// choice); `Some(keep)`: the request was answered here.
pub(crate) async fn run(c: &mut Client, ex: &mut Exchange) -> Option<bool> {
    if ex.s.plugins.is_some() {
        let hooks = start(
            &mut c.conn,
            &mut ex.req,
            &mut ex.svc,
            &mut ex.s,
            ex.peer,
            &c.shared,
            &mut ex.in_progress,
        );
        match hooks.await {
            Start::Go => {}
            Start::Done(keep) => return Some(keep),
        }
    }
    let s = &ex.s;
    match s.admit(&ex.req, ex.peer) {
        Admit::Queue(p) => ex.prio = p,
        Admit::Deny => {
            // The body is unread: keep the client only without one.
            let head = &ex.req;
            let keep = s.persist_client && head.wants_keep_alive() && head.content_length == 0;
            let timeout = s.persist_idle_timeout.as_secs();
            let out = denied(head, keep, timeout, s.server_tokens);
            let sent = c.conn.stream().write_all(out.as_bytes()).await;
            return Some(sent.is_ok() && keep);
        }
    }
    // Cgilike: a program answers, and the connection closes.
    if let Some(cgi) = s.plugins.as_ref().and_then(|p| p.cgi_for(&ex.req.uri)) {
        c.shared.reqs.fetch_add(1, Ordering::Relaxed);
        let (conn, buf) = (&mut c.conn, &mut c.buf);
        super::super::cgi::serve(conn, buf, &ex.req, ex.peer, s, &cgi).await;
        // Cgilike logs its own failures.
        take_failure();
        return Some(false);
    }
    None
}
