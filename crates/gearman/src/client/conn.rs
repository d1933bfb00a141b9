//! One connection to a job server: requests out, responses in, framed by
//! [`crate::proto`] (the same codec the server uses).

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Error;
use crate::proto::{parse_frame, Frame, Limits, Magic, Request, Response, HEADER_LEN};

/// A byte stream to a server: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> Io for T {}

/// A connection with its read buffer.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Box<dyn Io>,
    buf: BytesMut,
    out: BytesMut,
    limits: Limits,
}

impl Conn {
    /// Connects (and with `tls`, shakes hands) within `timeout`.
    pub(crate) async fn connect(
        addr: &str,
        timeout: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Conn, Error> {
        let open = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let stream: Box<dyn Io> = match tls {
                None => Box::new(tcp),
                Some(cfg) => {
                    let name = crate::tls::server_name(addr)
                        .map_err(|e| Error::Protocol(e.to_string()))?;
                    let connector = tokio_rustls::TlsConnector::from(Arc::clone(cfg));
                    Box::new(connector.connect(name, tcp).await?)
                }
            };
            Ok::<_, Error>(stream)
        };
        let stream = match tokio::time::timeout(timeout, open).await {
            Ok(r) => r?,
            Err(_) => return Err(Error::Timeout),
        };
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
        self.stream.flush().await?;
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
