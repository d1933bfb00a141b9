//! One shard: pages, classes, LRUs, hash index.
//!
//! This file holds the shard's state and the item-level operations (find,
//! link, unlink, bump, header access, crawl). Allocation, eviction and page
//! moves are in `slabs.rs`, the LRU list in `lru.rs`, the hash index in
//! `assoc.rs`.

use super::page::{
    chunk_of, page_of, rd32, rd64, wr32, wr64, ClassState, Page, Seg, CHAIN_PTR, FREE_MARK,
    OFF_CAS, OFF_CHUNK_HEAD, OFF_EXPTIME, OFF_FLAGS, OFF_NBYTES, OFF_NEXT, OFF_NKEY, OFF_STATE,
    OFF_TIME, SEG_MASK,
};
use super::*;
use std::fmt;
use std::sync::Arc;

/// See the module docs. All methods are O(1) except where noted.
///
/// `hash` arguments must be [`hash_key`] of the key: the index recomputes
/// it from the stored key when it unlinks or rehashes.
pub struct Shard {
    /// Sizing, copied from the store's config.
    pub(super) page_size: usize,
    pub(super) item_size_max: usize,
    /// Largest chunk; bigger records are chained.
    pub(super) max_chunk: usize,
    pub(super) evict: bool,
    /// No LRU maintainer: one flat LRU per class (all items in COLD).
    pub(super) flat: bool,
    /// The segmented LRU's tuning, shared by all shards.
    pub(super) tuning: Arc<LruTuning>,
    /// Chunk sizes of the slab classes, ascending (for size -> class).
    pub(super) sizes: Vec<u32>,
    /// Slab classes (index = id - 1).
    pub(super) classes: Vec<ClassState>,
    /// Page slots; `free_slots` lists the unused ones.
    pub(super) pages: Vec<Page>,
    pub(super) free_slots: Vec<u32>,
    /// Pages assigned to a class with no chunk handed out.
    pub(super) empty_pages: u32,
    /// Hash index bucket heads.
    pub(super) buckets: Vec<ItemId>,
    pub(super) pool: Arc<PagePool>,
    /// The flush marks as last seen (`find`, `crawl`, `Store::alloc`);
    /// `alloc` has no `FlushMarks` argument but reclaims flushed items.
    pub(super) oldest_live: RelTime,
    pub(super) oldest_cas: u64,
    pub(super) curr_items: u64,
    pub(super) total_items: u64,
    /// Told about each eviction (the `watch evictions` log).
    pub(super) evict_hook: Option<EvictHook>,
    /// The class the next crawl starts with.
    pub(super) crawl_next: usize,
}

/// The parts of a value ([`Shard::value_parts`]).
pub struct ValueParts<'a> {
    shard: &'a Shard,
    first: Option<&'a [u8]>,
    next: ItemId,
}

