//! Framing over a byte buffer: lines with a maximum length, and "exactly N
//! bytes followed by CRLF" payloads.
//!
//! Every function here is pure: it looks at the bytes received so far and says
//! one of three things.
//!
//! * `Ok(Some(..))`: a whole frame is there; the caller consumes it.
//! * `Ok(None)`: not enough bytes yet; read more and ask again.
//! * `Err(FrameError)`: the peer broke the framing; the caller replies with a
//!   protocol error or closes the connection.
//!
//! Nothing here allocates according to what a peer *declares*: a payload of a
//! declared 4 GB is only ever the bytes that actually arrived, so a lying peer
//! costs no more memory than an honest one sending as much.

use bytes::{Buf, Bytes, BytesMut};

/// Why a frame could not be taken from the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No end of line within the limit.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A payload was not followed by `\r\n`.
    #[error("payload not terminated by CRLF")]
    BadTerminator,
    /// The peer closed the connection in the middle of a frame.
    #[error("peer closed mid-frame with {pending} bytes pending")]
    PeerClosed {
        /// Bytes of the unfinished frame that had arrived.
        pending: usize,
    },
}

/// A line found in a buffer: where its content ends and how much to consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSpan {
    /// Length of the line without its `\n` or `\r\n`.
    pub len: usize,
    /// Bytes to consume: the line plus its terminator.
    pub consumed: usize,
}

/// Finds the first line in `buf`. Lines end in `\n`; a `\r` right before it is
/// not part of the line. A line whose content is longer than `max` bytes is
/// [`FrameError::TooLong`], as soon as that is certain, even before its end
/// has arrived.
pub fn find_line(buf: &[u8], max: usize) -> Result<Option<LineSpan>, FrameError> {
    // A scan from the start: the one place the rule is written.
    LineScanner::new().find(buf, max)
}

/// [`find_line`] for a buffer that grows between calls: it remembers how far
/// the previous search went without finding a newline and resumes there, so
/// a long line arriving in small pieces costs one pass over its bytes, not
/// one pass per piece. After a line is found the next search starts at the
/// buffer's beginning again (the caller consumes the line); call
/// [`LineScanner::reset`] when the buffer's front is consumed any other way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LineScanner {
    scanned: usize,
}

impl LineScanner {
    /// A scanner that has looked at nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the resume point.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }

