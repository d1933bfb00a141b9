//! gearmand: binary packets (both magics: requests to the server,
//! responses as the client and worker libraries read them) and admin lines.

use bytes::{Bytes, BytesMut};
use danga_gearman::proto::{
    parse_frame, Admin, Frame, FrameError, Limits, Magic, Request, Response, HEADER_LEN,
};

use crate::split::pieces;

/// Limits small enough for short inputs to reach them.
const SMALL: Limits = Limits {
    max_packet: 256,
    max_line: 64,
};

/// The most the framer may hold while asking for more: a header and the
/// largest packet, or the longest line and its CRLF.
fn budget(lim: &Limits) -> usize {
    (HEADER_LEN + lim.max_packet as usize).max(lim.max_line + 2)
}

/// One frame, decoded, as text (so runs on different buffers compare).
fn event(frame: &Frame, bytes: &[u8]) -> String {
    match *frame {
        Frame::Packet { magic, kind, len } => {
            assert_eq!(HEADER_LEN + len, bytes.len());
            let data = Bytes::copy_from_slice(&bytes[HEADER_LEN..]);
            match magic {
                Magic::Req => request(kind, data),
                Magic::Res => response(kind, data),
            }
        }
        Frame::Text { len } => {
            assert!(len <= bytes.len());
            let line = &bytes[..len];
            let admin = Admin::parse(line);
            let gated = Admin::parse_gated(line, false);
            let first = line
                .split(|b| *b == b' ' || *b == b'\t')
                .find(|w| !w.is_empty());
            if !first.is_some_and(|w| w.eq_ignore_ascii_case(b"shutdown")) {
                assert_eq!(admin, gated, "only shutdown is gated");
            }
            format!("{admin:?} {:?}", admin.fixed_reply())
        }
    }
}

/// A request decodes, and what it decoded to encodes and decodes back to
/// itself.
fn request(kind: u32, data: Bytes) -> String {
    let req = match Request::decode(Magic::Req, kind, data) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.code_and_text();
            return format!("{e:?}");
        }
    };
    let mut wire = BytesMut::new();
    req.encode(&mut wire);
    let again = match parse_frame(&wire, &Limits::default()) {
        Ok(Some((Frame::Packet { magic, kind, .. }, n))) if n == wire.len() => {
            Request::decode(magic, kind, wire.freeze().slice(HEADER_LEN..))
        }
        other => panic!("{req:?} encoded to a bad frame: {other:?}"),
    };
    assert_eq!(again.as_ref(), Ok(&req), "re-encoding changed the request");
    assert_eq!(req.command().code(), kind);
    format!("{req:?}")
}

/// A response (what a client or worker reads) decodes, and encodes and
/// decodes back to itself.
fn response(kind: u32, data: Bytes) -> String {
    let Some(res) = Response::decode(kind, data) else {
        return "undecodable response".to_owned();
    };
    let mut wire = BytesMut::new();
    res.encode(&mut wire);
    assert_eq!(
        Response::decode(kind, wire.freeze().slice(HEADER_LEN..)).as_ref(),
        Some(&res),
        "re-encoding changed the response"
    );
    format!("{res:?}")
}

fn drive(chunks: &[&[u8]], lim: &Limits) -> (Vec<String>, Option<FrameError>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse_frame(&buf, lim) {
                Ok(None) => {
                    assert!(buf.len() <= budget(lim), "{} bytes held", buf.len());
                    break;
                }
                Ok(Some((frame, n))) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    out.push(event(&frame, &buf[..n]));
                    buf.drain(..n);
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// gearmand's port: `\0REQ`/`\0RES` packets and admin text lines, framed
/// with the default limits and small ones, each decoded.
pub fn gearman_packet(data: &[u8]) {
    let parts = pieces(data);
    for lim in [SMALL, Limits::default()] {
        let whole = drive(&[data], &lim);
        let split = drive(&parts, &lim);
        assert_eq!(whole, split, "the split {parts:?} changed the result");
    }
}
