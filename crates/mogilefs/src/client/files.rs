//! Files in one domain: store, fetch, delete, rename, list, describe
//! (MogileFS::Client's calls).

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncSeek, AsyncSeekExt, AsyncWrite};

use super::http::{self, GetError};
use super::{pairs, Error, Progress, Trackers};
use crate::proto::Args;

/// The most keys `list_keys` returns per call (the tracker's cap).
pub const LIST_KEYS_MAX: u32 = 1000;

/// A client for the files of one domain.
#[derive(Debug, Clone)]
pub struct Client {
    trackers: Trackers,
    domain: String,
}

/// What `file_info` tells about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file id.
    pub fid: u64,
    /// The domain.
    pub domain: String,
    /// The class (`default` for the implicit one).
    pub class: String,
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub length: u64,
    /// How many devices hold a copy.
    pub devcount: u32,
    /// The devices holding it, when asked for.
    pub devids: Vec<u32>,
    /// Every field of the reply (sorted), as the Perl client returns them.
    pub fields: BTreeMap<String, String>,
}

/// One page of `list_keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys, sorted.
    pub keys: Vec<String>,
    /// Where the next page starts (`after=`), when this page was full.
    pub next_after: Option<String>,
}

/// What [`Client::store_with`] sends with create_close besides the
/// file's place and size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// `checksum=`: the content's digest as `MD5:hex` (or `SHA-1:hex`);
    /// the tracker keeps it when the class's hashtype is that algorithm.
    pub checksum: Option<String>,
    /// `checksumverify=1`: the tracker compares the copy written with
    /// `checksum` before it answers (`checksum_mismatch` if they differ).
    pub verify: bool,
}

/// A destination create_open gave.
#[derive(Debug, Clone)]
struct Dest {
    devid: String,
    path: String,
}

