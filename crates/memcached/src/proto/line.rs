//! Command-line framing and the original's tokenizer.
//!
//! Framing (`try_read_command_ascii`): a line ends at the first `\n`; one
//! `\r` before it is dropped (only when the line has something else in
//! it); the command parser sees the line up to its first NUL (the original
//! works on C strings). A line still without `\n` after `line_max` bytes
//! closes the connection, unless it starts (after at most 100 spaces) with
//! `get ` or `gets `: those may grow to `get_line_max`.
//!
//! The original only checks when a read leaves more than 2048 bytes without
//! a newline, so a longer line that arrives in one read is still served. We
//! decide on the line alone (its `\n` must be within the first
//! `line_max + 1` bytes), so the answer does not depend on how the bytes
//! were split.
//!
//! Tokens are separated by single spaces (`"a  b"` is two tokens; tabs are
//! part of a token).

use super::{ErrorKind, Limits, ParseError};

/// Most leading spaces before `get ` in a long line (the original's 100).
const MAX_LEADING_SPACES: usize = 100;

/// One framed command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    /// What the command parser sees: no `\n`, no final `\r`, cut at NUL.
    pub text: &'a [u8],
    /// Offset just past the `\n` in the input buffer.
    pub next: usize,
}

/// Frames the first line of `buf`: `Ok(None)` = no newline yet.
pub(crate) fn frame<'a>(buf: &'a [u8], lim: &Limits) -> Result<Option<Line<'a>>, ParseError> {
    let short = lim.line_max.saturating_add(1);
    if let Some(i) = find_newline(buf, 0, short) {
        return Ok(Some(cut(buf, i)));
    }
    if buf.len() <= lim.line_max {
        return Ok(None);
    }
    // Decided on the first line_max + 1 bytes only, so on every split alike.
    if !is_multiget(buf.get(..short).unwrap_or(buf)) {
        return Err(too_long(short));
    }
    let long = lim.get_line_max.max(lim.line_max).saturating_add(1);
    if let Some(i) = find_newline(buf, short, long) {
        return Ok(Some(cut(buf, i)));
    }
    if buf.len() >= long {
        return Err(too_long(long));
    }
    Ok(None)
}

fn too_long(consumed: usize) -> ParseError {
    ParseError {
        kind: ErrorKind::TooLong,
        consumed,
    }
}

/// Index of the first `\n` in `buf[from..to]` (clamped).
fn find_newline(buf: &[u8], from: usize, to: usize) -> Option<usize> {
    let to = to.min(buf.len());
    let hay = buf.get(from..to)?;
    hay.iter().position(|b| *b == b'\n').map(|i| i + from)
}

/// The line ending at the `\n` at `nl`.
fn cut(buf: &[u8], nl: usize) -> Line<'_> {
    let mut text = buf.get(..nl).unwrap_or_default();
    if text.len() > 1 {
        if let Some(rest) = text.strip_suffix(b"\r") {
            text = rest;
        }
    }
    if let Some(z) = text.iter().position(|b| *b == 0) {
        text = text.get(..z).unwrap_or_default();
    }
    Line { text, next: nl + 1 }
}

/// Whether a long line may keep growing: `get ` or `gets ` after at most
/// 100 spaces.
fn is_multiget(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|b| **b == b' ').count();
    let rest = buf.get(spaces..).unwrap_or_default();
    spaces <= MAX_LEADING_SPACES && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

/// Tokens kept with their position (the original keeps 24, counting the
/// terminal one; more are only counted).
const KEPT: usize = 24;

/// A line split on single spaces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    spans: [(usize, usize); KEPT],
    count: usize,
    last: (usize, usize),
}

