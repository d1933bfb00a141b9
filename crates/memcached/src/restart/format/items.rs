//! `FILE`: the items, streamed one record at a time each way.

use std::io::{self, Read, Write};

use crc32fast::Hasher;

use super::VERSION;

/// The items file's first bytes.
pub const MAGIC: &[u8; 8] = b"DANGAMCI";

const TAG_END: u8 = 0;
const TAG_ITEM: u8 = 1;
/// Bytes of an item record before its key.
const ITEM_HEAD: usize = 1 + 1 + 1 + 4 + 8 + 8 + 8 + 4;

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
