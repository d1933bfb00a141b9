//! One connection to one server: write a request, read its reply.

use danga_common::framing::FrameError;
use danga_common::lines::{LineError, LineSession};
use tokio::net::TcpStream;

use super::{Error, Item};

/// The largest value this client reads (memcached's `-I` maximum).
const MAX_VALUE: usize = 1 << 30;

/// The longest reply line (a `VALUE` header is under 300 bytes; `stats`
/// lines are short).
const MAX_LINE: usize = 64 * 1024;

/// A buffered connection.
#[derive(Debug)]
pub(crate) struct Conn {
    io: LineSession<TcpStream>,
    line: String,
}

impl From<LineError> for Error {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Io(e) => Error::Io(e),
            LineError::Idle(_) => Error::Timeout,
            LineError::Frame(FrameError::PeerClosed { .. }) => {
                Error::Io(std::io::ErrorKind::UnexpectedEof.into())
            }
            LineError::Frame(e) => Error::Protocol(e.to_string()),
        }
    }
}

impl Conn {
    pub(crate) async fn connect(addr: &str) -> Result<Conn, Error> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            io: LineSession::new(s, MAX_LINE),
            line: String::new(),
        })
    }

    pub(crate) async fn send(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        for p in parts {
            self.io.send(p);
        }
        self.io.flush().await?;
        Ok(())
    }

    /// Reads one reply line (without CRLF); error lines become errors.
    pub(crate) async fn line(&mut self) -> Result<&str, Error> {
        let Some(line) = self.io.next_line().await? else {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        };
        self.line = String::from_utf8_lossy(&line).into_owned();
        let l = self.line.as_str();
        if l == "ERROR" {
            return Err(Error::Client(l.to_owned()));
        }
        if let Some(m) = l.strip_prefix("CLIENT_ERROR ") {
            return Err(Error::Client(m.to_owned()));
        }
        if let Some(m) = l.strip_prefix("SERVER_ERROR ") {
            return Err(Error::Server(m.to_owned()));
        }
        Ok(l)
    }

    /// Reads `VALUE` blocks until `END`, calling `found` for each.
    pub(crate) async fn values(
        &mut self,
        mut found: impl FnMut(Vec<u8>, Item),
    ) -> Result<(), Error> {
        loop {
            let line = self.line().await?;
            if line == "END" {
                return Ok(());
            }
            let mut w = line.split(' ');
            let (Some("VALUE"), Some(key), Some(flags), Some(bytes)) =
                (w.next(), w.next(), w.next(), w.next())
            else {
                return Err(Error::Protocol(format!("unexpected line {line:?}")));
            };
            let key = key.as_bytes().to_vec();
            let flags: u32 = flags
                .parse()
                .map_err(|_| Error::Protocol(format!("bad flags in {line:?}")))?;
            let bytes: usize = bytes
                .parse()
                .map_err(|_| Error::Protocol(format!("bad length in {line:?}")))?;
            let cas = match w.next() {
                Some(c) => Some(
                    c.parse()
                        .map_err(|_| Error::Protocol(format!("bad cas in {line:?}")))?,
                ),
                None => None,
            };
            if bytes > MAX_VALUE {
                return Err(Error::Protocol(format!("value of {bytes} bytes")));
            }
            let value = self.io.next_payload(bytes).await?.to_vec();
            found(key, Item { value, flags, cas });
        }
    }
}
