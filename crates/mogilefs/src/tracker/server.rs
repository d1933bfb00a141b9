//! One tracker connection: lines in, replies out, in order; replies to a
//! batch of pipelined lines are flushed together. A connection that sent
//! `!watch` also gets the tracker's messages (`:: ...` lines) while idle.

use std::sync::Arc;

use danga_common::lines::{LineSession, Next};
use danga_common::{Conn, PeerAddr};

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
    let mut lines = LineSession::new(conn.stream(), MAX_LINE).stop_on(shutdown);
    loop {
        match lines.next_or(session.next_note()).await {
            Ok(Some(Next::Line(line))) => {
                if let Some(reply) = tracker.answer(&line, &mut session).await {
                    lines.send(reply.as_bytes());
                }
            }
            Ok(Some(Next::Other(note))) => lines.send(note.as_bytes()),
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing tracker connection");
                // Answer what came before the bad line.
                let _ = lines.flush().await;
                return;
            }
        }
    }
}
