//! The bytes of the two restart files, with no file handling: writers
//! take any `Write`, readers any `Read` or byte slice.
//!
//! ## `FILE`: the items (binary, little endian)
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `DANGAMCI` |
//! | 4 | format version ([`VERSION`]) |
//! | … | records |
//!
//! An item record is tag `1`, then `nkey` (1), state bits (1), flags (4),
//! CAS (8), expiry (8, unix seconds, 0 = never), last access (8, unix
//! seconds), value length (4), the key, the value. The end record is tag
//! `0`, the number of items (8) and the CRC-32 (4) of every byte before
//! it: a file cut short has no end record, and a changed byte fails the
//! checksum.
//!
//! ## `FILE.meta`: the header (text)
//!
//! The original's metadata syntax (a `T<tag>` line, then `K<key> <value>`
//! lines) under our own tag, [`META_TAG`]: the format version, the settings
//! that must match, the counters to resume, the items file's length and
//! checksum, and last a `crc32` line over all the lines before it.

mod items;
mod meta;

pub use items::{DataError, Reader, Record, Summary, Writer, MAGIC};
pub use meta::{Meta, MetaError, Settings, META_MAX, META_TAG};

/// The format version both files carry; a reader accepts only its own.
pub const VERSION: u32 = 1;
