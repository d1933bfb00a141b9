//! Files in and out: PUT then GET/HEAD byte-identical, Range, keep-alive,
//! Content-MD5, DELETE, methods Perlbal refuses.

use std::process::Command;

use danga_testkit::{have_command, require};

use super::{exchange, once, pattern, perl_put, read_reply, Node};
use crate::wire::connect;

const FID_123_ON_DEV7: &str = "/dev7/0/000/000/0000000123.fid";

#[test]
fn mogstored_put_get_head_raw_sockets() {
    let node = Node::start();
    for (i, size) in [0usize, 1024, 10 * 1024 * 1024].into_iter().enumerate() {
        let uri = format!("/dev1/0/000/000/000000010{i}.fid");
        let body = pattern(size, i as u32);
        let put = perl_put(node.http, &uri, &body);
        assert_eq!(put.status, 200, "PUT {size}: {}", put.head);
        assert_eq!(std::fs::read(node.file(&uri)).expect("on disk"), body);

        // HTTP/1.0 without a Host header, as the Perl client reads.
        let get = once(node.http, &format!("GET {uri} HTTP/1.0\r\n\r\n"), b"");
        assert_eq!(get.status, 200, "{}", get.head);
        assert!(get.head.starts_with("HTTP/1.0 200"), "{}", get.head);
        assert!(get.body == body, "GET {size} differs");

        let head = once(
            node.http,
            &format!("HEAD {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            b"",
        );
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("content-length"),
            Some(size.to_string().as_str())
        );
    }
}

#[test]
fn mogstored_fid_layout_on_disk() {
    let node = Node::start();
    let put = perl_put(node.http, FID_123_ON_DEV7, b"fid 123");
    assert_eq!(put.status, 200, "{}", put.head);
    let on_disk = node.docroot.path().join("dev7/0/000/000/0000000123.fid");
    assert_eq!(
        std::fs::read(on_disk).expect("file at the original's path"),
        b"fid 123"
    );
    // No temporary files are left beside it.
    let dir = node.docroot.path().join("dev7/0/000/000");
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn mogstored_curl_roundtrip() {
    if !require("curl", have_command("curl")) {
        return;
    }
    let node = Node::start();
    let work = tempfile::tempdir().expect("tempdir");
    for (i, size) in [0usize, 1024, 10 * 1024 * 1024].into_iter().enumerate() {
        let src = work.path().join(format!("in{i}"));
        let dst = work.path().join(format!("out{i}"));
        std::fs::write(&src, pattern(size, 40 + i as u32)).expect("source");
        let url = node.url(&format!("/dev7/0/000/000/000000020{i}.fid"));
        let put = Command::new("curl")
            .args(["-sS", "-f", "-T"])
            .arg(&src)
            .arg(&url)
            .status()
            .expect("curl PUT");
        assert!(put.success(), "curl PUT of {size} bytes");
        let get = Command::new("curl")
            .args(["-sS", "-f", "-o"])
            .arg(&dst)
            .arg(&url)
            .status()
            .expect("curl GET");
        assert!(get.success(), "curl GET of {size} bytes");
        assert!(std::fs::read(&src).expect("src") == std::fs::read(&dst).expect("dst"));
    }
}

#[test]
fn mogstored_range_requests() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000001.fid";
    assert_eq!(perl_put(node.http, uri, b"0123456789").status, 200);
    let get = |range: &str| {
        once(
            node.http,
            &format!(
                "GET {uri} HTTP/1.1\r\nHost: x\r\nRange: {range}\r\nConnection: close\r\n\r\n"
            ),
            b"",
        )
    };
    let r = get("bytes=2-5");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"2345"[..]));
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    let r = get("bytes=7-");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"789"[..]));
    let r = get("bytes=-3");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"789"[..]));
    assert_eq!(r.header("content-range"), Some("bytes 7-9/10"));
    let r = get("bytes=20-");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
}

