//! Files: create_open, create_close, get_paths, delete, rename, list_keys,
//! file_info.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{http, int_arg, pair, Outcome};
use crate::meta::{Closed, Device, Host, MetaStore, Renamed, TempFile};
use crate::proto::{fid_path, Args, ErrCode};

/// Spreads ties between equally free devices over successive opens.
static ROTATE: AtomicUsize = AtomicUsize::new(0);

/// The URL of `fid` on `dev`: `http://hostip:port/devN/...`; `get` prefers
/// the host's get port, `alt` its alternative IP.
pub(super) fn dev_url(
    hosts: &[Host],
    dev: &Device,
    fid: i64,
    get: bool,
    alt: bool,
) -> Option<String> {
    let h = hosts.iter().find(|h| h.hostid == dev.hostid)?;
    let ip = match (&h.altip, alt) {
        (Some(a), true) if !a.is_empty() => a.as_str(),
        _ => h.hostip.as_str(),
    };
    let port = if get {
        h.http_get_port.unwrap_or(h.http_port)
    } else {
        h.http_port
    };
    Some(format!("http://{ip}:{port}{}", fid_path(dev.devid, fid)))
}

fn host_status<'a>(hosts: &'a [Host], dev: &Device) -> &'a str {
    hosts
        .iter()
        .find(|h| h.hostid == dev.hostid)
        .map_or("", |h| h.status.as_str())
}

/// Devices for a new file: alive devices on alive hosts, most free space
/// first (unknown space counts as plenty), at most one per host.
pub fn choose_devices(hosts: &[Host], devices: &[Device], want: usize) -> Vec<Device> {
    let mut cands: Vec<&Device> = devices
        .iter()
        .filter(|d| d.status == "alive" && d.weight > 0 && host_status(hosts, d) == "alive")
        .collect();
    if cands.is_empty() {
        return Vec::new();
    }
    let turn = ROTATE.fetch_add(1, Ordering::Relaxed) % cands.len();
    cands.rotate_left(turn);
    let free = |d: &Device| d.mb_total.zip(d.mb_used).map_or(i64::MAX, |(t, u)| t - u);
    cands.sort_by_key(|d| std::cmp::Reverse(free(d)));
    let mut out: Vec<Device> = Vec::new();
    for d in cands {
        if out.len() < want && !out.iter().any(|o| o.hostid == d.hostid) {
            out.push(d.clone());
        }
    }
    out
}

impl<M: MetaStore> super::Tracker<M> {
    pub(super) async fn create_open(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.get("key").unwrap_or("");
        let classid = self.classid_arg(d.dmid, a).await?;
        let multi = a.nonempty("multi_dest").is_some_and(|v| v != "0");
        let (hosts, devices) = self.topology().await?;
        let chosen = choose_devices(&hosts, &devices, if multi { 3 } else { 1 });
        if chosen.is_empty() {
            return Err(ErrCode::NoDevices.into());
        }
        let devids: Vec<String> = chosen.iter().map(|d| d.devid.to_string()).collect();
        let temp = TempFile {
            fid: 0,
            createtime: 0,
            classid,
            dmid: d.dmid,
            dkey: key.to_owned(),
            devids: devids.join(","),
        };
        let want = int_arg(a, "fid").filter(|&f| f > 0);
        let fid = self
            .meta
            .create_tempfile(&temp, want)
            .await?
            .ok_or(ErrCode::FidInUse)?;
        let mut out = vec![pair("fid", fid)];
        let urls = chosen
            .iter()
            .filter_map(|dev| Some((dev.devid, dev_url(&hosts, dev, fid, false, false)?)));
        if multi {
            let urls: Vec<(i64, String)> = urls.collect();
            out.push(pair("dev_count", urls.len()));
            for (i, (devid, url)) in urls.into_iter().enumerate() {
                out.push(pair(format!("devid_{}", i + 1), devid));
                out.push(pair(format!("path_{}", i + 1), url));
            }
        } else {
            let (devid, url) = urls.into_iter().next().ok_or(ErrCode::NoDevices)?;
            out.push(pair("devid", devid));
            out.push(pair("path", url));
        }
        Ok(out)
    }

