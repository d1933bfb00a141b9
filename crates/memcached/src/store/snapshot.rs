//! The store seen item by item, for a warm restart (`-e`): read every live
//! item out ([`Store::each_live_item`]) and put items back with the CAS
//! they had ([`Store::restore_item`]).
//!
//! This is the whole interface the restart file needs from the store, and
//! it is logical on purpose: keys, values and header fields, never pages,
//! chunks or item ids. How items are laid out in memory can change without
//! the restart file noticing.

use super::assoc::HASH_POWER_START;
use super::page::Seg;
use super::{hash_key, AllocError, Lookup, RelTime, Shard, Store, NONE};

/// One item as the store holds it, borrowed for the duration of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemView<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Expiry (`RelTime`, 0 = never).
    pub exptime: RelTime,
    /// Last access (`RelTime`).
    pub time: RelTime,
    /// CAS unique (0 with CAS off).
    pub cas: u64,
    /// The public [`super::ItemState`] bits (fetched, active, stale, win
    /// token sent); never LINKED.
    pub state: u8,
}

/// The public state bits a restored item keeps.
const KEPT_STATE: u8 = super::ItemState::FETCHED
    | super::ItemState::ACTIVE
    | super::ItemState::STALE
    | super::ItemState::TOKEN_SENT;

