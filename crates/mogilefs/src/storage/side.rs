//! The side channel (`--mgmtlisten`): `size URI`, `MD5 URI [reason]` and
//! `SHA-1 URI [reason]` (digests streamed from disk), `watch` (iostat-style
//! utilisation per device, a batch ending in `.` every second), and the
//! embedded Perlbal console's `version`/`uptime` and `shutdown`.
//!
//! A [`LineSession`] rather than `danga_common::serve_lines`: digests read
//! files and `watch` streams, so replies are async.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use danga_common::lines::LineSession;
use danga_common::{Conn, Stream};
use md5::{Digest, Md5};
use sha1::Sha1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::path::{blocking, resolve_existing, sanitize};
use super::{devices, unix_now, usage, Storage, CHUNK};

/// The longest command line.
const MAX_LINE: usize = 8192;
/// Seconds between `watch` batches.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Serves one side-channel connection.
pub async fn serve(mut conn: Conn, store: Arc<Storage>) {
    let shutdown = conn.shutdown().clone();
    let mut lines = LineSession::new(conn.stream(), MAX_LINE).stop_on(shutdown.clone());
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing side channel");
                return;
            }
        };
        let line = String::from_utf8_lossy(&line).trim().to_string();
        match command(&line) {
            Command::Quit => break,
            Command::Shutdown => {
                // The console's `shutdown [graceful]`: mogstored stops
                // (connections get the usual drain) and this one closes.
                tracing::info!("side channel asked for shutdown");
                shutdown.trigger();
                break;
            }
            Command::Watch => {
                if lines.flush().await.is_ok() {
                    let _ = shutdown.until_stopped(watch(lines.stream(), &store)).await;
                }
                return;
            }
            other => {
                let reply = answer(other, &line, &store).await;
                lines.send(reply.as_bytes());
            }
        }
    }
    // Replies to the lines before `quit` still go out.
    let _ = lines.flush().await;
}

/// A side-channel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Nothing to do.
    Empty,
    /// `quit`.
    Quit,
    /// `size URI`.
    Size(String),
    /// `MD5 URI` / `SHA-1 URI` (the reason word is ignored).
    Digest(Alg, String),
    /// `watch`.
    Watch,
    /// `shutdown`, `shutdown graceful [N]` (the Perlbal console's).
    Shutdown,
    /// `version` / `uptime`.
    Version,
    /// Anything else.
    Unknown,
}

/// A digest the side channel computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// `MD5`.
    Md5,
    /// `SHA-1`.
    Sha1,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Md5 => "MD5",
            Alg::Sha1 => "SHA-1",
        }
    }
}

/// Parses one line (pure).
pub fn command(line: &str) -> Command {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return Command::Empty;
    };
    let arg = words.next().map(str::to_string);
    let extra = words.next();
    let extra_ok = words.next().is_none();
    match (cmd.to_ascii_lowercase().as_str(), arg) {
        ("quit", None) => Command::Quit,
        ("watch", None) => Command::Watch,
        ("shutdown", None) => Command::Shutdown,
        ("shutdown", Some(g)) if g.eq_ignore_ascii_case("graceful") && extra_ok => {
            Command::Shutdown
        }
        ("version" | "uptime", None) => Command::Version,
        ("size", Some(uri)) if extra.is_none() => Command::Size(uri),
        ("md5", Some(uri)) if extra_ok => Command::Digest(Alg::Md5, uri),
        ("sha-1", Some(uri)) if extra_ok => Command::Digest(Alg::Sha1, uri),
        _ => Command::Unknown,
    }
}

async fn answer(cmd: Command, line: &str, store: &Storage) -> String {
    match cmd {
        Command::Empty | Command::Quit | Command::Watch | Command::Shutdown => String::new(),
        Command::Version => {
            let now = unix_now();
            format!(
                "starttime {}\r\nuptime {}\r\nversion 1.80\r\n.\r\n",
                store.started(),
                now.saturating_sub(store.started())
            )
        }
        Command::Size(uri) => match file_of(store, &uri).await {
            Err(msg) => msg,
            Ok(None) => format!("{uri} -1\r\n"),
            Ok(Some(path)) => match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => format!("{uri} {}\r\n", m.len()),
                _ => format!("{uri} -1\r\n"),
            },
        },
        Command::Digest(alg, uri) => match file_of(store, &uri).await {
            Err(msg) => msg,
            Ok(None) => format!("{uri} {}=-1\r\n", alg.name()),
            Ok(Some(path)) => match hash_file(&path, alg).await {
                Ok(hex) => format!("{uri} {}={hex}\r\n", alg.name()),
                Err(e) => {
                    tracing::debug!(%uri, error = %e, "digest failed");
                    format!("{uri} {}=-1\r\n", alg.name())
                }
            },
        },
        Command::Unknown => format!("ERROR: unknown command: {line}\r\n"),
    }
}

