//! memcached's text and meta protocols: parsing requests out of a byte
//! buffer and the reply strings. Pure: no I/O, no tokio. The parser never
//! panics, never allocates what a peer declares, and returns `Ok(None)`
//! until a whole request (line, plus data block for storage commands) is
//! in the buffer.
//!
//! The behaviour is 1.6.18's, checked against the running original: the
//! order of checks, the reply strings, C number parsing (`num.rs`),
//! single-space tokens and NUL-terminated lines (`line.rs`), the shared
//! meta flag check (`meta.rs`) and memcached's lenient base64
//! (`b64.rs`). Tests: `text_tests.rs`, `meta_tests.rs`, `storage.rs`,
//! `proptests.rs` (no panic, split invariance, round trip).

mod auth;
mod b64;
pub mod binary;
mod line;
mod meta;
#[cfg(test)]
mod meta_tests;
pub(crate) mod num;
#[cfg(test)]
mod proptests;
mod storage;
mod text;
#[cfg(test)]
mod text_tests;

pub use auth::{auth_step, AuthStep};
pub use b64::{base64_decode, base64_encode};
pub use meta::{MetaCmd, MetaFlag, MetaRequest};
#[cfg(feature = "server")]
pub(crate) use num::safe_strtoul;
pub use text::parse;

/// What [`parse`] returns: `Ok(None)` = incomplete.
pub(crate) type Parsed<'a> = Result<Option<(Request<'a>, usize)>, ParseError>;

/// Limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest key (250).
    pub key_max: usize,
    /// Longest command line for everything but retrieval commands (2048:
    /// longer without a newline closes the connection, as the original).
    pub line_max: usize,
    /// Longest `get`/`gets` line (many keys). As in the original, only a
    /// line starting (after at most 100 spaces) with `get ` or `gets ` may
    /// grow past `line_max`; `gat`/`gats`/`bget` lines may not.
    pub get_line_max: usize,
    /// `-I`: a data block longer than this is swallowed and answered
    /// `SERVER_ERROR object too large for cache`. (The original also
    /// refuses blocks a little shorter, once its item header is counted:
    /// `set k 0 0 1048576` with the default 1 MB; the store decides those.)
    pub item_size_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_max: 250,
            line_max: 2048,
            get_line_max: 256 * 1024,
            item_size_max: 1 << 20,
        }
    }
}

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCmd {
    /// `set`
    Set,
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `append`
    Append,
    /// `prepend`
    Prepend,
    /// `cas`
    Cas,
}

/// The keys of a retrieval command, split lazily from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a>(pub &'a [u8]);

impl<'a> Keys<'a> {
    /// The keys in order (duplicates kept).
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.split(|b| *b == b' ').filter(|k| !k.is_empty())
    }
}

