//! TLS on client listeners (`enable_ssl`, `ssl_key_file`, `ssl_cert_file`,
//! `ssl_cipher_list`), with rustls on the `ring` backend.
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
use std::sync::Arc;
use std::time::Duration;

use danga_common::{Acceptor, AtLimit, Conn, ConnStats, ListenSpec, Listener, Registry, Stream};
use rustls::crypto::ring::{cipher_suite as cs, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::{ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::dispatch::ServiceRt;
use super::{lock, Shared};
use crate::core::ServiceConf;

/// Length of the line naming the peer at the start of a bridged connection.
pub(crate) const PREAMBLE: usize = 64;

/// The TLS 1.2 suites rustls has, with their OpenSSL names
/// (`ssl_cipher_list` is an OpenSSL cipher string).
const TLS12: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The suites an OpenSSL cipher string allows: the TLS 1.2 suites it
/// names (or, when it names none, such as 1.80's `ALL:!LOW:!EXP`, all of
/// them) minus those it excludes with `!` or `-`; the TLS 1.3 suites are
/// always on (OpenSSL's cipher string does not govern them either).
pub(crate) fn suites(list: &str) -> Vec<SupportedCipherSuite> {
    let tokens: Vec<&str> = list
        .split([':', ',', ' '])
        .filter(|t| !t.is_empty())
        .collect();
    let named = |t: &str| TLS12.iter().find(|(n, _)| n.eq_ignore_ascii_case(t));
    let excluded: Vec<&str> = tokens
        .iter()
        .filter_map(|t| t.strip_prefix('!').or_else(|| t.strip_prefix('-')))
        .collect();
    let chosen: Vec<&(&str, SupportedCipherSuite)> = tokens
        .iter()
        .filter_map(|t| named(t.trim_start_matches('+')))
        .collect();
    let tls12: Vec<&(&str, SupportedCipherSuite)> = if chosen.is_empty() {
        TLS12.iter().collect()
    } else {
        chosen
    };
    let mut out = vec![
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    for (name, suite) in tls12 {
        let off = excluded.iter().any(|e| e.eq_ignore_ascii_case(name));
        if !off && !out.contains(suite) {
            out.push(*suite);
        }
    }
    out
}

/// The rustls configuration of a service: its certificate chain and key
/// (PEM), its cipher list; 1.80's messages for missing files.
pub(crate) fn server_config(svc: &ServiceConf) -> Result<Arc<ServerConfig>, String> {
    let key_file = svc.get("ssl_key_file").unwrap_or("");
    let cert_file = svc.get("ssl_cert_file").unwrap_or("");
    if !Path::new(key_file).is_file() {
        return Err(format!("SSL key file ({key_file}) doesn't exist"));
    }
    if !Path::new(cert_file).is_file() {
        return Err(format!("SSL cert file ({cert_file}) doesn't exist"));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("SSL cert file ({cert_file}): {e}"))?;
    if certs.is_empty() {
        return Err(format!("SSL cert file ({cert_file}) holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("SSL key file ({key_file}): {e}"))?;
    let provider = CryptoProvider {
        cipher_suites: suites(svc.get("ssl_cipher_list").unwrap_or("")),
        ..default_provider()
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("SSL for service {}: {e}", svc.name))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("SSL for service {}: {e}", svc.name))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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
            server_config(svc)?,
            Duration::from_secs(svc.num("idle_timeout").max(1)),
        )
    };
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
    let acceptor = TlsAcceptor::from(config);
    let outer_task = shared.acceptor.clone().spawn(listener, move |conn| {
        terminate(conn, acceptor.clone(), path.clone(), idle)
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
    fn cipher_strings_map_to_rustls_suites() {
        let all = suites("ALL:!LOW:!EXP");
        assert_eq!(all.len(), 3 + TLS12.len());
        let two = suites("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:RC4-SHA");
        assert_eq!(two.len(), 5);
        assert!(two.contains(&cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        let minus = suites("HIGH:!ECDHE-RSA-AES256-GCM-SHA384");
        assert!(!minus.contains(&cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(minus.contains(&cs::TLS13_AES_128_GCM_SHA256));
    }

    #[test]
    fn the_preamble_names_the_peer() {
        let p = preamble("192.0.2.7:4431".parse().expect("addr"));
        assert_eq!(p.len(), PREAMBLE);
        assert!(p.starts_with(b"192.0.2.7 4431 "));
        assert_eq!(p[PREAMBLE - 1], b'\n');
    }
}
