//! The HTTP port until the file store lands: it reads one request head
//! (bounded) and answers 404, since this build stores no files.

use danga_common::Conn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest request head read before giving up on a peer.
const MAX_HEAD: usize = 16 * 1024;

pub async fn serve(mut conn: Conn) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let shutdown = conn.shutdown().clone();
        let n = match shutdown.until_stopped(conn.stream().read(&mut buf)).await {
            Some(Ok(n)) if n > 0 => n,
            _ => return,
        };
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            let _ = conn
                .stream()
                .write_all(
                    b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
    }
    let reply = b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot Found\n";
    let _ = conn.stream().write_all(reply).await;
    let _ = conn.stream().shutdown().await;
}
