//! UDP (`-U`): every datagram starts with an 8-byte frame header (request
//! id, sequence number, datagram count, reserved), all big-endian. A
//! request must fit one datagram (count 1; others are dropped, as the
//! original drops them); its commands, text or binary by the first byte,
//! run as on a connection, and the reply goes back split over datagrams
//! of at most 1400 bytes, each with the request id, its sequence number
//! and the total count.

use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::exec::{BinOutcome, BinSession, Outcome, Tally};
use crate::proto::binary::REQ_MAGIC;
use crate::proto::{self, Keys, Request};
use crate::store::RelTime;

use super::{unix_now, Server};

/// Bytes of the frame header.
pub const UDP_HEADER_SIZE: usize = 8;
/// Largest datagram the server sends.
pub const UDP_MAX_PAYLOAD_SIZE: usize = 1400;
/// Reply bytes per datagram.
const UDP_DATA_SIZE: usize = UDP_MAX_PAYLOAD_SIZE - UDP_HEADER_SIZE;
/// The largest datagram read.
const UDP_READ_SIZE: usize = 64 * 1024;
/// The most reply one datagram's commands may build: commands past it are
/// not run, and a multi-key get stops with the original's out-of-memory
/// error, so a 64 KB request cannot make the server hold gigabytes.
const UDP_REPLY_MAX: usize = 16 << 20;

impl Server {
    /// Serves a bound (non-blocking) UDP socket until the server stops,
    /// and lists it in `stats conns` as the original does (`udp:` address,
    /// state `conn_read`) for the life of the process.
    pub fn spawn_udp(self: &Arc<Self>, socket: std::net::UdpSocket) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let local = socket.local_addr()?;
        let now = self.engine.rel_time(unix_now());
        self.conns.add_udp(
            socket.as_raw_fd(),
            super::conns::addr_text("udp", local),
            now,
        );
        let socket = UdpSocket::from_std(socket)?;
        self.shutdown.spawn(serve_udp(Arc::clone(self), socket));
        Ok(())
    }
}

async fn serve_udp(server: Arc<Server>, socket: UdpSocket) {
    let shutdown = server.shutdown.clone();
    let mut buf = vec![0u8; UDP_READ_SIZE];
    loop {
        let Some(got) = shutdown.until_stopped(socket.recv_from(&mut buf)).await else {
            return;
        };
        let Ok((n, peer)) = got else {
            continue;
        };
        let mut tally = Tally {
            bytes_read: n as u64,
            ..Tally::default()
        };
        let now = server.engine.rel_time(unix_now());
        let datagrams = server.udp_request(&buf[..n], now, &mut tally);
        for d in &datagrams {
            if socket.send_to(d, peer).await.is_ok() {
                tally.bytes_written += d.len() as u64;
            }
        }
        server.engine.counters.absorb(&mut tally);
    }
}

impl Server {
    /// Runs the commands of one datagram; the datagrams to send back.
    pub fn udp_request(&self, datagram: &[u8], now: RelTime, t: &mut Tally) -> Vec<Vec<u8>> {
        if datagram.len() <= UDP_HEADER_SIZE || datagram[4..6] != [0, 1] {
            return Vec::new();
        }
        let id = [datagram[0], datagram[1]];
        let payload = &datagram[UDP_HEADER_SIZE..];
        let mut out = Vec::new();
        if payload[0] == REQ_MAGIC {
            self.udp_binary(payload, now, t, &mut out);
        } else {
            self.udp_text(payload, now, t, &mut out);
        }
        split_reply(id, &out)
    }

    fn udp_binary(&self, mut input: &[u8], now: RelTime, t: &mut Tally, out: &mut Vec<u8>) {
        // Connectionless: SASL cannot be used with UDP (refused at start).
        let mut session = BinSession::default();
        while !input.is_empty() && out.len() < UDP_REPLY_MAX {
            let Some((used, outcome)) = self.binary_step(input, &mut session, now, t, out) else {
                return;
            };
            input = input.get(used..).unwrap_or_default();
            if matches!(outcome, BinOutcome::Close | BinOutcome::Swallow(_)) {
                return;
            }
        }
    }

