//! memcached's binary protocol: the 24-byte request header, framing a
//! request out of a byte buffer, and the response header. Pure: no I/O.
//!
//! Framing is incremental and bounded. The header, extras and key are
//! always read first (at most 24 + 255 + 65,535 bytes); a value follows
//! only for the commands that carry one, and only when it fits the item
//! size limit: a header announcing a larger value comes back as
//! [`Frame::Oversize`] without waiting for (or allocating) the value, and
//! the server discards those bytes as they arrive.

/// First byte of every request.
pub const REQ_MAGIC: u8 = 0x80;
/// First byte of every response.
pub const RES_MAGIC: u8 = 0x81;
/// Bytes in a request or response header.
pub const HEADER_LEN: usize = 24;

/// The opcodes of `protocol_binary.h`.
#[allow(missing_docs)]
pub mod opcode {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0a;
    pub const VERSION: u8 = 0x0b;
    pub const GETK: u8 = 0x0c;
    pub const GETKQ: u8 = 0x0d;
    pub const APPEND: u8 = 0x0e;
    pub const PREPEND: u8 = 0x0f;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1a;
    pub const VERBOSITY: u8 = 0x1b;
    pub const TOUCH: u8 = 0x1c;
    pub const GAT: u8 = 0x1d;
    pub const GATQ: u8 = 0x1e;
    pub const SASL_LIST_MECHS: u8 = 0x20;
    pub const SASL_AUTH: u8 = 0x21;
    pub const SASL_STEP: u8 = 0x22;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// The response statuses 1.6.18 sends.
#[allow(missing_docs)]
pub mod status {
    pub const SUCCESS: u16 = 0x00;
    pub const KEY_ENOENT: u16 = 0x01;
    pub const KEY_EEXISTS: u16 = 0x02;
    pub const E2BIG: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const DELTA_BADVAL: u16 = 0x06;
    pub const AUTH_ERROR: u16 = 0x20;
    pub const AUTH_CONTINUE: u16 = 0x21;
    pub const UNKNOWN_COMMAND: u16 = 0x81;
    pub const ENOMEM: u16 = 0x82;

    /// The body the original sends with an error status.
    pub fn text(status: u16) -> &'static [u8] {
        match status {
            ENOMEM => b"Out of memory",
            UNKNOWN_COMMAND => b"Unknown command",
            KEY_ENOENT => b"Not found",
            EINVAL => b"Invalid arguments",
            KEY_EEXISTS => b"Data exists for key.",
            E2BIG => b"Too large.",
            DELTA_BADVAL => b"Non-numeric server-side value for incr or decr",
            NOT_STORED => b"Not stored.",
            AUTH_ERROR => b"Auth failure.",
            _ => b"",
        }
    }
}

/// A request header, in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The command.
    pub opcode: u8,
    /// Key length.
    pub keylen: u16,
    /// Extras length.
    pub extlen: u8,
    /// Extras + key + value.
    pub bodylen: u32,
    /// Echoed in the response.
    pub opaque: u32,
    /// Compare-and-swap value (0 = none).
    pub cas: u64,
}

impl Header {
    /// Decodes the first [`HEADER_LEN`] bytes (the magic is not checked).
    /// `None` if fewer bytes are given.
    pub fn decode(b: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            opcode: b[1],
            keylen: u16::from_be_bytes([b[2], b[3]]),
            extlen: b[4],
            bodylen: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            opaque: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            cas: u64::from_be_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
        })
    }

    /// Bytes of value after the extras and key (0 when the lengths do not
    /// add up; the executor refuses those).
    pub fn value_len(&self) -> usize {
        (self.bodylen as usize).saturating_sub(usize::from(self.keylen) + usize::from(self.extlen))
    }
}

/// True for the commands whose body carries a value after the key.
pub fn carries_value(op: u8) -> bool {
    use opcode::*;
    matches!(
        op,
        SET | ADD
            | REPLACE
            | SETQ
            | ADDQ
            | REPLACEQ
            | APPEND
            | PREPEND
            | APPENDQ
            | PREPENDQ
            | SASL_AUTH
            | SASL_STEP
    )
}

/// One request taken from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinRequest<'a> {
    /// The header.
    pub header: Header,
    /// The extras (`extlen` bytes).
    pub extras: &'a [u8],
    /// The key (`keylen` bytes).
    pub key: &'a [u8],
    /// The value, for the commands that carry one (empty otherwise).
    pub value: &'a [u8],
}

/// What [`frame`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Not a whole request yet.
    Incomplete,
    /// The first byte is not [`REQ_MAGIC`]: the original closes.
    BadMagic,
    /// A request and the bytes it took.
    Request(BinRequest<'a>, usize),
    /// A value-carrying request whose value is longer than the item size
    /// limit: header, extras and key were taken (`consumed`); `swallow`
    /// bytes of value are still to come and are discarded.
    Oversize {
        /// The request, with an empty value.
        req: BinRequest<'a>,
        /// Bytes of header, extras and key.
        consumed: usize,
        /// Bytes of value to discard.
        swallow: usize,
    },
}

