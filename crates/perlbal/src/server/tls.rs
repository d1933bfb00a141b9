//! TLS on client listeners (`enable_ssl` and the `ssl_*` settings, read by
//! [`super::tls_conf`]), with rustls on the `ring` backend.
//!
//! How it fits without touching the plain path: a TLS service's TCP
//! listener runs a small terminator per connection (handshake, then bytes
//! copied both ways) that hands the plaintext to the ordinary client code
//! over a unix socket of its own (in a private 0700 directory). That
//! connection starts with a fixed [`PREAMBLE`]-byte line naming the real
//! peer, which [`peer`] reads, so X-Forwarded-For, ACCESS rules and
//! XFFExtras (`X-Forwarded-Proto: https`) see the TLS client. Files go
//! out with sendfile to the unix socket and are encrypted by the
//! terminator. Plain listeners are served exactly as before.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use danga_common::{Acceptor, AtLimit, Conn, ConnStats, ListenSpec, Listener, Registry, Stream};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::dispatch::ServiceRt;
use super::{lock, tls_conf, Shared};
use crate::core::Config;

/// Length of the line naming the peer at the start of a bridged connection.
pub(crate) const PREAMBLE: usize = 64;

/// One TLS listener's rustls configuration, swapped whole by a reload;
/// each new connection takes the one current when it arrives.
pub(crate) struct Site {
    config: RwLock<Arc<ServerConfig>>,
}

impl Site {
    fn current(&self) -> Arc<ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Checks that TLS service `name` can load what its settings name.
pub(crate) fn check(cfg: &Config, name: &str) -> Result<(), String> {
    tls_conf::server_config(Weak::new(), &cfg.services, name).map(|_| ())
}

/// Reads the certificates, keys and CA files of every running TLS service
/// (or only of `only`) again, with their settings as they are now (`SSL
/// RELOAD`, SIGHUP). A service whose files fail to load keeps what it
/// had; the errors are returned, one per such service.
pub(crate) fn reload(shared: &Arc<Shared>, only: Option<&str>) -> Result<usize, Vec<String>> {
    let sites: Vec<(String, Arc<Site>)> = lock(&shared.tls_sites)
        .iter()
        .filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect();
    if let Some(o) = only {
        if sites.is_empty() {
            return Err(vec![format!("service '{o}' is not a running SSL service")]);
        }
    }
    let mut errors = Vec::new();
    for (name, site) in &sites {
        let built = {
            let cfg = lock(&shared.config);
            tls_conf::server_config(Arc::downgrade(shared), &cfg.services, name)
        };
        match built {
            Ok(c) => *site.config.write().unwrap_or_else(PoisonError::into_inner) = c,
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(sites.len())
    } else {
        Err(errors)
    }
}

/// SIGHUP reloads every TLS service's files (the log file is reopened by
/// the launcher's own handler).
pub(crate) fn reload_on_sighup(shared: &Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGHUP: no TLS reload on it");
            return;
        }
    };
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(shared) = weak.upgrade() else { return };
            match reload(&shared, None) {
                Ok(n) => tracing::info!(services = n, "SIGHUP: SSL certificates reloaded"),
                Err(errs) => {
                    for e in errs {
                        tracing::error!(
                            "SIGHUP: SSL reload failed, previous certificates kept: {e}"
                        );
                    }
                }
            }
        }
    });
}

/// Aborts a task when dropped; removes the bridge's directory.
struct Owned {
    tasks: Vec<JoinHandle<()>>,
    dir: PathBuf,
}

