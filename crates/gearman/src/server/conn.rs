//! One connection: a reader that frames and runs batches of requests, and a
//! writer that sends what other tasks could not write of the connection's
//! [`Peer`] buffer (all of it on TLS), in one task.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use danga_common::{Conn, PeerAddr, Shutdown, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::peer::{self, Chunk, Peer, Sink, Wire};
use super::Server;
use crate::proto::{
    parse_frame, Admin, Frame, FrameError, Request, RequestError, Response, SubmitJob,
};
use crate::queue::{ConnId, Msg};

/// Read at least this much at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Stop reading a connection while this much of its output is pending.
const PAUSE_READING: usize = 1 << 20;
/// How long a closing connection may take to flush its last replies.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One framed input.
enum Item {
    Req(Request),
    Bad(RequestError),
    Admin(Admin),
    /// A background job whose persistent row is written.
    #[cfg_attr(not(feature = "persist"), allow(dead_code))]
    Stored(SubmitJob, u64),
    /// A background job the persistent queue could not store.
    #[cfg_attr(not(feature = "persist"), allow(dead_code))]
    Unstored,
}

/// Why a connection ends.
#[derive(Debug)]
enum End {
    /// The peer closed or reset.
    Closed,
    /// Shutdown while it was idle.
    Stopped,
    /// Framing lost (bad magic, oversized packet or line).
    Framing(FrameError),
    /// It did not read what it was sent.
    Overflow,
    /// A read or write failed.
    Io(io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("closed by the peer"),
            End::Stopped => f.write_str("server stopping"),
            End::Framing(e) => write!(f, "framing lost: {e}"),
            End::Overflow => f.write_str("output over the limit: the peer does not read"),
            End::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

pub(super) async fn serve(server: Arc<Server>, mut conn: Conn) {
    let id = conn.id();
    let label = label(&mut conn);
    let may_shutdown = server.cfg.admin_shutdown && is_local(&conn.peer());
    if let (Some(k), Stream::Tcp(s)) = (server.cfg.keepalive, conn.stream()) {
        if let Err(e) = keepalive(s, k) {
            tracing::debug!(error = %e, "setting keepalive");
        }
    }
    let shutdown = conn.shutdown().clone();
    let Some(tls) = server.cfg.tls.clone() else {
        // Plain: the write side is shared, so whichever task produces a
        // packet writes it (see `peer`). The slot lives as long as this.
        let (stream, _slot) = conn.into_parts();
        let (rd, wire) = match stream {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadSide::Tcp(r), Wire::Tcp(w))
            }
            Stream::Unix(s) => {
                let (r, w) = s.into_split();
                (ReadSide::Unix(r), Wire::Unix(w))
            }
        };
        let out: WriteSide<tokio::io::Sink> = WriteSide::Plain(wire);
        return run(&server, id, label, may_shutdown, rd, out, &shutdown).await;
    };
    let accept = tokio_rustls::TlsAcceptor::from(tls).accept(conn.stream());
    match shutdown
        .until_stopped(tokio::time::timeout(HANDSHAKE_TIMEOUT, accept))
        .await
    {
        Some(Ok(Ok(s))) => {
            let (rd, wr) = tokio::io::split(s);
            let out = WriteSide::Own(wr);
            run(&server, id, label, may_shutdown, rd, out, &shutdown).await
        }
        Some(Ok(Err(e))) => tracing::debug!(error = %e, "TLS handshake failed"),
        Some(Err(_)) => tracing::debug!("TLS handshake timed out"),
        None => {}
    }
}

/// How a connection's bytes go out.
enum WriteSide<W> {
    /// A plain socket, written by any task.
    Plain(Wire),
    /// A stream only the connection's own task writes (TLS).
    Own(W),
}

/// The read side of a plain connection.
enum ReadSide {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    Unix(tokio::net::unix::OwnedReadHalf),
}

