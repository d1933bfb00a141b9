//! One Gearman connection with its read and write buffers. The buffers are
//! reused for the whole run: a packet is appended to `wbuf`, written with
//! the others of its batch in one call, and responses are parsed in place
//! in `rbuf`.
//!
//! There are no per-call timeouts: the coordinator aborts every task at
//! the run's deadline.

use anyhow::{bail, Result};
use bytes::{Buf as _, BytesMut};

use super::proto::{self, Frame, HEADER};
use crate::net::{Stream, Target};

pub struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    pub wbuf: BytesMut,
}

impl Conn {
    pub async fn connect(target: &Target) -> Result<Conn> {
        Ok(Conn {
            stream: target.connect().await?,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// Write everything queued in `wbuf`.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// The next response already buffered, if any.
    pub fn next_frame(&self) -> Result<Option<Frame>> {
        Ok(proto::frame(&self.rbuf)?)
    }

    /// The next response, reading until one has fully arrived.
    pub async fn recv(&mut self) -> Result<Frame> {
        loop {
            if let Some(f) = proto::frame(&self.rbuf)? {
                return Ok(f);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("server closed the connection");
            }
        }
    }

    /// `f`'s body (it must be the frame at the front) and the write
    /// buffer, to answer it in place.
    pub fn body(&mut self, f: Frame) -> (&[u8], &mut BytesMut) {
        (&self.rbuf[HEADER..f.size()], &mut self.wbuf)
    }

    /// Drop `f`, the frame at the front.
    pub fn consume(&mut self, f: Frame) {
        self.rbuf.advance(f.size());
    }
}
