//! The debugging commands: file_debug (everything known about one fid, in
//! the original's `fid_*`, `tempfile_*`, `replqueue_*`, `delqueue_*`,
//! `rebqueue_*`, `fsckqueue_*`, `devids`, `devpath_N`, `checksum` keys) and
//! list_fids (`from` is exclusive, `to` is a count: at most 500, default
//! 100).

use std::collections::HashMap;

use super::files::{dev_url, saved};
use super::Done;
use crate::meta::{Class, FileRow, MetaStore, QueueRow, FSCK_QUEUE, REBAL_QUEUE};
use crate::proto::command::{self, FileKey, ListFids};
use crate::proto::reply::{
    DebugDelete, DebugFile, DebugQueue, DebugRepl, DebugTempFile, FidEntry, FidList, FileDebug,
};
use crate::proto::ErrCode;

fn queue(q: QueueRow) -> DebugQueue {
    DebugQueue {
        fid: q.fid,
        devid: q.devid,
        qtype: q.qtype,
        nexttry: q.nexttry,
        failcount: q.failcount,
        flags: q.flags,
        arg: q.arg,
    }
}

impl<M: MetaStore> super::Tracker<M> {
    /// Domain names by dmid and class names by (dmid, classid).
    async fn names(&self) -> Done<(HashMap<i64, String>, Vec<Class>)> {
        let domains = self.meta.domains().await?;
        let classes = self.meta.classes(None).await?;
        Ok((
            domains.into_iter().map(|d| (d.dmid, d.namespace)).collect(),
            classes,
        ))
    }

    fn class_name(classes: &[Class], f: &FileRow) -> String {
        classes
            .iter()
            .find(|c| c.dmid == f.dmid && c.classid == f.classid)
            .map_or_else(|| "default".to_owned(), |c| c.classname.clone())
    }

    pub(super) async fn file_debug(&self, c: command::FileDebug) -> Done<FileDebug> {
        let (fid, file) = match c {
            command::FileDebug::Fid(fid) => (fid, self.meta.file_by_fid(fid).await?),
            command::FileDebug::Key(FileKey { domain, key }) => {
                let d = self.domain_arg(&domain).await?;
                let key = key?;
                let f = self
                    .meta
                    .file(d.dmid, &key)
                    .await?
                    .ok_or(ErrCode::UnknownKey)?;
                (f.fid, Some(f))
            }
        };
        let mut out = FileDebug::default();
        if let Some(f) = file {
            let (domains, classes) = self.names().await?;
            out.file = Some(DebugFile {
                class: Self::class_name(&classes, &f),
                domain: domains.get(&f.dmid).cloned(),
                fid: f.fid,
                dmid: f.dmid,
                dkey: f.dkey,
                length: f.length,
                classid: f.classid,
                devcount: f.devcount,
            });
        }
        out.tempfile = self.meta.tempfile(fid).await?.map(|t| DebugTempFile {
            classid: t.classid,
            dmid: t.dmid,
            dkey: t.dkey,
            devids: t.devids,
        });
        out.replqueue = self.meta.repl_row(fid).await?.map(|r| DebugRepl {
            fid: r.fid,
            nexttry: r.nexttry,
            fromdevid: r.fromdevid,
            failcount: r.failcount,
            flags: r.flags,
        });
        out.delqueue = self.meta.delete_row(fid).await?.map(|r| DebugDelete {
            fid: r.fid,
            nexttry: r.nexttry,
            failcount: r.failcount,
        });
        out.rebqueue = self.meta.queue_row(fid, REBAL_QUEUE).await?.map(queue);
        out.fsckqueue = self.meta.queue_row(fid, FSCK_QUEUE).await?.map(queue);
        let devids = self.meta.file_devids(fid).await?;
        if !devids.is_empty() {
            let topo = self.topology().await?;
            let (hosts, devices) = (&topo.hosts, &topo.devices);
            out.devpaths = devids
                .iter()
                .filter_map(|devid| {
                    let d = devices.iter().find(|d| d.devid == *devid)?;
                    Some((*devid, dev_url(hosts, d, fid, true, false)?))
                })
                .collect();
        }
        out.devids = devids;
        // The original always adds `checksum`, so its `unknown_fid` check
        // never fires; here a fid nothing is known about is refused.
        if out.is_empty() {
            return Err(ErrCode::UnknownFid.into());
        }
        out.checksum = self.meta.checksum(fid).await?.map(saved);
        Ok(out)
    }

    pub(super) async fn list_fids(&self, c: ListFids) -> Done<FidList> {
        let rows = self.meta.list_fids(c.from, c.count).await?;
        if rows.is_empty() {
            return Ok(FidList::default());
        }
        let (domains, classes) = self.names().await?;
        let fids = rows
            .into_iter()
            .map(|f| FidEntry {
                domain: domains.get(&f.dmid).cloned(),
                class: Self::class_name(&classes, &f),
                fid: f.fid,
                key: f.dkey,
                length: f.length,
                devcount: f.devcount,
            })
            .collect();
        Ok(FidList { fids })
    }
}
