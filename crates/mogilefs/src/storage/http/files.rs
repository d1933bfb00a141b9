//! The methods: GET/HEAD, PUT, DELETE; MKCOL is refused 400 (as Perlbal
//! does, so the tracker skips it) and anything else 405.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use danga_common::Stream;
use std::io::{Read as _, Write as _};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::body::{copy_body, parse_content_md5, Framing};
use super::head::{range, Head, Range};
use super::Reply;
use crate::storage::path::{
    blocking, open_beneath, open_cached_beneath, open_regular, resolve_existing, resolve_new,
    sanitize, sanitize_read, Beneath, ResolveError,
};
use crate::storage::{Storage, CHUNK};

/// Runs one request; `Ok(keep_alive)`, or `Err` when the connection must
/// close at once (it can no longer be framed).
pub async fn handle(
    store: &Storage,
    head: &Head,
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> io::Result<bool> {
    let has_body = head.chunked || head.content_length.is_some_and(|n| n > 0);
    let reply = match head.method.as_str() {
        "PUT" => return put(store, head, stream, buf).await,
        "GET" | "HEAD" => return get(store, head, stream, has_body).await,
        "DELETE" => delete(store, head).await,
        "MKCOL" => Reply::new(400),
        _ => Reply::new(405).header("Allow", "GET, HEAD, PUT, DELETE"),
    };
    // A body we did not read would be taken for the next request.
    let reply = if has_body { reply.close() } else { reply };
    reply.answer(stream, head).await
}

/// What one blocking look-up found for a GET or HEAD.
enum Found {
    /// Refused (or missing) with this status.
    Refused(u16),
    /// A directory.
    Dir,
    /// A file: its handle, size, and its bytes when small enough to read
    /// at once.
    File {
        path: PathBuf,
        file: std::fs::File,
        size: u64,
        bytes: Option<Vec<u8>>,
    },
}

/// Files up to this size are read whole in the look-up.
const SMALL: u64 = CHUNK as u64;

/// Resolves, opens and (for a small file, when `read`) reads: blocking.
fn look_up(root: &Path, root_fd: Option<&OwnedFd>, rel: &Path, read: bool) -> io::Result<Found> {
    let beneath = root_fd.map_or(Beneath::Unsure, |fd| open_beneath(fd, rel, false));
    let (path, file) = match beneath {
        Beneath::Opened(fd) => (root.join(rel), std::fs::File::from(fd)),
        Beneath::Missing => return Ok(Found::Refused(404)),
        Beneath::Unsure => {
            let path = match resolve_existing(root, rel) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(Found::Refused(404)),
                Err(e) => return Ok(Found::Refused(e.status())),
            };
            match open_regular(&path) {
                Ok(f) => (path, f),
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => match path.is_dir() {
                    true => return Ok(Found::Dir),
                    false => return Ok(Found::Refused(403)),
                },
                Err(e) => return Ok(Found::Refused(io_status(&e))),
            }
        }
    };
    examine(path, file, read)
}

/// What an opened file is; a small one read whole when `read`.
fn examine(path: PathBuf, mut file: std::fs::File, read: bool) -> io::Result<Found> {
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Ok(Found::Dir);
    }
    if !meta.is_file() {
        return Ok(Found::Refused(403));
    }
    let size = meta.len();
    let mut bytes = None;
    if read && size <= SMALL {
        let mut v = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut file).take(SMALL).read_to_end(&mut v)?;
        // Changed meanwhile: streamed instead, which notices.
        bytes = (v.len() as u64 == size).then_some(v);
    }
    Ok(Found::File {
        path,
        file,
        size,
        bytes,
    })
}