/// The file a URI names, `None` if missing, `Err(reply)` if refused.
async fn file_of(store: &Storage, uri: &str) -> Result<Option<std::path::PathBuf>, String> {
    let invalid = || format!("ERROR: uri invalid: {uri}\r\n");
    let rel = sanitize(uri).map_err(|_| invalid())?;
    let root = store.root().to_path_buf();
    blocking(move || resolve_existing(&root, &rel))
        .await
        .map_err(|_| invalid())?
        .map_err(|_| invalid())
}

/// Lower-case hex digest of a file, read in bounded chunks.
pub async fn hash_file(path: &Path, alg: Alg) -> io::Result<String> {
    let path = path.to_path_buf();
    let file = blocking(move || super::path::open_regular(&path)).await??;
    let mut file = tokio::fs::File::from_std(file);
    let mut chunk = vec![0u8; CHUNK];
    let (mut md5, mut sha1) = (Md5::new(), Sha1::new());
    loop {
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        match alg {
            Alg::Md5 => md5.update(&chunk[..n]),
            Alg::Sha1 => sha1.update(&chunk[..n]),
        }
    }
    let bytes = match alg {
        Alg::Md5 => md5.finalize().to_vec(),
        Alg::Sha1 => sha1.finalize().to_vec(),
    };
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Streams `devid\tutil` lines and a `.` line every second until the peer
/// leaves. Utilisation is the busy share of the device's block device in
/// `/proc/diskstats` (0.00 when unknown, e.g. on tmpfs).
async fn watch(stream: &mut Stream, store: &Storage) {
    let mounts = tokio::fs::read_to_string("/proc/mounts")
        .await
        .unwrap_or_default();
    let root = store.root().to_path_buf();
    let devs = tokio::task::spawn_blocking(move || block_devices(&root, &mounts))
        .await
        .unwrap_or_default();
    let mut before = (Instant::now(), busy_ticks().await);
    let mut sink = [0u8; 256];
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            r = stream.read(&mut sink) => if !matches!(r, Ok(n) if n > 0) { return },
        }
        let now = (Instant::now(), busy_ticks().await);
        let elapsed_ms = now.0.duration_since(before.0).as_millis().max(1) as f64;
        let mut out = String::new();
        for (id, block) in &devs {
            let util = block
                .as_ref()
                .and_then(|b| Some(now.1.get(b)?.saturating_sub(*before.1.get(b)?)))
                .map_or(0.0, |ms| (ms as f64 * 100.0 / elapsed_ms).min(100.0));
            out.push_str(&format!("{id}\t{util:.2}\n"));
        }
        out.push_str(".\n");
        if stream.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        before = now;
    }
}

/// Each `devN` folder's id and the block device under it (`sda1`), if any.
fn block_devices(root: &Path, mounts: &str) -> Vec<(u32, Option<String>)> {
    devices(root)
        .into_iter()
        .map(|(id, dir)| {
            let real = std::fs::canonicalize(&dir).unwrap_or(dir);
            let block = usage::mount_source(mounts, &real)
                .and_then(|s| s.strip_prefix("/dev/").map(str::to_string));
            (id, block)
        })
        .collect()
}

/// Milliseconds each block device has been busy (`/proc/diskstats` field
/// 13), by name.
async fn busy_ticks() -> HashMap<String, u64> {
    let text = tokio::fs::read_to_string("/proc/diskstats")
        .await
        .unwrap_or_default();
    parse_diskstats(&text)
}

/// Parses `/proc/diskstats` into name → io_ticks (pure).
pub fn parse_diskstats(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.get(2)?.to_string(), f.get(12)?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(command(""), Command::Empty);
        assert_eq!(
            command("size /dev1/x.fid"),
            Command::Size("/dev1/x.fid".into())
        );
        assert_eq!(
            command("MD5 /dev1/x.fid fsck"),
            Command::Digest(Alg::Md5, "/dev1/x.fid".into())
        );
        assert_eq!(
            command("SHA-1 /dev1/x.fid"),
            Command::Digest(Alg::Sha1, "/dev1/x.fid".into())
        );
        assert_eq!(command("shutdown"), Command::Shutdown);
        assert_eq!(command("shutdown graceful 5"), Command::Shutdown);
        assert_eq!(command("shutdown now"), Command::Unknown);
        assert_eq!(command("size"), Command::Unknown);
        assert_eq!(command("size a b"), Command::Unknown);
        assert_eq!(command("watch"), Command::Watch);
        assert_eq!(command("VERSION"), Command::Version);
        assert_eq!(command("frobnicate"), Command::Unknown);
    }

    #[test]
    fn diskstats() {
        let text = "   8       0 sda 1 2 3 4 5 6 7 8 0 1234 99\n 7 0 loop0 1\n";
        let m = parse_diskstats(text);
        assert_eq!(m.get("sda"), Some(&1234));
        assert_eq!(m.len(), 1);
    }

    #[tokio::test]
    async fn digests_stream_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").expect("write");
        assert_eq!(
            hash_file(&p, Alg::Md5).await.expect("md5"),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert_eq!(
            hash_file(&p, Alg::Sha1).await.expect("sha1"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
    }
}
