//! The `gearman` and `gearadmin` tools (gearman-tools, libgearman 1.1.20)
//! against our gearmand; the worker/client round trip also against
//! Debian's gearmand.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use danga_testkit::{have_command, require, wait_for};

use super::{both, ours, Wire};

/// A background process, killed when dropped.
struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hp(addr: SocketAddr) -> [String; 4] {
    [
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// Runs a tool with `input` on stdin; must succeed.
fn tool(prog: &str, addr: SocketAddr, args: &[&str], input: &str) -> String {
    let mut child = Command::new("timeout")
        .arg("20")
        .arg(prog)
        .args(hp(addr))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("stdin");
    }
    let out: Output = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_tools() -> bool {
    require(
        "gearman and gearadmin (gearman-tools)",
        have_command("gearman") && have_command("gearadmin"),
    )
}

#[test]
fn gearman_cli_worker_serves_gearman_cli_clients() {
    if !have_tools() {
        return;
    }
    for (server, gd) in both() {
        let worker = Command::new("gearman")
            .args(hp(gd.addr))
            .args(["-w", "-f", "rev", "--", "rev"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gearman -w");
        let _worker = Bg(worker);
        let mut admin = Wire::connect(gd.addr);
        assert!(
            wait_for(Duration::from_secs(10), || admin
                .admin("status\n", true)
                .lines()
                .any(|l| l == "rev\t0\t0\t1")),
            "{server}: the worker registered"
        );
        assert_eq!(
            tool("gearman", gd.addr, &["-f", "rev"], "hello\n"),
            "olleh\n",
            "{server}"
        );
        for i in 0..5 {
            let out = tool(
                "gearman",
                gd.addr,
                &["-f", "rev", "--", &format!("n{i}")],
                "",
            );
            assert_eq!(out.trim(), format!("{i}n"), "{server}");
        }
        tool("gearman", gd.addr, &["-b", "-f", "rev", "--", "bg"], "");
        assert!(
            wait_for(Duration::from_secs(10), || admin
                .admin("status\n", true)
                .lines()
                .any(|l| l == "rev\t0\t0\t1")),
            "{server}: the background job ran"
        );
    }
}

#[test]
fn gearadmin_reads_every_admin_reply() {
    if !have_tools() {
        return;
    }
    let gd = ours(&[]);
    let a = |args: &[&str]| tool("gearadmin", gd.addr, args, "");
    assert_eq!(a(&["--server-version"]), "1.1.20\n");
    assert_eq!(a(&["--getpid"]), format!("{}\n", gd.daemon.pid()));
    assert_eq!(a(&["--server-verbose"]), "ERROR\n");
    assert_eq!(a(&["--create-function", "adm"]), "OK\n");
    assert_eq!(a(&["--status"]), "adm\t0\t0\t0\n.\n");
    let workers = a(&["--workers"]);
    assert!(workers.ends_with(" 127.0.0.1 - :\n.\n"), "{workers}");
    tool(
        "gearman",
        gd.addr,
        &["-b", "-u", "myuniq", "-f", "adm", "--", "data"],
        "",
    );
    let jobs = a(&["--show-jobs"]);
    let handle = jobs
        .lines()
        .next()
        .and_then(|l| l.strip_suffix("\t0\t0\t1"))
        .unwrap_or_else(|| panic!("{jobs}"))
        .to_owned();
    assert_eq!(a(&["--show-unique-jobs"]), "myuniq\n.\n");
    assert_eq!(a(&["--priority-status"]), "adm\t0\t1\t0\t0\n.\n");
    assert_eq!(a(&["--status"]), "adm\t1\t0\t0\n.\n");
    assert_eq!(a(&["--cancel-job", &handle]), "OK\n");
    assert_eq!(a(&["--status"]), "adm\t0\t0\t0\n.\n");
    assert_eq!(a(&["--drop-function", "adm"]), "OK\n");
    assert_eq!(a(&["--status"]), ".\n");
}
