//! Sending a palette-altered file (the Palimg plugin): the file's first
//! bytes are read and rewritten ([`crate::proto::palimg`]), then the head,
//! the new start and the rest of the file with sendfile. A file the
//! palette cannot be applied to gets 1.80's 404 instead of the head.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::reply::Head;
use super::respond::{Body, Replied, Reply};
use super::settings::Settings;
use crate::proto::palimg::{modify, Palette, READ};

/// A palette change for a file being served: its extension and palette.
pub(crate) type Alter = (String, Palette);

/// Sends `file` (`size` bytes) after `head` with its palette altered;
/// `Ok(keep-alive)`.
pub(crate) async fn send(
    mut reply: Reply<'_>,
    s: &Settings,
    head: Head,
    file: File,
    size: u64,
    alter: &Alter,
) -> Replied {
    let n = usize::try_from(size).unwrap_or(READ).min(READ);
    let (file, start) = tokio::task::spawn_blocking(move || {
        let mut start = vec![0; n];
        let read = file.read_exact_at(&mut start, 0).map(|()| start);
        (file, read)
    })
    .await?;
    let new = match start {
        Ok(start) if !start.is_empty() => modify(&start, &alter.0, &alter.1),
        // 1.80: an empty or unreadable file is a 500.
        _ => return reply.simple(500, "").await,
    };
    let Some(new) = new else {
        return reply.simple(404, "").await;
    };
    let done = new.len() as u64;
    if let Some(st) = s.stats() {
        st.file_sent();
    }
    reply
        .send(head, Body::Files(&new, vec![(file, done, size - done)]))
        .await
}
