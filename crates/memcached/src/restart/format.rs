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

use std::io::{self, Read, Write};

use crc32fast::Hasher;

/// The items file's first bytes.
pub const MAGIC: &[u8; 8] = b"DANGAMCI";

/// The format version both files carry; a reader accepts only its own.
pub const VERSION: u32 = 1;

/// The tag line of our metadata (the original writes `main`).
pub const META_TAG: &str = "danga-memcached";

/// The longest metadata file a reader accepts (ours is under 1 KB).
pub const META_MAX: usize = 64 * 1024;

const TAG_END: u8 = 0;
const TAG_ITEM: u8 = 1;
/// Bytes of an item record before its key.
const ITEM_HEAD: usize = 1 + 1 + 1 + 4 + 8 + 8 + 8 + 4;

/// The settings a saved cache is only valid under.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `-m` in bytes.
    pub maxbytes: u64,
    /// `-I`.
    pub item_size_max: u64,
    /// `-o slab_chunk_max`.
    pub slab_chunk_max: u64,
    /// The slab page size.
    pub slab_page_size: u64,
    /// `-n`.
    pub chunk_size: u64,
    /// `-f`.
    pub growth_factor: f64,
    /// `!-C`.
    pub use_cas: bool,
    /// `-o slab_reassign`.
    pub slab_reassign: bool,
}

impl Settings {
    fn pairs(&self) -> [(&'static str, String); 8] {
        [
            ("maxbytes", self.maxbytes.to_string()),
            ("item_size_max", self.item_size_max.to_string()),
            ("slab_chunk_size_max", self.slab_chunk_max.to_string()),
            ("slab_page_size", self.slab_page_size.to_string()),
            ("chunk_size", self.chunk_size.to_string()),
            ("growth_factor", self.growth_factor.to_string()),
            ("use_cas", self.use_cas.to_string()),
            ("slab_reassign", self.slab_reassign.to_string()),
        ]
    }

    /// The first setting that differs from `now`'s: (name, saved, now).
    pub fn first_difference(&self, now: &Settings) -> Option<(&'static str, String, String)> {
        self.pairs()
            .into_iter()
            .zip(now.pairs())
            .find(|((_, a), (_, b))| a != b)
            .map(|((k, a), (_, b))| (k, a, b))
    }
}

/// The header: what `FILE.meta` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The settings the items were stored under.
    pub settings: Settings,
    /// Unix time of the save.
    pub stop_time: u64,
    /// The last CAS handed out.
    pub current_cas: u64,
    /// log2 of the hash index's buckets.
    pub hash_power: u32,
    /// A `flush_all` mark (unix seconds, 0 = none): items last touched at
    /// or before it are invalid once it has passed.
    pub flush_at: u64,
    /// With it, items whose CAS is below this are invalid too (0 = none).
    pub flush_cas: u64,
    /// Item records in `FILE`.
    pub items: u64,
    /// Length of `FILE`.
    pub data_bytes: u64,
    /// CRC-32 of `FILE` up to its last 4 bytes (the end record's own).
    pub data_crc32: u32,
}

/// Why a metadata file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// Not a metadata file at all: empty, or not starting with a tag line
    /// (the original refuses to start on such a file; so do we).
    #[error("not a metadata file (empty, or no tag line first)")]
    NotMetadata,
    /// Another program's metadata (the original memcached's tag is `main`).
    #[error("written by another program (tag {0:?}), not by this memcached")]
    OtherWriter(String),
    /// Our tag, another format version.
    #[error("format version {0}, this build reads {VERSION}")]
    Version(String),
    /// The lines do not match their checksum (cut short or changed).
    #[error("checksum mismatch (file cut short or changed)")]
    Checksum,
    /// A line is missing or its value does not parse.
    #[error("bad or missing line {0:?}")]
    Bad(&'static str),
}

