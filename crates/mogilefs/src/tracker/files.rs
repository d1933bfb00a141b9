//! Files: create_open, create_close (size and checksum checks), get_paths
//! (live replicas first, verified), delete, rename, updateclass, list_keys,
//! file_info.

use super::http::{self, Alg};
use super::placement::{self, View};
use super::sidechan::{self, hex};
use super::{random_u64, Done, Fail};
use crate::meta::{Checksum, Closed, Device, Host, MetaStore, Renamed, TempFile};
use crate::proto::command::{
    CreateClose, CreateOpen, FileInfo, FileKey, GetPaths, ListKeys, Rename, UpdateFileClass,
};
use crate::proto::reply::{self, Dests, KeptChecksum, KeyList, Opened, Paths};
use crate::proto::{fid_path, ErrCode, HashType, SavedChecksum};

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

/// The digest [`http`] computes for a hash type.
fn alg(h: HashType) -> Alg {
    match h {
        HashType::Md5 => Alg::Md5,
        HashType::Sha1 => Alg::Sha1,
    }
}

/// A stored checksum, as file_info and file_debug show it.
pub(super) fn saved(c: Checksum) -> SavedChecksum {
    SavedChecksum {
        hashtype: c.hashtype,
        digest: c.checksum,
    }
}

impl<M: MetaStore> super::Tracker<M> {
    /// What the monitor saw, for choosing devices.
    pub(super) fn view(&self) -> View {
        View {
            obs: self.monitor.devices(),
            down_hosts: self.monitor.unreachable_hosts(),
            watched: self.monitor.running(),
        }
    }

    pub(super) async fn create_open(&self, c: CreateOpen) -> Done<Opened> {
        let d = self.domain_arg(&c.domain).await?;
        let classid = self.classid_arg(d.dmid, c.class.as_deref()).await?;
        let multi = c.multi_dest;
        // As the original: a tracker that just started waits for its
        // monitor before it says there is no device.
        self.monitor.first_round(self.round_limit()).await;
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let chosen = placement::choose_devices(
            hosts,
            devices,
            &self.view(),
            self.settings.min_free_space,
            if multi { 3 } else { 1 },
            c.size,
            random_u64,
        );
        if chosen.is_empty() {
            return Err(ErrCode::NoDevices.into());
        }
        let devids: Vec<String> = chosen.iter().map(|d| d.devid.to_string()).collect();
        let temp = TempFile {
            fid: 0,
            createtime: 0,
            classid,
            dmid: d.dmid,
            dkey: c.key,
            devids: devids.join(","),
        };
        let fid = self
            .meta
            .create_tempfile(&temp, c.fid)
            .await?
            .ok_or(ErrCode::FidInUse)?;
        let mut urls = chosen
            .iter()
            .filter_map(|dev| Some((dev.devid, dev_url(hosts, dev, fid, false, false)?)));
        let dests = if multi {
            Dests::Multi(urls.collect())
        } else {
            let (devid, path) = urls.next().ok_or(ErrCode::NoDevices)?;
            Dests::One { devid, path }
        };
        Ok(Opened { fid, dests })
    }

