//! Allocation (the original's `slabs.c` plus the eviction half of
//! `items.c`): chunks from free lists and carved pages, pages from the
//! global pool, the LRU tail pull (reclaim, second chance, evict), page
//! moves between classes, page release to the pool, and chained items
//! (their value chunks: see `page`).

use super::page::{
    page_id, page_of, wr32, wr64, Page, Seg, CHAIN_PTR, CHUNK_MARK, FREE_MARK, MAX_PAGES, OFF_CAS,
    OFF_CHUNK_HEAD, OFF_EXPTIME, OFF_FLAGS, OFF_HNEXT, OFF_NBYTES, OFF_NEXT, OFF_NKEY, OFF_PREV,
    OFF_STATE, OFF_TIME,
};
use super::*;

/// Items the tail pull looks at before giving up (it walks past the
/// protected item and the ACTIVE ones it gives a second chance).
const TAIL_SEARCH: usize = 50;

impl Shard {
    /// Header + key + value, or `TooLarge` (also when a chained item's
    /// head chunk could not hold its key and a value byte).
    pub(super) fn record_size(&self, nkey: usize, nbytes: usize) -> Result<usize, AllocError> {
        if nkey > KEY_MAX || nbytes > u32::MAX as usize {
            return Err(AllocError::TooLarge);
        }
        let size = HEADER + nkey + nbytes;
        if size > self.item_size_max
            || (size > self.max_chunk && HEADER + nkey + CHAIN_PTR >= self.max_chunk)
        {
            return Err(AllocError::TooLarge);
        }
        Ok(size)
    }

    /// Index into `classes` for a record of `size` bytes (the largest
    /// class for a chained item's head).
    pub(super) fn class_for(&self, size: usize) -> usize {
        self.sizes
            .partition_point(|&s| (s as usize) < size)
            .min(self.classes.len() - 1)
    }

    /// Whether a record of `nkey` + `nbytes` goes to a chunk class that
    /// holds pages in other shards but none here.
    pub(super) fn lacks_a_page_of_a_started_class(&self, nkey: usize, nbytes: usize) -> bool {
        let Ok(size) = self.record_size(nkey, nbytes) else {
            return false;
        };
        let c = self.class_for(size);
        self.classes[c].pages == 0 && self.pool.class_total(c) > 0
    }

    /// Pages a record of `size` bytes may need (more than one only for a
    /// chained item bigger than a page).
    pub(super) fn pages_for(&self, size: usize) -> usize {
        size.div_ceil(self.page_size).max(1)
    }

    pub(super) fn count_oom(&mut self, nkey: usize, nbytes: usize) {
        if let Ok(size) = self.record_size(nkey, nbytes) {
            let c = self.class_for(size);
            self.classes[c].outofmemory += 1;
        }
    }

    /// [`Shard::alloc`] without counting `outofmemory`.
    pub(super) fn alloc_inner(
        &mut self,
        key: &[u8],
        nbytes: usize,
        now: RelTime,
        protect: ItemId,
    ) -> Result<ItemId, AllocError> {
        let size = self.record_size(key.len(), nbytes)?;
        let c = self.class_for(size);
        // A chained item may take a class's last page, as the original's
        // chunks of a large item may.
        let keep_last = size <= self.max_chunk;
        if self.pages_for(size) > self.pool.total {
            // More than the whole budget: evict nothing for it.
            return Err(AllocError::OutOfMemory);
        }
        let id = self
            .alloc_chunk(c, now, protect, keep_last)
            .ok_or(AllocError::OutOfMemory)?;
        let rec = self.rec_mut(id);
        wr32(rec, OFF_HNEXT, NONE);
        wr32(rec, OFF_PREV, NONE);
        wr32(rec, OFF_NEXT, NONE);
        wr64(rec, OFF_CAS, 0);
        wr32(rec, OFF_EXPTIME, 0);
        wr32(rec, OFF_TIME, now);
        wr32(rec, OFF_NBYTES, nbytes as u32);
        wr32(rec, OFF_FLAGS, 0);
        rec[OFF_NKEY] = key.len() as u8;
        rec[OFF_STATE] = 0;
        rec[HEADER..HEADER + key.len()].copy_from_slice(key);
        if size > rec.len() {
            let end = rec.len();
            wr32(rec, end - CHAIN_PTR, NONE);
            let in_head = end - CHAIN_PTR - HEADER - key.len();
            if !self.alloc_chain(id, nbytes - in_head, now, protect) {
                self.free(id);
                return Err(AllocError::OutOfMemory);
            }
        }
        Ok(id)
    }

    /// Hangs value chunks for `rest` bytes off head `head` (unlinked, its
    /// chain empty): chunks of the largest class, the last one of the
    /// smallest class it fits (the largest when that class has no memory).
    /// False when memory ran out (the chunks taken so far stay on the
    /// chain, for [`Shard::free`]).
    fn alloc_chain(
        &mut self,
        head: ItemId,
        mut rest: usize,
        now: RelTime,
        protect: ItemId,
    ) -> bool {
        let l = self.classes.len() - 1;
        let mut prev = head;
        while rest > 0 {
            let want = HEADER + rest;
            let c = if want > self.max_chunk {
                l
            } else {
                self.class_for(want)
            };
            // A smaller class only gives what it has: as the original,
            // a chunk of the largest class rather than a page moved.
            let small = if c == l {
                None
            } else {
                self.alloc_chunk_in(c, now, protect)
            };
            let Some(ch) = small.or_else(|| self.alloc_chunk(l, now, protect, false)) else {
                return false;
            };
            let rec = self.rec_mut(ch);
            let used = rest.min(rec.len() - HEADER);
            wr32(rec, OFF_CHUNK_HEAD, head);
            wr32(rec, OFF_PREV, prev);
            wr32(rec, OFF_NEXT, NONE);
            wr32(rec, OFF_NBYTES, used as u32);
            rec[OFF_STATE] = CHUNK_MARK;
            self.set_chain_next(prev, ch);
            prev = ch;
            rest -= used;
        }
        true
    }

