//! Sending a palette-altered file (the Palimg plugin): the file's first
//! bytes are read and rewritten ([`crate::proto::palimg`]), then the head,
//! the new start and the rest of the file with sendfile. A file the
//! palette cannot be applied to gets 1.80's 404 instead of the head.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::conn::ClientConn;
use super::plugins::Alter;
use super::reply::simple;
use super::settings::Settings;
use crate::proto::http::RequestHead;
use crate::proto::palimg::{modify, READ};

/// Sends `file` (`size` bytes) after `head` with its palette altered;
/// `Ok(keep-alive)`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    head: Vec<u8>,
    file: File,
    size: u64,
    alter: &Alter,
    keep: Option<u64>,
) -> Result<bool, ()> {
    let n = usize::try_from(size).unwrap_or(READ).min(READ);
    let (file, start) = tokio::task::spawn_blocking(move || {
        let mut start = vec![0; n];
        let read = file.read_exact_at(&mut start, 0).map(|()| start);
        (file, read)
    })
    .await
    .map_err(|_| ())?;
    let refuse = |code| simple(code, "", req.method == "HEAD", keep, s.server_tokens);
    let new = match start {
        Ok(start) if !start.is_empty() => modify(&start, &alter.0, &alter.1),
        // 1.80: an empty or unreadable file is a 500.
        _ => return super::web::send(conn, &refuse(500), keep).await,
    };
    let Some(new) = new else {
        return super::web::send(conn, &refuse(404), keep).await;
    };
    let done = new.len() as u64;
    let mut out = head;
    out.extend_from_slice(&new);
    super::plugins::file_sent(s);
    super::web::body_after(conn, &out, &[(file, done, size - done)], s.idle_timeout).await?;
    Ok(keep.is_some())
}
