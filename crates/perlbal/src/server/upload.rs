//! Buffered uploads (`buffer_uploads`), 1.80's design: the first
//! `buffer_backend_connect` bytes of a body are held in memory; a body
//! that ends there goes to a backend from memory. Otherwise the
//! thresholds decide: a declared length of at least
//! `buffer_upload_threshold_size` spools to disk at once; else, once the
//! memory part is in, a rate under `buffer_upload_threshold_rate` bytes/s
//! or an estimated remaining time over `buffer_upload_threshold_time`
//! seconds spools it; a fast client streams straight to a backend as
//! usual. A spooled body is written to a file in `buffer_uploads_path`
//! and a backend is asked for only once its last byte is in; the file is
//! then sent with `sendfile(2)` and removed when the request ends, however
//! it ends (completion, client abort, backend failure).
//!
//! Chunked request bodies are de-chunked here (capped by
//! `max_chunked_request_size`) and reach the backend with a
//! Content-Length: from memory when the whole body came with the head,
//! else spooled from the first byte as 1.80 does (which spooled all).
//!
//! `upload_status_listeners`: a request whose URI carries
//! `client_up_sess=<5-50 word characters>` makes perlbal send UDP packets
//! `UPLOAD:<sess>:<done>:<total>:<start>:<now>` (at most one a second) to
//! each listener while its body comes in, as 1.80 does.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::body::BodyReader;
use super::conn::ClientConn;
use super::settings::{Settings, UploadConf};
use crate::proto::http::RequestHead;

/// A spool file, removed when dropped.
pub(crate) struct SpoolFile {
    pub file: std::fs::File,
    pub len: u64,
    /// Why the body went to disk: 1.80's `size`, `rate`, `time` or
    /// `chunked`.
    pub reason: &'static str,
    path: PathBuf,
    /// Its name is gone already (the open file still holds the body).
    unlinked: std::sync::atomic::AtomicBool,
}

impl SpoolFile {
    /// Removes the file's name once its body has gone to the backend: the
    /// open descriptor still holds the bytes (for a retry), and nothing is
    /// left in `buffer_uploads_path` by the time the client has its answer.
    pub(crate) fn unlink(&self) {
        use std::sync::atomic::Ordering;
        if !self.unlinked.swap(true, Ordering::Relaxed) {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "removing a spool file");
            }
        }
    }
}

/// Whether the backend is told why a body was buffered
/// (`X-PERLBAL-BUFFERED-UPLOAD-REASON`, 1.80's `PERLBAL_DEBUG_BUFFERED_UPLOADS`
/// environment switch, read once).
pub(crate) fn debug_reason() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("PERLBAL_DEBUG_BUFFERED_UPLOADS")
            .is_some_and(|v| !v.is_empty() && v != "0")
    })
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// Where a request body is when a backend is asked for.
pub(crate) enum Body {
    /// In the client buffer and on the socket: relayed as it comes.
    Stream,
    /// De-chunked, in memory.
    Memory(Vec<u8>),
    /// Complete, on disk.
    Spool(SpoolFile),
}

impl Body {
    /// The Content-Length the backend gets for a de-chunked body.
    pub fn dechunked_len(&self) -> Option<u64> {
        match self {
            Body::Stream => None,
            Body::Memory(v) => Some(v.len() as u64),
            Body::Spool(f) => Some(f.len),
        }
    }
}

/// The UDP socket progress packets leave from.
pub(crate) fn udp() -> Option<&'static UdpSocket> {
    static SOCK: OnceLock<Option<UdpSocket>> = OnceLock::new();
    SOCK.get_or_init(|| {
        let s = UdpSocket::bind("0.0.0.0:0").ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    })
    .as_ref()
}

/// Upload progress reporting for one request.
pub(crate) struct Progress {
    sess: String,
    total: u64,
    start: u64,
    last: u64,
    to: Arc<Vec<SocketAddr>>,
}

