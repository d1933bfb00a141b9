//! The engine: memory, not semantics. A [`Store`] is a set of shards; each
//! [`Shard`] owns 1 MB slab pages (drawn from one global page budget, so
//! `-m` holds for the whole process), its slab classes, one LRU per class,
//! and a hash index. Items live *inside* chunks of their class as a fixed
//! header + key + value: no heap allocation per item once a class has a page.
//! An item bigger than the largest chunk is a chain of chunks (see `page`).
//!
//! What commands mean (add vs set, CAS, incr) is [`crate::exec`]'s business;
//! this module offers the operations the original's `items.c`/`slabs.c`/
//! `assoc.c` offer: allocate, link, unlink, find, bump, evict, crawl.
//!
//! Time is memcached's "relative time": seconds since the store started
//! ([`RelTime`]), passed in by the caller, so tests never sleep.
//!
//! ## Item record layout (little endian, 38 bytes, then key, then value)
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | hash-chain next (`ItemId`, `NONE` = u32::MAX) |
//! | 4 | 4 | LRU prev |
//! | 8 | 4 | LRU next |
//! | 12 | 8 | cas |
//! | 20 | 4 | exptime (`RelTime`, 0 = never) |
//! | 24 | 4 | time of last access (`RelTime`) |
//! | 28 | 4 | value length |
//! | 32 | 4 | client flags |
//! | 36 | 1 | key length |
//! | 37 | 1 | state bits ([`ItemState`]) |
//!
//! With 14-byte keys and 100-byte values a record is 152 bytes: the 152-byte
//! class of `-n 48 -f 1.25`, 6,898 to a page, against the original's 5,461
//! (its 56-byte header pushes the same item into the 192-byte class).

mod assoc;
mod automove;
mod lru;
mod maint;
#[cfg(test)]
mod model;
mod mover;
mod page;
mod shard;
mod slabs;
mod snapshot;

pub use mover::{MoverStats, Reassign};
pub use shard::{Shard, ValueParts};
pub use snapshot::ItemView;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// Seconds since the store started.
pub type RelTime = u32;

/// A chunk within one shard: `page << 14 | chunk`. A chained item is
/// named by its head chunk.
pub type ItemId = u32;

/// No item (end of a chain or list).
pub const NONE: ItemId = u32::MAX;

/// Size of the fixed item header.
pub const HEADER: usize = 38;

/// Longest key.
pub const KEY_MAX: usize = 250;

/// How the store is sized (from memcached's flags).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `-m` in bytes: the slab pages may use this much.
    pub mem_limit: usize,
    /// Slab page size (1 MB, like the original's `slab_page_size`).
    pub page_size: usize,
    /// `-f`: chunk size growth factor.
    pub growth_factor: f64,
    /// `-n`: minimum space for key + value + flags; the smallest chunk is
    /// `48 + min_chunk` rounded up to 8 (48 = the original's item header,
    /// so the classes are the original's; see [`slab_classes`]).
    pub min_chunk: usize,
    /// `-I`: the largest item (header + key + value) accepted.
    pub item_size_max: usize,
    /// Largest slab chunk (`page_size / 2`); bigger items are chains of
    /// chunks.
    pub slab_chunk_max: usize,
    /// `!-M`: evict when memory is full (false: `OutOfMemory` instead).
    pub evict: bool,
    /// Number of shards (power of two).
    pub shards: usize,
    /// `-o no_modern` / `no_lru_maintainer`: the flat LRU of memcached
    /// 1.4, where each allocation first frees an expired or flushed item
    /// from its class's LRU tail ([`Store::reclaim_before_alloc`]).
    pub flat_lru: bool,
    /// The segmented LRU's tuning at start.
    pub lru: LruConfig,
    /// `-o slab_reassign` (off with `no_modern`/`no_slab_reassign`):
    /// `slabs reassign` allowed.
    pub slab_reassign: bool,
    /// `-o slab_automove`: 0 off, 1 the windowed rules, 2 on every
    /// eviction (see `store::automove`).
    pub slab_automove: u32,
    /// `-o slab_automove_ratio`.
    pub slab_automove_ratio: f64,
    /// `-o slab_automove_window` (runs).
    pub slab_automove_window: u32,
}

/// The segmented LRU's settings (`-o lru_segmented`, `hot_lru_pct`,
/// `warm_lru_pct`, `hot_max_factor`, `warm_max_factor`, `temporary_ttl`),
/// the original's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LruConfig {
    /// HOT/WARM/COLD segments (`lru mode segmented`); else all COLD.
    pub segmented: bool,
    /// HOT's share of a class's bytes before items move to COLD.
    pub hot_pct: u32,
    /// WARM's share.
    pub warm_pct: u32,
    /// HOT items older than this times COLD's tail age move to COLD.
    pub hot_max_factor: f64,
    /// WARM's factor.
    pub warm_max_factor: f64,
    /// Items expiring within `temporary_ttl` go to TEMP (never evicted,
    /// only reclaimed once expired).
    pub temp_lru: bool,
    /// Seconds.
    pub temporary_ttl: u32,
}

impl Default for LruConfig {
    fn default() -> Self {
        LruConfig {
            segmented: true,
            hot_pct: 20,
            warm_pct: 40,
            hot_max_factor: 0.2,
            warm_max_factor: 2.0,
            temp_lru: false,
            temporary_ttl: 61,
        }
    }
}

/// [`LruConfig`] as it is now: `lru tune|mode|temp_ttl` change it while
/// the server runs; links and the maintainer read it.
#[derive(Debug)]
pub struct LruTuning {
    /// See [`LruConfig::segmented`].
    pub segmented: AtomicBool,
    /// See [`LruConfig::hot_pct`].
    pub hot_pct: AtomicU32,
    /// See [`LruConfig::warm_pct`].
    pub warm_pct: AtomicU32,
    hot_max_factor: AtomicU64,
    warm_max_factor: AtomicU64,
    /// See [`LruConfig::temp_lru`].
    pub temp_lru: AtomicBool,
    /// See [`LruConfig::temporary_ttl`].
    pub temporary_ttl: AtomicU32,
}

