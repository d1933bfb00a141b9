//! One connection's outgoing bytes: appended to by whichever connection's
//! request caused them, and written by whichever task gets there first.
//!
//! Packets are encoded straight into the buffer while the engine lock is
//! held, so every connection receives its packets in the order the engine
//! produced them (a `JOB_CREATED` can never be overtaken by that job's
//! `WORK_COMPLETE` sent from the worker's task).
//!
//! # Who writes
//!
//! On a plain TCP or Unix connection the task whose request produced the
//! bytes writes them itself ([`Peer::send`], a non-blocking write once the
//! engine lock is released), so a job's packets reach the client and the
//! worker without waking their connections' tasks: a foreground job's
//! `NOOP`, `JOB_ASSIGN` and `WORK_COMPLETE` cost one `write` each and no
//! task hand-off. One writer at a time holds the buffer's *token*; bytes
//! appended meanwhile are written by the holder before it lets go, so the
//! order holds. A socket that is full turns the writing over to the
//! connection's own task ([`Peer::write_loop`]), which waits until it can
//! write; until it has caught up, other tasks only append. On TLS the
//! connection's own task always writes (the TLS state is not shared).
//!
//! # Bounded
//!
//! A peer that stops reading while others keep sending it packets
//! overflows; the buffer is then dropped and the connection closed, so it
//! cannot make the server hold unbounded memory.

use std::io;
use std::sync::{Mutex, MutexGuard};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{tcp, unix};
use tokio::sync::Notify;

use crate::queue::Msg;

/// A taken buffer larger than this is let go rather than reused.
const KEEP: usize = 1 << 20;

/// The write side of a plain connection, shared by every task that sends
/// to it.
#[derive(Debug)]
pub enum Wire {
    /// TCP.
    Tcp(tcp::OwnedWriteHalf),
    /// A Unix socket.
    Unix(unix::OwnedWriteHalf),
}

impl Wire {
    /// A non-blocking write (`WouldBlock` without a system call when the
    /// socket is known to be full).
    fn try_write(&self, b: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Tcp(w) => w.try_write(b),
            Wire::Unix(w) => w.try_write(b),
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Wire::Tcp(w) => w.writable().await,
            Wire::Unix(w) => w.writable().await,
        }
    }

    /// Sends FIN (the read side stays open).
    pub fn shutdown_write(&self) -> io::Result<()> {
        let sock = match self {
            Wire::Tcp(w) => socket2::SockRef::from(w.as_ref()),
            Wire::Unix(w) => socket2::SockRef::from(w.as_ref()),
        };
        sock.shutdown(std::net::Shutdown::Write)
    }

    /// Writes as much of `b[*pos..]` as the socket takes now, moving `pos`
    /// past what it took. The buffer itself is not advanced: one advanced
    /// to its end keeps only the capacity after it, so it could not be
    /// reused for the next packets without a new allocation.
    fn write_now(&self, b: &[u8], pos: &mut usize) -> Written {
        while let Some(rest) = b.get(*pos..).filter(|r| !r.is_empty()) {
            match self.try_write(rest) {
                Ok(0) => return Written::Failed(io::ErrorKind::WriteZero),
                Ok(n) => *pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Written::Full,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Written::Failed(e.kind()),
            }
        }
        Written::All
    }
}

enum Written {
    All,
    /// The socket is full.
    Full,
    Failed(io::ErrorKind),
}

/// Where the connection's own writer sends: the shared plain socket or
/// its TLS stream.
pub enum Sink<'a, W> {
    /// Plain TCP or Unix.
    Wire(&'a Wire),
    /// TLS (or any stream only this task writes).
    Stream(&'a mut W),
}

impl<W: AsyncWrite + Unpin> Sink<'_, W> {
    async fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stream(w) => w.write(b).await,
            Sink::Wire(w) => loop {
                w.writable().await?;
                match w.try_write(b) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            },
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stream(w) => w.flush().await,
            Sink::Wire(_) => Ok(()),
        }
    }
}

#[derive(Debug, Default)]
struct Out {
    /// Appended by the engine, not taken by a writer yet.
    buf: BytesMut,
    /// A writer's previous buffer, reused (double buffering).
    spare: BytesMut,
    /// What a writer took and could not write (the socket was full).
    head: BytesMut,
    /// Bytes taken by a writer and not yet written.
    inflight: usize,
    /// A writer is writing (it owns the bytes it took).
    token: bool,
    /// The socket was full: only the connection's own writer writes until
    /// it has caught up.
    blocked: bool,
    /// The connection's own writer waits for the token.
    want: bool,
    overflow: bool,
    /// A write from another task failed.
    failed: Option<io::ErrorKind>,
}

impl Out {
    /// Takes the next bytes to write, parked ones first.
    fn take(&mut self) -> Option<BytesMut> {
        let taken = if !self.head.is_empty() {
            std::mem::take(&mut self.head)
        } else if !self.buf.is_empty() {
            let next = std::mem::take(&mut self.spare);
            std::mem::replace(&mut self.buf, next)
        } else {
            return None;
        };
        self.inflight = taken.len();
        Some(taken)
    }

