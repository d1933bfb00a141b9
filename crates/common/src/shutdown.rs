//! Orderly shutdown shared by every daemon.
//!
//! One [`Shutdown`] is made in `main`. Signals (SIGINT, SIGTERM) or a protocol
//! command (memcached `shutdown`, gearman `shutdown graceful`, perlbal
//! `SHUTDOWN`) call [`Shutdown::trigger`]. Then:
//!
//! 1. the accept loops stop accepting;
//! 2. connections waiting for a request close at once (they use
//!    [`Shutdown::until_stopped`] around their idle read);
//! 3. connections in the middle of a request finish it and then close, within
//!    the drain period (see [`Shutdown::drain`]);
//! 4. whatever is left after the drain period is dropped with the runtime.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The default grace period for in-flight requests.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(2);

/// A cloneable handle: the stop signal plus the set of connection tasks.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    /// A new, untriggered shutdown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown; every waiter wakes. Calling it again is harmless.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when shutdown starts.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// Runs `fut` unless shutdown starts first (then `None`). Wrap the read a
    /// connection makes while it waits for its *next* request, so idle
    /// connections close at once while busy ones finish.
    pub async fn until_stopped<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            _ = self.token.cancelled() => None,
            out = fut => Some(out),
        }
    }

    /// Spawns a task that shutdown waits for.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(fut)
    }

    /// How many tracked tasks are still running.
    pub fn tasks_running(&self) -> usize {
        self.tasks.len()
    }

    /// Waits until shutdown is triggered, then up to `grace` for the tracked
    /// tasks to end. Returns how many were still running at the deadline.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.triggered().await;
        self.tasks.close();
        match tokio::time::timeout(grace, self.tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tasks.len(),
        }
    }

    /// Triggers shutdown on SIGINT or SIGTERM. Call once, inside the runtime.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let me = self.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = me.triggered() => return,
            };
            tracing::info!(signal = name, "shutting down");
            me.trigger();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_end_at_once_and_busy_tasks_get_the_grace_period() {
        let sd = Shutdown::new();
        let idle = {
            let sd = sd.clone();
            sd.clone()
                .spawn(async move { sd.until_stopped(std::future::pending::<()>()).await })
        };
        let busy = sd.spawn(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        });
        let stuck = sd.spawn(tokio::time::sleep(Duration::from_secs(3600)));
        sd.trigger();
        let left = sd.drain(DEFAULT_DRAIN).await;
        assert_eq!(idle.await.expect("join"), None);
        assert_eq!(busy.await.expect("join"), "done");
        assert_eq!(left, 1, "only the stuck task outlives the drain");
        stuck.abort();
    }
}
