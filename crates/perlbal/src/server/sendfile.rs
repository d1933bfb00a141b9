//! Sending a file (or part of one) to a socket with `sendfile(2)`: the bytes
//! go from the page cache to the socket without passing through perlbal's
//! memory, as 1.80 does. Each step is at most [`WINDOW`] bytes, preceded
//! by a `POSIX_FADV_WILLNEED` hint for that window (1.80 used
//! `aio_readahead` for the same purpose), so a cold file is read ahead by
//! the kernel while the socket drains. The socket stays non-blocking: a
//! full send buffer is waited on with tokio's readiness, never by a
//! blocked thread.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use danga_common::Stream;
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use nix::sys::sendfile::sendfile;
use tokio::io::Interest;
use tokio::net::{TcpStream, UnixStream};

/// Bytes per sendfile call (1.80 capped its calls at 128 KiB).
pub(crate) const WINDOW: u64 = 256 * 1024;

/// A socket that tokio drives.
pub(crate) enum Sock<'a> {
    Tcp(&'a TcpStream),
    Unix(&'a UnixStream),
}

impl<'a> From<&'a Stream> for Sock<'a> {
    fn from(s: &'a Stream) -> Self {
        match s {
            Stream::Tcp(t) => Sock::Tcp(t),
            Stream::Unix(u) => Sock::Unix(u),
        }
    }
}

impl Sock<'_> {
    async fn writable(&self) -> io::Result<()> {
        match self {
            Sock::Tcp(t) => t.writable().await,
            Sock::Unix(u) => u.writable().await,
        }
    }

    fn try_send(&self, file: &File, off: &mut i64, count: usize) -> io::Result<usize> {
        let mut send = |fd: std::os::fd::BorrowedFd<'_>| {
            sendfile(fd, file, Some(off), count).map_err(io::Error::from)
        };
        match self {
            Sock::Tcp(t) => t.try_io(Interest::WRITABLE, || send(t.as_fd())),
            Sock::Unix(u) => u.try_io(Interest::WRITABLE, || send(u.as_fd())),
        }
    }
}

/// Sends `len` bytes of `file` starting at `offset`. A file that turns out
/// shorter than that is an error (the connection must close: its
/// Content-Length is already out), and so is a peer that takes nothing for
/// `idle` (1.80 dropped clients not writable for idle_timeout).
pub(crate) async fn send_file(
    sock: Sock<'_>,
    file: &File,
    offset: u64,
    len: u64,
    idle: Duration,
) -> io::Result<()> {
    let end = offset.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
    let mut off = i64::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    let mut hinted = off;
    while (off as u64) < end {
        let want = (end - off as u64).min(WINDOW);
        if off >= hinted {
            let _ = posix_fadvise(
                file.as_fd(),
                off,
                want as i64,
                PosixFadviseAdvice::POSIX_FADV_WILLNEED,
            );
            hinted = off + want as i64;
        }
        tokio::time::timeout(idle, sock.writable())
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        match sock.try_send(file, &mut off, want as usize) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
