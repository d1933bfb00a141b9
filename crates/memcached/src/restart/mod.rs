//! Warm restart (`-e FILE`): the cache saved at a graceful stop (SIGUSR1 or
//! `shutdown graceful`) and served again by the next start with the same
//! settings.
//!
//! The original maps its whole item memory from `FILE` and keeps it there
//! while it runs; at a graceful stop it writes only `FILE.meta`. This build
//! keeps items in its own heap and writes them out at the stop instead, as
//! a stream of logical items ([`format`](mod@format)): `FILE` holds the items,
//! `FILE.meta` the header (settings, counters, the items file's length and
//! checksum). Each is written to a temporary file, synced, then renamed;
//! `FILE.meta` goes last, so it exists only beside a complete `FILE`.
//!
//! At start, `FILE.meta` is read and removed before anything is loaded (as
//! the original removes it), so a crash later never brings back these
//! items. The items file is checked whole (length, count, checksum) before
//! the first item is stored, and removed once loaded. Any mismatch starts
//! an empty cache and says why in one `warn` line; only a `FILE.meta`
//! that is not a metadata file at all stops the start, as in the original.
//!
//! Times cross the restart as unix seconds: an item that expired while the
//! server was down is not loaded.

pub mod format;

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::exec::Engine;
use crate::store::{ItemView, RelTime};
use format::{DataError, Meta, MetaError, Record, Settings};

/// Buffer between the store and the file, each way.
const IO_BUF: usize = 1 << 20;

/// The `-e` file pair.
#[derive(Debug, Clone)]
pub struct RestartFile {
    path: PathBuf,
}

/// What a start found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No `FILE.meta`: nothing was saved (or it was consumed already).
    Nothing,
    /// The saved items are back.
    Restored {
        /// Items stored again.
        items: u64,
        /// Items that expired (or were flushed) while the server was down.
        expired: u64,
        /// Items the store would not take (out of memory under `-M`).
        dropped: u64,
        /// Size of the items file.
        bytes: u64,
    },
    /// A save was there but not usable; the cache starts empty.
    Discarded(String),
}

/// A `FILE.meta` that is not a metadata file: the start stops.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}; remove it (and the file beside it) to start with an empty cache")]
pub struct Refused {
    /// The metadata file.
    pub path: String,
    /// What is wrong with it.
    pub why: MetaError,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Items written.
    pub items: u64,
    /// Size of the items file.
    pub bytes: u64,
}

