//! Blocking line-protocol connections with one deadline for the whole
//! check: every connect, write and read gets only the time that is left,
//! and replies are bounded in size, so a misbehaving server can neither
//! hang a plugin nor make it allocate without limit.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use danga_common::framing::LineScanner;

use crate::report::Status;

/// The longest line accepted from a server.
pub const MAX_LINE: usize = 1 << 20;
/// The most bytes one multi-line reply may carry.
pub const MAX_REPLY: usize = 16 << 20;

/// Where to connect, and until when the check may run.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address (`-H`).
    pub host: String,
    /// Port (`-p`, or the daemon's default).
    pub port: u16,
    /// When the check must be over.
    pub deadline: Instant,
    /// The `-t` limit, for messages.
    pub limit: Duration,
}

impl Target {
    /// A target whose deadline is `limit` from now.
    pub fn new(host: &str, port: u16, limit: Duration) -> Target {
        Target {
            host: host.to_owned(),
            port,
            deadline: Instant::now() + limit,
            limit,
        }
    }

    /// `host:port` for messages (IPv6 hosts in brackets).
    pub fn name(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The time left, or a time-out error about `doing`.
    pub fn left(&self, doing: &str) -> Result<Duration, CheckError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(self.timeout(doing))
        } else {
            Ok(left)
        }
    }

    fn timeout(&self, doing: &str) -> CheckError {
        CheckError::Timeout {
            target: self.name(),
            after: self.limit,
            doing: doing.to_owned(),
        }
    }
}

/// Why a check could not judge the daemon.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The host name did not resolve.
    #[error("cannot resolve {target}: {err}")]
    Resolve {
        /// host:port
        target: String,
        /// The resolver's error.
        err: io::Error,
    },
    /// No connection (refused, unreachable).
    #[error("cannot connect to {target}: {err}")]
    Connect {
        /// host:port
        target: String,
        /// The error.
        err: io::Error,
    },
    /// The time limit ran out.
    #[error("no answer from {target} within {}s ({doing})", crate::perfdata::num(after.as_secs_f64()))]
    Timeout {
        /// host:port
        target: String,
        /// The `-t` limit.
        after: Duration,
        /// What was being waited for.
        doing: String,
    },
    /// The connection failed or closed mid-reply.
    #[error("{target} {doing}: {err}")]
    Io {
        /// host:port
        target: String,
        /// What was being done.
        doing: String,
        /// The error.
        err: io::Error,
    },
    /// A reply this check cannot make sense of.
    #[error("unexpected reply from {target}: {what}")]
    Protocol {
        /// host:port
        target: String,
        /// What was wrong.
        what: String,
    },
}