impl LruTuning {
    /// The tuning `cfg` describes.
    pub fn new(cfg: &LruConfig) -> LruTuning {
        LruTuning {
            segmented: AtomicBool::new(cfg.segmented),
            hot_pct: AtomicU32::new(cfg.hot_pct),
            warm_pct: AtomicU32::new(cfg.warm_pct),
            hot_max_factor: AtomicU64::new(cfg.hot_max_factor.to_bits()),
            warm_max_factor: AtomicU64::new(cfg.warm_max_factor.to_bits()),
            temp_lru: AtomicBool::new(cfg.temp_lru),
            temporary_ttl: AtomicU32::new(cfg.temporary_ttl),
        }
    }

    /// See [`LruConfig::hot_max_factor`].
    pub fn hot_max_factor(&self) -> f64 {
        f64::from_bits(self.hot_max_factor.load(Ordering::Relaxed))
    }

    /// See [`LruConfig::warm_max_factor`].
    pub fn warm_max_factor(&self) -> f64 {
        f64::from_bits(self.warm_max_factor.load(Ordering::Relaxed))
    }

    /// `lru tune <hot_pct> <warm_pct> <hot_max_factor> <warm_max_factor>`.
    pub fn tune(&self, hot_pct: u32, warm_pct: u32, hot_factor: f64, warm_factor: f64) {
        self.hot_pct.store(hot_pct, Ordering::Relaxed);
        self.warm_pct.store(warm_pct, Ordering::Relaxed);
        self.hot_max_factor
            .store(hot_factor.to_bits(), Ordering::Relaxed);
        self.warm_max_factor
            .store(warm_factor.to_bits(), Ordering::Relaxed);
    }

    /// The settings now.
    pub fn snapshot(&self) -> LruConfig {
        LruConfig {
            segmented: self.segmented.load(Ordering::Relaxed),
            hot_pct: self.hot_pct.load(Ordering::Relaxed),
            warm_pct: self.warm_pct.load(Ordering::Relaxed),
            hot_max_factor: self.hot_max_factor(),
            warm_max_factor: self.warm_max_factor(),
            temp_lru: self.temp_lru.load(Ordering::Relaxed),
            temporary_ttl: self.temporary_ttl.load(Ordering::Relaxed),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            mem_limit: 64 << 20,
            page_size: 1 << 20,
            growth_factor: 1.25,
            min_chunk: 48,
            item_size_max: 1 << 20,
            slab_chunk_max: 1 << 19,
            evict: true,
            shards: 8,
            flat_lru: false,
            lru: LruConfig::default(),
            slab_reassign: true,
            slab_automove: 1,
            slab_automove_ratio: 0.8,
            slab_automove_window: 30,
        }
    }
}

/// Why an item could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// Bigger than `item_size_max`.
    TooLarge,
    /// No memory and eviction is off (`-M`) or found nothing to evict.
    OutOfMemory,
}

/// What an eviction hook is told: the key and header of the evicted item,
/// and the time of the eviction.
#[derive(Debug, Clone, Copy)]
pub struct Evicted<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The header fields.
    pub meta: ItemMeta,
    /// When.
    pub now: RelTime,
}

/// Called on each eviction of a live item (see [`Store::set_evict_hook`]).
#[derive(Clone)]
pub struct EvictHook(pub Arc<dyn Fn(&Evicted<'_>) + Send + Sync>);

impl std::fmt::Debug for EvictHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvictHook")
    }
}

/// The per-item state bits (byte 37 of the header).
pub struct ItemState;

impl ItemState {
    /// In the hash index and an LRU.
    pub const LINKED: u8 = 1;
    /// Fetched at least once since it was stored (`mg h`, `expired_unfetched`).
    pub const FETCHED: u8 = 2;
    /// Fetched again after the first fetch: gets a second chance at eviction.
    pub const ACTIVE: u8 = 4;
    /// Invalidated by `ms I`/`md I`: served with the X flag.
    pub const STALE: u8 = 8;
    /// A win token (`W`) was handed out for it (later readers see `Z`).
    pub const TOKEN_SENT: u8 = 16;
}

/// The header fields of one item, read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMeta {
    /// CAS unique.
    pub cas: u64,
    /// Expiry (`RelTime`, 0 = never).
    pub exptime: RelTime,
    /// Last access.
    pub time: RelTime,
    /// Client flags.
    pub flags: u32,
    /// Value length.
    pub nbytes: u32,
    /// [`ItemState`] bits.
    pub state: u8,
    /// Slab class id (1-based as the original's `stats items`; a chained
    /// item's is the largest class, where its head is).
    pub class: u8,
    /// Bytes the item occupies: its chunk size; for a chained item, the
    /// sizes of all its chunks.
    pub total_size: u32,
}

/// The result of [`Shard::find`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A live item.
    Hit(ItemId),
    /// Not there.
    Miss,
    /// It was there but expired: now unlinked (counts as `get_expired`).
    Expired,
    /// It was there but flushed: now unlinked (counts as `get_flushed`).
    Flushed,
}

/// Global state every shard consults: the flush marks.
#[derive(Debug, Default)]
pub struct FlushMarks {
    /// Items last touched at or before this `RelTime` are flushed once
    /// `now >= oldest_live` (0 = no flush pending).
    pub oldest_live: AtomicU32,
    /// Items whose CAS is below this are flushed (immediate `flush_all`).
    pub oldest_cas: AtomicU64,
}

/// One slab class: chunk size and how many chunks fit a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassInfo {
    /// Class id, 1-based.
    pub id: u8,
    /// Chunk size in bytes.
    pub chunk_size: u32,
    /// Chunks per page.
    pub per_page: u32,
}

/// The original's item header with CAS (`sizeof(item) + 8`): where its
/// class sizes start, and ours too.
const ORIG_HEADER: usize = 48;

/// The original's `MAX_NUMBER_OF_SLAB_CLASSES - 1` (class 0 is unused).
const MAX_CLASSES: usize = 63;