impl RestartFile {
    /// The pair named by `-e path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RestartFile { path: path.into() }
    }

    /// `FILE`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `FILE.meta`.
    pub fn meta_path(&self) -> PathBuf {
        with_suffix(&self.path, ".meta")
    }

    /// The settings `engine` runs under, as the header records them.
    pub fn settings_of(engine: &Engine) -> Settings {
        let cfg = engine.store.config();
        Settings {
            maxbytes: cfg.mem_limit as u64,
            item_size_max: cfg.item_size_max as u64,
            slab_chunk_max: cfg.slab_chunk_max as u64,
            slab_page_size: cfg.page_size as u64,
            chunk_size: cfg.min_chunk as u64,
            growth_factor: cfg.growth_factor,
            use_cas: engine.settings.cas_enabled,
            slab_reassign: cfg.slab_reassign,
        }
    }

    /// Writes every live item of `engine` and then the header. Call once
    /// nothing else changes the store (after the connections are gone).
    pub fn save(&self, engine: &Engine, unix_now: u64) -> io::Result<Saved> {
        let saved = self.save_inner(engine, unix_now);
        if saved.is_err() {
            // Nothing half-written stays behind (a FILE already renamed
            // without its FILE.meta is removed by the next start).
            let _ = std::fs::remove_file(with_suffix(&self.path, ".tmp"));
            let _ = std::fs::remove_file(with_suffix(&self.meta_path(), ".tmp"));
        }
        saved
    }

    fn save_inner(&self, engine: &Engine, unix_now: u64) -> io::Result<Saved> {
        let now = engine.rel_time(unix_now);
        let started = engine.process_started;
        let abs = |rel: RelTime| started + u64::from(rel);
        let tmp = with_suffix(&self.path, ".tmp");
        let file = create_private(&tmp)?;
        let mut w = format::Writer::new(BufWriter::with_capacity(IO_BUF, file))?;
        let written = engine.store.each_live_item(now, |it: ItemView<'_>| {
            w.item(&Record {
                key: it.key,
                value: it.value,
                flags: it.flags,
                cas: it.cas,
                exptime: if it.exptime == 0 { 0 } else { abs(it.exptime) },
                time: abs(it.time),
                state: it.state,
            })
        });
        written?;
        let (buf, summary) = w.finish()?;
        let file = buf.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.path)?;
        let flush = &engine.store.flush;
        let oldest_live = flush.oldest_live.load(Ordering::Acquire);
        let meta = Meta {
            settings: Self::settings_of(engine),
            stop_time: unix_now,
            current_cas: engine.store.current_cas(),
            hash_power: engine.store.stats(now).hash_power_level,
            flush_at: if oldest_live == 0 {
                0
            } else {
                abs(oldest_live)
            },
            flush_cas: flush.oldest_cas.load(Ordering::Acquire),
            items: summary.items,
            data_bytes: summary.bytes,
            data_crc32: summary.crc32,
        };
        let meta_path = self.meta_path();
        let meta_tmp = with_suffix(&meta_path, ".tmp");
        let mut f = create_private(&meta_tmp)?;
        f.write_all(meta.encode().as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&meta_tmp, &meta_path)?;
        sync_dir(&self.path);
        Ok(Saved {
            items: summary.items,
            bytes: summary.bytes,
        })
    }

    /// Loads a save into `engine` (a fresh one, before it serves) if there
    /// is a usable one; consumes it either way.
    pub fn load(&self, engine: &Engine, unix_now: u64) -> Result<Loaded, Refused> {
        let meta_path = self.meta_path();
        let text = match read_bounded(&meta_path, format::META_MAX) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A items file of ours without its header is the remains of
                // a stop that did not finish: never valid, only in the way.
                if is_ours(&self.path) {
                    let _ = std::fs::remove_file(&self.path);
                }
                return Ok(Loaded::Nothing);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&meta_path);
                return Ok(self.discard(format!("reading {}: {e}", meta_path.display())));
            }
        };
        let meta = match Meta::parse(&text) {
            Ok(m) => m,
            Err(why @ MetaError::NotMetadata) => {
                return Err(Refused {
                    path: meta_path.display().to_string(),
                    why,
                })
            }
            Err(why @ MetaError::OtherWriter(_)) => {
                // The original's own save: its memory file cannot be read
                // here. Consumed as the original would; its file is left.
                let _ = std::fs::remove_file(&meta_path);
                return Ok(Loaded::Discarded(why.to_string()));
            }
            Err(why) => return Ok(self.discard(format!("{}: {why}", meta_path.display()))),
        };
        // From here on a crash must not bring these items back.
        if let Err(e) = std::fs::remove_file(&meta_path) {
            return Ok(self.discard(format!("cannot remove {}: {e}", meta_path.display())));
        }
        sync_dir(&meta_path);
        let now_settings = Self::settings_of(engine);
        if let Some((name, saved, now)) = meta.settings.first_difference(&now_settings) {
            return Ok(self.discard(format!(
                "saved with {name} {saved}, started with {name} {now}"
            )));
        }
        if unix_now < meta.stop_time {
            return Ok(self.discard(format!(
                "the clock is behind the save's stop time ({unix_now} < {}): expiry times cannot be trusted",
                meta.stop_time
            )));
        }
        match self.load_items(engine, &meta, unix_now) {
            Ok(loaded) => {
                let _ = std::fs::remove_file(&self.path);
                Ok(loaded)
            }
            Err(e) => Ok(self.discard(format!("{}: {e}", self.path.display()))),
        }
    }

    /// [`RestartFile::load`] for the daemon's start: logs the outcome
    /// (`warn` when a save is discarded, naming why) with its speed.
    pub fn load_logged(&self, engine: &Engine, unix_now: u64) -> Result<(), Refused> {
        let started = tokio::time::Instant::now();
        let file = self.path.display().to_string();
        match self.load(engine, unix_now)? {
            Loaded::Nothing => {
                tracing::info!(%file, "restart: no saved cache, starting empty");
            }
            Loaded::Discarded(why) => {
                tracing::warn!(%file, "restart: saved cache not used, starting empty: {why}");
            }
            Loaded::Restored {
                items,
                expired,
                dropped,
                bytes,
            } => {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    %file,
                    items,
                    expired,
                    dropped,
                    bytes,
                    secs,
                    mb_per_sec = mb_per_sec(bytes, secs),
                    "restart: saved cache loaded"
                );
            }
        }
        Ok(())
    }

    /// [`RestartFile::save`] for the daemon's graceful stop, logged.
    pub fn save_logged(&self, engine: &Engine, unix_now: u64) -> io::Result<Saved> {
        let started = tokio::time::Instant::now();
        let file = self.path.display().to_string();
        match self.save(engine, unix_now) {
            Ok(s) => {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    %file,
                    items = s.items,
                    bytes = s.bytes,
                    secs,
                    mb_per_sec = mb_per_sec(s.bytes, secs),
                    "restart: cache saved"
                );
                Ok(s)
            }
            Err(e) => {
                tracing::error!(%file, "restart: saving the cache failed: {e}");
                Err(e)
            }
        }
    }

    fn discard(&self, why: String) -> Loaded {
        let _ = std::fs::remove_file(&self.path);
        Loaded::Discarded(why)
    }

    /// Checks the items file whole against the header, then stores its
    /// items: a bad file stores nothing.
    fn load_items(&self, engine: &Engine, meta: &Meta, unix_now: u64) -> Result<Loaded, DataError> {
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        if len != meta.data_bytes {
            return Err(DataError::Truncated);
        }
        let max_value = engine.store.config().item_size_max;
        {
            let mut r =
                format::Reader::new(BufReader::with_capacity(IO_BUF, &mut file), max_value)?;
            while r.next_item()?.is_some() {}
            let sum = r.summary().ok_or(DataError::Truncated)?;
            if sum.items != meta.items || sum.crc32 != meta.data_crc32 || sum.bytes != len {
                return Err(DataError::Checksum);
            }
        }
        file.rewind()?;
        let store = &engine.store;
        store.reserve_index(meta.hash_power);
        let started = engine.process_started;
        let rel = |t: u64| RelTime::try_from(t.saturating_sub(started)).unwrap_or(RelTime::MAX);
        let now = engine.rel_time(unix_now);
        let flushed_at = (meta.flush_at != 0 && meta.flush_at <= unix_now).then_some(meta.flush_at);
        let (mut items, mut expired, mut dropped, mut max_cas) = (0, 0, 0, 0);
        let mut r = format::Reader::new(BufReader::with_capacity(IO_BUF, file), max_value)?;
        while let Some(rec) = r.next_item()? {
            max_cas = max_cas.max(rec.cas);
            let flushed = flushed_at.is_some_and(|at| {
                rec.time <= at || (meta.flush_cas != 0 && rec.cas != 0 && rec.cas < meta.flush_cas)
            });
            if flushed || (rec.exptime != 0 && rec.exptime <= unix_now) {
                expired += 1;
                continue;
            }
            let item = ItemView {
                key: rec.key,
                value: rec.value,
                flags: rec.flags,
                exptime: if rec.exptime == 0 {
                    0
                } else {
                    rel(rec.exptime)
                },
                time: rel(rec.time).min(now),
                cas: rec.cas,
                state: rec.state,
            };
            match store.restore_item(&item, now) {
                Ok(()) => items += 1,
                Err(_) => dropped += 1,
            }
        }
        store.resume_cas(meta.current_cas.max(max_cas));
        if meta.flush_at > unix_now {
            store
                .flush
                .oldest_live
                .store(rel(meta.flush_at), Ordering::Release);
            store
                .flush
                .oldest_cas
                .store(meta.flush_cas, Ordering::Release);
        }
        Ok(Loaded::Restored {
            items,
            expired,
            dropped,
            bytes: meta.data_bytes,
        })
    }
}

fn mb_per_sec(bytes: u64, secs: f64) -> u64 {
    if secs <= 0.0 {
        return 0;
    }
    (bytes as f64 / 1e6 / secs) as u64
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A new file only its owner may read (the cache holds clients' data).
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Makes the renames in `path`'s directory durable (best effort: some
/// file systems refuse to sync a directory).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn read_bounded(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "too large"));
    }
    Ok(out)
}

/// Whether `path` starts with our items file's magic.
fn is_ours(path: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == format::MAGIC
}

#[cfg(test)]
mod tests;