    /// A writer wrote all it took; the buffer goes back for reuse.
    fn give_back(&mut self, mut b: BytesMut) {
        self.inflight = 0;
        b.clear();
        if b.capacity() <= KEEP && b.capacity() > self.spare.capacity() {
            self.spare = b;
        }
    }

    fn dead(&self) -> Option<End> {
        match (self.overflow, self.failed) {
            (true, _) => Some(End::Overflow),
            (false, Some(k)) => Some(End::Failed(k)),
            (false, None) => None,
        }
    }
}

/// Why a connection's writer stopped.
#[derive(Debug)]
pub enum End {
    /// Its pending output passed the limit: the peer does not read.
    Overflow,
    /// A write failed.
    Failed(io::ErrorKind),
    /// The peer closed (a write took nothing).
    Closed,
    /// Everything pending is written (only when asked to stop then).
    Idle,
}

/// The bytes the connection's own writer holds, kept outside its future so
/// a closing connection can finish them.
#[derive(Debug, Default)]
pub struct Chunk {
    bytes: BytesMut,
    pos: usize,
    /// It holds the token.
    held: bool,
}

/// The outgoing side of one connection.
#[derive(Debug)]
pub struct Peer {
    out: Mutex<Out>,
    /// Wakes the connection's own writer: bytes it must write, the token
    /// it waits for, an overflow or a failed write.
    ready: Notify,
    /// Wakes the reader: the writers made progress.
    drained: Notify,
    /// Most bytes pending (buffered + being written) before an overflow.
    cap: usize,
    /// The plain socket other tasks may write to; `None` on TLS.
    wire: Option<Wire>,
}

impl Peer {
    /// A peer whose pending output may reach `cap` bytes, written to
    /// `wire` by any task, or (`None`) only by the connection's own writer.
    pub fn new(cap: usize, wire: Option<Wire>) -> Self {
        Peer {
            out: Mutex::new(Out::default()),
            ready: Notify::new(),
            drained: Notify::new(),
            cap,
            wire,
        }
    }

