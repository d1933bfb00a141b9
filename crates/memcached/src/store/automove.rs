//! The slab automover (`slab_automove=1`, the original's default
//! `slab_automove.c` rules), run by the LRU maintainer:
//! - a class with more than 2.5 pages' worth of free chunks whose last
//!   `slab_automove_window` runs saw no eviction, no out-of-memory and no
//!   new page gives a page back to the global pool (at once, run after
//!   run);
//! - otherwise, at most once a second: once the window has filled, when
//!   the class with the youngest tail age that keeps evicting is younger
//!   than `slab_automove_ratio` times the oldest class (with more than two
//!   pages), a page moves from the oldest to the youngest.
//!
//! `slab_automove=2` moves a page from any class with one to spare into
//! each class that evicted since the last run.

use std::sync::atomic::Ordering;

use super::{RelTime, Store, StoreStats};

/// Free chunks (in pages) above which a class gives pages back.
const MIN_PAGES_FOR_RECLAIM: f64 = 2.5;
/// Pages a class must hold to be a move's source.
const MIN_PAGES_FOR_SOURCE: u64 = 2;
/// Class ids are 1..=63.
const CLASSES: usize = 64;

/// One class's figures at one run.
#[derive(Debug, Default, Clone, Copy)]
struct Snap {
    evicted: u64,
    outofmemory: u64,
    total_pages: u64,
    age: u64,
    free_chunks: u64,
    per_page: u64,
}

/// One class's slot in the window.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    dirty: bool,
    evicted_seen: bool,
    evicted_ratio: f64,
    age: u64,
}

/// The automover's memory between runs.
#[derive(Debug)]
pub(super) struct AutoMover {
    window: usize,
    runs: u64,
    before: Vec<Snap>,
    slots: Vec<Slot>,
    /// The second of the last run that moved a page between classes.
    last_check: Option<RelTime>,
}

impl AutoMover {
    pub(super) fn new(window: u32) -> AutoMover {
        let window = window.max(1) as usize;
        AutoMover {
            window,
            runs: 0,
            before: vec![Snap::default(); CLASSES],
            slots: vec![Slot::default(); CLASSES * window],
            last_check: None,
        }
    }

    fn snaps(st: &StoreStats) -> Vec<Snap> {
        let mut v = vec![Snap::default(); CLASSES];
        for c in &st.classes {
            if let Some(s) = v.get_mut(usize::from(c.id)) {
                *s = Snap {
                    evicted: c.evicted,
                    outofmemory: c.outofmemory,
                    total_pages: c.total_pages,
                    age: u64::from(c.age),
                    free_chunks: c.free_chunks,
                    per_page: u64::from(c.per_page),
                };
            }
        }
        v
    }

    /// One decision: `(src, dst)` class ids (dst 0 = the pool) or none.
    /// `last` is the largest chunk class id.
    fn decide(&mut self, st: &StoreStats, last: usize, ratio: f64) -> Option<(i64, i64)> {
        let after = Self::snaps(st);
        let evicted_total: u64 = (1..=last)
            .map(|n| after[n].evicted.saturating_sub(self.before[n].evicted))
            .sum();
        self.runs += 1;
        let w = self.window;
        let cur = (self.runs % w as u64) as usize;
        let (mut oldest, mut oldest_age) = (None, 0u64);
        let (mut youngest, mut youngest_age, mut youngest_evicting) = (None, u64::MAX, false);
        let mut pick = None;
        for (n, (&a, &b)) in after
            .iter()
            .zip(&self.before)
            .enumerate()
            .take(last + 1)
            .skip(1)
        {
            let mut slot = Slot {
                age: a.age,
                ..Slot::default()
            };
            let evicted = a.evicted.saturating_sub(b.evicted);
            if evicted > 0 {
                slot.evicted_ratio = evicted as f64 / evicted_total.max(1) as f64;
                slot.evicted_seen = true;
                slot.dirty = true;
            }
            if a.outofmemory > b.outofmemory || a.total_pages > b.total_pages {
                slot.dirty = true;
            }
            self.slots[n * w + cur] = slot;
            let win = &self.slots[n * w..(n + 1) * w];
            let age = win.iter().map(|s| s.age).sum::<u64>() / w as u64;
            let dirty = win.iter().any(|s| s.dirty);
            let seen = win.iter().filter(|s| s.evicted_seen).count();
            let ratio_sum: f64 = win.iter().map(|s| s.evicted_ratio).sum();
            if a.free_chunks as f64 > a.per_page as f64 * MIN_PAGES_FOR_RECLAIM && !dirty {
                pick = Some((n as i64, 0));
                break;
            }
            if age > oldest_age && a.total_pages > MIN_PAGES_FOR_SOURCE {
                oldest = Some(n);
                oldest_age = age;
            }
            if age < youngest_age && (seen > w / 2 || ratio_sum / w as f64 > 0.25) {
                youngest = Some(n);
                youngest_age = age;
                youngest_evicting = slot.evicted_seen;
            }
        }
        self.before = after;
        if pick.is_some() {
            return pick;
        }
        match (youngest, oldest) {
            (Some(y), Some(o))
                if self.runs > w as u64
                    && (youngest_age as f64) < oldest_age as f64 * ratio
                    && youngest_evicting =>
            {
                Some((o as i64, y as i64))
            }
            _ => None,
        }
    }
}

