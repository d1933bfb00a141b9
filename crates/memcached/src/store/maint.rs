//! The segmented LRU's moves (what the original's `lru_pull_tail` and its
//! LRU maintainer thread do): the tail pull of one segment, the
//! allocation's pull (evict from COLD, else push HOT down), and the
//! maintainer's pass over every class (reclaim TEMP, balance HOT and WARM
//! into COLD, rescue ACTIVE items from COLD into WARM).
//!
//! The rules, per segment, for the item at the tail (after expired or
//! flushed items there are reclaimed, at most [`TAIL_TRIES`] looked at):
//! - HOT: ACTIVE items flow to WARM; otherwise an item moves to COLD when
//!   HOT holds more than `hot_lru_pct` of the class's bytes or the item is
//!   older than `hot_max_factor` times COLD's tail age; else nothing moves.
//! - WARM: ACTIVE items go back to WARM's head (`moves_within_lru`);
//!   otherwise as HOT with `warm_lru_pct` and `warm_max_factor`.
//! - COLD: with eviction the tail is evicted; else an ACTIVE tail moves
//!   to WARM.
//! - TEMP: only expired items are taken.

use super::page::Seg;
use super::*;

/// Items a tail pull looks at (expired ones are reclaimed on the way).
const TAIL_TRIES: usize = 5;

/// How a tail pull treats what it finds ([`Shard::pull_seg`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Pull {
    /// The class's bytes the HOT/WARM limits are taken of (0 = push
    /// everything down).
    total: u64,
    /// Age beyond which a HOT/WARM item moves to COLD.
    max_age: RelTime,
    /// Evict COLD's tail.
    evict: bool,
    /// Never touched.
    protect: ItemId,
}

impl Pull {
    /// Reclaim expired items and move items down; no eviction.
    const MOVE: Pull = Pull {
        total: 0,
        max_age: 0,
        evict: false,
        protect: NONE,
    };
}

/// Attempts an allocation makes at freeing a chunk of its class.
const ALLOC_TRIES: usize = 10;

impl Shard {
    /// Whether class index `c` is run as a segmented LRU now.
    pub(super) fn segmented_class(&self, c: usize) -> bool {
        !self.flat && c < self.classes.len() && self.tuning.segmented.load(Ordering::Relaxed)
    }

    /// Pulls the tail of segment `seg` of class `c` by the rules in the
    /// module docs, as `how` says. Returns the items reclaimed, evicted or
    /// moved.
    pub(super) fn pull_seg(&mut self, c: usize, seg: usize, now: RelTime, how: Pull) -> usize {
        let Pull {
            total,
            max_age,
            evict,
            protect,
        } = how;
        let mut removed = 0;
        let mut id = self.classes[c].lru[seg].tail;
        for _ in 0..TAIL_TRIES {
            if id == NONE {
                break;
            }
            let prev = self.lru_prev(id);
            if id == protect {
                id = prev;
                continue;
            }
            if self.dead(id, now).is_some() {
                self.evict_item(c, id, now);
                removed += 1;
                id = prev;
                continue;
            }
            let st = self.state(id);
            let active = st & ItemState::ACTIVE != 0;
            match seg {
                Seg::HOT | Seg::WARM => {
                    if active {
                        self.set_state_raw(id, st & !ItemState::ACTIVE);
                        removed += 1;
                        if seg == Seg::WARM {
                            self.classes[c].moves_within_lru += 1;
                            self.lru_to_head(c, id);
                            id = prev;
                            continue;
                        }
                        self.classes[c].moves_to_warm += 1;
                        self.lru_move(c, id, Seg::WARM);
                        break;
                    }
                    let pct = if seg == Seg::HOT {
                        self.tuning.hot_pct.load(Ordering::Relaxed)
                    } else {
                        self.tuning.warm_pct.load(Ordering::Relaxed)
                    };
                    let limit = total.saturating_mul(u64::from(pct)) / 100;
                    let age = now.saturating_sub(self.get32(id, page::OFF_TIME));
                    if self.classes[c].lru[seg].bytes > limit || age > max_age {
                        self.classes[c].moves_to_cold += 1;
                        self.lru_move(c, id, Seg::COLD);
                        removed += 1;
                    }
                    break;
                }
                Seg::COLD => {
                    if evict {
                        self.evict_item(c, id, now);
                        removed += 1;
                    } else if active {
                        self.set_state_raw(id, st & !ItemState::ACTIVE);
                        self.classes[c].moves_to_warm += 1;
                        self.lru_move(c, id, Seg::WARM);
                        removed += 1;
                    }
                    break;
                }
                _ => break,
            }
        }
        removed
    }

