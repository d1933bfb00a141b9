//! Typed tracker replies: each command's answer as a struct, encoded into
//! its `OK` pairs in the order the tracker sends them.

mod debug;
mod files;
mod hosts;
mod namespace;
mod ops;

pub use debug::{
    DebugDelete, DebugFile, DebugQueue, DebugRepl, DebugTempFile, FidEntry, FidList, FileDebug,
};
pub use files::{Dests, FileInfo, KeptChecksum, KeyList, Opened, Paths};
pub use hosts::{DeviceEntry, DeviceList, HostDone, HostEntry, HostList};
pub use namespace::{ClassDeleted, ClassDone, ClassEntry, DomainDone, DomainEntry, DomainList};
pub use ops::{
    FsckLog, FsckLogEntry, FsckStatus, RebalanceDevs, RebalanceState, ReplicateNow, Setting,
    SettingList,
};

/// `OK` pairs in order.
pub type Pairs = Vec<(String, String)>;

/// A reply to a query command.
pub trait Reply {
    /// The `OK` pairs, in the order they are sent.
    fn pairs(self) -> Pairs;
}

/// `OK ` with nothing.
impl Reply for () {
    fn pairs(self) -> Pairs {
        Vec::new()
    }
}

/// The pairs built in order, values from anything displayable.
#[derive(Default)]
pub(super) struct Out(pub(super) Pairs);

impl Out {
    pub(super) fn put(&mut self, k: impl Into<String>, v: impl ToString) -> &mut Self {
        self.0.push((k.into(), v.to_string()));
        self
    }
}

/// An optional number: empty when absent.
pub(super) fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Devids, comma-separated.
pub(super) fn ids(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}
