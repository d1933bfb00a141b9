//! Every binary binds port 0, answers its original's version query on its
//! own interface, and exits 0 within 5 s of SIGTERM.

use std::process::Command;
use std::time::Duration;

use danga_testkit::{bin_path, Daemon};

use crate::wire::ask_once;

/// Stops `d` with SIGTERM and checks the exit is clean and prompt.
pub fn stops_cleanly(mut d: Daemon) {
    let (status, took) = d.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        d.stderr()
    );
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
}

#[test]
fn memcached_version() {
    let d = Daemon::start("memcached", &["-p", "-1", "-l", "127.0.0.1", "-U", "0"]);
    assert_eq!(
        ask_once(d.addr("memcached"), "version\r\n", "\r\n"),
        "VERSION 1.6.18\r\n"
    );
    stops_cleanly(d);
}

#[test]
fn memcached_port_file_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ports");
    let d = danga_testkit::Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1"])
        .env("MEMCACHED_PORT_FILENAME", &file)
        .start();
    let text = std::fs::read_to_string(&file).expect("port file written before ready");
    let port: u16 = text
        .strip_prefix("TCP INET: ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad port file {text:?}"));
    assert_eq!(port, d.addr("memcached").port());
    stops_cleanly(d);
}

#[test]
fn gearmand_version() {
    let d = Daemon::start("gearmand", &["-p", "0", "-L", "127.0.0.1", "-l", "stderr"]);
    let addr = d.addr("gearmand");
    assert_eq!(ask_once(addr, "version\n", "\n"), "OK 1.1.20\n");
    assert_eq!(
        ask_once(addr, "getpid\n", "\n"),
        format!("OK {}\n", d.pid())
    );
    stops_cleanly(d);
}

#[test]
fn mogilefsd_version() {
    let db = tempfile::tempdir().expect("db dir");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", db.path().display());
    let d = Daemon::start("mogilefsd", &["-s", "-l", "127.0.0.1:0", &dsn]);
    assert_eq!(
        ask_once(d.addr("mogilefsd"), "!version\r\n", ".\r\n"),
        "2.73\r\n.\r\n"
    );
    stops_cleanly(d);
}

#[test]
fn mogstored_version_and_http() {
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
    let reply = ask_once(d.addr("mgmt"), "version\r\n", ".\r\n");
    assert!(reply.ends_with("version 1.80\r\n.\r\n"), "{reply:?}");
    let http = ask_once(
        d.addr("http"),
        "GET /dev1/0/000/000/0000000001.fid HTTP/1.0\r\n\r\n",
        "\n",
    );
    assert!(http.starts_with("HTTP/1.0 404"), "{http:?}");
    stops_cleanly(d);
}

#[test]
fn perlbal_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        "CREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
    )
    .expect("conf");
    let d = Daemon::start("perlbal", &[&format!("--config={}", conf.display())]);
    let reply = ask_once(d.addr("mgmt"), "VERSION\r\n", ".\r\n");
    assert!(reply.starts_with("starttime "), "{reply:?}");
    assert!(reply.ends_with("version 1.80\r\n.\r\n"), "{reply:?}");
    stops_cleanly(d);
}

#[test]
fn perlbal_refuses_a_bad_config_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(&conf, "CREATE SERVICE mgmt\nSET mgmt.listen = nowhere\n").expect("conf");
    let out = Command::new(bin_path("perlbal"))
        .arg(format!("--config={}", conf.display()))
        .output()
        .expect("run");
    // A bad config is a usage error, as a bad command line.
    assert_eq!(out.status.code(), Some(64), "{}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn mogadm_version() {
    let out = Command::new(bin_path("mogadm"))
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("2.30"));
}

