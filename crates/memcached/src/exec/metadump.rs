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
//!
//! The reply is made in batches ([`Engine::metadump_next`]): each locks one
//! shard, walks its hash table a few buckets at a time until about the
//! budget of reply bytes is made, and returns, so that the caller can send
//! them before asking for more. A connection never holds more than one
//! batch, whatever the size of the cache (the original streams its dump
//! through a 128 KB buffer for the same reason). The walk's cursor
//! survives the table doubling between batches (see
//! [`crate::store::Shard::scan_bucket`]): an item linked for the whole dump
//! is listed once; one set, bumped or deleted meanwhile may or may not be,
//! as with the original's crawler.

use super::Engine;
use crate::proto::num::safe_strtoul;
use crate::store::{ItemState, RelTime};

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

/// A reply of at most this many bytes is built whole where the transport
/// cannot stream (UDP); a longer one is cut short with an error line.
pub(crate) const INLINE_MAX: usize = 1024 * 1024;

/// A `metadump` under way: the filter and where the walk is.
#[derive(Debug)]
pub struct Metadump<'a> {
    filter: DumpFilter<'a>,
    /// The shard being walked.
    shard: usize,
    /// The hash-table cursor in it (0 = its start).
    cursor: u64,
    /// `END` has been written.
    done: bool,
}

impl Engine {
    /// Checks `lru_crawler metadump <args>` as the original does (with
    /// `pipelined` when replies to earlier commands wait unsent): the dump
    /// to run, or the reply refusing it.
    pub fn metadump_start<'a>(
        &self,
        args: &[&'a [u8]],
        pipelined: bool,
    ) -> Result<Metadump<'a>, &'static [u8]> {
        // Extra words: `ERROR`, as the original (unless the prefix option,
        // this build's extension).
        let filter = DumpFilter::parse(args);
        match filter {
            Err(DumpArgsError::Unknown) => Err(b"ERROR\r\n"),
            _ if !self.crawler_on.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(b"CLIENT_ERROR lru crawler disabled\r\n")
            }
            _ if !self.settings.dump_enabled => Err(b"ERROR metadump not allowed\r\n"),
            _ if pipelined => Err(b"ERROR cannot pipeline other commands before metadump\r\n"),
            Err(DumpArgsError::BadClass) => Err(b"BADCLASS invalid class id\r\n"),
            Ok(filter) => Ok(Metadump {
                filter,
                shard: 0,
                cursor: 0,
                done: false,
            }),
        }
    }

    /// Appends the dump's next lines to `out`, stopping once `out` holds
    /// `budget` bytes or more (whole buckets: one hash chain past it at
    /// most), and `END` after the last. True once `END` is written.
    pub fn metadump_next(
        &self,
        dump: &mut Metadump<'_>,
        now: RelTime,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> bool {
        /// Buckets walked per lock hold when few of them hold wanted items.
        const BUCKETS_PER_HOLD: u32 = 4096;
        let started = self.process_started;
        while !dump.done && out.len() < budget {
            let Some(shard) = self.store.shard_at(dump.shard) else {
                out.extend_from_slice(b"END\r\n");
                dump.done = true;
                break;
            };
            let mut walked = 0;
            while out.len() < budget && walked < BUCKETS_PER_HOLD {
                walked += 1;
                dump.cursor = shard.scan_bucket(dump.cursor, |id| {
                    let m = shard.meta(id);
                    if m.exptime != 0 && m.exptime <= now {
                        return;
                    }
                    let key = shard.key(id);
                    if !dump.filter.wants(m.class, key) {
                        return;
                    }
                    out.extend_from_slice(b"key=");
                    url_encode(key, out);
                    let exp = if m.exptime == 0 {
                        -1
                    } else {
                        i64::try_from(started + u64::from(m.exptime)).unwrap_or(-1)
                    };
                    let fetched = m.state & ItemState::FETCHED != 0;
                    let _ = std::io::Write::write_fmt(
                        out,
                        format_args!(
                            " exp={exp} la={} cas={} fetch={} cls={} size={}\r\n",
                            started + u64::from(m.time),
                            m.cas,
                            if fetched { "yes" } else { "no" },
                            m.class,
                            m.total_size
                        ),
                    );
                });
                if dump.cursor == 0 {
                    dump.shard += 1;
                    break;
                }
            }
        }
        dump.done
    }

    /// The whole dump into `out`, for a transport that cannot stream: cut
    /// after [`INLINE_MAX`] bytes with an error line.
    pub(crate) fn metadump_inline(&self, mut dump: Metadump<'_>, now: RelTime, out: &mut Vec<u8>) {
        let budget = out.len() + INLINE_MAX;
        if !self.metadump_next(&mut dump, now, out, budget) {
            out.extend_from_slice(b"SERVER_ERROR out of memory writing metadump response\r\n");
        }
    }
}

/// Percent-encodes a key as the original's metadump does.
fn url_encode(key: &[u8], out: &mut Vec<u8>) {
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
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
