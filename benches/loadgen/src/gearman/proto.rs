//! The Gearman binary protocol, as far as the load generator needs it:
//! encode requests into a write buffer, find response frames at the front
//! of a read buffer, split a body into its NUL-separated arguments. Pure:
//! no sockets, no tokio, no allocation per packet.
//!
//! A packet is a 12-byte header, `magic[4] type[u32 BE] len[u32 BE]`, and
//! `len` bytes of body. Requests carry `\0REQ`, responses `\0RES`. The body
//! is NUL-separated arguments; the last one runs to the end of the packet
//! and may contain NULs.

use std::fmt;

use bytes::{BufMut, BytesMut};

pub const REQ: &[u8; 4] = b"\0REQ";
pub const RES: &[u8; 4] = b"\0RES";
pub const HEADER: usize = 12;
/// A response body longer than this is a desync (payloads are capped at 1 MiB).
pub const MAX_BODY: usize = 4 << 20;

/// The packet types the generator sends or expects.
pub mod ty {
    pub const CAN_DO: u32 = 1;
    pub const PRE_SLEEP: u32 = 4;
    pub const NOOP: u32 = 6;
    pub const SUBMIT_JOB: u32 = 7;
    pub const JOB_CREATED: u32 = 8;
    pub const GRAB_JOB: u32 = 9;
    pub const NO_JOB: u32 = 10;
    pub const JOB_ASSIGN: u32 = 11;
    pub const WORK_STATUS: u32 = 12;
    pub const WORK_COMPLETE: u32 = 13;
    pub const WORK_FAIL: u32 = 14;
    pub const SUBMIT_JOB_BG: u32 = 18;
    pub const ERROR: u32 = 19;
    pub const WORK_EXCEPTION: u32 = 25;
    pub const WORK_DATA: u32 = 28;
    pub const WORK_WARNING: u32 = 29;
    pub const GRAB_JOB_UNIQ: u32 = 30;
    pub const JOB_ASSIGN_UNIQ: u32 = 31;
}

/// A packet type's name, for messages.
pub fn name(t: u32) -> &'static str {
    match t {
        ty::CAN_DO => "CAN_DO",
        ty::PRE_SLEEP => "PRE_SLEEP",
        ty::NOOP => "NOOP",
        ty::SUBMIT_JOB => "SUBMIT_JOB",
        ty::JOB_CREATED => "JOB_CREATED",
        ty::GRAB_JOB => "GRAB_JOB",
        ty::NO_JOB => "NO_JOB",
        ty::JOB_ASSIGN => "JOB_ASSIGN",
        ty::WORK_STATUS => "WORK_STATUS",
        ty::WORK_COMPLETE => "WORK_COMPLETE",
        ty::WORK_FAIL => "WORK_FAIL",
        ty::SUBMIT_JOB_BG => "SUBMIT_JOB_BG",
        ty::ERROR => "ERROR",
        ty::WORK_EXCEPTION => "WORK_EXCEPTION",
        ty::WORK_DATA => "WORK_DATA",
        ty::WORK_WARNING => "WORK_WARNING",
        ty::GRAB_JOB_UNIQ => "GRAB_JOB_UNIQ",
        ty::JOB_ASSIGN_UNIQ => "JOB_ASSIGN_UNIQ",
        _ => "another type",
    }
}

/// Append a request of type `t` with `args` joined by NULs.
pub fn request(out: &mut BytesMut, t: u32, args: &[&[u8]]) {
    let len = args.iter().map(|a| a.len()).sum::<usize>() + args.len().saturating_sub(1);
    out.reserve(HEADER + len);
    out.put_slice(REQ);
    out.put_u32(t);
    out.put_u32(u32::try_from(len).expect("request body fits u32"));
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.put_u8(0);
        }
        out.put_slice(a);
    }
}

/// A request of type `t` with no arguments.
pub fn empty_request(t: u32) -> [u8; HEADER] {
    let mut p = [0; HEADER];
    p[..4].copy_from_slice(REQ);
    p[4..8].copy_from_slice(&t.to_be_bytes());
    p
}

/// A request encoded once, to be appended many times.
pub fn template(t: u32, args: &[&[u8]]) -> Vec<u8> {
    let mut b = BytesMut::new();
    request(&mut b, t, args);
    b.to_vec()
}

/// A complete response at the front of a buffer: its type and body length.
/// The body is `buf[HEADER..HEADER + len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub ty: u32,
    pub len: usize,
}

impl Frame {
    /// Header and body.
    pub fn size(&self) -> usize {
        HEADER + self.len
    }
}

/// Bytes the client cannot place: the stream is out of step.
#[derive(Debug, PartialEq, Eq)]
pub struct Desync(pub String);

