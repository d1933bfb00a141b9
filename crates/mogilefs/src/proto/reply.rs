//! Typed tracker replies: each command's answer as a struct, encoded into
//! its `OK` pairs in the order the tracker sends them.

use super::SavedChecksum;

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
struct Out(Pairs);

impl Out {
    fn put(&mut self, k: impl Into<String>, v: impl ToString) -> &mut Self {
        self.0.push((k.into(), v.to_string()));
        self
    }
}

/// An optional number: empty when absent.
fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn ids(v: &[i64]) -> String {
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// create_domain, delete_domain: `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDone {
    pub domain: String,
}

impl Reply for DomainDone {
    fn pairs(self) -> Pairs {
        vec![("domain".into(), self.domain)]
    }
}

/// get_domains: `domains`, then per domain N `domainN`, `domainNclasses`
/// and per class M `domainNclassM{name,mindevcount,replpolicy,hashtype}`
/// (and `durable` when set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainList {
    pub domains: Vec<DomainEntry>,
}

/// One domain of [`DomainList`], its default class first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEntry {
    pub name: String,
    pub classes: Vec<ClassEntry>,
}

/// One class of a [`DomainEntry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassEntry {
    pub name: String,
    pub mindevcount: i64,
    /// `None`: shown `MultipleHosts()`.
    pub replpolicy: Option<String>,
    /// The stored number (`NONE` when absent or unknown).
    pub hashtype: Option<i64>,
    /// Extension: copies create_close waits for (shown when above 0).
    pub durable: i64,
}

impl Reply for DomainList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("domains", self.domains.len());
        for (i, d) in self.domains.into_iter().enumerate() {
            let n = i + 1;
            out.put(format!("domain{n}"), d.name);
            out.put(format!("domain{n}classes"), d.classes.len());
            for (j, c) in d.classes.into_iter().enumerate() {
                let p = format!("domain{n}class{}", j + 1);
                out.put(format!("{p}name"), c.name)
                    .put(format!("{p}mindevcount"), c.mindevcount)
                    .put(
                        format!("{p}replpolicy"),
                        c.replpolicy.as_deref().unwrap_or("MultipleHosts()"),
                    )
                    .put(format!("{p}hashtype"), super::HashType::show(c.hashtype));
                if c.durable > 0 {
                    out.put(format!("{p}durable"), c.durable);
                }
            }
        }
        out.0
    }
}

/// create_class, update_class: `class`, `mindevcount`, `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDone {
    pub class: String,
    pub mindevcount: i64,
    pub domain: String,
}

impl Reply for ClassDone {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("class", self.class)
            .put("mindevcount", self.mindevcount)
            .put("domain", self.domain);
        out.0
    }
}

/// delete_class: `domain`, `class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassDeleted {
    pub domain: String,
    pub class: String,
}

impl Reply for ClassDeleted {
    fn pairs(self) -> Pairs {
        vec![("domain".into(), self.domain), ("class".into(), self.class)]
    }
}

/// create_host, update_host: `hostid`, `hostname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDone {
    pub hostid: i64,
    pub hostname: String,
}

impl Reply for HostDone {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("hostid", self.hostid)
            .put("hostname", self.hostname);
        out.0
    }
}

/// get_hosts: `hosts`, then `hostN_*` for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList {
    pub hosts: Vec<HostEntry>,
}

/// One host of [`HostList`]; absent optional fields are sent empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub hostid: i64,
    pub status: String,
    pub hostname: String,
    pub hostip: String,
    pub http_port: i64,
    pub http_get_port: Option<i64>,
    pub altip: Option<String>,
    pub altmask: Option<String>,
}

impl Reply for HostList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("hosts", self.hosts.len());
        for (i, h) in self.hosts.into_iter().enumerate() {
            let p = format!("host{}_", i + 1);
            out.put(format!("{p}hostid"), h.hostid)
                .put(format!("{p}status"), h.status)
                .put(format!("{p}hostname"), h.hostname)
                .put(format!("{p}hostip"), h.hostip)
                .put(format!("{p}http_port"), h.http_port)
                .put(format!("{p}http_get_port"), opt(h.http_get_port))
                .put(format!("{p}altip"), h.altip.unwrap_or_default())
                .put(format!("{p}altmask"), h.altmask.unwrap_or_default());
        }
        out.0
    }
}

/// get_devices: `devices`, then `devN_*` for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    pub devices: Vec<DeviceEntry>,
}