#[test]
fn mogstored_keep_alive_reuses_the_connection() {
    let node = Node::start();
    let mut s = connect(node.http);
    let uri = "/dev1/0/000/000/0000000002.fid";
    let r = exchange(
        &mut s,
        &format!("PUT {uri} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"),
        b"abc",
    );
    assert_eq!(r.status, 200);
    for _ in 0..3 {
        let r = exchange(
            &mut s,
            &format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"",
        );
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
    }
    // HTTP/1.0 asks for keep-alive explicitly.
    let mut s = connect(node.http);
    for _ in 0..2 {
        let r = exchange(
            &mut s,
            &format!("GET {uri} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            b"",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
    // Pipelined: two requests in one write, two replies in order.
    let mut s = connect(node.http);
    let two =
        format!("HEAD {uri} HTTP/1.1\r\nHost: x\r\n\r\nGET {uri} HTTP/1.1\r\nHost: x\r\n\r\n");
    std::io::Write::write_all(&mut s, two.as_bytes()).expect("write");
    assert_eq!(read_reply(&mut s, true).status, 200);
    assert_eq!(read_reply(&mut s, false).body, b"abc");
}

#[test]
fn mogstored_content_md5_mismatch_is_refused() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000003.fid";
    let head = |md5: &str| {
        format!("PUT {uri} HTTP/1.0\r\nContent-Length: 5\r\nContent-MD5: {md5}\r\n\r\n")
    };
    // A well-formed digest that is not the MD5 of "hello".
    let bad = once(node.http, &head("Ll0HgJqZWEuGPsUEmNs5gQ=="), b"hello");
    assert_eq!(bad.status, 400, "{}", bad.head);
    assert!(!node.file(uri).exists(), "nothing stored after a mismatch");
    let good = once(node.http, &head("XUFAKrxLKna5cZ2REBfFkg=="), b"hello");
    assert_eq!(good.status, 200, "{}", good.head);
    assert_eq!(std::fs::read(node.file(uri)).expect("stored"), b"hello");
}

#[test]
fn mogstored_delete() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000004.fid";
    assert_eq!(perl_put(node.http, uri, b"gone soon").status, 200);
    let del = || once(node.http, &format!("DELETE {uri} HTTP/1.0\r\n\r\n"), b"").status;
    assert_eq!(del(), 204);
    assert!(!node.file(uri).exists());
    assert_eq!(del(), 404);
    assert_eq!(
        once(node.http, &format!("GET {uri} HTTP/1.0\r\n\r\n"), b"").status,
        404
    );
}

#[test]
fn mogstored_refuses_other_methods() {
    let node = Node::start();
    assert_eq!(
        once(node.http, "MKCOL /dev1/0/000/000 HTTP/1.0\r\n\r\n", b"").status,
        400
    );
    let post = once(node.http, "POST /dev1/x HTTP/1.0\r\n\r\n", b"");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD, PUT, DELETE"));
    assert_eq!(
        once(node.http, "PUT /dev1/x HTTP/1.0\r\n\r\n", b"").status,
        411
    );
    let garbage = once(node.http, "\x01\x02 garbage\r\n\r\n", b"");
    assert_eq!(garbage.status, 400);
}

#[test]
fn mogstored_chunked_put() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000009.fid";
    let mut s = connect(node.http);
    let r = exchange(
        &mut s,
        &format!("PUT {uri} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let r = exchange(
        &mut s,
        &format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n"),
        b"",
    );
    assert_eq!(r.body, b"hello world");
}

#[test]
fn mogstored_directory_get_answers_as_the_original() {
    let node = Node::start();
    // Perlbal's web server (which the original mogstored is) with
    // dirindexing off: 200 and a short HTML note; `mogadm check` wants a 2xx.
    let r = once(node.http, "GET / HTTP/1.0\r\n\r\n", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.body, b"<h1>200 - OK</h1>\nDirectory listing disabled");
    assert_eq!(
        once(node.http, "GET /dev1/ HTTP/1.0\r\n\r\n", b"").status,
        200
    );
}

#[test]
fn mogstored_head_of_a_missing_file_sends_no_body() {
    let node = Node::start();
    let uri = "/dev1/0/000/000/0000000003.fid";
    let mut s = connect(node.http);
    // A body after a HEAD reply would be read as the next reply's head.
    let r = exchange(
        &mut s,
        "HEAD /dev1/nothing.fid HTTP/1.1\r\nHost: x\r\n\r\n",
        b"",
    );
    assert_eq!(r.status, 404);
    let r = exchange(
        &mut s,
        &format!("PUT {uri} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"),
        b"ok",
    );
    assert_eq!(r.status, 200);
    let r = exchange(&mut s, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"");
    assert_eq!(r.status, 200);
    let r = exchange(
        &mut s,
        &format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n"),
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}
