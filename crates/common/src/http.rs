//! The small HTTP/1.1 server of the operator endpoints (`/metrics`, the
//! `danga up` dashboard): hyper with the limits every such endpoint needs,
//! written once.
//!
//! * at most [`Limits::max_connections`] connections at once; the next one
//!   waits in the listen backlog until a slot frees (never a busy loop);
//! * a request head must arrive within [`Limits::head_timeout`] (a client
//!   that connects and says nothing cannot hold a slot);
//! * a connection lives at most [`Limits::conn_timeout`] in all, keep-alive
//!   included (a client that stops reading cannot hold one either);
//! * shutdown closes every connection.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::listen::Listener;
use crate::shutdown::Shutdown;

/// The bounds of one HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time from the connection (or the previous response) to a whole
    /// request head.
    pub head_timeout: Duration,
    /// Time a connection may live in all.
    pub conn_timeout: Duration,
}

impl Default for Limits {
    /// 16 connections, 10 s for a head, 30 s per connection: plenty for a
    /// scraper or a browser tab polling every few seconds.
    fn default() -> Self {
        Limits {
            max_connections: 16,
            head_timeout: Duration::from_secs(10),
            conn_timeout: Duration::from_secs(30),
        }
    }
}

/// The response type of every endpoint here: a whole body in memory.
pub type Reply = Response<Full<Bytes>>;

/// Serves `handler` on `listener` until shutdown, within `limits`. The
/// accept loop runs as a task of `shutdown`.
pub fn serve<H, Fut>(listener: Listener, shutdown: Shutdown, limits: Limits, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let handler = Arc::new(handler);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        loop {
            let Some(Ok(permit)) = stop.until_stopped(slots.clone().acquire_owned()).await else {
                return;
            };
            let accepted = match stop.until_stopped(listener.accept()).await {
                None => return,
                Some(a) => a,
            };
            let (stream, _) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, listener = listener.name(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let stop = stop.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let svc = hyper::service::service_fn(move |req| {
                    let reply = handler(req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.head_timeout)
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = tokio::time::timeout(limits.conn_timeout, conn) => {}
                    _ = stop.triggered() => {}
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::{bind, ListenSpec};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn listener() -> Listener {
        let spec = ListenSpec::tcp("test", "127.0.0.1:0".parse().expect("addr"));
        bind(&spec, 16)
            .expect("bind")
            .into_tokio()
            .expect("tokio listener")
    }

    fn addr(l: &Listener) -> std::net::SocketAddr {
        match l.local_addr() {
            crate::LocalAddr::Tcp(a) => *a,
            other => panic!("{other}"),
        }
    }

    async fn get(a: std::net::SocketAddr) -> String {
        let mut s = TcpStream::connect(a).await.expect("connect");
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn ok(_: Request<Incoming>) -> Reply {
        Response::new(Full::new(Bytes::from_static(b"hello")))
    }

    #[tokio::test]
    async fn answers_and_stops_on_shutdown() {
        let l = listener();
        let a = addr(&l);
        let stop = Shutdown::new();
        serve(l, stop.clone(), Limits::default(), ok);
        let r = get(a).await;
        assert!(r.starts_with("HTTP/1.0 200") && r.ends_with("hello"), "{r}");
        // An idle keep-alive connection is closed by shutdown.
        let mut idle = TcpStream::connect(a).await.expect("connect");
        stop.trigger();
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut b))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_loses_its_slot_to_the_head_timeout() {
        let l = listener();
        let a = addr(&l);
        let limits = Limits {
            max_connections: 2,
            head_timeout: Duration::from_secs(3),
            conn_timeout: Duration::from_secs(60),
        };
        serve(l, Shutdown::new(), limits, ok);
        // Two silent clients take both slots...
        let mut silent = Vec::new();
        for _ in 0..2 {
            silent.push(TcpStream::connect(a).await.expect("connect"));
        }
        // ...so a third waits; it is served once the head timeout frees
        // one, not before.
        let t0 = tokio::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(30), get(a))
            .await
            .expect("served after the head timeout");
        assert!(r.starts_with("HTTP/1.0 200"), "{r}");
        assert!(t0.elapsed() >= Duration::from_secs(3), "{:?}", t0.elapsed());
        for mut s in silent {
            let mut b = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut b))
                .await
                .expect("closed");
            // hyper answers a head timeout with nothing or a 408.
            assert!(
                matches!(n, Ok(0) | Err(_)) || b.starts_with(b"HTTP/1.1 408"),
                "{n:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_ends_at_its_time_limit() {
        let l = listener();
        let a = addr(&l);
        let limits = Limits {
            max_connections: 1,
            head_timeout: Duration::from_secs(60),
            conn_timeout: Duration::from_secs(5),
        };
        serve(l, Shutdown::new(), limits, ok);
        // A keep-alive client that sends half a head and then nothing.
        let mut s = TcpStream::connect(a).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let t0 = tokio::time::Instant::now();
        let mut b = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut b))
            .await
            .expect("closed");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        assert!(t0.elapsed() >= Duration::from_secs(5));
    }
}
