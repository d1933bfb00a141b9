//! The client side of memcached's text protocol, as far as the load
//! generator needs it: encode `get`, `set` and `stats` into a write buffer
//! without allocating, and a small state machine that consumes the replies
//! from a `BytesMut`. Pure: no sockets, no tokio.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, BytesMut};

/// Keys are `key:` plus ten zero-padded digits: 14 bytes.
pub const KEY_LEN: usize = 14;
/// The largest key number that fits the ten digits.
pub const MAX_KEY: u64 = 9_999_999_999;
/// A reply line longer than this without `\r\n` is a desync.
const MAX_LINE: usize = 8 * 1024;

/// What a request in flight expects back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Get,
    Set,
    Stats,
}

/// Completed replies, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `get` replies (hits + misses).
    pub gets: u64,
    /// `set` replies: `STORED`, `NOT_STORED`, `EXISTS`, `NOT_FOUND`.
    pub sets: u64,
    pub hits: u64,
    pub misses: u64,
    /// `ERROR`, `CLIENT_ERROR …`, `SERVER_ERROR …` lines, and requests
    /// still in flight when their connection failed.
    pub errors: u64,
    /// `stats` replies.
    pub stats: u64,
}

impl Counts {
    /// Every completed request, `stats` excepted.
    pub fn ops(&self) -> u64 {
        self.gets + self.sets + self.errors
    }

    pub fn add(&mut self, o: &Counts) {
        self.gets += o.gets;
        self.sets += o.sets;
        self.hits += o.hits;
        self.misses += o.misses;
        self.errors += o.errors;
        self.stats += o.stats;
    }
}

/// The two `stats` fields the fill test reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsReading {
    pub curr_items: u64,
    pub evictions: u64,
}

/// A reply the client cannot place: the stream is out of step.
#[derive(Debug, PartialEq, Eq)]
pub struct Desync(pub String);

impl fmt::Display for Desync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "protocol desync: {}", self.0)
    }
}

impl std::error::Error for Desync {}

/// Writes requests. The `set` tail (` 0 0 <len>\r\n<value>\r\n`) is built once.
pub struct Encoder {
    set_tail: Vec<u8>,
}

impl Encoder {
    pub fn new(value_size: usize) -> Self {
        let mut set_tail = format!(" 0 0 {value_size}\r\n").into_bytes();
        set_tail.resize(set_tail.len() + value_size, b'x');
        set_tail.extend_from_slice(b"\r\n");
        Encoder { set_tail }
    }

    pub fn get(&self, out: &mut BytesMut, key: u64) {
        out.extend_from_slice(b"get ");
        put_key(out, key);
        out.extend_from_slice(b"\r\n");
    }

    pub fn set(&self, out: &mut BytesMut, key: u64) {
        out.extend_from_slice(b"set ");
        put_key(out, key);
        out.extend_from_slice(&self.set_tail);
    }

    pub fn stats(&self, out: &mut BytesMut) {
        out.extend_from_slice(b"stats\r\n");
    }
}

/// `key:0000012345`.
pub fn put_key(out: &mut BytesMut, mut n: u64) {
    let mut k: [u8; KEY_LEN] = *b"key:0000000000";
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&k);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    Line,
    /// Skipping a value's data block and its `\r\n`.
    Data(usize),
}

/// Consumes replies. Each complete reply pops one [`Kind`] off `pending`.
#[derive(Debug)]
pub struct ReplyParser {
    state: State,
    /// The current `get` reply has had a `VALUE` line.
    saw_value: bool,
    stats: StatsReading,
    /// The fields of the last complete `stats` reply.
    pub last_stats: Option<StatsReading>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser {
            state: State::Line,
            saw_value: false,
            stats: StatsReading::default(),
            last_stats: None,
        }
    }
}

impl ReplyParser {
    /// Consume every complete reply in `buf`, counting them into `c`.
    /// Returns how many requests completed; stops at an incomplete reply.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        pending: &mut VecDeque<Kind>,
        c: &mut Counts,
    ) -> Result<usize, Desync> {
        let mut done = 0;
        loop {
            if let State::Data(rem) = self.state {
                let n = rem.min(buf.len());
                buf.advance(n);
                if n < rem {
                    self.state = State::Data(rem - n);
                    return Ok(done);
                }
                self.state = State::Line;
            }
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                if buf.len() > MAX_LINE {
                    return Err(Desync(format!("no line end in {} bytes", buf.len())));
                }
                return Ok(done);
            };
            let Some(&kind) = pending.front() else {
                return Err(Desync(format!(
                    "reply with nothing in flight: {}",
                    show(&buf[..nl])
                )));
            };
            let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
            let complete = match kind {
                Kind::Get if line == b"END" => {
                    c.gets += 1;
                    if self.saw_value {
                        c.hits += 1;
                    } else {
                        c.misses += 1;
                    }
                    true
                }
                Kind::Get if line.starts_with(b"VALUE ") && !self.saw_value => {
                    let len = value_len(line).ok_or_else(|| Desync(show(line)))?;
                    self.saw_value = true;
                    self.state = State::Data(len + 2);
                    false
                }
                Kind::Set
                    if matches!(line, b"STORED" | b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND") =>
                {
                    c.sets += 1;
                    true
                }
                Kind::Stats if line.starts_with(b"STAT ") => {
                    self.stat_line(line);
                    false
                }
                Kind::Stats if line == b"END" => {
                    c.stats += 1;
                    self.last_stats = Some(std::mem::take(&mut self.stats));
                    true
                }
                _ if is_error_line(line) => {
                    c.errors += 1;
                    true
                }
                _ => return Err(Desync(format!("for {kind:?}: {}", show(line)))),
            };
            buf.advance(nl + 1);
            if complete {
                pending.pop_front();
                self.saw_value = false;
                done += 1;
            }
        }
    }

    fn stat_line(&mut self, line: &[u8]) {
        let mut it = line.split(|&b| b == b' ').skip(1);
        let (Some(name), Some(value)) = (it.next(), it.next()) else {
            return;
        };
        let slot = match name {
            b"curr_items" => &mut self.stats.curr_items,
            b"evictions" => &mut self.stats.evictions,
            _ => return,
        };
        if let Some(v) = parse_u64(value) {
            *slot = v;
        }
    }
}

