//! The tracker's side of mogstored's side channel (`mogstored_stream_port`,
//! 7501): `MD5 URI` / `SHA-1 URI` to checksum a file where it lies, and
//! `watch`, the stream of per-device utilisation lines the monitor reads.
//!
//! The original uses one port for every host; hosts may share one IP here,
//! so a host's port may be set by the server setting
//! `mogstored_stream_port_<hostid>` (see [`STREAM_PORT_PREFIX`]).

use std::collections::HashMap;
use std::time::Duration;

use danga_common::lines::{LineError, LineSession};
use tokio::net::TcpStream;

use super::http::Alg;

/// Server-setting prefix of a host's side-channel port (`…_<hostid>`).
pub const STREAM_PORT_PREFIX: &str = "mogstored_stream_port_";

/// The longest line read from the side channel.
const MAX_LINE: usize = 8192;

/// A batch comes every second; silence for this long means a dead node.
const WATCH_SILENCE: Duration = Duration::from_secs(10);

/// Why the side channel gave no digest.
#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("timed out")]
    Timeout,
    #[error("unexpected reply {0:?}")]
    BadReply(String),
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Line(LineError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<LineError> for SideError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Idle(_) => SideError::Timeout,
            e => SideError::Line(e),
        }
    }
}

/// Asks `addr` for the digest of `uri` (`/devN/...`); `Ok(None)` when the
/// node says the file is missing (`=-1`).
pub async fn digest(
    addr: &str,
    alg: Alg,
    uri: &str,
    timeout: Duration,
) -> Result<Option<Vec<u8>>, SideError> {
    let ask = async {
        let s = TcpStream::connect(addr).await?;
        let mut lines = LineSession::new(s, MAX_LINE);
        lines.send(format!("{} {uri}\r\n", alg.name()).as_bytes());
        let line = lines.next_line().await?.ok_or(SideError::Closed)?;
        let line = String::from_utf8_lossy(&line);
        parse_digest(&line, alg, uri)
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| SideError::Timeout)?
}

/// Parses `URI MD5=<hex>` (or `=-1`).
fn parse_digest(line: &str, alg: Alg, uri: &str) -> Result<Option<Vec<u8>>, SideError> {
    let bad = || SideError::BadReply(line.trim().chars().take(200).collect());
    let rest = line.trim().strip_prefix(uri).ok_or_else(bad)?;
    let value = rest
        .trim()
        .strip_prefix(alg.name())
        .and_then(|r| r.strip_prefix('='))
        .ok_or_else(bad)?;
    if value == "-1" {
        return Ok(None);
    }
    let bytes = unhex(value).ok_or_else(bad)?;
    if bytes.len() != alg.digest_len() {
        return Err(bad());
    }
    Ok(Some(bytes))
}

/// Lower-case or upper-case hex to bytes.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes to lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses one `watch` line, `devid<TAB>util` (`.` ends a batch: `None`).
pub fn parse_watch(line: &str) -> Option<(i64, String)> {
    let mut f = line.split_whitespace();
    let devid = f.next()?.parse().ok()?;
    let util = f.next()?;
    util.parse::<f64>().ok()?;
    Some((devid, util.to_owned()))
}

/// Streams `watch` batches from `addr` until the connection fails or
/// `connect_timeout` passes without a connection; each complete batch is
/// handed to `batch`.
pub async fn watch(
    addr: &str,
    connect_timeout: Duration,
    mut batch: impl FnMut(HashMap<i64, String>),
) -> Result<(), SideError> {
    let s = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| SideError::Timeout)??;
    let mut lines = LineSession::new(s, MAX_LINE).idle_timeout(Some(WATCH_SILENCE));
    lines.send(b"watch\r\n");
    let mut cur = HashMap::new();
    while let Some(line) = lines.next_line().await? {
        let line = String::from_utf8_lossy(&line);
        if line.trim() == "." {
            batch(std::mem::take(&mut cur));
        } else if let Some((devid, util)) = parse_watch(&line) {
            if cur.len() < 10_000 {
                cur.insert(devid, util);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse() {
        let uri = "/dev1/0/000/000/0000000001.fid";
        let line = format!("{uri} MD5=5d41402abc4b2a76b9719d911017c592\r\n");
        assert_eq!(
            parse_digest(&line, Alg::Md5, uri)
                .expect("ok")
                .map(|b| hex(&b)),
            Some("5d41402abc4b2a76b9719d911017c592".into())
        );
        assert_eq!(
            parse_digest(&format!("{uri} MD5=-1\r\n"), Alg::Md5, uri).expect("ok"),
            None
        );
        assert!(parse_digest("ERROR: uri invalid\r\n", Alg::Md5, uri).is_err());
        assert!(parse_digest(&format!("{uri} MD5=abcd\r\n"), Alg::Md5, uri).is_err());
        assert!(parse_digest(&format!("{uri} SHA-1=ab\r\n"), Alg::Md5, uri).is_err());
    }

    #[test]
    fn watch_lines() {
        assert_eq!(parse_watch("3\t12.50\n"), Some((3, "12.50".into())));
        assert_eq!(parse_watch(".\n"), None);
        assert_eq!(parse_watch("x 1"), None);
        assert_eq!(parse_watch("3 nope"), None);
        assert_eq!(unhex("0aFf"), Some(vec![10, 255]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
