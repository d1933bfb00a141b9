//! Cutting an input into the pieces a socket might deliver.
//!
//! The cut points come from a hash of the input itself, so every input
//! (and every mutation of it) is tried with its own split while seed files
//! stay plain protocol bytes, readable and writable by hand.

/// Most cuts made in one input.
pub const MAX_CUTS: usize = 7;

/// FNV-1a over the input: cheap, and every byte changes it.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A small deterministic generator (xorshift64*) seeded from the input.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `data` (never zero).
    pub fn from_input(data: &[u8]) -> Rng {
        Rng(hash(data) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }
}

/// `data` cut at up to [`MAX_CUTS`] points chosen from its hash. The pieces
/// are in order, never empty, and together are `data`.
pub fn pieces(data: &[u8]) -> Vec<&[u8]> {
    let mut rng = Rng::from_input(data);
    let n = rng.below(MAX_CUTS + 1);
    let mut cuts: Vec<usize> = (0..n).map(|_| rng.below(data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        if c > at {
            out.push(&data[at..c]);
            at = c;
        }
    }
    out
}

/// The lines of `data` (split at `\n`; a trailing `\r` kept), lossily
/// decoded, for the line protocols whose parsers take `&str`.
pub fn lines(data: &[u8]) -> impl Iterator<Item = String> + '_ {
    data.split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_input_in_order() {
        for len in 0..64usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let p = pieces(&data);
            assert!(p.iter().all(|s| !s.is_empty()));
            assert!(p.len() <= MAX_CUTS + 1);
            assert_eq!(p.concat(), data);
        }
    }

    #[test]
    fn some_inputs_are_cut() {
        let cut = (0..64u8).filter(|i| pieces(&[*i; 40]).len() > 1).count();
        assert!(cut > 32, "only {cut} of 64 inputs were cut");
    }
}
