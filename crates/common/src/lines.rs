//! The one read-more/serve-lines loop: a [`LineSession`] owns a byte
//! stream's input buffer, its [`LineScanner`] and its pending output, and
//! hands out one line at a time.
//!
//! Every text protocol here has the same socket loop: take the complete
//! lines already received, answer each into an output buffer, write the
//! batch once, and only then wait for more bytes. The waiting is where the
//! rules live, so they are written once, here:
//!
//! * a line longer than the limit is an error ([`FrameError::TooLong`]) as
//!   soon as that is certain, so a peer never makes us buffer more than the
//!   limit;
//! * the newline search resumes where it stopped ([`LineScanner`]), so a
//!   long line sent in small pieces costs one pass;
//! * replies queued with [`LineSession::send`] go out in one write before
//!   the session blocks on a read (or once they pass [`OUTPUT_HIGH_WATER`]);
//! * an idle timeout bounds every wait for bytes and every write;
//! * with [`LineSession::stop_on`], shutdown ends the session while it is
//!   idle; a partly received line counts as in flight and is read to its
//!   end;
//! * a peer hanging up mid-line is a typed error, not a silent loss.
//!
//! Servers and clients use it alike: a server loops on
//! [`LineSession::next_line`]; a client sends a request and reads its reply
//! lines, the idle timeout being its reply timeout.

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::framing::{self, FrameError, LineScanner};
use crate::shutdown::Shutdown;

/// Queued replies are written before the next line once they pass this
/// many bytes, so a long pipelined batch does not pile up output.
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Read at least this much room at a time.
const READ_CHUNK: usize = 4096;

/// Why a line session ends with an error.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The peer broke the framing: a line over the limit, or it closed in
    /// the middle of a line.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Nothing arrived (or nothing could be written) for this long.
    #[error("idle for {0:?}")]
    Idle(Duration),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What [`LineSession::next_or`] woke up for.
#[derive(Debug)]
pub enum Next<T> {
    /// A line (without its terminator).
    Line(Bytes),
    /// The other future finished first, while no complete line was there.
    Other(T),
}

