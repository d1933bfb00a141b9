//! NUL-separated arguments inside one packet's data.

use bytes::{Bytes, BytesMut};

use super::frame::put_header;
use super::Magic;

/// Splits `data` into `n` arguments: the first `n - 1` end at a NUL, the
/// last runs to the end of the data (and may contain NULs). `None` when
/// there are fewer than `n - 1` NULs: never a read past the packet. With
/// `n == 0` the data is ignored. The arguments share `data`'s memory.
pub fn split_args(data: &Bytes, n: usize) -> Option<Args> {
    let mut out = Args::default();
    if n == 0 {
        return Some(out);
    }
    if n > MAX_ARGS {
        return None;
    }
    let mut start = 0;
    for i in 0..n - 1 {
        let nul = data[start..].iter().position(|&b| b == 0)?;
        out.items[i] = data.slice(start..start + nul);
        start += nul + 1;
    }
    out.items[n - 1] = data.slice(start..);
    out.len = n;
    Some(out)
}

/// A packet's `n` arguments, handed out one at a time as [`split_args`]
/// splits them (same rules), without building the whole array first: a
/// decoder takes each argument straight into its request.
#[derive(Debug)]
pub(crate) struct ArgReader<'a> {
    data: &'a Bytes,
    /// Where the next argument starts.
    at: usize,
    /// Arguments not handed out yet.
    left: usize,
}

impl<'a> ArgReader<'a> {
    /// `None` when `data` has fewer than `n - 1` NULs, or `n` is over
    /// [`MAX_ARGS`] (as [`split_args`]).
    pub(crate) fn new(data: &'a Bytes, n: usize) -> Option<Self> {
        if n > MAX_ARGS {
            return None;
        }
        let mut at = 0;
        for _ in 1..n {
            at += data[at..].iter().position(|&b| b == 0)? + 1;
        }
        Some(ArgReader {
            data,
            at: 0,
            left: n,
        })
    }

    /// The next argument; empty once all `n` were taken.
    pub(crate) fn next_arg(&mut self) -> Bytes {
        let start = self.at;
        let end = match self.left {
            0 => return Bytes::new(),
            1 => self.data.len(),
            // Checked in `new`: a NUL ends every argument but the last.
            _ => self.data[start..]
                .iter()
                .position(|&b| b == 0)
                .map_or(self.data.len(), |i| start + i),
        };
        self.left -= 1;
        self.at = (end + 1).min(self.data.len());
        self.data.slice(start..end)
    }
}

/// Bytes up to this long are copied into a buffer held inline by the
/// reference count's own allocation (see [`shared_concat`]).
const INLINE: usize = 62;

/// A short byte string held inline.
struct Inline {
    buf: [u8; INLINE],
    len: u8,
}