    /// A chunk of class `c`, by the documented order (`keep_last`: see
    /// [`Shard::release_page_with`]).
    fn alloc_chunk(
        &mut self,
        c: usize,
        now: RelTime,
        protect: ItemId,
        keep_last: bool,
    ) -> Option<ItemId> {
        self.alloc_chunk_in(c, now, protect).or_else(|| {
            self.move_page_to(c, now, protect, keep_last)
                .then(|| self.take_chunk(c))?
        })
    }

    /// [`Shard::alloc_chunk`] short of taking a page from another class: a
    /// free chunk, a page from the pool, or what the class's own LRU frees.
    fn alloc_chunk_in(&mut self, c: usize, now: RelTime, protect: ItemId) -> Option<ItemId> {
        if let Some(id) = self.take_chunk(c) {
            return Some(id);
        }
        if self.new_page(c) {
            return self.take_chunk(c);
        }
        let pulled = if self.segmented_class(c) {
            self.alloc_pull(c, now, protect, self.evict)
        } else {
            self.pull_tail(c, now, protect, self.evict)
        };
        if pulled {
            return self.take_chunk(c);
        }
        None
    }

    /// A free chunk of class `c`, or the next uncarved one of its page.
    pub(super) fn take_chunk(&mut self, c: usize) -> Option<ItemId> {
        let cls = &mut self.classes[c];
        let id = match cls.free.pop() {
            Some(id) => id,
            None if cls.cur_page != NONE && cls.carved < cls.info.per_page => {
                cls.carved += 1;
                page_id(cls.cur_page as usize, cls.carved - 1)
            }
            None => return None,
        };
        cls.used += 1;
        let pg = &mut self.pages[page_of(id)];
        if pg.used == 0 {
            self.empty_pages -= 1;
        }
        pg.used += 1;
        Some(id)
    }

    /// Puts a chunk back on its class's free list.
    pub(super) fn free_chunk(&mut self, id: ItemId) {
        self.set_state_raw(id, FREE_MARK);
        let c = self.class_idx(id);
        let pg = &mut self.pages[page_of(id)];
        pg.used -= 1;
        if pg.used == 0 {
            self.empty_pages += 1;
        }
        let cls = &mut self.classes[c];
        cls.used -= 1;
        cls.free.push(id);
    }

    /// Takes a page from the pool for class `c` (the class's first page in
    /// the store even over the limit).
    fn new_page(&mut self, c: usize) -> bool {
        if self.free_slots.is_empty() && self.pages.len() >= MAX_PAGES {
            return false;
        }
        if !self.pool.take_for_class(c) {
            return false;
        }
        self.add_page(c);
        true
    }

    /// Puts a fresh page (already paid for) into a slot for class `c`.
    pub(super) fn add_page(&mut self, c: usize) {
        let data = vec![0u8; self.page_size].into_boxed_slice();
        let p = match self.free_slots.pop() {
            Some(p) => {
                self.pages[p as usize].data = data;
                p as usize
            }
            None => {
                self.pages.push(Page {
                    data,
                    class: 0,
                    chunk_size: 0,
                    used: 0,
                });
                self.pages.len() - 1
            }
        };
        self.attach_page(p, c);
    }

    /// Whether a page of class `c` may be taken from it: never the
    /// class's last page in the store.
    fn spare_page(&self, c: usize, keep_last: bool) -> bool {
        !keep_last || self.pool.class_total(c) > 1
    }

    /// Cuts page `p` (unowned, no chunk in use) for class `c` and makes it
    /// the class's page being carved.
    pub(super) fn attach_page(&mut self, p: usize, c: usize) {
        let info = self.classes[c].info;
        let pg = &mut self.pages[p];
        pg.class = info.id;
        pg.chunk_size = info.chunk_size;
        pg.used = 0;
        self.empty_pages += 1;
        if let Some(n) = self.pool.class_pages.get(c) {
            n.fetch_add(1, Ordering::AcqRel);
        }
        let cls = &mut self.classes[c];
        cls.pages += 1;
        cls.cur_page = p as u32;
        cls.carved = 0;
    }

    /// Takes an emptied page `p` away from its class.
    pub(super) fn detach_page(&mut self, p: usize) {
        let c = usize::from(self.pages[p].class) - 1;
        debug_assert_eq!(self.pages[p].used, 0, "invariant: detached pages are empty");
        let cls = &mut self.classes[c];
        cls.free.retain(|&id| page_of(id) != p);
        if cls.cur_page == p as u32 {
            cls.cur_page = NONE;
            cls.carved = 0;
        }
        cls.pages -= 1;
        self.empty_pages -= 1;
        if let Some(n) = self.pool.class_pages.get(c) {
            n.fetch_sub(1, Ordering::AcqRel);
        }
        let pg = &mut self.pages[p];
        pg.class = 0;
        pg.chunk_size = 0;
    }

    /// Frees an unowned page slot and gives the page to the pool.
    pub(super) fn release_slot(&mut self, p: usize) {
        self.pages[p].data = Box::default();
        self.free_slots.push(p as u32);
        self.pool.give(1);
    }

