//! The meta commands (`mg ms md ma mn me`) and their flags.
//!
//! As 1.6.18 (`proto_text.c`): every command but `me` runs its flags through
//! one shared check (`_meta_flag_preparse`), so `mg`, `ms`, `md` and `ma`
//! accept the same letters: `b c f h k l q s t u v C D F I J L M N O P R T`;
//! any other first byte is `invalid flag`, a repeated one (or any byte >= 127)
//! `duplicate flag`. Numeric tokens are checked (`N T R`: i32, `C J D`: u64,
//! `F`: u32, `M`: exactly one character, `b`: the key must decode). Token
//! errors do not stop the scan: the last message set wins (`F` sets none,
//! leaving `bad command line format`). `md` and `ma` answer every flag error
//! `invalid or duplicate flag`. Meta errors are never hidden by `q`.

use std::borrow::Cow;

use super::b64::{base64_decode, base64_valid};
use super::line::{Line, Tokens};
use super::num::{safe_strtol, safe_strtoul, safe_strtoull};
use super::storage::{data_block, data_len, Block};
use super::text::fail;
use super::{ErrorKind, Limits, Parsed, Request};

/// Which meta command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCmd {
    /// `mg`
    Get,
    /// `ms` (with its data block)
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arith,
    /// `mn`
    Noop,
    /// `me`
    Debug,
}

/// One flag as sent: its letter and its token (may be empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaFlag<'a> {
    /// The flag letter.
    pub letter: u8,
    /// The characters after the letter.
    pub token: &'a [u8],
}

/// A parsed meta request. Flags are kept in request order, because the
/// reply echoes return flags in that order; letters are unique (a
/// duplicate is `CLIENT_ERROR duplicate flag`) and among the letters the
/// original accepts (else `CLIENT_ERROR invalid flag`); numeric tokens,
/// the `M` length, the `ms`/`ma` mode, the `O` length (<= 31 after the
/// letter) and a `b` key are valid. `mn` has no key and no flags; `me` has
/// at most a `b` flag (only when it is the third token, exactly `b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRequest<'a> {
    /// The command.
    pub cmd: MetaCmd,
    /// The key as sent (still base64 when the `b` flag is present; the
    /// parser has checked it decodes to 1..=250 bytes).
    pub key: &'a [u8],
    /// The flags, in request order (at most 17 for `mg md ma`, 16 for `ms`).
    pub flags: Vec<MetaFlag<'a>>,
    /// `ms`: the data block (without its CRLF).
    pub data: &'a [u8],
}

impl<'a> MetaRequest<'a> {
    /// The flag with this letter, if sent.
    pub fn flag(&self, letter: u8) -> Option<&MetaFlag<'a>> {
        self.flags.iter().find(|f| f.letter == letter)
    }

    /// Whether the flag was sent.
    pub fn has(&self, letter: u8) -> bool {
        self.flag(letter).is_some()
    }
}

impl MetaRequest<'_> {
    /// The flag's token as an unsigned number, read as the original reads
    /// it (`F`: 32 bits, wrapping: `F4294967297` is 1; `C`, `D`, `J`: 64
    /// bits). The parser has validated the tokens of numeric flags, so
    /// `None` means "not sent".
    pub fn u64_flag(&self, letter: u8) -> Option<u64> {
        let token = self.flag(letter)?.token;
        match letter {
            b'F' => safe_strtoul(token).map(u64::from),
            _ => safe_strtoull(token),
        }
    }

    /// The flag's token as a signed number, read as the original reads TTLs
    /// (`T N R`: 32 bits, wrapping; `-1` = never expires).
    pub fn i64_flag(&self, letter: u8) -> Option<i64> {
        safe_strtol(self.flag(letter)?.token).map(i64::from)
    }
}

impl<'a> MetaRequest<'a> {
    /// The key as stored: base64-decoded when the `b` flag is set (the
    /// parser has checked that it decodes), else as sent.
    pub fn decoded_key(&self) -> Cow<'a, [u8]> {
        if !self.has(b'b') {
            return Cow::Borrowed(self.key);
        }
        match base64_decode(self.key) {
            Some(k) => Cow::Owned(k),
            None => Cow::Borrowed(self.key),
        }
    }
}

/// The original's `MFLAG_MAX_OPT_LENGTH`: a meta line with more tokens than
/// this (counting its terminal token: command + key + flags + 1) is refused.
const MAX_META_TOKENS: usize = 20;
/// Longest `O` token, letter included.
const MAX_OPAQUE: usize = 32;

const BAD_FORMAT: &str = "bad command line format";
const BAD_TOKEN: &str = "bad token in command line format";

