//! Process plumbing through the real binaries: `-d` with a pid file, `-u`,
//! the unix socket, and SIGHUP reopening a log file.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use danga_testkit::{bin_path, parse_ready, require, wait_for, wait_for_file, Daemon, Spawn};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::version::stops_cleanly;
use crate::wire::{ask, ask_once};

/// The state letter of a process from /proc (None: gone).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesised command name.
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

fn alive(pid: i32) -> bool {
    !matches!(proc_state(pid), None | Some('Z' | 'X'))
}

/// Kills a daemonized process if the test fails before stopping it.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

#[test]
fn daemonize_writes_the_pid_of_the_serving_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pidfile, ready) = (dir.path().join("memcached.pid"), dir.path().join("ready"));
    let out = Command::new(bin_path("memcached"))
        .args(["-d", "-p", "-1", "-l", "127.0.0.1", "-P"])
        .arg(&pidfile)
        .arg("--ready-file")
        .arg(&ready)
        .output()
        .expect("run memcached -d");
    assert!(
        out.status.success(),
        "the foreground process exits 0: {out:?}"
    );
    assert!(
        wait_for_file(&ready, Duration::from_secs(10)),
        "daemon never became ready"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let _guard = KillOnDrop(pid);
    assert!(alive(pid), "the pid file names a live process");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert!(String::from_utf8_lossy(&cmdline).contains("memcached"));
    let addr = parse_ready(&ready).expect("ready")["memcached"]
        .parse()
        .expect("addr");
    assert_eq!(ask_once(addr, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM");
    assert!(
        wait_for(Duration::from_secs(5), || !alive(pid)),
        "still running 5 s after SIGTERM"
    );
    assert!(
        wait_for(Duration::from_secs(1), || !pidfile.exists()),
        "pid file removed at exit"
    );
}

#[test]
fn user_switch_changes_the_uid() {
    let root = nix::unistd::Uid::effective().is_root();
    if !require("running as root (to test -u)", root) {
        return;
    }
    let d = Daemon::start(
        "memcached",
        &["-p", "-1", "-l", "127.0.0.1", "-u", "nobody"],
    );
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("getpwnam")
        .expect("nobody exists");
    // The ready file is written before the user switch (the file may be
    // one only root can write), so the switch may still be under way.
    let uid_line = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).expect("status");
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid line")
            .to_owned()
    };
    let switched = wait_for(Duration::from_secs(2), || {
        uid_line()
            .split_whitespace()
            .skip(1)
            .all(|u| *u == nobody.uid.to_string())
    });
    assert!(
        switched,
        "real, effective, saved and fs uids are nobody's: {}",
        uid_line()
    );
    assert_eq!(
        ask_once(d.addr("memcached"), "version\r\n", "\r\n"),
        "VERSION 1.6.18\r\n"
    );
    stops_cleanly(d);
}

#[test]
fn unix_socket_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("memcached.sock");
    let d = Daemon::start(
        "memcached",
        &["-s", sock.to_str().expect("utf8"), "-a", "600"],
    );
    assert_eq!(
        d.listeners()["memcached"],
        format!("unix:{}", sock.display())
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let mut s = UnixStream::connect(&sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(ask(&mut s, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    stops_cleanly(d);
}

fn contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

#[test]
fn sighup_reopens_the_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("gearmand.log");
    let d = Spawn::new("gearmand")
        .args(["-p", "0", "-L", "127.0.0.1", "--verbose", "INFO", "-l"])
        .arg(&log)
        .start();
    assert!(
        wait_for(Duration::from_secs(5), || contains(&log, "listening")),
        "startup logged"
    );
    let rotated = dir.path().join("gearmand.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    d.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(5), || contains(
            &log,
            "log file reopened"
        )),
        "a new log file after SIGHUP"
    );
    assert!(!contains(&rotated, "reopened"));
    stops_cleanly(d);
}

#[test]
fn every_daemon_takes_sighup_as_reopen_and_keeps_serving() {
    // Only gearmand writes a log file (-l, tested above); the others log to
    // stderr and must take SIGHUP (logrotate's `kill -HUP`, systemd's
    // ExecReload) as "nothing to reopen", never as a reason to exit.
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", dir.path().display());
    let docroot = format!("--docroot={}", dir.path().display());
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        "CREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
    )
    .expect("conf");
    let perlbal_conf = format!("--config={}", conf.display());
    let cases: [(&str, Vec<&str>, &str, &str, &str); 5] = [
        (
            "memcached",
            vec!["-p", "-1", "-l", "127.0.0.1", "-U", "0"],
            "memcached",
            "version\r\n",
            "\r\n",
        ),
        (
            "gearmand",
            vec!["-p", "0", "-L", "127.0.0.1", "-l", "stderr"],
            "gearmand",
            "version\n",
            "\n",
        ),
        (
            "mogilefsd",
            vec!["-s", "-l", "127.0.0.1:0", &dsn],
            "mogilefsd",
            "!version\r\n",
            ".\r\n",
        ),
        (
            "mogstored",
            vec![
                "-s",
                "--httplisten=127.0.0.1:0",
                "--mgmtlisten=127.0.0.1:0",
                &docroot,
            ],
            "mgmt",
            "version\r\n",
            ".\r\n",
        ),
        (
            "perlbal",
            vec![&perlbal_conf],
            "mgmt",
            "version\r\n",
            ".\r\n",
        ),
    ];
    for (bin, args, listener, ask_line, end) in cases {
        let d = Spawn::new(bin).args(args).env("RUST_LOG", "info").start();
        for _ in 0..2 {
            d.signal(Signal::SIGHUP);
        }
        assert!(
            wait_for(Duration::from_secs(5), || d
                .stderr()
                .contains("no log file to reopen")),
            "{bin} did not log the SIGHUP:\n{}",
            d.stderr()
        );
        let reply = ask_once(d.addr(listener), ask_line, end);
        assert!(!reply.is_empty(), "{bin} stopped answering after SIGHUP");
        stops_cleanly(d);
    }
}
