//! The proxy path's one error type. A [`ProxyError`] says whose fault a
//! failure is ([`Side`]), whether the request may go to another backend
//! (`retry`), what happened ([`Kind`]) and the cause in words.
//! [`ProxyError::status`] is the one place a failure becomes the status
//! the client gets (400, 500, 502, 503, 504, or none when nothing more
//! can be said), [`ProxyError::reply`] the bytes of that answer (1.80's),
//! and [`warn`] the one warn line of a perlbal-made 5xx.

use std::borrow::Cow;
use std::fmt::Display;
use std::time::Duration;

use super::super::reply::{local_status, simple};

/// How many times an idempotent request is tried on another backend.
pub(crate) const RETRIES: usize = 3;

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The client: a request that cannot be proxied, or a client that
    /// left or went quiet. Never logged above `debug`.
    Client,
    /// A backend (or a reproxy target), or no backend at all.
    Backend,
    /// perlbal itself (a spool file that cannot be made or written).
    Internal,
}

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request cannot be proxied as sent (400); `page` follows the
    /// heading of the answer.
    BadRequest { page: &'static str },
    /// The client left, broke the connection or took nothing for
    /// idle_timeout: no answer.
    ClientGone,
    /// No backend connection came within idle_timeout (503).
    NoBackend,
    /// A backend failed before its response head was complete: it took
    /// no request head, stopped taking the body, closed without
    /// answering or sent a bad head (502).
    BadGateway,
    /// A backend sent no complete response head within idle_timeout (504).
    Timeout,
    /// The exchange stops where it is, with no (further) answer: a
    /// response cut short after its head went out, a backend that closed
    /// after an interim 1xx, a spool that broke.
    CutShort,
    /// No reproxy URL answered (503); `keep`: the client's keep-alive
    /// timeout when its connection may stay (1.80's `_simple_response`).
    NoTarget { keep: Option<u64> },
    /// A spool file could not be made or written (500).
    Spool,
}

/// A failure on the proxy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxyError {
    pub side: Side,
    /// Whether the request may be tried on another backend: the backend
    /// failed before it could have acted on it (see [`ProxyError::may_retry`]).
    pub retry: bool,
    pub kind: Kind,
    /// What happened, for the log (and the page of a 503 or 504).
    pub cause: Cow<'static, str>,
    /// The backend or reproxy target(s) involved; `None`: no connection
    /// was made.
    pub backend: Option<String>,
}

impl ProxyError {
    fn new(side: Side, kind: Kind, cause: impl Into<Cow<'static, str>>) -> ProxyError {
        ProxyError {
            side,
            retry: false,
            kind,
            cause: cause.into(),
            backend: None,
        }
    }

    /// A request that cannot be proxied as sent; `page` goes in the answer.
    pub fn bad_request(page: &'static str, cause: &'static str) -> ProxyError {
        ProxyError::new(Side::Client, Kind::BadRequest { page }, cause)
    }

    /// The client left or went quiet.
    pub fn client_gone() -> ProxyError {
        ProxyError::new(Side::Client, Kind::ClientGone, "the client left")
    }

    /// No backend within `idle` of the client's last activity.
    pub fn no_backend(idle: Duration) -> ProxyError {
        let cause = format!(
            "no backend connection within idle_timeout ({} s)",
            idle.as_secs()
        );
        ProxyError::new(Side::Backend, Kind::NoBackend, cause)
    }

    /// A backend that failed before answering; `retry` when it failed
    /// before it could have acted on the request.
    pub fn bad_gateway(cause: &'static str, retry: bool) -> ProxyError {
        ProxyError {
            retry,
            ..ProxyError::new(Side::Backend, Kind::BadGateway, cause)
        }
    }

    /// A backend that sent no response head within `idle`.
    pub fn timeout(idle: Duration) -> ProxyError {
        let cause = format!(
            "no response head within idle_timeout ({} s)",
            idle.as_secs()
        );
        ProxyError::new(Side::Backend, Kind::Timeout, cause)
    }

    /// An exchange stopped with no further answer, by `side`.
    pub fn cut_short(side: Side, cause: impl Into<Cow<'static, str>>) -> ProxyError {
        ProxyError::new(side, Kind::CutShort, cause)
    }

    /// No reproxy URL answered.
    pub fn no_target(keep: Option<u64>) -> ProxyError {
        ProxyError::new(
            Side::Backend,
            Kind::NoTarget { keep },
            "no reproxy URL answered",
        )
    }

    /// A spool file that cannot be made or written.
    pub fn spool(cause: impl Into<Cow<'static, str>>) -> ProxyError {
        ProxyError::new(Side::Internal, Kind::Spool, cause)
    }

    /// Names the backend (or target) involved.
    pub fn at(mut self, backend: impl Display) -> ProxyError {
        self.backend = Some(backend.to_string());
        self
    }