impl<'a> Tokens<'a> {
    /// Splits `line`.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        let mut t = Tokens {
            line,
            spans: [(0, 0); KEPT],
            count: 0,
            last: (0, 0),
        };
        let mut start = None;
        for (i, b) in line.iter().enumerate() {
            match (*b == b' ', start) {
                (true, Some(s)) => {
                    t.push(s, i);
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            t.push(s, line.len());
        }
        t
    }

    fn push(&mut self, s: usize, e: usize) {
        if let Some(slot) = self.spans.get_mut(self.count) {
            *slot = (s, e);
        }
        self.last = (s, e);
        self.count += 1;
    }

    /// How many tokens (all of them, not only the kept ones).
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Token `i` (0 = the command), if kept.
    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        let (s, e) = *self.spans.get(i).filter(|_| i < self.count)?;
        self.line.get(s..e)
    }

    /// Token `i`, or an empty slice.
    pub(crate) fn at(&self, i: usize) -> &'a [u8] {
        self.get(i).unwrap_or_default()
    }

    /// The last token (`set_noreply_maybe` looks there).
    pub(crate) fn last(&self) -> &'a [u8] {
        if self.count == 0 {
            return b"";
        }
        self.line.get(self.last.0..self.last.1).unwrap_or_default()
    }

    /// Whether the last token is exactly `noreply`.
    pub(crate) fn noreply(&self) -> bool {
        self.last() == b"noreply"
    }

    /// The line from token `i` to the end of the last token (empty when
    /// there is no token `i`).
    pub(crate) fn rest(&self, i: usize) -> &'a [u8] {
        match self.spans.get(i).filter(|_| i < self.count) {
            Some((s, _)) => self.line.get(*s..self.last.1).unwrap_or_default(),
            None => b"",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            line_max: 16,
            get_line_max: 40,
            ..Limits::default()
        }
    }

    #[test]
    fn framing() {
        let l = frame(b"get a\r\nrest", &lim()).unwrap().unwrap();
        assert_eq!((l.text, l.next), (&b"get a"[..], 7));
        let l = frame(b"get a\nrest", &lim()).unwrap().unwrap();
        assert_eq!((l.text, l.next), (&b"get a"[..], 6));
        // only one \r is dropped; a lone \r is kept
        assert_eq!(frame(b"a\r\r\n", &lim()).unwrap().unwrap().text, b"a\r");
        assert_eq!(frame(b"\r\n", &lim()).unwrap().unwrap().text, b"\r");
        assert_eq!(frame(b"\n", &lim()).unwrap().unwrap().text, b"");
        // cut at NUL, but the whole line is consumed
        let l = frame(b"get a\0b\r\n", &lim()).unwrap().unwrap();
        assert_eq!((l.text, l.next), (&b"get a"[..], 9));
        assert!(frame(b"get a", &lim()).unwrap().is_none());
        assert!(frame(b"", &lim()).unwrap().is_none());
    }

    #[test]
    fn long_lines() {
        let lim = lim();
        // 16 bytes + \n is fine; 17 without \n is too long at once
        assert!(frame(b"0123456789abcdef\n", &lim).unwrap().is_some());
        assert!(frame(b"0123456789abcdef", &lim).unwrap().is_none());
        let e = frame(b"0123456789abcdefX", &lim).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TooLong);
        // also when the newline is there but late
        assert_eq!(
            frame(b"0123456789abcdefX\n", &lim).unwrap_err().kind,
            ErrorKind::TooLong
        );
        // get/gets lines may grow to get_line_max
        assert!(frame(b"get aaaaa bbbbb ccccc", &lim).unwrap().is_none());
        assert!(frame(b"gets aaaaa bbbbb ccccc\r\n", &lim)
            .unwrap()
            .is_some());
        assert!(frame(b"   get aaaaa bbbbb ccccc\r\n", &lim)
            .unwrap()
            .is_some());
        assert_eq!(
            frame(b"gat 1 aaaaa bbbbb ccccc", &lim).unwrap_err().kind,
            ErrorKind::TooLong
        );
        assert_eq!(
            frame(b"get\taaaaa bbbbb ccccc", &lim).unwrap_err().kind,
            ErrorKind::TooLong
        );
        let long = [b"get ".as_slice(), &[b'k'; 40]].concat();
        assert_eq!(frame(&long, &lim).unwrap_err().kind, ErrorKind::TooLong);
    }

    #[test]
    fn leading_spaces_before_a_long_get() {
        let lim = Limits {
            line_max: 120,
            get_line_max: 400,
            ..Limits::default()
        };
        let ok = [vec![b' '; 100], b"get ".to_vec(), vec![b'k'; 30]].concat();
        assert!(frame(&ok, &lim).unwrap().is_none());
        let bad = [vec![b' '; 101], b"get ".to_vec(), vec![b'k'; 30]].concat();
        assert_eq!(frame(&bad, &lim).unwrap_err().kind, ErrorKind::TooLong);
    }

    #[test]
    fn tokenizer() {
        let t = Tokens::new(b"  set a  0\t0 1 ");
        assert_eq!(t.len(), 4);
        assert_eq!(t.at(0), b"set");
        assert_eq!(t.at(2), b"0\t0");
        assert_eq!(t.last(), b"1");
        assert_eq!(t.rest(1), b"a  0\t0 1");
        assert_eq!(t.rest(9), b"");
        assert_eq!(t.get(4), None);
        let t = Tokens::new(b"");
        assert_eq!((t.len(), t.last(), t.get(0)), (0, &b""[..], None));
        let many: Vec<u8> = (0..30)
            .flat_map(|i| format!("k{i} ").into_bytes())
            .collect();
        let t = Tokens::new(&many);
        assert_eq!(t.len(), 30);
        assert_eq!(t.last(), b"k29");
        assert_eq!(t.get(23), Some(&b"k23"[..]));
        assert_eq!(t.get(24), None);
    }
}
