//! The telnet-friendly line protocol every admin port speaks: a line in,
//! some lines out, `quit` to leave.
//!
//! [`serve_lines`] runs a [`LineSession`] (reading, framing with a maximum
//! line length, pipelining, flushing once per batch, an optional idle
//! timeout, closing idle sessions at shutdown); the daemon supplies only a
//! function from a request line to a [`LineReply`], so the protocol stays
//! testable without sockets.

use std::time::Duration;

use crate::accept::Conn;
use crate::framing::FrameError;
use crate::lines::{LineError, LineSession};

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
    /// Closes a session that sends nothing (or reads nothing) for this
    /// long (`None`: idle sessions stay until shutdown).
    pub idle_timeout: Option<Duration>,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig {
            max_line: 2048,
            too_long: None,
            quit: true,
            idle_timeout: None,
        }
    }
}

/// Serves one connection line by line until the peer leaves, asks to quit,
/// sends an over-long line, stays idle past the timeout, or shutdown starts
/// while it is idle.
pub async fn serve_lines<F>(mut conn: Conn, cfg: LineConfig, mut handle: F)
where
    F: FnMut(&str) -> LineReply,
{
    let shutdown = conn.shutdown().clone();
    let mut lines = LineSession::new(conn.stream(), cfg.max_line)
        .idle_timeout(cfg.idle_timeout)
        .stop_on(shutdown);
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing line session");
                if let LineError::Frame(f) = &e {
                    // Framing lost: answer what came before, then leave.
                    if let (FrameError::TooLong { .. }, Some(msg)) = (f, cfg.too_long) {
                        lines.send(msg);
                    }
                    let _ = lines.close().await;
                }
                return;
            }
        };
        let text = String::from_utf8_lossy(&line);
        if cfg.quit && text.trim().eq_ignore_ascii_case("quit") {
            break;
        }
        match handle(&text) {
            LineReply::Send(s) => lines.send(s.as_bytes()),
            LineReply::SendAndClose(s) => {
                lines.send(s.as_bytes());
                break;
            }
            LineReply::Nothing => {}
        }
    }
    if let Err(e) = lines.close().await {
        tracing::debug!(error = %e, "closing line session");
    }
}
