//! The `web_server` role: GET and HEAD of files under the docroot (single
//! ranges, If-Modified-Since, index files, directory listings, `??a,b`
//! concatenation), with 1.80's statuses, messages and header order; PUT
//! and DELETE live in [`super::webput`].
//!
//! Confinement: [`crate::proto::webpath`] refuses `..`, encoded slashes and
//! NUL bytes; then files are opened with [`super::beneath`] (the kernel
//! refuses any symlink out of the docroot): `403 Bogus URL`. Files are
//! opened non-blocking (a FIFO cannot stall a thread) and must be regular
//! files. The filesystem work of one request runs in one blocking task;
//! the answer goes out through [`super::respond`], files with
//! `sendfile(2)`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::beneath::{confine, open_beneath, Miss};
use super::conn::ClientConn;
use super::palimg::Alter;
use super::reply::Head;
use super::respond::{keep_for, write_with_files, Body, Replied, Reply, ReplyError};
use super::settings::{Settings, WebConf};
use crate::core::route::{file_status, not_modified, Probe};
use crate::proto::date::http_date;
use crate::proto::http::RequestHead;
use crate::proto::range::{self, ByteRange};
use crate::proto::webpath::{get_target, Target, BOGUS_URL};

/// What the filesystem said about a GET target.
pub(crate) enum Found {
    /// A regular file, open.
    File {
        file: File,
        size: u64,
        mtime: i64,
        /// The name the MIME type comes from (the index file's, for a
        /// directory).
        name: PathBuf,
    },
    /// A directory without an index file; its listing when dirindexing.
    Dir {
        mtime: i64,
        listing: Option<String>,
    },
    Missing,
    Outside,
}

/// Looks at what `uri` names under the docroot, without serving it.
pub(crate) async fn probe(web: &WebConf, uri: &str) -> Probe {
    let Some(root) = web.root.clone() else {
        return Probe::Other;
    };
    let Ok(Target::Path(rel)) = get_target(uri, web.enable_concatenate_get) else {
        return Probe::Other;
    };
    tokio::task::spawn_blocking(move || match open_beneath(&root, &rel) {
        Err(Miss::Missing) => Probe::Missing,
        Err(Miss::Outside) => Probe::Other,
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_file() => Probe::File {
                mtime: m.mtime(),
                size: m.len(),
            },
            _ => Probe::Other,
        },
    })
    .await
    .unwrap_or(Probe::Other)
}

/// Opens a regular file without blocking on FIFOs or devices.
pub(crate) fn open_regular(path: &Path) -> Option<(File, std::fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then_some((file, meta))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

/// 1.80's listing: every entry (`.` and `..` too) sorted, directories bold
/// with a trailing slash.
fn listing(dir: &Path, uri: &str) -> String {
    let mut uri = uri
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_end_matches('/')
        .to_owned();
    uri.push('/');
    let mut names: Vec<(String, bool)> = vec![(".".into(), true), ("..".into(), true)];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten().take(100_000) {
            let is_dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
            names.push((e.file_name().to_string_lossy().into_owned(), is_dir));
        }
    }
    names.sort();
    let mut body = String::from("<html><body>");
    let u = html_escape(&uri);
    for (name, is_dir) in names {
        let n = html_escape(&name);
        if is_dir {
            body.push_str(&format!("<b><a href='{u}{n}/'>{n}</a></b><br />\n"));
        } else {
            body.push_str(&format!("<a href='{u}{n}'>{n}</a><br />\n"));
        }
    }
    body.push_str("</body></html>");
    body
}

/// Blocking: what `rel` names under the docroot.
fn lookup(web: &WebConf, root: &Path, rel: &Path, uri: &str) -> Found {
    let file = match open_beneath(root, rel) {
        Ok(f) => f,
        Err(Miss::Missing) => return Found::Missing,
        Err(Miss::Outside) => return Found::Outside,
    };
    let Ok(meta) = file.metadata() else {
        return Found::Missing;
    };
    if meta.is_file() {
        return Found::File {
            size: meta.len(),
            mtime: meta.mtime(),
            file,
            name: rel.to_owned(),
        };
    }
    if !meta.is_dir() {
        return Found::Missing;
    }
    for idx in &web.index_files {
        let p = rel.join(idx);
        if let Ok(f) = open_beneath(root, &p) {
            if let Some(m) = f.metadata().ok().filter(|m| m.is_file()) {
                return Found::File {
                    size: m.len(),
                    mtime: m.mtime(),
                    file: f,
                    name: p,
                };
            }
        }
    }
    let listing = web
        .dirindexing
        .then(|| {
            let canon = std::fs::canonicalize(root).ok()?;
            let dir = confine(&canon, &canon.join(rel)).ok()?;
            Some(listing(&dir, uri))
        })
        .flatten();
    if web.dirindexing && listing.is_none() {
        return Found::Missing;
    }
    Found::Dir {
        mtime: meta.mtime(),
        listing,
    }
}