    pub(super) async fn create_close(&self, c: CreateClose) -> Done {
        let fid = c.fid;
        let d = self.domain_arg(&c.domain).await?;
        let checksum = c.checksum.transpose()?;
        let temp = self.meta.tempfile(fid).await?.ok_or(ErrCode::NoTempFile)?;
        if temp.dmid != d.dmid || c.key.is_some_and(|k| k != temp.dkey) {
            return Err(ErrCode::NoTempFile.into());
        }
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let mut size = c.size.transpose()?;
        for (devid, path) in &c.written {
            let destined = temp
                .devids
                .split(',')
                .any(|v| v.trim() == devid.to_string());
            let dev = devices
                .iter()
                .find(|x| x.devid == *devid && destined)
                .ok_or_else(|| {
                    Fail::Text(
                        ErrCode::InvalidDestdev,
                        format!(
                            "File uploaded to invalid dest {devid}. Valid devices were: {}",
                            temp.devids
                        ),
                    )
                })?;
            if dev_url(hosts, dev, fid, false, false).as_deref() != Some(path.as_str()) {
                return Err(ErrCode::BogusArgs.into());
            }
            let on_disk = match self.pool.head(path, self.settings.node_timeout).await {
                Ok(http::Answer {
                    status: 200,
                    length: Some(n),
                }) => n,
                other => {
                    let kind = match other {
                        Ok(_) => "missing",
                        Err(_) => "cantreach",
                    };
                    return Err(Fail::Text(
                        ErrCode::SizeVerifyError,
                        format!(
                            "Expected: {}; actual: 0 ({kind}); path: {path}",
                            size.map_or(-1, |s| i64::try_from(s).unwrap_or(-1))
                        ),
                    ));
                }
            };
            let want = *size.get_or_insert(on_disk);
            if want != on_disk {
                return Err(Fail::Text(
                    ErrCode::SizeMismatch,
                    format!("Expected: {want}; actual: {on_disk}; path: {path}"),
                ));
            }
            if let (Some(sum), true) = (&checksum, c.checksumverify) {
                self.verify_checksum(hosts, dev, fid, path, alg(sum.alg), &sum.digest)
                    .await?;
            }
        }
        let length = size
            .and_then(|s| i64::try_from(s).ok())
            .ok_or(ErrCode::SizeMismatch)?;
        let devids: Vec<i64> = c.written.iter().map(|(d, _)| *d).collect();
        match self.meta.close_file(fid, length, &devids).await? {
            Closed::Stored { replaced } => {
                if replaced.is_some() {
                    self.deletes_pending();
                }
            }
            Closed::NoTempFile => return Err(ErrCode::NoTempFile.into()),
            Closed::FidExists => return Err(ErrCode::FidExists.into()),
        }
        if let Some(sum) = checksum {
            // Kept only when the class asks for this hash (the original's
            // `maybe_save`).
            let hashtype = sum.alg.number();
            if self.class_hashtype(d.dmid, temp.classid).await? == Some(hashtype) {
                self.meta
                    .set_checksum(&Checksum {
                        fid,
                        hashtype,
                        checksum: sum.digest,
                    })
                    .await?;
            }
        }
        // As the original, every new file goes through the replication
        // queue, unless the copies written already content its class (the
        // replicator would only drop the row).
        if !self.content_on(&topo, d.dmid, temp.classid, &devids) {
            self.enqueue_replication(fid).await?;
        }
        // Extension: a `durable` class answers once the copies are made.
        let durable = self.durable_copies(d.dmid, temp.classid).await?;
        if durable > 1 {
            self.make_durable(fid, durable).await?;
        }
        Ok(())
    }

    /// The digest of an upload, from the node's side channel (or, when that
    /// cannot be reached, by reading the file over HTTP), against `want`.
    async fn verify_checksum(
        &self,
        hosts: &[Host],
        dev: &Device,
        fid: i64,
        url: &str,
        alg: Alg,
        want: &[u8],
    ) -> Result<(), Fail> {
        let uri = fid_path(dev.devid, fid);
        // Digesting a large file takes a while: the node is given more time.
        let wait = self
            .settings
            .node_timeout
            .max(std::time::Duration::from_secs(30));
        let host = hosts.iter().find(|h| h.hostid == dev.hostid);
        let side = match host {
            Some(h) => {
                let addr = self.stream_addr(h).await;
                sidechan::digest(&addr, alg, &uri, wait).await.map_err(|e| {
                    tracing::debug!(%addr, error = %e, "side channel digest failed");
                })
            }
            None => Err(()),
        };
        let actual = match side {
            Ok(got) => got,
            Err(()) => http::digest(url, alg, wait).await.map_err(|e| {
                tracing::debug!(%url, error = %e, "digest over HTTP failed");
                Fail::Text(
                    ErrCode::ChecksumMismatch,
                    format!(
                        "Expected: {}:{}; actual: unknown ({e}); path: {url}",
                        alg.name(),
                        hex(want)
                    ),
                )
            })?,
        };
        match actual {
            Some(got) if got == want => Ok(()),
            got => Err(Fail::Text(
                ErrCode::ChecksumMismatch,
                format!(
                    "Expected: {name}:{}; actual: {name}:{}; path: {url}",
                    hex(want),
                    got.map_or_else(|| "-1".to_owned(), |g| hex(&g)),
                    name = alg.name()
                ),
            )),
        }
    }

    /// A class's `hashtype` (the default class has none).
    pub(super) async fn class_hashtype(
        &self,
        dmid: i64,
        classid: i64,
    ) -> Result<Option<i64>, Fail> {
        if let Some(c) = self.cached().await?.class(dmid, classid) {
            return Ok(c.hashtype);
        }
        if classid == 0 {
            return Ok(None);
        }
        Ok(self
            .meta
            .classes(Some(dmid))
            .await?
            .into_iter()
            .find(|c| c.classid == classid)
            .and_then(|c| c.hashtype))
    }

