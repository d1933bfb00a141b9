//! Framing: where one binary packet or one admin text line ends.
//!
//! A binary packet is a 12-byte header (`\0REQ` or `\0RES`, the type as a
//! big-endian u32, the data length as a big-endian u32) and that many data
//! bytes. Anything whose first byte is not NUL is a line of the text admin
//! protocol, ending at `\n` (a `\r` before it is not part of the line).
//!
//! Nothing here allocates: a header that declares 4 GB is refused as soon
//! as the header is in, before any of its data is waited for.

/// The header length of every binary packet.
pub const HEADER_LEN: usize = 12;
/// The magic of packets sent to the server.
pub const REQ_MAGIC: [u8; 4] = *b"\0REQ";
/// The magic of packets sent by the server.
pub const RES_MAGIC: [u8; 4] = *b"\0RES";

/// The default largest packet data: 64 MiB. gearmand has no limit of its
/// own (it allocates what the header declares); 64 MiB keeps every real
/// payload working while bounding what one connection can make us buffer.
pub const DEFAULT_MAX_PACKET: u32 = 64 << 20;
/// The default longest admin text line.
pub const DEFAULT_MAX_LINE: usize = 8192;

/// Limits the framer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest data length a header may declare.
    pub max_packet: u32,
    /// The longest admin line, without its terminator.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet: DEFAULT_MAX_PACKET,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `\0REQ`: to the server.
    Req,
    /// `\0RES`: from the server.
    Res,
}

impl Magic {
    /// The four magic bytes.
    pub fn bytes(self) -> [u8; 4] {
        match self {
            Magic::Req => REQ_MAGIC,
            Magic::Res => RES_MAGIC,
        }
    }
}

/// One complete frame at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A binary packet; its data is `buf[HEADER_LEN..HEADER_LEN + len]`.
    Packet {
        /// Its magic.
        magic: Magic,
        /// Its type number (any u32; see [`super::Command::from_u32`]).
        kind: u32,
        /// Its data length.
        len: usize,
    },
    /// An admin text line; its text is `buf[..len]`.
    Text {
        /// Length without `\n` or `\r\n`.
        len: usize,
    },
}

/// Framing is lost: the connection must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A NUL first byte not followed by `REQ` or `RES`.
    #[error("bad packet magic")]
    BadMagic,
    /// A header declaring more data than the limit.
    #[error("packet of {declared} bytes is over the {max} byte limit")]
    TooLarge {
        /// What the header declared.
        declared: u32,
        /// The limit.
        max: u32,
    },
    /// No `\n` within the line limit.
    #[error("admin line longer than {0} bytes")]
    LineTooLong(usize),
}

/// Finds the frame at the start of `buf`: `Ok(None)` until it is complete.
/// On success also returns how many bytes it occupies.
pub fn parse_frame(buf: &[u8], lim: &Limits) -> Result<Option<(Frame, usize)>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != 0 {
        return find_line(buf, lim.max_line);
    }
    // A wrong magic is known from its first wrong byte.
    let have = buf.len().min(4);
    let magic = if buf[..have] == REQ_MAGIC[..have] {
        Magic::Req
    } else if buf[..have] == RES_MAGIC[..have] {
        Magic::Res
    } else {
        return Err(FrameError::BadMagic);
    };
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let declared = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if declared > lim.max_packet {
        return Err(FrameError::TooLarge {
            declared,
            max: lim.max_packet,
        });
    }
    let len = usize::try_from(declared).map_err(|_| FrameError::TooLarge {
        declared,
        max: lim.max_packet,
    })?;
    let total = HEADER_LEN + len;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((Frame::Packet { magic, kind, len }, total)))
}

fn find_line(buf: &[u8], max: usize) -> Result<Option<(Frame, usize)>, FrameError> {
    // One byte past the limit may still be the `\r` of a legal line.
    let window = &buf[..buf.len().min(max.saturating_add(2))];
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let len = if nl > 0 && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            if len > max {
                return Err(FrameError::LineTooLong(max));
            }
            Ok(Some((Frame::Text { len }, nl + 1)))
        }
        None if window.len() > max.saturating_add(1)
            || (window.len() == max.saturating_add(1) && window[max] != b'\r') =>
        {
            Err(FrameError::LineTooLong(max))
        }
        None => Ok(None),
    }
}

/// Writes a packet header.
pub fn put_header(out: &mut bytes::BytesMut, magic: Magic, kind: u32, len: u32) {
    out.extend_from_slice(&magic.bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            max_packet: 100,
            max_line: 10,
        }
    }

    #[test]
    fn packets_need_their_whole_header_and_data() {
        let mut p = REQ_MAGIC.to_vec();
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&3u32.to_be_bytes());
        p.extend_from_slice(b"a\0b");
        for cut in 0..p.len() {
            assert_eq!(parse_frame(&p[..cut], &lim()), Ok(None), "cut {cut}");
        }
        let f = Frame::Packet {
            magic: Magic::Req,
            kind: 7,
            len: 3,
        };
        assert_eq!(parse_frame(&p, &lim()), Ok(Some((f, 15))));
        p.extend_from_slice(b"next");
        assert_eq!(parse_frame(&p, &lim()), Ok(Some((f, 15))));
    }

    #[test]
    fn response_magic_and_any_type_number_frame() {
        let mut p = RES_MAGIC.to_vec();
        p.extend_from_slice(&u32::MAX.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            parse_frame(&p, &lim()),
            Ok(Some((
                Frame::Packet {
                    magic: Magic::Res,
                    kind: u32::MAX,
                    len: 0
                },
                12
            )))
        );
    }

    #[test]
    fn bad_magic_is_known_at_the_first_wrong_byte() {
        assert_eq!(parse_frame(b"\0X", &lim()), Err(FrameError::BadMagic));
        assert_eq!(parse_frame(b"\0RE", &lim()), Ok(None));
        assert_eq!(parse_frame(b"\0REX", &lim()), Err(FrameError::BadMagic));
    }

    #[test]
    fn huge_declared_lengths_are_refused_from_the_header_alone() {
        let mut p = REQ_MAGIC.to_vec();
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        assert_eq!(
            parse_frame(&p, &lim()),
            Err(FrameError::TooLarge {
                declared: 0xFFFF_FFF0,
                max: 100
            })
        );
    }

    #[test]
    fn text_lines_end_in_lf_or_crlf_and_are_bounded() {
        assert_eq!(
            parse_frame(b"status\r\nx", &lim()),
            Ok(Some((Frame::Text { len: 6 }, 8)))
        );
        assert_eq!(
            parse_frame(b"status\n", &lim()),
            Ok(Some((Frame::Text { len: 6 }, 7)))
        );
        assert_eq!(parse_frame(b"stat", &lim()), Ok(None));
        assert_eq!(parse_frame(b"0123456789\r", &lim()), Ok(None));
        assert_eq!(
            parse_frame(b"0123456789\r\n", &lim()),
            Ok(Some((Frame::Text { len: 10 }, 12)))
        );
        assert_eq!(
            parse_frame(b"0123456789a", &lim()),
            Err(FrameError::LineTooLong(10))
        );
    }
}