/// `[?&]client_up_sess=(\w{5,50})\b`
pub(crate) fn session(uri: &str) -> Option<&str> {
    let mut rest = uri;
    while let Some(i) = rest.find("client_up_sess=") {
        let before = rest[..i].chars().last();
        let tail = &rest[i + "client_up_sess=".len()..];
        let n = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if matches!(before, Some('?' | '&')) && (5..=50).contains(&n) {
            return Some(&tail[..n]);
        }
        rest = tail;
    }
    None
}

impl Progress {
    /// Reporting for `req`, when the service has listeners and the URI a
    /// session (and the body a declared length, as 1.80 needs); its
    /// start is now (the clock is read only then).
    pub fn new(s: &Settings, req: &RequestHead) -> Option<Progress> {
        if s.upload_listeners.is_empty() || req.content_length == 0 {
            return None;
        }
        Some(Progress {
            sess: session(&req.uri)?.to_owned(),
            total: req.content_length,
            start: super::now() as u64,
            last: 0,
            to: Arc::new(s.upload_listeners.clone()),
        })
    }

    /// `done` bytes of the body are in.
    pub fn tick(&mut self, done: u64) {
        let now = super::now() as u64;
        if done >= self.total || now == self.last {
            return;
        }
        self.last = now;
        let Some(sock) = udp() else { return };
        let msg = format!(
            "UPLOAD:{}:{done}:{}:{}:{now}",
            self.sess, self.total, self.start
        );
        for ep in self.to.iter() {
            let _ = sock.send_to(msg.as_bytes(), ep);
        }
    }
}

/// 1.80's `decide_to_buffer_to_disk`, once the memory part (`got` bytes,
/// read in `secs`) is in and `left` bytes are still to come: spool when
/// the rate is under `buffer_upload_threshold_rate` or the estimated time
/// for the rest over `buffer_upload_threshold_time` (0 turns a test off).
/// The reason, `time` before `rate` when both hold (1.80's order).
fn spool_after_memory(up: &UploadConf, got: u64, left: u64, secs: f64) -> Option<&'static str> {
    let rate = got as f64 / secs.max(0.001);
    let slow = up.threshold_rate > 0 && rate < up.threshold_rate as f64;
    let long = up.threshold_time > 0 && left as f64 / rate.max(1.0) > up.threshold_time as f64;
    if long {
        Some("time")
    } else if slow {
        Some("rate")
    } else {
        None
    }
}

/// Why a body could not be buffered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadError {
    /// The client left, went quiet or sent a bad body: no answer.
    Client,
    /// The spool file could not be made or written: the client gets a 500.
    Spool(String),
    /// The spool file broke where 1.80 answers nothing: the connection
    /// closes.
    Io(String),
}

async fn read_some(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    idle: Duration,
) -> Result<(), UploadError> {
    buf.reserve(64 * 1024);
    match tokio::time::timeout(idle, conn.stream().read_buf(buf)).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        _ => Err(UploadError::Client),
    }
}

