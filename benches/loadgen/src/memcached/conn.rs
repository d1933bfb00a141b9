//! One pipelined connection: keep `depth` requests in flight, write each
//! batch with one call, parse what comes back, refill.

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Result};
use bytes::BytesMut;
use tokio::time::{timeout_at, Instant};

use super::proto::{Counts, Encoder, Kind, ReplyParser, StatsReading};
use crate::net::{Stream, Target};

/// Which requests a connection sends next.
#[derive(Clone, Debug)]
pub enum Workload {
    /// Random keys in `0..keys`; a `get` when the draw falls below
    /// `get_below` (a fraction of 2^32), else a `set`. `left` bounds the count.
    Mixed {
        rng: u64,
        keys: u64,
        get_below: u64,
        left: Option<u64>,
    },
    /// `set` every key in `next..end`, in order.
    Sequential { next: u64, end: u64 },
}

impl Workload {
    pub fn mixed(seed: u64, keys: u64, get_ratio: f64, left: Option<u64>) -> Self {
        Workload::Mixed {
            rng: splitmix64(seed) | 1,
            keys,
            get_below: (get_ratio * 4_294_967_296.0) as u64,
            left,
        }
    }

    /// Encode the next request into `out`; `None` once the workload is done.
    fn next(&mut self, enc: &Encoder, out: &mut BytesMut) -> Option<Kind> {
        match self {
            Workload::Mixed {
                rng,
                keys,
                get_below,
                left,
            } => {
                if let Some(n) = left {
                    *n = n.checked_sub(1)?;
                }
                let key = ((u128::from(xorshift(rng)) * u128::from(*keys)) >> 64) as u64;
                if xorshift(rng) >> 32 < *get_below {
                    enc.get(out, key);
                    Some(Kind::Get)
                } else {
                    enc.set(out, key);
                    Some(Kind::Set)
                }
            }
            Workload::Sequential { next, end } => {
                if next >= end {
                    return None;
                }
                enc.set(out, *next);
                *next += 1;
                Some(Kind::Set)
            }
        }
    }
}

/// When to stop sending (`stop_at`, then drain) and when to give up on a
/// silent server (`give_up_at`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub depth: usize,
    pub stop_at: Instant,
    pub give_up_at: Instant,
}

/// A connection with its buffers and the kinds of the requests in flight.
pub struct Conn {
    stream: Stream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    pending: VecDeque<Kind>,
    parser: ReplyParser,
}

impl Conn {
    pub async fn connect(target: &Target, depth: usize) -> Result<Conn> {
        Ok(Conn {
            stream: target.connect().await?,
            rbuf: BytesMut::with_capacity(64 * 1024),
            wbuf: BytesMut::with_capacity(16 * 1024),
            pending: VecDeque::with_capacity(depth + 1),
            parser: ReplyParser::default(),
        })
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> u64 {
        self.pending.len() as u64
    }

    /// Run `w` with `lim.depth` requests in flight until it is done or
    /// `lim.stop_at` passes, then wait for the replies still due.
    pub async fn drive(
        &mut self,
        w: &mut Workload,
        enc: &Encoder,
        lim: &Limits,
        c: &mut Counts,
    ) -> Result<()> {
        let mut stopping = false;
        loop {
            if !stopping {
                while self.pending.len() < lim.depth {
                    let Some(kind) = w.next(enc, &mut self.wbuf) else {
                        stopping = true;
                        break;
                    };
                    self.pending.push_back(kind);
                }
                stopping |= Instant::now() >= lim.stop_at;
            }
            self.flush(lim.give_up_at).await?;
            if self.pending.is_empty() {
                return Ok(());
            }
            self.read_some(lim.give_up_at, c).await?;
        }
    }

    /// Ask for `stats` (nothing else in flight) and return its fields.
    pub async fn stats(
        &mut self,
        enc: &Encoder,
        give_up_at: Instant,
        c: &mut Counts,
    ) -> Result<StatsReading> {
        enc.stats(&mut self.wbuf);
        self.pending.push_back(Kind::Stats);
        self.flush(give_up_at).await?;
        while !self.pending.is_empty() {
            self.read_some(give_up_at, c).await?;
        }
        self.parser
            .last_stats
            .take()
            .ok_or_else(|| anyhow!("stats answered with an error"))
    }

    async fn flush(&mut self, give_up_at: Instant) -> Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        timeout_at(give_up_at, self.stream.write_all(&self.wbuf))
            .await
            .map_err(|_| anyhow!("timed out writing with {} in flight", self.pending.len()))??;
        self.wbuf.clear();
        Ok(())
    }

    /// Read until at least one reply completes.
    async fn read_some(&mut self, give_up_at: Instant, c: &mut Counts) -> Result<()> {
        loop {
            let n = timeout_at(give_up_at, self.stream.read_buf(&mut self.rbuf))
                .await
                .map_err(|_| {
                    anyhow!("timed out with {} requests in flight", self.pending.len())
                })??;
            if n == 0 {
                bail!(
                    "server closed the connection with {} requests in flight",
                    self.pending.len()
                );
            }
            if self.parser.parse(&mut self.rbuf, &mut self.pending, c)? > 0 {
                return Ok(());
            }
        }
    }
}

fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_ratio_and_bounds() {
        let enc = Encoder::new(1);
        let mut out = BytesMut::new();
        let mut w = Workload::mixed(7, 10, 0.9, Some(10_000));
        let mut gets = 0;
        while let Some(k) = w.next(&enc, &mut out) {
            gets += u32::from(k == Kind::Get);
        }
        assert!((8_800..9_200).contains(&gets), "{gets}");
        assert!(!out.windows(14).any(|k| k == b"key:0000000010"));
        let mut all = Workload::mixed(1, 5, 1.0, Some(100));
        assert!(std::iter::from_fn(|| all.next(&enc, &mut out)).all(|k| k == Kind::Get));
        let mut none = Workload::mixed(1, 5, 0.0, Some(100));
        assert!(std::iter::from_fn(|| none.next(&enc, &mut out)).all(|k| k == Kind::Set));
    }

    #[test]
    fn sequential_sets() {
        let enc = Encoder::new(1);
        let mut out = BytesMut::new();
        let mut w = Workload::Sequential { next: 3, end: 5 };
        assert_eq!(w.next(&enc, &mut out), Some(Kind::Set));
        assert_eq!(w.next(&enc, &mut out), Some(Kind::Set));
        assert_eq!(w.next(&enc, &mut out), None);
        assert_eq!(
            &out[..],
            b"set key:0000000003 0 0 1\r\nx\r\nset key:0000000004 0 0 1\r\nx\r\n"
        );
    }
}