/// A line-at-a-time view of a byte stream. See the module docs.
#[derive(Debug)]
pub struct LineSession<S> {
    stream: S,
    input: BytesMut,
    scanner: LineScanner,
    output: Vec<u8>,
    max_line: usize,
    idle_timeout: Option<Duration>,
    shutdown: Option<Shutdown>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineSession<S> {
    /// A session over `stream` accepting lines of up to `max_line` bytes
    /// (without the terminator), with no idle timeout.
    pub fn new(stream: S, max_line: usize) -> Self {
        LineSession {
            stream,
            input: BytesMut::with_capacity(READ_CHUNK),
            scanner: LineScanner::new(),
            output: Vec::new(),
            max_line,
            idle_timeout: None,
            shutdown: None,
        }
    }

    /// Bounds every wait for the peer's bytes, and every write, by `limit`
    /// (`None`: no bound).
    pub fn idle_timeout(mut self, limit: Option<Duration>) -> Self {
        self.idle_timeout = limit;
        self
    }

    /// Ends the session (as if the peer had left) when `shutdown` starts
    /// while it waits for a new line.
    pub fn stop_on(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Bytes already received before the session began (e.g. the bytes
    /// that chose the protocol); they are read first.
    pub fn with_input(mut self, bytes: &[u8]) -> Self {
        self.input.extend_from_slice(bytes);
        self
    }

    /// The longest accepted line.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Queues `bytes` for the peer; they are written before the session
    /// next waits for input (or by [`flush`](Self::flush)).
    pub fn send(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// The stream itself, e.g. to stream a long reply after a
    /// [`flush`](Self::flush). Bytes read but not yet taken as lines stay
    /// in the session.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Drops every byte received but not yet taken (a client starting a
    /// new exchange after an error).
    pub fn discard_input(&mut self) {
        self.input.clear();
        self.scanner.reset();
    }

    /// Whether a partly received line (or unread lines) is buffered.
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Writes the queued output.
    pub async fn flush(&mut self) -> Result<(), LineError> {
        if self.output.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.write_all(&self.output).await?;
            self.stream.flush().await
        };
        match self.idle_timeout {
            Some(limit) => tokio::time::timeout(limit, write)
                .await
                .map_err(|_| LineError::Idle(limit))??,
            None => write.await?,
        }
        self.output.clear();
        Ok(())
    }

    /// Writes the queued output, then closes the stream's write side.
    pub async fn close(mut self) -> Result<(), LineError> {
        self.flush().await?;
        let shut = self.stream.shutdown();
        match self.idle_timeout {
            Some(limit) => tokio::time::timeout(limit, shut)
                .await
                .map_err(|_| LineError::Idle(limit))??,
            None => shut.await?,
        }
        Ok(())
    }

    /// The next complete line already received, without any I/O.
    pub fn buffered_line(&mut self) -> Result<Option<Bytes>, FrameError> {
        self.scanner.next_line(&mut self.input, self.max_line)
    }

    /// The next `n` bytes and the `\r\n` after them (a memcached value
    /// block after its header line), reading more as needed. The caller
    /// bounds `n`: the buffer grows only as the bytes actually arrive.
    pub async fn next_payload(&mut self, n: usize) -> Result<Bytes, LineError> {
        self.flush().await?;
        loop {
            if let Some(payload) = framing::next_payload(&mut self.input, n)? {
                self.scanner.reset();
                return Ok(payload);
            }
            let want = n.saturating_add(2).saturating_sub(self.input.len());
            self.input.reserve(want.clamp(READ_CHUNK, 64 * 1024));
            let read = self.stream.read_buf(&mut self.input);
            let got = match self.idle_timeout {
                Some(d) => tokio::time::timeout(d, read)
                    .await
                    .map_err(|_| LineError::Idle(d))??,
                None => read.await?,
            };
            if got == 0 {
                framing::at_eof(&self.input)?;
                return Err(FrameError::PeerClosed { pending: 0 }.into());
            }
        }
    }

    /// The next line. `Ok(None)`: the peer closed between lines, or
    /// shutdown started while the session was idle.
    pub async fn next_line(&mut self) -> Result<Option<Bytes>, LineError> {
        match self.next_or(std::future::pending::<()>()).await? {
            Some(Next::Line(line)) => Ok(Some(line)),
            Some(Next::Other(())) | None => Ok(None),
        }
    }

    /// As [`next_line`](Self::next_line), but while it waits for bytes it
    /// also waits for `other` (e.g. a message to push to a watching
    /// client); whichever comes first is returned. A buffered line wins
    /// without polling `other`.
    pub async fn next_or<T, F>(&mut self, other: F) -> Result<Option<Next<T>>, LineError>
    where
        F: Future<Output = T>,
    {
        let mut other = std::pin::pin!(other);
        loop {
            if self.output.len() >= OUTPUT_HIGH_WATER {
                self.flush().await?;
            }
            if let Some(line) = self.buffered_line()? {
                return Ok(Some(Next::Line(line)));
            }
            // Everything received is answered: the batch goes out now.
            self.flush().await?;
            if self.input.capacity() - self.input.len() < READ_CHUNK / 4 {
                self.input.reserve(READ_CHUNK);
            }
            let idle = self.input.is_empty();
            let limit = self.idle_timeout;
            // Async blocks capture whole variables: borrow the fields apart.
            let LineSession {
                stream,
                input,
                shutdown,
                ..
            } = self;
            let read = async {
                let read = stream.read_buf(input);
                match limit {
                    Some(d) => tokio::time::timeout(d, read)
                        .await
                        .map_err(|_| LineError::Idle(d))?,
                    None => read.await,
                }
                .map_err(LineError::Io)
            };
            let stopped = async {
                match (shutdown.as_ref(), idle) {
                    (Some(s), true) => s.triggered().await,
                    _ => std::future::pending().await,
                }
            };
            let n = tokio::select! {
                biased;
                () = stopped => return Ok(None),
                n = read => n?,
                v = &mut other => return Ok(Some(Next::Other(v))),
            };
            if n == 0 {
                framing::at_eof(&self.input)?;
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    fn text(b: &Option<Bytes>) -> Option<&str> {
        b.as_deref().map(|b| std::str::from_utf8(b).expect("utf-8"))
    }

    #[tokio::test]
    async fn lines_in_pieces_and_replies_in_one_batch() {
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64);
        peer.write_all(b"one\r\ntw").await.expect("write");
        assert_eq!(text(&s.next_line().await.expect("ok")), Some("one"));
        s.send(b"1\r\n");
        peer.write_all(b"o\nthree\r\n").await.expect("write");
        // The reply to "one" goes out before the session waits for "two".
        let mut got = [0u8; 3];
        let (line, read) = tokio::join!(s.next_line(), peer.read_exact(&mut got));
        read.expect("reply");
        assert_eq!(&got, b"1\r\n");
        assert_eq!(text(&line.expect("ok")), Some("two"));
        assert_eq!(text(&s.next_line().await.expect("ok")), Some("three"));
        drop(peer);
        assert_eq!(s.next_line().await.expect("clean end"), None);
    }

    #[tokio::test]
    async fn an_over_long_line_is_refused_before_its_end() {
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 8);
        peer.write_all(b"0123456789").await.expect("write");
        match s.next_line().await {
            Err(LineError::Frame(FrameError::TooLong { limit: 8 })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_peer_leaving_mid_line_is_an_error() {
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64);
        peer.write_all(b"half").await.expect("write");
        drop(peer);
        match s.next_line().await {
            Err(LineError::Frame(FrameError::PeerClosed { pending: 4 })) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let (ours, _peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64).idle_timeout(Some(Duration::from_secs(5)));
        let t0 = tokio::time::Instant::now();
        match s.next_line().await {
            Err(LineError::Idle(d)) => assert_eq!(d, Duration::from_secs(5)),
            other => panic!("{other:?}"),
        }
        assert!(t0.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_does_not_read_times_out_too() {
        let (ours, mut peer) = duplex(16);
        let mut s = LineSession::new(ours, 64).idle_timeout(Some(Duration::from_secs(5)));
        peer.write_all(b"a\n").await.expect("write");
        assert!(s.next_line().await.expect("ok").is_some());
        s.send(&[b'x'; 1024]);
        match s.next_line().await {
            Err(LineError::Idle(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn shutdown_ends_an_idle_session_but_not_a_half_line() {
        let stop = Shutdown::new();
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64).stop_on(stop.clone());
        peer.write_all(b"par").await.expect("write");
        // Let it buffer the partial line, then stop: it keeps reading.
        let (first, ()) = tokio::join!(s.next_line(), async {
            tokio::task::yield_now().await;
            stop.trigger();
            peer.write_all(b"tial\n").await.expect("write");
        });
        assert_eq!(text(&first.expect("ok")), Some("partial"));
        assert_eq!(s.next_line().await.expect("ok"), None, "idle: stopped");
    }

    #[tokio::test]
    async fn the_other_future_wakes_an_idle_session() {
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64);
        let got = s.next_or(async { 7 }).await.expect("ok");
        assert!(matches!(got, Some(Next::Other(7))), "{got:?}");
        // A buffered line wins over a ready future.
        peer.write_all(b"a\nb\n").await.expect("write");
        assert!(matches!(
            s.next_or(std::future::pending::<()>()).await,
            Ok(Some(Next::Line(_)))
        ));
        assert!(matches!(
            s.next_or(async { 1 }).await,
            Ok(Some(Next::Line(l))) if &l[..] == b"b"
        ));
    }

    #[tokio::test]
    async fn a_long_batch_is_written_as_it_goes() {
        // Many pipelined lines whose replies outgrow the high-water mark:
        // the peer reads replies while the session still has lines.
        let (ours, mut peer) = duplex(1 << 20);
        let mut s = LineSession::new(ours, 64);
        let lines = 2000;
        let mut req = Vec::new();
        for _ in 0..lines {
            req.extend_from_slice(b"x\n");
        }
        peer.write_all(&req).await.expect("write");
        for _ in 0..lines {
            assert!(s.next_line().await.expect("ok").is_some());
            s.send(&[b'r'; 100]);
        }
        assert!(s.output.len() < OUTPUT_HIGH_WATER + 100);
        s.flush().await.expect("flush");
        drop(s);
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.expect("read");
        assert_eq!(all.len(), lines * 100);
    }

    #[tokio::test]
    async fn a_payload_after_its_line_in_pieces() {
        let (ours, mut peer) = duplex(1 << 16);
        let mut s = LineSession::new(ours, 64);
        peer.write_all(b"VALUE k 0 5\r\nhel").await.expect("write");
        assert_eq!(text(&s.next_line().await.expect("ok")), Some("VALUE k 0 5"));
        let (p, w) = tokio::join!(s.next_payload(5), peer.write_all(b"lo\r\nEND\r\n"));
        w.expect("write");
        assert_eq!(&p.expect("payload")[..], b"hello");
        assert_eq!(text(&s.next_line().await.expect("ok")), Some("END"));
        peer.write_all(b"abcXY").await.expect("write");
        assert!(matches!(
            s.next_payload(3).await,
            Err(LineError::Frame(FrameError::BadTerminator))
        ));
    }
}