impl CheckError {
    /// The state to report: the `-t` state for a time-out, CRITICAL for the
    /// rest (the daemon is down, unreachable or not working).
    pub fn status(&self, timeout_state: Status) -> Status {
        match self {
            CheckError::Timeout { .. } => timeout_state,
            _ => Status::Critical,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Resolves the target (the resolver cannot be interrupted: the watchdog
/// in [`mod@crate::run`] bounds it).
pub fn resolve(t: &Target) -> Result<Vec<SocketAddr>, CheckError> {
    let addrs: Vec<SocketAddr> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|err| CheckError::Resolve {
            target: t.name(),
            err,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(CheckError::Resolve {
            target: t.name(),
            err: io::Error::new(io::ErrorKind::NotFound, "no address"),
        });
    }
    Ok(addrs)
}

/// Connects to the first address that answers within the time left.
pub fn connect(t: &Target) -> Result<TcpStream, CheckError> {
    let mut last = None;
    for addr in resolve(t)? {
        let left = t.left("connecting")?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) if is_timeout(&e) => return Err(t.timeout("connecting")),
            Err(e) => last = Some(e),
        }
    }
    Err(CheckError::Connect {
        target: t.name(),
        err: last.unwrap_or_else(|| io::Error::other("no address")),
    })
}

/// A text protocol connection: send lines, read lines.
#[derive(Debug)]
pub struct LineConn {
    stream: TcpStream,
    buf: BytesMut,
    scanner: LineScanner,
    target: Target,
}

impl LineConn {
    /// Connects to the target.
    pub fn open(t: &Target) -> Result<LineConn, CheckError> {
        let stream = connect(t)?;
        let _ = stream.set_nodelay(true);
        Ok(LineConn {
            stream,
            buf: BytesMut::new(),
            scanner: LineScanner::new(),
            target: t.clone(),
        })
    }

    fn io(&self, doing: &str, err: io::Error) -> CheckError {
        if is_timeout(&err) {
            return self.target.timeout(doing);
        }
        CheckError::Io {
            target: self.target.name(),
            doing: doing.to_owned(),
            err,
        }
    }

    /// A protocol error about this connection's peer.
    pub fn protocol(&self, what: impl Into<String>) -> CheckError {
        CheckError::Protocol {
            target: self.target.name(),
            what: what.into(),
        }
    }

    /// Sends `text` as it is (the caller adds the line ending).
    pub fn send(&mut self, text: &str) -> Result<(), CheckError> {
        let doing = format!("sending {:?}", text.trim_end());
        let left = self.target.left(&doing)?;
        self.stream
            .set_write_timeout(Some(left))
            .map_err(|e| self.io(&doing, e))?;
        self.stream
            .write_all(text.as_bytes())
            .map_err(|e| self.io(&doing, e))
    }

    /// Reads one line, without its `\r\n` or `\n`. The line rule and the
    /// resumed newline search are the daemons' own (`danga_common`'s
    /// [`LineScanner`]); this loop only adds the blocking reads of a plugin.
    pub fn line(&mut self, doing: &str) -> Result<String, CheckError> {
        loop {
            match self.scanner.next_line(&mut self.buf, MAX_LINE) {
                Ok(Some(line)) => return Ok(String::from_utf8_lossy(&line).into_owned()),
                Ok(None) => {}
                Err(_) => return Err(self.protocol(format!("a line longer than {MAX_LINE} bytes"))),
            }
            let left = self.target.left(doing)?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| self.io(doing, e))?;
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(self.io(
                        doing,
                        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(doing, e)),
            }
        }
    }

    /// Reads lines until `last` says one ends the reply; returns them all,
    /// the last one included. Bounded by [`MAX_REPLY`] bytes.
    pub fn lines_until(
        &mut self,
        doing: &str,
        mut last: impl FnMut(&str) -> bool,
    ) -> Result<Vec<String>, CheckError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        loop {
            let line = self.line(doing)?;
            bytes += line.len() + 2;
            if bytes > MAX_REPLY {
                return Err(self.protocol(format!("a reply longer than {MAX_REPLY} bytes")));
            }
            let done = last(&line);
            out.push(line);
            if done {
                return Ok(out);
            }
        }
    }
}

/// Whether something accepts TCP connections at `addr` within `limit`
/// (Perlbal's pool nodes).
pub fn probe(addr: SocketAddr, limit: Duration) -> io::Result<()> {
    TcpStream::connect_timeout(&addr, limit).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn target(addr: SocketAddr, limit: Duration) -> Target {
        Target::new(&addr.ip().to_string(), addr.port(), limit)
    }

    #[test]
    fn lines_and_a_closed_port() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut req = [0u8; 6];
            s.read_exact(&mut req).expect("req");
            assert_eq!(&req, b"stats\n");
            s.write_all(b"STAT a 1\r\nSTAT b 2\nEND\r\n")
                .expect("reply");
        });
        let mut c = LineConn::open(&target(addr, Duration::from_secs(5))).expect("open");
        c.send("stats\n").expect("send");
        let lines = c.lines_until("stats", |l| l == "END").expect("lines");
        assert_eq!(lines, ["STAT a 1", "STAT b 2", "END"]);
        server.join().expect("server");
        let err = c.line("more").expect_err("closed");
        assert!(matches!(err, CheckError::Io { .. }), "{err}");
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let err = LineConn::open(&target(closed, Duration::from_secs(5))).expect_err("refused");
        assert!(matches!(err, CheckError::Connect { .. }), "{err}");
        assert_eq!(err.status(Status::Unknown), Status::Critical);
    }

    #[test]
    fn a_silent_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut c = LineConn::open(&target(addr, Duration::from_millis(300))).expect("open");
        c.send("stats\n").expect("send");
        let err = c.line("waiting for stats").expect_err("timeout");
        assert!(matches!(err, CheckError::Timeout { .. }), "{err}");
        assert_eq!(err.status(Status::Unknown), Status::Unknown);
        assert!(err.to_string().contains("within 0.3s"), "{err}");
        drop(l);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let junk = vec![b'x'; 64 << 10];
            for _ in 0..40 {
                if s.write_all(&junk).is_err() {
                    return;
                }
            }
        });
        let mut c = LineConn::open(&target(addr, Duration::from_secs(10))).expect("open");
        let err = c.line("reading").expect_err("too long");
        assert!(matches!(err, CheckError::Protocol { .. }), "{err}");
        drop(c);
        server.join().expect("server");
    }
}