// Both halves are `Unpin`, so forwarding needs no unsafe pinning.
impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadSide::Unix(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

/// Serves one connection's byte stream (plain or TLS) until it ends.
async fn run<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    server: &Arc<Server>,
    id: ConnId,
    label: String,
    may_shutdown: bool,
    rd: R,
    out: WriteSide<W>,
    shutdown: &Shutdown,
) {
    let (wire, mut own) = match out {
        WriteSide::Plain(w) => (Some(w), None),
        WriteSide::Own(w) => (None, Some(w)),
    };
    let peer = Arc::new(Peer::new(server.cfg.max_pending, wire));
    let mut sink = match (peer.wire(), own.as_mut()) {
        (Some(w), _) => Sink::Wire(w),
        (None, Some(w)) => Sink::Stream(w),
        (None, None) => return,
    };
    server.register(id, label, Arc::clone(&peer));
    let mut cur = Chunk::default();
    // Biased: the reader is polled first, with no random draw per poll.
    let end = tokio::select! {
        biased;
        end = read_loop(server, id, &peer, rd, shutdown, may_shutdown) => end,
        end = peer.write_loop(&mut sink, &mut cur, false) => End::from(end),
    };
    if matches!(end, End::Closed | End::Stopped | End::Framing(_)) {
        // Send what is left (the reply to `shutdown`, an error), briefly.
        let _ =
            tokio::time::timeout(FLUSH_TIMEOUT, peer.write_loop(&mut sink, &mut cur, true)).await;
    }
    match &mut sink {
        Sink::Wire(w) => {
            if let Err(e) = w.shutdown_write() {
                tracing::trace!(error = %e, "shutting down the write side");
            }
        }
        Sink::Stream(w) => {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, w.shutdown()).await;
        }
    }
    tracing::debug!(reason = %end, "connection closed");
    server.unregister(id);
}

impl From<peer::End> for End {
    fn from(e: peer::End) -> Self {
        match e {
            peer::End::Overflow => End::Overflow,
            peer::End::Failed(kind) => End::Io(kind.into()),
            peer::End::Closed | peer::End::Idle => End::Closed,
        }
    }
}

/// A loopback or Unix-socket peer.
fn is_local(peer: &PeerAddr) -> bool {
    match peer {
        PeerAddr::Tcp(a) => match a.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        },
        PeerAddr::Unix => true,
    }
}

fn keepalive(s: &tokio::net::TcpStream, k: super::Keepalive) -> io::Result<()> {
    let mut ka = socket2::TcpKeepalive::new();
    if let Some(t) = k.idle {
        ka = ka.with_time(t);
    }
    if let Some(t) = k.interval {
        ka = ka.with_interval(t);
    }
    if let Some(n) = k.count {
        ka = ka.with_retries(n);
    }
    socket2::SockRef::from(s).set_tcp_keepalive(&ka)
}

/// `FD IP`, as gearmand's `workers` shows a connection.
fn label(conn: &mut Conn) -> String {
    let fd = match conn.stream() {
        Stream::Tcp(s) => s.as_raw_fd(),
        Stream::Unix(s) => s.as_raw_fd(),
    };
    let host = match conn.peer() {
        PeerAddr::Tcp(a) => a.ip().to_string(),
        PeerAddr::Unix => "unix".to_owned(),
    };
    format!("{fd} {host}")
}

