//! check_perlbal against our perlbal (and Debian's Perlbal 1.80 for the
//! console formats): OK with live backends; a killed backend process warns
//! and a pool with no live node is CRITICAL; clients queued behind a
//! backend that never verifies reach WARNING and CRITICAL.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use danga_testkit::{have_command, require, wait_for, Daemon, Spawn};

use super::check_at;
use crate::perlbal::{console, perlbal, proxy_conf, TestBackend};
use crate::wire::connect;

/// A real backend process (a mogstored serving HTTP) that a test can kill.
fn backend_process() -> (Daemon, tempfile::TempDir) {
    let docroot = tempfile::tempdir().expect("docroot");
    let d = Daemon::start(
        "mogstored",
        &[
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            &format!("--docroot={}", docroot.path().display()),
        ],
    );
    (d, docroot)
}

#[test]
fn nagios_perlbal_ok_with_live_backends() {
    let live = TestBackend::start("a", false);
    let (proc_backend, _root) = backend_process();
    let d = perlbal(&proxy_conf(&[live.addr, proc_backend.addr("http")], ""));
    let r = check_at("check_perlbal", d.addr("mgmt"), &["-w", "5", "-c", "10"]);
    r.expect(0);
    assert_eq!(r.service, "PERLBAL");
    assert!(
        r.text.contains("web: 2/2 backends up, 0 waiting"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("web backends"), 2.0);
    let dead = r.item("web dead");
    assert_eq!(
        (dead.value, dead.warn.as_str(), dead.max),
        (Some(0.0), "0", Some(2.0))
    );
    for q in ["normal", "high", "low"] {
        let item = r.item(&format!("web {q}"));
        assert_eq!(
            (item.value, item.warn.as_str(), item.crit.as_str()),
            (Some(0.0), "5", "10")
        );
        assert_eq!(r.item(&format!("web {q} age")).uom, "s");
    }
    check_at("check_perlbal", d.addr("mgmt"), &["-s", "web"]).expect(0);
    let r = check_at("check_perlbal", d.addr("mgmt"), &["-s", "nosuch"]);
    r.expect(2);
    assert!(
        r.text.contains("service nosuch is not configured"),
        "{}",
        r.stdout
    );
}

#[test]
fn nagios_perlbal_killed_backend_warns_then_an_all_dead_pool_is_critical() {
    let (a, _ra) = backend_process();
    let (b, _rb) = backend_process();
    let (a_addr, b_addr) = (a.addr("http"), b.addr("http"));
    let d = perlbal(&proxy_conf(&[a_addr, b_addr], ""));
    let mgmt = d.addr("mgmt");
    check_at("check_perlbal", mgmt, &[]).expect(0);
    drop(a); // SIGKILL, reaped
    let r = check_at("check_perlbal", mgmt, &[]);
    r.expect(1);
    assert!(
        r.text
            .starts_with(&format!("web: 1 of 2 backends dead ({a_addr})")),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("web dead"), 1.0);
    check_at("check_perlbal", mgmt, &["--dead-critical", "0"]).expect(2);
    drop(b);
    let r = check_at("check_perlbal", mgmt, &[]);
    r.expect(2);
    assert!(
        r.text.starts_with("web: all 2 backends of pool pool dead"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("web dead"), 2.0);
}

/// A backend that accepts connections and never answers: with
/// verify_backend on, Perlbal waits for its OPTIONS reply and queues the
/// clients.
fn mute_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(64) {
            match s {
                Ok(s) => held.push(s),
                Err(_) => return,
            }
        }
    });
    addr
}

/// A client whose GET waits in Perlbal's queue while the stream lives.
fn waiting_client(web: SocketAddr, i: usize) -> TcpStream {
    let mut s = connect(web);
    s.write_all(format!("GET /q{i} HTTP/1.0\r\nHost: t\r\n\r\n").as_bytes())
        .expect("request");
    s
}

fn wait_queued(mgmt: SocketAddr, n: usize) {
    let want = format!("web-normal.count {n}\r\n");
    assert!(
        wait_for(Duration::from_secs(10), || console(mgmt, "QUEUES")
            .contains(&want)),
        "{}",
        console(mgmt, "QUEUES")
    );
}

#[test]
fn nagios_perlbal_queued_clients_warn_then_go_critical() {
    let backend = mute_backend();
    let d = perlbal(&proxy_conf(&[backend], "verify_backend = on"));
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    let mut clients: Vec<TcpStream> = (0..3).map(|i| waiting_client(web, i)).collect();
    wait_queued(mgmt, 3);
    let args = ["-w", "2", "-c", "5"];
    let r = check_at("check_perlbal", mgmt, &args);
    r.expect(1);
    assert!(
        r.text
            .starts_with("web: 3 clients waiting in the normal queue"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("web normal"), 3.0);
    assert_eq!(r.value("web dead"), 0.0, "the mute backend accepts");
    clients.extend((3..6).map(|i| waiting_client(web, i)));
    wait_queued(mgmt, 6);
    let r = check_at("check_perlbal", mgmt, &args);
    r.expect(2);
    assert_eq!(r.value("web normal"), 6.0);
    // The oldest has waited at least a second once QUEUES says so.
    assert!(wait_for(Duration::from_secs(10), || {
        console(mgmt, "QUEUES")
            .lines()
            .any(|l| l.starts_with("web-normal.age ") && l != "web-normal.age 0")
    }));
    let r = check_at("check_perlbal", mgmt, &["--age-warning", "0"]);
    r.expect(1);
    assert!(r.value("web normal age") >= 1.0, "{}", r.stdout);
    drop(clients);
}

/// Debian's Perlbal 1.80 on free ports (it writes no ready file).
#[test]
fn nagios_perlbal_reads_the_original_perlbal_console() {
    const ORIGINAL: &str = "/usr/bin/perlbal";
    if !require(
        "Debian's perlbal (/usr/bin/perlbal)",
        have_command(ORIGINAL),
    ) {
        return;
    }
    let free = || {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let live = TestBackend::start("a", false);
    let dead = free();
    let (web, mgmt) = (free(), free());
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    let body = proxy_conf(&[live.addr, dead], "").replacen("LISTEN", &web.to_string(), 1);
    std::fs::write(
        &conf,
        format!("{body}\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = {mgmt}\nENABLE mgmt\n"),
    )
    .expect("conf");
    let d = Spawn::external(ORIGINAL)
        .arg(format!("--config={}", conf.display()))
        .start();
    assert!(
        wait_for(Duration::from_secs(20), || TcpStream::connect(mgmt).is_ok()),
        "Debian's perlbal did not start: {}",
        d.stderr()
    );
    let r = check_at("check_perlbal", mgmt, &[]);
    r.expect(1);
    assert!(
        r.text
            .starts_with(&format!("web: 1 of 2 backends dead ({dead})")),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("web backends"), 2.0);
    assert_eq!(r.value("web normal"), 0.0);
}
