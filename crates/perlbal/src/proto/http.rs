//! HTTP/1.x request and response heads, bounded and strict where a lax
//! reading would let two parties disagree on where a request ends.
//!
//! 1.80's rules: a head up to 100 KiB; a bad request line, a bad header
//! line or a missing Host on HTTP/1.1 closes the connection without a
//! reply; a negative Content-Length is a 400. Stricter than 1.80, so that
//! nothing can be smuggled: several Content-Lengths that disagree, a
//! Content-Length that is not plain digits, and any Transfer-Encoding on a
//! request other than a lone `chunked` (or `chunked` beside a
//! Content-Length) are 400s too. A chunked request is marked
//! [`RequestHead::chunked`]; the server de-chunks it where 1.80 does
//! (buffered uploads, web-server PUT) and refuses it elsewhere.

use std::mem::MaybeUninit;

/// The largest request or response head.
pub const MAX_HEAD: usize = 100 * 1024;
/// The most header lines in one head.
pub const MAX_HEADERS: usize = 256;

/// One header line, name as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name.
    pub name: String,
    /// The value (not necessarily UTF-8).
    pub value: Vec<u8>,
}

/// A list of headers with case-insensitive look-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The first value of `name` as text.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Removes every `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Replaces every `name` by one line.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.remove(name);
        self.0.push(Header {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Sets `name` where it first appears (appended if absent), dropping
    /// any later lines of it: 1.80's `header($name, $value)`.
    pub fn put(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let mut value = Some(value.into());
        self.0.retain_mut(|h| {
            if !h.name.eq_ignore_ascii_case(name) {
                return true;
            }
            match value.take() {
                Some(v) => {
                    h.value = v;
                    true
                }
                None => false,
            }
        });
        if let Some(v) = value {
            self.0.push(Header {
                name: name.to_owned(),
                value: v,
            });
        }
    }

    /// Whether a comma-separated `name` holds `token` (any case).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| has_token(&h.value, token))
    }

    /// Writes `Name: value\r\n` lines.
    pub fn write(&self, out: &mut Vec<u8>) {
        for h in &self.0 {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn from_parsed(parsed: &[httparse::Header<'_>]) -> Self {
        Headers(
            parsed
                .iter()
                .map(|h| Header {
                    name: h.name.to_owned(),
                    value: h.value.to_vec(),
                })
                .collect(),
        )
    }

    /// Becomes `parsed`, reusing the strings and vectors it already has.
    fn refill(&mut self, parsed: &[httparse::Header<'_>]) {
        self.0.truncate(parsed.len());
        for (i, p) in parsed.iter().enumerate() {
            match self.0.get_mut(i) {
                Some(h) => {
                    h.name.clear();
                    h.name.push_str(p.name);
                    h.value.clear();
                    h.value.extend_from_slice(p.value);
                }
                None => self.0.push(Header {
                    name: p.name.to_owned(),
                    value: p.value.to_vec(),
                }),
            }
        }
    }
}

/// A request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: String,
    /// The request target (an absolute URI is reduced to its path).
    pub uri: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// The headers.
    pub headers: Headers,
    /// The body's length (0 for a chunked body: see `chunked`).
    pub content_length: u64,
    /// `Transfer-Encoding: chunked`: the body's length is not known yet.
    pub chunked: bool,
}

impl RequestHead {
    /// Whether the client asked to keep the connection open.
    pub fn wants_keep_alive(&self) -> bool {
        if self.headers.has_token("Connection", "close") {
            return false;
        }
        self.minor >= 1 || self.headers.has_token("Connection", "keep-alive")
    }

    /// Whether replaying it on another backend is harmless.
    pub fn idempotent(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD") && self.content_length == 0 && !self.chunked
    }

    /// Whether a body follows the head.
    pub fn has_body(&self) -> bool {
        self.content_length > 0 || self.chunked
    }

    /// The heap memory its strings and lists hold (what keeping it for
    /// the next [`parse_request_reusing`] costs).
    pub fn heap_size(&self) -> usize {
        self.method.capacity()
            + self.uri.capacity()
            + self.headers.0.capacity() * std::mem::size_of::<Header>()
            + self
                .headers
                .0
                .iter()
                .map(|h| h.name.capacity() + h.value.capacity())
                .sum::<usize>()
    }

    /// Whether the client asked for `100 Continue` before it sends the
    /// body: on HTTP/1.1, and on a chunked HTTP/1.0 request too (1.80
    /// answers `Expect` on a chunked body whatever the version).
    pub fn expects_continue(&self) -> bool {
        (self.minor >= 1 || self.chunked) && self.headers.has_token("Expect", "100-continue")
    }
}

/// Why a head was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Close the connection without a reply (1.80's reaction).
    #[error("closing: {0}")]
    Close(&'static str),
    /// Reply `400 Bad Request`, then close.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
}

/// Where a head ends (just past its blank line), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|b| *b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// Content-Length from every such line: all must be plain digits and agree.
fn content_length(h: &Headers) -> Result<Option<u64>, HeadError> {
    content_length_of(
        h.0.iter()
            .filter(|l| l.name.eq_ignore_ascii_case("Content-Length"))
            .map(|l| l.value.as_slice()),
    )
}

/// Content-Length from the values of every such line.
fn content_length_of<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<u64>, HeadError> {
    values.try_fold(None, content_length_step)
}

/// One more Content-Length line after `found`.
fn content_length_step(found: Option<u64>, value: &[u8]) -> Result<Option<u64>, HeadError> {
    let v = value.trim_ascii();
    if v.first() == Some(&b'-') {
        return Err(HeadError::BadRequest("Content-Length < 0"));
    }
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::BadRequest("invalid Content-Length"));
    }
    let n: u64 = v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
    if found.is_some_and(|f| f != n) {
        return Err(HeadError::BadRequest("conflicting Content-Length"));
    }
    Ok(Some(n))
}

/// Parses a request head. `Ok(None)`: incomplete (need more bytes).
pub fn parse_request(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HeadError> {
    parse_request_reusing(buf, &mut None)
}

/// [`parse_request`] into the strings and lists of `spare` (an earlier head
/// of the same connection, taken once a head is read), so a keep-alive
/// connection's requests allocate nothing after its first.
pub fn parse_request_reusing(
    buf: &[u8],
    spare: &mut Option<RequestHead>,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    // Leading blank lines before a request line are tolerated (RFC 9112 2.2).
    let skip = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    // On the stack and uninitialised: no allocation or clearing per request.
    // httparse finds the end itself (no separate scan for the blank line).
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let end = match req.parse_with_uninit_headers(&buf[skip..], &mut slots) {
        Ok(httparse::Status::Complete(end)) if end <= MAX_HEAD => end,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        Ok(_) => return Err(HeadError::Close("request head too large")),
        Err(_) => return Err(HeadError::Close("bad request")),
    };
    let (Some(method), Some(uri), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Close("bad request line"));
    };
    let mut head = spare.take().unwrap_or_default();
    head.headers.refill(req.headers);
    // An absolute URI names the host.
    let path = match uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    {
        Some(rest) => {
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            if host.is_empty() {
                return Err(HeadError::Close("bad absolute URI"));
            }
            head.headers.set("Host", host.as_bytes());
            path
        }
        None => uri,
    };
    let headers = &head.headers;
    if minor >= 1 && headers.get("Host").is_none() {
        return Err(HeadError::Close("HTTP/1.1 request without Host"));
    }
    if headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Host"))
        .count()
        > 1
    {
        return Err(HeadError::BadRequest("several Host headers"));
    }
    let cl = content_length(headers)?;
    let mut te = headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Transfer-Encoding"));
    let chunked = match (te.next(), te.next()) {
        (None, _) => false,
        (Some(h), None)
            if h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") && cl.is_none() =>
        {
            true
        }
        _ => return Err(HeadError::BadRequest("Transfer-Encoding on a request")),
    };
    head.method.clear();
    head.method.push_str(method);
    head.uri.clear();
    head.uri.push_str(path);
    head.minor = minor;
    head.content_length = cl.unwrap_or(0);
    head.chunked = chunked;
    Ok(Some((head, skip + end)))
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, relayed as is.
    Chunked,
    /// Until the backend closes.
    UntilClose,
}

/// A backend's response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// The headers.
    pub headers: Headers,
}

