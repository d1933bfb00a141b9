//! `danga up`: starts the daemons, prints where they listen, and stops them
//! all on SIGINT.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use danga_testkit::{bin_path, wait_for};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::wire::ask_once;

#[test]
fn up_starts_the_stack_and_ctrl_c_stops_it() {
    let data = tempfile::tempdir().expect("tempdir");
    // Ports moved out of the standard ones and out of the kernel's ephemeral
    // range (61000+ for perlbal's 60000), so parallel tests never collide.
    let base = 1000 + (std::process::id() % 500) as u16 * 7;
    let mut child = Command::new(bin_path("danga"))
        .args(["up", "--base-port", &base.to_string(), "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("danga up");
    let stdout = child.stdout.take().expect("stdout");
    let mut pids = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line.starts_with("Ctrl-C") {
            break;
        }
        if let Some(pid) = line.split_whitespace().skip_while(|w| *w != "pid").nth(1) {
            pids.push(pid.parse::<i32>().expect("pid"));
        }
    }
    assert_eq!(
        pids.len(),
        5,
        "memcached, gearmand, mogilefsd, mogstored, perlbal"
    );
    let mc: SocketAddr = ([127, 0, 0, 1], 11211 + base).into();
    let up = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(mc).is_ok()
    });
    assert!(up, "memcached listening on {mc}");
    assert_eq!(ask_once(mc, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
    let pid = i32::try_from(child.id()).expect("pid");
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "child {p} survived"
        );
    }
}
