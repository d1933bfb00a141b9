//! The management console: the same commands against our perlbal and
//! Debian's perlbal 1.80, outputs compared byte for byte (addresses
//! replaced by names; hash-ordered outputs compared as sorted lines).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use danga_testkit::{bin_path, have_command, require, wait_for, Daemon, Spawn};

use super::{console, perlbal, proxy_conf, TestBackend};
use crate::version::stops_cleanly;

const ORIGINAL: &str = "/usr/bin/perlbal";

/// Two free ports, distinct: both are held until both are chosen (a port
/// given back at once can be handed out again by the next bind).
fn free_ports() -> (SocketAddr, SocketAddr) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (bind(), bind());
    (a.local_addr().expect("addr"), b.local_addr().expect("addr"))
}

/// Debian's perlbal on fixed free ports (it has no port-0 ready file).
pub(super) fn original(body: &str) -> Option<(Daemon, SocketAddr, SocketAddr, tempfile::TempDir)> {
    if !require(
        "Debian's perlbal (/usr/bin/perlbal)",
        have_command(ORIGINAL),
    ) {
        return None;
    }
    let (web, mgmt) = free_ports();
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    let text = body.replacen("LISTEN", &web.to_string(), 1);
    let text = format!("{text}\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = {mgmt}\nENABLE mgmt\n");
    std::fs::write(&conf, text).expect("conf");
    let d = Spawn::external(ORIGINAL)
        .arg(format!("--config={}", conf.display()))
        .start();
    assert!(
        wait_for(Duration::from_secs(60), || std::net::TcpStream::connect(
            mgmt
        )
        .is_ok()),
        "Debian's perlbal did not start: {}",
        d.stderr()
    );
    Some((d, web, mgmt, dir))
}

const SAME: &[&str] = &[
    "show service",
    "show service web",
    "show service nope",
    "show pool",
    "show pool pool",
    "show pool nope",
    "set web.frob = 1",
    "set web.persist_client = maybe",
    "set web.connect_ahead = -1",
    "set web.buffer_size = 12q",
    "set web.pool = nope",
    "set nope.persist_client = 1",
    "frob",
    "queues x",
    "use nope",
    "use web",
    "disable mgmt",
    "enable web",
    "create service web",
    "create pool web",
    "create",
    "pool pool frob 10.0.0.1",
    "pool nope add 10.0.0.1",
    "header web insert X-A",
    "header nope insert X-A: b",
    "server frob = 1",
    "states nope",
    "verbose maybe",
    "plugins",
    "pending",
    "help",
    "set web.persist_client = yes",
    "pool pool add 10.0.0.9:81",
    "show pool pool",
    "default persist_client = 1",
    "obj",
    "obj x",
    "reload",
    "reload a b",
    "reload vhosts",
    "track",
    "aio",
    "state changes",
    "state",
    "fd x",
];

const SORTED: &[&str] = &["queues", "dumpconfig"];

#[test]
fn perlbal_console_answers_as_1_80_does() {
    let b = TestBackend::start("a", false);
    let conf = proxy_conf(&[b.addr], "persist_backend = on\nconnect_ahead = 0");
    let ours = perlbal(&conf);
    let Some((theirs, t_web, t_mgmt, _dir)) = original(&conf) else {
        return;
    };
    let norm = |s: String, web: SocketAddr, mgmt: SocketAddr| {
        s.replace(&web.to_string(), "WEB")
            .replace(&mgmt.to_string(), "MGMT")
    };
    let (o_web, o_mgmt) = (ours.addr("web"), ours.addr("mgmt"));
    for cmd in SAME.iter().chain(SORTED) {
        let mut a = norm(console(o_mgmt, cmd), o_web, o_mgmt);
        let mut b = norm(console(t_mgmt, cmd), t_web, t_mgmt);
        if SORTED.contains(cmd) {
            let sort = |s: &str| {
                let mut l: Vec<&str> = s.lines().collect();
                l.sort_unstable();
                l.join("\n")
            };
            a = sort(&a);
            b = sort(&b);
        }
        assert_eq!(a, b, "command {cmd:?}");
    }
    drop(theirs);
    stops_cleanly(ours);
}

#[test]
fn perlbal_console_uptime_proc_nodes_and_shutdown_graceful() {
    let b = TestBackend::start("a", false);
    let d = perlbal(&proxy_conf(&[b.addr], ""));
    let mgmt = d.addr("mgmt");
    super::get(d.addr("web"), "/x", "");
    let up = console(mgmt, "UPTIME");
    let lines: Vec<&str> = up.lines().collect();
    assert!(
        lines[0].starts_with("starttime ") && lines[1].starts_with("uptime "),
        "{up}"
    );
    assert_eq!(&lines[2..], ["version 1.80", "."]);
    let proc_ = console(mgmt, "PROC");
    assert!(proc_.contains(&format!("pid: {}\r\n", d.pid())), "{proc_}");
    assert!(proc_.contains("reqs: 1 (+"), "{proc_}");
    let nodes = console(mgmt, "NODES");
    for key in [
        "attempts 1",
        "connects 1",
        "requests 1",
        "responsecodes 200 1",
    ] {
        assert!(nodes.contains(&format!("{} {key}\r\n", b.addr)), "{nodes}");
    }
    assert_eq!(console(mgmt, "SHUTDOWN GRACEFUL"), "OK\r\n");
    let mut d = d;
    let (status, took) = d.terminate(Duration::from_secs(10));
    assert!(status.success() && took < Duration::from_secs(5));
}

#[test]
fn perlbal_refuses_unknown_and_unsupported_settings_at_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (line, want) in [
        (
            "SET web.frobnicate = 1",
            "Unknown service parameter 'frobnicate'",
        ),
        ("SET web.server_process = /bin/true", "'server_process'"),
    ] {
        let conf = dir.path().join("bad.conf");
        let text = format!("CREATE SERVICE web\nSET web.role = reverse_proxy\nSET web.listen = 127.0.0.1:0\n{line}\nENABLE web\n");
        std::fs::write(&conf, text).expect("conf");
        let out = Command::new(bin_path("perlbal"))
            .arg(format!("--config={}", conf.display()))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}");
        assert!(
            err.contains("line 4") && err.contains(want),
            "{line}: {err}"
        );
        if line.contains("frobnicate") && have_command(ORIGINAL) {
            let out = Command::new(ORIGINAL)
                .arg(format!("--config={}", conf.display()))
                .output()
                .expect("run the original");
            assert!(!out.status.success(), "the original refuses it too");
        }
    }
}
