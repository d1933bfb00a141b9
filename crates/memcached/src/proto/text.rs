//! The text protocol: framing, dispatch on the command name (case
//! sensitive, as the original), retrieval and the small commands. Storage
//! commands live in `storage.rs`, meta commands in `meta.rs`.
//!
//! Order of checks and reply strings follow 1.6.18's `proto_text.c`. A
//! wrong token count is `ERROR`; everything found wrong after that is a
//! `CLIENT_ERROR` that a final `noreply` token hides
//! ([`ErrorKind::Silent`]), as the original's `out_string` does.

use super::line::{frame, Line, Tokens};
use super::num::{safe_strtol, safe_strtoul, safe_strtoull};
use super::{meta, storage, ErrorKind, Keys, Limits, ParseError, Parsed, Request, StoreCmd};

/// Parses one request from the front of `buf`: `Ok(None)` = need more bytes;
/// `Ok(Some((req, consumed)))`; `Err(e)`: reply `e.kind`, skip `e.consumed`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    let Some(line) = frame(buf, limits)? else {
        return Ok(None);
    };
    let t = Tokens::new(line.text);
    let cmd = t.at(0);
    if cmd.len() < 2 {
        return fail(ErrorKind::Error, line.next);
    }
    if let [b'm', _] = cmd {
        return meta::parse(buf, line, &t, limits);
    }
    let store = |c| storage::parse(buf, line, &t, limits, c);
    match cmd {
        b"get" | b"bget" => retrieval(line, &t, limits, false, false),
        b"gets" => retrieval(line, &t, limits, true, false),
        b"gat" => retrieval(line, &t, limits, false, true),
        b"gats" => retrieval(line, &t, limits, true, true),
        b"set" => store(StoreCmd::Set),
        b"add" => store(StoreCmd::Add),
        b"replace" => store(StoreCmd::Replace),
        b"append" => store(StoreCmd::Append),
        b"prepend" => store(StoreCmd::Prepend),
        b"cas" => store(StoreCmd::Cas),
        b"delete" => delete(line, &t, limits),
        b"incr" => arith(line, &t, limits, true),
        b"decr" => arith(line, &t, limits, false),
        b"touch" => touch(line, &t, limits),
        b"flush_all" => flush_all(line, &t),
        b"version" => done(Request::Version, line),
        b"quit" => done(Request::Quit, line),
        b"verbosity" => verbosity(line, &t),
        b"cache_memlimit" => cache_memlimit(line, &t),
        b"shutdown" => match (t.len(), t.at(1)) {
            (1, _) => done(Request::Shutdown { graceful: false }, line),
            (2, b"graceful") => done(Request::Shutdown { graceful: true }, line),
            _ => done(Request::Admin { line: t.rest(0) }, line),
        },
        b"stats" => done(Request::Stats { args: t.rest(1) }, line),
        // `lru` and `extstore` need an argument before the original looks
        // at them; the others answer by themselves.
        b"lru" | b"extstore" if t.len() < 2 => fail(ErrorKind::Error, line.next),
        b"lru" | b"extstore" | b"lru_crawler" | b"slabs" | b"watch" | b"refresh_certs" => {
            done(Request::Admin { line: t.rest(0) }, line)
        }
        _ if t.last().starts_with(b"HTTP/") => fail(ErrorKind::Hangup, line.next),
        _ => fail(ErrorKind::Error, line.next),
    }
}

/// `Err` with this reply after `consumed` bytes.
pub(crate) fn fail<'a>(kind: ErrorKind, consumed: usize) -> Parsed<'a> {
    Err(ParseError { kind, consumed })
}

/// A `CLIENT_ERROR msg`, hidden when `noreply`.
pub(crate) fn client<'a>(msg: &'static str, noreply: bool, consumed: usize) -> Parsed<'a> {
    let kind = if noreply {
        ErrorKind::Silent(msg)
    } else {
        ErrorKind::Client(msg)
    };
    fail(kind, consumed)
}

fn done<'a>(req: Request<'a>, line: Line<'a>) -> Parsed<'a> {
    Ok(Some((req, line.next)))
}

const BAD_FORMAT: &str = "bad command line format";
const BAD_EXPTIME: &str = "invalid exptime argument";
const BAD_DELTA: &str = "invalid numeric delta argument";
const DELETE_USAGE: &str = "bad command line format.  Usage: delete <key> [noreply]";

