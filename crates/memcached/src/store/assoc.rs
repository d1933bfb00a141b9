//! The hash index of one shard (the original's `assoc.c`): a power-of-two
//! table of bucket heads, chained through each item's `h_next` header
//! field. The shard is picked by the low bits of the key hash, so buckets
//! use the high 32 bits. The table doubles when items exceed 1.5 per
//! bucket (an O(n) rehash at that moment).

use super::page::{rd32, OFF_HNEXT, OFF_NKEY};
use super::{hash_key, ItemId, Shard, HEADER, NONE};

/// Buckets per shard at start (2^12).
pub(super) const HASH_POWER_START: u32 = 12;
/// The table stops growing at 2^30 buckets per shard.
const HASH_POWER_MAX: u32 = 30;

impl Shard {
    fn bucket(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) & (self.buckets.len() - 1)
    }

    /// The linked item with this key, or `NONE`.
    pub(super) fn assoc_find(&self, key: &[u8], hash: u64) -> ItemId {
        let mut id = self.buckets[self.bucket(hash)];
        while id != NONE {
            let rec = self.rec(id);
            let nkey = usize::from(rec[OFF_NKEY]);
            if nkey == key.len() && &rec[HEADER..HEADER + nkey] == key {
                return id;
            }
            id = rd32(rec, OFF_HNEXT);
        }
        NONE
    }

    /// Puts `id` at the head of its bucket's chain.
    pub(super) fn assoc_insert(&mut self, id: ItemId, hash: u64) {
        let b = self.bucket(hash);
        let head = self.buckets[b];
        self.set32(id, OFF_HNEXT, head);
        self.buckets[b] = id;
    }

    /// Takes `id` out of its chain (the bucket comes from its key's hash).
    pub(super) fn assoc_delete(&mut self, id: ItemId) {
        let b = self.bucket(hash_key(self.key(id)));
        let next = self.get32(id, OFF_HNEXT);
        if self.buckets[b] == id {
            self.buckets[b] = next;
        } else {
            let mut cur = self.buckets[b];
            while cur != NONE {
                let after = self.get32(cur, OFF_HNEXT);
                if after == id {
                    self.set32(cur, OFF_HNEXT, next);
                    break;
                }
                cur = after;
            }
            debug_assert!(
                cur != NONE,
                "invariant: a linked item is in its bucket's chain"
            );
        }
        self.set32(id, OFF_HNEXT, NONE);
    }

    /// Doubles the table once items exceed 1.5 per bucket.
    pub(super) fn assoc_maybe_grow(&mut self) {
        let n = self.buckets.len();
        if self.curr_items <= (n as u64) * 3 / 2 || n >= 1 << HASH_POWER_MAX {
            return;
        }
        let old = std::mem::replace(&mut self.buckets, vec![NONE; n * 2]);
        for head in old {
            let mut id = head;
            while id != NONE {
                let next = self.get32(id, OFF_HNEXT);
                let hash = hash_key(self.key(id));
                self.assoc_insert(id, hash);
                id = next;
            }
        }
    }

    /// Calls `f` with each item of one bucket of the hash table, picked by
    /// `cursor` (start at 0), and returns the cursor of the next bucket, 0
    /// once the whole table has been seen. The cursor counts with its bits
    /// reversed, so a table that doubles between two calls is still seen
    /// bucket by bucket: an item linked all along is met exactly once
    /// (`lru_crawler metadump`, one batch per lock hold).
    pub fn scan_bucket(&self, cursor: u64, mut f: impl FnMut(ItemId)) -> u64 {
        let mask = (self.buckets.len() - 1) as u64;
        let mut id = self.buckets[(cursor & mask) as usize];
        while id != NONE {
            f(id);
            id = self.get32(id, OFF_HNEXT);
        }
        // Set the bits above the mask, so that adding one in reversed
        // order carries into the mask's top bit first.
        (cursor | !mask)
            .reverse_bits()
            .wrapping_add(1)
            .reverse_bits()
    }

    /// log2 of the table size.
    pub(super) fn hash_power(&self) -> u32 {
        self.buckets.len().trailing_zeros()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{hash_key, Lookup, Store, StoreConfig, NONE};

    #[test]
    fn a_scan_meets_each_item_once_even_when_the_table_doubles() {
        let st = Store::new(StoreConfig {
            shards: 1,
            ..StoreConfig::default()
        });
        let set = |k: &str| {
            let h = hash_key(k.as_bytes());
            let mut s = st.shard(h);
            let id = st.alloc(&mut s, k.as_bytes(), 1, 1, NONE).expect("memory");
            s.write_value(id, b"v");
            s.link(id, h);
        };
        let first = 6000;
        for i in 0..first {
            set(&format!("k{i}"));
        }
        let power = st.shard(0).hash_power();
        let mut seen = std::collections::HashMap::new();
        let mut cursor = 0u64;
        let mut steps = 0u64;
        let mut grown = 0;
        loop {
            cursor = {
                let s = st.shard(0);
                s.scan_bucket(cursor, |id| {
                    *seen.entry(s.key(id).to_vec()).or_insert(0u32) += 1;
                })
            };
            steps += 1;
            // Grow the table mid-scan (twice), with items of its own.
            if steps == 1000 || steps == 5000 {
                for i in 0..(first + 4000 * (grown + 1)) {
                    set(&format!("n{grown}_{i}"));
                }
                grown += 1;
            }
            if cursor == 0 || steps > 1 << 20 {
                break;
            }
        }
        assert_eq!(cursor, 0, "the scan ends");
        assert!(st.shard(0).hash_power() > power + 1, "the table grew");
        for i in 0..first {
            assert_eq!(seen.get(format!("k{i}").as_bytes()), Some(&1), "k{i}");
        }
        assert!(seen.values().all(|n| *n == 1), "no item twice");
    }

    #[test]
    fn grows_and_keeps_every_key() {
        let store = Store::new(StoreConfig {
            shards: 1,
            ..StoreConfig::default()
        });
        let mut s = store.shard(0);
        assert_eq!(s.hash_power(), super::HASH_POWER_START);
        let n = 20_000u32;
        for i in 0..n {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            let id = s.alloc(k.as_bytes(), 4, 1, NONE).expect("memory");
            s.link(id, h);
        }
        // 20,000 > 1.5 * 8192 but <= 1.5 * 16384.
        assert_eq!(s.hash_power(), 14);
        for i in 0..n {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            assert!(
                matches!(s.find(k.as_bytes(), h, 1, &store.flush), Lookup::Hit(_)),
                "{k}"
            );
        }
        // Delete every other key and check the chains are still intact.
        for i in (0..n).step_by(2) {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            let Lookup::Hit(id) = s.find(k.as_bytes(), h, 1, &store.flush) else {
                panic!("{k}")
            };
            s.unlink(id);
        }
        for i in 0..n {
            let k = format!("k{i}");
            let h = hash_key(k.as_bytes());
            let hit = matches!(s.find(k.as_bytes(), h, 1, &store.flush), Lookup::Hit(_));
            assert_eq!(hit, i % 2 == 1, "{k}");
        }
    }
}
