//! `stats cachedump <class> <limit>`: the keys of one slab class, one
//! `ITEM <key> [<bytes> b; <expiry> s]` line each (expiry as a unix time,
//! 0 for none), then `END`; at most `limit` lines (0 = all) and 2 MB, as
//! the original. Refused with `-X`.

use crate::proto::safe_strtoul;
use crate::store::RelTime;

use super::Server;

/// The original's slab class ids are below this.
const MAX_NUMBER_OF_SLAB_CLASSES: u32 = 64;
/// The largest reply.
const DUMP_MAX: usize = 2 * 1024 * 1024;

impl Server {
    /// Answers `stats cachedump ...` (`args` starts with `cachedump`).
    pub(super) fn cachedump(&self, args: &[u8], out: &mut Vec<u8>) {
        if !self.settings.dump_enabled {
            out.extend_from_slice(b"CLIENT_ERROR stats cachedump not allowed\r\n");
            return;
        }
        let words: Vec<&[u8]> = args
            .split(|b| *b == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        if words.first() != Some(&&b"cachedump"[..]) {
            out.extend_from_slice(b"ERROR\r\n");
            return;
        }
        let (Some(id), Some(limit)) = (words.get(1), words.get(2)) else {
            out.extend_from_slice(b"CLIENT_ERROR bad command line\r\n");
            return;
        };
        let (Some(id), Some(limit)) = (safe_strtoul(id), safe_strtoul(limit)) else {
            out.extend_from_slice(b"CLIENT_ERROR bad command line format\r\n");
            return;
        };
        if id >= MAX_NUMBER_OF_SLAB_CLASSES {
            out.extend_from_slice(b"CLIENT_ERROR Illegal slab id\r\n");
            return;
        }
        // Most recently used first, as the original walks its LRU; keep
        // no more candidates than the reply can show.
        let cap = if limit == 0 {
            DUMP_MAX / 16
        } else {
            (limit as usize).min(DUMP_MAX / 16)
        };
        let mut items: Vec<(RelTime, Vec<u8>, u32, RelTime)> = Vec::new();
        let newest_first = |items: &mut Vec<(RelTime, Vec<u8>, u32, RelTime)>| {
            items.sort_by_key(|item| std::cmp::Reverse(item.0));
            items.truncate(cap);
        };
        self.engine.store.for_each_shard(|shard| {
            let mut ids = Vec::new();
            shard.for_each_item(|item| ids.push(item));
            for item in ids {
                let m = shard.meta(item);
                if u32::from(m.class) == id {
                    items.push((m.time, shard.key(item).to_vec(), m.nbytes, m.exptime));
                    if items.len() >= 2 * cap {
                        newest_first(&mut items);
                    }
                }
            }
        });
        newest_first(&mut items);
        let started = self.engine.process_started;
        let mut size = 0usize;
        for (_, key, nbytes, exptime) in items {
            let expiry = if exptime == 0 {
                0
            } else {
                started + u64::from(exptime)
            };
            let mut line = b"ITEM ".to_vec();
            line.extend_from_slice(&key);
            line.extend_from_slice(format!(" [{nbytes} b; {expiry} s]\r\n").as_bytes());
            if size + line.len() + 5 > DUMP_MAX {
                break;
            }
            size += line.len();
            out.extend_from_slice(&line);
        }
        out.extend_from_slice(b"END\r\n");
    }
}
