//! Base64 for meta keys (`b` flag), as the original's `base64.c` (Jouni
//! Malinen's, modified) does it. Not the strict RFC 4648 decoder of the
//! `base64` crate: characters outside the alphabet are skipped (`Zm9v\x01`
//! is `foo`), the count of alphabet characters (`=` included) must be a
//! non-zero multiple of 4, and decoding stops after the first block with
//! padding. Keys that fail decode to nothing.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The 6-bit value of an alphabet character (`=` counts, as 0).
fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// Decodes like the original's `base64_decode`: `None` where it returns 0.
/// The output is at most `3/4` of the input.
pub fn base64_decode(src: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    decode_blocks(src, |b| out.extend_from_slice(b))?;
    Some(out)
}

/// Whether `src` decodes (without allocating).
pub(crate) fn base64_valid(src: &[u8]) -> bool {
    decode_blocks(src, |_| {}).is_some()
}

/// The decoder: hands each decoded block to `emit`; the decoded length,
/// or `None` on failure.
fn decode_blocks(src: &[u8], mut emit: impl FnMut(&[u8])) -> Option<usize> {
    let count = src.iter().filter(|c| value(**c).is_some()).count();
    if count == 0 || count % 4 != 0 {
        return None;
    }
    let mut total = 0;
    let mut block = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &c in src {
        let Some(v) = value(c) else { continue };
        if c == b'=' {
            pad += 1;
        }
        if let Some(slot) = block.get_mut(n) {
            *slot = v;
        }
        n += 1;
        if n == 4 {
            let [a, b, c, d] = block;
            let bytes = [(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d];
            let keep = match pad {
                0 => 3,
                1 => 2,
                2 => 1,
                _ => return None,
            };
            emit(bytes.get(..keep).unwrap_or_default());
            total += keep;
            n = 0;
            if pad > 0 {
                break;
            }
        }
    }
    (total > 0).then_some(total)
}

/// Appends the standard padded encoding of `src` (how the original echoes
/// a binary key for the `k` flag).
pub fn base64_encode(src: &[u8], out: &mut Vec<u8>) {
    let sym = |v: u8| ALPHABET.get(usize::from(v & 0x3f)).copied().unwrap_or(b'=');
    for chunk in src.chunks(3) {
        let a = chunk.first().copied().unwrap_or(0);
        let b = chunk.get(1).copied();
        let c = chunk.get(2).copied();
        out.push(sym(a >> 2));
        out.push(sym((a << 4) | (b.unwrap_or(0) >> 4)));
        match b {
            Some(b) => out.push(sym((b << 2) | (c.unwrap_or(0) >> 6))),
            None => out.push(b'='),
        }
        match c {
            Some(c) => out.push(sym(c)),
            None => out.push(b'='),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &[u8]) -> Option<Vec<u8>> {
        base64_decode(s)
    }

    #[test]
    fn decodes_like_the_original() {
        // each case observed on 1.6.18 through `mg <key> b k`
        assert_eq!(dec(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(dec(b"Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(dec(b"Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(dec(b"Zm9vYmFy").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(dec(b"AAAA").as_deref(), Some(&[0u8, 0, 0][..]));
        assert_eq!(dec(b"Zm9v\x01").as_deref(), Some(&b"foo"[..]));
        for bad in [
            &b"Zm9"[..],
            b"Zm9v=",
            b"Zm8",
            b"Zg=",
            b"Zg",
            b"====",
            b"Zm-v",
            b"Zm9vYmFyZ",
            b"foo",
            b"!",
            b"",
        ] {
            assert_eq!(dec(bad), None, "{bad:?}");
        }
        // stops after the first padded block
        assert_eq!(dec(b"Zg==Zm9v").as_deref(), Some(&b"f"[..]));
        assert_eq!(dec(b"A===").as_deref(), None);
        assert!(base64_valid(b"Zm9v") && !base64_valid(b"Zm9"));
    }

    #[test]
    fn encodes_with_padding() {
        for (raw, enc) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foobar", b"Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64_encode(raw, &mut out);
            assert_eq!(out, enc);
            if !raw.is_empty() {
                assert_eq!(dec(&out).as_deref(), Some(raw));
            }
        }
    }
}