    /// The shared plain socket, if any.
    pub fn wire(&self) -> Option<&Wire> {
        self.wire.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // The guarded code never panics midway (plain buffer appends), so a
        // poisoned lock still holds a consistent buffer.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one message; [`Peer::send`] writes it.
    pub fn push(&self, msg: &Msg) {
        let mut o = self.lock();
        if o.overflow {
            return;
        }
        let over = match msg {
            Msg::Packet(r) => {
                r.encode(&mut o.buf);
                o.buf.len() + o.inflight > self.cap
            }
            // Checked before copying: a listing past the cap is not copied
            // into the buffer only to be dropped with it.
            Msg::Text(t) => {
                let over = o.buf.len() + o.inflight + t.len() > self.cap;
                if !over {
                    o.buf.extend_from_slice(t);
                }
                over
            }
        };
        if over {
            o.overflow = true;
            o.buf = BytesMut::new();
            o.head = BytesMut::new();
            drop(o);
            self.ready.notify_one();
        }
    }

    /// Writes what is pending, from the calling task and without waiting,
    /// unless another writer is at it or the socket is full (the
    /// connection's own writer then does it); on TLS, wakes that writer.
    pub fn send(&self) {
        let Some(wire) = &self.wire else {
            return self.ready.notify_one();
        };
        let mut chunk = {
            let mut o = self.lock();
            if o.token || o.blocked || o.dead().is_some() {
                return;
            }
            match o.take() {
                Some(c) => {
                    o.token = true;
                    c
                }
                None => return,
            }
        };
        let mut pos = 0;
        loop {
            let written = wire.write_now(&chunk, &mut pos);
            let mut o = self.lock();
            match written {
                Written::All if o.dead().is_none() => {
                    o.give_back(chunk);
                    if let Some(c) = o.take() {
                        chunk = c;
                        pos = 0;
                        continue;
                    }
                    o.token = false;
                    let want = std::mem::take(&mut o.want);
                    drop(o);
                    self.drained.notify_one();
                    if want {
                        self.ready.notify_one();
                    }
                }
                Written::All => o.token = false,
                Written::Full => {
                    o.token = false;
                    if o.dead().is_none() {
                        chunk.advance(pos);
                        o.inflight = chunk.len();
                        o.head = chunk;
                        o.blocked = true;
                    }
                    drop(o);
                    self.ready.notify_one();
                }
                Written::Failed(kind) => {
                    o.token = false;
                    o.failed = Some(kind);
                    o.buf = BytesMut::new();
                    drop(o);
                    self.ready.notify_one();
                }
            }
            return;
        }
    }

    /// The connection's own writer: writes whatever other tasks could not
    /// (TLS, a full socket), until the output overflows or a write fails;
    /// with `until_idle`, also stops once nothing is pending.
    pub async fn write_loop<W: AsyncWrite + Unpin>(
        &self,
        sink: &mut Sink<'_, W>,
        cur: &mut Chunk,
        until_idle: bool,
    ) -> End {
        loop {
            if !cur.held {
                let next = {
                    let mut o = self.lock();
                    if let Some(end) = o.dead() {
                        return end;
                    }
                    if o.token {
                        o.want = true;
                        None
                    } else {
                        let t = o.take();
                        match &t {
                            Some(_) => {
                                o.token = true;
                                o.want = false;
                            }
                            None => o.blocked = false,
                        }
                        t
                    }
                };
                match next {
                    Some(b) => {
                        cur.bytes = b;
                        cur.pos = 0;
                        cur.held = true;
                    }
                    None => {
                        // TLS may hold the end of what was written.
                        if let Err(e) = sink.flush().await {
                            return End::Failed(e.kind());
                        }
                        if until_idle && !self.lock().token {
                            return End::Idle;
                        }
                        self.ready.notified().await;
                        continue;
                    }
                }
            }
            while cur.pos < cur.bytes.len() {
                tokio::select! {
                    r = sink.write(&cur.bytes[cur.pos..]) => match r {
                        Ok(0) => return End::Closed,
                        Ok(n) => cur.pos += n,
                        Err(e) => return End::Failed(e.kind()),
                    },
                    _ = self.ready.notified() => {
                        if let Some(end) = self.lock().dead() {
                            return end;
                        }
                    }
                }
            }
            let mut o = self.lock();
            if let Some(end) = o.dead() {
                return end;
            }
            o.give_back(std::mem::take(&mut cur.bytes));
            cur.pos = 0;
            match o.take() {
                Some(b) => cur.bytes = b,
                None => {
                    o.token = false;
                    o.blocked = false;
                    cur.held = false;
                    drop(o);
                    self.drained.notify_one();
                }
            }
        }
    }

    /// Whether the output overflowed or a write failed.
    pub fn dead(&self) -> bool {
        self.lock().dead().is_some()
    }

    /// Bytes buffered or being written.
    pub fn pending(&self) -> usize {
        let o = self.lock();
        o.buf.len() + o.inflight
    }

    /// Resolves after a writer made progress.
    pub async fn drained(&self) {
        self.drained.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Response;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    type Tls = tokio::io::DuplexStream;

    #[test]
    fn overflow_drops_the_buffer_and_sticks() {
        let p = Peer::new(30, None);
        p.push(&Msg::Packet(Response::Noop));
        assert_eq!(p.pending(), 12);
        p.push(&Msg::Text(Bytes::from_static(b"0123456789")));
        assert_eq!(p.pending(), 22);
        assert!(!p.dead());
        p.push(&Msg::Text(Bytes::from_static(b"0123456789")));
        assert!(p.dead());
        assert_eq!(p.pending(), 0, "the buffer is dropped");
        p.push(&Msg::Packet(Response::Noop));
        assert!(p.dead());
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn a_text_past_the_cap_is_not_copied() {
        let p = Peer::new(1 << 10, None);
        p.push(&Msg::Text(Bytes::from(vec![b'x'; 4 << 10])));
        assert!(p.dead());
        assert_eq!(p.pending(), 0);
        assert_eq!(p.lock().buf.capacity(), 0, "nothing was copied");
    }

    #[tokio::test]
    async fn the_own_writer_writes_in_order_and_stops_when_idle() {
        let p = Peer::new(1 << 20, None);
        let (mut a, mut b) = tokio::io::duplex(64);
        p.push(&Msg::Text(Bytes::from_static(b"first ")));
        p.push(&Msg::Text(Bytes::from_static(b"second")));
        p.send();
        let mut cur = Chunk::default();
        let mut sink: Sink<'_, Tls> = Sink::Stream(&mut a);
        let end = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            p.write_loop(&mut sink, &mut cur, true),
        )
        .await
        .expect("in time");
        assert!(matches!(end, End::Idle), "{end:?}");
        assert_eq!(p.pending(), 0);
        let mut got = [0u8; 12];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"first second");
    }

    #[tokio::test]
    async fn a_full_socket_turns_the_writing_over_to_the_own_writer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let (_rd, wr) = server.into_split();
        let p = Peer::new(64 << 20, Some(Wire::Tcp(wr)));
        // More than the socket buffers hold: the direct write parks the rest.
        let block = Bytes::from(vec![7u8; 1 << 20]);
        let total = 16 * block.len();
        for _ in 0..16 {
            p.push(&Msg::Text(block.clone()));
            p.send();
        }
        assert!(p.pending() > 0, "the socket took everything");
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0;
            while n < total {
                let k = client.read(&mut buf).await.expect("read");
                assert!(k > 0, "closed early");
                assert!(buf[..k].iter().all(|&b| b == 7));
                n += k;
            }
            n
        });
        let mut cur = Chunk::default();
        let mut sink: Sink<'_, Tls> = Sink::Wire(p.wire().expect("plain"));
        let end = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            p.write_loop(&mut sink, &mut cur, true),
        )
        .await
        .expect("in time");
        assert!(matches!(end, End::Idle), "{end:?}");
        assert_eq!(p.pending(), 0);
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), reader)
            .await
            .expect("in time")
            .expect("reader");
        assert_eq!(n, total);
    }
}
