//! Follows a chunked body as it is relayed, to learn where it ends (so the
//! backend and the client connection can be reused), without changing a
//! byte ([`Chunked::feed`]), or de-chunks a request body
//! ([`Chunked::decode`]: the data bytes only, for buffered uploads and
//! PUT). Bounded: chunk-size lines, extensions and trailers have limits.

/// Longest chunk-size line (with extensions) and trailer section.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 100 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size { n: u64, digits: u8 },
    Ext { n: u64 },
    SizeLf { n: u64 },
    Data(u64),
    DataCr,
    DataLf,
    Trailer { line: usize },
    TrailerLf { line: usize },
    Done,
}

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed chunked body")]
pub struct ChunkError;

/// The tracker.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    line: usize,
    trailers: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size { n: 0, digits: 0 },
            line: 0,
            trailers: 0,
        }
    }
}

impl Chunked {
    /// Whether the last chunk and trailers have been seen.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes bytes of the body; returns how many belong to it (all of
    /// `buf` unless the body ends inside it).
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, ChunkError> {
        self.run(buf, None)
    }

    /// As [`Chunked::feed`], appending the chunks' data to `out`.
    pub fn decode(&mut self, buf: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        self.run(buf, Some(out))
    }

    fn run(&mut self, buf: &[u8], mut out: Option<&mut Vec<u8>>) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < buf.len() && self.state != State::Done {
            if let State::Data(rem) = self.state {
                let take = rem.min((buf.len() - i) as u64);
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(&buf[i..i + take as usize]);
                }
                i += take as usize;
                self.state = if rem == take {
                    State::DataCr
                } else {
                    State::Data(rem - take)
                };
                continue;
            }
            let b = buf[i];
            i += 1;
            self.step(b)?;
        }
        Ok(i)
    }

    fn after_size(&mut self, n: u64) -> State {
        self.line = 0;
        if n == 0 {
            State::Trailer { line: 0 }
        } else {
            State::Data(n)
        }
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size { n, digits } => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(ChunkError);
                }
                match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(ChunkError);
                        }
                        let d = (b as char).to_digit(16).ok_or(ChunkError)?;
                        State::Size {
                            n: n * 16 + u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => return Err(ChunkError),
                    b';' | b' ' | b'\t' => State::Ext { n },
                    b'\r' => State::SizeLf { n },
                    b'\n' => self.after_size(n),
                    _ => return Err(ChunkError),
                }
            }
            State::Ext { n } => {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(ChunkError);
                }
                match b {
                    b'\n' => self.after_size(n),
                    b'\r' => State::SizeLf { n },
                    _ => State::Ext { n },
                }
            }
            State::SizeLf { n } => match b {
                b'\n' => self.after_size(n),
                _ => return Err(ChunkError),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                b'\n' => State::Size { n: 0, digits: 0 },
                _ => return Err(ChunkError),
            },
            State::DataLf => match b {
                b'\n' => State::Size { n: 0, digits: 0 },
                _ => return Err(ChunkError),
            },
            State::Trailer { line } => {
                self.trailers += 1;
                if self.trailers > MAX_TRAILERS {
                    return Err(ChunkError);
                }
                match b {
                    b'\n' if line == 0 => State::Done,
                    b'\n' => State::Trailer { line: 0 },
                    b'\r' => State::TrailerLf { line },
                    _ => State::Trailer { line: line + 1 },
                }
            }
            State::TrailerLf { line } => match b {
                b'\n' if line == 0 => State::Done,
                b'\n' => State::Trailer { line: 0 },
                _ => return Err(ChunkError),
            },
            State::Data(_) | State::Done => self.state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BODY: &[u8] = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: 1\r\n\r\n";

    #[test]
    fn finds_the_end_and_leaves_what_follows() {
        let mut c = Chunked::default();
        let mut all = BODY.to_vec();
        all.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(c.feed(&all), Ok(BODY.len()));
        assert!(c.done());
        let mut c = Chunked::default();
        assert_eq!(c.feed(b"0\n\n"), Ok(3));
        assert!(c.done());
        for bad in [
            &b"zz\r\n"[..],
            b"5\r\nhelloXX",
            b"\r\n",
            b"fffffffffffffffff\r\n",
        ] {
            assert_eq!(Chunked::default().feed(bad), Err(ChunkError), "{bad:?}");
        }
    }

    #[test]
    fn decodes_the_data() {
        let mut c = Chunked::default();
        let mut out = Vec::new();
        assert_eq!(c.decode(BODY, &mut out), Ok(BODY.len()));
        assert_eq!(out, b"hello world");
        assert!(c.done());
    }

    proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0..BODY.len(), 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut c = Chunked::default();
            let mut out = Vec::new();
            let mut last = 0;
            for cut in cuts.into_iter().chain([BODY.len()]) {
                c.decode(&BODY[last..cut], &mut out).expect("valid");
                last = cut;
            }
            prop_assert_eq!(out, b"hello world".to_vec());
        }

        #[test]
        fn any_split_gives_the_same_end(cuts in proptest::collection::vec(0..BODY.len(), 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut c = Chunked::default();
            let mut last = 0;
            let mut total = 0;
            for cut in cuts.into_iter().chain([BODY.len()]) {
                total += c.feed(&BODY[last..cut]).expect("valid");
                last = cut;
            }
            prop_assert!(c.done());
            prop_assert_eq!(total, BODY.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut c = Chunked::default();
            if let Ok(n) = c.feed(&bytes) {
                prop_assert!(n <= bytes.len());
            }
        }
    }
}
