//! `GET /base/??a.css,b.css` (`enable_concatenate_get`): the files one
//! after another in one response, 1.80's way: the base must be a
//! directory, every file a regular file under it (opened below the
//! docroot with [`super::beneath`]), the type is the first known extension's, the date
//! the newest file's, If-Modified-Since answered with a 304.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::beneath::open_beneath;
use super::reply::Head;
use super::respond::{Body, Replied, Reply};
use super::settings::WebConf;
use crate::core::route::not_modified;
use crate::proto::date::http_date;
use crate::proto::http::RequestHead;

enum Found {
    Files(Vec<(File, u64)>, String, i64),
    /// (code, message)
    Refused(u16, &'static str),
}

/// Blocking: the files, their type and newest mtime.
fn lookup(web: &WebConf, root: &Path, base: &Path, files: &[PathBuf]) -> Found {
    let is_dir = open_beneath(root, base)
        .ok()
        .and_then(|d| d.metadata().ok())
        .is_some_and(|m| m.is_dir());
    if !is_dir {
        return Found::Refused(404, "Base directory not a directory");
    }
    let mut out = Vec::with_capacity(files.len());
    let mut mime = None;
    let mut newest = 0;
    for f in files {
        let opened = open_beneath(root, &base.join(f))
            .ok()
            .and_then(|file| Some((file.metadata().ok().filter(|m| m.is_file())?, file)));
        let Some((meta, file)) = opened else {
            return Found::Refused(404, "One or more file does not exist");
        };
        if mime.is_none() {
            mime = web.mime.known(&f.to_string_lossy()).map(str::to_owned);
        }
        newest = newest.max(meta.mtime());
        out.push((file, meta.len()));
    }
    Found::Files(out, mime.unwrap_or_else(|| "text/plain".into()), newest)
}

/// The concatenation of `files` under `base`; `Ok(keep-alive)`.
pub(crate) async fn concat(
    mut reply: Reply<'_>,
    req: &RequestHead,
    web: &Arc<WebConf>,
    root: &Path,
    base: PathBuf,
    files: Vec<PathBuf>,
) -> Replied {
    let (w, r) = (web.clone(), root.to_owned());
    let found = tokio::task::spawn_blocking(move || lookup(&w, &r, &base, &files))
        .await
        .unwrap_or(Found::Refused(500, ""));
    let (files, mime, newest) = match found {
        Found::Files(f, m, n) => (f, m, n),
        Found::Refused(code, msg) => return reply.simple(code, msg).await,
    };
    let lastmod = http_date(newest);
    let not_mod = not_modified(req, &lastmod, None);
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    let mut h = Head::new(if not_mod { 304 } else { 200 });
    if !not_mod {
        h.header("Content-Length", total);
    }
    h.header("Date", http_date(super::now() as i64))
        .server(reply.tokens)
        .header("Last-Modified", &lastmod)
        .header("Content-Type", &mime);
    if not_mod {
        return reply.send(h, Body::Empty).await;
    }
    let parts: Vec<(File, u64, u64)> = files.into_iter().map(|(f, n)| (f, 0, n)).collect();
    reply.send(h, Body::Files(&[], parts)).await
}