impl Drop for Owned {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves service `name` over TLS on `listener`: the terminators on the
/// shared acceptor, the plaintext side on a unix listener of its own.
pub(crate) fn serve(
    shared: &Arc<Shared>,
    name: &str,
    listener: Listener,
    rt: Arc<ServiceRt>,
) -> Result<JoinHandle<()>, String> {
    let (config, idle) = {
        let cfg = lock(&shared.config);
        let svc = cfg
            .services
            .get(name)
            .ok_or_else(|| format!("service '{name}' does not exist"))?;
        (
            tls_conf::server_config(Arc::downgrade(shared), &cfg.services, name)?,
            Duration::from_secs(svc.num("idle_timeout").max(1)),
        )
    };
    let site = Arc::new(Site {
        config: RwLock::new(config),
    });
    lock(&shared.tls_sites).insert(name.to_owned(), site.clone());
    sweep_stale(&std::env::temp_dir());
    let dir = std::env::temp_dir().join(format!(
        "perlbal-tls-{}-{name}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join("plain.sock");
    let inner = danga_common::listen::bind(&ListenSpec::unix(name, &path, 0o600), 1024)
        .and_then(|b| b.into_tokio())
        .map_err(|e| format!("binding {}: {e}", path.display()))?;
    // Bridged connections already hold a place under the daemon's limit,
    // and are already counted (so a private registry here).
    let plain = Acceptor::new(
        usize::MAX,
        AtLimit::Wait,
        ConnStats::register(&Registry::new()),
        shared.shutdown.clone(),
    );
    let shared2 = shared.clone();
    let inner_task = plain.spawn(inner, move |conn| {
        super::client::serve(conn, rt.clone(), shared2.clone())
    });
    let outer_task = shared.acceptor.clone().spawn(listener, move |conn| {
        terminate(conn, TlsAcceptor::from(site.current()), path.clone(), idle)
    });
    let owned = Owned {
        tasks: vec![inner_task, outer_task],
        dir,
    };
    // One handle for the listener table: aborting it ends both loops.
    Ok(tokio::spawn(async move {
        let _owned = owned;
        std::future::pending::<()>().await;
    }))
}

/// Removes bridge directories left by perlbal processes that are gone
/// (killed without a chance to clean up).
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("perlbal-tls-"))
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// One TLS client: handshake (within idle_timeout), then its bytes to and
/// from the plaintext side, until perlbal closes it.
async fn terminate(conn: Conn, acceptor: TlsAcceptor, path: PathBuf, idle: Duration) {
    let peer = match conn.peer() {
        danga_common::PeerAddr::Tcp(a) => a,
        danga_common::PeerAddr::Unix => return,
    };
    let (stream, _slot) = conn.into_parts();
    let Stream::Tcp(tcp) = stream else { return };
    let tls = match tokio::time::timeout(idle, acceptor.accept(tcp)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let Ok(mut plain) = UnixStream::connect(&path).await else {
        return;
    };
    if plain.write_all(&preamble(peer)).await.is_err() {
        return;
    }
    let (mut tr, mut tw) = tokio::io::split(tls);
    let (mut pr, mut pw) = plain.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut tr, &mut pw).await;
        // The client is done sending: perlbal sees the end of its input.
        let _ = pw.shutdown().await;
        std::future::pending::<()>().await
    };
    let down = async {
        let _ = tokio::io::copy(&mut pr, &mut tw).await;
        let _ = tw.shutdown().await;
    };
    tokio::select! {
        () = down => {}
        () = up => {}
    }
}

/// The first bytes of a bridged connection: `ip port`, padded.
fn preamble(peer: SocketAddr) -> [u8; PREAMBLE] {
    let mut out = [b' '; PREAMBLE];
    let text = format!("{} {}", peer.ip(), peer.port());
    let n = text.len().min(PREAMBLE - 1);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out[PREAMBLE - 1] = b'\n';
    out
}

/// The TLS client's address, read from the start of a bridged connection.
pub(crate) async fn peer(conn: &mut Conn) -> Option<IpAddr> {
    let mut line = [0u8; PREAMBLE];
    conn.stream().read_exact(&mut line).await.ok()?;
    let text = std::str::from_utf8(&line).ok()?;
    text.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_names_the_peer() {
        let p = preamble("192.0.2.7:4431".parse().expect("addr"));
        assert_eq!(p.len(), PREAMBLE);
        assert!(p.starts_with(b"192.0.2.7 4431 "));
        assert_eq!(p[PREAMBLE - 1], b'\n');
    }
}