    /// As [`find_line`], resuming where the last `Ok(None)` stopped.
    pub fn find(&mut self, buf: &[u8], max: usize) -> Result<Option<LineSpan>, FrameError> {
        let end = buf.len().min(max.saturating_add(2));
        let start = self.scanned.min(end);
        match buf[start..end].iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.scanned = 0;
                let nl = start + i;
                let len = if nl > 0 && buf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                if len > max {
                    return Err(FrameError::TooLong { limit: max });
                }
                Ok(Some(LineSpan {
                    len,
                    consumed: nl + 1,
                }))
            }
            None => {
                self.scanned = end;
                if end > max + 1 || (end == max + 1 && buf[max] != b'\r') {
                    Err(FrameError::TooLong { limit: max })
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// As [`next_line`], resuming where the last `Ok(None)` stopped.
    pub fn next_line(
        &mut self,
        buf: &mut BytesMut,
        max: usize,
    ) -> Result<Option<Bytes>, FrameError> {
        let Some(span) = self.find(buf, max)? else {
            return Ok(None);
        };
        let mut frame = buf.split_to(span.consumed);
        frame.truncate(span.len);
        Ok(Some(frame.freeze()))
    }
}

/// Checks for a payload of exactly `n` bytes followed by `\r\n` at the start of
/// `buf`, and returns the bytes to consume (`n + 2`) when it is all there.
pub fn find_payload(buf: &[u8], n: usize) -> Result<Option<usize>, FrameError> {
    let total = n.checked_add(2).ok_or(FrameError::BadTerminator)?;
    if buf.len() < total {
        // A wrong byte where the terminator belongs is known early.
        if buf.len() > n && buf[n] != b'\r' {
            return Err(FrameError::BadTerminator);
        }
        return Ok(None);
    }
    if &buf[n..total] != b"\r\n" {
        return Err(FrameError::BadTerminator);
    }
    Ok(Some(total))
}

/// Takes the first line off `buf` (without its terminator).
pub fn next_line(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(span) = find_line(buf, max)? else {
        return Ok(None);
    };
    let mut frame = buf.split_to(span.consumed);
    frame.truncate(span.len);
    Ok(Some(frame.freeze()))
}

/// Takes an `n`-byte payload and its `\r\n` off `buf` (returning the payload).
pub fn next_payload(buf: &mut BytesMut, n: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(total) = find_payload(buf, n)? else {
        return Ok(None);
    };
    let payload = buf.split_to(n).freeze();
    buf.advance(total - n);
    Ok(Some(payload))
}

/// Called when the peer has closed its side: leftover bytes mean it hung up
/// in the middle of a frame.
pub fn at_eof(buf: &[u8]) -> Result<(), FrameError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(FrameError::PeerClosed { pending: buf.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_end_in_lf_or_crlf() {
        assert_eq!(
            find_line(b"get a\r\nrest", 100),
            Ok(Some(LineSpan {
                len: 5,
                consumed: 7
            }))
        );
        assert_eq!(
            find_line(b"get a\nrest", 100),
            Ok(Some(LineSpan {
                len: 5,
                consumed: 6
            }))
        );
        assert_eq!(find_line(b"get a", 100), Ok(None));
        assert_eq!(
            find_line(b"\r\n", 0),
            Ok(Some(LineSpan {
                len: 0,
                consumed: 2
            }))
        );
    }

    #[test]
    fn long_lines_are_refused_before_their_end_arrives() {
        assert_eq!(find_line(b"abcd", 4), Ok(None));
        assert_eq!(find_line(b"abcd\r", 4), Ok(None));
        assert_eq!(
            find_line(b"abcd\r\n", 4),
            Ok(Some(LineSpan {
                len: 4,
                consumed: 6
            }))
        );
        assert_eq!(
            find_line(b"abcde", 4),
            Err(FrameError::TooLong { limit: 4 })
        );
        assert_eq!(
            find_line(b"abcd\rx", 4),
            Err(FrameError::TooLong { limit: 4 })
        );
        assert_eq!(
            find_line(b"abcde\n", 4),
            Err(FrameError::TooLong { limit: 4 })
        );
    }

    #[test]
    fn payloads_need_their_crlf() {
        assert_eq!(find_payload(b"hello\r\n", 5), Ok(Some(7)));
        assert_eq!(find_payload(b"hello\r", 5), Ok(None));
        assert_eq!(find_payload(b"hel", 5), Ok(None));
        assert_eq!(find_payload(b"hellox", 5), Err(FrameError::BadTerminator));
        assert_eq!(find_payload(b"hello\rx", 5), Err(FrameError::BadTerminator));
        assert_eq!(
            find_payload(b"", usize::MAX),
            Err(FrameError::BadTerminator)
        );
        assert_eq!(find_payload(b"abc", usize::MAX - 2), Ok(None));
    }

    #[test]
    fn scanner_agrees_with_find_line_piece_by_piece() {
        let input: &[u8] = b"get a\r\nlonger line here\nx\r\r\n\ntoo long for it\n";
        for piece in 1..6 {
            let (mut plain, mut scanned) = (Vec::new(), Vec::new());
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            let mut sc = LineScanner::default();
            let mut plain_err = None;
            let mut scan_err = None;
            for chunk in input.chunks(piece) {
                a.extend_from_slice(chunk);
                b.extend_from_slice(chunk);
                while plain_err.is_none() {
                    match next_line(&mut a, 12) {
                        Ok(Some(l)) => plain.push(l),
                        Ok(None) => break,
                        Err(e) => plain_err = Some(e),
                    }
                }
                while scan_err.is_none() {
                    match sc.next_line(&mut b, 12) {
                        Ok(Some(l)) => scanned.push(l),
                        Ok(None) => break,
                        Err(e) => scan_err = Some(e),
                    }
                }
            }
            assert_eq!(plain, scanned, "pieces of {piece}");
            assert_eq!(plain_err, scan_err, "pieces of {piece}");
            assert!(plain_err.is_some());
        }
    }

    #[test]
    fn scanner_reads_a_long_line_in_small_pieces_in_linear_time() {
        let mut buf = BytesMut::new();
        let mut sc = LineScanner::default();
        let piece = vec![b'a'; 1024];
        let t0 = tokio::time::Instant::now();
        for _ in 0..8 * 1024 {
            buf.extend_from_slice(&piece);
            assert_eq!(sc.next_line(&mut buf, 16 << 20), Ok(None));
        }
        buf.extend_from_slice(b"\r\n");
        let line = sc.next_line(&mut buf, 16 << 20).expect("ok").expect("line");
        assert_eq!(line.len(), 8 << 20);
        // Rescanning from the start each time would be 32 G byte compares.
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn eof_mid_frame_is_typed() {
        assert_eq!(at_eof(b""), Ok(()));
        assert_eq!(at_eof(b"get"), Err(FrameError::PeerClosed { pending: 3 }));
    }

    /// A frame as a test stream carries it: a line, or a line announcing a payload.
    #[derive(Debug, Clone, PartialEq)]
    enum Frame {
        Line(Vec<u8>),
        Payload(Vec<u8>),
    }

    /// Reads a stream of `len\r\n<payload>\r\n` and plain lines: a line of
    /// digits announces a payload of that many bytes.
    fn decode(chunks: &[&[u8]], max: usize) -> Result<Vec<Frame>, FrameError> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut want: Option<usize> = None;
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                if let Some(n) = want {
                    match next_payload(&mut buf, n)? {
                        Some(p) => {
                            out.push(Frame::Payload(p.to_vec()));
                            want = None;
                        }
                        None => break,
                    }
                } else {
                    match next_line(&mut buf, max)? {
                        Some(line) => {
                            let text = std::str::from_utf8(&line).ok();
                            want = text
                                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                                .and_then(|t| t.parse().ok());
                            out.push(Frame::Line(line.to_vec()));
                        }
                        None => break,
                    }
                }
            }
        }
        at_eof(&buf)?;
        Ok(out)
    }

    fn encode(frames: &[(Vec<u8>, bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (bytes, crlf) in frames {
            // Lines are letters only; each carries a payload announced by its length.
            out.extend_from_slice(bytes);
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            out.extend_from_slice(bytes.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Splits `data` at the given cut points (taken modulo its length).
    fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for p in points {
            chunks.push(&data[prev..p]);
            prev = p;
        }
        chunks.push(&data[prev..]);
        chunks
    }

    #[test]
    fn a_scanner_does_not_rescan_what_it_has_seen() {
        let mut s = LineScanner::new();
        let mut buf = BytesMut::new();
        let max = 1 << 20;
        for _ in 0..100 {
            buf.extend_from_slice(&[b'x'; 1000]);
            assert_eq!(s.next_line(&mut buf, max), Ok(None));
            assert_eq!(s.scanned, buf.len(), "resumes at the end");
        }
        buf.extend_from_slice(b"\r\nnext");
        let line = s.next_line(&mut buf, max).expect("ok").expect("line");
        assert_eq!(line.len(), 100_000);
        assert_eq!(&buf[..], b"next");
        assert_eq!(s.scanned, 0);
    }

    proptest! {
        #[test]
        fn a_scanner_agrees_with_find_line(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a')], 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            max in 0usize..40,
        ) {
            // Feed the bytes in pieces; after every piece both must say the
            // same, and lines taken must be the same.
            let mut scanner = LineScanner::new();
            let mut a = BytesMut::new();
            let mut b = BytesMut::new();
            for piece in split(&data, &cuts) {
                a.extend_from_slice(piece);
                b.extend_from_slice(piece);
                loop {
                    let x = scanner.next_line(&mut a, max);
                    let y = next_line(&mut b, max);
                    prop_assert_eq!(&x, &y);
                    if !matches!(x, Ok(Some(_))) {
                        break;
                    }
                }
                if a.len() > max + 2 {
                    break;
                }
            }
        }
        #[test]
        fn any_split_gives_the_same_frames(
            frames in proptest::collection::vec(("[a-z]{0,40}".prop_map(String::into_bytes), any::<bool>()), 0..12),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let data = encode(&frames);
            let whole = decode(&[&data], 64).expect("well-formed stream");
            let pieces = decode(&split(&data, &cuts), 64).expect("well-formed stream");
            prop_assert_eq!(&whole, &pieces);
            prop_assert_eq!(whole.len(), frames.len() * 3);
        }

        #[test]
        fn any_bytes_any_split_same_outcome(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            max in 0usize..80,
        ) {
            // Arbitrary input never panics, and the outcome (frames or error)
            // does not depend on how the bytes were cut.
            let whole = decode(&[&data], max);
            let pieces = decode(&split(&data, &cuts), max);
            prop_assert_eq!(whole, pieces);
        }

        #[test]
        fn over_long_lines_are_typed_errors(len in 5usize..300, max in 0usize..5) {
            let mut data = vec![b'x'; len];
            data.extend_from_slice(b"\r\n");
            prop_assert_eq!(decode(&[&data], max), Err(FrameError::TooLong { limit: max }));
        }

        #[test]
        fn truncated_payloads_are_typed_errors(payload in "[a-z]{1,50}", cut in any::<usize>()) {
            let mut data = format!("{}\r\n", payload.len()).into_bytes();
            let header = data.len();
            data.extend_from_slice(payload.as_bytes());
            data.extend_from_slice(b"\r\n");
            let end = header + cut % (data.len() - header);
            let got = decode(&[&data[..end]], 64);
            let pending = end - header;
            if pending == 0 {
                prop_assert!(got.is_ok());
            } else {
                prop_assert_eq!(got, Err(FrameError::PeerClosed { pending }));
            }
        }
    }
}
