//! A request body as the MogileFS client's upload source: an `AsyncRead`
//! over the body's frames, so an upload streams from the client through to
//! the storage node without being held whole in memory.
//!
//! The client library asks for `AsyncSeek` so that it can rewind and try
//! the next destination after a failed PUT. A stream cannot rewind, so
//! only a "seek" to where it already stands succeeds: a destination that
//! refuses the connection is still skipped (nothing was read yet), one
//! that fails midway fails the upload (as the Perl client's does).

use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use hyper::body::Body;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};

/// Reads a body's data frames in order (trailers are ignored).
pub struct BodyReader<B> {
    body: Pin<Box<B>>,
    chunk: Bytes,
    pos: u64,
    done: bool,
}

impl<B> BodyReader<B> {
    /// A reader at the start of `body`.
    pub fn new(body: B) -> Self {
        BodyReader {
            body: Box::pin(body),
            chunk: Bytes::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<B> AsyncRead for BodyReader<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.chunk.is_empty() {
                let n = this.chunk.len().min(buf.remaining());
                buf.put_slice(&this.chunk[..n]);
                this.chunk.advance(n);
                this.pos += n as u64;
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.body.as_mut().poll_frame(cx)) {
                None => this.done = true,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e.into()))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
            }
        }
    }
}

impl<B> AsyncSeek for BodyReader<B> {
    fn start_seek(self: Pin<&mut Self>, to: SeekFrom) -> io::Result<()> {
        let pos = self.pos;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => pos.checked_add_signed(d),
            SeekFrom::End(_) => None,
        };
        if target == Some(pos) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("a streamed request body cannot be rewound (at byte {pos})"),
            ))
        }
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use hyper::body::Frame;
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    use super::*;

    /// A body of several frames, the last one possibly an error.
    struct Frames(VecDeque<Result<Bytes, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Box<dyn std::error::Error + Send + Sync>;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.get_mut()
                    .0
                    .pop_front()
                    .map(|r| r.map(Frame::data).map_err(Into::into)),
            )
        }
    }

    fn frames(parts: &[&'static str]) -> Frames {
        Frames(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p.as_bytes())))
                .collect(),
        )
    }

    #[tokio::test]
    async fn reads_every_frame_in_order_through_small_buffers() {
        let mut r = BodyReader::new(frames(&["hello ", "", "streamed ", "world"]));
        let mut out = Vec::new();
        let mut buf = [0u8; 4];
        loop {
            let n = r.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"hello streamed world");
        assert_eq!(r.stream_position().await.expect("pos"), 20);
    }

    #[tokio::test]
    async fn rewinds_only_to_where_it_stands() {
        let mut r = BodyReader::new(frames(&["abcdef"]));
        // What the client does before the first PUT, and before the next
        // one when nothing was sent.
        assert_eq!(r.stream_position().await.expect("pos"), 0);
        r.seek(SeekFrom::Start(0)).await.expect("seek to 0 at 0");
        let mut two = [0u8; 2];
        r.read_exact(&mut two).await.expect("read");
        let e = r.seek(SeekFrom::Start(0)).await.expect_err("no rewind");
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert!(r.seek(SeekFrom::End(0)).await.is_err());
        r.seek(SeekFrom::Current(0)).await.expect("stay");
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.expect("rest");
        assert_eq!(rest, "cdef");
    }

    #[tokio::test]
    async fn a_broken_body_is_an_io_error() {
        let mut body = frames(&["abc"]);
        body.0.push_back(Err("client went away"));
        let mut r = BodyReader::new(body);
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).await.expect_err("error");
        assert!(e.to_string().contains("client went away"), "{e}");
        assert_eq!(out, b"abc");
    }
}
