//! The HTTP/1 request head and the Range header: pure parsing, no I/O.

/// The longest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Method, as sent (`GET`, `PUT`...).
    pub method: String,
    /// Request target, as sent (still percent-encoded).
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// `Content-Length`, if any.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Whether the connection stays open after the reply.
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// `Range`, raw.
    pub range: Option<String>,
    /// `Content-MD5`, raw.
    pub content_md5: Option<String>,
}

/// A head that cannot be served: answered 400 and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not HTTP/1.x, or a bad header.
    #[error("malformed request head")]
    Malformed,
    /// Over [`MAX_HEAD`] bytes or too many headers.
    #[error("request head too large")]
    TooLarge,
}

/// Parses a head from `buf`: `Ok(None)` until it is complete, else the head
/// and the bytes it used.
pub fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if used > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let minor = req.version.ok_or(HeadError::Malformed)?;
    let mut head = Head {
        method: req.method.ok_or(HeadError::Malformed)?.to_string(),
        target: req.path.ok_or(HeadError::Malformed)?.to_string(),
        minor,
        content_length: None,
        chunked: false,
        keep_alive: minor >= 1,
        expect_continue: false,
        range: None,
        content_md5: None,
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| HeadError::Malformed)?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = value.parse().map_err(|_| HeadError::Malformed)?;
            if head.content_length.is_some_and(|old| old != n) {
                return Err(HeadError::Malformed);
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
            if !head.chunked && !value.eq_ignore_ascii_case("identity") {
                return Err(HeadError::Malformed);
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("range") {
            head.range = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-md5") {
            head.content_md5 = Some(value.to_string());
        }
    }
    if head.chunked {
        // RFC 9112 §6.3: chunked wins; the length must not be trusted.
        head.content_length = None;
    }
    Ok(Some((head, used)))
}

/// What a Range header asks of a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Serve the whole file (no header, or one we ignore).
    Full,
    /// Serve bytes `start..=end` (206).
    Part { start: u64, end: u64 },
    /// Nothing satisfiable (416).
    Unsatisfiable,
}

/// Interprets a single `bytes=` range against `size`. Syntax we do not
/// serve (other units, several ranges) falls back to the whole file, as
/// RFC 9110 allows.
pub fn range(header: Option<&str>, size: u64) -> Range {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Range::Full;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if a.is_empty() {
        // Suffix: the last N bytes.
        return match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if size == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => Range::Full,
        };
    }
    let Some(start) = num(a) else {
        return Range::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match num(b) {
            Some(e) if e >= start => e,
            _ => return Range::Full,
        }
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    Range::Part {
        start,
        end: end.min(size - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn perl_client_put_without_host() {
        let raw = b"PUT /dev1/0/000/000/0000000001.fid HTTP/1.0\r\nContent-length: 5\r\n\r\nhello";
        let (h, used) = parse(raw).expect("valid").expect("complete");
        assert_eq!(h.method, "PUT");
        assert_eq!(h.target, "/dev1/0/000/000/0000000001.fid");
        assert_eq!(h.content_length, Some(5));
        assert!(!h.keep_alive);
        assert_eq!(&raw[used..], b"hello");
    }

    #[test]
    fn keep_alive_rules() {
        let one = |raw: &[u8]| parse(raw).expect("valid").expect("complete").0;
        assert!(one(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive);
        assert!(!one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(one(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!one(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    }

    #[test]
    fn incomplete_and_bad_heads() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(
            parse(b"\x01\x02 nonsense\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD + 1));
        assert_eq!(parse(big.as_bytes()), Err(HeadError::TooLarge));
        assert_eq!(
            parse(b"PUT /a HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse(b"PUT /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::Malformed)
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(range(None, 10), Range::Full);
        assert_eq!(
            range(Some("bytes=0-3"), 10),
            Range::Part { start: 0, end: 3 }
        );
        assert_eq!(
            range(Some("bytes=5-"), 10),
            Range::Part { start: 5, end: 9 }
        );
        assert_eq!(
            range(Some("bytes=5-100"), 10),
            Range::Part { start: 5, end: 9 }
        );
        assert_eq!(
            range(Some("bytes=-3"), 10),
            Range::Part { start: 7, end: 9 }
        );
        assert_eq!(
            range(Some("bytes=-30"), 10),
            Range::Part { start: 0, end: 9 }
        );
        assert_eq!(range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=-0"), 10), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=-1"), 0), Range::Unsatisfiable);
        assert_eq!(range(Some("bytes=0-1,3-4"), 10), Range::Full);
        assert_eq!(range(Some("items=0-1"), 10), Range::Full);
        assert_eq!(range(Some("bytes=4-2"), 10), Range::Full);
    }

    proptest! {
        #[test]
        fn parts_lie_inside_the_file(h in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..5000) {
            if let Range::Part { start, end } = range(Some(&h), size) {
                prop_assert!(start <= end && end < size);
            }
        }

        #[test]
        fn any_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&b);
        }

        #[test]
        fn split_points_do_not_matter(cut in 0usize..60) {
            let raw = b"PUT /dev1/x HTTP/1.1\r\nHost: a\r\nContent-MD5: abc\r\n\r\n";
            let cut = cut.min(raw.len());
            let whole = parse(raw).expect("valid").expect("complete");
            match parse(&raw[..cut]) {
                Ok(None) => {}
                Ok(Some(h)) => prop_assert_eq!(h, whole),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
