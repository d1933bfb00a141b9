//! A single `Range: bytes=a-b` against a file of known size, read as 1.80
//! reads it (`HTTPHeaders::range`): anything that is not one plain byte
//! range is ignored (the whole file is served), a range that starts past
//! the end is unsatisfiable. One fix: a suffix range `bytes=-N` means the
//! last N bytes (1.80 served `0-N`).

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No (usable) range: the whole body, 200.
    Full,
    /// Bytes `start..=end`, 206.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// 416.
    Unsatisfiable,
}

impl ByteRange {
    /// The `Content-Range` value of a 206 or 416 for a body of `size`.
    pub fn content_range(&self, size: u64) -> Option<String> {
        match *self {
            ByteRange::Full => None,
            ByteRange::Partial { start, end } => Some(format!("bytes {start}-{end}/{size}")),
            ByteRange::Unsatisfiable if size > 0 => Some(format!("bytes */{size}")),
            ByteRange::Unsatisfiable => Some("*".into()),
        }
    }

    /// How many body bytes go out (`size` for a full body).
    pub fn len(&self, size: u64) -> u64 {
        match *self {
            ByteRange::Full => size,
            ByteRange::Partial { start, end } => end - start + 1,
            ByteRange::Unsatisfiable => 0,
        }
    }

    /// Whether nothing goes out.
    pub fn is_empty(&self, size: u64) -> bool {
        self.len(size) == 0
    }
}

/// Digits as a number; too many digits saturate (a start that large is
/// past any end, an end that large is clamped to the size).
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The range the `Range` header asks for, for a body of `size` bytes.
pub fn parse(header: Option<&[u8]>, size: u64) -> ByteRange {
    let Some(spec) = header
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| h.strip_prefix("bytes="))
    else {
        return ByteRange::Full;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return ByteRange::Full;
    }
    match (number(a), number(b)) {
        (None, None) => ByteRange::Full,
        (Some(s), Some(e)) if s > e => ByteRange::Unsatisfiable,
        (None, Some(0)) => ByteRange::Unsatisfiable,
        (None, Some(_)) if size == 0 => ByteRange::Unsatisfiable,
        (None, Some(n)) => ByteRange::Partial {
            start: size - n.min(size),
            end: size - 1,
        },
        (Some(s), _) if s >= size => ByteRange::Unsatisfiable,
        (Some(s), e) => ByteRange::Partial {
            start: s,
            end: e.filter(|e| *e < size).unwrap_or(size - 1),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(h: &str, size: u64) -> ByteRange {
        parse(Some(h.as_bytes()), size)
    }

    #[test]
    fn ranges_as_1_80_reads_them_with_suffixes_fixed() {
        use ByteRange::*;
        assert_eq!(parse(None, 10), Full);
        assert_eq!(r("bytes=0-3", 10), Partial { start: 0, end: 3 });
        assert_eq!(r("bytes=4-", 10), Partial { start: 4, end: 9 });
        assert_eq!(r("bytes=4-99", 10), Partial { start: 4, end: 9 });
        assert_eq!(r("bytes=-3", 10), Partial { start: 7, end: 9 });
        assert_eq!(r("bytes=-30", 10), Partial { start: 0, end: 9 });
        assert_eq!(r("bytes=-0", 10), Unsatisfiable);
        assert_eq!(r("bytes=-3", 0), Unsatisfiable);
        assert_eq!(r("bytes=10-", 10), Unsatisfiable);
        assert_eq!(r("bytes=5-4", 10), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999999-", 10), Unsatisfiable);
        // Not one plain range: ignored, as in 1.80.
        for h in [
            "bytes=0-1,3-4",
            "bytes=-",
            "items=0-1",
            "bytes= 0-1",
            "bytes=a-1",
        ] {
            assert_eq!(r(h, 10), Full, "{h}");
        }
        assert_eq!(
            r("bytes=7-", 10).content_range(10).as_deref(),
            Some("bytes 7-9/10")
        );
        assert_eq!(
            Unsatisfiable.content_range(10).as_deref(),
            Some("bytes */10")
        );
        assert_eq!(Unsatisfiable.content_range(0).as_deref(), Some("*"));
    }

    proptest! {
        #[test]
        fn a_partial_range_lies_inside_the_body(h in "bytes=[0-9]{0,4}-[0-9]{0,4}", size in 0u64..20_000) {
            if let ByteRange::Partial { start, end } = r(&h, size) {
                prop_assert!(start <= end && end < size);
            }
        }

        #[test]
        fn arbitrary_headers_never_panic(h in proptest::collection::vec(any::<u8>(), 0..40), size in any::<u64>()) {
            let _ = parse(Some(&h), size);
        }
    }
}
