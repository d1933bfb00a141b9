//! The EchoService plugin's `echo` role: every line a client sends comes
//! back, ended with CRLF, `echo_delay` seconds after it arrived (the
//! delay read as each line arrives, so a live `SET` applies). Lines wait
//! in order; at most [`MAX_PENDING`] lines and [`MAX_PENDING_BYTES`]
//! bytes wait at once (the client is not read meanwhile) and a line is at
//! most [`MAX_LINE`] bytes, else the
//! connection closes. A connection idle for the service's `idle_timeout`
//! closes too. Differs from 1.80: an empty line is echoed empty (1.80
//! stopped echoing anything after one), and a CR before the LF is never
//! part of the line.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use danga_common::Conn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{lock, Shared};

/// The longest line.
const MAX_LINE: usize = 64 * 1024;
/// The most lines waiting for their delay.
const MAX_PENDING: usize = 1024;
/// The most bytes waiting for their delay.
const MAX_PENDING_BYTES: usize = 1024 * 1024;

/// `echo_delay` and `idle_timeout` of service `name` now.
fn timings(shared: &Shared, name: &str) -> (Duration, Duration) {
    let cfg = lock(&shared.config);
    let svc = cfg.services.get(name);
    let delay = svc.map_or(0, |s| s.num("echo_delay"));
    let idle = svc.map_or(30, |s| s.num("idle_timeout")).max(1);
    (Duration::from_secs(delay), Duration::from_secs(idle))
}

/// Serves one client of echo service `name`.
pub(crate) async fn serve(mut conn: Conn, shared: Arc<Shared>, name: String) {
    let mut buf = BytesMut::with_capacity(1024);
    let mut pending: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut pending_bytes = 0usize;
    let mut idle_since = Instant::now();
    loop {
        let (_, idle) = timings(&shared, &name);
        let due = pending.front().map(|(at, _)| *at);
        let wake = due.unwrap_or(idle_since + idle);
        let room = pending.len() < MAX_PENDING && pending_bytes < MAX_PENDING_BYTES;
        let read = tokio::select! {
            r = conn.stream().read_buf(&mut buf), if room => Some(r),
            _ = tokio::time::sleep_until(wake) => None,
            _ = shared.shutdown.triggered() => return,
        };
        match read {
            Some(Ok(n)) if n > 0 => {
                idle_since = Instant::now();
                let (delay, _) = timings(&shared, &name);
                while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    let mut line = buf[..end].to_vec();
                    buf.advance(end + 1);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    line.extend_from_slice(b"\r\n");
                    pending_bytes += line.len();
                    pending.push_back((Instant::now() + delay, line));
                }
                if buf.len() > MAX_LINE {
                    return;
                }
            }
            Some(_) => return,
            None if due.is_some() => {
                // Every line whose time has come, in one write.
                let now = Instant::now();
                let mut out = Vec::new();
                while pending.front().is_some_and(|(at, _)| *at <= now) {
                    if let Some((_, line)) = pending.pop_front() {
                        pending_bytes -= line.len();
                        out.extend_from_slice(&line);
                    }
                }
                if conn.stream().write_all(&out).await.is_err() {
                    return;
                }
                idle_since = Instant::now();
            }
            None => return,
        }
    }
}
