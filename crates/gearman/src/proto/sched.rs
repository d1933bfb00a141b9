//! `SUBMIT_JOB_SCHED`'s five fields (minute, hour, day of month, month,
//! day of week) and the next time they match, in UTC.
//!
//! A field is a number, or empty / `*` for any value. Ranges are cron's:
//! minute 0–59, hour 0–23, day 1–31, month 1–12, weekday 0–6 (0 = Sunday,
//! 7 is taken as Sunday too). Every given field must match (cron ORs day of
//! month and weekday when both are given; here both must hold).

use bytes::Bytes;

/// The schedule of a `SUBMIT_JOB_SCHED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sched {
    /// 0–59, `None` = any.
    pub minute: Option<u8>,
    /// 0–23
    pub hour: Option<u8>,
    /// 1–31
    pub mday: Option<u8>,
    /// 1–12
    pub month: Option<u8>,
    /// 0–6, 0 = Sunday
    pub wday: Option<u8>,
}

/// A field out of its range or not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("schedule field out of range or not a number")]
pub struct BadSched;

/// Days searched for a match: 28 years hold every (date, weekday) pair.
const HORIZON_DAYS: i64 = 28 * 366;

impl Sched {
    /// Parses the five packet fields.
    pub fn parse(fields: [&[u8]; 5]) -> Result<Sched, BadSched> {
        let field = |f: &[u8], lo: u8, hi: u8| -> Result<Option<u8>, BadSched> {
            if f.is_empty() || f == b"*" {
                return Ok(None);
            }
            if f.len() > 2 || !f.iter().all(u8::is_ascii_digit) {
                return Err(BadSched);
            }
            let n = f.iter().fold(0u8, |n, d| n * 10 + (d - b'0'));
            if (lo..=hi).contains(&n) {
                Ok(Some(n))
            } else {
                Err(BadSched)
            }
        };
        let [mi, h, d, mo, w] = fields;
        Ok(Sched {
            minute: field(mi, 0, 59)?,
            hour: field(h, 0, 23)?,
            mday: field(d, 1, 31)?,
            month: field(mo, 1, 12)?,
            wday: field(w, 0, 7)?.map(|w| w % 7),
        })
    }

    /// The five fields as a client sends them (`*` for any).
    pub fn fields(&self) -> [Bytes; 5] {
        let f = |v: Option<u8>| match v {
            Some(n) => Bytes::from(n.to_string()),
            None => Bytes::from_static(b"*"),
        };
        [
            f(self.minute),
            f(self.hour),
            f(self.mday),
            f(self.month),
            f(self.wday),
        ]
    }

    /// The first whole minute at or after `now` (unix seconds) that
    /// matches, as unix seconds; `None` if no date within 28 years does
    /// (30 February).
    pub fn next_after(&self, now: i64) -> Option<i64> {
        let start = now.checked_add(59)?.div_euclid(60) * 60;
        let first_day = start.div_euclid(86_400);
        let start_min = start.rem_euclid(86_400) / 60;
        for day in first_day..first_day.checked_add(HORIZON_DAYS)? {
            let (_, month, mday) = civil(day);
            let wday = (day + 4).rem_euclid(7) as u8; // 1970-01-01 was a Thursday.
            let ok = |want: Option<u8>, have: u8| want.is_none_or(|w| w == have);
            if !(ok(self.month, month) && ok(self.mday, mday) && ok(self.wday, wday)) {
                continue;
            }
            let from = if day == first_day { start_min } else { 0 };
            let hit = (from..24 * 60)
                .find(|&m| ok(self.hour, (m / 60) as u8) && ok(self.minute, (m % 60) as u8));
            if let Some(m) = hit {
                return day.checked_mul(86_400)?.checked_add(m * 60);
            }
        }
        None
    }
}

/// (year, month 1–12, day 1–31) of a count of days since 1970-01-01 in the
/// proleptic Gregorian calendar (eras of 400 years, years from March).
fn civil(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(f: [&str; 5]) -> Sched {
        Sched::parse(f.map(str::as_bytes)).expect("valid")
    }

    // 2026-12-07 10:28:06 UTC, a Monday.
    const NOW: i64 = 1_796_639_286;

    #[test]
    fn civil_dates_and_weekdays() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(NOW / 86_400), (2026, 12, 7));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!((NOW / 86_400 + 4) % 7, 1, "a Monday");
    }

    #[test]
    fn fields_parse_with_cron_ranges() {
        assert_eq!(s(["", "*", "", "*", ""]), Sched::default());
        assert_eq!(s(["5", "", "", "", "7"]).wday, Some(0));
        for bad in [
            ["60", "", "", "", ""],
            ["", "24", "", "", ""],
            ["", "", "0", "", ""],
            ["", "", "", "13", ""],
            ["", "", "", "", "8"],
            ["x", "", "", "", ""],
            ["-1", "", "", "", ""],
            ["123", "", "", "", ""],
        ] {
            assert_eq!(
                Sched::parse(bad.map(str::as_bytes)),
                Err(BadSched),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn next_matching_minute_hour_day_month_weekday() {
        let at = |f| s(f).next_after(NOW).expect("matches");
        // Any: the next whole minute.
        assert_eq!(at(["", "", "", "", ""]), NOW - 6 + 60);
        // Minute 30 of this hour; minute 28 is this one, already begun: next hour.
        assert_eq!(at(["30", "", "", "", ""]), NOW - 6 + 120);
        assert_eq!(at(["28", "", "", "", ""]), NOW - 6 + 3600);
        // 09:00 is past today: tomorrow.
        assert_eq!(
            at(["0", "9", "", "", ""]),
            NOW - 6 - 28 * 60 - 3600 + 86_400
        );
        // Sunday midnight: 2026-12-13.
        assert_eq!(civil(at(["0", "0", "", "", "0"]) / 86_400), (2026, 12, 13));
        // 1 March next year; 29 February: 2028.
        assert_eq!(civil(at(["", "", "1", "3", ""]) / 86_400), (2027, 3, 1));
        assert_eq!(civil(at(["", "", "29", "2", ""]) / 86_400), (2028, 2, 29));
        // Never.
        assert_eq!(s(["", "", "30", "2", ""]).next_after(NOW), None);
        // Exactly on a matching minute: that minute.
        assert_eq!(s(["", "", "", "", ""]).next_after(NOW - 6), Some(NOW - 6));
    }

    proptest! {
        #[test]
        fn the_time_found_matches_and_is_the_first(
            now in 0i64..4_000_000_000,
            mi in proptest::option::of(0u8..60),
            h in proptest::option::of(0u8..24),
            w in proptest::option::of(0u8..7),
        ) {
            let sched = Sched { minute: mi, hour: h, wday: w, ..Sched::default() };
            let t = sched.next_after(now).expect("a weekday always comes");
            prop_assert!(t >= now && t - now < 8 * 86_400);
            prop_assert_eq!(t % 60, 0);
            let ok = |want: Option<u8>, have: i64| want.is_none_or(|x| i64::from(x) == have);
            let minutes = |t: i64| (t / 60 % 60, t / 3600 % 24, (t / 86_400 + 4) % 7);
            let (m, hh, wd) = minutes(t);
            prop_assert!(ok(mi, m) && ok(h, hh) && ok(w, wd));
            // No earlier whole minute matched (checked over the last day).
            let mut e = t - 60;
            while e >= now && e > t - 86_400 {
                let (m, hh, wd) = minutes(e);
                prop_assert!(!(ok(mi, m) && ok(h, hh) && ok(w, wd)), "{e} matched first");
                e -= 60;
            }
        }
    }
}