/// How a response body ends: `te` is the first Transfer-Encoding value,
/// `cl` the Content-Length lines read by [`content_length_of`].
fn body_length(
    status: u16,
    head_request: bool,
    te: Option<&[u8]>,
    cl: impl FnOnce() -> Result<Option<u64>, HeadError>,
) -> Result<BodyLength, HeadError> {
    if head_request || (100..200).contains(&status) || matches!(status, 204 | 304) {
        return Ok(BodyLength::Empty);
    }
    if let Some(te) = te {
        let last = te.rsplit(|b| *b == b',').next().unwrap_or(b"").trim_ascii();
        if last.eq_ignore_ascii_case(b"chunked") {
            return Ok(BodyLength::Chunked);
        }
        return Ok(BodyLength::UntilClose);
    }
    Ok(match cl()? {
        Some(n) => BodyLength::Length(n),
        None => BodyLength::UntilClose,
    })
}

impl ResponseHead {
    /// How its body ends, given the request method.
    pub fn body(&self, head_request: bool) -> Result<BodyLength, HeadError> {
        body_length(
            self.status,
            head_request,
            self.headers.get("Transfer-Encoding"),
            || content_length(&self.headers),
        )
    }

    /// Whether the backend will keep the connection open.
    pub fn keep_alive(&self) -> bool {
        if self.headers.has_token("Connection", "close") {
            return false;
        }
        self.minor >= 1 || self.headers.has_token("Connection", "keep-alive")
    }
}

