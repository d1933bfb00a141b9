//! Files: create_open, get_paths, list_keys, file_info.

use super::{ids, Out, Pairs, Reply};
use crate::proto::SavedChecksum;

/// create_open: `fid`, then where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub fid: i64,
    pub dests: Dests,
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

/// Where create_open's client writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dests {
    /// `devid`, `path`.
    One { devid: i64, path: String },
    /// `multi_dest=1`: `dev_count`, then `devid_N`, `path_N`.
    Multi(Vec<(i64, String)>),
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
