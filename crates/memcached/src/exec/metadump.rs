//! Which items `lru_crawler metadump` lists: the original's class list
//! (`all`, `hash`, or comma-separated class ids) and this build's
//! extension, a key prefix (`prefix=<bytes>`, memcached issue #759):
//!
//! ```text
//! lru_crawler metadump <classids|all|hash> [prefix=<key prefix>]
//! ```
//!
//! Without the option the command is the original's; the reply ends in
//! `END` either way.

use crate::proto::num::safe_strtoul;

/// The original's class ids are 1..=63.
const MAX_CLASS: u32 = 63;

/// A parsed `metadump` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpFilter<'a> {
    /// The classes asked for; None for `all` or `hash`.
    classes: Option<Vec<u8>>,
    /// Only keys starting with these bytes.
    prefix: &'a [u8],
}

/// Why a `metadump` line is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DumpArgsError {
    /// A word the command does not take (the original answers `ERROR`
    /// to any extra word).
    Unknown,
    /// A class id out of range or not a number.
    BadClass,
}

impl<'a> DumpFilter<'a> {
    /// From the words after `metadump`.
    pub(crate) fn parse(args: &[&'a [u8]]) -> Result<Self, DumpArgsError> {
        let (list, opts) = match args {
            [list, opts @ ..] if opts.len() <= 1 => (*list, opts),
            _ => return Err(DumpArgsError::Unknown),
        };
        let prefix = match opts {
            [] => &b""[..],
            [opt] => opt.strip_prefix(b"prefix=").ok_or(DumpArgsError::Unknown)?,
            _ => return Err(DumpArgsError::Unknown),
        };
        let classes = if list == b"all" || list == b"hash" {
            None
        } else {
            let ids = list
                .split(|b| *b == b',')
                .map(|c| match safe_strtoul(c) {
                    Some(n @ 1..=MAX_CLASS) => u8::try_from(n).map_err(|_| DumpArgsError::BadClass),
                    _ => Err(DumpArgsError::BadClass),
                })
                .collect::<Result<Vec<u8>, _>>()?;
            Some(ids)
        };
        Ok(DumpFilter { classes, prefix })
    }

    /// Whether an item of `class` with `key` is listed.
    pub(crate) fn wants(&self, class: u8, key: &[u8]) -> bool {
        key.starts_with(self.prefix) && self.classes.as_ref().is_none_or(|c| c.contains(&class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_forms_parse_and_filter_by_class() {
        let all = DumpFilter::parse(&[b"all"]).expect("all");
        assert!(all.wants(1, b"x") && all.wants(63, b""));
        assert_eq!(DumpFilter::parse(&[b"hash"]), Ok(all));
        let some = DumpFilter::parse(&[b"1,5"]).expect("list");
        assert!(some.wants(5, b"k") && !some.wants(2, b"k"));
        assert_eq!(DumpFilter::parse(&[b"0"]), Err(DumpArgsError::BadClass));
        assert_eq!(DumpFilter::parse(&[b"64"]), Err(DumpArgsError::BadClass));
        assert_eq!(DumpFilter::parse(&[b"x"]), Err(DumpArgsError::BadClass));
    }

    #[test]
    fn a_prefix_option_narrows_by_key() {
        let f = DumpFilter::parse(&[b"all", b"prefix=user:"]).expect("prefix");
        assert!(f.wants(1, b"user:1") && f.wants(1, b"user:"));
        assert!(!f.wants(1, b"use") && !f.wants(1, b"session:1"));
        let f = DumpFilter::parse(&[b"2", b"prefix=a"]).expect("both");
        assert!(f.wants(2, b"ab") && !f.wants(3, b"ab"));
        assert!(DumpFilter::parse(&[b"all", b"prefix="])
            .expect("empty")
            .wants(9, b"z"));
    }

    #[test]
    fn other_words_are_refused_as_the_original_refuses_them() {
        assert_eq!(DumpFilter::parse(&[]), Err(DumpArgsError::Unknown));
        assert_eq!(
            DumpFilter::parse(&[b"all", b"foo"]),
            Err(DumpArgsError::Unknown)
        );
        assert_eq!(
            DumpFilter::parse(&[b"all", b"prefix=a", b"prefix=b"]),
            Err(DumpArgsError::Unknown)
        );
    }
}
