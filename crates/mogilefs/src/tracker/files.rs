//! Files: create_open, create_close (size and checksum checks), get_paths
//! (live replicas first, verified), delete, rename, updateclass, list_keys,
//! file_info.

use super::http::{self, Alg};
use super::placement::{self, View};
use super::sidechan::{self, hex};
use super::{int_arg, pair, random_u64, Fail, Outcome};
use crate::meta::{Checksum, Closed, Device, Host, MetaStore, Renamed, TempFile};
use crate::proto::{fid_path, Args, ErrCode};

/// The most copies a client may report written in one create_close.
const MAX_DESTS: usize = 16;

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

/// A `checksum=` argument: `MD5:<hex>` or `SHA-1:<hex>` (the original's
/// `MogileFS::Checksum->from_string`).
pub(super) fn parse_checksum(s: &str) -> Option<(Alg, Vec<u8>)> {
    let (name, digest) = s.split_once(':')?;
    let alg = Alg::from_name(name)?;
    let bytes = sidechan::unhex(digest)?;
    (bytes.len() == alg.digest_len()
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some((alg, bytes))
}

/// `MD5:<hex>`, as file_info and file_debug show a checksum.
pub(super) fn checksum_info(c: &Checksum) -> String {
    let name = Alg::from_hashtype(c.hashtype).map_or("UNKNOWN", Alg::name);
    format!("{name}:{}", hex(&c.checksum))
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

    pub(super) async fn create_open(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.get("key").unwrap_or("");
        let classid = self.classid_arg(d.dmid, a).await?;
        let multi = a.nonempty("multi_dest").is_some_and(|v| v != "0");
        let size = a
            .nonempty("size")
            .and_then(|s| s.trim().parse::<u64>().ok());
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
            size,
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
            .filter_map(|dev| Some((dev.devid, dev_url(hosts, dev, fid, false, false)?)));
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
        let checksum = match a.nonempty("checksum") {
            Some(c) => Some(parse_checksum(c).ok_or(ErrCode::InvalidChecksumFormat)?),
            None => None,
        };
        // Copies the client wrote itself (multi_dest): devid_N / path_N.
        let mut written = vec![(devid, path.to_owned())];
        for n in 1..=MAX_DESTS {
            let (Some(id), Some(p)) = (
                int_arg(a, &format!("devid_{n}")),
                a.nonempty(&format!("path_{n}")),
            ) else {
                break;
            };
            if !written.iter().any(|(d, _)| *d == id) {
                written.push((id, p.to_owned()));
            }
        }
        let temp = self.meta.tempfile(fid).await?.ok_or(ErrCode::NoTempFile)?;
        if temp.dmid != d.dmid || a.get("key").is_some_and(|k| k != temp.dkey) {
            return Err(ErrCode::NoTempFile.into());
        }
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let verify = a.nonempty("checksumverify").is_some_and(|v| v != "0");
        // As the original, `size=0` means "not given" (zero-byte files).
        let mut size = match a.nonempty("size").filter(|s| *s != "0") {
            Some(s) => Some(s.parse::<u64>().map_err(|_| ErrCode::SizeMismatch)?),
            None => None,
        };
        for (devid, path) in &written {
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
            if let (Some((alg, sum)), true) = (&checksum, verify) {
                self.verify_checksum(hosts, dev, fid, path, *alg, sum)
                    .await?;
            }
        }
        let length = size
            .and_then(|s| i64::try_from(s).ok())
            .ok_or(ErrCode::SizeMismatch)?;
        let devids: Vec<i64> = written.iter().map(|(d, _)| *d).collect();
        match self.meta.close_file(fid, length, &devids).await? {
            Closed::Stored { replaced } => {
                if replaced.is_some() {
                    self.deletes_pending();
                }
            }
            Closed::NoTempFile => return Err(ErrCode::NoTempFile.into()),
            Closed::FidExists => return Err(ErrCode::FidExists.into()),
        }
        if let Some((alg, bytes)) = checksum {
            // Kept only when the class asks for this hash (the original's
            // `maybe_save`).
            if self.class_hashtype(d.dmid, temp.classid).await? == Some(alg.hashtype()) {
                self.meta
                    .set_checksum(&Checksum {
                        fid,
                        hashtype: alg.hashtype(),
                        checksum: bytes,
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
        Ok(Vec::new())
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

    pub(super) async fn get_paths(&self, a: &Args) -> Outcome {
        let d = self.domain_arg(a).await?;
        let key = a.nonempty("key").ok_or(ErrCode::NoKey)?;
        let (f, on) = self
            .meta
            .file_with_devids(d.dmid, key)
            .await?
            .ok_or(ErrCode::UnknownKey)?;
        let topo = self.topology().await?;
        let (hosts, devices) = (&topo.hosts, &topo.devices);
        let alt = a.get("zone") == Some("alt");
        let noverify = a.nonempty("noverify").is_some_and(|v| v != "0");
        let want = usize::try_from(int_arg(a, "pathcount").unwrap_or(2).max(2)).unwrap_or(2);
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
        let mut out = vec![pair("paths", paths.len())];
        for (i, u) in paths.into_iter().enumerate() {
            out.push(pair(format!("path{}", i + 1), u));
        }
        Ok(out)
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
        if f.classid != classid {
            self.meta.set_file_class(f.fid, classid).await?;
            self.enqueue_replication(f.fid).await?;
        }
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
        // As the original: the checksum when the class keeps one.
        if self.class_hashtype(d.dmid, f.classid).await?.is_some() {
            let sum = self.meta.checksum(f.fid).await?;
            out.push(pair(
                "checksum",
                sum.as_ref()
                    .map_or_else(|| "MISSING".to_owned(), checksum_info),
            ));
        }
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