impl Meta {
    /// The file's text.
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut s = format!("T{META_TAG}\nKformat {VERSION}\n");
        for (k, v) in self.settings.pairs() {
            let _ = writeln!(s, "K{k} {v}");
        }
        let rest: [(&str, String); 8] = [
            ("stop_time", self.stop_time.to_string()),
            ("current_cas", self.current_cas.to_string()),
            ("hashpower", self.hash_power.to_string()),
            ("flush_at", self.flush_at.to_string()),
            ("flush_cas", self.flush_cas.to_string()),
            ("items", self.items.to_string()),
            ("data_bytes", self.data_bytes.to_string()),
            ("data_crc32", format!("{:08x}", self.data_crc32)),
        ];
        for (k, v) in rest {
            let _ = writeln!(s, "K{k} {v}");
        }
        let crc = crc32fast::hash(s.as_bytes());
        let _ = writeln!(s, "Kcrc32 {crc:08x}");
        s
    }

    /// Reads a metadata file's bytes.
    pub fn parse(text: &[u8]) -> Result<Meta, MetaError> {
        let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
        let tag = match first.strip_prefix(b"T") {
            Some(t) if !t.is_empty() && text.contains(&b'\n') => t,
            _ => return Err(MetaError::NotMetadata),
        };
        if tag != META_TAG.as_bytes() {
            return Err(MetaError::OtherWriter(
                String::from_utf8_lossy(tag).into_owned(),
            ));
        }
        let text = std::str::from_utf8(text).map_err(|_| MetaError::Checksum)?;
        let mut kv = std::collections::HashMap::new();
        let mut covered = 0;
        let mut crc_line = None;
        for line in text.split_inclusive('\n').skip(1) {
            let body = line.strip_suffix('\n').ok_or(MetaError::Checksum)?;
            let (k, v) = body
                .strip_prefix('K')
                .and_then(|l| l.split_once(' '))
                .ok_or(MetaError::Checksum)?;
            if k == "crc32" {
                crc_line = Some(v);
                break;
            }
            covered += line.len();
            kv.insert(k, v);
        }
        let covered = &text[..first.len() + 1 + covered];
        if kv.get("format") != Some(&VERSION.to_string().as_str()) {
            if let Some(v) = kv.get("format") {
                return Err(MetaError::Version((*v).to_string()));
            }
        }
        let crc = crc_line.ok_or(MetaError::Checksum)?;
        if u32::from_str_radix(crc, 16).ok() != Some(crc32fast::hash(covered.as_bytes())) {
            return Err(MetaError::Checksum);
        }
        fn num<T: std::str::FromStr>(
            kv: &std::collections::HashMap<&str, &str>,
            k: &'static str,
        ) -> Result<T, MetaError> {
            kv.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or(MetaError::Bad(k))
        }
        let settings = Settings {
            maxbytes: num(&kv, "maxbytes")?,
            item_size_max: num(&kv, "item_size_max")?,
            slab_chunk_max: num(&kv, "slab_chunk_size_max")?,
            slab_page_size: num(&kv, "slab_page_size")?,
            chunk_size: num(&kv, "chunk_size")?,
            growth_factor: num(&kv, "growth_factor")?,
            use_cas: num(&kv, "use_cas")?,
            slab_reassign: num(&kv, "slab_reassign")?,
        };
        let data_crc32 = kv
            .get("data_crc32")
            .and_then(|v| u32::from_str_radix(v, 16).ok())
            .ok_or(MetaError::Bad("data_crc32"))?;
        Ok(Meta {
            settings,
            stop_time: num(&kv, "stop_time")?,
            current_cas: num(&kv, "current_cas")?,
            hash_power: num(&kv, "hashpower")?,
            flush_at: num(&kv, "flush_at")?,
            flush_cas: num(&kv, "flush_cas")?,
            items: num(&kv, "items")?,
            data_bytes: num(&kv, "data_bytes")?,
            data_crc32,
        })
    }
}

/// One item as the items file holds it (times are unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The key (1 to 250 bytes).
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// CAS unique.
    pub cas: u64,
    /// Expiry, unix seconds (0 = never).
    pub exptime: u64,
    /// Last access, unix seconds.
    pub time: u64,
    /// The store's public item state bits.
    pub state: u8,
}

/// What a finished items file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Item records.
    pub items: u64,
    /// File length.
    pub bytes: u64,
    /// CRC-32 of all bytes before the last 4.
    pub crc32: u32,
}

/// Streams records into an items file; memory use is the caller's writer
/// (a `BufWriter`), whatever the number of items.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    crc: Hasher,
    items: u64,
    bytes: u64,
}

