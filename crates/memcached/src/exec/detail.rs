//! `stats detail`: per key-prefix counts of gets, hits, sets and deletes,
//! collected while `stats detail on` (or `-D`) is in force. The prefix is
//! what precedes the first delimiter (`:` unless `-D` says otherwise);
//! keys without one are not counted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

/// Most prefixes tracked; keys with a new prefix past this are not counted
/// (the table never grows without bound, whatever the keys).
pub const MAX_PREFIXES: usize = 65_536;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    get: u64,
    hit: u64,
    set: u64,
    del: u64,
}

/// The prefix table and its switch.
#[derive(Debug)]
pub struct Detail {
    enabled: AtomicBool,
    delimiter: u8,
    table: Mutex<BTreeMap<Vec<u8>, Counts>>,
}

impl Default for Detail {
    fn default() -> Self {
        Detail::new(b':', false)
    }
}

impl Detail {
    /// A table splitting keys at `delimiter`, collecting from the start
    /// when `enabled` (`-D` turns it on).
    pub fn new(delimiter: u8, enabled: bool) -> Self {
        Detail {
            enabled: AtomicBool::new(enabled),
            delimiter,
            table: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether counting is on (one relaxed load: the only cost when off).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Relaxed)
    }

    /// `stats detail on|off`.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Relaxed);
    }

    /// The delimiter.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    fn record(&self, key: &[u8], f: impl FnOnce(&mut Counts)) {
        let Some(len) = key.iter().position(|&b| b == self.delimiter || b == 0) else {
            return;
        };
        if key[len] == 0 {
            return;
        }
        let prefix = &key[..len];
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = t.get_mut(prefix) {
            f(c);
        } else if t.len() < MAX_PREFIXES {
            let mut c = Counts::default();
            f(&mut c);
            t.insert(prefix.to_vec(), c);
        }
    }

    /// A get of `key` (hit or miss).
    pub fn get(&self, key: &[u8], hit: bool) {
        self.record(key, |c| {
            c.get += 1;
            c.hit += u64::from(hit);
        });
    }

    /// A set (any storage command) of `key`.
    pub fn set(&self, key: &[u8]) {
        self.record(key, |c| c.set += 1);
    }

    /// A delete of `key`.
    pub fn delete(&self, key: &[u8]) {
        self.record(key, |c| c.del += 1);
    }

    /// `stats reset`.
    pub fn clear(&self) {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// `stats detail dump`: one `PREFIX` line per prefix, then `END`.
    pub fn dump(&self, out: &mut Vec<u8>) {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = String::new();
        for (p, c) in t.iter() {
            let _ = write!(
                s,
                "PREFIX {} get {} hit {} set {} del {}\r\n",
                String::from_utf8_lossy(p),
                c.get,
                c.hit,
                c.set,
                c.del
            );
        }
        s.push_str("END\r\n");
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_prefix_and_skips_keys_without_one() {
        let d = Detail::new(b':', true);
        d.set(b"foo:1");
        d.get(b"foo:1", true);
        d.get(b"foo:2", false);
        d.delete(b"foo:3");
        d.get(b"plain", true);
        let mut out = Vec::new();
        d.dump(&mut out);
        assert_eq!(out, b"PREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n");
        d.clear();
        out.clear();
        d.dump(&mut out);
        assert_eq!(out, b"END\r\n");
    }
}
