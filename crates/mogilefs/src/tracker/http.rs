//! The little HTTP the tracker speaks to storage nodes: `HEAD` to check an
//! upload's size, `DELETE` to remove a replica (HTTP/1.0, one request per
//! connection, as the original's tracker does).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a storage node could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not an http://host:port/path URL")]
    BadUrl,
    #[error("timed out")]
    Timeout,
    #[error("bad reply")]
    BadReply,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A storage node's answer: status and `Content-Length`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub length: Option<u64>,
}

/// Splits `http://host:port/path` into `host:port` and `/path`.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let slash = rest.find('/')?;
    let (hostport, path) = rest.split_at(slash);
    (!hostport.is_empty()).then_some((hostport, path))
}

/// Sends `METHOD url` with no body and reads the reply head.
pub async fn request(method: &str, url: &str, timeout: Duration) -> Result<Answer, HttpError> {
    let (hostport, path) = split_url(url).ok_or(HttpError::BadUrl)?;
    let exchange = async {
        let mut s = TcpStream::connect(hostport).await?;
        let head =
            format!("{method} {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
        s.write_all(head.as_bytes()).await?;
        let mut buf = Vec::with_capacity(512);
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(_)) = resp.parse(&buf) {
                let status = resp.code.ok_or(HttpError::BadReply)?;
                let length = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .and_then(|v| v.trim().parse().ok());
                return Ok(Answer { status, length });
            }
            if buf.len() > 16 * 1024 {
                return Err(HttpError::BadReply);
            }
            if s.read_buf(&mut buf).await? == 0 {
                return Err(HttpError::BadReply);
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:7500/dev1/0/000/000/0000000001.fid"),
            Some(("127.0.0.1:7500", "/dev1/0/000/000/0000000001.fid"))
        );
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(split_url("ftp://h/x"), None);
        assert_eq!(split_url("http://h"), None);
    }
}
