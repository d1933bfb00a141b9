//! A hasher for the engine's integer ids (job numbers, connection ids).
//!
//! Ids are sequential, so SipHash's protection against chosen keys buys
//! nothing; one multiplication by the golden ratio spreads them over the
//! high bits that the hash table looks at.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes one `u64`.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-integer keys, which the engine never uses
        // with this hasher; kept correct anyway.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by an integer id.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_the_high_bits() {
        let tops: std::collections::HashSet<u64> = (0..1000u64)
            .map(|n| {
                let mut h = IdHasher::default();
                h.write_u64(n);
                h.finish() >> 57
            })
            .collect();
        assert!(
            tops.len() > 100,
            "only {} distinct top-7-bit tags",
            tops.len()
        );
    }
}