/// One GET or HEAD on a web_server; `Ok(keep-alive)`.
pub(crate) async fn get(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    web: &Arc<WebConf>,
    keep: Option<u64>,
) -> Replied {
    get_with(conn, req, s, web, keep, None).await
}

/// [`get`], the file's palette altered on the way when `alter` says so
/// (Palimg: then a Range is not honoured, the whole file is sent).
pub(crate) async fn get_with(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    web: &Arc<WebConf>,
    keep: Option<u64>,
    alter: Option<&Alter>,
) -> Replied {
    let mut reply = Reply::new(conn, req, s, keep);
    let Some(root) = web.root.clone() else {
        return reply.simple(500, "Docroot unconfigured").await;
    };
    let target = match get_target(&req.uri, web.enable_concatenate_get) {
        Ok(t) => t,
        Err(r) => return reply.simple(r.code, r.msg).await,
    };
    let rel = match target {
        Target::Path(rel) => rel,
        Target::Concat { base, files } => {
            return super::webconcat::concat(reply, req, web, &root, base, files).await;
        }
    };
    let w = web.clone();
    let uri = req.uri.clone();
    let found = tokio::task::spawn_blocking(move || lookup(&w, &root, &rel, &uri))
        .await
        .unwrap_or(Found::Missing);
    let (file, size, mtime, name) = match found {
        Found::File {
            file,
            size,
            mtime,
            name,
        } => (file, size, mtime, name),
        Found::Missing => return reply.simple(404, "").await,
        Found::Outside => return reply.simple(BOGUS_URL.code, BOGUS_URL.msg).await,
        Found::Dir { listing: None, .. } => {
            return reply.simple(200, "Directory listing disabled").await;
        }
        Found::Dir {
            mtime,
            listing: Some(body),
        } => {
            let mut h = Head::new(200);
            h.header("Date", http_date(super::now() as i64))
                .server(reply.tokens)
                .header("Last-Modified", http_date(mtime))
                .header("Content-Type", "text/html")
                .header("Content-Length", body.len());
            return reply.send(h, Body::Bytes(body.as_bytes())).await;
        }
    };
    let lastmod = http_date(mtime);
    let not_mod = not_modified(req, &lastmod, Some(size));
    let range = match alter {
        None => range::parse(req.headers.get("Range"), size),
        Some(_) => ByteRange::Full,
    };
    let mut h = Head::new(file_status(not_mod, range));
    if !not_mod && range == ByteRange::Unsatisfiable {
        h.header(
            "Content-Range",
            range.content_range(size).unwrap_or_default(),
        )
        .header("Content-Length", 0);
    }
    h.header("Date", http_date(super::now() as i64))
        .server(reply.tokens)
        .header("Last-Modified", &lastmod)
        .header("Accept-Ranges", "bytes");
    let empty = not_mod || range == ByteRange::Unsatisfiable;
    if !empty {
        let name = name.to_string_lossy();
        h.header("Content-Type", web.mime.for_name(&name));
        if let Some(cr) = range.content_range(size) {
            h.header("Content-Range", cr);
        }
        h.header("Content-Length", range.len(size));
    }
    if reply.head_req || empty {
        return reply.send(h, Body::Empty).await;
    }
    if let Some(alter) = alter {
        return super::palimg::send(reply, s, h, file, size, alter).await;
    }
    let start = match range {
        ByteRange::Partial { start, .. } => start,
        _ => 0,
    };
    if let Some(st) = s.stats() {
        st.file_sent();
    }
    let parts = vec![(file, start, range.len(size))];
    reply.send(h, Body::Files(&[], parts)).await
}

/// Writes `head`, then the file parts, for a caller whose errors carry no
/// cause (X-REPROXY-FILE): [`write_with_files`].
pub(crate) async fn body_after(
    conn: &mut ClientConn,
    head: &[u8],
    parts: &[(File, u64, u64)],
    idle: Duration,
) -> Result<(), ()> {
    write_with_files(conn, head, parts, idle)
        .await
        .map_err(drop)
}

/// Any request on a web_server; `Ok(keep-alive)`.
pub(crate) async fn serve(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    s: &Settings,
) -> Replied {
    let Some(web) = s.web.clone() else {
        return Err(ReplyError::NotWeb);
    };
    match req.method.as_str() {
        "GET" | "HEAD" => get(conn, req, s, &web, keep_for(req, s)).await,
        "PUT" => super::webput::put(conn, buf, req, s, &web).await,
        "DELETE" => super::webput::delete(conn, req, s, &web, keep_for(req, s)).await,
        _ => {
            let keep = keep_for(req, s);
            Reply::new(conn, req, s, keep).simple(400, "").await
        }
    }
}
