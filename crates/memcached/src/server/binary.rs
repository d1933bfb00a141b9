//! The binary protocol's connection loop, and `stat` rendered as packets
//! (one per statistic, then an empty one), from the same figures the text
//! `stats` shows.

use bytes::{Buf, BytesMut};
use danga_common::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::exec::{BinOutcome, BinSession, Tally};
use crate::proto::binary::{self, opcode, put_header, status, BinRequest, Frame};
use crate::store::RelTime;

use super::{unix_now, write_out, Io, Server, OUT_HIGH_WATER};

impl Server {
    /// Serves a binary-protocol connection, starting with `input`.
    pub(super) async fn serve_binary<S: Io>(
        &self,
        io: &mut S,
        shutdown: &Shutdown,
        mut input: BytesMut,
    ) {
        let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut tally = Tally::default();
        let mut session = BinSession::default();
        let mut swallow = 0usize;
        loop {
            let now = self.engine.rel_time(unix_now());
            let mut close = false;
            loop {
                if swallow > 0 {
                    let n = swallow.min(input.len());
                    input.advance(n);
                    swallow -= n;
                    if swallow > 0 {
                        break;
                    }
                }
                let (consumed, outcome) =
                    match self.binary_step(&input, &mut session, now, &mut tally, &mut out) {
                        Some(step) => step,
                        None => break,
                    };
                input.advance(consumed.min(input.len()));
                match outcome {
                    BinOutcome::Close => {
                        close = true;
                        break;
                    }
                    BinOutcome::Swallow(n) => swallow = n,
                    BinOutcome::Continue | BinOutcome::Stats => {}
                }
                if out.len() >= OUT_HIGH_WATER && write_out(io, &mut out, &mut tally).await.is_err()
                {
                    return self.engine.counters.absorb(&mut tally);
                }
            }
            // Counted before the replies go out, as on the text path.
            self.engine.counters.absorb(&mut tally);
            let wrote = write_out(io, &mut out, &mut tally).await;
            self.engine.counters.absorb(&mut tally);
            if close || wrote.is_err() {
                let _ = io.shutdown().await;
                return;
            }
            if input.capacity() - input.len() < 4096 {
                input.reserve(16 * 1024);
            }
            let idle = input.is_empty() && swallow == 0;
            let read = io.read_buf(&mut input);
            let n = if idle {
                match shutdown.until_stopped(read).await {
                    Some(r) => r,
                    None => return,
                }
            } else {
                read.await
            };
            match n {
                Ok(0) | Err(_) => return,
                Ok(n) => tally.bytes_read += n as u64,
            }
        }
    }

    /// Takes and runs one request from the front of `input`: the bytes it
    /// took and what to do next, or `None` when more bytes are needed. A
    /// first byte that is not the request magic closes, as the original.
    pub(super) fn binary_step(
        &self,
        input: &[u8],
        session: &mut BinSession,
        now: RelTime,
        tally: &mut Tally,
        out: &mut Vec<u8>,
    ) -> Option<(usize, BinOutcome)> {
        let (req, consumed, oversize) = match binary::frame(input, self.limits.item_size_max) {
            Frame::Incomplete => return None,
            Frame::BadMagic => return Some((input.len(), BinOutcome::Close)),
            Frame::Request(req, used) => (req, used, None),
            Frame::Oversize {
                req,
                consumed,
                swallow,
            } => (req, consumed, Some(swallow)),
        };
        let outcome = self
            .engine
            .execute_binary(&req, oversize, session, now, tally, out);
        if outcome == BinOutcome::Stats {
            self.binary_stats(&req, now, out);
        }
        Some((consumed, outcome))
    }

    /// `stat [group]`: the text rendering, one packet per line.
    fn binary_stats(&self, req: &BinRequest<'_>, now: RelTime, out: &mut Vec<u8>) {
        let mut text = Vec::new();
        self.stats(req.key, now, &mut text);
        let opaque = req.header.opaque;
        let packet = |out: &mut Vec<u8>, st: u16, key: &[u8], value: &[u8]| {
            let klen = u16::try_from(key.len()).unwrap_or(u16::MAX);
            let body = u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX);
            put_header(out, opcode::STAT, st, 0, klen, body, opaque, 0);
            out.extend_from_slice(key);
            out.extend_from_slice(value);
        };
        for line in text.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(stat) = line.strip_prefix(b"STAT ") {
                let (k, v) = match stat.iter().position(|b| *b == b' ') {
                    Some(sp) => (&stat[..sp], &stat[sp + 1..]),
                    None => (stat, &b""[..]),
                };
                packet(out, status::SUCCESS, k, v);
            } else if line == b"END" || line == b"RESET" || line == b"OK" {
                packet(out, status::SUCCESS, b"", b"");
                return;
            } else if !line.is_empty() {
                packet(
                    out,
                    status::KEY_ENOENT,
                    b"",
                    status::text(status::KEY_ENOENT),
                );
                return;
            }
        }
        packet(out, status::SUCCESS, b"", b"");
    }
}
