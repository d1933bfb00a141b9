//! TLS beyond 1.80, through the binary and curl: certificates chosen by
//! server name (a VHOST's service, `ssl_cert_dir`, the listener's own;
//! curl `--resolve` for each name), client certificates
//! (`ssl_verify_mode`, `ssl_ca_path`, `ssl_ca_file`), and certificates
//! reloaded without a restart (`SSL RELOAD`, SIGHUP). The certificates are
//! made here with rcgen, under test CAs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{console, perlbal};
use crate::tls_ca::Ca;
use crate::version::stops_cleanly;
use danga_testkit::{bin_path, have_command, require, wait_for};
use nix::sys::signal::Signal;

/// `curl https://<host>:<port><path>` with `<host>` resolved to 127.0.0.1,
/// trusting `ca`: whether it succeeded, and the body.
fn https(port: u16, host: &str, path: &str, ca: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(ca)
        .args(extra)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("run curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A docroot holding `who` = `name`.
fn docroot(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(format!("docs-{name}"));
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(d.join("who"), name).expect("write");
    d
}

fn have_curl() -> bool {
    require("curl", have_command("curl"))
}

#[test]
fn perlbal_issue_21_sni_picks_the_certificate_by_name() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new(dir.path(), "ca");
    let (da, db) = (docroot(dir.path(), "a"), docroot(dir.path(), "b"));
    let (a_crt, a_key) = ca.issue_files(dir.path(), "a", &["a.test", "a2.test"], false);
    let (d_crt, d_key) = ca.issue_files(dir.path(), "default", &["default.test"], false);
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    let (b_cert, b_key) = ca.issue(&["b.test"], false);
    std::fs::write(certs.join("b.pem"), format!("{b_cert}{b_key}")).expect("write");
    ca.issue_files(&certs, "wild", &["*.wild.test"], false);
    std::fs::write(certs.join("README"), "not a certificate").expect("write");
    let d = perlbal(&format!(
        "LOAD vhosts
CREATE SERVICE wa
  SET role = web_server
  SET docroot = {}
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
CREATE SERVICE wb
  SET role = web_server
  SET docroot = {}
CREATE SERVICE sel
  SET role = selector
  SET listen = LISTEN
  SET plugins = vhosts
  SET enable_ssl = on
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
  SET ssl_cert_dir = {}
  VHOST a.test = wa
  VHOST b.test = wb
  VHOST *.wild.test = wb
  VHOST default.test = wb
  VHOST * = wb
ENABLE sel
",
        da.display(),
        a_crt.display(),
        a_key.display(),
        db.display(),
        d_crt.display(),
        d_key.display(),
        certs.display()
    ));
    let port = d.addr("sel").port();
    let get = |host: &str| https(port, host, "/who", &ca.file, &[]);
    // a.test: the certificate of the service its VHOST names.
    assert_eq!(get("a.test"), (true, "a".into()));
    // b.test and *.wild.test: from the directory (one PEM with both
    // parts, one .crt/.key pair).
    assert_eq!(get("b.test"), (true, "b".into()));
    assert_eq!(get("x.wild.test"), (true, "b".into()));
    // The listener's own certificate for its name and for any other.
    assert_eq!(get("default.test"), (true, "b".into()));
    let (ok, body) = get("other.test");
    assert!(!ok && body.is_empty(), "other.test got {body:?}");
    // a2.test is in wa's certificate but no VHOST maps it yet: the
    // listener's own certificate, which curl refuses; a live VHOST
    // changes that for the next handshake.
    assert!(!get("a2.test").0);
    assert_eq!(console(d.addr("mgmt"), "VHOST sel a2.test = wa"), "OK\r\n");
    assert_eq!(get("a2.test"), (true, "a".into()));
    stops_cleanly(d);
}

#[test]
fn perlbal_issue_21_client_certificates_required_then_optional() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let server_ca = Ca::new(dir.path(), "server-ca");
    let cadir = dir.path().join("cadir");
    std::fs::create_dir(&cadir).expect("mkdir");
    let client_ca = Ca::new(&cadir, "client-ca");
    std::fs::write(cadir.join("index.txt"), "not a certificate").expect("write");
    let rogue_ca = Ca::new(dir.path(), "rogue-ca");
    let docs = docroot(dir.path(), "a");
    let (crt, key) = server_ca.issue_files(dir.path(), "server", &["localhost"], false);
    let (c_crt, c_key) = client_ca.issue_files(dir.path(), "client", &["client.test"], true);
    let (r_crt, r_key) = rogue_ca.issue_files(dir.path(), "rogue", &["client.test"], true);
    let d = perlbal(&format!(
        "CREATE SERVICE ws
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {}
  SET enable_ssl = on
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
  SET ssl_verify_mode = 3
  SET ssl_ca_path = {}
ENABLE ws
",
        docs.display(),
        crt.display(),
        key.display(),
        cadir.display()
    ));
    let port = d.addr("ws").port();
    let (c_crt, c_key, r_crt, r_key) = (
        c_crt.display().to_string(),
        c_key.display().to_string(),
        r_crt.display().to_string(),
        r_key.display().to_string(),
    );
    let with = |crt: &str, key: &str| {
        https(
            port,
            "localhost",
            "/who",
            &server_ca.file,
            &["--cert", crt, "--key", key],
        )
    };
    let without = || https(port, "localhost", "/who", &server_ca.file, &[]);
    assert_eq!(with(&c_crt, &c_key), (true, "a".into()));
    let (ok, body) = without();
    assert!(!ok && body.is_empty(), "no client certificate: {body:?}");
    let (ok, body) = with(&r_crt, &r_key);
    assert!(!ok && body.is_empty(), "another CA's certificate: {body:?}");
    // Optional (1), from a CA file, applied by SSL RELOAD.
    let mgmt = d.addr("mgmt");
    assert_eq!(console(mgmt, "SET ws.ssl_verify_mode = 1"), "OK\r\n");
    let ca_file = client_ca.file.display();
    assert_eq!(
        console(mgmt, &format!("SET ws.ssl_ca_file = {ca_file}")),
        "OK\r\n"
    );
    assert!(console(mgmt, "SET ws.ssl_verify_mode = 8").starts_with("ERROR: ssl_verify_mode"));
    assert_eq!(console(mgmt, "SSL RELOAD ws"), "OK\r\n");
    assert_eq!(without(), (true, "a".into()));
    assert_eq!(with(&c_crt, &c_key), (true, "a".into()));
    assert!(
        !with(&r_crt, &r_key).0,
        "a bad certificate is still refused"
    );
    stops_cleanly(d);

    // Asking for client certificates with no CA to check them: no start.
    let conf = dir.path().join("noca.conf");
    std::fs::write(
        &conf,
        format!(
            "CREATE SERVICE ws
  SET role = web_server
  SET listen = 127.0.0.1:0
  SET docroot = {}
  SET enable_ssl = on
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
  SET ssl_verify_mode = 3
ENABLE ws
",
            docs.display(),
            crt.display(),
            key.display()
        ),
    )
    .expect("conf");
    let out = Command::new(bin_path("perlbal"))
        .arg(format!("--config={}", conf.display()))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no CA certificate"), "{err}");
}

