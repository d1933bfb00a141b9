//! incr/decr, shared by the text commands and `ma`.

use crate::store::{AllocError, Lookup, RelTime, Shard, NONE};

use super::{push_num, Engine, Tally};

/// The outcome of an arithmetic command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arith {
    /// The new value, and the item now holding it.
    Value(u64, u32),
    /// No such key.
    NotFound,
    /// The value is not a decimal number.
    NonNumeric,
    /// CAS mismatch (`ma C`).
    Exists,
    /// No memory for the longer value.
    NoMemory,
}

/// Parses a stored value as the original's `safe_strtoull` accepts it:
/// digits, optionally surrounded by spaces (decr leaves space padding).
fn parse_value(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim_matches(' ');
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Engine {
    /// Applies `delta` to the item `id` (in `shard`, linked under `hash`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_delta(
        &self,
        shard: &mut Shard,
        id: u32,
        hash: u64,
        delta: u64,
        incr: bool,
        new_cas: Option<u64>,
        now: RelTime,
    ) -> Arith {
        // A chained value is too long to be a number (the original
        // refuses chunked items the same way).
        let Some(value) = shard.value_flat(id).and_then(parse_value) else {
            return Arith::NonNumeric;
        };
        let value = if incr {
            value.wrapping_add(delta)
        } else {
            value.saturating_sub(delta)
        };
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(value).as_bytes();
        let cas = new_cas.unwrap_or_else(|| self.cas());
        if let Some(v) = shard.value_flat_mut(id).filter(|v| digits.len() <= v.len()) {
            // In place, padded with spaces, as the original does.
            v[..digits.len()].copy_from_slice(digits);
            v[digits.len()..].fill(b' ');
            shard.set_cas(id, cas);
            return Arith::Value(value, id);
        }
        let key = shard.key(id).to_vec();
        let new = match self.store.alloc(shard, &key, digits.len(), now, id) {
            Ok(n) => n,
            Err(AllocError::TooLarge | AllocError::OutOfMemory) => return Arith::NoMemory,
        };
        let m = shard.meta(id);
        shard.write_value(new, digits);
        shard.set_flags(new, m.flags);
        shard.set_exptime(new, m.exptime);
        shard.set_cas(new, cas);
        shard.unlink(id);
        shard.link(new, hash);
        Arith::Value(value, new)
    }

    /// `incr`/`decr` as the text protocol has them.
    pub(super) fn arith_text(
        &self,
        key: &[u8],
        delta: u64,
        incr: bool,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        let id = match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => id,
            _ => NONE,
        };
        let result = if id == NONE {
            Arith::NotFound
        } else {
            self.apply_delta(&mut shard, id, hash, delta, incr, None, now)
        };
        match result {
            Arith::Value(v, _) => {
                if incr {
                    t.incr_hits += 1;
                } else {
                    t.decr_hits += 1;
                }
                let start = out.len();
                push_num(out, b' ', v);
                out.remove(start);
                out.extend_from_slice(b"\r\n");
            }
            Arith::NotFound => {
                if incr {
                    t.incr_misses += 1;
                } else {
                    t.decr_misses += 1;
                }
                out.extend_from_slice(b"NOT_FOUND\r\n");
            }
            Arith::NonNumeric => out.extend_from_slice(
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            ),
            Arith::Exists => out.extend_from_slice(b"EXISTS\r\n"),
            Arith::NoMemory => out.extend_from_slice(b"SERVER_ERROR out of memory\r\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn values_as_strtoull_reads_them() {
        assert_eq!(parse_value(b"100"), Some(100));
        assert_eq!(parse_value(b"99 "), Some(99));
        assert_eq!(parse_value(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_value(b"18446744073709551616"), None);
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"abc"), None);
        assert_eq!(parse_value(b"-1"), None);
    }
}
