//! What a TLS listener presents and asks for, built from its service's
//! settings: the certificate chosen by the name the client asks for (SNI),
//! client certificates (`ssl_verify_mode`, `ssl_ca_file`, `ssl_ca_path`),
//! and the cipher suites (`ssl_cipher_list`).
//!
//! Which certificate a handshake gets, first match wins:
//! 1. on a selector with Vhosts, the service its VHOST table maps the
//!    requested name to (looked up live, in the order HTTP routing uses),
//!    when that service has its own `ssl_cert_file` / `ssl_key_file`;
//! 2. the first certificate of `ssl_cert_dir` (file names sorted) valid
//!    for the name (wildcards as certificates spell them);
//! 3. the listener's own `ssl_cert_file` / `ssl_key_file` (also for
//!    clients that send no name).
//!
//! Files are read when the listener starts and again at `SSL RELOAD` and
//! SIGHUP ([`super::tls::reload`]); a configuration that fails to load
//! leaves the one in use in place.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use rustls::client::verify_server_name;
use rustls::crypto::ring::{cipher_suite as cs, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::{lock, Shared};
use crate::core::{Plugin, Role, ServiceConf};

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

/// The most files `ssl_cert_dir` and `ssl_ca_path` are read for.
const MAX_DIR_FILES: usize = 10_000;

/// The certificate chains in a PEM file (none: an empty list).
fn pem_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// A chain from `cert_file` and its key from `key_file`, checked to match.
fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let certs = pem_certs(cert_file)?;
    if certs.is_empty() {
        return Err(format!(
            "SSL cert file ({}) holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("SSL key file ({}): {e}", key_file.display()))?;
    CertifiedKey::from_der(certs, key, provider)
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "SSL cert file ({}) with key file ({}): {e}",
                cert_file.display(),
                key_file.display()
            )
        })
}

/// A service's own certificate: `None` unless it sets both files.
fn own_key(
    svc: &ServiceConf,
    provider: &CryptoProvider,
) -> Result<Option<Arc<CertifiedKey>>, String> {
    let (Some(cert), Some(key)) = (
        svc.values.get("ssl_cert_file"),
        svc.values.get("ssl_key_file"),
    ) else {
        return Ok(None);
    };
    certified_key(Path::new(cert), Path::new(key), provider)
        .map(Some)
        .map_err(|e| format!("service {}: {e}", svc.name))
}

/// The certificates of `ssl_cert_dir`, file names sorted: `NAME.pem`
/// holding the chain and the key, or `NAME.crt` / `NAME.cert` with
/// `NAME.key` beside it. Other files are ignored.
fn dir_keys(dir: &Path, provider: &CryptoProvider) -> Result<Vec<Arc<CertifiedKey>>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("ssl_cert_dir ({}): {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .take(MAX_DIR_FILES)
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        let key = match ext {
            "pem" => f.clone(),
            "crt" | "cert" => f.with_extension("key"),
            _ => continue,
        };
        out.push(certified_key(&f, &key, provider)?);
    }
    Ok(out)
}

/// The CA certificates client certificates are checked against.
fn client_roots(svc: &ServiceConf) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if let Some(f) = svc.values.get("ssl_ca_file") {
        let certs = pem_certs(Path::new(f)).map_err(|e| format!("ssl_ca_file {e}"))?;
        roots.add_parsable_certificates(certs);
    }
    let mut files = Vec::new();
    if let Some(d) = svc.values.get("ssl_ca_path") {
        let mut found: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| format!("ssl_ca_path ({d}): {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .take(MAX_DIR_FILES)
            .collect();
        found.sort();
        files.extend(found);
    }
    for f in files {
        // A hashed CA directory also holds CRLs and such: files without
        // a certificate add nothing.
        let certs = pem_certs(&f).unwrap_or_default();
        roots.add_parsable_certificates(certs);
    }
    Ok(roots)
}

/// What `ssl_verify_mode` asks (OpenSSL's bits, as IO::Socket::SSL passed
/// them on): 1 asks for a client certificate, 1 + 2 requires one, 4
/// (once per connection) changes nothing here (no renegotiation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientCerts {
    /// No certificate asked for.
    Off,
    /// Asked for; a client without one is still served.
    Optional,
    /// A client without a valid certificate fails the handshake.
    Required,
}

impl ClientCerts {
    /// From `ssl_verify_mode`'s number (2 without 1 asks nothing, as in
    /// OpenSSL).
    pub(crate) fn from_mode(mode: u64) -> ClientCerts {
        match (mode & 1 != 0, mode & 2 != 0) {
            (false, _) => ClientCerts::Off,
            (true, false) => ClientCerts::Optional,
            (true, true) => ClientCerts::Required,
        }
    }
}

/// The certificates one TLS listener may present.
struct Certs {
    /// Its own `ssl_cert_file` / `ssl_key_file`.
    default: Arc<CertifiedKey>,
    /// Other services' own certificates, for the names a VHOST maps to them.
    by_service: HashMap<String, Arc<CertifiedKey>>,
    /// `ssl_cert_dir`'s, in order.
    dir: Vec<Arc<CertifiedKey>>,
}

/// Picks a certificate by server name (see the module docs).
struct SniResolver {
    /// The listening service.
    service: String,
    certs: Certs,
    /// For the live VHOST table (weak: the server holds this config).
    shared: Weak<Shared>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("service", &self.service)
            .field("by_service", &self.certs.by_service.len())
            .field("dir", &self.certs.dir.len())
            .finish()
    }
}