#[test]
fn perlbal_issue_21_certificates_reload_without_restart() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (ca1, ca2) = (Ca::new(dir.path(), "ca1"), Ca::new(dir.path(), "ca2"));
    let docs = docroot(dir.path(), "a");
    let (crt, key) = ca1.issue_files(dir.path(), "server", &["localhost"], false);
    let d = perlbal(&format!(
        "CREATE SERVICE ws
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {}
  SET enable_ssl = on
  SET ssl_cert_file = {}
  SET ssl_key_file = {}
ENABLE ws
",
        docs.display(),
        crt.display(),
        key.display()
    ));
    let (port, mgmt) = (d.addr("ws").port(), d.addr("mgmt"));
    let trusts = |ca: &Ca| https(port, "localhost", "/who", &ca.file, &[]).0;
    assert!(trusts(&ca1) && !trusts(&ca2));
    // New files: served only once reloaded.
    ca2.issue_files(dir.path(), "server", &["localhost"], false);
    assert!(trusts(&ca1), "the files are read at reload, not before");
    assert_eq!(console(mgmt, "SSL RELOAD"), "OK\r\n");
    assert!(trusts(&ca2) && !trusts(&ca1));
    // A broken key: the reload fails and the certificate in use stays.
    std::fs::write(&key, "garbage").expect("write");
    let got = console(mgmt, "SSL RELOAD ws");
    assert!(got.starts_with("ERROR: SSL key file ("), "{got}");
    assert!(trusts(&ca2));
    assert_eq!(
        console(mgmt, "SSL RELOAD nope"),
        "ERROR: service 'nope' is not a running SSL service\r\n"
    );
    assert_eq!(
        console(mgmt, "SSL"),
        "ERROR: usage: SSL RELOAD [<service>]\r\n"
    );
    // SIGHUP reloads too.
    ca1.issue_files(dir.path(), "server", &["localhost"], false);
    d.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || trusts(&ca1)),
        "SIGHUP did not reload: {}",
        d.stderr()
    );
    assert!(!trusts(&ca2));
    stops_cleanly(d);
}