/// Parses a two-letter `m?` command line (and the `ms` data block).
pub(crate) fn parse<'a>(buf: &'a [u8], line: Line<'a>, t: &Tokens<'a>, lim: &Limits) -> Parsed<'a> {
    let cmd = match t.at(0) {
        b"mg" => MetaCmd::Get,
        b"ms" => MetaCmd::Set,
        b"md" => MetaCmd::Delete,
        b"ma" => MetaCmd::Arith,
        b"mn" => MetaCmd::Noop,
        b"me" => MetaCmd::Debug,
        _ => return fail(ErrorKind::Error, line.next),
    };
    let key = t.at(1);
    let req = |flags| MetaRequest {
        cmd,
        key,
        flags,
        data: b"",
    };
    match cmd {
        MetaCmd::Noop => {
            let req = MetaRequest {
                cmd,
                key: b"",
                flags: Vec::new(),
                data: b"",
            };
            Ok(Some((Request::Meta(req), line.next)))
        }
        MetaCmd::Debug => {
            if t.len() < 2 || key.len() > lim.key_max {
                return client(BAD_FORMAT, line);
            }
            let mut flags = Vec::new();
            // only a third token of exactly "b" means base64; the rest is ignored
            if t.len() >= 3 && t.at(2) == b"b" {
                if !base64_valid(key) {
                    return client(BAD_FORMAT, line);
                }
                flags.push(MetaFlag {
                    letter: b'b',
                    token: b"",
                });
            }
            Ok(Some((Request::Meta(req(flags)), line.next)))
        }
        MetaCmd::Set => set(buf, line, t, lim),
        MetaCmd::Get | MetaCmd::Delete | MetaCmd::Arith => {
            if t.len() < 2 {
                return fail(ErrorKind::Error, line.next);
            }
            if key.len() > lim.key_max {
                return client(BAD_FORMAT, line);
            }
            if t.len() + 1 > MAX_META_TOKENS {
                let msg = if cmd == MetaCmd::Get {
                    "options flags are too long"
                } else {
                    "options flags too long"
                };
                return client(msg, line);
            }
            let flags = match preparse(t, 2) {
                Ok(flags) => flags,
                Err(_) if cmd != MetaCmd::Get => return client("invalid or duplicate flag", line),
                Err(msg) => return client(msg, line),
            };
            let req = req(flags);
            if cmd == MetaCmd::Arith
                && !matches!(mode(&req), None | Some(b'I' | b'+' | b'D' | b'-'))
            {
                return client("invalid mode for ma M token", line);
            }
            if opaque_too_long(&req) {
                return client("opaque token too long", line);
            }
            Ok(Some((Request::Meta(req), line.next)))
        }
    }
}

/// `ms <key> <datalen> <flags>*` + data. Errors found before the data
/// length is read swallow nothing; later ones swallow the data block.
fn set<'a>(buf: &'a [u8], line: Line<'a>, t: &Tokens<'a>, lim: &Limits) -> Parsed<'a> {
    if t.len() < 2 {
        return fail(ErrorKind::Error, line.next);
    }
    let key = t.at(1);
    if key.len() > lim.key_max || t.len() == 2 {
        return client(BAD_FORMAT, line);
    }
    if t.len() + 1 > MAX_META_TOKENS {
        return client("options flags too long", line);
    }
    let Some(vlen) = data_len(t.at(2)) else {
        return client(BAD_FORMAT, line);
    };
    let swallow = vlen + 2;
    let refuse = |msg| {
        Ok(Some((
            Request::MetaRefused {
                kind: ErrorKind::Client(msg),
                swallow,
            },
            line.next,
        )))
    };
    let flags = match preparse(t, 3) {
        Ok(flags) => flags,
        Err(msg) => return refuse(msg),
    };
    let req = MetaRequest {
        cmd: MetaCmd::Set,
        key,
        flags,
        data: b"",
    };
    if !matches!(mode(&req), None | Some(b'E' | b'A' | b'P' | b'R' | b'S')) {
        return refuse("invalid mode for ms M token");
    }
    if opaque_too_long(&req) {
        return refuse("opaque token too long");
    }
    if vlen > lim.item_size_max {
        return Ok(Some((Request::MetaTooLarge { req, swallow }, line.next)));
    }
    match data_block(buf, line.next, vlen) {
        (Block::Incomplete, _) => Ok(None),
        (Block::Bad, end) => Ok(Some((Request::BadDataChunk { noreply: false }, end))),
        (Block::Good(data), end) => Ok(Some((Request::Meta(MetaRequest { data, ..req }), end))),
    }
}

fn client<'a>(msg: &'static str, line: Line<'_>) -> Parsed<'a> {
    fail(ErrorKind::Client(msg), line.next)
}

/// The `M` flag's mode character.
fn mode(req: &MetaRequest<'_>) -> Option<u8> {
    req.flag(b'M').and_then(|f| f.token.first().copied())
}

fn opaque_too_long(req: &MetaRequest<'_>) -> bool {
    req.flag(b'O')
        .is_some_and(|f| f.token.len() + 1 > MAX_OPAQUE)
}

/// The shared flag check (`_meta_flag_preparse`) over tokens `start..`:
/// the flags in order, or the error message.
fn preparse<'a>(t: &Tokens<'a>, start: usize) -> Result<Vec<MetaFlag<'a>>, &'static str> {
    let mut flags = Vec::with_capacity(t.len().saturating_sub(start));
    let mut seen = [false; 128];
    let mut err: Option<&'static str> = None;
    let mut has_error = false;
    let key = t.at(1);
    for i in start..t.len() {
        let tok = t.at(i);
        let Some((&letter, token)) = tok.split_first() else {
            continue;
        };
        match seen.get_mut(usize::from(letter)) {
            Some(s) if letter < 127 && !*s => *s = true,
            _ => return Err("duplicate flag"),
        }
        let (ok, msg) = match letter {
            b'b' => (base64_valid(key), Some("error decoding key")),
            b'N' | b'T' | b'R' => (safe_strtol(token).is_some(), Some(BAD_TOKEN)),
            b'C' => (safe_strtoull(token).is_some(), Some(BAD_TOKEN)),
            b'F' => (safe_strtoul(token).is_some(), None),
            b'M' => (token.len() == 1, Some("incorrect length for M token")),
            b'J' => (
                safe_strtoull(token).is_some(),
                Some("invalid numeric initial value"),
            ),
            b'D' => (
                safe_strtoull(token).is_some(),
                Some("invalid numeric delta value"),
            ),
            b'l' | b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'v' | b'h' | b'u'
            | b'q' | b'I' => (true, None),
            _ => return Err("invalid flag"),
        };
        if !ok {
            has_error = true;
            err = msg.or(err);
        }
        flags.push(MetaFlag { letter, token });
    }
    if has_error {
        return Err(err.unwrap_or(BAD_FORMAT));
    }
    Ok(flags)
}
