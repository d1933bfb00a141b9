//! The four checks. Each module holds the plugin's arguments, the round
//! trips it makes, a parser for each reply, and a pure `judge` from the
//! parsed replies to a [`crate::Report`] that unit tests drive directly.

pub mod gearman;
pub mod memcached;
pub mod mogilefs;
pub mod perlbal;

/// `part` as a percentage of `whole` (`None` when `whole` is 0).
pub(crate) fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part * 100.0 / whole)
}

/// A number with at most one decimal, for status text.
pub(crate) fn one_decimal(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}