/// Computes the slab classes for a config: from `48 + min_chunk` (rounded
/// up to 8) growing by `growth_factor` (truncated, then rounded up to 8)
/// while the unrounded size is below `slab_chunk_max / growth_factor`, then
/// one last class of exactly `slab_chunk_max`; as the original's
/// `slabs_init`, at most 63 classes.
///
/// The sequence starts at the original's `sizeof(item) + 8 + -n` (48 + 48
/// = 96), not at our `HEADER + min_chunk` (86 -> 88): that way the classes
/// are byte for byte the original's (`stats slabs` shows the same chunk
/// sizes), our smaller header only leaves items more room, and a 14-byte
/// key + 100-byte value record (38 + 14 + 100 = 152) fits the 152-byte
/// class exactly (from 88 the sequence is 88, 112, 144, 184: 32 bytes of
/// slack). Defaults: 39 classes, 96, 120, 152, 192, 240, ..., 394840, 524288.
///
/// `per_page` is `page_size / chunk_size`, at most 16,384 (the chunk bits
/// of an [`ItemId`]). A `slab_chunk_max` above `page_size` is taken as
/// `page_size`; a `growth_factor` not above 1 as 1.25.
pub fn slab_classes(cfg: &StoreConfig) -> Vec<ClassInfo> {
    let page = cfg.page_size.max(8);
    let max = cfg.slab_chunk_max.clamp(8, page);
    let factor = if cfg.growth_factor.is_finite() && cfg.growth_factor > 1.0 {
        cfg.growth_factor
    } else {
        1.25
    };
    let info = |id: usize, size: usize| ClassInfo {
        id: id as u8,
        chunk_size: size as u32,
        per_page: (page / size).clamp(1, page::MAX_PER_PAGE as usize) as u32,
    };
    let mut out = Vec::new();
    let mut size = ORIG_HEADER + cfg.min_chunk;
    while out.len() < MAX_CLASSES - 1 && (size as f64) < max as f64 / factor {
        size = size.next_multiple_of(8);
        if size >= max {
            break;
        }
        out.push(info(out.len() + 1, size));
        size = ((size as f64 * factor) as usize).max(size + 1);
    }
    out.push(info(out.len() + 1, max));
    out
}

/// Per-class figures for `stats slabs` / `stats items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Class id.
    pub id: u8,
    /// Chunk size.
    pub chunk_size: u32,
    /// Chunks per page.
    pub per_page: u32,
    /// Pages held by the class (all shards).
    pub total_pages: u64,
    /// Chunks in use.
    pub used_chunks: u64,
    /// Chunks free (on the free list or not yet carved).
    pub free_chunks: u64,
    /// Items linked (= `stats items` `number`).
    pub number: u64,
    /// Age of the oldest item (`now - time` at the LRU tail), seconds.
    pub age: u32,
    /// Items evicted from this class.
    pub evicted: u64,
    /// Evicted items that had an expiry time.
    pub evicted_nonzero: u64,
    /// Seconds since its last access of the last item evicted.
    pub evicted_time: RelTime,
    /// When that eviction happened (which shard's figure is the latest).
    pub evicted_at: RelTime,
    /// Evicted items never fetched.
    pub evicted_unfetched: u64,
    /// Evicted items still marked active.
    pub evicted_active: u64,
    /// Expired items reclaimed when their memory was reused.
    pub reclaimed: u64,
    /// Expired items reclaimed never fetched.
    pub expired_unfetched: u64,
    /// Allocations that failed (`-M` or nothing evictable).
    pub outofmemory: u64,
    /// Items reclaimed by the crawler.
    pub crawler_reclaimed: u64,
    /// Items of this class the crawler looked at.
    pub crawler_items_checked: u64,
    /// Bytes held by linked items, header + key + value (summed into
    /// `bytes` in `stats`).
    pub bytes: u64,
    /// Items in HOT, WARM, COLD, TEMP.
    pub number_seg: [u64; 4],
    /// Age of HOT's and WARM's tail items (`age` is COLD's).
    pub age_hot: u32,
    /// See `age_hot`.
    pub age_warm: u32,
    /// Segmented LRU moves.
    pub moves_to_cold: u64,
    /// See `moves_to_cold`.
    pub moves_to_warm: u64,
    /// See `moves_to_cold`.
    pub moves_within_lru: u64,
    /// Chunks freed from a tail by an allocation (segmented).
    pub direct_reclaims: u64,
    /// Fetches by the segment the item was in (HOT, WARM, COLD, TEMP).
    pub hits: [u64; 4],
}

/// Whole-store figures for `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Items linked now.
    pub curr_items: u64,
    /// Items ever linked.
    pub total_items: u64,
    /// Bytes used by linked items (their full record size, as the original's `bytes`).
    pub bytes: u64,
    /// Evictions.
    pub evictions: u64,
    /// Expired items whose memory was reused.
    pub reclaimed: u64,
    /// Crawler reclaims.
    pub crawler_reclaimed: u64,
    /// Items the crawler looked at.
    pub crawler_items_checked: u64,
    /// Expired before anyone fetched them.
    pub expired_unfetched: u64,
    /// Evicted before anyone fetched them.
    pub evicted_unfetched: u64,
    /// Evicted while active.
    pub evicted_active: u64,
    /// Segmented LRU moves (all classes).
    pub moves_to_cold: u64,
    /// See `moves_to_cold`.
    pub moves_to_warm: u64,
    /// See `moves_to_cold`.
    pub moves_within_lru: u64,
    /// See [`ClassStats::direct_reclaims`].
    pub direct_reclaims: u64,
    /// Pages handed out times the page size.
    pub total_malloced: u64,
    /// Pages in the budget not handed out now.
    pub pages_free: u64,
    /// Of those, pages handed out before and given back (the original's
    /// `slab_global_page_pool`).
    pub pages_returned: u64,
    /// Per class (only classes holding pages or items).
    pub classes: Vec<ClassStats>,
    /// Hash table size as a power of two (`hash_power_level`).
    pub hash_power_level: u32,
    /// Bytes of all hash tables (`hash_bytes`).
    pub hash_bytes: u64,
}

