//! Hash types and checksums as the protocol writes them: a class's
//! `hashtype=MD5`, a file's `checksum=MD5:<hex>`.

use std::fmt;

use super::ErrCode;

/// A hash a class may keep for its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    Md5,
    Sha1,
}

impl HashType {
    /// Both, for tests.
    pub const ALL: [HashType; 2] = [HashType::Md5, HashType::Sha1];

    /// The `class.hashtype` number stored for it.
    pub fn number(self) -> i64 {
        match self {
            HashType::Md5 => 1,
            HashType::Sha1 => 2,
        }
    }

    /// The hash a stored `class.hashtype` number names, if any.
    pub fn from_number(n: i64) -> Option<HashType> {
        HashType::ALL.into_iter().find(|h| h.number() == n)
    }

    /// The name replies and checksums use.
    pub fn name(self) -> &'static str {
        match self {
            HashType::Md5 => "MD5",
            HashType::Sha1 => "SHA-1",
        }
    }

    /// The digest's length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashType::Md5 => 16,
            HashType::Sha1 => 20,
        }
    }

    /// A `hashtype=` argument, any case: `NONE` or empty is no hash,
    /// `SHA1` is accepted for `SHA-1`; `invalid_hashtype` for anything
    /// else.
    pub fn parse_arg(v: &str) -> Result<Option<HashType>, ErrCode> {
        match v.to_ascii_uppercase().as_str() {
            "" | "NONE" => Ok(None),
            "MD5" => Ok(Some(HashType::Md5)),
            "SHA-1" | "SHA1" => Ok(Some(HashType::Sha1)),
            _ => Err(ErrCode::InvalidHashtype),
        }
    }

    /// How a class's stored hashtype is shown (`NONE` when it has none).
    pub fn show(n: Option<i64>) -> &'static str {
        n.and_then(HashType::from_number)
            .map_or("NONE", HashType::name)
    }
}

/// A `checksum=` argument: `MD5:<hex>` or `SHA-1:<hex>`, the digest in
/// lower-case hex of exactly the hash's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub alg: HashType,
    pub digest: Vec<u8>,
}

impl Checksum {
    /// Parses the argument; `None` if it is not in that form.
    pub fn parse(s: &str) -> Option<Checksum> {
        let (name, hex) = s.split_once(':')?;
        let alg = HashType::ALL.into_iter().find(|h| h.name() == name)?;
        let lower_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex || hex.len() != alg.digest_len() * 2 {
            return None;
        }
        let digest = hex
            .as_bytes()
            .chunks(2)
            .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
            .collect::<Option<Vec<u8>>>()?;
        Some(Checksum { alg, digest })
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SavedChecksum {
            hashtype: self.alg.number(),
            digest: self.digest.clone(),
        }
        .fmt(f)
    }
}

fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// A checksum as stored (any hashtype number), shown `MD5:<hex>`, or
/// `UNKNOWN:<hex>` for a number no hash has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedChecksum {
    pub hashtype: i64,
    pub digest: Vec<u8>,
}

impl fmt::Display for SavedChecksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = HashType::from_number(self.hashtype).map_or("UNKNOWN", HashType::name);
        f.write_str(name)?;
        f.write_str(":")?;
        self.digest.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
