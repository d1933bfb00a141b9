//! The bytes: item record layout, slab pages, chunk chains, and the
//! per-class bookkeeping a shard keeps (free list, carve pointer, LRU ends,
//! counters). Plain data; the operations live on `Shard`.
//!
//! ## Chained items
//!
//! A record bigger than the largest chunk (`slab_chunk_max`) is a chain,
//! as in the original 1.6: its *head* is a chunk of the largest class
//! holding the usual header, the key and the first part of the value,
//! with the id of the first value chunk in the head's last 4 bytes; the
//! rest of the value lives in *value chunks*, each a chunk of the largest
//! class except the last, which takes the smallest class it fits (the
//! largest when that class has no memory). A value chunk's first 38
//! bytes reuse the header's offsets:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | the head's id |
//! | 4 | 4 | previous chunk (the head for the first) |
//! | 8 | 4 | next chunk (`NONE` for the last) |
//! | 28 | 4 | value bytes in this chunk |
//! | 37 | 1 | state: [`CHUNK_MARK`] |
//!
//! then the value bytes. Only the head is in the hash index and an LRU
//! (the largest class's); whether an item is chained follows from its
//! header (`HEADER + nkey + nbytes` above its chunk size).

use super::{ClassInfo, ItemId, RelTime, NONE};
use std::fmt;

// Header field offsets (see the table in the module docs of `store`).
pub(super) const OFF_HNEXT: usize = 0;
pub(super) const OFF_PREV: usize = 4;
pub(super) const OFF_NEXT: usize = 8;
pub(super) const OFF_CAS: usize = 12;
pub(super) const OFF_EXPTIME: usize = 20;
pub(super) const OFF_TIME: usize = 24;
pub(super) const OFF_NBYTES: usize = 28;
pub(super) const OFF_FLAGS: usize = 32;
pub(super) const OFF_NKEY: usize = 36;
pub(super) const OFF_STATE: usize = 37;

/// Private state: the chunk is on its class's free list (the whole state
/// byte). Never visible through `ItemMeta` (a free chunk has no item to
/// ask about).
pub(super) const FREE_MARK: u8 = 0x80;

/// Private state: the chunk holds part of a chained item's value (the whole
/// state byte; see the module docs).
pub(super) const CHUNK_MARK: u8 = 0xC0;

/// Whether a state byte is an item's (not a free chunk or a value chunk):
/// items never have the top bit.
#[cfg(test)]
pub(super) fn holds_item(state: u8) -> bool {
    state & FREE_MARK == 0
}

/// Where a value chunk keeps its head's id.
pub(super) const OFF_CHUNK_HEAD: usize = 0;

/// Bytes at the end of a chained item's head chunk: its first value chunk.
pub(super) const CHAIN_PTR: usize = 4;

/// Private state bits: which segment of its class's LRU a linked item is
/// in ([`Seg`]), two bits at [`SEG_SHIFT`].
pub(super) const SEG_SHIFT: u32 = 5;
pub(super) const SEG_MASK: u8 = 0x60;

/// The segments of a class's LRU (the original's HOT/WARM/COLD/TEMP):
/// new items enter HOT (or TEMP for short TTLs), the maintainer moves them
/// to COLD, a hit in COLD moves an item to WARM, evictions take COLD's
/// tail. A flat LRU keeps everything in COLD.
pub(super) struct Seg;

impl Seg {
    pub(super) const HOT: usize = 0;
    pub(super) const WARM: usize = 1;
    pub(super) const COLD: usize = 2;
    pub(super) const TEMP: usize = 3;
    /// How many.
    pub(super) const N: usize = 4;

    /// The segment recorded in a state byte.
    pub(super) fn of(state: u8) -> usize {
        usize::from((state & SEG_MASK) >> SEG_SHIFT)
    }

    /// `state` with its segment set to `seg`.
    pub(super) fn with(state: u8, seg: usize) -> u8 {
        (state & !SEG_MASK) | (((seg as u8) << SEG_SHIFT) & SEG_MASK)
    }
}

/// Bits of an [`ItemId`] that hold the chunk index within its page.
pub(super) const CHUNK_BITS: u32 = 14;
/// Most chunks a page can be cut into (the id has 14 bits for them).
pub(super) const MAX_PER_PAGE: u32 = 1 << CHUNK_BITS;
/// Most page slots a shard can address (17 bits: no id is ever `NONE`).
pub(super) const MAX_PAGES: usize = 1 << (31 - CHUNK_BITS);

pub(super) fn rd32(rec: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&rec[off..off + 4]);
    u32::from_le_bytes(b)
}

