//! Test certificate authorities made with rcgen, for the TLS tests of
//! perlbal and memcached: a CA file, and server or client certificates
//! it signs.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A test certificate authority.
pub struct Ca {
    pub cert: Certificate,
    pub key: KeyPair,
    /// Its certificate, as a PEM file.
    pub file: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("CA certificate");
        let file = dir.join(format!("{name}.pem"));
        std::fs::write(&file, cert.pem()).expect("write CA");
        Ca { cert, key, file }
    }

    /// A certificate for `names` (server or client use): (cert PEM, key PEM).
    pub fn issue(&self, names: &[&str], client: bool) -> (String, String) {
        let mut p =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .expect("params");
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().expect("key");
        let cert = p
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// [`Ca::issue`] written to `<dir>/<stem>.crt` and `<dir>/<stem>.key`.
    pub fn issue_files(
        &self,
        dir: &Path,
        stem: &str,
        names: &[&str],
        client: bool,
    ) -> (PathBuf, PathBuf) {
        let (cert, key) = self.issue(names, client);
        let (c, k) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert).expect("write cert");
        std::fs::write(&k, key).expect("write key");
        (c, k)
    }
}
