//! Debugging: file_debug, list_fids.

use super::{ids, opt, Out, Pairs, Reply};
use crate::proto::SavedChecksum;

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

/// list_fids: `fid_N_*` for each, then `fid_count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FidList {
    pub fids: Vec<FidEntry>,
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
