//! `FILE.meta`: the header, in the original's metadata line syntax.

use super::VERSION;

/// The tag line of our metadata (the original writes `main`).
pub const META_TAG: &str = "danga-memcached";

/// The longest metadata file a reader accepts (ours is under 1 KB).
pub const META_MAX: usize = 64 * 1024;

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
}
