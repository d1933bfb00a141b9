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
//! the bytes go out with `sendfile(2)` ([`super::sendfile`]).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::conn::{ClientConn, ClientStream};
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::beneath::{confine, open_beneath, Miss};
use super::reply::{simple, Head};
use super::sendfile::{send_file, Sock};
use super::settings::{Settings, WebConf};
use crate::proto::date::http_date;
use crate::proto::http::RequestHead;
use crate::proto::range::{self, ByteRange};
use crate::proto::webpath::{get_target, Refusal, Target, BOGUS_URL};

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

/// What LazyCDN sees of a GET target before it is served.
pub(crate) enum Probe {
    /// Nothing there.
    Missing,
    /// A regular file.
    File { mtime: i64, size: u64 },
    /// Anything else (a directory, a bad or concatenated URL).
    Other,
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

/// If-Modified-Since as 1.80 checks it: the exact Last-Modified text, and
/// IE's `; length=N` suffix (if given) equal to the size.
pub(crate) fn not_modified(req: &RequestHead, lastmod: &str, size: Option<u64>) -> bool {
    let Some(ims) = req.headers.get_str("If-Modified-Since") else {
        return false;
    };
    let (date, len) = match ims.split_once("; length=") {
        Some((d, l)) => (d, l.parse::<u64>().ok()),
        None => (ims, None),
    };
    date == lastmod && (len.is_none() || len == size)
}

/// One GET or HEAD on a web_server; `Ok(keep-alive)`.
pub(crate) async fn get(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    web: &Arc<WebConf>,
    keep: Option<u64>,
) -> Result<bool, ()> {
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
    alter: Option<&super::plugins::Alter>,
) -> Result<bool, ()> {
    let head_req = req.method == "HEAD";
    let tokens = s.server_tokens;
    let refuse = |r: Refusal| simple(r.code, r.msg, head_req, keep, tokens);
    let Some(root) = web.root.clone() else {
        return send(
            conn,
            &simple(500, "Docroot unconfigured", head_req, keep, tokens),
            keep,
        )
        .await;
    };
    let target = match get_target(&req.uri, web.enable_concatenate_get) {
        Ok(t) => t,
        Err(r) => return send(conn, &refuse(r), keep).await,
    };
    let rel = match target {
        Target::Path(rel) => rel,
        Target::Concat { base, files } => {
            return super::webconcat::concat(conn, req, s, web, &root, base, files, keep).await;
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
        Found::Missing => return send(conn, &refuse(Refusal { code: 404, msg: "" }), keep).await,
        Found::Outside => return send(conn, &refuse(BOGUS_URL), keep).await,
        Found::Dir { listing: None, .. } => {
            let out = simple(200, "Directory listing disabled", head_req, keep, tokens);
            return send(conn, &out, keep).await;
        }
        Found::Dir {
            mtime,
            listing: Some(body),
        } => {
            let mut h = Head::new(200);
            h.header("Date", http_date(super::now() as i64))
                .server(tokens)
                .header("Last-Modified", http_date(mtime))
                .header("Content-Type", "text/html")
                .header("Content-Length", body.len());
            let mut out = h.finish(keep);
            if !head_req {
                out.extend_from_slice(body.as_bytes());
            }
            return send(conn, &out, keep).await;
        }
    };
    let lastmod = http_date(mtime);
    let not_mod = not_modified(req, &lastmod, Some(size));
    let range = match alter {
        None => range::parse(req.headers.get("Range"), size),
        Some(_) => ByteRange::Full,
    };
    let mut h = Head::new(if not_mod {
        304
    } else {
        match range {
            ByteRange::Full => 200,
            ByteRange::Partial { .. } => 206,
            ByteRange::Unsatisfiable => 416,
        }
    });
    if !not_mod && range == ByteRange::Unsatisfiable {
        h.header(
            "Content-Range",
            range.content_range(size).unwrap_or_default(),
        )
        .header("Content-Length", 0);
    }
    h.header("Date", http_date(super::now() as i64))
        .server(tokens)
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
    let out = h.finish(keep);
    if head_req || empty {
        return send(conn, &out, keep).await;
    }
    if let Some(alter) = alter {
        return super::palimg::send(conn, req, s, out, file, size, alter, keep).await;
    }
    let start = match range {
        ByteRange::Partial { start, .. } => start,
        _ => 0,
    };
    super::plugins::file_sent(s);
    body_after(
        conn,
        &out,
        &[(file, start, range.len(size))],
        s.idle_timeout,
    )
    .await?;
    Ok(keep.is_some())
}

/// Writes a complete response; `Ok(keep-alive)`.
pub(crate) async fn send(conn: &mut ClientConn, out: &[u8], keep: Option<u64>) -> Result<bool, ()> {
    conn.stream().write_all(out).await.map_err(|_| ())?;
    Ok(keep.is_some())
}

/// Writes `head`, then the file parts, corked so the head and the first
/// bytes of the body share packets; a client that takes nothing for `idle`
/// is dropped.
pub(crate) async fn body_after(
    conn: &mut ClientConn,
    head: &[u8],
    parts: &[(File, u64, u64)],
    idle: Duration,
) -> Result<(), ()> {
    let cork = |st: &ClientStream, on: bool| {
        if let Some(t) = st.tcp() {
            let _ = socket2::SockRef::from(t).set_tcp_cork(on);
        }
    };
    cork(conn.stream(), true);
    let result = async {
        tokio::time::timeout(idle, conn.stream().write_all(head))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        for (file, start, len) in parts {
            match conn.stream().plain() {
                Some(plain) => send_file(Sock::from(plain), file, *start, *len, idle).await?,
                // Through TLS: read and encrypted here.
                None => copy_file(conn.stream(), file, *start, *len, idle).await?,
            }
        }
        std::io::Result::Ok(())
    }
    .await;
    cork(conn.stream(), false);
    result.map_err(|e| tracing::debug!(error = %e, "sending a file"))
}

/// Sends `len` bytes of `file` from `start` by reading them (a TLS
/// client: no sendfile), a window at a time on the blocking pool; a
/// client that takes nothing for `idle` is dropped.
async fn copy_file(
    out: &mut ClientStream,
    file: &File,
    start: u64,
    len: u64,
    idle: Duration,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::sync::Arc::new(file.try_clone()?);
    let (mut off, end) = (start, start.saturating_add(len));
    while off < end {
        let want = usize::try_from((end - off).min(COPY_WINDOW)).unwrap_or(0);
        let f = file.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            let mut b = vec![0u8; want];
            let n = f.read_at(&mut b, off)?;
            b.truncate(n);
            std::io::Result::Ok(b)
        })
        .await
        .map_err(std::io::Error::other)??;
        if chunk.is_empty() {
            // Shorter than its Content-Length said: the connection closes.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        super::conn::write_idle(out, &chunk, idle).await?;
        off += chunk.len() as u64;
    }
    Ok(())
}

/// Bytes read per step when a file goes out through TLS.
const COPY_WINDOW: u64 = 64 * 1024;

/// The bytes of a request this role does not read (a GET's body): keep-alive
/// only without one.
pub(crate) fn keep_for(req: &RequestHead, s: &Settings) -> Option<u64> {
    (s.persist_client && req.wants_keep_alive() && !req.has_body())
        .then_some(s.persist_idle_timeout.as_secs())
}

/// Any request on a web_server; `Ok(keep-alive)`.
pub(crate) async fn serve(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    s: &Settings,
) -> Result<bool, ()> {
    let Some(web) = s.web.clone() else {
        return Err(());
    };
    match req.method.as_str() {
        "GET" | "HEAD" => get(conn, req, s, &web, keep_for(req, s)).await,
        "PUT" => super::webput::put(conn, buf, req, s, &web).await,
        "DELETE" => super::webput::delete(conn, req, s, &web, keep_for(req, s)).await,
        _ => {
            let keep = keep_for(req, s);
            send(conn, &simple(400, "", false, keep, s.server_tokens), keep).await
        }
    }
}
