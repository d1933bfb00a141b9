//! Listening sockets: several TCP addresses (IPv4 and IPv6) and unix sockets,
//! bound before the runtime exists, plus the ready file that tells a test
//! which ports port 0 turned into.
//!
//! Binding happens in plain `std` sockets on purpose: a daemon binds its
//! ports (perhaps privileged ones, as root), then daemonizes or drops its
//! user, and only then builds the tokio runtime. [`Bound::into_tokio`] hands
//! the sockets over to tokio once it is running.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address; port 0 asks the kernel for a free port.
    Tcp(SocketAddr),
    /// A unix socket path, created with the given permission bits.
    Unix {
        /// Path of the socket file (an existing stale socket is replaced).
        path: PathBuf,
        /// Permission bits, as memcached's `-a` (e.g. `0o700`).
        mode: u32,
    },
}

/// One listener the daemon asked for, named for the ready file
/// (`memcached`, `http`, `mgmt`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// Name written in the ready file.
    pub name: String,
    /// Where to listen.
    pub endpoint: Endpoint,
}

impl ListenSpec {
    /// A TCP listener.
    pub fn tcp(name: &str, addr: SocketAddr) -> Self {
        ListenSpec {
            name: name.to_owned(),
            endpoint: Endpoint::Tcp(addr),
        }
    }

    /// A unix-socket listener.
    pub fn unix(name: &str, path: impl Into<PathBuf>, mode: u32) -> Self {
        ListenSpec {
            name: name.to_owned(),
            endpoint: Endpoint::Unix {
                path: path.into(),
                mode,
            },
        }
    }
}

/// The address a listener ended up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalAddr {
    /// A bound TCP address (with the real port when port 0 was asked for).
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

impl fmt::Display for LocalAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalAddr::Tcp(a) => write!(f, "{a}"),
            LocalAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

enum StdListener {
    Tcp(StdTcpListener),
    Unix(StdUnixListener),
}

/// A socket bound and listening, not yet attached to a runtime.
pub struct Bound {
    name: String,
    local: LocalAddr,
    socket: StdListener,
}

impl Bound {
    /// The name from the [`ListenSpec`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> &LocalAddr {
        &self.local
    }

    /// Attaches the socket to the current tokio runtime.
    pub fn into_tokio(self) -> io::Result<Listener> {
        let inner = match self.socket {
            StdListener::Tcp(l) => {
                l.set_nonblocking(true)?;
                Inner::Tcp(TcpListener::from_std(l)?)
            }
            StdListener::Unix(l) => {
                l.set_nonblocking(true)?;
                Inner::Unix(UnixListener::from_std(l)?)
            }
        };
        Ok(Listener {
            name: self.name,
            local: self.local,
            inner,
        })
    }
}

/// Binds one listener. TCP sockets get `SO_REUSEADDR` and the given backlog;
/// IPv6 sockets are IPv6-only, so `-l 0.0.0.0 -l ::` both bind.
pub fn bind(spec: &ListenSpec, backlog: u32) -> io::Result<Bound> {
    bind_with(spec, backlog, false)
}

/// Binds `n` (at least one) sockets for a TCP `spec`, all with
/// `SO_REUSEPORT` on the same address (port 0 resolved by the first), so
/// the kernel spreads new connections over them: one per runtime thread
/// under [`crate::launch::Layout::PerThread`]. A unix socket gets one.
pub fn bind_spread(spec: &ListenSpec, backlog: u32, n: usize) -> io::Result<Vec<Bound>> {
    let first = bind_with(spec, backlog, true)?;
    let LocalAddr::Tcp(addr) = first.local.clone() else {
        return Ok(vec![first]);
    };
    let mut all = vec![first];
    let again = ListenSpec::tcp(&spec.name, addr);
    for _ in 1..n.max(1) {
        all.push(bind_with(&again, backlog, true)?);
    }
    Ok(all)
}

fn bind_with(spec: &ListenSpec, backlog: u32, reuse_port: bool) -> io::Result<Bound> {
    match &spec.endpoint {
        Endpoint::Tcp(addr) => {
            use socket2::{Domain, Socket, Type};
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.set_reuse_address(true)?;
            if reuse_port {
                socket.set_reuse_port(true)?;
            }
            socket.bind(&(*addr).into())?;
            socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
            let std: StdTcpListener = socket.into();
            let local = std.local_addr()?;
            Ok(Bound {
                name: spec.name.clone(),
                local: LocalAddr::Tcp(local),
                socket: StdListener::Tcp(std),
            })
        }
        Endpoint::Unix { path, mode } => {
            remove_stale_socket(path)?;
            let listener = StdUnixListener::bind(path)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
            Ok(Bound {
                name: spec.name.clone(),
                local: LocalAddr::Unix(path.clone()),
                socket: StdListener::Unix(listener),
            })
        }
    }
}

