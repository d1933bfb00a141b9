//! The connection-loop targets' transport and driver.
//!
//! A daemon's real per-connection code (the function its accept loop runs)
//! is started on a Unix-socket listener in a temporary directory, inside a
//! single-threaded tokio runtime whose clock is paused: nothing leaves the
//! process, and the daemon's timeouts fire as soon as everything is idle
//! instead of after real seconds. Each run starts a new daemon and shuts it
//! down at the end; the runtime is kept for the next run when the daemon's
//! shutdown left no task in it (building a runtime per input cost more than
//! most inputs). One client connection then plays the input:
//!
//! * the bytes go out in the pieces [`crate::split::pieces`] cuts, the
//!   daemon running between pieces;
//! * a bit of the input's hash decides whether the client reads the
//!   replies or never reads at all (a peer that stops reading must make
//!   the daemon stop reading it too, not buffer its replies);
//! * a write the daemon does not take within [`STALL`] (its input is full
//!   because it stopped reading) ends the sending: that is backpressure
//!   working, not a failure.
//!
//! The daemon's heap may grow by the target's budget over what it held
//! when the connection opened ([`crate::budget`]); past it the process
//! aborts. A loop that never lets the runtime idle never lets the paused
//! clock move, so the run never ends: libFuzzer's `-timeout` reports it
//! (and nextest's slow-test timeout, in CI).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use danga_common::listen::{bind, ListenSpec, Listener};
use danga_common::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

use crate::budget::Budget;
use crate::split::{hash, pieces};

/// How long the client waits for the daemon to take one piece.
pub const STALL: Duration = Duration::from_secs(5);
/// How long the daemon runs after each piece and after the last.
const TICK: Duration = Duration::from_millis(10);
/// How long the daemon may take to close the connection at the end.
const GRACE: Duration = Duration::from_secs(60);

/// Whether the client of this input reads the replies.
pub fn reads_replies(data: &[u8]) -> bool {
    hash(data) & (1 << 40) != 0
}

/// A daemon under test: starts serving `listener` (spawning its accept
/// loop on the current runtime); `dir` is a private temporary directory for
/// its files.
pub trait Daemon {
    /// The listener's name (Perlbal serves a listener named after its
    /// service).
    fn listener_name(&self) -> &'static str {
        "fuzz"
    }

    /// Starts the daemon.
    fn start(self, listener: Listener, shutdown: Shutdown, dir: &Path);
}

/// Most reply bytes a reading client keeps (for tests to look at).
const KEEP_REPLY: usize = 64 << 10;

/// Plays `data` into a fresh `daemon` over one connection, the daemon's heap
/// growth held to `budget` bytes; the client reads the replies or not as
/// [`reads_replies`] says.
pub fn play(data: &[u8], budget: usize, daemon: impl Daemon) {
    play_with(data, budget, reads_replies(data), daemon);
}

/// Where each run's temporary folder goes: a memory file system when there
/// is one (`/dev/shm`), else the usual temporary folder. On a disk file
/// system creating and removing a folder waits for its journal, which took
/// longer than most runs.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if tempfile::tempdir_in(shm).is_ok() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

/// The runtime the next run uses: kept between runs (building one, its
/// I/O driver and its blocking-pool threads cost more than a short
/// connection), but only when the previous run left no task alive in it, so
/// every run starts on an empty runtime as if it were new.
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// The kept runtime, or a new one: single-threaded, clock paused.
fn runtime() -> Runtime {
    let kept = RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    kept.unwrap_or_else(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("invariant: a current-thread runtime builds")
    })
}

/// Keeps `rt` for the next run if nothing of this run lives on in it (a
/// task the daemon's shutdown did not end within [`GRACE`]); otherwise
/// drops it, which ends those tasks, as the runtime of every run once was.
fn keep(rt: Runtime) {
    if rt.metrics().num_alive_tasks() == 0 {
        let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(rt);
        }
    }
}

/// As [`play`], saying whether the client reads; returns the first
/// [`KEEP_REPLY`] bytes of what it read.
///
/// Every run gets a new daemon (its state, its listener, its folder of
/// files) and shuts it down at the end; only the runtime is reused, and
/// only when empty (see [`keep`]), so a run does not depend on the runs
/// before it.
pub fn play_with(data: &[u8], budget: usize, reads: bool, daemon: impl Daemon) -> Vec<u8> {
    let mut budget = Budget::new(budget);
    let rt = runtime();
    let dir = tempfile::tempdir_in(scratch()).expect("a temporary directory");
    let reply = rt.block_on(async {
        let sock = dir.path().join("sock");
        let listener = bind(&ListenSpec::unix(daemon.listener_name(), &sock, 0o600), 16)
            .and_then(|b| b.into_tokio())
            .expect("binding a Unix socket in a temporary directory");
        let shutdown = Shutdown::new();
        let files = dir.path().join("files");
        std::fs::create_dir(&files).expect("a folder for the daemon's files");
        daemon.start(listener, shutdown.clone(), &files);
        let client = UnixStream::connect(&sock).await.expect("connecting");
        let (mut rd, mut wr) = client.into_split();
        // Let the daemon accept and set the connection up before counting.
        tokio::time::sleep(TICK).await;
        budget.arm();
        let reader = reads.then(|| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut kept = Vec::new();
                while let Ok(n @ 1..) = rd.read(&mut buf).await {
                    let room = KEEP_REPLY - kept.len();
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                kept
            })
        });
        for piece in pieces(data) {
            match tokio::time::timeout(STALL, wr.write_all(piece)).await {
                Ok(Ok(())) => tokio::time::sleep(TICK).await,
                // Closed by the daemon, or it stopped reading: done sending.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        tokio::time::sleep(TICK).await;
        drop(wr);
        let reply = match reader {
            Some(r) => match tokio::time::timeout(GRACE, r).await {
                Ok(Ok(kept)) => kept,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        shutdown.trigger();
        let _ = shutdown.drain(GRACE).await;
        // Let the untracked tasks (accept loop, timers) see the shutdown.
        tokio::time::sleep(TICK).await;
        reply
    });
    keep(rt);
    reply
}
