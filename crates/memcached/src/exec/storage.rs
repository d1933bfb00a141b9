//! The storage commands: set, add, replace, append, prepend, cas.

use crate::proto::StoreCmd;
use crate::store::{AllocError, Lookup, RelTime, NONE};

use super::{Engine, Tally};

/// What a storage command did (the original's `store_item_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored, with the new item's CAS.
    Stored(u64),
    /// The mode's condition failed (add over a live item, replace,
    /// append or prepend without one).
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS given but no item.
    NotFound,
    /// The item would exceed the item size limit.
    TooLarge,
    /// No memory for the item.
    NoMemory,
}

impl Stored {
    /// The text protocol's reply line.
    pub fn text(self) -> &'static [u8] {
        match self {
            Stored::Stored(_) => b"STORED\r\n",
            Stored::NotStored => b"NOT_STORED\r\n",
            Stored::Exists => b"EXISTS\r\n",
            Stored::NotFound => b"NOT_FOUND\r\n",
            Stored::TooLarge => b"SERVER_ERROR object too large for cache\r\n",
            Stored::NoMemory => b"SERVER_ERROR out of memory storing object\r\n",
        }
    }
}

impl Engine {
    /// Stores an item as `cmd` says. A non-zero `cas_unique` on append or
    /// prepend must match the item's, as in the original.
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
    ) -> Stored {
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
                return Stored::NotStored;
            }
            (StoreCmd::Replace | StoreCmd::Append | StoreCmd::Prepend, None) => {
                return Stored::NotStored
            }
            (StoreCmd::Cas, None) => {
                t.cas_misses += 1;
                return Stored::NotFound;
            }
            (StoreCmd::Cas, Some(id)) if shard.meta(id).cas != cas_unique => {
                t.cas_badval += 1;
                return Stored::Exists;
            }
            (StoreCmd::Append | StoreCmd::Prepend, Some(id))
                if cas_unique != 0 && shard.meta(id).cas != cas_unique =>
            {
                return Stored::Exists;
            }
            (StoreCmd::Cas, Some(_)) => t.cas_hits += 1,
            _ => {}
        }
        let concat = matches!(cmd, StoreCmd::Append | StoreCmd::Prepend);
        let old_len = match (concat, old) {
            (true, Some(id)) => shard.value_len(id),
            _ => 0,
        };
        let nbytes = data.len() + old_len;
        let limit = self.store.config().item_size_max;
        if crate::store::HEADER + key.len() + nbytes > limit {
            t.store_too_large += 1;
            return Stored::TooLarge;
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
                return Stored::TooLarge;
            }
            Err(AllocError::OutOfMemory) => {
                t.store_no_memory += 1;
                return Stored::NoMemory;
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
                shard.write_value(id, data);
                (flags, self.realtime(exptime, now))
            }
        };
        shard.set_flags(id, flags);
        shard.set_exptime(id, exptime);
        let cas = self.cas();
        shard.set_cas(id, cas);
        // Only append/prepend protected the old item; a plain set may have
        // reused its memory (as the original does), so look it up again.
        if let Lookup::Hit(o) = shard.find(key, hash, now, &self.store.flush) {
            shard.unlink(o);
        }
        shard.link(id, hash);
        Stored::Stored(cas)
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
    let mut joined = Vec::with_capacity(shard.value_len(old) + data.len());
    if !append {
        joined.extend_from_slice(data);
    }
    for part in shard.value_parts(old) {
        joined.extend_from_slice(part);
    }
    if append {
        joined.extend_from_slice(data);
    }
    shard.write_value(id, &joined);
}