impl<'a> Iterator for ValueParts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.next == NONE {
            return None;
        }
        let rec = self.shard.rec(self.next);
        let used = rd32(rec, OFF_NBYTES) as usize;
        self.next = rd32(rec, OFF_NEXT);
        Some(&rec[HEADER..HEADER + used])
    }
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shard")
            .field("pages", &(self.pages.len() - self.free_slots.len()))
            .field("curr_items", &self.curr_items)
            .field("hash_power", &self.hash_power())
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// `stats reset`: zeroes the per-class event counts (evictions,
    /// reclaims, out-of-memory, crawler figures) and `total_items`, as the
    /// original's `stats reset` does; what is held now is untouched.
    pub fn reset_stats(&mut self) {
        for c in &mut self.classes {
            c.evicted = 0;
            c.evicted_nonzero = 0;
            c.evicted_time = 0;
            c.evicted_at = 0;
            c.evicted_unfetched = 0;
            c.evicted_active = 0;
            c.reclaimed = 0;
            c.expired_unfetched = 0;
            c.outofmemory = 0;
            c.crawler_reclaimed = 0;
            c.crawler_items_checked = 0;
            c.moves_to_cold = 0;
            c.moves_to_warm = 0;
            c.moves_within_lru = 0;
            c.direct_reclaims = 0;
            c.hits = [0; Seg::N];
        }
        self.total_items = 0;
    }

    /// An empty shard drawing pages from `pool`.
    pub(super) fn new(
        cfg: &StoreConfig,
        classes: &[ClassInfo],
        pool: Arc<PagePool>,
        tuning: Arc<LruTuning>,
    ) -> Shard {
        let states: Vec<ClassState> = classes.iter().map(|&c| ClassState::new(c)).collect();
        Shard {
            page_size: cfg.page_size.max(1),
            item_size_max: cfg.item_size_max,
            max_chunk: classes.last().map_or(0, |c| c.chunk_size as usize),
            evict: cfg.evict,
            flat: cfg.flat_lru,
            tuning,
            sizes: classes.iter().map(|c| c.chunk_size).collect(),
            classes: states,
            pages: Vec::new(),
            free_slots: Vec::new(),
            empty_pages: 0,
            buckets: vec![NONE; 1 << assoc::HASH_POWER_START],
            pool,
            oldest_live: 0,
            oldest_cas: 0,
            curr_items: 0,
            total_items: 0,
            crawl_next: 0,
            evict_hook: None,
        }
    }

    // ---- record access -------------------------------------------------

    /// The whole chunk of `id`.
    pub(super) fn rec(&self, id: ItemId) -> &[u8] {
        let pg = &self.pages[page_of(id)];
        let cs = pg.chunk_size as usize;
        let start = chunk_of(id) as usize * cs;
        &pg.data[start..start + cs]
    }

    pub(super) fn rec_mut(&mut self, id: ItemId) -> &mut [u8] {
        let pg = &mut self.pages[page_of(id)];
        let cs = pg.chunk_size as usize;
        let start = chunk_of(id) as usize * cs;
        &mut pg.data[start..start + cs]
    }

    pub(super) fn get32(&self, id: ItemId, off: usize) -> u32 {
        rd32(self.rec(id), off)
    }

    pub(super) fn set32(&mut self, id: ItemId, off: usize, v: u32) {
        wr32(self.rec_mut(id), off, v);
    }

    pub(super) fn state(&self, id: ItemId) -> u8 {
        self.rec(id)[OFF_STATE]
    }

    pub(super) fn set_state_raw(&mut self, id: ItemId, st: u8) {
        self.rec_mut(id)[OFF_STATE] = st;
    }

    /// Index into `classes` of the item's class.
    pub(super) fn class_idx(&self, id: ItemId) -> usize {
        usize::from(self.pages[page_of(id)].class) - 1
    }

    /// Header + key + value of the item in `id`.
    pub(super) fn record_len(&self, id: ItemId) -> usize {
        let rec = self.rec(id);
        HEADER + usize::from(rec[OFF_NKEY]) + rd32(rec, OFF_NBYTES) as usize
    }

    /// The first value chunk of item `id`, `NONE` when it is not chained.
    pub(super) fn chain_first(&self, id: ItemId) -> ItemId {
        let rec = self.rec(id);
        let len = HEADER + usize::from(rec[OFF_NKEY]) + rd32(rec, OFF_NBYTES) as usize;
        if len > rec.len() {
            rd32(rec, rec.len() - CHAIN_PTR)
        } else {
            NONE
        }
    }

    /// Makes `next` the chunk after `prev` in a chain (`prev` a head or a
    /// value chunk).
    pub(super) fn set_chain_next(&mut self, prev: ItemId, next: ItemId) {
        let chunk = self.state(prev) == page::CHUNK_MARK;
        let rec = self.rec_mut(prev);
        let off = if chunk {
            OFF_NEXT
        } else {
            rec.len() - CHAIN_PTR
        };
        wr32(rec, off, next);
    }

    /// Gives every value chunk of `head` (now in chunk `head`) its head's
    /// new id.
    pub(super) fn repoint_chain(&mut self, head: ItemId) {
        let mut ch = self.chain_first(head);
        if ch != NONE {
            self.set32(ch, page::OFF_PREV, head);
        }
        while ch != NONE {
            self.set32(ch, OFF_CHUNK_HEAD, head);
            ch = self.get32(ch, OFF_NEXT);
        }
    }

    /// Whether the item is expired or flushed (by the cached flush marks).
    pub(super) fn dead(&self, id: ItemId, now: RelTime) -> Option<Lookup> {
        let rec = self.rec(id);
        let exptime = rd32(rec, OFF_EXPTIME);
        if exptime != 0 && exptime <= now {
            return Some(Lookup::Expired);
        }
        let live = self.oldest_live;
        if live != 0 && live <= now {
            let cas = rd64(rec, OFF_CAS);
            let oldest_cas = self.oldest_cas;
            if rd32(rec, OFF_TIME) <= live || (oldest_cas != 0 && cas != 0 && cas < oldest_cas) {
                return Some(Lookup::Flushed);
            }
        }
        None
    }

    /// Copies the global flush marks into the shard.
    pub(super) fn sync_flush(&mut self, flush: &FlushMarks) {
        self.oldest_live = flush.oldest_live.load(Ordering::Acquire);
        self.oldest_cas = flush.oldest_cas.load(Ordering::Acquire);
    }

    // ---- the public operations -----------------------------------------

    /// Looks `key` up. An expired or flushed item found on the way is
    /// unlinked (its memory freed) and reported as such.
    pub fn find(&mut self, key: &[u8], hash: u64, now: RelTime, flush: &FlushMarks) -> Lookup {
        self.sync_flush(flush);
        let id = self.assoc_find(key, hash);
        if id == NONE {
            return Lookup::Miss;
        }
        match self.dead(id, now) {
            Some(why) => {
                self.unlink(id);
                why
            }
            None => Lookup::Hit(id),
        }
    }

    /// Allocates an unlinked item for `key` with room for `nbytes` of value,
    /// header initialised (cas 0, flags 0, exptime 0, time = now, state 0),
    /// key written, value bytes unspecified. In order: a free chunk of the
    /// class; a page from the pool; (with eviction on) the LRU tail of the
    /// class — expired/flushed items are reclaimed first, ACTIVE items get
    /// one second chance (flag cleared, moved to the head), at most a few
    /// dozen items are looked at; then a page moved from another class of
    /// this shard (its items evicted). Never evicts `protect` (the item an
    /// append or incr is copying from). A record bigger than
    /// `slab_chunk_max` is a chain: a head chunk of the largest class then
    /// value chunks (see `page`), each allocated in the same order; if one
    /// cannot be had, the chunks taken are freed and it is `OutOfMemory`.
    ///
    /// A key longer than [`KEY_MAX`] is `TooLarge`. With eviction off
    /// (`-M`) only expired/flushed items are reclaimed and only pages with
    /// no item in them change class.
    pub fn alloc(
        &mut self,
        key: &[u8],
        nbytes: usize,
        now: RelTime,
        protect: ItemId,
    ) -> Result<ItemId, AllocError> {
        let r = self.alloc_inner(key, nbytes, now, protect);
        if r == Err(AllocError::OutOfMemory) {
            self.count_oom(key.len(), nbytes);
        }
        r
    }

    /// Links an allocated item: into the hash index and at the head of its
    /// class's LRU; counts it in curr_items/total_items. The caller has
    /// unlinked any item with the same key first.
    pub fn link(&mut self, id: ItemId, hash: u64) {
        debug_assert_eq!(
            hash,
            hash_key(self.key(id)),
            "link: hash must be hash_key(key)"
        );
        debug_assert_eq!(
            self.state(id) & (ItemState::LINKED | FREE_MARK),
            0,
            "link: item already linked or free"
        );
        let c = self.class_idx(id);
        self.assoc_insert(id, hash);
        let seg = self.link_segment(id);
        let st = self.state(id);
        self.set_state_raw(id, Seg::with(st, seg) | ItemState::LINKED);
        self.lru_push_head(c, id);
        self.curr_items += 1;
        self.total_items += 1;
        self.classes[c].bytes += self.record_len(id) as u64;
        self.assoc_maybe_grow();
    }

    /// Unlinks a linked item and frees its memory.
    pub fn unlink(&mut self, id: ItemId) {
        debug_assert!(
            self.state(id) & ItemState::LINKED != 0,
            "unlink: item not linked"
        );
        let c = self.class_idx(id);
        self.assoc_delete(id);
        self.lru_remove(c, id);
        let st = self.state(id);
        self.set_state_raw(id, st & !ItemState::LINKED);
        self.curr_items -= 1;
        self.classes[c].bytes -= self.record_len(id) as u64;
        self.free(id);
    }

    /// Frees an item that was allocated but never linked.
    pub fn free(&mut self, id: ItemId) {
        debug_assert_eq!(
            self.state(id) & (ItemState::LINKED | FREE_MARK),
            0,
            "free: item linked or already free"
        );
        let mut ch = self.chain_first(id);
        while ch != NONE {
            let next = self.get32(ch, OFF_NEXT);
            self.free_chunk(ch);
            ch = next;
        }
        self.free_chunk(id);
    }

    /// Whether items live in a segmented LRU now (maintainer on and
    /// `lru mode segmented`).
    fn segmented(&self) -> bool {
        !self.flat && self.tuning.segmented.load(Ordering::Relaxed)
    }

    /// The segment a new item enters: COLD when flat; TEMP when the
    /// temporary LRU is on and the item expires within `temporary_ttl` of
    /// its time; else HOT.
    fn link_segment(&self, id: ItemId) -> usize {
        if !self.segmented() {
            return Seg::COLD;
        }
        if self.tuning.temp_lru.load(Ordering::Relaxed) {
            let rec = self.rec(id);
            let exptime = rd32(rec, OFF_EXPTIME);
            let time = rd32(rec, OFF_TIME);
            let ttl = self.tuning.temporary_ttl.load(Ordering::Relaxed);
            if exptime != 0 && exptime >= time && exptime - time <= ttl {
                return Seg::TEMP;
            }
        }
        Seg::HOT
    }

    /// A fetch of a linked item (get, gets, gat, mg): counts the hit by
    /// segment and marks the item. Segmented: the first fetch sets
    /// FETCHED, the next ACTIVE; an item turning ACTIVE in COLD moves to
    /// WARM at once (counted `moves_to_warm`), elsewhere its time is
    /// refreshed. Flat: as [`Shard::bump`] once its time is `interval`
    /// old, else only the FETCHED/ACTIVE marks.
    pub fn fetched(&mut self, id: ItemId, now: RelTime, interval: RelTime) {
        let c = self.class_idx(id);
        let st = self.state(id);
        let seg = Seg::of(st);
        self.classes[c].hits[seg] += 1;
        if self.segmented() {
            if st & ItemState::ACTIVE != 0 {
                return;
            }
            if st & ItemState::FETCHED == 0 {
                self.set_state_raw(id, st | ItemState::FETCHED);
            } else if seg == Seg::COLD {
                self.set32(id, OFF_TIME, now);
                self.lru_move(c, id, Seg::WARM);
                self.classes[c].moves_to_warm += 1;
            } else {
                self.set_state_raw(id, st | ItemState::ACTIVE);
                self.set32(id, OFF_TIME, now);
            }
            return;
        }
        if self.get32(id, OFF_TIME).saturating_add(interval) <= now {
            self.bump(id, now);
        } else if st & ItemState::FETCHED == 0 {
            self.set_state_raw(id, st | ItemState::FETCHED);
        } else if st & ItemState::ACTIVE == 0 {
            self.set_state_raw(id, st | ItemState::ACTIVE);
        }
    }

    /// Refreshes a linked item (an `add` that found it, a touch).
    /// Segmented: `time = now`, and an ACTIVE item in COLD moves to WARM
    /// (its ACTIVE mark spent). Flat: moves it to the head of its LRU,
    /// sets `time = now`, and a second fetch marks it ACTIVE. (Callers
    /// rate-limit: the original bumps at most once a minute per item.)
    pub fn bump(&mut self, id: ItemId, now: RelTime) {
        let c = self.class_idx(id);
        if self.segmented() {
            self.set32(id, OFF_TIME, now);
            let st = self.state(id);
            if Seg::of(st) == Seg::COLD && st & ItemState::ACTIVE != 0 {
                self.set_state_raw(id, st & !ItemState::ACTIVE);
                self.lru_move(c, id, Seg::WARM);
                self.classes[c].moves_to_warm += 1;
            }
            return;
        }
        self.lru_to_head(c, id);
        self.set32(id, OFF_TIME, now);
        let mut st = self.state(id);
        if st & ItemState::FETCHED != 0 {
            st |= ItemState::ACTIVE;
        }
        self.set_state_raw(id, st | ItemState::FETCHED);
    }

    /// The item's key.
    pub fn key(&self, id: ItemId) -> &[u8] {
        let rec = self.rec(id);
        &rec[HEADER..HEADER + usize::from(rec[OFF_NKEY])]
    }

    /// The value's length.
    pub fn value_len(&self, id: ItemId) -> usize {
        self.get32(id, OFF_NBYTES) as usize
    }

    /// The value, in the parts it is stored in: one for an item in a
    /// single chunk, the head's part then each value chunk's for a chained
    /// item. O(1) per part, no allocation.
    pub fn value_parts(&self, id: ItemId) -> ValueParts<'_> {
        let rec = self.rec(id);
        let start = HEADER + usize::from(rec[OFF_NKEY]);
        let len = rd32(rec, OFF_NBYTES) as usize;
        let (first, next) = if start + len > rec.len() {
            let end = rec.len() - CHAIN_PTR;
            (&rec[start..end], rd32(rec, end))
        } else {
            (&rec[start..start + len], NONE)
        };
        ValueParts {
            shard: self,
            first: Some(first),
            next,
        }
    }

    /// The value when it is stored in one piece (never for a chained
    /// item: those are too large to be numbers, the only use).
    pub fn value_flat(&self, id: ItemId) -> Option<&[u8]> {
        let mut parts = self.value_parts(id);
        let first = parts.next()?;
        parts.next().is_none().then_some(first)
    }

    /// [`Shard::value_flat`], writable.
    pub fn value_flat_mut(&mut self, id: ItemId) -> Option<&mut [u8]> {
        let rec = self.rec_mut(id);
        let start = HEADER + usize::from(rec[OFF_NKEY]);
        let end = start + rd32(rec, OFF_NBYTES) as usize;
        rec.get_mut(start..end)
    }

    /// Writes `data` over the value, part by part, from its start (`data`
    /// no longer than the value).
    pub fn write_value(&mut self, id: ItemId, data: &[u8]) {
        let rec = self.rec_mut(id);
        let start = HEADER + usize::from(rec[OFF_NKEY]);
        let len = rd32(rec, OFF_NBYTES) as usize;
        let (end, mut ch) = if start + len > rec.len() {
            let end = rec.len() - CHAIN_PTR;
            (end, rd32(rec, end))
        } else {
            (start + len, NONE)
        };
        let n = data.len().min(end - start);
        rec[start..start + n].copy_from_slice(&data[..n]);
        let mut done = n;
        while ch != NONE && done < data.len() {
            let rec = self.rec_mut(ch);
            let used = rd32(rec, OFF_NBYTES) as usize;
            let n = (data.len() - done).min(used);
            rec[HEADER..HEADER + n].copy_from_slice(&data[done..done + n]);
            done += n;
            ch = rd32(rec, OFF_NEXT);
        }
    }

    /// The value as one vector (tests).
    #[cfg(test)]
    pub(crate) fn value_vec(&self, id: ItemId) -> Vec<u8> {
        self.value_parts(id).flatten().copied().collect()
    }

    /// Fills the value with `b` (tests).
    #[cfg(test)]
    pub(crate) fn fill_value(&mut self, id: ItemId, b: u8) {
        let v = vec![b; self.value_len(id)];
        self.write_value(id, &v);
    }

    /// The header fields.
    pub fn meta(&self, id: ItemId) -> ItemMeta {
        let rec = self.rec(id);
        let pg = &self.pages[page_of(id)];
        let mut total_size = pg.chunk_size as usize;
        let mut ch = self.chain_first(id);
        while ch != NONE {
            total_size += self.pages[page_of(ch)].chunk_size as usize;
            ch = self.get32(ch, OFF_NEXT);
        }
        let class = pg.class;
        ItemMeta {
            cas: rd64(rec, OFF_CAS),
            exptime: rd32(rec, OFF_EXPTIME),
            time: rd32(rec, OFF_TIME),
            flags: rd32(rec, OFF_FLAGS),
            nbytes: rd32(rec, OFF_NBYTES),
            state: rec[OFF_STATE] & !(FREE_MARK | SEG_MASK),
            class,
            total_size: u32::try_from(total_size).unwrap_or(u32::MAX),
        }
    }

    /// Sets the CAS.
    pub fn set_cas(&mut self, id: ItemId, cas: u64) {
        wr64(self.rec_mut(id), OFF_CAS, cas);
    }

    /// Sets the expiry.
    pub fn set_exptime(&mut self, id: ItemId, exptime: RelTime) {
        self.set32(id, OFF_EXPTIME, exptime);
    }

    /// Sets the client flags.
    pub fn set_flags(&mut self, id: ItemId, flags: u32) {
        self.set32(id, OFF_FLAGS, flags);
    }

    /// Sets the last-access time (without moving it in the LRU).
    pub fn set_time(&mut self, id: ItemId, time: RelTime) {
        self.set32(id, OFF_TIME, time);
    }

    /// Sets (`on`) or clears state bits other than LINKED.
    pub fn set_state(&mut self, id: ItemId, bits: u8, on: bool) {
        let bits = bits & !(ItemState::LINKED | FREE_MARK | SEG_MASK);
        let st = self.state(id);
        self.set_state_raw(id, if on { st | bits } else { st & !bits });
    }

    /// Gives one page back to the pool (evicting the items in it), choosing
    /// from the class with the most pages; false if the shard has none to
    /// give. The store calls this on *other* shards when one runs dry.
    ///
    /// A page with no item in it goes first (nothing is evicted then); in
    /// the chosen class the page with the fewest items goes; evicting an
    /// item with a chunk in it frees its whole chain.
    pub fn release_page(&mut self, now: RelTime) -> bool {
        self.release_page_with(now, NONE, true, true)
    }

    /// Walks up to `budget` items from the tails of the LRUs, unlinking the
    /// expired and flushed ones. Returns (checked, reclaimed).
    ///
    /// Each class keeps a cursor, so successive calls walk on towards the
    /// head instead of looking at the same tail items again; a class's
    /// walk restarts at its tail once it has reached the head. The budget
    /// is shared evenly by the classes holding items, and each call starts
    /// with the class after the one the previous call started with.
    pub fn crawl(&mut self, now: RelTime, flush: &FlushMarks, budget: usize) -> (u64, u64) {
        self.sync_flush(flush);
        let busy = self
            .classes
            .iter()
            .map(|c| c.lru.iter().filter(|l| l.len > 0).count())
            .sum::<usize>();
        if busy == 0 || budget == 0 {
            return (0, 0);
        }
        let share = budget.div_ceil(busy);
        let (mut checked, mut reclaimed) = (0u64, 0u64);
        let mut left = budget;
        // Start one list further each call, so a small budget reaches all.
        let n = self.classes.len() * Seg::N;
        let start = self.crawl_next % n;
        self.crawl_next = start + 1;
        for unit in (start..n).chain(0..start) {
            let (c, seg) = (unit / Seg::N, unit % Seg::N);
            if left == 0 {
                break;
            }
            if self.classes[c].lru[seg].len == 0 {
                continue;
            }
            let mut id = self.classes[c].crawl_at[seg];
            if id == NONE {
                id = self.classes[c].lru[seg].tail;
            }
            let mut n = share.min(left);
            while n > 0 && id != NONE {
                n -= 1;
                left -= 1;
                checked += 1;
                self.classes[c].crawler_items_checked += 1;
                let prev = self.lru_prev(id);
                if let Some(why) = self.dead(id, now) {
                    let cls = &mut self.classes[c];
                    cls.crawler_reclaimed += 1;
                    if why == Lookup::Expired && self.state(id) & ItemState::FETCHED == 0 {
                        self.classes[c].expired_unfetched += 1;
                    }
                    reclaimed += 1;
                    self.unlink(id);
                }
                id = prev;
            }
            self.classes[c].crawl_at[seg] = id;
        }
        (checked, reclaimed)
    }

    /// Calls `f` with every linked item's id (for `lru_crawler metadump`), O(n).
    pub fn for_each_item(&self, mut f: impl FnMut(ItemId)) {
        for cls in &self.classes {
            for lru in &cls.lru {
                let mut id = lru.head;
                while id != NONE {
                    f(id);
                    id = self.lru_next(id);
                }
            }
        }
    }

    /// Slab pages this shard holds.
    pub fn pages_held(&self) -> u64 {
        self.classes.iter().map(|c| c.pages).sum()
    }

    /// Items linked in this shard.
    pub fn curr_items(&self) -> u64 {
        self.curr_items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(shards: usize) -> Store {
        Store::new(StoreConfig {
            shards,
            flat_lru: true,
            ..StoreConfig::default()
        })
    }

    fn set(store: &Store, key: &[u8], val: &[u8], exptime: RelTime, now: RelTime) -> ItemId {
        let h = hash_key(key);
        let mut s = store.shard(h);
        if let Lookup::Hit(old) = s.find(key, h, now, &store.flush) {
            s.unlink(old);
        }
        let id = store
            .alloc(&mut s, key, val.len(), now, NONE)
            .expect("memory");
        s.write_value(id, val);
        s.set_exptime(id, exptime);
        s.set_cas(id, store.next_cas());
        s.link(id, h);
        id
    }

    fn get(store: &Store, key: &[u8], now: RelTime) -> Result<Vec<u8>, Lookup> {
        let h = hash_key(key);
        let mut s = store.shard(h);
        match s.find(key, h, now, &store.flush) {
            Lookup::Hit(id) => Ok(s.value_vec(id)),
            other => Err(other),
        }
    }

    #[test]
    fn link_find_unlink() {
        let st = store(4);
        let id = set(&st, b"hello", b"world", 0, 1);
        assert_eq!(get(&st, b"hello", 1), Ok(b"world".to_vec()));
        assert_eq!(get(&st, b"nope", 1), Err(Lookup::Miss));
        let h = hash_key(b"hello");
        {
            let s = st.shard(h);
            let m = s.meta(id);
            assert_eq!(m.nbytes, 5);
            assert_eq!(m.state, ItemState::LINKED);
            assert_eq!(m.cas, 1);
            assert_eq!(m.time, 1);
            assert_eq!(m.class, 1);
            assert_eq!(m.total_size, 96);
            assert_eq!(s.key(id), b"hello");
        }
        let stats = st.stats(1);
        assert_eq!((stats.curr_items, stats.total_items), (1, 1));
        assert_eq!(stats.bytes, (HEADER + 5 + 5) as u64);
        set(&st, b"hello", b"again!", 0, 2);
        assert_eq!(get(&st, b"hello", 2), Ok(b"again!".to_vec()));
        let stats = st.stats(2);
        assert_eq!((stats.curr_items, stats.total_items), (1, 2));
        {
            let mut s = st.shard(h);
            let Lookup::Hit(id) = s.find(b"hello", h, 2, &st.flush) else {
                panic!("hit")
            };
            s.unlink(id);
        }
        assert_eq!(get(&st, b"hello", 2), Err(Lookup::Miss));
        let stats = st.stats(2);
        assert_eq!((stats.curr_items, stats.bytes), (0, 0));
        assert_eq!(stats.classes.len(), 1);
        assert_eq!(stats.classes[0].used_chunks, 0);
        assert_eq!(
            stats.classes[0].free_chunks,
            u64::from(stats.classes[0].per_page)
        );
    }

    #[test]
    fn header_fields_and_state_bits() {
        let st = store(1);
        let id = set(&st, b"k", b"v", 0, 3);
        let mut s = st.shard(0);
        s.set_flags(id, 0xdead_beef);
        s.set_exptime(id, 99);
        s.set_time(id, 7);
        s.set_cas(id, u64::MAX);
        s.set_state(id, ItemState::STALE | ItemState::LINKED, true);
        let m = s.meta(id);
        assert_eq!(
            (m.flags, m.exptime, m.time, m.cas),
            (0xdead_beef, 99, 7, u64::MAX)
        );
        assert_eq!(m.state, ItemState::LINKED | ItemState::STALE);
        s.set_state(id, ItemState::STALE | ItemState::LINKED, false);
        assert_eq!(s.meta(id).state, ItemState::LINKED);
        assert_eq!(s.value_vec(id), b"v");
    }

    #[test]
    fn expiry_is_lazy() {
        let st = store(2);
        set(&st, b"a", b"1", 10, 1);
        set(&st, b"b", b"2", 0, 1);
        assert_eq!(get(&st, b"a", 9), Ok(b"1".to_vec()));
        assert_eq!(get(&st, b"a", 10), Err(Lookup::Expired));
        assert_eq!(get(&st, b"a", 10), Err(Lookup::Miss));
        assert_eq!(get(&st, b"b", 1_000_000), Ok(b"2".to_vec()));
        assert_eq!(st.stats(10).curr_items, 1);
    }

    #[test]
    fn flush_marks() {
        let st = store(2);
        set(&st, b"old", b"1", 0, 5);
        set(&st, b"new", b"2", 0, 8);
        // flush_all 0 at time 6 (the original stores now - 1 and the CAS).
        st.flush.oldest_live.store(6, Ordering::Release);
        assert_eq!(get(&st, b"old", 6), Err(Lookup::Flushed));
        assert_eq!(get(&st, b"new", 6), Ok(b"2".to_vec()));
        // Delayed flush: nothing happens before the mark.
        st.flush.oldest_live.store(20, Ordering::Release);
        assert_eq!(get(&st, b"new", 19), Ok(b"2".to_vec()));
        assert_eq!(get(&st, b"new", 20), Err(Lookup::Flushed));
        // CAS mark: an item stored in the flush's second survives only if
        // its CAS is newer.
        set(&st, b"x", b"3", 0, 30);
        let cut = st.current_cas() + 1;
        set(&st, b"y", b"4", 0, 31);
        st.flush.oldest_live.store(29, Ordering::Release);
        st.flush.oldest_cas.store(cut, Ordering::Release);
        assert_eq!(get(&st, b"x", 31), Err(Lookup::Flushed));
        assert_eq!(get(&st, b"y", 31), Ok(b"4".to_vec()));
    }

    #[test]
    fn bump_sets_fetched_then_active() {
        let st = store(1);
        let id = set(&st, b"k", b"v", 0, 1);
        let mut s = st.shard(0);
        s.bump(id, 5);
        let m = s.meta(id);
        assert_eq!(m.state, ItemState::LINKED | ItemState::FETCHED);
        assert_eq!(m.time, 5);
        s.bump(id, 6);
        assert_eq!(
            s.meta(id).state,
            ItemState::LINKED | ItemState::FETCHED | ItemState::ACTIVE
        );
    }

    #[test]
    fn free_unlinked_item() {
        let st = store(1);
        let mut s = st.shard(0);
        let id = s.alloc(b"k", 10, 1, NONE).expect("memory");
        assert_eq!(s.key(id), b"k");
        assert_eq!(s.value_len(id), 10);
        let m = s.meta(id);
        assert_eq!(
            (m.cas, m.flags, m.exptime, m.time, m.state),
            (0, 0, 0, 1, 0)
        );
        s.free(id);
        let again = s.alloc(b"j", 10, 1, NONE).expect("memory");
        assert_eq!(again, id, "the freed chunk is reused first");
        s.free(again);
        assert_eq!(s.classes[0].used, 0);
    }

    #[test]
    fn crawl_reclaims_expired_and_flushed() {
        let st = store(1);
        for i in 0..100u32 {
            let exp = if i % 2 == 0 { 10 } else { 0 };
            set(&st, format!("k{i}").as_bytes(), b"v", exp, 1);
        }
        let mut s = st.shard(0);
        assert_eq!(s.crawl(5, &st.flush, 1000), (100, 0));
        // A small budget walks on from where it stopped.
        assert_eq!(s.crawl(10, &st.flush, 30), (30, 15));
        assert_eq!(s.crawl(10, &st.flush, 30), (30, 15));
        assert_eq!(s.crawl(10, &st.flush, 1000), (40, 20));
        assert_eq!(s.curr_items, 50);
        st.flush.oldest_live.store(2, Ordering::Release);
        assert_eq!(s.crawl(10, &st.flush, 1000), (50, 50));
        drop(s);
        let stats = st.stats(10);
        assert_eq!(stats.curr_items, 0);
        assert_eq!(stats.crawler_reclaimed, 100);
        assert_eq!(stats.crawler_items_checked, 100 + 60 + 40 + 50);
        assert_eq!(stats.expired_unfetched, 50);
    }

    #[test]
    fn crawl_budget_reaches_every_class() {
        let st = store(1);
        for (i, len) in [10usize, 200, 2000].into_iter().enumerate() {
            set(&st, format!("k{i}").as_bytes(), &vec![b'x'; len], 5, 1);
        }
        let mut s = st.shard(0);
        let mut total = (0, 0);
        for _ in 0..3 {
            let (c, r) = s.crawl(6, &st.flush, 1);
            total = (total.0 + c, total.1 + r);
        }
        assert_eq!(total, (3, 3));
        assert_eq!(s.curr_items, 0);
        let checked: Vec<u64> = s
            .classes
            .iter()
            .map(|c| c.crawler_items_checked)
            .filter(|n| *n > 0)
            .collect();
        assert_eq!(checked, [1, 1, 1], "one item looked at in each class");
        s.reset_stats();
        assert!(s.classes.iter().all(|c| c.crawler_items_checked == 0));
    }

    #[test]
    fn for_each_item_visits_all() {
        let st = store(1);
        for i in 0..50u32 {
            set(
                &st,
                format!("k{i}").as_bytes(),
                &vec![b'x'; (i * 40) as usize],
                0,
                1,
            );
        }
        let s = st.shard(0);
        let mut keys = Vec::new();
        s.for_each_item(|id| keys.push(String::from_utf8_lossy(s.key(id)).into_owned()));
        keys.sort();
        let mut want: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        want.sort();
        assert_eq!(keys, want);
    }
}
