//! What a service's plugins and high-priority cookie make of a request
//! before it queues (1.80's `start_http_request`, `make_high_priority`
//! and `make_low_priority` hooks): refused with AccessControl's 403, or
//! queued high (cookie, Highpri), low (AccessControl `QUEUE_LOW`) or
//! normal. High wins over low, as in 1.80.

use std::net::IpAddr;

use super::settings::Settings;
use crate::core::access::Decision;
use crate::core::headers::high_priority;
use crate::core::Priority;
use crate::proto::http::RequestHead;

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Answer 403 "Access denied."
    Deny,
    /// Queue for a backend.
    Queue(Priority),
}

fn header<'a>(req: &'a RequestHead, name: &str) -> Option<&'a str> {
    req.headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v).ok())
}

impl Settings {
    pub fn admit(&self, req: &RequestHead, peer: IpAddr) -> Admit {
        let mut low = false;
        if let Some(access) = &self.access {
            // 1.80's observed IP: the first X-Forwarded-For entry, when
            // the peer is a trusted proxy.
            let observed = if access.use_observed_ip && self.rules.trusts(peer) {
                header(req, "X-Forwarded-For")
                    .and_then(|x| x.split(',').next())
                    .and_then(|ip| ip.trim().parse().ok())
            } else {
                None
            };
            match access.decide(peer, observed) {
                Decision::Deny => return Admit::Deny,
                Decision::QueueLow => low = true,
                Decision::Allow => {}
            }
        }
        let cookie = match &self.high_priority {
            Some((name, contents)) => high_priority(req, name, contents),
            None => false,
        };
        let highpri = self.highpri.as_ref().is_some_and(|(uri, host)| {
            uri.as_ref().is_some_and(|re| re.is_match(&req.uri))
                || host
                    .as_ref()
                    .zip(header(req, "Host"))
                    .is_some_and(|(re, h)| re.is_match(h))
        });
        Admit::Queue(if cookie || highpri {
            Priority::High
        } else if low {
            Priority::Low
        } else {
            Priority::Normal
        })
    }
}

/// 1.80's `send_response(403, "Access denied.")`: its header order, HTTP/1.0,
/// keep-alive when `keep` (persist_client and the client asked), no body
/// for HEAD.
pub(crate) fn denied(req: &RequestHead, keep: bool, timeout: u64, server_tokens: bool) -> String {
    super::reply::local_status(403);
    let body = "<h1>403 - Forbidden</h1>\nAccess denied.";
    let server = if server_tokens {
        "Server: Perlbal\r\n"
    } else {
        ""
    };
    let conn = if keep {
        format!("Connection: keep-alive\r\nKeep-Alive: timeout={timeout}, max=100\r\n")
    } else {
        "Connection: close\r\n".to_owned()
    };
    let body = if req.method == "HEAD" { "" } else { body };
    format!(
        "HTTP/1.0 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 39\r\n{server}{conn}\r\n{body}"
    )
}
