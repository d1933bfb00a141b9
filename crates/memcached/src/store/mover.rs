//! The slab page mover (the original's `slabs reassign` and its
//! rebalancer): one page of a class is emptied, each live item on it
//! rescued into a free chunk of the same class on another page (or, when
//! the class has none, dropped: `slab_reassign_evictions_nomem`), expired
//! ones reclaimed, and the page is then cut for another class or given
//! back to the global page pool (class 0). A value chunk of a chained
//! item is rescued the same way, its neighbours in the chain repointed
//! (`slab_reassign_chunk_rescues`); when there is no free chunk for it,
//! its whole item is dropped, and that item's other chunks become free
//! chunks the next rescues can use.
//!
//! Pages belong to shards, so a move works inside the shard whose pages
//! of the source class have the most free chunks; the class's page count across the store
//! decides whether it has a page to spare. The move runs to completion
//! under that shard's lock (one page, at most 16,384 chunks), so the
//! original's BUSY reply, which means "a move is still under way", is
//! never needed, and no item can be in use by a reader meanwhile (readers
//! copy values out under the same lock).

use super::page::{chunk_of, page_id, page_of, Seg, OFF_NEXT, OFF_PREV};
use super::*;

/// What `slabs reassign` answered (the original's `reassign_result_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reassign {
    /// Moved.
    Ok,
    /// A class id out of range.
    BadClass,
    /// The source class holds fewer than two pages.
    NoSpare,
    /// Source and destination are the same class.
    Same,
}

impl Reassign {
    /// The original's reply line.
    pub fn reply(self) -> &'static [u8] {
        match self {
            Reassign::Ok => b"OK\r\n",
            Reassign::BadClass => b"BADCLASS invalid src or dst class id\r\n",
            Reassign::NoSpare => b"NOSPARE source class has no spare pages\r\n",
            Reassign::Same => b"SAME src and dst class are identical\r\n",
        }
    }
}

/// The page mover's counters (the original's `slab_reassign_*` and
/// `slabs_moved` stats).
#[derive(Debug, Default)]
pub struct MoverStats {
    /// Pages moved.
    pub slabs_moved: AtomicU64,
    /// Items copied into another chunk of their class.
    pub rescues: AtomicU64,
    /// Value chunks of chained items copied into another chunk.
    pub chunk_rescues: AtomicU64,
    /// Items dropped because their class had no free chunk elsewhere.
    pub evictions_nomem: AtomicU64,
    /// Expired or flushed items found on a moved page.
    pub inline_reclaim: AtomicU64,
    /// Moves given up because an item on the page was in use.
    pub busy_items: AtomicU64,
    /// Moves under way now (`slab_reassign_running` is this above 0).
    pub running: AtomicU32,
}

impl MoverStats {
    /// Zeroes the counts (`stats reset`), leaving `running`.
    pub(super) fn reset(&self) {
        for n in [
            &self.slabs_moved,
            &self.rescues,
            &self.chunk_rescues,
            &self.evictions_nomem,
            &self.inline_reclaim,
            &self.busy_items,
        ] {
            n.store(0, Ordering::Relaxed);
        }
    }
}

/// What one page move did.
#[derive(Debug, Default, Clone, Copy)]
struct Moved {
    rescues: u64,
    chunk_rescues: u64,
    nomem: u64,
    reclaimed: u64,
}

impl Shard {
    /// A free chunk of class `c` on a page other than `avoid`, from the
    /// free list or the uncarved rest of the class's current page (free
    /// chunks of `avoid` met on the way leave the free list: that page is
    /// being emptied, and is no longer the current page).
    fn take_chunk_off(&mut self, c: usize, avoid: usize) -> Option<ItemId> {
        debug_assert_ne!(self.classes[c].cur_page, avoid as u32);
        while let Some(&id) = self.classes[c].free.last() {
            if page_of(id) != avoid {
                break;
            }
            self.classes[c].free.pop();
        }
        self.take_chunk(c)
    }

