//! The tracker's line protocol, pure: a request line in, a reply line out.
//!
//! Requests are `CMD k=v&k=v` with URL-encoded pairs (`%XX`, `+` = space;
//! a repeated key's values are joined with NUL); the command name is
//! case-insensitive. Replies are `OK k=v&...` (always with the space after
//! `OK`, pymogilefs needs it) or `ERR <code> <url-encoded text>`; a request's
//! `callid` is echoed. Lines starting with `!` are admin commands.
//!
//! A query command's arguments decode into one struct per command
//! ([`Command`], in `command`), and each command's answer is a struct
//! encoded into its `OK` pairs ([`Reply`], in `reply`).

mod checksum;
pub mod command;
mod error;
pub mod reply;
mod url;

pub use checksum::{Checksum, HashType, SavedChecksum};
pub use command::{Arg, Command, Refusal};
pub use error::ErrCode;
pub use reply::{Pairs, Reply};
pub use url::{decode, encode};

use std::collections::BTreeMap;

/// The decoded arguments of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(BTreeMap<String, String>);

impl Args {
    /// Parses `k=v&k=v` (URL-encoded); repeated keys are joined with NUL.
    pub fn parse(raw: &[u8]) -> Args {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for pair in raw.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let k = lossy(decode(k));
            let v = lossy(decode(v));
            map.entry(k)
                .and_modify(|old| {
                    old.push('\0');
                    old.push_str(&v);
                })
                .or_insert(v);
        }
        Args(map)
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key` if given and not empty.
    pub fn nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// Sets `key` (for tests and clients).
    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_owned(), value.to_owned());
    }

    /// Encodes the arguments as a request would carry them.
    pub fn encode(&self) -> String {
        let pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        encode_pairs(&pairs)
    }
}

fn lossy(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// One request line, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing but whitespace: skipped without a reply.
    Empty,
    /// `!cmd args`: an admin command (the text after `!`, trimmed).
    Admin(String),
    /// A query command.
    Command(Request),
    /// Not a `\w+` command name: answered `ERR unknown_command`.
    Garbage,
}

/// A query command: the name (lower case) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub cmd: String,
    pub args: Args,
}

impl Request {
    /// The `callid` to echo, if any.
    pub fn callid(&self) -> Option<&str> {
        self.args.get("callid")
    }
}

/// Classifies one line (without its terminator; a trailing `\r` is allowed).
pub fn parse_line(line: &[u8]) -> Line {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Line::Empty;
    }
    if let Some(admin) = line.strip_prefix(b"!") {
        return Line::Admin(String::from_utf8_lossy(admin).trim().to_owned());
    }
    let end = line
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    if !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Line::Garbage;
    }
    let cmd = String::from_utf8_lossy(name).to_ascii_lowercase();
    Line::Command(Request {
        cmd,
        args: Args::parse(rest.trim_ascii()),
    })
}

/// A reply to a query command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `OK k=v&...` in the given order.
    Ok(Vec<(String, String)>),
    /// `ERR code text`, with the code's default text or another one.
    Err(ErrCode, Option<String>),
}

impl Response {
    /// `OK ` with no arguments.
    pub fn ok() -> Response {
        Response::Ok(Vec::new())
    }

    /// An error with its default text.
    pub fn err(code: ErrCode) -> Response {
        Response::Err(code, None)
    }

    /// The reply line with its `\r\n`, echoing `callid`.
    pub fn encode(&self, callid: Option<&str>) -> String {
        match self {
            Response::Ok(pairs) => {
                let mut all: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if let Some(id) = callid {
                    all.push(("callid", id));
                }
                format!("OK {}\r\n", encode_pairs(&all))
            }
            Response::Err(code, text) => {
                let text = text.as_deref().unwrap_or(code.text());
                let mut s = format!("ERR {} {}", code.code(), encode(text.as_bytes()));
                if let Some(id) = callid {
                    s.push(' ');
                    s.push_str(&encode(id.as_bytes()));
                }
                s.push_str("\r\n");
                s
            }
        }
    }
}

/// Encodes `k=v&k=v`.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(k.as_bytes()));
        out.push('=');
        out.push_str(&encode(v.as_bytes()));
    }
    out
}

/// Parses an `OK k=v&...` / `ERR code text` reply line (for clients and tests).
pub fn parse_reply(line: &[u8]) -> Option<Result<Args, (String, String)>> {
    let line = line.trim_ascii_end();
    if let Some(rest) = line.strip_prefix(b"OK") {
        return Some(Ok(Args::parse(rest.trim_ascii())));
    }
    let rest = line.strip_prefix(b"ERR ")?;
    let text = String::from_utf8_lossy(rest);
    let (code, msg) = text.split_once(' ').unwrap_or((&text, ""));
    Some(Err((code.to_owned(), lossy(decode(msg.as_bytes())))))
}

/// The URL path of `fid` on device `devid`, as the original lays files out
/// (`DevFID.pm`): fid 123 on dev7 is `/dev7/0/000/000/0000000123.fid`.
pub fn fid_path(devid: i64, fid: i64) -> String {
    let pad = format!("{fid:010}");
    let (b, mmm, ttt) = (&pad[0..1], &pad[1..4], &pad[4..7]);
    format!("/dev{devid}/{b}/{mmm}/{ttt}/{pad}.fid")
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_command;
#[cfg(test)]
mod tests_reply;