    /// The allocation's pull for a segmented class `c` with no free chunk:
    /// up to [`ALLOC_TRIES`] times, free COLD's tail (evicting with
    /// `evict`), and when COLD gives nothing push HOT's tail down. True
    /// once a chunk was freed.
    pub(super) fn alloc_pull(
        &mut self,
        c: usize,
        now: RelTime,
        protect: ItemId,
        evict: bool,
    ) -> bool {
        for _ in 0..ALLOC_TRIES {
            let used = self.classes[c].used;
            let cold = Pull {
                evict,
                protect,
                ..Pull::MOVE
            };
            let hot = Pull {
                protect,
                ..Pull::MOVE
            };
            if self.pull_seg(c, Seg::COLD, now, cold) == 0
                && self.pull_seg(c, Seg::HOT, now, hot) == 0
            {
                break;
            }
            if self.classes[c].used < used {
                self.classes[c].direct_reclaims += 1;
                return true;
            }
        }
        false
    }

    /// The LRU maintainer's pass: with a flat LRU, frees expired and
    /// flushed items from the tail of each class (at most `limit` per
    /// class, counted as `reclaimed`); segmented, juggles each class
    /// ([`Shard::juggle`]). Returns how many items were freed or moved.
    pub fn maintain(&mut self, now: RelTime, flush: &FlushMarks, limit: usize) -> usize {
        self.sync_flush(flush);
        let mut did = 0;
        for c in 0..self.classes.len() {
            if self.classes[c].items() == 0 {
                continue;
            }
            if self.flat {
                for _ in 0..limit {
                    if !self.pull_tail(c, now, NONE, false) {
                        break;
                    }
                    did += 1;
                }
            } else {
                did += self.juggle(c, now, limit);
            }
        }
        did
    }

    /// One class's share of the maintainer's pass: reclaims expired TEMP
    /// items, then up to `limit` rounds of pulling HOT and WARM (sized
    /// against the class's HOT+WARM+COLD bytes, aged against COLD's tail)
    /// and COLD (ACTIVE tails back to WARM). In `lru mode flat` the
    /// limits and ages are 0, so HOT and WARM drain into COLD.
    fn juggle(&mut self, c: usize, now: RelTime, limit: usize) -> usize {
        let mut did = 0;
        let t = Arc::clone(&self.tuning);
        if t.temp_lru.load(Ordering::Relaxed) {
            for _ in 0..limit {
                if self.pull_seg(c, Seg::TEMP, now, Pull::MOVE) == 0 {
                    break;
                }
                did += 1;
            }
        }
        let segmented = t.segmented.load(Ordering::Relaxed);
        let (mut total, mut hot_age, mut warm_age) = (0, 0, 0);
        if segmented {
            let lru = &self.classes[c].lru;
            let cold_age = match lru[Seg::COLD].tail {
                NONE => 0,
                tail => now.saturating_sub(self.get32(tail, page::OFF_TIME)),
            };
            hot_age = scale(cold_age, t.hot_max_factor());
            warm_age = scale(cold_age, t.warm_max_factor());
            total = lru[Seg::HOT].bytes + lru[Seg::WARM].bytes + lru[Seg::COLD].bytes;
        }
        for _ in 0..limit {
            let hot = Pull {
                total,
                max_age: hot_age,
                ..Pull::MOVE
            };
            let warm = Pull {
                total,
                max_age: warm_age,
                ..Pull::MOVE
            };
            let mut more = self.pull_seg(c, Seg::HOT, now, hot) > 0
                || self.pull_seg(c, Seg::WARM, now, warm) > 0;
            if segmented {
                more |= self.pull_seg(c, Seg::COLD, now, Pull::MOVE) > 0;
            }
            if !more {
                break;
            }
            did += 1;
        }
        did
    }
}