    /// Copies linked item `old` into unlinked chunk `new` of the same class
    /// and puts `new` in its place: same hash chain, same LRU segment and
    /// position. `old`'s chunk is freed.
    fn relocate(&mut self, c: usize, old: ItemId, new: ItemId) {
        let hash = hash_key(self.key(old));
        self.assoc_delete(old);
        self.copy_chunk(old, new);
        self.assoc_insert(new, hash);
        self.repoint_chain(new);
        let seg = Seg::of(self.state(new));
        let prev = self.lru_prev(new);
        let next = self.lru_next(new);
        if prev == NONE {
            self.classes[c].lru[seg].head = new;
        } else {
            self.set32(prev, page::OFF_NEXT, new);
        }
        if next == NONE {
            self.classes[c].lru[seg].tail = new;
        } else {
            self.set32(next, page::OFF_PREV, new);
        }
        if self.classes[c].crawl_at[seg] == old {
            self.classes[c].crawl_at[seg] = new;
        }
        let st = self.state(old);
        self.set_state_raw(old, st & !ItemState::LINKED);
        self.free_chunk(old);
    }

    /// Copies chunk `old` over chunk `new` (same size, different pages).
    fn copy_chunk(&mut self, old: ItemId, new: ItemId) {
        let (po, pn) = (page_of(old), page_of(new));
        debug_assert_ne!(po, pn, "invariant: a rescue leaves the page");
        let cs = self.pages[po].chunk_size as usize;
        let (so, sn) = (chunk_of(old) as usize * cs, chunk_of(new) as usize * cs);
        let (a, b) = if po < pn {
            let (lo, hi) = self.pages.split_at_mut(pn);
            (&lo[po], &mut hi[0])
        } else {
            let (lo, hi) = self.pages.split_at_mut(po);
            (&hi[0], &mut lo[pn])
        };
        b.data[sn..sn + cs].copy_from_slice(&a.data[so..so + cs]);
    }

    /// Copies value chunk `old` into free chunk `new` of the same class and
    /// puts `new` in its place in the chain; frees `old`.
    fn relocate_chunk(&mut self, old: ItemId, new: ItemId) {
        self.copy_chunk(old, new);
        let prev = self.get32(new, OFF_PREV);
        let next = self.get32(new, OFF_NEXT);
        self.set_chain_next(prev, new);
        if next != NONE {
            self.set32(next, OFF_PREV, new);
        }
        self.free_chunk(old);
    }

    /// The page of chunk class `c` with the fewest chunks in use; not the
    /// page being carved while it holds items and another page exists
    /// (its uncarved chunks are where the other page's items are rescued
    /// to, as the original's mover takes the class's first page, not its
    /// newest).
    fn emptiest_page(&self, c: usize) -> Option<usize> {
        let id = self.classes[c].info.id;
        let cur = self.classes[c].cur_page;
        let avoid_cur =
            self.classes[c].pages > 1 && cur != NONE && self.pages[cur as usize].used > 0;
        (0..self.pages.len())
            .filter(|&p| self.pages[p].class == id && !(avoid_cur && p == cur as usize))
            .min_by_key(|&p| self.pages[p].used)
    }

