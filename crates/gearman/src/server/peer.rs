//! One connection's outgoing bytes: written to by whichever connection's
//! request caused them, drained by the connection's own writer.
//!
//! Packets are encoded straight into the buffer while the engine lock is
//! held, so every connection receives its packets in the order the engine
//! produced them (a `JOB_CREATED` can never be overtaken by that job's
//! `WORK_COMPLETE` sent from the worker's task).
//!
//! The buffer is bounded: a peer that stops reading while others keep
//! sending it packets overflows; the buffer is then dropped and the
//! connection closed, so it cannot make the server hold unbounded memory.

use std::sync::{Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::sync::Notify;

use crate::queue::Msg;

#[derive(Debug, Default)]
struct Out {
    buf: BytesMut,
    /// The writer's previous buffer, reused (double buffering).
    spare: BytesMut,
    /// Bytes taken by the writer and not yet written.
    inflight: usize,
    overflow: bool,
}

/// The outgoing side of one connection.
#[derive(Debug)]
pub struct Peer {
    out: Mutex<Out>,
    /// Wakes the writer: bytes to send, or an overflow.
    ready: Notify,
    /// Wakes the reader: the writer made progress.
    drained: Notify,
    /// Most bytes pending (buffered + being written) before an overflow.
    cap: usize,
}

/// The peer let its pending output grow past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl Peer {
    /// A peer whose pending output may reach `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Peer {
            out: Mutex::new(Out::default()),
            ready: Notify::new(),
            drained: Notify::new(),
            cap,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // The guarded code never panics midway (plain buffer appends), so a
        // poisoned lock still holds a consistent buffer.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one message.
    pub fn push(&self, msg: &Msg) {
        let mut o = self.lock();
        if o.overflow {
            return;
        }
        let was_empty = o.buf.is_empty();
        match msg {
            Msg::Packet(r) => r.encode(&mut o.buf),
            Msg::Text(t) => o.buf.extend_from_slice(t),
        }
        if o.buf.len() + o.inflight > self.cap {
            o.overflow = true;
            o.buf = BytesMut::new();
            drop(o);
            self.ready.notify_one();
        } else if was_empty {
            drop(o);
            self.ready.notify_one();
        }
    }

    /// Takes everything buffered, for the writer.
    pub fn take(&self) -> Result<BytesMut, Overflow> {
        let mut o = self.lock();
        if o.overflow {
            return Err(Overflow);
        }
        if o.buf.is_empty() {
            return Ok(BytesMut::new());
        }
        let next = std::mem::take(&mut o.spare);
        let taken = std::mem::replace(&mut o.buf, next);
        o.inflight = taken.len();
        Ok(taken)
    }

    /// The writer finished what it took; it hands the buffer back for reuse.
    pub fn written(&self, mut buf: BytesMut) {
        buf.clear();
        {
            let mut o = self.lock();
            o.inflight = 0;
            // Keep a modest buffer; let a burst's big one go.
            if buf.capacity() <= 1 << 20 {
                o.spare = buf;
            }
        }
        self.drained.notify_one();
    }

    /// Whether the output overflowed.
    pub fn overflowed(&self) -> bool {
        self.lock().overflow
    }

    /// Bytes buffered or being written.
    pub fn pending(&self) -> usize {
        let o = self.lock();
        o.buf.len() + o.inflight
    }

    /// Resolves after something was pushed (or on overflow).
    pub async fn ready(&self) {
        self.ready.notified().await
    }

    /// Resolves after the writer made progress.
    pub async fn drained(&self) {
        self.drained.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Response;
    use bytes::Bytes;

    #[test]
    fn overflow_drops_the_buffer_and_sticks() {
        let p = Peer::new(30);
        p.push(&Msg::Packet(Response::Noop));
        assert_eq!(p.pending(), 12);
        let taken = p.take().expect("not overflowed");
        assert_eq!(taken.len(), 12);
        assert_eq!(p.pending(), 12, "in flight counts");
        p.push(&Msg::Text(Bytes::from_static(b"0123456789")));
        assert_eq!(p.pending(), 22);
        p.push(&Msg::Text(Bytes::from_static(b"0123456789")));
        assert!(p.overflowed());
        assert_eq!(p.take(), Err(Overflow));
        p.push(&Msg::Packet(Response::Noop));
        assert!(p.overflowed());
    }

    #[test]
    fn writing_frees_room() {
        let p = Peer::new(30);
        p.push(&Msg::Text(Bytes::from_static(b"0123456789012345678901234")));
        let taken = p.take().expect("taken");
        p.written(taken);
        assert_eq!(p.pending(), 0);
        p.push(&Msg::Text(Bytes::from_static(b"0123456789012345678901234")));
        assert!(!p.overflowed());
    }
}