    /// Unlinks a linked item to reuse its memory, counting it as reclaimed
    /// (expired or flushed) or evicted.
    pub(super) fn evict_item(&mut self, c: usize, id: ItemId, now: RelTime) {
        let st = self.state(id);
        let fetched = st & ItemState::FETCHED != 0;
        let cls_dead = self.dead(id, now).is_some();
        let cls = &mut self.classes[c];
        if cls_dead {
            cls.reclaimed += 1;
            if !fetched {
                cls.expired_unfetched += 1;
            }
        } else {
            let last_access = self.get32(id, page::OFF_TIME);
            let exptime = self.get32(id, page::OFF_EXPTIME);
            let cls = &mut self.classes[c];
            cls.evicted += 1;
            cls.evicted_time = now.saturating_sub(last_access);
            cls.evicted_at = now;
            if exptime != 0 {
                cls.evicted_nonzero += 1;
            }
            if !fetched {
                cls.evicted_unfetched += 1;
            }
            if st & ItemState::ACTIVE != 0 {
                cls.evicted_active += 1;
            }
            if let Some(h) = &self.evict_hook {
                let e = Evicted {
                    key: self.key(id),
                    meta: self.meta(id),
                    now,
                };
                (h.0)(&e);
            }
        }
        self.unlink(id);
    }

    /// Frees one item of class `c` from its (flat) LRU tail, COLD: the first expired or
    /// flushed item among the last [`TAIL_SEARCH`]; else (with `live`) the
    /// tail, except that ACTIVE items get a second chance and `protect` is
    /// skipped. True if an item was unlinked.
    pub(super) fn pull_tail(
        &mut self,
        c: usize,
        now: RelTime,
        protect: ItemId,
        live: bool,
    ) -> bool {
        let mut id = self.classes[c].lru[Seg::COLD].tail;
        let mut second_chances = false;
        let mut looked = 0;
        while id != NONE && looked < TAIL_SEARCH {
            looked += 1;
            let prev = self.lru_prev(id);
            if id != protect {
                if self.dead(id, now).is_some() {
                    self.evict_item(c, id, now);
                    return true;
                }
                if live {
                    let st = self.state(id);
                    if st & ItemState::ACTIVE == 0 {
                        self.evict_item(c, id, now);
                        return true;
                    }
                    self.set_state_raw(id, st & !ItemState::ACTIVE);
                    self.lru_to_head(c, id);
                    second_chances = true;
                }
            }
            id = prev;
        }
        if second_chances {
            // Everything looked at was ACTIVE and has had its chance.
            let mut id = self.classes[c].lru[Seg::COLD].tail;
            while id == protect && id != NONE {
                id = self.lru_prev(id);
            }
            if id != NONE {
                self.evict_item(c, id, now);
                return true;
            }
        }
        false
    }

    /// The item a chunk in use belongs to: itself, or a value chunk's
    /// head. `NONE` for a free chunk.
    pub(super) fn owner(&self, id: ItemId) -> ItemId {
        match self.state(id) {
            FREE_MARK => NONE,
            CHUNK_MARK => self.get32(id, OFF_CHUNK_HEAD),
            _ => id,
        }
    }

    /// Chunks of page `p` that were ever handed out (the carved ones).
    pub(super) fn carved_on(&self, p: usize) -> u32 {
        let c = usize::from(self.pages[p].class) - 1;
        if self.classes[c].cur_page == p as u32 {
            self.classes[c].carved
        } else {
            self.classes[c].info.per_page
        }
    }

    /// Frees one item from class `c`'s LRU tail (evicting), by the
    /// class's LRU kind; true if one went.
    fn free_one(&mut self, c: usize, now: RelTime, protect: ItemId) -> bool {
        if self.segmented_class(c) {
            self.alloc_pull(c, now, protect, true)
        } else {
            self.pull_tail(c, now, protect, true)
        }
    }

    /// The age of the largest class's COLD tail item: (last access, CAS),
    /// so that items stored in the same second still order by when they
    /// were set.
    pub(super) fn largest_tail_age(&self) -> Option<(RelTime, u64)> {
        let tail = self.classes[self.classes.len() - 1].lru[Seg::COLD].tail;
        (tail != NONE).then(|| {
            let m = self.meta(tail);
            (m.time, m.cas)
        })
    }

    /// Evicts the largest class's COLD tail item, then gives back to the
    /// pool the pages that left empty; true if an item went.
    pub(super) fn evict_largest_tail(&mut self, now: RelTime, protect: ItemId) -> bool {
        let l = self.classes.len() - 1;
        if !self.pull_tail(l, now, protect, true) {
            return false;
        }
        while self.empty_pages > 0 && self.release_page_with(now, protect, false, true) {}
        true
    }

    /// Checks page `p` can be emptied (no item in flight, not `protect`,
    /// and without `live` nothing unexpired), then unlinks every item with
    /// a chunk in it (a chained item's other chunks go too).
    fn evict_page(&mut self, p: usize, now: RelTime, protect: ItemId, live: bool) -> bool {
        let limit = self.carved_on(p);
        if self.pages[p].used > 0 {
            for ch in 0..limit {
                let item = self.owner(page_id(p, ch));
                if item == NONE {
                    continue;
                }
                if self.state(item) & ItemState::LINKED == 0
                    || item == protect
                    || (!live && self.dead(item, now).is_none())
                {
                    return false;
                }
            }
            for ch in 0..limit {
                let item = self.owner(page_id(p, ch));
                if item != NONE {
                    self.evict_item(self.class_idx(item), item, now);
                }
            }
        }
        true
    }

