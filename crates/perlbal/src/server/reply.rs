//! Responses perlbal writes itself, byte for byte as 1.80 writes them:
//! `HTTP/1.0`, the reason phrase from 1.80's table (empty for codes it
//! lacks, so `HTTP/1.0 201 `), headers in 1.80's order, and
//! `Connection: keep-alive` + `Keep-Alive: timeout=N, max=100` or
//! `Connection: close`.

use std::io::Write;

pub(crate) use super::counters::class_index;

/// 1.80's `$HTTPCode` table.
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Permanent Redirect",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad request",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Request range not satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A response head being written.
pub(crate) struct Head(pub Vec<u8>);

tokio::task_local! {
    /// The status of the last response head written on this client
    /// connection (0: none since the last [`take_status`]). The writers
    /// set it through [`note_status`]; the client loop reads it where it
    /// counts the request under the service that answered
    /// (`perlbal_service_responses_total`). A cell per connection task:
    /// no lock, no allocation, and no writer's signature grows.
    static STATUS: std::cell::Cell<u16>;
    /// Why perlbal answered this connection's current request with a 5xx
    /// of its own that nothing has logged yet (set by [`simple`], cleared
    /// by whoever logs it): the client loop logs it with the service.
    static FAILURE: std::cell::RefCell<Option<String>>;
}

/// Runs a client connection's future with its [`STATUS`] and [`FAILURE`]
/// cells.
pub(crate) async fn with_status_cell<F: std::future::Future>(f: F) -> F::Output {
    let inner = FAILURE.scope(std::cell::RefCell::new(None), f);
    STATUS.scope(std::cell::Cell::new(0), inner).await
}

/// Notes `cause` as the reason for the 5xx being written (a no-op
/// outside a client connection).
fn note_failure(cause: &str) {
    let _ = FAILURE.try_with(|c| *c.borrow_mut() = Some(cause.to_owned()));
}

/// The 5xx cause noted and not yet logged, cleared.
pub(crate) fn take_failure() -> Option<String> {
    FAILURE.try_with(|c| c.borrow_mut().take()).ok().flatten()
}

/// Records `code` as the status of the response being written to this
/// connection's client (a no-op outside a client connection).
pub(crate) fn note_status(code: u16) {
    let _ = STATUS.try_with(|c| c.set(code));
}

/// The status last noted on this connection (0 if none), cleared for the
/// next request.
pub(crate) fn take_status() -> u16 {
    STATUS.try_with(|c| c.replace(0)).unwrap_or(0)
}

/// A response perlbal writes itself with status `code`: counted in
/// [`super::counters`] and noted for the connection's service.
pub(crate) fn local_status(code: u16) {
    super::counters::count_local(code);
    note_status(code);
}

impl Head {
    /// `HTTP/1.0 <code> <reason>`.
    pub fn new(code: u16) -> Head {
        local_status(code);
        let mut out = Vec::with_capacity(256);
        let _ = write!(out, "HTTP/1.0 {code} {}\r\n", reason(code));
        Head(out)
    }

    /// One header line.
    pub fn header(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.0, "{name}: {value}\r\n");
        self
    }

    /// `Server: Perlbal` when server_tokens is on.
    pub fn server(&mut self, tokens: bool) -> &mut Self {
        if tokens {
            self.0.extend_from_slice(b"Server: Perlbal\r\n");
        }
        self
    }

    /// The connection lines and the blank line: keep-alive with this idle
    /// timeout, or close.
    pub fn finish(mut self, keep: Option<u64>) -> Vec<u8> {
        match keep {
            Some(t) => {
                let _ = write!(
                    self.0,
                    "Connection: keep-alive\r\nKeep-Alive: timeout={t}, max=100\r\n\r\n"
                );
            }
            None => self.0.extend_from_slice(b"Connection: close\r\n\r\n"),
        }
        self.0
    }
}

/// 1.80's `_simple_response(code, msg)`: an HTML body `<h1>code - reason</h1>\n`
/// plus `msg` (none for 204/304, not sent for HEAD).
pub(crate) fn simple(
    code: u16,
    msg: &str,
    head_req: bool,
    keep: Option<u64>,
    tokens: bool,
) -> Vec<u8> {
    if code >= 500 {
        note_failure(if msg.is_empty() { reason(code) } else { msg });
    }
    let mut h = Head::new(code);
    let mut body = String::new();
    if code != 204 && code != 304 {
        let en = reason(code);
        body = if en.is_empty() {
            format!("<h1>{code}</h1>\n{msg}")
        } else {
            format!("<h1>{code} - {en}</h1>\n{msg}")
        };
        h.header("Content-Type", "text/html")
            .header("Content-Length", body.len());
    }
    h.server(tokens);
    let mut out = h.finish(keep);
    if !head_req {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_status_cell_keeps_the_last_status_until_taken() {
        // Outside a client connection, noting is a no-op.
        note_status(200);
        assert_eq!(take_status(), 0);
        with_status_cell(async {
            assert_eq!(take_status(), 0);
            note_status(503);
            tokio::task::yield_now().await;
            let _ = simple(404, "", false, None, true);
            assert_eq!(take_status(), 404);
            assert_eq!(take_status(), 0, "taking clears it for the next request");
        })
        .await;
        assert_eq!(class_index(101), Some(0));
        assert_eq!(class_index(599), Some(4));
        assert_eq!(class_index(99), None);
        assert_eq!(class_index(600), None);
    }

    #[test]
    fn simple_responses_are_1_80_s_bytes() {
        assert_eq!(
            String::from_utf8(simple(404, "", false, None, true)).expect("utf8"),
            "HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 25\r\nServer: Perlbal\r\nConnection: close\r\n\r\n<h1>404 - Not Found</h1>\n"
        );
        assert_eq!(
            String::from_utf8(simple(201, "", false, None, true)).expect("utf8"),
            "HTTP/1.0 201 \r\nContent-Type: text/html\r\nContent-Length: 13\r\nServer: Perlbal\r\nConnection: close\r\n\r\n<h1>201</h1>\n"
        );
        assert_eq!(
            String::from_utf8(simple(204, "", false, Some(30), true)).expect("utf8"),
            "HTTP/1.0 204 No Content\r\nServer: Perlbal\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30, max=100\r\n\r\n"
        );
    }
}
