//! The per-class LRU: one doubly linked list per segment ([`Seg`]: HOT,
//! WARM, COLD, TEMP) threaded through the items' own headers (prev at
//! offset 4, next at offset 8), head = most recently used. The segment an
//! item is in is recorded in its state byte. Every operation is O(1). The
//! crawler's cursors are kept valid here: when the item one points at
//! leaves the list, the cursor moves to its `prev`.

use super::page::{Seg, OFF_NEXT, OFF_PREV};
use super::{ItemId, Shard, NONE};

impl Shard {
    /// Links `id` at the head of the segment of class `c`'s LRU its state
    /// names.
    pub(super) fn lru_push_head(&mut self, c: usize, id: ItemId) {
        let seg = Seg::of(self.state(id));
        let len = self.record_len(id) as u64;
        let head = self.classes[c].lru[seg].head;
        self.set32(id, OFF_PREV, NONE);
        self.set32(id, OFF_NEXT, head);
        if head == NONE {
            self.classes[c].lru[seg].tail = id;
        } else {
            self.set32(head, OFF_PREV, id);
        }
        let lru = &mut self.classes[c].lru[seg];
        lru.head = id;
        lru.len += 1;
        lru.bytes += len;
    }

    /// Takes `id` out of class `c`'s LRU (the segment its state names).
    pub(super) fn lru_remove(&mut self, c: usize, id: ItemId) {
        let seg = Seg::of(self.state(id));
        let len = self.record_len(id) as u64;
        let prev = self.get32(id, OFF_PREV);
        let next = self.get32(id, OFF_NEXT);
        if prev == NONE {
            self.classes[c].lru[seg].head = next;
        } else {
            self.set32(prev, OFF_NEXT, next);
        }
        if next == NONE {
            self.classes[c].lru[seg].tail = prev;
        } else {
            self.set32(next, OFF_PREV, prev);
        }
        self.set32(id, OFF_PREV, NONE);
        self.set32(id, OFF_NEXT, NONE);
        let cls = &mut self.classes[c];
        cls.lru[seg].len -= 1;
        cls.lru[seg].bytes -= len;
        if cls.crawl_at[seg] == id {
            cls.crawl_at[seg] = prev;
        }
    }

    /// Moves `id` to the head of its segment of class `c`'s LRU.
    pub(super) fn lru_to_head(&mut self, c: usize, id: ItemId) {
        let seg = Seg::of(self.state(id));
        if self.classes[c].lru[seg].head != id {
            self.lru_remove(c, id);
            self.lru_push_head(c, id);
        }
    }

    /// Moves `id` (linked, in class `c`) to the head of segment `seg`.
    pub(super) fn lru_move(&mut self, c: usize, id: ItemId, seg: usize) {
        self.lru_remove(c, id);
        let st = self.state(id);
        self.set_state_raw(id, Seg::with(st, seg));
        self.lru_push_head(c, id);
    }

    /// The item after `id` towards the head (`NONE` at the head).
    pub(super) fn lru_prev(&self, id: ItemId) -> ItemId {
        self.get32(id, OFF_PREV)
    }

    /// The item after `id` towards the tail (`NONE` at the tail).
    pub(super) fn lru_next(&self, id: ItemId) -> ItemId {
        self.get32(id, OFF_NEXT)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::page::Seg;
    use crate::store::{hash_key, Store, StoreConfig, NONE};

    const COLD: usize = Seg::COLD;

    /// Walks class `c` both ways and checks the links agree with `len`.
    fn order(s: &crate::store::Shard, c: usize) -> Vec<Vec<u8>> {
        let mut fwd = Vec::new();
        let mut id = s.classes[c].lru[COLD].head;
        while id != NONE {
            fwd.push(s.key(id).to_vec());
            id = s.lru_next(id);
        }
        let mut back = Vec::new();
        let mut id = s.classes[c].lru[COLD].tail;
        while id != NONE {
            back.push(s.key(id).to_vec());
            id = s.lru_prev(id);
        }
        back.reverse();
        assert_eq!(fwd, back);
        assert_eq!(fwd.len() as u64, s.classes[c].lru[COLD].len);
        fwd
    }

    #[test]
    fn push_remove_to_head() {
        let store = Store::new(StoreConfig {
            shards: 1,
            flat_lru: true,
            ..StoreConfig::default()
        });
        let mut s = store.shard(0);
        let mut ids = Vec::new();
        for k in [b"a", b"b", b"c", b"d"] {
            let id = s.alloc(k, 10, 1, NONE).expect("memory");
            s.link(id, hash_key(k));
            ids.push(id);
        }
        let c = s.class_idx(ids[0]);
        assert_eq!(
            order(&s, c),
            vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        s.lru_to_head(c, ids[0]);
        assert_eq!(
            order(&s, c),
            vec![b"a".to_vec(), b"d".to_vec(), b"c".to_vec(), b"b".to_vec()]
        );
        s.lru_to_head(c, ids[0]);
        assert_eq!(order(&s, c)[0], b"a".to_vec());
        s.lru_remove(c, ids[3]);
        assert_eq!(
            order(&s, c),
            vec![b"a".to_vec(), b"c".to_vec(), b"b".to_vec()]
        );
        s.lru_remove(c, ids[1]);
        s.lru_remove(c, ids[0]);
        assert_eq!(order(&s, c), vec![b"c".to_vec()]);
        s.lru_remove(c, ids[2]);
        assert!(order(&s, c).is_empty());
        assert_eq!(s.classes[c].lru[COLD].head, NONE);
        assert_eq!(s.classes[c].lru[COLD].tail, NONE);
    }
}
