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

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request(&bytes);
        let _ = parse_response(&bytes);
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