/// `get`/`gets`/`bget k...`, `gat`/`gats exptime k...`.
fn retrieval<'a>(
    line: Line<'a>,
    t: &Tokens<'a>,
    lim: &Limits,
    cas: bool,
    touch: bool,
) -> Parsed<'a> {
    if t.len() < 2 {
        return fail(ErrorKind::Error, line.next);
    }
    let (exptime, first_key) = if touch {
        match safe_strtol(t.at(1)) {
            Some(e) => (i64::from(e), 2),
            None => return client(BAD_EXPTIME, false, line.next),
        }
    } else {
        (0, 1)
    };
    let keys = Keys(t.rest(first_key));
    if keys.iter().any(|k| k.len() > lim.key_max) {
        return client(BAD_FORMAT, false, line.next);
    }
    let req = if touch {
        Request::Gat { exptime, keys, cas }
    } else {
        Request::Get { keys, cas }
    };
    done(req, line)
}

/// `delete k [0] [noreply]`.
fn delete<'a>(line: Line<'a>, t: &Tokens<'a>, lim: &Limits) -> Parsed<'a> {
    if !(2..=4).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let mut noreply = false;
    if t.len() > 2 {
        let hold_is_zero = t.at(2) == b"0";
        noreply = t.noreply();
        let valid = (t.len() == 3 && (hold_is_zero || noreply))
            || (t.len() == 4 && hold_is_zero && noreply);
        if !valid {
            return client(DELETE_USAGE, noreply, line.next);
        }
    }
    let key = t.at(1);
    if key.len() > lim.key_max {
        return client(BAD_FORMAT, noreply, line.next);
    }
    done(Request::Delete { key, noreply }, line)
}

/// `incr`/`decr k delta [noreply]`.
fn arith<'a>(line: Line<'a>, t: &Tokens<'a>, lim: &Limits, incr: bool) -> Parsed<'a> {
    if !(3..=4).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let noreply = t.noreply();
    let key = t.at(1);
    if key.len() > lim.key_max {
        return client(BAD_FORMAT, noreply, line.next);
    }
    match safe_strtoull(t.at(2)) {
        Some(delta) => done(
            Request::Arith {
                key,
                delta,
                incr,
                noreply,
            },
            line,
        ),
        None => client(BAD_DELTA, noreply, line.next),
    }
}

/// `touch k exptime [noreply]`.
fn touch<'a>(line: Line<'a>, t: &Tokens<'a>, lim: &Limits) -> Parsed<'a> {
    if !(3..=4).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let noreply = t.noreply();
    let key = t.at(1);
    if key.len() > lim.key_max {
        return client(BAD_FORMAT, noreply, line.next);
    }
    match safe_strtol(t.at(2)) {
        Some(e) => done(
            Request::Touch {
                key,
                exptime: i64::from(e),
                noreply,
            },
            line,
        ),
        None => client(BAD_EXPTIME, noreply, line.next),
    }
}

/// `flush_all [delay] [noreply]`: the delay is read unless the only
/// argument is `noreply`.
fn flush_all<'a>(line: Line<'a>, t: &Tokens<'a>) -> Parsed<'a> {
    if !(1..=3).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let noreply = t.noreply();
    let mut delay = 0;
    if t.len() != if noreply { 2 } else { 1 } {
        match safe_strtol(t.at(1)) {
            Some(d) => delay = i64::from(d),
            None => return client(BAD_EXPTIME, noreply, line.next),
        }
    }
    done(Request::FlushAll { delay, noreply }, line)
}

/// `verbosity N [noreply]`.
fn verbosity<'a>(line: Line<'a>, t: &Tokens<'a>) -> Parsed<'a> {
    if !(2..=3).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let noreply = t.noreply();
    match safe_strtoul(t.at(1)) {
        Some(level) => done(Request::Verbosity { level, noreply }, line),
        None => client(BAD_FORMAT, noreply, line.next),
    }
}

/// `cache_memlimit N [noreply]`: a bad number is a plain `ERROR`.
fn cache_memlimit<'a>(line: Line<'a>, t: &Tokens<'a>) -> Parsed<'a> {
    if !(2..=3).contains(&t.len()) {
        return fail(ErrorKind::Error, line.next);
    }
    let noreply = t.noreply();
    match safe_strtoul(t.at(1)) {
        Some(mb) => done(
            Request::CacheMemlimit {
                mb: u64::from(mb),
                noreply,
            },
            line,
        ),
        None if noreply => fail(ErrorKind::Silent("ERROR"), line.next),
        None => fail(ErrorKind::Error, line.next),
    }
}
