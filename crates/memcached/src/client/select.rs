//! Which server owns a key: the mappings that existing clients use, so a
//! Rust service shares a cluster with Perl, Python and C services.
//!
//! * [`Distribution::Modulo`]: Perl Cache::Memcached's. Each server owns
//!   `weight` buckets; a key's hash is `(crc32(key) >> 16) & 0x7fff`, and
//!   its bucket is `hash % buckets`. When the chosen server is dead the
//!   hash is stirred with `hash += hash_of(tries ++ key)` and tried again,
//!   up to 20 times (Cache::Memcached's rehash).
//! * [`Distribution::Ketama`]: libmemcached's consistent hashing as
//!   pylibmc's `ketama` behaviour sets it up: 100 points per server, each
//!   the Jenkins one-at-a-time hash of `"host:port-N"` (`"host-N"` on port
//!   11211); keys hashed the same way; a key belongs to the first point at
//!   or after its hash, wrapping around.
//! * [`Distribution::KetamaWeighted`]: pylibmc's `ketama_weighted`: MD5,
//!   `floor(weight / total * 160 / 4 * servers) * 4` points per server,
//!   four from each MD5 digest of `"host:port-N"`; keys hashed by MD5 too.
//!
//! Dead servers leave the ring (libmemcached's auto-eject), so in the
//! consistent modes their keys move to the next server on the ring and
//! every other key stays where it was.

use md5::{Digest, Md5};

/// A key-to-server mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Cache::Memcached's CRC32 modulo over weighted buckets.
    Modulo,
    /// libmemcached ketama (one-at-a-time hash).
    Ketama,
    /// libmemcached weighted ketama (MD5).
    KetamaWeighted,
}

/// A server as the mapping sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `host:port`, exactly as configured (ketama hashes this text).
    pub addr: String,
    /// Relative weight (Cache::Memcached's bucket count; ketama's share).
    pub weight: u32,
}

/// Cache::Memcached's `_hashfunc`.
pub fn crc32_hash(key: &[u8]) -> u32 {
    (crc32fast::hash(key) >> 16) & 0x7fff
}

/// Bob Jenkins' one-at-a-time hash (libmemcached's default).
pub fn one_at_a_time(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        h = h.wrapping_add(u32::from(b));
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}

/// Four little-endian words of the MD5 digest of `key`.
fn md5_words(key: &[u8]) -> [u32; 4] {
    let d = Md5::digest(key);
    let w = |i: usize| u32::from_le_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]]);
    [w(0), w(1), w(2), w(3)]
}

/// The mapping over a server list, rebuilt when servers die or return.
#[derive(Debug, Clone)]
pub struct Selector {
    dist: Distribution,
    nodes: Vec<Node>,
    /// Modulo: server index per bucket.
    buckets: Vec<usize>,
    /// Ketama: (point, server index), sorted by point, live servers only.
    ring: Vec<(u32, usize)>,
}

