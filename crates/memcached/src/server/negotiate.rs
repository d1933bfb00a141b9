//! Choosing a connection's protocol (`-B`): with `auto` the first byte
//! decides (0x80 is binary, anything else text), as the original does;
//! and the ASCII authentication handshake (`-Y`) before text commands.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use danga_common::{Conn, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::exec::{Passwords, Tally};
use crate::proto::binary::REQ_MAGIC;
use crate::proto::{auth_step, AuthStep};

use super::{write_out, CloseLog, Io, Server, HANDSHAKE_TIMEOUT};

/// `-B`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// By the first byte.
    #[default]
    Auto,
    /// Text and meta only.
    Ascii,
    /// Binary only.
    Binary,
}

/// Which protocols connections may speak, and who may use text.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// `-B`.
    pub protocol: Protocol,
    /// `-Y`: the users text connections must authenticate as.
    pub ascii_auth: Option<Arc<Passwords>>,
}

impl Server {
    /// Serves one connection until it quits, breaks the protocol beyond
    /// repair, or the server stops while it is idle. On a TLS listener
    /// (`tls`, with `-Z`) the handshake comes first, within
    /// [`HANDSHAKE_TIMEOUT`] (or `-o idle_timeout` if shorter); a client
    /// that fails it (a plaintext one, a refused certificate) is closed
    /// and counted.
    pub async fn serve(self: Arc<Self>, mut conn: Conn, tls: bool) {
        // In `stats conns` and announced to watchers from the start, before
        // its first byte says which protocol it speaks.
        let guard = self.register(&mut conn);
        let mut closing = CloseLog::new(&self.engine.log, &conn, guard.fd());
        let shutdown = conn.shutdown().clone();
        let Some(tls) = self.tls.as_ref().filter(|_| tls) else {
            return self
                .serve_stream(conn.stream(), &shutdown, &guard, &mut closing)
                .await;
        };
        let limit = self
            .conn
            .idle_timeout
            .map_or(HANDSHAKE_TIMEOUT, |d| d.min(HANDSHAKE_TIMEOUT));
        match shutdown
            .until_stopped(tls.accept(conn.stream(), limit))
            .await
        {
            Some(Ok(mut stream)) => {
                self.serve_stream(&mut stream, &shutdown, &guard, &mut closing)
                    .await;
                // close_notify, briefly: the peer may not be reading.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.shutdown())
                    .await;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                closing.reason = "error";
            }
            None => closing.reason = "shutdown",
        }
    }

    /// The protocol choice, `-Y` authentication, then the protocol's loop.
    async fn serve_stream<S: Io>(
        &self,
        io: &mut S,
        shutdown: &Shutdown,
        guard: &super::conns::ConnGuard<'_>,
        closing: &mut CloseLog<'_>,
    ) {
        let mut input = BytesMut::with_capacity(16 * 1024);
        let binary = match self.access.protocol {
            Protocol::Ascii => false,
            Protocol::Binary => true,
            Protocol::Auto => {
                let read = async {
                    let read = io.read_buf(&mut input);
                    match self.conn.idle_timeout {
                        Some(d) => tokio::time::timeout(d, read).await.ok(),
                        None => Some(read.await),
                    }
                };
                match shutdown.until_stopped(read).await {
                    Some(Some(Ok(n))) if n > 0 => self.count_read(n),
                    Some(None) => {
                        // Silent past -o idle_timeout before its first byte.
                        closing.reason = "idle_timeout";
                        let mut t = Tally {
                            idle_kicks: 1,
                            ..Tally::default()
                        };
                        self.engine.counters.absorb(&mut t);
                        let _ = io.shutdown().await;
                        return;
                    }
                    None => {
                        closing.reason = "shutdown";
                        return;
                    }
                    _ => return,
                }
                input.first() == Some(&REQ_MAGIC)
            }
        };
        if binary {
            return self.serve_binary(io, shutdown, input).await;
        }
        if let Some(users) = self.access.ascii_auth.clone() {
            match self.ascii_auth(io, shutdown, &mut input, &users).await {
                Some(true) => {}
                _ => {
                    let _ = io.shutdown().await;
                    return;
                }
            }
        }
        self.serve_text(io, shutdown, input, guard, closing).await
    }

    fn count_read(&self, n: usize) {
        let mut t = Tally {
            bytes_read: n as u64,
            ..Tally::default()
        };
        self.engine.counters.absorb(&mut t);
    }

    /// Runs the `-Y` handshake: `Some(true)` once the connection has
    /// authenticated (the rest of `input` is text commands), otherwise the
    /// connection is to close.
    async fn ascii_auth<S: Io>(
        &self,
        io: &mut S,
        shutdown: &Shutdown,
        input: &mut BytesMut,
        users: &Passwords,
    ) -> Option<bool> {
        let mut out = Vec::new();
        let mut tally = Tally::default();
        let mut pending = None;
        let block_max = self.limits.item_size_max;
        loop {
            let mut done = false;
            loop {
                let (consumed, authenticated) = match auth_step(input, pending, block_max) {
                    AuthStep::Incomplete => break,
                    AuthStep::Close => return Some(false),
                    AuthStep::Started { consumed, len } => {
                        pending = Some(len);
                        (consumed, false)
                    }
                    AuthStep::Refuse { consumed, reply } => {
                        out.extend_from_slice(reply);
                        pending = None;
                        (consumed, false)
                    }
                    AuthStep::Credentials {
                        consumed,
                        user,
                        password,
                    } => {
                        pending = None;
                        tally.auth_cmds += 1;
                        if users.check(user, password) {
                            out.extend_from_slice(b"STORED\r\n");
                            (consumed, true)
                        } else {
                            tally.auth_errors += 1;
                            out.extend_from_slice(b"CLIENT_ERROR authentication failure\r\n");
                            (consumed, false)
                        }
                    }
                };
                input.advance(consumed.min(input.len()));
                if authenticated {
                    done = true;
                    break;
                }
            }
            let wrote = write_out(io, &mut out, &mut tally).await;
            self.engine.counters.absorb(&mut tally);
            if wrote.is_err() {
                return Some(false);
            }
            if done {
                return Some(true);
            }
            if input.capacity() - input.len() < 4096 {
                input.reserve(16 * 1024);
            }
            match shutdown.until_stopped(io.read_buf(input)).await? {
                Ok(0) | Err(_) => return Some(false),
                Ok(n) => self.count_read(n),
            }
        }
    }
}
