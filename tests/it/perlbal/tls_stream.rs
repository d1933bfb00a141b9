//! TLS read and written by the client code itself (issue 20): no
//! unix-socket bridge in a temp directory, and a TLS client that stops
//! reading is dropped after idle_timeout like a plain one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::perlbal_env;
use crate::fault::open_fds;
use crate::tls_ca::Ca;
use crate::wire::connect;

type TlsConn = StreamOwned<ClientConnection, TcpStream>;

fn client_config(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca file") {
        roots.add(c.expect("ca cert")).expect("add ca");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn tls_connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> TlsConn {
    let name = ServerName::try_from("web.test").expect("name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client");
    let mut s = StreamOwned::new(conn, connect(addr));
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("handshake");
    }
    s
}

/// Reads one response with a Content-Length body, as text.
fn response(s: &mut TlsConn) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return String::from_utf8_lossy(&got).into_owned();
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading over TLS: {e}"),
        }
    }
}

#[test]
fn perlbal_tls_is_served_on_the_stream_and_a_stalled_tls_client_is_dropped() {
    let dir = tempfile::tempdir().expect("dir");
    let tmp = dir.path().join("tmp");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&tmp).expect("mkdir");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("small"), "hello over tls").expect("write");
    let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(docs.join("big"), &big).expect("write");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "web", &["web.test"], false);
    let d = perlbal_env(
        &format!(
            "CREATE SERVICE tls
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {}
  SET persist_client = on
  SET idle_timeout = 1
  SET enable_ssl = on
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
ENABLE tls
",
            docs.display(),
            crt.display(),
            key.display()
        ),
        &[("TMPDIR", tmp.to_str().expect("utf8"))],
    );
    let addr = d.addr("tls");
    let config = client_config(&ca.file);
    // Keep-alive requests over one TLS connection, and a 32 MiB file
    // (read and encrypted by perlbal, no sendfile) byte for byte.
    {
        let mut s = tls_connect(addr, &config);
        for _ in 0..2 {
            s.write_all(b"GET /small HTTP/1.1\r\nHost: web.test\r\n\r\n")
                .expect("write");
            let r = response(&mut s);
            assert!(
                r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"),
                "{r:?}"
            );
            assert!(r.ends_with("\r\n\r\nhello over tls"), "{r:?}");
        }
        s.write_all(b"GET /big HTTP/1.1\r\nHost: web.test\r\n\r\n")
            .expect("write");
        s.sock
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed before the head");
            got.extend_from_slice(&buf[..n]);
        }
        let at = got.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
        let mut body = got.split_off(at);
        while body.len() < big.len() {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "closed after {} bytes", body.len());
            body.extend_from_slice(&buf[..n]);
        }
        assert!(body == big, "the file came back different");
    }
    // No bridge: nothing in the temp directory.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "perlbal left {left:?} in TMPDIR");
    // A TLS client that asks for the big file and never reads: dropped
    // about idle_timeout after it stopped taking bytes, every descriptor
    // of it closed while the client still holds its end.
    let pid = d.pid();
    assert!(
        danga_testkit::wait_for(Duration::from_secs(5), || {
            let a = open_fds(pid);
            std::thread::sleep(Duration::from_millis(100));
            open_fds(pid) == a
        }),
        "fds settle"
    );
    let base = open_fds(pid);
    let mut stalled = tls_connect(addr, &config);
    stalled
        .write_all(b"GET /big HTTP/1.0\r\nHost: web.test\r\n\r\n")
        .expect("write");
    assert!(open_fds(pid) > base, "the TLS connection is not counted");
    let start = tokio::time::Instant::now();
    assert!(
        danga_testkit::wait_for(Duration::from_secs(10), || open_fds(pid) <= base),
        "perlbal still holds {} fds ({base} before) {:?} after the client stalled",
        open_fds(pid),
        start.elapsed()
    );
    drop(stalled);
}