    /// The status the client gets for this failure; `None`: no answer
    /// (the client is gone, or a response already started). The one place
    /// that maps failures to statuses.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::BadRequest { .. } => Some(400),
            Kind::Spool => Some(500),
            Kind::BadGateway => Some(502),
            Kind::NoBackend | Kind::NoTarget { .. } => Some(503),
            Kind::Timeout => Some(504),
            Kind::ClientGone | Kind::CutShort => None,
        }
    }

    /// The retry rule: an idempotent request goes to another backend, at
    /// most [`RETRIES`] times, when the backend failed before it could
    /// have acted on it (took no request head, or closed without a byte
    /// of answer). A timeout is not retried (another wait as long), nor
    /// is anything after a byte of the response came.
    pub fn may_retry(&self, idempotent: bool, tries: usize) -> bool {
        self.retry && self.side == Side::Backend && idempotent && tries < RETRIES
    }

    /// Whether the client connection may stay open once the answer is
    /// written.
    pub fn keeps_client(&self) -> bool {
        matches!(self.kind, Kind::NoTarget { keep: Some(_) })
    }

    /// The answer the client gets, byte for byte as 1.80 writes it (`None`
    /// with no [`ProxyError::status`]); `head_req`: the request was a HEAD.
    pub fn reply(&self, head_req: bool, server_tokens: bool) -> Option<Vec<u8>> {
        let code = self.status()?;
        let page = match self.kind {
            Kind::BadRequest { page } => page,
            Kind::NoBackend | Kind::Timeout => &self.cause,
            Kind::NoTarget { keep } => {
                return Some(simple(code, "", head_req, keep, server_tokens))
            }
            Kind::Spool => return Some(simple(code, "", false, None, server_tokens)),
            _ => "",
        };
        Some(own_reply_with(code, title(code), page, server_tokens).into_bytes())
    }
}

