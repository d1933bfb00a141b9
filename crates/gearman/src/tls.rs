//! TLS on rustls (the `ring` provider): the server's configuration from
//! gearmand's `--ssl-certificate`, `--ssl-key` and `--ssl-ca-file`, and the
//! client's and worker's from a CA file.
//!
//! With a CA file the server asks clients for a certificate and checks one
//! that is offered against it; clients without one are still served.

use std::path::Path;
use std::sync::Arc;

pub use rustls;
use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A TLS file or setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| TlsError(format!("certificate file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "certificate file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError(format!("CA file {}: {e}", ca.display())))?;
    }
    Ok(roots)
}

/// The server's configuration: its certificate chain and key (PEM); with
/// `ca`, client certificates signed by it are checked when offered.
pub fn server_config(
    cert: &Path,
    key: &Path,
    ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError(format!("key file {}: {e}", key.display())))?;
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError(format!("CA file {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("certificate {}: {e}", cert.display())))?;
    Ok(Arc::new(config))
}

/// A client's (or worker's) configuration trusting the CAs in `ca` (PEM).
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name to check the server's certificate against: the host part of
/// `host:port` (an IP address or a DNS name).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| TlsError(format!("server name {host}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        let n = |a: &str| server_name(a).map(|n| n.to_str().into_owned()).ok();
        assert_eq!(n("127.0.0.1:4730").as_deref(), Some("127.0.0.1"));
        assert_eq!(n("[::1]:4730").as_deref(), Some("::1"));
        assert_eq!(n("gm.example:4730").as_deref(), Some("gm.example"));
        assert_eq!(n("gm.example").as_deref(), Some("gm.example"));
        assert!(n("bad name:1").is_none());
    }

    #[test]
    fn missing_or_empty_files_are_errors_naming_them() {
        let e = server_config(Path::new("/nonexistent/c.pem"), Path::new("/x"), None)
            .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/c.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("gm-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let e = client_config(&empty).expect_err("empty");
        assert!(e.to_string().contains("no certificate"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
