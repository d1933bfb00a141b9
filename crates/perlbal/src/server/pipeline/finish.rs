//! Phase 5, finish: where every exchange ends. A failure gets its answer
//! ([`ProxyError::reply`], if one can still be given) and its one log
//! line ([`warn`]); a 5xx perlbal made elsewhere (a web_server's docroot
//! error, noted by the reply writer) is logged here too, once. Then the
//! request is counted under the service that answered it (the last one,
//! after hand-offs): the request, its latency, and the status class of
//! the response written for it, if one was.

use std::sync::atomic::Ordering;

use super::super::conn::write_idle;
use super::super::reply::{take_failure, take_status};
use super::error::{warn, Failure, ProxyError};
use super::exchange::{Client, Exchange};

/// Ends the exchange; whether the client connection stays open.
pub(crate) async fn run(c: &mut Client, ex: &Exchange, result: Result<bool, ProxyError>) -> bool {
    let (svc, s) = (&ex.svc, &ex.s);
    let keep = match &result {
        Ok(keep) => *keep,
        Err(e) => {
            let sent = match e.reply(ex.backend_head().method == "HEAD", s.server_tokens) {
                Some(out) => write_idle(c.conn.stream(), &out, s.idle_timeout)
                    .await
                    .is_ok(),
                None => false,
            };
            sent && e.keeps_client()
        }
    };
    svc.requests.fetch_add(1, Ordering::Relaxed);
    svc.latency.observe(ex.started.elapsed());
    let status = take_status();
    // A noted 5xx that a proxy failure answered is that failure's.
    let noted = take_failure();
    match (&result, noted) {
        (Err(e), _) => warn(&svc.name, e.status().unwrap_or(0), Failure::Proxy(e)),
        (Ok(_), Some(cause)) => warn(&svc.name, status, Failure::Local(&cause)),
        (Ok(_), None) => {}
    }
    svc.responded(status);
    keep
}
