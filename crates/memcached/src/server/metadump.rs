//! `lru_crawler metadump ...` on a stream connection: the reply goes out
//! batch by batch ([`Engine::metadump_next`]), each written before the
//! next is made, so that a dump of any cache holds at most one batch
//! ([`BATCH`]) of reply in memory.
//!
//! [`Engine::metadump_next`]: crate::exec::Engine::metadump_next

use crate::exec::{Metadump, Tally};

use super::{unix_now, write_out, Io, Server};

/// Reply bytes made per batch (a batch stops at the first hash chain that
/// reaches it, so it is this plus one chain's lines at most).
const BATCH: usize = 64 * 1024;

impl Server {
    /// Checks `lru_crawler metadump <args>` and, when it is accepted, sends
    /// the whole dump; a refusal is appended to `out`. Err: the peer is
    /// gone.
    pub(super) async fn metadump<S: Io>(
        &self,
        io: &mut S,
        args: &[&[u8]],
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let mut dump: Metadump<'_> = match self.engine.metadump_start(args, !out.is_empty()) {
            Ok(dump) => dump,
            Err(reply) => {
                out.extend_from_slice(reply);
                return Ok(());
            }
        };
        loop {
            let now = self.engine.rel_time(unix_now());
            let done = self.engine.metadump_next(&mut dump, now, out, BATCH);
            write_out(io, out, t).await?;
            self.engine.counters.absorb(t);
            if done {
                return Ok(());
            }
        }
    }
}