/// One device of [`DeviceList`]: the stored row and what the monitor saw
/// (absent values are sent empty; `mb_free` is total less used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceEntry {
    pub devid: i64,
    pub hostid: i64,
    pub status: String,
    pub weight: i64,
    pub mb_total: Option<i64>,
    pub mb_used: Option<i64>,
    pub mb_asof: Option<i64>,
    pub observed_state: Option<String>,
    pub utilization: Option<String>,
    pub reject_bad_md5: Option<bool>,
}

impl Reply for DeviceList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("devices", self.devices.len());
        for (i, d) in self.devices.into_iter().enumerate() {
            let p = format!("dev{}_", i + 1);
            let free = d.mb_total.zip(d.mb_used).map(|(t, u)| t - u);
            out.put(format!("{p}devid"), d.devid)
                .put(format!("{p}hostid"), d.hostid)
                .put(format!("{p}status"), d.status)
                .put(format!("{p}weight"), d.weight)
                .put(format!("{p}mb_total"), opt(d.mb_total))
                .put(format!("{p}mb_used"), opt(d.mb_used))
                .put(format!("{p}mb_free"), opt(free))
                .put(format!("{p}mb_asof"), opt(d.mb_asof))
                .put(format!("{p}observed_state"), opt(d.observed_state))
                .put(format!("{p}utilization"), opt(d.utilization))
                .put(
                    format!("{p}reject_bad_md5"),
                    opt(d.reject_bad_md5.map(i64::from)),
                );
        }
        out.0
    }
}

/// create_open: `fid`, then where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub fid: i64,
    pub dests: Dests,
}

/// Where create_open's client writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dests {
    /// `devid`, `path`.
    One { devid: i64, path: String },
    /// `multi_dest=1`: `dev_count`, then `devid_N`, `path_N`.
    Multi(Vec<(i64, String)>),
}

impl Reply for Opened {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("fid", self.fid);
        match self.dests {
            Dests::One { devid, path } => {
                out.put("devid", devid).put("path", path);
            }
            Dests::Multi(all) => {
                out.put("dev_count", all.len());
                for (i, (devid, path)) in all.into_iter().enumerate() {
                    out.put(format!("devid_{}", i + 1), devid)
                        .put(format!("path_{}", i + 1), path);
                }
            }
        }
        out.0
    }
}

/// get_paths: `paths`, then `pathN`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    pub paths: Vec<String>,
}

impl Reply for Paths {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("paths", self.paths.len());
        for (i, u) in self.paths.into_iter().enumerate() {
            out.put(format!("path{}", i + 1), u);
        }
        out.0
    }
}

/// list_keys: `key_count`, `next_after`, then `key_N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyList {
    pub next_after: String,
    pub keys: Vec<String>,
}

impl Reply for KeyList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("key_count", self.keys.len())
            .put("next_after", self.next_after);
        for (i, k) in self.keys.into_iter().enumerate() {
            out.put(format!("key_{}", i + 1), k);
        }
        out.0
    }
}

/// file_info's `checksum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptChecksum {
    /// The file's class keeps none: not sent.
    NotKept,
    /// Kept, but none saved: `MISSING`.
    Missing,
    /// The saved one.
    Saved(SavedChecksum),
}

/// file_info: `fid`, `domain`, `class`, `key`, `length`, `devcount`, then
/// `checksum` and `devids` when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub fid: i64,
    pub domain: String,
    pub class: String,
    pub key: String,
    pub length: i64,
    pub devcount: i64,
    pub checksum: KeptChecksum,
    /// `devices=1`: the devices holding it.
    pub devids: Option<Vec<i64>>,
}

impl Reply for FileInfo {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("fid", self.fid)
            .put("domain", self.domain)
            .put("class", self.class)
            .put("key", self.key)
            .put("length", self.length)
            .put("devcount", self.devcount);
        match self.checksum {
            KeptChecksum::NotKept => {}
            KeptChecksum::Missing => {
                out.put("checksum", "MISSING");
            }
            KeptChecksum::Saved(c) => {
                out.put("checksum", c);
            }
        }
        if let Some(d) = self.devids {
            out.put("devids", ids(&d));
        }
        out.0
    }
}