impl Client {
    /// A client for `domain` over `trackers`.
    pub fn new(trackers: Trackers, domain: impl Into<String>) -> Client {
        Client {
            trackers,
            domain: domain.into(),
        }
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The trackers.
    pub fn trackers(&self) -> &Trackers {
        &self.trackers
    }

    async fn call(&self, cmd: &str, args: &[(&str, &str)]) -> Result<Args, Error> {
        let mut all = vec![("domain", self.domain.as_str())];
        all.extend_from_slice(args);
        self.trackers.call(cmd, &all).await
    }

    /// Stores `len` bytes of `src` under `key` (class `None` or `default`:
    /// the domain's default class); returns the fid.
    ///
    /// Asks for several destinations (`multi_dest`) and PUTs to the first;
    /// if that PUT fails, `src` is rewound to where it stood and the next
    /// destination is tried. `progress` hears the bytes sent so far in the
    /// current attempt.
    pub async fn store<R>(
        &self,
        key: &str,
        class: Option<&str>,
        src: R,
        len: u64,
        progress: Option<Progress>,
    ) -> Result<u64, Error>
    where
        R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
    {
        self.store_with(key, class, src, len, progress, &StoreOptions::default())
            .await
    }

    /// As [`Client::store`], with a checksum (and its check) sent on
    /// create_close.
    pub async fn store_with<R>(
        &self,
        key: &str,
        class: Option<&str>,
        src: R,
        len: u64,
        progress: Option<Progress>,
        extra: &StoreOptions,
    ) -> Result<u64, Error>
    where
        R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
    {
        let mut args = vec![("key", key), ("fid", "0"), ("multi_dest", "1")];
        if let Some(c) = class.filter(|c| !c.is_empty() && *c != "default") {
            args.push(("class", c));
        }
        let open = self.call("create_open", &args).await?;
        let fid = open.get("fid").unwrap_or_default().to_owned();
        let dests = dests(&open);
        if dests.is_empty() {
            return Err(Error::Tracker {
                code: "no_devices".into(),
                text: "create_open gave no destination".into(),
            });
        }
        let src = Arc::new(tokio::sync::Mutex::new(src));
        let start = src.lock().await.stream_position().await?;
        let opts = self.trackers.options();
        let mut failures = Vec::new();
        for d in &dests {
            src.lock().await.seek(SeekFrom::Start(start)).await?;
            if let Some(p) = &progress {
                p(0);
            }
            match http::put(
                &d.path,
                &src,
                len,
                progress.clone(),
                opts.connect_timeout,
                opts.http_idle,
            )
            .await
            {
                Ok(()) => {
                    let size = len.to_string();
                    let mut close = vec![
                        ("key", key),
                        ("fid", fid.as_str()),
                        ("devid", d.devid.as_str()),
                        ("path", d.path.as_str()),
                        ("size", size.as_str()),
                    ];
                    if let Some(c) = &extra.checksum {
                        close.push(("checksum", c));
                        if extra.verify {
                            close.push(("checksumverify", "1"));
                        }
                    }
                    self.call("create_close", &close).await?;
                    return fid.parse().map_err(|_| Error::Protocol {
                        tracker: "create_open".into(),
                        line: format!("fid={fid}"),
                    });
                }
                Err(e) => {
                    tracing::debug!(path = %d.path, error = %e, "upload failed; next destination");
                    failures.push(e);
                }
            }
        }
        Err(all_failed("destination", failures))
    }

    /// Stores the file at `path` under `key`; returns the fid.
    pub async fn store_file(
        &self,
        key: &str,
        class: Option<&str>,
        path: impl AsRef<Path>,
        progress: Option<Progress>,
    ) -> Result<u64, Error> {
        let file = tokio::fs::File::open(path.as_ref()).await?;
        let len = file.metadata().await?.len();
        self.store(key, class, file, len, progress).await
    }

    /// The URLs of `key`'s copies (`noverify=1`, as mogfetch asks), best
    /// first; at most `pathcount` (the tracker's minimum is 2).
    pub async fn get_paths(&self, key: &str, pathcount: Option<u32>) -> Result<Vec<String>, Error> {
        let count = pathcount.map(|n| n.to_string());
        let mut args = vec![("key", key), ("noverify", "1")];
        if let Some(c) = &count {
            args.push(("pathcount", c));
        }
        let r = self.call("get_paths", &args).await?;
        let n: usize = r.get("paths").and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((1..=n)
            .filter_map(|i| r.nonempty(&format!("path{i}")).map(str::to_owned))
            .collect())
    }

    /// Writes `key`'s content into `out`, trying each path in turn; returns
    /// the length. Once part of a copy reached `out`, a failure is final
    /// (use [`Client::fetch_file`] to retry from scratch).
    pub async fn fetch<W>(
        &self,
        key: &str,
        out: &mut W,
        progress: Option<Progress>,
    ) -> Result<u64, Error>
    where
        W: AsyncWrite + Unpin,
    {
        let paths = self.get_paths(key, None).await?;
        let opts = self.trackers.options();
        let mut failures = Vec::new();
        for p in &paths {
            match http::get(
                p,
                out,
                progress.clone(),
                opts.connect_timeout,
                opts.http_idle,
            )
            .await
            {
                Ok(n) => return Ok(n),
                Err(GetError { wrote: true, err }) => return Err(err),
                Err(GetError { err, .. }) => failures.push(err),
            }
        }
        Err(all_failed("copy", failures))
    }

    /// Writes `key`'s content to the file `dest` (created or truncated for
    /// each path tried); returns the length.
    pub async fn fetch_file(
        &self,
        key: &str,
        dest: impl AsRef<Path>,
        progress: Option<Progress>,
    ) -> Result<u64, Error> {
        let paths = self.get_paths(key, None).await?;
        let opts = self.trackers.options();
        let mut failures = Vec::new();
        for p in &paths {
            let mut file = tokio::fs::File::create(dest.as_ref()).await?;
            match http::get(
                p,
                &mut file,
                progress.clone(),
                opts.connect_timeout,
                opts.http_idle,
            )
            .await
            {
                Ok(n) => {
                    file.sync_all().await?;
                    return Ok(n);
                }
                Err(e) => failures.push(e.err),
            }
        }
        Err(all_failed("copy", failures))
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        self.call("delete", &[("key", key)]).await.map(drop)
    }

    /// Renames `from` to `to`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        self.call("rename", &[("from_key", from), ("to_key", to)])
            .await
            .map(drop)
    }

    /// Moves `key` to `class`.
    pub async fn update_class(&self, key: &str, class: &str) -> Result<(), Error> {
        self.call("updateclass", &[("key", key), ("class", class)])
            .await
            .map(drop)
    }