impl Store {
    /// One run of the automover (see the module docs); true when a page
    /// went back to the pool (the maintainer then runs again soon).
    pub fn automove(&self, now: RelTime) -> bool {
        let level = self.automove.load(Ordering::Relaxed);
        if level == 0 {
            return false;
        }
        let last = self.classes.len();
        let mut am = self.automover.lock().unwrap_or_else(|p| p.into_inner());
        if level == 1 && am.last_check == Some(now) {
            return false;
        }
        let st = self.stats(now);
        if level == 2 {
            let after = AutoMover::snaps(&st);
            let evicting: Vec<usize> = (1..=last)
                .filter(|&n| after[n].evicted > am.before[n].evicted)
                .collect();
            am.before = after;
            drop(am);
            for n in evicting {
                self.reassign(-1, n as i64, now);
            }
            return false;
        }
        let ratio = self.automove_ratio();
        match am.decide(&st, last, ratio) {
            Some((src, 0)) => {
                drop(am);
                self.reassign(src, 0, now);
                true
            }
            Some((src, dst)) => {
                am.last_check = Some(now);
                drop(am);
                self.reassign(src, dst, now);
                false
            }
            None => {
                am.last_check = Some(now);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::*;

    fn store(automove: u32) -> Store {
        Store::new(StoreConfig {
            mem_limit: 8 * 4096,
            page_size: 4096,
            slab_chunk_max: 2048,
            item_size_max: 64 * 1024,
            shards: 1,
            slab_automove: automove,
            slab_automove_window: 3,
            ..StoreConfig::default()
        })
    }

    /// 102 items (3 pages of class 2), then all but 12 deleted.
    fn fill_and_empty(st: &Store) {
        for i in 0..102 {
            let k = format!("key:{i:04}");
            let h = hash_key(k.as_bytes());
            let mut s = st.shard(h);
            let id = st.alloc(&mut s, k.as_bytes(), 60, 1, NONE).expect("memory");
            s.link(id, h);
        }
        for i in 12..102 {
            let k = format!("key:{i:04}");
            let h = hash_key(k.as_bytes());
            let mut s = st.shard(h);
            if let Lookup::Hit(id) = s.find(k.as_bytes(), h, 1, &st.flush) {
                s.unlink(id);
            }
        }
    }

    fn class2_pages(st: &Store) -> u64 {
        st.stats(1)
            .classes
            .iter()
            .find(|c| c.id == 2)
            .map_or(0, |c| c.total_pages)
    }

    #[test]
    fn a_class_with_free_pages_gives_them_back_once_its_window_is_clean() {
        let st = store(1);
        fill_and_empty(&st);
        assert_eq!(class2_pages(&st), 3);
        // The first run sees the pages grow: dirty for a window of 3 runs.
        for now in 1..=3 {
            assert!(!st.automove(now), "run {now}");
        }
        assert!(st.automove(4), "clean window: a page goes to the pool");
        assert_eq!(class2_pages(&st), 2);
        assert_eq!(st.stats(4).pages_returned, 1);
        // 12 items on 2 pages: 56 free chunks, under 2.5 pages (85).
        for now in 4..10 {
            st.automove(now);
        }
        assert_eq!(class2_pages(&st), 2);
        assert_eq!(st.stats(10).curr_items, 12, "no item lost");
        assert_eq!(st.mover_stats().slabs_moved.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn automove_off_moves_nothing() {
        let st = store(0);
        fill_and_empty(&st);
        for now in 1..10 {
            assert!(!st.automove(now));
        }
        assert_eq!(class2_pages(&st), 3);
        st.automove.store(1, Ordering::Relaxed);
        for now in 10..20 {
            st.automove(now);
        }
        assert_eq!(class2_pages(&st), 2, "slabs automove 1 turns it on");
    }
}