/// Takes one request from the front of `buf`. For commands without a
/// value, exactly header + extras + key are consumed, as the original does
/// (its length checks then refuse a body that says otherwise).
pub fn frame(buf: &[u8], item_size_max: usize) -> Frame<'_> {
    if buf.is_empty() {
        return Frame::Incomplete;
    }
    if buf[0] != REQ_MAGIC {
        return Frame::BadMagic;
    }
    let Some(header) = Header::decode(buf) else {
        return Frame::Incomplete;
    };
    let ext_end = HEADER_LEN + usize::from(header.extlen);
    let key_end = ext_end + usize::from(header.keylen);
    if buf.len() < key_end {
        return Frame::Incomplete;
    }
    let extras = &buf[HEADER_LEN..ext_end];
    let key = &buf[ext_end..key_end];
    let consistent = key_end - HEADER_LEN <= header.bodylen as usize;
    let req = BinRequest {
        header,
        extras,
        key,
        value: &[],
    };
    if !carries_value(header.opcode) || !consistent {
        return Frame::Request(req, key_end);
    }
    let vlen = header.value_len();
    if vlen > item_size_max {
        return Frame::Oversize {
            req,
            consumed: key_end,
            swallow: vlen,
        };
    }
    let end = key_end + vlen;
    match buf.get(key_end..end) {
        Some(value) => Frame::Request(BinRequest { value, ..req }, end),
        None => Frame::Incomplete,
    }
}

/// Appends a response header.
#[allow(clippy::too_many_arguments)]
pub fn put_header(
    out: &mut Vec<u8>,
    opcode: u8,
    status: u16,
    extlen: u8,
    keylen: u16,
    bodylen: u32,
    opaque: u32,
    cas: u64,
) {
    out.push(RES_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&keylen.to_be_bytes());
    out.push(extlen);
    out.push(0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&bodylen.to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&cas.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(op: u8, extras: &[u8], key: &[u8], value: &[u8], bodylen: Option<u32>) -> Vec<u8> {
        let mut b = vec![REQ_MAGIC, op];
        b.extend_from_slice(&(key.len() as u16).to_be_bytes());
        b.push(extras.len() as u8);
        b.extend_from_slice(&[0, 0, 0]);
        let body = bodylen.unwrap_or((extras.len() + key.len() + value.len()) as u32);
        b.extend_from_slice(&body.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&9u64.to_be_bytes());
        b.extend_from_slice(extras);
        b.extend_from_slice(key);
        b.extend_from_slice(value);
        b
    }

    #[test]
    fn a_set_frames_whole_and_split() {
        let pkt = request(opcode::SET, &[0; 8], b"key", b"value", None);
        for cut in 0..pkt.len() {
            assert_eq!(frame(&pkt[..cut], 1024), Frame::Incomplete, "cut {cut}");
        }
        let Frame::Request(req, used) = frame(&pkt, 1024) else {
            panic!("no request");
        };
        assert_eq!(used, pkt.len());
        assert_eq!((req.key, req.value), (&b"key"[..], &b"value"[..]));
        assert_eq!(req.header.opaque, 7);
        assert_eq!(req.header.cas, 9);
    }

    #[test]
    fn a_get_takes_only_header_extras_and_key() {
        let mut pkt = request(opcode::GET, &[], b"k", &[], Some(1));
        pkt.extend_from_slice(b"next");
        let Frame::Request(req, used) = frame(&pkt, 1024) else {
            panic!("no request");
        };
        assert_eq!((req.key, used), (&b"k"[..], HEADER_LEN + 1));
    }

    #[test]
    fn a_huge_announced_value_is_refused_without_waiting() {
        let pkt = request(opcode::SET, &[0; 8], b"k", &[], Some(u32::MAX));
        match frame(&pkt, 1 << 20) {
            Frame::Oversize {
                consumed, swallow, ..
            } => {
                assert_eq!(consumed, pkt.len());
                assert_eq!(swallow, u32::MAX as usize - 9);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_magic_and_short_input() {
        assert_eq!(frame(b"get k\r\n", 1024), Frame::BadMagic);
        assert_eq!(frame(&[REQ_MAGIC, 0, 0], 1024), Frame::Incomplete);
        assert_eq!(frame(&[], 1024), Frame::Incomplete);
    }

    #[test]
    fn response_header_layout() {
        let mut out = Vec::new();
        put_header(
            &mut out,
            opcode::GET,
            status::KEY_ENOENT,
            4,
            3,
            9,
            0xdead_beef,
            5,
        );
        assert_eq!(
            out,
            [
                0x81, 0, 0, 3, 4, 0, 0, 1, 0, 0, 0, 9, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0,
                5
            ]
        );
    }
}
