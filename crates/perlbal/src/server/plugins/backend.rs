//! The hooks on the way to and from a backend: Queues' headers when a
//! backend takes a request, FlvStreaming's head and FLV header before a
//! partial file.

use crate::core::{route, Priority};
use crate::server::dispatch::ServiceRt;
use crate::server::settings::Settings;

/// The FLV file header FlvStreaming puts before a partial file:
/// `FLV`, version 1, flags 1, header size 9, previous tag size 9 (1.80's).
pub(crate) const FLV_HEADER: [u8; 13] = *b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x09";

/// FlvStreaming: the `start` offset of a request for `*.flv?start=N`
/// (N digits, not 0), when the plugin is on the service.
pub(crate) fn flv_start<'a>(s: &Settings, uri: &'a str) -> Option<&'a str> {
    if !s.plugins.as_ref()?.flv {
        return None;
    }
    route::flv_start(uri)
}

/// FlvStreaming's answer head for a backend response of `len` body
/// bytes (head in `raw`): `HTTP/1.0 200 OK`, no Accept-Ranges or
/// Content-Range, `Content-Type: video/x-flv`, the length grown by the
/// FLV header; the other headers as the backend sent them, without
/// Connection and Keep-Alive (ours follow). `None`: not a head.
pub(crate) fn flv_head(raw: &[u8], len: u64, out: &mut Vec<u8>) -> Option<()> {
    let (head, _) = crate::proto::http::parse_response(raw).ok()??;
    out.clear();
    out.extend_from_slice(b"HTTP/1.0 200 OK\r\n");
    let total = (len + FLV_HEADER.len() as u64).to_string();
    let (mut typed, mut sized) = (false, false);
    for h in &head.headers.0 {
        let name = h.name.as_str();
        let value: &[u8] = if name.eq_ignore_ascii_case("Content-Type") {
            typed = true;
            b"video/x-flv"
        } else if name.eq_ignore_ascii_case("Content-Length") {
            if sized {
                continue;
            }
            sized = true;
            total.as_bytes()
        } else if ["Accept-Ranges", "Content-Range", "Connection", "Keep-Alive"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        } else {
            &h.value
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !typed {
        out.extend_from_slice(b"Content-Type: video/x-flv\r\n");
    }
    if !sized {
        out.extend_from_slice(format!("Content-Length: {total}\r\n").as_bytes());
    }
    Some(())
}

/// The Queues plugin's headers for a request given a backend of `svc`
/// now (1.80's `backend_client_assigned` hook): the normal and the
/// high-priority queue's length, and the age in seconds of the client at
/// its head (0 when empty).
pub(crate) fn queue_headers(s: &Settings, svc: &ServiceRt) -> Option<[(&'static str, u64); 4]> {
    if !s.plugins.as_ref()?.queues {
        return None;
    }
    let stats = svc.queue_stats();
    let of = |want: Priority| {
        stats
            .iter()
            .find(|(p, _, _)| *p == want)
            .map_or((0, 0), |(_, count, age)| (*count as u64, *age))
    };
    let ((count, age), (hp_count, hp_age)) = (of(Priority::Normal), of(Priority::High));
    Some([
        ("X-Queue-Count", count),
        ("X-Queue-Age", age),
        ("X-HP-Queue-Count", hp_count),
        ("X-HP-Queue-Age", hp_age),
    ])
}
