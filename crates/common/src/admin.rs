//! The telnet-friendly line protocol every admin port speaks: a line in,
//! some lines out, `quit` to leave.
//!
//! [`serve_lines`] owns the socket loop (reading, framing with a maximum line
//! length, pipelining, flushing once per batch, closing idle sessions at
//! shutdown); the daemon supplies only a function from a request line to a
//! [`LineReply`], so the protocol stays testable without sockets.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::accept::Conn;
use crate::framing::{self, FrameError};

/// What to do after one request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineReply {
    /// Write this text (already terminated as the protocol wants).
    Send(String),
    /// Write this text, then close the connection.
    SendAndClose(String),
    /// Write nothing (e.g. `noreply`, or an empty line).
    Nothing,
}

/// Settings of a line session.
#[derive(Debug, Clone, Copy)]
pub struct LineConfig {
    /// The longest accepted line, without its terminator.
    pub max_line: usize,
    /// Written before closing a session whose line is too long
    /// (`None`: close silently, as memcached does).
    pub too_long: Option<&'static [u8]>,
    /// Whether a `quit` line (any case) closes the session without a reply.
    pub quit: bool,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            max_line: 2048,
            too_long: None,
            quit: true,
        }
    }
}

/// Serves one connection line by line until the peer leaves, asks to quit,
/// sends an over-long line, or shutdown starts while it is idle.
pub async fn serve_lines<F>(mut conn: Conn, cfg: LineConfig, mut handle: F)
where
    F: FnMut(&str) -> LineReply,
{
    let shutdown = conn.shutdown().clone();
    let mut input = BytesMut::with_capacity(1024);
    let mut scanner = framing::LineScanner::new();
    let mut output = Vec::with_capacity(1024);
    loop {
        // Answer every complete line already received, then flush once.
        let mut close = false;
        loop {
            match scanner.next_line(&mut input, cfg.max_line) {
                Ok(Some(line)) => {
                    let text = String::from_utf8_lossy(&line);
                    if cfg.quit && text.trim().eq_ignore_ascii_case("quit") {
                        close = true;
                        break;
                    }
                    match handle(&text) {
                        LineReply::Send(s) => output.extend_from_slice(s.as_bytes()),
                        LineReply::SendAndClose(s) => {
                            output.extend_from_slice(s.as_bytes());
                            close = true;
                            break;
                        }
                        LineReply::Nothing => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "closing line session");
                    if let Some(msg) = cfg.too_long {
                        output.extend_from_slice(msg);
                    }
                    close = true;
                    break;
                }
            }
        }
        if !output.is_empty() {
            if conn.stream().write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        if close {
            let _ = conn.stream().shutdown().await;
            return;
        }
        // Idle between requests: shutdown closes us here. A partly received
        // line counts as in flight, so it is still read to its end.
        let idle = input.is_empty();
        let read = conn.stream().read_buf(&mut input);
        let n = if idle {
            match shutdown.until_stopped(read).await {
                Some(r) => r,
                None => return,
            }
        } else {
            read.await
        };
        match n {
            Ok(0) => {
                if let Err(e @ FrameError::PeerClosed { .. }) = framing::at_eof(&input) {
                    tracing::debug!(error = %e, "peer left mid-line");
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                return;
            }
        }
    }
}