async fn get(
    store: &Storage,
    head: &Head,
    stream: &mut Stream,
    has_body: bool,
) -> io::Result<bool> {
    let refuse = |r: Reply| if has_body { r.close() } else { r };
    let rel = match sanitize_read(&head.target) {
        Ok(rel) => rel,
        Err(e) => return refuse(Reply::new(e.status())).answer(stream, head).await,
    };
    let root = store.root().to_path_buf();
    let root_fd = store.root_fd().cloned();
    let read = head.method == "GET";
    // A HEAD (get_paths' and create_close's checks) of a file whose path
    // the kernel has cached is answered in place: opening and a stat of
    // the open file cannot wait for the disk. Anything else goes to a
    // blocking thread.
    let cached = match (read, root_fd.as_deref()) {
        (false, Some(fd)) => match open_cached_beneath(fd, &rel) {
            Beneath::Opened(fd) => Some(examine(root.join(&rel), std::fs::File::from(fd), false)?),
            Beneath::Missing => Some(Found::Refused(404)),
            Beneath::Unsure => None,
        },
        _ => None,
    };
    let found = match cached {
        Some(f) => f,
        None => blocking(move || look_up(&root, root_fd.as_deref(), &rel, read)).await??,
    };
    let (path, file, size, bytes) = match found {
        Found::Refused(status) => return refuse(Reply::new(status)).answer(stream, head).await,
        // As the original (Perlbal's web server with dirindexing off), and
        // what `mogadm check` expects of a live storage node.
        Found::Dir => {
            let r = Reply::text(200, "text/html", DIR_LISTING_DISABLED);
            return refuse(r).answer(stream, head).await;
        }
        Found::File {
            path,
            file,
            size,
            bytes,
        } => (path, file, size, bytes),
    };
    let (reply, start, len) = match range(head.range.as_deref(), size) {
        Range::Full => (Reply::new(200), 0, size),
        Range::Part { start, end } => (
            Reply::new(206).header("Content-Range", format!("bytes {start}-{end}/{size}")),
            start,
            end - start + 1,
        ),
        Range::Unsatisfiable => {
            let r = Reply::new(416).header("Content-Range", format!("bytes */{size}"));
            return refuse(r).answer(stream, head).await;
        }
    };
    let reply = refuse(
        reply
            .header("Content-Type", content_type(&path))
            .header("Accept-Ranges", "bytes")
            .length(len),
    );
    let keep = reply.keeps(head);
    let mut out = reply.encode(head.minor, keep);
    if read {
        match bytes.as_deref().and_then(|b| {
            let from = usize::try_from(start).ok()?;
            b.get(from..from.checked_add(usize::try_from(len).ok()?)?)
        }) {
            // Small: head and body in one write.
            Some(body) => {
                out.extend_from_slice(body);
                stream.write_all(&out).await?;
            }
            None => {
                stream.write_all(&out).await?;
                let mut file = tokio::fs::File::from_std(file);
                send_file(&mut file, start, len, stream).await?;
            }
        }
    } else {
        stream.write_all(&out).await?;
    }
    Ok(keep)
}

/// The body of a GET of a directory.
const DIR_LISTING_DISABLED: &str = "<h1>200 - OK</h1>\nDirectory listing disabled";

/// Streams `len` bytes of `file` from `start` through one bounded buffer.
async fn send_file(
    file: &mut tokio::fs::File,
    start: u64,
    mut len: u64,
    stream: &mut Stream,
) -> io::Result<()> {
    if start > 0 {
        file.seek(io::SeekFrom::Start(start)).await?;
    }
    let mut chunk = vec![0u8; CHUNK];
    while len > 0 {
        let want = usize::try_from(len).map_or(CHUNK, |l| l.min(CHUNK));
        let n = file.read(&mut chunk[..want]).await?;
        if n == 0 {
            // The file shrank under us: the promised length cannot be kept.
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        stream.write_all(&chunk[..n]).await?;
        len -= n as u64;
    }
    Ok(())
}

fn content_type(path: &Path) -> &'static str {
    if path.file_name().is_some_and(|n| n == "usage") {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::NotFound => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    }
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Bodies up to this size are read into memory and written in one go.
const SMALL_BODY: u64 = CHUNK as u64;

/// Why a PUT's destination could not be prepared.
enum NotPlaced {
    /// Refused with this status.
    Refused(u16),
    /// The folders could not be made.
    Dirs(io::Error),
    /// The temporary file could not be created.
    Temp(io::Error),
}

/// Places a new file for `rel` and creates its temporary file beside it:
/// blocking. Returns (destination, temporary name, open temporary file).
fn place(
    root: &Path,
    root_fd: Option<&OwnedFd>,
    rel: &Path,
) -> Result<(PathBuf, PathBuf, std::fs::File), NotPlaced> {
    // The usual case: the folder exists and lies inside the docroot.
    let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let known = match (root_fd, parent, rel.file_name()) {
        (Some(fd), Some(parent), Some(_)) => {
            matches!(open_beneath(fd, parent, true), Beneath::Opened(_))
        }
        _ => false,
    };
    let dest = if known {
        root.join(rel)
    } else {
        match resolve_new(root, rel) {
            Ok(d) => d,
            Err(ResolveError::Path(e)) => return Err(NotPlaced::Refused(e.status())),
            Err(ResolveError::Io(e)) => return Err(NotPlaced::Dirs(e)),
        }
    };
    if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
        return Err(NotPlaced::Refused(403));
    }
    let temp = temp_path(&dest);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(NotPlaced::Temp)?;
    Ok((dest, temp, file))
}