    /// What the tracker knows of `key`; `devices` adds the device ids.
    pub async fn file_info(&self, key: &str, devices: bool) -> Result<FileInfo, Error> {
        let r = self
            .call(
                "file_info",
                &[("key", key), ("devices", if devices { "1" } else { "0" })],
            )
            .await?;
        let num = |k: &str| r.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut fields: BTreeMap<String, String> = pairs(&r).into_iter().collect();
        fields.remove("callid");
        Ok(FileInfo {
            fid: num("fid"),
            domain: r.get("domain").unwrap_or_default().to_owned(),
            class: r.get("class").unwrap_or_default().to_owned(),
            key: r.get("key").unwrap_or(key).to_owned(),
            length: num("length"),
            devcount: u32::try_from(num("devcount")).unwrap_or(u32::MAX),
            devids: r
                .get("devids")
                .unwrap_or_default()
                .split(',')
                .filter_map(|d| d.trim().parse().ok())
                .collect(),
            fields,
        })
    }

    /// One page of keys starting with `prefix`, after `after`, at most
    /// `limit` (<= 1000). No match is an empty page.
    pub async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, Error> {
        let limit = limit.clamp(1, LIST_KEYS_MAX);
        let lim = limit.to_string();
        let mut args = vec![("prefix", prefix), ("limit", lim.as_str())];
        if let Some(a) = after {
            args.push(("after", a));
        }
        let r = match self.call("list_keys", &args).await {
            Ok(r) => r,
            Err(e) if e.code() == Some("none_match") => return Ok(KeyPage::default()),
            Err(e) => return Err(e),
        };
        let n: usize = r.get("key_count").and_then(|n| n.parse().ok()).unwrap_or(0);
        let keys: Vec<String> = (1..=n)
            .filter_map(|i| r.get(&format!("key_{i}")).map(str::to_owned))
            .collect();
        let next_after = (keys.len() >= limit as usize)
            .then(|| {
                r.get("next_after")
                    .map(str::to_owned)
                    .or_else(|| keys.last().cloned())
            })
            .flatten();
        Ok(KeyPage { keys, next_after })
    }

    /// Calls `each` with every key starting with `prefix`, in order, a page
    /// of 1000 at a time; returns how many there were.
    pub async fn foreach_key(
        &self,
        prefix: &str,
        mut each: impl FnMut(&str),
    ) -> Result<u64, Error> {
        let mut after: Option<String> = None;
        let mut count = 0u64;
        loop {
            let page = self
                .list_keys(prefix, after.as_deref(), LIST_KEYS_MAX)
                .await?;
            for k in &page.keys {
                each(k);
            }
            count += page.keys.len() as u64;
            match page.next_after {
                // A tracker that repeats itself must not loop us forever.
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => return Ok(count),
            }
        }
    }
}

/// create_open's destinations: `dev_count` + `devid_N`/`path_N` with
/// `multi_dest`, else `devid` + `path`.
fn dests(open: &Args) -> Vec<Dest> {
    let multi: usize = open
        .get("dev_count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let mut out: Vec<Dest> = (1..=multi)
        .filter_map(|i| {
            Some(Dest {
                devid: open.nonempty(&format!("devid_{i}"))?.to_owned(),
                path: open.nonempty(&format!("path_{i}"))?.to_owned(),
            })
        })
        .collect();
    if out.is_empty() {
        if let (Some(devid), Some(path)) = (open.nonempty("devid"), open.nonempty("path")) {
            out.push(Dest {
                devid: devid.to_owned(),
                path: path.to_owned(),
            });
        }
    }
    out
}

/// One failure as itself, several as [`Error::AllFailed`], none (no path
/// to try) as [`Error::NoPaths`].
fn all_failed(what: &'static str, mut errors: Vec<Error>) -> Error {
    match errors.len() {
        0 => Error::NoPaths,
        1 => errors.remove(0),
        _ => Error::AllFailed { what, errors },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_single_and_multi() {
        let single = Args::parse(b"fid=7&devid=3&path=http://h:1/dev3/x");
        let d = dests(&single);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].devid.as_str(), d[0].path.as_str()),
            ("3", "http://h:1/dev3/x")
        );
        let multi = Args::parse(b"fid=7&dev_count=2&devid_1=3&path_1=a&devid_2=5&path_2=b");
        let d = dests(&multi);
        assert_eq!(
            d.iter().map(|d| d.devid.as_str()).collect::<Vec<_>>(),
            ["3", "5"]
        );
        assert!(dests(&Args::parse(b"fid=7")).is_empty());
    }
}
