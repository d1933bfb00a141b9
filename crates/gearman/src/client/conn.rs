//! One connection to a job server: requests out, responses in, framed by
//! [`crate::proto`] (the same codec the server uses).

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Error;
use crate::proto::{parse_frame, Frame, Limits, Magic, Request, Response, HEADER_LEN};

/// A connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    out: BytesMut,
    limits: Limits,
}

impl Conn {
    /// Connects within `timeout`.
    pub(crate) async fn connect(addr: &str, timeout: Duration) -> Result<Conn, Error> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Error::Io(e)),
            Err(_) => return Err(Error::Timeout),
        };
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            out: BytesMut::with_capacity(256),
            limits: Limits::default(),
        })
    }

    /// Writes one request.
    pub(crate) async fn send(&mut self, req: &Request) -> Result<(), Error> {
        self.out.clear();
        req.encode(&mut self.out);
        self.stream.write_all(&self.out).await?;
        Ok(())
    }

    /// The next response; `None` when the server closed the connection.
    /// Cancel-safe: bytes read before a cancel stay in the buffer.
    pub(crate) async fn recv(&mut self) -> Result<Option<Response>, Error> {
        loop {
            match parse_frame(&self.buf, &self.limits) {
                Ok(Some((
                    Frame::Packet {
                        magic: Magic::Res,
                        kind,
                        ..
                    },
                    n,
                ))) => {
                    let packet = self.buf.split_to(n).freeze();
                    let data = packet.slice(HEADER_LEN..);
                    return Response::decode(kind, data)
                        .map(Some)
                        .ok_or_else(|| Error::Protocol(format!("unexpected packet type {kind}")));
                }
                Ok(Some((Frame::Packet { .. }, _))) => {
                    return Err(Error::Protocol("request magic from the server".into()))
                }
                Ok(Some((Frame::Text { .. }, _))) => {
                    return Err(Error::Protocol("text line from the server".into()))
                }
                Ok(None) => {}
                Err(e) => return Err(Error::Protocol(e.to_string())),
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }
}
