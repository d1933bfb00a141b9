//! Targets (loopback TCP or a unix socket) and the one stream type the
//! drivers use. Shared by every protocol's generator.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};

/// Where the daemon under test listens.
#[derive(Clone, Debug)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Target {
    /// Resolve `--server HOST:PORT` or `--unix PATH`. Only loopback
    /// addresses are accepted: this tool is not for loading other hosts.
    pub async fn resolve(server: Option<&str>, unix: Option<PathBuf>) -> Result<Target> {
        match (server, unix) {
            (_, Some(path)) => Ok(Target::Unix(path)),
            (Some(s), None) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host(s)
                    .await
                    .with_context(|| format!("resolving {s}"))?
                    .collect();
                let Some(&first) = addrs.first() else {
                    bail!("{s} resolves to no address");
                };
                if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                    bail!("{s} resolves to {a}, which is not a loopback address");
                }
                Ok(Target::Tcp(first))
            }
            (None, None) => bail!("give --server HOST:PORT or --unix PATH"),
        }
    }

    pub async fn connect(&self) -> Result<Stream> {
        match self {
            Target::Tcp(a) => {
                let s = TcpStream::connect(a)
                    .await
                    .with_context(|| format!("connecting to {a}"))?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Target::Unix(p) => {
                let s = UnixStream::connect(p)
                    .await
                    .with_context(|| format!("connecting to {}", p.display()))?;
                Ok(Stream::Unix(s))
            }
        }
    }
}

/// A connected stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Read what is available into `buf`, keeping room for a large read
    /// (reserving reuses the buffer's front once it has been consumed).
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            Stream::Unix(s) => s.read_buf(buf).await,
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(data).await,
            Stream::Unix(s) => s.write_all(data).await,
        }
    }
}
