//! The original's graceful stop: SIGUSR1 (or `shutdown graceful`) stops
//! the server like SIGTERM does, and marks the stop graceful, which is
//! what makes `-e` save the cache (see [`crate::restart`]).
//!
//! SIGUSR1 kills a process that has no handler for it, so it is held
//! blocked from before the runtime's threads exist ([`hold_sigusr1`], which
//! they inherit) until the handler is in place
//! ([`Server::stop_on_sigusr1`]): one that arrives in between waits.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

use super::Server;

fn usr1() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set
}

/// Blocks SIGUSR1 on this thread and on the threads it starts later. Call
/// on the main thread before the runtime is built.
pub fn hold_sigusr1() -> io::Result<()> {
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&usr1()), None).map_err(io::Error::from)
}

impl Server {
    /// On SIGUSR1: marks the stop graceful and starts the shutdown. Call
    /// inside the runtime, on the thread that called [`hold_sigusr1`] (the
    /// one running `block_on`): it takes the signal for the process.
    pub fn stop_on_sigusr1(self: &Arc<Self>) -> io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut usr1_stream = signal(SignalKind::user_defined1())?;
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&usr1()), None).map_err(io::Error::from)?;
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                got = usr1_stream.recv() => {
                    if got.is_none() {
                        return;
                    }
                }
                _ = me.shutdown.triggered() => return,
            }
            tracing::info!(signal = "SIGUSR1", "gracefully stopping");
            me.engine.graceful_stop.store(true, Ordering::Release);
            me.shutdown.trigger();
        });
        Ok(())
    }
}