impl Selector {
    /// A mapping over `nodes`, all alive.
    pub fn new(dist: Distribution, nodes: Vec<Node>) -> Self {
        let buckets = nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| std::iter::repeat_n(i, n.weight.max(1) as usize))
            .collect();
        let mut s = Selector {
            dist,
            nodes,
            buckets,
            ring: Vec::new(),
        };
        let all: Vec<bool> = vec![true; s.nodes.len()];
        s.rebuild(&all);
        s
    }

    /// The servers.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Rebuilds the ring from the servers marked alive (consistent modes).
    pub fn rebuild(&mut self, alive: &[bool]) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| alive.get(i).copied().unwrap_or(true))
            .collect();
        self.ring.clear();
        match self.dist {
            Distribution::Modulo => {}
            Distribution::Ketama => {
                for &i in &live {
                    for n in 0..100u32 {
                        let point = one_at_a_time(self.point_name(i, n).as_bytes());
                        self.ring.push((point, i));
                    }
                }
            }
            Distribution::KetamaWeighted => {
                let total: u64 = live
                    .iter()
                    .map(|&i| u64::from(self.nodes[i].weight.max(1)))
                    .sum();
                for &i in &live {
                    let pct = self.nodes[i].weight.max(1) as f32 / total as f32;
                    // libmemcached computes this in float; keep its rounding.
                    let per_server = ((pct * 160.0 / 4.0 * live.len() as f32 + 0.000_000_000_1)
                        .floor() as u32)
                        * 4;
                    for n in 0..per_server / 4 {
                        for w in md5_words(self.point_name(i, n).as_bytes()) {
                            self.ring.push((w, i));
                        }
                    }
                }
            }
        }
        // qsort by value, as libmemcached: equal points keep no special order.
        self.ring.sort_by_key(|&(p, _)| p);
    }

    fn point_name(&self, i: usize, n: u32) -> String {
        let addr = &self.nodes[i].addr;
        match addr.rsplit_once(':') {
            Some((host, "11211")) => format!("{host}-{n}"),
            _ => format!("{addr}-{n}"),
        }
    }

    /// The key's hash in this mapping.
    pub fn hash(&self, key: &[u8]) -> u32 {
        match self.dist {
            Distribution::Modulo => crc32_hash(key),
            Distribution::Ketama => one_at_a_time(key),
            Distribution::KetamaWeighted => md5_words(key)[0],
        }
    }

    /// The server for `key`, skipping servers for which `alive` says no.
    /// `None` when no server is alive.
    pub fn owner(&self, key: &[u8], alive: impl Fn(usize) -> bool) -> Option<usize> {
        if self.nodes.is_empty() {
            return None;
        }
        match self.dist {
            Distribution::Modulo => {
                if self.nodes.len() == 1 {
                    return alive(0).then_some(0);
                }
                let mut hv = crc32_hash(key);
                for tries in 1..=20u32 {
                    let i = self.buckets[hv as usize % self.buckets.len()];
                    if alive(i) {
                        return Some(i);
                    }
                    let mut stir = tries.to_string().into_bytes();
                    stir.extend_from_slice(key);
                    hv = hv.wrapping_add(crc32_hash(&stir));
                }
                None
            }
            Distribution::Ketama | Distribution::KetamaWeighted => {
                if self.ring.is_empty() {
                    return None;
                }
                let h = self.hash(key);
                let at = self.ring.partition_point(|&(p, _)| p < h);
                let (_, i) = self.ring[if at == self.ring.len() { 0 } else { at }];
                Some(i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<Node> {
        (0..n)
            .map(|i| Node {
                addr: format!("10.0.0.{}:11211", i + 1),
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn known_hash_values() {
        // One-at-a-time of "a" and the empty string, by hand.
        assert_eq!(one_at_a_time(b""), 0);
        assert_eq!(one_at_a_time(b"a"), 0xca2e_9442);
        assert_eq!(crc32_hash(b"foo"), (0x8c73_6521u32 >> 16) & 0x7fff);
    }

    #[test]
    fn weights_own_buckets() {
        let mut n = nodes(2);
        n[0].weight = 3;
        let s = Selector::new(Distribution::Modulo, n);
        assert_eq!(s.buckets, vec![0, 0, 0, 1]);
    }

    #[test]
    fn consistent_modes_move_about_a_quarter_when_a_fourth_server_joins() {
        for dist in [
            Distribution::Ketama,
            Distribution::KetamaWeighted,
            Distribution::Modulo,
        ] {
            let three = Selector::new(dist, nodes(3));
            let four = Selector::new(dist, nodes(4));
            let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
            let moved = keys
                .iter()
                .filter(|k| {
                    three.owner(k.as_bytes(), |_| true) != four.owner(k.as_bytes(), |_| true)
                })
                .count();
            let frac = moved as f64 / keys.len() as f64;
            match dist {
                Distribution::Modulo => assert!(frac > 0.6, "{dist:?} moved {frac}"),
                _ => assert!((0.15..0.35).contains(&frac), "{dist:?} moved {frac}"),
            }
        }
    }

    #[test]
    fn a_dead_server_only_moves_its_own_keys() {
        let mut s = Selector::new(Distribution::Ketama, nodes(3));
        let keys: Vec<String> = (0..3000).map(|i| format!("k{i}")).collect();
        let before: Vec<_> = keys
            .iter()
            .map(|k| s.owner(k.as_bytes(), |_| true))
            .collect();
        s.rebuild(&[true, false, true]);
        for (k, b) in keys.iter().zip(before) {
            let after = s.owner(k.as_bytes(), |_| true);
            if b == Some(1) {
                assert_ne!(after, Some(1));
            } else {
                assert_eq!(after, b, "{k} moved though its server lives");
            }
        }
    }
}
