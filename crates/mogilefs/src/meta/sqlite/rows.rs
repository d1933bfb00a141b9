//! Row mapping on SQLite, once per row type. Each mapper reads its columns
//! by position, in the order of the column-list macro beside it, which the
//! queries splice in (`concat!`).

use rusqlite::types::ValueRef;
use rusqlite::Row;

use crate::meta::{
    Checksum, Class, DeleteRow, Device, FileRow, FsckLogRow, Host, QueueRow, ReplRow, TempFile,
};

type R<T> = rusqlite::Result<T>;

/// A text column as stored (any storage class; NULL is `None`). Rows
/// written by other programs may hold text as a BLOB.
pub(super) fn opt_text(r: &Row<'_>, i: usize) -> R<Option<String>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(n) => Some(n.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
    })
}

/// A text column, NULL read as empty.
pub(super) fn text(r: &Row<'_>, i: usize) -> R<String> {
    Ok(opt_text(r, i)?.unwrap_or_default())
}

/// The columns each mapper below reads, in its order: `cols!(file)`.
macro_rules! cols {
    (file) => {
        "fid, dmid, dkey, length, classid, devcount"
    };
    (temp) => {
        "fid, createtime, classid, dmid, dkey, devids"
    };
    (class) => {
        "dmid, classid, classname, mindevcount, replpolicy, hashtype"
    };
    (host) => {
        "hostid, status, http_port, http_get_port, hostname, hostip, altip, altmask"
    };
    (device) => {
        "devid, hostid, status, weight, mb_total, mb_used, mb_asof"
    };
    (checksum) => {
        "fid, hashtype, checksum"
    };
    (repl) => {
        "fid, nexttry, fromdevid, failcount, flags"
    };
    (delete) => {
        "fid, nexttry, failcount"
    };
    (queue) => {
        "fid, devid, type, nexttry, failcount, flags, arg"
    };
    (fsck) => {
        "logid, utime, fid, evcode, devid"
    };
}
pub(super) use cols;

/// A `file` row from its first six columns (`cols!(file)`).
pub(super) fn file(r: &Row<'_>) -> R<FileRow> {
    Ok(FileRow {
        fid: r.get(0)?,
        dmid: r.get(1)?,
        dkey: text(r, 2)?,
        length: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
        classid: r.get(4)?,
        devcount: r.get(5)?,
    })
}

pub(super) fn tempfile(r: &Row<'_>) -> R<TempFile> {
    Ok(TempFile {
        fid: r.get(0)?,
        createtime: r.get(1)?,
        classid: r.get(2)?,
        dmid: r.get(3)?,
        dkey: text(r, 4)?,
        devids: text(r, 5)?,
    })
}

pub(super) fn class(r: &Row<'_>) -> R<Class> {
    Ok(Class {
        dmid: r.get(0)?,
        classid: r.get(1)?,
        classname: text(r, 2)?,
        mindevcount: r.get(3)?,
        replpolicy: opt_text(r, 4)?,
        hashtype: r.get(5)?,
    })
}

pub(super) fn host(r: &Row<'_>) -> R<Host> {
    Ok(Host {
        hostid: r.get(0)?,
        status: text(r, 1)?,
        http_port: r.get::<_, Option<i64>>(2)?.unwrap_or(7500),
        http_get_port: r.get(3)?,
        hostname: text(r, 4)?,
        hostip: text(r, 5)?,
        altip: opt_text(r, 6)?,
        altmask: opt_text(r, 7)?,
    })
}

pub(super) fn device(r: &Row<'_>) -> R<Device> {
    Ok(Device {
        devid: r.get(0)?,
        hostid: r.get(1)?,
        status: text(r, 2)?,
        weight: r.get::<_, Option<i64>>(3)?.unwrap_or(100),
        mb_total: r.get(4)?,
        mb_used: r.get(5)?,
        mb_asof: r.get(6)?,
    })
}

pub(super) fn checksum(r: &Row<'_>) -> R<Checksum> {
    Ok(Checksum {
        fid: r.get(0)?,
        hashtype: r.get(1)?,
        checksum: match r.get_ref(2)? {
            ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
            _ => r.get(2)?,
        },
    })
}

pub(super) fn repl(r: &Row<'_>) -> R<ReplRow> {
    Ok(ReplRow {
        fid: r.get(0)?,
        nexttry: r.get(1)?,
        fromdevid: r.get(2)?,
        failcount: r.get(3)?,
        flags: r.get(4)?,
    })
}

pub(super) fn delete(r: &Row<'_>) -> R<DeleteRow> {
    Ok(DeleteRow {
        fid: r.get(0)?,
        nexttry: r.get(1)?,
        failcount: r.get(2)?,
    })
}

pub(super) fn queue(r: &Row<'_>) -> R<QueueRow> {
    Ok(QueueRow {
        fid: r.get(0)?,
        devid: r.get(1)?,
        qtype: r.get(2)?,
        nexttry: r.get(3)?,
        failcount: r.get(4)?,
        flags: r.get(5)?,
        arg: opt_text(r, 6)?,
    })
}

pub(super) fn fsck(r: &Row<'_>) -> R<FsckLogRow> {
    Ok(FsckLogRow {
        logid: r.get(0)?,
        utime: r.get(1)?,
        fid: r.get(2)?,
        evcode: text(r, 3)?,
        devid: r.get(4)?,
    })
}