    /// Empties one page of class `src` (the emptiest) and gives it to
    /// class `dst` or, with `None`, back to the pool. `None` when the shard
    /// holds no page of `src` or an item on it is in use.
    fn move_page(&mut self, src: usize, dst: Option<usize>, now: RelTime) -> Option<Moved> {
        let p = self.emptiest_page(src)?;
        let limit = self.carved_on(p);
        // An allocated item not yet linked is in use: leave the page.
        for ch in 0..limit {
            let item = self.owner(page_id(p, ch));
            if item != NONE && self.state(item) & ItemState::LINKED == 0 {
                return None;
            }
        }
        let cls = &mut self.classes[src];
        cls.free.retain(|&id| page_of(id) != p);
        if cls.cur_page == p as u32 {
            cls.cur_page = NONE;
            cls.carved = 0;
        }
        let mut moved = Moved::default();
        for ch in 0..limit {
            let id = page_id(p, ch);
            let item = self.owner(id);
            if item == NONE {
                continue;
            }
            if self.dead(item, now).is_some() {
                moved.reclaimed += 1;
                self.unlink(item);
            } else if let Some(new) = self.take_chunk_off(src, p) {
                if item == id {
                    moved.rescues += 1;
                    self.relocate(src, id, new);
                } else {
                    moved.chunk_rescues += 1;
                    self.relocate_chunk(id, new);
                }
            } else {
                // Dropping a chained item frees its chunks elsewhere too.
                moved.nomem += 1;
                self.unlink(item);
            }
        }
        self.detach_page(p);
        match dst {
            Some(d) => self.attach_page(p, d),
            None => self.release_slot(p),
        }
        Some(moved)
    }
}

impl Store {
    /// `slabs reassign <src> <dst>`: moves one page from class `src` to
    /// class `dst` (class ids as `stats slabs` shows them; 0 is the global
    /// page pool; `src` -1 picks a class with a page to spare). Checks
    /// and replies as the original.
    pub fn reassign(&self, src: i64, dst: i64, now: RelTime) -> Reassign {
        if src == dst {
            return Reassign::Same;
        }
        let n = self.classes.len() as i64;
        let src = if src == -1 { self.pick_any(dst) } else { src };
        if !(0..=n).contains(&src) || !(0..=n).contains(&dst) {
            return Reassign::BadClass;
        }
        let dst_idx = (dst > 0).then(|| (dst - 1) as usize);
        if src == 0 {
            // From the pool: a page not yet handed out.
            let Some(d) = dst_idx else {
                return Reassign::Same;
            };
            if self.pool.free.load(Ordering::Acquire) < 2 || !self.pool.take(1) {
                return Reassign::NoSpare;
            }
            self.shards[0]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add_page(d);
            self.mover.slabs_moved.fetch_add(1, Ordering::Relaxed);
            return Reassign::Ok;
        }
        let s = (src - 1) as usize;
        if self.pool.class_total(s) < 2 {
            return Reassign::NoSpare;
        }
        // The shard whose pages of the class have the most free chunks
        // (its items are the likeliest to be rescued), then the most pages.
        let mut best: Option<(usize, (u64, u64))> = None;
        for (i, m) in self.shards.iter().enumerate() {
            let g = m.lock().unwrap_or_else(|p| p.into_inner());
            let cls = &g.classes[s];
            let score = (cls.free_chunks(), cls.pages);
            if cls.pages > 0 && best.is_none_or(|(_, b)| score > b) {
                best = Some((i, score));
            }
        }
        let Some((i, _)) = best else {
            return Reassign::NoSpare;
        };
        let mut shard = self.shards[i].lock().unwrap_or_else(|p| p.into_inner());
        shard.sync_flush(&self.flush);
        self.mover.running.fetch_add(1, Ordering::AcqRel);
        let moved = shard.move_page(s, dst_idx, now);
        self.mover.running.fetch_sub(1, Ordering::AcqRel);
        match moved {
            Some(m) => {
                let st = &self.mover;
                st.slabs_moved.fetch_add(1, Ordering::Relaxed);
                st.rescues.fetch_add(m.rescues, Ordering::Relaxed);
                st.chunk_rescues
                    .fetch_add(m.chunk_rescues, Ordering::Relaxed);
                st.evictions_nomem.fetch_add(m.nomem, Ordering::Relaxed);
                st.inline_reclaim.fetch_add(m.reclaimed, Ordering::Relaxed);
            }
            None => {
                self.mover.busy_items.fetch_add(1, Ordering::Relaxed);
            }
        }
        Reassign::Ok
    }

