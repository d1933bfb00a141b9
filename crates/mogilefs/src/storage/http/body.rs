//! Request bodies, streamed: `Content-Length` or chunked, from whatever the
//! head's read left in the buffer, then from the socket, one bounded chunk
//! at a time.

use std::io;

use bytes::BytesMut;
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::IDLE_MID_REQUEST;
use crate::storage::CHUNK;

/// The longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// How a body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Copies the body from `buf` + `stream` into `out`, returning its MD5.
/// Bytes after the body stay in `buf` for the next request.
pub async fn copy_body<S, W>(
    stream: &mut S,
    buf: &mut BytesMut,
    framing: Framing,
    out: &mut W,
) -> io::Result<[u8; 16]>
where
    S: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut md5 = Md5::new();
    match framing {
        Framing::Length(n) => copy_exact(stream, buf, n, out, &mut md5).await?,
        Framing::Chunked => loop {
            let line = read_line(stream, buf).await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size =
                u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size line"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(stream, buf).await?.is_empty() {}
                break;
            }
            copy_exact(stream, buf, size, out, &mut md5).await?;
            if !read_line(stream, buf).await?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        },
    }
    Ok(md5.finalize().into())
}

async fn copy_exact<S, W>(
    stream: &mut S,
    buf: &mut BytesMut,
    mut left: u64,
    out: &mut W,
    md5: &mut Md5,
) -> io::Result<()>
where
    S: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while left > 0 {
        if buf.is_empty() {
            fill(stream, buf).await?;
        }
        let take = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let part = buf.split_to(take);
        md5.update(&part);
        out.write_all(&part).await?;
        left -= take as u64;
    }
    Ok(())
}

/// One CRLF- (or LF-) terminated line, without its terminator.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> io::Result<String> {
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(pos + 1);
            let text =
                std::str::from_utf8(&line[..pos]).map_err(|_| bad("non-UTF-8 chunk line"))?;
            return Ok(text.trim_end_matches('\r').to_string());
        }
        if buf.len() > MAX_CHUNK_LINE {
            return Err(bad("chunk line too long"));
        }
        fill(stream, buf).await?;
    }
}

/// Reads more of the body (at most one chunk); end of stream is an error.
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> io::Result<()> {
    if buf.capacity() - buf.len() < CHUNK / 2 {
        buf.reserve(CHUNK);
    }
    let read = stream.read_buf(buf);
    match tokio::time::timeout(IDLE_MID_REQUEST, read).await {
        Ok(Ok(0)) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed mid-body",
        )),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "body stalled")),
    }
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Decodes a `Content-MD5` value: base64 of the 16-byte digest (RFC 1864),
/// or 32 hex digits as some clients send.
pub fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    let value = value.trim();
    if value.len() == 32 {
        let mut out = [0u8; 16];
        for (i, pair) in value.as_bytes().chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(text, 16).ok()?;
        }
        return Some(out);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(wire: &[u8], first: usize, framing: Framing) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut buf = BytesMut::from(&wire[..first]);
        let mut rest = &wire[first..];
        let mut out = Vec::new();
        copy_body(&mut rest, &mut buf, framing, &mut out).await?;
        let mut left = buf.to_vec();
        left.extend_from_slice(rest);
        Ok((out, left))
    }

    #[tokio::test]
    async fn length_bodies_leave_the_next_request() {
        for first in 0..=10 {
            let (body, left) = run(b"helloGET /", first, Framing::Length(5))
                .await
                .expect("complete");
            assert_eq!(body, b"hello");
            assert_eq!(left, b"GET /");
        }
        assert!(run(b"hel", 3, Framing::Length(5)).await.is_err());
    }

    #[tokio::test]
    async fn chunked_bodies() {
        let wire = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for first in 0..wire.len() {
            let (body, left) = run(wire, first, Framing::Chunked).await.expect("ok");
            assert_eq!(body, b"hello world");
            assert_eq!(left, b"NEXT");
        }
        assert!(run(b"zz\r\n", 0, Framing::Chunked).await.is_err());
        assert!(run(b"2\r\nabc\r\n0\r\n\r\n", 0, Framing::Chunked)
            .await
            .is_err());
    }

    #[test]
    fn content_md5_forms() {
        let digest: [u8; 16] = Md5::digest(b"hello").into();
        assert_eq!(parse_content_md5("XUFAKrxLKna5cZ2REBfFkg=="), Some(digest));
        assert_eq!(
            parse_content_md5("5d41402abc4b2a76b9719d911017c592"),
            Some(digest)
        );
        assert_eq!(parse_content_md5("nonsense"), None);
        assert_eq!(parse_content_md5("aGVsbG8="), None);
    }
}
