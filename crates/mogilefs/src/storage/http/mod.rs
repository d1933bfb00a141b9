//! The HTTP port: one task per connection reads a head (bounded), runs the
//! method, and loops while keep-alive holds. Bodies never sit whole in
//! memory: they stream between socket and disk through [`super::CHUNK`]
//! sized buffers.

mod body;
mod files;
pub mod head;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use danga_common::{Conn, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Storage;
use head::{Head, HeadError};

/// How long a peer may stay silent in the middle of a request (Perlbal's
/// `idle_timeout`).
pub const IDLE_MID_REQUEST: Duration = Duration::from_secs(30);

/// Serves one HTTP connection until it closes, asks to, sits idle between
/// requests longer than [`Storage::keepalive_idle`], or shutdown starts
/// while it is idle.
pub async fn serve(conn: Conn, store: Arc<Storage>) {
    let shutdown = conn.shutdown().clone();
    let peer = conn.peer();
    let (mut stream, _slot) = conn.into_parts();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        let head = loop {
            match head::parse(&buf) {
                Ok(Some((h, used))) => {
                    buf.advance(used);
                    break h;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "bad request head");
                    let status = match e {
                        HeadError::Malformed => 400,
                        HeadError::TooLarge => 431,
                    };
                    let _ = Reply::new(status).close().send(&mut stream, 1).await;
                    return;
                }
            }
            let idle = buf.is_empty();
            let read = stream.read_buf(&mut buf);
            let n = if idle {
                let limit = store.keepalive_idle();
                match shutdown
                    .until_stopped(tokio::time::timeout(limit, read))
                    .await
                {
                    Some(Ok(r)) => r,
                    Some(Err(_)) => {
                        tracing::debug!(%peer, "idle keep-alive connection closed");
                        return;
                    }
                    None => return,
                }
            } else {
                match tokio::time::timeout(IDLE_MID_REQUEST, read).await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        tracing::trace!(%peer, method = %head.method, target = %head.target);
        match files::handle(&store, &head, &mut stream, &mut buf).await {
            Ok(true) if !shutdown.is_triggered() => {}
            Ok(_) => {
                linger(&mut stream).await;
                return;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection dropped");
                return;
            }
        }
    }
}

/// Closes our side, then reads and drops what the peer still sends (an
/// unread request body, for a refused PUT) for a short while, so the
/// kernel does not answer it with a reset that could destroy our reply.
async fn linger(stream: &mut Stream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = vec![0u8; 16 * 1024];
    let mut left: usize = 4 * 1024 * 1024;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while left > 0 {
        match tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// A reply head (and an optional short body) being built.
#[derive(Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    length: Option<u64>,
    close: bool,
}

impl Reply {
    /// A reply with the status's standard short text body.
    pub fn new(status: u16) -> Self {
        let body = if matches!(status, 200 | 204 | 206 | 304) {
            Vec::new()
        } else {
            format!("{} {}\n", status, reason(status)).into_bytes()
        };
        Reply {
            status,
            headers: Vec::new(),
            body,
            length: None,
            close: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The body follows separately: announce `n` bytes.
    pub fn length(mut self, n: u64) -> Self {
        self.length = Some(n);
        self.body.clear();
        self
    }

    /// Close the connection after this reply.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// Whether the connection stays open after this reply to `head`.
    pub fn keeps(&self, head: &Head) -> bool {
        head.keep_alive && !self.close
    }

    /// Encodes the head (and short body) for a request of version 1.`minor`.
    pub fn encode(&self, minor: u8, keep: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.{} {} {}\r\nServer: mogstored\r\n",
            minor.min(1),
            self.status,
            reason(self.status)
        );
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if self.status != 204 {
            let n = self.length.unwrap_or(self.body.len() as u64);
            out.push_str(&format!("Content-Length: {n}\r\n"));
        }
        if !keep {
            out.push_str("Connection: close\r\n");
        } else if minor == 0 {
            out.push_str("Connection: keep-alive\r\n");
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Writes the reply and returns whether the connection stays open.
    pub async fn send(self, stream: &mut Stream, minor: u8) -> io::Result<bool> {
        let keep = !self.close && minor >= 1;
        stream.write_all(&self.encode(minor, keep)).await?;
        Ok(keep)
    }

    /// A reply with a short body of its own.
    pub fn text(status: u16, content_type: &'static str, body: &str) -> Self {
        let mut r = Reply::new(status).header("Content-Type", content_type);
        r.body = body.as_bytes().to_vec();
        r
    }

    /// Writes the reply to `head` and returns whether to keep the connection.
    /// A HEAD request gets the head alone, with the body's length.
    pub async fn answer(mut self, stream: &mut Stream, head: &Head) -> io::Result<bool> {
        if head.method == "HEAD" && self.length.is_none() {
            self.length = Some(self.body.len() as u64);
            self.body.clear();
        }
        let keep = self.keeps(head);
        stream.write_all(&self.encode(head.minor, keep)).await?;
        Ok(keep)
    }
}

/// The reason phrase of `status`: the `http` crate's canonical one
/// ("Internal Server Error" for a code it does not name).
pub fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Internal Server Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_are_the_ones_mogstored_always_sent() {
        for (status, phrase) in [
            (100, "Continue"),
            (200, "OK"),
            (204, "No Content"),
            (206, "Partial Content"),
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (411, "Length Required"),
            (416, "Range Not Satisfiable"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (99, "Internal Server Error"),
        ] {
            assert_eq!(reason(status), phrase, "{status}");
        }
    }

    #[test]
    fn reply_heads() {
        let r = Reply::new(404);
        let text = String::from_utf8(r.encode(0, false)).expect("ascii");
        assert!(text.starts_with("HTTP/1.0 404 Not Found\r\n"), "{text}");
        assert!(text.contains("Content-Length: 14\r\nConnection: close\r\n\r\n404 Not Found\n"));
        let r = Reply::new(200).length(5);
        let text = String::from_utf8(r.encode(1, true)).expect("ascii");
        assert!(text.ends_with("Content-Length: 5\r\n\r\n"), "{text}");
        let text = String::from_utf8(Reply::new(204).encode(0, true)).expect("ascii");
        assert!(!text.contains("Content-Length"), "{text}");
        assert!(text.contains("Connection: keep-alive\r\n"), "{text}");
    }
}
