//! Row mapping on MySQL/MariaDB, once per row type. Integer columns may be
//! UNSIGNED (the original's schema): [`int`] reads either signedness.

use sqlx::mysql::MySqlRow;
use sqlx::{Row, TypeInfo, ValueRef};

use crate::meta::{
    Checksum, Class, DeleteRow, Device, FileRow, FsckLogRow, Host, MetaError, QueueRow, ReplRow,
    Result, TempFile,
};

/// An integer column of either signedness (`None` when NULL).
pub(super) fn opt_int(r: &MySqlRow, col: &str) -> Result<Option<i64>> {
    let raw = r.try_get_raw(col)?;
    if raw.is_null() {
        return Ok(None);
    }
    if raw.type_info().name().contains("UNSIGNED") {
        let v: u64 = r.try_get(col)?;
        i64::try_from(v)
            .map(Some)
            .map_err(|e| MetaError::Other(format!("{col}: {e}")))
    } else {
        Ok(Some(r.try_get(col)?))
    }
}

/// A text column, also when its collation makes it binary (`utf8mb4_bin`).
pub(super) fn opt_text(r: &MySqlRow, col: &str) -> Result<Option<String>> {
    let raw = r.try_get_raw(col)?;
    if raw.is_null() {
        return Ok(None);
    }
    let name = raw.type_info().name().to_owned();
    if name.contains("BINARY") || name.contains("BLOB") {
        let b: Vec<u8> = r.try_get(col)?;
        Ok(Some(String::from_utf8_lossy(&b).into_owned()))
    } else {
        Ok(Some(r.try_get(col)?))
    }
}

/// A text column, NULL read as empty.
pub(super) fn text(r: &MySqlRow, col: &str) -> Result<String> {
    Ok(opt_text(r, col)?.unwrap_or_default())
}

/// A NOT NULL integer column of either signedness.
pub(super) fn int(r: &MySqlRow, col: &str) -> Result<i64> {
    opt_int(r, col)?.ok_or_else(|| MetaError::Other(format!("{col} is NULL")))
}

pub(super) fn class(r: &MySqlRow) -> Result<Class> {
    Ok(Class {
        dmid: int(r, "dmid")?,
        classid: int(r, "classid")?,
        classname: text(r, "classname")?,
        mindevcount: int(r, "mindevcount")?,
        replpolicy: opt_text(r, "replpolicy")?,
        hashtype: opt_int(r, "hashtype")?,
    })
}

pub(super) fn host(r: &MySqlRow) -> Result<Host> {
    Ok(Host {
        hostid: int(r, "hostid")?,
        status: text(r, "status")?,
        hostname: text(r, "hostname")?,
        hostip: text(r, "hostip")?,
        http_port: opt_int(r, "http_port")?.unwrap_or(7500),
        http_get_port: opt_int(r, "http_get_port")?,
        altip: opt_text(r, "altip")?,
        altmask: opt_text(r, "altmask")?,
    })
}

pub(super) fn device(r: &MySqlRow) -> Result<Device> {
    Ok(Device {
        devid: int(r, "devid")?,
        hostid: int(r, "hostid")?,
        status: text(r, "status")?,
        weight: opt_int(r, "weight")?.unwrap_or(100),
        mb_total: opt_int(r, "mb_total")?,
        mb_used: opt_int(r, "mb_used")?,
        mb_asof: opt_int(r, "mb_asof")?,
    })
}

pub(super) fn file(r: &MySqlRow) -> Result<FileRow> {
    Ok(FileRow {
        fid: int(r, "fid")?,
        dmid: int(r, "dmid")?,
        dkey: opt_text(r, "dkey")?.unwrap_or_default(),
        length: opt_int(r, "length")?.unwrap_or(0),
        classid: int(r, "classid")?,
        devcount: int(r, "devcount")?,
    })
}

pub(super) fn tempfile(r: &MySqlRow) -> Result<TempFile> {
    Ok(TempFile {
        fid: int(r, "fid")?,
        createtime: int(r, "createtime")?,
        classid: int(r, "classid")?,
        dmid: int(r, "dmid")?,
        dkey: opt_text(r, "dkey")?.unwrap_or_default(),
        devids: text(r, "devids")?,
    })
}

pub(super) fn checksum(r: &MySqlRow) -> Result<Checksum> {
    Ok(Checksum {
        fid: int(r, "fid")?,
        hashtype: int(r, "hashtype")?,
        checksum: r.try_get("checksum")?,
    })
}

pub(super) fn repl(r: &MySqlRow) -> Result<ReplRow> {
    Ok(ReplRow {
        fid: int(r, "fid")?,
        nexttry: int(r, "nexttry")?,
        fromdevid: opt_int(r, "fromdevid")?,
        failcount: int(r, "failcount")?,
        flags: int(r, "flags")?,
    })
}

pub(super) fn delete(r: &MySqlRow) -> Result<DeleteRow> {
    Ok(DeleteRow {
        fid: int(r, "fid")?,
        nexttry: int(r, "nexttry")?,
        failcount: int(r, "failcount")?,
    })
}

pub(super) fn queue(r: &MySqlRow) -> Result<QueueRow> {
    Ok(QueueRow {
        fid: int(r, "fid")?,
        devid: opt_int(r, "devid")?,
        qtype: int(r, "type")?,
        nexttry: int(r, "nexttry")?,
        failcount: int(r, "failcount")?,
        flags: int(r, "flags")?,
        arg: opt_text(r, "arg")?,
    })
}

pub(super) fn fsck(r: &MySqlRow) -> Result<FsckLogRow> {
    Ok(FsckLogRow {
        logid: int(r, "logid")?,
        utime: int(r, "utime")?,
        fid: opt_int(r, "fid")?,
        evcode: opt_text(r, "evcode")?.unwrap_or_default(),
        devid: opt_int(r, "devid")?,
    })
}
