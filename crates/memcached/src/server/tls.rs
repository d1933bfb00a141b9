//! TLS on rustls (the `ring` provider), with memcached 1.6's settings:
//! `-Z` and `-o ssl_chain_cert,ssl_key,ssl_ca_cert,ssl_verify_mode,
//! ssl_keyformat,ssl_ciphers,ssl_wbuf_size,ssl_session_cache,
//! ssl_min_version`, the `refresh_certs` command and the TLS stats.
//!
//! One rustls `ServerConfig` serves every TLS listener. `refresh_certs`
//! builds a new one from the same files and swaps it in: connections
//! already open keep the one they started with, as OpenSSL's do.
//!
//! What differs from the OpenSSL build is listed in
//! `docs/compat/memcached.md`: rustls speaks TLS 1.2 and 1.3 only, takes
//! OpenSSL cipher names for its own suites, and needs `ssl_ca_cert` to
//! verify client certificates (OpenSSL without one fails every
//! certificate offered).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::server::{
    NoServerSessionStorage, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake (less with a
/// shorter `-o idle_timeout`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sessions the server-side cache keeps (OpenSSL's default size).
const SESSION_CACHE_SIZE: usize = 20 * 1024;

/// OpenSSL's `SSL_FILETYPE_PEM` and `SSL_FILETYPE_ASN1`, the values
/// `-o ssl_keyformat` takes.
const KEYFORMAT_PEM: i64 = 1;
const KEYFORMAT_DER: i64 = 2;

/// The `-o ssl_*` settings, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `ssl_chain_cert`: the certificate chain, PEM.
    pub chain_cert: Option<PathBuf>,
    /// `ssl_key`: the private key (may be the chain file too).
    pub key: Option<PathBuf>,
    /// `ssl_verify_mode` 0..=3: none, request, require, once.
    pub verify_mode: u8,
    /// `ssl_keyformat`: 1 PEM, 2 DER.
    pub keyformat: i64,
    /// `ssl_ciphers`: an OpenSSL cipher list.
    pub ciphers: Option<String>,
    /// `ssl_ca_cert`: the CAs client certificates are checked against.
    pub ca_cert: Option<PathBuf>,
    /// `ssl_wbuf_size` in bytes: the plaintext a connection may have
    /// queued for encryption.
    pub wbuf_size: usize,
    /// `ssl_session_cache`: keep sessions for resumption.
    pub session_cache: bool,
    /// `ssl_kernel_tls`: accepted; rustls does not hand sessions to the
    /// kernel.
    pub kernel_tls: bool,
    /// `ssl_min_version` 0..=3: TLS 1.0, 1.1, 1.2, 1.3.
    pub min_version: u8,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            chain_cert: None,
            key: None,
            verify_mode: 0,
            keyformat: KEYFORMAT_PEM,
            ciphers: None,
            ca_cert: None,
            wbuf_size: 16 * 1024,
            session_cache: false,
            kernel_tls: false,
            min_version: 2,
        }
    }
}

impl TlsSettings {
    /// What `stats settings` shows as `ssl_verify_mode`: OpenSSL's flag
    /// bits (peer 1, fail if no peer certificate 2, client once 4).
    pub fn verify_flags(&self) -> u32 {
        match self.verify_mode {
            0 => 0,
            1 => 1,
            2 => 3,
            _ => 7,
        }
    }

    /// Settings accepted without their effect here, one sentence each
    /// (the daemon warns about them at start).
    pub fn ignored(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.kernel_tls {
            v.push("ssl_kernel_tls: rustls does not hand sessions to the kernel; ignored");
        }
        if self.min_version < 2 {
            v.push("ssl_min_version below 2: TLS 1.0 and 1.1 are not offered (rustls)");
        }
        v
    }

    /// `stats settings`' `ssl_min_version`.
    pub fn min_version_text(&self) -> &'static str {
        match self.min_version {
            0 => "tlsv1.0",
            1 => "tlsv1.1",
            2 => "tlsv1.2",
            _ => "tlsv1.3",
        }
    }
}

/// A TLS file or setting that cannot be used; the text is the original's
/// wording where it has one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The running TLS state: the current configuration and the counters
/// `stats` shows.
#[derive(Debug)]
pub struct Tls {
    settings: TlsSettings,
    config: RwLock<Arc<ServerConfig>>,
    sessions: Arc<dyn StoresServerSessions>,
    new_sessions: Arc<AtomicU64>,
    handshake_errors: AtomicU64,
    /// Unix time of the last successful load.
    refreshed: AtomicU64,
}