pub(super) fn wr32(rec: &mut [u8], off: usize, v: u32) {
    rec[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn rd64(rec: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[off..off + 8]);
    u64::from_le_bytes(b)
}

pub(super) fn wr64(rec: &mut [u8], off: usize, v: u64) {
    rec[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub(super) fn page_id(page: usize, chunk: u32) -> ItemId {
    ((page as u32) << CHUNK_BITS) | chunk
}

pub(super) fn page_of(id: ItemId) -> usize {
    (id >> CHUNK_BITS) as usize
}

pub(super) fn chunk_of(id: ItemId) -> u32 {
    id & (MAX_PER_PAGE - 1)
}

/// One slab page of a shard. A released slot keeps an empty `data` and
/// `class == 0` until it is reused.
pub(super) struct Page {
    pub(super) data: Box<[u8]>,
    /// Class id (1-based) the page is cut for; 0 = slot unused.
    pub(super) class: u8,
    pub(super) chunk_size: u32,
    /// Chunks handed out (linked or in flight), not free, not uncarved.
    pub(super) used: u32,
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("len", &self.data.len())
            .field("class", &self.class)
            .field("chunk_size", &self.chunk_size)
            .field("used", &self.used)
            .finish()
    }
}

/// Ends of an intrusive LRU list (links live in the item headers).
#[derive(Debug, Clone, Copy)]
pub(super) struct Lru {
    pub(super) head: ItemId,
    pub(super) tail: ItemId,
    pub(super) len: u64,
    /// Sum of the record sizes in the list (the original's `sizes_bytes`).
    pub(super) bytes: u64,
}

impl Default for Lru {
    fn default() -> Self {
        Lru {
            head: NONE,
            tail: NONE,
            len: 0,
            bytes: 0,
        }
    }
}

/// One slab class as seen by one shard.
#[derive(Debug)]
pub(super) struct ClassState {
    pub(super) info: ClassInfo,
    /// Freed chunks, reused last-in first-out.
    pub(super) free: Vec<ItemId>,
    /// The page being carved (`NONE` = none) and its next uncarved chunk.
    pub(super) cur_page: u32,
    pub(super) carved: u32,
    /// Pages held.
    pub(super) pages: u64,
    /// Chunks handed out (items, value chunks, in flight).
    pub(super) used: u64,
    /// The LRU, by segment ([`Seg`]).
    pub(super) lru: [Lru; Seg::N],
    /// Where the crawler stopped in each segment (next item to look at;
    /// `NONE` = tail).
    pub(super) crawl_at: [ItemId; Seg::N],
    /// Sum of record sizes of linked items.
    pub(super) bytes: u64,
    pub(super) evicted: u64,
    /// Evicted items that had an expiry time.
    pub(super) evicted_nonzero: u64,
    /// Seconds between the last evicted item's last access and its
    /// eviction (`evicted_time`), and when that eviction happened (to tell
    /// the latest one across shards).
    pub(super) evicted_time: RelTime,
    pub(super) evicted_at: RelTime,
    pub(super) evicted_unfetched: u64,
    pub(super) evicted_active: u64,
    pub(super) reclaimed: u64,
    pub(super) expired_unfetched: u64,
    pub(super) outofmemory: u64,
    pub(super) crawler_reclaimed: u64,
    /// Items of this class the crawler looked at.
    pub(super) crawler_items_checked: u64,
    /// Segmented LRU moves (the original's per-class counters).
    pub(super) moves_to_cold: u64,
    pub(super) moves_to_warm: u64,
    pub(super) moves_within_lru: u64,
    /// Items freed from a tail by an allocation in segmented mode.
    pub(super) direct_reclaims: u64,
    /// Fetches, by the segment the item was in.
    pub(super) hits: [u64; Seg::N],
}

impl ClassState {
    pub(super) fn new(info: ClassInfo) -> ClassState {
        ClassState {
            info,
            free: Vec::new(),
            cur_page: NONE,
            carved: 0,
            pages: 0,
            used: 0,
            lru: [Lru::default(); Seg::N],
            crawl_at: [NONE; Seg::N],
            bytes: 0,
            evicted: 0,
            evicted_nonzero: 0,
            evicted_time: 0,
            evicted_at: 0,
            evicted_unfetched: 0,
            evicted_active: 0,
            reclaimed: 0,
            expired_unfetched: 0,
            outofmemory: 0,
            crawler_reclaimed: 0,
            crawler_items_checked: 0,
            moves_to_cold: 0,
            moves_to_warm: 0,
            moves_within_lru: 0,
            direct_reclaims: 0,
            hits: [0; Seg::N],
        }
    }

    /// Items in all segments.
    pub(super) fn items(&self) -> u64 {
        self.lru.iter().map(|l| l.len).sum()
    }

    /// Chunks not handed out: free list plus the uncarved rest of the
    /// current page.
    pub(super) fn free_chunks(&self) -> u64 {
        let uncarved = if self.cur_page == NONE {
            0
        } else {
            self.info.per_page.saturating_sub(self.carved)
        };
        self.free.len() as u64 + u64::from(uncarved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = page_id(5, 77);
        assert_eq!(page_of(id), 5);
        assert_eq!(chunk_of(id), 77);
        let max = page_id(MAX_PAGES - 1, MAX_PER_PAGE - 1);
        assert_ne!(max, NONE);
        assert!(holds_item(0) && holds_item(0x7f));
        assert!(!holds_item(FREE_MARK) && !holds_item(CHUNK_MARK));
    }

    #[test]
    fn fields_round_trip() {
        let mut rec = [0u8; 40];
        wr32(&mut rec, OFF_NBYTES, 0xdead_beef);
        wr64(&mut rec, OFF_CAS, u64::MAX - 1);
        assert_eq!(rd32(&rec, OFF_NBYTES), 0xdead_beef);
        assert_eq!(rd64(&rec, OFF_CAS), u64::MAX - 1);
        assert_eq!(rd32(&rec, OFF_PREV), 0);
    }
}
