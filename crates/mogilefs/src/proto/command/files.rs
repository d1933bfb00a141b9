//! Files: create_open, create_close, get_paths, delete, updateclass,
//! rename, list_keys, file_info, file_debug, list_fids.

use super::{flag, int, need, Arg, Refusal};
use crate::proto::{Args, Checksum, ErrCode};

/// The longest number of copies a client may report in one create_close
/// (`devid_1`/`path_1` to `devid_16`/`path_16`).
pub const MAX_DESTS: usize = 16;

/// create_open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOpen {
    /// Required (`no_domain`).
    pub domain: String,
    /// May be empty.
    pub key: String,
    /// `None` or `default`: the default class.
    pub class: Option<String>,
    /// `multi_dest=1`: up to three destinations.
    pub multi_dest: bool,
    /// The size the client announces, when a number.
    pub size: Option<u64>,
    /// The fid the client asks for, when positive.
    pub fid: Option<i64>,
}

impl CreateOpen {
    pub(super) fn decode(a: &Args) -> Result<CreateOpen, Refusal> {
        Ok(CreateOpen {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: a.get("key").unwrap_or("").to_owned(),
            class: a.nonempty("class").map(str::to_owned),
            multi_dest: flag(a, "multi_dest"),
            size: a
                .nonempty("size")
                .and_then(|s| s.trim().parse::<u64>().ok()),
            fid: int(a, "fid").filter(|&f| f > 0),
        })
    }
}

/// create_close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateClose {
    /// A positive number (`no_fid`).
    pub fid: i64,
    /// The copies written: `devid=` (`no_devid`) and `path=` (`no_path`)
    /// first, then `devid_N`/`path_N` from 1 to the first missing (at most
    /// [`MAX_DESTS`]), each device once.
    pub written: Vec<(i64, String)>,
    /// Required (`no_domain`).
    pub domain: String,
    /// When given, it must be the tempfile's key.
    pub key: Option<String>,
    /// `MD5:<hex>` / `SHA-1:<hex>` (`invalid_checksum_format`).
    pub checksum: Option<Arg<Checksum>>,
    /// `checksumverify=1`: the digest of each copy is checked.
    pub checksumverify: bool,
    /// A number (`size_mismatch`); `None` when absent or `0` (unknown).
    pub size: Option<Arg<u64>>,
}

impl CreateClose {
    pub(super) fn decode(a: &Args) -> Result<CreateClose, Refusal> {
        let fid = int(a, "fid").filter(|&f| f > 0).ok_or(ErrCode::NoFid)?;
        let devid = int(a, "devid").ok_or(ErrCode::NoDevid)?;
        let path = need(a, "path", ErrCode::NoPath)?;
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let mut written = vec![(devid, path)];
        for n in 1..=MAX_DESTS {
            let (Some(id), Some(p)) = (
                int(a, &format!("devid_{n}")),
                a.nonempty(&format!("path_{n}")),
            ) else {
                break;
            };
            if !written.iter().any(|(d, _)| *d == id) {
                written.push((id, p.to_owned()));
            }
        }
        Ok(CreateClose {
            fid,
            written,
            domain,
            key: a.get("key").map(str::to_owned),
            checksum: a
                .nonempty("checksum")
                .map(|c| Checksum::parse(c).ok_or(ErrCode::InvalidChecksumFormat)),
            checksumverify: flag(a, "checksumverify"),
            // As the original, `size=0` means "not given" (zero-byte files).
            size: a
                .nonempty("size")
                .filter(|s| *s != "0")
                .map(|s| s.parse::<u64>().map_err(|_| ErrCode::SizeMismatch)),
        })
    }
}

/// get_paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPaths {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// `zone=alt`: the hosts' alternative IPs.
    pub zone_alt: bool,
    /// `noverify=1`: no HEAD check of the first path.
    pub noverify: bool,
    /// Paths wanted, at least 2.
    pub pathcount: usize,
}

impl GetPaths {
    pub(super) fn decode(a: &Args) -> Result<GetPaths, Refusal> {
        Ok(GetPaths {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
            zone_alt: a.get("zone") == Some("alt"),
            noverify: flag(a, "noverify"),
            pathcount: usize::try_from(int(a, "pathcount").unwrap_or(2).max(2)).unwrap_or(2),
        })
    }
}

/// A command on one key: `domain=` (`no_domain`), `key=` (`no_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    pub domain: String,
    pub key: Arg<String>,
}

impl FileKey {
    pub(super) fn decode(a: &Args) -> Result<FileKey, Refusal> {
        Ok(FileKey {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
        })
    }
}

/// updateclass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFileClass {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// Required (`no_class`).
    pub class: Arg<String>,
}

impl UpdateFileClass {
    pub(super) fn decode(a: &Args) -> Result<UpdateFileClass, Refusal> {
        Ok(UpdateFileClass {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
            class: need(a, "class", ErrCode::NoClass),
        })
    }
}

/// rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub from_key: Arg<String>,
    /// Required (`no_key`).
    pub to_key: Arg<String>,
}

impl Rename {
    pub(super) fn decode(a: &Args) -> Result<Rename, Refusal> {
        Ok(Rename {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            from_key: need(a, "from_key", ErrCode::NoKey),
            to_key: need(a, "to_key", ErrCode::NoKey),
        })
    }
}

/// list_keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListKeys {
    /// Required (`no_domain`).
    pub domain: String,
    /// May be empty.
    pub prefix: String,
    /// Must start with the prefix (`after_mismatch`).
    pub after: Arg<Option<String>>,
    /// 1 to 1000, default 1000.
    pub limit: i64,
}

impl ListKeys {
    pub(super) fn decode(a: &Args) -> Result<ListKeys, Refusal> {
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let prefix = a.get("prefix").unwrap_or("").to_owned();
        let after = match a.nonempty("after") {
            Some(x) if !x.starts_with(&prefix) => Err(ErrCode::AfterMismatch),
            x => Ok(x.map(str::to_owned)),
        };
        Ok(ListKeys {
            domain,
            prefix,
            after,
            limit: int(a, "limit").unwrap_or(1000).clamp(1, 1000),
        })
    }
}

/// file_info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// `devices=1`: the devids too.
    pub devices: bool,
}

impl FileInfo {
    pub(super) fn decode(a: &Args) -> Result<FileInfo, Refusal> {
        Ok(FileInfo {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
            devices: flag(a, "devices"),
        })
    }
}

/// file_debug: a positive `fid=`, else `domain=` and `key=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDebug {
    Fid(i64),
    Key(FileKey),
}

impl FileDebug {
    pub(super) fn decode(a: &Args) -> Result<FileDebug, Refusal> {
        Ok(match int(a, "fid").filter(|&f| f > 0) {
            Some(fid) => FileDebug::Fid(fid),
            None => FileDebug::Key(FileKey::decode(a)?),
        })
    }
}

/// list_fids: fids after `from`, `count` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFids {
    /// Exclusive; default 0.
    pub from: i64,
    /// `to=`: 100 when absent or 0, at most 500 (a negative one too).
    pub count: i64,
}

impl ListFids {
    pub(super) fn decode(a: &Args) -> ListFids {
        let count = match int(a, "to").unwrap_or(0) {
            0 => 100,
            n if !(0..=500).contains(&n) => 500,
            n => n,
        };
        ListFids {
            from: int(a, "from").unwrap_or(0),
            count,
        }
    }
}
