//! The tracker's metadata: domains, classes, hosts, devices, files and
//! their replicas, the fid allocator and the delete queue, behind one async
//! [`MetaStore`] trait. SQL lives only here, one driver per engine:
//! [`SqliteStore`] on rusqlite, [`MysqlStore`] (MySQL/MariaDB) on sqlx,
//! each mapping its rows once. Both keep the original's schema v17
//! (`migrations/{sqlite,mysql}/v17.sql`), created on start, and fail with
//! the one [`MetaError`].

mod dsn;
mod error;
mod mysql;
mod sqlite;
mod stats;

pub use dsn::{Dsn, DsnError};
pub use error::MetaError;
pub use mysql::{MysqlSettings, MysqlStore};
pub use sqlite::SqliteStore;
pub use stats::{ClassTotals, DevcountCount, QueueCount, StatQueue, Stats};

use std::future::Future;

/// A store result.
pub type Result<T> = std::result::Result<T, MetaError>;

/// A `domain` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub dmid: i64,
    pub namespace: String,
}

/// The name of classid 0: implicit (with the tracker's
/// `default_mindevcount`) until `update_class` gives it a row.
pub const DEFAULT_CLASS: &str = "default";

/// A `class` row (classid 0, `default`, has one only once modified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub dmid: i64,
    pub classid: i64,
    pub classname: String,
    pub mindevcount: i64,
    pub replpolicy: Option<String>,
    pub hashtype: Option<i64>,
}

/// A `host` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub hostid: i64,
    pub status: String,
    pub hostname: String,
    pub hostip: String,
    pub http_port: i64,
    pub http_get_port: Option<i64>,
    pub altip: Option<String>,
    pub altmask: Option<String>,
}

/// A `device` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub devid: i64,
    pub hostid: i64,
    pub status: String,
    pub weight: i64,
    pub mb_total: Option<i64>,
    pub mb_used: Option<i64>,
    pub mb_asof: Option<i64>,
}

/// A `file` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub fid: i64,
    pub dmid: i64,
    pub dkey: String,
    pub length: i64,
    pub classid: i64,
    pub devcount: i64,
}

/// A `tempfile` row: a fid handed out by create_open, not yet closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempFile {
    pub fid: i64,
    pub createtime: i64,
    pub classid: i64,
    pub dmid: i64,
    pub dkey: String,
    pub devids: String,
}

/// The outcome of closing a tempfile into a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Stored; the fid the key had before (now queued for deletion), if any.
    Stored { replaced: Option<i64> },
    /// The tempfile row is gone (closed already).
    NoTempFile,
    /// A file row with this fid exists already.
    FidExists,
}

/// The outcome of a rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    Done,
    UnknownKey,
    KeyExists,
}

/// Domains and classes.
pub trait Namespaces: Send + Sync {
    fn domains(&self) -> impl Future<Output = Result<Vec<Domain>>> + Send;
    fn domain(&self, name: &str) -> impl Future<Output = Result<Option<Domain>>> + Send;
    /// `None`: the domain exists already.
    fn create_domain(&self, name: &str) -> impl Future<Output = Result<Option<i64>>> + Send;
    fn delete_domain(&self, dmid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Files in a domain, or in one of its classes.
    fn count_files(
        &self,
        dmid: i64,
        classid: Option<i64>,
    ) -> impl Future<Output = Result<i64>> + Send;

    /// Classes with rows, of one domain or of all.
    fn classes(&self, dmid: Option<i64>) -> impl Future<Output = Result<Vec<Class>>> + Send;
    /// Creates a class, choosing its classid (0 for [`DEFAULT_CLASS`]);
    /// `None`: the name exists.
    fn create_class(&self, class: &Class) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Updates by (dmid, classname); `false`: no such class.
    fn update_class(&self, class: &Class) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes a class row (callers refuse classid 0 with files).
    fn delete_class(&self, dmid: i64, classid: i64) -> impl Future<Output = Result<()>> + Send;
}

/// Storage hosts and devices.
pub trait Topology: Send + Sync {
    fn hosts(&self) -> impl Future<Output = Result<Vec<Host>>> + Send;
    /// Creates a host, choosing its hostid (the one given is ignored).
    fn create_host(&self, host: &Host) -> impl Future<Output = Result<i64>> + Send;
    /// Updates every column by hostid.
    fn update_host(&self, host: &Host) -> impl Future<Output = Result<()>> + Send;
    fn delete_host(&self, hostid: i64) -> impl Future<Output = Result<()>> + Send;