/// file_debug: each table's row about the fid, when there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDebug {
    /// `fid_*`.
    pub file: Option<DebugFile>,
    /// `tempfile_*`.
    pub tempfile: Option<DebugTempFile>,
    /// `replqueue_*`.
    pub replqueue: Option<DebugRepl>,
    /// `delqueue_*`.
    pub delqueue: Option<DebugDelete>,
    /// `rebqueue_*`.
    pub rebqueue: Option<DebugQueue>,
    /// `fsckqueue_*`.
    pub fsckqueue: Option<DebugQueue>,
    /// `devpath_<devid>`: the URL on each device found.
    pub devpaths: Vec<(i64, String)>,
    /// `devids`, sent when not empty.
    pub devids: Vec<i64>,
    /// `checksum` (`NONE` when none is saved).
    pub checksum: Option<SavedChecksum>,
}

/// file_debug's `fid_*` (`fid_domain` empty for an unknown dmid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugFile {
    pub fid: i64,
    pub dmid: i64,
    pub dkey: String,
    pub length: i64,
    pub classid: i64,
    pub devcount: i64,
    pub domain: Option<String>,
    pub class: String,
}

/// file_debug's `tempfile_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugTempFile {
    pub classid: i64,
    pub dmid: i64,
    pub dkey: String,
    pub devids: String,
}

/// file_debug's `replqueue_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugRepl {
    pub fid: i64,
    pub nexttry: i64,
    pub fromdevid: Option<i64>,
    pub failcount: i64,
    pub flags: i64,
}

/// file_debug's `delqueue_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugDelete {
    pub fid: i64,
    pub nexttry: i64,
    pub failcount: i64,
}

/// file_debug's `rebqueue_*` and `fsckqueue_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugQueue {
    pub fid: i64,
    pub devid: Option<i64>,
    pub qtype: i64,
    pub nexttry: i64,
    pub failcount: i64,
    pub flags: i64,
    pub arg: Option<String>,
}

impl FileDebug {
    /// Whether nothing at all is known about the fid.
    pub fn is_empty(&self) -> bool {
        self.file.is_none()
            && self.tempfile.is_none()
            && self.replqueue.is_none()
            && self.delqueue.is_none()
            && self.rebqueue.is_none()
            && self.fsckqueue.is_none()
            && self.devpaths.is_empty()
            && self.devids.is_empty()
    }
}

impl Reply for FileDebug {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        if let Some(f) = self.file {
            out.put("fid_fid", f.fid)
                .put("fid_dmid", f.dmid)
                .put("fid_dkey", f.dkey)
                .put("fid_length", f.length)
                .put("fid_classid", f.classid)
                .put("fid_devcount", f.devcount)
                .put("fid_domain", opt(f.domain))
                .put("fid_class", f.class);
        }
        if let Some(t) = self.tempfile {
            out.put("tempfile_classid", t.classid)
                .put("tempfile_dmid", t.dmid)
                .put("tempfile_dkey", t.dkey)
                .put("tempfile_devids", t.devids);
        }
        if let Some(r) = self.replqueue {
            out.put("replqueue_fid", r.fid)
                .put("replqueue_nexttry", r.nexttry)
                .put("replqueue_fromdevid", opt(r.fromdevid))
                .put("replqueue_failcount", r.failcount)
                .put("replqueue_flags", r.flags);
        }
        if let Some(r) = self.delqueue {
            out.put("delqueue_fid", r.fid)
                .put("delqueue_nexttry", r.nexttry)
                .put("delqueue_failcount", r.failcount);
        }
        for (prefix, q) in [("rebqueue", self.rebqueue), ("fsckqueue", self.fsckqueue)] {
            if let Some(q) = q {
                out.put(format!("{prefix}_fid"), q.fid)
                    .put(format!("{prefix}_devid"), opt(q.devid))
                    .put(format!("{prefix}_type"), q.qtype)
                    .put(format!("{prefix}_nexttry"), q.nexttry)
                    .put(format!("{prefix}_failcount"), q.failcount)
                    .put(format!("{prefix}_flags"), q.flags)
                    .put(format!("{prefix}_arg"), opt(q.arg));
            }
        }
        for (devid, url) in self.devpaths {
            out.put(format!("devpath_{devid}"), url);
        }
        if !self.devids.is_empty() {
            out.put("devids", ids(&self.devids));
        }
        match self.checksum {
            Some(c) => out.put("checksum", c),
            None => out.put("checksum", "NONE"),
        };
        out.0
    }
}

/// list_fids: `fid_N_*` for each, then `fid_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FidList {
    pub fids: Vec<FidEntry>,
}

