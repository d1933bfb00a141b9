//! One connection to one server: write a request, read its reply.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use super::{Error, Item};

/// The largest value this client reads (memcached's `-I` maximum).
const MAX_VALUE: usize = 1 << 30;

/// A buffered connection.
#[derive(Debug)]
pub(crate) struct Conn {
    io: BufStream<TcpStream>,
    line: String,
}

impl Conn {
    pub(crate) async fn connect(addr: &str) -> Result<Conn, Error> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            io: BufStream::new(s),
            line: String::new(),
        })
    }

    pub(crate) async fn send(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        for p in parts {
            self.io.write_all(p).await?;
        }
        self.io.flush().await?;
        Ok(())
    }

    /// Reads one reply line (without CRLF); error lines become errors.
    pub(crate) async fn line(&mut self) -> Result<&str, Error> {
        self.line.clear();
        let n = self.io.read_line(&mut self.line).await?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let l = self.line.trim_end_matches(['\r', '\n']);
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
            let mut value = vec![0u8; bytes + 2];
            self.io.read_exact(&mut value).await?;
            if !value.ends_with(b"\r\n") {
                return Err(Error::Protocol("value not followed by CRLF".into()));
            }
            value.truncate(bytes);
            found(key, Item { value, flags, cas });
        }
    }
}