/// Reads the body as buffer_uploads says (module docs).
pub(crate) async fn buffer(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    s: &Settings,
    up: &UploadConf,
    progress: &mut Option<Progress>,
) -> Result<Body, UploadError> {
    let bbc = s.buffer_backend_connect as u64;
    let started = Instant::now();
    let mut reader = BodyReader::new(req, s.max_chunked_request_size);
    let mut mem = Vec::new();
    let by_size = !req.chunked && up.threshold_size > 0 && req.content_length >= up.threshold_size;
    let mut reason = if req.chunked { "chunked" } else { "size" };
    if !by_size {
        if req.chunked {
            // Only what came with the head: a body complete there goes
            // from memory, any other is spooled from its first byte.
            reader
                .take(buf, &mut mem)
                .map_err(|_| UploadError::Client)?;
            if reader.done() {
                return Ok(Body::Memory(mem));
            }
        } else {
            let cl = req.content_length;
            let want = usize::try_from(cl.min(bbc)).unwrap_or(usize::MAX);
            while buf.len() < want {
                read_some(conn, buf, s.idle_timeout).await?;
                if let Some(p) = progress.as_mut() {
                    p.tick(buf.len() as u64);
                }
            }
            if cl <= bbc {
                return Ok(Body::Stream);
            }
            let got = buf.len().min(want) as u64;
            match spool_after_memory(up, got, cl - got, started.elapsed().as_secs_f64()) {
                Some(why) => reason = why,
                None => return Ok(Body::Stream),
            }
        }
    }
    let Some(mut spool) = create_spool(up, conn.id(), reason).await else {
        let cause = "cannot create a spool file in buffer_uploads_path";
        return Err(UploadError::Spool(cause.into()));
    };
    let file = spool
        .file
        .try_clone()
        .map_err(|e| UploadError::Io(format!("sharing a spool file: {e}")))?;
    let mut out = tokio::fs::File::from_std(file);
    let mut done = 0u64;
    loop {
        if !req.chunked {
            reader
                .take(buf, &mut mem)
                .map_err(|_| UploadError::Client)?;
        }
        if !mem.is_empty() {
            if let Err(e) = out.write_all(&mem).await {
                return Err(UploadError::Spool(format!("writing a spool file: {e}")));
            }
            done += mem.len() as u64;
            mem.clear();
        }
        if let Some(p) = progress.as_mut() {
            p.tick(done);
        }
        if reader.done() {
            break;
        }
        reader
            .read(conn, buf, &mut mem, s.idle_timeout)
            .await
            .map_err(|_| UploadError::Client)?;
    }
    out.flush()
        .await
        .map_err(|e| UploadError::Io(format!("flushing a spool file: {e}")))?;
    spool.len = done;
    Ok(Body::Spool(spool))
}

async fn create_spool(up: &UploadConf, id: u64, reason: &'static str) -> Option<SpoolFile> {
    let path = up.path.join(format!(
        "{}-client-{id}-{}",
        up.prefix.replace('/', "_"),
        fastrand::u32(..)
    ));
    let p = path.clone();
    let file = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
    })
    .await
    .ok()?;
    match file {
        Ok(file) => Some(SpoolFile {
            file,
            len: 0,
            reason,
            path,
            unlinked: std::sync::atomic::AtomicBool::new(false),
        }),
        Err(e) => {
            tracing::error!(service = %up.service, path = %path.display(), error = %e, "cannot create a spool file");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{session, spool_after_memory, UploadConf};

    #[test]
    fn thresholds_as_1_80_weighs_them() {
        let up = |rate, time| UploadConf {
            threshold_rate: rate,
            threshold_time: time,
            ..UploadConf::default()
        };
        // 100 KiB in a second, 1 MiB to go: ~10 s left.
        let (got, left) = (100 * 1024, 1024 * 1024);
        let cases = [
            (up(0, 5), 1.0, Some("time"), "over 5 s"),
            (up(0, 20), 1.0, None, "under 20 s"),
            (up(200_000, 0), 1.0, Some("rate"), "slower than 200 kB/s"),
            (up(50_000, 0), 1.0, None, "faster than 50 kB/s"),
            (up(200_000, 5), 1.0, Some("time"), "both: time wins"),
            (up(0, 0), 100.0, None, "both tests off"),
            (up(0, 5), 0.0, None, "instant: fast"),
        ];
        for (conf, secs, want, what) in cases {
            assert_eq!(spool_after_memory(&conf, got, left, secs), want, "{what}");
        }
    }

    #[test]
    fn upload_sessions_as_1_80_finds_them() {
        assert_eq!(session("/up?client_up_sess=abc12"), Some("abc12"));
        assert_eq!(session("/up?x=1&client_up_sess=a_b_c_d&y"), Some("a_b_c_d"));
        assert_eq!(session("/up?client_up_sess=abcd"), None);
        assert_eq!(session("/up?xclient_up_sess=abcde"), None);
        assert_eq!(
            session(&format!("/?client_up_sess={}", "a".repeat(51))),
            None
        );
    }
}
