//! TLS on client listeners, through the real `perlbal` binary: a
//! self-signed certificate made here (rcgen), then HTTPS requests from a
//! raw rustls client and from curl (`--cacert`) to a TLS reverse proxy
//! (its backend sees the real client and `X-Forwarded-Proto: https`) and a
//! TLS web_server (a file larger than one sendfile window); a client that
//! does not speak TLS is dropped while others are served; a missing key
//! stops start-up with 1.80's message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danga_testkit::{bin_path, have_command, require, Spawn};
use rustls::pki_types::{CertificateDer, ServerName};

/// A backend answering every request with the headers it was sent.
fn backend() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
                let mut out = c.try_clone().expect("clone");
                let mut rd = BufReader::new(c);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if rd.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().expect("seen").push(head.clone());
                let body = format!("backend saw:\n{head}");
                let _ = out.write_all(
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    (addr, seen)
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert, key) files.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    (cert, key, ck.cert.der().to_vec())
}

/// A GET over TLS with a plain rustls client trusting only `ca`; the
/// whole answer (the server closes the connection).
fn rustls_get(addr: SocketAddr, ca: &[u8], path: &str) -> String {
    String::from_utf8_lossy(&rustls_get_bytes(addr, ca, path)).into_owned()
}

/// [`rustls_get`] as bytes.
fn rustls_get_bytes(addr: SocketAddr, ca: &[u8], path: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.to_vec()))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .expect("write over TLS");
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        // A peer that closes without close_notify: the bytes still count.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading over TLS: {e}"),
    }
    out
}

#[test]
fn perlbal_serves_https_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, der) = certificate(dir.path());
    let (be, seen) = backend();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(docs.join("big.bin"), &big).expect("write");
    let conf = dir.path().join("perlbal.conf");
    let ssl = format!(
        "  SET enable_ssl = on\n  SET ssl_key_file = {}\n  SET ssl_cert_file = {}\n",
        key.display(),
        cert.display()
    );
    std::fs::write(
        &conf,
        format!(
            "LOAD XFFExtras
CREATE POOL pool
  POOL pool ADD {be}
CREATE SERVICE rp
  SET role = reverse_proxy
  SET listen = 127.0.0.1:0
  SET pool = pool
  SET plugins = XFFExtras
  SET send_backend_proto = on
{ssl}ENABLE rp
CREATE SERVICE ws
  SET role = web_server
  SET listen = 127.0.0.1:0
  SET docroot = {}
  SET persist_client = on
{ssl}  SET ssl_cipher_list = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
ENABLE ws
CREATE SERVICE mgmt
  SET role = management
  SET listen = 127.0.0.1:0
ENABLE mgmt
",
            docs.display()
        ),
    )
    .expect("conf");
    let d = Spawn::new("perlbal")
        .arg(format!("--config={}", conf.display()))
        .start();
    let (rp, ws) = (d.addr("rp"), d.addr("ws"));

    // A raw rustls client.
    let r = rustls_get(rp, &der, "/hello");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert!(r.contains("GET /hello HTTP/1.0\r\n"), "{r}");
    let head = seen.lock().expect("seen").pop().expect("one request");
    assert!(head.contains("X-Forwarded-For: 127.0.0.1\r\n"), "{head}");
    assert!(head.contains("X-Forwarded-Proto: https\r\n"), "{head}");

    // A file from a TLS web_server, as one piece.
    let r = rustls_get_bytes(ws, &der, "/big.bin");
    let body_at = r.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&r[..body_at]);
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n") && head.contains("Content-Length: 600000\r\n"));
    assert!(r[body_at..] == big[..], "the file, byte for byte");

    // A client that does not speak TLS is dropped; others go on.
    let mut plain = TcpStream::connect(rp).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    plain
        .write_all(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
        .expect("write");
    let mut junk = Vec::new();
    let _ = plain.read_to_end(&mut junk);
    assert!(!String::from_utf8_lossy(&junk).contains("HTTP/1.0 200"));
    assert!(rustls_get(rp, &der, "/after").contains("GET /after HTTP/1.0"));

    // curl, trusting the certificate file; keep-alive over TLS.
    if require("curl", have_command("curl")) {
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&cert)
            .arg(format!("https://localhost:{}/curl", rp.port()))
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", rp.port()))
            .output()
            .expect("curl");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            body.contains("GET /curl HTTP/1.0\r\nHost: localhost"),
            "{body}"
        );
        let url = format!("https://127.0.0.1:{}/big.bin", ws.port());
        let out = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-o", "/dev/null"])
            .args(["-w", "%{size_download} %{num_connects}\n"])
            .arg("--cacert")
            .arg(&cert)
            .args([url.as_str(), url.as_str()])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "600000 1\n600000 0\n",
            "two downloads on one kept-alive TLS connection"
        );
        // Without the certificate curl refuses the server.
        let out = Command::new("curl")
            .args(["-sS", &format!("https://127.0.0.1:{}/x", rp.port())])
            .env("CURL_CA_BUNDLE", dir.path().join("none.pem"))
            .output()
            .expect("curl");
        assert!(!out.status.success());
    }
    drop(d);
}

#[test]
fn perlbal_refuses_to_start_without_its_tls_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _key, _) = certificate(dir.path());
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        format!(
            "CREATE SERVICE ws
  SET role = web_server
  SET listen = 127.0.0.1:0
  SET docroot = {}
  SET enable_ssl = on
  SET ssl_cert_file = {}
ENABLE ws
",
            dir.path().display(),
            cert.display()
        ),
    )
    .expect("conf");
    let out = Command::new(bin_path("perlbal"))
        .arg(format!("--config={}", conf.display()))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SSL key file (certs/server-key.pem) doesn't exist"),
        "{err}"
    );
}