/// The heading perlbal's own proxy errors carry.
fn title(code: u16) -> &'static str {
    match code {
        400 => "Bad request",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// A response perlbal makes itself (1.80's `send_response`), with
/// `detail` after the heading (1.80's `_simple_response` message); the
/// connection closes after it.
pub(crate) fn own_reply_with(code: u16, msg: &str, detail: &str, server_tokens: bool) -> String {
    local_status(code);
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

/// What a failure perlbal answered for itself was.
pub(crate) enum Failure<'a> {
    /// On the proxy path.
    Proxy(&'a ProxyError),
    /// Another 5xx perlbal made (a web_server's docroot or disk error, a
    /// selector that cannot route), as the reply writer noted it.
    Local(&'a str),
}

/// The one warn line for a failure perlbal answers with a 5xx of its own
/// (`status`), or that cuts a response short (`status` 0), naming the
/// service, the backend (`none` when no connection was made) and the
/// cause. A client's own failure is logged at `debug`.
pub(crate) fn warn(service: &str, status: u16, failure: Failure<'_>) {
    match failure {
        Failure::Proxy(e) if e.side == Side::Client => {
            tracing::debug!(service, status, cause = &*e.cause, "client failure");
        }
        Failure::Proxy(e) => {
            let backend = e.backend.as_deref().unwrap_or("none");
            tracing::warn!(service, backend = %backend, status, cause = &*e.cause, "backend failure");
        }
        Failure::Local(cause) => {
            tracing::warn!(service = %service, backend = "none", status, cause, "request failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ProxyError> {
        vec![
            ProxyError::bad_request("", "chunked body without buffer_uploads"),
            ProxyError::client_gone(),
            ProxyError::no_backend(Duration::from_secs(3)),
            ProxyError::bad_gateway("the backend took no request head", true),
            ProxyError::timeout(Duration::from_secs(3)),
            ProxyError::cut_short(Side::Backend, "the backend closed mid-response"),
            ProxyError::no_target(Some(30)),
            ProxyError::spool("cannot create a spool file"),
        ]
    }

    #[test]
    fn each_failure_maps_to_one_status() {
        let got: Vec<_> = all().iter().map(ProxyError::status).collect();
        assert_eq!(
            got,
            [
                Some(400),
                None,
                Some(503),
                Some(502),
                Some(504),
                None,
                Some(503),
                Some(500)
            ]
        );
        // The client's faults are 4xx or nothing; a 5xx is never theirs.
        for e in all() {
            match (e.side, e.status()) {
                (Side::Client, Some(s)) => assert!((400..500).contains(&s), "{e:?}"),
                (_, Some(s)) => assert!(s >= 500, "{e:?}"),
                (_, None) => {}
            }
        }
    }

    #[test]
    fn answers_are_1_80_s_bytes() {
        let e = ProxyError::timeout(Duration::from_secs(1));
        let out = String::from_utf8(e.reply(false, true).expect("a 504")).expect("utf8");
        let body = "<h1>504 - Gateway Timeout</h1>\nno response head within idle_timeout (1 s)";
        assert_eq!(
            out,
            format!(
                "HTTP/1.0 504 Gateway Timeout\r\nServer: Perlbal\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        );
        let e = ProxyError::bad_gateway("x", false);
        let out = String::from_utf8(e.reply(false, false).expect("a 502")).expect("utf8");
        assert_eq!(
            out,
            "HTTP/1.0 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 27\r\nConnection: close\r\n\r\n<h1>502 - Bad Gateway</h1>\n"
        );
        let e = ProxyError::bad_request("Can't pipeline to HTTP/1.0", "pipelined after HTTP/1.0");
        let out = String::from_utf8(e.reply(false, true).expect("a 400")).expect("utf8");
        assert!(out.starts_with("HTTP/1.0 400 Bad request\r\n"), "{out}");
        assert!(out.ends_with("\r\n\r\n<h1>400 - Bad request</h1>\nCan't pipeline to HTTP/1.0"));
        // A reproxy 503 may keep the client; a HEAD gets no body.
        let e = ProxyError::no_target(Some(30));
        assert!(e.keeps_client());
        let out = String::from_utf8(e.reply(true, true).expect("a 503")).expect("utf8");
        assert!(
            out.starts_with("HTTP/1.0 503 Service Unavailable\r\n"),
            "{out}"
        );
        assert!(
            out.ends_with("Keep-Alive: timeout=30, max=100\r\n\r\n"),
            "{out}"
        );
        assert!(!ProxyError::no_target(None).keeps_client());
        for e in [
            ProxyError::client_gone(),
            ProxyError::cut_short(Side::Backend, "x"),
        ] {
            assert_eq!(e.reply(false, true), None, "{e:?}");
            assert!(!e.keeps_client());
        }
    }

    /// Every event's level and `name=value` fields, as logged.
    #[derive(Clone, Default)]
    struct Events(std::sync::Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>);

    struct Fields(String);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={v:?} ", f.name()));
        }
    }

    impl tracing::Subscriber for Events {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, e: &tracing::Event<'_>) {
            let mut f = Fields(String::new());
            e.record(&mut f);
            let mut all = self.0.lock().expect("events");
            all.push((*e.metadata().level(), f.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn a_5xx_is_one_warn_line_naming_service_backend_and_cause() {
        let events = Events::default();
        tracing::subscriber::with_default(events.clone(), || {
            let e = ProxyError::timeout(Duration::from_secs(2)).at("10.0.0.1:80");
            warn("web", 504, Failure::Proxy(&e));
            warn(
                "web",
                503,
                Failure::Proxy(&ProxyError::no_backend(Duration::from_secs(2))),
            );
            warn("files", 500, Failure::Local("Docroot unconfigured"));
            warn("web", 0, Failure::Proxy(&ProxyError::client_gone()));
        });
        let got = events.0.lock().expect("events").clone();
        assert_eq!(got.len(), 4, "{got:?}");
        let (level, line) = &got[0];
        assert_eq!(*level, tracing::Level::WARN);
        for part in [
            "message=backend failure",
            "service=\"web\"",
            "backend=10.0.0.1:80",
            "status=504",
            "cause=\"no response head within idle_timeout (2 s)\"",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
        assert!(got[1].1.contains("backend=none"), "{:?}", got[1]);
        assert!(got[2].1.contains("message=request failed"), "{:?}", got[2]);
        assert!(
            got[2].1.contains("cause=\"Docroot unconfigured\""),
            "{:?}",
            got[2]
        );
        // The client's own failure is no warning.
        assert_eq!(got[3].0, tracing::Level::DEBUG, "{:?}", got[3]);
    }

    #[test]
    fn only_a_backend_that_failed_before_acting_is_retried_and_only_so_often() {
        let closed = ProxyError::bad_gateway("closed without a response", true);
        assert!(closed.may_retry(true, 0));
        assert!(closed.may_retry(true, RETRIES - 1));
        assert!(!closed.may_retry(true, RETRIES), "the retries are spent");
        assert!(!closed.may_retry(false, 0), "not idempotent");
        let bad_head = ProxyError::bad_gateway("bad response head", false);
        assert!(!bad_head.may_retry(true, 0));
        for e in all().into_iter().filter(|e| !e.retry) {
            assert!(!e.may_retry(true, 0), "{e:?}");
        }
        // Only a backend's failure may be retried.
        let odd = ProxyError {
            retry: true,
            ..ProxyError::client_gone()
        };
        assert!(!odd.may_retry(true, 0));
        assert!(!ProxyError::timeout(Duration::from_secs(1)).may_retry(true, 0));
    }
}