impl<W: Write> Writer<W> {
    /// Writes the file's head.
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = Writer {
            out,
            crc: Hasher::new(),
            items: 0,
            bytes: 0,
        };
        w.put(MAGIC)?;
        w.put(&VERSION.to_le_bytes())?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.crc.update(b);
        self.bytes += b.len() as u64;
        Ok(())
    }

    /// Appends one item. Keys longer than 255 bytes or values of 4 GB and
    /// more cannot be written (the store holds neither).
    pub fn item(&mut self, r: &Record<'_>) -> io::Result<()> {
        let nkey = u8::try_from(r.key.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "key too long"))?;
        let nbytes = u32::try_from(r.value.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value too long"))?;
        let mut head = [0u8; ITEM_HEAD];
        head[0] = TAG_ITEM;
        head[1] = nkey;
        head[2] = r.state;
        head[3..7].copy_from_slice(&r.flags.to_le_bytes());
        head[7..15].copy_from_slice(&r.cas.to_le_bytes());
        head[15..23].copy_from_slice(&r.exptime.to_le_bytes());
        head[23..31].copy_from_slice(&r.time.to_le_bytes());
        head[31..35].copy_from_slice(&nbytes.to_le_bytes());
        self.put(&head)?;
        self.put(r.key)?;
        self.put(r.value)?;
        self.items += 1;
        Ok(())
    }

    /// Writes the end record and returns the writer and what it wrote.
    pub fn finish(mut self) -> io::Result<(W, Summary)> {
        self.put(&[TAG_END])?;
        self.put(&self.items.to_le_bytes())?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        let summary = Summary {
            items: self.items,
            bytes: self.bytes + 4,
            crc32: crc,
        };
        Ok((self.out, summary))
    }
}

/// Why an items file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading failed.
    #[error("reading: {0}")]
    Io(#[from] io::Error),
    /// The file ends before its end record.
    #[error("cut short")]
    Truncated,
    /// Not an items file.
    #[error("not an items file (bad magic)")]
    Magic,
    /// Another format version.
    #[error("format version {0}, this build reads {VERSION}")]
    Version(u32),
    /// A record that cannot be (unknown tag, empty key, value over `-I`).
    #[error("bad record at byte {0}")]
    Record(u64),
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The end record's count does not match the records read.
    #[error("item count mismatch")]
    Count,
}

/// Reads an items file record by record, checking it as it goes; holds
/// one value at a time (at most `max_value` bytes).
#[derive(Debug)]
pub struct Reader<R: Read> {
    src: R,
    crc: Hasher,
    pos: u64,
    items: u64,
    max_value: usize,
    key: [u8; 255],
    value: Vec<u8>,
    done: Option<Summary>,
}

impl<R: Read> Reader<R> {
    /// Checks the head; values longer than `max_value` are refused.
    pub fn new(src: R, max_value: usize) -> Result<Self, DataError> {
        let mut r = Reader {
            src,
            crc: Hasher::new(),
            pos: 0,
            items: 0,
            max_value,
            key: [0; 255],
            value: Vec::new(),
            done: None,
        };
        let mut head = [0u8; 12];
        r.take(&mut head)?;
        if &head[..8] != MAGIC {
            return Err(DataError::Magic);
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version != VERSION {
            return Err(DataError::Version(version));
        }
        Ok(r)
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<(), DataError> {
        self.src.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => DataError::Truncated,
            _ => DataError::Io(e),
        })?;
        self.crc.update(buf);
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// The next item, or `None` after the end record (count and checksum
    /// verified; see [`Reader::summary`]).
    pub fn next_item(&mut self) -> Result<Option<Record<'_>>, DataError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let at = self.pos;
        let mut tag = [0u8; 1];
        self.take(&mut tag)?;
        if tag[0] == TAG_END {
            return self.end().map(|()| None);
        }
        if tag[0] != TAG_ITEM {
            return Err(DataError::Record(at));
        }
        let mut head = [0u8; ITEM_HEAD - 1];
        self.take(&mut head)?;
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let nkey = usize::from(head[0]);
        let nbytes = u32_at(30) as usize;
        if nkey == 0 || nbytes > self.max_value {
            return Err(DataError::Record(at));
        }
        let mut key = [0u8; 255];
        self.take(&mut key[..nkey])?;
        self.key = key;
        let mut value = std::mem::take(&mut self.value);
        value.resize(nbytes, 0);
        let got = self.take(&mut value);
        self.value = value;
        got?;
        self.items += 1;
        Ok(Some(Record {
            key: &self.key[..nkey],
            value: &self.value,
            state: head[1],
            flags: u32_at(2),
            cas: u64_at(6),
            exptime: u64_at(14),
            time: u64_at(22),
        }))
    }