async fn read_loop<R: AsyncRead + Unpin>(
    server: &Server,
    id: ConnId,
    peer: &Peer,
    mut rd: R,
    shutdown: &Shutdown,
    may_shutdown: bool,
) -> End {
    let mut input = BytesMut::with_capacity(8 * 1024);
    let mut items = Vec::new();
    let mut touched = Vec::new();
    // One wait for shutdown per connection, rather than a new one made,
    // registered and dropped around each idle read (see below).
    let stopped = shutdown.triggered();
    tokio::pin!(stopped);
    // The task waker `stopped` was last polled with: while the task keeps
    // it, that wait stays registered, and a shutdown wakes the task.
    let mut waiting: Option<Waker> = None;
    loop {
        // Our own replies pile up: let the writer catch up first.
        while peer.pending() >= PAUSE_READING {
            if shutdown.until_stopped(peer.drained()).await.is_none() {
                return End::Stopped;
            }
        }
        if input.capacity() - input.len() < 1024 {
            input.reserve(READ_CHUNK);
        }
        let idle = input.is_empty();
        let read = rd.read_buf(&mut input);
        let n = if idle {
            // Shutdown first, as `Shutdown::until_stopped`. The wait for it
            // is polled (which locks twice) only when the read must wait
            // and the wait is not registered with this task's waker yet;
            // once it is, a shutdown wakes the task and the flag tells.
            if shutdown.is_triggered() {
                return End::Stopped;
            }
            let mut read = std::pin::pin!(read);
            let polled = std::future::poll_fn(|cx| match read.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending if waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) => {
                    if shutdown.is_triggered() {
                        Poll::Ready(None)
                    } else {
                        Poll::Pending
                    }
                }
                Poll::Pending => match stopped.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(None),
                    Poll::Pending => {
                        waiting = Some(cx.waker().clone());
                        Poll::Pending
                    }
                },
            });
            match polled.await {
                Some(r) => r,
                None => return End::Stopped,
            }
        } else {
            read.await
        };
        match n {
            Ok(0) => return End::Closed,
            Ok(_) => {}
            Err(e) => return End::Io(e),
        }
        let fatal = frame_all(&mut input, server, may_shutdown, &mut items);
        if input.is_empty() && input.capacity() > 4 * READ_CHUNK {
            // Give back what one big packet made the buffer grow to.
            input = BytesMut::with_capacity(8 * 1024);
        }
        #[cfg(feature = "persist")]
        store_background_jobs(server, &mut items).await;
        while !items.is_empty() {
            // At most one listing per engine pass: its reply goes to the
            // peer's buffer (capped) before the next is made, so a read
            // full of `show jobs` lines never holds a listing per line.
            let end = batch_end(&items);
            server.run_sending(&mut touched, |q, now, out| {
                for item in items.drain(..end) {
                    match item {
                        Item::Req(r) => q.handle(id, r, now, out),
                        Item::Admin(a) => q.admin(id, &a, out),
                        Item::Stored(job, row) => q.submit(Some(id), job, vec![row], now, out),
                        Item::Unstored => out.msgs.push((
                            id,
                            Msg::Packet(Response::error(
                                "QUEUE_ERROR",
                                "Failed to store the job in the persistent queue",
                            )),
                        )),
                        Item::Bad(e) => {
                            tracing::debug!(error = %e, "bad packet");
                            let (code, text) = e.code_and_text();
                            out.msgs
                                .push((id, Msg::Packet(Response::error(code, text))));
                        }
                    }
                }
            });
            // And none is made while our replies pile up.
            while !items.is_empty() && peer.pending() >= PAUSE_READING && !peer.dead() {
                if shutdown.until_stopped(peer.drained()).await.is_none() {
                    return End::Stopped;
                }
            }
        }
        if let Some(e) = fatal {
            if let FrameError::TooLarge { .. } = e {
                // Written by the closing flush.
                peer.push(&Msg::Packet(Response::error(
                    "ARGUMENT_TOO_LARGE",
                    "Packet larger than the server accepts",
                )));
            }
            return End::Framing(e);
        }
    }
}

/// Writes the background jobs of a batch to the persistent queue (one
/// commit) before the engine sees them, so `JOB_CREATED` means stored.
#[cfg(feature = "persist")]
async fn store_background_jobs(server: &Server, items: &mut [Item]) {
    let Some(p) = &server.persist else {
        return;
    };
    let bg = |it: &Item| matches!(it, Item::Req(Request::Submit(j)) if j.background);
    let jobs: Vec<SubmitJob> = items
        .iter()
        .filter_map(|it| match it {
            Item::Req(Request::Submit(j)) if j.background => Some(j.clone()),
            _ => None,
        })
        .collect();
    if jobs.is_empty() {
        return;
    }
    let mut rows = match p.insert(jobs).await {
        Ok(ids) => ids.into_iter(),
        Err(e) => {
            tracing::debug!(error = %e, "background jobs refused");
            Vec::new().into_iter()
        }
    };
    for it in items.iter_mut().filter(|it| bg(it)) {
        let stored = match (std::mem::replace(it, Item::Unstored), rows.next()) {
            (Item::Req(Request::Submit(job)), Some(row)) => Item::Stored(job, row),
            _ => Item::Unstored,
        };
        *it = stored;
    }
}

