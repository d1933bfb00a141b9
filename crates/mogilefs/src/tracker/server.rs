//! One tracker connection: lines in, replies out, in order; replies to a
//! batch of pipelined lines are flushed together. A connection that sent
//! `!watch` also gets the tracker's messages (`:: ...` lines) while idle.

use std::sync::Arc;

use bytes::BytesMut;
use danga_common::framing::{self, FrameError};
use danga_common::{Conn, PeerAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Session, Tracker};
use crate::meta::MetaStore;

/// The longest request line (the original has no limit; 1 MiB lines work).
pub const MAX_LINE: usize = 16 << 20;

/// Serves one client until it leaves, or shutdown finds it idle.
pub async fn serve<M: MetaStore>(tracker: Arc<Tracker<M>>, mut conn: Conn) {
    let shutdown = conn.shutdown().clone();
    let peer = match conn.peer() {
        PeerAddr::Tcp(a) => a.ip().to_string(),
        PeerAddr::Unix => "0.0.0.0".to_owned(),
    };
    let mut session = Session::new(peer);
    let mut input = BytesMut::with_capacity(4096);
    let mut output = Vec::with_capacity(4096);
    let mut lines = framing::LineScanner::default();
    loop {
        loop {
            match lines.next_line(&mut input, MAX_LINE) {
                Ok(Some(line)) => {
                    if let Some(reply) = tracker.answer(&line, &mut session).await {
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
        let stream = conn.stream();
        let read = async {
            tokio::select! {
                r = stream.read_buf(&mut input) => Some(r),
                note = session.next_note() => {
                    output.extend_from_slice(note.as_bytes());
                    None
                }
            }
        };
        let n = if idle {
            match shutdown.until_stopped(read).await {
                Some(r) => r,
                None => return,
            }
        } else {
            read.await
        };
        match n {
            None => {}
            Some(Ok(0)) => {
                if let Err(e @ FrameError::PeerClosed { .. }) = framing::at_eof(&input) {
                    tracing::debug!(error = %e, "peer left mid-line");
                }
                return;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "read failed");
                return;
            }
        }
    }
}