    pub(super) async fn create_close(&self, a: &Args) -> Outcome {
        let fid = int_arg(a, "fid").filter(|&f| f > 0).ok_or(ErrCode::NoFid)?;
        let devid = int_arg(a, "devid").ok_or(ErrCode::NoDevid)?;
        let path = a.nonempty("path").ok_or(ErrCode::NoPath)?;
        let d = self.domain_arg(a).await?;
        let temp = self.meta.tempfile(fid).await?.ok_or(ErrCode::NoTempFile)?;
        if temp.dmid != d.dmid || a.get("key").is_some_and(|k| k != temp.dkey) {
            return Err(ErrCode::NoTempFile.into());
        }
        if !temp
            .devids
            .split(',')
            .any(|v| v.trim() == devid.to_string())
        {
            return Err(ErrCode::InvalidDestdev.into());
        }
        let (hosts, devices) = self.topology().await?;
        let dev = devices
            .iter()
            .find(|x| x.devid == devid)
            .ok_or(ErrCode::InvalidDestdev)?;
        if dev_url(&hosts, dev, fid, false, false).as_deref() != Some(path) {
            return Err(ErrCode::BogusArgs.into());
        }
        let head = http::request("HEAD", path, self.settings.node_timeout).await;
        let on_disk = match head {
            Ok(http::Answer {
                status: 200,
                length: Some(n),
            }) => n,
            _ => return Err(ErrCode::SizeVerifyError.into()),
        };
        let size = match a.nonempty("size") {
            Some(s) => s.parse::<u64>().map_err(|_| ErrCode::SizeMismatch)?,
            None => on_disk,
        };
        if size != on_disk {
            return Err(ErrCode::SizeMismatch.into());
        }
        let length = i64::try_from(size).map_err(|_| ErrCode::SizeMismatch)?;
        match self.meta.close_file(fid, length, &[devid]).await? {
            Closed::Stored { replaced } => {
                if replaced.is_some() {
                    self.deletes_pending();
                }
                Ok(Vec::new())
            }
            Closed::NoTempFile => Err(ErrCode::NoTempFile.into()),
            Closed::FidExists => Err(ErrCode::FidExists.into()),
        }
    }

    pub(super) async fn get_paths(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
        let f = self
            .meta
            .file(d.dmid, key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        let on = self.meta.file_devids(f.fid).await?;
        let (hosts, devices) = self.topology().await?;
        let alt = a.get("zone") == Some("alt");
        let want = usize::try_from(int_arg(a, "pathcount").unwrap_or(2).max(2)).unwrap_or(2);
        let urls: Vec<String> = devices
            .iter()
            .filter(|dev| on.contains(&dev.devid))
            .filter(|dev| matches!(dev.status.as_str(), "alive" | "readonly" | "drain"))
            .filter(|dev| matches!(host_status(&hosts, dev), "alive" | "readonly"))
            .filter_map(|dev| dev_url(&hosts, dev, f.fid, true, alt))
            .take(want)
            .collect();
        let mut out = vec![pair("paths", urls.len())];
        for (i, u) in urls.into_iter().enumerate() {
            out.push(pair(format!("path{}", i + 1), u));
        }
        Ok(out)
    }

    pub(super) async fn delete(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
        self.meta
            .delete_file(d.dmid, key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        self.deletes_pending();
        Ok(Vec::new())
    }

    pub(super) async fn updateclass(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
        a.nonempty("class").ok_or(ErrCode::NoClass)?;
        let classid = self.classid_arg(d.dmid, a).await.map_err(|e| match e {
            super::Fail::Code(ErrCode::UnregClass) => ErrCode::ClassNotFound.into(),
            other => other,
        })?;
        let f = self
            .meta
            .file(d.dmid, key)
            .await?
            .ok_or(ErrCode::InvalidKey)?;
        self.meta.set_file_class(f.fid, classid).await?;
        Ok(Vec::new())
    }

    pub(super) async fn rename(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let from = a.nonempty("from_key").ok_or(ErrCode::NoKey)?;
        let to = a.nonempty("to_key").ok_or(ErrCode::NoKey)?;
        match self.meta.rename(d.dmid, from, to).await? {
            Renamed::Done => Ok(Vec::new()),
            Renamed::UnknownKey => Err(ErrCode::UnknownKey.into()),
            Renamed::KeyExists => Err(ErrCode::KeyExists.into()),
        }
    }

    pub(super) async fn list_keys(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let prefix = a.get("prefix").unwrap_or("");
        let after = a.nonempty("after");
        if after.is_some_and(|x| !x.starts_with(prefix)) {
            return Err(ErrCode::AfterMismatch.into());
        }
        let limit = int_arg(a, "limit").unwrap_or(1000).clamp(1, 1000);
        let keys = self.meta.list_keys(d.dmid, prefix, after, limit).await?;
        let last = keys.last().ok_or(ErrCode::NoneMatch)?.clone();
        let mut out = vec![pair("key_count", keys.len()), pair("next_after", last)];
        for (i, k) in keys.into_iter().enumerate() {
            out.push(pair(format!("key_{}", i + 1), k));
        }
        Ok(out)
    }

    pub(super) async fn file_info(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
        let f = self
            .meta
            .file(d.dmid, key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        let class = match f.classid {
            0 => "default".to_owned(),
            id => self
                .meta
                .classes(Some(d.dmid))
                .await?
                .into_iter()
                .find(|c| c.classid == id)
                .map_or_else(|| "default".to_owned(), |c| c.classname),
        };
        let mut out = vec![
            pair("fid", f.fid),
            pair("domain", &d.namespace),
            pair("class", class),
            pair("key", &f.dkey),
            pair("length", f.length),
            pair("devcount", f.devcount),
        ];
        if a.nonempty("devices").is_some_and(|v| v != "0") {
            let ids: Vec<String> = self
                .meta
                .file_devids(f.fid)
                .await?
                .iter()
                .map(i64::to_string)
                .collect();
            out.push(pair("devids", ids.join(",")));
        }
        Ok(out)
    }
}
