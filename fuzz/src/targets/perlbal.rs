//! Perlbal: the command language of `perlbal.conf` and the management
//! console, HTTP/1 request and response heads, chunked bodies and Range.

use danga_perlbal::core::config::{parse_nodefile, Context};
use danga_perlbal::proto::chunked::Chunked;
use danga_perlbal::proto::command::{normalise, parse as parse_command, Command};
use danga_perlbal::proto::expand::NoLookup;
use danga_perlbal::proto::http::{
    parse_request, parse_request_reusing, parse_response, BodyLength, MAX_HEAD,
};
use danga_perlbal::proto::range::{self, ByteRange};
use danga_perlbal::Config;

use crate::split::{lines, pieces};

/// Commands that read files named in the input (`INCLUDE = glob`, a pool's
/// `nodefile`): a fuzzer would have them read `/dev/zero`. The parser
/// still sees them; the configuration is not changed by them.
fn reads_files(cmd: &Command) -> bool {
    match cmd {
        Command::Include(_) => true,
        Command::Set { key, .. } => key.eq_ignore_ascii_case("nodefile"),
        _ => false,
    }
}

/// The console and `perlbal.conf` language: each line normalised, parsed
/// and applied to a configuration (services, pools, plugins, MIME types),
/// which is then dumped; and the text read as a nodefile.
pub fn perlbal_command(data: &[u8]) {
    let mut cfg = Config::default();
    let mut ctx = Context::default();
    for line in lines(data) {
        let norm = normalise(&line, &NoLookup);
        let parsed = parse_command(&line, &NoLookup);
        if let Ok(None) = norm {
            assert_eq!(parsed, Ok(None), "a blank line parsed to a command");
        }
        if let Ok(Some(cmd)) = parsed {
            if !reads_files(&cmd) {
                let _ = cfg.apply(&cmd, &mut ctx);
            }
        }
    }
    for line in cfg.dump() {
        assert!(
            !line.contains('\n'),
            "a dump line holds a newline: {line:?}"
        );
    }
    let _ = parse_nodefile(&String::from_utf8_lossy(data));
}

/// What follows a head on the same connection.
enum Body {
    None,
    Length(u64),
    Chunked(Chunked, Vec<u8>),
    /// Read until the connection closes: nothing more is framed.
    UntilClose,
}

/// Feeds a client's keep-alive stream: request heads, each followed by its
/// body (Content-Length, or chunked and de-chunked), as the client loop
/// does. Checks the budget and that reusing the previous head's storage
/// gives what a fresh parse gives.
fn drive_requests(chunks: &[&[u8]]) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut spare = None;
    let mut body = Body::None;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match &mut body {
                Body::UntilClose => return out,
                Body::Length(rem) => {
                    let take = usize::try_from(*rem).unwrap_or(usize::MAX).min(buf.len());
                    buf.drain(..take);
                    *rem -= take as u64;
                    if *rem > 0 {
                        break;
                    }
                    body = Body::None;
                }
                Body::Chunked(c, data) => {
                    let before = data.len();
                    match c.decode(&buf, data) {
                        Ok(n) => {
                            assert!(n <= buf.len());
                            assert!(data.len() - before <= n, "more data than input");
                            buf.drain(..n);
                        }
                        Err(e) => {
                            out.push(format!("{e}"));
                            return out;
                        }
                    }
                    if !c.done() {
                        break;
                    }
                    out.push(format!("body {data:?}"));
                    body = Body::None;
                }
                Body::None => {
                    let fresh = parse_request(&buf);
                    let reused = parse_request_reusing(&buf, &mut spare);
                    assert_eq!(fresh, reused, "reusing a head changed the parse");
                    match reused {
                        Ok(None) => {
                            assert!(buf.len() <= MAX_HEAD, "{} bytes held", buf.len());
                            break;
                        }
                        Ok(Some((head, n))) => {
                            assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                            let _ = (head.wants_keep_alive(), head.idempotent());
                            let _ = (head.expects_continue(), head.heap_size());
                            out.push(format!("{head:?} {n}"));
                            body = if head.chunked {
                                Body::Chunked(Chunked::default(), Vec::new())
                            } else if head.has_body() {
                                Body::Length(head.content_length)
                            } else {
                                Body::None
                            };
                            buf.drain(..n);
                            spare = Some(head);
                        }
                        Err(e) => {
                            out.push(format!("{e:?}"));
                            return out;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Feeds a backend's keep-alive stream: response heads, each followed by
/// its body, followed (not changed) as the relay does.
fn drive_responses(chunks: &[&[u8]]) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut body = Body::None;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match &mut body {
                Body::UntilClose => return out,
                Body::Length(rem) => {
                    let take = usize::try_from(*rem).unwrap_or(usize::MAX).min(buf.len());
                    buf.drain(..take);
                    *rem -= take as u64;
                    if *rem > 0 {
                        break;
                    }
                    body = Body::None;
                }
                Body::Chunked(c, _) => {
                    match c.feed(&buf) {
                        Ok(n) => {
                            assert!(n <= buf.len());
                            buf.drain(..n);
                        }
                        Err(e) => {
                            out.push(format!("{e}"));
                            return out;
                        }
                    }
                    if !c.done() {
                        break;
                    }
                    out.push("end of chunked body".to_owned());
                    body = Body::None;
                }
                Body::None => match parse_response(&buf) {
                    Ok(None) => {
                        assert!(buf.len() <= MAX_HEAD, "{} bytes held", buf.len());
                        break;
                    }
                    Ok(Some((head, n))) => {
                        assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                        let kind = head.body(false);
                        assert_eq!(head.body(true), Ok(BodyLength::Empty));
                        out.push(format!("{head:?} {kind:?} {} {n}", head.keep_alive()));
                        body = match kind {
                            Ok(BodyLength::Empty) => Body::None,
                            Ok(BodyLength::Length(l)) => Body::Length(l),
                            Ok(BodyLength::Chunked) => {
                                Body::Chunked(Chunked::default(), Vec::new())
                            }
                            Ok(BodyLength::UntilClose) | Err(_) => Body::UntilClose,
                        };
                        buf.drain(..n);
                    }
                    Err(e) => {
                        out.push(format!("{e:?}"));
                        return out;
                    }
                },
            }
        }
    }
    out
}

/// Checks one Range header against bodies of several sizes.
fn check_range(header: &[u8]) {
    for size in [0, 1, 10, 4096, u64::MAX] {
        let r = range::parse(Some(header), size);
        if let ByteRange::Partial { start, end } = r {
            assert!(start <= end && end < size, "{r:?} outside {size}");
        }
        assert!(r.len(size) <= size);
        assert_eq!(r.is_empty(size), r.len(size) == 0);
        let _ = r.content_range(size);
    }
}

/// Request heads with their bodies (Content-Length, chunked), response
/// heads with theirs, and the first line as a Range header; the request
/// and response streams split any way give the same result.
pub fn perlbal_http_head(data: &[u8]) {
    let parts = pieces(data);
    assert_eq!(
        drive_requests(&[data]),
        drive_requests(&parts),
        "split {parts:?}"
    );
    assert_eq!(
        drive_responses(&[data]),
        drive_responses(&parts),
        "split {parts:?}"
    );
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    check_range(first);
    check_range(first.strip_prefix(b"Range: ").unwrap_or(first));
}
