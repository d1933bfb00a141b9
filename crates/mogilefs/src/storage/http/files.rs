//! The methods: GET/HEAD, PUT, DELETE; MKCOL is refused 400 (as Perlbal
//! does, so the tracker skips it) and anything else 405.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use danga_common::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::body::{copy_body, parse_content_md5, Framing};
use super::head::{range, Head, Range};
use super::Reply;
use crate::storage::path::{resolve_existing, resolve_new, sanitize, sanitize_read, ResolveError};
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

async fn get(
    store: &Storage,
    head: &Head,
    stream: &mut Stream,
    has_body: bool,
) -> io::Result<bool> {
    let path = match sanitize_read(&head.target) {
        Ok(rel) => resolve_existing(store.root(), &rel).await,
        Err(e) => Err(e),
    };
    let refuse = |r: Reply| if has_body { r.close() } else { r };
    let path = match path {
        Ok(Some(p)) => p,
        Ok(None) => return refuse(Reply::new(404)).answer(stream, head).await,
        Err(e) => return refuse(Reply::new(e.status())).answer(stream, head).await,
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return refuse(Reply::new(io_status(&e))).answer(stream, head).await,
    };
    let meta = file.metadata().await?;
    if meta.is_dir() {
        // As the original (Perlbal's web server with dirindexing off), and
        // what `mogadm check` expects of a live storage node.
        let r = Reply::text(200, "text/html", DIR_LISTING_DISABLED);
        return refuse(r).answer(stream, head).await;
    }
    if !meta.is_file() {
        return refuse(Reply::new(403)).answer(stream, head).await;
    }
    let size = meta.len();
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
    stream.write_all(&reply.encode(head.minor, keep)).await?;
    if head.method == "GET" {
        send_file(&mut file, start, len, stream).await?;
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
    let dest = match sanitize(&head.target) {
        Ok(rel) => resolve_new(store.root(), &rel).await,
        Err(e) => Err(e.into()),
    };
    let dest = match dest {
        Ok(d) => d,
        Err(ResolveError::Path(e)) => {
            return Reply::new(e.status()).close().answer(stream, head).await
        }
        Err(ResolveError::Io(e)) => {
            tracing::warn!(error = %e, target = %head.target, "cannot create directories");
            return Reply::new(500).close().answer(stream, head).await;
        }
    };
    if tokio::fs::symlink_metadata(&dest)
        .await
        .is_ok_and(|m| m.is_dir())
    {
        return Reply::new(403).close().answer(stream, head).await;
    }
    if head.expect_continue && head.minor >= 1 {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let temp = temp_path(&dest);
    let received = receive(stream, buf, framing, &temp).await;
    let digest = match received {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
    };
    if expected.is_some_and(|want| want != digest) {
        let _ = tokio::fs::remove_file(&temp).await;
        tracing::debug!(target = %head.target, "Content-MD5 mismatch");
        return Reply::new(400).answer(stream, head).await;
    }
    if let Err(e) = tokio::fs::rename(&temp, &dest).await {
        let _ = tokio::fs::remove_file(&temp).await;
        tracing::warn!(error = %e, target = %head.target, "cannot store file");
        return Reply::new(500).answer(stream, head).await;
    }
    Reply::new(200).answer(stream, head).await
}

/// Writes the body to `temp`; the digest of what was received.
async fn receive(
    stream: &mut Stream,
    buf: &mut BytesMut,
    framing: Framing,
    temp: &Path,
) -> io::Result<[u8; 16]> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await?;
    let digest = copy_body(stream, buf, framing, &mut file).await?;
    file.flush().await?;
    Ok(digest)
}

/// A fresh temporary name beside `dest`, in the same directory so the
/// final rename is atomic.
fn temp_path(dest: &Path) -> PathBuf {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let mut name = dest.as_os_str().to_owned();
    name.push(format!(".tmp.{}.{seq}", std::process::id()));
    PathBuf::from(name)
}

async fn delete(store: &Storage, head: &Head) -> Reply {
    let rel = match sanitize(&head.target) {
        Ok(rel) => rel,
        Err(e) => return Reply::new(e.status()),
    };
    let (Some(name), Some(parent)) = (rel.file_name(), rel.parent()) else {
        return Reply::new(400);
    };
    // The folder holding it must resolve inside the docroot; the entry
    // itself is unlinked, never what a symlink points at.
    let dir = if parent.as_os_str().is_empty() {
        Ok(Some(store.root().to_path_buf()))
    } else {
        resolve_existing(store.root(), parent).await
    };
    let target = match dir {
        Ok(Some(d)) => d.join(name),
        Ok(None) => return Reply::new(404),
        Err(e) => return Reply::new(e.status()),
    };
    match tokio::fs::symlink_metadata(&target).await {
        Err(e) => return Reply::new(io_status(&e)),
        Ok(m) if m.is_dir() => return Reply::new(403),
        Ok(m) if m.file_type().is_symlink() => {
            if let Err(e) = resolve_existing(store.root(), &rel).await {
                return Reply::new(e.status());
            }
        }
        Ok(_) => {}
    }
    match tokio::fs::remove_file(&target).await {
        Ok(()) => Reply::new(204),
        Err(e) => Reply::new(io_status(&e)),
    }
}