impl Tls {
    /// Loads the certificate, key and CA files; `now` is the unix time.
    pub fn new(settings: TlsSettings, now: u64) -> Result<Tls, TlsError> {
        let new_sessions = Arc::new(AtomicU64::new(0));
        let sessions: Arc<dyn StoresServerSessions> = if settings.session_cache {
            Arc::new(CountingCache {
                inner: ServerSessionMemoryCache::new(SESSION_CACHE_SIZE),
                created: Arc::clone(&new_sessions),
            })
        } else {
            Arc::new(NoServerSessionStorage {})
        };
        let config = build(&settings, &sessions)?;
        Ok(Tls {
            settings,
            config: RwLock::new(config),
            sessions,
            new_sessions,
            handshake_errors: AtomicU64::new(0),
            refreshed: AtomicU64::new(now),
        })
    }

    /// The settings it was started with.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// `refresh_certs`: reads the files again. On failure the old
    /// configuration stays and the error says why.
    pub fn refresh(&self, now: u64) -> Result<(), TlsError> {
        let config = build(&self.settings, &self.sessions)?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        self.refreshed.store(now, Ordering::Relaxed);
        Ok(())
    }

    /// Runs the server side of a handshake on `io`, within `limit`. A
    /// failure (a plaintext client, a refused certificate, a timeout) is
    /// counted in `ssl_handshake_errors`.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
        limit: Duration,
    ) -> io::Result<TlsStream<S>> {
        let config = Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()));
        let accept = tokio_rustls::TlsAcceptor::from(config).accept_with(io, |conn| {
            conn.set_buffer_limit(Some(self.settings.wbuf_size.max(1024)));
        });
        let r = match tokio::time::timeout(limit, accept).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        };
        if r.is_err() {
            self.handshake_errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// `stats reset`: zeroes `ssl_handshake_errors` and `ssl_new_sessions`,
    /// as the original's reset does.
    pub fn reset_counters(&self) {
        self.handshake_errors.store(0, Ordering::Relaxed);
        self.new_sessions.store(0, Ordering::Relaxed);
    }

    /// `ssl_handshake_errors`.
    pub fn handshake_errors(&self) -> u64 {
        self.handshake_errors.load(Ordering::Relaxed)
    }

    /// `ssl_new_sessions` (shown only with the session cache).
    pub fn new_sessions(&self) -> Option<u64> {
        self.settings
            .session_cache
            .then(|| self.new_sessions.load(Ordering::Relaxed))
    }

    /// `time_since_server_cert_refresh`, in seconds.
    pub fn since_refresh(&self, now: u64) -> u64 {
        now.saturating_sub(self.refreshed.load(Ordering::Relaxed))
    }
}