#[test]
fn version_flags_print_and_exit() {
    for (bin, flag, want) in [
        ("memcached", "-V", "memcached 1.6.18 (danga 0.1.0)\n"),
        ("gearmand", "-V", "gearmand 1.1.20 (danga 0.1.0)\n"),
        (
            "perlbal",
            "--version",
            "Perlbal version 1.80 (danga 0.1.0)\n",
        ),
        ("perlbal", "-V", "Perlbal version 1.80 (danga 0.1.0)\n"),
        ("mogilefsd", "-V", "mogilefsd 2.73 (danga 0.1.0)\n"),
        ("mogstored", "--version", "mogstored 2.73 (danga 0.1.0)\n"),
        ("mogupload", "--version", "mogupload 2.30 (danga 0.1.0)\n"),
        ("memcctl", "-V", "memcctl 1.6.18 (danga 0.1.0)\n"),
        ("gearctl", "-V", "gearctl 1.1.20 (danga 0.1.0)\n"),
    ] {
        let out = Command::new(bin_path(bin)).arg(flag).output().expect("run");
        assert!(out.status.success(), "{bin} {flag}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
}

#[test]
fn every_daemon_and_tool_answers_v_and_version() {
    use crate::install::{DAEMONS, PLUGINS, TOOLS};
    let version = env!("CARGO_PKG_VERSION");
    // The launcher speaks no protocol: its own version only.
    for flag in ["-V", "--version"] {
        let out = Command::new(bin_path("danga"))
            .arg(flag)
            .output()
            .expect("run");
        assert!(out.status.success(), "danga {flag}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("danga {version}\n")
        );
    }
    for bin in DAEMONS
        .iter()
        .chain(TOOLS.iter())
        .filter(|b| **b != "danga")
    {
        for flag in ["-V", "--version"] {
            let out = Command::new(bin_path(bin)).arg(flag).output().expect("run");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{bin} {flag}: {}", out.status);
            // One line: the tool, the version of the protocol it speaks,
            // and this project's.
            assert_eq!(text.lines().count(), 1, "{bin} {flag}: {text}");
            assert!(
                text.ends_with(&format!(" (danga {version})\n")),
                "{bin} {flag}: {text}"
            );
            let speaks = text.split_whitespace().rev().nth(2).unwrap_or("");
            assert!(
                speaks.chars().next().is_some_and(|c| c.is_ascii_digit()) && speaks.contains('.'),
                "{bin} {flag}: no protocol version in {text:?}"
            );
        }
    }
    // Nagios plugins: the guidelines' `-V`, which exits 3 (UNKNOWN).
    for bin in PLUGINS {
        for flag in ["-V", "--version"] {
            let out = Command::new(bin_path(bin)).arg(flag).output().expect("run");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(3), "{bin} {flag}");
            assert!(text.starts_with(bin), "{bin} {flag}: {text}");
            assert!(text.contains(version), "{bin} {flag}: {text}");
        }
    }
}

#[test]
fn a_bad_command_line_exits_64() {
    for bin in ["memcached", "gearmand", "perlbal", "mogilefsd", "mogstored"] {
        let out = Command::new(bin_path(bin))
            .arg("--no-such-flag-anywhere")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(64), "{bin}: {}", out.status);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--no-such-flag-anywhere"),
            "{bin} names the flag"
        );
    }
    // A bad value is a usage error too.
    let out = Command::new(bin_path("memcached"))
        .args(["-m", "lots"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}

#[test]
fn shutdown_drain_bounds_the_wait_for_requests_in_flight() {
    use std::io::Write;
    // A request half sent is in flight: SIGTERM waits for it up to the drain.
    let took = |drain: &str| {
        let mut d = Daemon::start(
            "memcached",
            &[
                "-p",
                "-1",
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "--shutdown-drain",
                drain,
            ],
        );
        let mut c = crate::wire::connect(d.addr("memcached"));
        c.write_all(b"set k 0 0 10\r\nabc").expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let (status, took) = d.terminate(Duration::from_secs(20));
        assert!(status.success(), "{status}");
        took
    };
    let short = took("0.2");
    let long = took("2.5");
    assert!(short < Duration::from_millis(1500), "{short:?}");
    assert!(long >= Duration::from_millis(2000), "{long:?}");
}
