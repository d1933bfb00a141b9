//! PUT and DELETE on a web_server (`enable_put`, `enable_delete`), with
//! 1.80's checks and answers: names of plain segments only, `max_put_size`,
//! `min_put_directory` levels that must already exist, missing directories
//! created, `Content-MD5` verified when `enable_md5` (201 on a match, 400
//! naming both digests otherwise), 200 without one; DELETE answers 204 or
//! 404.
//!
//! As 1.80: without `Content-MD5` the body is written in place, the file
//! created (or truncated) when the request head has been checked, so it
//! exists while the body arrives (Perlbal's own `22-chunked-put.t` looks
//! for it); with `Content-MD5` it goes to a temporary file renamed into
//! place once the digest matches, so a mismatch leaves the old file. Beyond
//! 1.80: the final name is opened without following a symlink, and
//! directories are checked, symlinks followed, to stay under the docroot.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use bytes::BytesMut;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use super::body::{BodyError, BodyReader};
use super::conn::ClientConn;
use super::respond::{Replied, Reply, ReplyError};
use super::settings::{Settings, WebConf};
use crate::proto::http::RequestHead;
use crate::proto::webpath::{delete_target, put_target, Refusal, BOGUS_URL};

/// A temporary file removed on drop unless kept.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Blocking: the directory a PUT writes into, created if need be, checked
/// to stay under the docroot (symlinks followed).
fn put_dir(docroot: &Path, dirs: &[String], min: usize) -> Result<PathBuf, Refusal> {
    let root = &std::fs::canonicalize(docroot).map_err(|_| Refusal {
        code: 500,
        msg: "Docroot unconfigured",
    })?;
    if dirs.len() < min {
        return Err(Refusal {
            code: 400,
            msg: "Does not meet minimum directory requirement",
        });
    }
    let inside = |p: &Path| std::fs::canonicalize(p).is_ok_and(|r| r.starts_with(root));
    if min > 0 {
        let base: PathBuf = root.join(dirs[..min].iter().collect::<PathBuf>());
        if !base.is_dir() || !inside(&base) {
            return Err(Refusal {
                code: 404,
                msg: "Base directory does not exist",
            });
        }
    }
    let dir = root.join(dirs.iter().collect::<PathBuf>());
    // The deepest existing ancestor must be inside before anything is made
    // below it, and the result again after.
    let mut existing = dir.clone();
    while std::fs::symlink_metadata(&existing).is_err() {
        if !existing.pop() {
            return Err(BOGUS_URL);
        }
    }
    if !inside(&existing) {
        return Err(BOGUS_URL);
    }
    std::fs::create_dir_all(&dir).map_err(|_| Refusal {
        code: 500,
        msg: "Unable to create directory",
    })?;
    match std::fs::canonicalize(&dir) {
        Ok(real) if real.starts_with(root) && real.is_dir() => Ok(real),
        _ => Err(BOGUS_URL),
    }
}