    /// Page slots owned by a class other than `except` (a class index, or
    /// `usize::MAX`) and (with `keep_last`) holds another page in the
    /// store, emptiest first.
    fn pages_by_use(
        &self,
        except: usize,
        only_class: Option<usize>,
        keep_last: bool,
    ) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.pages.len())
            .filter(|&p| {
                let cls = usize::from(self.pages[p].class);
                cls != 0
                    && cls - 1 != except
                    && only_class.is_none_or(|o| o == cls - 1)
                    && self.spare_page(cls - 1, keep_last)
            })
            .collect();
        v.sort_by_key(|&p| self.pages[p].used);
        v
    }

    /// Gives class `c` a page taken from another class of this shard
    /// (without eviction only an empty page).
    fn move_page_to(&mut self, c: usize, now: RelTime, protect: ItemId, keep_last: bool) -> bool {
        if self.empty_pages == 0 && !self.evict {
            return false;
        }
        // An empty page first, and only then (with eviction) a page of
        // another class.
        let pages = self.pages_by_use(c, None, keep_last);
        for &p in &pages {
            if self.pages[p].used > 0 {
                break;
            }
            if self.evict_page(p, now, protect, self.evict) {
                self.detach_page(p);
                self.attach_page(p, c);
                return true;
            }
        }
        if !self.evict {
            return false;
        }
        // Then the largest class's LRU tail (chained items free several
        // chunks each), until one of its pages empties: as the original's
        // large items went before other classes' pages.
        let l = self.classes.len() - 1;
        if c != l && self.spare_page(l, keep_last) {
            let mut left = self.classes[l].items();
            while left > 0 && self.free_one(l, now, protect) {
                left -= 1;
                let empty = (0..self.pages.len()).find(|&p| {
                    usize::from(self.pages[p].class) == l + 1 && self.pages[p].used == 0
                });
                if let Some(p) = empty {
                    self.detach_page(p);
                    self.attach_page(p, c);
                    return true;
                }
            }
        }
        let pages = self.pages_by_use(c, None, keep_last);
        for &p in &pages {
            if self.pages[p].used > 0 && self.evict_page(p, now, protect, true) {
                self.detach_page(p);
                self.attach_page(p, c);
                return true;
            }
        }
        false
    }

    /// [`Shard::release_page`]; without `live`, only pages whose items are
    /// all expired or flushed (or that hold none) are given back; with
    /// `keep_last`, never a class's last page in the store.
    pub(super) fn release_page_with(
        &mut self,
        now: RelTime,
        protect: ItemId,
        live: bool,
        keep_last: bool,
    ) -> bool {
        if self.empty_pages > 0 {
            if let Some(p) = (0..self.pages.len()).find(|&p| {
                let cls = usize::from(self.pages[p].class);
                cls != 0 && self.pages[p].used == 0 && self.spare_page(cls - 1, keep_last)
            }) {
                self.detach_page(p);
                self.release_slot(p);
                return true;
            }
        }
        let mut order: Vec<usize> = (0..self.classes.len())
            .filter(|&c| self.classes[c].pages > 0)
            .collect();
        order.sort_by_key(|&c| std::cmp::Reverse(self.classes[c].pages));
        for c in order {
            for p in self.pages_by_use(usize::MAX, Some(c), keep_last) {
                if self.evict_page(p, now, protect, live) {
                    self.detach_page(p);
                    self.release_slot(p);
                    return true;
                }
            }
        }
        false
    }

    /// Checks the shard's bookkeeping against its pages (tests).
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        use super::page::{chunk_of, holds_item};
        let mut empty = 0;
        let mut linked = 0u64;
        for (c, cls) in self.classes.iter().enumerate() {
            let owned: Vec<usize> = (0..self.pages.len())
                .filter(|&p| usize::from(self.pages[p].class) == c + 1)
                .collect();
            assert_eq!(owned.len() as u64, cls.pages, "class {} pages", c + 1);
            let mut used = 0u64;
            for &p in &owned {
                let limit = if cls.cur_page == p as u32 {
                    cls.carved
                } else {
                    cls.info.per_page
                };
                let mut n = 0;
                for ch in 0..limit {
                    let id = page_id(p, ch);
                    let st = self.state(id);
                    if st != FREE_MARK {
                        n += 1;
                    }
                    if holds_item(st) && st & ItemState::LINKED != 0 {
                        linked += 1;
                    }
                    if st == CHUNK_MARK {
                        let head = self.get32(id, OFF_CHUNK_HEAD);
                        assert!(holds_item(self.state(head)), "chunk {id} has a head");
                        assert!(self.value_parts(head).count() > 1, "head {head} chained");
                    }
                }
                assert_eq!(n, self.pages[p].used, "page {p} used");
                if n == 0 {
                    empty += 1;
                }
                used += u64::from(n);
            }
            assert_eq!(used, cls.used, "class {} used", c + 1);
            assert_eq!(
                cls.free_chunks() + cls.used,
                cls.pages * u64::from(cls.info.per_page)
            );
            for &id in &cls.free {
                assert!(chunk_of(id) < cls.info.per_page);
                assert_eq!(usize::from(self.pages[page_of(id)].class), c + 1);
            }
        }
        assert_eq!(empty, self.empty_pages);
        assert_eq!(linked, self.curr_items);
        let in_lrus: u64 = self.classes.iter().map(|c| c.items()).sum();
        assert_eq!(in_lrus, self.curr_items);
    }
}