impl super::Server {
    /// `refresh_certs [noreply]`: reloads the certificate, key and CA
    /// files. `OK`, or the error (even with `noreply`, as the original).
    pub(super) fn refresh_certs(&self, line: &[u8], out: &mut Vec<u8>) {
        let noreply = line
            .split(|b| *b == b' ')
            .rfind(|w| !w.is_empty())
            .is_some_and(|w| w == b"noreply");
        let result = match &self.tls {
            None => Err(TlsError("Error TLS not enabled".into())),
            Some(tls) => tls.refresh(super::unix_now()),
        };
        match result {
            Ok(()) if noreply => {}
            Ok(()) => out.extend_from_slice(b"OK\r\n"),
            Err(e) => {
                tracing::warn!(error = %e, "refresh_certs failed");
                out.extend_from_slice(e.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// The server's session store, counting the sessions it is given (the
/// original counts OpenSSL's new-session callbacks).
#[derive(Debug)]
struct CountingCache {
    inner: Arc<ServerSessionMemoryCache>,
    created: Arc<AtomicU64>,
}

impl StoresServerSessions for CountingCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let stored = self.inner.put(key, value);
        if stored {
            self.created.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            TlsError(format!(
                "Error loading the certificate chain: {} : {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "Error loading the certificate chain: {} : no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn key(path: &Path, format: i64) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |e: &dyn std::fmt::Display| {
        TlsError(format!("Error loading the key: {} : {e}", path.display()))
    };
    match format {
        KEYFORMAT_PEM => PrivateKeyDer::from_pem_file(path).map_err(|e| err(&e)),
        KEYFORMAT_DER => {
            let der = std::fs::read(path).map_err(|e| err(&e))?;
            Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
        }
        _ => Err(err(&"unsupported key format (1 = PEM, 2 = DER)")),
    }
}

fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let list = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            TlsError(format!(
                "Error loading the CA certificate: {} : {e}",
                ca.display()
            ))
        })?;
    for c in list {
        roots.add(c).map_err(|e| {
            TlsError(format!(
                "Error loading the CA certificate: {} : {e}",
                ca.display()
            ))
        })?;
    }
    Ok(roots)
}

/// The provider, its TLS 1.2 suites narrowed by `ssl_ciphers`.
fn provider(s: &TlsSettings) -> Result<CryptoProvider, TlsError> {
    let mut provider = default_provider();
    if let Some(list) = &s.ciphers {
        provider.cipher_suites = select_ciphers(list, &provider.cipher_suites)
            .ok_or_else(|| TlsError(format!("Error setting the provided cipher(s): {list}")))?;
    }
    Ok(provider)
}

/// OpenSSL names of the suites rustls has.
const CIPHER_NAMES: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// OpenSSL cipher-string words that stand for groups of suites: any of
/// them keeps every suite rustls offers.
const CIPHER_GROUPS: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "MEDIUM", "ECDHE", "EECDH", "kECDHE", "aRSA", "aECDSA", "RSA",
    "ECDSA", "AESGCM", "AES", "AES128", "AES256", "CHACHA20", "SHA256", "SHA384", "TLSv1.2",
];

/// `ssl_ciphers` as rustls suites: named TLS 1.2 suites in the order
/// given (TLS 1.3 suites are kept: OpenSSL sets those elsewhere), or all
/// of them when the list names a group. Exclusions (`!`, `-`) and
/// unknown words are skipped; None when nothing usable is left.
fn select_ciphers(list: &str, all: &[SupportedCipherSuite]) -> Option<Vec<SupportedCipherSuite>> {
    let mut named = Vec::new();
    let mut group = false;
    for word in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        if word.starts_with(['!', '-', '+', '@']) {
            continue;
        }
        if CIPHER_GROUPS.contains(&word) {
            group = true;
        } else if let Some((_, suite)) = CIPHER_NAMES.iter().find(|(n, _)| *n == word) {
            if all.contains(suite) && !named.contains(suite) {
                named.push(*suite);
            }
        }
    }
    if group {
        return Some(all.to_vec());
    }
    if named.is_empty() {
        return None;
    }
    let tls13 = all
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    Some(tls13.copied().chain(named).collect())
}

/// A rustls configuration from the settings.
fn build(
    s: &TlsSettings,
    sessions: &Arc<dyn StoresServerSessions>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain_path = s
        .chain_cert
        .as_deref()
        .ok_or_else(|| TlsError("Error loading the certificate chain: (null)".into()))?;
    let chain = certs(chain_path)?;
    let key = key(s.key.as_deref().unwrap_or(chain_path), s.keyformat)?;
    let provider = Arc::new(provider(s)?);
    let versions: &[&rustls::SupportedProtocolVersion] = if s.min_version >= 3 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError(format!("Error setting the protocol versions: {e}")))?;
    let roots = s.ca_cert.as_deref().map(roots).transpose()?;
    let builder = match (s.verify_mode, roots) {
        (0, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(TlsError(format!(
                "ssl_verify_mode={} needs ssl_ca_cert to check client certificates against",
                s.verify_mode
            )))
        }
        (mode, Some(roots)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == 1 {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError(format!("Error loading the CA certificate: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("Error validating the certificate: {e}")))?;
    config.session_storage = Arc::clone(sessions);
    if !s.session_cache {
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<SupportedCipherSuite> {
        default_provider().cipher_suites
    }

    #[test]
    fn cipher_lists_map_openssl_names() {
        let picked = select_ciphers("ECDHE-RSA-AES256-GCM-SHA384:!aNULL", &all()).expect("named");
        assert!(picked.contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384));
        assert!(!picked.contains(&cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256));
        assert!(picked.contains(&cipher_suite::TLS13_AES_128_GCM_SHA256));
        assert_eq!(
            select_ciphers("HIGH:!aNULL:!MD5", &all()).map(|v| v.len()),
            Some(all().len())
        );
        assert!(select_ciphers("RC4-MD5", &all()).is_none());
        assert!(select_ciphers("", &all()).is_none());
    }

    #[test]
    fn verify_modes_show_openssl_flags() {
        let flags: Vec<u32> = (0..4)
            .map(|m| {
                TlsSettings {
                    verify_mode: m,
                    ..TlsSettings::default()
                }
                .verify_flags()
            })
            .collect();
        assert_eq!(flags, [0, 1, 3, 7]);
    }

    #[test]
    fn missing_files_are_named_in_the_error() {
        let s = TlsSettings {
            chain_cert: Some("/nonexistent/chain.pem".into()),
            ..TlsSettings::default()
        };
        let e = Tls::new(s, 0).expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/chain.pem"), "{e}");
        let e = Tls::new(TlsSettings::default(), 0).expect_err("no chain");
        assert!(e.to_string().contains("certificate chain"), "{e}");
    }
}