/// How many of `items` one engine pass runs: up to and including the
/// first admin listing (whose reply grows with the server's state), or all.
fn batch_end(items: &[Item]) -> usize {
    items
        .iter()
        .position(|it| matches!(it, Item::Admin(a) if a.is_listing()))
        .map_or(items.len(), |i| i + 1)
}

/// Frames every complete packet and line in `input` into `items`; returns
/// the framing error that ends the connection, if any.
fn frame_all(
    input: &mut BytesMut,
    server: &Server,
    may_shutdown: bool,
    items: &mut Vec<Item>,
) -> Option<FrameError> {
    loop {
        match parse_frame(input, &server.cfg.limits) {
            Ok(None) => return None,
            Ok(Some((Frame::Packet { magic, kind, .. }, n))) => {
                // A copy per packet: job data must not pin the read buffer.
                let data = crate::proto::shared_concat(&[&input[crate::proto::HEADER_LEN..n]]);
                input.advance(n);
                items.push(match Request::decode(magic, kind, data) {
                    // Due at a fixed time from now on: stored and queued
                    // as an epoch job.
                    Ok(Request::SubmitSched { mut job, sched }) => {
                        match sched.next_after(server.now().unix) {
                            Some(when) => {
                                job.when = Some(when);
                                Item::Req(Request::Submit(job))
                            }
                            None => Item::Bad(RequestError::BadSchedule),
                        }
                    }
                    Ok(r) => Item::Req(r),
                    Err(e) => Item::Bad(e),
                });
            }
            Ok(Some((Frame::Text { len }, n))) => {
                items.push(Item::Admin(Admin::parse_gated(&input[..len], may_shutdown)));
                input.advance(n);
            }
            Err(e) => return Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_pass_makes_at_most_one_listing() {
        let admin = |line: &[u8]| Item::Admin(Admin::parse(line));
        let mut items: Vec<Item> = [
            &b"version"[..],
            b"show jobs",
            b"show jobs",
            b"getpid",
            b"show unique jobs",
            b"status",
            b"workers",
            b"prioritystatus",
            b"deadletter list",
            b"verbose",
        ]
        .into_iter()
        .map(admin)
        .collect();
        let mut passes = Vec::new();
        while !items.is_empty() {
            let end = batch_end(&items);
            passes.push(end);
            let listings = items
                .drain(..end)
                .filter(|it| matches!(it, Item::Admin(a) if a.is_listing()))
                .count();
            assert!(listings <= 1);
        }
        assert_eq!(passes, [2, 1, 2, 1, 1, 1, 1, 1]);
        assert_eq!(batch_end(&[admin(b"version"), admin(b"getpid")]), 2);
    }

    #[test]
    fn only_loopback_and_unix_peers_are_local() {
        let tcp = |s: &str| PeerAddr::Tcp(s.parse().expect("addr"));
        assert!(is_local(&tcp("127.0.0.1:1")));
        assert!(is_local(&tcp("127.8.0.1:1")));
        assert!(is_local(&tcp("[::1]:1")));
        assert!(is_local(&tcp("[::ffff:127.0.0.1]:1")));
        assert!(is_local(&PeerAddr::Unix));
        assert!(!is_local(&tcp("10.0.0.1:1")));
        assert!(!is_local(&tcp("[::ffff:10.0.0.1]:1")));
        assert!(!is_local(&tcp("0.0.0.0:1")));
    }
}
