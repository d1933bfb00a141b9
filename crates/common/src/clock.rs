//! The wall clock, in the one form the daemons keep times in: whole seconds
//! since the UNIX epoch (0 if the clock stands before it).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// [`unix_now`] as the signed seconds SQL columns and protocol fields hold.
pub fn unix_now_i64() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

/// Seconds since the epoch with the fraction (sub-second deadlines).
pub fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_agree() {
        let a = unix_now();
        let f = unix_now_f64();
        let i = unix_now_i64();
        // Past 2020-01-01 and within a second of each other.
        assert!(a > 1_577_836_800);
        assert!((f - a as f64).abs() < 2.0);
        assert!(i.abs_diff(i64::try_from(a).unwrap_or(i64::MAX)) < 2);
    }
}
