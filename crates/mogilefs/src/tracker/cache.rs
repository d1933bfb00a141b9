//! The tracker's copy of the small tables every file command reads:
//! domains, classes, hosts and devices. The original keeps them in each
//! process too (its `Factory` caches, reloaded by the monitor); here one
//! copy is shared by all commands, so a get_paths costs one query.
//!
//! The copy is dropped when this tracker changes one of those tables (and
//! when the monitor records device usage), and is read again at most
//! [`MAX_AGE`] after it was loaded, so a change made through another
//! tracker on the same database shows within that time. A domain or class
//! name missing from the copy is looked up in the database before it is
//! refused, so one created elsewhere is usable at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::meta::{Class, Device, Domain, Host, MetaStore, Result};

/// How long a copy is used before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The tables as read at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// Domains by namespace.
    pub domains: HashMap<String, Domain>,
    /// Every class with a row.
    pub classes: Vec<Class>,
    pub hosts: Vec<Host>,
    pub devices: Vec<Device>,
    loaded: Instant,
    generation: u64,
}

impl Snapshot {
    /// A class of a domain by name.
    pub fn class_named(&self, dmid: i64, name: &str) -> Option<&Class> {
        self.classes
            .iter()
            .find(|c| c.dmid == dmid && c.classname == name)
    }

    /// A class of a domain by id.
    pub fn class(&self, dmid: i64, classid: i64) -> Option<&Class> {
        self.classes
            .iter()
            .find(|c| c.dmid == dmid && c.classid == classid)
    }
}

/// The shared copy and what makes it stale.
#[derive(Debug, Default)]
pub struct Cache {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Bumped by every invalidation: a load that began before one is not
    /// kept.
    generation: AtomicU64,
    /// One load at a time; the others wait for it.
    loading: tokio::sync::Mutex<()>,
}

impl Cache {
    /// Forgets the copy (after a change to one of its tables).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut c) = self.current.write() {
            *c = None;
        }
    }

    fn fresh(&self) -> Option<Arc<Snapshot>> {
        let snap = self.current.read().ok()?.clone()?;
        (snap.generation == self.generation.load(Ordering::SeqCst)
            && snap.loaded.elapsed() < MAX_AGE)
            .then_some(snap)
    }

    /// A copy not invalidated since it was read, however old.
    fn valid(&self) -> Option<Arc<Snapshot>> {
        let snap = self.current.read().ok()?.clone()?;
        (snap.generation == self.generation.load(Ordering::SeqCst)).then_some(snap)
    }

    /// The copy, read from `meta` if it is missing or old. While one
    /// caller reads an old copy again, the others keep using it; after an
    /// invalidation they all wait for the new one.
    pub async fn get<M: MetaStore>(&self, meta: &M) -> Result<Arc<Snapshot>> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let _one = match self.loading.try_lock() {
            Ok(g) => g,
            Err(_) => match self.valid() {
                Some(old) => return Ok(old),
                None => self.loading.lock().await,
            },
        };
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded = Instant::now();
        let domains = meta.domains().await?;
        let snap = Arc::new(Snapshot {
            domains: domains
                .into_iter()
                .map(|d| (d.namespace.clone(), d))
                .collect(),
            classes: meta.classes(None).await?,
            hosts: meta.hosts().await?,
            devices: meta.devices().await?,
            loaded,
            generation,
        });
        if let Ok(mut c) = self.current.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                *c = Some(snap.clone());
            }
        }
        Ok(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{Namespaces, SqliteStore};

    #[tokio::test]
    async fn reloads_after_invalidate_and_age() {
        let dir = tempfile::tempdir().expect("dir");
        let meta = SqliteStore::open(&dir.path().join("m.db"))
            .await
            .expect("open");
        let cache = Cache::default();
        assert!(cache.get(&meta).await.expect("db").domains.is_empty());
        meta.create_domain("d").await.expect("db");
        // Still the old copy: nothing told it.
        assert!(cache.get(&meta).await.expect("db").domains.is_empty());
        cache.invalidate();
        assert!(cache
            .get(&meta)
            .await
            .expect("db")
            .domains
            .contains_key("d"));
        meta.create_domain("e").await.expect("db");
        tokio::time::sleep(MAX_AGE).await;
        assert!(cache
            .get(&meta)
            .await
            .expect("db")
            .domains
            .contains_key("e"));
    }
}