    fn devices(&self) -> impl Future<Output = Result<Vec<Device>>> + Send;
    /// `false`: the devid exists already.
    fn create_device(&self, dev: &Device) -> impl Future<Output = Result<bool>> + Send;
    fn set_device(
        &self,
        devid: i64,
        status: Option<&str>,
        weight: Option<i64>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Files, replicas, the fid allocator and the delete queue.
pub trait Files: Send + Sync {
    /// Allocates a fid (or takes `fid`); `None`: that fid is in use.
    fn create_tempfile(
        &self,
        temp: &TempFile,
        fid: Option<i64>,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    fn tempfile(&self, fid: i64) -> impl Future<Output = Result<Option<TempFile>>> + Send;
    /// Moves a tempfile to `file` + `file_on`, replacing the key's old fid.
    fn close_file(
        &self,
        fid: i64,
        length: i64,
        devids: &[i64],
    ) -> impl Future<Output = Result<Closed>> + Send;
    fn file(&self, dmid: i64, dkey: &str) -> impl Future<Output = Result<Option<FileRow>>> + Send;
    fn file_devids(&self, fid: i64) -> impl Future<Output = Result<Vec<i64>>> + Send;
    /// A file and the devices holding it (by devid), in one query: what
    /// get_paths needs.
    fn file_with_devids(
        &self,
        dmid: i64,
        dkey: &str,
    ) -> impl Future<Output = Result<Option<(FileRow, Vec<i64>)>>> + Send;
    /// Removes the key and queues its fid for deletion; its fid, if found.
    fn delete_file(
        &self,
        dmid: i64,
        dkey: &str,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;
    fn rename(
        &self,
        dmid: i64,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<Renamed>> + Send;
    /// Keys of a domain in order, starting with `prefix`, after `after`.
    fn list_keys(
        &self,
        dmid: i64,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Changes a file's class.
    fn set_file_class(&self, fid: i64, classid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Removes tempfiles created at or before `before` (abandoned uploads)
    /// and returns them, so their devices can be cleaned.
    fn expire_tempfiles(
        &self,
        before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<TempFile>>> + Send;
    /// Fids due for deletion at `now`.
    fn due_deletes(&self, now: i64, limit: i64) -> impl Future<Output = Result<Vec<i64>>> + Send;
    /// The replicas of a queued fid are gone: forget it.
    fn finish_delete(&self, fid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Some replica could not be deleted: try again at `nexttry`.
    fn retry_delete(&self, fid: i64, nexttry: i64) -> impl Future<Output = Result<()>> + Send;
}

/// A `checksum` row: a file's digest (`hashtype` 1 = MD5, 2 = SHA-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub fid: i64,
    pub hashtype: i64,
    pub checksum: Vec<u8>,
}

/// A `file_to_replicate` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplRow {
    pub fid: i64,
    pub nexttry: i64,
    pub fromdevid: Option<i64>,
    pub failcount: i64,
    pub flags: i64,
}

/// A `file_to_delete2` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRow {
    pub fid: i64,
    pub nexttry: i64,
    pub failcount: i64,
}

/// A `file_to_queue` row (type 1 = fsck, 2 = rebalance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub fid: i64,
    pub devid: Option<i64>,
    pub qtype: i64,
    pub nexttry: i64,
    pub failcount: i64,
    pub flags: i64,
    pub arg: Option<String>,
}

/// An `fsck_log` row: what the checker found about a fid (on a device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckLogRow {
    pub logid: i64,
    pub utime: i64,
    pub fid: Option<i64>,
    pub evcode: String,
    pub devid: Option<i64>,
}

/// The checker's log (`fsck_log`) and what it walks.
pub trait FsckLog: Send + Sync {
    /// Appends an event.
    fn add_fsck_event(
        &self,
        utime: i64,
        fid: Option<i64>,
        evcode: &str,
        devid: Option<i64>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Events with `logid` above `after`, oldest first, at most `limit`.
    fn fsck_events(
        &self,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<FsckLogRow>>> + Send;
    /// How many events of each code have `logid` above `after`.
    fn fsck_event_counts(
        &self,
        after: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    /// The highest `logid` (0 when empty).
    fn max_fsck_logid(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Empties the log.
    fn clear_fsck_log(&self) -> impl Future<Output = Result<()>> + Send;
    /// The highest fid in `file` (0 when empty).
    fn max_fid(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Sets a file's `devcount` to its `file_on` rows (fsck's BCNT fix).
    fn recount_devcount(&self, fid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Fids of `file` above `after` and at most `upto`, in order, at most
    /// `limit` (the job master's fsck injection).
    fn fids_between(
        &self,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<i64>>> + Send;
    /// Queues fids for fsck (`file_to_queue` rows of type
    /// [`FSCK_QUEUE`]); a fid queued already keeps its row.
    fn enqueue_fsck(&self, fids: Vec<i64>, nexttry: i64)
        -> impl Future<Output = Result<()>> + Send;
    /// Rows of the fsck queue.
    fn fsck_queue_len(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Due fsck rows at `now` as `(fid, nexttry)`, soonest first.
    fn due_fsck(
        &self,
        now: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(i64, i64)>>> + Send;
    /// Takes a due fsck row: moves its `nexttry` from `seen` to `until`;
    /// `false` when another tracker took it first.
    fn claim_fsck(
        &self,
        fid: i64,
        seen: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Removes a fid's fsck row (checked).
    fn finish_fsck(&self, fid: i64) -> impl Future<Output = Result<()>> + Send;
}

/// `file_to_queue.type` of the fsck queue (the original's `FSCK_QUEUE`).
pub const FSCK_QUEUE: i64 = 1;
/// `file_to_queue.type` of the rebalance queue (`REBAL_QUEUE`).
pub const REBAL_QUEUE: i64 = 2;

/// Server settings, device usage, checksums and the rows the debugging
/// commands show.
pub trait Admin: Send + Sync {
    /// Every `server_settings` row, sorted by field.
    fn server_settings(&self) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    fn server_setting(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Sets a setting; `None` removes it.
    fn set_server_setting(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Adds `by` to a numeric setting (created as `by` when missing).
    fn incr_server_setting(&self, key: &str, by: i64) -> impl Future<Output = Result<()>> + Send;

    /// What the monitor measured on a device.
    fn set_device_usage(
        &self,
        devid: i64,
        mb_total: i64,
        mb_used: i64,
        mb_asof: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores (or replaces) a file's checksum.
    fn set_checksum(&self, c: &Checksum) -> impl Future<Output = Result<()>> + Send;
    fn checksum(&self, fid: i64) -> impl Future<Output = Result<Option<Checksum>>> + Send;

    fn file_by_fid(&self, fid: i64) -> impl Future<Output = Result<Option<FileRow>>> + Send;
    /// Files with a fid above `after`, in fid order.
    fn list_fids(
        &self,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<FileRow>>> + Send;
    fn repl_row(&self, fid: i64) -> impl Future<Output = Result<Option<ReplRow>>> + Send;
    fn delete_row(&self, fid: i64) -> impl Future<Output = Result<Option<DeleteRow>>> + Send;
    fn queue_row(
        &self,
        fid: i64,
        qtype: i64,
    ) -> impl Future<Output = Result<Option<QueueRow>>> + Send;
}

/// The replication queue (`file_to_replicate`) and replica rows.
pub trait Replication: Send + Sync {
    /// Queues a fid (a fid queued already keeps its row).
    fn enqueue_replication(
        &self,
        fid: i64,
        nexttry: i64,
        fromdevid: Option<i64>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Rows due at `now`, oldest first.
    fn due_replications(
        &self,
        now: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ReplRow>>> + Send;
    /// Takes a due row for one tracker: moves its `nexttry` from `seen`
    /// (as read) to `until`; `false` when another tracker took it first.
    fn claim_replication(
        &self,
        fid: i64,
        seen: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Rows in the queue.
    fn count_replications(&self) -> impl Future<Output = Result<i64>> + Send;
    /// The fid is where its class wants it: forget the row.
    fn finish_replication(&self, fid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Try again at `nexttry`, one more failure counted.
    fn retry_replication(&self, fid: i64, nexttry: i64) -> impl Future<Output = Result<()>> + Send;
    /// `replicate_now`: every row waiting past `now` is due now; how many.
    fn replicate_now(&self, now: i64) -> impl Future<Output = Result<u64>> + Send;
    /// Records a replica (and the file's devcount); `false`: the file is
    /// gone, nothing recorded.
    fn add_replica(&self, fid: i64, devid: i64) -> impl Future<Output = Result<bool>> + Send;
    /// Forgets a replica (and updates the file's devcount).
    fn remove_replica(&self, fid: i64, devid: i64) -> impl Future<Output = Result<()>> + Send;
    /// Fids with a replica on `devid` (for the reaper).
    fn fids_on_device(
        &self,
        devid: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<i64>>> + Send;
}

/// The metadata store of one tracker (several trackers may share it).
pub trait MetaStore:
    Namespaces + Topology + Files + Admin + Replication + FsckLog + Stats + 'static
{
}

impl<T: Namespaces + Topology + Files + Admin + Replication + FsckLog + Stats + 'static> MetaStore
    for T
{
}

/// Whether an error is a unique-key violation.
pub fn is_unique_violation(e: &MetaError) -> bool {
    e.is_duplicate()
}

#[cfg(test)]
mod tests;
