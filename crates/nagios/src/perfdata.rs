//! Performance data items: `'label'=value[UOM];[warn];[crit];[min];[max]`.
//!
//! Per the guidelines: the label is quoted (a `'` inside it doubled) and
//! never holds `=`; the value is a plain decimal or `U` when it could not
//! be determined; UOM is one of none, `s` `ms` `us`, `%`, `B` `KB` `MB`
//! `TB`, `c` (a continuous counter); warn and crit are ranges; trailing
//! empty fields are left out.

use std::fmt;

use crate::range::Range;

/// The units of measurement the guidelines allow.
pub const UOMS: &[&str] = &["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"];

/// A measured value, or `U` (undetermined: e.g. a hit ratio before any
/// get).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A number.
    Num(f64),
    /// `U`.
    Undetermined,
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Value::Num(v)
        } else {
            Value::Undetermined
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Num(v as f64)
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Value::Undetermined, Value::from)
    }
}

/// Formats a number as perfdata wants it: plain decimal, no exponent, at
/// most three decimals, no trailing zeros.
pub fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_owned(),
        s => s.to_owned(),
    }
}

/// One performance data item.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    label: String,
    value: Value,
    uom: &'static str,
    warn: Option<Range>,
    crit: Option<Range>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Perf {
    /// An item with no unit, thresholds or bounds. Characters a label may
    /// not carry (`=`, `|`, control characters) become `_`.
    pub fn new(label: &str, value: impl Into<Value>) -> Perf {
        let label = label
            .chars()
            .map(|c| {
                if c == '=' || c == '|' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        Perf {
            label,
            value: value.into(),
            uom: "",
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }

    /// The unit.
    ///
    /// # Panics
    /// On a unit the guidelines do not list: that is a bug in a plugin.
    pub fn uom(mut self, uom: &'static str) -> Perf {
        assert!(
            UOMS.contains(&uom),
            "invariant: {uom:?} is not a perfdata UOM"
        );
        self.uom = uom;
        self
    }

    /// The thresholds the value was judged against.
    pub fn thresholds(mut self, warn: Option<&Range>, crit: Option<&Range>) -> Perf {
        self.warn = warn.cloned();
        self.crit = crit.cloned();
        self
    }

    /// The lowest value possible.
    pub fn min(mut self, min: f64) -> Perf {
        self.min = Some(min);
        self
    }

    /// The highest value possible.
    pub fn max(mut self, max: f64) -> Perf {
        self.max = Some(max);
        self
    }

    /// The label as given (after sanitising).
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Display for Perf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.value {
            Value::Num(v) => num(v),
            Value::Undetermined => "U".to_owned(),
        };
        let mut fields = vec![
            self.warn.as_ref().map(Range::to_string).unwrap_or_default(),
            self.crit.as_ref().map(Range::to_string).unwrap_or_default(),
            self.min.map(num).unwrap_or_default(),
            self.max.map(num).unwrap_or_default(),
        ];
        while fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        let uom = if self.value == Value::Undetermined {
            ""
        } else {
            self.uom
        };
        write!(f, "'{}'={value}{uom}", self.label.replace('\'', "''"))?;
        for field in fields {
            write!(f, ";{field}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.30000000000000004), "0.3");
        assert_eq!(num(95.12345), "95.123");
        assert_eq!(num(1e20), "100000000000000000000");
        assert_eq!(num(-2.5), "-2.5");
    }

    #[test]
    fn full_and_trimmed_items() {
        let w: Range = "80".parse().expect("w");
        let c: Range = "95".parse().expect("c");
        let p = Perf::new("connections %", 12.5)
            .uom("%")
            .thresholds(Some(&w), Some(&c))
            .min(0.0)
            .max(100.0);
        assert_eq!(p.to_string(), "'connections %'=12.5%;80;95;0;100");
        assert_eq!(Perf::new("x", 3u64).uom("c").to_string(), "'x'=3c");
        assert_eq!(
            Perf::new("x", 3u64).thresholds(None, Some(&c)).to_string(),
            "'x'=3;;95"
        );
        assert_eq!(Perf::new("y", 1u64).max(5.0).to_string(), "'y'=1;;;;5");
    }

    #[test]
    fn labels_are_quoted_and_cleaned() {
        assert_eq!(Perf::new("it's", 1u64).to_string(), "'it''s'=1");
        assert_eq!(Perf::new("a=b|c\nd", 1u64).label(), "a_b_c_d");
        assert_eq!(
            Perf::new("r", None::<f64>).uom("%").to_string(),
            "'r'=U",
            "U carries no unit"
        );
        assert_eq!(Perf::new("nan", f64::NAN).to_string(), "'nan'=U");
    }
}