#[cfg(test)]
mod tests {
    use crate::store::*;

    /// 4 KB pages, 2 KB largest chunk: classes 96, 120, 152, ... 2048.
    fn small(pages: usize, evict: bool, shards: usize) -> Store {
        Store::new(StoreConfig {
            mem_limit: pages * 4096,
            page_size: 4096,
            slab_chunk_max: 2048,
            item_size_max: 64 * 1024,
            evict,
            shards,
            flat_lru: true,
            ..StoreConfig::default()
        })
    }

    fn set(store: &Store, key: &[u8], len: usize, now: RelTime) -> Result<ItemId, AllocError> {
        let h = hash_key(key);
        let mut s = store.shard(h);
        if let Lookup::Hit(old) = s.find(key, h, now, &store.flush) {
            s.unlink(old);
        }
        let id = store.alloc(&mut s, key, len, now, NONE)?;
        s.fill_value(id, key[key.len() - 1]);
        s.link(id, h);
        Ok(id)
    }

    fn has(store: &Store, key: &[u8], now: RelTime) -> bool {
        let h = hash_key(key);
        matches!(
            store.shard(h).find(key, h, now, &store.flush),
            Lookup::Hit(_)
        )
    }

    fn get(store: &Store, key: &[u8], now: RelTime) -> bool {
        let h = hash_key(key);
        let mut s = store.shard(h);
        match s.find(key, h, now, &store.flush) {
            Lookup::Hit(id) => {
                s.bump(id, now);
                true
            }
            _ => false,
        }
    }

    fn pages_used(store: &Store) -> usize {
        let mut n = 0;
        store.for_each_shard(|s| {
            s.check_invariants();
            n += s.pages_held() as usize;
        });
        n
    }

