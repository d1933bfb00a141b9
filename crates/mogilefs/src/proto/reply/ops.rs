//! Settings and jobs: server_setting, server_settings, replicate_now,
//! fsck_getlog, fsck_status, rebalance_test, rebalance_start,
//! rebalance_status.

use super::{ids, Out, Pairs, Reply};

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

/// One row of [`FsckLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckLogEntry {
    pub logid: i64,
    pub utime: i64,
    pub fid: Option<i64>,
    pub evcode: String,
    pub devid: Option<i64>,
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
