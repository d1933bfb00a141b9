//! Numbers as the original reads them: glibc's `strtoul`/`strtol` wrapped
//! in memcached's `safe_strto*` (util.c), quirks included, because clients
//! see the difference (`set k 4294967297 0 1` stores flags 1, an exptime of
//! 4294967296 means 0, `incr k -18446744073709551615` adds 1).
//!
//! The rules, for one token:
//! * leading C white space is skipped, then one optional `+` or `-`, then
//!   decimal digits (at least one);
//! * the digits must end the token or be followed by C white space
//!   (`1\tfoo` reads as 1);
//! * a magnitude beyond 64 bits is an error (ERANGE); `-n` wraps modulo
//!   2^64 for the unsigned readers, and is refused only when the wrapped
//!   value has its top bit set;
//! * the 32-bit readers truncate the 64-bit result (`as u32` / `as i32`).

/// C `isspace` in the C locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strto*` scanned: sign, magnitude (saturated), where it stopped.
struct Scan {
    neg: bool,
    mag: u64,
    overflow: bool,
    end: usize,
}

/// Scans like glibc `strtoull(s, &end, 10)`; `None` when no digit was read
/// (`end == s`).
fn scan(s: &[u8]) -> Option<Scan> {
    let mut i = s.iter().take_while(|b| is_c_space(**b)).count();
    let mut neg = false;
    match s.get(i) {
        Some(b'-') => {
            neg = true;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    let start = i;
    let mut mag: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        match mag
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(d - b'0')))
        {
            Some(m) => mag = m,
            None => overflow = true,
        }
        i += 1;
    }
    (i > start).then_some(Scan {
        neg,
        mag,
        overflow,
        end: i,
    })
}

/// Whether `safe_strto*` accepts what follows the digits.
fn tail_ok(s: &[u8], end: usize) -> bool {
    s.get(end).is_none_or(|b| is_c_space(*b))
}

/// `safe_strtoull`: a u64, refusing negative numbers whose wrapped value
/// has the top bit set.
pub(crate) fn safe_strtoull(s: &[u8]) -> Option<u64> {
    let sc = scan(s)?;
    if sc.overflow || !tail_ok(s, sc.end) {
        return None;
    }
    let v = if sc.neg {
        sc.mag.wrapping_neg()
    } else {
        sc.mag
    };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// `safe_strtoul` on a 64-bit build: `safe_strtoull` truncated to 32 bits.
pub(crate) fn safe_strtoul(s: &[u8]) -> Option<u32> {
    safe_strtoull(s).map(|v| v as u32)
}

/// `safe_strtol` on a 64-bit build: a signed 64-bit read (ERANGE beyond
/// `i64`), truncated to 32 bits.
pub(crate) fn safe_strtol(s: &[u8]) -> Option<i32> {
    let sc = scan(s)?;
    if !tail_ok(s, sc.end) {
        return None;
    }
    let v: i64 = if sc.neg {
        if sc.overflow || sc.mag > 1u64 << 63 {
            return None;
        }
        0i64.wrapping_sub_unsigned(sc.mag)
    } else {
        if sc.overflow {
            return None;
        }
        i64::try_from(sc.mag).ok()?
    };
    Some(v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_like_glibc() {
        assert_eq!(safe_strtoull(b"0"), Some(0));
        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"+5"), Some(5));
        assert_eq!(safe_strtoull(b"\t5"), Some(5));
        assert_eq!(safe_strtoull(b"5\t"), Some(5));
        assert_eq!(safe_strtoull(b"5\rfoo"), Some(5));
        assert_eq!(safe_strtoull(b"-0"), Some(0));
        assert_eq!(safe_strtoull(b"-1"), None);
        // observed: `incr k -18446744073709551615` is accepted as +1
        assert_eq!(safe_strtoull(b"-18446744073709551615"), Some(1));
        assert_eq!(safe_strtoull(b"-9223372036854775808"), None);
        assert_eq!(
            safe_strtoull(b"-9223372036854775809"),
            Some(9223372036854775807)
        );
        assert_eq!(safe_strtoull(b"abc"), None);
        assert_eq!(safe_strtoull(b""), None);
        assert_eq!(safe_strtoull(b"+"), None);
        assert_eq!(safe_strtoull(b"-"), None);
        assert_eq!(safe_strtoull(b"0x1"), None);
        assert_eq!(safe_strtoull(b"1a"), None);
        assert_eq!(safe_strtoull(b" "), None);
    }

    #[test]
    fn u32_truncates() {
        assert_eq!(safe_strtoul(b"4294967295"), Some(u32::MAX));
        assert_eq!(safe_strtoul(b"4294967296"), Some(0));
        assert_eq!(safe_strtoul(b"4294967297"), Some(1));
        assert_eq!(safe_strtoul(b"-1"), None);
        assert_eq!(safe_strtoul(b"18446744073709551616"), None);
    }

    #[test]
    fn signed_truncates() {
        assert_eq!(safe_strtol(b"-1"), Some(-1));
        assert_eq!(safe_strtol(b"2147483647"), Some(i32::MAX));
        assert_eq!(safe_strtol(b"2147483648"), Some(i32::MIN));
        assert_eq!(safe_strtol(b"4294967296"), Some(0));
        assert_eq!(safe_strtol(b"4294967298"), Some(2));
        assert_eq!(safe_strtol(b"9223372036854775807"), Some(-1));
        assert_eq!(safe_strtol(b"9223372036854775808"), None);
        assert_eq!(safe_strtol(b"-9223372036854775808"), Some(0));
        assert_eq!(safe_strtol(b"-9223372036854775809"), None);
        assert_eq!(safe_strtol(b"+1"), Some(1));
        assert_eq!(safe_strtol(b"1\t"), Some(1));
        assert_eq!(safe_strtol(b"1x"), None);
        assert_eq!(safe_strtol(b""), None);
    }
}