/// A PUT; `Ok(keep-alive)`.
pub(crate) async fn put(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    s: &Settings,
    web: &Arc<WebConf>,
) -> Replied {
    let keep =
        (s.persist_client && req.wants_keep_alive()).then_some(s.persist_idle_timeout.as_secs());
    // Refused before the body is read: the connection cannot be reused.
    let unread = if req.has_body() { None } else { keep };
    let mut reply = Reply::new(conn, req, s, unread);
    if !web.enable_put {
        return reply.simple(403, "").await;
    }
    let want_md5 = web.enable_md5 && req.headers.get("Content-MD5").is_some();
    if !req.chunked && web.max_put_size > 0 && req.content_length > web.max_put_size {
        let msg = format!("Content-length of {} is invalid.", req.content_length);
        return reply.simple(400, &msg).await;
    }
    let (dirs, name) = match put_target(&req.uri) {
        Ok(t) => t,
        Err(r) => return reply.simple(r.code, r.msg).await,
    };
    let Some(root) = web.root.clone() else {
        return reply.simple(500, "Docroot unconfigured").await;
    };
    let min = web.min_put_directory;
    let dir = tokio::task::spawn_blocking(move || put_dir(&root, &dirs, min))
        .await
        .unwrap_or(Err(BOGUS_URL));
    let dir = match dir {
        Ok(d) => d,
        Err(r) => return reply.simple(r.code, r.msg).await,
    };
    let final_path = dir.join(&name);
    // In place without a digest to check (as 1.80); else a temporary file.
    let tmp_path = if want_md5 {
        dir.join(format!(
            "{name}.{}.{}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ))
    } else {
        final_path.clone()
    };
    let mut open = tokio::fs::OpenOptions::new();
    open.write(true);
    if want_md5 {
        open.create_new(true);
    } else {
        // A symlink planted under the docroot must not be written through.
        open.create(true)
            .truncate(true)
            .custom_flags(nix::libc::O_NOFOLLOW);
    }
    let mut file = match open.open(&tmp_path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %tmp_path.display(), error = %e, "PUT: cannot create file");
            return reply.simple(500, "Internal error").await;
        }
    };
    // Only the temporary file is removed if the PUT fails; a file written
    // in place stays as far as it got, as in 1.80.
    let mut tmp = TempFile(want_md5.then(|| tmp_path.clone()));
    if req.expects_continue() && req.has_body() {
        conn.stream()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    let mut reader = BodyReader::new(req, s.max_chunked_request_size);
    let mut md5 = want_md5.then(Md5::new);
    let mut chunk = Vec::with_capacity(64 * 1024);
    let mut written = 0u64;
    while !reader.done() {
        match reader.read(conn, buf, &mut chunk, s.idle_timeout).await {
            Ok(()) => {}
            Err(BodyError::Bad) => {
                // The rest of the body is unread: the connection closes.
                Reply::new(conn, req, s, unread)
                    .simple(400, "Bad chunked body")
                    .await?;
                return Err(ReplyError::Body(BodyError::Bad));
            }
            Err(e) => return Err(ReplyError::Body(e)),
        }
        written += chunk.len() as u64;
        if req.chunked && web.max_put_size > 0 && written > web.max_put_size {
            return Err(ReplyError::TooLarge);
        }
        if chunk.len() >= 64 * 1024 || reader.done() {
            if let Some(m) = md5.as_mut() {
                m.update(&chunk);
            }
            file.write_all(&chunk).await?;
            chunk.clear();
        }
    }
    let mut reply = Reply::new(conn, req, s, keep);
    if file.flush().await.is_err() {
        return reply.simple(500, "Error saving file").await;
    }
    drop(file);
    let code = match md5 {
        Some(m) => {
            let actual = base64::engine::general_purpose::STANDARD_NO_PAD.encode(m.finalize());
            let expect = req
                .headers
                .get_str("Content-MD5")
                .unwrap_or("")
                .trim_end()
                .trim_end_matches('=');
            if actual != expect {
                drop(tmp);
                let msg = format!("Content-MD5 mismatch, expected: {expect} actual: {actual}");
                return reply.simple(400, &msg).await;
            }
            201
        }
        None => 200,
    };
    if want_md5 && tokio::fs::rename(&tmp_path, &final_path).await.is_err() {
        return reply.simple(500, "Error renaming file").await;
    }
    tmp.0 = None;
    reply.simple(code, "").await
}

/// Blocking: unlinks `rel` under the docroot; the status and message.
fn unlink(docroot: &Path, rel: &Path) -> (u16, String) {
    let Ok(root) = std::fs::canonicalize(docroot) else {
        return (500, "Docroot unconfigured".into());
    };
    let root = root.as_path();
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return (400, "Invalid filename".into());
    };
    let dir = match std::fs::canonicalize(root.join(parent)) {
        Ok(d) if d.starts_with(root) => d,
        Ok(_) => return (403, BOGUS_URL.msg.into()),
        Err(_) => return (404, String::new()),
    };
    match std::fs::remove_file(dir.join(name)) {
        Ok(()) => (204, String::new()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (404, String::new()),
        Err(e) => (
            400,
            e.raw_os_error()
                .map(|n| nix::errno::Errno::from_raw(n).desc().to_owned())
                .unwrap_or_else(|| e.to_string()),
        ),
    }
}

/// A DELETE; `Ok(keep-alive)`.
pub(crate) async fn delete(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    web: &Arc<WebConf>,
    keep: Option<u64>,
) -> Replied {
    let mut reply = Reply::new(conn, req, s, keep);
    if !web.enable_delete {
        return reply.simple(403, "").await;
    }
    let rel = match delete_target(&req.uri) {
        Ok(r) => r,
        Err(r) => return reply.simple(r.code, r.msg).await,
    };
    let Some(root) = web.root.clone() else {
        return reply.simple(500, "Docroot unconfigured").await;
    };
    let (code, msg) = tokio::task::spawn_blocking(move || unlink(&root, &rel))
        .await
        .unwrap_or((500, String::new()));
    reply.simple(code, &msg).await
}