/// The page budget shared by all shards.
#[derive(Debug)]
pub struct PagePool {
    /// Pages still available.
    pub free: AtomicUsize,
    /// The total, `mem_limit / page_size` (at least 1), as started.
    pub total: usize,
    /// Pages to withhold from the next pages given back: what a lowered
    /// `cache_memlimit` took beyond the free pages.
    pub debt: AtomicUsize,
    /// The part of `debt` a lowered `cache_memlimit` owes (what
    /// [`Store::shed`] works off; a class's first page granted over the
    /// limit is not shed, as the original keeps it).
    pub shrink: AtomicUsize,
    /// The memory limit now, in bytes (`cache_memlimit` changes it).
    pub limit: AtomicUsize,
    /// Pages each chunk class holds, summed over all shards (index = class
    /// index). A class's first page is granted even over the limit, and
    /// its last page is never taken from it, as the original does.
    pub class_pages: Box<[AtomicUsize]>,
    /// Of the free pages, those that were handed out before and given
    /// back (the original's global page pool: memory allocated once and
    /// kept for reuse; still counted in `total_malloced`). Taken first.
    pub returned: AtomicUsize,
}

impl PagePool {
    /// Takes `n` pages from the budget if that many are left.
    pub fn take(&self, n: usize) -> bool {
        let ok = self
            .free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| f.checked_sub(n))
            .is_ok();
        if ok {
            let _ = self
                .returned
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                    Some(r.saturating_sub(n))
                });
        }
        ok
    }

    /// Takes one page for chunk class `c` from the budget, or, when the
    /// budget is spent and the class holds no page in any shard, grants it
    /// over the limit (the grant is a debt the next page given back pays).
    pub fn take_for_class(&self, c: usize) -> bool {
        if self.take(1) {
            return true;
        }
        if self.class_total(c) == 0 {
            self.grant_over();
            return true;
        }
        false
    }

    /// One page beyond the limit: counted as a debt.
    pub fn grant_over(&self) {
        self.debt.fetch_add(1, Ordering::AcqRel);
    }

    /// Pages chunk class `c` holds across the store.
    pub fn class_total(&self, c: usize) -> usize {
        self.class_pages
            .get(c)
            .map_or(0, |n| n.load(Ordering::Acquire))
    }

    /// Gives `n` pages back (paying off any debt first); they join the
    /// global page pool.
    pub fn give(&self, n: usize) {
        let kept = self.add(n);
        self.returned.fetch_add(kept, Ordering::AcqRel);
    }

    /// Adds `n` pages to the budget, paying off any debt first; returns
    /// how many became free.
    fn add(&self, n: usize) -> usize {
        let mut paid = 0;
        let _ = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                paid = d.min(n);
                Some(d - paid)
            });
        if n > paid {
            self.free.fetch_add(n - paid, Ordering::AcqRel);
        }
        n - paid
    }

    /// Moves the limit to `bytes`: growing adds pages (after paying off
    /// debt); shrinking takes free pages, and what is not free becomes a
    /// debt that pages given back later pay off.
    pub fn set_limit(&self, bytes: usize, page_size: usize) {
        let page = page_size.max(1);
        let old = self.limit.swap(bytes, Ordering::AcqRel) / page;
        let new = bytes / page;
        if new >= old {
            let grow = new - old;
            let _ = self
                .shrink
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
                    Some(x.saturating_sub(grow))
                });
            self.add(grow);
        } else {
            let want = old - new;
            let mut took = 0;
            let _ = self
                .free
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                    took = f.min(want);
                    Some(f - took)
                });
            self.debt.fetch_add(want - took, Ordering::AcqRel);
            self.shrink.fetch_add(want - took, Ordering::AcqRel);
            let free = self.free.load(Ordering::Acquire);
            let _ = self
                .returned
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| Some(r.min(free)));
        }
    }
}

/// The sharded store.
#[derive(Debug)]
pub struct Store {
    shards: Vec<Mutex<Shard>>,
    mask: u64,
    cfg: StoreConfig,
    classes: Vec<ClassInfo>,
    cas: AtomicU64,
    /// The flush marks every lookup checks.
    pub flush: FlushMarks,
    /// The page budget all shards draw on.
    pool: Arc<PagePool>,
    /// The segmented LRU's settings now.
    tuning: Arc<LruTuning>,
    /// Passes the LRU maintainer made (`lru_maintainer_juggles`).
    pub juggles: AtomicU64,
    /// The page mover's counters.
    mover: MoverStats,
    /// Where `slabs reassign -1 <dst>` looks for a source next.
    pick_next: AtomicUsize,
    /// `slab_automove` now (0, 1, 2; `slabs automove` changes it).
    pub automove: AtomicU32,
    automove_ratio: AtomicU64,
    automover: Mutex<automove::AutoMover>,
    /// Where the next search for a page to release starts (spreads the
    /// releases over the shards).
    victim: AtomicUsize,
    /// Bytes counted as already allocated at start (the original's
    /// `T_MEMD_INITIAL_MALLOC` test hook), see [`Store::set_initial_malloc`].
    initial_malloc: usize,
}