impl AsRef<[u8]> for Inline {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// `parts` copied, one after the other, into a new reference-counted
/// buffer. Up to [`INLINE`] bytes take one allocation, and slices and
/// clones of the result only count references, where
/// `Bytes::copy_from_slice` allocates the copy and then, at the first
/// slice or clone, the reference count as well.
pub(crate) fn shared_concat(parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len == 0 {
        return Bytes::new();
    }
    match u8::try_from(len) {
        Ok(short) if len <= INLINE => {
            let mut inline = Inline {
                buf: [0; INLINE],
                len: short,
            };
            let mut at = 0;
            for p in parts {
                inline.buf[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            Bytes::from_owner(inline)
        }
        _ => Bytes::from_owner(parts.concat()),
    }
}

/// The most arguments a packet type has (`SUBMIT_JOB_SCHED`).
pub const MAX_ARGS: usize = 8;

/// A packet's arguments, held inline (no allocation per packet).
#[derive(Debug, Clone, Default)]
pub struct Args {
    items: [Bytes; MAX_ARGS],
    len: usize,
}

impl Args {
    /// The arguments, in order.
    pub fn as_slice(&self) -> &[Bytes] {
        &self.items[..self.len]
    }
}

impl IntoIterator for Args {
    type Item = Bytes;
    type IntoIter = std::iter::Take<std::array::IntoIter<Bytes, MAX_ARGS>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().take(self.len)
    }
}

/// The argument slices of one packet being encoded, held inline (no
/// allocation per packet the server sends).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<'a> {
    items: [&'a [u8]; MAX_ARGS],
    len: usize,
}

impl<'a> Parts<'a> {
    /// These `N` arguments (at most [`MAX_ARGS`], checked when compiled).
    pub(crate) fn of<const N: usize>(args: [&'a [u8]; N]) -> Self {
        const { assert!(N <= MAX_ARGS) };
        let mut items: [&'a [u8]; MAX_ARGS] = [&[]; MAX_ARGS];
        items[..N].copy_from_slice(&args);
        Parts { items, len: N }
    }

    /// The arguments, in order.
    pub(crate) fn as_slice(&self) -> &[&'a [u8]] {
        &self.items[..self.len]
    }
}

/// Appends a whole packet: header, then `args` joined by NULs.
///
/// # Panics
/// When the data is over 4 GiB, which nothing this crate builds can reach
/// (packets are limited far below that when they are read).
pub fn put_packet(out: &mut BytesMut, magic: Magic, kind: u32, args: &[&[u8]]) {
    let len = args.iter().map(|a| a.len()).sum::<usize>() + args.len().saturating_sub(1);
    let len32 = u32::try_from(len).expect("invariant: packet data fits in u32");
    out.reserve(super::HEADER_LEN + len);
    put_header(out, magic, kind, len32);
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0]);
        }
        out.extend_from_slice(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_nuls_only() {
        let d = Bytes::from_static(b"a\0b\0c\0d");
        let v = split_args(&d, 3).expect("three");
        assert_eq!(v.as_slice(), [&b"a"[..], b"b", b"c\0d"]);
        let one = split_args(&d, 1).expect("one");
        assert_eq!(one.as_slice(), [&b"a\0b\0c\0d"[..]]);
        assert!(split_args(&d, 5).is_none());
        let empty = split_args(&Bytes::new(), 1).expect("one");
        assert_eq!(empty.as_slice(), [&b""[..]]);
        assert!(split_args(&Bytes::new(), 2).is_none());
        assert!(split_args(&d, 0).expect("none").as_slice().is_empty());
        assert!(split_args(&d, MAX_ARGS + 1).is_none());
        assert_eq!(split_args(&d, 3).expect("three").into_iter().count(), 3);
    }

    #[test]
    fn shared_copies_hold_their_bytes() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 1000] {
            let src: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (a, b) = src.split_at(len / 3);
            let copy = shared_concat(&[a, b"", b]);
            assert_eq!(&copy[..], &src[..], "len {len}");
            let tail = copy.slice(len / 2..);
            drop(copy);
            assert_eq!(&tail[..], &src[len / 2..], "len {len}");
        }
    }

    #[test]
    fn the_reader_splits_as_split_args_does() {
        let cases: [&[u8]; 6] = [b"a\0b\0c\0d", b"", b"\0", b"\0\0", b"abc", b"a\0\0b\0"];
        for d in cases {
            let d = Bytes::copy_from_slice(d);
            for n in 0..=MAX_ARGS + 1 {
                let whole = split_args(&d, n);
                let reader = ArgReader::new(&d, n);
                assert_eq!(whole.is_some(), reader.is_some(), "{d:?} n={n}");
                if let (Some(whole), Some(mut r)) = (whole, reader) {
                    for want in whole.as_slice() {
                        assert_eq!(&r.next_arg(), want, "{d:?} n={n}");
                    }
                    assert!(r.next_arg().is_empty(), "{d:?} n={n}: past the end");
                }
            }
        }
    }

    #[test]
    fn packets_join_arguments_with_nuls() {
        let mut out = BytesMut::new();
        put_packet(&mut out, Magic::Res, 8, &[b"H:x:1"]);
        assert_eq!(&out[..], b"\0RES\0\0\0\x08\0\0\0\x05H:x:1");
        out.clear();
        put_packet(&mut out, Magic::Res, 6, &[]);
        assert_eq!(&out[..], b"\0RES\0\0\0\x06\0\0\0\0");
        out.clear();
        put_packet(&mut out, Magic::Req, 13, &[b"h", b""]);
        assert_eq!(&out[..], b"\0REQ\0\0\0\x0d\0\0\0\x02h\0");
    }
}
