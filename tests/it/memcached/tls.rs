//! Issue 18, TLS: `-Z` with `-o ssl_*`, `-l notls:`, client certificates
//! (`ssl_verify_mode`), `refresh_certs`, and what a plaintext client on a
//! TLS port gets. Certificates are made here with rcgen; the client is
//! rustls over a blocking socket (and pymemcache with an `ssl.SSLContext`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use danga_testkit::{require, Daemon};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::tls_ca::Ca;
use crate::wire::{ask, connect};

type TlsConn = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client trusting `ca`, presenting `client` (cert, key) if given.
fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca file") {
        roots.add(c.expect("ca cert")).expect("add ca");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .expect("client cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("client cert");
            let key = PrivateKeyDer::from_pem_file(key).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    Arc::new(config)
}

/// Connects and completes the handshake (with timeouts on the socket).
fn tls_connect(addr: SocketAddr, config: &Arc<ClientConfig>) -> std::io::Result<TlsConn> {
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client");
    let mut s = StreamOwned::new(conn, connect(addr));
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// Sends `req` and reads up to `end`; an error or a close gives what came.
fn try_ask<S: Read + Write>(s: &mut S, req: &str, end: &str) -> std::io::Result<String> {
    s.write_all(req.as_bytes())?;
    s.flush()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(end.as_bytes()) {
        match s.read(&mut buf)? {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `stats[ which]` over any stream.
fn stats_of<S: Read + Write>(s: &mut S, which: &str) -> HashMap<String, String> {
    ask(s, &format!("stats{which}\r\n"), "END\r\n")
        .lines()
        .filter_map(|l| l.strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The certificate the server presented.
fn peer_cert(s: &TlsConn) -> Vec<u8> {
    s.conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("server certificate")
        .to_vec()
}

fn der_of(pem_file: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file)
        .expect("cert file")
        .to_vec()
}

/// Our memcached with `-Z` and the given certificate files and flags.
fn start(crt: &Path, key: &Path, listen: &str, extra: &[&str]) -> Daemon {
    let certs = format!("ssl_chain_cert={},ssl_key={}", crt.display(), key.display());
    let mut args = vec!["-p", "-1", "-U", "0", "-l", listen, "-Z", "-o", &certs];
    args.extend_from_slice(extra);
    Daemon::start("memcached", &args)
}

#[test]
fn issue_18_tls_listener_beside_a_notls_one_and_plaintext_refused_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    let d = start(&crt, &key, "notls:127.0.0.1:0,127.0.0.1:0", &[]);
    let (tls_addr, plain_addr) = (d.addr("memcached"), d.addr("memcached-notls"));
    assert_ne!(tls_addr, plain_addr);
    let config = client_config(&ca.file, None);

    // A TLS client stores; the plain listener sees the same cache.
    let mut t = tls_connect(tls_addr, &config).expect("handshake");
    assert_eq!(
        ask(&mut t, "set tls:k 5 0 3\r\nabc\r\n", "\r\n"),
        "STORED\r\n"
    );
    let mut p = connect(plain_addr);
    assert_eq!(
        ask(&mut p, "get tls:k\r\n", "END\r\n"),
        "VALUE tls:k 5 3\r\nabc\r\nEND\r\n"
    );

    // A plaintext client on the TLS port gets no reply and is closed,
    // while the TLS connection keeps being served.
    // "Cleanly": closed at once (perhaps after a TLS alert), not left
    // hanging until the client's read timeout.
    let mut bad = connect(tls_addr);
    match try_ask(&mut bad, "version\r\n", "\r\n") {
        Ok(got) => assert!(!got.contains("VERSION"), "plaintext answered: {got:?}"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "plaintext client left hanging: {e}"
        ),
    }
    assert_eq!(ask(&mut t, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    // A TLS client on the plain port fails its handshake instead.
    assert!(tls_connect(plain_addr, &config).is_err());

    let s = stats_of(&mut t, "");
    assert!(
        s["ssl_handshake_errors"].parse::<u64>().expect("n") >= 1,
        "{s:?}"
    );
    assert!(s.contains_key("time_since_server_cert_refresh"), "{s:?}");
    assert!(
        !s.contains_key("ssl_new_sessions"),
        "no session cache: {s:?}"
    );
    let settings = stats_of(&mut p, " settings");
    assert_eq!(settings["ssl_enabled"], "yes");
    assert_eq!(settings["ssl_chain_cert"], crt.display().to_string());
    assert_eq!(settings["ssl_verify_mode"], "0");
    assert_eq!(settings["ssl_min_version"], "tlsv1.2");
    // The same command without TLS configured.
    let plain = super::ours(&[]);
    assert_eq!(
        crate::wire::ask_once(plain.addr, "refresh_certs\r\n", "\r\n"),
        "Error TLS not enabled\r\n"
    );
}

#[test]
fn issue_18_tls_verify_mode_2_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let client_ca = Ca::new(dir.path(), "client-ca");
    let rogue = Ca::new(dir.path(), "rogue");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    let (ccrt, ckey) = client_ca.issue_files(dir.path(), "client", &["client.test"], true);
    let (rcrt, rkey) = rogue.issue_files(dir.path(), "rogue", &["rogue.test"], true);
    let ca_opt = format!("ssl_verify_mode=2,ssl_ca_cert={}", client_ca.file.display());
    let d = start(&crt, &key, "127.0.0.1", &["-o", &ca_opt]);
    let addr = d.addr("memcached");

    let good = client_config(&ca.file, Some((&ccrt, &ckey)));
    let mut ok = tls_connect(addr, &good).expect("client with a certificate");
    assert_eq!(ask(&mut ok, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");

    // Without a certificate, or with one from another CA: refused (with
    // TLS 1.3 the refusal arrives as an alert on the first read).
    for who in [None, Some((rcrt.as_path(), rkey.as_path()))] {
        let config = client_config(&ca.file, who);
        let refused = match tls_connect(addr, &config) {
            Err(_) => true,
            Ok(mut s) => !try_ask(&mut s, "version\r\n", "\r\n")
                .unwrap_or_default()
                .contains("VERSION"),
        };
        assert!(refused, "client {who:?} was served");
    }
    assert_eq!(ask(&mut ok, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    let s = stats_of(&mut ok, "");
    assert!(
        s["ssl_handshake_errors"].parse::<u64>().expect("n") >= 2,
        "{s:?}"
    );
    assert_eq!(stats_of(&mut ok, " settings")["ssl_verify_mode"], "3");
}

#[test]
fn issue_18_refresh_certs_serves_the_new_certificate_to_new_clients() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "live", &["127.0.0.1"], false);
    let (crt2, key2) = ca.issue_files(dir.path(), "next", &["127.0.0.1"], false);
    let first = der_of(&crt);
    let second = der_of(&crt2);
    let d = start(&crt, &key, "127.0.0.1", &[]);
    let addr = d.addr("memcached");
    let config = client_config(&ca.file, None);

    let mut old = tls_connect(addr, &config).expect("handshake");
    assert_eq!(peer_cert(&old), first);
    std::fs::copy(&crt2, &crt).expect("swap cert");
    std::fs::copy(&key2, &key).expect("swap key");
    assert_eq!(ask(&mut old, "refresh_certs\r\n", "\r\n"), "OK\r\n");
    let mut new = tls_connect(addr, &config).expect("handshake after refresh");
    assert_eq!(peer_cert(&new), second);
    assert_eq!(ask(&mut new, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    // The connection opened before keeps its session and is served.
    assert_eq!(ask(&mut old, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    let since = stats_of(&mut old, "")["time_since_server_cert_refresh"]
        .parse::<u64>()
        .expect("seconds");
    assert!(since <= 2, "refreshed {since} s ago");

    // A broken file: the error, and the certificate in use stays.
    std::fs::write(&key, "not a key").expect("break key");
    let reply = ask(&mut old, "refresh_certs\r\n", "\r\n");
    assert!(reply.starts_with("Error loading the key: "), "{reply:?}");
    let again = tls_connect(addr, &config).expect("handshake after a failed refresh");
    assert_eq!(peer_cert(&again), second);
}

#[test]
fn issue_18_pymemcache_over_tls_with_a_client_certificate() {
    let has = Command::new("python3")
        .args(["-c", "import pymemcache, ssl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("python3 with pymemcache (pip)", has) {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    let (ccrt, ckey) = ca.issue_files(dir.path(), "client", &["py.client"], true);
    let ca_opt = format!("ssl_verify_mode=2,ssl_ca_cert={}", ca.file.display());
    let d = start(&crt, &key, "127.0.0.1", &["-o", &ca_opt]);
    let script = r#"
import ssl, sys
from pymemcache.client.base import Client
host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
ctx.load_cert_chain(cert, key)
c = Client((host, port), timeout=5, tls_context=ctx, default_noreply=False)
assert c.set("py:tls", b"secret", expire=100)
assert c.get("py:tls") == b"secret"
assert c.incr("py:n", 1) is None
c.set("py:n", b"41")
assert c.incr("py:n", 1) == 42
assert c.get_many(["py:tls", "py:n"]) == {"py:tls": b"secret", "py:n": b"42"}
assert c.version() == b"1.6.18"
# Without the client certificate the server refuses it.
bare = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
try:
    Client((host, port), timeout=5, tls_context=bare).version()
    print("served without a certificate")
except Exception:
    print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, "127.0.0.1"])
        .arg(d.addr("memcached").port().to_string())
        .args([&ca.file, &ccrt, &ckey])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pymemcache failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn issue_18_a_silent_client_on_a_tls_port_is_closed_at_the_handshake_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    // -o idle_timeout shortens the 10 s handshake limit.
    let d = start(&crt, &key, "127.0.0.1", &["-o", "idle_timeout=1"]);
    let addr = d.addr("memcached");
    let mut silent = connect(addr);
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    // Closed (EOF or reset) well before the 5 s read timeout.
    match silent.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "got {:?}", &buf[..n]),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "still open: {e}"
        ),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    let config = client_config(&ca.file, None);
    let mut t = tls_connect(addr, &config).expect("handshake");
    let s = stats_of(&mut t, "");
    assert!(
        s["ssl_handshake_errors"].parse::<u64>().expect("n") >= 1,
        "{s:?}"
    );
}

#[test]
fn issue_18_ssl_session_cache_lets_a_client_resume() {
    use rustls::HandshakeKind;
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    for cache in [true, false] {
        let extra: &[&str] = if cache {
            &["-o", "ssl_session_cache"]
        } else {
            &[]
        };
        let d = start(&crt, &key, "127.0.0.1", extra);
        let addr = d.addr("memcached");
        // One client configuration keeps its session store across both.
        let config = client_config(&ca.file, None);
        let mut first = tls_connect(addr, &config).expect("first handshake");
        // Read once so TLS 1.3 session tickets sent after the handshake
        // are taken in.
        assert_eq!(ask(&mut first, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
        let mut second = tls_connect(addr, &config).expect("second handshake");
        let resumed = second.conn.handshake_kind() == Some(HandshakeKind::Resumed);
        assert_eq!(resumed, cache, "session cache {cache}");
        let s = stats_of(&mut second, "");
        assert_eq!(s.contains_key("ssl_new_sessions"), cache, "{s:?}");
        if cache {
            assert!(
                s["ssl_new_sessions"].parse::<u64>().expect("n") >= 1,
                "{s:?}"
            );
        }
        assert_eq!(
            stats_of(&mut second, " settings")["ssl_session_cache"],
            if cache { "yes" } else { "no" }
        );
    }
}
