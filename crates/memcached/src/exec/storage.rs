//! The storage commands: set, add, replace, append, prepend, cas.

use crate::proto::StoreCmd;
use crate::store::{AllocError, Lookup, RelTime, NONE};

use super::{Engine, Tally};

impl Engine {
    /// Stores an item as `cmd` says; returns the reply line.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_item(
        &self,
        cmd: StoreCmd,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas_unique: u64,
        now: RelTime,
        t: &mut Tally,
    ) -> &'static [u8] {
        t.cmd_set += 1;
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        self.store
            .reclaim_before_alloc(&mut shard, key.len(), data.len(), now);
        let old = match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => Some(id),
            _ => None,
        };
        match (cmd, old) {
            (StoreCmd::Add, Some(id)) => {
                // The original refreshes the existing item's LRU position.
                shard.bump(id, now);
                return b"NOT_STORED\r\n";
            }
            (StoreCmd::Replace | StoreCmd::Append | StoreCmd::Prepend, None) => {
                return b"NOT_STORED\r\n"
            }
            (StoreCmd::Cas, None) => {
                t.cas_misses += 1;
                return b"NOT_FOUND\r\n";
            }
            (StoreCmd::Cas, Some(id)) if shard.meta(id).cas != cas_unique => {
                t.cas_badval += 1;
                return b"EXISTS\r\n";
            }
            (StoreCmd::Cas, Some(_)) => t.cas_hits += 1,
            _ => {}
        }
        let concat = matches!(cmd, StoreCmd::Append | StoreCmd::Prepend);
        let old_len = match (concat, old) {
            (true, Some(id)) => shard.value(id).len(),
            _ => 0,
        };
        let nbytes = data.len() + old_len;
        let limit = self.store.config().item_size_max;
        if crate::store::HEADER + key.len() + nbytes > limit {
            t.store_too_large += 1;
            return b"SERVER_ERROR object too large for cache\r\n";
        }
        let id = match self.store.alloc(
            &mut shard,
            key,
            nbytes,
            now,
            if concat { old.unwrap_or(NONE) } else { NONE },
        ) {
            Ok(id) => id,
            Err(AllocError::TooLarge) => {
                t.store_too_large += 1;
                return b"SERVER_ERROR object too large for cache\r\n";
            }
            Err(AllocError::OutOfMemory) => {
                t.store_no_memory += 1;
                return b"SERVER_ERROR out of memory storing object\r\n";
            }
        };
        let (flags, exptime) = match (concat, old) {
            (true, Some(o)) => {
                // append/prepend keep the old item's flags and expiry.
                let m = shard.meta(o);
                concat_into(&mut shard, id, o, data, cmd == StoreCmd::Append);
                (m.flags, m.exptime)
            }
            _ => {
                shard.value_mut(id).copy_from_slice(data);
                (flags, self.realtime(exptime, now))
            }
        };
        shard.set_flags(id, flags);
        shard.set_exptime(id, exptime);
        shard.set_cas(id, self.cas());
        // Only append/prepend protected the old item; a plain set may have
        // reused its memory (as the original does), so look it up again.
        if let Lookup::Hit(o) = shard.find(key, hash, now, &self.store.flush) {
            shard.unlink(o);
        }
        shard.link(id, hash);
        b"STORED\r\n"
    }
}

/// Fills the new item `id` with the old item's value and `data`, `data`
/// after it (append) or before it (prepend).
pub(super) fn concat_into(
    shard: &mut crate::store::Shard,
    id: u32,
    old: u32,
    data: &[u8],
    append: bool,
) {
    let mut joined = Vec::with_capacity(shard.value(old).len() + data.len());
    if append {
        joined.extend_from_slice(shard.value(old));
        joined.extend_from_slice(data);
    } else {
        joined.extend_from_slice(data);
        joined.extend_from_slice(shard.value(old));
    }
    shard.value_mut(id).copy_from_slice(&joined);
}