impl Shard {
    /// Calls `f` with each live item of this shard (expired and flushed
    /// items are skipped, not unlinked), oldest first within each LRU:
    /// COLD, WARM, HOT then TEMP of each class, each from tail to head, so
    /// that putting them back in this order rebuilds a similar recency.
    /// Stops at the first error `f` returns. O(items); allocates only a
    /// scratch buffer that a chained item's value is gathered into.
    pub fn each_live_item<E>(
        &self,
        now: RelTime,
        mut f: impl FnMut(ItemView<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        let mut scratch = Vec::new();
        for cls in &self.classes {
            for seg in [Seg::COLD, Seg::WARM, Seg::HOT, Seg::TEMP] {
                let mut id = cls.lru[seg].tail;
                while id != NONE {
                    if self.dead(id, now).is_none() {
                        let m = self.meta(id);
                        let value = match self.value_flat(id) {
                            Some(v) => v,
                            None => {
                                scratch.clear();
                                self.value_parts(id)
                                    .for_each(|p| scratch.extend_from_slice(p));
                                &scratch[..]
                            }
                        };
                        f(ItemView {
                            key: self.key(id),
                            value,
                            flags: m.flags,
                            exptime: m.exptime,
                            time: m.time,
                            cas: m.cas,
                            state: m.state & KEPT_STATE,
                        })?;
                        n += 1;
                    }
                    id = self.lru_prev(id);
                }
            }
        }
        Ok(n)
    }

    /// Grows the hash index to at least `2^power` buckets (rehashing what
    /// it holds); never shrinks it.
    fn reserve_buckets(&mut self, power: u32) {
        let want = 1usize << power.min(30);
        if self.buckets.len() >= want {
            return;
        }
        let old = std::mem::replace(&mut self.buckets, vec![NONE; want]);
        for head in old {
            let mut id = head;
            while id != NONE {
                let next = self.get32(id, super::page::OFF_HNEXT);
                let hash = hash_key(self.key(id));
                self.assoc_insert(id, hash);
                id = next;
            }
        }
    }
}

impl Store {
    /// [`Shard::each_live_item`] over every shard, each locked in turn
    /// (so call it when nothing else writes, or accept a moving picture).
    /// Returns how many items `f` saw.
    pub fn each_live_item<E>(
        &self,
        now: RelTime,
        mut f: impl FnMut(ItemView<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        for s in &self.shards {
            let mut shard = s.lock().unwrap_or_else(|p| p.into_inner());
            shard.sync_flush(&self.flush);
            n += shard.each_live_item(now, &mut f)?;
        }
        Ok(n)
    }

    /// Stores `item` as it is: its CAS, flags, expiry, last access time and
    /// state bits are kept (an item with the same key is replaced). The CAS
    /// counter is not touched: see [`Store::resume_cas`].
    pub fn restore_item(&self, item: &ItemView<'_>, now: RelTime) -> Result<(), AllocError> {
        let hash = hash_key(item.key);
        let mut shard = self.shard(hash);
        let id = self.alloc(&mut shard, item.key, item.value.len(), now, NONE)?;
        shard.write_value(id, item.value);
        shard.set_flags(id, item.flags);
        shard.set_exptime(id, item.exptime);
        shard.set_time(id, item.time);
        shard.set_cas(id, item.cas);
        shard.set_state(id, item.state & KEPT_STATE, true);
        if let Lookup::Hit(old) = shard.find(item.key, hash, now, &self.flush) {
            shard.unlink(old);
        }
        shard.link(id, hash);
        Ok(())
    }

    /// Makes the next CAS handed out larger than `cas`.
    pub fn resume_cas(&self, cas: u64) {
        self.cas
            .fetch_max(cas, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sizes the hash index for `2^power` buckets in all (the original's
    /// `hashpower_init`, which its restart file carries): each shard gets
    /// its share, never less than it has.
    pub fn reserve_index(&self, power: u32) {
        let per_shard = power
            .saturating_sub(self.shards.len().trailing_zeros())
            .max(HASH_POWER_START);
        self.for_each_shard(|s| s.reserve_buckets(per_shard));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ItemState, StoreConfig};

    fn store() -> Store {
        Store::new(StoreConfig {
            mem_limit: 8 << 20,
            shards: 4,
            ..StoreConfig::default()
        })
    }

    fn item<'a>(key: &'a [u8], value: &'a [u8], cas: u64) -> ItemView<'a> {
        ItemView {
            key,
            value,
            flags: 7,
            exptime: 0,
            time: 5,
            cas,
            state: 0,
        }
    }

    /// key, value, flags, exptime, cas, state
    type Seen = (Vec<u8>, Vec<u8>, u32, RelTime, u64, u8);

    fn all(st: &Store, now: RelTime) -> Vec<Seen> {
        let mut v = Vec::new();
        st.each_live_item::<()>(now, |it| {
            v.push((
                it.key.to_vec(),
                it.value.to_vec(),
                it.flags,
                it.exptime,
                it.cas,
                it.state,
            ));
            Ok(())
        })
        .expect("no error");
        v.sort();
        v
    }

    #[test]
    fn restored_items_keep_every_field_and_skip_the_dead() {
        let a = store();
        let big = vec![b'x'; 700_000];
        a.restore_item(&item(b"k1", b"v1", 10), 10).expect("k1");
        a.restore_item(&item(b"large", &big, 11), 10)
            .expect("large");
        let mut short = item(b"short", b"gone", 12);
        short.exptime = 20;
        a.restore_item(&short, 10).expect("short");
        let mut stale = item(b"stale", b"s", 13);
        stale.state = ItemState::STALE | ItemState::FETCHED;
        a.restore_item(&stale, 10).expect("stale");
        let before = all(&a, 10);
        assert_eq!(before.len(), 4);
        let after_expiry = all(&a, 25);
        assert_eq!(after_expiry.len(), 3, "the expired item is not seen");

        let b = store();
        a.each_live_item::<AllocError>(25, |it| b.restore_item(&it, 25))
            .expect("copy");
        assert_eq!(all(&b, 25), after_expiry);
        let hash = hash_key(b"stale");
        let mut sh = b.shard(hash);
        let Lookup::Hit(id) = sh.find(b"stale", hash, 25, &b.flush) else {
            panic!("stale item missing");
        };
        assert_eq!(sh.meta(id).cas, 13);
        assert_eq!(sh.meta(id).time, 5);
        assert_eq!(
            sh.meta(id).state & (ItemState::STALE | ItemState::FETCHED),
            ItemState::STALE | ItemState::FETCHED
        );
    }

    #[test]
    fn the_walk_stops_at_the_first_error() {
        let a = store();
        for i in 0..10u64 {
            a.restore_item(&item(format!("k{i}").as_bytes(), b"v", i + 1), 1)
                .expect("store");
        }
        let mut seen = 0;
        let r = a.each_live_item(1, |_| {
            seen += 1;
            if seen == 3 {
                Err("full disk")
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("full disk"));
        assert_eq!(seen, 3);
    }

    #[test]
    fn flushed_items_are_not_seen() {
        let a = store();
        a.restore_item(&item(b"old", b"v", 5), 1).expect("old");
        a.flush
            .oldest_live
            .store(9, std::sync::atomic::Ordering::Relaxed);
        assert!(all(&a, 10).is_empty());
    }

    #[test]
    fn cas_resumes_above_and_the_index_keeps_its_size() {
        let a = store();
        a.resume_cas(41);
        assert_eq!(a.next_cas(), 42);
        a.resume_cas(3);
        assert_eq!(a.next_cas(), 43, "never goes back");
        let before = a.stats(0).hash_power_level;
        a.restore_item(&item(b"k", b"v", 1), 1).expect("k");
        a.reserve_index(before + 3);
        assert_eq!(a.stats(1).hash_power_level, before + 3);
        assert_eq!(all(&a, 1).len(), 1, "the rehash kept the item");
        a.reserve_index(before);
        assert_eq!(a.stats(1).hash_power_level, before + 3, "never shrinks");
    }
}