    fn assert_budget(store: &Store) {
        let used = pages_used(store);
        let free = store.stats(0).pages_free as usize;
        // Over-limit first pages are owed as a debt.
        let debt = store.pool.debt.load(Ordering::Acquire);
        assert!(
            used <= store.pool.total + debt,
            "{used} pages in use > {} + {debt}",
            store.pool.total
        );
        assert_eq!(used + free, store.pool.total + debt);
    }

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i:04}").into_bytes()
    }

    /// 8-byte keys with 60-byte values: 106-byte records, class 2 (120 B),
    /// 34 to a 4 KB page.
    const V: usize = 60;

    #[test]
    fn evicts_least_recently_used_first() {
        let st = small(1, true, 1);
        for i in 0..34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        assert_eq!(st.stats(1).evictions, 0);
        // Touch 0..10 once (FETCHED, not ACTIVE): they become most recent.
        for i in 0..10 {
            assert!(get(&st, &key(i), 2));
        }
        for i in 34..44 {
            set(&st, &key(i), V, 3).expect("evicts");
        }
        let stats = st.stats(3);
        assert_eq!(stats.evictions, 10);
        assert_eq!(stats.evicted_unfetched, 10);
        for i in 0..10 {
            assert!(has(&st, &key(i), 3), "bumped key {i} kept");
        }
        for i in 10..20 {
            assert!(!has(&st, &key(i), 3), "LRU key {i} evicted");
        }
        for i in 20..44 {
            assert!(has(&st, &key(i), 3), "key {i} kept");
        }
        assert_budget(&st);
    }

    #[test]
    fn evictions_count_those_with_an_expiry_and_the_last_ones_idle_time() {
        let st = small(1, true, 1);
        for i in 0..34 {
            let id = set(&st, &key(i), V, 1).expect("fits");
            if i % 2 == 0 {
                st.shard(hash_key(&key(i))).set_exptime(id, 1000);
            }
        }
        for i in 34..44 {
            set(&st, &key(i), V, 11).expect("evicts");
        }
        let class = |st: &Store| st.stats(11).classes.into_iter().find(|c| c.number > 0);
        let c = class(&st).expect("a busy class");
        // key 0..9 went: 0, 2, 4, 6, 8 had an expiry; each was last
        // touched at 1, evicted at 11.
        assert_eq!((c.evicted, c.evicted_nonzero, c.evicted_time), (10, 5, 10));
        st.reset_stats();
        let c = class(&st).expect("a busy class");
        assert_eq!((c.evicted, c.evicted_nonzero, c.evicted_time), (0, 0, 0));
    }

    #[test]
    fn active_items_get_a_second_chance() {
        let st = small(1, true, 1);
        for i in 0..34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        // key 0 fetched twice -> ACTIVE; then make it the LRU tail again by
        // bumping everything else... without bump: set_time keeps position.
        assert!(get(&st, &key(0), 2));
        assert!(get(&st, &key(0), 2));
        // Move key 0 back to the tail: bump all the others after it.
        for i in 1..34 {
            assert!(get(&st, &key(i), 3));
        }
        set(&st, &key(100), V, 4).expect("evicts");
        assert!(has(&st, &key(0), 4), "ACTIVE tail item survives once");
        assert!(!has(&st, &key(1), 4), "the next LRU item goes instead");
        let h = hash_key(&key(0));
        {
            let mut s = st.shard(h);
            let Lookup::Hit(id) = s.find(&key(0), h, 4, &st.flush) else {
                panic!("hit")
            };
            assert_eq!(
                s.meta(id).state & ItemState::ACTIVE,
                0,
                "second chance used up"
            );
        }
        let stats = st.stats(4);
        assert_eq!((stats.evictions, stats.evicted_active), (1, 0));
    }

    #[test]
    fn expired_items_are_reclaimed_before_eviction() {
        let st = small(1, true, 1);
        for i in 0..34 {
            let id = set(&st, &key(i), V, 1).expect("fits");
            if i == 0 {
                let h = hash_key(&key(i));
                st.shard(h).set_exptime(id, 5);
            }
        }
        // As the original: expired items at the tail are reclaimed, the
        // first live one is evicted.
        set(&st, &key(100), V, 6).expect("reclaims");
        let stats = st.stats(6);
        assert_eq!(
            (stats.evictions, stats.reclaimed, stats.expired_unfetched),
            (0, 1, 1)
        );
        assert!(has(&st, &key(1), 6));
        assert!(!has(&st, &key(0), 6));
        // Flushed items too (the marks reach the shard through Store::alloc).
        st.flush.oldest_live.store(1, Ordering::Release);
        set(&st, &key(101), V, 7).expect("reclaims");
        let stats = st.stats(7);
        assert_eq!(
            (stats.evictions, stats.reclaimed, stats.expired_unfetched),
            (0, 2, 2)
        );
    }

    #[test]
    fn no_evictions_with_dash_m() {
        let st = small(1, false, 1);
        for i in 0..34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        assert_eq!(set(&st, &key(100), V, 2), Err(AllocError::OutOfMemory));
        let stats = st.stats(2);
        assert_eq!(stats.evictions, 0);
        assert_eq!(stats.classes[0].outofmemory, 1);
        for i in 0..34 {
            assert!(has(&st, &key(i), 2));
        }
        // Expired items may still be reclaimed.
        let h = hash_key(&key(7));
        {
            let mut s = st.shard(h);
            let Lookup::Hit(id) = s.find(&key(7), h, 2, &st.flush) else {
                panic!("hit")
            };
            s.set_exptime(id, 3);
        }
        set(&st, &key(100), V, 3).expect("reclaims the expired item");
        assert_eq!(set(&st, &key(101), V, 3), Err(AllocError::OutOfMemory));
        assert_eq!(st.stats(3).reclaimed, 1);
        // A class with no page at all may still start: as the original,
        // its first page is granted over the limit, and nothing is evicted.
        set(&st, b"big", 1000, 3).expect("a first page for the new class");
        assert_eq!(st.stats(3).evictions, 0);
        assert_eq!(st.pool().debt.load(Ordering::Acquire), 1);
        assert_eq!(
            set(&st, b"big2", 1000, 3).map(|_| ()),
            Ok(()),
            "the page has room for 3"
        );
        assert_eq!(set(&st, b"big3", 1000, 3).map(|_| ()), Ok(()));
        assert_eq!(set(&st, b"big4", 1000, 3), Err(AllocError::OutOfMemory));
        assert_eq!(st.stats(3).evictions, 0);
        for i in (0..34).filter(|&i| i != 7) {
            assert!(has(&st, &key(i), 3));
        }
        assert_budget(&st);
    }

    #[test]
    fn protect_is_never_evicted() {
        let st = small(1, true, 1);
        for i in 0..34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        let h = hash_key(&key(0));
        let mut s = st.shard(h);
        let Lookup::Hit(tail) = s.find(&key(0), h, 1, &st.flush) else {
            panic!("hit")
        };
        let id = st
            .alloc(&mut s, &key(0), V, 2, tail)
            .expect("evicts another");
        assert_eq!(s.key(tail), key(0).as_slice());
        s.unlink(tail);
        s.link(id, h);
        drop(s);
        assert!(!has(&st, &key(1), 2));
        assert!(has(&st, &key(0), 2));
    }

    /// `len` bytes that differ from one offset to the next.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn set_bytes(
        store: &Store,
        key: &[u8],
        val: &[u8],
        now: RelTime,
    ) -> Result<ItemId, AllocError> {
        let h = hash_key(key);
        let mut s = store.shard(h);
        if let Lookup::Hit(old) = s.find(key, h, now, &store.flush) {
            s.unlink(old);
        }
        let id = store.alloc(&mut s, key, val.len(), now, NONE)?;
        s.write_value(id, val);
        s.link(id, h);
        Ok(id)
    }

    fn get_bytes(store: &Store, key: &[u8], now: RelTime) -> Option<Vec<u8>> {
        let h = hash_key(key);
        let mut s = store.shard(h);
        match s.find(key, h, now, &store.flush) {
            Lookup::Hit(id) => Some(s.value_vec(id)),
            _ => None,
        }
    }

    #[test]
    fn large_items_are_chains_of_chunks() {
        let st = small(8, true, 1);
        let l = st.classes().len() as u8;
        assert_eq!(st.classes()[usize::from(l) - 1].chunk_size, 2048);
        // 38 + 3 + 10,000 bytes: the head holds 2,003 value bytes (its last
        // 4 name the first value chunk), each value chunk 2,010: 5 chunks
        // of 2 KB on 3 pages.
        let v = pattern(10_000, 1);
        let id = set_bytes(&st, b"big", &v, 1).expect("fits");
        {
            let s = st.shard(hash_key(b"big"));
            let m = s.meta(id);
            assert_eq!((m.class, m.total_size, m.nbytes), (l, 5 * 2048, 10_000));
            let parts: Vec<usize> = s.value_parts(id).map(<[u8]>::len).collect();
            assert_eq!(parts, [2003, 2010, 2010, 2010, 1967]);
            assert_eq!(s.value_flat(id), None);
        }
        assert_eq!(get_bytes(&st, b"big", 1), Some(v.clone()));
        let stats = st.stats(1);
        let big = stats.classes.last().expect("the largest class");
        assert_eq!(
            (big.id, big.total_pages, big.used_chunks, big.number),
            (l, 3, 5, 1)
        );
        assert_eq!((stats.pages_free, stats.total_malloced), (5, 3 * 4096));
        assert_eq!(stats.bytes, 10_041);
        // A last part of 100 bytes takes the smallest class it fits
        // (38 + 100 -> 152 bytes, class 3).
        let v2 = pattern(2003 + 2010 + 100, 2);
        let id2 = set_bytes(&st, b"mid", &v2, 1).expect("fits");
        {
            let s = st.shard(hash_key(b"mid"));
            assert_eq!(s.meta(id2).total_size, 2 * 2048 + 152);
        }
        assert_eq!(get_bytes(&st, b"mid", 1), Some(v2));
        assert_eq!(st.stats(1).classes[0].id, 3);
        // Around the boundary: 2,007 bytes fill one chunk, 2,008 chain.
        for len in [
            1, 2006, 2007, 2008, 2009, 4012, 4013, 4014, 4020, 6023, 6024,
        ] {
            let v = pattern(len, len as u8);
            set_bytes(&st, b"edge", &v, 1).expect("fits");
            assert_eq!(get_bytes(&st, b"edge", 1), Some(v), "{len} bytes");
        }
        assert_budget(&st);
        // 16 chunks of 2 KB: a third 10 KB item still fits, a fourth
        // evicts the least recently used one, all its chunks freed.
        set_bytes(&st, b"edge", b"x", 1).expect("fits");
        set_bytes(&st, b"big2", &pattern(10_000, 3), 2).expect("fits");
        let before = st.stats(2).evictions;
        set_bytes(&st, b"big3", &pattern(10_000, 4), 3).expect("evicts");
        assert!(st.stats(3).evictions > before);
        assert!(!has(&st, b"big", 3), "the oldest chain goes first");
        assert_eq!(get_bytes(&st, b"big2", 3), Some(pattern(10_000, 3)));
        assert_eq!(get_bytes(&st, b"big3", 3), Some(pattern(10_000, 4)));
        assert_budget(&st);
        // Bigger than the whole budget: out of memory.
        assert_eq!(set(&st, b"huge", 40_000, 4), Err(AllocError::OutOfMemory));
        assert!(has(&st, b"big2", 4));
        // Too large for -I.
        assert_eq!(set(&st, b"toolarge", 70_000, 4), Err(AllocError::TooLarge));
        // Unlinking a chain frees every chunk of it.
        for k in [b"big2".as_slice(), b"big3", b"mid", b"edge"] {
            let h = hash_key(k);
            let mut s = st.shard(h);
            if let Lookup::Hit(id) = s.find(k, h, 4, &st.flush) {
                s.unlink(id);
            }
        }
        let stats = st.stats(4);
        assert!(stats.classes.iter().all(|c| c.used_chunks == 0));
        assert_eq!(stats.curr_items, 0);
        assert_budget(&st);
    }

    #[test]
    fn a_chained_item_takes_pages_from_slab_classes() {
        let st = small(4, true, 1);
        for i in 0..4 * 34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        assert_eq!(st.stats(1).pages_free, 0);
        // 3 chunks of 2 KB on 2 pages: the class's first page is granted
        // over the limit (as any class's), the second is taken from class
        // 2, its last page or not (as the original's chunks may).
        set(&st, b"big", 6000, 2).expect("a page released");
        assert_eq!(st.stats(2).evictions, 34);
        assert_eq!(st.pool().debt.load(Ordering::Acquire), 1);
        assert!(has(&st, b"big", 2));
        assert_budget(&st);
    }

    #[test]
    fn pages_move_between_classes_when_the_pool_is_empty() {
        let st = small(2, true, 1);
        for i in 0..68 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        assert_eq!(st.stats(1).pages_free, 0);
        // Free most of the second page, then store into a class with no page.
        for i in 34..60 {
            let h = hash_key(&key(i));
            let mut s = st.shard(h);
            let Lookup::Hit(id) = s.find(&key(i), h, 1, &st.flush) else {
                panic!("hit")
            };
            s.unlink(id);
        }
        // 38 + 4 + 400 = 442 -> the 480-byte class, 8 per page. A class's
        // first page is granted over the limit; when it is full, the class
        // evicts from its own LRU, as the original's (no page moves).
        for j in 0..9 {
            let k = format!("mid{j}");
            set(&st, k.as_bytes(), 400 - 1, 2).expect("fits");
        }
        let stats = st.stats(2);
        assert_eq!(stats.classes.len(), 2);
        assert_eq!(stats.classes[0].total_pages, 2);
        assert_eq!(stats.classes[1].total_pages, 1);
        assert_eq!(stats.classes[1].chunk_size, 480);
        assert_eq!(stats.evictions, 1);
        assert!(!has(&st, b"mid0", 2));
        for i in (0..34).chain(60..68) {
            assert!(has(&st, &key(i), 2));
        }
        assert_budget(&st);

        // With -M only an empty page may move.
        let st = small(2, false, 1);
        for i in 0..68 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        for j in 0..8 {
            let k = format!("mid{j}");
            set(&st, k.as_bytes(), 400 - 1, 2).expect("the first page");
        }
        let h = hash_key(b"mid");
        assert_eq!(
            st.shard(h).alloc(b"mid", 400, 2, NONE),
            Err(AllocError::OutOfMemory)
        );
        for i in 34..68 {
            let h = hash_key(&key(i));
            let mut s = st.shard(h);
            let Lookup::Hit(id) = s.find(&key(i), h, 2, &st.flush) else {
                panic!("hit")
            };
            s.unlink(id);
        }
        set(&st, b"mid", 400, 2).expect("the empty page moves");
        assert_eq!(st.stats(2).evictions, 0);
        assert_budget(&st);
    }

    #[test]
    fn release_page_gives_a_page_back() {
        let st = small(4, true, 1);
        for i in 0..3 * 34 {
            set(&st, &key(i), V, 1).expect("fits");
        }
        set(&st, b"mid", 400, 1).expect("fits");
        assert_eq!(st.stats(1).pages_free, 0);
        let mut s = st.shard(0);
        // From the class with the most pages (class 2, 3 pages), the
        // emptiest page (they are all full: 34 evictions).
        assert!(s.release_page(2));
        drop(s);
        let stats = st.stats(2);
        assert_eq!(stats.pages_free, 1);
        assert_eq!(stats.evictions, 34);
        assert_eq!(stats.classes[0].total_pages, 2);
        assert_budget(&st);
        let mut s = st.shard(0);
        assert!(s.release_page(2));
        // Each class keeps its last page, as the original's.
        assert!(!s.release_page(2), "nothing left to give");
        drop(s);
        assert_eq!(st.stats(2).curr_items, 34 + 1);
        assert_eq!(st.stats(2).pages_free, 2);
        assert_budget(&st);
    }

    /// Fills both pages from shard 1 only; returns a key of shard 0.
    fn fill_from_shard_one(st: &Store) -> String {
        let keys = (0..)
            .map(|j| format!("y{j}"))
            .filter(|k| hash_key(k.as_bytes()) & st.mask == 1);
        for k in keys.take(68) {
            set(st, k.as_bytes(), V, 1).expect("fits");
        }
        assert_eq!(st.stats(1).pages_free, 0);
        let target = (0..)
            .map(|j| format!("x{j}"))
            .find(|k| hash_key(k.as_bytes()) & st.mask == 0);
        target.expect("some key hashes to shard 0")
    }

    #[test]
    fn store_alloc_takes_a_page_from_another_shard() {
        let st = small(2, true, 2);
        let target = fill_from_shard_one(&st);
        // The class has pages (in shard 1) but none here: one of shard 1's
        // two pages is taken, evicting its items.
        set(&st, target.as_bytes(), V, 2).expect("a page comes from shard 1");
        assert_eq!(st.stats(2).evictions, 34);
        assert_eq!(st.shards[0].lock().expect("lock").pages_held(), 1);
        assert_budget(&st);
        // While shard 1 is locked elsewhere, shard 0 cannot take its page
        // (never wait for a second lock) and its own items go instead.
        let target2 = (0..)
            .map(|j| format!("z{j}"))
            .find(|k| hash_key(k.as_bytes()) & st.mask == 0);
        let target2 = target2.expect("some key hashes to shard 0");
        let other = st.shards[1].lock().expect("lock");
        for _ in 0..20 {
            set(&st, target2.as_bytes(), V, 3).expect("evicts in shard 0");
        }
        drop(other);
        assert_budget(&st);
    }

    #[test]
    fn dash_m_class_with_pages_only_in_another_shard_is_refused() {
        let st = small(2, false, 2);
        let target = fill_from_shard_one(&st);
        let before = st.stats(2).curr_items;
        // As one store with memory full: the class has pages, so no new
        // one, and -M evicts nothing for it.
        assert_eq!(
            set(&st, target.as_bytes(), V, 2),
            Err(AllocError::OutOfMemory)
        );
        assert_eq!(st.stats(2).evictions, 0);
        assert_eq!(st.stats(2).curr_items, before);
        assert_eq!(st.pool().debt.load(Ordering::Acquire), 0);
        assert_budget(&st);
    }

    #[test]
    fn a_class_first_page_is_granted_over_the_limit_and_its_last_page_kept() {
        for evict in [true, false] {
            let st = small(2, evict, 2);
            let target = fill_from_shard_one(&st);
            // A class no shard holds a page of starts over the limit.
            set(&st, target.as_bytes(), 10, 2).expect("a new class starts");
            assert_eq!(st.stats(2).evictions, 0, "evict {evict}");
            assert_eq!(st.pool().debt.load(Ordering::Acquire), 1);
            // Another new class, in shard 1, also starts without evicting.
            let k = (0..)
                .map(|j| format!("v{j}"))
                .find(|k| hash_key(k.as_bytes()) & st.mask == 1)
                .expect("some key hashes to shard 1");
            set(&st, k.as_bytes(), 900, 3).expect("another new class starts");
            assert_eq!(st.stats(3).evictions, 0, "evict {evict}");
            assert_budget(&st);
            let s1 = st.shards[1].lock().expect("lock");
            let big = s1.class_for(HEADER + k.len() + 900);
            let small_class = s1.class_for(HEADER + 8 + V);
            drop(s1);
            assert_eq!(st.pool().class_total(big), 1);
            assert_eq!(st.pool().class_total(small_class), 2);
            // Shard 1 gives up pages, but never a class's only page.
            let mut given = 0;
            while given < 10 && st.shards[1].lock().expect("lock").release_page(4) {
                given += 1;
            }
            assert_eq!(given, 1, "evict {evict}");
            assert_eq!(st.pool().class_total(big), 1);
            assert_eq!(st.pool().class_total(small_class), 1);
            assert!(has(&st, k.as_bytes(), 4), "evict {evict}");
            assert!(has(&st, target.as_bytes(), 4), "evict {evict}");
            assert_budget(&st);
        }
    }
}