    fn udp_text(&self, mut input: &[u8], now: RelTime, t: &mut Tally, out: &mut Vec<u8>) {
        while !input.is_empty() && out.len() < UDP_REPLY_MAX {
            let (used, outcome) = match proto::parse(input, &self.limits) {
                Ok(None) => return,
                Ok(Some((req, used))) => {
                    let outcome = match req {
                        Request::Get { keys, cas } => {
                            self.udp_get(keys, |k| Request::Get { keys: k, cas }, now, t, out)
                        }
                        Request::Gat { exptime, keys, cas } => self.udp_get(
                            keys,
                            |k| Request::Gat {
                                exptime,
                                keys: k,
                                cas,
                            },
                            now,
                            t,
                            out,
                        ),
                        _ => self.engine.execute(&req, now, t, out),
                    };
                    // A value too large for a datagram's request is not
                    // in it: nothing after it can be framed.
                    if matches!(
                        req,
                        Request::TooLarge { .. }
                            | Request::MetaTooLarge { .. }
                            | Request::MetaRefused { .. }
                    ) {
                        return;
                    }
                    if outcome == Outcome::Stats {
                        if let Request::Stats { args } = req {
                            self.stats(args, now, out);
                        }
                    }
                    (used, outcome)
                }
                Err(e) => {
                    if e.kind.closes() {
                        return;
                    }
                    out.extend_from_slice(&e.kind.reply());
                    (e.consumed, Outcome::Continue)
                }
            };
            if matches!(outcome, Outcome::Close | Outcome::Shutdown) {
                if outcome == Outcome::Shutdown {
                    self.shutdown.trigger();
                }
                return;
            }
            input = input.get(used..).unwrap_or_default();
        }
    }
}

impl Server {
    /// A multi-key get, one key at a time, stopping at [`UDP_REPLY_MAX`].
    fn udp_get<'k>(
        &self,
        keys: Keys<'k>,
        one: impl Fn(Keys<'k>) -> Request<'k>,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) -> Outcome {
        const END: &[u8] = b"END\r\n";
        for key in keys.iter() {
            if out.len() >= UDP_REPLY_MAX {
                out.extend_from_slice(b"SERVER_ERROR out of memory writing get response\r\n");
                return Outcome::Continue;
            }
            self.engine.execute(&one(Keys(key)), now, t, out);
            // Each single-key get ends with END; only the last one stays.
            if out.ends_with(END) {
                out.truncate(out.len() - END.len());
            }
        }
        out.extend_from_slice(END);
        Outcome::Continue
    }
}

/// Splits a reply into datagrams with the frame header.
pub fn split_reply(id: [u8; 2], reply: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = reply.chunks(UDP_DATA_SIZE).collect();
    let total = u16::try_from(chunks.len()).unwrap_or(u16::MAX);
    chunks
        .iter()
        .take(usize::from(total))
        .enumerate()
        .map(|(seq, chunk)| {
            let seq = u16::try_from(seq).unwrap_or(u16::MAX);
            let mut d = Vec::with_capacity(UDP_HEADER_SIZE + chunk.len());
            d.extend_from_slice(&id);
            d.extend_from_slice(&seq.to_be_bytes());
            d.extend_from_slice(&total.to_be_bytes());
            d.extend_from_slice(&[0, 0]);
            d.extend_from_slice(chunk);
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_split_at_1392_bytes_of_data() {
        let reply = vec![b'x'; 3000];
        let d = split_reply([0, 53], &reply);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].len(), 1400);
        assert_eq!(d[2].len(), 8 + 3000 - 2 * 1392);
        assert_eq!(&d[1][..8], &[0, 53, 0, 1, 0, 3, 0, 0]);
        assert!(split_reply([0, 1], b"").is_empty());
    }
}
