//! A small coverage-free mutator: what CI and `cargo test` run on stable
//! without the instrumented build. It takes the committed inputs of a
//! target and derives new ones (bit flips, byte changes, insertions and
//! deletions, repeated runs, protocol tokens, splices of two inputs), from a
//! fixed seed, so a run is repeatable. libFuzzer finds more; this keeps the
//! targets' checks exercised beyond the exact seeds on every CI run.

use crate::split::Rng;

/// Bytes the daemons' parsers care about.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\0",
    b"\t",
    b"=",
    b"&",
    b"%",
    b";",
    b":",
    b",",
    b"-",
    b"\0REQ",
    b"\0RES",
    b"\x80",
    b"get ",
    b"set ",
    b"ms ",
    b"mg ",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
    b"Host: a",
    b"Range: bytes=",
    b"bytes=",
    b"4294967295",
    b"18446744073709551615",
    b"99999999999999999999",
    b"-1",
    b"0",
    b"ffffffff",
    b"DBI:mysql:",
    b"DBI:SQLite:",
    b"mysql://",
    b"!",
    b"SET ",
    b"CREATE ",
];

/// One mutant of `input`; `other` is another input to splice with.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next_u64() as u8;
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            3 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let start = at.min(end.saturating_sub(1));
                out.drain(start..end);
            }
            4 => {
                let b = out.get(at).copied().unwrap_or(b'a');
                let n = 1 + rng.below(300);
                out.splice(at..at, std::iter::repeat_n(b, n));
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let to = from + rng.below(other.len() - from + 1);
                out.splice(at..at, other[from..to].iter().copied());
            }
            6 if !out.is_empty() => {
                // Duplicate a slice (pipelining the same request again).
                let from = rng.below(out.len());
                let to = from + rng.below(out.len() - from + 1);
                let dup = out[from..to].to_vec();
                out.splice(at..at, dup);
            }
            _ => {
                let digits = rng.next_u64().to_string();
                out.splice(at..at, digits.bytes());
            }
        }
    }
    out.truncate(max_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_differ_and_respect_the_length() {
        let mut rng = Rng::from_input(b"seed");
        let base = b"get foo\r\n";
        let changed = (0..100)
            .map(|_| mutate(base, b"set a 0 0 1\r\nx\r\n", &mut rng, 64))
            .inspect(|m| assert!(m.len() <= 64))
            .filter(|m| m.as_slice() != base)
            .count();
        assert!(changed > 90, "{changed} of 100 changed");
    }
}