impl SniResolver {
    /// The certificate of the service this selector's VHOSTs map `name`
    /// to, if that service has one.
    fn vhost_key(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        if self.certs.by_service.is_empty() {
            return None;
        }
        let shared = self.shared.upgrade()?;
        let cfg = lock(&shared.config);
        let svc = cfg.services.get(&self.service)?;
        if !svc.plugins.contains(&Plugin::Vhosts) {
            return None;
        }
        let target = super::plugins::host_candidates(name)
            .iter()
            .find_map(|c| svc.more.vhosts.get(c))?;
        self.certs.by_service.get(target).cloned()
    }
}

/// Whether `key`'s certificate is valid for `name`.
fn valid_for(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    key.end_entity_cert()
        .ok()
        .and_then(|der| ParsedCertificate::try_from(der).ok())
        .is_some_and(|p| verify_server_name(&p, name).is_ok())
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name().map(str::to_ascii_lowercase) else {
            return Some(self.certs.default.clone());
        };
        if let Some(k) = self.vhost_key(&name) {
            return Some(k);
        }
        if let Ok(sn) = ServerName::try_from(name.as_str()) {
            if let Some(k) = self.certs.dir.iter().find(|k| valid_for(k, &sn)) {
                return Some(k.clone());
            }
        }
        Some(self.certs.default.clone())
    }
}

/// The rustls configuration of TLS service `name` as its settings say now;
/// 1.80's messages for missing files.
pub(crate) fn server_config(
    shared: Weak<Shared>,
    all: &BTreeMap<String, ServiceConf>,
    name: &str,
) -> Result<Arc<ServerConfig>, String> {
    let svc = all
        .get(name)
        .ok_or_else(|| format!("service '{name}' does not exist"))?;
    let key_file = svc.get("ssl_key_file").unwrap_or("");
    let cert_file = svc.get("ssl_cert_file").unwrap_or("");
    if !Path::new(key_file).is_file() {
        return Err(format!("SSL key file ({key_file}) doesn't exist"));
    }
    if !Path::new(cert_file).is_file() {
        return Err(format!("SSL cert file ({cert_file}) doesn't exist"));
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites(svc.get("ssl_cipher_list").unwrap_or("")),
        ..default_provider()
    });
    let default = certified_key(Path::new(cert_file), Path::new(key_file), &provider)?;
    let mut by_service = HashMap::new();
    if svc.role == Some(Role::Selector) {
        for other in all.values().filter(|o| o.name != svc.name) {
            if let Some(k) = own_key(other, &provider)? {
                by_service.insert(other.name.clone(), k);
            }
        }
    }
    let dir = match svc.values.get("ssl_cert_dir") {
        Some(d) => dir_keys(Path::new(d), &provider)?,
        None => Vec::new(),
    };
    let resolver = SniResolver {
        service: svc.name.clone(),
        certs: Certs {
            default,
            by_service,
            dir,
        },
        shared,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("SSL for service {name}: {e}"))?;
    let mode = ClientCerts::from_mode(svc.num("ssl_verify_mode"));
    let builder = match mode {
        ClientCerts::Off => builder.with_no_client_auth(),
        ClientCerts::Optional | ClientCerts::Required => {
            let roots = client_roots(svc)?;
            if roots.is_empty() {
                return Err(format!(
                    "SSL for service {name}: ssl_verify_mode asks for client certificates, but no CA certificate is in ssl_ca_file or ssl_ca_path"
                ));
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == ClientCerts::Optional {
                v = v.allow_unauthenticated();
            }
            let v = v
                .build()
                .map_err(|e| format!("SSL for service {name}: {e}"))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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
    fn a_directory_s_certificates_match_by_name() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |stem: &str, names: &[&str], one_file: bool| {
            let ck = rcgen::generate_simple_self_signed(
                names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .expect("certificate");
            let (cert, key) = (ck.cert.pem(), ck.key_pair.serialize_pem());
            if one_file {
                std::fs::write(dir.path().join(format!("{stem}.pem")), cert + &key)
            } else {
                std::fs::write(dir.path().join(format!("{stem}.crt")), cert)
                    .and_then(|()| std::fs::write(dir.path().join(format!("{stem}.key")), key))
            }
            .expect("write");
        };
        write("b", &["b.test"], true);
        write("wild", &["*.wild.test"], false);
        std::fs::write(dir.path().join("README"), "not a certificate").expect("write");
        let provider = default_provider();
        let keys = dir_keys(dir.path(), &provider).expect("loads");
        assert_eq!(keys.len(), 2);
        let name = |n: &'static str| ServerName::try_from(n).expect("name");
        assert!(valid_for(&keys[0], &name("b.test")));
        assert!(!valid_for(&keys[0], &name("x.wild.test")));
        assert!(valid_for(&keys[1], &name("x.wild.test")));
        assert!(!valid_for(&keys[1], &name("wild.test")));
        // A .crt without its .key is an error naming the file.
        std::fs::remove_file(dir.path().join("wild.key")).expect("rm");
        let err = dir_keys(dir.path(), &provider).expect_err("fails");
        assert!(err.contains("wild.key"), "{err}");
    }

    #[test]
    fn verify_modes_read_as_openssl_bits() {
        assert_eq!(ClientCerts::from_mode(0), ClientCerts::Off);
        assert_eq!(ClientCerts::from_mode(2), ClientCerts::Off);
        assert_eq!(ClientCerts::from_mode(1), ClientCerts::Optional);
        assert_eq!(ClientCerts::from_mode(5), ClientCerts::Optional);
        assert_eq!(ClientCerts::from_mode(3), ClientCerts::Required);
        assert_eq!(ClientCerts::from_mode(7), ClientCerts::Required);
    }
}