    pub(super) async fn get_paths(&self, c: GetPaths) -> Done<Paths> {
        let d = self.domain_arg(&c.domain).await?;
        let key = c.key?;
        let (f, on) = self
            .meta
            .file_with_devids(d.dmid, &key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let (alt, noverify, want) = (c.zone_alt, c.noverify, c.pathcount);
        let holding: Vec<Device> = devices
            .iter()
            .filter(|dev| on.contains(&dev.devid))
            .cloned()
            .collect();
        let (up, down) = placement::order_for_reading(hosts, &holding, &self.view(), random_u64);
        let mut paths: Vec<String> = Vec::new();
        let mut drain: Vec<String> = Vec::new();
        for dev in &up {
            if paths.len() >= want {
                break;
            }
            let Some(url) = dev_url(hosts, dev, f.fid, true, alt) else {
                continue;
            };
            // As the original: until one replica is confirmed (HEAD, right
            // size), each candidate is checked; the rest are trusted.
            if paths.is_empty() && !noverify && !self.size_matches(&url, f.length).await {
                continue;
            }
            if dev.status == "drain" {
                drain.push(url);
            } else {
                paths.push(url);
            }
        }
        // Replicas on draining devices may go soon: they come after.
        for url in drain {
            if paths.len() < want {
                paths.push(url);
            }
        }
        // Nothing readable: one replica on a device that seems down.
        if paths.is_empty() {
            if let Some(url) = down
                .iter()
                .find_map(|dev| dev_url(hosts, dev, f.fid, true, alt))
            {
                paths.push(url);
            }
        }
        Ok(Paths { paths })
    }

    /// HEAD `url`: is it there with `length` bytes?
    async fn size_matches(&self, url: &str, length: i64) -> bool {
        match self.pool.head(url, self.settings.node_timeout).await {
            Ok(http::Answer {
                status: 200,
                length: Some(n),
            }) => i64::try_from(n).is_ok_and(|n| n == length),
            _ => false,
        }
    }

    pub(super) async fn delete(&self, c: FileKey) -> Done {
        let d = self.domain_arg(&c.domain).await?;
        let key = c.key?;
        self.meta
            .delete_file(d.dmid, &key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        self.deletes_pending();
        Ok(())
    }

    pub(super) async fn updateclass(&self, c: UpdateFileClass) -> Done {
        let d = self.domain_arg(&c.domain).await?;
        let key = c.key?;
        let class = c.class?;
        let classid = self
            .classid_arg(d.dmid, Some(&class))
            .await
            .map_err(|e| match e {
                Fail::Code(ErrCode::UnregClass) => ErrCode::ClassNotFound.into(),
                other => other,
            })?;
        let f = self
            .meta
            .file(d.dmid, &key)
            .await?
            .ok_or(ErrCode::InvalidKey)?;
        if f.classid != classid {
            self.meta.set_file_class(f.fid, classid).await?;
            self.enqueue_replication(f.fid).await?;
        }
        Ok(())
    }

    pub(super) async fn rename(&self, c: Rename) -> Done {
        let d = self.domain_arg(&c.domain).await?;
        let from = c.from_key?;
        let to = c.to_key?;
        match self.meta.rename(d.dmid, &from, &to).await? {
            Renamed::Done => Ok(()),
            Renamed::UnknownKey => Err(ErrCode::UnknownKey.into()),
            Renamed::KeyExists => Err(ErrCode::KeyExists.into()),
        }
    }

    pub(super) async fn list_keys(&self, c: ListKeys) -> Done<KeyList> {
        let d = self.domain_arg(&c.domain).await?;
        let after = c.after?;
        let keys = self
            .meta
            .list_keys(d.dmid, &c.prefix, after.as_deref(), c.limit)
            .await?;
        let next_after = keys.last().ok_or(ErrCode::NoneMatch)?.clone();
        Ok(KeyList { next_after, keys })
    }

    pub(super) async fn file_info(&self, c: FileInfo) -> Done<reply::FileInfo> {
        let d = self.domain_arg(&c.domain).await?;
        let key = c.key?;
        let f = self
            .meta
            .file(d.dmid, &key)
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
        // As the original: the checksum when the class keeps one.
        let checksum = if self.class_hashtype(d.dmid, f.classid).await?.is_some() {
            match self.meta.checksum(f.fid).await? {
                Some(sum) => KeptChecksum::Saved(saved(sum)),
                None => KeptChecksum::Missing,
            }
        } else {
            KeptChecksum::NotKept
        };
        let devids = if c.devices {
            Some(self.meta.file_devids(f.fid).await?)
        } else {
            None
        };
        Ok(reply::FileInfo {
            fid: f.fid,
            domain: d.namespace,
            class,
            key: f.dkey,
            length: f.length,
            devcount: f.devcount,
            checksum,
            devids,
        })
    }
}