/// Removes a socket file left by an earlier run, but never a regular file.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Binds every spec, in order; the first failure names its address.
pub fn bind_all(specs: &[ListenSpec], backlog: u32) -> io::Result<Vec<Bound>> {
    specs
        .iter()
        .map(|spec| {
            bind(spec, backlog).map_err(|e| {
                let what = match &spec.endpoint {
                    Endpoint::Tcp(a) => a.to_string(),
                    Endpoint::Unix { path, .. } => path.display().to_string(),
                };
                io::Error::new(e.kind(), format!("binding {what}: {e}"))
            })
        })
        .collect()
}

/// Writes one `NAME address` line per listener to `path`, atomically (a
/// temporary file renamed into place), so a reader never sees half of it.
pub fn write_ready_file(path: &Path, bound: &[Bound]) -> io::Result<()> {
    let mut text = String::new();
    for b in bound {
        text.push_str(&format!("{} {}\n", b.name, b.local));
    }
    write_atomically(path, text.as_bytes())
}

/// Writes `data` to a temporary file beside `path`, then renames it there.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

enum Inner {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A listening socket attached to the runtime.
pub struct Listener {
    name: String,
    local: LocalAddr,
    inner: Inner,
}

impl std::os::fd::AsRawFd for Listener {
    /// The listening socket's descriptor (memcached's `stats conns` shows it).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match &self.inner {
            Inner::Tcp(l) => l.as_raw_fd(),
            Inner::Unix(l) => l.as_raw_fd(),
        }
    }
}

impl Listener {
    /// The name from the [`ListenSpec`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address.
    pub fn local_addr(&self) -> &LocalAddr {
        &self.local
    }

    /// Detaches the socket from its runtime again, e.g. to attach it to
    /// another one with [`Bound::into_tokio`].
    pub fn into_bound(self) -> io::Result<Bound> {
        let socket = match self.inner {
            Inner::Tcp(l) => StdListener::Tcp(l.into_std()?),
            Inner::Unix(l) => StdListener::Unix(l.into_std()?),
        };
        Ok(Bound {
            name: self.name,
            local: self.local,
            socket,
        })
    }

    /// Accepts one connection. TCP connections get `TCP_NODELAY`: every
    /// daemon here answers small requests and batches its own writes.
    pub async fn accept(&self) -> io::Result<(Stream, PeerAddr)> {
        match &self.inner {
            Inner::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                // Best effort: a socket that refuses NODELAY still works.
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), PeerAddr::Tcp(peer)))
            }
            Inner::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), PeerAddr::Unix))
            }
        }
    }
}

/// Who connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddr {
    /// A TCP peer.
    Tcp(SocketAddr),
    /// A unix-socket peer (unnamed).
    Unix,
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Tcp(a) => write!(f, "{a}"),
            PeerAddr::Unix => f.write_str("unix"),
        }
    }
}

/// An accepted connection, TCP or unix; reads and writes like either.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix-socket connection.
    Unix(UnixStream),
}

// Both inner streams are `Unpin`, so forwarding needs no unsafe pinning.
impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_port_zero_on_both_families_and_writes_the_ready_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut specs = vec![ListenSpec::tcp("a", "127.0.0.1:0".parse().expect("addr"))];
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            specs.push(ListenSpec::tcp("b", "[::1]:0".parse().expect("addr")));
        }
        specs.push(ListenSpec::unix("c", dir.path().join("sock"), 0o700));
        let bound = bind_all(&specs, 16).expect("bind");
        let ready = dir.path().join("ready");
        write_ready_file(&ready, &bound).expect("ready file");
        let text = std::fs::read_to_string(&ready).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), specs.len());
        assert!(lines[0].starts_with("a 127.0.0.1:"));
        assert!(!lines[0].ends_with(":0"));
        assert!(lines.last().expect("line").starts_with("c unix:"));
        // A second bind of the same socket path replaces the stale socket.
        drop(bound);
        bind(&specs[specs.len() - 1], 16).expect("rebind unix");
    }

    #[test]
    fn refuses_to_replace_a_regular_file_with_a_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        std::fs::write(&path, b"keep me").expect("write");
        let err = bind_all(&[ListenSpec::unix("u", &path, 0o700)], 16)
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("binding"));
        assert_eq!(std::fs::read(&path).expect("read"), b"keep me");
    }
}
