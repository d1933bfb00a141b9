//! The Gearman side of the demo: a worker for `danga_demo_md5` that
//! fetches a file from MogileFS and hashes it as it streams by (work kept
//! out of the web request's process, the original's reason for Gearman).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use danga_gearman::client::{Job, WorkError, Worker};
use danga_mogilefs::client::Client;
use md5::{Digest, Md5};
use tokio::io::AsyncWrite;

/// The function name; the job's data is the key.
pub const FUNCTION: &str = "danga_demo_md5";

/// A worker for [`FUNCTION`] on these job servers.
pub fn worker(servers: &[String], files: Client) -> Worker {
    let mut w = Worker::new(servers.iter().cloned());
    w.client_id("danga-demo-app");
    w.register(FUNCTION, move |job| work(files.clone(), job));
    w
}

/// The MD5 (hex) of the file named by the job's data. Failures are
/// exceptions whose text starts with the tracker's code (`unknown_key`).
async fn work(files: Client, job: Job) -> Result<Vec<u8>, WorkError> {
    let key = std::str::from_utf8(job.data())
        .map_err(|_| WorkError::Exception(b"bad_key the key is not UTF-8".to_vec()))?;
    let mut hash = HashWriter(Md5::new());
    match files.fetch(key, &mut hash, None).await {
        Ok(_) => Ok(hex(&hash.0.finalize()).into_bytes()),
        Err(e) => {
            let text = match e.code() {
                Some(_) => e.to_string(),
                None => format!("fetch_failed {e}"),
            };
            Err(WorkError::Exception(text.into_bytes()))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes what is written to it.
struct HashWriter(Md5);

impl AsyncWrite for HashWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.update(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn hashes_what_streams_through() {
        let mut h = HashWriter(Md5::new());
        h.write_all(b"The quick brown fox ").await.expect("write");
        h.write_all(b"jumps over the lazy dog")
            .await
            .expect("write");
        assert_eq!(hex(&h.0.finalize()), "9e107d9d372bb6826bd81d3542a419d6");
    }
}