async fn put(
    store: &Storage,
    head: &Head,
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> io::Result<bool> {
    // Any refusal before the body is read closes the connection.
    let framing = match (head.chunked, head.content_length) {
        (true, _) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => return Reply::new(411).close().answer(stream, head).await,
    };
    let expected = match head.content_md5.as_deref().map(parse_content_md5) {
        None => None,
        Some(Some(d)) => Some(d),
        Some(None) => return Reply::new(400).close().answer(stream, head).await,
    };
    let rel = match sanitize(&head.target) {
        Ok(rel) => rel,
        Err(e) => return Reply::new(e.status()).close().answer(stream, head).await,
    };
    let root = store.root().to_path_buf();
    let root_fd = store.root_fd().cloned();
    // A small body that came with the head (the usual 4 KB upload): placed,
    // written and renamed in one blocking call.
    let continues = head.expect_continue && head.minor >= 1;
    if let Framing::Length(n) = framing {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n as u64 <= SMALL_BODY && buf.len() >= n && !continues {
            let body = buf.split_to(n);
            let digest: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&body).into();
            let good = expected.is_none_or(|want| want == digest);
            let arrived =
                blocking(move || store_arrived(&root, root_fd.as_deref(), &rel, &body, good))
                    .await?;
            return match arrived {
                Arrived::Stored => Reply::new(200).answer(stream, head).await,
                Arrived::Mismatch => {
                    tracing::debug!(target = %head.target, "Content-MD5 mismatch");
                    Reply::new(400).answer(stream, head).await
                }
                Arrived::NotPlaced(NotPlaced::Refused(status)) => {
                    Reply::new(status).close().answer(stream, head).await
                }
                Arrived::NotPlaced(NotPlaced::Dirs(e)) => {
                    tracing::warn!(error = %e, target = %head.target, "cannot create directories");
                    Reply::new(500).close().answer(stream, head).await
                }
                Arrived::NotPlaced(NotPlaced::Temp(e)) | Arrived::WriteFailed(e) => {
                    disk_failed(stream, head, &e).await
                }
                Arrived::RenameFailed(e) => {
                    tracing::warn!(error = %e, target = %head.target, "cannot store file");
                    Reply::new(500).answer(stream, head).await
                }
            };
        }
    }
    let (dest, temp, file) = match blocking(move || place(&root, root_fd.as_deref(), &rel)).await? {
        Ok(placed) => placed,
        Err(NotPlaced::Refused(status)) => {
            return Reply::new(status).close().answer(stream, head).await
        }
        Err(NotPlaced::Dirs(e)) => {
            tracing::warn!(error = %e, target = %head.target, "cannot create directories");
            return Reply::new(500).close().answer(stream, head).await;
        }
        Err(NotPlaced::Temp(e)) => return disk_failed(stream, head, &e).await,
    };
    if continues {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let small = matches!(framing, Framing::Length(n) if n <= SMALL_BODY);
    let received = if small {
        // Read whole, then written and renamed in one blocking call.
        let mut body = Vec::new();
        match copy_body(stream, buf, framing, &mut body).await {
            Ok(digest) => Ok((digest, Some(body))),
            Err(e) => Err(Received::Socket(e)),
        }
    } else {
        match file.try_clone() {
            Ok(f) => receive(stream, buf, framing, f).await.map(|d| (d, None)),
            Err(e) => Err(Received::Disk(e)),
        }
    };
    let (digest, body) = match received {
        Ok(r) => r,
        Err(e) => {
            let _ = blocking(move || std::fs::remove_file(&temp)).await;
            return match e {
                Received::Socket(e) => Err(e),
                Received::Disk(e) => disk_failed(stream, head, &e).await,
            };
        }
    };
    if expected.is_some_and(|want| want != digest) {
        let _ = blocking(move || std::fs::remove_file(&temp)).await;
        tracing::debug!(target = %head.target, "Content-MD5 mismatch");
        return Reply::new(400).answer(stream, head).await;
    }
    // The body (when small) written, then the file put in place; on
    // failure the temporary file goes.
    let finish = move || -> Result<(), (bool, io::Error)> {
        let mut file = file;
        let written = match body {
            Some(body) => file.write_all(&body).map_err(|e| (false, e)),
            None => Ok(()),
        };
        drop(file);
        let done = written.and_then(|()| std::fs::rename(&temp, &dest).map_err(|e| (true, e)));
        if done.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        done
    };
    match blocking(finish).await? {
        Ok(()) => Reply::new(200).answer(stream, head).await,
        Err((true, e)) => {
            tracing::warn!(error = %e, target = %head.target, "cannot store file");
            Reply::new(500).answer(stream, head).await
        }
        Err((false, e)) => disk_failed(stream, head, &e).await,
    }
}

/// A PUT whose file could not be created or written (a full disk): the
/// temporary file is gone already; the client is told 500 and the
/// connection closes (the rest of a body may still be on its way).
async fn disk_failed(stream: &mut Stream, head: &Head, e: &io::Error) -> io::Result<bool> {
    tracing::warn!(error = %e, target = %head.target, "cannot write file");
    Reply::new(500).close().answer(stream, head).await
}

/// Why a streamed body did not reach the disk.
enum Received {
    /// Reading it from the client failed (the connection is lost).
    Socket(io::Error),
    /// Writing it failed (ENOSPC, EIO...).
    Disk(io::Error),
}

/// What became of a body that arrived with its head.
enum Arrived {
    Stored,
    /// Its Content-MD5 did not match: nothing kept.
    Mismatch,
    NotPlaced(NotPlaced),
    WriteFailed(io::Error),
    RenameFailed(io::Error),
}

/// Places, writes and renames a body already received (`good`: its
/// Content-MD5, if any, matched): blocking, in the order of the streamed
/// path, so the replies are the same.
fn store_arrived(
    root: &Path,
    root_fd: Option<&OwnedFd>,
    rel: &Path,
    body: &[u8],
    good: bool,
) -> Arrived {
    let (dest, temp, mut file) = match place(root, root_fd, rel) {
        Ok(p) => p,
        Err(e) => return Arrived::NotPlaced(e),
    };
    let outcome = if !good {
        Arrived::Mismatch
    } else if let Err(e) = file.write_all(body) {
        Arrived::WriteFailed(e)
    } else {
        drop(file);
        match std::fs::rename(&temp, &dest) {
            Ok(()) => return Arrived::Stored,
            Err(e) => Arrived::RenameFailed(e),
        }
    };
    let _ = std::fs::remove_file(&temp);
    outcome
}

/// Writes a large body to the temporary `file`; the digest of what was
/// received.
async fn receive(
    stream: &mut Stream,
    buf: &mut BytesMut,
    framing: Framing,
    file: std::fs::File,
) -> Result<[u8; 16], Received> {
    let mut file = DiskErrors {
        file: tokio::fs::File::from_std(file),
        failed: false,
    };
    let digest = match copy_body(stream, buf, framing, &mut file).await {
        Ok(digest) => digest,
        Err(e) if file.failed => return Err(Received::Disk(e)),
        Err(e) => return Err(Received::Socket(e)),
    };
    file.file.flush().await.map_err(Received::Disk)?;
    Ok(digest)
}

/// A file that remembers whether a write to it failed, so an error out of
/// [`copy_body`] is known to be the disk's rather than the socket's.
struct DiskErrors {
    file: tokio::fs::File,
    failed: bool,
}

impl tokio::io::AsyncWrite for DiskErrors {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.file).poll_write(cx, data);
        self.failed |= matches!(r, std::task::Poll::Ready(Err(_)));
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.file).poll_flush(cx);
        self.failed |= matches!(r, std::task::Poll::Ready(Err(_)));
        r
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.file).poll_shutdown(cx);
        self.failed |= matches!(r, std::task::Poll::Ready(Err(_)));
        r
    }
}