/// The hash of a key (used for both the shard choice and the index).
///
/// wyhash's 64x64->128 multiply-fold over 8-byte little-endian words (the
/// tail zero-padded, the length mixed into the seed), then murmur3's
/// `fmix64` avalanche so that both the low bits (shard) and the high bits
/// (bucket) are well mixed.
pub fn hash_key(key: &[u8]) -> u64 {
    const K0: u64 = 0xa076_1d64_78bd_642f;
    const K1: u64 = 0xe703_7ed1_a0b4_28db;
    fn mum(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let mut h = K0 ^ (key.len() as u64).wrapping_mul(K1);
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = mum(h ^ u64::from_le_bytes(b), K1);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = mum(h ^ u64::from_le_bytes(b), K1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Store {
    /// A store sized by `cfg`: `cfg.shards` rounded up to a power of two
    /// (at least 1), a pool of `mem_limit / page_size` pages (at least 1).
    pub fn new(cfg: StoreConfig) -> Store {
        let n = cfg.shards.max(1).next_power_of_two();
        let total = (cfg.mem_limit / cfg.page_size.max(1)).max(1);
        let classes = slab_classes(&cfg);
        let pool = Arc::new(PagePool {
            free: AtomicUsize::new(total),
            total,
            debt: AtomicUsize::new(0),
            shrink: AtomicUsize::new(0),
            limit: AtomicUsize::new(cfg.mem_limit),
            class_pages: classes.iter().map(|_| AtomicUsize::new(0)).collect(),
            returned: AtomicUsize::new(0),
        });
        let tuning = Arc::new(LruTuning::new(&cfg.lru));
        let automove_level = cfg.slab_automove;
        let automove_ratio = AtomicU64::new(cfg.slab_automove_ratio.to_bits());
        let automover = Mutex::new(automove::AutoMover::new(cfg.slab_automove_window));
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard::new(
                    &cfg,
                    &classes,
                    Arc::clone(&pool),
                    Arc::clone(&tuning),
                ))
            })
            .collect();
        Store {
            shards,
            mask: n as u64 - 1,
            cfg,
            classes,
            cas: AtomicU64::new(0),
            flush: FlushMarks::default(),
            pool,
            victim: AtomicUsize::new(0),
            initial_malloc: 0,
            tuning,
            juggles: AtomicU64::new(0),
            mover: MoverStats::default(),
            pick_next: AtomicUsize::new(0),
            automove: AtomicU32::new(automove_level),
            automove_ratio,
            automover,
        }
    }

    /// The memory limit now (`-m`, or what `cache_memlimit` set).
    pub fn mem_limit(&self) -> usize {
        self.pool.limit.load(Ordering::Acquire)
    }

    /// `cache_memlimit`: moves the limit to `bytes`. Growing takes effect
    /// at once; shrinking keeps what is stored and gives pages back as
    /// they empty ([`Store::shed`]).
    pub fn set_mem_limit(&self, bytes: usize) {
        self.pool.set_limit(bytes, self.cfg.page_size);
    }

    /// While a lowered limit is still owed pages, gives back pages that
    /// hold no live item (from shards whose lock is free). Returns how
    /// many were given.
    pub fn shed(&self, now: RelTime) -> usize {
        let owed = || {
            self.pool.debt.load(Ordering::Acquire) > 0
                && self.pool.shrink.load(Ordering::Acquire) > 0
        };
        let mut n = 0;
        for s in &self.shards {
            if !owed() {
                break;
            }
            let mut guard = match s.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            guard.sync_flush(&self.flush);
            while owed() && guard.release_page_with(now, NONE, false, true) {
                let _ = self
                    .pool
                    .shrink
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
                        Some(x.saturating_sub(1))
                    });
                n += 1;
            }
        }
        n
    }

    /// With a flat LRU, what the original does before each allocation:
    /// free one expired or flushed item from the tail of the LRU of the
    /// class a `key_len`/`nbytes` item goes to (counted as `reclaimed`).
    /// Nothing with the segmented LRU (its maintainer does that).
    pub fn reclaim_before_alloc(
        &self,
        shard: &mut Shard,
        key_len: usize,
        nbytes: usize,
        now: RelTime,
    ) {
        if !self.cfg.flat_lru {
            return;
        }
        shard.sync_flush(&self.flush);
        if let Ok(size) = shard.record_size(key_len, nbytes) {
            let c = shard.class_for(size);
            shard.pull_tail(c, now, NONE, false);
        }
    }

    /// `stats reset` for the store's counters (see [`Shard::reset_stats`]),
    /// and the page mover's and the maintainer's global counts
    /// (`slabs_moved`, `slab_reassign_*`, `lru_maintainer_juggles`), which
    /// the original's reset zeroes too; `slab_reassign_running` is a state,
    /// not a count, and stays.
    pub fn reset_stats(&self) {
        self.for_each_shard(Shard::reset_stats);
        self.mover.reset();
        self.juggles.store(0, Ordering::Relaxed);
    }

    /// Calls `hook` on every eviction of a live item, in every shard.
    pub fn set_evict_hook(&self, hook: EvictHook) {
        self.for_each_shard(|s| s.evict_hook = Some(hook.clone()));
    }

    /// Counts `bytes` as allocated before the first page (as the original
    /// does with `T_MEMD_INITIAL_MALLOC`, which its tests use to stand for
    /// a nearly full 64-bit memory limit): the page budget shrinks to what
    /// is left of `-m`, and `total_malloced` includes them. Call before
    /// any item is stored.
    pub fn set_initial_malloc(&mut self, bytes: usize) {
        let page = self.cfg.page_size.max(1);
        let left = self.cfg.mem_limit.saturating_sub(bytes) / page;
        self.pool
            .free
            .store(left.min(self.pool.total), Ordering::Release);
        self.initial_malloc = bytes;
    }

    /// The config.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// `slab_automove_ratio` now.
    pub fn automove_ratio(&self) -> f64 {
        f64::from_bits(self.automove_ratio.load(Ordering::Relaxed))
    }

    /// `slabs automove ratio <r>`.
    pub fn set_automove_ratio(&self, r: f64) {
        self.automove_ratio.store(r.to_bits(), Ordering::Relaxed);
    }

    /// The segmented LRU's settings now (`lru` changes them).
    pub fn lru_tuning(&self) -> &LruTuning {
        &self.tuning
    }

    /// One pass of the LRU maintainer over every shard (waiting for each
    /// shard's lock in turn): see [`Shard::maintain`]. Counts a juggle;
    /// returns the items freed or moved.
    pub fn maintain(&self, now: RelTime) -> usize {
        self.juggles.fetch_add(1, Ordering::Relaxed);
        let mut did = 0;
        self.for_each_shard(|s| did += s.maintain(now, &self.flush, 500));
        did
    }

    /// The slab classes.
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// A fresh CAS unique (never 0).
    pub fn next_cas(&self) -> u64 {
        self.cas.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The last CAS handed out.
    pub fn current_cas(&self) -> u64 {
        self.cas.load(Ordering::Relaxed)
    }

    /// Locks the shard that owns `hash`.
    pub fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        let i = (hash & self.mask) as usize;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Shard::alloc`], and when that finds no memory, asks the other
    /// shards (only those whose lock is free right now: never wait for a
    /// second lock while holding one) to release a page, then tries again.
    ///
    /// `shard` must be a shard of this store, locked by the caller. With
    /// eviction on, the other shards may evict to free a page; under `-M`
    /// they only give pages with no live item in them. No class ever loses
    /// its last page, and a class's first page in the store is granted
    /// even over the limit, as the original does (a class that has pages
    /// only in other shards gets none here once memory is full). A
    /// class with pages elsewhere but none here first has a page of
    /// expired items released elsewhere, so that expired chunks are reused
    /// before the store grows. A chained item bigger than a page asks for
    /// as many pages as it spans.
    /// Also copies the flush marks into the shard, so the allocation
    /// reclaims flushed items.
    pub fn alloc(
        &self,
        shard: &mut Shard,
        key: &[u8],
        nbytes: usize,
        now: RelTime,
        protect: ItemId,
    ) -> Result<ItemId, AllocError> {
        shard.sync_flush(&self.flush);
        if self.cfg.evict {
            if let Ok(size) = shard.record_size(key.len(), nbytes) {
                if size > shard.max_chunk && shard.pages_for(size) <= self.pool.total {
                    self.evict_oldest_chained(shard, size, now, protect);
                }
            }
        }
        if shard.lacks_a_page_of_a_started_class(key.len(), nbytes) {
            // One store would reuse the class's expired chunks before
            // growing: a page of expired items elsewhere goes first.
            self.release_elsewhere(now, false, true);
        }
        match shard.alloc_inner(key, nbytes, now, protect) {
            Err(AllocError::OutOfMemory) => {}
            done => return done,
        }
        let size = shard.record_size(key.len(), nbytes)?;
        let need = shard.pages_for(size);
        // Pages given back pay the debt of over-limit grants first.
        // A chain that failed part way left its chunks free here, so any
        // page given back may be enough: try again once one was.
        let tries = need + self.pool.debt.load(Ordering::Acquire);
        let mut released = false;
        for _ in 0..tries {
            if self.pool.free.load(Ordering::Acquire) >= need {
                break;
            }
            if !self.release_elsewhere(now, self.cfg.evict, size <= shard.max_chunk) {
                break;
            }
            released = true;
        }
        let r = if released || self.pool.free.load(Ordering::Acquire) >= need {
            shard.alloc_inner(key, nbytes, now, protect)
        } else {
            Err(AllocError::OutOfMemory)
        };
        if r == Err(AllocError::OutOfMemory) {
            shard.count_oom(key.len(), nbytes);
        }
        r
    }

    /// While shard `own` lacks room for a chained record of `size` bytes
    /// (free chunks of the largest class here plus pages in the pool),
    /// evicts the oldest item of the largest class in the whole store (own
    /// shard included; other shards only when their lock is free; they
    /// give the pages that empty back to the pool), so that chained items go
    /// oldest first as in the original's single LRU rather than oldest
    /// per shard.
    fn evict_oldest_chained(&self, own: &mut Shard, size: usize, now: RelTime, protect: ItemId) {
        let l = own.classes.len() - 1;
        let per_chunk = own.max_chunk.saturating_sub(HEADER).max(1);
        let need = size.div_ceil(per_chunk) as u64;
        let per_page = u64::from(own.classes[l].info.per_page);
        let rounds = need as usize + self.shards.len() + self.pool.debt.load(Ordering::Acquire);
        for _ in 0..rounds {
            let pool = self.pool.free.load(Ordering::Acquire) as u64;
            if own.classes[l].free_chunks() + pool * per_page >= need {
                return;
            }
            let mut best = own.largest_tail_age().map(|a| (a, None));
            for (i, m) in self.shards.iter().enumerate() {
                let age = match m.try_lock() {
                    Ok(g) => g.largest_tail_age(),
                    Err(TryLockError::Poisoned(p)) => p.into_inner().largest_tail_age(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                if let Some(a) = age {
                    if best.is_none_or(|(b, _)| a < b) {
                        best = Some((a, Some(i)));
                    }
                }
            }
            let evicted = match best {
                None => false,
                Some((_, None)) => own.pull_tail(l, now, protect, true),
                Some((_, Some(i))) => match self.shards[i].try_lock() {
                    Ok(mut g) => g.evict_largest_tail(now, NONE),
                    Err(TryLockError::Poisoned(p)) => p.into_inner().evict_largest_tail(now, NONE),
                    Err(TryLockError::WouldBlock) => false,
                },
            };
            if !evicted {
                return;
            }
        }
    }

    /// Asks the shards whose lock is free to give a page to the pool, until
    /// one does. (The caller's own shard is locked, so it is skipped.)
    /// Least harm first: a page that is empty or holds only expired items,
    /// then (with `live`) any page (see [`Shard::release_page_with`] for
    /// `keep_last`).
    fn release_elsewhere(&self, now: RelTime, live: bool, keep_last: bool) -> bool {
        let start = self.victim.fetch_add(1, Ordering::Relaxed);
        let passes: &[bool] = if live { &[false, true] } else { &[false] };
        for &pass in passes {
            for k in 0..self.shards.len() {
                let i = (start + k) & self.mask as usize;
                let mut guard = match self.shards[i].try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                if guard.release_page_with(now, NONE, pass, keep_last) {
                    return true;
                }
            }
        }
        false
    }

    /// How many shards the store has.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Locks shard `i` (see [`Store::shard_count`]), if there is one.
    pub fn shard_at(&self, i: usize) -> Option<MutexGuard<'_, Shard>> {
        self.shards
            .get(i)
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Locks each shard in turn (stats, crawler, flush).
    pub fn for_each_shard(&self, mut f: impl FnMut(&mut Shard)) {
        for s in &self.shards {
            f(&mut s.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    /// Whole-store figures, summed over shards (each locked in turn, so
    /// the sum is not one instant's). Per class figures are summed too,
    /// except `age`, the largest.
    ///
    /// `bytes` (class and total) is the sum of linked items' record sizes
    /// (header + key + value); a chained item counts in the largest
    /// class, its value chunks in `used_chunks` of their classes.
    pub fn stats(&self, now: RelTime) -> StoreStats {
        let mut st = StoreStats::default();
        let mut classes: Vec<ClassStats> = Vec::new();
        let mut buckets = 0u64;
        let mut slab_pages = 0u64;
        self.for_each_shard(|s| {
            st.curr_items += s.curr_items;
            st.total_items += s.total_items;
            buckets += s.buckets.len() as u64;
            for cls in &s.classes {
                slab_pages += cls.pages;
                // Totals count every class, the list only the busy ones.
                st.bytes += cls.bytes;
                st.evictions += cls.evicted;
                st.reclaimed += cls.reclaimed;
                st.crawler_reclaimed += cls.crawler_reclaimed;
                st.crawler_items_checked += cls.crawler_items_checked;
                st.expired_unfetched += cls.expired_unfetched;
                st.evicted_unfetched += cls.evicted_unfetched;
                st.evicted_active += cls.evicted_active;
                st.moves_to_cold += cls.moves_to_cold;
                st.moves_to_warm += cls.moves_to_warm;
                st.moves_within_lru += cls.moves_within_lru;
                st.direct_reclaims += cls.direct_reclaims;
                if cls.pages == 0 && cls.items() == 0 {
                    continue;
                }
                let age_of = |seg: usize| match cls.lru[seg].tail {
                    NONE => 0,
                    tail => now.saturating_sub(s.get32(tail, page::OFF_TIME)),
                };
                let age = age_of(page::Seg::COLD);
                let i = match classes.iter().position(|x| x.id == cls.info.id) {
                    Some(i) => i,
                    None => {
                        classes.push(ClassStats {
                            id: cls.info.id,
                            chunk_size: cls.info.chunk_size,
                            per_page: cls.info.per_page,
                            ..ClassStats::default()
                        });
                        classes.len() - 1
                    }
                };
                let x = &mut classes[i];
                x.total_pages += cls.pages;
                x.used_chunks += cls.used;
                x.free_chunks += cls.free_chunks();
                x.number += cls.items();
                x.age = x.age.max(age);
                x.age_hot = x.age_hot.max(age_of(page::Seg::HOT));
                x.age_warm = x.age_warm.max(age_of(page::Seg::WARM));
                for seg in 0..page::Seg::N {
                    x.number_seg[seg] += cls.lru[seg].len;
                    x.hits[seg] += cls.hits[seg];
                }
                x.moves_to_cold += cls.moves_to_cold;
                x.moves_to_warm += cls.moves_to_warm;
                x.moves_within_lru += cls.moves_within_lru;
                x.direct_reclaims += cls.direct_reclaims;
                x.evicted += cls.evicted;
                x.evicted_nonzero += cls.evicted_nonzero;
                if cls.evicted > 0 && cls.evicted_at >= x.evicted_at {
                    x.evicted_time = cls.evicted_time;
                    x.evicted_at = cls.evicted_at;
                }
                x.evicted_unfetched += cls.evicted_unfetched;
                x.evicted_active += cls.evicted_active;
                x.reclaimed += cls.reclaimed;
                x.expired_unfetched += cls.expired_unfetched;
                x.outofmemory += cls.outofmemory;
                x.crawler_reclaimed += cls.crawler_reclaimed;
                x.crawler_items_checked += cls.crawler_items_checked;
                x.bytes += cls.bytes;
            }
        });
        classes.sort_by_key(|c| c.id);
        st.classes = classes;
        st.pages_returned = self.pool.returned.load(Ordering::Acquire) as u64;
        st.total_malloced = (slab_pages + st.pages_returned) * self.cfg.page_size as u64
            + self.initial_malloc as u64;
        st.pages_free = self.pool.free.load(Ordering::Acquire) as u64;
        st.hash_power_level = if buckets == 0 { 0 } else { buckets.ilog2() };
        st.hash_bytes = buckets * std::mem::size_of::<ItemId>() as u64;
        st
    }

    /// The page budget (total and free).
    pub fn pool(&self) -> &PagePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn default_classes_are_the_originals() {
        let classes = slab_classes(&StoreConfig::default());
        let sizes: Vec<u32> = classes.iter().map(|c| c.chunk_size).collect();
        println!("{} classes: {sizes:?}", sizes.len());
        assert_eq!(classes.len(), 39);
        assert_eq!(
            &sizes[..12],
            &[96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184],
            "the original's sequence"
        );
        assert_eq!(sizes[sizes.len() - 2], 394_840);
        assert_eq!(sizes[sizes.len() - 1], 512 * 1024);
        for (i, c) in classes.iter().enumerate() {
            assert_eq!(usize::from(c.id), i + 1);
            assert_eq!(c.chunk_size % 8, 0);
            assert_eq!(c.per_page, (1 << 20) / c.chunk_size);
        }
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
        // A 14-byte key + 100-byte value record fits a class exactly.
        let record = (HEADER + 14 + 100) as u32;
        let fit = classes
            .iter()
            .find(|c| c.chunk_size >= record)
            .expect("a class");
        assert_eq!((fit.chunk_size, fit.per_page), (152, 6898));
    }

    #[test]
    fn classes_follow_the_flags() {
        let cfg = StoreConfig {
            growth_factor: 2.0,
            min_chunk: 16,
            ..StoreConfig::default()
        };
        let sizes: Vec<u32> = slab_classes(&cfg).iter().map(|c| c.chunk_size).collect();
        assert_eq!(&sizes[..4], &[64, 128, 256, 512]);
        assert_eq!(*sizes.last().expect("last"), 512 * 1024);
        // A factor barely above 1 stops at 63 classes, the original's cap.
        let cfg = StoreConfig {
            growth_factor: 1.01,
            ..StoreConfig::default()
        };
        let classes = slab_classes(&cfg);
        assert_eq!(classes.len(), 63);
        assert_eq!(classes[62].chunk_size, 512 * 1024);
        // Tiny pages: chunk counts stay addressable, chunks fit the page.
        let cfg = StoreConfig {
            page_size: 4096,
            slab_chunk_max: 1 << 20,
            min_chunk: 1,
            ..StoreConfig::default()
        };
        let classes = slab_classes(&cfg);
        assert_eq!(
            classes.last().map(|c| (c.chunk_size, c.per_page)),
            Some((4096, 1))
        );
        let cfg = StoreConfig {
            min_chunk: 0,
            page_size: 1 << 30,
            slab_chunk_max: 1 << 29,
            ..StoreConfig::default()
        };
        assert!(slab_classes(&cfg).iter().all(|c| c.per_page <= 1 << 14));
    }

    #[test]
    fn hash_spreads_low_and_high_bits() {
        let n = 200_000u32;
        let mut low = vec![0u32; 256];
        let mut high = vec![0u32; 256];
        let mut seen = HashSet::new();
        for i in 0..n {
            let h = hash_key(format!("key:{i:010}").as_bytes());
            low[(h & 0xff) as usize] += 1;
            high[((h >> 32) & 0xff) as usize] += 1;
            seen.insert(h);
        }
        assert_eq!(seen.len(), n as usize, "no 64-bit collisions");
        let expect = n / 256;
        for bins in [&low, &high] {
            for &b in bins.iter() {
                assert!(
                    b > expect * 8 / 10 && b < expect * 12 / 10,
                    "{b} vs {expect}"
                );
            }
        }
        // Length and every byte matter.
        assert_ne!(hash_key(b""), hash_key(b"\0"));
        assert_ne!(hash_key(b"a"), hash_key(b"a\0"));
        assert_ne!(hash_key(b"abcdefgh1"), hash_key(b"abcdefgh2"));
        assert_eq!(hash_key(b"same"), hash_key(b"same"));
    }

    #[test]
    fn new_rounds_shards_and_sizes_the_pool() {
        let st = Store::new(StoreConfig {
            shards: 3,
            mem_limit: 10 << 20,
            ..StoreConfig::default()
        });
        assert_eq!(st.shards.len(), 4);
        assert_eq!(st.pool().total, 10);
        let st = Store::new(StoreConfig {
            shards: 0,
            mem_limit: 1000,
            ..StoreConfig::default()
        });
        assert_eq!(st.shards.len(), 1);
        assert_eq!(st.pool().total, 1);
        assert_eq!(st.current_cas(), 0);
        assert_eq!(st.next_cas(), 1);
        assert_eq!(st.current_cas(), 1);
        let stats = Store::new(StoreConfig::default()).stats(0);
        assert_eq!(stats.pages_free, 64);
        assert_eq!(stats.total_malloced, 0);
        assert!(stats.classes.is_empty());
        // 8 shards of 2^12 buckets.
        assert_eq!(stats.hash_power_level, 15);
        assert_eq!(stats.hash_bytes, 8 * 4096 * 4);
    }

    #[test]
    fn too_large_items_and_keys() {
        let st = Store::new(StoreConfig {
            shards: 1,
            ..StoreConfig::default()
        });
        let mut s = st.shard(0);
        let max = st.config().item_size_max;
        let id = st
            .alloc(&mut s, b"k", max - HEADER - 1, 0, NONE)
            .expect("the largest item");
        // A 512 KB head, a 512 KB value chunk, 42 bytes in a 96-byte one:
        // one page of the largest class and one of the smallest.
        assert_eq!(s.meta(id).total_size as usize, max + 96);
        assert_eq!(st.pool().free.load(Ordering::Acquire), 62);
        assert_eq!(
            st.alloc(&mut s, b"k", max - HEADER, 0, NONE),
            Err(AllocError::TooLarge)
        );
        assert_eq!(
            st.alloc(&mut s, &[b'k'; KEY_MAX + 1], 1, 0, NONE),
            Err(AllocError::TooLarge)
        );
        let id = st
            .alloc(&mut s, &[b'k'; KEY_MAX], 1, 0, NONE)
            .expect("longest key");
        assert_eq!(s.key(id).len(), KEY_MAX);
    }

    #[test]
    fn threads_share_the_budget() {
        let st = Store::new(StoreConfig {
            mem_limit: 16 * 4096,
            page_size: 4096,
            slab_chunk_max: 2048,
            item_size_max: 20_000,
            shards: 4,
            ..StoreConfig::default()
        });
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                let st = &st;
                scope.spawn(move || {
                    for i in 0..3000u32 {
                        let k = format!("t{t}:{}", i % 300);
                        let len = [20, 300, 1500, 9000][((i * 7 + t) % 4) as usize];
                        let h = hash_key(k.as_bytes());
                        let mut s = st.shard(h);
                        let old = match s.find(k.as_bytes(), h, i, &st.flush) {
                            Lookup::Hit(id) => id,
                            _ => NONE,
                        };
                        if let Ok(id) = st.alloc(&mut s, k.as_bytes(), len, i, old) {
                            s.fill_value(id, t as u8);
                            if old != NONE {
                                s.unlink(old);
                            }
                            s.link(id, h);
                        }
                        if let Lookup::Hit(id) = s.find(k.as_bytes(), h, i, &st.flush) {
                            assert!(s.value_vec(id).iter().all(|&b| b == t as u8));
                            s.bump(id, i);
                        }
                        drop(s);
                        let free = st.pool().free.load(Ordering::Acquire);
                        assert!(free <= st.pool().total);
                    }
                });
            }
        });
        let mut held = 0;
        st.for_each_shard(|s| {
            s.check_invariants();
            held += s.pages_held() as usize;
        });
        let debt = st.pool().debt.load(Ordering::Acquire);
        assert_eq!(
            held + st.stats(0).pages_free as usize,
            st.pool().total + debt
        );
        assert!(st.stats(0).evictions > 0);
    }
}
