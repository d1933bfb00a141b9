//! The `upload_tracker` role: a UDP listener for the progress packets that
//! reverse proxies with `upload_status_listeners` send, feeding the table
//! `/__upload_status` answers from ([`crate::core::upload_status`]).

use std::net::SocketAddr;
use std::sync::Arc;

use super::reply::Head;
use super::{lock, now, Shared};
use crate::core::upload_status::status_body;
use crate::proto::http::RequestHead;

/// Binds the tracker `name` on `addr` (UDP) and serves it.
pub(crate) fn bind(shared: &Arc<Shared>, name: &str, addr: SocketAddr) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind(addr)
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .and_then(tokio::net::UdpSocket::from_std)
        .map_err(|e| format!("Can't start service '{name}' on {addr}: {e}"))?;
    if let Ok(real) = sock.local_addr() {
        if let Some(svc) = lock(&shared.config).services.get_mut(name) {
            if addr.port() == 0 {
                svc.values.insert("listen".into(), real.to_string());
            }
        }
    }
    let sh = shared.clone();
    let handle = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let got = sh.shutdown.until_stopped(sock.recv_from(&mut buf)).await;
            match got {
                None => return,
                Some(Ok((n, _))) => lock(&sh.upload_status).packet(&buf[..n], now() as u64),
                Some(Err(e)) => tracing::debug!(error = %e, "upload tracker"),
            }
        }
    });
    if let Some(old) = lock(&shared.listeners).insert(name.to_owned(), handle) {
        old.abort();
    }
    Ok(())
}

/// `/__upload_status?client_up_sess=...` on a service with
/// upload_status_listeners: the session's progress, as 1.80 answers it.
/// `None`: not such a request.
pub(crate) fn status_reply(
    req: &RequestHead,
    shared: &Shared,
    keep: Option<u64>,
) -> Option<Vec<u8>> {
    if !req.uri.starts_with("/__upload_status?") {
        return None;
    }
    let sess = super::upload::session(&req.uri)?;
    let body = status_body(lock(&shared.upload_status).get(sess), now() as u64);
    let mut h = Head::new(200);
    h.header("Content-Type", "text/plain")
        .header("Content-Length", body.len());
    let mut out = h.finish(keep);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}
