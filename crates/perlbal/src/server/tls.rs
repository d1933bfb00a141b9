//! TLS on client listeners (`enable_ssl` and the `ssl_*` settings, read by
//! [`super::tls_conf`]), with rustls on the `ring` backend.
//!
//! A TLS service's TCP listener does each connection's handshake (within
//! idle_timeout) and then serves it with the ordinary client code, which
//! reads and writes the TLS stream directly ([`super::conn::ClientStream`]):
//! the peer, ACCESS rules, X-Forwarded-For and XFFExtras
//! (`X-Forwarded-Proto: https`) see the TLS client, every idle timeout of
//! a plain client applies, and files are read and encrypted here (no
//! sendfile through TLS). Plain listeners are served exactly as before.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use danga_common::{Conn, Listener, Stream};
use rustls::ServerConfig;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::conn::ClientConn;
use super::dispatch::ServiceRt;
use super::{lock, tls_conf, Shared};
use crate::core::Config;

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

/// Serves service `name` over TLS on `listener`: each connection's
/// handshake on the shared acceptor, then the ordinary client code on the
/// TLS stream itself.
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
    let shared2 = shared.clone();
    Ok(shared.acceptor.clone().spawn(listener, move |conn| {
        let (rt, shared) = (rt.clone(), shared2.clone());
        let acceptor = TlsAcceptor::from(site.current());
        async move {
            if let Some(conn) = handshake(conn, acceptor, idle).await {
                super::pipeline::serve(conn, rt, shared).await;
            }
        }
    }))
}

/// One TLS client's handshake, within idle_timeout.
async fn handshake(conn: Conn, acceptor: TlsAcceptor, idle: Duration) -> Option<ClientConn> {
    let peer = match conn.peer() {
        danga_common::PeerAddr::Tcp(a) => a,
        danga_common::PeerAddr::Unix => return None,
    };
    let id = conn.id();
    let (stream, slot) = conn.into_parts();
    let Stream::Tcp(tcp) = stream else {
        return None;
    };
    match tokio::time::timeout(idle, acceptor.accept(tcp)).await {
        Ok(Ok(t)) => Some(ClientConn::tls(t, (peer.ip(), id), slot, idle)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}
