//! Heap accounting for the connection-loop targets.
//!
//! Every binary and test that links this crate allocates through a
//! counting allocator ([`cap::Cap`] over the system allocator). A
//! connection-loop target runs the daemon's connection [`within`] a budget:
//! the heap may grow by at most that many bytes over what the daemon held
//! when the connection opened, and the first allocation past it fails,
//! which aborts the process ("memory allocation of N bytes failed"):
//! libFuzzer records the input as a crash, a test fails.

use std::alloc::System;
use std::sync::{Mutex, PoisonError};

use cap::Cap;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

/// One budgeted run at a time: the limit is process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Bytes allocated now, by the whole process.
pub fn allocated() -> usize {
    HEAP.allocated()
}

/// Lifts the limit when dropped, also when the run panics.
struct Lift;

impl Drop for Lift {
    fn drop(&mut self) {
        let _ = HEAP.set_limit(usize::MAX);
    }
}

/// A budgeted run: [`Budget::arm`] once the daemon is set up, so only what
/// the connection makes it hold counts.
pub struct Budget {
    bytes: usize,
    _one: std::sync::MutexGuard<'static, ()>,
    lift: Option<Lift>,
}

impl Budget {
    /// Takes the process-wide budget slot (waiting for another run to end).
    pub fn new(bytes: usize) -> Budget {
        Budget {
            bytes,
            _one: ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner),
            lift: None,
        }
    }

    /// From now on the heap may grow by the budget and no more.
    pub fn arm(&mut self) {
        let limit = allocated().saturating_add(self.bytes);
        // Cannot fail: the limit is above what is allocated.
        let _ = HEAP.set_limit(limit);
        self.lift = Some(Lift);
    }

    /// The budget, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
