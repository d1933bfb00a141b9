//! MogileFS: the tracker's line protocol, mogstored's HTTP head, Range
//! and side channel, and the tracker's DBI DSN.

use bytes::BytesMut;
use danga_common::framing::{self, LineScanner};
use danga_mogilefs::meta::Dsn;
use danga_mogilefs::proto::{parse_line, parse_reply, Args, Line, Response};
use danga_mogilefs::storage::http::head::{self, Range, MAX_HEAD};
use danga_mogilefs::storage::side::{self, parse_diskstats};

use crate::split::{lines, pieces};

/// A line limit small enough for short inputs to reach.
const SMALL_LINE: usize = 64;

/// Frames `chunks` into lines as the tracker and the side channel do (a
/// [`LineScanner`] resuming its search), and checks each against the
/// stateless [`framing::find_line`]: same lines, same error, and nothing
/// held past the limit.
fn frame_lines(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut input = BytesMut::new();
    let mut scanner = LineScanner::default();
    let mut out = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        loop {
            let stateless = framing::find_line(&input, max);
            match scanner.next_line(&mut input, max) {
                Ok(Some(line)) => {
                    let span = stateless.ok().flatten().expect("the scanner found a line");
                    assert_eq!(span.len, line.len());
                    out.push(line.to_vec());
                }
                Ok(None) => {
                    assert_eq!(stateless, Ok(None));
                    assert!(input.len() <= max + 1, "{} bytes held", input.len());
                    break;
                }
                Err(e) => {
                    assert_eq!(stateless, Err(e));
                    return (out, true);
                }
            }
        }
    }
    (out, false)
}

/// One tracker line: classified, its arguments re-encoded to themselves,
/// and the `OK` reply echoing its callid read back as a client reads it.
fn tracker_request(line: &[u8]) {
    match parse_line(line) {
        Line::Command(req) => {
            assert!(!req.cmd.is_empty());
            assert!(req
                .cmd
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            let encoded = req.args.encode();
            assert_eq!(Args::parse(encoded.as_bytes()), req.args, "{encoded}");
            // The reply echoes the callid, and a client reads it back.
            let reply = Response::ok().encode(req.callid());
            match parse_reply(reply.as_bytes()) {
                Some(Ok(back)) => assert_eq!(back.get("callid"), req.callid(), "{reply:?}"),
                other => panic!("{reply:?} read back as {other:?}"),
            }
        }
        Line::Admin(cmd) => assert_eq!(cmd.trim(), cmd),
        Line::Empty | Line::Garbage => {}
    }
    let _ = parse_reply(line);
}

/// mogilefsd's client port: lines framed (with the tracker's limit and a
/// small one, split any way), each parsed as a query or `!admin` command.
pub fn tracker_line(data: &[u8]) {
    let parts = pieces(data);
    for max in [SMALL_LINE, danga_mogilefs::tracker::server::MAX_LINE] {
        let whole = frame_lines(&[data], max);
        assert_eq!(whole, frame_lines(&parts, max), "split {parts:?}");
        for line in &whole.0 {
            tracker_request(line);
        }
    }
}

/// Feeds request heads as mogstored's loop does; returns what each became.
fn drive_heads(chunks: &[&[u8]]) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match head::parse(&buf) {
                Ok(None) => {
                    assert!(buf.len() <= MAX_HEAD, "{} bytes held", buf.len());
                    break;
                }
                Ok(Some((h, n))) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    for size in [0, 1, 100, u64::MAX] {
                        check_range(h.range.as_deref(), size);
                    }
                    out.push(format!("{h:?} {n}"));
                    // A body is mogstored's to stream, not the head parser's:
                    // stop at the first head that has one.
                    if h.content_length.unwrap_or(0) > 0 || h.chunked {
                        return out;
                    }
                    buf.drain(..n);
                }
                Err(e) => {
                    out.push(format!("{e:?}"));
                    return out;
                }
            }
        }
    }
    out
}

fn check_range(header: Option<&str>, size: u64) {
    if let Range::Part { start, end } = head::range(header, size) {
        assert!(
            start <= end && end < size,
            "{header:?} {start}-{end} of {size}"
        );
    }
}

/// mogstored: HTTP request heads (keep-alive, split any way), the Range
/// header, the side channel's lines, and `/proc/diskstats` text.
pub fn mogstored_head(data: &[u8]) {
    let parts = pieces(data);
    assert_eq!(drive_heads(&[data]), drive_heads(&parts), "split {parts:?}");
    let text = String::from_utf8_lossy(data);
    check_range(text.lines().next(), 1000);
    for line in lines(data) {
        let _ = side::command(&line);
    }
    let _ = parse_diskstats(&text);
}

/// mogilefsd's `db_dsn`: every DBI and URL form; what parses names a
/// database.
pub fn dbi_dsn(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Dsn::parse(&text) {
        Ok(Dsn::Sqlite(path)) => assert!(!path.as_os_str().is_empty(), "{text:?}"),
        Ok(Dsn::Mysql { database, .. }) => assert!(!database.is_empty(), "{text:?}"),
        Err(e) => assert!(e.to_string().contains("unsupported db_dsn")),
    }
}