/// `age * factor` in whole seconds.
fn scale(age: RelTime, factor: f64) -> RelTime {
    let v = f64::from(age) * factor;
    if v.is_finite() && v > 0.0 {
        v.min(f64::from(RelTime::MAX)) as RelTime
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One shard, `pages` 4 KB pages; 8-byte keys with 60-byte values are
    /// 106-byte records in the 120-byte class (index 1), 34 to a page.
    fn small(pages: usize, lru: LruConfig) -> Store {
        Store::new(StoreConfig {
            mem_limit: pages * 4096,
            page_size: 4096,
            slab_chunk_max: 2048,
            item_size_max: 64 * 1024,
            shards: 1,
            lru,
            ..StoreConfig::default()
        })
    }

    const V: usize = 60;
    const C: usize = 1;

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i:04}").into_bytes()
    }

    fn set(st: &Store, key: &[u8], exptime: RelTime, now: RelTime) {
        let h = hash_key(key);
        let mut s = st.shard(h);
        if let Lookup::Hit(old) = s.find(key, h, now, &st.flush) {
            s.unlink(old);
        }
        let id = st.alloc(&mut s, key, V, now, NONE).expect("memory");
        s.set_exptime(id, exptime);
        s.link(id, h);
    }

    fn get(st: &Store, key: &[u8], now: RelTime) -> bool {
        let h = hash_key(key);
        let mut s = st.shard(h);
        match s.find(key, h, now, &st.flush) {
            Lookup::Hit(id) => {
                s.fetched(id, now, 60);
                true
            }
            _ => false,
        }
    }

    fn segs(st: &Store) -> [u64; 4] {
        let s = st.shard(0);
        let l = &s.classes[C].lru;
        [l[0].len, l[1].len, l[2].len, l[3].len]
    }

    #[test]
    fn new_items_enter_hot_and_the_maintainer_moves_them_to_cold() {
        let st = small(2, LruConfig::default());
        for i in 0..10 {
            set(&st, &key(i), 0, 1);
        }
        assert_eq!(segs(&st), [10, 0, 0, 0]);
        st.maintain(1);
        // HOT keeps at most 20% of the class's bytes: 2 of 10.
        assert_eq!(segs(&st), [2, 0, 8, 0]);
        let stats = st.stats(1);
        assert_eq!(stats.moves_to_cold, 8);
        assert_eq!(stats.classes[0].number_seg, [2, 0, 8, 0]);
        assert_eq!(st.juggles.load(Ordering::Relaxed), 1);
        // The oldest items went first: key 0 is COLD's tail.
        let s = st.shard(0);
        let tail = s.classes[C].lru[Seg::COLD].tail;
        assert_eq!(s.key(tail), key(0).as_slice());
    }

    #[test]
    fn a_second_hit_in_cold_moves_to_warm_and_eviction_takes_cold() {
        let st = small(1, LruConfig::default());
        for i in 0..34 {
            set(&st, &key(i), 0, 1);
        }
        st.maintain(1);
        assert!(get(&st, &key(0), 2), "FETCHED");
        assert_eq!(segs(&st)[Seg::WARM], 0);
        assert!(get(&st, &key(0), 2), "ACTIVE in COLD: to WARM");
        assert_eq!(segs(&st)[Seg::WARM], 1);
        assert_eq!(st.stats(2).moves_to_warm, 1);
        // The page is full: new items evict COLD's tail, never key 0.
        for i in 34..60 {
            set(&st, &key(i), 0, 3);
        }
        let stats = st.stats(3);
        assert_eq!(stats.evictions, 26);
        assert!(get(&st, &key(0), 3), "the WARM item survives");
        assert!(!get(&st, &key(1), 3), "COLD's tail was evicted");
        assert!(stats.direct_reclaims > 0);
    }

    #[test]
    fn active_warm_items_stay_warm() {
        let st = small(2, LruConfig::default());
        for i in 0..10 {
            set(&st, &key(i), 0, 1);
        }
        st.maintain(1);
        for _ in 0..2 {
            assert!(get(&st, &key(0), 2));
        }
        assert_eq!(segs(&st)[Seg::WARM], 1);
        // Active again in WARM: the maintainer keeps it there.
        for _ in 0..2 {
            assert!(get(&st, &key(0), 3));
        }
        st.maintain(3);
        assert_eq!(segs(&st)[Seg::WARM], 1);
        assert_eq!(st.stats(3).moves_within_lru, 1);
    }

    #[test]
    fn short_ttl_items_live_in_temp_and_are_never_evicted() {
        let st = small(
            1,
            LruConfig {
                temp_lru: true,
                temporary_ttl: 61,
                ..LruConfig::default()
            },
        );
        set(&st, b"canary", 31, 1);
        assert_eq!(segs(&st), [0, 0, 0, 1]);
        for i in 0..60 {
            set(&st, &key(i), 3600, 2);
        }
        st.maintain(2);
        assert_eq!(segs(&st)[Seg::TEMP], 1);
        assert!(st.stats(2).evictions > 0);
        assert!(get(&st, b"canary", 2), "TEMP protected it");
        // Once expired the maintainer reclaims it.
        st.maintain(31);
        assert_eq!(segs(&st)[Seg::TEMP], 0);
        assert!(st.stats(31).reclaimed >= 1);
    }

    #[test]
    fn flat_mode_drains_hot_and_warm_into_cold() {
        let st = small(2, LruConfig::default());
        for i in 0..10 {
            set(&st, &key(i), 0, 1);
        }
        st.lru_tuning().segmented.store(false, Ordering::Relaxed);
        st.maintain(1);
        assert_eq!(segs(&st), [0, 0, 10, 0]);
        set(&st, b"new", 0, 2);
        assert_eq!(segs(&st), [0, 0, 11, 0], "flat: new items go to COLD");
    }

    #[test]
    fn expired_tail_items_are_reclaimed_by_the_maintainer() {
        let st = small(2, LruConfig::default());
        for i in 0..10 {
            set(&st, &key(i), 2, 1);
        }
        st.maintain(3);
        assert_eq!(segs(&st), [0, 0, 0, 0]);
        assert_eq!(st.stats(3).reclaimed, 10);
        st.for_each_shard(|s| s.check_invariants());
    }
}
