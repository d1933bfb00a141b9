//! The debugging commands: file_debug (everything known about one fid, in
//! the original's `fid_*`, `tempfile_*`, `replqueue_*`, `delqueue_*`,
//! `rebqueue_*`, `fsckqueue_*`, `devids`, `devpath_N`, `checksum` keys) and
//! list_fids (`from` is exclusive, `to` is a count: at most 500, default
//! 100).

use std::collections::HashMap;

use super::files::{checksum_info, dev_url};
use super::{int_arg, pair, Outcome};
use crate::meta::{Class, FileRow, MetaStore, FSCK_QUEUE, REBAL_QUEUE};
use crate::proto::{Args, ErrCode};

fn opt(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl<M: MetaStore> super::Tracker<M> {
    /// Domain names by dmid and class names by (dmid, classid).
    async fn names(&self) -> Result<(HashMap<i64, String>, Vec<Class>), super::Fail> {
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

    pub(super) async fn file_debug(&self, a: &Args) -> Outcome {
        let (fid, file) = match int_arg(a, "fid").filter(|&f| f > 0) {
            Some(fid) => (fid, self.meta.file_by_fid(fid).await?),
            None => {
                let d = self.domain_arg(a).await?;
                let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
                let f = self
                    .meta
                    .file(d.dmid, key)
                    .await?
                    .ok_or(ErrCode::UnknownKey)?;
                (f.fid, Some(f))
            }
        };
        let mut out = Vec::new();
        if let Some(f) = &file {
            let (domains, classes) = self.names().await?;
            out.extend([
                pair("fid_fid", f.fid),
                pair("fid_dmid", f.dmid),
                pair("fid_dkey", &f.dkey),
                pair("fid_length", f.length),
                pair("fid_classid", f.classid),
                pair("fid_devcount", f.devcount),
                pair("fid_domain", opt(domains.get(&f.dmid))),
                pair("fid_class", Self::class_name(&classes, f)),
            ]);
        }
        if let Some(t) = self.meta.tempfile(fid).await? {
            out.extend([
                pair("tempfile_classid", t.classid),
                pair("tempfile_dmid", t.dmid),
                pair("tempfile_dkey", t.dkey),
                pair("tempfile_devids", t.devids),
            ]);
        }
        if let Some(r) = self.meta.repl_row(fid).await? {
            out.extend([
                pair("replqueue_fid", r.fid),
                pair("replqueue_nexttry", r.nexttry),
                pair("replqueue_fromdevid", opt(r.fromdevid)),
                pair("replqueue_failcount", r.failcount),
                pair("replqueue_flags", r.flags),
            ]);
        }
        if let Some(r) = self.meta.delete_row(fid).await? {
            out.extend([
                pair("delqueue_fid", r.fid),
                pair("delqueue_nexttry", r.nexttry),
                pair("delqueue_failcount", r.failcount),
            ]);
        }
        for (prefix, qtype) in [("rebqueue", REBAL_QUEUE), ("fsckqueue", FSCK_QUEUE)] {
            if let Some(q) = self.meta.queue_row(fid, qtype).await? {
                out.extend([
                    pair(format!("{prefix}_fid"), q.fid),
                    pair(format!("{prefix}_devid"), opt(q.devid)),
                    pair(format!("{prefix}_type"), q.qtype),
                    pair(format!("{prefix}_nexttry"), q.nexttry),
                    pair(format!("{prefix}_failcount"), q.failcount),
                    pair(format!("{prefix}_flags"), q.flags),
                    pair(format!("{prefix}_arg"), opt(q.arg)),
                ]);
            }
        }
        let devids = self.meta.file_devids(fid).await?;
        if !devids.is_empty() {
            let topo = self.topology().await?;
            let (hosts, devices) = (&topo.hosts, &topo.devices);
            for devid in &devids {
                let url = devices
                    .iter()
                    .find(|d| d.devid == *devid)
                    .and_then(|d| dev_url(hosts, d, fid, true, false));
                if let Some(url) = url {
                    out.push(pair(format!("devpath_{devid}"), url));
                }
            }
            let ids: Vec<String> = devids.iter().map(i64::to_string).collect();
            out.push(pair("devids", ids.join(",")));
        }
        // The original always adds `checksum`, so its `unknown_fid` check
        // never fires; here a fid nothing is known about is refused.
        if out.is_empty() {
            return Err(ErrCode::UnknownFid.into());
        }
        let sum = self.meta.checksum(fid).await?;
        out.push(pair(
            "checksum",
            sum.as_ref()
                .map_or_else(|| "NONE".to_owned(), checksum_info),
        ));
        Ok(out)
    }

    pub(super) async fn list_fids(&self, a: &Args) -> Outcome {
        let from = int_arg(a, "from").unwrap_or(0);
        let count = match int_arg(a, "to").unwrap_or(0) {
            0 => 100,
            n if !(0..=500).contains(&n) => 500,
            n => n,
        };
        let rows = self.meta.list_fids(from, count).await?;
        if rows.is_empty() {
            return Ok(vec![pair("fid_count", 0)]);
        }
        let (domains, classes) = self.names().await?;
        let mut out = Vec::with_capacity(rows.len() * 6 + 1);
        for (i, f) in rows.iter().enumerate() {
            let p = format!("fid_{}_", i + 1);
            out.push(pair(format!("{p}fid"), f.fid));
            out.push(pair(format!("{p}domain"), opt(domains.get(&f.dmid))));
            out.push(pair(format!("{p}class"), Self::class_name(&classes, f)));
            out.push(pair(format!("{p}key"), &f.dkey));
            out.push(pair(format!("{p}length"), f.length));
            out.push(pair(format!("{p}devcount"), f.devcount));
        }
        out.push(pair("fid_count", rows.len()));
        Ok(out)
    }
}
