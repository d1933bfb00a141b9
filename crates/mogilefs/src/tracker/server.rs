//! One tracker connection: lines in, replies out, in order; replies to a
//! batch of pipelined lines are flushed together.

use std::sync::Arc;

use bytes::BytesMut;
use danga_common::framing::{self, FrameError};
use danga_common::Conn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Tracker;
use crate::meta::MetaStore;

/// The longest request line (the original has no limit; 1 MiB lines work).
pub const MAX_LINE: usize = 16 << 20;

/// Serves one client until it leaves, or shutdown finds it idle.
pub async fn serve<M: MetaStore>(tracker: Arc<Tracker<M>>, mut conn: Conn) {
    let shutdown = conn.shutdown().clone();
    let mut input = BytesMut::with_capacity(4096);
    let mut output = Vec::with_capacity(4096);
    loop {
        loop {
            match framing::next_line(&mut input, MAX_LINE) {
                Ok(Some(line)) => {
                    if let Some(reply) = tracker.answer(&line).await {
                        output.extend_from_slice(reply.as_bytes());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "closing tracker connection");
                    let _ = conn.stream().write_all(&output).await;
                    return;
                }
            }
        }
        if !output.is_empty() {
            if conn.stream().write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
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