/// Parses a response head. `Ok(None)`: incomplete.
pub fn parse_response(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let Some(end) = head_end(buf) else {
        if buf.len() > MAX_HEAD {
            return Err(HeadError::Close("response head too large"));
        }
        return Ok(None);
    };
    if end > MAX_HEAD {
        return Err(HeadError::Close("response head too large"));
    }
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        &buf[..end],
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(HeadError::Close("bad response")),
    }
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(HeadError::Close("bad status line"));
    };
    Ok(Some((
        ResponseHead {
            status,
            reason: resp.reason.unwrap_or("").to_owned(),
            minor,
            headers: Headers::from_parsed(resp.headers),
        },
        end,
    )))
}

/// A response head as the proxy relays it, read in place: see
/// [`relay_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHead {
    /// The status code.
    pub status: u16,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// How the body ends (as [`ResponseHead::body`]).
    pub length: Result<BodyLength, HeadError>,
    /// Whether the backend keeps the connection (as [`ResponseHead::keep_alive`]).
    pub keep_alive: bool,
    /// Whether an `X-REPROXY-FILE`, `-URL` or `-SERVICE` line is present:
    /// the caller then reads the head again with [`parse_response`].
    pub reproxy: bool,
}

/// Parses a response head in `buf` and writes the head a client gets to
/// `out`: the status line as `HTTP/1.<client_minor>`, then every header
/// line but Connection and Keep-Alive (the caller ends the head with its
/// own). No allocation per header: this is [`parse_response`] for the
/// proxy's hot path. `Ok(None)`: incomplete; `out` is then untouched.
pub fn relay_response(
    buf: &[u8],
    head_request: bool,
    client_minor: u8,
    out: &mut Vec<u8>,
) -> Result<Option<(RelayHead, usize)>, HeadError> {
    // httparse finds the end itself (no separate scan for the blank line).
    let mut slots = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let end = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
    {
        Ok(httparse::Status::Complete(end)) if end <= MAX_HEAD => end,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        Ok(_) => return Err(HeadError::Close("response head too large")),
        Err(_) => return Err(HeadError::Close("bad response")),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err(HeadError::Close("bad status line"));
    };
    out.extend_from_slice(b"HTTP/1.");
    out.push(b'0' + client_minor.min(1));
    out.push(b' ');
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let (mut te, mut close, mut keep, mut reproxy) = (None, false, false, false);
    let mut cl = Ok(None);
    // Lines already written as `Name: value\r\n` go out as they came, a
    // run of them in one copy: `run` is the span of `buf` not yet copied.
    let mut run: Option<(usize, usize)> = None;
    let flush = |run: &mut Option<(usize, usize)>, out: &mut Vec<u8>| {
        if let Some(bytes) = run.take().and_then(|(a, b)| buf.get(a..b)) {
            out.extend_from_slice(bytes);
        }
    };
    for h in resp.headers.iter() {
        let name = h.name.as_bytes();
        // Told apart by length first: most lines are none of these.
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"Connection") => {
                close |= has_token(h.value, "close");
                keep |= has_token(h.value, "keep-alive");
                flush(&mut run, out);
                continue;
            }
            10 if name.eq_ignore_ascii_case(b"Keep-Alive") => {
                flush(&mut run, out);
                continue;
            }
            14 if name.eq_ignore_ascii_case(b"Content-Length") => {
                cl = cl.and_then(|found| content_length_step(found, h.value));
            }
            17 if te.is_none() && name.eq_ignore_ascii_case(b"Transfer-Encoding") => {
                te = Some(h.value);
            }
            n if n >= 10 && name[..10].eq_ignore_ascii_case(b"X-REPROXY-") => reproxy = true,
            _ => {}
        }
        match (line_span(buf, name, h.value), run) {
            (Some((a, b)), Some((start, end))) if a == end => run = Some((start, b)),
            (Some(span), _) => {
                flush(&mut run, out);
                run = Some(span);
            }
            (None, _) => {
                flush(&mut run, out);
                out.extend_from_slice(name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    flush(&mut run, out);
    let head = RelayHead {
        status,
        minor,
        length: body_length(status, head_request, te, || cl),
        keep_alive: !close && (minor >= 1 || keep),
        reproxy,
    };
    Ok(Some((head, end)))
}

/// Where the header line of `name` and `value` (slices of `buf`) sits in
/// `buf`, when it reads exactly `name: value\r\n` there: those bytes are
/// the line as relayed.
fn line_span(buf: &[u8], name: &[u8], value: &[u8]) -> Option<(usize, usize)> {
    let base = buf.as_ptr() as usize;
    let start = (name.as_ptr() as usize).checked_sub(base)?;
    let colon = start + name.len();
    let at = (value.as_ptr() as usize).checked_sub(base)?;
    let end = at + value.len();
    let plain =
        at == colon + 2 && buf.get(colon..at)? == b": " && buf.get(end..end + 2)? == b"\r\n";
    plain.then_some((start, end + 2))
}

/// Whether a comma-separated header value holds `token` (any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Appends an IP address as text (IPv4 by hand: this runs per request).
pub fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        // Writing to a Vec cannot fail.
        std::net::IpAddr::V6(v6) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{v6}"));
        }
    }
}

/// Appends `n` in decimal.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    // Status codes, octets and timeouts: up to three digits, no loop.
    if n < 1000 {
        let (h, t, u) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        match n {
            0..=9 => out.push(b'0' + u),
            10..=99 => out.extend_from_slice(&[b'0' + t, b'0' + u]),
            _ => out.extend_from_slice(&[b'0' + h, b'0' + t, b'0' + u]),
        }
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
