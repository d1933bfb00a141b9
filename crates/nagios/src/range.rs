//! Threshold ranges in the guidelines' syntax, `[@]start:end`:
//!
//! | range     | alert when the value is |
//! |-----------|-------------------------|
//! | `10`      | < 0 or > 10             |
//! | `10:`     | < 10                    |
//! | `~:10`    | > 10                    |
//! | `10:20`   | < 10 or > 20            |
//! | `@10:20`  | >= 10 and <= 20         |
//!
//! `start` defaults to 0 and may be `~` (negative infinity); an empty `end`
//! is positive infinity; `start` must not exceed `end`. Ends are inclusive:
//! the value at the boundary is inside the range.

use std::fmt;
use std::str::FromStr;

/// A parsed threshold range.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    start: f64,
    end: f64,
    /// `@`: alert inside the range instead of outside it.
    inside: bool,
    /// The text it was parsed from, for perfdata.
    text: String,
}

/// Why a range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Nothing given.
    #[error("empty range")]
    Empty,
    /// A bound that is not a number.
    #[error("{0:?} is not a number (ranges are [@]start:end, ~ for minus infinity)")]
    NotANumber(String),
    /// `start` above `end`.
    #[error("range {0:?} starts after it ends")]
    Backwards(String),
}

fn number(s: &str) -> Result<f64, RangeError> {
    // Only plain decimals: no "inf", "nan" or exponents, which perfdata
    // readers would not take back.
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == '+');
    match s.parse::<f64>() {
        Ok(v) if ok && v.is_finite() => Ok(v),
        _ => Err(RangeError::NotANumber(s.to_owned())),
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(RangeError::Empty);
        }
        let (start, end) = match body.split_once(':') {
            Some((a, b)) => {
                let start = match a {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    a => number(a)?,
                };
                let end = if b.is_empty() {
                    f64::INFINITY
                } else {
                    number(b)?
                };
                (start, end)
            }
            None => (0.0, number(body)?),
        };
        if start > end {
            return Err(RangeError::Backwards(text.to_owned()));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_owned(),
        })
    }
}

impl Range {
    /// Whether `value` raises an alert under this range.
    pub fn alerts(&self, value: f64) -> bool {
        let within = value >= self.start && value <= self.end;
        if self.inside {
            within
        } else {
            !within
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        s.parse().expect(s)
    }

    #[test]
    fn the_guidelines_table() {
        let ten = r("10");
        assert!(ten.alerts(-1.0) && ten.alerts(10.5) && ten.alerts(11.0));
        assert!(!ten.alerts(0.0) && !ten.alerts(10.0) && !ten.alerts(5.0));
        let from_ten = r("10:");
        assert!(from_ten.alerts(9.99) && !from_ten.alerts(10.0) && !from_ten.alerts(1e12));
        let to_ten = r("~:10");
        assert!(to_ten.alerts(10.01) && !to_ten.alerts(10.0) && !to_ten.alerts(-1e12));
        let band = r("10:20");
        assert!(band.alerts(9.0) && band.alerts(21.0) && !band.alerts(10.0) && !band.alerts(20.0));
        let at = r("@10:20");
        assert!(at.alerts(10.0) && at.alerts(20.0) && at.alerts(15.0));
        assert!(!at.alerts(9.9) && !at.alerts(20.1));
    }

    #[test]
    fn negative_and_fractional_bounds() {
        let x = r("-5.5:-1");
        assert!(x.alerts(0.0) && x.alerts(-6.0) && !x.alerts(-3.0));
        assert!(r(":5").alerts(-0.1), "empty start is 0");
        assert_eq!(r(" @1:2 ").to_string(), "@1:2");
        assert!(
            r("0").alerts(0.5) && !r("0").alerts(0.0),
            "0 alerts on anything above 0"
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert_eq!("".parse::<Range>(), Err(RangeError::Empty));
        assert_eq!("@".parse::<Range>(), Err(RangeError::Empty));
        assert!(matches!(
            "20:10".parse::<Range>(),
            Err(RangeError::Backwards(_))
        ));
        for bad in ["abc", "1:x", "inf", "nan", "1e3", "~", "10:~", "1:2:3"] {
            assert!(bad.parse::<Range>().is_err(), "{bad}");
        }
    }
}