/// One parsed request, borrowing the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get`/`gets k...`
    Get { keys: Keys<'a>, cas: bool },
    /// `gat`/`gats exptime k...`
    Gat {
        exptime: i64,
        keys: Keys<'a>,
        cas: bool,
    },
    /// `set`/`add`/`replace`/`append`/`prepend`/`cas` with its data block.
    Store {
        cmd: StoreCmd,
        key: &'a [u8],
        flags: u32,
        exptime: i64,
        data: &'a [u8],
        cas: u64,
        noreply: bool,
    },
    /// A storage command whose data block exceeds `item_size_max`: the
    /// line is consumed; the server discards the next `swallow` bytes
    /// (data + CRLF), replies `SERVER_ERROR object too large for cache`
    /// (unless noreply) and, for `set`, deletes the old value of `key`.
    TooLarge {
        cmd: StoreCmd,
        key: &'a [u8],
        swallow: usize,
        noreply: bool,
    },
    /// A data block not followed by CRLF: consumed (line + bytes + 2);
    /// reply `CLIENT_ERROR bad data chunk` (unless noreply; `ms` always
    /// replies, its `q` flag never hides errors).
    BadDataChunk { noreply: bool },
    /// `delete k [0] [noreply]`
    Delete { key: &'a [u8], noreply: bool },
    /// `incr`/`decr k delta [noreply]`
    Arith {
        key: &'a [u8],
        delta: u64,
        incr: bool,
        noreply: bool,
    },
    /// `touch k exptime [noreply]`
    Touch {
        key: &'a [u8],
        exptime: i64,
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`
    FlushAll { delay: i64, noreply: bool },
    /// `version`
    Version,
    /// `verbosity N [noreply]`
    Verbosity { level: u32, noreply: bool },
    /// `quit`
    Quit,
    /// `shutdown` or `shutdown graceful` (any other argument comes as
    /// [`Request::Admin`]: the original answers it `ERROR: shutdown not
    /// enabled` without `-A`, `CLIENT_ERROR invalid shutdown mode` with it).
    /// `graceful` stops as SIGUSR1 does: with `-e`, the cache is saved.
    Shutdown { graceful: bool },
    /// `stats [args...]` (the rest of the line, trimmed)
    Stats { args: &'a [u8] },
    /// `cache_memlimit N [noreply]`
    CacheMemlimit { mb: u64, noreply: bool },
    /// A meta command.
    Meta(MetaRequest<'a>),
    /// An `ms` whose data block exceeds `item_size_max`: the line is
    /// consumed; the server discards the next `swallow` bytes (data +
    /// CRLF), replies `SERVER_ERROR object too large for cache` (even with
    /// `q`) and deletes the key's current item, whatever the mode (the
    /// decoded key when `b` is set: [`MetaRequest::decoded_key`]).
    /// `req.data` is empty.
    MetaTooLarge {
        req: MetaRequest<'a>,
        swallow: usize,
    },
    /// An `ms` refused after its data length was read (bad flag, token,
    /// mode or opaque): the line is consumed; the server discards the next
    /// `swallow` bytes (data + CRLF) and replies `kind` (never hidden by
    /// `q`). Nothing else happens.
    MetaRefused { kind: ErrorKind, swallow: usize },
    /// Any other admin command the server may answer (`lru_crawler ...`,
    /// `slabs ...`, `watch ...`, `lru <arg>...`, `extstore <arg>...`,
    /// `refresh_certs`, `shutdown <other>`): the line from the command to
    /// its last token. (`misbehave` and `debugtime` exist only in debug
    /// builds of the original; here, as in 1.6.18 release, they are `ERROR`.)
    Admin { line: &'a [u8] },
}

/// A request the parser refused; `consumed` bytes are to be skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What to answer.
    pub kind: ErrorKind,
    /// Bytes of input the bad request took (for [`ErrorKind::TooLong`]:
    /// the bytes examined; the connection closes anyway).
    pub consumed: usize,
}

/// The original's error replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `ERROR` (unknown or empty command).
    Error,
    /// `CLIENT_ERROR <msg>`.
    Client(&'static str),
    /// An error the request's `noreply` hides: nothing is written (the
    /// original's `out_string` skips the reply). Holds what would have been
    /// said: the `CLIENT_ERROR` message, or `ERROR`.
    Silent(&'static str),
    /// The line is longer than allowed: close the connection (no reply).
    TooLong,
    /// An unknown command whose last token starts with `HTTP/` (someone
    /// speaking HTTP to the cache): close the connection, no reply.
    Hangup,
}

impl ErrorKind {
    /// True when the connection closes instead of answering.
    pub fn closes(&self) -> bool {
        matches!(self, ErrorKind::TooLong | ErrorKind::Hangup)
    }

    /// The reply line, with CRLF (empty for [`ErrorKind::Silent`],
    /// [`ErrorKind::TooLong`] and [`ErrorKind::Hangup`]).
    pub fn reply(&self) -> Vec<u8> {
        match self {
            ErrorKind::Error => b"ERROR\r\n".to_vec(),
            ErrorKind::Client(m) => format!("CLIENT_ERROR {m}\r\n").into_bytes(),
            ErrorKind::Silent(_) | ErrorKind::TooLong | ErrorKind::Hangup => Vec::new(),
        }
    }
}