/// One file of [`FidList`] (`domain` empty for an unknown dmid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FidEntry {
    pub fid: i64,
    pub domain: Option<String>,
    pub class: String,
    pub key: String,
    pub length: i64,
    pub devcount: i64,
}

impl Reply for FidList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        let n = self.fids.len();
        for (i, f) in self.fids.into_iter().enumerate() {
            let p = format!("fid_{}_", i + 1);
            out.put(format!("{p}fid"), f.fid)
                .put(format!("{p}domain"), opt(f.domain))
                .put(format!("{p}class"), f.class)
                .put(format!("{p}key"), f.key)
                .put(format!("{p}length"), f.length)
                .put(format!("{p}devcount"), f.devcount);
        }
        out.put("fid_count", n);
        out.0
    }
}

/// server_setting: `key`, `value` (empty when unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl Reply for Setting {
    fn pairs(self) -> Pairs {
        vec![("key".into(), self.key), ("value".into(), self.value)]
    }
}

/// server_settings: `key_N`, `value_N`, then `key_count` (nothing at all
/// when there are none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingList {
    pub settings: Vec<(String, String)>,
}

impl Reply for SettingList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        let n = self.settings.len();
        for (i, (k, v)) in self.settings.into_iter().enumerate() {
            out.put(format!("key_{}", i + 1), k)
                .put(format!("value_{}", i + 1), v);
        }
        if n > 0 {
            out.put("key_count", n);
        }
        out.0
    }
}

/// replicate_now: `count` of fids made due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicateNow {
    pub count: u64,
}

impl Reply for ReplicateNow {
    fn pairs(self) -> Pairs {
        vec![("count".into(), self.count.to_string())]
    }
}

/// fsck_getlog: `row_N_{logid,utime,fid,evcode,devid}` (fid and devid when
/// known), then `row_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckLog {
    pub rows: Vec<FsckLogEntry>,
}

/// One row of [`FsckLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckLogEntry {
    pub logid: i64,
    pub utime: i64,
    pub fid: Option<i64>,
    pub evcode: String,
    pub devid: Option<i64>,
}

impl Reply for FsckLog {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        let n = self.rows.len();
        for (i, r) in self.rows.into_iter().enumerate() {
            let p = format!("row_{}_", i + 1);
            out.put(format!("{p}logid"), r.logid)
                .put(format!("{p}utime"), r.utime);
            if let Some(fid) = r.fid {
                out.put(format!("{p}fid"), fid);
            }
            out.put(format!("{p}evcode"), r.evcode);
            if let Some(d) = r.devid {
                out.put(format!("{p}devid"), d);
            }
        }
        out.put("row_count", n);
        out.0
    }
}

/// fsck_status: `running` (and `host` when running), the run's figures,
/// `current_time`, `max_logid`, then `num_<CODE>` per event code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckStatus {
    /// The tracker running it, if one does.
    pub host: Option<String>,
    pub max_fid_checked: i64,
    pub policy_only: i64,
    pub end_fid: i64,
    pub start_time: i64,
    pub stop_time: i64,
    pub current_time: i64,
    pub max_logid: i64,
    pub counts: Vec<(String, i64)>,
}

impl Reply for FsckStatus {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("running", u8::from(self.host.is_some()));
        if let Some(h) = self.host {
            out.put("host", h);
        }
        out.put("max_fid_checked", self.max_fid_checked)
            .put("policy_only", self.policy_only)
            .put("end_fid", self.end_fid)
            .put("start_time", self.start_time)
            .put("stop_time", self.stop_time)
            .put("current_time", self.current_time)
            .put("max_logid", self.max_logid);
        for (code, n) in self.counts {
            out.put(format!("num_{code}"), n);
        }
        out.0
    }
}

/// rebalance_test: `sdevs`, `ddevs` (comma-separated devids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebalanceDevs {
    pub sdevs: Vec<i64>,
    pub ddevs: Vec<i64>,
}

impl Reply for RebalanceDevs {
    fn pairs(self) -> Pairs {
        vec![
            ("sdevs".into(), ids(&self.sdevs)),
            ("ddevs".into(), ids(&self.ddevs)),
        ]
    }
}

/// rebalance_start, rebalance_status: `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceState {
    pub state: String,
}

impl Reply for RebalanceState {
    fn pairs(self) -> Pairs {
        vec![("state".into(), self.state)]
    }
}
