//! Reading a request body off a client connection, bounded: what the head's
//! read left in the buffer first, then the socket, `Content-Length` bytes
//! or a chunked body de-chunked (capped by `max_chunked_request_size`).
//! Each socket read waits at most `idle_timeout`.

use std::time::Duration;

use super::conn::ClientConn;
use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use crate::proto::chunked::Chunked;
use crate::proto::http::RequestHead;

/// How many bytes one socket read asks for at most.
const READ: usize = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The client left or went quiet.
    Closed,
    /// A malformed chunked body.
    Bad,
    /// A chunked body over `max_chunked_request_size`.
    TooLarge,
}

/// Where a body stands.
pub(crate) enum BodyReader {
    /// This many bytes still to come.
    Length(u64),
    /// A chunked body, this much data so far, at most `max` (0: no limit).
    Chunked { dec: Chunked, total: u64, max: u64 },
}

impl BodyReader {
    pub fn new(req: &RequestHead, max_chunked: u64) -> BodyReader {
        if req.chunked {
            BodyReader::Chunked {
                dec: Chunked::default(),
                total: 0,
                max: max_chunked,
            }
        } else {
            BodyReader::Length(req.content_length)
        }
    }

    /// Whether the whole body has been read.
    pub fn done(&self) -> bool {
        match self {
            BodyReader::Length(n) => *n == 0,
            BodyReader::Chunked { dec, .. } => dec.done(),
        }
    }

    /// Moves body data from `buf` into `out`, reading the socket first when
    /// `buf` is empty. Call until [`BodyReader::done`].
    pub async fn read(
        &mut self,
        conn: &mut ClientConn,
        buf: &mut BytesMut,
        out: &mut Vec<u8>,
        idle: Duration,
    ) -> Result<(), BodyError> {
        if self.done() {
            return Ok(());
        }
        if buf.is_empty() {
            buf.reserve(READ);
            match tokio::time::timeout(idle, conn.stream().read_buf(buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return Err(BodyError::Closed),
            }
        }
        self.take(buf, out)
    }

    /// Moves what `buf` holds of the body into `out`.
    pub fn take(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Result<(), BodyError> {
        match self {
            BodyReader::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                out.extend_from_slice(&buf[..n]);
                buf.advance(n);
                *left -= n as u64;
            }
            BodyReader::Chunked { dec, total, max } => {
                let before = out.len();
                let used = dec.decode(buf, out).map_err(|_| BodyError::Bad)?;
                buf.advance(used);
                *total += (out.len() - before) as u64;
                if *max > 0 && *total > *max {
                    return Err(BodyError::TooLarge);
                }
            }
        }
        Ok(())
    }
}