/// A fresh temporary name beside `dest`, in the same directory so the
/// final rename is atomic.
fn temp_path(dest: &Path) -> PathBuf {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let mut name = dest.as_os_str().to_owned();
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = PID.get_or_init(std::process::id);
    name.push(format!(".tmp.{pid}.{seq}"));
    PathBuf::from(name)
}

async fn delete(store: &Storage, head: &Head) -> Reply {
    let rel = match sanitize(&head.target) {
        Ok(rel) => rel,
        Err(e) => return Reply::new(e.status()),
    };
    let root = store.root().to_path_buf();
    match blocking(move || Reply::new(remove(&root, &rel))).await {
        Ok(r) => r,
        Err(_) => Reply::new(500),
    }
}

/// Unlinks the file `rel` names: blocking; the reply's status.
fn remove(root: &Path, rel: &Path) -> u16 {
    let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
        return 400;
    };
    // The folder holding it must resolve inside the docroot; the entry
    // itself is unlinked, never what a symlink points at.
    let dir = if parent.as_os_str().is_empty() {
        Ok(Some(root.to_path_buf()))
    } else {
        resolve_existing(root, parent)
    };
    let target = match dir {
        Ok(Some(d)) => d.join(name),
        Ok(None) => return 404,
        Err(e) => return e.status(),
    };
    match std::fs::symlink_metadata(&target) {
        Err(e) => return io_status(&e),
        Ok(m) if m.is_dir() => return 403,
        Ok(m) if m.file_type().is_symlink() => {
            if let Err(e) = resolve_existing(root, rel) {
                return e.status();
            }
        }
        Ok(_) => {}
    }
    match std::fs::remove_file(&target) {
        Ok(()) => 204,
        Err(e) => io_status(&e),
    }
}