    fn end(&mut self) -> Result<(), DataError> {
        let mut count = [0u8; 8];
        self.take(&mut count)?;
        let crc = self.crc.clone().finalize();
        let mut stored = [0u8; 4];
        self.src
            .read_exact(&mut stored)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => DataError::Truncated,
                _ => DataError::Io(e),
            })?;
        if u32::from_le_bytes(stored) != crc {
            return Err(DataError::Checksum);
        }
        if u64::from_le_bytes(count) != self.items {
            return Err(DataError::Count);
        }
        // Anything after the end record means the file is not ours as written.
        let mut extra = [0u8; 1];
        if self.src.read(&mut extra)? != 0 {
            return Err(DataError::Record(self.pos + 4));
        }
        self.done = Some(Summary {
            items: self.items,
            bytes: self.pos + 4,
            crc32: crc,
        });
        Ok(())
    }

    /// What the file held, once [`Reader::next_item`] has returned `None`.
    pub fn summary(&self) -> Option<Summary> {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            maxbytes: 64 << 20,
            item_size_max: 1 << 20,
            slab_chunk_max: 1 << 19,
            slab_page_size: 1 << 20,
            chunk_size: 48,
            growth_factor: 1.25,
            use_cas: true,
            slab_reassign: true,
        }
    }

    fn meta() -> Meta {
        Meta {
            settings: settings(),
            stop_time: 1_800_000_000,
            current_cas: 77,
            hash_power: 17,
            flush_at: 0,
            flush_cas: 0,
            items: 2,
            data_bytes: 100,
            data_crc32: 0xdead_beef,
        }
    }

    fn file(items: &[Record<'_>]) -> (Vec<u8>, Summary) {
        let mut w = Writer::new(Vec::new()).expect("head");
        for r in items {
            w.item(r).expect("item");
        }
        w.finish().expect("finish")
    }

    fn rec<'a>(key: &'a [u8], value: &'a [u8]) -> Record<'a> {
        Record {
            key,
            value,
            flags: 0xfeed,
            cas: 9,
            exptime: 1_900_000_000,
            time: 1_800_000_000,
            state: 2,
        }
    }

    /// key, value, flags, cas
    type ReadBack = (Vec<u8>, Vec<u8>, u32, u64);

    fn read_all(bytes: &[u8]) -> Result<(Vec<ReadBack>, Summary), DataError> {
        let mut r = Reader::new(bytes, 1 << 20)?;
        let mut out = Vec::new();
        while let Some(x) = r.next_item()? {
            out.push((x.key.to_vec(), x.value.to_vec(), x.flags, x.cas));
        }
        Ok((out, r.summary().expect("summary")))
    }

    #[test]
    fn meta_round_trips() {
        let m = meta();
        assert_eq!(Meta::parse(m.encode().as_bytes()), Ok(m));
    }

    #[test]
    fn meta_refusals() {
        assert_eq!(Meta::parse(b""), Err(MetaError::NotMetadata));
        assert_eq!(Meta::parse(b"Kmaxbytes 1\n"), Err(MetaError::NotMetadata));
        assert_eq!(
            Meta::parse(b"Tmain\nKmaxbytes 67108864\n"),
            Err(MetaError::OtherWriter("main".into()))
        );
        let text = meta().encode();
        let cut = &text.as_bytes()[..text.len() - 20];
        assert_eq!(Meta::parse(cut), Err(MetaError::Checksum));
        let changed = text.replace("Kcurrent_cas 77", "Kcurrent_cas 78");
        assert_eq!(Meta::parse(changed.as_bytes()), Err(MetaError::Checksum));
        let newer = text.replace("Kformat 1", "Kformat 2");
        assert_eq!(
            Meta::parse(newer.as_bytes()),
            Err(MetaError::Version("2".into()))
        );
    }

    #[test]
    fn settings_name_their_first_difference() {
        let mut now = settings();
        assert_eq!(settings().first_difference(&now), None);
        now.maxbytes = 128 << 20;
        now.use_cas = false;
        assert_eq!(
            settings().first_difference(&now),
            Some(("maxbytes", "67108864".into(), "134217728".into()))
        );
    }

    #[test]
    fn items_round_trip_with_summary() {
        let big = vec![7u8; 700_000];
        let (bytes, sum) = file(&[rec(b"a", b"1"), rec(b"big", &big), rec(b"e", b"")]);
        assert_eq!(sum.items, 3);
        assert_eq!(sum.bytes, bytes.len() as u64);
        let (items, read) = read_all(&bytes).expect("read");
        assert_eq!(read, sum);
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].1, big);
        assert_eq!(items[0], (b"a".to_vec(), b"1".to_vec(), 0xfeed, 9));
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_refused() {
        let (bytes, _) = file(&[rec(b"key1", b"value one"), rec(b"k2", b"v2")]);
        for cut in 0..bytes.len() {
            assert!(read_all(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(read_all(&bad).is_err(), "flip at {i} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_all(&longer).is_err(), "trailing byte accepted");
    }

    #[test]
    fn values_over_the_limit_are_refused_before_reading_them() {
        let (bytes, _) = file(&[rec(b"k", &[1u8; 2000])]);
        let mut r = Reader::new(&bytes[..], 1024).expect("head");
        assert!(matches!(r.next_item(), Err(DataError::Record(12))));
    }
}