fn is_error_line(line: &[u8]) -> bool {
    line == b"ERROR" || line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR")
}

/// `VALUE <key> <flags> <bytes> [<cas>]` → bytes.
fn value_len(line: &[u8]) -> Option<usize> {
    let len = line.split(|&b| b == b' ').nth(3)?;
    usize::try_from(parse_u64(len)?).ok()
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn show(line: &[u8]) -> String {
    let cut = &line[..line.len().min(80)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kinds: &[Kind], chunks: &[&[u8]]) -> (Counts, usize, VecDeque<Kind>, ReplyParser) {
        let mut p = ReplyParser::default();
        let mut pending: VecDeque<Kind> = kinds.iter().copied().collect();
        let mut c = Counts::default();
        let mut buf = BytesMut::new();
        let mut done = 0;
        for ch in chunks {
            buf.extend_from_slice(ch);
            done += p.parse(&mut buf, &mut pending, &mut c).expect("parse");
        }
        (c, done, pending, p)
    }

    #[test]
    fn encodes_requests() {
        let e = Encoder::new(3);
        let mut b = BytesMut::new();
        e.get(&mut b, 12345);
        e.set(&mut b, 7);
        e.stats(&mut b);
        assert_eq!(
            &b[..],
            b"get key:0000012345\r\nset key:0000000007 0 0 3\r\nxxx\r\nstats\r\n"
        );
        let mut k = BytesMut::new();
        put_key(&mut k, MAX_KEY);
        assert_eq!(k.len(), KEY_LEN);
    }

    #[test]
    fn hit_miss_stored_and_errors() {
        let reply: &[u8] = b"VALUE key:0000000001 0 5\r\nhello\r\nEND\r\nEND\r\nSTORED\r\n\
              SERVER_ERROR out of memory storing object\r\nERROR\r\n";
        let kinds = [Kind::Get, Kind::Get, Kind::Set, Kind::Set, Kind::Get];
        let (c, done, pending, _) = run(&kinds, &[reply]);
        assert_eq!(done, 5);
        assert!(pending.is_empty());
        let want = Counts {
            gets: 2,
            sets: 1,
            hits: 1,
            misses: 1,
            errors: 2,
            stats: 0,
        };
        assert_eq!(c, want);
    }

    #[test]
    fn byte_by_byte_and_binary_value() {
        let reply: &[u8] = b"VALUE key:0000000001 3 5 99\r\nEND\r\n\r\nEND\r\nSTORED\r\n";
        let chunks: Vec<&[u8]> = reply.chunks(1).collect();
        let (c, done, _, _) = run(&[Kind::Get, Kind::Set], &chunks);
        assert_eq!(done, 2);
        assert_eq!((c.hits, c.sets), (1, 1));
    }

    #[test]
    fn stats_fields() {
        let reply: &[u8] = b"STAT pid 1\r\nSTAT curr_items 349504\r\nSTAT evictions 3\r\n\
              STAT evicted_unfetched 3\r\nEND\r\n";
        let (c, done, _, p) = run(&[Kind::Stats], &[&reply[..20], &reply[20..]]);
        assert_eq!((done, c.stats, c.ops()), (1, 1, 0));
        let want = StatsReading {
            curr_items: 349_504,
            evictions: 3,
        };
        assert_eq!(p.last_stats, Some(want));
    }

    #[test]
    fn desyncs() {
        let mut p = ReplyParser::default();
        let mut c = Counts::default();
        let mut pending = VecDeque::from([Kind::Set]);
        let mut buf = BytesMut::from(&b"END\r\n"[..]);
        assert!(p.parse(&mut buf, &mut pending, &mut c).is_err());
        let mut none = VecDeque::new();
        let mut buf = BytesMut::from(&b"STORED\r\n"[..]);
        assert!(p.parse(&mut buf, &mut none, &mut c).is_err());
        let mut buf = BytesMut::from(&vec![b'a'; MAX_LINE + 1][..]);
        assert!(p.parse(&mut buf, &mut pending, &mut c).is_err());
    }
}
