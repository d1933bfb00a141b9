use super::*;
use proptest::prelude::*;

fn req(text: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
    parse_request(text.as_bytes())
}

#[test]
fn a_keep_alive_get() {
    let text = "GET /a?b HTTP/1.1\r\nHost: x\r\nCookie: c=1\r\n\r\nNEXT";
    let (head, n) = req(text).expect("ok").expect("complete");
    assert_eq!(n, text.len() - 4);
    assert_eq!(head.method, "GET");
    assert_eq!(head.uri, "/a?b");
    assert!(head.wants_keep_alive());
    assert!(head.idempotent());
    assert_eq!(head.headers.get_str("cookie"), Some("c=1"));
    assert_eq!(req("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
}

#[test]
fn absolute_uri_sets_host() {
    let (head, _) = req("GET http://example.org/p HTTP/1.0\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert_eq!(head.uri, "/p");
    assert_eq!(head.headers.get_str("Host"), Some("example.org"));
    assert!(!head.wants_keep_alive());
}

#[test]
fn what_closes_and_what_is_a_400() {
    use HeadError::*;
    assert!(matches!(req("GARBAGE\r\n\r\n"), Err(Close(_))));
    assert!(matches!(req("\x16\x03\x01\x00\r\n\r\n"), Err(Close(_))));
    assert!(
        matches!(req("GET / HTTP/1.1\r\n\r\n"), Err(Close(_))),
        "missing Host"
    );
    assert!(matches!(
        req("GET / HTTP/1.0\r\nBad Header\r\n\r\n"),
        Err(Close(_))
    ));
    assert!(matches!(
        req("POST / HTTP/1.0\r\nContent-Length: -1\r\n\r\n"),
        Err(BadRequest(_))
    ));
    assert!(matches!(
        req("POST / HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Err(BadRequest(_))
    ));
    assert!(matches!(
        req("POST / HTTP/1.0\r\nContent-Length: +1\r\n\r\n"),
        Err(BadRequest(_))
    ));
    assert!(matches!(
        req(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        Err(BadRequest(_))
    ));
    for te in ["gzip", "chunked, chunked", "gzip, chunked"] {
        let r = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert!(matches!(req(&r), Err(BadRequest(_))), "{te}");
    }
    let (h, _) = req("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n")
        .expect("ok")
        .expect("complete");
    assert!(h.chunked && h.has_body() && !h.idempotent());
    let big = format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
    assert!(matches!(req(&big), Err(Close(_))));
    assert!(
        matches!(req(&big[..MAX_HEAD + 10]), Err(Close(_))),
        "refused before the end arrives"
    );
    let (h, _) = req("POST / HTTP/1.0\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n")
        .expect("ok")
        .expect("c");
    assert_eq!(h.content_length, 5);
}

#[test]
fn response_framing() {
    let text = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc";
    let (r, n) = parse_response(text).expect("ok").expect("complete");
    assert_eq!(n, text.len() - 3);
    assert_eq!(r.body(false), Ok(BodyLength::Length(3)));
    assert_eq!(r.body(true), Ok(BodyLength::Empty));
    assert!(r.keep_alive());
    let (r, _) = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        .expect("ok")
        .expect("c");
    assert_eq!(r.body(false), Ok(BodyLength::Chunked));
    let (r, _) = parse_response(b"HTTP/1.0 304 Not Modified\r\n\r\n")
        .expect("ok")
        .expect("c");
    assert_eq!(r.body(false), Ok(BodyLength::Empty));
    let (r, _) = parse_response(b"HTTP/1.0 200 OK\r\n\r\n")
        .expect("ok")
        .expect("c");
    assert_eq!(r.body(false), Ok(BodyLength::UntilClose));
    assert!(!r.keep_alive());
}

/// What [`relay_response`] must match: the owned head, and the client's
/// head as rendered from it (status line, headers minus Connection and
/// Keep-Alive).
fn relay_by_parse(
    buf: &[u8],
    head_request: bool,
    minor: u8,
) -> Option<(RelayHead, usize, Vec<u8>)> {
    let (r, used) = parse_response(buf).ok()??;
    let mut out = format!("HTTP/1.{} {} {}\r\n", minor.min(1), r.status, r.reason).into_bytes();
    for h in &r.headers.0 {
        if !h.name.eq_ignore_ascii_case("Connection") && !h.name.eq_ignore_ascii_case("Keep-Alive")
        {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    let head = RelayHead {
        status: r.status,
        minor: r.minor,
        length: r.body(head_request),
        keep_alive: r.keep_alive(),
        reproxy: crate::proto::reproxy::directive(&r).is_some(),
    };
    Some((head, used, out))
}

#[test]
fn relayed_heads() {
    let text = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nabc";
    let mut out = Vec::new();
    let (h, n) = relay_response(text, false, 0, &mut out)
        .expect("ok")
        .expect("complete");
    assert_eq!(n, text.len() - 3);
    assert_eq!(
        out,
        b"HTTP/1.0 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n"
    );
    assert_eq!(
        (h.status, h.minor, h.length, h.keep_alive, h.reproxy),
        (200, 1, Ok(BodyLength::Length(3)), true, false)
    );
    out.clear();
    assert_eq!(relay_response(&text[..20], false, 1, &mut out), Ok(None));
    assert!(out.is_empty());
    let (h, _) = relay_response(
        b"HTTP/1.1 200 OK\r\nConnection: Close\r\nx-reproxy-url: http://a/\r\n\r\n",
        false,
        1,
        &mut out,
    )
    .expect("ok")
    .expect("complete");
    assert!(!h.keep_alive && h.reproxy);
    assert_eq!(h.length, Ok(BodyLength::UntilClose));
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nx-reproxy-url"));
    out.clear();
    let bad = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    let (h, _) = relay_response(bad, false, 1, &mut out)
        .expect("ok")
        .expect("complete");
    assert!(h.length.is_err());
    out.clear();
    let lf = b"HTTP/1.0 204 No Content\nServer: y\n\n";
    let (h, n) = relay_response(lf, false, 1, &mut out)
        .expect("ok")
        .expect("complete");
    assert_eq!((h.status, n), (204, lf.len()));
    assert_eq!(h.length, Ok(BodyLength::Empty));
    let big = format!("HTTP/1.0 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
    assert!(relay_response(big.as_bytes(), false, 1, &mut Vec::new()).is_err());
    let big = format!("HTTP/1.0 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
    assert!(relay_response(big.as_bytes(), false, 1, &mut Vec::new()).is_err());
    let mut d = Vec::new();
    for ip in ["0.0.0.0", "127.0.0.1", "10.200.3.255", "::1", "fe80::1:2"] {
        d.clear();
        push_ip(&mut d, ip.parse().expect("ip"));
        assert_eq!(d, ip.as_bytes());
    }
    for n in (0..1200).chain([12345, u64::MAX]) {
        d.clear();
        push_decimal(&mut d, n);
        assert_eq!(d, n.to_string().as_bytes());
    }
}

proptest! {
    /// A head read into an earlier head's allocations is the head read
    /// afresh, whatever came before it on the connection.
    #[test]
    fn reused_heads_are_fresh_heads(
        heads in proptest::collection::vec((
            prop::sample::select(vec!["GET /a", "POST /upload?x=1", "HEAD http://h.example/p", "GET https://h2", "PUT /"]),
            0u8..2,
            proptest::collection::vec(prop::sample::select(vec![
                "Host: x", "host: other.example", "Content-Length: 3", "Transfer-Encoding: chunked",
                "Connection: close", "Cookie: a=1; b=2", "X-Forwarded-For: 1.2.3.4", "X-Long: aaaaaaaaaaaaaaaaaaaaaaaa",
            ]), 0..6),
        ), 1..6),
    ) {
        let mut spare = None;
        for (line, minor, lines) in heads {
            let text = format!("{line} HTTP/1.{minor}\r\n{}\r\n", lines.iter().map(|l| format!("{l}\r\n")).collect::<String>());
            let fresh = parse_request(text.as_bytes());
            let reused = parse_request_reusing(text.as_bytes(), &mut spare);
            prop_assert_eq!(&reused, &fresh);
            if let Ok(Some((head, _))) = reused {
                spare = Some(head);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request(&bytes);
        let _ = parse_response(&bytes);
        let _ = relay_response(&bytes, false, 1, &mut Vec::new());
    }

    /// The in-place reading agrees with the owned one on any head built
    /// from these lines (the X-REPROXY-* values are never blank here, so
    /// "present" and "a directive" coincide).
    #[test]
    fn relay_agrees_with_parse(
        minor in 0u8..2,
        status in prop::sample::select(vec![100u16, 200, 204, 206, 304, 404, 500]),
        lines in proptest::collection::vec(prop::sample::select(vec![
            "Content-Length: 12", "content-length: 12", "Content-Length: 7", "Content-Length: -1",
            "Transfer-Encoding: chunked", "Transfer-Encoding: gzip", "Connection: close",
            "connection: Keep-Alive", "Connection: foo, keep-alive", "Keep-Alive: timeout=3",
            "Server: x", "X-Reproxy-File: /f", "X-REPROXY-SERVICE: s", "Date: today",
        ]), 0..6),
        head_request: bool,
        client_minor in 0u8..3,
    ) {
        let text = format!("HTTP/1.{minor} {status} Some Reason\r\n{}\r\nbody", lines.iter().map(|l| format!("{l}\r\n")).collect::<String>());
        let mut out = Vec::new();
        let (h, used) = relay_response(text.as_bytes(), head_request, client_minor, &mut out)
            .expect("parses")
            .expect("complete");
        let (want, want_used, want_out) = relay_by_parse(text.as_bytes(), head_request, client_minor).expect("parses");
        prop_assert_eq!(h, want);
        prop_assert_eq!(used, want_used);
        prop_assert_eq!(out, want_out);
    }

    /// Lines written in other ways (no space, more spaces, trailing
    /// blanks, a bare LF) are relayed as `Name: value`, as the owned
    /// reading renders them, whatever lines are around them.
    #[test]
    fn relay_renders_odd_lines_as_parse_does(
        lines in proptest::collection::vec(prop::sample::select(vec![
            "Server: x\r\n", "Server:x\r\n", "Date:   today\r\n", "Date: today  \r\n",
            "X-A: b\n", "X-Empty:\r\n", "X-Empty: \r\n", "Connection: close\r\n",
            "Keep-Alive: timeout=3\r\n", "Content-Length: 4\r\n", "ETag: \"e\"\r\n",
        ]), 0..8),
    ) {
        let text = format!("HTTP/1.1 200 OK\r\n{}\r\nbody", lines.concat());
        let mut out = Vec::new();
        let got = relay_response(text.as_bytes(), false, 1, &mut out);
        match relay_by_parse(text.as_bytes(), false, 1) {
            Some((want, want_used, want_out)) => {
                let (h, used) = got.expect("parses").expect("complete");
                prop_assert_eq!(h, want);
                prop_assert_eq!(used, want_used);
                prop_assert_eq!(out, want_out);
            }
            None => prop_assert!(!matches!(got, Ok(Some(_)))),
        }
    }

    #[test]
    fn the_same_result_whatever_the_split(cut in 0usize..80) {
        let text = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi";
        let whole = parse_request(text);
        let cut = cut.min(text.len());
        match parse_request(&text[..cut]) {
            Ok(None) => prop_assert!(cut < text.len() - 2),
            other => prop_assert_eq!(other, whole),
        }
    }
}