    /// A class other than `dst` with more than one page, round robin from
    /// the last pick (-1 when none).
    fn pick_any(&self, dst: i64) -> i64 {
        let n = self.classes.len();
        for _ in 0..n {
            let cur = self.pick_next.fetch_add(1, Ordering::Relaxed) % n;
            if cur as i64 + 1 != dst && self.pool.class_total(cur) > 1 {
                return cur as i64 + 1;
            }
        }
        -1
    }

    /// The page mover's counters.
    pub fn mover_stats(&self) -> &MoverStats {
        &self.mover
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One shard of `pages` 4 KB pages; 8-byte keys with 60-byte values
    /// go to class 2 (120 B, 34 to a page).
    fn small(pages: usize) -> Store {
        Store::new(StoreConfig {
            mem_limit: pages * 4096,
            page_size: 4096,
            slab_chunk_max: 2048,
            item_size_max: 64 * 1024,
            shards: 1,
            ..StoreConfig::default()
        })
    }

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i:04}").into_bytes()
    }

    fn set(st: &Store, i: usize) {
        let k = key(i);
        let h = hash_key(&k);
        let mut s = st.shard(h);
        let id = st.alloc(&mut s, &k, 60, 1, NONE).expect("memory");
        s.fill_value(id, i as u8);
        s.link(id, h);
    }

    fn value(st: &Store, i: usize) -> Option<Vec<u8>> {
        let k = key(i);
        let h = hash_key(&k);
        let mut s = st.shard(h);
        match s.find(&k, h, 1, &st.flush) {
            Lookup::Hit(id) => Some(s.value_vec(id)),
            _ => None,
        }
    }

    fn delete(st: &Store, i: usize) {
        let k = key(i);
        let h = hash_key(&k);
        let mut s = st.shard(h);
        if let Lookup::Hit(id) = s.find(&k, h, 1, &st.flush) {
            s.unlink(id);
        }
    }

    fn pages(st: &Store, class: u8) -> u64 {
        st.stats(1)
            .classes
            .iter()
            .find(|c| c.id == class)
            .map_or(0, |c| c.total_pages)
    }

    #[test]
    fn items_on_a_moved_page_are_rescued_into_free_chunks() {
        let st = small(4);
        for i in 0..68 {
            set(&st, i);
        }
        for i in (0..68).step_by(2) {
            delete(&st, i);
        }
        assert_eq!(pages(&st, 2), 2);
        assert_eq!(st.reassign(2, 0, 1), Reassign::Ok);
        let m = st.mover_stats();
        assert_eq!(m.slabs_moved.load(Ordering::Relaxed), 1);
        assert_eq!(m.rescues.load(Ordering::Relaxed), 17);
        assert_eq!(m.evictions_nomem.load(Ordering::Relaxed), 0);
        assert_eq!(pages(&st, 2), 1);
        let stats = st.stats(1);
        assert_eq!(stats.pages_returned, 1);
        assert_eq!(stats.total_malloced, 2 * 4096, "pool pages stay malloced");
        // `stats reset` zeroes the mover's counts, as the original's.
        st.reset_stats();
        assert_eq!(m.slabs_moved.load(Ordering::Relaxed), 0);
        assert_eq!(m.rescues.load(Ordering::Relaxed), 0);
        for i in 0..68 {
            let want = (i % 2 == 1).then(|| vec![i as u8; 60]);
            assert_eq!(value(&st, i), want, "key {i}");
        }
        st.for_each_shard(|s| s.check_invariants());
        // The class is down to its last page.
        assert_eq!(st.reassign(2, 0, 1), Reassign::NoSpare);
        // The class's page is full: the pool's page is reused, and
        // total_malloced does not grow.
        set(&st, 1000);
        let stats = st.stats(1);
        assert_eq!(stats.pages_returned, 0);
        assert_eq!(stats.total_malloced, 2 * 4096);
    }

    #[test]
    fn a_full_class_drops_items_and_the_page_goes_to_the_destination() {
        let st = small(4);
        for i in 0..68 {
            set(&st, i);
        }
        assert_eq!(st.reassign(2, 5, 1), Reassign::Ok);
        let m = st.mover_stats();
        assert_eq!(m.evictions_nomem.load(Ordering::Relaxed), 34);
        assert_eq!(m.rescues.load(Ordering::Relaxed), 0);
        assert_eq!((pages(&st, 2), pages(&st, 5)), (1, 1));
        assert_eq!(st.stats(1).curr_items, 34);
        st.for_each_shard(|s| s.check_invariants());
    }

    fn set_value(st: &Store, i: usize, v: &[u8]) {
        let k = key(i);
        let h = hash_key(&k);
        let mut s = st.shard(h);
        let id = st.alloc(&mut s, &k, v.len(), 1, NONE).expect("memory");
        s.write_value(id, v);
        s.link(id, h);
    }

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn value_chunks_on_a_moved_page_are_rescued() {
        let st = small(8);
        let l = st.classes().len();
        // 1,500-byte values fill one 2 KB chunk; a 5,508-byte value is a
        // head (1,998 bytes) and two value chunks (2,010 and 1,500), all
        // of the 2 KB class, two to a page.
        let plain = |i: usize| bytes(1500, i as u8);
        let chained = bytes(1998 + 2010 + 1500, 99);
        set_value(&st, 0, &plain(0));
        set_value(&st, 1, &plain(1)); // page 0
        set_value(&st, 2, &chained); // head + chunk on page 1, chunk on page 2
        set_value(&st, 3, &plain(3)); // page 2
        set_value(&st, 4, &plain(4)); // page 3, one chunk left uncarved
        delete(&st, 3);
        // Page 2 is the emptiest: its value chunk moves to page 3.
        assert_eq!(st.reassign(l as i64, 0, 1), Reassign::Ok);
        let m = st.mover_stats();
        assert_eq!(m.chunk_rescues.load(Ordering::Relaxed), 1);
        assert_eq!(m.rescues.load(Ordering::Relaxed), 0);
        assert_eq!(m.evictions_nomem.load(Ordering::Relaxed), 0);
        assert_eq!(pages(&st, l as u8), 3);
        st.for_each_shard(|s| s.check_invariants());
        assert_eq!(value(&st, 2), Some(chained.clone()));
        for i in [0, 1, 4] {
            assert_eq!(value(&st, i), Some(plain(i)), "key {i}");
        }
        // No free chunk left: moving page 0 drops its two items; then the
        // chained item's head page goes, and with it the whole chain.
        assert_eq!(st.reassign(l as i64, 0, 1), Reassign::Ok);
        assert_eq!(st.reassign(l as i64, 0, 1), Reassign::Ok);
        assert!(m.evictions_nomem.load(Ordering::Relaxed) >= 2);
        st.for_each_shard(|s| s.check_invariants());
        assert_eq!(pages(&st, l as u8), 1);
    }

    #[test]
    fn refusals() {
        let st = small(4);
        set(&st, 0);
        assert_eq!(st.reassign(3, 3, 1), Reassign::Same);
        assert_eq!(st.reassign(99, 1, 1), Reassign::BadClass);
        assert_eq!(st.reassign(2, -5, 1), Reassign::BadClass);
        assert_eq!(st.reassign(2, 1, 1), Reassign::NoSpare);
        assert_eq!(st.reassign(-1, 1, 1), Reassign::BadClass, "none to spare");
        assert_eq!(st.reassign(0, 0, 1), Reassign::Same);
        // From the pool: a page not yet handed out goes to class 4.
        assert_eq!(st.reassign(0, 4, 1), Reassign::Ok);
        assert_eq!(pages(&st, 4), 1);
    }
}
