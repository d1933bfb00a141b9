//! What the engine knows about one connection (client, worker or both).

use bytes::Bytes;

use super::function::FuncId;
use super::idhash::IdMap;

/// A function a worker can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ability {
    pub func: FuncId,
    /// `CAN_DO_TIMEOUT` in milliseconds (0 = none).
    pub timeout_ms: u32,
}

/// One connection's state.
#[derive(Debug, Clone)]
pub struct Conn {
    /// `FD IP`, for `workers`.
    pub label: String,
    /// `SET_CLIENT_ID`.
    pub client_id: Option<Bytes>,
    /// In `CAN_DO` order.
    pub abilities: Vec<Ability>,
    /// Sent `PRE_SLEEP` and has not grabbed since.
    pub sleeping: bool,
    /// Got its `NOOP` for this sleep.
    pub noop_sent: bool,
    /// Counts sleeps, so entries of an old sleep in a sleeper list are ignored.
    pub sleep_gen: u64,
    /// Jobs it runs as a worker.
    pub running: Vec<u64>,
    /// Foreground jobs it waits on, with how many submits it made for each.
    pub listening: IdMap<u32>,
    /// `OPTION_REQ exceptions`.
    pub exceptions: bool,
}

impl Conn {
    pub fn new(label: String, exceptions: bool) -> Self {
        Conn {
            label,
            client_id: None,
            abilities: Vec::new(),
            sleeping: false,
            noop_sent: false,
            sleep_gen: 0,
            running: Vec::new(),
            listening: IdMap::default(),
            exceptions,
        }
    }

    /// Whether it is asleep in this sleep and not yet woken.
    pub fn wakeable(&self, generation: u64) -> bool {
        self.sleeping && !self.noop_sent && self.sleep_gen == generation
    }
}