impl fmt::Display for Desync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol desync: {}", self.0)
    }
}

impl std::error::Error for Desync {}

/// The response at the front of `buf`, if it has fully arrived.
pub fn frame(buf: &[u8]) -> Result<Option<Frame>, Desync> {
    let Some(h) = buf.first_chunk::<HEADER>() else {
        return Ok(None);
    };
    if &h[..4] != RES {
        return Err(Desync(format!(
            "expected \\0RES, got {}",
            show(&buf[..buf.len().min(HEADER)])
        )));
    }
    let t = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    if len > MAX_BODY {
        return Err(Desync(format!("{} packet of {len} bytes", name(t))));
    }
    if buf.len() < HEADER + len {
        return Ok(None);
    }
    Ok(Some(Frame { ty: t, len }))
}

/// Split `body` into `N` (>= 1) arguments: the first `N - 1` end at a NUL,
/// the last runs to the end. `None` if there are too few NULs.
pub fn args<const N: usize>(body: &[u8]) -> Option<[&[u8]; N]> {
    let mut out = [&body[..0]; N];
    let mut rest = body;
    let (last, init) = out.split_last_mut()?;
    for slot in init {
        let i = rest.iter().position(|&b| b == 0)?;
        *slot = &rest[..i];
        rest = &rest[i + 1..];
    }
    *last = rest;
    Some(out)
}

/// An ERROR body, `code\0text`, for messages.
pub fn error_text(body: &[u8]) -> String {
    match args::<2>(body) {
        Some([code, text]) => format!("{} {}", show(code), show(text)),
        None => show(body),
    }
}

/// Bytes for a message: printable ASCII as is, the rest escaped; cut at 80.
pub fn show(b: &[u8]) -> String {
    let cut = &b[..b.len().min(80)];
    let mut s: String = cut.escape_ascii().to_string();
    if b.len() > cut.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(t: u32, body: &[u8]) -> Vec<u8> {
        let mut v = RES.to_vec();
        v.extend_from_slice(&t.to_be_bytes());
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn encodes_requests() {
        let mut b = BytesMut::new();
        request(&mut b, ty::SUBMIT_JOB_BG, &[b"bench", b"", b"xy\0z"]);
        assert_eq!(
            &b[..],
            b"\0REQ\0\0\0\x12\0\0\0\x0bbench\0\0xy\0z".as_slice()
        );
        assert_eq!(&empty_request(ty::GRAB_JOB), b"\0REQ\0\0\0\x09\0\0\0\0");
        let mut c = BytesMut::new();
        request(&mut c, ty::PRE_SLEEP, &[]);
        assert_eq!(&c[..], &empty_request(ty::PRE_SLEEP));
        assert_eq!(
            template(ty::CAN_DO, &[b"bench"]),
            b"\0REQ\0\0\0\x01\0\0\0\x05bench"
        );
    }

    #[test]
    fn frames() {
        let p = response(ty::JOB_CREATED, b"H:host:1");
        assert_eq!(frame(&p[..11]), Ok(None));
        assert_eq!(frame(&p[..p.len() - 1]), Ok(None));
        let f = frame(&p).unwrap().unwrap();
        assert_eq!(
            f,
            Frame {
                ty: ty::JOB_CREATED,
                len: 8
            }
        );
        assert_eq!(f.size(), p.len());
        let mut two = response(ty::NOOP, b"");
        two.extend_from_slice(&p);
        assert_eq!(frame(&two).unwrap().unwrap().size(), HEADER);
        assert!(frame(b"\0REQ\0\0\0\x06\0\0\0\0").is_err());
        assert!(frame(b"ERR bad\r\n\0\0\0").is_err());
        let mut huge = RES.to_vec();
        huge.extend_from_slice(&[0, 0, 0, 13, 0xff, 0xff, 0xff, 0xf0]);
        assert!(frame(&huge).is_err());
    }

    #[test]
    fn splits_args() {
        assert_eq!(
            args::<3>(b"H:h:1\0bench\0da\0ta"),
            Some([&b"H:h:1"[..], b"bench", b"da\0ta"])
        );
        assert_eq!(args::<2>(b"H:h:1\0"), Some([&b"H:h:1"[..], b""]));
        assert_eq!(args::<1>(b"a\0b"), Some([&b"a\0b"[..]]));
        assert_eq!(args::<3>(b"H:h:1\0bench"), None);
        assert_eq!(args::<0>(b""), None);
        assert_eq!(
            error_text(b"QUEUE_ERROR\0Job queue is full"),
            "QUEUE_ERROR Job queue is full"
        );
    }
}
