//! memcached: the text and meta protocols, and binary packets.

use danga_memcached::proto::binary::{self, Frame, HEADER_LEN};
use danga_memcached::proto::{parse, ErrorKind, Limits, Request};

use crate::split::pieces;

/// Limits small enough for short inputs to reach them.
const SMALL: Limits = Limits {
    key_max: 250,
    line_max: 128,
    get_line_max: 512,
    item_size_max: 64,
};

/// What one request or error became, owned so runs on different buffers
/// compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Req(String, usize),
    Err(ErrorKind, usize),
}

/// The most the text parser may hold unanswered: the longest line it waits
/// for, plus a data block of the largest item and its CRLF.
fn text_budget(lim: &Limits) -> usize {
    lim.line_max.max(lim.get_line_max) + lim.item_size_max + 2
}

/// Bytes a request tells the server to discard after it.
fn swallow(req: &Request<'_>) -> usize {
    match req {
        Request::TooLarge { swallow, .. }
        | Request::MetaTooLarge { swallow, .. }
        | Request::MetaRefused { swallow, .. } => *swallow,
        _ => 0,
    }
}

/// Feeds `chunks` as the server's loop does (append, parse until `None`,
/// advance, discard what must be swallowed) and checks each step.
fn drive_text(chunks: &[&[u8]], lim: &Limits) -> Vec<Event> {
    let mut buf: Vec<u8> = Vec::new();
    let mut skip = 0usize;
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let k = skip.min(buf.len());
            buf.drain(..k);
            skip -= k;
            if skip > 0 {
                break;
            }
            match parse(&buf, lim) {
                Ok(None) => {
                    assert!(
                        buf.len() <= text_budget(lim),
                        "waiting for more with {} bytes held (budget {})",
                        buf.len(),
                        text_budget(lim)
                    );
                    break;
                }
                Ok(Some((req, n))) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    skip = swallow(&req);
                    out.push(Event::Req(format!("{req:?}"), n));
                    buf.drain(..n);
                }
                Err(e) => {
                    assert!(
                        e.consumed > 0 && e.consumed <= buf.len(),
                        "{e:?} of {}",
                        buf.len()
                    );
                    out.push(Event::Err(e.kind, e.consumed));
                    if e.kind.closes() {
                        return out;
                    }
                    buf.drain(..e.consumed);
                }
            }
        }
    }
    out
}

/// memcached's text and meta requests (`get`, `set` with its data block,
/// `mg`/`ms`/`md`/`ma`/`mn`/`me`, admin lines), with the default limits and
/// with small ones.
pub fn memcached_text(data: &[u8]) {
    let parts = pieces(data);
    for lim in [SMALL, Limits::default()] {
        let whole = drive_text(&[data], &lim);
        let split = drive_text(&parts, &lim);
        assert_eq!(whole, split, "the split {parts:?} changed the result");
    }
}

/// The most the binary framer may wait on: a header, the largest extras
/// and key the header can declare, and a value of the largest item.
fn binary_budget(item_size_max: usize) -> usize {
    HEADER_LEN + usize::from(u8::MAX) + usize::from(u16::MAX) + item_size_max
}

fn drive_binary(chunks: &[&[u8]], item_size_max: usize) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut skip = 0usize;
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let k = skip.min(buf.len());
            buf.drain(..k);
            skip -= k;
            if skip > 0 {
                break;
            }
            let (event, n) = match binary::frame(&buf, item_size_max) {
                Frame::Incomplete => {
                    assert!(
                        buf.len() < binary_budget(item_size_max),
                        "waiting for more with {} bytes held",
                        buf.len()
                    );
                    break;
                }
                Frame::BadMagic => {
                    out.push("bad magic".to_owned());
                    return out;
                }
                Frame::Request(req, n) => {
                    assert!(req.value.len() <= item_size_max);
                    (format!("{req:?}"), n)
                }
                Frame::Oversize {
                    req,
                    consumed,
                    swallow,
                } => {
                    assert!(swallow > item_size_max, "{swallow} swallowed");
                    skip = swallow;
                    (format!("oversize {req:?} {swallow}"), consumed)
                }
            };
            assert!(
                n >= HEADER_LEN && n <= buf.len(),
                "consumed {n} of {}",
                buf.len()
            );
            out.push(event);
            buf.drain(..n);
        }
    }
    out
}

/// memcached's binary protocol: framing of request packets (header,
/// extras, key, value), oversize values swallowed.
pub fn memcached_binary(data: &[u8]) {
    let parts = pieces(data);
    for item_max in [64, 1 << 20] {
        let whole = drive_binary(&[data], item_max);
        let split = drive_binary(&parts, item_max);
        assert_eq!(whole, split, "the split {parts:?} changed the result");
    }
    // Header decoding never reads past 24 bytes, and agrees with itself.
    if let Some(h) = binary::Header::decode(data) {
        assert_eq!(binary::Header::decode(&data[..HEADER_LEN]), Some(h));
        let _ = h.value_len();
    }
}
