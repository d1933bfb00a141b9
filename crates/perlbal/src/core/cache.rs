//! The `X-REPROXY-CACHE-FOR` cache of a reverse_proxy service (1.80's
//! `Perlbal::Cache`, an LRU of `reproxy_cache_maxsize` entries): for a
//! `Host|URI` key, until when the backend's answer holds, the headers it
//! named, and the URLs to fetch. Pure: time is passed in.

use std::collections::{BTreeMap, HashMap};

/// One cached reproxy answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Seconds since the epoch after which it is stale.
    pub expires: f64,
    /// The headers `X-REPROXY-CACHE-FOR` named, with the backend's values.
    pub headers: Vec<(String, String)>,
    /// The `X-REPROXY-URL` list.
    pub urls: String,
}

/// A bounded LRU map.
#[derive(Debug, Default)]
pub struct ReproxyCache {
    max: usize,
    map: HashMap<String, (Entry, u64)>,
    /// use stamp -> key, oldest first.
    order: BTreeMap<u64, String>,
    next: u64,
}

/// `X-REPROXY-CACHE-FOR: secs; Header-One Header-Two`: (secs, header names).
pub fn parse_cache_for(v: &str) -> Option<(u64, Vec<String>)> {
    let (secs, names) = v.split_once(';').unwrap_or((v, ""));
    let secs: u64 = secs.trim().parse().ok()?;
    let names = names.split_whitespace().map(str::to_owned).collect();
    Some((secs, names))
}

impl ReproxyCache {
    /// A new size limit; 0 turns the cache off (and empties it).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
        while self.map.len() > self.max {
            self.drop_oldest();
        }
    }

    /// The size limit.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn drop_oldest(&mut self) {
        if let Some((_, key)) = self.order.pop_first() {
            self.map.remove(&key);
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A fresh entry for `key` (marked as just used); a stale one is dropped.
    pub fn get(&mut self, key: &str, now: f64) -> Option<Entry> {
        let stamp = self.stamp();
        let (entry, old) = self.map.get_mut(key)?;
        if now > entry.expires {
            let old = *old;
            self.order.remove(&old);
            self.map.remove(key);
            return None;
        }
        let e = entry.clone();
        self.order.remove(old);
        *old = stamp;
        self.order.insert(stamp, key.to_owned());
        Some(e)
    }

    /// Stores `entry` under `key`, dropping the least recently used beyond
    /// the limit.
    pub fn set(&mut self, key: &str, entry: Entry) {
        if self.max == 0 {
            return;
        }
        let stamp = self.stamp();
        if let Some((_, old)) = self.map.insert(key.to_owned(), (entry, stamp)) {
            self.order.remove(&old);
        }
        self.order.insert(stamp, key.to_owned());
        while self.map.len() > self.max {
            self.drop_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(urls: &str, expires: f64) -> Entry {
        Entry {
            expires,
            headers: vec![],
            urls: urls.into(),
        }
    }

    #[test]
    fn least_recently_used_goes_first_and_stale_entries_vanish() {
        let mut c = ReproxyCache::default();
        c.set("a", e("u", 10.0));
        assert!(c.is_empty(), "off at size 0");
        c.set_max(2);
        c.set("a", e("ua", 10.0));
        c.set("b", e("ub", 10.0));
        assert_eq!(c.get("a", 1.0).map(|e| e.urls), Some("ua".into()));
        c.set("c", e("uc", 10.0));
        assert_eq!(c.len(), 2);
        assert!(c.get("b", 1.0).is_none(), "b was least recently used");
        assert!(c.get("a", 11.0).is_none(), "stale");
        assert_eq!(c.len(), 1);
        c.set_max(0);
        assert!(c.is_empty());
    }

    #[test]
    fn cache_for_header() {
        assert_eq!(
            parse_cache_for("30; Content-Type Last-Modified"),
            Some((30, vec!["Content-Type".into(), "Last-Modified".into()]))
        );
        assert_eq!(parse_cache_for("5"), Some((5, vec![])));
        assert_eq!(parse_cache_for("soon; X"), None);
    }
}
